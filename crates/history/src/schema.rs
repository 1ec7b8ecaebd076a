//! The columns of a history file and how they are encoded.
//!
//! One row per access record. Low-cardinality strings (actor, action, resource, src_ip,
//! country, credential, signing_key, outcome, purpose) are dictionary-encoded, and the ones a
//! scope selects on also get a bloom filter per row group, so a credential that is not in a row
//! group costs one small read. `ledger_index` and `time` are delta-encoded with page statistics
//! (the page index), so a time range or a handful of ledger indexes read a few pages only.
//! Pages are small ([`PAGE_ROWS`], [`SUBJECT_PAGE_ROWS`]), so sparse matches skip most pages.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

/// The columns, in file order. Each is one Parquet leaf column, so these are also the leaf
/// indexes used in projections.
pub const COLUMNS: [&str; 15] = [
    "ledger_index",
    "time",
    "actor",
    "action",
    "resource",
    "src_ip",
    "country",
    "credential",
    "signing_key",
    "subjects",
    "subject_count",
    "fields",
    "purpose",
    "outcome",
    "id",
];

pub(crate) const LEDGER_INDEX: usize = 0;
pub(crate) const TIME: usize = 1;
pub(crate) const ACTOR: usize = 2;
pub(crate) const SRC_IP: usize = 5;
pub(crate) const COUNTRY: usize = 6;
pub(crate) const CREDENTIAL: usize = 7;
pub(crate) const SIGNING_KEY: usize = 8;
pub(crate) const SUBJECTS: usize = 9;
pub(crate) const SUBJECT_COUNT: usize = 10;
pub(crate) const FIELDS: usize = 11;

/// Columns read as dictionaries (their keys are compared, not their strings).
pub(crate) const DICTIONARY_COLUMNS: [&str; 9] = [
    "actor",
    "action",
    "resource",
    "src_ip",
    "country",
    "credential",
    "signing_key",
    "purpose",
    "outcome",
];

/// Rows per row group: the unit of pruning and of parallel work.
pub(crate) const ROW_GROUP_ROWS: usize = 1 << 20;
/// Rows per data page at most: the unit of skipping inside a row group. Small, because a
/// scope decodes the pages that hold a selected row and skips the others unread.
pub(crate) const PAGE_ROWS: usize = 1024;
/// Rows per page of `subjects`, the widest column: a sparse selection skips most of it.
pub(crate) const SUBJECT_PAGE_ROWS: usize = 256;
/// Values the writer encodes between checks of the page limits (so pages can be this small).
const WRITE_BATCH: usize = 256;
/// Rows per page of the selector columns, which a scope reads whole: fewer, larger pages.
pub(crate) const SELECTOR_PAGE_ROWS: usize = 8 * 1024;

/// Key of the format version in each file's key-value metadata.
pub(crate) const VERSION_KEY: &str = "suho.history.version";
/// The format version written.
pub(crate) const VERSION: &str = "1";

/// The Arrow schema of a history file.
pub fn history_schema() -> SchemaRef {
    let list = |name: &str| {
        Field::new(
            name,
            DataType::List(Arc::new(Field::new("element", DataType::Utf8, false))),
            false,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("ledger_index", DataType::UInt64, false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("actor", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("resource", DataType::Utf8, false),
        Field::new("src_ip", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
        Field::new("credential", DataType::Utf8, true),
        Field::new("signing_key", DataType::Utf8, true),
        list("subjects"),
        Field::new("subject_count", DataType::UInt64, true),
        list("fields"),
        Field::new("purpose", DataType::Utf8, true),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, true),
    ]))
}

/// The same schema as read by a scope: the dictionary columns as `Dictionary(Int32, Utf8)`.
/// Built from the schema the file itself declares, so an older file still opens.
pub(crate) fn scan_schema(file_schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .map(|f| {
            if DICTIONARY_COLUMNS.contains(&f.name().as_str()) && *f.data_type() == DataType::Utf8 {
                Field::new(
                    f.name(),
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                    f.is_nullable(),
                )
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, HashMap::new()))
}

/// How history files are written.
pub(crate) fn writer_properties(row_group_rows: usize) -> WriterProperties {
    let col = |name: &str| ColumnPath::from(name);
    let leaf = |name: &str| {
        ColumnPath::from(vec![
            name.to_string(),
            "list".to_string(),
            "element".to_string(),
        ])
    };
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(WRITE_BATCH)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: LEDGER_INDEX as i32,
            descending: false,
            nulls_first: false,
        }]))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            VERSION_KEY.to_string(),
            VERSION.to_string(),
        )]));
    for name in ["ledger_index", "time"] {
        b = b
            .set_column_dictionary_enabled(col(name), false)
            .set_column_encoding(col(name), Encoding::DELTA_BINARY_PACKED);
    }
    // High-cardinality columns: no dictionary, no statistics (never selected on by range).
    for path in [leaf("subjects"), col("id")] {
        b = b
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_statistics_enabled(path, EnabledStatistics::None);
    }
    b = b.set_column_data_page_row_count_limit(leaf("subjects"), SUBJECT_PAGE_ROWS);
    // Dictionary keys are bit-packed small integers that Snappy cannot shrink: storing them
    // uncompressed costs no space and saves a decompression per page read.
    for path in DICTIONARY_COLUMNS
        .iter()
        .map(|n| col(n))
        .chain([leaf("fields")])
    {
        b = b.set_column_compression(path, Compression::UNCOMPRESSED);
    }
    // Selectors by equality: a bloom filter per row group lets a scope skip it unread.
    for name in ["actor", "credential", "signing_key", "src_ip"] {
        b = b
            .set_column_bloom_filter_fpp(col(name), 0.01)
            .set_column_bloom_filter_max_ndv(col(name), 64 * 1024)
            .set_column_data_page_row_count_limit(col(name), SELECTOR_PAGE_ROWS);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_constants_name_the_schema_columns() {
        let schema = history_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, COLUMNS);
        for (i, name) in [
            (LEDGER_INDEX, "ledger_index"),
            (TIME, "time"),
            (ACTOR, "actor"),
            (SRC_IP, "src_ip"),
            (COUNTRY, "country"),
            (CREDENTIAL, "credential"),
            (SIGNING_KEY, "signing_key"),
            (SUBJECTS, "subjects"),
            (SUBJECT_COUNT, "subject_count"),
            (FIELDS, "fields"),
        ] {
            assert_eq!(COLUMNS[i], name);
        }
    }
}
