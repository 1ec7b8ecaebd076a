//! The gateway decoder on the shapes gateways log: nginx `escape=json` with the raw
//! `Authorization` header, Kong-style verified claims, a request line, unmapped routes, and a
//! corpus of bad lines that each get a reason.

use base64::Engine as _;
use suho_decode::{source_sha256, Decoder, GatewayDecoder, GatewayMapping};

const MAPPING: &str = r#"
[fields]
time = "time_iso8601"
method = "request_method"
path = "request_uri"
src_ip = "remote_addr"
status = "status"
authorization = "http_authorization"
claims = "jwt_claims"
id = "request_id"
purpose = "http_x_purpose"

[[routes]]
route = "GET /v1/customers/{id}/profile"
subjects = ["path:id"]
fields = ["name", "phone", "address"]

[[routes]]
route = "GET /v1/customers/search"
subjects = ["query:ids"]
fields = ["name"]
action = "search"

[[routes]]
route = "POST /v1/exports"
subjects = ["field:export.customer_ids"]
fields = ["name", "email"]
action = "export"
"#;

fn jwt(header: &str, payload: &str) -> String {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!("{}.{}.c2lnbmF0dXJl", b(header), b(payload))
}

fn decoder() -> GatewayDecoder {
    GatewayDecoder::new(GatewayMapping::parse(MAPPING).expect("mapping"))
}

