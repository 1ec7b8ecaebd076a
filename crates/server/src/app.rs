//! The HTTP routes, their shared state, authentication, and the one error type that turns into
//! responses.
//!
//! | route | role | what |
//! |---|---|---|
//! | `POST /v1/records` | ingest | append an NDJSON batch or a JSON array of records; answers once it is durable |
//! | `GET /v1/checkpoint` | read | the ledger's latest signed checkpoint |
//! | `GET /v1/health` | read | liveness (503 and why, once ingest stopped on an error), ledger size, checkpoint age |
//! | `GET /ledger/checkpoint`, `GET /ledger/tile/...` | read | C2SP tlog-tiles static files |
//! | `GET /v1/leak-check/range/{prefix}` | lookup | leak-check hash range (see `leak.rs`) |
//! | `GET /healthz` | none | liveness only (503 once ingest stopped on an error) |
//!
//! `admin` tokens may use every route. Authentication runs before a request body is read, so an
//! unauthenticated client cannot make the server read, buffer or store anything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::handler::HandlerWithoutStateExt;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::json;
use suho_ingest::{BatchReport, IngestHandle, Source};
use suho_ledger::{ENTRY_LEN, TILE_WIDTH};
use tokio::sync::{oneshot, Semaphore};
use tower_http::services::ServeDir;

use crate::encoding::{self, Encoding, Undecodable};
use crate::tokens::{claimed_id, Role, TokenStore};

/// Default limit of one `POST /v1/records` body: 64 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 << 20;
/// Default number of `POST /v1/records` bodies read or waiting for durability at once; further
/// requests wait their turn (this bounds the memory that bodies can take).
pub const DEFAULT_MAX_CONCURRENT_INGESTS: usize = 16;
/// Default time a `POST /v1/records` body may take to arrive in full (64 MiB at 4.5 Mbit/s):
/// a producer that trickles its body, or a half-open connection, must not hold an ingest slot.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(120);
/// Default time a `POST /v1/records` request waits for an ingest slot before it gets 503.
pub const DEFAULT_SLOT_WAIT: Duration = Duration::from_secs(60);
/// Batch reports with more results than this are serialised off the async runtime threads.
const INLINE_REPORT_RESULTS: usize = 4096;

/// What every request handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    ingest: IngestHandle,
    tokens: TokenStore,
    ledger_dir: Arc<Path>,
    body_limit: usize,
    body_timeout: Duration,
    slot_wait: Duration,
    ingest_slots: Arc<Semaphore>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("tokens", &self.tokens)
            .field("ledger_dir", &self.ledger_dir)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for a server that hands batches to `ingest`, authenticates with `tokens` and
    /// publishes the ledger directory `ledger_dir` (normally `<data>/ledger`). The body limit is
    /// [`DEFAULT_BODY_LIMIT`].
    pub fn new(ingest: IngestHandle, tokens: TokenStore, ledger_dir: impl Into<PathBuf>) -> Self {
        AppState {
            ingest,
            tokens,
            ledger_dir: Arc::from(ledger_dir.into()),
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            slot_wait: DEFAULT_SLOT_WAIT,
            ingest_slots: Arc::new(Semaphore::new(DEFAULT_MAX_CONCURRENT_INGESTS)),
        }
    }

    /// Sets how long a `POST /v1/records` body may take to arrive in full (408 after that), and
    /// how long a request waits for an ingest slot (503 after that).
    pub fn with_timeouts(mut self, body: Duration, slot_wait: Duration) -> Self {
        self.body_timeout = body;
        self.slot_wait = slot_wait;
        self
    }

    /// Sets the largest `POST /v1/records` body, in bytes; larger ones get 413.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets how many `POST /v1/records` requests may hold a body at once (at least 1).
    pub fn with_max_concurrent_ingests(mut self, n: usize) -> Self {
        self.ingest_slots = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    /// The largest accepted `POST /v1/records` body, in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The token store requests are authenticated against.
    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// The published ledger directory.
    pub fn ledger_dir(&self) -> &Path {
        &self.ledger_dir
    }
}

