//! `POST /v1/records` with compressed bodies, as log shippers send them by default (Vector and
//! Fluent Bit compress with gzip or zstd): bodies made by the crates' encoders and by the
//! `gzip` and `zstd` programs are stored as if sent plain; the body limit applies to the
//! decompressed size; an unknown encoding is named in a 415; a corrupt body gets a 400 that
//! says why; a refused body stores nothing.

use std::io::Write;
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};

use crate::common::{post, three_records, Fixture, Reply};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// `data` compressed by the program `tool` (`gzip` or `zstd`), an encoder this project did not
/// write.
fn by_program(tool: &str, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {tool} (.ci/run installs it): {e}"));
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

async fn post_encoded(f: &Fixture, encoding: &str, body: Vec<u8>) -> Reply {
    let req = Request::builder()
        .method("POST")
        .uri("/v1/records")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.ingest))
        .header(header::CONTENT_ENCODING, encoding)
        .body(Body::from(body))
        .unwrap();
    f.send(req).await
}

/// How many records the ledger of `f` holds: a plain record posted now gets this index.
async fn ledger_size(f: &Fixture) -> u64 {
    let probe = r#"{"time":1750734767000,"actor":"probe","action":"read","resource":"r"}"#;
    let r = f.send(post("/v1/records", Some(&f.ingest), probe)).await;
    assert_eq!(r.status, StatusCode::OK);
    r.json()["results"][0]["index"].as_u64().unwrap()
}

fn stored_bodies(f: &Fixture) -> Vec<String> {
    let mut out = Vec::new();
    suho_ledger::WalReader::new(&suho_ledger::Layout::new(f.dir.path()).wal())
        .scan(0, |fr| {
            out.push(String::from_utf8(fr.body.clone()).unwrap());
            true
        })
        .unwrap();
    out
}

#[tokio::test]
async fn gzip_and_zstd_bodies_are_stored_exactly_as_if_sent_plain() {
    let f = Fixture::new();
    let text = three_records();
    let bodies = [
        ("gzip", gzip(text.as_bytes())),
        ("gzip", by_program("gzip", text.as_bytes())),
        ("x-gzip", gzip(text.as_bytes())),
        ("zstd", zstd(text.as_bytes())),
        ("zstd", by_program("zstd", text.as_bytes())),
        ("ZSTD", zstd(text.as_bytes())),
    ];
    for (i, (encoding, body)) in bodies.into_iter().enumerate() {
        let r = post_encoded(&f, encoding, body).await;
        assert_eq!(r.status, StatusCode::OK, "{encoding}: {:?}", r.json());
        let v = r.json();
        assert_eq!(v["stored"], 3, "{encoding} body {i}: {v}");
        assert_eq!(r.header("suho-stored"), Some("3"));
    }
    let expected: Vec<String> = text.lines().map(str::to_owned).collect();
    let stored = stored_bodies(&f);
    assert_eq!(stored.len(), 18);
    for batch in stored.chunks(3) {
        assert_eq!(batch, expected.as_slice(), "stored byte for byte as sent");
    }
}

#[tokio::test]
async fn a_body_that_decompresses_past_the_limit_gets_413_and_stores_nothing() {
    let limit = 64 << 10;
    let f = Fixture::with_body_limit(limit);
    // About 300 KiB of records: compressed far below the limit, decompressed far above it.
    let big = three_records().repeat(1000);
    assert!(big.len() > 4 * limit);
    for (encoding, body) in [
        ("gzip", gzip(big.as_bytes())),
        ("zstd", zstd(big.as_bytes())),
    ] {
        assert!(body.len() < limit, "{encoding}: {} bytes", body.len());
        let r = post_encoded(&f, encoding, body).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{encoding}");
        let e = r.error();
        assert!(
            e.contains("decompresses to more than the limit of 65536 bytes"),
            "{e}"
        );
        assert!(e.contains("nothing of it was stored"), "{e}");
    }
    // A bomb: a few KiB that would decompress to 256 MiB.
    let bomb = zstd(&vec![b'\n'; 256 << 20]);
    let r = post_encoded(&f, "zstd", bomb).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Within the limit once decompressed, the same encodings are accepted.
    let r = post_encoded(&f, "gzip", gzip(three_records().as_bytes())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ledger_size(&f).await, 3, "only the last body was stored");
}

#[tokio::test]
async fn an_unknown_or_stacked_encoding_gets_415_naming_it() {
    let f = Fixture::new();
    for (sent, named) in [
        ("br", "\"br\""),
        ("deflate", "\"deflate\""),
        ("gzip, zstd", "\"gzip, zstd\""),
    ] {
        let r = post_encoded(&f, sent, gzip(three_records().as_bytes())).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{sent}");
        let e = r.error();
        assert!(e.contains(named), "{e}");
        assert!(e.contains("send gzip, zstd or uncompressed NDJSON"), "{e}");
    }
    // `identity` is no encoding at all.
    let r = post_encoded(&f, "identity", three_records().into_bytes()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ledger_size(&f).await, 3);
}

#[tokio::test]
async fn a_corrupt_compressed_body_gets_400_saying_why_and_stores_nothing() {
    let f = Fixture::new();
    let text = three_records();
    let whole = gzip(text.as_bytes());
    let truncated = whole[..whole.len() - 10].to_vec();
    // The CRC-32 of the content, in the gzip trailer, no longer matches.
    let mut bad_crc = whole.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 0xff;
    let cases = [
        ("gzip", truncated),
        ("gzip", bad_crc),
        ("gzip", text.clone().into_bytes()),
        ("zstd", text.clone().into_bytes()),
        ("zstd", {
            let z = zstd(text.as_bytes());
            z[..z.len() / 2].to_vec()
        }),
    ];
    for (encoding, body) in cases {
        let r = post_encoded(&f, encoding, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{encoding}");
        let e = r.error();
        assert!(
            e.starts_with(&format!("the {encoding} body could not be decompressed (")),
            "{e}"
        );
        assert!(e.ends_with("nothing of it was stored"), "{e}");
    }
    assert_eq!(ledger_size(&f).await, 0, "no refused body stored anything");
}
