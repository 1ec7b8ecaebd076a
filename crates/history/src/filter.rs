//! What scope and the SQL tables share to read less: opening a file's metadata with the page
//! index they prune by, row-group statistics, and row filters that the Parquet reader evaluates
//! on one column before it decodes the others.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType, UInt64Type};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_buffer::BooleanBuffer;
use arrow_schema::ArrowError;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::{ColumnChunkMask, PageIndexPolicy, RowGroupMetaData};
use parquet::file::statistics::Statistics;

use crate::schema::scan_schema;
use crate::{io_err, pq_err, HistoryError};

/// The metadata of the Parquet file at `path`, with the page statistics of `stats` columns and
/// the page offsets of `offsets` columns, read with the scan schema (dictionary columns as
/// dictionaries).
pub(crate) fn open_meta(
    path: &std::path::Path,
    stats: ColumnChunkMask,
    offsets: ColumnChunkMask,
) -> Result<ArrowReaderMetadata, HistoryError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let opts = ArrowReaderOptions::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .with_column_index_mask(stats)
        .with_offset_index_mask(offsets);
    let meta = ArrowReaderMetadata::load(&file, opts).map_err(pq_err(path))?;
    let schema = scan_schema(meta.schema());
    ArrowReaderMetadata::try_new(
        meta.metadata().clone(),
        ArrowReaderOptions::new().with_schema(schema),
    )
    .map_err(pq_err(path))
}

/// Minimum and maximum of an INT64 column chunk, from its statistics.
pub(crate) fn i64_range(rg: &RowGroupMetaData, col: usize) -> Option<(i64, i64)> {
    match rg.column(col).statistics() {
        Some(Statistics::Int64(s)) => Some((*s.min_opt()?, *s.max_opt()?)),
        _ => None,
    }
}

/// Minimum and maximum bytes of a column chunk, from its statistics.
pub(crate) fn bytes_range(rg: &RowGroupMetaData, col: usize) -> Option<(&[u8], &[u8])> {
    let s = rg.column(col).statistics()?;
    Some((s.min_bytes_opt()?, s.max_bytes_opt()?))
}

/// A row filter testing one string column with `test`: on a dictionary column, `test` runs once
/// per distinct value of the row group, and rows are matched by their keys.
pub(crate) fn string_predicate(
    mask: ProjectionMask,
    test: impl Fn(&str) -> bool + Send + 'static,
) -> Box<dyn ArrowPredicate> {
    // Per dictionary: which keys match, whether any does, and the key when exactly one does.
    let mut cache: Option<(ArrayRef, Vec<bool>, bool, Option<i32>)> = None;
    Box::new(ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
        let col = batch.column(0);
        if let Some(d) = col.as_dictionary_opt::<Int32Type>() {
            let fresh = !matches!(&cache, Some((values, ..)) if Arc::ptr_eq(values, d.values()));
            if fresh {
                let values = d.values().as_string_opt::<i32>().ok_or_else(|| {
                    ArrowError::CastError("a dictionary of strings was expected".into())
                })?;
                let hits: Vec<bool> = (0..values.len())
                    .map(|k| values.is_valid(k) && test(values.value(k)))
                    .collect();
                let mut matching = hits.iter().enumerate().filter(|(_, &h)| h).map(|(k, _)| k);
                let first = matching.next();
                let single = match (first, matching.next()) {
                    (Some(k), None) => i32::try_from(k).ok(),
                    _ => None,
                };
                cache = Some((d.values().clone(), hits, first.is_some(), single));
            }
            let Some((_, hits, any, single)) = &cache else {
                return Err(ArrowError::ComputeError("predicate cache missing".into()));
            };
            let single = *single;
            if !*any {
                return Ok(BooleanArray::from(BooleanBuffer::new_unset(d.len())));
            }
            let keys = d.keys().values();
            let buf = match single {
                // One matching value (the usual case): a branch-free compare of the keys.
                Some(k) => BooleanBuffer::collect_bool(d.len(), |i| keys[i] == k),
                None => BooleanBuffer::collect_bool(d.len(), |i| {
                    usize::try_from(keys[i])
                        .ok()
                        .and_then(|k| hits.get(k))
                        .copied()
                        .unwrap_or(false)
                }),
            };
            // A null row never matches (its key is arbitrary).
            let buf = match d.keys().nulls() {
                Some(nulls) => &buf & nulls.inner(),
                None => buf,
            };
            return Ok(BooleanArray::from(buf));
        }
        let s = col
            .as_string_opt::<i32>()
            .ok_or_else(|| ArrowError::CastError("a string column was expected".into()))?;
        Ok(BooleanArray::from(BooleanBuffer::collect_bool(
            s.len(),
            |i| s.is_valid(i) && test(s.value(i)),
        )))
    }))
}

/// Rows whose `time` (millisecond timestamp) lies in `lo..=hi`.
pub(crate) fn time_within(mask: ProjectionMask, lo: i64, hi: i64) -> Box<dyn ArrowPredicate> {
    Box::new(ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
        let col = batch
            .column(0)
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| ArrowError::CastError("time is not a millisecond timestamp".into()))?;
        let v = col.values();
        Ok(BooleanArray::from(BooleanBuffer::collect_bool(
            col.len(),
            |i| v[i] >= lo && v[i] <= hi,
        )))
    }))
}

/// Rows whose `ledger_index` lies in `lo..=hi`.
pub(crate) fn index_within(mask: ProjectionMask, lo: u64, hi: u64) -> Box<dyn ArrowPredicate> {
    Box::new(ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
        let col = batch
            .column(0)
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| ArrowError::CastError("ledger_index is not UInt64".into()))?;
        let v = col.values();
        Ok(BooleanArray::from(BooleanBuffer::collect_bool(
            col.len(),
            |i| v[i] >= lo && v[i] <= hi,
        )))
    }))
}
