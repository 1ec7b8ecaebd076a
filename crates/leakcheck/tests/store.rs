//! The store as a user relies on it: ranges are exactly the stored hashes of a prefix, padding
//! never hides or invents a match, loads replace or merge without losing what was there, and a
//! damaged file is refused.

// A failed unwrap in a test is a failed test with a backtrace: what we want here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use suho_leakcheck::{
    check, load, matches, pad, render_range, store_path, write_store, Error, IdHash, Identifier,
    LoadMode, Prefix, Store, HEADER_LEN, PADDING_STEP, PREFIX_COUNT,
};

fn random_hashes(rng: &mut impl RngCore, n: usize) -> Vec<IdHash> {
    (0..n)
        .map(|_| {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            IdHash(b)
        })
        .collect()
}

/// The hashes whose hex text starts with the prefix's text: no use of the code under test.
fn brute_force(all: &[(String, IdHash)], prefix: Prefix) -> Vec<IdHash> {
    let want = prefix.to_string();
    let set: BTreeSet<IdHash> = all
        .iter()
        .filter(|(text, _)| text.starts_with(&want))
        .map(|(_, h)| *h)
        .collect();
    set.into_iter().collect()
}

fn corrupt_reason(path: &Path) -> String {
    match Store::open(path) {
        Err(Error::Corrupt { reason, .. }) => reason,
        other => panic!("expected a corrupt-store error, got {other:?}"),
    }
}

#[test]
fn range_is_exactly_the_brute_force_filter_over_100k_hashes() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut hashes = random_hashes(&mut rng, 100_000);
    // Crowd some ranges, including the first and the last, and add duplicates.
    for p in [0u32, 0xFFFFF, 0x12345] {
        for _ in 0..40 {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            let h = IdHash(b);
            let mut s = h.to_string();
            s.replace_range(..5, &format!("{p:05X}"));
            hashes.push(s.parse().unwrap());
        }
    }
    hashes.extend_from_within(..50);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hashes.bin");
    let written = write_store(&path, hashes.clone()).unwrap();
    let distinct: BTreeSet<IdHash> = hashes.iter().copied().collect();
    assert_eq!(written, distinct.len() as u64);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.len(), distinct.len() as u64);
    assert!(store.largest_range() >= 40);

    let mut prefixes: Vec<Prefix> = vec![
        Prefix::new(0).unwrap(),
        Prefix::new(0xFFFFF).unwrap(),
        Prefix::new(0x12345).unwrap(),
    ];
    prefixes.extend(hashes.iter().step_by(997).map(IdHash::prefix));
    prefixes.extend((0..300).map(|_| Prefix::new(rng.gen_range(0..PREFIX_COUNT as u32)).unwrap()));
    let texts: Vec<(String, IdHash)> = hashes.iter().map(|h| (h.to_string(), *h)).collect();
    let mut nonempty = 0;
    for prefix in prefixes {
        let got = store.range(prefix).unwrap();
        assert_eq!(got, brute_force(&texts, prefix), "{prefix}");
        nonempty += usize::from(!got.is_empty());
    }
    assert!(nonempty > 100);

    // Every stored hash is found in its own range, and the ranges add up to the store.
    let all = store.read_all().unwrap();
    assert_eq!(all, distinct.iter().copied().collect::<Vec<_>>());
    for h in all.iter().step_by(101) {
        assert!(matches(&render_range(&store.range(h.prefix()).unwrap()), h));
    }
}

