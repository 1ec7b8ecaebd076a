//! Scope: which subjects, which categories of their data, when, by which credentials and from
//! where, for a selection of records (contract section 5).
//!
//! The plan, per file: skip day partitions outside the time range; skip row groups whose
//! statistics (ledger index, time, credential/actor/signing-key min and max) or bloom filters
//! rule them out; inside a row group, skip pages by the page index of `ledger_index` and
//! `time`; then evaluate the selectors as a chain of row filters, cheapest and most selective
//! first, each on dictionary keys (a selector is tested once per distinct value, not once per
//! row), and decode the subjects and fields only for the rows that pass. Row groups are spread
//! over the cores; each core aggregates exactly, and the aggregates are merged.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{BooleanArray, RecordBatch};
use arrow_buffer::BooleanBuffer;
use arrow_schema::ArrowError;
use ipnet::IpNet;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReaderBuilder,
    RowFilter, RowSelection,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ColumnChunkMask;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use serde::Serialize;
use suho_ledger::Layout;

use crate::agg::Agg;
use crate::day::{date_of_day, day_start_ms};
use crate::filter::{bytes_range, i64_range, open_meta, string_predicate, time_within};
use crate::schema::{
    ACTOR, COUNTRY, CREDENTIAL, FIELDS, LEDGER_INDEX, SIGNING_KEY, SRC_IP, SUBJECTS, SUBJECT_COUNT,
    TIME,
};
use crate::subjects::SubjectList;
use crate::sync::{partition_files, partitions, read_state};
use crate::{history_dir, io_err, pq_err, HistoryError};

/// Maps an IP address to its ISO 3166 alpha-2 country (upper case), e.g. from a GeoIP database.
pub type CountryLookup = Arc<dyn Fn(IpAddr) -> Option<[u8; 2]> + Send + Sync>;

/// Which records a scope covers. Every selector given must match (AND); within one selector,
/// any of its values may match (OR). An empty selector covers the whole history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// The account that acted (`actor`).
    pub actors: Vec<String>,
    /// The credential presented.
    pub credentials: Vec<String>,
    /// The key that signed the credential.
    pub signing_keys: Vec<String>,
    /// Source countries, ISO 3166 alpha-2 (any case). Resolved from `src_ip` with
    /// [`ScopeOptions::country_of`] when given, else read from the history's `country` column.
    pub countries: Vec<String>,
    /// Source networks; a single address is a /32 or /128. Records without `src_ip` never match.
    pub networks: Vec<IpNet>,
    /// Event time at or after this (epoch ms).
    pub since_ms: Option<i64>,
    /// Event time before this (epoch ms).
    pub until_ms: Option<i64>,
    /// Only these ledger indexes (an alert's or an incident's records).
    pub ledger_indexes: Option<Vec<u64>>,
}

/// How a scope runs and what it adds to the summary.
#[derive(Clone)]
pub struct ScopeOptions {
    /// Country of an IP address, for the `countries` selector and the countries involved.
    pub country_of: Option<CountryLookup>,
    /// Number of customers in the whole customer base, for `share_of_customers`.
    pub customers: Option<u64>,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Longest list of credentials, IPs, actors, signing keys printed (the counts stay exact).
    pub top: usize,
}

impl Default for ScopeOptions {
    fn default() -> Self {
        ScopeOptions {
            country_of: None,
            customers: None,
            threads: 0,
            top: 100,
        }
    }
}

impl std::fmt::Debug for ScopeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeOptions")
            .field("country_of", &self.country_of.as_ref().map(|_| "fn"))
            .field("customers", &self.customers)
            .field("threads", &self.threads)
            .field("top", &self.top)
            .finish()
    }
}

/// One credential, IP, country, actor or signing key involved, with its number of records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Involved {
    /// The value.
    pub id: String,
    /// Selected records that carry it.
    pub records: u64,
}

