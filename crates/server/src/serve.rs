//! Running the API on a socket: plain HTTP or TLS (rustls), with graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::{router, AppState, ServerError, DEFAULT_BODY_LIMIT};

/// How long in-flight requests (an ingest waiting for durability) get to finish after shutdown
/// was asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once by default; more are closed as they arrive, so idle or
/// half-open clients cannot take every file descriptor (the ledger needs some too).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// By default a connection on which nothing is read or written for this long is closed,
/// whatever the protocol stage (before the first byte, between requests, HTTP/2 idle).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where and how to listen.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// `(certificate chain PEM, private key PEM)` files; `None` serves plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest `POST /v1/records` body, in bytes.
    pub body_limit: usize,
    /// Connections served at once; more are closed on arrival.
    pub max_connections: usize,
    /// A connection idle (nothing read or written) this long is closed.
    pub idle_timeout: Duration,
}

impl ServeConfig {
    /// Plain HTTP on `addr` with the default body limit.
    pub fn new(addr: SocketAddr) -> Self {
        ServeConfig {
            addr,
            tls: None,
            body_limit: DEFAULT_BODY_LIMIT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// Serves [`router`] on `cfg.addr` until `shutdown` completes, then stops accepting and lets
/// in-flight requests finish (up to [`SHUTDOWN_GRACE`]). TLS material is loaded and checked
/// before the address is bound, so a bad certificate or key fails fast with an error naming the
/// file.
pub async fn serve(
    cfg: ServeConfig,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let tls = load_tls_pair(cfg.tls.as_ref())?;
    let listener = std::net::TcpListener::bind(cfg.addr).map_err(|source| ServerError::Bind {
        addr: cfg.addr,
        source,
    })?;
    run(listener, tls, &cfg, state, shutdown).await
}

/// Like [`serve`], on a socket that is already bound (`cfg.addr` is not used). Useful for tests
/// (bind port 0, read the port, then serve) and for inherited sockets.
pub async fn serve_on(
    listener: std::net::TcpListener,
    cfg: ServeConfig,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let tls = load_tls_pair(cfg.tls.as_ref())?;
    run(listener, tls, &cfg, state, shutdown).await
}

fn load_tls_pair(pair: Option<&(PathBuf, PathBuf)>) -> Result<Option<RustlsConfig>, ServerError> {
    pair.map(|(cert, key)| load_tls(cert, key)).transpose()
}

type ServerFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// Serves on a bound `listener` with the TLS material already loaded; everything else comes
/// from `cfg`.
async fn run(
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
    cfg: &ServeConfig,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let local = listener.local_addr().map_err(ServerError::Serve)?;
    let limits = Limits::new(cfg);
    let app = router(state.with_body_limit(cfg.body_limit))
        .into_make_service_with_connect_info::<SocketAddr>();
    let handle = Handle::new();
    let secure = tls.is_some();
    let server: ServerFuture = match tls {
        Some(config) => {
            let mut server = axum_server::from_tcp_rustls(listener, config)
                .map(|tls| tls.acceptor(limits))
                .handle(handle.clone());
            limit_header_time(&mut server);
            Box::pin(server.serve(app))
        }
        None => {
            let mut server = axum_server::from_tcp(listener)
                .acceptor(limits)
                .handle(handle.clone());
            limit_header_time(&mut server);
            Box::pin(server.serve(app))
        }
    };
    if secure {
        tracing::info!(addr = %local, "serving HTTPS");
    } else if local.ip().is_loopback() {
        tracing::info!(addr = %local, "serving plain HTTP on loopback");
    } else {
        tracing::warn!(addr = %local,
            "serving plain HTTP on a non-loopback address: bearer tokens cross the network in clear; give a certificate and key");
    }

    let mut server = server;
    let shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        result = &mut server => return result.map_err(ServerError::Serve),
        () = shutdown => {
            tracing::info!(grace_secs = SHUTDOWN_GRACE.as_secs(), "shutting down: no new connections, finishing in-flight requests");
            handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
        }
    }
    server.await.map_err(ServerError::Serve)?;
    tracing::info!("server stopped");
    Ok(())
}

/// The connection limit and idle timeout, applied to each accepted TCP connection (under TLS,
/// before the handshake).
#[derive(Clone)]
struct Limits {
    slots: Arc<Semaphore>,
    idle: Duration,
}

impl Limits {
    fn new(cfg: &ServeConfig) -> Limits {
        Limits {
            slots: Arc::new(Semaphore::new(cfg.max_connections.max(1))),
            idle: cfg.idle_timeout,
        }
    }
}

impl<S> Accept<TcpStream, S> for Limits {
    type Stream = Guarded<TcpStream>;
    type Service = CountInFlight<S>;
    type Future = std::future::Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => {
                let in_flight = Arc::new(AtomicUsize::new(0));
                let service = CountInFlight {
                    inner: service,
                    in_flight: Arc::clone(&in_flight),
                };
                Ok((Guarded::new(stream, permit, self.idle, in_flight), service))
            }
            Err(_) => {
                // Dropping the stream closes it; the client may retry.
                tracing::debug!("connection limit reached; a new connection was closed");
                Err(io::Error::other("connection limit reached"))
            }
        })
    }
}

