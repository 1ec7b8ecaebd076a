//! The access ledger: an append-only, crash-safe Merkle log of access records that an insider
//! cannot quietly rewrite and an auditor can verify offline.
//!
//! Records are framed into a write-ahead log (`wal/`) and acknowledged once fsynced (group
//! commit). Each record's 53-byte [`Entry`] (times, length, SHA-256 of the body, no personal
//! data) is a leaf of an RFC 6962 tree, stored as C2SP tlog-tiles under `ledger/` with a
//! C2SP signed checkpoint, so a static file server can publish it. The ledger knows nothing of
//! HTTP, async runtimes or record semantics beyond an event time and an optional id: a record
//! repeated under its id is stored once, another record under a used id is stored as a
//! conflict ([`Appended`]).
#![forbid(unsafe_code)]

mod dedup;
mod entry;
pub mod fault;
mod keys;
mod proofs;
mod prune;
mod seal;
mod tilepath;
mod tiles;
mod verify;
mod wal;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use suho_merkle::{CompactRange, Hash};
use suho_note::{Checkpoint, Signer};

pub use dedup::IdKey;
pub use entry::{Entry, ENTRY_LEN, ENTRY_VERSION};
pub use keys::{load_or_create_signer, load_signer, load_verifier};
pub use proofs::{
    consistency_proof_file, inclusion_proof_file, verify_consistency_file, verify_proof_file,
    ProofCheck,
};
pub use prune::{read_mark, PruneMark, PrunePlan};
pub use seal::{read_signed, Resealed, SealProblem, SignedState};
pub use tilepath::{bundle_path, tile_path, TILE_WIDTH};
pub use tiles::{tile_width, TileReader};
pub use verify::{verify, VerifyProblem, VerifyReport};
pub use wal::{BatchBlocks, BlockBuilder, EncodedBlock, Frame, WalReader, BLOCK_TARGET_RAW};

/// Errors of the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// A file of the ledger does not hold what it must.
    #[error("{}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// Another process holds the data directory.
    #[error("the data directory {} is in use by another suho process ({holder}); send records to that process or stop it first", path.display())]
    Locked { path: PathBuf, holder: String },
    /// The requested index is not in the ledger.
    #[error("no record at index {index}")]
    NotFound { index: u64 },
    /// A signed note, key or proof file is malformed or does not verify.
    #[error(transparent)]
    Note(#[from] suho_note::NoteError),
    /// A Merkle proof could not be built or does not verify.
    #[error("{0}")]
    Proof(String),
    /// The ledger is not as its key left it (checkpoint or key gone, checkpoint rolled back or
    /// of another history): no writer opens it until an operator reseals it.
    #[error("{0}. No writer opens this ledger until an operator has looked (`suho verify` names anything else that is wrong) and runs `suho ledger reseal --reason \"...\"`, which re-signs what the write-ahead log holds and records that decision in the ledger")]
    Refused(SealProblem),
    /// A record handed to the ledger is not a valid access record.
    #[error("not a valid access record: {0}")]
    InvalidRecord(String),
}

/// Tuning knobs of a ledger.
#[derive(Debug, Clone)]
pub struct Options {
    /// Records whose ids stay in memory (about 60 bytes each: id and body fingerprints, index)
    /// before least recently used event hours are dropped; a dropped hour is read back from
    /// `ids/` when a record of it arrives. This bounds the ledger's memory whatever its size.
    pub dedup_budget: usize,
    /// Size at which a write-ahead-log segment is closed and a new one begun (the unit of
    /// retention pruning).
    pub segment_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dedup_budget: 1_000_000,
            segment_bytes: wal::SEGMENT_BYTES,
        }
    }
}

/// A record ready to be sequenced: everything that can be computed off the writer thread.
pub struct Prepared<'a> {
    /// The record exactly as the producer sent it.
    pub body: &'a [u8],
    /// Its event time.
    pub event_time_ms: i64,
    /// When it was prepared (its sequenced time; the same for a whole block).
    pub sequenced_ms: i64,
    /// Its encoded entry.
    pub entry: [u8; ENTRY_LEN],
    /// RFC 6962 leaf hash of `entry`.
    pub leaf: Hash,
    /// Where its producer id is filed, when it has one.
    pub id: Option<IdKey>,
}

