//! Retention: whole day partitions older than the retention period are deleted.

use std::fs::{self, File};

use parquet::file::metadata::ParquetMetaDataReader;
use serde::Serialize;
use suho_ledger::Layout;

use crate::day::{date_of_day, day_of_ms};
use crate::sync::{
    lock, partition_files, partitions, read_state, write_state, PartitionFiles, State,
};
use crate::writer::sync_dir;
use crate::{history_dir, io_err, pq_err, HistoryError};

/// One deleted day partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrunedPartition {
    /// Its day, `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Files deleted.
    pub files: u64,
    /// Records they held.
    pub records: u64,
    /// Lowest ledger index among them (None for an empty partition).
    pub first_index: Option<u64>,
    /// Highest ledger index among them.
    pub last_index: Option<u64>,
}

/// What a pruning deleted; the caller records it in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Days before this one (`YYYY-MM-DD`, UTC) were deleted.
    pub horizon: String,
    /// The retention period applied, in days.
    pub keep_days: u32,
    /// The deleted partitions, oldest first.
    pub partitions: Vec<PrunedPartition>,
    /// Records deleted in all.
    pub records: u64,
    /// Day partitions the history still holds after the pruning.
    pub kept_partitions: u64,
    /// Records they hold.
    pub kept_records: u64,
}

pub(crate) fn prune(
    layout: &Layout,
    keep_days: u32,
    now_ms: i64,
    dry_run: bool,
) -> Result<PruneReport, HistoryError> {
    let history = history_dir(layout);
    let _lock = lock(&history)?;
    let horizon = day_of_ms(now_ms) - i64::from(keep_days);
    let mut report = PruneReport {
        horizon: date_of_day(horizon),
        keep_days,
        partitions: Vec::new(),
        records: 0,
        kept_partitions: 0,
        kept_records: 0,
    };
    let parts = partitions(&history)?;
    for (_, dir) in parts.iter().filter(|(day, _)| *day >= horizon) {
        report.kept_partitions += 1;
        for (_, path) in partition_files(dir)?.files {
            report.kept_records += rows_and_last_index(&path)?.0;
        }
    }
    if !dry_run && parts.first().is_some_and(|(day, _)| *day < horizon) {
        // Said before anything is deleted: a crash midway leaves answers marked incomplete
        // over days that may still be there, never complete over days that are gone.
        let state = read_state(&history)?;
        if state.pruned_before.is_none_or(|p| p < horizon) {
            write_state(
                &history,
                &State {
                    pruned_before: Some(horizon),
                    ..state
                },
            )?;
        }
    }
    for (day, dir) in parts {
        if day >= horizon {
            break;
        }
        let PartitionFiles { files, tmps } = partition_files(&dir)?;
        let mut part = PrunedPartition {
            date: date_of_day(day),
            files: files.len() as u64,
            records: 0,
            first_index: None,
            last_index: None,
        };
        for (first, path) in &files {
            let (rows, last) = rows_and_last_index(path)?;
            part.records += rows;
            part.first_index = Some(part.first_index.map_or(*first, |f: u64| f.min(*first)));
            if let Some(last) = last {
                part.last_index = Some(part.last_index.map_or(last, |l: u64| l.max(last)));
            }
        }
        if dry_run {
            report.records += part.records;
            report.partitions.push(part);
            continue;
        }
        for path in files.iter().map(|(_, p)| p).chain(tmps.iter()) {
            fs::remove_file(path).map_err(io_err(path))?;
        }
        fs::remove_dir(&dir).map_err(io_err(&dir))?;
        report.records += part.records;
        report.partitions.push(part);
    }
    if !report.partitions.is_empty() {
        sync_dir(&history)?;
    }
    Ok(report)
}

/// Rows of a history file and its highest ledger index, from its footer alone.
fn rows_and_last_index(path: &std::path::Path) -> Result<(u64, Option<u64>), HistoryError> {
    let file = File::open(path).map_err(io_err(path))?;
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(pq_err(path))?;
    let rows = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    let mut last = None;
    for rg in meta.row_groups() {
        if let Some(parquet::file::statistics::Statistics::Int64(s)) =
            rg.column(crate::schema::LEDGER_INDEX).statistics()
        {
            if let Some(max) = s.max_opt() {
                let max = *max as u64;
                last = Some(last.map_or(max, |l: u64| l.max(max)));
            }
        }
    }
    Ok((rows, last))
}
