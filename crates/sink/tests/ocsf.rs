//! Alerts as OCSF Detection Findings (class 2004), written by the file sink, checked against
//! the schema.
//!
//! The required attributes and the attribute names below are copied from the OCSF schema
//! repository, github.com/ocsf/ocsf-schema, tag 1.5.0 (the version suho writes in
//! `metadata.version`): `events/base_event.json`, `events/findings/finding.json`,
//! `events/findings/detection_finding.json`, `profiles/host.json`, and the objects under
//! `objects/` named next to each list.

mod common;

use std::time::Duration;

use common::alert;
use serde_json::Value;
use suho_detect::{AlertStore, Severity};
use suho_sink::{DispatchOptions, Dispatcher};

/// base_event.json ("requirement": "required") and finding.json (finding_info).
const REQUIRED: &[&str] = &[
    "activity_id",
    "category_uid",
    "class_uid",
    "metadata",
    "severity_id",
    "time",
    "type_uid",
    "finding_info",
];

/// Every top-level attribute of Detection Finding 1.5.0: base_event, finding and
/// detection_finding, with the host profile (actor, device) that `metadata.profiles` names.
const ATTRIBUTES: &[&str] = &[
    "activity_id",
    "activity_name",
    "category_name",
    "category_uid",
    "class_name",
    "class_uid",
    "count",
    "duration",
    "end_time",
    "enrichments",
    "message",
    "metadata",
    "observables",
    "raw_data",
    "raw_data_size",
    "severity",
    "severity_id",
    "start_time",
    "status",
    "status_code",
    "status_detail",
    "status_id",
    "time",
    "timezone_offset",
    "type_name",
    "type_uid",
    "unmapped",
    "comment",
    "confidence",
    "confidence_id",
    "confidence_score",
    "device",
    "finding_info",
    "vendor_attributes",
    "anomaly_analyses",
    "evidences",
    "impact",
    "impact_id",
    "impact_score",
    "is_alert",
    "malware",
    "malware_scan_info",
    "remediation",
    "resources",
    "risk_details",
    "risk_level",
    "risk_level_id",
    "risk_score",
    "vulnerabilities",
    "actor",
];

/// objects/finding_info.json: uid is required.
const FINDING_INFO: &[&str] = &[
    "analytic",
    "attacks",
    "created_time",
    "data_sources",
    "desc",
    "first_seen_time",
    "kill_chain",
    "last_seen_time",
    "modified_time",
    "product",
    "product_uid",
    "related_analytics",
    "related_events",
    "related_events_count",
    "src_url",
    "tags",
    "title",
    "traits",
    "types",
    "uid",
    "uid_alt",
];

/// objects/metadata.json: product and version are required.
const METADATA: &[&str] = &[
    "correlation_uid",
    "debug",
    "event_code",
    "extension",
    "extensions",
    "labels",
    "log_level",
    "log_name",
    "log_provider",
    "log_version",
    "logged_time",
    "loggers",
    "modified_time",
    "original_time",
    "processed_time",
    "product",
    "profiles",
    "sequence",
    "tags",
    "tenant_uid",
    "transformation_info_list",
    "uid",
    "version",
];

/// objects/evidences.json: at least one of these.
const EVIDENCE_AT_LEAST_ONE: &[&str] = &[
    "actor",
    "api",
    "connection_info",
    "data",
    "database",
    "databucket",
    "device",
    "dst_endpoint",
    "email",
    "file",
    "process",
    "query",
    "resources",
    "src_endpoint",
    "url",
    "user",
    "job",
    "script",
];

