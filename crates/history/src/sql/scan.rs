//! Reading the history files for a virtual-table scan: which files, row groups and pages the
//! bounds leave (day partitions, file names, row-group statistics, bloom filters, the page
//! index), row filters for what is left, and the decoding of the used columns on worker
//! threads while SQLite consumes the rows.
//!
//! The pruning follows `scope.rs` (same files, same statistics), restated here for inclusive
//! bounds and a single value per string column.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
    RowFilter, RowSelection,
};
use parquet::arrow::ProjectionMask;
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::{ColumnChunkMask, RowGroupMetaData};
use parquet::schema::types::SchemaDescriptor;

use super::columns::ID;
use super::columns::{Kind, Out, LEAVES};
use super::plan::Bounds;
use crate::day::day_start_ms;
use crate::filter::{
    bytes_range, i64_range, index_within, open_meta, string_predicate, time_within,
};
use crate::schema::{FIELDS, LEDGER_INDEX, SUBJECTS, SUBJECT_COUNT, TIME};
use crate::sync::{partition_files, partitions};
use crate::{arrow_err, io_err, pq_err, HistoryError};

/// Rows decoded at a time.
const BATCH_ROWS: usize = 16 * 1024;
/// Decoded batches a worker may have ready ahead of SQLite.
const AHEAD: usize = 2;

/// What a session shares between its tables and scans.
pub(super) struct Shared {
    /// The history directory.
    pub(super) history: PathBuf,
    /// The files, listed at the first scan.
    catalog: Mutex<Option<Arc<Catalog>>>,
    /// Decoding threads per scan.
    pub(super) threads: usize,
    /// What scans read.
    pub(super) stats: Counters,
    /// The last error a scan met, to tell a history problem from bad SQL.
    pub(super) failure: Mutex<Option<HistoryError>>,
}

/// Counters of what scans read.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) scans: AtomicU64,
    pub(super) files: AtomicU64,
    pub(super) row_groups: AtomicU64,
    pub(super) row_groups_read: AtomicU64,
    pub(super) rows: AtomicU64,
}

impl Shared {
    pub(super) fn new(history: PathBuf, threads: usize) -> Shared {
        Shared {
            history,
            catalog: Mutex::new(None),
            threads: threads.max(1),
            stats: Counters::default(),
            failure: Mutex::new(None),
        }
    }

    /// Remember `e` for [`super::SqlSession`] and turn it into a module error for SQLite.
    pub(super) fn fail(&self, e: HistoryError) -> rusqlite::Error {
        let msg = e.to_string();
        if let Ok(mut f) = self.failure.lock() {
            *f = Some(e);
        }
        rusqlite::Error::ModuleError(msg)
    }

    fn catalog(&self) -> Result<Arc<Catalog>, HistoryError> {
        let mut c = self
            .catalog
            .lock()
            .map_err(|_| HistoryError::Invalid("the SQL file catalog lock is poisoned".into()))?;
        if let Some(c) = &*c {
            return Ok(c.clone());
        }
        let mut files = Vec::new();
        for (day, dir) in partitions(&self.history)? {
            for (first, path) in partition_files(&dir)?.files {
                files.push(FileEntry {
                    day,
                    first,
                    path: Arc::new(path),
                    meta: Mutex::new(None),
                    blooms: Mutex::new(HashMap::new()),
                });
            }
        }
        let cat = Arc::new(Catalog { files });
        *c = Some(cat.clone());
        Ok(cat)
    }
}

/// The history files, and what was read of them so far.
struct Catalog {
    files: Vec<FileEntry>,
}

struct FileEntry {
    day: i64,
    first: u64,
    path: Arc<PathBuf>,
    /// Footer, page index of `ledger_index` and `time`, page offsets; read at first use.
    meta: Mutex<Option<ArrowReaderMetadata>>,
    /// Bloom filters read so far, by (row group, leaf).
    blooms: Mutex<Blooms>,
}

/// Bloom filters by (row group, leaf); None when the column chunk has none.
type Blooms = HashMap<(usize, usize), Option<Arc<Sbbf>>>;

