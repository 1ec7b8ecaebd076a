//! Detector scenarios: a registry and access records in, alerts out. One scenario (or more)
//! per rule, with the benign cases that must stay quiet or below high.

mod common;

use common::*;
use suho_detect::Severity::{Critical, High, Low, Medium};
use suho_detect::{Alert, Severity};

/// Who works here in most scenarios. Day 0 is Monday 2025-06-02 (Seoul).
const REG: &str = r#"
{"type":"principal","id":"emp-0131","kind":"employee","status":"departed","role":"backend-engineer","departed_at":"2025-06-03T18:00:00+09:00","countries":["KR"],"networks":["10.20.0.0/16"]}
{"type":"principal","id":"emp-0042","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"emp-0050","kind":"employee","status":"suspended","role":"cs-agent","suspended_at":"2025-06-03T09:00:00+09:00","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"emp-0077","kind":"employee","status":"active","role":"marketing","countries":["KR","JP"],"networks":["10.30.0.0/16"]}
{"type":"principal","id":"svc-order","kind":"service","status":"active","role":"service","countries":["KR"],"networks":["10.100.1.0/24"]}
{"type":"principal","id":"svc-auth","kind":"service","status":"active","role":"service","networks":["10.100.9.0/24"]}
{"type":"signing_key","id":"kid-eng","owner":"emp-0131","status":"active","issuance":"registered","created_at":"2024-01-01T00:00:00Z"}
{"type":"signing_key","id":"kid-staff","owner":"svc-auth","status":"active","issuance":"registered"}
{"type":"signing_key","id":"kid-cust","owner":"svc-auth","status":"active","issuance":"unregistered"}
{"type":"signing_key","id":"kid-old","owner":"svc-auth","status":"retired","issuance":"registered","retired_at":"2025-06-03T00:00:00+09:00"}
{"type":"signing_key","id":"kid-bad","owner":"svc-auth","status":"revoked","issuance":"unregistered","revoked_at":"2025-06-01T00:00:00+09:00"}
{"type":"credential","id":"tok-42","principal":"emp-0042","kind":"access_token","signing_key":"kid-staff","issued_at":"2025-06-02T08:00:00+09:00","expires_at":"2025-06-02T20:00:00+09:00"}
{"type":"credential","id":"tok-131","principal":"emp-0131","kind":"session","signing_key":"kid-staff","issued_at":"2025-06-01T08:00:00+09:00"}
{"type":"credential","id":"tok-test","principal":"svc-order","kind":"access_token","signing_key":"kid-eng","issued_at":"2025-06-02T10:00:00+09:00","expires_at":"2025-06-02T22:00:00+09:00"}
{"type":"credential","id":"key-order","principal":"svc-order","kind":"api_key"}
{"type":"credential","id":"tok-revoked","principal":"emp-0042","kind":"access_token","signing_key":"kid-staff","issued_at":"2025-06-02T08:00:00+09:00","revoked_at":"2025-06-02T12:00:00+09:00"}
{"type":"credential","id":"tok-old-before","principal":"emp-0042","kind":"access_token","signing_key":"kid-old","issued_at":"2025-06-02T08:00:00+09:00","expires_at":"2025-06-04T08:00:00+09:00"}
{"type":"credential","id":"tok-old-after","principal":"emp-0042","kind":"access_token","signing_key":"kid-old","issued_at":"2025-06-03T12:00:00+09:00","expires_at":"2025-06-04T12:00:00+09:00"}
"#;

fn reg() -> Scenario {
    Scenario::new().registry(REG)
}

const OFFICE: &str = "10.10.3.7";

mod registry_facts {
    use super::*;

    #[test]
    fn departed_principal_is_critical_from_the_first_record_after_departure() {
        let lines = vec![
            r(at(1, 10, 0), "emp-0131")
                .ip("10.20.1.1")
                .subject("c-0000001")
                .line(), // before 18:00 on day 1
            r(at(2, 10, 0), "emp-0131")
                .ip("10.20.1.1")
                .subject("c-0000002")
                .line(),
            r(at(2, 10, 5), "emp-0131")
                .ip("10.20.1.1")
                .subject("c-0000003")
                .line(),
        ];
        let a = reg().run(&lines);
        assert_fires(&a, "departed_principal", Critical, "emp-0131", 1);
        assert_eq!(brief(&a).len(), 1, "{:#?}", brief(&a));
        assert!(
            a[0].summary
                .contains("departed on 2025-06-03T09:00:00.000Z"),
            "{}",
            a[0].summary
        );
    }

    #[test]
    fn a_refused_login_by_a_departed_principal_is_high_not_critical() {
        let lines = vec![r(at(3, 9, 0), "emp-0131")
            .action("login_failed")
            .ip("10.20.1.1")
            .failed()
            .line()];
        assert_fires(
            &reg().run(&lines),
            "departed_principal",
            High,
            "emp-0131",
            0,
        );
    }

    #[test]
    fn suspended_principal_is_high_after_the_suspension_only() {
        let lines = vec![
            r(at(1, 8, 0), "emp-0050")
                .ip(OFFICE)
                .subject("c-0000001")
                .line(),
            r(at(1, 9, 30), "emp-0050")
                .ip(OFFICE)
                .subject("c-0000002")
                .line(),
        ];
        assert_fires(
            &reg().run(&lines),
            "suspended_principal",
            High,
            "emp-0050",
            1,
        );
    }

    #[test]
    fn a_departed_owners_credential_used_by_someone_else_is_critical() {
        let lines = vec![r(at(2, 3, 0), "svc-order")
            .ip("10.100.1.5")
            .cred("tok-131")
            .key("kid-staff")
            .subject("c-0000009")
            .line()];
        let a = reg().run(&lines);
        assert_fires(&a, "orphaned_credential", Critical, "svc-order", 0);
        assert_fires(&a, "credential_owner_mismatch", High, "svc-order", 0);
        assert_eq!(
            a[0].incident_of, "actor:emp-0131",
            "the incident is about the departed owner"
        );
    }

