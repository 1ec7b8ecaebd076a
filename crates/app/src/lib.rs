//! suho's application layer: the one library the command line, `suho serve` and the console
//! call. It owns the data directory's paths ([`DataDir`]), the configuration ([`Config`], one
//! parse of `suho.toml`), and the policies every front end must share: recovery before an
//! answer called exact ([`recovery`]), the recording of suho's own use of personal data in the
//! ledger ([`own_use`]), ingesting files through a decoder with detection ([`ingest`]), and an
//! incident's scope and the retention of the history ([`scope`], [`retention`]).
//!
//! Front ends parse arguments and print; they do not join file names onto the data directory,
//! read `suho.toml`, or decide policy.
//!
//! **Architecture invariant:** this crate knows nothing about clap, HTTP or terminals. Progress
//! is reported through callbacks, results as values.
#![forbid(unsafe_code)]

mod config;
mod datadir;
mod error;
pub mod evidence;
pub mod follow;
pub mod ingest;
pub mod notify;
pub mod own_use;
pub mod recovery;
pub mod registry;
pub mod retention;
pub mod scope;
pub mod sinks;
pub mod sources;
pub mod suppress;

use std::sync::OnceLock;

pub use config::{Config, SourceConfig, SECTIONS};
pub use datadir::DataDir;
pub use error::{AppError, During};

use suho_ingest::{Detection, DetectionSetup};
use suho_ledger::{Ledger, Options};

/// One data directory with its configuration, read once and only when first needed (so that
/// commands that need no configuration, like `verify`, work beside a broken `suho.toml`).
#[derive(Debug)]
pub struct App {
    dir: DataDir,
    config: OnceLock<Config>,
}

impl App {
    /// The application over the data directory at `root`.
    pub fn new(root: impl Into<std::path::PathBuf>) -> App {
        App {
            dir: DataDir::new(root),
            config: OnceLock::new(),
        }
    }

    /// Its data directory.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// Its configuration (`suho.toml`), parsed at the first call.
    pub fn config(&self) -> Result<&Config, AppError> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let c = Config::load(&self.dir)?;
        Ok(self.config.get_or_init(|| c))
    }

    /// Opens the ledger for writing (one writer per data directory).
    pub fn open_ledger(&self) -> Result<Ledger, AppError> {
        Ok(Ledger::open(self.dir.root(), Options::default())?)
    }

    /// The team's Sigma rules (`[detect] sigma_rules`), loaded; `None` when not configured.
    /// A bad rule file is an error naming the file.
    pub fn sigma_rules(&self) -> Result<Option<suho_sigma::RuleSet>, AppError> {
        match self.config()?.detect.sigma_dir(self.dir.root()) {
            Some(dir) => Ok(Some(suho_sigma::RuleSet::load_dir(&dir)?)),
            None => Ok(None),
        }
    }

    /// Where detection finds its settings, registry, alert store, state and Sigma rules.
    pub fn detection_setup(&self) -> Result<DetectionSetup, AppError> {
        let c = self.config()?;
        let sigma = self.sigma_rules()?.map(std::sync::Arc::new);
        Ok(DetectionSetup {
            config: c.detect.clone(),
            geo: c.geo.clone(),
            registry_dir: self.dir.registry_dir().to_path_buf(),
            alerts_db: self.dir.alerts_db(),
            state_dir: self.dir.detect_dir(),
            suppressions: self.dir.suppressions(),
            sigma,
        })
    }

    /// Opens detection over `ledger` (catching up with what the ledger holds), unless
    /// `SUHO_NO_DETECT` is set (benchmarks of the ledger alone).
    pub fn open_detection(&self, ledger: &mut Ledger) -> Result<Option<Detection>, AppError> {
        if std::env::var_os("SUHO_NO_DETECT").is_some() {
            return Ok(None);
        }
        Ok(Some(Detection::open(ledger, self.detection_setup()?)?))
    }

    /// How often a long ingest or a follower publishes a signed checkpoint:
    /// `SUHO_CHECKPOINT_EVERY_SECS` when set, else the pipeline's default.
    pub fn checkpoint_every(&self) -> Option<std::time::Duration> {
        std::env::var("SUHO_CHECKPOINT_EVERY_SECS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(std::time::Duration::from_secs)
    }

    /// The alert and incident store.
    pub fn alerts(&self) -> Result<suho_detect::AlertStore, AppError> {
        Ok(suho_detect::AlertStore::open(&self.dir.alerts_db())?)
    }

    /// The registry.
    pub fn registry(&self) -> Result<suho_registry::RegistryStore, AppError> {
        Ok(suho_registry::RegistryStore::open(self.dir.registry_dir())?)
    }
}
