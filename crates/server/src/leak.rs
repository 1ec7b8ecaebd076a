//! `GET /v1/leak-check/range/{prefix}`: the server's side of the "was my data leaked?" lookup
//! (k-anonymity hash ranges, see `suho-leakcheck`).
//!
//! The answer is `text/plain`: one line per stored hash whose hex form starts with the 5 hex
//! digits of `prefix`, holding the other 59 upper-case hex digits. With the request header
//! `Add-Padding: true` the answer is padded with random fake suffixes of the same prefix to the
//! same number of lines for every prefix, sorted together with the real ones.
//!
//! The route needs a bearer token of role `lookup` (or `admin`). These requests bypass the
//! general access log, which logs paths: here one line per request names the token and the
//! status but never the path, so a prefix is never logged beside who asked. Responses carry
//! `Cache-Control: private, no-store`.
//!
//! The store is `<data>/leakcheck/hashes.bin`, where `<data>` is the parent of the published
//! ledger directory. It is opened (and verified) when the router is built, and re-opened when a
//! request finds the file changed (one `stat` per request), so `suho leak-check load` takes
//! effect without a restart. A new version that fails verification is not used: the previous
//! good version goes on serving, or, with none, requests get 503. No store file at all is 404.

use std::fs;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Path as UrlPath, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;
use suho_leakcheck::{render_range, store_path, Prefix, Store};

use crate::app::bearer_token;
use crate::tokens::{claimed_id, Role, Stamp, TokenStore};
use crate::{AppError, AppState};

/// The route of a range query.
const RANGE_ROUTE: &str = "/v1/leak-check/range/{prefix}";
/// What the request log says instead of the path.
const LOGGED_ROUTE: &str = "/v1/leak-check/...";
/// The answer when no store file exists.
const NO_STORE: &str = "no leak-check store loaded: run suho leak-check load";
/// The answer when the store file exists but cannot be used.
const BAD_STORE: &str =
    "the leak-check store cannot be read; see the server log, then run suho leak-check load";

/// The leak-check routes, with their own state, authentication and request log; merge them into
/// the API router after its access log layer.
pub(crate) fn routes<S>(state: &AppState) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let ledger = state.ledger_dir();
    let data_dir = ledger.parent().unwrap_or(ledger);
    let leak = LeakState {
        tokens: state.tokens().clone(),
        slot: Arc::new(Slot::open(store_path(data_dir))),
    };
    Router::new()
        .route(RANGE_ROUTE, get(get_range).fallback(method_not_allowed))
        // Everything else under the prefix is answered here too, so that no leak-check path
        // reaches the general access log.
        .route("/v1/leak-check", any(not_found))
        .route("/v1/leak-check/{*rest}", any(not_found))
        .route_layer(middleware::from_fn_with_state(
            leak.clone(),
            authorise_and_log,
        ))
        .with_state(leak)
}

#[derive(Clone)]
struct LeakState {
    tokens: TokenStore,
    slot: Arc<Slot>,
}

/// `GET /v1/leak-check/range/{prefix}`.
async fn get_range(
    State(leak): State<LeakState>,
    UrlPath(prefix): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let prefix: Prefix = match prefix.parse() {
        Ok(p) => p,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let padding = headers
        .get("add-padding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    let slot = leak.slot.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<Option<String>, ()> {
        let Some(store) = slot.current()? else {
            return Ok(None);
        };
        let hashes = if padding {
            store.range_padded(prefix)
        } else {
            store.range(prefix)
        };
        match hashes {
            Ok(h) => Ok(Some(render_range(&h))),
            Err(e) => {
                // The error names the file, never the prefix.
                tracing::error!(error = %e, "cannot read a leak-check range");
                Err(())
            }
        }
    })
    .await;
    match answer {
        Ok(Ok(Some(body))) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-store"),
                ),
            ],
            body,
        )
            .into_response(),
        Ok(Ok(None)) => json_error(StatusCode::NOT_FOUND, NO_STORE.to_owned()),
        Ok(Err(())) => json_error(StatusCode::SERVICE_UNAVAILABLE, BAD_STORE.to_owned()),
        Err(e) => {
            tracing::error!(error = %e, "a leak-check range query panicked");
            AppError::Internal.into_response()
        }
    }
}

