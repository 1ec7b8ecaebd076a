//! Writing records into day partitions: one open Parquet file per active day, each file
//! named after its first ledger index, made durable by temporary name, fsync and rename.

use std::collections::HashMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use suho_durable::AtomicFile;

use arrow_array::builder::{
    ListBuilder, StringBuilder, TimestampMillisecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef};
use parquet::arrow::ArrowWriter;
use suho_record::AccessRecord;

use crate::day::{day_of_ms, partition_name};
use crate::schema::{history_schema, writer_properties};
use crate::{arrow_err, io_err, pq_err, HistoryError};

/// Tuning of a [`HistoryWriter`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// A file is closed (and a new one started) after this many rows.
    pub rows_per_file: u64,
    /// Day files open at once; the least recently written is closed beyond this.
    pub max_open: usize,
    /// Rows buffered per day before they are encoded.
    pub batch_rows: usize,
    /// Rows per row group (the unit of pruning and of parallel scanning).
    pub row_group_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            rows_per_file: 32 << 20,
            row_group_rows: crate::schema::ROW_GROUP_ROWS,
            max_open: 4,
            batch_rows: 64 * 1024,
        }
    }
}

/// A history file that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its day (days since 1970-01-01, UTC).
    pub day: i64,
    /// Its first ledger index.
    pub first_index: u64,
    /// Its last ledger index.
    pub last_index: u64,
    /// Rows in it.
    pub rows: u64,
}

/// Writes records, in ledger order, into `<history>/date=YYYY-MM-DD/part-<first index>.parquet`.
///
/// Nothing is visible under a `.parquet` name before [`HistoryWriter::finish`] (or the closing
/// of a full file) has made the file durable. Dropping the writer without finishing leaves only
/// temporary files, which the next sync removes.
pub struct HistoryWriter {
    dir: PathBuf,
    opts: WriterOptions,
    schema: SchemaRef,
    open: Vec<DayFile>,
    written: Vec<WrittenFile>,
    last_index: Option<u64>,
    clock: u64,
    country_of: Option<crate::CountryLookup>,
    /// Countries already looked up: a GeoIP lookup per record costs more than the rest of
    /// the row, and records come from far fewer addresses than there are records.
    countries: HashMap<IpAddr, Option<[u8; 2]>>,
}

/// Addresses whose country is remembered before the cache starts afresh.
const COUNTRY_CACHE: usize = 1 << 16;

impl HistoryWriter {
    /// A writer into the history directory `dir` (created when missing).
    pub fn new(dir: &Path, opts: WriterOptions) -> Result<HistoryWriter, HistoryError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        if opts.rows_per_file == 0
            || opts.max_open == 0
            || opts.batch_rows == 0
            || opts.row_group_rows == 0
        {
            return Err(HistoryError::Invalid(format!(
                "writer options must be positive: {opts:?}"
            )));
        }
        Ok(HistoryWriter {
            dir: dir.to_path_buf(),
            opts,
            schema: history_schema(),
            open: Vec::new(),
            written: Vec::new(),
            last_index: None,
            country_of: None,
            countries: HashMap::new(),
            clock: 0,
        })
    }

    /// Fill the `country` column from each record's `src_ip` with `f` (a GeoIP lookup).
    pub fn with_country_of(mut self, f: Option<crate::CountryLookup>) -> HistoryWriter {
        self.country_of = f;
        self
    }

    /// Add the record stored at `ledger_index`. Indexes must increase from call to call.
    pub fn push(&mut self, ledger_index: u64, rec: &AccessRecord<'_>) -> Result<(), HistoryError> {
        if let Some(last) = self.last_index {
            if ledger_index <= last {
                return Err(HistoryError::Invalid(format!(
                    "history rows must come in ledger order: index {ledger_index} after {last}"
                )));
            }
        }
        self.last_index = Some(ledger_index);
        self.clock += 1;
        let day = day_of_ms(rec.time_ms);
        let pos = match self.open.iter().position(|f| f.day == day) {
            Some(p) => p,
            None => {
                if self.open.len() >= self.opts.max_open {
                    let lru = self
                        .open
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, f)| f.used)
                        .map_or(0, |(i, _)| i);
                    let f = self.open.swap_remove(lru);
                    self.written.push(f.close(&self.schema)?);
                }
                self.open.push(DayFile::create(
                    &self.dir,
                    day,
                    ledger_index,
                    &self.schema,
                    &self.opts,
                )?);
                self.open.len() - 1
            }
        };
        let f = &mut self.open[pos];
        f.used = self.clock;
        let country = match (&self.country_of, rec.src_ip) {
            (Some(lookup), Some(ip)) => {
                if self.countries.len() >= COUNTRY_CACHE {
                    self.countries.clear();
                }
                *self.countries.entry(ip).or_insert_with(|| lookup(ip))
            }
            _ => None,
        };
        f.rows.push(ledger_index, rec, country);
        f.count += 1;
        f.last_index = ledger_index;
        if f.rows.len >= self.opts.batch_rows {
            f.flush_rows(&self.schema)?;
        }
        if f.count >= self.opts.rows_per_file {
            let f = self.open.swap_remove(pos);
            self.written.push(f.close(&self.schema)?);
        }
        Ok(())
    }

    /// Close every open file (fsync, rename, fsync of its directory) and list what was written,
    /// in order of first ledger index.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, HistoryError> {
        for f in std::mem::take(&mut self.open) {
            self.written.push(f.close(&self.schema)?);
        }
        let mut written = std::mem::take(&mut self.written);
        written.sort_by_key(|w| w.first_index);
        Ok(written)
    }
}