    /// A token signed by a registered-issuance key that names no credential at all cannot be
    /// one the key issued: the same forgery, whether the id is absent, empty or null.
    #[test]
    fn a_registered_key_token_naming_no_credential_is_forged_from_the_first_record() {
        for credential in [None, Some(""), Some("null")] {
            let mut rec = r(at(2, 3, 0), "svc-order")
                .ip("10.100.1.5")
                .key("kid-staff")
                .subject("c-0000009");
            match credential {
                Some("null") => {
                    rec.v.insert("credential".into(), serde_json::Value::Null);
                }
                Some(c) => rec = rec.cred(c),
                None => {}
            }
            let a = reg().run(&[rec.line()]);
            assert_fires(&a, "forged_credential", Critical, "svc-order", 0);
            let forged = a
                .iter()
                .find(|x| x.rule == "forged_credential")
                .expect("forged");
            assert!(
                forged.summary.contains("named no credential id"),
                "{credential:?}: {}",
                forged.summary
            );
        }
    }

    /// The Coupang story: a departed engineer's never-revoked, registered-issuance key mints
    /// tokens naming customers themselves, from abroad.
    #[test]
    fn coupang_forged_customer_tokens_are_critical_on_the_first_record() {
        let mut lines = vec![
            // Before he left, a registered test token signed with his key: nothing wrong.
            r(at(0, 10, 30), "svc-order")
                .ip("10.20.1.1")
                .cred("tok-test")
                .key("kid-eng")
                .subject("c-0000100")
                .line(),
        ];
        for i in 0..30u64 {
            let c = cust(1000 + i);
            lines.push(
                r(at(20, 2, i as i64), &c)
                    .ip("198.51.100.7")
                    .cred(&format!("jwt-{i}"))
                    .key("kid-eng")
                    .subject(&c)
                    .line(),
            );
        }
        let a = reg().run(&lines);
        assert_fires(&a, "forged_credential", Critical, "c-0001000", 1);
        assert_fires(&a, "orphaned_signing_key", Critical, "c-0001000", 1);
        assert_silent(&a, "unknown_principal"); // customers acting on their own data
                                                // Before he left, the key's only use was from his own desk: at most a new-network note.
        assert!(
            brief(&a).iter().all(|(_, s, _, i)| *i >= 1 || *s < High),
            "nothing serious before departure: {:#?}",
            brief(&a)
        );
        // Thirty forged tokens fold into one alert per rule and key (no flood).
        assert_eq!(
            brief(&a)
                .iter()
                .filter(|b| b.0 == "forged_credential")
                .count(),
            1
        );
        let forged = a
            .iter()
            .rfind(|x| x.rule == "forged_credential")
            .expect("forged");
        assert!(forged.count >= 16, "count {}", forged.count);
        assert_eq!(forged.incident_of, "actor:emp-0131");
        assert!(
            forged.summary.contains("kid-eng") && forged.summary.contains("never issued"),
            "{}",
            forged.summary
        );
        // Thirty customer accounts from one foreign network in an hour.
        assert_eq!(max_sev(&a, "shared_source", None), Some(High));
    }

    #[test]
    fn tokens_of_an_unregistered_issuance_key_are_not_forged() {
        let lines = vec![r(at(0, 20, 0), "c-0000005")
            .ip("211.1.2.3")
            .cred("sess-1")
            .key("kid-cust")
            .subject("c-0000005")
            .line()];
        assert!(reg().run(&lines).is_empty());
    }

    #[test]
    fn a_registered_credential_with_another_key_is_forged() {
        let lines = vec![r(at(0, 11, 0), "emp-0042")
            .ip(OFFICE)
            .cred("tok-42")
            .key("kid-cust")
            .subject("c-0000001")
            .line()];
        assert_fires(
            &reg().run(&lines),
            "forged_credential",
            Critical,
            "emp-0042",
            0,
        );
    }

    #[test]
    fn revoked_credential_is_high_after_revocation() {
        let lines = vec![
            r(at(0, 11, 0), "emp-0042")
                .ip(OFFICE)
                .cred("tok-revoked")
                .key("kid-staff")
                .subject("c-0000001")
                .line(),
            r(at(0, 12, 1), "emp-0042")
                .ip(OFFICE)
                .cred("tok-revoked")
                .key("kid-staff")
                .subject("c-0000002")
                .line(),
        ];
        assert_fires(
            &reg().run(&lines),
            "revoked_credential",
            High,
            "emp-0042",
            1,
        );
    }

    #[test]
    fn expired_credential_is_high_beyond_five_minutes_of_clock_skew() {
        let lines = vec![
            r(at(0, 20, 3), "emp-0042")
                .ip(OFFICE)
                .cred("tok-42")
                .key("kid-staff")
                .subject("c-0000001")
                .line(), // 3 min late: skew
            r(at(0, 21, 0), "emp-0042")
                .ip(OFFICE)
                .cred("tok-42")
                .key("kid-staff")
                .subject("c-0000002")
                .line(),
        ];
        assert_fires(
            &reg().run(&lines),
            "expired_credential",
            High,
            "emp-0042",
            1,
        );
    }

    #[test]
    fn retired_key_is_fine_for_credentials_issued_before_retirement() {
        let lines = vec![
            r(at(1, 9, 0), "emp-0042")
                .ip(OFFICE)
                .cred("tok-old-before")
                .key("kid-old")
                .subject("c-0000001")
                .line(),
            r(at(1, 13, 0), "emp-0042")
                .ip(OFFICE)
                .cred("tok-old-after")
                .key("kid-old")
                .subject("c-0000002")
                .line(),
        ];
        assert_fires(
            &reg().run(&lines),
            "retired_signing_key",
            High,
            "emp-0042",
            1,
        );
    }

    #[test]
    fn revoked_and_unknown_signing_keys() {
        let lines = vec![
            r(at(0, 20, 0), "c-0000005")
                .ip("211.1.2.3")
                .cred("sess-1")
                .key("kid-bad")
                .subject("c-0000005")
                .line(),
            r(at(0, 20, 1), "c-0000006")
                .ip("211.1.2.4")
                .cred("sess-2")
                .key("kid-nobody-knows")
                .subject("c-0000006")
                .line(),
        ];
        let a = reg().run(&lines);
        assert_fires(&a, "revoked_signing_key", Critical, "c-0000005", 0);
        assert_fires(&a, "unknown_signing_key", High, "c-0000006", 1);
    }

