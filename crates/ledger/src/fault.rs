//! Fault injection: what an insider with shell access could do to the files, done the way the
//! format allows (blocks re-encoded with valid checksums), so that only the cryptography can
//! tell. For demonstrations and tests of `verify`; nothing in suho's own paths calls it.

use std::fs;

use crate::wal::{list_segments, segment_path, BlockBuilder, SegmentReader};
use crate::{Layout, LedgerError};

/// Rewrite the body of record `index` in place with `edit`, re-encoding its block consistently.
pub fn rewrite_record(
    layout: &Layout,
    index: u64,
    edit: impl FnOnce(&mut Vec<u8>),
) -> Result<(), LedgerError> {
    let dir = layout.wal();
    let segs = list_segments(&dir)?;
    let Some(&first) = segs.iter().rev().find(|f| **f <= index) else {
        return Err(LedgerError::NotFound { index });
    };
    let path = segment_path(&dir, first);
    let original = fs::read(&path).map_err(|source| LedgerError::Io {
        path: path.clone(),
        source,
    })?;
    let mut r = SegmentReader::open(&dir, first)?;
    let mut next = first;
    let mut out = original[..16].to_vec();
    let mut edit = Some(edit);
    while !r.at_end() {
        let start = r.offset as usize;
        let block = match r.next_block(next, true)? {
            Ok(b) => b,
            Err(p) => {
                return Err(LedgerError::Corrupt {
                    path,
                    detail: format!("{p:?}"),
                })
            }
        };
        let end = r.offset as usize;
        let count = u64::from(block.count);
        if (next..next + count).contains(&index) {
            let mut b = BlockBuilder::new(block.sequenced_ms);
            let records = block.records().map_err(|detail| LedgerError::Corrupt {
                path: path.clone(),
                detail,
            })?;
            for (i, t, body) in records {
                let mut body = body.to_vec();
                if i == index {
                    if let Some(f) = edit.take() {
                        f(&mut body);
                    }
                }
                b.push(t, &body);
            }
            let enc = b.finish();
            out.extend_from_slice(&crate::wal::encode_header(next, &enc));
            out.extend_from_slice(enc.payload());
        } else {
            out.extend_from_slice(&original[start..end]);
        }
        next += count;
    }
    fs::write(&path, out).map_err(|source| LedgerError::Io { path, source })
}