async fn not_found() -> AppError {
    AppError::NotFound("not found")
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

fn json_error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Lets a request through only with a current token of role `lookup` or `admin`, and writes
/// the request's log line: method, status, time, peer and token id, never the path.
async fn authorise_and_log(State(leak): State<LeakState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let bearer = bearer_token(req.headers()).map(str::to_owned);
    let (mut response, token) = match bearer {
        None => (AppError::MissingToken.into_response(), None),
        Some(bearer) => match leak.tokens.authenticate(&bearer) {
            None => {
                tracing::warn!(
                    claimed_id = claimed_id(&bearer).unwrap_or("<malformed>"),
                    route = LOGGED_ROUTE,
                    "rejected bearer token"
                );
                (AppError::InvalidToken.into_response(), None)
            }
            Some(t) if t.role.permits(Role::Lookup) => (next.run(req).await, Some(t.id)),
            Some(t) => (
                AppError::Forbidden {
                    role: t.role,
                    required: Role::Lookup,
                }
                .into_response(),
                Some(t.id),
            ),
        },
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    tracing::info!(
        %method,
        route = LOGGED_ROUTE,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        peer = ?peer,
        token = token.as_deref(),
        "request"
    );
    response
}

/// The store the server answers from, re-opened when its file changes.
struct Slot {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

#[derive(Default)]
struct Loaded {
    /// The version of the file last examined.
    seen: Option<Stamp>,
    /// The newest version that passed verification (possibly older than `seen`).
    store: Option<Arc<Store>>,
}

impl Slot {
    /// A slot for the store at `path`, opened now when it exists.
    fn open(path: PathBuf) -> Slot {
        let slot = Slot {
            path,
            loaded: Mutex::new(Loaded::default()),
        };
        // Errors are logged inside and answered per request.
        let _ = slot.current();
        slot
    }

    /// The store to answer from: `Ok(None)` when there is no store file, `Err` when the file
    /// exists but no version of it could be used (logged).
    fn current(&self) -> Result<Option<Arc<Store>>, ()> {
        let stamp = match fs::metadata(&self.path) {
            Ok(meta) => Stamp::of(&meta),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let mut loaded = self.lock();
                if loaded.seen.is_some() || loaded.store.is_some() {
                    tracing::warn!(path = %self.path.display(), "the leak-check store file is gone");
                }
                *loaded = Loaded::default();
                return Ok(None);
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "cannot inspect the leak-check store");
                return Err(());
            }
        };
        let mut loaded = self.lock();
        if loaded.seen != Some(stamp) {
            loaded.seen = Some(stamp);
            match Store::open(&self.path) {
                Ok(store) => {
                    tracing::info!(path = %self.path.display(), hashes = store.len(), "leak-check store opened");
                    loaded.store = Some(Arc::new(store));
                }
                Err(e) => {
                    let keeping = loaded.store.as_ref().map(|s| s.len());
                    tracing::error!(error = %e, previous_hashes_kept = ?keeping,
                        "leak-check store refused; answering from the previous good version, if any");
                }
            }
        }
        loaded.store.clone().map(Some).ok_or(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        // Every writer replaces whole fields, so a poisoned lock still holds a usable state.
        self.loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    // A failed unwrap in a test is a failed test with a backtrace: what we want here.
    #![allow(clippy::unwrap_used)]

    use std::fmt::Write as _;

    use axum::body::Body;
    use axum::http::Request;
    use suho_ingest::{IngestService, RejectLog, ServiceOptions};
    use suho_leakcheck::{check, load, matches, Identifier, LoadMode};
    use suho_ledger::{Ledger, Options};
    use tower::ServiceExt;

    use super::*;
    use crate::router;

    /// A data directory with a token of each role, a real ingest service and the router.
    /// Fields drop in order: the router (holding an ingest handle) before the service, the
    /// service before the directory.
    struct Fixture {
        app: Router,
        lookup: String,
        read: String,
        ingest: String,
        admin: String,
        _service: IngestService,
        dir: tempfile::TempDir,
    }

    impl Fixture {
        /// The fixture, with the store loaded from `emails` first when given.
        fn new(emails: Option<&[&str]>) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            if let Some(emails) = emails {
                load_emails(dir.path(), emails);
            }
            let tokens = TokenStore::open(dir.path()).unwrap();
            let (_, lookup) = tokens.create(Role::Lookup, "public web front end").unwrap();
            let (_, read) = tokens.create(Role::Read, "auditor").unwrap();
            let (_, ingest) = tokens.create(Role::Ingest, "gateway").unwrap();
            let (_, admin) = tokens.create(Role::Admin, "ops").unwrap();
            let ledger = Ledger::open(dir.path(), Options::default()).unwrap();
            let opts = ServiceOptions {
                workers: 1,
                ..ServiceOptions::default()
            };
            let service = IngestService::start(ledger, RejectLog::new(dir.path()), opts);
            let state = AppState::new(service.handle(), tokens, dir.path().join("ledger"));
            Fixture {
                app: router(state),
                lookup,
                read,
                ingest,
                admin,
                _service: service,
                dir,
            }
        }

        async fn get(&self, path: &str, token: Option<&str>, padding: bool) -> Reply {
            let mut b = Request::builder().uri(path);
            if let Some(t) = token {
                b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
            }
            if padding {
                b = b.header("Add-Padding", "true");
            }
            let resp = self
                .app
                .clone()
                .oneshot(b.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            Reply {
                status,
                headers,
                body: String::from_utf8(body.to_vec()).unwrap(),
            }
        }
    }

    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    }

    impl Reply {
        fn error(&self) -> String {
            let v: serde_json::Value = serde_json::from_str(&self.body).unwrap();
            v["error"].as_str().unwrap().to_owned()
        }
    }

    fn load_emails(data: &std::path::Path, emails: &[&str]) {
        let hashes = emails
            .iter()
            .map(|e| Identifier::email(e).unwrap().hash())
            .collect();
        load(data, hashes, LoadMode::Replace).unwrap();
    }

    fn range_path(email: &str) -> (String, suho_leakcheck::IdHash) {
        let (prefix, hash) = check(&Identifier::email(email).unwrap());
        (format!("/v1/leak-check/range/{prefix}"), hash)
    }

    const LEAKED: &[&str] = &["kim@example.com", "lee@example.com", "park@example.com"];

    #[tokio::test]
    async fn lookup_and_admin_tokens_get_the_range_others_do_not() {
        let f = Fixture::new(Some(LEAKED));
        let (path, hash) = range_path("Kim@Example.com");

        let r = f.get(&path, None, false).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.error().contains("bearer token"));
        let r = f.get(&path, Some("suho_0123456789abcdef_00"), false).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        for token in [&f.read, &f.ingest] {
            let r = f.get(&path, Some(token), false).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN);
            assert!(
                r.error().contains("needs role `lookup` or `admin`"),
                "{}",
                r.error()
            );
        }
        for token in [&f.lookup, &f.admin] {
            let r = f.get(&path, Some(token), false).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
            assert_eq!(r.headers[header::CACHE_CONTROL], "private, no-store");
            assert!(matches(&r.body, &hash));
            // Exactly the stored hashes of the prefix: here, only Kim's.
            assert_eq!(r.body, format!("{}\n", hash.suffix()));
        }
        // Someone not loaded: their range answers, without them.
        let (path, hash) = range_path("choi@example.com");
        let r = f.get(&path, Some(&f.lookup), false).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!matches(&r.body, &hash));
        // A lookup token is no ledger reader.
        let r = f.get("/v1/checkpoint", Some(&f.lookup), false).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn padding_on_request_keeps_the_match_and_hides_the_count() {
        let f = Fixture::new(Some(LEAKED));
        let (path, hash) = range_path("lee@example.com");
        let (other, _) = range_path("nobody@example.com");
        let a = f.get(&path, Some(&f.lookup), true).await;
        let b = f.get(&other, Some(&f.lookup), true).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(matches(&a.body, &hash));
        assert_eq!(a.body.lines().count(), suho_leakcheck::PADDING_STEP);
        assert_eq!(
            a.body.len(),
            b.body.len(),
            "sizes must not tell ranges apart"
        );
        for line in a.body.lines() {
            assert_eq!(line.len(), suho_leakcheck::SUFFIX_DIGITS);
            assert!(line
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        }
        // Any other value of the header is no padding.
        let mut req = Request::builder()
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {}", f.lookup))
            .header("Add-Padding", "false");
        req = req.header("X-Other", "1");
        let resp = f
            .app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, format!("{}\n", hash.suffix()).as_bytes());
    }

    #[tokio::test]
    async fn bad_prefixes_are_400_saying_what_a_prefix_is() {
        let f = Fixture::new(Some(LEAKED));
        for p in ["ABCD", "ABCDEF", "ABCDG", "%20ABCD", "abc-e"] {
            let r = f
                .get(&format!("/v1/leak-check/range/{p}"), Some(&f.lookup), false)
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{p}");
            assert!(
                r.error().contains("exactly 5 hexadecimal digits"),
                "{p}: {}",
                r.error()
            );
        }
        // Lower case is accepted.
        let r = f
            .get("/v1/leak-check/range/abcde", Some(&f.lookup), false)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        // Other paths under the prefix are 404, after authentication.
        let r = f.get("/v1/leak-check/range/ABCDE/x", None, false).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = f
            .get("/v1/leak-check/range/ABCDE/x", Some(&f.lookup), false)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn a_missing_store_is_404_until_loaded_then_served_without_restart() {
        let f = Fixture::new(None);
        let (path, hash) = range_path("park@example.com");
        let r = f.get(&path, Some(&f.lookup), false).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(
            r.error(),
            "no leak-check store loaded: run suho leak-check load"
        );
        // Unauthenticated callers learn nothing about the store.
        let r = f.get(&path, None, false).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        load_emails(f.dir.path(), LEAKED);
        let r = f.get(&path, Some(&f.lookup), false).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(matches(&r.body, &hash));
    }

    #[tokio::test]
    async fn a_corrupt_store_is_refused_and_the_previous_good_one_kept() {
        let f = Fixture::new(Some(LEAKED));
        let (path, hash) = range_path("kim@example.com");
        assert_eq!(
            f.get(&path, Some(&f.lookup), false).await.status,
            StatusCode::OK
        );

        let file = store_path(f.dir.path());
        let mut bytes = fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        // Write a new file (a new version) rather than edit in place.
        let tmp = file.with_extension("new");
        fs::write(&tmp, &bytes).unwrap();
        fs::rename(&tmp, &file).unwrap();
        let r = f.get(&path, Some(&f.lookup), false).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(matches(&r.body, &hash));

        // A server that starts with only the corrupt file answers 503.
        let g = Fixture::new(None);
        fs::create_dir_all(store_path(g.dir.path()).parent().unwrap()).unwrap();
        fs::write(store_path(g.dir.path()), &bytes).unwrap();
        let r = g.get(&path, Some(&g.lookup), false).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.error().contains("cannot be read"), "{}", r.error());
    }

    /// Collects every event's fields as text.
    struct Capture(Arc<Mutex<String>>);

    struct Fields<'a>(&'a mut String);

    impl tracing::field::Visit for Fields<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={:?} ", field.name(), value);
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            attrs.record(&mut Fields(&mut self.0.lock().unwrap()));
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
            values.record(&mut Fields(&mut self.0.lock().unwrap()));
        }
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut text = self.0.lock().unwrap();
            event.record(&mut Fields(&mut text));
            text.push('\n');
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[tokio::test]
    async fn the_prefix_is_never_logged() {
        let f = Fixture::new(Some(LEAKED));
        let log = Arc::new(Mutex::new(String::new()));
        let _guard = tracing::subscriber::set_default(Capture(log.clone()));
        // tracing caches each callsite's interest process-wide. With one dispatcher registered
        // it asks only the registering thread's default, so a sibling test thread without a
        // subscriber could cache the request log line as "never" and this capture would miss
        // it. A second registered dispatcher, made after ours is this thread's default, makes
        // tracing rebuild every interest from all registered dispatchers, now and later.
        let _anchor = tracing::Dispatch::new(Capture(Arc::new(Mutex::new(String::new()))));
        let prefix = "C0FFE";
        let path = format!("/v1/leak-check/range/{prefix}");
        let bad = "bad-token";
        for token in [
            Some(f.lookup.as_str()),
            Some(bad),
            None,
            Some(f.read.as_str()),
        ] {
            f.get(&path, token, false).await;
            f.get(&format!("{path}/more"), token, false).await;
            f.get(&path.to_lowercase(), token, true).await;
        }
        // The general access log still logs other routes (so the capture works).
        f.get("/v1/checkpoint", Some(&f.read), false).await;
        let text = log.lock().unwrap().clone();
        assert!(text.contains("/v1/checkpoint"), "{text}");
        assert!(text.contains(LOGGED_ROUTE), "{text}");
        let lookup_id = claimed_id(&f.lookup).unwrap();
        assert!(
            text.contains(lookup_id),
            "the request line names the token: {text}"
        );
        assert!(
            !text.to_ascii_uppercase().contains(prefix),
            "a prefix reached the log: {text}"
        );
        assert!(!text.contains("leak-check/range"), "{text}");
    }
}
