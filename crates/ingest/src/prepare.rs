//! Turning a chunk of NDJSON into prepared records: the parallel part of ingest (parse,
//! validate, hash, and compress the chunk's write-ahead-log block).

use std::ops::Range;

use suho_detect::Features;
use suho_ledger::{
    Appended, BatchBlocks, EncodedBlock, IdKey, Ledger, LedgerError, Prepared, ENTRY_LEN,
};
use suho_merkle::Hash;

use crate::window::TimeWindow;
use crate::Detection;

/// One non-blank input line after parsing, validation and hashing.
pub(crate) enum Item {
    Ok {
        line: u64,
        span: Range<usize>,
        time_ms: i64,
        entry: [u8; ENTRY_LEN],
        leaf: Hash,
        id: Option<IdKey>,
    },
    Rejected {
        line: u64,
        reason: String,
        /// The line, or its start, in the chunk's `buf` (for the reject log's excerpt).
        span: Range<usize>,
        /// The whole line's length in bytes.
        bytes: u64,
    },
}

/// A prepared chunk: its bytes, one item per non-blank line, and the blocks of its valid records
/// (one for a 1 MiB file chunk, several for a large HTTP body).
pub(crate) struct PreparedChunk {
    pub(crate) buf: Vec<u8>,
    pub(crate) items: Vec<Item>,
    /// What the detectors read of each `Item::Ok`, in order; empty unless they run. One
    /// allocation per chunk instead of one per record.
    pub(crate) features: Vec<Features>,
    pub(crate) sequenced_ms: i64,
    pub(crate) blocks: Vec<EncodedBlock>,
}

/// Prepare every line of `buf`, whose first line is line number `first_line`, at wall-clock
/// time `now_ms`; a record whose time is outside `window` (taken at `now_ms`) is rejected.
/// `detecting` also extracts what the detectors read.
pub(crate) fn prepare_chunk(
    buf: Vec<u8>,
    first_line: u64,
    now_ms: i64,
    window: &TimeWindow,
    detecting: bool,
) -> PreparedChunk {
    let mut items = Vec::with_capacity(buf.len() / 200 + 1);
    let base = buf.as_ptr() as usize;
    let mut blocks = BatchBlocks::new(now_ms);
    let mut features = Vec::new();
    if detecting {
        features.reserve(buf.len() / 200 + 1);
    }
    for (line, bytes) in suho_record::split_lines(&buf, first_line) {
        let start = bytes.as_ptr() as usize - base;
        let rejected = |reason| Item::Rejected {
            line,
            reason,
            span: start..start + bytes.len(),
            bytes: bytes.len() as u64,
        };
        if bytes.len() > suho_record::MAX_LINE_BYTES {
            items.push(rejected(format!(
                "the line is {} bytes, over the {} MiB limit for one record",
                bytes.len(),
                suho_record::MAX_LINE_BYTES >> 20
            )));
            continue;
        }
        match suho_record::parse_record(bytes) {
            Ok(rec) => {
                if let Err(reason) = window.check(rec.time_ms, rec.time_form) {
                    items.push(rejected(reason));
                    continue;
                }
                let p = Prepared::new(bytes, rec.time_ms, rec.id.as_deref(), now_ms);
                blocks.push(rec.time_ms, bytes);
                if detecting {
                    features.push(Features::from_record(&rec));
                }
                items.push(Item::Ok {
                    line,
                    span: start..start + bytes.len(),
                    time_ms: rec.time_ms,
                    entry: p.entry,
                    leaf: p.leaf,
                    id: p.id,
                });
            }
            Err(e) => items.push(rejected(e.to_string())),
        }
    }
    PreparedChunk {
        buf,
        items,
        features,
        sequenced_ms: now_ms,
        blocks: blocks.finish(),
    }
}

