//! Retention: removing the oldest records' bodies (personal data) while the log stays whole
//! and verifiable, in the manner of C2SP tlog-tiles' *minimum index*.
//!
//! Only whole write-ahead-log segments go, oldest first, and only when every record in them
//! is older than the retention horizon by event time and covered by a checkpoint. The entries
//! and tiles stay (they hold no personal data), so every root, inclusion and consistency proof
//! can still be built. `wal/PRUNED` names the minimum index (the first record whose body is
//! kept), the ledger index of the record that documents the pruning, and the horizon; `verify`
//! checks the pruned part from the entry bundles and refuses an entry there whose event time
//! is not older than the horizon, so pruning cannot hide recent records.

use std::fs;
use std::path::{Path, PathBuf};

use crate::entry::Entry;
use crate::wal::{list_segments, segment_path, BlockProblem, SegmentReader};
use crate::{Layout, Ledger, LedgerError};

/// The pruning marker: `wal/PRUNED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneMark {
    /// Records below this ledger index have no body any more.
    pub min_index: u64,
    /// Ledger index of the record that documents the pruning.
    pub record: u64,
    /// Every pruned record's event time is before this (epoch ms).
    pub horizon_ms: i64,
}

/// What a prune would remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunePlan {
    /// The new minimum index.
    pub min_index: u64,
    /// Segments to remove (first index of each).
    pub segments: Vec<u64>,
    /// Records whose bodies go.
    pub records: u64,
    /// Bytes freed.
    pub bytes: u64,
    /// The horizon the plan was made for.
    pub horizon_ms: i64,
}

fn mark_path(layout: &Layout) -> PathBuf {
    layout.wal().join("PRUNED")
}

/// Read `wal/PRUNED` (None when the log was never pruned).
pub fn read_mark(layout: &Layout) -> Result<Option<PruneMark>, LedgerError> {
    let path = mark_path(layout);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LedgerError::Io { path, source }),
    };
    let bad = |detail: String| LedgerError::Corrupt {
        path: path.clone(),
        detail,
    };
    let mut min_index = None;
    let mut record = None;
    let mut horizon_ms = None;
    for line in text.lines() {
        let (k, v) = line
            .split_once(' ')
            .ok_or_else(|| bad(format!("line {line:?} is not `key value`")))?;
        match k {
            "min_index" => min_index = v.parse().ok(),
            "record" => record = v.parse().ok(),
            "horizon_ms" => horizon_ms = v.parse().ok(),
            _ => return Err(bad(format!("unknown key {k:?}"))),
        }
    }
    match (min_index, record, horizon_ms) {
        (Some(min_index), Some(record), Some(horizon_ms)) => Ok(Some(PruneMark {
            min_index,
            record,
            horizon_ms,
        })),
        _ => Err(bad("needs min_index, record and horizon_ms".into())),
    }
}

/// The largest event time in segment `first`, with its record count and size.
fn segment_stats(dir: &Path, first: u64) -> Result<(i64, u64, u64), LedgerError> {
    let mut r = SegmentReader::open(dir, first)?;
    let mut next = first;
    let mut newest = i64::MIN;
    while !r.at_end() {
        let block = match r.next_block(next, true)? {
            Ok(b) => b,
            Err(BlockProblem::Truncated) => break,
            Err(BlockProblem::Corrupt(d)) => {
                return Err(LedgerError::Corrupt {
                    path: r.path().to_path_buf(),
                    detail: format!("block at record {next}: {d}"),
                })
            }
        };
        let frames = block.frames().map_err(|detail| LedgerError::Corrupt {
            path: r.path().to_path_buf(),
            detail,
        })?;
        for f in &frames {
            if let Some(e) = Entry::decode(&f.entry) {
                newest = newest.max(e.event_time_ms);
            }
        }
        next += u64::from(block.count);
    }
    let bytes = fs::metadata(segment_path(dir, first))
        .map(|m| m.len())
        .unwrap_or(0);
    Ok((newest, next - first, bytes))
}

impl Ledger {
    /// Which oldest segments could go for a retention horizon (epoch ms): whole segments, each
    /// wholly older than the horizon and checkpointed; never the segment being written.
    pub fn plan_prune(&self, horizon_ms: i64) -> Result<Option<PrunePlan>, LedgerError> {
        let dir = self.layout.wal();
        let current = read_mark(&self.layout)?.map_or(0, |m| m.min_index);
        let segs: Vec<u64> = list_segments(&dir)?
            .into_iter()
            .filter(|s| *s >= current)
            .collect();
        let mut plan = PrunePlan {
            min_index: current,
            segments: Vec::new(),
            records: 0,
            bytes: 0,
            horizon_ms,
        };
        for w in segs.windows(2) {
            let (first, end) = (w[0], w[1]);
            if end > self.checkpoint_size {
                break;
            }
            let (newest, records, bytes) = segment_stats(&dir, first)?;
            if newest >= horizon_ms {
                break;
            }
            plan.segments.push(first);
            plan.records += records;
            plan.bytes += bytes;
            plan.min_index = end;
        }
        Ok((!plan.segments.is_empty()).then_some(plan))
    }

    /// Carry out `plan` once the record documenting it is stored at `record` (and
    /// checkpointed): write `wal/PRUNED` durably first, then remove the segments. A crash in
    /// between leaves segments below the minimum index, which are ignored and removed by the
    /// next prune.
    pub fn apply_prune(&mut self, plan: &PrunePlan, record: u64) -> Result<(), LedgerError> {
        if record >= self.checkpoint_size || record < plan.min_index {
            return Err(LedgerError::Proof(format!(
                "the pruning record {record} must be checkpointed and at or after the new minimum index {}",
                plan.min_index
            )));
        }
        let path = mark_path(&self.layout);
        let text = format!(
            "min_index {}\nrecord {record}\nhorizon_ms {}\n",
            plan.min_index, plan.horizon_ms
        );
        crate::write_atomic(&path, text.as_bytes())?;
        let dir = self.layout.wal();
        for first in list_segments(&dir)?
            .into_iter()
            .filter(|s| *s < plan.min_index)
        {
            for p in [
                segment_path(&dir, first),
                dir.join(format!("{first:020}.idx")),
            ] {
                match fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => return Err(LedgerError::Io { path: p, source }),
                }
            }
        }
        Ok(())
    }
}
