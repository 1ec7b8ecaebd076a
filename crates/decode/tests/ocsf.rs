//! The OCSF decoder on API Activity (6003) and Datastore Activity (6005) events. No published
//! OCSF example of these two classes with personal-data subjects was found whose licence lets
//! it be copied here, so these events are written from the OCSF 1.x schema
//! (events/application/api_activity.json, datastore_activity.json, objects/actor.json,
//! session.json, resource_details.json).

use serde_json::{json, Value};
use suho_decode::{Decoder, OcsfDecoder, OcsfMapping};

const MAPPING: &str = r#"
[[resources]]
class = 6003
operation = "GetCustomerProfile"
subjects = ["resources[].uid"]
pattern = "^customer:(?P<subject>.+)$"
fields = ["name", "phone"]

[[resources]]
class = 6005
name = "customers"
subjects = ["unmapped.customer_ids"]
fields = ["name", "email"]
action = "export"
"#;

fn decode(v: &Value) -> Result<(Value, bool), String> {
    let d = OcsfDecoder::new(OcsfMapping::parse(MAPPING).expect("mapping"));
    let mut out = Vec::new();
    let line = v.to_string();
    let decoded = d
        .decode(line.as_bytes(), &mut out)
        .map_err(|e| e.to_string())?;
    suho_record::parse_record(&out[..out.len() - 1]).expect("a valid record");
    Ok((
        serde_json::from_slice(&out).expect("json"),
        decoded.unmapped,
    ))
}

fn api_activity() -> Value {
    json!({
        "class_uid": 6003,
        "category_uid": 6,
        "activity_id": 2,
        "type_uid": 600302,
        "severity_id": 1,
        "status_id": 1,
        "time": 1750734765120i64,
        "metadata": {"uid": "evt-7f3a", "version": "1.3.0", "product": {"name": "crm-gateway", "vendor_name": "Acme"}},
        "actor": {
            "user": {"uid": "emp-0042", "name": "Kim Minji", "type_id": 1},
            "session": {"uid": "sess-19", "credential_uid": "tok-7f3a"}
        },
        "api": {"operation": "GetCustomerProfile", "service": {"name": "crm"}, "request": {"uid": "req-1"}},
        "src_endpoint": {"ip": "203.0.113.7"},
        "resources": [{"uid": "customer:c-0417", "type": "customer"}, {"uid": "customer:c-0418", "type": "customer"}]
    })
}

#[test]
fn api_activity_gives_actor_credential_action_and_subjects_by_pattern() {
    let (r, unmapped) = decode(&api_activity()).expect("decoded");
    assert!(!unmapped);
    assert_eq!(r["actor"], "emp-0042");
    assert_eq!(r["credential"], "tok-7f3a");
    assert_eq!(r["src_ip"], "203.0.113.7");
    assert_eq!(r["time"], 1_750_734_765_120i64);
    assert_eq!(r["action"], "read");
    assert_eq!(r["resource"], "crm GetCustomerProfile");
    assert_eq!(r["subjects"], json!(["c-0417", "c-0418"]));
    assert_eq!(r["fields"], json!(["name", "phone"]));
    assert_eq!(r["id"], "evt-7f3a");
    assert_eq!(r["attrs"]["class_uid"], 6003);
    assert_eq!(r["attrs"]["product"], "crm-gateway");
}

#[test]
fn datastore_activity_by_table_name_with_a_failed_status_and_an_override() {
    let ev = json!({
        "class_uid": 6005,
        "activity_id": 4,
        "status_id": 2,
        "time": 1750734765120i64,
        "actor": {"user": {"name": "svc-report"}},
        "src_endpoint": {"ip": "10.0.0.5"},
        "database": {"name": "shop"},
        "table": {"name": "customers"},
        "query_info": {"query_string": "SELECT name, email FROM customers"},
        "unmapped": {"customer_ids": ["c-1", "c-2"]},
        "metadata": {"uid": "q-1"}
    });
    let (r, unmapped) = decode(&ev).expect("decoded");
    assert!(!unmapped);
    assert_eq!(
        r["actor"], "svc-report",
        "actor.user.name when there is no uid"
    );
    assert_eq!(r["action"], "export", "the entry's action");
    assert_eq!(r["resource"], "customers");
    assert_eq!(r["subjects"], json!(["c-1", "c-2"]));
    assert_eq!(r["outcome"], "failure");
    assert_eq!(r["attrs"]["query"], "SELECT name, email FROM customers");
}

#[test]
fn an_event_no_entry_covers_is_stored_unmapped_with_the_action_from_its_activity() {
    let mut ev = api_activity();
    ev["api"]["operation"] = json!("DeleteInvoice");
    ev["activity_id"] = json!(99);
    let (r, unmapped) = decode(&ev).expect("decoded");
    assert!(unmapped);
    assert_eq!(r["attrs"]["unmapped"], true);
    assert!(r.get("subjects").is_none());
    assert_eq!(r["action"], "delete", "Other: from the operation's verb");
    let mut ev = api_activity();
    ev["class_uid"] = json!(6005);
    ev["activity_id"] = json!(3);
    ev["api"]["operation"] = json!("Connect");
    let (r, _) = decode(&ev).expect("decoded");
    assert_eq!(r["action"], "login", "Datastore Connect");
}

#[test]
fn another_class_is_rejected_naming_it() {
    let mut ev = api_activity();
    ev["class_uid"] = json!(3002);
    let e = decode(&ev).expect_err("rejected");
    assert!(e.contains("class_uid 3002 (Authentication)"), "{e}");
    assert!(OcsfMapping::parse("[[resources]]\nclass = 4001\n")
        .expect_err("class")
        .contains("resources[0].class 4001"));
}