/// What the scan read and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// History files opened.
    pub files: u64,
    /// Row groups in them.
    pub row_groups: u64,
    /// Row groups read (the rest were ruled out by statistics or bloom filters).
    pub row_groups_read: u64,
    /// The history covers ledger indexes below this one (run a sync to move it on).
    pub indexed_through: u64,
    /// The oldest day still in the history (`YYYY-MM-DD`), or None when it is empty.
    pub oldest_day: Option<String>,
    /// Retention pruned every day before this one (`YYYY-MM-DD`) and the selection reaches
    /// into them: the counts are exact over the history kept, not over everything ever
    /// accessed. None when nothing the selection asks for was pruned.
    pub pruned_before: Option<String>,
}

/// The scope summary (contract section 5), plus what investigators ask next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeSummary {
    /// Exact number of distinct data subjects in the selected records.
    pub subjects: u64,
    /// Number of selected records.
    pub records: u64,
    /// Field category -> exact number of distinct subjects whose data of it was processed.
    pub fields: BTreeMap<String, u64>,
    /// Event time (RFC 3339, UTC) of the first selected record.
    pub first_access: Option<String>,
    /// Event time (RFC 3339, UTC) of the last selected record.
    pub last_access: Option<String>,
    /// Credentials involved, most records first (at most [`ScopeOptions::top`]).
    pub credentials: Vec<Involved>,
    /// Exact number of distinct credentials involved.
    pub credential_count: u64,
    /// Source IPs involved, most records first (at most [`ScopeOptions::top`]).
    pub ips: Vec<Involved>,
    /// Exact number of distinct source IPs involved.
    pub ip_count: u64,
    /// Source countries involved, most records first.
    pub countries: Vec<Involved>,
    /// Actors involved, most records first (at most [`ScopeOptions::top`]).
    pub actors: Vec<Involved>,
    /// Exact number of distinct actors involved.
    pub actor_count: u64,
    /// Signing keys involved, most records first (at most [`ScopeOptions::top`]).
    pub signing_keys: Vec<Involved>,
    /// Exact number of distinct signing keys involved.
    pub signing_key_count: u64,
    /// Subjects processed but not listed one by one (`subject_count` beyond `subjects`), summed
    /// over the selected records: they are not in `subjects`, which is then a lower bound.
    pub unlisted_subjects: u64,
    /// Size of the customer base, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customers: Option<u64>,
    /// `subjects / customers`, when the customer base is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_of_customers: Option<f64>,
    /// What was read.
    pub scan: ScanStats,
}

/// Summarise the records `sel` selects.
pub fn scope(
    layout: &Layout,
    sel: &Selector,
    opts: &ScopeOptions,
) -> Result<ScopeSummary, HistoryError> {
    let (agg, scan) = run(layout, sel, opts, false)?;
    Ok(summarise(&agg, scan, opts))
}

/// [`scope`], plus the per-subject list (subject, fields, first and last access, number of
/// accesses, ledger indexes) for `--out`.
pub fn scope_subjects(
    layout: &Layout,
    sel: &Selector,
    opts: &ScopeOptions,
) -> Result<(ScopeSummary, SubjectList), HistoryError> {
    let (agg, scan) = run(layout, sel, opts, true)?;
    let summary = summarise(&agg, scan, opts);
    Ok((summary, SubjectList::from_agg(agg)))
}

