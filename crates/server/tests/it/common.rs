//! Shared fixture: a data directory with one token per role, a real ingest service, and the
//! router; plus request and response helpers.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use suho_ingest::{IngestService, RejectLog, ServiceOptions};
use suho_ledger::{Ledger, Options};
use suho_server::{router, AppState, Role, TokenStore, DEFAULT_BODY_LIMIT};
use tempfile::TempDir;
use tower::ServiceExt;

/// A real ingest service writing the ledger of data directory `dir`. Dropping it stops it, and
/// that waits for every `IngestHandle` clone to go: drop routers and states first.
pub fn test_service(dir: &Path) -> IngestService {
    let ledger = Ledger::open(dir, Options::default()).unwrap();
    let opts = ServiceOptions {
        workers: 1,
        ..ServiceOptions::default()
    };
    IngestService::start(ledger, RejectLog::new(dir), opts)
}

/// A data directory with a token of each role, a real ingest service, and a router over them.
/// Fields drop in order: the router and state (holding ingest handles) before the service, the
/// service before the directory.
pub struct Fixture {
    pub state: AppState,
    pub app: Router,
    pub tokens: TokenStore,
    pub admin: String,
    pub ingest: String,
    pub read: String,
    _service: IngestService,
    pub dir: TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_body_limit(DEFAULT_BODY_LIMIT)
    }

    pub fn with_body_limit(limit: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let tokens = TokenStore::open(dir.path()).unwrap();
        let (_, admin) = tokens.create(Role::Admin, "ops on-call").unwrap();
        let (_, ingest) = tokens.create(Role::Ingest, "api-gateway producer").unwrap();
        let (_, read) = tokens.create(Role::Read, "auditor").unwrap();
        let service = test_service(dir.path());
        let state = AppState::new(service.handle(), tokens.clone(), dir.path().join("ledger"))
            .with_body_limit(limit);
        let app = router(state.clone());
        Fixture {
            state,
            app,
            tokens,
            admin,
            ingest,
            read,
            _service: service,
            dir,
        }
    }

    pub fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        send(&self.app, req).await
    }
}

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `error` text of a JSON error body (and checks that it is one).
    pub fn error(&self) -> String {
        assert_eq!(
            self.header(header::CONTENT_TYPE.as_str()),
            Some("application/json"),
            "error responses are JSON"
        );
        let v = self.json();
        let obj = v.as_object().expect("error body is an object");
        assert_eq!(obj.len(), 1, "error body has only `error`: {v}");
        obj["error"].as_str().expect("error is a string").to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    request("GET", path, token, Body::empty())
}

pub fn post(path: &str, token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    request("POST", path, token, body.into())
}

pub fn request(method: &str, path: &str, token: Option<&str>, body: Body) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(body).unwrap()
}

/// Three valid access records, one per line.
pub fn three_records() -> String {
    [
        r#"{"time":"2025-06-24T03:12:45.120Z","actor":"emp-0131","action":"read","resource":"GET /v1/customers/{id}/profile","subjects":["c-00417"],"fields":["name","phone"]}"#,
        r#"{"time":"2025-06-24T03:12:46Z","actor":"emp-0131","action":"search","resource":"GET /v1/customers?q=kim","subject_count":20}"#,
        r#"{"time":1750734767000,"actor":"svc-batch","action":"export","resource":"orders table","subjects":["c-1","c-2"]}"#,
    ]
    .join("\n")
        + "\n"
}

/// A request body that records whether anyone polled it, and yields `chunks` chunks of `chunk`.
pub struct TrackedBody {
    pub polled: Arc<AtomicBool>,
    chunk: Bytes,
    chunks: usize,
}

impl TrackedBody {
    pub fn new(chunk: impl Into<Bytes>, chunks: usize) -> (TrackedBody, Arc<AtomicBool>) {
        let polled = Arc::new(AtomicBool::new(false));
        (
            TrackedBody {
                polled: polled.clone(),
                chunk: chunk.into(),
                chunks,
            },
            polled,
        )
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.polled.store(true, Ordering::SeqCst);
        if self.chunks == 0 {
            return Poll::Ready(None);
        }
        self.chunks -= 1;
        Poll::Ready(Some(Ok(http_body::Frame::data(self.chunk.clone()))))
    }
}
