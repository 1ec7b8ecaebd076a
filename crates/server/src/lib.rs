//! suho's HTTP API: `suho serve`. It authenticates clients with bearer tokens (stored hashed in
//! `<data>/tokens.ndjson`), accepts NDJSON access-record batches and hands them to the ingest
//! service (answering once they are durable; a JSON array of records is taken too), and publishes the ledger's checkpoint and C2SP
//! tlog-tiles read-only, over plain HTTP or TLS (rustls).
//!
//! Architecture invariant: this crate knows HTTP and tokens, not the ledger format or record
//! validation; those belong to `suho-ingest` and `suho-ledger`. Tokens and request bodies are
//! never logged.
#![forbid(unsafe_code)]

mod app;
mod encoding;
mod error;
mod leak;
mod serve;
pub mod tokens;

pub use app::{
    router, AppError, AppState, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT,
    DEFAULT_MAX_CONCURRENT_INGESTS, DEFAULT_SLOT_WAIT, DUPLICATES_HEADER, REJECTED_HEADER,
    STORED_HEADER,
};
pub use error::ServerError;
pub use serve::{
    load_tls, serve, serve_on, ServeConfig, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    SHUTDOWN_GRACE,
};
pub use tokens::{Role, TokenInfo, TokenStore};
