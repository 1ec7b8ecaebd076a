//! Turning a chunk of NDJSON into prepared records: the parallel part of ingest.

use std::ops::Range;

use suho_ledger::{IdKey, Prepared, ENTRY_LEN};
use suho_merkle::Hash;

/// One non-blank input line after parsing, validation and hashing.
pub(crate) enum Item {
    Ok {
        line: u64,
        span: Range<usize>,
        entry: [u8; ENTRY_LEN],
        leaf: Hash,
        id: Option<IdKey>,
    },
    Rejected {
        line: u64,
        reason: String,
    },
}

impl Item {
    pub(crate) fn prepared<'b>(&self, buf: &'b [u8]) -> Option<Prepared<'b>> {
        match self {
            Item::Ok { span, entry, leaf, id, .. } => Some(Prepared { body: &buf[span.clone()], entry: *entry, leaf: *leaf, id: *id }),
            Item::Rejected { .. } => None,
        }
    }
}

/// Prepare every line of `buf`, whose first line is line number `first_line`.
pub(crate) fn prepare_chunk(buf: &[u8], first_line: u64, now_ms: i64, out: &mut Vec<Item>) {
    let base = buf.as_ptr() as usize;
    for (line, bytes) in suho_record::split_lines(buf, first_line) {
        if bytes.len() > suho_record::MAX_LINE_BYTES {
            out.push(Item::Rejected {
                line,
                reason: format!("the line is {} bytes, over the {} MiB limit for one record", bytes.len(), suho_record::MAX_LINE_BYTES >> 20),
            });
            continue;
        }
        match suho_record::parse_record(bytes) {
            Ok(rec) => {
                let p = Prepared::new(bytes, rec.time_ms, rec.id.as_deref(), now_ms);
                let start = bytes.as_ptr() as usize - base;
                out.push(Item::Ok { line, span: start..start + bytes.len(), entry: p.entry, leaf: p.leaf, id: p.id });
            }
            Err(e) => out.push(Item::Rejected { line, reason: e.to_string() }),
        }
    }
}
