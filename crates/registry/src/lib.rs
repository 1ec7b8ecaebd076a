//! The registry: who works here, which credentials and signing keys exist and who owns them,
//! with the full history of every grant, change and revocation (PIPA safety standard
//! Art. 5(3)). Detection reads it as it stood at each record's event time.
#![forbid(unsafe_code)]

mod model;
mod snapshot;
mod store;

use std::path::PathBuf;

pub use model::{
    parse_registry_line, Credential, CredentialKind, Issuance, KeyStatus, Millis, Principal,
    PrincipalKind, PrincipalStatus, RegistryRecord, SigningKey, Validity,
};
pub use snapshot::Registry;
pub use store::{
    ChangeKind, HistoryFilter, HistoryRow, LoadReport, OffboardReport, Orphan, OwnerStatus,
    RegistryStore, REGISTRY_DB_FILE,
};

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A registry line is not a valid record, or a request names something that cannot exist.
    #[error("{0}")]
    Invalid(String),
    /// The registry database could not be opened, read or written.
    #[error("registry database {}: {op}: {source}", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        op: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// A file or directory of the store could not be created.
    #[error("{}: cannot {op}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Reading the registry input failed; nothing from it was loaded.
    #[error("reading {source_name} after line {after_line}: {source}; nothing was loaded")]
    Read {
        /// The input's name, as given to the load.
        source_name: String,
        /// The last line read before the failure.
        after_line: u64,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The database cannot be used as it is (for example, SQLite refuses WAL mode there).
    #[error("registry database {}: {detail}", path.display())]
    Unusable {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The database was written by a newer suho.
    #[error(
        "registry database {}: schema version {found} is newer than this suho supports ({supported}); upgrade suho",
        path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Newest version this build reads.
        supported: i64,
    },
    /// An operation named a principal the registry does not hold.
    #[error("no principal {id:?} in the registry: load it before offboarding it")]
    UnknownPrincipal {
        /// The id given.
        id: String,
    },
}