impl<'a> Prepared<'a> {
    /// Prepare `body` (event time `event_time_ms`, producer id `id`), sequenced at `now_ms`.
    pub fn new(body: &'a [u8], event_time_ms: i64, id: Option<&str>, now_ms: i64) -> Prepared<'a> {
        let entry = Entry::for_body(body, event_time_ms, now_ms).encode();
        Prepared {
            body,
            event_time_ms,
            sequenced_ms: now_ms,
            leaf: suho_merkle::leaf_hash(&entry),
            entry,
            id: id.map(|i| IdKey::new(i, event_time_ms)),
        }
    }
}

/// What [`Ledger::append`] did with a record.
///
/// A record's producer id, within its event hour, names one record: a retry is that record
/// again, byte for byte. So the same id with the same body is a duplicate of the stored
/// record, and the same id with another body is a conflict: stored all the same (dropping it
/// would let anyone who can predict ids suppress records in advance), and said. A retry of
/// any stored version of an id is a duplicate of that version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Sequenced at this index (durable after the next [`Ledger::sync`]).
    Stored(u64),
    /// The same record (same id, same body) is already at this index; nothing was written.
    Duplicate(u64),
    /// Sequenced at `index` like [`Appended::Stored`], but its id was already used in its
    /// event hour by a record with another body: the first such record is at
    /// `conflicts_with`, and its body's SHA-256 begins with `conflicts_with_sha256`.
    Conflict {
        index: u64,
        conflicts_with: u64,
        conflicts_with_sha256: [u8; 16],
    },
}

impl Appended {
    /// Where the record is: the index it was sequenced at, or its stored duplicate's.
    pub fn index(&self) -> u64 {
        match *self {
            Appended::Stored(i) | Appended::Duplicate(i) | Appended::Conflict { index: i, .. } => i,
        }
    }

    /// The index it was sequenced at; `None` for a duplicate, which was not.
    pub fn sequenced(&self) -> Option<u64> {
        match *self {
            Appended::Stored(i) | Appended::Conflict { index: i, .. } => Some(i),
            Appended::Duplicate(_) => None,
        }
    }

    fn filed(index: u64, filed: dedup::Filed) -> Appended {
        match filed {
            dedup::Filed::New => Appended::Stored(index),
            dedup::Filed::Duplicate(existing) => Appended::Duplicate(existing),
            dedup::Filed::Conflict { first, first_body } => Appended::Conflict {
                index,
                conflicts_with: first,
                conflicts_with_sha256: first_body.to_be_bytes(),
            },
        }
    }
}

/// A group commit whose fsync has not run yet (see [`Ledger::begin_sync`]).
pub struct PendingSync {
    size: u64,
    segments: wal::SegmentSync,
    data: PathBuf,
}

impl PendingSync {
    /// Make the records durable; returns how many records the ledger then durably holds.
    pub fn wait(self) -> Result<u64, LedgerError> {
        self.segments.wait()?;
        Ok(self.size)
    }

    /// [`PendingSync::wait`], then write back every file of the data directory (tiles,
    /// bundles, id rows) with one `syncfs`. Nothing depends on that for correctness (the next
    /// checkpoint syncs again); it spreads the tiles' writeback over the run, where it
    /// otherwise piles up in front of the next checkpoint, which waits for all of it.
    pub fn wait_all(self) -> Result<u64, LedgerError> {
        let data = self.data.clone();
        let size = self.wait()?;
        if let Err(e) = syncfs(&data) {
            // Writeback only: the checkpoint's own syncfs is what durability relies on.
            tracing::warn!(error = %e, "early writeback of the tiles failed");
        }
        Ok(size)
    }
}

/// `syncfs(2)` on the filesystem holding `dir`.
fn syncfs(dir: &Path) -> Result<(), LedgerError> {
    let io = |source| LedgerError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let f = File::open(dir).map_err(io)?;
    rustix::fs::syncfs(&f).map_err(|e| io(e.into()))
}

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The data directory.
    pub data: PathBuf,
}

