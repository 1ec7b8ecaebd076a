//! The published ledger: checkpoint and tiles, read-only, nothing else.

use std::fs;

use axum::body::Body;
use axum::http::StatusCode;

use crate::common::{get, request, Fixture};

const CHECKPOINT: &str = "suho.example/ledger\n3\nq8mPd3XTyvvhGzYyNZT0kRTIkZzM2dd6OD1Ftt2KpmM=\n\n\u{2014} suho.example/ledger AAAAAA==\n";

/// Puts a checkpoint, a full tile, a partial tile and a private file in place.
fn publish(f: &Fixture) {
    let ledger = f.ledger();
    fs::create_dir_all(ledger.join("tile/0")).unwrap();
    fs::create_dir_all(ledger.join("tile/entries/000.p")).unwrap();
    fs::write(ledger.join("checkpoint"), CHECKPOINT).unwrap();
    fs::write(ledger.join("tile/0/000"), [0xabu8; 256 * 32]).unwrap();
    fs::write(ledger.join("tile/0/007"), [0xabu8; 64]).unwrap();
    fs::write(ledger.join("tile/entries/000.p/3"), b"three entries").unwrap();
    fs::write(ledger.join("private-notes"), b"not for clients").unwrap();
}

#[tokio::test]
async fn checkpoint_is_served_as_text() {
    let f = Fixture::new();
    publish(&f);
    for path in ["/v1/checkpoint", "/ledger/checkpoint"] {
        let r = f.send(get(path, Some(&f.read))).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.body, CHECKPOINT.as_bytes());
    }
}

/// The real ledger writes a checkpoint when it opens; take it away to see a ledger without one.
fn remove_checkpoint(f: &Fixture) {
    let _ = fs::remove_file(f.ledger().join("checkpoint"));
}

#[tokio::test]
async fn missing_checkpoint_is_a_json_404() {
    let f = Fixture::new();
    remove_checkpoint(&f);
    let r = f.send(get("/v1/checkpoint", Some(&f.read))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "the ledger has no checkpoint yet");
}

#[tokio::test]
async fn health_details_report_the_checkpoint() {
    let f = Fixture::new();
    remove_checkpoint(&f);
    let r = f.send(get("/v1/health", Some(&f.read))).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "ok", "ledger": null})
    );
    publish(&f);
    let v = f.send(get("/v1/health", Some(&f.read))).await.json();
    assert_eq!(v["ledger"]["origin"], "suho.example/ledger");
    assert_eq!(v["ledger"]["size"], 3);
    assert!(v["ledger"]["checkpoint_age_seconds"].as_u64().unwrap() < 60);
}

#[tokio::test]
async fn tiles_are_served_with_cache_rules() {
    let f = Fixture::new();
    publish(&f);
    let r = f.send(get("/ledger/tile/0/000", Some(&f.read))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, vec![0xabu8; 256 * 32]);
    assert_eq!(
        r.header("cache-control"),
        Some("private, max-age=31536000, immutable")
    );
    // A full tile's path but not a full tile's length (seen while it is being written): not
    // to be kept.
    let r = f.send(get("/ledger/tile/0/007", Some(&f.read))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));

    let r = f
        .send(get("/ledger/tile/entries/000.p/3", Some(&f.admin)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"three entries");
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));

    let r = f
        .send(request(
            "HEAD",
            "/ledger/tile/0/000",
            Some(&f.read),
            Body::empty(),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), Some("8192"));
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn missing_tiles_and_directories_are_404_without_listing() {
    let f = Fixture::new();
    publish(&f);
    for path in [
        "/ledger/tile/0/001",
        "/ledger/tile/0",
        "/ledger/tile/0/",
        "/ledger/tile/",
        "/ledger/tile",
        "/ledger/",
        "/ledger",
    ] {
        let r = f.send(get(path, Some(&f.read))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("000"),
            "{path} lists files"
        );
    }
}

#[tokio::test]
async fn only_checkpoint_and_tiles_are_published() {
    let f = Fixture::new();
    publish(&f);
    let r = f.send(get("/ledger/private-notes", Some(&f.admin))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn path_traversal_is_refused() {
    let f = Fixture::new();
    publish(&f);
    let secret = fs::read(f.dir.path().join("tokens.ndjson")).unwrap();
    for path in [
        "/ledger/tile/../../tokens.ndjson",
        "/ledger/tile/../checkpoint",
        "/ledger/tile/%2e%2e/%2e%2e/tokens.ndjson",
        "/ledger/tile/..%2f..%2ftokens.ndjson",
        "/ledger/tile/0/..%2f..%2f..%2ftokens.ndjson",
        "/ledger/tile/%2f%2fetc%2fpasswd",
        "/ledger/tile//etc/passwd",
        "/ledger/../tokens.ndjson",
        "/ledger/tile/..\\..\\tokens.ndjson",
    ] {
        let r = f.send(get(path, Some(&f.admin))).await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST,
            "{path}: {}",
            r.status
        );
        assert_ne!(r.body, secret, "{path} leaked the token file");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("root:"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn ledger_files_are_read_only() {
    let f = Fixture::new();
    publish(&f);
    for method in ["PUT", "DELETE", "POST"] {
        let r = f
            .send(request(
                method,
                "/ledger/tile/0/000",
                Some(&f.admin),
                Body::from("x"),
            ))
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    assert_eq!(
        fs::read(f.ledger().join("tile/0/000")).unwrap(),
        vec![0xabu8; 256 * 32]
    );
}