#[test]
fn padding_never_changes_the_real_matches() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let ids: Vec<Identifier> = (0..2000)
        .map(|i| Identifier::email(&format!("person{i}@example.com")).unwrap())
        .collect();
    let hashes: Vec<IdHash> = ids.iter().map(Identifier::hash).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hashes.bin");
    write_store(&path, hashes.clone()).unwrap();
    let store = Store::open(&path).unwrap();
    let target = store.padding_target();
    assert!(target >= PADDING_STEP && target.is_multiple_of(PADDING_STEP));
    assert!(target >= store.largest_range());

    for (i, id) in ids.iter().enumerate().step_by(37) {
        let (prefix, hash) = check(id);
        let real = store.range(prefix).unwrap();
        let padded = store.range_padded_with(prefix, &mut rng).unwrap();
        // Every response has the same size, whatever the range holds.
        assert_eq!(padded.len(), target);
        // Real hashes are all there, fakes share the prefix, and the order is sorted so
        // position does not tell real from fake.
        assert!(real.iter().all(|h| padded.contains(h)));
        assert!(padded.iter().all(|h| prefix.contains(h)));
        assert!(padded.windows(2).all(|w| w[0] < w[1]));
        let body = render_range(&padded);
        assert!(matches(&body, &hash), "subject {i} must still match");
        // An identifier that was not loaded still does not match.
        let other = Identifier::email(&format!("stranger{i}@example.com")).unwrap();
        let (op, oh) = check(&other);
        let body = render_range(&store.range_padded_with(op, &mut rng).unwrap());
        assert!(!matches(&body, &oh));
    }

    // A range already past the target keeps every real hash.
    let p = Prefix::new(0xABCDE).unwrap();
    let real: Vec<IdHash> = (0..5)
        .map(|_| {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            b[0] = 0xAB;
            b[1] = 0xCD;
            b[2] = 0xE0 | (b[2] & 0x0F);
            IdHash(b)
        })
        .collect();
    let padded = pad(p, real.clone(), 3, &mut rng);
    let mut sorted = real;
    sorted.sort();
    assert_eq!(padded, sorted);
}

#[test]
fn load_replaces_or_merges_and_a_failed_merge_loses_nothing() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let data = tempfile::tempdir().unwrap();
    let first = random_hashes(&mut rng, 500);
    let second = random_hashes(&mut rng, 300);

    let r = load(data.path(), first.clone(), LoadMode::Replace).unwrap();
    assert_eq!((r.before, r.given, r.total), (0, 500, 500));
    assert_eq!(r.path, store_path(data.path()));
    let mode = fs::metadata(&r.path).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // Merge: old and new together, overlaps counted once.
    let mut overlap = second.clone();
    overlap.extend_from_slice(&first[..100]);
    let r = load(data.path(), overlap, LoadMode::Merge).unwrap();
    assert_eq!((r.before, r.given, r.total), (500, 400, 800));
    let store = Store::open(store_path(data.path())).unwrap();
    for h in first.iter().chain(&second) {
        assert!(store.range(h.prefix()).unwrap().contains(h));
    }

    // Replace: only the new ones remain.
    let r = load(data.path(), second.clone(), LoadMode::Replace).unwrap();
    assert_eq!((r.before, r.total), (800, 300));
    let store = Store::open(store_path(data.path())).unwrap();
    assert!(!store.range(first[0].prefix()).unwrap().contains(&first[0]));
    assert!(store
        .range(second[0].prefix())
        .unwrap()
        .contains(&second[0]));

    // A merge into a damaged store is refused and leaves the file as it was; a replace cures it.
    let path = store_path(data.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes[HEADER_LEN as usize + 5] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let err = load(data.path(), first.clone(), LoadMode::Merge).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
    let r = load(data.path(), first.clone(), LoadMode::Replace).unwrap();
    assert_eq!((r.before, r.total), (0, 500));
    assert_eq!(Store::open(&path).unwrap().len(), 500);
    // No temporary file is left behind.
    let names: Vec<String> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn a_store_opened_before_a_reload_keeps_answering_from_its_version() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let data = tempfile::tempdir().unwrap();
    let old = random_hashes(&mut rng, 50);
    load(data.path(), old.clone(), LoadMode::Replace).unwrap();
    let open = Store::open(store_path(data.path())).unwrap();
    load(data.path(), random_hashes(&mut rng, 70), LoadMode::Replace).unwrap();
    assert_eq!(open.len(), 50);
    assert!(open.range(old[0].prefix()).unwrap().contains(&old[0]));
    assert_eq!(Store::open(store_path(data.path())).unwrap().len(), 70);
}

