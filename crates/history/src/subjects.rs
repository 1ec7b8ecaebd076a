//! The per-subject list of a scope (`--out`): one entry per distinct subject with the field
//! categories processed, first and last access, number of accesses and their ledger indexes,
//! written as CSV, NDJSON or Parquet.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use suho_durable::AtomicFile;

use arrow_array::builder::{
    ListBuilder, StringBuilder, TimestampMillisecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use suho_record::time::Rfc3339;

use crate::agg::Agg;
use crate::{arrow_err, io_err, pq_err, HistoryError};

/// Output format of a per-subject list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFormat {
    /// Comma-separated values with a header row; lists joined by `;`.
    Csv,
    /// One JSON object per line.
    Ndjson,
    /// Apache Parquet.
    Parquet,
}

impl OutFormat {
    /// The format named by a path's extension: `.csv`, `.ndjson`/`.jsonl`/`.json`, `.parquet`.
    pub fn from_path(path: &Path) -> Option<OutFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(OutFormat::Csv),
            "ndjson" | "jsonl" | "json" => Some(OutFormat::Ndjson),
            "parquet" => Some(OutFormat::Parquet),
            _ => None,
        }
    }

    /// The format named `csv`, `ndjson` or `parquet`.
    pub fn from_name(name: &str) -> Option<OutFormat> {
        match name.to_ascii_lowercase().as_str() {
            "csv" => Some(OutFormat::Csv),
            "ndjson" | "jsonl" => Some(OutFormat::Ndjson),
            "parquet" => Some(OutFormat::Parquet),
            _ => None,
        }
    }
}

/// One subject of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectAccess<'a> {
    /// The subject id.
    pub subject: &'a str,
    /// Field categories of its data that were processed, sorted.
    pub fields: Vec<&'a str>,
    /// First access (epoch ms).
    pub first_ms: i64,
    /// Last access (epoch ms).
    pub last_ms: i64,
    /// Number of selected records that listed it.
    pub accesses: u64,
    /// Their ledger indexes, ascending.
    pub ledger_indexes: &'a [u64],
}

/// The distinct subjects of a scope, sorted by subject id.
pub struct SubjectList {
    agg: Agg,
    order: Vec<u32>,
    /// `starts[id]..starts[id + 1]` are subject `id`'s entries of `indexes`.
    starts: Vec<usize>,
    indexes: Vec<u64>,
    extra: HashMap<u32, Vec<u16>>,
    records: Vec<u64>,
}

impl SubjectList {
    pub(crate) fn from_agg(mut agg: Agg) -> SubjectList {
        let n = agg.subjects.len();
        let mut records = agg.record_indexes.take().unwrap_or_default();
        records.sort_unstable();
        let mut hits = agg.hits.take().unwrap_or_default();
        hits.sort_unstable();
        hits.dedup();
        let mut starts = vec![0usize; n + 1];
        for &(id, _) in &hits {
            if let Some(s) = starts.get_mut(id as usize + 1) {
                *s += 1;
            }
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let indexes = hits.into_iter().map(|(_, ix)| ix).collect();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by(|&a, &b| agg.subjects.bytes(a).cmp(agg.subjects.bytes(b)));
        let mut extra: HashMap<u32, Vec<u16>> = HashMap::new();
        for &(id, f) in &agg.extra_fields {
            extra.entry(id).or_default().push(f);
        }
        for v in extra.values_mut() {
            v.sort_unstable();
        }
        SubjectList {
            agg,
            order,
            starts,
            indexes,
            extra,
            records,
        }
    }

    /// Ledger indexes of every selected record, ascending, including records that listed no
    /// subject (a login, a bulk export given only as `subject_count`).
    pub fn record_indexes(&self) -> &[u64] {
        &self.records
    }

    /// Number of distinct subjects.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no subject was touched.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The subjects, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = SubjectAccess<'_>> + '_ {
        self.order.iter().map(move |&id| {
            let s = &self.agg.subjects.list[id as usize];
            let mut fields: Vec<&str> = self
                .agg
                .subject_field_ids(id, &self.extra)
                .into_iter()
                .filter_map(|f| self.agg.field_names.get(f as usize).map(String::as_str))
                .collect();
            fields.sort_unstable();
            let range = self.starts[id as usize]..self.starts[id as usize + 1];
            SubjectAccess {
                subject: self.agg.subjects.name(id),
                fields,
                first_ms: s.first,
                last_ms: s.last,
                accesses: u64::from(s.count),
                ledger_indexes: self.indexes.get(range).unwrap_or(&[]),
            }
        })
    }

