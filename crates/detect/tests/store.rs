//! The SQLite alert store: upsert, updates, filters, incidents.

mod common;

use common::*;
use suho_detect::{AlertFilter, AlertStore, Severity};

const REG: &str = r#"
{"type":"principal","id":"emp-0131","kind":"employee","status":"departed","role":"backend-engineer","departed_at":"2025-06-03T18:00:00+09:00","countries":["KR"],"networks":["10.20.0.0/16"]}
{"type":"principal","id":"emp-0042","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.10.0.0/16"]}
"#;

fn alerts() -> Vec<suho_detect::Alert> {
    let mut lines: Vec<String> = (0..40)
        .map(|i| {
            r(at(2, 10, 0) + i * 1000, "emp-0131")
                .ip("10.20.1.1")
                .subject(&cust(7919 * i as u64))
                .line()
        })
        .collect();
    lines.push(
        r(at(2, 11, 0), "emp-0131")
            .ip("126.1.1.1")
            .subject("c-0000001")
            .line(),
    ); // and from Japan
    lines.push(
        r(at(2, 12, 0), "emp-0042")
            .ip("175.1.1.1")
            .subject("c-0000002")
            .line(),
    ); // new network
    let mut e = Scenario::new().registry(REG).engine();
    let mut out = feed(&mut e, &lines, 0);
    e.flush(&mut out); // the last counts, which sparse updates had not emitted yet
    out
}

#[test]
fn upserts_keep_one_row_per_alert_with_the_latest_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).expect("open");
    let all = alerts();
    // Emissions arrive one batch at a time, updates after their alert.
    for chunk in all.chunks(3) {
        store.upsert(chunk).expect("upsert");
    }
    store.upsert(&all).expect("idempotent");
    let listed = store.list(&AlertFilter::default()).expect("list");
    assert_eq!(listed.len(), brief(&all).len());
    assert_eq!(store.count().expect("count"), listed.len() as u64);
    let departed = listed
        .iter()
        .find(|a| a.rule == "departed_principal")
        .expect("departed");
    assert_eq!(departed.count, 41, "every record of the day folded in");
    assert_eq!(departed.severity, Severity::Critical);
    let latest = all.iter().rfind(|a| a.id == departed.id).expect("latest");
    assert_eq!(departed.last_time, latest.last_time);
    assert_eq!(
        store.get(&departed.id).expect("get").map(|a| a.id),
        Some(departed.id.clone())
    );
    assert_eq!(store.get("al-nope").expect("get"), None);
}

#[test]
fn an_older_emission_never_rolls_an_alert_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).expect("open");
    let all = alerts();
    let id = &all[0].id;
    let emissions: Vec<_> = all.iter().filter(|a| &a.id == id).cloned().collect();
    store
        .upsert(&emissions[emissions.len() - 1..])
        .expect("newest first");
    store.upsert(&emissions[..1]).expect("then the oldest");
    let a = store.get(id).expect("get").expect("present");
    assert_eq!(a.count, emissions[emissions.len() - 1].count);
}

#[test]
fn filters_by_time_rule_severity_and_actor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = AlertStore::open(&dir.path().join("alerts.db")).expect("open");
    store.upsert(&alerts()).expect("upsert");
    let f = |filter: AlertFilter| {
        store
            .list(&filter)
            .expect("list")
            .into_iter()
            .map(|a| a.rule)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        f(AlertFilter {
            rule: Some("foreign_origin".into()),
            ..Default::default()
        }),
        vec!["foreign_origin"]
    );
    assert_eq!(
        f(AlertFilter {
            actor: Some("emp-0042".into()),
            ..Default::default()
        }),
        vec!["unusual_network"]
    );
    let serious = f(AlertFilter {
        min_severity: Some(Severity::High),
        ..Default::default()
    });
    assert_eq!(serious, vec!["departed_principal"]);
    let since = suho_record::parse_rfc3339("2025-06-04T02:30:00Z").expect("time");
    assert_eq!(
        f(AlertFilter {
            since_ms: Some(since),
            ..Default::default()
        }),
        vec!["unusual_network"]
    );
    assert_eq!(
        f(AlertFilter {
            limit: Some(1),
            ..Default::default()
        })
        .len(),
        1
    );
}