    #[test]
    fn unknown_principal_but_not_customers() {
        let lines = vec![
            r(at(0, 20, 0), "c-0000005")
                .ip("211.1.2.3")
                .subject("c-0000005")
                .line(), // self-access
            r(at(0, 20, 1), "c-0000006")
                .action("login")
                .ip("211.1.2.4")
                .line(), // no personal data
            r(at(0, 20, 2), "intruder")
                .ip("211.1.2.5")
                .subject("c-0000007")
                .line(),
        ];
        let a = reg().run(&lines);
        assert_eq!(
            brief(&a),
            vec![(
                "unknown_principal".to_string(),
                High,
                "intruder".to_string(),
                2
            )]
        );
    }
}

/// Normal office work: `n` customers a day (search and read each), 09:00-18:00, from the office.
fn office_days(
    actor: &str,
    ip: &str,
    days: std::ops::Range<i64>,
    n: u64,
    seed: u64,
) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for d in days {
        if d.rem_euclid(7) >= 5 {
            continue; // weekend
        }
        let jitter = rng.below(n / 3 + 1);
        for k in 0..(n - n / 6 + jitter) {
            let c = cust(rng.below(5_000_000));
            let t = at(d, 9, 0) + (k as i64 * 8 * HOUR / n as i64) + rng.below(60_000) as i64;
            out.push(r(t, actor).action("search").ip(ip).subject(&c).line());
            out.push(r(t + 20_000, actor).ip(ip).subject(&c).line());
        }
    }
    out
}

