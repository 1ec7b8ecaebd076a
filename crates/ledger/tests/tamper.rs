//! `suho verify` catches every kind of tampering, and names the first entry affected.
//!
//! Each test builds a ledger of 1,000 records (several tiles), alters its files the way an
//! insider with shell access could, and checks the index `verify` reports.

use std::fs;
use std::path::Path;

use suho_ledger::{verify, Layout, Ledger, Options, Prepared, VerifyProblem};

mod common;

use common::{edit_records, read_blocks, segment, write_blocks};

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