fn summarise(agg: &Agg, scan: ScanStats, opts: &ScopeOptions) -> ScopeSummary {
    let involved = |counts: &crate::agg::Counts, top: usize| {
        let mut v: Vec<Involved> = counts
            .iter()
            .map(|(k, &n)| Involved {
                id: k.clone(),
                records: n,
            })
            .collect();
        v.sort_by(|a, b| b.records.cmp(&a.records).then_with(|| a.id.cmp(&b.id)));
        v.truncate(top);
        v
    };
    let countries = match &opts.country_of {
        Some(lookup) => {
            let mut c = crate::agg::Counts::new();
            for (ip, n) in &agg.ips {
                if let Some(cc) = ip.parse::<IpAddr>().ok().and_then(|ip| lookup(ip)) {
                    *c.entry(String::from_utf8_lossy(&cc).into_owned())
                        .or_default() += n;
                }
            }
            c
        }
        None => agg.countries.clone(),
    };
    let subjects = agg.subjects.len() as u64;
    ScopeSummary {
        subjects,
        records: agg.records,
        fields: agg.field_subject_counts().into_iter().collect(),
        first_access: agg.first.map(suho_record::format_rfc3339_ms),
        last_access: agg.last.map(suho_record::format_rfc3339_ms),
        credentials: involved(&agg.credentials, opts.top),
        credential_count: agg.credentials.len() as u64,
        ips: involved(&agg.ips, opts.top),
        ip_count: agg.ips.len() as u64,
        countries: involved(&countries, usize::MAX),
        actors: involved(&agg.actors, opts.top),
        actor_count: agg.actors.len() as u64,
        signing_keys: involved(&agg.signing_keys, opts.top),
        signing_key_count: agg.signing_keys.len() as u64,
        unlisted_subjects: agg.unlisted,
        customers: opts.customers,
        share_of_customers: opts
            .customers
            .filter(|&c| c > 0)
            .map(|c| subjects as f64 / c as f64),
        scan,
    }
}

/// The selector in the form the scan uses.
struct Compiled {
    indexes: Option<Arc<Vec<u64>>>,
    credentials: Option<Arc<HashSet<String>>>,
    signing_keys: Option<Arc<HashSet<String>>>,
    actors: Option<Arc<HashSet<String>>>,
    networks: Option<Arc<Vec<IpNet>>>,
    countries: Option<Arc<HashSet<[u8; 2]>>>,
    country_of: Option<CountryLookup>,
    since: i64,
    until: i64,
}

impl Compiled {
    fn new(sel: &Selector, opts: &ScopeOptions) -> Result<Compiled, HistoryError> {
        let set = |v: &[String]| {
            (!v.is_empty()).then(|| Arc::new(v.iter().cloned().collect::<HashSet<String>>()))
        };
        let mut countries = HashSet::new();
        for c in &sel.countries {
            let b = c.as_bytes();
            if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) {
                return Err(HistoryError::Invalid(format!(
                    "country {c:?} is not an ISO 3166 alpha-2 code such as KR"
                )));
            }
            countries.insert([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]);
        }
        let since = sel.since_ms.unwrap_or(i64::MIN);
        let until = sel.until_ms.unwrap_or(i64::MAX);
        if since >= until {
            return Err(HistoryError::Invalid(format!(
                "the time range is empty: since {} is not before until {}",
                sel.since_ms.unwrap_or_default(),
                sel.until_ms.unwrap_or_default()
            )));
        }
        let indexes = sel.ledger_indexes.as_ref().map(|v| {
            let mut v = v.clone();
            v.sort_unstable();
            v.dedup();
            Arc::new(v)
        });
        Ok(Compiled {
            indexes,
            credentials: set(&sel.credentials),
            signing_keys: set(&sel.signing_keys),
            actors: set(&sel.actors),
            networks: (!sel.networks.is_empty())
                .then(|| Arc::new(sel.networks.iter().map(IpNet::trunc).collect())),
            countries: (!countries.is_empty()).then(|| Arc::new(countries)),
            country_of: opts.country_of.clone(),
            since,
            until,
        })
    }

    fn has_time(&self) -> bool {
        self.since != i64::MIN || self.until != i64::MAX
    }

    fn index_in(&self, lo: u64, hi: u64) -> bool {
        match &self.indexes {
            None => true,
            Some(v) => {
                let at = v.partition_point(|&i| i < lo);
                v.get(at).is_some_and(|&i| i <= hi)
            }
        }
    }

    fn time_in(&self, lo: i64, hi: i64) -> bool {
        hi >= self.since && lo < self.until
    }
}

/// One unit of parallel work: a row group and the pages of it worth reading.
struct Task {
    file: usize,
    row_group: usize,
    selection: Option<RowSelection>,
}

struct OpenFile {
    path: PathBuf,
    meta: ArrowReaderMetadata,
}

