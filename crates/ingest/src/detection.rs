//! Detection in the same pass as the ledger append: every stored record goes through the
//! detector engine right after it is sequenced, alerts land in the alert store, and the
//! engine's state is saved beside the ledger so it survives restarts. Where those live and how
//! detection is configured comes in a [`DetectionSetup`] (the application layer builds it from
//! its data directory and `suho.toml`).
//!
//! `<data>/detect/state` holds the engine's state together with the ledger size it has seen, in
//! one file written atomically, so a crash can never leave state that already counts records
//! its position says are unseen (a replay would count them twice). On open, records the ledger
//! holds beyond that position (stored by a process that crashed before saving) are replayed
//! through the engine, so no stored record escapes detection; the ledger's id index says
//! which of them were id conflicts, as ingest did. Alert ids are stable, so a replayed alert
//! updates the stored one instead of duplicating it. A state of the previous format kept its
//! position in `<data>/detect/observed`; it is read once and removed at the next save.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::thread::{Scope, ScopedJoinHandle};

use crossbeam_channel::{bounded, Sender};
use suho_detect::{
    Alert, AlertStore, DetectConfig, Engine, Features, IdConflict, SavedAt, Severity,
};
use suho_ledger::{Appended, Entry, Ledger, ENTRY_LEN};

use crate::prepare::{Detecting, PreparedChunk};
use crate::IngestError;

/// Where a detector state of format 1 kept the ledger size it had seen.
const LEGACY_OBSERVED: &str = "observed";

/// The ledger position of a saved state in `dir`.
fn position(dir: &Path, saved: SavedAt) -> u64 {
    match saved {
        SavedAt::Nothing => 0,
        SavedAt::Position(n) => n,
        SavedAt::Unrecorded => fs::read_to_string(dir.join(LEGACY_OBSERVED))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0),
    }
}

/// What detection needs from its surroundings: settings and where its files are.
#[derive(Clone)]
pub struct DetectionSetup {
    /// The `[detect]` settings.
    pub config: DetectConfig,
    /// The geo database of `[geo]`, if any.
    pub geo: Option<suho_detect::GeoDb>,
    /// The directory of the registry's database.
    pub registry_dir: PathBuf,
    /// The alert store (`alerts.db`).
    pub alerts_db: PathBuf,
    /// The directory of the detector state (`detect/`).
    pub state_dir: PathBuf,
    /// The team's Sigma rules (`[detect] sigma_rules`), loaded, if any.
    pub sigma: Option<Arc<suho_sigma::RuleSet>>,
    /// The analysts' suppressions (`suppressions.json`; missing: none).
    pub suppressions: PathBuf,
}

/// What identifies one version of the suppressions file: it is replaced atomically (a new
/// inode) whenever it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some(Stamp {
        ino: m.ino(),
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// The detector engine with its alert store and persisted state.
pub struct Detection {
    engine: Engine,
    /// The registry, kept open to notice another process's load or offboarding.
    registry: suho_registry::RegistryStore,
    registry_version: i64,
    store: AlertStore,
    dir: PathBuf,
    pending: Vec<Alert>,
    observed: u64,
    raised: [u64; 4],
    suppressions: PathBuf,
    suppressions_seen: Option<Stamp>,
    /// The Sigma rules' detection-stage half (correlations, alerts), when rules are loaded.
    sigma: Option<suho_sigma::Stage>,
}

/// Where the Sigma rules' correlation windows and open alerts are saved, beside the state.
const SIGMA_STATE: &str = "sigma.state";

fn err(e: impl std::fmt::Display) -> IngestError {
    IngestError::Detect(e.to_string())
}

