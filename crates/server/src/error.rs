//! The crate's error type for everything that is not an HTTP response: the token file, TLS
//! material, binding and serving.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a server operation failed. Every variant names the file or address involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The token file (or its directory or lock file) could not be read or written.
    #[error("token store {path}: {source}")]
    TokenIo {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the token file is not a valid token record.
    #[error("token store {path}, line {line}: {reason}")]
    TokenFileCorrupt {
        /// The token file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// No token with this id exists.
    #[error("no token with id {id:?}")]
    UnknownToken {
        /// The id that was asked for.
        id: String,
    },
    /// A token name was rejected.
    #[error("invalid token name: {reason}")]
    InvalidTokenName {
        /// Why the name was rejected.
        reason: &'static str,
    },
    /// A role name is not `ingest`, `read`, `admin` or `lookup`.
    #[error("unknown role {0:?}: expected ingest, read, admin or lookup")]
    UnknownRole(String),
    /// A TLS certificate or key file could not be read.
    #[error("TLS {what} file {path}: {source}")]
    TlsFile {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A TLS certificate or key file does not hold what it should.
    #[error("TLS {what} file {path}: {reason}")]
    TlsPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate and key were read but rustls refused them (for example, they do not
    /// belong together).
    #[error("TLS certificate {cert} with key {key}: {reason}")]
    TlsConfig {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's explanation.
        reason: String,
    },
    /// The listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("HTTP server: {0}")]
    Serve(#[source] std::io::Error),
}
