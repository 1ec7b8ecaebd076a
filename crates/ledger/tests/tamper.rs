//! `suho verify` catches every kind of tampering, and names the first entry affected.
//!
//! Each test builds a ledger of 1,000 records (several tiles), alters its files the way an
//! insider with shell access could, and checks the index `verify` reports.

use std::fs;
use std::path::{Path, PathBuf};

use suho_ledger::{verify, Layout, Ledger, Options, Prepared, VerifyProblem};

const N: u64 = 1000;

fn record(i: u64) -> Vec<u8> {
    format!(
        r#"{{"time":{},"actor":"emp-{:04}","action":"read","resource":"GET /v1/customers/{{id}}","subjects":["c-{:07}"],"id":"r-{i}"}}"#,
        1_750_000_000_000 + i as i64 * 1000,
        i % 37,
        i * 7
    )
    .into_bytes()
}

fn build(dir: &Path) -> Layout {
    let mut l = Ledger::open(dir, Options::default()).expect("open");
    // Blocks of 100 records, as the ingest pipeline writes them.
    let bodies: Vec<Vec<u8>> = (0..N).map(record).collect();
    let ids: Vec<String> = (0..N).map(|i| format!("r-{i}")).collect();
    for chunk in (0..N as usize).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<Prepared> = chunk
            .iter()
            .map(|&i| {
                Prepared::new(
                    &bodies[i],
                    1_750_000_000_000 + i as i64 * 1000,
                    Some(&ids[i]),
                    1,
                )
            })
            .collect();
        l.append_batch(&batch, Vec::new()).expect("append");
    }
    l.checkpoint().expect("checkpoint");
    drop(l);
    let layout = Layout::new(dir);
    verify(&layout, None, |_, _| {}).expect("an untouched ledger verifies");
    layout
}

fn fails(layout: &Layout) -> VerifyProblem {
    match verify(layout, None, |_, _| {}) {
        Ok(r) => panic!("verify passed a tampered ledger: {r:?}"),
        Err(p) => p,
    }
}

fn segment(layout: &Layout) -> PathBuf {
    layout.wal().join(format!("{:020}.seg", 0))
}

/// A write-ahead-log block decoded as FORMAT.md documents it.
struct Block {
    sequenced_ms: i64,
    records: Vec<(i64, Vec<u8>)>,
}

/// What an insider with FORMAT.md can do: decode every block of a segment...
fn read_blocks(path: &Path) -> Vec<Block> {
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
fn write_blocks(path: &Path, blocks: &[Block]) {
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
fn edit_records(layout: &Layout, f: impl FnOnce(&mut Vec<(i64, Vec<u8>)>)) {
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

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).expect("read");
    b[at] ^= 0x01;
    fs::write(path, b).expect("write");
}

#[test]
fn a_flipped_byte_in_a_record_body_is_caught_at_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    edit_records(&layout, |r| {
        let body = &mut r[417].1;
        let at = body.len() - 3;
        body[at] ^= 0x01;
    });
    let p = fails(&layout);
    assert_eq!(p.index, Some(417), "{p}");
    assert!(p.what.contains("altered"), "{p}");
}

#[test]
fn a_flipped_byte_on_disk_is_caught_in_its_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let seg = segment(&layout);
    let len = fs::metadata(&seg).expect("stat").len() as usize;
    // Somewhere in the middle of the file, without re-encoding anything.
    flip(&seg, len / 2);
    let p = fails(&layout);
    let i = p.index.expect("an index");
    assert!((300..700).contains(&i), "{p}");
}

#[test]
fn a_flipped_byte_in_a_published_entry_is_caught_at_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    // Entry 300 is entry 44 of bundle 1: 2-byte length prefix + 53 bytes each.
    let bundle = layout.ledger().join("tile/entries/001");
    flip(&bundle, 44 * 55 + 2 + 30);
    let p = fails(&layout);
    assert_eq!(p.index, Some(300), "{p}");
}

#[test]
fn a_changed_event_time_is_caught_at_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    edit_records(&layout, |r| r[12].0 += 3_600_000);
    let p = fails(&layout);
    assert_eq!(p.index, Some(12), "{p}");
}

#[test]
fn a_flipped_byte_in_a_hash_tile_is_caught_at_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    // Leaf hash 700 is hash 188 of level-0 tile 2.
    flip(&layout.ledger().join("tile/0/002"), 188 * 32 + 7);
    let p = fails(&layout);
    assert_eq!(p.index, Some(700), "{p}");
    assert!(
        p.path.as_ref().is_some_and(|p| p.ends_with("tile/0/002")),
        "{p}"
    );
}