/// Prepare an HTTP body: NDJSON, or a JSON array of records (see [`crate::array`]) whose
/// element *n* is line *n*. A body that starts like an array but is not one is rejected whole,
/// as line 1.
pub(crate) fn prepare_body(
    body: Vec<u8>,
    now_ms: i64,
    window: &TimeWindow,
    detecting: bool,
) -> PreparedChunk {
    if !crate::array::is_array(&body) {
        return prepare_chunk(body, 1, now_ms, window, detecting);
    }
    match crate::array::array_to_lines(&body) {
        Ok(lines) => prepare_chunk(lines, 1, now_ms, window, detecting),
        Err(reason) => {
            let bytes = body.len() as u64;
            PreparedChunk::rejected(1, reason, body, bytes)
        }
    }
}

impl PreparedChunk {
    /// A chunk of one rejected line that is `bytes` long, of which `head` holds at least the
    /// start (only the reject log's excerpt of it is kept).
    pub(crate) fn rejected(line: u64, reason: String, mut head: Vec<u8>, bytes: u64) -> Self {
        head.truncate(crate::EXCERPT_BYTES);
        head.shrink_to_fit();
        PreparedChunk {
            items: vec![Item::Rejected {
                line,
                reason,
                span: 0..head.len(),
                bytes,
            }],
            buf: head,
            features: Vec::new(),
            sequenced_ms: 0,
            blocks: Vec::new(),
        }
    }

    /// Sequence the chunk's valid records into `ledger`; one result per item (None for
    /// rejected lines).
    pub(crate) fn append_to(
        &mut self,
        ledger: &mut Ledger,
    ) -> Result<Vec<Option<Appended>>, LedgerError> {
        let mut prepared = Vec::with_capacity(self.items.len());
        for item in &self.items {
            if let Item::Ok {
                span,
                time_ms,
                entry,
                leaf,
                id,
                ..
            } = item
            {
                prepared.push(Prepared {
                    body: &self.buf[span.clone()],
                    event_time_ms: *time_ms,
                    sequenced_ms: self.sequenced_ms,
                    entry: *entry,
                    leaf: *leaf,
                    id: *id,
                });
            }
        }
        let mut appended = if prepared.is_empty() {
            Vec::new()
        } else {
            ledger.append_batch(&prepared, std::mem::take(&mut self.blocks))?
        }
        .into_iter();
        Ok(self
            .items
            .iter()
            .map(|i| {
                if matches!(i, Item::Ok { .. }) {
                    appended.next()
                } else {
                    None
                }
            })
            .collect())
    }

    /// Run the detectors over the records of this chunk that `results` says were stored.
    pub(crate) fn observe(&self, d: &mut Detection, results: &[Option<Appended>]) {
        let ok = self
            .items
            .iter()
            .zip(results)
            .filter_map(|(item, res)| match item {
                Item::Ok { span, entry, .. } => Some((span, entry, res)),
                Item::Rejected { .. } => None,
            });
        for ((span, entry, res), features) in ok.zip(&self.features) {
            if let Some(a) = res {
                d.observe_appended(*a, entry, features, &self.buf[span.clone()]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_765_000_000_000;

    #[test]
    fn a_large_body_is_prepared_as_several_blocks_within_the_target() {
        // 9 MiB of small records, as one HTTP body may carry (up to 64 MiB).
        let mut buf = Vec::new();
        let mut n = 0u32;
        while buf.len() < 9 << 20 {
            let t = NOW - i64::from(n);
            buf.extend_from_slice(
                format!(r#"{{"time":{t},"actor":"a","action":"read","resource":"r"}}"#).as_bytes(),
            );
            buf.push(b'\n');
            n += 1;
        }
        let window = crate::IngestConfig::default().at(NOW);
        let chunk = prepare_chunk(buf, 1, NOW, &window, false);
        assert!(chunk.blocks.len() >= 3, "{} blocks", chunk.blocks.len());
        assert_eq!(
            chunk.blocks.iter().map(|b| b.count()).sum::<u32>(),
            n,
            "every record is in exactly one block"
        );
        for b in &chunk.blocks {
            assert!(b.raw_len() <= suho_ledger::BLOCK_TARGET_RAW);
        }
    }
}
