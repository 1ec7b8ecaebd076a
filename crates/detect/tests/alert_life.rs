//! The life of an alert as an analyst reads it: `time` and `ledger_index` never move, each
//! emission says which record caused it and when the alert became high; routine lows go to the
//! daily digest; analysts' suppressions hide what they name, never a critical alert; and the
//! store keeps all of it, in a database of the previous schema too.

mod common;

use common::*;
use suho_detect::{
    Alert, AlertFilter, AlertStore, AlertView, OutboxKind, Severity, Suppression, Target,
};

/// An unregistered account (no customer acting on their own data): `unknown_principal`, low
/// while its reads are refused, high once one succeeds.
const INTRUDER: &str = "x-intruder";

fn refused(t: i64, subject: &str) -> String {
    r(t, INTRUDER)
        .ip("10.1.1.1")
        .subject(subject)
        .failed()
        .line()
}

fn read(t: i64, subject: &str) -> String {
    r(t, INTRUDER).ip("10.1.1.1").subject(subject).line()
}

fn of_rule<'a>(a: &'a [Alert], rule: &str) -> Vec<&'a Alert> {
    a.iter().filter(|x| x.rule == rule).collect()
}

#[test]
fn an_alert_keeps_its_time_while_each_update_names_its_record_and_when_it_became_high() {
    // 14:10 refused twice, 15:46 read (the attack), then more reads.
    let mut lines = vec![
        refused(at(2, 14, 10), "c-1"),
        refused(at(2, 14, 11), "c-2"),
        read(at(2, 15, 46), "c-3"),
    ];
    for k in 0..6 {
        lines.push(read(at(2, 16, k), &format!("c-{}", 10 + k)));
    }
    let mut e = Scenario::new().engine();
    let mut out = feed(&mut e, &lines, 0);
    e.flush(&mut out);
    let emitted = of_rule(&out, "unknown_principal");
    assert!(emitted.len() >= 4, "created, updates: {emitted:#?}");
    let first_time = emitted[0].time.clone();
    assert_eq!(first_time, suho_record::format_rfc3339_ms(at(2, 14, 10)));
    for a in &emitted {
        assert_eq!(a.time, first_time, "time never moves");
        assert_eq!(a.ledger_index, 0, "ledger_index never moves");
    }
    // Each emission names the record that caused it and the severity reached then.
    let updated: Vec<(u64, Severity)> = emitted
        .iter()
        .map(|a| {
            let u = a.updated.as_ref().expect("updated");
            assert_eq!(
                u.time,
                suho_record::format_rfc3339_ms(
                    suho_record::parse_record(lines[u.ledger_index as usize].as_bytes())
                        .expect("record")
                        .time_ms
                ),
                "updated.time is its record's event time"
            );
            (u.ledger_index, u.severity)
        })
        .collect();
    assert_eq!(updated[0], (0, Severity::Low));
    assert_eq!(
        updated[1],
        (1, Severity::Low),
        "the count doubled at record 1"
    );
    assert_eq!(updated[2], (2, Severity::High), "record 2 made it high");
    assert!(
        updated[3..]
            .iter()
            .all(|&(i, s)| i > 2 && s == Severity::High),
        "{updated:?}"
    );
    // It became high at 15:46, record 2, and every later emission still says so.
    for a in &emitted[2..] {
        let high = a.high_since().expect("high since");
        assert_eq!(
            (high.ledger_index, high.time.as_str()),
            (2, suho_record::format_rfc3339_ms(at(2, 15, 46)).as_str())
        );
        assert_eq!(
            a.raised.len(),
            2,
            "low at its first record, high at record 2"
        );
        assert_eq!(a.raised[0].ledger_index, 0);
    }
    assert!(emitted[1].high_since().is_none(), "not high yet");

    // Stored: the row's time stays, its update columns move, high-since is kept.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alerts.db");
    let mut store = AlertStore::open(&path).expect("open");
    let conn = rusqlite::Connection::open(&path).expect("sqlite");
    let row = |id: &str| -> (i64, Option<i64>, Option<i64>, Option<i64>) {
        conn.query_row(
            "SELECT time_ms, updated_index, high_since_index, high_since_ms FROM alerts WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("row")
    };
    let id = emitted[0].id.clone();
    store.upsert(&[emitted[0].clone()]).expect("upsert");
    assert_eq!(row(&id), (at(2, 14, 10), Some(0), None, None));
    store.upsert(&[emitted[2].clone()]).expect("upsert");
    assert_eq!(
        row(&id),
        (at(2, 14, 10), Some(2), Some(2), Some(at(2, 15, 46)))
    );
    let last = emitted.last().expect("last");
    store.upsert(&[(*last).clone()]).expect("upsert");
    let (time_ms, updated_index, high_index, _) = row(&id);
    assert_eq!(time_ms, at(2, 14, 10), "time never moves in the store");
    assert_eq!(
        updated_index,
        last.updated.as_ref().map(|u| u.ledger_index as i64)
    );
    assert_eq!(high_index, Some(2), "high-since is kept");
    let stored = store.get(&id).expect("get").expect("stored");
    assert_eq!(stored.time, first_time);
    assert_eq!(stored.updated, last.updated);
    assert_eq!(stored.high_since().map(|m| m.ledger_index), Some(2));
}

#[test]
fn an_alerts_db_of_the_previous_schema_opens_keeps_its_rows_and_takes_updates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alerts.db");
    let lines = vec![refused(at(2, 14, 10), "c-1"), read(at(2, 15, 46), "c-3")];
    let out = Scenario::new().run(&lines);
    let old: Vec<Alert> = out
        .iter()
        .map(|a| {
            // As the previous version emitted it: none of the new fields.
            let mut a = a.clone();
            a.raised.clear();
            a.updated = None;
            a
        })
        .collect();
    {
        // The previous schema (with the outbox's `emissions` column), with two rows.
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch(
            "CREATE TABLE alerts (id TEXT PRIMARY KEY, rule TEXT NOT NULL, severity INTEGER NOT NULL,
                time_ms INTEGER NOT NULL, last_time_ms INTEGER NOT NULL, actor TEXT, credential TEXT,
                incident TEXT NOT NULL, count INTEGER NOT NULL, json TEXT NOT NULL,
                emissions INTEGER NOT NULL DEFAULT 1);
             CREATE TABLE incidents (id TEXT PRIMARY KEY, subject TEXT NOT NULL, status TEXT NOT NULL,
                first_time_ms INTEGER NOT NULL, last_time_ms INTEGER NOT NULL, severity INTEGER NOT NULL);",
        )
        .expect("old schema");
        for (n, a) in old.iter().take(1).enumerate() {
            conn.execute(
                "INSERT INTO alerts VALUES (?1, ?2, ?3, ?4, ?4, ?5, NULL, ?6, ?7, ?8, 1)",
                rusqlite::params![
                    a.id,
                    a.rule,
                    a.severity.rank(),
                    at(2, 14, 10),
                    a.actor,
                    a.incident,
                    a.count as i64,
                    serde_json::to_string(a).expect("json")
                ],
            )
            .expect("old row");
            conn.execute(
                "INSERT INTO alerts VALUES (?1, 'off_hours', 1, 5, 6, 'emp-9', NULL, 'inc-9', 3, ?2, 2)",
                rusqlite::params![
                    format!("al-old-{n}"),
                    serde_json::to_string(&Alert {
                        id: format!("al-old-{n}"),
                        rule: "off_hours".into(),
                        ..a.clone()
                    })
                    .expect("json")
                ],
            )
            .expect("old row");
        }
    }
    let mut store = AlertStore::open(&path).expect("an old database opens");
    assert_eq!(store.count().expect("count"), 2, "every row kept");
    let listed = store.list(&AlertFilter::default()).expect("list");
    assert_eq!(listed.len(), 2, "old rows are not quiet");
    assert!(listed
        .iter()
        .all(|a| a.updated.is_none() && a.raised.is_empty()));
    // The engine's next emission of the old alert updates it; the sinks had seen it.
    let update = out.last().expect("update").clone();
    assert_eq!(update.id, old[0].id);
    store.upsert(std::slice::from_ref(&update)).expect("upsert");
    let ev = store.outbox_after(0, Severity::Low, 10).expect("outbox");
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, OutboxKind::Updated, "stored (and sent) before");
    let now = store.get(&update.id).expect("get").expect("row");
    assert_eq!(now.time, old[0].time);
    assert_eq!(now.updated, update.updated);
    // Reopening is a no-op.
    drop(store);
    let store = AlertStore::open(&path).expect("reopen");
    assert_eq!(store.count().expect("count"), 2);
}

