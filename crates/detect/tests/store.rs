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
