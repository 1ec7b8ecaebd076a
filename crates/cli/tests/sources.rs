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