impl Detection {
    /// Open detection over `ledger` as `setup` says, then catch up with the records the ledger
    /// holds beyond the saved state.
    pub fn open(ledger: &mut Ledger, setup: DetectionSetup) -> Result<Detection, IngestError> {
        let ledger_size = ledger.size();
        let DetectionSetup {
            config: cfg,
            geo,
            registry_dir,
            alerts_db,
            state_dir: dir,
            suppressions,
            sigma,
        } = setup;
        let offset_ms = {
            let mut c = cfg.clone();
            let _ = c.validate();
            c.offset_ms()
        };
        let registry = suho_registry::RegistryStore::open(&registry_dir).map_err(err)?;
        let registry_version = registry.data_version().map_err(err)?;
        let snapshot = registry.snapshot().map_err(err)?;
        let mut engine = Engine::new(Arc::new(snapshot), geo, cfg);
        fs::create_dir_all(&dir)
            .map_err(|e| IngestError::Detect(format!("{}: {e}", dir.display())))?;
        let observed = position(&dir, engine.load_state(&dir.join("state")).map_err(err)?);
        let sigma = sigma.filter(|r| !r.is_empty()).map(|rules| {
            let mut st = suho_sigma::Stage::new(rules, Arc::clone(engine.registry()), offset_ms);
            // Windows saved at another position than the detector state's are not used: a
            // replay would count its records twice.
            st.load_state(&dir.join(SIGMA_STATE), observed);
            st
        });
        let store = AlertStore::open(&alerts_db).map_err(err)?;
        let mut d = Detection {
            engine,
            registry,
            registry_version,
            store,
            dir,
            pending: Vec::new(),
            observed,
            raised: [0; 4],
            suppressions,
            suppressions_seen: None,
            sigma,
        };
        // Suppressions apply to what is replayed too; a damaged file stops detection from
        // opening rather than letting it raise what analysts meant to hide.
        d.refresh_suppressions()?;
        if observed < ledger_size {
            d.catch_up(ledger, ledger_size)?;
        }
        Ok(d)
    }

    /// How many ledger records the detector state saved in `state_dir` has seen, without
    /// loading it.
    pub fn saved_position(state_dir: &Path) -> Result<u64, IngestError> {
        Ok(position(
            state_dir,
            Engine::saved_position(&state_dir.join("state")).map_err(err)?,
        ))
    }

    fn catch_up(&mut self, ledger: &mut Ledger, ledger_size: u64) -> Result<(), IngestError> {
        tracing::info!(
            from = self.observed,
            to = ledger_size,
            "detectors catch up with records stored before a restart"
        );
        let mut failed = None;
        let mut pre = Vec::new();
        let mut matched = Vec::new();
        let from = self.observed;
        suho_ledger::WalReader::new(&ledger.layout().wal())
            .scan(from, |frame| {
                if frame.index >= ledger_size {
                    return false;
                }
                if let Ok(rec) = suho_record::parse_record(&frame.body) {
                    let f = Features::from_record(&rec);
                    pre.clear();
                    if let Some(rules) = self.sigma.as_ref().map(|s| Arc::clone(s.rules())) {
                        rules.match_record(&rec, &mut matched);
                        pre.extend(matched.drain(..).map(|r| (0, r)));
                    }
                    match ledger.appended_as(frame.index, rec.id.as_deref(), &frame.entry) {
                        Ok(a) => self.observe_appended(a, &frame.entry, &f, &frame.body, &pre),
                        Err(e) => {
                            failed = Some(e.into());
                            return false;
                        }
                    }
                }
                if self.pending.len() >= 10_000 {
                    if let Err(e) = self.flush(frame.index + 1) {
                        failed = Some(e);
                        return false;
                    }
                }
                true
            })
            .map_err(IngestError::from)?;
        if let Some(e) = failed {
            return Err(e);
        }
        self.flush(ledger_size)
    }

    /// What the parse workers do for detection through this handle (`None`: nothing).
    pub(crate) fn detecting(d: Option<&Detection>) -> Detecting {
        Detecting {
            on: d.is_some(),
            sigma: d
                .and_then(|d| d.sigma.as_ref())
                .map(|s| Arc::clone(s.rules()))
                .filter(|r| r.has_worker_rules()),
        }
    }

