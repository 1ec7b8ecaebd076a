//! Logs other systems write, ingested with a mapping file and no code: an API gateway's JSON
//! access log with raw bearer JWTs becomes access records, its forged token is caught like any
//! other, the token never reaches the ledger, and a line that cannot be decoded is rejected
//! with its line number and reason.

use base64::Engine as _;

mod common;

use common::suho;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn jwt(kid: &str, sub: &str, jti: &str) -> String {
    let b = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b(format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#)),
        b(format!(r#"{{"sub":"{sub}","jti":"{jti}"}}"#))
    )
}

const MAPPING: &str = r#"
[fields]
time = "time_iso8601"
method = "request_method"
path = "request_uri"
src_ip = "remote_addr"
status = "status"
authorization = "http_authorization"
id = "request_id"

[[routes]]
route = "GET /v1/customers/{id}/profile"
subjects = ["path:id"]
fields = ["name", "phone", "address"]
"#;

#[test]
fn a_gateway_log_is_ingested_through_its_mapping_and_a_forged_token_in_it_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let registry = dir.path().join("registry.ndjson");
    std::fs::write(
        &registry,
        [
            r#"{"type":"principal","id":"emp-0042","kind":"employee","status":"active","role":"cs-agent"}"#,
            r#"{"type":"signing_key","id":"kid-staff","owner":"svc-auth","status":"active","issuance":"registered"}"#,
            r#"{"type":"credential","id":"tok-42","principal":"emp-0042","kind":"access_token","signing_key":"kid-staff"}"#,
        ]
        .join("\n"),
    )
    .expect("write registry");
    let out = suho(
        &data,
        &["registry", "load", registry.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "{}", text(&out));

    let good = jwt("kid-staff", "emp-0042", "tok-42");
    let forged = jwt("kid-staff", "emp-0042", "tok-never-issued");
    let line = |i: u32, token: &str, customer: &str| {
        format!(
            r#"{{"time_iso8601":"2025-06-24T10:0{i}:00+09:00","remote_addr":"10.1.2.3","request_method":"GET","request_uri":"/v1/customers/{customer}/profile","status":200,"http_authorization":"Bearer {token}","request_id":"req-{i}"}}"#
        )
    };
    let log = [
        line(1, &good, "c-1"),
        line(2, &good, "c-2"),
        "this line is not JSON".to_string(),
        line(4, &forged, "c-3"),
    ]
    .join("\n");
    let file = dir.path().join("access.log");
    std::fs::write(&file, format!("{log}\n")).expect("write log");
    let mapping = dir.path().join("gateway.toml");
    std::fs::write(&mapping, MAPPING).expect("write mapping");

    let out = suho(
        &data,
        &[
            "ingest",
            "--format",
            "gateway",
            "--mapping",
            mapping.to_str().expect("utf-8"),
            file.to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("3 stored, 0 duplicates, 1 rejected"),
        "{}",
        text(&out)
    );

    // The undecodable line: its number and the decoder's reason.
    let rejects = text(&suho(&data, &["rejects"]));
    assert!(
        rejects.contains(":3") && rejects.contains("gateway line: not JSON"),
        "{rejects}"
    );

    // Stored as access records: actor, credential and key from the token, never the token.
    let records = text(&suho(&data, &["records"]));
    for (token, part) in [(&good, "tok-42"), (&forged, "tok-never-issued")] {
        assert!(records.contains(part), "{records}");
        let signature = token.rsplit('.').next().expect("signature");
        assert!(
            !records.contains(token.as_str()) && !records.contains(signature),
            "a raw token reached the ledger: {records}"
        );
    }
    assert!(records.contains("\"source_sha256\""), "{records}");

    // The token signed by a real key but never issued is forged, on its first record.
    let alerts = text(&suho(&data, &["alerts", "--format", "ndjson"]));
    let forged_alert = alerts
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|a| a["rule"] == "forged_credential")
        .unwrap_or_else(|| panic!("no forged_credential alert: {alerts}"));
    assert_eq!(forged_alert["credential"], "tok-never-issued");
    assert_eq!(forged_alert["ledger_index"], 2);

    // Scope sees the subjects the route catalogue named.
    let out = suho(&data, &["scope", "--format", "json", "--reason", "test"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("scope JSON");
    assert_eq!(v["subjects"], 3, "{v}");
    assert_eq!(v["fields"]["phone"], 3, "{v}");
}

#[test]
fn a_gateway_ingest_without_a_usable_mapping_stores_nothing_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = dir.path().join("access.log");
    std::fs::write(&file, "{}\n").expect("write");
    let out = suho(
        &data,
        &[
            "ingest",
            "--format",
            "gateway",
            file.to_str().expect("utf-8"),
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("--mapping"), "{}", text(&out));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[routes]]\nroute = \"/no/method\"\n").expect("write");
    let out = suho(
        &data,
        &[
            "ingest",
            "--format",
            "gateway",
            "--mapping",
            bad.to_str().expect("utf-8"),
            file.to_str().expect("utf-8"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("bad.toml") && text(&out).contains("METHOD /path"),
        "{}",
        text(&out)
    );
    assert!(!data.join("wal").exists() || suho(&data, &["records"]).stdout.is_empty());
}

fn example(path: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(path)
        .to_str()
        .expect("utf-8")
        .to_string()
}

/// `suho ingest --format F --mapping examples/F/mapping.toml FILES`, then what was stored.
fn ingest_example(
    data: &std::path::Path,
    format: &str,
    files: &[&str],
) -> (String, Vec<serde_json::Value>) {
    let mapping = example(&format!("{format}/mapping.toml"));
    let mut args = vec!["ingest", "--format", format, "--mapping", mapping.as_str()];
    let files: Vec<String> = files.iter().map(|f| example(f)).collect();
    args.extend(files.iter().map(String::as_str));
    let out = suho(data, &args);
    assert!(out.status.success(), "{}", text(&out));
    let records = suho(data, &["records"]);
    assert!(records.status.success(), "{}", text(&records));
    let stored = String::from_utf8_lossy(&records.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| r.get("record").cloned().unwrap_or(r))
        .collect();
    (text(&out), stored)
}

fn scope(data: &std::path::Path, selector: &[&str]) -> serde_json::Value {
    let mut args = vec!["scope", "--format", "json", "--reason", "test"];
    args.extend_from_slice(selector);
    let out = suho(data, &args);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("scope JSON")
}

#[test]
fn a_pgaudit_csvlog_and_stderr_log_are_ingested_with_multi_line_statements_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (out, records) = ingest_example(
        &data,
        "pgaudit",
        &["pgaudit/postgresql.csv", "pgaudit/postgresql.log"],
    );
    // 6 pgAudit entries in the csvlog, 3 in the stderr log (the same accesses, but other source
    // records: stored too); server messages are no accesses.
    assert!(out.contains("9 stored, 0 duplicates, 0 rejected"), "{out}");
    let subjects = |r: &serde_json::Value| r["subjects"].clone();
    for form in ["csvlog", "stderr"] {
        assert!(
            records
                .iter()
                .any(|r| subjects(r) == serde_json::json!(["418", "419", "420"])
                    && r["actor"] == "emp-0042"
                    && r["src_ip"] == "10.20.1.7"
                    && r["attrs"]["log"] == form),
            "the multi-line SELECT, whole, from the {form} file: {records:#?}"
        );
    }
    assert!(records
        .iter()
        .any(|r| subjects(r) == serde_json::json!(["421"])));
    assert!(records
        .iter()
        .any(|r| r["action"] == "export" && r["actor"] == "report"));
    // scope finds the accesses by actor: customers 417 to 421, in both logs.
    let v = scope(&data, &["--actor", "emp-0042"]);
    assert_eq!(v["subjects"], 5, "{v}");
    assert_eq!(v["records"], 6, "{v}");
    assert_eq!(v["fields"]["phone"], 4, "{v}");
}

#[test]
fn a_pretty_printed_cloudtrail_log_object_is_ingested_event_by_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (out, records) = ingest_example(&data, "cloudtrail", &["cloudtrail/trail.json"]);
    assert!(out.contains("3 stored, 0 duplicates, 0 rejected"), "{out}");
    let actor = "arn:aws:sts::111122223333:assumed-role/cs-agent/emp-0042";
    assert!(records
        .iter()
        .any(|r| r["subjects"] == serde_json::json!(["c-0417"])
            && r["action"] == "download"
            && r["credential"] == "ASIAEXAMPLE0042"));
    assert!(records
        .iter()
        .any(|r| r["attrs"]["unmapped"] == true
            && r["attrs"]["source_ip_address"] == "s3.amazonaws.com"));
    let v = scope(&data, &["--actor", actor]);
    assert_eq!(v["subjects"], 3, "{v}");
    assert_eq!(v["fields"]["phone"], 2, "{v}");
    let v = scope(&data, &["--credential", "ASIAEXAMPLE0042"]);
    assert_eq!(v["records"], 2, "{v}");
}

#[test]
fn ocsf_events_are_ingested_and_another_class_is_rejected_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (out, records) = ingest_example(&data, "ocsf", &["ocsf/events.jsonl"]);
    assert!(out.contains("3 stored, 0 duplicates, 1 rejected"), "{out}");
    let rejects = text(&suho(&data, &["rejects"]));
    assert!(
        rejects.contains(":4") && rejects.contains("class_uid 4001 (Network Activity)"),
        "{rejects}"
    );
    assert!(records
        .iter()
        .any(|r| r["outcome"] == "failure" && r["attrs"]["unmapped"] == true));
    let v = scope(&data, &[]);
    assert_eq!(v["subjects"], 3, "{v}");
    assert_eq!(v["fields"]["email"], 2, "{v}");
}

#[test]
fn a_one_line_cloudtrail_log_object_larger_than_a_read_chunk_is_stored_event_by_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let n = 4000;
    let events: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/ana","accessKeyId":"AKIAEXAMPLEANA01"}},"eventTime":"2025-06-24T03:{:02}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"203.0.113.7","requestParameters":{{"bucketName":"acme-customer-files","key":"customers/c-{i:05}/contract.pdf","Host":"acme-customer-files.s3.ap-northeast-2.amazonaws.com"}},"responseElements":null,"eventID":"ev-{i:05}","readOnly":true,"eventType":"AwsApiCall","managementEvent":false,"eventCategory":"Data"}}"#,
                i / 60 % 60,
                i % 60
            )
        })
        .collect();
    let file = dir.path().join("trail.json");
    let body = format!("{{\"Records\":[{}]}}", events.join(","));
    assert!(body.len() > 2 << 20, "spans several 1 MiB read chunks");
    std::fs::write(&file, body).expect("write");
    let mapping = example("cloudtrail/mapping.toml");
    let out = suho(
        &data,
        &[
            "ingest",
            "--format",
            "cloudtrail",
            "--mapping",
            &mapping,
            file.to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("4,000 stored, 0 duplicates, 0 rejected"),
        "{}",
        text(&out)
    );
    let v = scope(&data, &[]);
    assert_eq!(v["subjects"], n, "{v}");
}