fn run(
    layout: &Layout,
    sel: &Selector,
    opts: &ScopeOptions,
    per_subject: bool,
) -> Result<(Agg, ScanStats), HistoryError> {
    let c = Compiled::new(sel, opts)?;
    let history = history_dir(layout);
    let state = read_state(&history)?;
    let mut scan = ScanStats {
        indexed_through: state.next_index,
        pruned_before: state
            .pruned_before
            .filter(|p| c.time_in(i64::MIN, day_start_ms(*p) - 1))
            .map(date_of_day),
        ..ScanStats::default()
    };
    let parts = partitions(&history)?;
    scan.oldest_day = parts.first().map(|(d, _)| date_of_day(*d));
    let max_index = c.indexes.as_ref().map(|v| v.last().copied());

    let mut files = Vec::new();
    let mut tasks = Vec::new();
    for (day, dir) in &parts {
        if !c.time_in(day_start_ms(*day), day_start_ms(day + 1) - 1) {
            continue;
        }
        for (first, path) in partition_files(dir)?.files {
            match max_index {
                Some(None) => continue,
                Some(Some(max)) if first > max => continue,
                _ => {}
            }
            let meta = scope_meta(&path, &c)?;
            scan.files += 1;
            scan.row_groups += meta.metadata().num_row_groups() as u64;
            let kept = prune_row_groups(&path, &meta, &c)?;
            scan.row_groups_read += kept.len() as u64;
            for rg in kept {
                let selection = page_selection(&meta, rg, &c);
                if selection.as_ref().is_some_and(|s| !s.selects_any()) {
                    continue;
                }
                tasks.push(Task {
                    file: files.len(),
                    row_group: rg,
                    selection,
                });
            }
            files.push(OpenFile { path, meta });
        }
    }

    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    }
    .min(tasks.len())
    .max(1);
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<HistoryError>> = Mutex::new(None);
    let tasks = &tasks;
    let files = &files;
    let c = &c;
    let aggs: Vec<Agg> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut agg = Agg::new(per_subject);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(task) = tasks.get(i) else { break };
                        if let Err(e) = read_task(&files[task.file], task, c, &mut agg) {
                            if let Ok(mut f) = failed.lock() {
                                f.get_or_insert(e);
                            }
                            // Make the other workers stop early.
                            next.store(tasks.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                    agg
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    if aggs.len() != threads {
        return Err(HistoryError::Invalid(
            "a scope worker thread panicked".into(),
        ));
    }
    let mut total = Agg::new(per_subject);
    for a in aggs {
        total.merge(a);
    }
    Ok((total, scan))
}

/// The file's metadata with the page index (statistics) of the columns the selectors bound,
/// and the offsets of the pages of the columns a scope reads, so it can skip them.
fn scope_meta(path: &std::path::Path, c: &Compiled) -> Result<ArrowReaderMetadata, HistoryError> {
    let mut stats_cols = Vec::new();
    if c.indexes.is_some() {
        stats_cols.push(LEDGER_INDEX);
    }
    if c.has_time() {
        stats_cols.push(TIME);
    }
    open_meta(
        path,
        ColumnChunkMask::columns(stats_cols),
        ColumnChunkMask::columns(OUTPUT),
    )
}

/// Row groups that statistics and bloom filters do not rule out.
fn prune_row_groups(
    path: &std::path::Path,
    meta: &ArrowReaderMetadata,
    c: &Compiled,
) -> Result<Vec<usize>, HistoryError> {
    let md = meta.metadata();
    let mut kept = Vec::new();
    for (i, rg) in md.row_groups().iter().enumerate() {
        if let Some((lo, hi)) = i64_range(rg, LEDGER_INDEX) {
            if !c.index_in(lo as u64, hi as u64) {
                continue;
            }
        }
        if let Some((lo, hi)) = i64_range(rg, TIME) {
            if !c.time_in(lo, hi) {
                continue;
            }
        }
        let in_range =
            |col: usize, set: &Option<Arc<HashSet<String>>>| match (set, bytes_range(rg, col)) {
                (Some(set), Some((lo, hi))) => {
                    set.iter().any(|v| v.as_bytes() >= lo && v.as_bytes() <= hi)
                }
                _ => true,
            };
        if !in_range(CREDENTIAL, &c.credentials)
            || !in_range(ACTOR, &c.actors)
            || !in_range(SIGNING_KEY, &c.signing_keys)
        {
            continue;
        }
        kept.push(i);
    }
    let blooms: Vec<(usize, Vec<String>)> = [
        (CREDENTIAL, &c.credentials),
        (ACTOR, &c.actors),
        (SIGNING_KEY, &c.signing_keys),
    ]
    .into_iter()
    .filter_map(|(col, set)| set.as_ref().map(|s| (col, s.iter().cloned().collect())))
    .chain(c.networks.as_ref().and_then(|nets| {
        // Single addresses can be looked up in the src_ip bloom filter.
        let ips: Option<Vec<String>> = nets
            .iter()
            .map(|n| (n.prefix_len() == n.max_prefix_len()).then(|| n.addr().to_string()))
            .collect();
        ips.map(|ips| (SRC_IP, ips))
    }))
    .collect();
    if blooms.is_empty() || kept.is_empty() {
        return Ok(kept);
    }
    let file = File::open(path).map_err(io_err(path))?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone());
    let mut out = Vec::with_capacity(kept.len());
    'rg: for rg in kept {
        for (col, values) in &blooms {
            if let Some(sbbf) = builder
                .get_row_group_column_bloom_filter(rg, *col)
                .map_err(pq_err(path))?
            {
                if !values.iter().any(|v| sbbf.check(v.as_str())) {
                    continue 'rg;
                }
            }
        }
        out.push(rg);
    }
    Ok(out)
}

