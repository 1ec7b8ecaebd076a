//! The ingest pipeline: turns NDJSON bytes into durable ledger entries, one pass per record
//! (parse and validate, hash, deduplicate, sequence, group-commit), and reports a result for
//! every line. It knows nothing of HTTP or async runtimes: the server hands it bodies and a
//! completion callback; the CLI hands it files.
#![forbid(unsafe_code)]

mod array;
mod detection;
mod durable;
mod follow;
mod input;
mod prepare;
mod rejects;
mod service;
pub mod spool;
mod stream;
mod window;

use std::sync::{Arc, OnceLock};

use serde::Serialize;

pub use detection::{Detection, DetectionSetup};
pub use follow::{
    check_followable, follow, follow_inputs, read_status, state_path, status_path, FileProgress,
    FollowError, FollowInput, FollowOptions, FollowProgress, FollowSummary, SourceProgress,
};
pub use input::{open_input, Compression, Input};
pub use rejects::{RejectLog, Source, EXCERPT_BYTES};
pub use service::{IngestService, ServiceOptions};
pub use stream::{ingest_stream, IngestOptions, Progress, StreamError, StreamSummary};
pub use window::{IngestConfig, EPOCH_SECONDS_BELOW_MS};

/// What happened to one input line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LineResult {
    /// Stored at `index` and durable.
    Stored { line: u64, index: u64 },
    /// The same record (same `id`, same content) is already stored, at `index`; nothing new
    /// was written.
    Duplicate { line: u64, index: u64 },
    /// Stored at `index` and durable, but its `id` was already used in its event hour by the
    /// record at `conflicts_with`, whose content differs (an `id_conflict` alert says so).
    Conflict {
        line: u64,
        index: u64,
        conflicts_with: u64,
    },
    /// Not stored; `reason` says why.
    Rejected { line: u64, reason: String },
}

/// The outcome of one submitted batch (an HTTP body).
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    /// Lines stored (conflicts included).
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Of the lines stored, those whose `id` an earlier record with other content carries.
    pub conflicts: u64,
    /// Ledger size once this batch was durable.
    pub ledger_size: u64,
    pub results: Vec<LineResult>,
}

/// Why a whole batch failed (storage trouble, shutdown); per-line problems are `LineResult::Rejected`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The ledger could not make the batch durable.
    #[error("ledger: {0}")]
    Ledger(String),
    /// The input could not be read.
    #[error("reading {source_name}: {error}")]
    Read {
        source_name: String,
        error: std::io::Error,
    },
    /// The reject log could not be written.
    #[error("writing the reject log {}: {error}", path.display())]
    RejectLog {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    /// The detectors or their alert store failed.
    #[error("detection: {0}")]
    Detect(String),
    /// The `[ingest]` section of `suho.toml` is not valid.
    #[error("{}: {reason}", path.display())]
    Config {
        path: std::path::PathBuf,
        reason: String,
    },
    /// The input is compressed in a format suho does not read.
    #[error("{source_name} is compressed with {format}; decompress it first (for example `{tool} -dc {source_name} | suho ingest -`)")]
    Compressed {
        source_name: String,
        format: &'static str,
        tool: &'static str,
    },
    /// The service is shutting down and took no more work.
    #[error("the ingest service has stopped")]
    Stopped,
}

/// Completion callback for a submitted batch; called once, from the writer thread, after the
/// batch is durable (or failed).
pub type Done = Box<dyn FnOnce(Result<BatchReport, IngestError>) + Send + 'static>;

/// One submitted body with where it came from.
pub(crate) struct Submission {
    pub(crate) source: Source,
    pub(crate) body: Vec<u8>,
    pub(crate) done: Done,
}

/// Cheap, cloneable handle to the ingest writer thread.
#[derive(Clone)]
pub struct IngestHandle {
    pub(crate) tx: crossbeam_channel::Sender<Submission>,
    /// Why the writer thread stopped, once it has stopped on an error.
    pub(crate) failure: Arc<OnceLock<String>>,
}

impl IngestHandle {
    /// Why the service stopped taking records, if it stopped on an error (a failed write,
    /// fsync or detector): every batch submitted since has been refused. Health checks report
    /// it, so that a supervisor restarts the process rather than producers retrying forever.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Queue a body from `source`: NDJSON, or a JSON array of records when its first
    /// non-whitespace byte is `[` (element *n* is line *n*; each is stored as its own compact
    /// JSON text). `done` gets one result per non-blank line (or element) once every stored
    /// one is durable; rejected lines go to the reject log under `source`.
    pub fn submit(&self, source: Source, body: Vec<u8>, done: Done) {
        if let Err(e) = self.tx.send(Submission { source, body, done }) {
            (e.into_inner().done)(Err(IngestError::Stopped));
        }
    }
}

impl From<suho_ledger::LedgerError> for IngestError {
    fn from(e: suho_ledger::LedgerError) -> Self {
        IngestError::Ledger(e.to_string())
    }
}