    /// Check one record as the ledger appended it (`entry` is its entry): a stored record
    /// goes through the detectors, an id conflict too and raises `id_conflict`; a duplicate
    /// was not stored again and is not checked again. `sigma` are the Sigma rules a parse
    /// worker found it to match.
    pub(crate) fn observe_appended(
        &mut self,
        a: Appended,
        entry: &[u8; ENTRY_LEN],
        f: &Features,
        body: &[u8],
        sigma: &[(u32, u32)],
    ) {
        let Some(index) = a.sequenced() else {
            return;
        };
        let before = self.pending.len();
        self.engine.observe(index, f, body, &mut self.pending);
        if let Some(st) = self.sigma.as_mut() {
            st.observe(index, f.actor_hash(), body, sigma, &mut self.pending);
        }
        if let Appended::Conflict {
            conflicts_with,
            conflicts_with_sha256,
            ..
        } = a
        {
            let conflict = IdConflict {
                first: conflicts_with,
                first_sha256: conflicts_with_sha256,
                // A version-1 entry always decodes: this build wrote it.
                sha256: Entry::decode(entry).map_or([0; 32], |e| e.body_sha256),
            };
            self.engine
                .id_conflict(index, f, body, &conflict, &mut self.pending);
        }
        for a in &self.pending[before..] {
            // Routine lows (the digest) and suppressed alerts are stored, not news.
            if a.count <= 1 && !a.is_quiet() {
                self.raised[a.severity.rank() as usize] += 1;
            }
        }
    }

    /// Take a fresh registry snapshot if another process changed the registry (a load, an
    /// offboarding) since the last one, so a running `suho serve` checks the next records
    /// against it. Cheap when nothing changed: one `PRAGMA data_version`.
    pub fn refresh_registry(&mut self) -> Result<(), IngestError> {
        let version = self.registry.data_version().map_err(err)?;
        if version != self.registry_version {
            let snapshot = Arc::new(self.registry.snapshot().map_err(err)?);
            if let Some(st) = self.sigma.as_mut() {
                st.set_registry(Arc::clone(&snapshot));
            }
            self.engine.set_registry(snapshot);
            self.registry_version = version;
            tracing::info!("the registry changed; the detectors now check against the new one");
        }
        Ok(())
    }

    /// Read the analysts' suppressions again if the file changed since the last read (a
    /// `suho suppress add` or `remove` by another process), so a running `suho serve` or
    /// follower applies them from the next records on. Cheap when nothing changed: one `stat`.
    pub fn refresh_suppressions(&mut self) -> Result<(), IngestError> {
        let now = stamp(&self.suppressions);
        if now == self.suppressions_seen {
            return Ok(());
        }
        // A version that cannot be read is reported once, not at every chunk: the next change
        // of the file is read again.
        self.suppressions_seen = now;
        let file = suho_detect::SuppressionFile::load(&self.suppressions).map_err(err)?;
        self.engine
            .set_suppressions(&file.suppressions)
            .map_err(|e| IngestError::Detect(format!("{}: {e}", self.suppressions.display())))?;
        if now.is_some() {
            tracing::info!(
                active = file.suppressions.iter().filter(|s| s.active()).count(),
                "the detectors apply the analysts' suppressions as last saved"
            );
        }
        Ok(())
    }