#[test]
fn a_low_drawn_on_most_days_goes_to_the_digest_and_leaves_it_when_it_rises() {
    // One refused read a day for nine days: a low `unknown_principal` each day. Day 9 the
    // account reads: that day's alert becomes high.
    let mut lines: Vec<String> = (0..9).map(|d| refused(at(d, 10, 0), "c-1")).collect();
    lines.push(refused(at(9, 10, 0), "c-1"));
    lines.push(read(at(9, 11, 0), "c-2"));
    let out = Scenario::new().run(&lines);
    let created: Vec<&Alert> = of_rule(&out, "unknown_principal")
        .into_iter()
        .filter(|a| a.count == 1)
        .collect();
    assert_eq!(created.len(), 10, "one alert a day");
    let digested: Vec<Option<&str>> = created.iter().map(|a| a.digest.as_deref()).collect();
    // Days 0-3 are news; from day 4 on the same low was drawn on 4 of the 7 days before.
    assert!(digested[..4].iter().all(Option::is_none), "{digested:?}");
    assert!(digested[4..].iter().all(Option::is_some), "{digested:?}");
    assert_eq!(
        digested[4],
        Some("2025-06-06"),
        "the home-time day of its digest"
    );
    let risen = out.last().expect("last");
    assert_eq!(risen.severity, Severity::High);
    assert_eq!(risen.digest, None, "never fold anything medium or higher");

    // Stored: the routine lows are in the digest, not among the raised alerts, and the sinks
    // get no event for them; the risen one is announced as new.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).expect("open");
    store.upsert(&out).expect("upsert");
    let raised = store.list(&AlertFilter::default()).expect("list");
    assert_eq!(raised.len(), 5, "days 0-3 and the day it rose");
    let digest = store
        .list(&AlertFilter {
            view: AlertView::Digest,
            ..AlertFilter::default()
        })
        .expect("digest");
    assert_eq!(digest.len(), 5, "days 4-8");
    let days = store.digest(None).expect("digest days");
    assert_eq!(days.len(), 5);
    assert_eq!(days[0].day, "2025-06-10", "newest first");
    assert_eq!(days[0].about, vec![format!("actor:{INTRUDER}")]);
    let ev = store.outbox_after(0, Severity::Low, 100).expect("outbox");
    assert_eq!(ev.len(), 5);
    let last = ev.last().expect("event");
    assert_eq!(last.alert_id, risen.id);
    assert_eq!(last.kind, OutboxKind::Created, "the sinks never saw it low");
    assert!(ev.iter().all(|e| !e.json.contains("\"digest\"")));
}

