//! Turning a chunk of NDJSON into prepared records: the parallel part of ingest (parse,
//! validate, hash, and compress the chunk's write-ahead-log block).

use std::ops::Range;

use std::sync::Arc;

use suho_detect::Features;
use suho_ledger::{
    Appended, BatchBlocks, EncodedBlock, IdKey, Ledger, LedgerError, Prepared, ENTRY_LEN,
};
use suho_merkle::Hash;

use crate::window::TimeWindow;
use crate::Detection;

/// What the parse workers do for the detectors: extract their features (`on`), and run the
/// Sigma rules that need nothing but the record.
#[derive(Clone, Default)]
pub(crate) struct Detecting {
    pub(crate) on: bool,
    pub(crate) sigma: Option<Arc<suho_sigma::RuleSet>>,
}

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
    /// `(n, rule)`: the `n`th record of `features` matched Sigma rule `rule` (in order of `n`).
    pub(crate) sigma: Vec<(u32, u32)>,
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
    detecting: &Detecting,
) -> PreparedChunk {
    let mut p = Preparing::new(buf.len(), now_ms, window, detecting);
    let base = buf.as_ptr() as usize;
    for (line, bytes) in suho_record::split_lines(&buf, first_line) {
        p.line(line, bytes, bytes.as_ptr() as usize - base);
    }
    p.finish(buf)
}

/// Prepare a chunk of input lines as a parse worker does: `buf` holds whole lines (the last one
/// may lack its line end) numbered from `first_line`, or, when `too_long` gives the length of a
/// line over the record limit, the start of that one line, which is rejected. Source records
/// (units of `framing`) are decoded first by `decoder` (none: the contract format); event
/// times are checked against `config` at the time of this call.
pub(crate) fn prepare_lines(
    buf: Vec<u8>,
    first_line: u64,
    too_long: Option<u64>,
    decoder: Option<&dyn suho_decode::Decoder>,
    framing: suho_decode::Framing,
    config: &crate::IngestConfig,
    detecting: &Detecting,
) -> PreparedChunk {
    if let Some(bytes) = too_long {
        return PreparedChunk::rejected(
            first_line,
            format!(
                "the line is {bytes} bytes, over the {} MiB limit for one record; it was skipped",
                suho_record::MAX_LINE_BYTES >> 20
            ),
            buf,
            bytes,
        );
    }
    let now = suho_ledger::now_ms();
    let window = config.at(now);
    match decoder {
        Some(d) => prepare_decoded(buf, first_line, d, framing, now, &window, detecting),
        None => prepare_chunk(buf, first_line, now, &window, detecting),
    }
}

/// [`prepare_chunk`] for lines of another log format: each line of `buf` (each unit of
/// `framing`, the decoder's own for a stream: a whole csvlog record, one JSON event) is decoded into access
/// records first (in this worker, so decoding runs on every core), and those are prepared and
/// stored in place of the source line; a line that cannot be decoded is rejected with the
/// decoder's reason and an excerpt of the source line.
pub(crate) fn prepare_decoded(
    buf: Vec<u8>,
    first_line: u64,
    decoder: &dyn suho_decode::Decoder,
    framing: suho_decode::Framing,
    now_ms: i64,
    window: &TimeWindow,
    detecting: &Detecting,
) -> PreparedChunk {
    enum Step {
        Record(u64, Range<usize>),
        Failed(u64, String, Range<usize>, u64),
    }
    let mut out = Vec::with_capacity(buf.len() + buf.len() / 4);
    let mut steps = Vec::with_capacity(buf.len() / 200 + 1);
    for (line, bytes) in framing.units(&buf, first_line) {
        let at = out.len();
        match decoder.decode(bytes, &mut out) {
            Ok(_) => {
                // Each record the line became is one NDJSON line of `out`.
                let mut start = at;
                while let Some(n) = memchr::memchr(b'\n', &out[start..]) {
                    steps.push(Step::Record(line, start..start + n));
                    start += n + 1;
                }
            }
            Err(e) => {
                out.truncate(at);
                let head = &bytes[..bytes.len().min(crate::EXCERPT_BYTES + 4)];
                out.extend_from_slice(head);
                out.push(b'\n');
                steps.push(Step::Failed(
                    line,
                    format!("{} line: {e}", decoder.name()),
                    at..at + head.len(),
                    bytes.len() as u64,
                ));
            }
        }
    }
    let mut p = Preparing::new(out.len(), now_ms, window, detecting);
    for step in steps {
        match step {
            Step::Record(line, r) => p.line(line, &out[r.clone()], r.start),
            Step::Failed(line, reason, span, bytes) => p.items.push(Item::Rejected {
                line,
                reason,
                span,
                bytes,
            }),
        }
    }
    p.finish(out)
}

