//! Serving on a real socket: TLS round trips with a self-signed certificate, plain HTTP,
//! graceful shutdown, and clear errors for bad TLS material.

use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use suho_server::{load_tls, serve, serve_on, ServeConfig, ServerError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::{three_records, Fixture};

/// Writes a fresh self-signed certificate for localhost and 127.0.0.1; returns the PEM paths
/// and the certificate to trust.
fn self_signed(dir: &Path, stem: &str) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = dir.join(format!("{stem}.crt.pem"));
    let key = dir.join(format!("{stem}.key.pem"));
    fs::write(&cert, ck.cert.pem()).unwrap();
    fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    (cert, key, ck.cert.der().clone())
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl Running {
    async fn start(f: &Fixture, tls: Option<(PathBuf, PathBuf)>) -> Running {
        Running::start_with(f, |c| c.tls = tls).await
    }

    /// Serves `f` on a fresh port with the default configuration changed by `tune`.
    async fn start_with(f: &Fixture, tune: impl FnOnce(&mut ServeConfig)) -> Running {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut cfg = ServeConfig::new(addr);
        tune(&mut cfg);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_on(listener, cfg, f.state.clone(), async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) -> Result<(), ServerError> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s of the shutdown signal")
            .unwrap()
    }
}

fn client_config(trust: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

struct HttpReply {
    status: StatusCode,
    body: Vec<u8>,
}

/// One HTTP/1.1 request over a fresh connection, TLS when `trust` is given.
async fn call(
    addr: SocketAddr,
    trust: Option<&CertificateDer<'static>>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> HttpReply {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "localhost");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let resp = match trust {
        Some(trust) => {
            let connector = tokio_rustls::TlsConnector::from(client_config(trust));
            let tls = connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .expect("TLS handshake with the server's certificate");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            sender.send_request(req).await.unwrap()
        }
        None => {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .unwrap();
            tokio::spawn(conn);
            sender.send_request(req).await.unwrap()
        }
    };
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    HttpReply { status, body }
}

#[tokio::test]
async fn tls_round_trip_on_loopback() {
    let f = Fixture::new();
    let (cert, key, trust) = self_signed(f.dir.path(), "server");
    fs::create_dir_all(f.ledger()).unwrap();
    fs::write(f.ledger().join("checkpoint"), "origin\n0\nAAAA\n").unwrap();
    let server = Running::start(&f, Some((cert, key))).await;

    let r = call(server.addr, Some(&trust), "GET", "/healthz", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, br#"{"status":"ok"}"#);

    let r = call(server.addr, Some(&trust), "GET", "/v1/checkpoint", None, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = call(
        server.addr,
        Some(&trust),
        "GET",
        "/v1/checkpoint",
        Some(&f.read),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, b"origin\n0\nAAAA\n");

    let r = call(
        server.addr,
        Some(&trust),
        "POST",
        "/v1/records",
        Some(&f.ingest),
        &three_records(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["stored"], 3);

    server.stop().await.unwrap();
}

#[tokio::test]
async fn tls_port_does_not_answer_plain_http() {
    let f = Fixture::new();
    let (cert, key, _) = self_signed(f.dir.path(), "server");
    let server = Running::start(&f, Some((cert, key))).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(!buf.starts_with(b"HTTP/"), "plain HTTP was answered");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn plain_http_round_trip_and_graceful_shutdown() {
    let f = Fixture::new();
    let server = Running::start(&f, None).await;
    let r = call(server.addr, None, "GET", "/v1/health", Some(&f.read), "").await;
    assert_eq!(r.status, StatusCode::OK);
    let addr = server.addr;
    server.stop().await.unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn serve_binds_the_configured_address() {
    let f = Fixture::new();
    // Find a free port, release it, and ask serve() to bind it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(ServeConfig::new(addr), f.state.clone(), async {
        let _ = stopped.await;
    }));
    let mut reply = None;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            reply = Some(call(addr, None, "GET", "/healthz", None, "").await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reply.expect("server came up").status, StatusCode::OK);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn binding_a_taken_address_is_an_error_naming_it() {
    let f = Fixture::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = serve(
        ServeConfig::new(addr),
        f.state.clone(),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ServerError::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn bad_tls_material_fails_before_binding_with_the_file_named() {
    let f = Fixture::new();
    let dir = f.dir.path();
    let (cert, key, _) = self_signed(dir, "a");
    let (_, other_key, _) = self_signed(dir, "b");
    let missing = dir.join("missing.pem");
    let garbage = dir.join("garbage.pem");
    fs::write(&garbage, "hello, I am not PEM\n").unwrap();

    let err = load_tls(&missing, &key).unwrap_err();
    assert!(
        matches!(
            err,
            ServerError::TlsFile {
                what: "certificate",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let err = load_tls(&cert, &missing).unwrap_err();
    assert!(
        matches!(
            err,
            ServerError::TlsFile {
                what: "private key",
                ..
            }
        ),
        "{err}"
    );

    let err = load_tls(&garbage, &key).unwrap_err();
    assert!(
        matches!(
            err,
            ServerError::TlsPem {
                what: "certificate",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("garbage.pem"), "{err}");

    // A certificate where the key should be.
    let err = load_tls(&cert, &cert).unwrap_err();
    assert!(
        matches!(
            err,
            ServerError::TlsPem {
                what: "private key",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("PRIVATE KEY"), "{err}");

    let err = load_tls(&cert, &other_key).unwrap_err();
    assert!(matches!(err, ServerError::TlsConfig { .. }), "{err}");
    assert!(err.to_string().contains("b.key.pem"), "{err}");

    assert!(load_tls(&cert, &key).is_ok());

    // Through serve(): the error comes back and the address stays free.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = ServeConfig {
        tls: Some((missing.clone(), key.clone())),
        body_limit: 1 << 20,
        ..ServeConfig::new(addr)
    };
    let err = serve(cfg, f.state.clone(), std::future::pending())
        .await
        .unwrap_err();
    assert!(matches!(err, ServerError::TlsFile { .. }), "{err}");
    std::net::TcpListener::bind(addr).expect("nothing was bound");
}

/// Whether the server closes `conn` (end of stream or an error) within `within`.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 64];
    match tokio::time::timeout(within, conn.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => panic!("the server sent data unasked"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn connections_past_the_limit_are_closed_and_a_freed_slot_serves_again() {
    let f = Fixture::new();
    let server = Running::start_with(&f, |c| c.max_connections = 2).await;
    let addr = server.addr;
    let mut a = TcpStream::connect(addr).await.unwrap();
    let b = TcpStream::connect(addr).await.unwrap();
    let mut over = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut over, Duration::from_secs(5)).await,
        "a third connection is closed at once"
    );
    assert!(
        !closed_within(&mut a, Duration::from_millis(200)).await,
        "the first two stay open"
    );
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = call(addr, None, "GET", "/healthz", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    drop(b);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    let f = Fixture::new();
    let server = Running::start_with(&f, |c| c.idle_timeout = Duration::from_millis(300)).await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    // A request inside the timeout is served as always.
    let r = call(server.addr, None, "GET", "/healthz", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_request_waiting_longer_than_the_idle_timeout_is_still_answered() {
    let f = Fixture::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = ServeConfig {
        idle_timeout: Duration::from_millis(300),
        ..ServeConfig::new(addr)
    };
    // One ingest slot; a stalled body holds it for a second before it gets 408.
    let state = f
        .state
        .clone()
        .with_max_concurrent_ingests(1)
        .with_timeouts(Duration::from_secs(1), Duration::from_secs(10));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_on(listener, cfg, state, async {
        let _ = stopped.await;
    }));
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /v1/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{\"time\":",
                f.ingest
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // This one waits about a second for the slot, past the 300 ms idle timeout, and is
    // answered all the same.
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        call(
            addr,
            None,
            "POST",
            "/v1/records",
            Some(&f.ingest),
            &three_records(),
        ),
    )
    .await
    .expect("answered within 10 s");
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let mut head = vec![0u8; 64];
    let n = stalled.read(&mut head).await.unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
