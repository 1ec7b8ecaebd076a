//! Catching the history up with the ledger.
//!
//! State: `<history>/state.json` holds `next_index`, the first ledger index not yet indexed.
//! A sync (1) takes `<history>/LOCK`, (2) removes the leftovers of an interrupted sync:
//! temporary files and any file whose first index is at or past `next_index` (a sync only
//! writes files that start there or later), (3) reads the write-ahead log from `next_index` up
//! to the newest signed checkpoint and writes new files, each made durable before it gets its
//! final name, (4) moves `next_index` on, atomically. A crash anywhere leaves either the old
//! state with leftovers that step 2 removes, or the new state with every file in place.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use suho_ledger::{Layout, WalReader};

use crate::writer::{parse_part_name, sync_dir, HistoryWriter, WriterOptions, WrittenFile};
use crate::{history_dir, io_err, HistoryError};

/// Options of a sync.
#[derive(Clone, Default)]
pub struct SyncOptions {
    /// Index records below this ledger index only. Default: the size of the newest signed
    /// checkpoint (records past it may still be cut off by the ledger's crash recovery).
    pub upto: Option<u64>,
    /// How files are written.
    pub writer: WriterOptions,
    /// Fills the `country` column from `src_ip` (a GeoIP lookup); None leaves it empty.
    pub country_of: Option<crate::CountryLookup>,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("upto", &self.upto)
            .field("writer", &self.writer)
            .field("country_of", &self.country_of.as_ref().map(|_| "fn"))
            .finish()
    }
}

/// Progress of a running sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncProgress {
    /// Records indexed so far by this sync.
    pub records: u64,
    /// The ledger index the sync started at.
    pub from: u64,
    /// The ledger index it runs to (exclusive).
    pub to: u64,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// First ledger index this sync looked at.
    pub from: u64,
    /// The history now covers every ledger index below this one.
    pub to: u64,
    /// Records written.
    pub records: u64,
    /// Files written, in order of first ledger index.
    pub files: Vec<PathBuf>,
    /// Leftover files of an interrupted sync that were removed first.
    pub leftovers_removed: u64,
    /// Stored records that could not be parsed as access records and were not indexed.
    pub unreadable: u64,
    /// The first of them and why, e.g. `17: missing field time`.
    pub first_unreadable: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) version: u32,
    pub(crate) next_index: u64,
    /// Retention removed every day before this one (days since the epoch, UTC): an answer that
    /// reaches before it is exact only over what was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pruned_before: Option<i64>,
}

fn state_path(history: &Path) -> PathBuf {
    history.join("state.json")
}

/// The sync state (all zero when nothing was ever indexed).
pub(crate) fn read_state(history: &Path) -> Result<State, HistoryError> {
    let path = state_path(history);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| HistoryError::Corrupt {
            path,
            detail: format!("not a history state file: {e}"),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State {
            version: 1,
            next_index: 0,
            pruned_before: None,
        }),
        Err(source) => Err(HistoryError::Io { path, source }),
    }
}

pub(crate) fn write_state(history: &Path, state: &State) -> Result<(), HistoryError> {
    let path = state_path(history);
    let bytes = serde_json::to_vec(state)
        .map_err(|e| HistoryError::Invalid(format!("cannot encode the history state: {e}")))?;
    suho_durable::write_atomic(&path, &bytes).map_err(crate::writer::durable_err)
}

/// Exclusive lock on the history directory, held while syncing or pruning.
pub(crate) fn lock(history: &Path) -> Result<File, HistoryError> {
    fs::create_dir_all(history).map_err(io_err(history))?;
    let path = history.join("LOCK");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(HistoryError::Busy {
            path: history.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(source)) => Err(HistoryError::Io { path, source }),
    }
}