/// The final name of the file whose first ledger index is `first` in the partition of `day`.
pub(crate) fn part_path(history: &Path, day: i64, first: u64) -> PathBuf {
    history
        .join(partition_name(day))
        .join(format!("part-{first:020}.parquet"))
}

/// The ledger index a `part-<index>.parquet` name starts at.
pub(crate) fn parse_part_name(name: &str) -> Option<u64> {
    name.strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

struct DayFile {
    day: i64,
    first_index: u64,
    last_index: u64,
    count: u64,
    used: u64,
    path: PathBuf,
    writer: ArrowWriter<AtomicFile>,
    rows: Rows,
}

impl DayFile {
    fn create(
        history: &Path,
        day: i64,
        first: u64,
        schema: &SchemaRef,
        opts: &WriterOptions,
    ) -> Result<DayFile, HistoryError> {
        let path = part_path(history, day, first);
        let dir = path
            .parent()
            .map_or_else(|| history.to_path_buf(), Path::to_path_buf);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        // Written as `.part-….parquet.<pid>.<n>.tmp` and renamed into place when closed; a sync
        // that dies leaves only such hidden files, which the next sync removes.
        let file = AtomicFile::create(&path).map_err(durable_err)?;
        let writer = ArrowWriter::try_new(
            file,
            schema.clone(),
            Some(writer_properties(opts.row_group_rows)),
        )
        .map_err(pq_err(&path))?;
        Ok(DayFile {
            day,
            first_index: first,
            last_index: first,
            count: 0,
            used: 0,
            path,
            writer,
            rows: Rows::new(opts.batch_rows),
        })
    }

    fn flush_rows(&mut self, schema: &SchemaRef) -> Result<(), HistoryError> {
        if self.rows.len == 0 {
            return Ok(());
        }
        let batch = self
            .rows
            .take_batch(schema)
            .map_err(arrow_err(&self.path))?;
        self.writer.write(&batch).map_err(pq_err(&self.path))
    }

    fn close(mut self, schema: &SchemaRef) -> Result<WrittenFile, HistoryError> {
        self.flush_rows(schema)?;
        let file = self.writer.into_inner().map_err(pq_err(&self.path))?;
        file.commit().map_err(durable_err)?;
        Ok(WrittenFile {
            path: self.path,
            day: self.day,
            first_index: self.first_index,
            last_index: self.last_index,
            rows: self.count,
        })
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), HistoryError> {
    suho_durable::sync_dir(dir).map_err(durable_err)
}

pub(crate) fn durable_err(e: suho_durable::Error) -> HistoryError {
    HistoryError::Io {
        path: e.path,
        source: e.source,
    }
}

/// Column builders for one batch of rows.
struct Rows {
    len: usize,
    ledger_index: UInt64Builder,
    time: TimestampMillisecondBuilder,
    actor: StringBuilder,
    action: StringBuilder,
    resource: StringBuilder,
    src_ip: StringBuilder,
    country: StringBuilder,
    credential: StringBuilder,
    signing_key: StringBuilder,
    subjects: ListBuilder<StringBuilder>,
    subject_count: UInt64Builder,
    fields: ListBuilder<StringBuilder>,
    purpose: StringBuilder,
    outcome: StringBuilder,
    id: StringBuilder,
    ip_buf: String,
}

fn element() -> Arc<Field> {
    Arc::new(Field::new("element", DataType::Utf8, false))
}

impl Rows {
    fn new(cap: usize) -> Rows {
        let s = || StringBuilder::with_capacity(cap, cap * 8);
        Rows {
            len: 0,
            ledger_index: UInt64Builder::with_capacity(cap),
            time: TimestampMillisecondBuilder::with_capacity(cap).with_timezone("UTC"),
            actor: s(),
            action: s(),
            resource: s(),
            src_ip: s(),
            country: s(),
            credential: s(),
            signing_key: s(),
            subjects: ListBuilder::with_capacity(
                StringBuilder::with_capacity(cap * 2, cap * 24),
                cap,
            )
            .with_field(element()),
            subject_count: UInt64Builder::with_capacity(cap),
            fields: ListBuilder::with_capacity(
                StringBuilder::with_capacity(cap * 3, cap * 24),
                cap,
            )
            .with_field(element()),
            purpose: s(),
            outcome: s(),
            id: s(),
            ip_buf: String::new(),
        }
    }

    fn push(&mut self, index: u64, r: &AccessRecord<'_>, country: Option<[u8; 2]>) {
        use std::fmt::Write;
        self.len += 1;
        self.ledger_index.append_value(index);
        self.time.append_value(r.time_ms);
        self.actor.append_value(&r.actor);
        self.action.append_value(r.action.as_str());
        self.resource.append_value(&r.resource);
        match r.src_ip {
            Some(ip) => {
                self.ip_buf.clear();
                // Writing into a String cannot fail.
                let _ = write!(self.ip_buf, "{ip}");
                self.src_ip.append_value(&self.ip_buf);
            }
            None => self.src_ip.append_null(),
        }
        // From the geo database at sync time (the record itself has only the address).
        match country.as_ref().and_then(|c| std::str::from_utf8(c).ok()) {
            Some(c) => self.country.append_value(c),
            None => self.country.append_null(),
        }
        self.credential.append_option(r.credential.as_deref());
        self.signing_key.append_option(r.signing_key.as_deref());
        for s in &r.subjects {
            self.subjects.values().append_value(s);
        }
        self.subjects.append(true);
        self.subject_count.append_option(r.subject_count);
        for f in &r.fields {
            self.fields.values().append_value(f);
        }
        self.fields.append(true);
        self.purpose.append_option(r.purpose.as_deref());
        self.outcome.append_value(r.outcome.as_str());
        self.id.append_option(r.id.as_deref());
    }

    fn take_batch(&mut self, schema: &SchemaRef) -> Result<RecordBatch, arrow_schema::ArrowError> {
        self.len = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ledger_index.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.actor.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.resource.finish()),
            Arc::new(self.src_ip.finish()),
            Arc::new(self.country.finish()),
            Arc::new(self.credential.finish()),
            Arc::new(self.signing_key.finish()),
            Arc::new(self.subjects.finish()),
            Arc::new(self.subject_count.finish()),
            Arc::new(self.fields.finish()),
            Arc::new(self.purpose.finish()),
            Arc::new(self.outcome.finish()),
            Arc::new(self.id.finish()),
        ];
        RecordBatch::try_new(schema.clone(), cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip_and_sort_by_index() {
        let p = part_path(Path::new("/h"), 20_263, 42);
        assert_eq!(
            p,
            Path::new("/h/date=2025-06-24/part-00000000000000000042.parquet")
        );
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert_eq!(parse_part_name(name), Some(42));
        assert_eq!(
            parse_part_name(".part-00000000000000000042.parquet.tmp"),
            None
        );
        assert!(part_path(Path::new("/h"), 0, 9) < part_path(Path::new("/h"), 0, 10));
    }
}