impl FileEntry {
    fn meta(&self) -> Result<ArrowReaderMetadata, HistoryError> {
        let mut m = self
            .meta
            .lock()
            .map_err(|_| HistoryError::Invalid("a SQL metadata lock is poisoned".into()))?;
        if let Some(m) = &*m {
            return Ok(m.clone());
        }
        let meta = open_meta(
            &self.path,
            ColumnChunkMask::columns([LEDGER_INDEX, TIME]),
            ColumnChunkMask::all(),
        )?;
        *m = Some(meta.clone());
        Ok(meta)
    }

    /// Whether the bloom filter of `leaf` in row group `rg` may hold `value`.
    fn may_hold(
        &self,
        meta: &ArrowReaderMetadata,
        rg: usize,
        leaf: usize,
        value: &str,
    ) -> Result<bool, HistoryError> {
        let mut blooms = self
            .blooms
            .lock()
            .map_err(|_| HistoryError::Invalid("a SQL bloom filter lock is poisoned".into()))?;
        let sbbf = match blooms.get(&(rg, leaf)) {
            Some(s) => s.clone(),
            None => {
                let path = self.path.as_path();
                let file = File::open(path).map_err(io_err(path))?;
                let s = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone())
                    .get_row_group_column_bloom_filter(rg, leaf)
                    .map_err(pq_err(path))?
                    .map(Arc::new);
                blooms.insert((rg, leaf), s.clone());
                s
            }
        };
        Ok(sbbf.is_none_or(|s| s.check(value)))
    }
}

/// An estimate (an upper bound in practice) of the bytes an ordered scan of the whole history
/// holds: the decoded `leaves`, the sort keys of the `order` terms and the row positions.
pub(super) fn sort_bytes(
    shared: &Shared,
    kind: Kind,
    leaves: &[bool; LEAVES],
    order: &[(usize, bool)],
) -> Result<u64, HistoryError> {
    let cat = shared.catalog()?;
    let strings = order
        .iter()
        .filter(|(c, _)| matches!(kind.columns()[*c].out, Out::Str(_) | Out::Subject))
        .count() as u64;
    let mut total = 0u64;
    for f in &cat.files {
        let meta = f.meta()?;
        for rg in meta.metadata().row_groups() {
            let rows = rg.num_rows().max(0) as u64;
            let bytes = |leaf: usize| rg.column(leaf).uncompressed_size().max(0) as u64;
            // record_subjects has a row per subject; a subject takes at least 5 bytes
            // (a 4-byte length and one character).
            let items = match kind {
                Kind::Records => rows,
                Kind::Subjects => (bytes(SUBJECTS) / 5).max(rows),
            };
            // Position (12 bytes), a key per term, an interned id per string term, the used
            // string columns laid out in order (an id each, and the subject's text).
            total += items * (12 + 8 * order.len() as u64 + 16 * strings);
            if kind == Kind::Subjects {
                total += items * 48;
            }
            for (leaf, _) in leaves.iter().enumerate().filter(|(_, u)| **u) {
                total += match leaf {
                    LEDGER_INDEX | TIME | SUBJECT_COUNT => 8 * rows,
                    SUBJECTS | FIELDS | ID => bytes(leaf) + 8 * rows,
                    _ => 4 * rows + 4 * items + bytes(leaf) / 8,
                };
            }
        }
    }
    Ok(total)
}

/// One row group to read, with the pages worth reading.
pub(super) struct Task {
    path: Arc<PathBuf>,
    meta: ArrowReaderMetadata,
    row_group: usize,
    selection: Option<RowSelection>,
}

/// The row groups (and pages) `b` leaves, in file order (day, then first ledger index).
pub(super) fn plan(shared: &Shared, b: &Bounds) -> Result<Vec<Task>, HistoryError> {
    shared.stats.scans.fetch_add(1, Ordering::Relaxed);
    if b.empty {
        return Ok(Vec::new());
    }
    let cat = shared.catalog()?;
    let mut tasks = Vec::new();
    for f in &cat.files {
        let (day_lo, day_hi) = (day_start_ms(f.day), day_start_ms(f.day + 1) - 1);
        if day_hi < b.time.0 || day_lo > b.time.1 || f.first > b.index.1 {
            continue;
        }
        let meta = f.meta()?;
        shared.stats.files.fetch_add(1, Ordering::Relaxed);
        let md = meta.metadata();
        shared
            .stats
            .row_groups
            .fetch_add(md.num_row_groups() as u64, Ordering::Relaxed);
        'rg: for (i, rg) in md.row_groups().iter().enumerate() {
            if !stats_allow(rg, b) {
                continue;
            }
            for (leaf, value) in &b.eq {
                if !f.may_hold(&meta, i, *leaf, value)? {
                    continue 'rg;
                }
            }
            let selection = page_selection(&meta, i, b);
            if selection.as_ref().is_some_and(|s| !s.selects_any()) {
                continue;
            }
            shared.stats.row_groups_read.fetch_add(1, Ordering::Relaxed);
            tasks.push(Task {
                path: f.path.clone(),
                meta: meta.clone(),
                row_group: i,
                selection,
            });
        }
    }
    Ok(tasks)
}