/// The API. Test it with `tower::ServiceExt::oneshot`; serve it with [`crate::serve`].
pub fn router(state: AppState) -> Router {
    let ingest = Router::new()
        .route("/v1/records", post(post_records))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_ingest,
        ));

    let tiles = ServeDir::new(state.ledger_dir.join("tile"))
        .append_index_html_on_directories(false)
        .not_found_service(not_found.into_service());
    let read = Router::new()
        .route("/v1/checkpoint", get(get_checkpoint))
        .route("/v1/health", get(get_health))
        .route("/ledger/checkpoint", get(get_checkpoint))
        .nest_service("/ledger/tile", tiles)
        .route_layer(middleware::from_fn(tile_cache_control))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_read));

    Router::new()
        .route("/healthz", get(healthz))
        .merge(ingest)
        .merge(read)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(access_log))
        // After the access log on purpose: leak-check logs its own requests without the path,
        // so a range prefix is never logged beside the caller's identity.
        .merge(crate::leak::routes(&state))
        .with_state(state)
}

/// Everything a client can be told went wrong. The body is always `{"error": "..."}` and never
/// carries internal details; those are logged.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppError {
    /// No usable `Authorization: Bearer` header (401).
    MissingToken,
    /// A bearer token that is malformed, unknown or revoked (401).
    InvalidToken,
    /// A valid token whose role does not allow the route (403).
    Forbidden {
        /// The token's role.
        role: Role,
        /// The role the route needs (or admin).
        required: Role,
    },
    /// No such route or file (404).
    NotFound(&'static str),
    /// The route exists but not for this method (405).
    MethodNotAllowed,
    /// The body is larger than the limit (413).
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
        /// The body was compressed, and it is its decompressed size that passed the limit.
        decompressed: bool,
    },
    /// The body has a `Content-Encoding` the server does not decode (415); the header as sent.
    UnsupportedEncoding(String),
    /// A compressed body could not be decompressed (400).
    Undecodable {
        /// Its `Content-Encoding`.
        encoding: &'static str,
        /// Why, as the decoder said.
        reason: String,
    },
    /// The request could not be read (400).
    BadRequest(&'static str),
    /// The body did not arrive in full in time (408).
    BodyTimeout,
    /// Every ingest slot stayed busy while the request waited (503).
    Busy,
    /// The ingest service could not make the batch durable (503).
    Unavailable,
    /// Anything else (500); the cause has been logged.
    Internal,
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::MissingToken | AppError::InvalidToken => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::BadRequest(_) | AppError::Undecodable { .. } => StatusCode::BAD_REQUEST,
            AppError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Unavailable | AppError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            AppError::MissingToken => {
                "missing bearer token: send `Authorization: Bearer <token>`".to_owned()
            }
            AppError::InvalidToken => "invalid or revoked bearer token".to_owned(),
            AppError::Forbidden { role, required } => format!(
                "a token with role `{role}` may not use this route; it needs role `{required}` or `admin`"
            ),
            AppError::NotFound(what) => (*what).to_owned(),
            AppError::MethodNotAllowed => "method not allowed on this route".to_owned(),
            AppError::PayloadTooLarge {
                limit,
                decompressed: false,
            } => format!("request body is larger than the limit of {limit} bytes; split the batch"),
            AppError::PayloadTooLarge {
                limit,
                decompressed: true,
            } => format!(
                "the request body decompresses to more than the limit of {limit} bytes; split the batch (nothing of it was stored)"
            ),
            AppError::UnsupportedEncoding(sent) => format!(
                "Content-Encoding {sent:?} is not supported; send gzip, zstd or uncompressed NDJSON"
            ),
            AppError::Undecodable { encoding, reason } => format!(
                "the {encoding} body could not be decompressed ({reason}); nothing of it was stored"
            ),
            AppError::BadRequest(what) => (*what).to_owned(),
            AppError::BodyTimeout => {
                "the request body did not arrive in time; nothing of it was stored".to_owned()
            }
            AppError::Busy => {
                "every ingest slot is busy; retry later (nothing of this request was stored)"
                    .to_owned()
            }
            AppError::Unavailable => {
                "the ledger could not store the batch right now; retry later (records with an `id` are stored once)"
                    .to_owned()
            }
            AppError::Internal => "internal error".to_owned(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(json!({ "error": self.message() }))).into_response();
        let headers = response.headers_mut();
        match self {
            AppError::MissingToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"suho\""),
                );
            }
            AppError::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"suho\", error=\"invalid_token\""),
                );
            }
            AppError::Forbidden { .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"suho\", error=\"insufficient_scope\""),
                );
            }
            AppError::Unavailable | AppError::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}