/// A connection's service, counting the requests it is working on, so that the connection's
/// idle timer ([`Guarded`]) never runs while a handler waits (for an ingest slot, for
/// durability): hyper still polls the socket then, and finds nothing to read.
#[derive(Clone)]
struct CountInFlight<S> {
    inner: S,
    in_flight: Arc<AtomicUsize>,
}

impl<S, R> tower_service::Service<R> for CountInFlight<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let done = InFlight(Arc::clone(&self.in_flight));
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            drop(done);
            res
        })
    }
}

/// One request in flight; dropping it (answered, or cancelled) ends it.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A connection that holds one of the [`Limits`] slots while it lives, and fails once nothing
/// has been read or written on it, and no request has been in flight, for the idle timeout.
struct Guarded<S> {
    inner: S,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    in_flight: Arc<AtomicUsize>,
}

impl<S> Guarded<S> {
    fn new(
        inner: S,
        slot: OwnedSemaphorePermit,
        idle: Duration,
        in_flight: Arc<AtomicUsize>,
    ) -> Guarded<S> {
        Guarded {
            inner,
            _slot: slot,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            in_flight,
        }
    }

    fn touch(&mut self) {
        let deadline = tokio::time::Instant::now() + self.idle;
        self.timer.as_mut().reset(deadline);
    }

    /// What a read or write that returned `io` becomes: done restarts the idle timer; pending
    /// stays pending, or becomes an error once the connection has been idle too long. While a
    /// request is in flight the connection is not idle; the timer restarts from then.
    fn timed<T>(&mut self, cx: &mut Context<'_>, io: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if io.is_ready() || self.in_flight.load(Ordering::SeqCst) > 0 {
            self.touch();
            return io;
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let io = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.timed(cx, io)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let io = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.timed(cx, io)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let io = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.timed(cx, io)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

fn limit_header_time<A>(server: &mut axum_server::Server<A>) {
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
}

/// Loads a PEM certificate chain and PEM private key (PKCS#8, PKCS#1 or SEC1) into a rustls
/// server configuration offering HTTP/2 and HTTP/1.1. Every error names the file and what is
/// wrong with it.
pub fn load_tls(cert: &Path, key: &Path) -> Result<RustlsConfig, ServerError> {
    const CERT: &str = "certificate";
    const KEY: &str = "private key";
    let cert_pem = std::fs::read(cert).map_err(|source| ServerError::TlsFile {
        what: CERT,
        path: cert.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServerError::TlsPem {
            what: CERT,
            path: cert.to_path_buf(),
            reason: format!("not a valid PEM file: {e}"),
        })?;
    if chain.is_empty() {
        return Err(ServerError::TlsPem {
            what: CERT,
            path: cert.to_path_buf(),
            reason: "no `BEGIN CERTIFICATE` section found".to_owned(),
        });
    }

    let key_meta = std::fs::metadata(key).map_err(|source| ServerError::TlsFile {
        what: KEY,
        path: key.to_path_buf(),
        source,
    })?;
    if key_meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %key.display(), "the TLS private key is readable by group or others; chmod 600 it");
    }
    let key_pem = std::fs::read(key).map_err(|source| ServerError::TlsFile {
        what: KEY,
        path: key.to_path_buf(),
        source,
    })?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| ServerError::TlsPem {
        what: KEY,
        path: key.to_path_buf(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no `BEGIN PRIVATE KEY` (PKCS#8), `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` section found"
                    .to_owned()
            }
            other => format!("not a valid PEM private key: {other}"),
        },
    })?;

    let config_err = |e: rustls::Error| ServerError::TlsConfig {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason: e.to_string(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_err)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(config_err)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}