/// The pages of row group `rg` that the ledger-index and time selectors leave, by the page
/// index; None when every row must be read.
fn page_selection(meta: &ArrowReaderMetadata, rg: usize, c: &Compiled) -> Option<RowSelection> {
    let index = |lo: i64, hi: i64| c.index_in(lo as u64, hi as u64);
    let time = |lo: i64, hi: i64| c.time_in(lo, hi);
    select_pages(
        meta,
        rg,
        c.indexes
            .is_some()
            .then_some(&index as &dyn Fn(i64, i64) -> bool),
        c.has_time().then_some(&time as &dyn Fn(i64, i64) -> bool),
    )
}

/// The pages of row group `rg` whose `ledger_index` and `time` ranges (min, max, by the page
/// index) pass `index` and `time`; None when every row must be read. Shared with `sql`.
pub(crate) fn select_pages(
    meta: &ArrowReaderMetadata,
    rg: usize,
    index: Option<&dyn Fn(i64, i64) -> bool>,
    time: Option<&dyn Fn(i64, i64) -> bool>,
) -> Option<RowSelection> {
    let md = meta.metadata();
    let rows = usize::try_from(md.row_group(rg).num_rows()).ok()?;
    let page_index = md.page_index()?;
    let mut selection: Option<RowSelection> = None;
    let mut narrow = |col: usize, keep: &dyn Fn(i64, i64) -> bool| {
        let (Some(ColumnIndexMetaData::INT64(ci)), Some(oi)) = (
            page_index.column_index(rg, col),
            page_index.offset_index(rg, col),
        ) else {
            return;
        };
        let locs = oi.page_locations();
        // The page index comes from the file: one that does not describe the pages in order,
        // one entry per page, narrows nothing (every row is read and filtered), rather than
        // reach the parquet crate's indexing and ordering assertions.
        let pages = locs.len();
        if ci.num_pages() != pages as u64
            || ci.min_values().len() != pages
            || ci.max_values().len() != pages
        {
            return;
        }
        let mut ranges: Vec<Range<usize>> = Vec::new();
        let mut prev_start = 0;
        for (p, loc) in locs.iter().enumerate() {
            let start = usize::try_from(loc.first_row_index).unwrap_or(usize::MAX);
            let end = locs.get(p + 1).map_or(rows, |n| {
                usize::try_from(n.first_row_index).unwrap_or(usize::MAX)
            });
            if start < prev_start || start > end || end > rows {
                return;
            }
            prev_start = start;
            let wanted = match (ci.min_value(p), ci.max_value(p)) {
                (Some(&lo), Some(&hi)) => keep(lo, hi),
                _ => true,
            };
            if wanted && start < end {
                match ranges.last_mut() {
                    Some(r) if r.end == start => r.end = end,
                    _ => ranges.push(start..end),
                }
            }
        }
        let s = RowSelection::from_consecutive_ranges(ranges.into_iter(), rows);
        selection = Some(match selection.take() {
            Some(prev) => prev.intersection(&s),
            None => s,
        });
    };
    if let Some(keep) = index {
        narrow(LEDGER_INDEX, keep);
    }
    if let Some(keep) = time {
        narrow(TIME, keep);
    }
    selection
}