#[test]
fn a_tile_replaced_by_an_endless_device_is_named_not_read_forever() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let tile = layout.ledger().join("tile/0/001");
    fs::remove_file(&tile).expect("remove");
    std::os::unix::fs::symlink("/dev/zero", &tile).expect("symlink");
    let p = fails(&layout);
    assert!(p.what.contains("not a tile"), "{p}");
    assert!(
        p.path.as_ref().is_some_and(|p| p.ends_with("tile/0/001")),
        "{p}"
    );
    // A named pipe would block the open itself until someone wrote to it.
    fs::remove_file(&tile).expect("remove");
    let status = std::process::Command::new("mkfifo")
        .arg(&tile)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let p = fails(&layout);
    assert!(p.what.contains("not a tile"), "{p}");
}

#[test]
fn a_flipped_byte_in_a_higher_tile_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    // Level-1 tile: node 1 covers leaves 256..512; it is checked when leaf 511 completes it.
    let tile = fs::read_dir(layout.ledger().join("tile/1/000.p"))
        .expect("partial level-1 tile")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    flip(&tile, 32 + 1);
    let p = fails(&layout);
    assert_eq!(p.index, Some(511), "{p}");
}

#[test]
fn a_removed_record_is_caught_at_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    edit_records(&layout, |r| {
        r.remove(250);
    });
    let p = fails(&layout);
    assert_eq!(p.index, Some(250), "{p}");
}

#[test]
fn two_swapped_records_are_caught_at_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    edit_records(&layout, |r| r.swap(600, 601));
    let p = fails(&layout);
    assert_eq!(p.index, Some(600), "{p}");
}

#[test]
fn a_truncated_log_is_caught_where_it_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let seg = segment(&layout);
    let blocks = read_blocks(&seg);
    // Cut the file 10 bytes into the block that holds records 900..1000.
    write_blocks(&seg, &blocks[..9]);
    let keep = fs::metadata(&seg).expect("stat").len() as usize;
    write_blocks(&seg, &blocks);
    let b = fs::read(&seg).expect("read");
    fs::write(&seg, &b[..keep + 10]).expect("write");
    let p = fails(&layout);
    assert_eq!(p.index, Some(900), "{p}");
}

#[test]
fn a_block_header_claiming_billions_of_records_is_named_not_an_abort() {
    // The header's record count is outside the checksum (which covers the payload); a reader
    // that sized memory by it would try to allocate about 100 GB and abort.
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let seg = segment(&layout);
    let mut b = fs::read(&seg).expect("read");
    b[16 + 12..16 + 16].copy_from_slice(&u32::MAX.to_be_bytes());
    fs::write(&seg, b).expect("write");
    let p = fails(&layout);
    assert_eq!(p.index, Some(0), "{p}");
    assert!(p.what.contains("impossible record count"), "{p}");
}

#[test]
fn a_truncated_tile_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let tile = layout.ledger().join("tile/0/001");
    let b = fs::read(&tile).expect("read");
    fs::write(&tile, &b[..100 * 32]).expect("write");
    let p = fails(&layout);
    assert_eq!(p.index, Some(256), "{p}");
}

#[test]
fn a_truncated_bundle_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let bundle = layout.ledger().join("tile/entries/000");
    let b = fs::read(&bundle).expect("read");
    fs::write(&bundle, &b[..10 * 55 + 20]).expect("write");
    let p = fails(&layout);
    assert_eq!(p.index, Some(10), "{p}");
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let other = suho_note::Signer::generate("suho.local/other").expect("key");
    let p = match verify(&layout, Some(&other.verifier()), |_, _| {}) {
        Ok(_) => panic!("verified with the wrong key"),
        Err(p) => p,
    };
    assert!(p.what.contains("signature"), "{p}");
}

#[test]
fn duplicates_are_stored_once_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    let mut l = Ledger::open(dir.path(), Options::default()).expect("reopen");
    let body = record(5);
    let p = Prepared::new(&body, 1_750_000_000_000 + 5000, Some("r-5"), 2);
    assert_eq!(
        l.append(&p).expect("append"),
        suho_ledger::Appended::Duplicate(5)
    );
    assert_eq!(l.size(), N);
}
