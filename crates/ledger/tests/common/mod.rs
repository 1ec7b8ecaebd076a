//! What the ledger's test files share: rewriting the write-ahead log the way an insider with
//! FORMAT.md could, decoding and re-encoding its blocks with an independent LZ4.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use suho_ledger::Layout;

/// The first write-ahead-log segment.
pub fn segment(layout: &Layout) -> PathBuf {
    layout.wal().join(format!("{:020}.seg", 0))
}

/// A write-ahead-log block decoded as FORMAT.md documents it.
pub struct Block {
    pub sequenced_ms: i64,
    pub records: Vec<(i64, Vec<u8>)>,
}

/// What an insider with FORMAT.md can do: decode every block of a segment...
pub fn read_blocks(path: &Path) -> Vec<Block> {
    let b = fs::read(path).expect("read");
    let mut at = 16;
    let mut out = Vec::new();
    while at < b.len() {
        let h = &b[at..at + 36];
        let be32 = |o: usize| u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) as usize;
        let sequenced_ms = i64::from_be_bytes(h[16..24].try_into().expect("8 bytes"));
        let (raw_len, len) = (be32(24), be32(28));
        let raw = lz4_flex::block::decompress(&b[at + 36..at + 36 + len], raw_len).expect("lz4");
        let mut records = Vec::new();
        let mut r = 0;
        while r < raw.len() {
            let n = u32::from_be_bytes(raw[r..r + 4].try_into().expect("4")) as usize;
            let t = i64::from_be_bytes(raw[r + 4..r + 12].try_into().expect("8"));
            records.push((t, raw[r + 12..r + 12 + n].to_vec()));
            r += 12 + n;
        }
        out.push(Block {
            sequenced_ms,
            records,
        });
        at += 36 + len;
    }
    out
}

/// ...and write them back consistently: right counts, indexes and checksums.
pub fn write_blocks(path: &Path, blocks: &[Block]) {
    let mut out = fs::read(path).expect("read")[..16].to_vec();
    let mut first = 0u64;
    for b in blocks {
        let mut raw = Vec::new();
        for (t, body) in &b.records {
            raw.extend_from_slice(&(body.len() as u32).to_be_bytes());
            raw.extend_from_slice(&t.to_be_bytes());
            raw.extend_from_slice(body);
        }
        let payload = lz4_flex::block::compress(&raw);
        out.extend_from_slice(b"SBLK");
        out.extend_from_slice(&first.to_be_bytes());
        out.extend_from_slice(&(b.records.len() as u32).to_be_bytes());
        out.extend_from_slice(&b.sequenced_ms.to_be_bytes());
        out.extend_from_slice(&(raw.len() as u32).to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
        out.extend_from_slice(&payload);
        first += b.records.len() as u64;
    }
    fs::write(path, out).expect("write");
}

/// Apply `f` to the flat list of records of the first segment, keeping the block layout.
pub fn edit_records(layout: &Layout, f: impl FnOnce(&mut Vec<(i64, Vec<u8>)>)) {
    let seg = segment(layout);
    let blocks = read_blocks(&seg);
    let sizes: Vec<usize> = blocks.iter().map(|b| b.records.len()).collect();
    let seq = blocks[0].sequenced_ms;
    let mut all: Vec<(i64, Vec<u8>)> = blocks.into_iter().flat_map(|b| b.records).collect();
    f(&mut all);
    let mut rebuilt = Vec::new();
    let mut it = all.into_iter();
    for n in sizes {
        let records: Vec<_> = it.by_ref().take(n).collect();
        if !records.is_empty() {
            rebuilt.push(Block {
                sequenced_ms: seq,
                records,
            });
        }
    }
    write_blocks(&seg, &rebuilt);
}

/// A copy of the directory `from` at `to`, as a backup or a crash image would hold it.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).expect("copy");
        }
    }
}