/// What [`prepare_chunk`] builds, line by line.
struct Preparing<'w> {
    items: Vec<Item>,
    blocks: BatchBlocks,
    features: Vec<Features>,
    sigma: Vec<(u32, u32)>,
    matched: Vec<u32>,
    now_ms: i64,
    window: &'w TimeWindow,
    detecting: &'w Detecting,
}

impl<'w> Preparing<'w> {
    fn new(len: usize, now_ms: i64, window: &'w TimeWindow, detecting: &'w Detecting) -> Self {
        let mut features = Vec::new();
        if detecting.on {
            features.reserve(len / 200 + 1);
        }
        Preparing {
            items: Vec::with_capacity(len / 200 + 1),
            blocks: BatchBlocks::new(now_ms),
            features,
            sigma: Vec::new(),
            matched: Vec::new(),
            now_ms,
            window,
            detecting,
        }
    }

    /// Line number `line`, `bytes`, which start at offset `start` of the chunk's buffer.
    fn line(&mut self, line: u64, bytes: &[u8], start: usize) {
        let rejected = |reason| Item::Rejected {
            line,
            reason,
            span: start..start + bytes.len(),
            bytes: bytes.len() as u64,
        };
        if bytes.len() > suho_record::MAX_LINE_BYTES {
            self.items.push(rejected(format!(
                "the line is {} bytes, over the {} MiB limit for one record",
                bytes.len(),
                suho_record::MAX_LINE_BYTES >> 20
            )));
            return;
        }
        match suho_record::parse_record(bytes) {
            Ok(rec) => {
                if let Err(reason) = self.window.check(rec.time_ms, rec.time_form) {
                    self.items.push(rejected(reason));
                    return;
                }
                let p = Prepared::new(bytes, rec.time_ms, rec.id.as_deref(), self.now_ms);
                self.blocks.push(rec.time_ms, bytes);
                if self.detecting.on {
                    if let Some(rules) = &self.detecting.sigma {
                        let n = u32::try_from(self.features.len()).unwrap_or(u32::MAX);
                        self.matched.clear();
                        rules.match_record(&rec, &mut self.matched);
                        self.sigma.extend(self.matched.iter().map(|&r| (n, r)));
                    }
                    self.features.push(Features::from_record(&rec));
                }
                self.items.push(Item::Ok {
                    line,
                    span: start..start + bytes.len(),
                    time_ms: rec.time_ms,
                    entry: p.entry,
                    leaf: p.leaf,
                    id: p.id,
                });
            }
            Err(e) => self.items.push(rejected(e.to_string())),
        }
    }

    fn finish(self, buf: Vec<u8>) -> PreparedChunk {
        PreparedChunk {
            buf,
            items: self.items,
            features: self.features,
            sigma: self.sigma,
            sequenced_ms: self.now_ms,
            blocks: self.blocks.finish(),
        }
    }
}

/// Prepare an HTTP body: NDJSON, or a JSON array of records (see [`crate::array`]) whose
/// element *n* is line *n*. A body that starts like an array but is not one is rejected whole,
/// as line 1.
pub(crate) fn prepare_body(
    body: Vec<u8>,
    now_ms: i64,
    window: &TimeWindow,
    detecting: &Detecting,
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
    /// Write every rejected line of the chunk to the reject log, as from `source`.
    pub(crate) fn log_rejected(
        &self,
        source: &crate::Source,
        rejects: &mut crate::RejectLog,
    ) -> Result<(), crate::IngestError> {
        for item in &self.items {
            if let Item::Rejected {
                line,
                reason,
                span,
                bytes,
            } = item
            {
                rejects.reject(source, *line, reason, &self.buf[span.clone()], *bytes)?;
            }
        }
        Ok(())
    }

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
            sigma: Vec::new(),
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
        let mut sigma = self.sigma.as_slice();
        for (n, ((span, entry, res), features)) in ok.zip(&self.features).enumerate() {
            // This record's Sigma matches lead what is left of the list.
            let mine = sigma.iter().take_while(|(i, _)| *i as usize == n).count();
            let (pre, rest) = sigma.split_at(mine);
            sigma = rest;
            if let Some(a) = res {
                d.observe_appended(*a, entry, features, &self.buf[span.clone()], pre);
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
        let chunk = prepare_chunk(buf, 1, NOW, &window, &Detecting::default());
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
