//! The application layer's error: what failed underneath, or what policy refused, with the
//! step that was being taken.

use std::path::PathBuf;

/// Why a service could not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// `suho.toml` cannot be read or says something suho cannot use.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, naming the section and key.
        reason: String,
    },
    /// A policy of suho's refused the request (one sentence on why and what to do).
    #[error("{0}")]
    Refused(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Ledger(#[from] suho_ledger::LedgerError),
    #[error(transparent)]
    Ingest(#[from] suho_ingest::IngestError),
    #[error(transparent)]
    Detect(#[from] suho_detect::DetectError),
    #[error(transparent)]
    History(#[from] suho_history::HistoryError),
    #[error(transparent)]
    Registry(#[from] suho_registry::RegistryError),
    #[error(transparent)]
    Notify(#[from] suho_notify::NotifyError),
    #[error(transparent)]
    Decode(#[from] suho_decode::MappingError),
    #[error(transparent)]
    Evidence(#[from] suho_evidence::EvidenceError),
    #[error(transparent)]
    Sink(#[from] suho_sink::SinkError),
    #[error(transparent)]
    Follow(#[from] suho_ingest::FollowError),
    #[error(transparent)]
    Sigma(#[from] suho_sigma::SigmaError),
    /// An ingest stopped part-way: `stored` says, per input, what was stored until then (one
    /// line each), for the caller to show before the error.
    #[error("ingesting {input} stopped: {source}")]
    Stopped {
        /// The input it stopped on.
        input: String,
        /// What was stored until then, per input.
        stored: String,
        /// Why it stopped.
        #[source]
        source: Box<AppError>,
    },
    /// A step failed: what was being done, then why.
    #[error("{what}: {source}")]
    During {
        /// The step, e.g. "recovering the ledger before answering".
        what: String,
        /// Why it failed.
        #[source]
        source: Box<AppError>,
    },
}

impl From<suho_durable::Error> for AppError {
    fn from(e: suho_durable::Error) -> AppError {
        AppError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

/// Naming the step a result belongs to.
pub trait During<T> {
    /// On error, say that it happened while doing `what`.
    fn during(self, what: impl Into<String>) -> Result<T, AppError>;
}

impl<T, E: Into<AppError>> During<T> for Result<T, E> {
    fn during(self, what: impl Into<String>) -> Result<T, AppError> {
        self.map_err(|e| AppError::During {
            what: what.into(),
            source: Box::new(e.into()),
        })
    }
}