fn findings() -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("suho.toml"),
        "[[sinks]]\nname = \"findings\"\nkind = \"ocsf_file\"\npath = \"out/findings.ndjson\"\nstart = \"oldest\"\n",
    )
    .expect("suho.toml");
    std::fs::create_dir(d.join("out")).expect("out");
    let mut store = AlertStore::open(&d.join("alerts.db")).expect("store");
    let mut quiet = alert("al-2", Severity::Low, 1);
    quiet.actor = None;
    quiet.credential = None;
    quiet.src_ip = None;
    quiet.country = None;
    store
        .upsert(&[alert("al-1", Severity::High, 1), quiet])
        .expect("alerts");
    store
        .upsert(&[alert("al-1", Severity::Critical, 4)])
        .expect("update");
    let report = Dispatcher::start(
        d,
        suho_sink::load(d).expect("config"),
        DispatchOptions::default(),
    )
    .expect("dispatcher")
    .drain(Some(Duration::from_secs(60)), false)
    .expect("drain");
    assert!(report.all_delivered(), "{report:?}");
    let text = std::fs::read_to_string(d.join("out/findings.ndjson")).expect("file");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON finding"))
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_finding_has_the_required_attributes_of_detection_finding_2004() {
    let all = findings();
    assert_eq!(all.len(), 3);
    for f in &all {
        for k in REQUIRED {
            assert!(f.get(k).is_some_and(|v| !v.is_null()), "{k} missing: {f:#}");
        }
        for k in keys(f) {
            assert!(
                ATTRIBUTES.contains(&k.as_str()),
                "{k} is not a 2004 attribute"
            );
        }
        assert_eq!(f["class_uid"], 2004);
        assert_eq!(f["category_uid"], 2);
        let activity = f["activity_id"].as_u64().expect("activity_id");
        assert_eq!(f["type_uid"].as_u64(), Some(2004 * 100 + activity));
        assert!(f["time"].is_i64(), "timestamp_t is epoch milliseconds");

        let info = &f["finding_info"];
        assert!(info["uid"].is_string(), "finding_info.uid is required");
        for k in keys(info) {
            assert!(FINDING_INFO.contains(&k.as_str()), "finding_info.{k}");
        }
        // objects/analytic.json: type_id is required; 1 is Rule.
        assert_eq!(info["analytic"]["type_id"], 1);

        let m = &f["metadata"];
        assert_eq!(m["version"], "1.5.0");
        // objects/product.json extends _entity: at least one of name and uid.
        assert!(m["product"]["name"].is_string() || m["product"]["uid"].is_string());
        for k in keys(m) {
            assert!(METADATA.contains(&k.as_str()), "metadata.{k}");
        }
        assert!(m["profiles"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "host")));

        let ev = f["evidences"].as_array().expect("evidences is an array");
        assert!(!ev.is_empty());
        for e in ev {
            assert!(
                EVIDENCE_AT_LEAST_ONE.iter().any(|k| e.get(k).is_some()),
                "evidences constraint at_least_one: {e:#}"
            );
        }
        if let Some(actor) = f.get("actor") {
            // objects/actor.json: at least one of process, user, invoked_by, session,
            // app_name, app_uid; objects/user.json: at least one of account, name, uid.
            let user = &actor["user"];
            assert!(user["uid"].is_string() || user["name"].is_string());
        }
        for o in f["observables"].as_array().into_iter().flatten() {
            assert!(
                o["type_id"].is_u64(),
                "objects/observable.json: type_id is required"
            );
        }
    }
}

#[test]
fn findings_say_what_the_alert_says() {
    let all = findings();
    let by = |uid: &str, activity: u64| {
        all.iter()
            .find(|f| f["finding_info"]["uid"] == uid && f["activity_id"] == activity)
            .unwrap_or_else(|| panic!("{uid} activity {activity}"))
    };
    let created = by("al-1", 1);
    assert_eq!(created["severity_id"], 4, "high");
    assert_eq!(created["activity_name"], "Create");
    assert_eq!(created["is_alert"], true);
    assert_eq!(created["actor"]["user"]["uid"], "emp-0131");
    assert_eq!(created["actor"]["user"]["credential_uid"], "tok-7f3a");
    assert_eq!(created["evidences"][0]["src_endpoint"]["ip"], "203.0.113.7");
    assert_eq!(
        created["evidences"][0]["src_endpoint"]["location"]["country"],
        "NL"
    );
    assert_eq!(
        created["evidences"][0]["data"]["departed_at"],
        "2025-05-31T09:00:00Z"
    );
    assert_eq!(
        created["finding_info"]["analytic"]["uid"],
        "departed_principal"
    );
    assert_eq!(
        created["metadata"]["correlation_uid"],
        "inc-00000000000000a1"
    );
    assert_eq!(created["start_time"], 1_750_734_765_120_i64);
    assert!(created["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("emp-0131 departed")));
    let updated = by("al-1", 2);
    assert_eq!(updated["severity_id"], 5, "critical");
    assert_eq!(updated["type_uid"], 200402);
    assert_eq!(updated["count"], 4);
    assert_ne!(created["metadata"]["uid"], updated["metadata"]["uid"]);
    // Which record caused each event, the severity reached then, and since when it is high.
    assert_eq!(created["unmapped"]["updated_ledger_index"], 418);
    assert_eq!(updated["unmapped"]["updated_ledger_index"], 421);
    assert_eq!(
        updated["unmapped"]["updated_time"],
        "2025-06-24T03:20:00.000Z"
    );
    assert_eq!(updated["unmapped"]["updated_severity"], "critical");
    assert_eq!(updated["unmapped"]["high_since_ledger_index"], 417);
    assert_eq!(updated["unmapped"]["raised"][0]["severity"], "critical");
    assert_eq!(
        updated["metadata"]["original_time"], "2025-06-24T03:12:45.120Z",
        "the alert's time never moves"
    );
    let quiet = by("al-2", 1);
    assert!(quiet.get("actor").is_none(), "no actor, no actor object");
    assert_eq!(quiet["severity_id"], 2, "low");
}