#[test]
fn a_damaged_store_is_refused_saying_what_is_wrong() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hashes.bin");
    write_store(&path, random_hashes(&mut rng, 1000)).unwrap();
    let good = fs::read(&path).unwrap();
    assert_eq!(good.len() as u64, HEADER_LEN + 32 * 1000);
    let damaged = dir.path().join("damaged.bin");
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        fs::write(&damaged, &b).unwrap();
        corrupt_reason(&damaged)
    };

    let r = with(&|b| b[HEADER_LEN as usize + 32 * 500 + 7] ^= 1);
    assert!(r.contains("checksum mismatch"), "{r}");
    let r = with(&|b| b[30] ^= 1);
    assert!(r.contains("checksum mismatch"), "{r}");
    let r = with(&|b| b.truncate(b.len() - 32));
    assert!(r.contains("truncated"), "{r}");
    let r = with(&|b| b.truncate(b.len() - 1));
    assert!(r.contains("the header says 1000 hashes"), "{r}");
    let r = with(&|b| b.truncate(10));
    assert!(r.contains("shorter than the 64-byte header"), "{r}");
    let r = with(&|b| b[0] = b'X');
    assert!(r.contains("bad magic"), "{r}");
    let r = with(&|b| b[8] = 2);
    assert!(r.contains("format version 2"), "{r}");
    let r = with(&|b| b[60] = 1);
    assert!(r.contains("reserved"), "{r}");
    let r = with(&|b| b[16] ^= 0x01);
    assert!(r.contains("header says 1001 hashes"), "{r}");

    // A file with a valid checksum but out of order (as a buggy writer might make) is refused.
    let mut hashes = random_hashes(&mut rng, 10);
    hashes.sort();
    hashes.swap(3, 4);
    let mut bytes = good[..HEADER_LEN as usize].to_vec();
    bytes[16..24].copy_from_slice(&10u64.to_le_bytes());
    let mut sum = sha2_digest(&bytes[..24], &hashes);
    bytes[24..56].swap_with_slice(&mut sum);
    for h in &hashes {
        bytes.extend_from_slice(&h.0);
    }
    fs::write(&damaged, &bytes).unwrap();
    let r = corrupt_reason(&damaged);
    assert!(r.contains("hash 4 is not greater"), "{r}");

    // The whole message names the file and the cure.
    let msg = Store::open(&damaged).unwrap_err().to_string();
    assert!(msg.contains("damaged.bin"), "{msg}");
    assert!(msg.contains("suho leak-check load"), "{msg}");
    // The intact file still opens.
    assert_eq!(Store::open(&path).unwrap().len(), 1000);
}

#[test]
fn an_empty_store_answers_empty_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hashes.bin");
    assert_eq!(write_store(&path, Vec::new()).unwrap(), 0);
    let store = Store::open(&path).unwrap();
    assert!(store.is_empty());
    assert_eq!(store.range(Prefix::new(0).unwrap()).unwrap(), vec![]);
    assert_eq!(store.padding_target(), PADDING_STEP);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(
        store
            .range_padded_with(Prefix::new(0xFFFFF).unwrap(), &mut rng)
            .unwrap()
            .len(),
        PADDING_STEP
    );
}

#[test]
fn a_missing_store_is_an_io_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(store_path(dir.path())).unwrap_err();
    match &err {
        Error::Io { path, source } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            assert!(path.ends_with("leakcheck/hashes.bin"));
        }
        other => panic!("{other:?}"),
    }
}

fn sha2_digest(head: &[u8], hashes: &[IdHash]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(head);
    for x in hashes {
        h.update(x.0);
    }
    h.finalize().to_vec()
}