    /// Write the list to `path` in `format` (atomically: a temporary file renamed into place).
    /// Returns the number of subjects written.
    pub fn write(&self, path: &Path, format: OutFormat) -> Result<u64, HistoryError> {
        let file = AtomicFile::create(path).map_err(crate::writer::durable_err)?;
        let file = match format {
            OutFormat::Csv => self.write_text(
                file,
                path,
                write_csv_row,
                Some("subject,fields,first_access,last_access,accesses,ledger_indexes\n"),
            )?,
            OutFormat::Ndjson => self.write_text(file, path, write_ndjson_row, None)?,
            OutFormat::Parquet => self.write_parquet(file, path)?,
        };
        file.commit().map_err(crate::writer::durable_err)?;
        Ok(self.len() as u64)
    }

    fn write_text(
        &self,
        mut w: AtomicFile,
        tmp: &Path,
        row: fn(&mut Vec<u8>, &SubjectAccess<'_>),
        header: Option<&str>,
    ) -> Result<AtomicFile, HistoryError> {
        let mut buf = Vec::with_capacity(1024);
        if let Some(h) = header {
            w.write_all(h.as_bytes()).map_err(io_err(tmp))?;
        }
        for s in self.iter() {
            buf.clear();
            row(&mut buf, &s);
            w.write_all(&buf).map_err(io_err(tmp))?;
        }
        Ok(w)
    }

    fn write_parquet(&self, file: AtomicFile, tmp: &Path) -> Result<AtomicFile, HistoryError> {
        let schema = subject_schema();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq_err(tmp))?;
        let mut it = self.iter().peekable();
        while it.peek().is_some() {
            let mut subject = StringBuilder::new();
            let mut fields = ListBuilder::new(StringBuilder::new())
                .with_field(Arc::new(Field::new("element", DataType::Utf8, false)));
            let mut first = TimestampMillisecondBuilder::new().with_timezone("UTC");
            let mut last = TimestampMillisecondBuilder::new().with_timezone("UTC");
            let mut accesses = UInt64Builder::new();
            let mut indexes = ListBuilder::new(UInt64Builder::new())
                .with_field(Arc::new(Field::new("element", DataType::UInt64, false)));
            for s in it.by_ref().take(64 * 1024) {
                subject.append_value(s.subject);
                for f in &s.fields {
                    fields.values().append_value(f);
                }
                fields.append(true);
                first.append_value(s.first_ms);
                last.append_value(s.last_ms);
                accesses.append_value(s.accesses);
                indexes.values().append_slice(s.ledger_indexes);
                indexes.append(true);
            }
            let cols: Vec<ArrayRef> = vec![
                Arc::new(subject.finish()),
                Arc::new(fields.finish()),
                Arc::new(first.finish()),
                Arc::new(last.finish()),
                Arc::new(accesses.finish()),
                Arc::new(indexes.finish()),
            ];
            let batch = RecordBatch::try_new(schema.clone(), cols).map_err(arrow_err(tmp))?;
            w.write(&batch).map_err(pq_err(tmp))?;
        }
        w.into_inner().map_err(pq_err(tmp))
    }
}

/// The schema of a per-subject Parquet list.
pub(crate) fn subject_schema() -> SchemaRef {
    let list = |name: &str, t: DataType| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("element", t, false))),
            false,
        )
    };
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("subject", DataType::Utf8, false),
        list("fields", DataType::Utf8),
        Field::new("first_access", ts.clone(), false),
        Field::new("last_access", ts, false),
        Field::new("accesses", DataType::UInt64, false),
        list("ledger_indexes", DataType::UInt64),
    ]))
}

fn csv_field(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn write_csv_row(out: &mut Vec<u8>, s: &SubjectAccess<'_>) {
    use std::io::Write as _;
    csv_field(out, s.subject);
    out.push(b',');
    csv_field(out, &s.fields.join(";"));
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        ",{},{},{},",
        Rfc3339(s.first_ms),
        Rfc3339(s.last_ms),
        s.accesses
    );
    for (i, ix) in s.ledger_indexes.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        let _ = write!(out, "{ix}");
    }
    out.push(b'\n');
}

fn write_ndjson_row(out: &mut Vec<u8>, s: &SubjectAccess<'_>) {
    #[derive(serde::Serialize)]
    struct Row<'a> {
        subject: &'a str,
        fields: &'a [&'a str],
        first_access: String,
        last_access: String,
        accesses: u64,
        ledger_indexes: &'a [u64],
    }
    let row = Row {
        subject: s.subject,
        fields: &s.fields,
        first_access: Rfc3339(s.first_ms).to_string(),
        last_access: Rfc3339(s.last_ms).to_string(),
        accesses: s.accesses,
        ledger_indexes: s.ledger_indexes,
    };
    // Serialising plain strings and integers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &row);
    out.push(b'\n');
}