#[test]
fn incidents_group_alerts_per_actor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alerts.db");
    let mut store = AlertStore::open(&path).expect("open");
    store.upsert(&alerts()).expect("upsert");
    let inc = store.incidents(None, None).expect("incidents");
    assert_eq!(inc.len(), 2, "{inc:#?}");
    let emp = inc
        .iter()
        .find(|i| i.actor.as_deref() == Some("emp-0131"))
        .expect("emp-0131");
    assert_eq!(emp.subject, "actor:emp-0131");
    assert_eq!(emp.rules, vec!["departed_principal", "foreign_origin"]);
    assert_eq!(emp.alert_ids.len(), 2);
    assert_eq!(emp.severity, Severity::Critical);
    assert_eq!(emp.status, "open");
    assert_eq!(emp.first_time, "2025-06-04T01:00:00.000Z");
    assert_eq!(emp.last_time, "2025-06-04T02:00:00.000Z");
    assert_eq!(
        store
            .incidents(None, Some(Severity::High))
            .expect("incidents")
            .len(),
        1
    );
    assert!(serde_json::to_value(emp).expect("json")["alert_ids"].is_array());

    assert!(store.set_incident_status(&emp.id, "closed").expect("close"));
    assert!(!store
        .set_incident_status("inc-nope", "closed")
        .expect("close"));
    assert!(store.set_incident_status(&emp.id, "done").is_err());
    assert_eq!(
        store
            .incidents(Some("open"), None)
            .expect("open ones")
            .len(),
        1
    );
    // Reopening the database keeps everything.
    drop(store);
    let store = AlertStore::open(&path).expect("reopen");
    assert_eq!(
        store.incidents(Some("closed"), None).expect("closed").len(),
        1
    );
}

/// The outbox: every upsert call leaves one event per alert it touched, in the same
/// transaction, carrying the alert as it stands after the call.
mod outbox {
    use super::*;
    use suho_detect::OutboxKind;

    #[test]
    fn an_insert_and_an_update_each_leave_one_event_with_the_alert_as_it_stands() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = AlertStore::open(&dir.path().join("alerts.db")).expect("open");
        let all = alerts();
        let id = all[0].id.clone();
        let emissions: Vec<_> = all.iter().filter(|a| a.id == id).cloned().collect();
        assert!(
            emissions.len() >= 3,
            "the departed alert is updated as it grows"
        );

