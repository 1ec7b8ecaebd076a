//! `POST /v1/records` against a real ingest service: per-line results, once durable.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{get, post, three_records, Fixture};

#[tokio::test]
async fn ingest_returns_a_result_per_line() {
    let f = Fixture::new();
    let body = format!(
        "{}{}\n{}\n",
        three_records(),
        r#"{"time":"2025-06-24T03:12:47Z","actor":"emp-0131","action":"teleport","resource":"x"}"#,
        "this is not json"
    );
    let r = f.send(post("/v1/records", Some(&f.ingest), body)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["stored"], 3);
    assert_eq!(v["rejected"], 2);
    assert_eq!(v["duplicates"], 0);
    assert_eq!(v["ledger_size"], 3);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for (i, r) in results[..3].iter().enumerate() {
        assert_eq!(r["status"], "stored");
        assert_eq!(r["line"], i as u64 + 1);
        assert_eq!(r["index"], i as u64);
    }
    for (i, r) in results[3..].iter().enumerate() {
        assert_eq!(r["status"], "rejected");
        assert_eq!(r["line"], i as u64 + 4);
        assert!(!r["reason"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn admin_may_ingest_and_repeated_ids_are_stored_once() {
    let f = Fixture::new();
    let line = r#"{"id":"evt-1","time":"2025-06-24T03:12:45Z","actor":"emp-7","action":"read","resource":"r"}"#;
    let first = f
        .send(post("/v1/records", Some(&f.admin), format!("{line}\n")))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        first.json()["results"],
        json!([{"status": "stored", "line": 1, "index": 0}])
    );
    let again = f
        .send(post("/v1/records", Some(&f.ingest), format!("{line}\n")))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.json()["results"],
        json!([{"status": "duplicate", "line": 1, "index": 0}])
    );
}

#[tokio::test]
async fn a_different_record_under_a_used_id_is_stored_as_a_conflict() {
    let f = Fixture::new();
    let read = r#"{"id":"req-9","time":"2025-06-24T03:12:45Z","actor":"emp-7","action":"read","resource":"r","subjects":["c-1"]}"#;
    let export = r#"{"id":"req-9","time":"2025-06-24T03:20:00Z","actor":"emp-7","action":"export","resource":"all.csv","subjects":["c-1","c-2"]}"#;
    let r = f
        .send(post(
            "/v1/records",
            Some(&f.ingest),
            format!("{read}\n{export}\n"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(
        v["results"],
        json!([
            {"status": "stored", "line": 1, "index": 0},
            {"status": "conflict", "line": 2, "index": 1, "conflicts_with": 0}
        ])
    );
    assert_eq!(v["stored"], 2, "a conflict is stored");
    assert_eq!(v["conflicts"], 1);
    assert_eq!(v["duplicates"], 0);
    assert_eq!(v["ledger_size"], 2);

    // A retry of the batch (after a 503, say) stores nothing again.
    let again = f
        .send(post(
            "/v1/records",
            Some(&f.ingest),
            format!("{export}\n{read}\n"),
        ))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.json()["results"],
        json!([
            {"status": "duplicate", "line": 1, "index": 1},
            {"status": "duplicate", "line": 2, "index": 0}
        ])
    );
}

#[tokio::test]
async fn a_refused_request_stores_nothing() {
    let f = Fixture::new();
    for token in [None, Some(f.read.as_str()), Some("suho_0123456789abcdef_x")] {
        let r = f.send(post("/v1/records", token, three_records())).await;
        assert_ne!(r.status, StatusCode::OK);
    }
    let r = f
        .send(post("/v1/records", Some(&f.ingest), three_records()))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(
        v["results"][0]["index"], 0,
        "an earlier refused request was stored"
    );
    assert_eq!(v["ledger_size"], 3);
}

#[tokio::test]
async fn the_published_checkpoint_follows_ingested_records() {
    let f = Fixture::new();
    let r = f
        .send(post("/v1/records", Some(&f.ingest), three_records()))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let cp = f.send(get("/ledger/checkpoint", Some(&f.read))).await;
        assert_eq!(cp.status, StatusCode::OK);
        let text = String::from_utf8(cp.body).unwrap();
        if text.lines().nth(1) == Some("3") {
            let tile = f.send(get("/ledger/tile/0/000.p/3", Some(&f.read))).await;
            assert_eq!(tile.status, StatusCode::OK);
            assert_eq!(
                tile.body.len(),
                3 * 32,
                "a partial level-0 tile holds 3 hashes"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "checkpoint stuck at {text:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn once_ingest_stops_on_an_error_health_checks_fail_and_say_why() {
    let f = Fixture::new();
    let r = f.send(get("/healthz", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    // The tile directory becomes a file: the first full tile cannot be written.
    let tile = f.ledger().join("tile");
    if tile.is_dir() {
        std::fs::remove_dir_all(&tile).unwrap();
    }
    std::fs::write(&tile, b"not a directory").unwrap();
    let body: String = (0..300)
        .map(|i| {
            format!(
                "{{\"time\":\"2025-06-24T03:12:47Z\",\"actor\":\"emp-{i}\",\"action\":\"read\",\"resource\":\"r\"}}\n"
            )
        })
        .collect();
    let r = f.send(post("/v1/records", Some(&f.ingest), body)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    // The writer thread records why it stopped just after it answers; give it a moment.
    let mut health = f.send(get("/healthz", None)).await;
    for _ in 0..100 {
        if health.status != StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        health = f.send(get("/healthz", None)).await;
    }
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        health.json(),
        json!({"status": "failing"}),
        "no reason without a token"
    );
    let r = f.send(get("/v1/health", Some(&f.read))).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let v = r.json();
    assert_eq!(v["status"], "failing");
    assert!(
        v["reason"].as_str().is_some_and(|s| s.contains("tile")),
        "{v}"
    );
}

/// Two lines no access record can be: not JSON, and a record without an actor.
fn two_bad_lines() -> String {
    "not json at all\n{\"time\":\"2025-06-24T03:12:47Z\",\"action\":\"read\",\"resource\":\"x\"}\n"
        .to_owned()
}

/// The stored record bodies of the ledger in `dir`, in ledger order.
fn stored_bodies(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    suho_ledger::WalReader::new(&suho_ledger::Layout::new(dir).wal())
        .scan(0, |f| {
            out.push(String::from_utf8(f.body.clone()).unwrap());
            true
        })
        .unwrap();
    out
}

/// The reject log of the data directory `dir`, one JSON object per entry.
fn reject_log(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("rejects.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_body_whose_every_line_was_rejected_gets_422_with_the_count_and_the_reasons() {
    let f = Fixture::new();
    let r = f
        .send(post("/v1/records", Some(&f.ingest), two_bad_lines()))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.header("suho-rejected"), Some("2"));
    assert_eq!(r.header("suho-stored"), Some("0"));
    let v = r.json();
    assert_eq!(v["stored"], 0);
    assert_eq!(v["rejected"], 2);
    assert_eq!(v["results"][0]["status"], "rejected");
    assert_eq!(v["results"][0]["line"], 1);
    assert!(v["results"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("\"actor\""));
    assert!(stored_bodies(f.dir.path()).is_empty());
}

#[tokio::test]
async fn a_partly_rejected_body_gets_200_and_says_how_many_were_rejected() {
    let f = Fixture::new();
    let body = format!("{}{}", three_records(), two_bad_lines());
    let r = f.send(post("/v1/records", Some(&f.ingest), body)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("suho-rejected"), Some("2"));
    assert_eq!(r.header("suho-stored"), Some("3"));
    assert_eq!(r.header("suho-duplicates"), Some("0"));
    // A clean body says so too, so that a shipper can rely on the header.
    let r = f
        .send(post("/v1/records", Some(&f.ingest), three_records()))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("suho-rejected"), Some("0"));
}

#[tokio::test]
async fn a_retry_of_stored_lines_is_not_a_failure_even_beside_a_rejected_line() {
    let f = Fixture::new();
    let line = r#"{"id":"evt-9","time":"2025-06-24T03:12:45Z","actor":"emp-7","action":"read","resource":"r"}"#;
    let body = format!("{line}\nnot json\n");
    let first = f
        .send(post("/v1/records", Some(&f.ingest), body.clone()))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let again = f.send(post("/v1/records", Some(&f.ingest), body)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("suho-duplicates"), Some("1"));
    assert_eq!(again.header("suho-rejected"), Some("1"));
}

#[tokio::test]
async fn a_body_without_records_gets_400() {
    let f = Fixture::new();
    for body in ["", "\n \n", "[]", " [ ]\n"] {
        let r = f.send(post("/v1/records", Some(&f.ingest), body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(r.error().contains("holds no records"), "{body:?}");
    }
}

#[tokio::test]
async fn a_json_array_body_is_stored_as_one_record_per_element() {
    let f = Fixture::new();
    let body = r#"
[
  {"time": "2025-06-24T03:12:45.120Z", "actor": "emp-0131", "action": "read",
   "resource": "GET /v1/customers/{id}", "subjects": ["c-1", "c 2"], "attrs": {"n": 1.50}},
  {"time":1750734766000,"actor":"svc-batch","action":"export","resource":"orders table"},
  {"time": "2025-06-24T03:12:47Z", "actor": "emp-0131", "action": "teleport", "resource": "x"},
  {"time":1750734768000,"actor":"emp-0042","action":"search","resource":"q=\"kim lee\""}
]
"#;
    let r = f.send(post("/v1/records", Some(&f.ingest), body)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("suho-stored"), Some("3"));
    assert_eq!(r.header("suho-rejected"), Some("1"));
    let v = r.json();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    let lines: Vec<u64> = results
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 2, 3, 4], "element n is line n");
    assert_eq!(results[2]["status"], "rejected");
    assert!(results[2]["reason"].as_str().unwrap().contains("teleport"));
    // Each element is stored as its own compact JSON text, strings and numbers as sent.
    assert_eq!(
        stored_bodies(f.dir.path()),
        [
            r#"{"time":"2025-06-24T03:12:45.120Z","actor":"emp-0131","action":"read","resource":"GET /v1/customers/{id}","subjects":["c-1","c 2"],"attrs":{"n":1.50}}"#,
            r#"{"time":1750734766000,"actor":"svc-batch","action":"export","resource":"orders table"}"#,
            r#"{"time":1750734768000,"actor":"emp-0042","action":"search","resource":"q=\"kim lee\""}"#,
        ]
    );
}

#[tokio::test]
async fn a_body_that_starts_like_an_array_but_is_not_one_stores_nothing() {
    let f = Fixture::new();
    let body = format!("[{}, oops]", three_records().lines().next().unwrap());
    let r = f.send(post("/v1/records", Some(&f.ingest), body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.header("suho-rejected"), Some("1"));
    let reason = r.json()["results"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("not a JSON array"), "{reason}");
    assert!(stored_bodies(f.dir.path()).is_empty());
}

#[tokio::test]
async fn the_reject_log_names_the_token_the_time_the_reason_and_a_bounded_excerpt() {
    let f = Fixture::new();
    // A long bad line with multi-byte characters, and the token of the producer in it (as a
    // producer that logs its own requests might send).
    let line = format!(
        "{{\"time\":\"2025-06-24T03:12:47Z\",\"note\":\"Bearer {}\",\"resource\":\"{}\"}}",
        f.ingest,
        "가".repeat(400)
    );
    let before = suho_ledger::now_ms();
    let r = f
        .send(post("/v1/records", Some(&f.ingest), format!("{line}\n")))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let log = reject_log(f.dir.path());
    assert_eq!(log.len(), 1);
    let e = &log[0];
    assert_eq!(e["source"], "http:api-gateway producer");
    let id = f
        .tokens
        .list()
        .into_iter()
        .find(|t| t.name == "api-gateway producer")
        .unwrap()
        .id;
    assert_eq!(e["token"], id.as_str());
    assert_eq!(e["line"], 1);
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .contains("\"resource\" is 1200 bytes"),
        "{e}"
    );
    let at = suho_record::parse_rfc3339(e["time"].as_str().unwrap()).unwrap();
    assert!(at >= before - 1000, "{e}");
    assert_eq!(e["bytes"], line.len());
    let excerpt = e["excerpt"].as_str().unwrap();
    // The start of the line, cut within the long value on a character boundary, the token
    // blanked.
    assert!(
        excerpt.len() <= suho_ingest::EXCERPT_BYTES,
        "{}",
        excerpt.len()
    );
    assert!(excerpt.starts_with(
        "{\"time\":\"2025-06-24T03:12:47Z\",\"note\":\"Bearer <redacted>\",\"resource\":\"가가"
    ));
    assert!(excerpt.ends_with('가'), "{excerpt}");
    let secret = f.ingest.rsplit('_').next().unwrap();
    assert!(!excerpt.contains(secret), "{excerpt}");
    assert!(
        !std::fs::read_to_string(f.dir.path().join("rejects.ndjson"))
            .unwrap()
            .contains(secret)
    );
}

#[tokio::test]
async fn epoch_seconds_are_refused_with_a_reason_not_stored_as_1970() {
    let f = Fixture::new();
    let body = "{\"time\":1750734765,\"actor\":\"emp-1\",\"action\":\"read\",\"resource\":\"r\"}\n";
    let r = f.send(post("/v1/records", Some(&f.ingest), body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reason = r.json()["results"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("looks like epoch seconds"), "{reason}");
    assert!(
        reason.contains("2025-06-24T03:12:45.000Z as seconds"),
        "{reason}"
    );
    assert!(reason.contains("send 1750734765000"), "{reason}");
    assert!(stored_bodies(f.dir.path()).is_empty());
}

#[tokio::test]
async fn times_in_year_2999_or_9999_are_refused() {
    let f = Fixture::new();
    for time in [
        "\"2999-01-01T00:00:00Z\"",
        "\"9999-12-31T23:59:59.999Z\"",
        "32503680000000",
    ] {
        let body = format!(
            "{{\"time\":{time},\"actor\":\"emp-1\",\"action\":\"read\",\"resource\":\"r\"}}\n"
        );
        let r = f.send(post("/v1/records", Some(&f.ingest), body)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{time}");
        let reason = r.json()["results"][0]["reason"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(reason.contains("hours after now"), "{reason}");
        assert!(reason.contains("max_future_hours"), "{reason}");
    }
    assert!(stored_bodies(f.dir.path()).is_empty());
}