/// The columns a scope aggregates.
const OUTPUT: [usize; 10] = [
    LEDGER_INDEX,
    TIME,
    ACTOR,
    SRC_IP,
    COUNTRY,
    CREDENTIAL,
    SIGNING_KEY,
    SUBJECTS,
    SUBJECT_COUNT,
    FIELDS,
];

/// Rows decoded at a time.
const BATCH_ROWS: usize = 64 * 1024;

fn read_task(
    file: &OpenFile,
    task: &Task,
    c: &Compiled,
    agg: &mut Agg,
) -> Result<(), HistoryError> {
    let path = &file.path;
    let f = File::open(path).map_err(io_err(path))?;
    let descr = file.meta.metadata().file_metadata().schema_descr_ptr();
    let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, file.meta.clone())
        .with_row_groups(vec![task.row_group])
        .with_batch_size(BATCH_ROWS)
        .with_projection(ProjectionMask::leaves(&descr, OUTPUT));
    if let Some(sel) = &task.selection {
        b = b.with_row_selection(sel.clone());
    }
    let preds = predicates(&descr, c);
    if !preds.is_empty() {
        b = b.with_row_filter(RowFilter::new(preds));
    }
    let reader = b.build().map_err(pq_err(path))?;
    for batch in reader {
        let batch = batch.map_err(|source| HistoryError::Arrow {
            path: path.clone(),
            source,
        })?;
        agg.add_batch(&batch)
            .map_err(|detail| HistoryError::Corrupt {
                path: path.clone(),
                detail,
            })?;
    }
    Ok(())
}