fn suppression(id: &str, rule: &str, target: Target, until: i64) -> Suppression {
    Suppression {
        id: id.into(),
        rule: rule.into(),
        target,
        until: suho_record::format_rfc3339_ms(until),
        reason: "pen test SEC-12".into(),
        added_by: "alice".into(),
        added_at: "2025-06-01T00:00:00Z".into(),
        forced: false,
        ledger_index: None,
        removed_at: None,
        removed_by: None,
    }
}

#[test]
fn a_suppression_hides_its_rule_for_its_target_until_its_time_and_never_a_critical_alert() {
    let reg = r#"{"type":"principal","id":"emp-0131","kind":"employee","status":"departed","departed_at":"2025-06-01T00:00:00Z"}"#;
    let lines = vec![
        refused(at(2, 10, 0), "c-1"),
        refused(at(3, 10, 0), "c-1"),
        r(at(2, 10, 0), "emp-0131")
            .ip("10.1.1.1")
            .subject("c-1")
            .line(),
    ];
    let s = Scenario::new().registry(reg);
    let mut e = s.engine();
    e.set_suppressions(&[
        suppression(
            "sup-1",
            "unknown_principal",
            Target::Network("10.1.0.0/16".into()),
            at(3, 0, 0),
        ),
        suppression(
            "sup-2",
            "departed_principal",
            Target::Actor("emp-0131".into()),
            at(9, 0, 0),
        ),
    ])
    .expect("suppressions");
    let out = feed(&mut e, &lines, 0);
    let unknown = of_rule(&out, "unknown_principal");
    assert_eq!(unknown.len(), 2);
    assert_eq!(unknown[0].suppressed_by.as_deref(), Some("sup-1"));
    assert_eq!(
        unknown[1].suppressed_by, None,
        "expired by the record's event time"
    );
    let departed = of_rule(&out, "departed_principal");
    assert_eq!(departed[0].severity, Severity::Critical);
    assert_eq!(
        departed[0].suppressed_by, None,
        "a critical alert is never hidden"
    );

    // Stored, marked, counted for its suppression, and kept from the sinks.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).expect("open");
    store.upsert(&out).expect("upsert");
    let hidden = store.hidden().expect("hidden");
    let h = hidden.get("sup-1").expect("sup-1 hid something");
    assert_eq!((h.alerts, h.last_ms), (1, Some(at(2, 10, 0))));
    assert!(!hidden.contains_key("sup-2"));
    let ev = store.outbox_after(0, Severity::Low, 10).expect("outbox");
    assert!(
        ev.iter().all(|e| e.alert_id != unknown[0].id),
        "not delivered"
    );
    assert_eq!(ev.len(), 2);
    let suppressed = store
        .list(&AlertFilter {
            view: AlertView::Suppressed,
            ..AlertFilter::default()
        })
        .expect("list");
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0].suppressed_by.as_deref(), Some("sup-1"));

    // Removed: it no longer applies.
    let mut removed = suppression(
        "sup-1",
        "unknown_principal",
        Target::Network("10.1.0.0/16".into()),
        at(9, 0, 0),
    );
    removed.removed_at = Some("2025-06-05T00:00:00Z".into());
    let mut e = s.engine();
    e.set_suppressions(&[removed]).expect("suppressions");
    let out = feed(&mut e, &lines[..1], 0);
    assert_eq!(out[0].suppressed_by, None);
}

#[test]
fn a_low_drawn_every_working_day_is_news_on_its_first_four_days_only_even_across_two_weeks_of_leave(
) {
    // Weeks 0-3 at work (Monday to Friday), weeks 4-5 on leave, weeks 6-8 back: 35 working
    // days, each drawing the same low (one refused read).
    let days: Vec<i64> = (0..9)
        .filter(|w| !(4..6).contains(w))
        .flat_map(|w| (0..5).map(move |d| w * 7 + d))
        .collect();
    let lines: Vec<String> = days.iter().map(|&d| refused(at(d, 10, 0), "c-1")).collect();
    let out = Scenario::new().run(&lines);
    let lows = of_rule(&out, "unknown_principal");
    assert_eq!(lows.len(), days.len(), "one alert a working day");
    let news: Vec<i64> = lows
        .iter()
        .zip(&days)
        .filter(|(a, _)| a.digest.is_none())
        .map(|(_, &d)| d)
        .collect();
    assert_eq!(
        news,
        vec![0, 1, 2, 3],
        "from Friday of the first week on it is routine, weekends, and leave, included"
    );
}