/// Whether the row group's statistics leave any row inside the bounds.
fn stats_allow(rg: &RowGroupMetaData, b: &Bounds) -> bool {
    if let Some((lo, hi)) = i64_range(rg, LEDGER_INDEX) {
        // ledger_index is UInt64 stored as INT64: its statistics are the same bits.
        if (hi as u64) < b.index.0 || (lo as u64) > b.index.1 {
            return false;
        }
    }
    if let Some((lo, hi)) = i64_range(rg, TIME) {
        if hi < b.time.0 || lo > b.time.1 {
            return false;
        }
    }
    for (leaf, value) in &b.eq {
        let Some(s) = rg.column(*leaf).statistics() else {
            continue;
        };
        if s.null_count_opt() == Some(rg.num_rows() as u64) {
            return false; // only nulls, which equal nothing
        }
        if let Some((lo, hi)) = bytes_range(rg, *leaf) {
            if value.as_bytes() < lo || value.as_bytes() > hi {
                return false;
            }
        }
    }
    true
}

/// The pages of row group `rg` that the ledger-index and time bounds leave, by the page
/// index; None when every row must be read.
fn page_selection(meta: &ArrowReaderMetadata, rg: usize, b: &Bounds) -> Option<RowSelection> {
    let (ilo, ihi) = b.index;
    let (tlo, thi) = b.time;
    let index = move |lo: i64, hi: i64| (hi as u64) >= ilo && (lo as u64) <= ihi;
    let time = move |lo: i64, hi: i64| hi >= tlo && lo <= thi;
    crate::scope::select_pages(
        meta,
        rg,
        b.has_index().then_some(&index as &dyn Fn(i64, i64) -> bool),
        b.has_time().then_some(&time as &dyn Fn(i64, i64) -> bool),
    )
}

/// What a scan decodes and filters by, shared with its worker threads.
pub(super) struct Reading {
    /// Leaves to decode.
    pub(super) leaves: Vec<usize>,
    /// The bounds, applied row by row.
    pub(super) bounds: Bounds,
}

/// A reader of one task: the used leaves, of the rows inside the bounds.
fn open_reader(task: &Task, r: &Reading) -> Result<ParquetRecordBatchReader, HistoryError> {
    let path = task.path.as_path();
    let f = File::open(path).map_err(io_err(path))?;
    let descr = task.meta.metadata().file_metadata().schema_descr_ptr();
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(f, task.meta.clone())
        .with_row_groups(vec![task.row_group])
        .with_batch_size(BATCH_ROWS)
        .with_projection(ProjectionMask::leaves(&descr, r.leaves.iter().copied()));
    if let Some(sel) = &task.selection {
        builder = builder.with_row_selection(sel.clone());
    }
    let preds = predicates(&descr, &r.bounds);
    if !preds.is_empty() {
        builder = builder.with_row_filter(RowFilter::new(preds));
    }
    builder.build().map_err(pq_err(path))
}

/// The bounds as row filters: string equalities first (a key compare per row), then times
/// and ledger indexes.
fn predicates(descr: &SchemaDescriptor, b: &Bounds) -> Vec<Box<dyn ArrowPredicate>> {
    let mut out: Vec<Box<dyn ArrowPredicate>> = Vec::new();
    let mask = |leaf: usize| ProjectionMask::leaves(descr, [leaf]);
    for (leaf, value) in &b.eq {
        let value = value.clone();
        out.push(string_predicate(mask(*leaf), move |s: &str| s == value));
    }
    if b.has_time() {
        out.push(time_within(mask(TIME), b.time.0, b.time.1));
    }
    if b.has_index() {
        out.push(index_within(mask(LEDGER_INDEX), b.index.0, b.index.1));
    }
    out
}