/// The selectors as row filters, most selective first.
fn predicates(
    descr: &parquet::schema::types::SchemaDescriptor,
    c: &Compiled,
) -> Vec<Box<dyn ArrowPredicate>> {
    let mut out: Vec<Box<dyn ArrowPredicate>> = Vec::new();
    let mask = |col: usize| ProjectionMask::leaves(descr, [col]);
    if let Some(ix) = &c.indexes {
        let ix = ix.clone();
        out.push(Box::new(ArrowPredicateFn::new(
            mask(LEDGER_INDEX),
            move |batch: RecordBatch| {
                let col = batch
                    .column(0)
                    .as_primitive_opt::<UInt64Type>()
                    .ok_or_else(|| ArrowError::CastError("ledger_index is not UInt64".into()))?;
                Ok(BooleanArray::from(BooleanBuffer::collect_bool(
                    col.len(),
                    |i| ix.binary_search(&col.value(i)).is_ok(),
                )))
            },
        )));
    }
    for (col, set) in [
        (CREDENTIAL, &c.credentials),
        (SIGNING_KEY, &c.signing_keys),
        (ACTOR, &c.actors),
    ] {
        if let Some(set) = set {
            let set = set.clone();
            out.push(string_predicate(mask(col), move |s: &str| set.contains(s)));
        }
    }
    if c.networks.is_some() || (c.countries.is_some() && c.country_of.is_some()) {
        let nets = c.networks.clone();
        let countries = c.countries.clone();
        let lookup = c.country_of.clone();
        out.push(string_predicate(mask(SRC_IP), move |s: &str| {
            let Ok(ip) = s.parse::<IpAddr>() else {
                return false;
            };
            if let Some(nets) = &nets {
                if !nets.iter().any(|n| n.contains(&ip)) {
                    return false;
                }
            }
            match (&countries, &lookup) {
                (Some(set), Some(lookup)) => lookup(ip).is_some_and(|cc| set.contains(&cc)),
                _ => true,
            }
        }));
    }
    if let (Some(countries), None) = (&c.countries, &c.country_of) {
        let countries = countries.clone();
        out.push(string_predicate(mask(COUNTRY), move |s: &str| {
            let b = s.as_bytes();
            b.len() == 2
                && countries.contains(&[b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
        }));
    }
    if c.has_time() {
        // `until` is exclusive; times are whole milliseconds.
        out.push(time_within(mask(TIME), c.since, c.until.saturating_sub(1)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ArrowReaderOptions;
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::page_index::PageIndexBuilder;
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataBuilder};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    /// A two-column file (`ledger_index`, `time`) of 100 rows in pages of 10, read back with
    /// its page index.
    fn paged_file(dir: &std::path::Path) -> ArrowReaderMetadata {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ledger_index", DataType::Int64, false),
            Field::new("time", DataType::Int64, false),
        ]));
        let col: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100));
        let batch = RecordBatch::try_new(schema.clone(), vec![col.clone(), col]).expect("batch");
        let props = WriterProperties::builder()
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_data_page_row_count_limit(10)
            .set_write_batch_size(10)
            .build();
        let path = dir.join("t.parquet");
        let mut w = ArrowWriter::try_new(File::create(&path).expect("create"), schema, Some(props))
            .expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        ArrowReaderMetadata::load(
            &File::open(&path).expect("open"),
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required),
        )
        .expect("metadata")
    }

    /// `meta` with the offset index of `col` in row group 0 changed by `f`.
    fn with_offsets(
        meta: &ArrowReaderMetadata,
        col: usize,
        f: impl FnOnce(&mut Vec<parquet::file::page_index::offset_index::PageLocation>),
    ) -> ArrowReaderMetadata {
        let md = meta.metadata();
        let pi = md.page_index().expect("page index");
        let mut b = PageIndexBuilder::new(1, 2);
        let mut f = Some(f);
        for c in 0..2 {
            b.put_column_index(pi.column_index(0, c).expect("ci").clone(), 0, c);
            let mut oi = pi.offset_index(0, c).expect("oi").clone();
            if let Some(f) = f.take_if(|_| c == col) {
                f(&mut oi.page_locations);
            }
            b.put_offset_index(oi, 0, c);
        }
        let md = ParquetMetaDataBuilder::new_from_metadata((**md).clone())
            .set_page_index(Some(Arc::new(b.build())))
            .build();
        ArrowReaderMetadata::try_new(Arc::new(md), ArrowReaderOptions::new()).expect("metadata")
    }

    #[test]
    fn a_page_index_out_of_order_or_short_narrows_nothing_and_does_not_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = paged_file(dir.path());
        let keep_low = |lo: i64, _hi: i64| lo < 20;
        // As written: only the first two pages (rows 0..20) are wanted.
        let s = select_pages(&meta, 0, Some(&keep_low), None).expect("narrowed");
        assert_eq!(s.row_count(), 20);
        // Pages that go backwards (0, 10, ..., 80, 40, ...): nothing narrowed, no panic.
        let bad = with_offsets(&meta, LEDGER_INDEX, |locs| {
            assert!(locs.len() >= 10, "{} pages", locs.len());
            locs[9].first_row_index = 40;
        });
        assert!(select_pages(&bad, 0, Some(&keep_low), None).is_none_or(|s| s.row_count() == 100));
        // One page fewer in the offset index than in the column index.
        let short = with_offsets(&meta, TIME, |locs| {
            locs.pop();
        });
        let got = select_pages(&short, 0, None, Some(&keep_low));
        assert!(got.as_ref().is_none_or(|s| s.row_count() == 100), "{got:?}");
    }
}