const AGENTS: &str = r#"
{"type":"principal","id":"cs-1","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"cs-2","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"cs-3","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"cs-4","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"cs-5","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"cs-6","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
{"type":"principal","id":"cs-new","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
"#;

/// Six agents working `days` at about `n` customers a day.
fn team(days: std::ops::Range<i64>, n: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for i in 1..=6u64 {
        lines.extend(office_days(
            &format!("cs-{i}"),
            &format!("10.10.{i}.20"),
            days.clone(),
            n,
            i,
        ));
    }
    lines
}

mod origin {
    use super::*;

    #[test]
    fn foreign_origin_is_medium_for_staff_and_high_for_service_accounts() {
        let lines = vec![
            r(at(0, 10, 0), "emp-0042")
                .ip("126.5.6.7")
                .subject("c-0000001")
                .line(),
            r(at(0, 10, 1), "svc-order")
                .ip("126.5.6.8")
                .subject("c-0000002")
                .line(),
            r(at(0, 10, 2), "emp-0077")
                .ip("126.5.6.9")
                .subject("c-0000003")
                .line(), // JP is one of its countries
        ];
        let a = reg().run(&lines);
        assert_fires(&a, "foreign_origin", Medium, "emp-0042", 0);
        assert_eq!(max_sev(&a, "foreign_origin", Some("svc-order")), Some(High));
        // JP is not foreign for emp-0077, though the network is new to it.
        assert_eq!(max_sev(&a, "foreign_origin", Some("emp-0077")), None);
        assert_eq!(max_sev_of(&a, "emp-0077"), Some(Low));
        assert!(a[0].summary.contains("JP"), "{}", a[0].summary);
    }

    #[test]
    fn a_foreign_bulk_export_without_purpose_is_high_on_the_first_record() {
        let subjects: Vec<String> = (0..500).map(|i| cust(i * 7)).collect();
        let lines = vec![r(at(0, 10, 0), "emp-0042")
            .action("export")
            .ip("185.1.2.3")
            .subjects(&subjects)
            .line()];
        let a = reg().run(&lines);
        assert_fires(&a, "foreign_origin", High, "emp-0042", 0);
        assert_fires(&a, "bulk_without_purpose", High, "emp-0042", 0);
    }

    /// Benign: an agent works a week from one hotel in Japan, usual hours and workload.
    #[test]
    fn a_travelling_employee_stays_at_medium() {
        let mut lines = team(0..21, 30);
        lines.extend(office_days("cs-3", "126.200.118.202", 21..28, 30, 33));
        lines.extend(
            team(21..28, 30)
                .into_iter()
                .filter(|l| !l.contains("\"cs-3\"")),
        );
        let a = Scenario::new().registry(AGENTS).run(&by_time(lines));
        assert_eq!(max_sev(&a, "foreign_origin", Some("cs-3")), Some(Medium));
        assert_below(&a, High);
    }

    #[test]
    fn unusual_network_is_low_until_learned() {
        let mut lines = Vec::new();
        for d in 0..8 {
            lines.push(
                r(at(d, 10, 0), "emp-0042")
                    .ip(OFFICE)
                    .subject(&cust(d as u64))
                    .line(),
            );
            lines.push(
                r(at(d, 21, 0), "emp-0042")
                    .ip("175.100.20.30")
                    .subject(&cust(100 + d as u64))
                    .line(),
            );
        }
        let a = reg().run(&lines);
        assert_fires(&a, "unusual_network", Low, "emp-0042", 1);
        let days: Vec<u64> = brief(&a)
            .iter()
            .filter(|b| b.0 == "unusual_network")
            .map(|b| b.3)
            .collect();
        // Seen on 5 distinct days, the home network becomes usual: alerts on days 0-3 only.
        assert_eq!(days, vec![1, 3, 5, 7], "{:#?}", brief(&a));
    }

    #[test]
    fn impossible_travel_of_one_credential() {
        let lines = vec![
            r(at(0, 10, 0), "emp-0042")
                .ip(OFFICE)
                .cred("tok-42")
                .key("kid-staff")
                .subject("c-0000001")
                .line(),
            r(at(0, 10, 20), "emp-0042")
                .ip("198.51.100.7")
                .cred("tok-42")
                .key("kid-staff")
                .subject("c-0000002")
                .line(),
            r(at(0, 21, 0), "c-0000009")
                .ip("211.1.2.3")
                .cred("sess-9")
                .key("kid-cust")
                .subject("c-0000009")
                .line(),
            r(at(0, 21, 10), "c-0000009")
                .ip("185.9.9.9")
                .cred("sess-9")
                .key("kid-cust")
                .subject("c-0000009")
                .line(),
        ];
        let a = reg().run(&lines);
        assert_eq!(
            max_sev(&a, "impossible_travel", Some("emp-0042")),
            Some(High)
        );
        assert_fires(&a, "impossible_travel", High, "emp-0042", 1);
        assert_eq!(
            max_sev(&a, "impossible_travel", Some("c-0000009")),
            Some(Medium)
        );
        let ev = &a
            .iter()
            .find(|x| x.rule == "impossible_travel")
            .expect("travel")
            .evidence;
        assert!(
            ev["origin"]["speed_kmh"].as_f64().unwrap_or(0.0) > 1000.0,
            "{ev}"
        );
    }

    #[test]
    fn travel_at_airliner_speed_is_not_impossible() {
        let lines = vec![
            r(at(0, 10, 0), "emp-0042")
                .ip(OFFICE)
                .cred("tok-42")
                .key("kid-staff")
                .subject("c-0000001")
                .line(),
            r(at(0, 13, 0), "emp-0042")
                .ip("126.1.1.1")
                .cred("tok-42")
                .key("kid-staff")
                .subject("c-0000002")
                .line(),
        ];
        assert_silent(&reg().run(&lines), "impossible_travel");
    }

    #[test]
    fn many_customer_accounts_from_one_foreign_network() {
        let lines: Vec<String> = (0..25u64)
            .map(|i| {
                r(at(0, 3, i as i64), &cust(i))
                    .ip(&format!("185.1.2.{}", i + 1))
                    .subject(&cust(i))
                    .line()
            })
            .collect();
        let a = Scenario::new().run(&lines);
        let first = brief(&a)
            .into_iter()
            .find(|b| b.0 == "shared_source")
            .expect("shared_source");
        // At the 20th distinct account (a bitmap count may run one or two behind).
        assert_eq!(first.1, High);
        assert!((19..=21).contains(&first.3), "{first:?}");
        assert_eq!(a[0].incident_of, "source:185.1.2.0/24");
    }

    #[test]
    fn a_busy_home_network_needs_far_more_accounts_and_is_medium() {
        let few: Vec<String> = (0..60u64)
            .map(|i| {
                r(at(0, 20, 0) + i as i64 * 30_000, &cust(i))
                    .ip("211.45.1.9")
                    .subject(&cust(i))
                    .line()
            })
            .collect();
        assert!(Scenario::new().run(&few).is_empty());
        let many: Vec<String> = (0..120u64)
            .map(|i| {
                r(at(0, 20, 0) + i as i64 * 20_000, &cust(i))
                    .ip("211.45.1.9")
                    .subject(&cust(i))
                    .line()
            })
            .collect();
        assert_eq!(
            max_sev(&Scenario::new().run(&many), "shared_source", None),
            Some(Medium)
        );
    }
}

mod behaviour {
    use super::*;

    #[test]
    fn distinct_subjects_per_day_far_above_own_and_peers() {
        let mut lines = team(0..14, 20);
        // Day 14 (a Monday): cs-2 reads 300 customers; everyone else works as usual.
        lines.extend(
            team(14..15, 20)
                .into_iter()
                .filter(|l| !l.contains("\"cs-2\"")),
        );
        lines.extend(office_days("cs-2", "10.10.2.20", 14..15, 300, 99));
        let a = Scenario::new().registry(AGENTS).run(&by_time(lines));
        let b = brief(&a);
        assert!(
            b.iter()
                .any(|x| x.0 == "subjects_per_day" && x.2 == "cs-2" && x.1 >= Medium),
            "{b:#?}"
        );
        assert!(b.iter().all(|x| x.2 == "cs-2"), "only cs-2: {b:#?}");
        let day = a
            .iter()
            .find(|x| x.rule == "subjects_per_day")
            .expect("alert");
        assert!(
            day.evidence["behaviour"]["own_normal"].as_u64().is_some()
                && day.evidence["behaviour"]["peer_normal"].as_u64().is_some(),
            "{}",
            day.evidence
        );
    }

    #[test]
    fn distinct_subjects_per_hour_burst() {
        let mut lines = team(0..14, 20);
        let burst: Vec<String> = (0..200u64)
            .map(|i| {
                r(at(14, 11, 0) + i as i64 * 15_000, "cs-4")
                    .ip("10.10.4.20")
                    .subject(&cust(7_000 + i * 13))
                    .line()
            })
            .collect();
        lines.extend(burst);
        let a = Scenario::new().registry(AGENTS).run(&by_time(lines));
        assert!(
            max_sev(&a, "subjects_per_hour", Some("cs-4")) >= Some(Medium),
            "{:#?}",
            brief(&a)
        );
    }

    /// Benign: the month-end peak, everyone about twice as busy.
    #[test]
    fn month_end_peak_everyone_busier_is_quiet() {
        let mut lines = team(0..14, 20);
        lines.extend(team(14..16, 40));
        let a = Scenario::new().registry(AGENTS).run(&by_time(lines));
        assert_silent(&a, "subjects_per_day");
        assert_silent(&a, "subjects_per_hour");
        assert_below(&a, Medium);
    }

    /// Benign: a new hire with no history ramps up to a normal workload.
    #[test]
    fn new_hire_ramping_up_is_quiet() {
        let mut lines = team(0..21, 20);
        for (i, d) in (14..21).enumerate() {
            lines.extend(office_days(
                "cs-new",
                "10.10.9.9",
                d..d + 1,
                5 + 3 * i as u64,
                77 + i as u64,
            ));
        }
        let a = Scenario::new().registry(AGENTS).run(&by_time(lines));
        assert_below(&a, Medium);
    }

    #[test]
    fn a_stolen_api_key_walking_customer_ids() {
        let mut rng = Rng(5);
        let mut lines = Vec::new();
        for d in 0..10 {
            for k in 0..200 {
                lines.push(
                    r(at(d, 0, 0) + k * 7 * MIN, "svc-order")
                        .ip("10.100.1.8")
                        .cred("key-order")
                        .subject(&cust(rng.below(1_000_000)))
                        .line(),
                );
            }
        }
        // Night 10, from a hosting address: walk ids upward, the service's own traffic continuing.
        for i in 0..200u64 {
            let t = at(10, 1, 0) + i as i64 * 20_000;
            lines.push(
                r(t, "svc-order")
                    .ip("211.234.5.6")
                    .cred("key-order")
                    .subject(&cust(i + 1))
                    .line(),
            );
            if i % 3 == 0 {
                lines.push(
                    r(t + 5_000, "svc-order")
                        .ip("10.100.1.8")
                        .cred("key-order")
                        .subject(&cust(rng.below(1_000_000)))
                        .line(),
                );
            }
        }
        let lines = by_time(lines);
        let a = reg().run(&lines);
        let b = brief(&a);
        let walk_start = lines
            .iter()
            .position(|l| l.contains("211.234.5.6"))
            .expect("walk") as u64;
        assert_fires(&a, "unusual_network", Medium, "svc-order", walk_start);
        let e = b
            .iter()
            .find(|x| x.0 == "enumeration")
            .expect("enumeration");
        assert_eq!(e.1, High);
        let walked = lines[..=e.3 as usize]
            .iter()
            .filter(|l| l.contains("211.234.5.6"))
            .count();
        assert!(walked <= 45, "enumeration after {walked} walked ids");
    }

    #[test]
    fn random_reads_are_not_enumeration() {
        let mut rng = Rng(6);
        let lines: Vec<String> = (0..2000)
            .map(|k| {
                r(at(0, 0, 0) + k * 30_000, "svc-order")
                    .ip("10.100.1.8")
                    .subject(&cust(rng.below(200_000)))
                    .line()
            })
            .collect();
        assert_silent(&reg().run(&lines), "enumeration");
    }

    #[test]
    fn reach_over_30_days_catches_a_steady_excess() {
        let mut lines = team(0..63, 20);
        // From day 21, cs-5 quietly reads 35 extra customers a day: under the daily threshold.
        for d in 21..63 {
            if d % 7 >= 5 {
                continue;
            }
            for k in 0..35u64 {
                lines.push(
                    r(at(d, 17, 0) + k as i64 * 60_000, "cs-5")
                        .ip("10.10.5.20")
                        .subject(&cust(9_000_000 + (d as u64) * 100 + k))
                        .line(),
                );
            }
        }
        let a = Scenario::new()
            .registry(AGENTS)
            .config(|c| c.reach30_min_subjects = 500)
            .run(&by_time(lines));
        assert_silent(&a, "subjects_per_day");
        let b = brief(&a);
        assert!(
            b.iter().any(|x| x.0 == "reach_30d" && x.2 == "cs-5"),
            "{b:#?}"
        );
        assert!(
            b.iter()
                .filter(|x| x.0.starts_with("reach"))
                .all(|x| x.2 == "cs-5"),
            "{b:#?}"
        );
    }

    #[test]
    fn reach_over_90_days_catches_a_season_of_excess() {
        let mut lines = team(0..98, 20);
        for d in 14..98 {
            if d % 7 >= 5 {
                continue;
            }
            for k in 0..60u64 {
                lines.push(
                    r(at(d, 17, 0) + k as i64 * 30_000, "cs-5")
                        .ip("10.10.5.20")
                        .subject(&cust(9_000_000 + (d as u64) * 100 + k))
                        .line(),
                );
            }
        }
        let a = Scenario::new()
            .registry(AGENTS)
            .config(|c| c.reach90_min_subjects = 1000)
            .run(&by_time(lines));
        let b = brief(&a);
        assert!(
            b.iter().any(|x| x.0 == "reach_90d" && x.2 == "cs-5"),
            "{b:#?}"
        );
        assert!(
            b.iter()
                .filter(|x| x.0 == "reach_90d")
                .all(|x| x.2 == "cs-5"),
            "{b:#?}"
        );
    }

    /// Issue 13: reach alerts were raised when the next day opened, on whatever record
    /// opened it (a login at 08:30:00 sharp), so their time was a round minute at which the
    /// actor read nobody. They are raised at the record whose subjects cross the threshold.
    #[test]
    fn reach_alerts_carry_the_time_of_the_record_that_crossed() {
        let mut lines = team(0..98, 20);
        for d in 14..98 {
            if d % 7 >= 5 {
                continue;
            }
            lines.push(
                r(at(d, 8, 30), "cs-5")
                    .action("login")
                    .ip("10.10.5.20")
                    .line(),
            );
            for k in 0..60u64 {
                lines.push(
                    r(at(d, 17, 0) + k as i64 * 30_017, "cs-5")
                        .ip("10.10.5.20")
                        .subject(&cust(9_000_000 + (d as u64) * 100 + k))
                        .line(),
                );
            }
        }
        let lines = by_time(lines);
        let a = Scenario::new()
            .registry(AGENTS)
            .config(|c| c.reach90_min_subjects = 1000)
            .run(&lines);
        let reach: Vec<&Alert> = a
            .iter()
            .filter(|x| x.rule.starts_with("reach") && x.actor.as_deref() == Some("cs-5"))
            .collect();
        assert!(!reach.is_empty(), "reach is raised");
        for x in reach {
            let rec: serde_json::Value =
                serde_json::from_str(&lines[x.ledger_index as usize]).expect("record");
            assert!(
                rec["actor"] == "cs-5" && rec["subjects"].as_array().is_some_and(|s| !s.is_empty()),
                "{}: raised on {rec}",
                x.rule
            );
            assert_eq!(
                Some(rec["time"].as_i64().expect("time")),
                suho_record::parse_rfc3339(&x.time).ok(),
                "{} carries its record's time",
                x.rule
            );
        }
    }

    /// Issue 13: records that give only `subject_count` were summed as distinct subjects, so
    /// the same 1.5M-row table read twice became 3M "distinct subjects". Each resource counts
    /// once, at its largest count, and the alert says so.
    #[test]
    fn a_table_read_twice_by_count_is_not_twice_the_subjects() {
        let reg = r#"{"type":"principal","id":"dba-1","kind":"employee","status":"active","role":"dba","networks":["10.40.0.0/16"]}"#;
        let read = |t: i64| {
            r(t, "dba-1")
                .ip("10.40.1.1")
                .resource("table customers")
                .count(1_500_000)
                .line()
        };
        let a = Scenario::new()
            .registry(reg)
            .run(&[read(at(0, 10, 0)), read(at(0, 10, 30))]);
        let day = a
            .iter()
            .rfind(|x| x.rule == "subjects_per_day")
            .expect("a day of 1.5M subjects is raised");
        let b = &day.evidence["behaviour"];
        assert_eq!(b["distinct_subjects"], 1_500_000, "{b}");
        assert_eq!(b["subjects_counted_from_counts"], 1_500_000, "{b}");
        assert!(
            day.summary
                .contains("each resource counted once at its largest"),
            "{}",
            day.summary
        );
    }

    #[test]
    fn bulk_without_purpose_and_with_one() {
        let reg = Scenario::new().registry(REG);
        let with = vec![r(at(0, 11, 0), "emp-0077")
            .action("download")
            .ip("10.30.1.1")
            .count(5000)
            .purpose("MKT-2291 campaign")
            .line()];
        assert!(reg
            .run(&with)
            .iter()
            .all(|a| a.rule != "bulk_without_purpose"));
        let without = vec![r(at(0, 11, 0), "emp-0077")
            .action("download")
            .ip("10.30.1.1")
            .count(5000)
            .line()];
        let a = reg.run(&without);
        assert_fires(&a, "bulk_without_purpose", High, "emp-0077", 0);
        let bulk = a
            .iter()
            .find(|x| x.rule == "bulk_without_purpose")
            .expect("bulk");
        assert!(bulk.summary.contains("no purpose"), "{}", bulk.summary);
    }

    /// Benign: a planned marketing export of 50,000 customers with a purpose ticket.
    #[test]
    fn a_planned_export_with_a_purpose_stays_below_high() {
        let mut reg = String::from(AGENTS);
        reg.push_str(r#"{"type":"principal","id":"mkt-1","kind":"employee","status":"active","role":"marketing","networks":["10.30.0.0/16"]}"#);
        let mut lines = team(0..14, 20);
        lines.extend(office_days("mkt-1", "10.30.1.1", 0..14, 10, 5));
        let subjects: Vec<String> = (0..50_000u64).map(|i| cust(i * 37 % 5_000_000)).collect();
        let purpose = "MKT-2291 Chuseok gift campaign (privacy review PRIV-0417 approved)";
        lines.push(
            r(at(14, 11, 0), "mkt-1")
                .action("export")
                .ip("10.30.1.1")
                .subjects(&subjects)
                .purpose(purpose)
                .line(),
        );
        lines.push(
            r(at(14, 11, 5), "mkt-1")
                .action("download")
                .ip("10.30.1.1")
                .count(50_000)
                .purpose(purpose)
                .line(),
        );
        let a = Scenario::new().registry(&reg).run(&by_time(lines));
        assert_below(&a, Medium);
        assert_eq!(
            max_sev(&a, "subjects_per_day", Some("mkt-1")),
            Some(Low),
            "reported, for the ticket to be checked"
        );
        // Without the ticket it is another story.
        let mut lines = office_days("mkt-1", "10.30.1.1", 0..14, 10, 5);
        lines.push(
            r(at(14, 11, 0), "mkt-1")
                .action("export")
                .ip("10.30.1.1")
                .subjects(&subjects)
                .line(),
        );
        let a = Scenario::new().registry(&reg).run(&lines);
        assert_eq!(
            max_sev(&a, "bulk_without_purpose", Some("mkt-1")),
            Some(High)
        );
        assert_eq!(max_sev(&a, "subjects_per_day", Some("mkt-1")), Some(High));
    }

    /// Benign: drivers print their route (with customers' addresses) every day.
    #[test]
    fn routine_route_prints_are_learned() {
        let mut reg = String::new();
        for i in 0..8 {
            reg.push_str(&format!(
                "{{\"type\":\"principal\",\"id\":\"drv-{i}\",\"kind\":\"employee\",\"status\":\"active\",\"role\":\"logistics\",\"networks\":[\"10.40.0.0/16\"]}}\n"
            ));
        }
        let mut rng = Rng(9);
        let mut lines = Vec::new();
        for d in 0..10 {
            for i in 0..8 {
                for k in 0..3 {
                    let n = 40 + rng.below(110);
                    let subjects: Vec<String> =
                        (0..n).map(|_| cust(rng.below(1_000_000))).collect();
                    let t = at(d, 9 + k * 3, i);
                    lines.push(
                        r(t, &format!("drv-{i}"))
                            .ip("10.40.1.1")
                            .subjects(&subjects)
                            .line(),
                    );
                    lines.push(
                        r(t + 60_000, &format!("drv-{i}"))
                            .action("print")
                            .ip("10.40.1.1")
                            .subjects(&subjects)
                            .line(),
                    );
                }
            }
        }
        let a = Scenario::new().registry(&reg).run(&by_time(lines));
        assert_below(&a, High);
        let late: Vec<_> = a
            .iter()
            .filter(|x| x.rule == "bulk_without_purpose" && x.time.as_str() > "2025-06-03")
            .collect();
        assert!(
            late.is_empty(),
            "after the first day prints are normal: {late:#?}"
        );
    }

    #[test]
    fn off_hours_is_low_at_an_hour_never_worked() {
        let mut lines = office_days("cs-1", "10.10.1.20", 0..16, 20, 1);
        let idx = lines.len() as u64;
        lines.push(
            r(at(16, 3, 0), "cs-1")
                .ip("10.10.1.20")
                .subject("c-0000001")
                .line(),
        );
        let a = Scenario::new().registry(AGENTS).run(&lines);
        assert_eq!(
            brief(&a),
            vec![("off_hours".to_string(), Low, "cs-1".to_string(), idx)]
        );
        assert!(a[0].summary.contains("03:00 home time"), "{}", a[0].summary);
    }

    #[test]
    fn login_failed_burst_per_account_and_per_source() {
        let staff: Vec<String> = (0..12)
            .map(|i| {
                r(at(0, 9, 0) + i * 20_000, "emp-0042")
                    .action("login_failed")
                    .ip(OFFICE)
                    .failed()
                    .line()
            })
            .collect();
        assert_fires(
            &reg().run(&staff),
            "login_failed_burst",
            Medium,
            "emp-0042",
            9,
        );
        let stuffing: Vec<String> = (0..40u64)
            .map(|i| {
                r(at(0, 2, 0) + i as i64 * 5_000, &cust(i))
                    .action("login_failed")
                    .ip("211.9.9.9")
                    .failed()
                    .line()
            })
            .collect();
        let a = reg().run(&stuffing);
        let b = brief(&a);
        assert_eq!(
            b.iter()
                .filter(|x| x.0 == "login_failed_burst")
                .map(|x| (x.1, x.3))
                .next(),
            Some((High, 29)),
            "{b:#?}"
        );
        assert_eq!(
            a.iter()
                .find(|x| x.rule == "login_failed_burst")
                .map(|x| x.incident_of.as_str()),
            Some("source:211.9.9.9")
        );
    }
}

/// The registry-blind theft: an active agent, a valid registered token, a home address, a few
/// hundred extra customers in the evening.
fn slow_theft() -> (Scenario, Vec<String>) {
    let mut lines = team(0..21, 20);
    let mut rng = Rng(11);
    for d in [21i64, 22, 23] {
        lines.extend(team(d..d + 1, 20));
        for k in 0..300u64 {
            let c = cust(2_000_000 + rng.below(3_000_000));
            let t = at(d, 21, 0) + k as i64 * 12_000;
            lines.push(
                r(t, "cs-2")
                    .action("search")
                    .ip("175.223.10.99")
                    .subject(&c)
                    .line(),
            );
            lines.push(r(t + 4_000, "cs-2").ip("175.223.10.99").subject(&c).line());
        }
    }
    (Scenario::new().registry(AGENTS), by_time(lines))
}

#[test]
fn slow_theft_from_home_is_high_within_the_first_evening_with_few_subjects_exposed() {
    let (s, lines) = slow_theft();
    let a = s.run(&lines);
    let first_theft = lines
        .iter()
        .position(|l| l.contains("175.223.10.99"))
        .expect("theft") as u64;
    assert!(
        a.iter()
            .all(|x| x.ledger_index >= first_theft || x.severity < Medium),
        "nothing before: {:#?}",
        brief(&a)
    );
    // The first high alert (a new alert or an update that escalated).
    let high = a.iter().find(|x| x.severity >= High).expect("a high alert");
    let at_index = high.last_ledger_index;
    let exposed: std::collections::HashSet<&str> = lines[first_theft as usize..=at_index as usize]
        .iter()
        .filter(|l| l.contains("175.223.10.99"))
        .filter_map(|l| {
            l.split("\"subjects\":[\"")
                .nth(1)
                .and_then(|x| x.split('"').next())
        })
        .collect();
    assert!(
        exposed.len() <= 100,
        "high after {} subjects ({} {})",
        exposed.len(),
        high.rule,
        high.summary
    );
    assert!(
        high.last_time.starts_with("2025-06-23"),
        "{}",
        high.last_time
    );
}

mod replay {
    use super::*;

    #[test]
    fn replaying_the_same_history_gives_the_same_alerts() {
        let (s, lines) = slow_theft();
        let one = s.run(&lines);
        let two = s.run(&lines);
        assert!(!one.is_empty());
        assert_eq!(without_wall_clock(&one), without_wall_clock(&two));
    }

    #[test]
    fn state_saved_and_loaded_midway_gives_the_same_alerts_as_one_pass() {
        let (s, lines) = slow_theft();
        let one = s.run(&lines);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("detect.state");
        for split in [lines.len() / 3, lines.len() - 2000] {
            let mut e1 = s.engine();
            let mut a: Vec<Alert> = feed(&mut e1, &lines[..split], 0);
            e1.save_state(&path, split as u64).expect("save");
            drop(e1);
            let mut e2 = s.engine();
            assert_eq!(
                e2.load_state(&path).expect("load"),
                suho_detect::SavedAt::Position(split as u64),
                "the state names the position it was saved at"
            );
            a.extend(feed(&mut e2, &lines[split..], split as u64));
            assert_eq!(
                without_wall_clock(&one),
                without_wall_clock(&a),
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_missing_state_file_is_a_fresh_start_and_a_damaged_one_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("detect.state");
        let mut e = reg().engine();
        assert_eq!(
            e.load_state(&path).expect("missing is fine"),
            suho_detect::SavedAt::Nothing
        );
        feed(
            &mut e,
            &[r(at(0, 10, 0), "emp-0042").ip(OFFICE).subject("c-1").line()],
            0,
        );
        e.save_state(&path, 1).expect("save");
        let mut bytes = std::fs::read(&path).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let err = e.load_state(&path).expect_err("damaged");
        assert!(err.to_string().contains("checksum"), "{err}");
        std::fs::write(
            &path,
            b"not a state file at all, really not at all, no............",
        )
        .expect("write");
        let err = e.load_state(&path).expect_err("foreign file");
        assert!(
            err.to_string().contains("not a suho detector state file"),
            "{err}"
        );
    }

    #[test]
    fn one_alert_per_actor_rule_and_window_then_sparse_updates() {
        let mut rng = Rng(3);
        let lines: Vec<String> = (0..100)
            .map(|i| {
                r(at(2, 10, 0) + i * 1000, "emp-0131")
                    .ip("10.20.1.1")
                    .subject(&cust(rng.below(1_000_000)))
                    .line()
            })
            .collect();
        let a = reg().run(&lines);
        let ids: std::collections::HashSet<&str> = a.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids.len(), 1);
        let counts: Vec<u64> = a.iter().map(|x| x.count).collect();
        assert_eq!(
            counts,
            vec![1, 2, 4, 8, 16, 32, 64],
            "updates when the count doubles"
        );
        let last = a.last().expect("alert");
        assert_eq!((last.ledger_index, last.last_ledger_index), (0, 63));
        assert_eq!(
            last.window, "2025-06-03T15:00:00.000Z/2025-06-04T15:00:00.000Z",
            "a Seoul day"
        );
        // The next day is a new window: a new alert.
        let next = vec![r(at(3, 10, 0), "emp-0131")
            .ip("10.20.1.1")
            .subject("c-1")
            .line()];
        let mut e = reg().engine();
        let mut all = feed(&mut e, &lines, 0);
        all.extend(feed(&mut e, &next, 100));
        assert_eq!(brief(&all).len(), 2);
    }
}

#[test]
fn alerts_serialise_to_the_contract_fields() {
    let lines = vec![r(at(2, 10, 0), "emp-0131")
        .ip("10.20.1.1")
        .cred("tok-131")
        .key("kid-staff")
        .subject("c-0000002")
        .id("rec-1")
        .line()];
    let a = reg().run(&lines);
    let v = serde_json::to_value(&a[0]).expect("json");
    for k in [
        "id",
        "rule",
        "severity",
        "time",
        "detected_at",
        "actor",
        "credential",
        "signing_key",
        "src_ip",
        "country",
        "ledger_index",
        "summary",
        "evidence",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["severity"], "critical");
    assert_eq!(v["time"], "2025-06-04T01:00:00.000Z");
    assert_eq!(v["country"], "KR");
    assert_eq!(v["record_id"], "rec-1");
    assert!(v["evidence"].is_object());
    let s: Severity = serde_json::from_value(v["severity"].clone()).expect("severity");
    assert_eq!(s, Critical);
    let _ = Low;
}

mod engine {
    use std::sync::Arc;

    use super::*;
    use suho_detect::Features;

    #[test]
    fn customer_travel_is_seen_in_both_directions() {
        let lines = vec![
            r(at(0, 21, 0), "c-0000009")
                .ip("185.9.9.9")
                .cred("sess-9")
                .key("kid-cust")
                .subject("c-0000009")
                .line(),
            r(at(0, 21, 10), "c-0000009")
                .ip("211.1.2.3")
                .cred("sess-9")
                .key("kid-cust")
                .subject("c-0000009")
                .line(),
        ];
        assert_fires(
            &reg().run(&lines),
            "impossible_travel",
            Medium,
            "c-0000009",
            1,
        );
    }

    #[test]
    fn customers_get_no_behaviour_state() {
        let mut e = reg().engine();
        let lines: Vec<String> = (0..20_000u64)
            .map(|i| {
                r(at(0, 20, 0) + i as i64 * 100, &cust(i))
                    .ip(&format!("211.{}.{}.9", i % 200, i / 200 % 200))
                    .subject(&cust(i))
                    .line()
            })
            .collect();
        let a = feed(&mut e, &lines, 0);
        assert!(a.is_empty(), "{:#?}", brief(&a));
        assert_eq!(e.stats().actors, 0);
    }

    #[test]
    fn unregistered_actors_are_capped() {
        let mut e = reg().config(|c| c.max_unknown_actors = 5).engine();
        let lines: Vec<String> = (0..50u64)
            .map(|i| {
                r(at(0, 20, 0) + i as i64 * 100, &format!("bot-{i}"))
                    .ip("211.1.1.1")
                    .subject(&cust(i))
                    .line()
            })
            .collect();
        let a = feed(&mut e, &lines, 0);
        assert_eq!(
            brief(&a)
                .iter()
                .filter(|b| b.0 == "unknown_principal")
                .count(),
            50,
            "every one is still reported"
        );
        assert_eq!(e.stats().unknown_actors, 5);
    }

    #[test]
    fn a_registry_change_applies_to_the_next_record() {
        let s = reg();
        let mut e = s.engine();
        let before = vec![r(at(5, 10, 0), "emp-0042")
            .ip(OFFICE)
            .subject("c-0000001")
            .line()];
        assert!(feed(&mut e, &before, 0).is_empty());
        // Offboarding: emp-0042 departed yesterday.
        let mut registry = (**e.registry()).clone();
        let rec = suho_registry::parse_registry_line(
            br#"{"type":"principal","id":"emp-0042","kind":"employee","status":"departed","role":"cs-agent","departed_at":"2025-06-06T18:00:00+09:00","countries":["KR"],"networks":["10.10.0.0/16"]}"#,
        )
        .expect("line");
        registry.upsert(rec);
        e.set_registry(Arc::new(registry));
        let after = vec![r(at(5, 10, 5), "emp-0042")
            .ip(OFFICE)
            .subject("c-0000002")
            .line()];
        assert_fires(
            &feed(&mut e, &after, 1),
            "departed_principal",
            Critical,
            "emp-0042",
            1,
        );
    }

    #[test]
    fn flush_emits_the_counts_sparse_updates_held_back() {
        let mut e = reg().engine();
        let lines: Vec<String> = (0..100)
            .map(|i| {
                r(at(2, 10, 0) + i * 1000, "emp-0131")
                    .ip("10.20.1.1")
                    .subject(&cust(7919 * i as u64))
                    .line()
            })
            .collect();
        let a = feed(&mut e, &lines, 0);
        assert_eq!(a.last().map(|x| x.count), Some(64));
        let mut out = Vec::new();
        e.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].count, out[0].last_ledger_index), (100, 99));
        out.clear();
        e.flush(&mut out);
        assert!(out.is_empty(), "nothing new to flush");
    }

    #[test]
    fn geo_looked_up_on_worker_threads_gives_the_same_alerts() {
        let (s, lines) = slow_theft();
        let mut plain = s.engine();
        let mut with_geo = s.engine();
        let geo = with_geo.geo().cloned();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, l) in lines.iter().enumerate() {
            let rec = suho_record::parse_record(l.as_bytes()).expect("record");
            plain.observe(i as u64, &Features::from_record(&rec), l.as_bytes(), &mut a);
            with_geo.observe(
                i as u64,
                &Features::from_record_geo(&rec, geo.as_ref()),
                l.as_bytes(),
                &mut b,
            );
        }
        assert!(!a.is_empty());
        assert_eq!(without_wall_clock(&a), without_wall_clock(&b));
    }
}

#[test]
fn absurd_counts_never_panic() {
    let lines: Vec<String> = (0..4)
        .map(|i| {
            r(at(0, 10, i), "emp-0042")
                .action(if i % 2 == 0 { "download" } else { "read" })
                .ip(OFFICE)
                .count(u64::MAX)
                .purpose(if i < 2 { "" } else { "T-1" })
                .line()
        })
        .collect();
    let a = reg().run(&lines);
    assert_eq!(
        max_sev(&a, "bulk_without_purpose", Some("emp-0042")),
        Some(High)
    );
}