/// Decoded batches of a scan, in task order.
pub(super) enum Source {
    /// Nothing to read.
    Empty,
    /// One task, decoded on SQLite's thread as it asks.
    Inline {
        task: Option<Task>,
        reader: Option<ParquetRecordBatchReader>,
        reading: Arc<Reading>,
    },
    /// Several tasks, decoded ahead by worker threads: task i by worker i mod n.
    Workers(Workers),
}

enum Msg {
    Batch(RecordBatch),
    TaskDone,
    Failed(HistoryError),
}

pub(super) struct Workers {
    rx: Vec<Receiver<Msg>>,
    handles: Vec<JoinHandle<()>>,
    next: usize,
    tasks: usize,
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Closing the channels stops the workers at their next batch.
        self.rx.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Source {
    pub(super) fn new(tasks: Vec<Task>, reading: Reading, threads: usize) -> Source {
        let reading = Arc::new(reading);
        match tasks.len() {
            0 => Source::Empty,
            1 => Source::Inline {
                task: tasks.into_iter().next(),
                reader: None,
                reading,
            },
            n => {
                let workers = threads.clamp(1, n);
                let mut per: Vec<Vec<Task>> = (0..workers).map(|_| Vec::new()).collect();
                for (i, t) in tasks.into_iter().enumerate() {
                    per[i % workers].push(t);
                }
                let mut rx = Vec::with_capacity(workers);
                let mut handles = Vec::with_capacity(workers);
                for mine in per {
                    let (tx, r) = sync_channel::<Msg>(AHEAD);
                    let reading = reading.clone();
                    handles.push(std::thread::spawn(move || {
                        for task in mine {
                            let reader = match open_reader(&task, &reading) {
                                Ok(r) => r,
                                Err(e) => {
                                    let _ = tx.send(Msg::Failed(e));
                                    return;
                                }
                            };
                            for batch in reader {
                                let msg = match batch {
                                    Ok(b) => Msg::Batch(b),
                                    Err(e) => Msg::Failed(arrow_err(&task.path)(e)),
                                };
                                let failed = matches!(msg, Msg::Failed(_));
                                if tx.send(msg).is_err() || failed {
                                    return;
                                }
                            }
                            if tx.send(Msg::TaskDone).is_err() {
                                return;
                            }
                        }
                    }));
                    rx.push(r);
                }
                Source::Workers(Workers {
                    rx,
                    handles,
                    next: 0,
                    tasks: n,
                })
            }
        }
    }

    /// The next non-empty batch, or None at the end.
    pub(super) fn next_batch(&mut self) -> Result<Option<RecordBatch>, HistoryError> {
        loop {
            let batch = match self {
                Source::Empty => return Ok(None),
                Source::Inline {
                    task,
                    reader,
                    reading,
                } => {
                    if reader.is_none() {
                        let Some(t) = task.as_ref() else {
                            return Ok(None);
                        };
                        *reader = Some(open_reader(t, reading)?);
                    }
                    match reader.as_mut().and_then(Iterator::next) {
                        Some(Ok(b)) => b,
                        Some(Err(source)) => {
                            let path = task
                                .as_ref()
                                .map(|t| t.path.as_ref().clone())
                                .unwrap_or_default();
                            return Err(HistoryError::Arrow { path, source });
                        }
                        None => {
                            *task = None;
                            *reader = None;
                            return Ok(None);
                        }
                    }
                }
                Source::Workers(w) => {
                    if w.next >= w.tasks {
                        return Ok(None);
                    }
                    let n = w.rx.len();
                    let msg = w.rx[w.next % n].recv().map_err(|_| {
                        HistoryError::Invalid("a SQL decoding thread stopped".into())
                    })?;
                    match msg {
                        Msg::Batch(b) => b,
                        Msg::TaskDone => {
                            w.next += 1;
                            continue;
                        }
                        Msg::Failed(e) => return Err(e),
                    }
                }
            };
            if batch.num_rows() > 0 {
                return Ok(Some(batch));
            }
        }
    }
}
