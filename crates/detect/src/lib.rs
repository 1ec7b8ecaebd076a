//! Detection for suho: checks every access record, as it is stored, against the registry
//! (who works here, which credentials and signing keys exist and who owns them), where it
//! came from, and what its actor normally does, and raises alerts (contract section 3) that
//! say in one sentence what deviated from what.
//!
//! * [`Features`]: what detection needs of a record, extracted on the parallel ingest
//!   threads.
//! * [`Engine`]: the detectors, run in ledger order on the sequencing thread; event-time
//!   windows, bounded memory, state that survives restarts. Rules are listed in [`Rule`]
//!   and documented in `RULES.md`.
//! * [`AlertStore`]: alerts and incidents in SQLite (`<data>/alerts.db`), and the outbox of
//!   alert events the sinks deliver.
//! * [`GeoDb`], [`DetectConfig`]: the `[geo]` and `[detect]` sections of `suho.toml`.
//!
//! Architecture invariant: this crate knows nothing about the ledger's storage, HTTP or the
//! console; it sees features, record bytes and a registry, and returns alerts.

#![forbid(unsafe_code)]

mod alert;
mod config;
mod engine;
mod features;
mod geo;
mod hash;
mod index;
mod render;
mod sketch;
mod store;
mod suppress;

use std::path::PathBuf;

pub use alert::{Alert, Mark, Rule, Severity};
pub use config::DetectConfig;
pub use engine::{Engine, EngineStats, IdConflict, SavedAt};
pub use features::{Features, SEQ_MAX_STRIDE};
pub use geo::{centroid, GeoDb, Place};
pub use hash::hash_id;
pub use store::{
    AlertFilter, AlertStore, AlertView, DigestEntry, Hidden, Incident, OutboxEvent, OutboxHead,
    OutboxHook, OutboxKind,
};
pub use suppress::{
    Matcher as SuppressionMatcher, Subject as SuppressionSubject, Suppression, SuppressionFile,
    Target,
};

/// File name of the alert store in the data directory.
pub const ALERTS_DB: &str = "alerts.db";
/// File name of the detector state in the data directory.
pub const STATE_FILE: &str = "detect.state";

/// Why detection could not do its job (bad configuration, unreadable files). Records never
/// cause errors: a record that breaks a rule is an alert.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// A file could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What suho was doing.
        what: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// `suho.toml` is not valid or holds a bad value.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The geo database cannot be read.
    #[error("geo database {}{}: {reason}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Geo {
        /// The database file.
        path: PathBuf,
        /// The bad line of a CSV, 1-based.
        line: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The saved detector state is damaged or from another version.
    #[error("detector state {}: {reason}", path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The alert store failed.
    #[error("alert store {}: {reason}", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    /// The ingest pipeline moves features between threads and owns the engine on its
    /// sequencing thread.
    #[test]
    fn engine_and_features_can_move_between_threads() {
        fn send<T: Send + 'static>() {}
        send::<super::Engine>();
        send::<super::Features>();
        send::<super::Alert>();
        fn sync<T: Sync>() {}
        sync::<super::GeoDb>();
    }
}
