//! Who may call which route, and what the others are told.

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};

use crate::common::{get, post, request, three_records, Fixture, TrackedBody};

const READ_ROUTES: &[&str] = &[
    "/v1/checkpoint",
    "/v1/health",
    "/ledger/checkpoint",
    "/ledger/tile/0/000",
];

#[tokio::test]
async fn healthz_needs_no_token_and_says_only_ok() {
    let f = Fixture::new();
    let r = f.send(get("/healthz", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn no_token_gets_401_with_bearer_challenge_on_every_protected_route() {
    let f = Fixture::new();
    let mut reqs = vec![post("/v1/records", None, three_records())];
    reqs.extend(READ_ROUTES.iter().map(|p| get(p, None)));
    for req in reqs {
        let path = req.uri().path().to_owned();
        let r = f.send(req).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"suho\""),
            "{path}"
        );
        assert!(r.error().contains("bearer token"), "{path}");
    }
}

#[tokio::test]
async fn wrong_malformed_or_non_bearer_credentials_get_401() {
    let f = Fixture::new();
    let mut forged = f.admin.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    for token in [forged.as_str(), "suho_0123456789abcdef_00", "hunter2"] {
        let r = f.send(get("/v1/checkpoint", Some(token))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"suho\", error=\"invalid_token\"")
        );
        assert_eq!(r.error(), "invalid or revoked bearer token");
    }
    // A valid token under another scheme is not a bearer token.
    let req = Request::builder()
        .uri("/v1/checkpoint")
        .header(header::AUTHORIZATION, format!("Basic {}", f.admin))
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.send(req).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let f = Fixture::new();
    let req = Request::builder()
        .uri("/v1/health")
        .header(header::AUTHORIZATION, format!("bearer {}", f.read))
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.send(req).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_token_gets_401_at_once() {
    let f = Fixture::new();
    assert_eq!(
        f.send(get("/v1/health", Some(&f.read))).await.status,
        StatusCode::OK
    );
    let id = f
        .tokens
        .list()
        .into_iter()
        .find(|t| t.name == "auditor")
        .unwrap()
        .id;
    f.tokens.revoke(&id).unwrap();
    let r = f.send(get("/v1/health", Some(&f.read))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "invalid or revoked bearer token");
}

#[tokio::test]
async fn token_created_while_serving_works_immediately() {
    let f = Fixture::new();
    let cli = suho_server::TokenStore::open(f.dir.path()).unwrap();
    let (_, token) = cli.create(suho_server::Role::Read, "late auditor").unwrap();
    assert_eq!(
        f.send(get("/v1/health", Some(&token))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn read_token_may_not_post_records() {
    let f = Fixture::new();
    let r = f
        .send(post("/v1/records", Some(&f.read), three_records()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error().contains("`read`"), "{}", r.error());
}

#[tokio::test]
async fn ingest_token_may_not_read_the_ledger() {
    let f = Fixture::new();
    for path in READ_ROUTES {
        let r = f.send(get(path, Some(&f.ingest))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(r.error().contains("needs role `read`"), "{path}");
    }
}

#[tokio::test]
async fn admin_token_may_read() {
    let f = Fixture::new();
    let r = f.send(get("/v1/health", Some(&f.admin))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
}

#[tokio::test]
async fn unauthenticated_or_forbidden_post_is_answered_without_reading_the_body() {
    let f = Fixture::new();
    for token in [
        None,
        Some("suho_0123456789abcdef_nope"),
        Some(f.read.as_str()),
    ] {
        let (body, polled) = TrackedBody::new(three_records(), 1);
        let r = f
            .send(request("POST", "/v1/records", token, Body::new(body)))
            .await;
        assert!(r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::FORBIDDEN);
        assert!(
            !polled.load(Ordering::SeqCst),
            "body was read for {token:?}"
        );
    }
}

#[tokio::test]
async fn body_over_the_limit_is_refused_with_413() {
    let f = Fixture::with_body_limit(1000);
    // Declared too large: refused before reading.
    let (body, polled) = TrackedBody::new(vec![b'x'; 10], 1);
    let req = Request::builder()
        .method("POST")
        .uri("/v1/records")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.ingest))
        .header(header::CONTENT_LENGTH, "1001")
        .body(Body::new(body))
        .unwrap();
    let r = f.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.error().contains("1000 bytes"), "{}", r.error());
    assert!(!polled.load(Ordering::SeqCst));

    // Streamed without a length: refused once it passes the limit.
    let (body, _) = TrackedBody::new(vec![b'x'; 300], 4);
    let r = f
        .send(request(
            "POST",
            "/v1/records",
            Some(&f.ingest),
            Body::new(body),
        ))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.error().contains("split the batch"));
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_as_json() {
    let f = Fixture::new();
    let r = f.send(get("/v1/nothing", Some(&f.admin))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "not found");
    let r = f.send(get("/v1/records", Some(&f.admin))).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    r.error();
    let r = f.send(post("/v1/checkpoint", Some(&f.admin), "")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn responses_forbid_content_sniffing() {
    let f = Fixture::new();
    let r = f.send(get("/healthz", None)).await;
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

/// A body that sends one chunk and then nothing, like a stalled or half-open producer. It
/// signals `read` once the server has started reading it (and so holds an ingest slot).
struct StalledBody {
    sent: bool,
    read: std::sync::Arc<tokio::sync::Notify>,
}

impl axum::body::HttpBody for StalledBody {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.sent {
            return std::task::Poll::Pending;
        }
        self.sent = true;
        self.read.notify_one();
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(
            axum::body::Bytes::from_static(b"{\"time\":"),
        ))))
    }
}

// Paused time: the runtime's clock moves only when every task waits, straight to the next
// timer, so the slot wait (100 ms) always ends before the stalled body's timeout (300 ms)
// however slow the machine is, and nothing here depends on how long anything took.
#[tokio::test(start_paused = true)]
async fn a_stalled_body_gets_408_and_cannot_hold_the_ingest_slots() {
    use std::time::Duration;
    let f = Fixture::new();
    let app = suho_server::router(
        f.state
            .clone()
            .with_max_concurrent_ingests(1)
            .with_timeouts(Duration::from_millis(300), Duration::from_millis(100)),
    );
    // The stalled request takes the only slot...
    let read = std::sync::Arc::new(tokio::sync::Notify::new());
    let stalled = {
        let (app, token) = (app.clone(), f.ingest.clone());
        let body = StalledBody {
            sent: false,
            read: read.clone(),
        };
        tokio::spawn(async move {
            crate::common::send(
                &app,
                request("POST", "/v1/records", Some(&token), Body::new(body)),
            )
            .await
        })
    };
    read.notified().await;
    // ...so another waits for it, then gets 503 with Retry-After, having stored nothing, while
    // the stalled one still holds the slot: it was not made to wait for the stall to end.
    let r = crate::common::send(&app, post("/v1/records", Some(&f.ingest), three_records())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.error());
    assert_eq!(r.header("retry-after"), Some("5"));
    assert!(!stalled.is_finished(), "the stalled request ended first");
    // The stalled one is cut off with 408, and the slot is free again.
    let r = stalled.await.expect("join");
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT, "{}", r.error());
    let r = crate::common::send(&app, post("/v1/records", Some(&f.ingest), three_records())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["ledger_size"],
        3,
        "only the last request was stored"
    );
}