impl Layout {
    /// Layout of `data`.
    pub fn new(data: &Path) -> Layout {
        Layout {
            data: data.to_path_buf(),
        }
    }
    /// Public part: checkpoint and tiles (hashes and entries only).
    pub fn ledger(&self) -> PathBuf {
        self.data.join("ledger")
    }
    /// The signed checkpoint.
    pub fn checkpoint(&self) -> PathBuf {
        self.ledger().join("checkpoint")
    }
    /// Private part: the write-ahead log with the records.
    pub fn wal(&self) -> PathBuf {
        self.data.join("wal")
    }
    /// The id index.
    pub fn ids(&self) -> PathBuf {
        self.data.join("ids")
    }
    /// The signing key (0600) and the verifier key.
    pub fn keys(&self) -> PathBuf {
        self.data.join("keys")
    }
    /// The signer state: the newest checkpoint the key published.
    pub fn signed(&self) -> PathBuf {
        self.keys().join("ledger.signed")
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The single writer of a ledger. Holds an exclusive lock on the data directory.
pub struct Ledger {
    layout: Layout,
    wal: wal::WalWriter,
    tree: CompactRange,
    tiles: tiles::TileWriter,
    dedup: dedup::Dedup,
    signer: Signer,
    checkpoint_size: u64,
    durable_size: u64,
    /// A reseal in progress: nothing is signed until the record of it is in the log.
    holding: bool,
    _lock: File,
}

/// What [`Ledger::open_as`] opened: a ledger, and the report of a reseal still to be recorded
/// (its checkpoints held until then).
struct Opened {
    ledger: Ledger,
    resealing: Option<Resealed>,
}

impl Ledger {
    /// Open (creating on first use) the ledger in `data`, recovering from a crash: a torn tail
    /// of the write-ahead log is cut off and records past the last checkpoint are re-integrated.
    ///
    /// A ledger that is not as its key left it is refused ([`LedgerError::Refused`]): records
    /// or tiles without a checkpoint, a checkpoint older than the newest one the key signed or
    /// with another root at that size, records without the signer state, a missing key. Only
    /// [`Ledger::reseal`] opens those. Nothing on disk is changed before that decision.
    pub fn open(data: &Path, opts: Options) -> Result<Ledger, LedgerError> {
        Ok(Ledger::open_as(data, opts, false)?.ledger)
    }

    /// Open the ledger in `data` past the refusals of [`Ledger::open`], as an operator decided:
    /// keep the newest checkpoint that verifies (none: rebuild the tree from the first record
    /// of the write-ahead log), re-integrate every record the write-ahead log holds past it,
    /// make a new key when the key is lost, and append the record `record` makes of the
    /// decision before anything is signed, so no checkpoint of the resealed ledger lacks it.
    /// When nothing is refused, this is [`Ledger::open`]: `record` is not called and
    /// [`Resealed::overridden`] is empty.
    pub fn reseal<E: From<LedgerError>>(
        data: &Path,
        opts: Options,
        record: impl FnOnce(&Resealed) -> Result<Vec<u8>, E>,
    ) -> Result<(Ledger, Resealed), E> {
        let opened = Ledger::open_as(data, opts, true)?;
        let mut ledger = opened.ledger;
        let Some(mut report) = opened.resealing else {
            let report = Resealed {
                overridden: Vec::new(),
                signed_before: None,
                kept_checkpoint: None,
                root_at_signed_size: None,
                previous_key: None,
                new_key: None,
                log_size: ledger.size(),
                record: None,
            };
            return Ok((ledger, report));
        };
        let body = record(&report)?;
        let rec = suho_record::parse_record(&body)
            .map_err(|e| LedgerError::InvalidRecord(e.to_string()))?;
        let p = Prepared::new(&body, rec.time_ms, rec.id.as_deref(), now_ms());
        let index = ledger.append(&p)?.index();
        ledger.sync()?;
        if report.new_key.is_some() {
            keys::save_signer(&ledger.layout.keys(), &ledger.signer)?;
        }
        ledger.holding = false;
        ledger.checkpoint()?;
        report.record = Some(index);
        Ok((ledger, report))
    }

    fn open_as(data: &Path, opts: Options, reseal: bool) -> Result<Opened, LedgerError> {
        let layout = Layout::new(data);
        for d in [layout.data.clone(), layout.ledger(), layout.wal()] {
            fs::create_dir_all(&d).map_err(|source| LedgerError::Io {
                path: d.clone(),
                source,
            })?;
        }
        let lock = lock_dir(&layout.data)?;

        // Everything a writer may refuse is looked at before anything on disk changes.
        let mut problems = Vec::new();
        let signed = seal::read_signed(&layout)?;
        let mut previous_key = None;
        let mut new_key = false;
        let signer = match load_or_create_signer(&layout) {
            Ok(s) => s,
            Err(LedgerError::Refused(p)) if reseal => {
                problems.push(p);
                // Saved only once the record of the reseal is in the log.
                previous_key = keys::load_verifier(&layout.keys()).ok();
                new_key = true;
                keys::new_signer()?
            }
            Err(e) => return Err(e),
        };
        let key_changed = match &signed {
            Some(s) if !new_key && s.origin != signer.name() => {
                let p = SealProblem::KeyChanged {
                    signed_by: s.origin.clone(),
                    key: signer.name().to_string(),
                };
                if !reseal {
                    return Err(LedgerError::Refused(p));
                }
                problems.push(p);
                true
            }
            _ => false,
        };

        // The checkpoint, verified with the key that signed it: the signer, or for a lost key
        // its public half when that is still there. A checkpoint no key at hand verifies is
        // not kept by a reseal.
        let trusted = if new_key {
            previous_key.clone()
        } else if key_changed {
            None
        } else {
            Some(signer.verifier())
        };
        let text = match fs::read_to_string(layout.checkpoint()) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(LedgerError::Io {
                    path: layout.checkpoint(),
                    source,
                })
            }
        };
        let checkpoint = match (&text, trusted) {
            (Some(text), Some(v)) => {
                let opened = suho_note::open(text, &[v])
                    .map_err(LedgerError::from)
                    .and_then(|note| Ok(Checkpoint::parse(&note.body)?));
                match opened {
                    Ok(cp) => Some(cp),
                    // The reseal keeps the newest checkpoint that verifies: none here, so the
                    // tree is rebuilt from the first record, and the record says why.
                    Err(e) if reseal => {
                        problems.push(SealProblem::CheckpointUnverified {
                            detail: e.to_string(),
                        });
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        if text.is_none() || checkpoint.is_some() {
            problems.extend(seal::problems(
                &layout,
                checkpoint.as_ref(),
                signed.as_ref(),
            )?);
        }
        let (checkpoint_size, checkpoint_root) = checkpoint
            .as_ref()
            .map_or((0, suho_merkle::empty_root()), |c| (c.size, c.root));
        let reader = TileReader::new(&layout.ledger());
        // A signer state behind the checkpoint (a crash between the two): the checkpoint
        // must extend what the state says was signed.
        if let Some(s) = signed.as_ref().filter(|s| s.size < checkpoint_size) {
            problems.extend(seal::diverged(s, root_at(&reader, s.size)?));
        }
        if !reseal && !problems.is_empty() {
            return Err(LedgerError::Refused(problems.remove(0)));
        }
        let resealing = !problems.is_empty();
        if resealing {
            if let Some(m) = prune::read_mark(&layout)?.filter(|m| m.min_index > checkpoint_size) {
                return Err(LedgerError::Corrupt {
                    path: layout.wal().join("PRUNED"),
                    detail: format!("the records below index {} were pruned, so the tree cannot be rebuilt from the write-ahead log without a checkpoint at or past that index to start from (the kept one covers {checkpoint_size}); restore ledger/ from a backup (and keys/ledger.vkey, the public key, when the key was lost) and reseal again", m.min_index),
                });
            }
        }

        let tree = rebuild_range(&reader, checkpoint_size)?;
        if tree.root() != checkpoint_root {
            return Err(LedgerError::Corrupt {
                path: layout.ledger(),
                detail: format!("the tiles do not rebuild the root of the checkpoint (size {checkpoint_size}); run `suho verify`"),
            });
        }
        let tiles = tiles::TileWriter::resume(&layout.ledger(), checkpoint_size)?;
        let dedup = dedup::Dedup::open(
            &layout.ids(),
            opts.dedup_budget,
            TileReader::new(&layout.ledger()),
            checkpoint_size,
        )?;

        let wal_dir = layout.wal();
        let mut replay: Vec<(u64, [u8; ENTRY_LEN], Option<IdKey>)> = Vec::new();
        let mut writer = wal::recover(&wal_dir, checkpoint_size, |frame| {
            let id = Entry::decode(&frame.entry).and_then(|e| {
                suho_record::parse_record(&frame.body)
                    .ok()
                    .and_then(|r| r.id.map(|id| IdKey::new(&id, e.event_time_ms)))
            });
            replay.push((frame.index, frame.entry, id));
            Ok(())
        })?;
        writer.segment_bytes = opts.segment_bytes.max(1 << 16);
        if resealing {
            // Tiles past the kept checkpoint may be of another history: they go, and the
            // records the write-ahead log holds write them again.
            let bound = signed
                .as_ref()
                .map_or(0, |s| s.size)
                .max(writer.size())
                .max(checkpoint_size);
            tiles::remove_past(&layout.ledger(), checkpoint_size, bound)?;
        }
        // The rebuilt log's root at the size the signer signed, for the record of a reseal.
        let want = signed.as_ref().map(|s| s.size).filter(|_| resealing);
        let mut root_at_signed = match want {
            Some(w) if w < checkpoint_size => Some(root_at(&reader, w)?),
            Some(w) if w == checkpoint_size => Some(tree.root()),
            _ => None,
        };
        let mut ledger = Ledger {
            wal: writer,
            layout,
            tree,
            tiles,
            dedup,
            signer,
            checkpoint_size,
            durable_size: checkpoint_size,
            holding: resealing,
            _lock: lock,
        };
        let recovered = replay.len();
        for (index, entry, id) in replay {
            ledger.integrate(index, &entry, &suho_merkle::leaf_hash(&entry))?;
            if let Some(key) = id {
                let body = dedup::body_fingerprint(&entry);
                ledger.dedup.check_and_insert(key, body, index)?;
            }
            if want == Some(ledger.tree.size()) {
                root_at_signed = Some(ledger.tree.root());
            }
        }
        ledger.durable_size = ledger.wal.size();
        if recovered > 0 {
            tracing::info!(
                recovered,
                size = ledger.durable_size,
                "re-integrated records sequenced after the last checkpoint"
            );
        }
        if resealing {
            let resealing = Resealed {
                overridden: problems,
                signed_before: signed,
                kept_checkpoint: checkpoint.map(|c| (c.size, c.root)),
                root_at_signed_size: root_at_signed,
                previous_key: previous_key.map(|k| k.to_string()),
                new_key: new_key.then(|| ledger.signer.verifier().to_string()),
                log_size: ledger.size(),
                record: None,
            };
            return Ok(Opened {
                ledger,
                resealing: Some(resealing),
            });
        }
        if recovered > 0 || text.is_none() {
            ledger.checkpoint()?;
        } else {
            // The signer state catches up with the checkpoint: after a crash between the two,
            // or for a ledger made before suho kept it (an empty one; see seal::problems).
            let current = SignedState {
                origin: ledger.signer.name().to_string(),
                size: checkpoint_size,
                root: checkpoint_root,
            };
            if signed.as_ref() != Some(&current) {
                seal::write_signed(&ledger.layout, &current)?;
            }
        }
        Ok(Opened {
            ledger,
            resealing: None,
        })
    }

    /// Number of records sequenced (durable or not).
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Number of records that are durable (acknowledgeable).
    pub fn durable_size(&self) -> u64 {
        self.durable_size
    }

    /// Size of the newest signed checkpoint.
    pub fn checkpoint_size(&self) -> u64 {
        self.checkpoint_size
    }

    /// The directory layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The checkpoint signer's verifier key (C2SP signed-note verifier key form).
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().to_string()
    }

    /// Sequence one prepared record (see [`Ledger::append_batch`]).
    pub fn append(&mut self, p: &Prepared<'_>) -> Result<Appended, LedgerError> {
        let mut out = self.append_batch(std::slice::from_ref(p), Vec::new())?;
        out.pop()
            .ok_or_else(|| LedgerError::Proof("append_batch returned nothing".into()))
    }

    /// Sequence prepared records in order: deduplicate by id (see [`Appended`]), append them to the write-ahead
    /// log in blocks of at most [`BLOCK_TARGET_RAW`] raw bytes (or one record), add their
    /// leaves to the tree and the tiles. `blocks`, when not empty, must encode exactly
    /// `records` in order (built on worker threads with [`BatchBlocks`]); they are used
    /// as they are unless some records turn out to be duplicates, and rebuilt otherwise. So
    /// no batch, however large, makes a block a reader would refuse. Durable only after
    /// [`Ledger::sync`].
    pub fn append_batch(
        &mut self,
        records: &[Prepared<'_>],
        blocks: Vec<EncodedBlock>,
    ) -> Result<Vec<Appended>, LedgerError> {
        let mut out = Vec::with_capacity(records.len());
        let mut next = self.tree.size();
        for p in records {
            let filed = match p.id {
                // The entry already holds the body's SHA-256: nothing is hashed again.
                Some(key) => {
                    let body = dedup::body_fingerprint(&p.entry);
                    self.dedup.check_and_insert(key, body, next)?
                }
                None => dedup::Filed::New,
            };
            let a = Appended::filed(next, filed);
            if a.sequenced().is_some() {
                next += 1;
            }
            out.push(a);
        }
        let stored = next - self.tree.size();
        if stored == 0 {
            return Ok(out);
        }
        let prebuilt = stored == records.len() as u64
            && blocks.iter().map(|b| u64::from(b.count())).sum::<u64>() == stored
            && blocks.iter().all(|b| b.raw_len() <= wal::MAX_BLOCK_RAW);
        let blocks = if prebuilt {
            blocks
        } else {
            let mut built = BatchBlocks::new(records[0].sequenced_ms);
            for (p, a) in records.iter().zip(&out) {
                if a.sequenced().is_some() {
                    debug_assert_eq!(
                        p.sequenced_ms, records[0].sequenced_ms,
                        "one batch, one sequenced time"
                    );
                    built.push(p.event_time_ms, p.body);
                }
            }
            built.finish()
        };
        for block in &blocks {
            self.wal.append(block)?;
        }
        for (p, a) in records.iter().zip(&out) {
            if let Some(index) = a.sequenced() {
                self.integrate(index, &p.entry, &p.leaf)?;
            }
        }
        Ok(out)
    }

    /// What [`Ledger::append_batch`] reported for the record already sequenced at `index`,
    /// with producer id `id` and entry `entry`: [`Appended::Conflict`] when the first record
    /// filed under its id is an earlier one with another body, otherwise
    /// [`Appended::Stored`]. For passes over stored records that must tell conflicts apart
    /// as ingest did, such as the detectors catching up after a restart.
    pub fn appended_as(
        &mut self,
        index: u64,
        id: Option<&str>,
        entry: &[u8; ENTRY_LEN],
    ) -> Result<Appended, LedgerError> {
        let (Some(id), Some(e)) = (id, Entry::decode(entry)) else {
            return Ok(Appended::Stored(index));
        };
        let body = dedup::body_fingerprint(entry);
        Ok(match self.dedup.first(IdKey::new(id, e.event_time_ms))? {
            Some((first, first_body)) if first < index && first_body != body => {
                Appended::filed(index, dedup::Filed::Conflict { first, first_body })
            }
            _ => Appended::Stored(index),
        })
    }

    fn integrate(
        &mut self,
        index: u64,
        entry: &[u8; ENTRY_LEN],
        leaf: &Hash,
    ) -> Result<(), LedgerError> {
        self.tiles.on_entry(index, entry)?;
        let mut err = None;
        let tiles = &mut self.tiles;
        self.tree.append(*leaf, |level, idx, hash| {
            if err.is_none() {
                if let Err(e) = tiles.on_node(level, idx, hash) {
                    err = Some(e);
                }
            }
        });
        err.map_or(Ok(()), Err)
    }

    /// Group commit: make every sequenced record durable with one fsync. Returns the durable size.
    pub fn sync(&mut self) -> Result<u64, LedgerError> {
        if self.durable_size < self.tree.size() {
            let size = self.begin_sync()?.wait()?;
            self.synced(size);
        }
        Ok(self.durable_size)
    }

    /// Group commit in two halves, so that the fsync need not stop sequencing: this half hands
    /// every sequenced record to the OS and returns the pending sync; [`PendingSync::wait`]
    /// (on any thread) makes them durable; [`Ledger::synced`] then records the new durable size.
    pub fn begin_sync(&mut self) -> Result<PendingSync, LedgerError> {
        Ok(PendingSync {
            size: self.tree.size(),
            segments: self.wal.begin_sync()?,
            data: self.layout.data.clone(),
        })
    }

    /// Record that the pending sync of `size` records completed (see [`Ledger::begin_sync`]).
    pub fn synced(&mut self, size: u64) {
        self.durable_size = self.durable_size.max(size.min(self.tree.size()));
        self.flush_ids();
    }

    /// Id rows of durable records go to their files at every group commit (made durable by
    /// the next checkpoint), so the id index can drop hours from memory between checkpoints.
    /// A failure here is retried, and reported, by the next checkpoint.
    fn flush_ids(&mut self) {
        if let Err(e) = self.dedup.flush(self.durable_size) {
            tracing::warn!(error = %e, "could not write id rows; the next checkpoint retries");
        }
    }

    /// Make everything durable and publish a signed checkpoint for the current size.
    pub fn checkpoint(&mut self) -> Result<u64, LedgerError> {
        match self.begin_checkpoint()? {
            Some(pending) => {
                let size = pending.publish()?;
                self.checkpointed(size);
                Ok(size)
            }
            None => Ok(self.checkpoint_size),
        }
    }

    /// A checkpoint in two halves, like the group commit, so that the slow part need not stop
    /// sequencing (or the acknowledgements that wait on it): this half makes the records
    /// durable, writes the partial tiles, bundle and id rows for the current size and signs
    /// the checkpoint; [`PendingCheckpoint::publish`], on any thread, makes those files
    /// durable and only then writes the checkpoint; [`Ledger::checkpointed`] records that it
    /// exists. At most one may be pending at a time. `None` when the newest checkpoint already
    /// covers every record.
    pub fn begin_checkpoint(&mut self) -> Result<Option<PendingCheckpoint>, LedgerError> {
        self.sync()?;
        let size = self.tree.size();
        if size == self.checkpoint_size && self.layout.checkpoint().exists() {
            return Ok(None);
        }
        self.tiles.write_partials(size)?;
        // Usually nothing left: the group commit wrote the rows, but could only log a failure.
        self.dedup.flush(self.durable_size)?;
        self.wal.flush()?;
        let cp = Checkpoint {
            origin: self.signer.name().to_string(),
            size,
            root: self.tree.root(),
            extensions: Vec::new(),
        };
        let note = suho_note::sign(&cp.to_body(), &[&self.signer])?;
        Ok(Some(PendingCheckpoint {
            signed: SignedState {
                origin: cp.origin,
                size,
                root: cp.root,
            },
            note,
            layout: self.layout.clone(),
        }))
    }

    /// Record that the checkpoint of `size` records is published (see
    /// [`Ledger::begin_checkpoint`]); partial tiles that its full tiles replace are removed.
    pub fn checkpointed(&mut self, size: u64) {
        if size > self.checkpoint_size {
            self.checkpoint_size = size;
            self.tiles.prune_partials(size);
            self.dedup.set_tiled(size);
        }
    }
}

/// A signed checkpoint waiting for its files to be durable (see [`Ledger::begin_checkpoint`]).
pub struct PendingCheckpoint {
    signed: SignedState,
    note: String,
    layout: Layout,
}

impl PendingCheckpoint {
    /// Number of records the checkpoint covers.
    pub fn size(&self) -> u64 {
        self.signed.size
    }

    /// Make every tile, bundle, offset index and id row durable, then write the checkpoint
    /// that covers them, then the signer state that remembers it; returns its size. One
    /// `syncfs` does the first part: far cheaper than an fsync per tile file, though it also
    /// writes back whatever else is dirty on that filesystem, which is why this runs off the
    /// sequencing thread. A crash between the checkpoint and the state leaves the state one
    /// checkpoint behind, which the next open catches up with (see `seal`).
    pub fn publish(self) -> Result<u64, LedgerError> {
        syncfs(&self.layout.data)?;
        write_atomic(&self.layout.checkpoint(), self.note.as_bytes())?;
        seal::write_signed(&self.layout, &self.signed)?;
        Ok(self.signed.size)
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        // A reseal that failed before its record was in the log signs nothing.
        if self.holding {
            return;
        }
        // Best effort: a clean shutdown leaves a checkpoint for everything sequenced.
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "could not write the final checkpoint");
        }
    }
}

/// The root of the tree of `size` from the tiles.
fn root_at(reader: &TileReader, size: u64) -> Result<Hash, LedgerError> {
    suho_merkle::root_of(reader, size).map_err(|e| LedgerError::Proof(e.to_string()))
}

/// Rebuild the right edge of the tree of `size` from the tiles.
fn rebuild_range(reader: &TileReader, size: u64) -> Result<CompactRange, LedgerError> {
    let mut hashes = Vec::new();
    let mut begin = 0u64;
    for level in (0..64u8).rev() {
        if size & (1u64 << level) != 0 {
            use suho_merkle::NodeSource;
            hashes.push(reader.node(level, begin >> level)?);
            begin += 1u64 << level;
        }
    }
    CompactRange::from_parts(size, hashes).map_err(|e| LedgerError::Proof(e.to_string()))
}

/// Write `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    suho_durable::write_atomic(path, bytes).map_err(|e| LedgerError::Io {
        path: e.path,
        source: e.source,
    })
}