    /// Store the alerts raised since the last call (cheap: called at every group commit).
    pub fn store_alerts(&mut self) -> Result<(), IngestError> {
        if !self.pending.is_empty() {
            self.store.upsert(&self.pending).map_err(err)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Store pending alerts and save the engine state as having seen `ledger_size` records
    /// (called at checkpoints).
    pub fn flush(&mut self, ledger_size: u64) -> Result<(), IngestError> {
        // Counts held back by the engine's doubling rule, so stored alerts are exact.
        self.engine.flush(&mut self.pending);
        if let Some(st) = self.sigma.as_mut() {
            st.flush(&mut self.pending);
        }
        self.store_alerts()?;
        if ledger_size > self.observed {
            self.engine
                .save_state(&self.dir.join("state"), ledger_size)
                .map_err(err)?;
            if let Some(st) = &self.sigma {
                st.save_state(&self.dir.join(SIGMA_STATE), ledger_size)
                    .map_err(err)?;
            }
            self.observed = ledger_size;
            // The position now lives in the state file; a format-1 leftover would mislead.
            match fs::remove_file(self.dir.join(LEGACY_OBSERVED)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(IngestError::Detect(format!("{}: {e}", self.dir.display())))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// New alerts raised through this handle, by severity (low, medium, high, critical).
    pub fn raised(&self) -> [(Severity, u64); 4] {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .map(|s| (s, self.raised[s.rank() as usize]))
    }

    /// Call `hook` after every commit that stored alerts, and with them outbox events (a sink
    /// dispatcher's wake-up).
    pub fn on_outbox(&mut self, hook: Option<suho_detect::OutboxHook>) {
        self.store.on_outbox(hook);
    }

    /// The alert store.
    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    /// Where the detector state lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Work for the detection stage, in ledger order.
pub(crate) enum ToDetect {
    /// A sequenced chunk and what the ledger did with each of its items.
    Chunk(PreparedChunk, Vec<Option<Appended>>),
    /// A group commit happened: store the alerts raised so far.
    StoreAlerts,
    /// The first this many records, all sent before, are durable (a checkpoint of this size
    /// is being published): save the state as having seen them.
    Flush(u64),
}

/// Chunks the stage may hold before the sequencer waits for it (bounds memory).
const STAGE_QUEUE: usize = 8;

/// The detectors on their own thread, behind the sequencer: the single sequencing thread then
/// does only what must be serial in the ledger, and the detectors see every stored record in
/// ledger order, as before. Saved state never runs ahead of the ledger: a flush names a
/// durable size and arrives right after the chunks it covers.
pub(crate) struct Stage<'scope> {
    /// What the parse workers do for the detectors behind this stage.
    pub(crate) detecting: Detecting,
    tx: Option<Sender<ToDetect>>,
    thread: Option<ScopedJoinHandle<'scope, Result<(), IngestError>>>,
}

impl<'scope> Stage<'scope> {
    /// Start the stage for `d` inside the scope `s`.
    pub(crate) fn spawn<'env>(
        s: &'scope Scope<'scope, 'env>,
        d: &'scope mut Detection,
    ) -> Stage<'scope> {
        let (tx, rx) = bounded::<ToDetect>(STAGE_QUEUE);
        let detecting = Detection::detecting(Some(d));
        let thread = s.spawn(move || {
            for m in rx {
                match m {
                    ToDetect::Chunk(chunk, results) => {
                        // A load or an offboarding by another process applies from the next
                        // chunk on; if the registry cannot be read, the last snapshot stays.
                        if let Err(e) = d.refresh_registry() {
                            tracing::error!(error = %e, "could not re-read the registry; will retry");
                        }
                        // Likewise a suppression added or removed; a file that cannot be read
                        // leaves the last good list in force.
                        if let Err(e) = d.refresh_suppressions() {
                            tracing::error!(error = %e, "could not re-read the suppressions; the last good ones stay in force until the file changes");
                        }
                        chunk.observe(d, &results)
                    }
                    // Alerts that fail to store stay pending; the next flush retries them
                    // and fails the stage if storing still fails.
                    ToDetect::StoreAlerts => {
                        if let Err(e) = d.store_alerts() {
                            tracing::error!(error = %e, "could not store alerts; will retry");
                        }
                    }
                    ToDetect::Flush(size) => d.flush(size)?,
                }
            }
            Ok(())
        });
        Stage {
            detecting,
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Hand `m` to the stage; an error is the stage's own failure.
    pub(crate) fn send(&mut self, m: ToDetect) -> Result<(), IngestError> {
        let sent = self.tx.as_ref().map(|tx| tx.send(m).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        // The stage ended early: only an error ends it.
        self.finish()?;
        Err(IngestError::Detect("the detection stage stopped".into()))
    }

    /// Let the stage finish what it holds, and report how it ended.
    pub(crate) fn finish(&mut self) -> Result<(), IngestError> {
        self.tx = None;
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(IngestError::Detect("the detection thread panicked".into()))
            }),
            None => Ok(()),
        }
    }
}
