//! An alert event as an OCSF Detection Finding (class 2004, category 2 Findings), schema
//! version [`OCSF_VERSION`]. FORMAT.md ("Alert sinks") has the mapping as a table.
//!
//! The event's kind is the activity (`created`: 1 Create, `updated`: 2 Update); `time` is when
//! suho committed the event, `start_time`/`end_time` the event times of the first and latest
//! record folded into the alert. `actor` (from the `host` profile, listed in
//! `metadata.profiles`) and the evidence name the account, credential and source address of
//! the triggering record; the alert's own `evidence` object (what deviated from what) goes in
//! `evidences[0].data`. `metadata.uid` is the event id, the same on every retry, and
//! `metadata.correlation_uid` the incident. Ledger positions and what has no OCSF attribute go
//! in `unmapped`.

use serde_json::{json, Map, Value};
use suho_detect::{OutboxKind, Severity};

use crate::Event;

/// The OCSF schema version findings follow.
pub const OCSF_VERSION: &str = "1.5.0";

/// The Detection Finding class.
pub const CLASS_UID: u32 = 2004;

/// OCSF `severity_id` and caption of an alert severity.
pub fn severity(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.into(), v);
    }
}

/// The finding for `e`.
pub fn finding(e: &Event) -> Value {
    let a = &e.alert;
    let (activity_id, activity) = match e.kind {
        OutboxKind::Created => (1u32, "Create"),
        OutboxKind::Updated => (2u32, "Update"),
    };
    let (severity_id, severity_name) = severity(a.severity);
    let first = suho_record::parse_rfc3339(&a.time).ok();
    let last = suho_record::parse_rfc3339(&a.last_time).ok();

    let user = a.actor.as_ref().map(|actor| {
        let mut u = Map::new();
        u.insert("uid".into(), json!(actor));
        u.insert("name".into(), json!(actor));
        put(
            &mut u,
            "credential_uid",
            a.credential.as_ref().map(|c| json!(c)),
        );
        Value::Object(u)
    });
    let actor = user.map(|u| json!({ "user": u }));
    let src = a.src_ip.as_ref().map(|ip| {
        let mut s = Map::new();
        s.insert("ip".into(), json!(ip));
        put(
            &mut s,
            "location",
            a.country.as_ref().map(|c| json!({ "country": c })),
        );
        Value::Object(s)
    });

    let mut evidence = Map::new();
    put(&mut evidence, "actor", actor.clone());
    put(&mut evidence, "src_endpoint", src);
    evidence.insert("data".into(), a.evidence.clone());

    let mut info = Map::new();
    info.insert("uid".into(), json!(a.id));
    info.insert(
        "title".into(),
        json!(format!("{} ({})", a.rule, a.incident_of)),
    );
    info.insert("desc".into(), json!(a.summary));
    info.insert("types".into(), json!([a.rule]));
    info.insert(
        "analytic".into(),
        json!({ "uid": a.rule, "name": a.rule, "type_id": 1, "type": "Rule" }),
    );
    put(&mut info, "first_seen_time", first.map(|t| json!(t)));
    put(&mut info, "last_seen_time", last.map(|t| json!(t)));
    info.insert("modified_time".into(), json!(e.created_ms));
    info.insert("related_events_count".into(), json!(a.count));

    let mut observables = Vec::new();
    if let Some(actor) = &a.actor {
        observables.push(json!({
            "name": "actor.user.name", "type_id": 4, "type": "User Name", "value": actor
        }));
    }
    if let Some(ip) = &a.src_ip {
        observables.push(json!({
            "name": "evidences.src_endpoint.ip", "type_id": 2, "type": "IP Address", "value": ip
        }));
    }

    let mut unmapped = Map::new();
    unmapped.insert("ledger_index".into(), json!(a.ledger_index));
    unmapped.insert("last_ledger_index".into(), json!(a.last_ledger_index));
    // The record that caused this event and the severity reached then; when each severity was
    // first reached (contract section 3 `raised`), and so since when the alert is high.
    if let Some(u) = &a.updated {
        unmapped.insert("updated_time".into(), json!(u.time));
        unmapped.insert("updated_ledger_index".into(), json!(u.ledger_index));
        unmapped.insert("updated_severity".into(), json!(u.severity));
    }
    if let Some(h) = a.high_since() {
        unmapped.insert("high_since_time".into(), json!(h.time));
        unmapped.insert("high_since_ledger_index".into(), json!(h.ledger_index));
    }
    if !a.raised.is_empty() {
        unmapped.insert("raised".into(), json!(a.raised));
    }
    unmapped.insert("incident".into(), json!(a.incident));
    unmapped.insert("incident_of".into(), json!(a.incident_of));
    unmapped.insert("window".into(), json!(a.window));
    unmapped.insert("detected_at".into(), json!(a.detected_at));
    put(
        &mut unmapped,
        "signing_key",
        a.signing_key.as_ref().map(|k| json!(k)),
    );
    put(
        &mut unmapped,
        "record_id",
        a.record_id.as_ref().map(|r| json!(r)),
    );

    let mut f = Map::new();
    f.insert("class_uid".into(), json!(CLASS_UID));
    f.insert("class_name".into(), json!("Detection Finding"));
    f.insert("category_uid".into(), json!(2));
    f.insert("category_name".into(), json!("Findings"));
    f.insert("activity_id".into(), json!(activity_id));
    f.insert("activity_name".into(), json!(activity));
    f.insert("type_uid".into(), json!(CLASS_UID * 100 + activity_id));
    f.insert(
        "type_name".into(),
        json!(format!("Detection Finding: {activity}")),
    );
    f.insert("time".into(), json!(e.created_ms));
    f.insert("timezone_offset".into(), json!(0));
    f.insert("severity_id".into(), json!(severity_id));
    f.insert("severity".into(), json!(severity_name));
    f.insert("status_id".into(), json!(1));
    f.insert("status".into(), json!("New"));
    f.insert("is_alert".into(), json!(true));
    f.insert("message".into(), json!(a.summary));
    f.insert("count".into(), json!(a.count));
    put(&mut f, "start_time", first.map(|t| json!(t)));
    put(&mut f, "end_time", last.map(|t| json!(t)));
    f.insert("finding_info".into(), Value::Object(info));
    put(&mut f, "actor", actor);
    f.insert("evidences".into(), json!([Value::Object(evidence)]));
    if !observables.is_empty() {
        f.insert("observables".into(), Value::Array(observables));
    }
    f.insert(
        "metadata".into(),
        json!({
            "version": OCSF_VERSION,
            "product": {
                "name": "suho",
                "vendor_name": "suho",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "uid": e.uid,
            "correlation_uid": a.incident,
            "event_code": a.rule,
            "log_name": "alerts",
            "original_time": a.time,
            "profiles": ["host"],
        }),
    );
    f.insert("unmapped".into(), Value::Object(unmapped));
    Value::Object(f)
}
