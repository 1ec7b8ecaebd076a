//! The CloudTrail decoder on data events: S3 objects and DynamoDB items, mapped by bucket and
//! prefix or by table, in a pretty-printed log object and one event per line. The events are
//! written here after the CloudTrail record reference (eventVersion 1.08+ fields); the public
//! samples (management events) are in public_samples.rs.

use serde_json::{json, Value};
use suho_decode::{source_sha256, CloudTrailDecoder, CloudTrailMapping, Decoder};

const MAPPING: &str = r#"
[fields]
actor = ["userIdentity.userName", "userIdentity.arn"]

[actions]
GetObject = "download"

[[s3]]
bucket = "acme-customer-files"
prefix = "customers/"
subject = "^customers/(?P<subject>[^/]+)/"
fields = ["name", "address"]

[[s3]]
bucket = "acme-customer-files"
prefix = "customers/kyc/"
subject = "^customers/kyc/(?P<subject>[^/]+)\\.pdf$"
fields = ["resident_registration_number"]

[[dynamodb]]
table = "customers"
key = "customer_id"
fields = ["name", "email"]
"#;

fn event(name: &str, source: &str, params: Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEANA",
            "arn": "arn:aws:iam::111122223333:user/ana",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLEANA01",
            "userName": "ana"
        },
        "eventTime": "2025-06-24T03:12:45Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "ap-northeast-2",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "[aws-cli/2.17.0]",
        "requestParameters": params,
        "responseElements": null,
        "requestID": "REQ1",
        "eventID": format!("ev-{name}"),
        "readOnly": name.starts_with("Get"),
        "eventType": "AwsApiCall",
        "managementEvent": false,
        "recipientAccountId": "111122223333",
        "eventCategory": "Data"
    })
}

fn decode(unit: &[u8]) -> Vec<Value> {
    let d = CloudTrailDecoder::new(CloudTrailMapping::parse(MAPPING).expect("mapping"));
    let mut all = Vec::new();
    for (line, u) in d.framing().units(unit, 1) {
        let mut out = Vec::new();
        d.decode(u, &mut out)
            .unwrap_or_else(|e| panic!("line {line}: {e}: {}", String::from_utf8_lossy(u)));
        for l in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            suho_record::parse_record(l).expect("a valid record");
            let mut v: Value = serde_json::from_slice(l).expect("json");
            assert_eq!(v["attrs"]["source_sha256"], source_sha256(u));
            v["attrs"]
                .as_object_mut()
                .expect("attrs")
                .remove("source_sha256");
            all.push(v);
        }
    }
    all
}

#[test]
fn s3_object_events_in_a_pretty_printed_log_object_name_their_subjects() {
    let doc = json!({"Records": [
        event("GetObject", "s3.amazonaws.com", json!({"bucketName": "acme-customer-files", "key": "customers/c-0417/profile.json", "Host": "acme-customer-files.s3.ap-northeast-2.amazonaws.com"})),
        event("PutObject", "s3.amazonaws.com", json!({"bucketName": "acme-customer-files", "key": "customers/kyc/c-0900.pdf"})),
        event("DeleteObject", "s3.amazonaws.com", json!({"bucketName": "acme-public-site", "key": "index.html"})),
    ]});
    let pretty = serde_json::to_vec_pretty(&doc).expect("pretty");
    let r = decode(&pretty);
    assert_eq!(r.len(), 3);
    assert_eq!(r[0]["actor"], "ana", "the mapping chose userName");
    assert_eq!(r[0]["credential"], "AKIAEXAMPLEANA01");
    assert_eq!(r[0]["src_ip"], "203.0.113.7");
    assert_eq!(r[0]["action"], "download", "the mapping's [actions]");
    assert_eq!(
        r[0]["resource"],
        "s3://acme-customer-files/customers/c-0417/profile.json"
    );
    assert_eq!(r[0]["subjects"], json!(["c-0417"]));
    assert_eq!(r[0]["fields"], json!(["address", "name"]));
    assert_eq!(r[0]["id"], "ev-GetObject");
    assert_eq!(
        r[0]["time"],
        suho_record::parse_rfc3339("2025-06-24T03:12:45Z").expect("t")
    );
    // The longest matching prefix wins.
    assert_eq!(r[1]["action"], "create");
    assert_eq!(r[1]["subjects"], json!(["c-0900"]));
    assert_eq!(r[1]["fields"], json!(["resident_registration_number"]));
    // A bucket the mapping does not name: stored, unmapped.
    assert_eq!(r[2]["action"], "delete");
    assert_eq!(r[2]["attrs"]["unmapped"], true);
    assert!(r[2].get("subjects").is_none());
}

#[test]
fn dynamodb_item_events_plain_and_typed_keys_one_event_per_line() {
    let lines = [
        event("GetItem", "dynamodb.amazonaws.com", json!({"tableName": "customers", "key": {"customer_id": "c-1"}})),
        event("BatchGetItem", "dynamodb.amazonaws.com", json!({"requestItems": {"customers": {"keys": [{"customer_id": {"S": "c-2"}}, {"customer_id": {"S": "c-3"}}]}}})),
        event("Query", "dynamodb.amazonaws.com", json!({"tableName": "customers", "keyConditionExpression": "customer_id = :v"})),
        event("PutItem", "dynamodb.amazonaws.com", json!({"tableName": "orders", "key": {"order_id": "o-1"}})),
    ]
    .iter()
    .map(|e| e.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let r = decode(lines.as_bytes());
    assert_eq!(r.len(), 4);
    assert_eq!(r[0]["action"], "read");
    assert_eq!(r[0]["resource"], "dynamodb:customers");
    assert_eq!(r[0]["subjects"], json!(["c-1"]));
    assert_eq!(r[0]["fields"], json!(["email", "name"]));
    assert_eq!(r[1]["subjects"], json!(["c-2", "c-3"]));
    assert_eq!(r[2]["action"], "search");
    assert!(r[2].get("subjects").is_none(), "a Query names no key");
    assert!(r[2].get("attrs").and_then(|a| a.get("unmapped")).is_none());
    assert_eq!(r[3]["attrs"]["unmapped"], true);
}

#[test]
fn a_mapping_error_names_the_entry_and_what_is_wrong() {
    for (text, says) in [
        (
            "[[s3]]\nbucket = \"b\"\nsubject = \"(unclosed\"\n",
            "s3[0].subject",
        ),
        ("[actions]\nGetObject = \"steal\"\n", "actions.GetObject"),
        (
            "[[dynamodb]]\ntable = \"t\"\nsubject = \"x\"\n",
            "needs the key",
        ),
        ("[[s3]]\nbuckett = \"b\"\n", "buckett"),
    ] {
        let e = CloudTrailMapping::parse(text).expect_err(text);
        assert!(e.contains(says), "{text}: {e}");
    }
}