        store.upsert(&emissions[..1]).expect("insert");
        let first = store.outbox_after(0, Severity::Low, 100).expect("outbox");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].kind, OutboxKind::Created);
        assert_eq!(first[0].alert_id, id);
        let a: suho_detect::Alert = serde_json::from_str(&first[0].json).expect("alert json");
        assert_eq!(a, emissions[0]);

        // Two later emissions of the same alert in one call: one event, the final state.
        store.upsert(&emissions[1..3]).expect("update");
        let next = store
            .outbox_after(first[0].seq, Severity::Low, 100)
            .expect("outbox");
        assert_eq!(next.len(), 1, "one event per alert per upsert call");
        assert_eq!(next[0].kind, OutboxKind::Updated);
        assert!(next[0].seq > first[0].seq);
        let a: suho_detect::Alert = serde_json::from_str(&next[0].json).expect("alert json");
        assert_eq!(a.count, emissions[2].count);
        assert_eq!(a, store.get(&id).expect("get").expect("stored"));

        // An older emission arriving late does not roll the alert back, and its event says so.
        store.upsert(&emissions[..1]).expect("late");
        let late = store
            .outbox_after(next[0].seq, Severity::Low, 100)
            .expect("outbox");
        assert_eq!(late.len(), 1);
        let a: suho_detect::Alert = serde_json::from_str(&late[0].json).expect("alert json");
        assert_eq!(
            a.count, emissions[2].count,
            "the event carries the stored alert"
        );
    }

    #[test]
    fn events_are_filtered_by_severity_and_sequence_numbers_are_never_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("alerts.db");
        let mut store = AlertStore::open(&path).expect("open");
        let all = alerts();
        store.upsert(&all).expect("upsert");
        let every = store.outbox_after(0, Severity::Low, 1000).expect("outbox");
        assert_eq!(every.len(), brief(&all).len());
        let serious = store.outbox_after(0, Severity::High, 1000).expect("outbox");
        assert_eq!(serious.len(), 1);
        assert_eq!(
            store.outbox_count_after(0, Severity::High).expect("count"),
            1
        );
        let head = store.outbox_head().expect("head");
        assert_eq!(head.newest, every.last().map_or(0, |e| e.seq));

        // Everything delivered and old enough goes; the next event still gets a new number,
        // so a cursor at the old newest never skips it.
        let gone = store.prune_outbox(head.newest, i64::MAX).expect("prune");
        assert_eq!(gone, every.len() as u64);
        drop(store);
        let mut store = AlertStore::open(&path).expect("reopen");
        assert_eq!(store.outbox_head().expect("head").events, 0);
        store.upsert(&all[..1]).expect("update");
        let after = store
            .outbox_after(head.newest, Severity::Low, 10)
            .expect("outbox");
        assert_eq!(
            after.len(),
            1,
            "the event after a prune is seen past the cursor"
        );
        assert!(after[0].seq > head.newest);
        assert_eq!(after[0].kind, OutboxKind::Updated);
    }

    #[test]
    fn a_commit_with_events_pokes_the_hook() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = AlertStore::open(&dir.path().join("alerts.db")).expect("open");
        let pokes = Arc::new(AtomicUsize::new(0));
        let p = pokes.clone();
        store.on_outbox(Some(Arc::new(move || {
            p.fetch_add(1, Ordering::SeqCst);
        })));
        store.upsert(&[]).expect("nothing");
        assert_eq!(pokes.load(Ordering::SeqCst), 0);
        store.upsert(&alerts()).expect("upsert");
        assert_eq!(pokes.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn each_data_directory_names_its_events_apart() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let sa = AlertStore::open(&a.path().join("alerts.db")).expect("open");
        let sb = AlertStore::open(&b.path().join("alerts.db")).expect("open");
        let ia = sa.outbox_instance().expect("instance");
        assert_ne!(ia, sb.outbox_instance().expect("instance"));
        assert!(!ia.contains('.'), "webhook ids must not hold a full stop");
        drop(sa);
        let again = AlertStore::open(&a.path().join("alerts.db")).expect("reopen");
        assert_eq!(again.outbox_instance().expect("instance"), ia);
    }

    #[test]
    fn a_database_from_before_the_outbox_opens_and_its_alerts_update() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("alerts.db");
        let all = alerts();
        {
            // The schema as it was, with one alert stored.
            let conn = rusqlite::Connection::open(&path).expect("sqlite");
            conn.execute_batch(
                "CREATE TABLE alerts (id TEXT PRIMARY KEY, rule TEXT NOT NULL, severity INTEGER NOT NULL,
                    time_ms INTEGER NOT NULL, last_time_ms INTEGER NOT NULL, actor TEXT, credential TEXT,
                    incident TEXT NOT NULL, count INTEGER NOT NULL, json TEXT NOT NULL);
                 CREATE TABLE incidents (id TEXT PRIMARY KEY, subject TEXT NOT NULL, status TEXT NOT NULL,
                    first_time_ms INTEGER NOT NULL, last_time_ms INTEGER NOT NULL, severity INTEGER NOT NULL);",
            )
            .expect("old schema");
            conn.execute(
                "INSERT INTO alerts VALUES (?1, ?2, ?3, 0, 0, NULL, NULL, ?4, ?5, ?6)",
                rusqlite::params![
                    all[0].id,
                    all[0].rule,
                    all[0].severity.rank(),
                    all[0].incident,
                    all[0].count as i64,
                    serde_json::to_string(&all[0]).expect("json")
                ],
            )
            .expect("old row");
        }
        let mut store = AlertStore::open(&path).expect("open an old database");
        store.upsert(&all[..1]).expect("upsert");
        let ev = store.outbox_after(0, Severity::Low, 10).expect("outbox");
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].kind,
            OutboxKind::Updated,
            "the alert was stored before"
        );
    }
}
