//! The registry in event time: each record is judged against the registry as it stood at its
//! own time, from the versions registry lines with `valid_from` give. Day 0 is Monday
//! 2025-06-02 (Seoul); the registry here was loaded after every record's time, as a late HR
//! export is.

mod common;

use common::*;
use suho_detect::Severity::Critical;

/// An operator whose desk moved to the disaster-recovery site's network on day 3.
const DR_MOVE: &str = r#"
{"type":"principal","id":"emp-9","kind":"employee","status":"active","role":"ops","countries":["KR"],"networks":["10.40.0.0/16"]}
{"type":"principal","id":"emp-9","kind":"employee","status":"active","role":"ops","countries":["KR"],"networks":["172.16.40.0/24"],"valid_from":"2025-06-05T00:00:00+09:00"}
"#;

/// emp-9's working days: from the office network before day 3, from the DR site after.
fn dr_days() -> Vec<String> {
    let mut lines = Vec::new();
    for d in 0..7 {
        let ip = if d < 3 { "10.40.2.15" } else { "172.16.40.15" };
        for (h, n) in [(10, 0), (14, 1)] {
            lines.push(
                r(at(d, h, 0), "emp-9")
                    .ip(ip)
                    .subject(&cust((d * 2 + n) as u64))
                    .line(),
            );
        }
    }
    lines
}

#[test]
fn a_dr_network_move_with_valid_from_is_usual_on_both_sides_of_the_move() {
    let a = Scenario::new().registry(DR_MOVE).run(&dr_days());
    assert_silent(&a, "unusual_network");
}

#[test]
fn after_a_dr_move_the_old_network_is_unusual() {
    let mut lines = dr_days();
    // Day 7: back on the office network the registry says it left.
    lines.push(
        r(at(7, 10, 0), "emp-9")
            .ip("10.40.2.15")
            .subject(&cust(99))
            .line(),
    );
    let a = Scenario::new().registry(DR_MOVE).run(&lines);
    assert_fires(
        &a,
        "unusual_network",
        suho_detect::Severity::Low,
        "emp-9",
        14,
    );
}

#[test]
fn lines_without_valid_from_hold_at_every_time_as_before() {
    // The same move with no valid_from: the newest line is the registry at every time, so
    // the days before it are judged against the DR network, as they always were.
    let reg = DR_MOVE.replace(r#","valid_from":"2025-06-05T00:00:00+09:00""#, "");
    let a = Scenario::new().registry(&reg).run(&dr_days());
    assert_fires(
        &a,
        "unusual_network",
        suho_detect::Severity::Low,
        "emp-9",
        0,
    );
}

/// An agent who left on day 1 at 18:00 and was rehired on day 4 at 09:00; HR keeps the old
/// departure on the rehire's line.
const REHIRE: &str = r#"
{"type":"principal","id":"emp-5","kind":"employee","status":"departed","role":"cs-agent","departed_at":"2025-06-03T18:00:00+09:00","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"emp-5","kind":"employee","status":"active","role":"cs-agent","departed_at":"2025-06-03T18:00:00+09:00","valid_from":"2025-06-06T09:00:00+09:00","countries":["KR"],"networks":["10.10.0.0/16"]}
"#;

#[test]
fn a_rehire_is_active_from_valid_from_and_accesses_between_are_departed() {
    let lines: Vec<String> = [
        at(0, 10, 0), // employed
        at(1, 17, 0), // employed, the last hour
        at(2, 10, 0), // departed
        at(4, 8, 59), // departed, a minute before the rehire
        at(4, 9, 0),  // rehired
        at(6, 10, 0), // rehired
    ]
    .iter()
    .enumerate()
    .map(|(i, &t)| {
        r(t, "emp-5")
            .ip("10.10.3.7")
            .subject(&cust(i as u64))
            .line()
    })
    .collect();
    let a = Scenario::new().registry(REHIRE).run(&lines);
    let departed: Vec<u64> = a
        .iter()
        .filter(|x| x.rule == "departed_principal")
        .map(|x| x.ledger_index)
        .collect();
    // Two days of departure (days 2 and 4), one alert each, each on its first record.
    assert_eq!(departed, vec![2, 3], "{:#?}", brief(&a));
    assert_fires(&a, "departed_principal", Critical, "emp-5", 2);
    // Without the old departed_at on the rehire's line, the same.
    let reg = REHIRE.replacen(
        r#""departed_at":"2025-06-03T18:00:00+09:00","valid_from""#,
        r#""valid_from""#,
        1,
    );
    assert_ne!(reg, REHIRE);
    let b = Scenario::new().registry(&reg).run(&lines);
    let departed_b: Vec<u64> = b
        .iter()
        .filter(|x| x.rule == "departed_principal")
        .map(|x| x.ledger_index)
        .collect();
    assert_eq!(departed_b, departed);
}

/// A shared API key handed from emp-1 to emp-2 on day 2, and emp-1 rehired by nobody.
const HANDOVER: &str = r#"
{"type":"principal","id":"emp-1","kind":"employee","status":"active","role":"ops","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"emp-2","kind":"employee","status":"active","role":"ops","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"credential","id":"key-9","principal":"emp-1","kind":"api_key"}
{"type":"credential","id":"key-9","principal":"emp-2","kind":"api_key","valid_from":"2025-06-04T00:00:00+09:00"}
"#;

#[test]
fn a_credential_handed_over_with_valid_from_belongs_to_each_owner_in_turn() {
    let lines = vec![
        r(at(0, 10, 0), "emp-1")
            .ip("10.10.3.7")
            .cred("key-9")
            .line(),
        r(at(1, 10, 0), "emp-1")
            .ip("10.10.3.7")
            .cred("key-9")
            .line(),
        r(at(2, 10, 0), "emp-2")
            .ip("10.10.3.8")
            .cred("key-9")
            .line(),
        r(at(3, 10, 0), "emp-2")
            .ip("10.10.3.8")
            .cred("key-9")
            .line(),
        // emp-1 still uses the key it handed over.
        r(at(4, 10, 0), "emp-1")
            .ip("10.10.3.7")
            .cred("key-9")
            .line(),
    ];
    let a = Scenario::new().registry(HANDOVER).run(&lines);
    let mismatch: Vec<(u64, Option<String>)> = a
        .iter()
        .filter(|x| x.rule == "credential_owner_mismatch")
        .map(|x| (x.ledger_index, x.actor.clone()))
        .collect();
    assert_eq!(
        mismatch,
        vec![(4, Some("emp-1".into()))],
        "{:#?}",
        brief(&a)
    );
}
