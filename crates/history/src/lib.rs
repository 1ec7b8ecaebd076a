//! The queryable history of the ledger: every stored access record, copied from the ledger's
//! write-ahead log into Parquet files partitioned by event day, so that "which customers did this
//! credential touch?" is answered exactly, in seconds, and so that other Parquet readers (the
//! scope benchmark uses DuckDB) can read the same files.
//!
//! The history is derived data, never written on the ingest hot path: [`History::sync`] catches
//! up from the last indexed ledger index to the newest signed checkpoint. Files live under
//! `<data>/history/date=YYYY-MM-DD/part-<first ledger index>.parquet`, one row per record with
//! its `ledger_index`, sorted by it. [`History::prune`] applies the retention period by whole
//! day partitions. [`scope`] summarises what a selection of records touched (contract
//! section 5) with exact counts, pruning row groups and pages by their statistics and bloom
//! filters and decoding the other columns only for the rows that match.
//!
//! Architecture invariant: this crate reads the ledger's files but never writes them, and it
//! knows nothing of HTTP, the console or the detectors; the CLI records prunings and scope runs
//! in the ledger.
#![deny(unsafe_code)]

mod agg;
mod day;
mod filter;
mod prune;
mod schema;
mod scope;
mod sql;
mod subjects;
mod sync;
mod writer;

use std::io;
use std::path::{Path, PathBuf};

pub use day::{date_of_day, day_of_ms, parse_date};
pub use prune::{PruneReport, PrunedPartition};
pub use schema::{history_schema, COLUMNS};
pub use scope::{
    scope, scope_subjects, CountryLookup, Involved, ScanStats, ScopeOptions, ScopeSummary, Selector,
};
pub use sql::{
    sql_query, SqlError, SqlQuery, SqlResult, SqlSession, SqlStats, SqlValue, SQL_TABLES_HELP,
};
pub use subjects::{OutFormat, SubjectAccess, SubjectList};
pub use sync::{SyncOptions, SyncProgress, SyncReport};
pub use writer::{HistoryWriter, WriterOptions, WrittenFile};

use suho_ledger::Layout;

/// PIPA retention by default: one year (Safety Measures Standard Art. 8).
pub const DEFAULT_KEEP_DAYS: u32 = 365;
/// PIPA retention for systems that process personal information of 50,000 or more subjects,
/// or unique identifiers or sensitive information: two years (Safety Measures Standard Art. 8).
pub const LARGE_SYSTEM_KEEP_DAYS: u32 = 730;

/// Errors of the history.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A history file does not hold what it must.
    #[error("{}: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Parquet encoding or decoding failed.
    #[error("{}: parquet: {source}", path.display())]
    Parquet {
        /// The file being written or read.
        path: PathBuf,
        /// The Parquet library's error.
        source: parquet::errors::ParquetError,
    },
    /// Building an in-memory column failed.
    #[error("{}: arrow: {source}", path.display())]
    Arrow {
        /// The file the columns were for.
        path: PathBuf,
        /// The Arrow library's error.
        source: arrow_schema::ArrowError,
    },
    /// The ledger could not be read.
    #[error("ledger: {0}")]
    Ledger(#[from] suho_ledger::LedgerError),
    /// Another process is syncing or pruning the history.
    #[error("the history in {} is being synced or pruned by another process; try again when it is done", path.display())]
    Busy {
        /// The history directory.
        path: PathBuf,
    },
    /// A caller broke a rule of the API (rows out of ledger order, a bad option).
    #[error("{0}")]
    Invalid(String),
}

/// The history directory inside a data directory: `<data>/history`.
pub fn history_dir(layout: &Layout) -> PathBuf {
    layout.data.join("history")
}

/// Entry points of the history (sync, retention); scoping is [`scope`].
#[derive(Debug, Clone, Copy)]
pub struct History;

impl History {
    /// Catch the history up with the ledger: index every record from the last indexed ledger
    /// index up to the newest signed checkpoint, as new Parquet files. Idempotent and
    /// crash-safe: files appear by atomic rename, the state moves on only after they are
    /// durable, and the leftovers of an interrupted sync are removed first. `progress` is
    /// called every 100,000 records and at the end.
    pub fn sync(
        layout: &Layout,
        progress: impl FnMut(&SyncProgress),
    ) -> Result<SyncReport, HistoryError> {
        sync::sync(layout, &SyncOptions::default(), progress)
    }

    /// [`History::sync`] with options (an explicit upper bound, file sizes).
    pub fn sync_with(
        layout: &Layout,
        opts: &SyncOptions,
        progress: impl FnMut(&SyncProgress),
    ) -> Result<SyncReport, HistoryError> {
        sync::sync(layout, opts, progress)
    }

    /// Delete the day partitions older than `keep_days` days before the day of `now_ms` (UTC)
    /// and say what was deleted, so the caller can record the pruning in the ledger. The
    /// ledger itself is untouched and stays verifiable.
    pub fn prune(
        layout: &Layout,
        keep_days: u32,
        now_ms: i64,
    ) -> Result<PruneReport, HistoryError> {
        prune::prune(layout, keep_days, now_ms, false)
    }

    /// What [`History::prune`] would delete, deleting nothing.
    pub fn prune_preview(
        layout: &Layout,
        keep_days: u32,
        now_ms: i64,
    ) -> Result<PruneReport, HistoryError> {
        prune::prune(layout, keep_days, now_ms, true)
    }

    /// The next ledger index the history will index (every record below it is indexed, unless
    /// pruned).
    pub fn indexed_through(layout: &Layout) -> Result<u64, HistoryError> {
        Ok(sync::read_state(&history_dir(layout))?.next_index)
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> HistoryError + '_ {
    move |source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn pq_err(
    path: &Path,
) -> impl FnOnce(parquet::errors::ParquetError) -> HistoryError + '_ {
    move |source| HistoryError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn arrow_err(path: &Path) -> impl FnOnce(arrow_schema::ArrowError) -> HistoryError + '_ {
    move |source| HistoryError::Arrow {
        path: path.to_path_buf(),
        source,
    }
}
