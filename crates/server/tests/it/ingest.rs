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
