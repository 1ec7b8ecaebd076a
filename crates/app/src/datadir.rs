//! Every path of a data directory, in one place.

use std::path::{Path, PathBuf};

use suho_ledger::Layout;

/// File name of the analysts' suppressions in the data directory.
const SUPPRESSIONS_FILE: &str = "suppressions.json";

/// A suho data directory and the name of everything in it. Nothing else in the front ends
/// joins a file name onto the data directory: they ask this.
///
/// The ledger's own files (`wal/`, `ledger/`, `ids/`, `keys/`, `LOCK`) are described by the
/// ledger's [`Layout`] and documented in FORMAT.md.
#[derive(Debug, Clone)]
pub struct DataDir {
    layout: Layout,
}

impl DataDir {
    /// The data directory at `root` (it need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir {
            layout: Layout::new(&root.into()),
        }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.layout.data
    }

    /// The ledger's files.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The configuration file, `suho.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root().join("suho.toml")
    }

    /// The alert and incident store (SQLite).
    pub fn alerts_db(&self) -> PathBuf {
        self.root().join(suho_detect::ALERTS_DB)
    }

    /// The analysts' suppressions (`suppressions.json`), read by detection.
    pub fn suppressions(&self) -> PathBuf {
        self.root().join(SUPPRESSIONS_FILE)
    }

    /// The directory holding the registry's database (`registry.db`).
    pub fn registry_dir(&self) -> &Path {
        self.root()
    }

    /// The registry's database file.
    pub fn registry_db(&self) -> PathBuf {
        self.root().join(suho_registry::REGISTRY_DB_FILE)
    }

    /// The detectors' saved state (`detect/`).
    pub fn detect_dir(&self) -> PathBuf {
        self.root().join("detect")
    }

    /// The Parquet history (`history/`).
    pub fn history_dir(&self) -> PathBuf {
        suho_history::history_dir(&self.layout)
    }

    /// Where sources remember how far they have read (`sources/`).
    pub fn sources_dir(&self) -> PathBuf {
        self.root().join("sources")
    }

    /// Where notices are drafted unless told otherwise (`notices/`).
    pub fn notices_dir(&self) -> PathBuf {
        self.root().join("notices")
    }

    /// Company templates that override the embedded notice templates (`templates/notify/`).
    pub fn notice_templates_dir(&self) -> PathBuf {
        self.root().join("templates").join("notify")
    }

    /// The drafts of one incident's notices (`notices/<incident>/`).
    pub fn incident_notices_dir(&self, incident: &str) -> PathBuf {
        self.notices_dir().join(incident)
    }
}
