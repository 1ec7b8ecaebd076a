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
    for i in 0..N {
        let body = record(i);
        let p = Prepared::new(&body, 1_750_000_000_000 + i as i64 * 1000, Some(&format!("r-{i}")), 1);
        l.append(&p).expect("append");
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
    layout.wal().join("0000000000.seg")
}

/// Byte ranges of every frame in a segment, as FORMAT.md documents: 16-byte header, then
/// frames of `u32 BE length || entry (53 bytes) || body`.
fn frames(seg: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 16;
    while at + 4 <= seg.len() {
        let len = u32::from_be_bytes([seg[at], seg[at + 1], seg[at + 2], seg[at + 3]]) as usize;
        out.push(at..at + 4 + len);
        at += 4 + len;
    }
    out
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
    let seg = segment(&layout);
    let f = frames(&fs::read(&seg).expect("read"));
    flip(&seg, f[417].end - 3);
    let p = fails(&layout);
    assert_eq!(p.index, Some(417), "{p}");
    assert!(p.what.contains("altered"), "{p}");
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
fn a_flipped_byte_in_a_logged_entry_is_caught_at_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let seg = segment(&layout);
    let f = frames(&fs::read(&seg).expect("read"));
    // The event time inside entry 12 (after the length prefix and the version byte).
    flip(&seg, f[12].start + 4 + 5);
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
    assert!(p.path.as_ref().is_some_and(|p| p.ends_with("tile/0/002")), "{p}");
}

#[test]
fn a_flipped_byte_in_a_higher_tile_is_caught() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    // Level-1 tile: node 1 covers leaves 256..512; it is checked when leaf 511 completes it.
    let tile = fs::read_dir(layout.ledger().join("tile/1/000.p")).expect("partial level-1 tile").next().expect("one").expect("entry").path();
    flip(&tile, 32 + 1);
    let p = fails(&layout);
    assert_eq!(p.index, Some(511), "{p}");
}

#[test]
fn a_removed_record_is_caught_at_its_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let seg = segment(&layout);
    let mut b = fs::read(&seg).expect("read");
    let f = frames(&b);
    b.drain(f[250].clone());
    fs::write(&seg, b).expect("write");
    let p = fails(&layout);
    assert_eq!(p.index, Some(250), "{p}");
}

#[test]
fn two_swapped_records_are_caught_at_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let seg = segment(&layout);
    let b = fs::read(&seg).expect("read");
    let f = frames(&b);
    let mut out = b[..f[600].start].to_vec();
    out.extend_from_slice(&b[f[601].clone()]);
    out.extend_from_slice(&b[f[600].clone()]);
    out.extend_from_slice(&b[f[601].end..]);
    fs::write(&seg, out).expect("write");
    let p = fails(&layout);
    assert_eq!(p.index, Some(600), "{p}");
}

#[test]
fn a_truncated_log_is_caught_where_it_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path());
    let seg = segment(&layout);
    let b = fs::read(&seg).expect("read");
    let f = frames(&b);
    fs::write(&seg, &b[..f[900].start + 10]).expect("write");
    let p = fails(&layout);
    assert_eq!(p.index, Some(900), "{p}");
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
    assert_eq!(l.append(&p).expect("append"), suho_ledger::Appended::Duplicate(5));
    assert_eq!(l.size(), N);
}