fn decode(line: &str) -> (serde_json::Value, suho_decode::Decoded) {
    let mut out = Vec::new();
    let d = decoder()
        .decode(line.as_bytes(), &mut out)
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(out.last(), Some(&b'\n'));
    let body = &out[..out.len() - 1];
    // Whatever a decoder writes must be a valid access record.
    suho_record::parse_record(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
    (serde_json::from_slice(body).expect("json"), d)
}

#[test]
fn a_raw_bearer_jwt_gives_actor_credential_and_key_and_never_reaches_the_record() {
    let token = jwt(
        r#"{"alg":"RS256","typ":"JWT","kid":"kid-2024-10"}"#,
        r#"{"sub":"c-0000007","jti":"tok-7f3a","exp":1750740000}"#,
    );
    let line = format!(
        r#"{{"time_iso8601":"2025-06-24T12:12:45+09:00","remote_addr":"203.0.113.7","request_method":"GET","request_uri":"/v1/customers/c-0000007/profile?lang=ko","status":"200","http_authorization":"Bearer {token}","request_id":"9f1c2e","http_x_purpose":"-"}}"#
    );
    let (r, d) = decode(&line);
    assert!(!d.unmapped);
    assert_eq!(r["actor"], "c-0000007");
    assert_eq!(r["credential"], "tok-7f3a");
    assert_eq!(r["signing_key"], "kid-2024-10");
    assert_eq!(r["src_ip"], "203.0.113.7");
    assert_eq!(r["action"], "read");
    assert_eq!(r["resource"], "GET /v1/customers/{id}/profile");
    assert_eq!(r["subjects"], serde_json::json!(["c-0000007"]));
    assert_eq!(r["fields"], serde_json::json!(["name", "phone", "address"]));
    assert_eq!(r["id"], "9f1c2e");
    assert_eq!(r["time"], 1_750_734_765_000i64);
    assert!(r.get("purpose").is_none(), "nginx's - is no purpose");
    assert_eq!(r["attrs"]["source"], "gateway");
    assert_eq!(r["attrs"]["source_sha256"], source_sha256(line.as_bytes()));
    let text = r.to_string();
    let signature_part = token.rsplit('.').next().expect("sig");
    assert!(
        !text.contains(&token) && !text.contains(signature_part) && !text.contains("Bearer"),
        "the token itself is never stored: {text}"
    );
}

#[test]
fn verified_claims_logged_by_the_gateway_are_used_and_the_most_specific_route_wins() {
    let line = r#"{"time_iso8601":"2025-06-24T03:12:45.120Z","remote_addr":"10.1.2.3","request_method":"GET","request_uri":"/v1/customers/search?ids=c-1%2Cc-2&ids=c-3","status":200,"jwt_claims":{"sub":"emp-0042","jti":"tok-9c01","kid":"kid-2024-02"}}"#;
    let (r, _) = decode(line);
    assert_eq!(r["resource"], "GET /v1/customers/search", "not /{{id}}/...");
    assert_eq!(r["action"], "search");
    assert_eq!(r["actor"], "emp-0042");
    assert_eq!(r["credential"], "tok-9c01");
    assert_eq!(r["signing_key"], "kid-2024-02");
    assert_eq!(r["subjects"], serde_json::json!(["c-1", "c-2", "c-3"]));
}

#[test]
fn subjects_from_a_logged_field_and_failures_as_outcome() {
    let line = r#"{"time_iso8601":"2025-06-24T03:12:45Z","request_method":"POST","request_uri":"/v1/exports","status":403,"jwt_claims":{"sub":"emp-1"},"export":{"customer_ids":["c-9","c-8","c-9"]}}"#;
    let (r, _) = decode(line);
    assert_eq!(r["action"], "export");
    assert_eq!(r["subjects"], serde_json::json!(["c-8", "c-9"]));
    assert_eq!(r["outcome"], "failure");
    assert_eq!(r["attrs"]["status"], 403);
}

#[test]
fn an_unmapped_route_is_stored_and_marked_never_dropped() {
    let line = r#"{"time_iso8601":"2025-06-24T03:12:45Z","request_method":"DELETE","request_uri":"/v2/orders/o-17?x=1","jwt_claims":{"sub":"svc-order"}}"#;
    let (r, d) = decode(line);
    assert!(d.unmapped);
    assert_eq!(r["resource"], "DELETE /v2/orders/o-17");
    assert_eq!(r["action"], "delete");
    assert_eq!(r["attrs"]["unmapped"], true);
    assert!(r.get("subjects").is_none());
}

#[test]
fn a_request_line_stands_in_for_method_and_path() {
    let map = GatewayMapping::parse(
        r#"
[fields]
time = "ts"
method = "none"
path = "none"
request = "request"
actor = "user"

[[routes]]
route = "GET /v1/customers/{id}/profile"
subjects = ["path:id"]
"#,
    )
    .expect("mapping");
    let mut out = Vec::new();
    GatewayDecoder::new(map)
        .decode(
            br#"{"ts":"24/Jun/2025:12:12:45 +0900","request":"GET /v1/customers/c-5/profile HTTP/1.1","user":"emp-7"}"#,
            &mut out,
        )
        .expect("decoded");
    let r: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(r["subjects"], serde_json::json!(["c-5"]));
    assert_eq!(r["time"], 1_750_734_765_000i64);
}

#[test]
fn every_bad_line_gets_a_reason_and_nothing_is_written() {
    let corpus: &[(&str, &str)] = &[
        ("not json at all", "not JSON"),
        ("[1,2,3]", "not a JSON object"),
        (
            r#"{"request_method":"GET","request_uri":"/x","jwt_claims":{"sub":"a"}}"#,
            "no time",
        ),
        (
            r#"{"time_iso8601":"yesterday","request_method":"GET","request_uri":"/x","jwt_claims":{"sub":"a"}}"#,
            "neither RFC 3339 nor common log format",
        ),
        (
            r#"{"time_iso8601":"2025-06-24T03:12:45Z","request_uri":"/x","jwt_claims":{"sub":"a"}}"#,
            "no HTTP method",
        ),
        (
            r#"{"time_iso8601":"2025-06-24T03:12:45Z","request_method":"GET","jwt_claims":{"sub":"a"}}"#,
            "no request path",
        ),
        (
            r#"{"time_iso8601":"2025-06-24T03:12:45Z","request_method":"GET","request_uri":"/x","http_authorization":"Bearer opaque-token"}"#,
            "no actor",
        ),
    ];
    for (line, why) in corpus {
        let mut out = Vec::new();
        let e = decoder().decode(line.as_bytes(), &mut out).expect_err(line);
        assert!(e.to_string().contains(why), "{line}: {e}");
        assert!(out.is_empty(), "{line}: nothing written");
    }
}

#[test]
fn a_mapping_error_names_the_route_and_what_is_wrong() {
    for (text, says) in [
        ("[[routes]]\nroute = \"/no/method\"\n", "METHOD /path"),
        (
            "[[routes]]\nroute = \"GET /v1/c/{id}\"\nsubjects = [\"path:cid\"]\n",
            "has no {cid}",
        ),
        (
            "[[routes]]\nroute = \"GET /v1/c\"\naction = \"steal\"\n",
            "action \"steal\"",
        ),
        ("[fields]\ntime_format = \"unix\"\n", "time_format"),
        ("[fields]\nnot_a_field = \"x\"\n", "not_a_field"),
    ] {
        let e = GatewayMapping::parse(text).expect_err(text);
        assert!(e.contains(says), "{text}: {e}");
    }
}