/// Marks a response with the id of the token that authenticated its request (for the access
/// log; the id is not secret).
#[derive(Debug, Clone)]
struct AuthenticatedAs(String);

/// Marks a request with the token that authenticated it: its id and name (neither is secret),
/// so that the reject log can name the producer.
#[derive(Debug, Clone)]
struct Producer {
    id: String,
    name: String,
}

/// Response headers of `POST /v1/records`: how many lines were stored, were already stored,
/// and were rejected (also on 422, when nothing was stored).
pub const STORED_HEADER: &str = "suho-stored";
/// See [`STORED_HEADER`].
pub const DUPLICATES_HEADER: &str = "suho-duplicates";
/// See [`STORED_HEADER`].
pub const REJECTED_HEADER: &str = "suho-rejected";

async fn require_ingest(State(state): State<AppState>, req: Request, next: Next) -> Response {
    require(Role::Ingest, &state, req, next).await
}

async fn require_read(State(state): State<AppState>, req: Request, next: Next) -> Response {
    require(Role::Read, &state, req, next).await
}

/// Lets the request through only with a current token whose role permits `required`. Runs before
/// anything reads the body.
async fn require(required: Role, state: &AppState, mut req: Request, next: Next) -> Response {
    let Some(bearer) = bearer_token(req.headers()) else {
        return AppError::MissingToken.into_response();
    };
    let Some(token) = state.tokens.authenticate(bearer) else {
        // The claimed id is 16 hex digits when present: safe to log, unlike the token.
        tracing::warn!(
            claimed_id = claimed_id(bearer).unwrap_or("<malformed>"),
            path = ?req.uri().path(),
            "rejected bearer token"
        );
        return AppError::InvalidToken.into_response();
    };
    let mut response = if token.role.permits(required) {
        req.extensions_mut().insert(Producer {
            id: token.id.clone(),
            name: token.name.clone(),
        });
        next.run(req).await
    } else {
        AppError::Forbidden {
            role: token.role,
            required,
        }
        .into_response()
    };
    response.extensions_mut().insert(AuthenticatedAs(token.id));
    response
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched case-insensitively).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// One log line per request: method, path, status, time, peer, token id. Never headers or
/// bodies.
async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let mut response = next.run(req).await;
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let token = response
        .extensions()
        .get::<AuthenticatedAs>()
        .map(|t| t.0.as_str());
    tracing::info!(
        %method,
        path = ?path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        peer = ?peer,
        token,
        "request"
    );
    response
}

/// `GET /healthz`: 200 while the server takes records, 503 once the ingest service has stopped
/// on an error (the reason is only given to authenticated callers, at `/v1/health`).
async fn healthz(State(state): State<AppState>) -> Response {
    match state.ingest.failure() {
        None => Json(json!({ "status": "ok" })).into_response(),
        Some(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "failing" })),
        )
            .into_response(),
    }
}