/// The day partition directories under `history`, as (day, path), oldest first.
pub(crate) fn partitions(history: &Path) -> Result<Vec<(i64, PathBuf)>, HistoryError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(history) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(HistoryError::Io {
                path: history.to_path_buf(),
                source,
            })
        }
    };
    for entry in rd {
        let entry = entry.map_err(io_err(history))?;
        let name = entry.file_name();
        if let Some(day) = name.to_str().and_then(crate::day::parse_partition_name) {
            if entry.file_type().map_err(io_err(&entry.path()))?.is_dir() {
                out.push((day, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files of one partition: (first ledger index, path) of each, sorted, and the temporary ones.
pub(crate) struct PartitionFiles {
    pub(crate) files: Vec<(u64, PathBuf)>,
    pub(crate) tmps: Vec<PathBuf>,
}

/// The files of one partition.
pub(crate) fn partition_files(dir: &Path) -> Result<PartitionFiles, HistoryError> {
    let mut files = Vec::new();
    let mut tmps = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = parse_part_name(name) {
            files.push((first, entry.path()));
        } else if name.starts_with(".part-") && name.ends_with(".tmp") {
            tmps.push(entry.path());
        }
    }
    files.sort();
    Ok(PartitionFiles { files, tmps })
}

/// The size of the newest signed checkpoint, read from its second line (the history is derived
/// data: `suho verify` checks the signature, this only needs the bound).
fn checkpoint_size(layout: &Layout) -> Result<u64, HistoryError> {
    let path = layout.checkpoint();
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(HistoryError::Io { path, source }),
    };
    text.lines()
        .nth(1)
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or_else(|| HistoryError::Corrupt {
            path,
            detail: "the checkpoint has no size on its second line".into(),
        })
}

pub(crate) fn sync(
    layout: &Layout,
    opts: &SyncOptions,
    mut progress: impl FnMut(&SyncProgress),
) -> Result<SyncReport, HistoryError> {
    let history = history_dir(layout);
    let _lock = lock(&history)?;
    let state = read_state(&history)?;
    let from = state.next_index;

    let mut leftovers_removed = 0;
    for (_, dir) in partitions(&history)? {
        let PartitionFiles { files, tmps } = partition_files(&dir)?;
        for path in tmps.into_iter().chain(
            files
                .into_iter()
                .filter(|(first, _)| *first >= from)
                .map(|(_, p)| p),
        ) {
            fs::remove_file(&path).map_err(io_err(&path))?;
            leftovers_removed += 1;
        }
        if leftovers_removed > 0 {
            sync_dir(&dir)?;
        }
    }

    let upto = match opts.upto {
        Some(u) => u,
        None => checkpoint_size(layout)?,
    };
    let mut report = SyncReport {
        from,
        to: from,
        records: 0,
        files: Vec::new(),
        leftovers_removed,
        unreadable: 0,
        first_unreadable: None,
    };
    if opts.upto.is_none() && upto < from {
        return Err(HistoryError::Corrupt {
            path: history,
            detail: format!(
                "the history covers {from} records but the ledger's checkpoint only {upto}: the ledger was replaced; delete the history directory and sync again"
            ),
        });
    }
    if upto <= from {
        progress(&SyncProgress {
            records: 0,
            from,
            to: from,
        });
        return Ok(report);
    }

    // Two stages on two cores: this thread reads the log (decompression, entry hashes), a
    // worker parses and encodes. Batches of raw records go between them.
    let (tx, rx) = mpsc::sync_channel::<Batch>(4);
    let mut next = from;
    let mut p = SyncProgress {
        records: 0,
        from,
        to: upto,
    };
    let (scanned, encoded) = std::thread::scope(|s| {
        let worker = s.spawn(|| encode(&history, opts.writer.clone(), opts.country_of.clone(), rx));
        let mut batch = Batch::default();
        let scanned = WalReader::new(&layout.wal()).scan(from, |frame| {
            if frame.index >= upto {
                return false;
            }
            next = frame.index + 1;
            batch.push(frame.index, &frame.body);
            if batch.indexes.len() >= BATCH_RECORDS && tx.send(std::mem::take(&mut batch)).is_err()
            {
                // The worker stopped (its error is reported below).
                return false;
            }
            p.records += 1;
            if p.records.is_multiple_of(100_000) {
                progress(&p);
            }
            true
        });
        if !batch.indexes.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        let encoded = worker.join().unwrap_or_else(|_| {
            Err(HistoryError::Invalid(
                "the history encoder thread panicked".into(),
            ))
        });
        (scanned, encoded)
    });
    let encoded = encoded?;
    scanned?;
    report.unreadable = encoded.unreadable;
    report.first_unreadable = encoded.first_unreadable;
    p.records = encoded.records;
    let written: Vec<WrittenFile> = encoded.written;
    write_state(
        &history,
        &State {
            version: 1,
            next_index: next,
            ..state
        },
    )?;
    report.to = next;
    report.records = p.records;
    report.files = written.into_iter().map(|w| w.path).collect();
    progress(&p);
    Ok(report)
}

/// Records handed from the log reader to the encoder at a time.
const BATCH_RECORDS: usize = 8 * 1024;

/// Raw records: ledger indexes and bodies laid end to end.
#[derive(Default)]
struct Batch {
    indexes: Vec<u64>,
    ends: Vec<usize>,
    bytes: Vec<u8>,
}

impl Batch {
    fn push(&mut self, index: u64, body: &[u8]) {
        self.indexes.push(index);
        self.bytes.extend_from_slice(body);
        self.ends.push(self.bytes.len());
    }
}

/// What the encoder did.
struct Encoded {
    written: Vec<WrittenFile>,
    records: u64,
    unreadable: u64,
    first_unreadable: Option<String>,
}

/// The encoding stage: parse each record and write it into its day file.
fn encode(
    history: &Path,
    opts: WriterOptions,
    country_of: Option<crate::CountryLookup>,
    rx: mpsc::Receiver<Batch>,
) -> Result<Encoded, HistoryError> {
    let mut writer = HistoryWriter::new(history, opts)?.with_country_of(country_of);
    let mut out = Encoded {
        written: Vec::new(),
        records: 0,
        unreadable: 0,
        first_unreadable: None,
    };
    for batch in rx {
        let mut start = 0;
        for (&index, &end) in batch.indexes.iter().zip(&batch.ends) {
            let body = &batch.bytes[start..end];
            start = end;
            match suho_record::parse_record(body) {
                Ok(rec) => {
                    writer.push(index, &rec)?;
                    out.records += 1;
                }
                Err(e) => {
                    out.unreadable += 1;
                    if out.first_unreadable.is_none() {
                        out.first_unreadable = Some(format!("{index}: {e}"));
                    }
                }
            }
        }
    }
    out.written = writer.finish()?;
    Ok(out)
}