fn lock_dir(data: &Path) -> Result<File, LedgerError> {
    let path = data.join("LOCK");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| LedgerError::Io {
            path: path.clone(),
            source,
        })?;
    // A reader may hold the lock shared for an instant (`lock_holder`, asked by `suho status`
    // and others): try again for a moment before calling the directory in use.
    let mut locked = false;
    for _ in 0..50 {
        if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            locked = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if !locked {
        let holder = fs::read_to_string(&path).unwrap_or_default();
        let holder = if holder.trim().is_empty() {
            "unknown process".to_string()
        } else {
            holder.trim().to_string()
        };
        return Err(LedgerError::Locked {
            path: data.to_path_buf(),
            holder,
        });
    }
    f.set_len(0).map_err(|source| LedgerError::Io {
        path: path.clone(),
        source,
    })?;
    write!(f, "pid {}", std::process::id()).map_err(|source| LedgerError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(f)
}

/// Which process holds the data directory `data` as its ledger writer, if any (`pid N`), without
/// taking it: the lock is tried and released at once. None also when no ledger was ever opened.
pub fn lock_holder(data: &Path) -> Result<Option<String>, LedgerError> {
    let path = data.join("LOCK");
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LedgerError::Io { path, source }),
    };
    if rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared).is_ok() {
        return Ok(None);
    }
    let holder = fs::read_to_string(&path).unwrap_or_default();
    Ok(Some(if holder.trim().is_empty() {
        "unknown process".to_string()
    } else {
        holder.trim().to_string()
    }))
}