async fn not_found() -> AppError {
    AppError::NotFound("not found")
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// `POST /v1/records`: reads the body (NDJSON, or a JSON array of records; up to the limit, after
/// decompression when it is sent with `Content-Encoding: gzip` or `zstd`),
/// hands it to the ingest service and answers with the batch report once the batch is durable:
/// 200 when something was stored (or was already), 422 when every line was rejected, 400 when
/// the body holds no record at all. `Suho-Stored`, `Suho-Duplicates` and `Suho-Rejected` say
/// how many lines went which way, so that a shipper sees a partial failure without reading
/// the body.
async fn post_records(State(state): State<AppState>, req: Request) -> Result<Response, AppError> {
    let encoding = Encoding::parse(
        req.headers()
            .get_all(header::CONTENT_ENCODING)
            .iter()
            .map(HeaderValue::as_bytes),
    )
    .map_err(AppError::UnsupportedEncoding)?;
    let source = match req.extensions().get::<Producer>() {
        Some(p) => Source::http(&p.id, &p.name),
        // Not reached: `require` marks every request it lets through.
        None => Source {
            name: "http".to_owned(),
            token: None,
        },
    };
    let limit = state.body_limit;
    let declared = content_length(req.headers())?;
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(AppError::PayloadTooLarge {
            limit,
            decompressed: false,
        });
    }
    // Semaphore::acquire fails only once the semaphore is closed, and this one never is.
    let _slot = tokio::time::timeout(state.slot_wait, state.ingest_slots.acquire())
        .await
        .map_err(|_| AppError::Busy)?
        .map_err(|_| AppError::Internal)?;
    let body = tokio::time::timeout(
        state.body_timeout,
        read_body(req.into_body(), limit, declared),
    )
    .await
    .map_err(|_| AppError::BodyTimeout)??;
    let body = decompress(encoding, body, limit).await?;

    let (tx, rx) = oneshot::channel();
    state.ingest.submit(
        source,
        body,
        Box::new(move |result| {
            // The client may have gone away; the batch is stored all the same.
            let _ = tx.send(result);
        }),
    );
    match rx.await {
        Ok(Ok(report)) => report_response(report).await,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "ingest failed; the batch was not stored");
            Err(AppError::Unavailable)
        }
        Err(_) => {
            tracing::error!("the ingest service dropped a batch without answering");
            Err(AppError::Unavailable)
        }
    }
}

fn content_length(headers: &HeaderMap) -> Result<Option<u64>, AppError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Some)
            .ok_or(AppError::BadRequest("Content-Length is not a number")),
    }
}

/// Collects a body into one buffer, refusing it as soon as it passes `limit` bytes.
async fn read_body(
    mut body: Body,
    limit: usize,
    declared: Option<u64>,
) -> Result<Vec<u8>, AppError> {
    let capacity = declared.map_or(0, |n| n.min(limit as u64) as usize);
    let mut buf = Vec::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            tracing::debug!(error = %e, "request body could not be read");
            AppError::BadRequest("the request body could not be read")
        })?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(AppError::PayloadTooLarge {
                    limit,
                    decompressed: false,
                });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Decompress a body sent with `Content-Encoding` `encoding` to at most `limit` bytes, off the
/// async runtime's threads (64 MiB take a few hundred milliseconds).
async fn decompress(encoding: Encoding, body: Vec<u8>, limit: usize) -> Result<Vec<u8>, AppError> {
    if encoding == Encoding::Identity {
        return Ok(body);
    }
    let decoded = tokio::task::spawn_blocking(move || encoding::decode(encoding, &body, limit))
        .await
        .map_err(|e| {
            // A decoder that panics on hostile input must not take the server with it.
            tracing::error!(error = %e, encoding = encoding.name(), "decompressing a body panicked");
            AppError::Undecodable {
                encoding: encoding.name(),
                reason: "the decoder failed".to_owned(),
            }
        })?;
    decoded.map_err(|e| match e {
        Undecodable::TooLarge => AppError::PayloadTooLarge {
            limit,
            decompressed: true,
        },
        Undecodable::Corrupt(reason) => AppError::Undecodable {
            encoding: encoding.name(),
            reason,
        },
    })
}

