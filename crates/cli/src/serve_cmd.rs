//! `suho serve` and `suho token`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use suho_app::App;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use suho_ingest::{IngestService, RejectLog, ServiceOptions};
use suho_server::{AppState, Role, ServeConfig, TokenStore};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7300")]
    listen: SocketAddr,
    /// TLS certificate chain (PEM); serve HTTPS with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Largest POST /v1/records body, in MiB.
    #[arg(long, default_value_t = 64)]
    body_limit_mib: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Ingest,
    Read,
    Admin,
    /// The "was my data leaked?" range lookup only (for the public web front end).
    Lookup,
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        /// What the token may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Who or what will use it (a service, a person).
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// Token id (as printed by `list`).
        id: String,
    },
}

pub fn serve(app: &App, a: ServeArgs) -> Result<i32> {
    let data = app.dir().root();
    let layout = app.dir().layout();
    let mut ledger = app.open_ledger()?;
    let size = ledger.size();
    let vkey = ledger.verifier_key();
    let tokens = TokenStore::open(data)?;
    if tokens.list().iter().all(|t| t.is_revoked()) {
        eprintln!("warning: no API token exists yet, so every request will get 401; create one with `suho token create --role ingest`");
    }
    let config = app.config()?.ingest;
    let sinks = crate::sinks_cmd::start(app)?;
    let mut detection = app.open_detection(&mut ledger)?;
    if let Some(d) = &mut detection {
        d.on_outbox(Some(sinks.hook()));
    }
    let service = IngestService::start_detecting(
        ledger,
        detection,
        RejectLog::new(data),
        ServiceOptions {
            config,
            ..ServiceOptions::default()
        },
    );
    let state = AppState::new(service.handle(), tokens, layout.ledger());
    let mut cfg = ServeConfig::new(a.listen);
    cfg.body_limit = a
        .body_limit_mib
        .checked_mul(1 << 20)
        .with_context(|| format!("--body-limit-mib {} is too large", a.body_limit_mib))?;
    let scheme = if a.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    cfg.tls = a.tls_cert.zip(a.tls_key);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    eprintln!(
        "suho serving {scheme}://{} (ledger size {size}, key {vkey})",
        a.listen
    );
    // The handle moves into the shutdown future and goes with it: the service's shutdown waits
    // for every handle to be dropped.
    rt.block_on(suho_server::serve(
        cfg,
        state,
        shutdown_signal(service.handle()),
    ))?;
    if let Some(why) = service.failure().map(str::to_owned) {
        // Exit non-zero, so that a supervisor restarts suho (recovery runs on open) instead of
        // producers retrying against a server that can no longer store anything.
        let _ = service.shutdown();
        crate::sinks_cmd::stop(sinks);
        anyhow::bail!("the ingest service stopped on an error, so suho serve stopped: {why}");
    }
    service.shutdown()?;
    crate::sinks_cmd::stop(sinks);
    eprintln!("stopped; final checkpoint written");
    Ok(0)
}

/// SIGINT, SIGTERM, or the ingest service stopping on an error.
async fn shutdown_signal(ingest: suho_ingest::IngestHandle) {
    let failed = async {
        while ingest.failure().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    };
    tokio::select! { _ = signal() => {}, _ = failed => {} }
}

async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

pub fn token(data: &Path, cmd: TokenCmd) -> Result<i32> {
    let store = TokenStore::open(data)?;
    match cmd {
        TokenCmd::Create { role, name } => {
            let role = match role {
                RoleArg::Ingest => Role::Ingest,
                RoleArg::Read => Role::Read,
                RoleArg::Admin => Role::Admin,
                RoleArg::Lookup => Role::Lookup,
            };
            let (info, secret) = store.create(role, &name)?;
            eprintln!(
                "created token {} with role {} (shown once; suho keeps only its hash)",
                info.id,
                role.as_str()
            );
            println!("{secret}");
        }
        TokenCmd::List => {
            for t in store.list() {
                println!("{}", serde_json::to_string(&t).context("token info")?);
            }
        }
        TokenCmd::Revoke { id } => {
            let t = store.revoke(&id)?;
            println!("revoked token {}", t.id);
        }
    }
    Ok(0)
}