async fn report_response(report: BatchReport) -> Result<Response, AppError> {
    if report.results.is_empty() {
        return Err(AppError::BadRequest(
            "the body holds no records: send NDJSON (one access record per line) or a JSON array of records",
        ));
    }
    // A shipper (Vector, Fluent Bit, ...) treats a 4xx as a failed batch; a retry of lines
    // already stored (duplicates) is not one.
    let status = if report.stored == 0 && report.duplicates == 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let counts = [
        (STORED_HEADER, report.stored),
        (DUPLICATES_HEADER, report.duplicates),
        (REJECTED_HEADER, report.rejected),
    ];
    let small = report.results.len() <= INLINE_REPORT_RESULTS;
    let serialize = move || serde_json::to_vec(&report);
    let bytes = if small {
        serialize()
    } else {
        tokio::task::spawn_blocking(serialize).await.map_err(|e| {
            tracing::error!(error = %e, "serialising a batch report panicked");
            AppError::Internal
        })?
    }
    .map_err(|e| {
        tracing::error!(error = %e, "cannot serialise a batch report");
        AppError::Internal
    })?;
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response();
    for (name, n) in counts {
        response.headers_mut().insert(name, HeaderValue::from(n));
    }
    Ok(response)
}

/// `GET /v1/checkpoint` and `GET /ledger/checkpoint`: the latest signed checkpoint.
async fn get_checkpoint(State(state): State<AppState>) -> Result<Response, AppError> {
    let text = read_checkpoint(&state.ledger_dir).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        text.0,
    )
        .into_response())
}

/// A checkpoint's bytes and modification time.
struct Checkpoint(Vec<u8>, Option<SystemTime>);

async fn read_checkpoint(ledger_dir: &Path) -> Result<Checkpoint, AppError> {
    let path = ledger_dir.join("checkpoint");
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let modified = tokio::fs::metadata(&path)
                .await
                .ok()
                .and_then(|m| m.modified().ok());
            Ok(Checkpoint(bytes, modified))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(AppError::NotFound("the ledger has no checkpoint yet"))
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the checkpoint");
            Err(AppError::Internal)
        }
    }
}

/// `GET /v1/health`: liveness plus what the latest checkpoint says; 503 with the reason once the
/// ingest service has stopped on an error.
async fn get_health(State(state): State<AppState>) -> Result<Response, Response> {
    let ledger = match read_checkpoint(&state.ledger_dir).await {
        Ok(Checkpoint(bytes, modified)) => {
            let text = String::from_utf8_lossy(&bytes);
            let mut lines = text.lines();
            let origin = lines.next().unwrap_or_default().to_owned();
            let size = lines.next().and_then(|l| l.parse::<u64>().ok());
            let age = modified
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .map(|d| d.as_secs());
            json!({ "origin": origin, "size": size, "checkpoint_age_seconds": age })
        }
        Err(AppError::NotFound(_)) => serde_json::Value::Null,
        Err(e) => return Err(e.into_response()),
    };
    Ok(match state.ingest.failure() {
        None => Json(json!({ "status": "ok", "ledger": ledger })).into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "failing", "reason": why, "ledger": ledger })),
        )
            .into_response(),
    })
}

/// Full tiles never change (C2SP tlog-tiles); partial tiles (`.p/`) do. Responses stay
/// `private`: they were fetched with a token.
///
/// A full tile is only marked immutable when it has a full tile's length: the ledger writes a
/// tile file in place, so a request that races its writing (or a rewrite after recovery) can see
/// it short, and a client must not keep that for a year.
async fn tile_cache_control(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let partial = path.contains(".p/");
    let is_tile = path.starts_with("/ledger/tile/");
    let full_len = if path.starts_with("/ledger/tile/entries/") {
        // Every entry is 53 bytes, each bundled with a 2-byte length (FORMAT.md).
        TILE_WIDTH * (2 + ENTRY_LEN as u64)
    } else {
        TILE_WIDTH * 32
    };
    let mut response = next.run(req).await;
    if is_tile && response.status() == StatusCode::OK {
        let complete = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            == Some(full_len);
        let value = if partial || !complete {
            "private, no-cache"
        } else {
            "private, max-age=31536000, immutable"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}
