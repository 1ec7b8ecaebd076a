//! The id index never outlives the records it points at: a record whose write-ahead-log block
//! a crash cut off (it was never acknowledged) can be sent again and is stored, not taken for
//! a duplicate of a record that no longer exists.

use std::fs;
use std::path::Path;

use suho_ledger::{Appended, Entry, Ledger, Options, Prepared};

mod common;

use common::copy_dir;

const T0: i64 = 1_700_000_000_000;

fn record(l: &mut Ledger, i: i64) -> Appended {
    let body = format!(
        r#"{{"time":{},"id":"id-{i}","actor":"emp-1","action":"read","resource":"r"}}"#,
        T0 + i
    );
    let id = format!("id-{i}");
    l.append(&Prepared::new(body.as_bytes(), T0 + i, Some(&id), T0))
        .expect("append")
}

fn segment(data: &Path) -> std::path::PathBuf {
    fs::read_dir(data.join("wal"))
        .expect("wal")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment")
}

#[test]
fn ids_of_records_lost_in_a_crash_do_not_block_their_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut l = Ledger::open(&data, Options::default()).expect("open");
    for i in 0..10 {
        assert_eq!(record(&mut l, i), Appended::Stored(i as u64));
    }
    l.checkpoint().expect("checkpoint");
    let durable_len = fs::metadata(segment(&data)).expect("segment").len();

    // Ten more records are sequenced and a group commit begins, but the machine dies before
    // its fsync returns: on disk is whatever the OS had, minus the unsynced log tail.
    for i in 10..20 {
        assert_eq!(record(&mut l, i), Appended::Stored(i as u64));
    }
    let pending = l.begin_sync().expect("begin sync");
    let crashed = dir.path().join("after-crash");
    copy_dir(&data, &crashed);
    fs::OpenOptions::new()
        .write(true)
        .open(segment(&crashed))
        .and_then(|f| f.set_len(durable_len))
        .expect("cut the unsynced tail");

    let mut after = Ledger::open(&crashed, Options::default()).expect("recover");
    assert_eq!(after.size(), 10, "the unacknowledged records are gone");
    assert_eq!(
        record(&mut after, 15),
        Appended::Stored(10),
        "a retry of a lost record is stored, not a duplicate"
    );
    assert_eq!(
        record(&mut after, 5),
        Appended::Duplicate(5),
        "durable ids still count"
    );

    // The original process, had it lived, completes the commit as usual.
    let size = pending.wait().expect("fsync");
    l.synced(size);
    assert_eq!(l.durable_size(), 20);
}

// A producer id names one record. A retry is that record again, byte for byte; a different
// record under a used id (a producer reusing request ids, or someone who predicted an id and
// sent a harmless record first) is a conflict: stored, never dropped.

const READ: &str = r#"{"time":1700000000000,"id":"req-1","actor":"emp-1","action":"read","resource":"GET /v1/customers/c-1","subjects":["c-1"]}"#;
const EXPORT: &str = r#"{"time":1700000060000,"id":"req-1","actor":"emp-1","action":"export","resource":"customers.csv","subjects":["c-1","c-2"]}"#;
const SEARCH: &str = r#"{"time":1700000120000,"id":"req-1","actor":"emp-2","action":"search","resource":"GET /v1/customers?q=kim"}"#;

/// The first 16 bytes of the SHA-256 of `body`.
fn sha_prefix(body: &str) -> [u8; 16] {
    let e = Entry::for_body(body.as_bytes(), 0, 0);
    let mut out = [0u8; 16];
    out.copy_from_slice(&e.body_sha256[..16]);
    out
}

fn send(l: &mut Ledger, body: &str) -> Appended {
    let rec = suho_record::parse_record(body.as_bytes()).expect("a valid record");
    l.append(&Prepared::new(
        body.as_bytes(),
        rec.time_ms,
        rec.id.as_deref(),
        T0,
    ))
    .expect("append")
}

#[test]
fn a_different_record_under_a_used_id_is_stored_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut l = Ledger::open(dir.path(), Options::default()).expect("open");
    assert_eq!(send(&mut l, READ), Appended::Stored(0));
    let read_sha = sha_prefix(READ);
    assert_eq!(
        send(&mut l, EXPORT),
        Appended::Conflict {
            index: 1,
            conflicts_with: 0,
            conflicts_with_sha256: read_sha,
        },
        "the export is stored although its id was used by the read, and said to conflict"
    );
    assert_eq!(
        send(&mut l, READ),
        Appended::Duplicate(0),
        "a retry of the read"
    );
    assert_eq!(
        send(&mut l, EXPORT),
        Appended::Duplicate(1),
        "a retry of the export is a duplicate of the export, not of the read"
    );
    assert_eq!(
        send(&mut l, SEARCH),
        Appended::Conflict {
            index: 2,
            conflicts_with: 0,
            conflicts_with_sha256: read_sha,
        },
        "a third version conflicts with the first"
    );
    assert_eq!(send(&mut l, SEARCH), Appended::Duplicate(2));
    assert_eq!(l.size(), 3);
}

#[test]
fn retries_of_both_versions_are_duplicates_after_a_restart_and_after_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut l = Ledger::open(&data, Options::default()).expect("open");
    assert_eq!(send(&mut l, READ), Appended::Stored(0));
    l.checkpoint().expect("checkpoint");
    let checkpointed: Vec<(std::path::PathBuf, u64)> = fs::read_dir(data.join("ids"))
        .expect("ids")
        .map(|e| {
            let e = e.expect("entry");
            (e.file_name().into(), e.metadata().expect("metadata").len())
        })
        .collect();
    assert_eq!(send(&mut l, EXPORT).sequenced(), Some(1));
    l.sync().expect("sync");

    // A crash after the group commit: the id rows written since the checkpoint may not have
    // reached the disk, so recovery files them again from the write-ahead log.
    let crashed = dir.path().join("after-crash");
    copy_dir(&data, &crashed);
    for e in fs::read_dir(crashed.join("ids")).expect("ids") {
        let path = e.expect("entry").path();
        let keep = checkpointed
            .iter()
            .find(|(name, _)| path.file_name() == Some(name.as_os_str()))
            .map_or(0, |(_, len)| *len);
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(keep))
            .expect("cut the rows written after the checkpoint");
    }
    drop(l);

    for data in [&data, &crashed] {
        let mut l = Ledger::open(data, Options::default()).expect("reopen");
        assert_eq!(l.size(), 2, "{}", data.display());
        assert_eq!(
            send(&mut l, READ),
            Appended::Duplicate(0),
            "{}",
            data.display()
        );
        assert_eq!(
            send(&mut l, EXPORT),
            Appended::Duplicate(1),
            "{}",
            data.display()
        );
        assert_eq!(
            send(&mut l, SEARCH).sequenced(),
            Some(2),
            "{}",
            data.display()
        );
        // The detectors' catch-up after a restart tells the conflicts apart as ingest did.
        let entry = |body: &str| {
            let rec = suho_record::parse_record(body.as_bytes()).expect("valid");
            Entry::for_body(body.as_bytes(), rec.time_ms, T0).encode()
        };
        assert_eq!(
            l.appended_as(0, Some("req-1"), &entry(READ))
                .expect("lookup"),
            Appended::Stored(0)
        );
        assert_eq!(
            l.appended_as(1, Some("req-1"), &entry(EXPORT))
                .expect("lookup"),
            Appended::Conflict {
                index: 1,
                conflicts_with: 0,
                conflicts_with_sha256: sha_prefix(READ),
            }
        );
    }
}

/// An id row as the previous version wrote it (FORMAT.md before body fingerprints): 24 bytes,
/// the id's fingerprint then the ledger index, in `ids/<hour>.ids`.
fn legacy_row(id: &str, index: u64) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let fp = Sha256::new_with_prefix(b"suho-id\0")
        .chain_update(id.as_bytes())
        .finalize();
    let mut row = fp[..16].to_vec();
    row.extend_from_slice(&index.to_be_bytes());
    row
}

/// Replace the id index of `data` by old-format files for records `0..n` of [`record`].
fn write_legacy_ids(data: &Path, n: i64) {
    let ids = data.join("ids");
    for e in fs::read_dir(&ids).expect("ids") {
        fs::remove_file(e.expect("entry").path()).expect("remove");
    }
    for i in 0..n {
        let hour = (T0 + i).div_euclid(3_600_000);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ids.join(format!("{hour}.ids")))
            .expect("open");
        std::io::Write::write_all(&mut f, &legacy_row(&format!("id-{i}"), i as u64))
            .expect("write");
    }
}

fn other_record(l: &mut Ledger, i: i64) -> Appended {
    let body = format!(
        r#"{{"time":{},"id":"id-{i}","actor":"emp-9","action":"export","resource":"all.csv"}}"#,
        T0 + i
    );
    let id = format!("id-{i}");
    l.append(&Prepared::new(body.as_bytes(), T0 + i, Some(&id), T0))
        .expect("append")
}

#[test]
fn an_id_index_written_by_the_previous_version_still_finds_retries_and_conflicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut l = Ledger::open(&data, Options::default()).expect("open");
    for i in 0..10 {
        assert_eq!(record(&mut l, i), Appended::Stored(i as u64));
    }
    l.checkpoint().expect("checkpoint");
    drop(l);
    write_legacy_ids(&data, 10);

    for _ in 0..2 {
        // Twice: the old file is read (and converted) the first time, the result the second.
        let mut l = Ledger::open(&data, Options::default()).expect("reopen");
        let size = l.size();
        assert_eq!(record(&mut l, 3), Appended::Duplicate(3), "a retry");
        let other = other_record(&mut l, 4);
        if size == 10 {
            assert!(
                matches!(
                    other,
                    Appended::Conflict {
                        index: 10,
                        conflicts_with: 4,
                        ..
                    }
                ),
                "another record under a used id is stored: {other:?}"
            );
        } else {
            assert_eq!(other, Appended::Duplicate(10), "and stored once");
        }
        drop(l);
        let old: Vec<_> = fs::read_dir(data.join("ids"))
            .expect("ids")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "ids"))
            .collect();
        assert!(old.is_empty(), "converted, then removed: {old:?}");
    }
}

#[test]
fn an_old_format_id_index_with_rows_past_the_checkpoint_is_rebuilt_after_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut l = Ledger::open(&data, Options::default()).expect("open");
    for i in 0..10 {
        assert_eq!(record(&mut l, i), Appended::Stored(i as u64));
    }
    l.checkpoint().expect("checkpoint");
    for i in 10..15 {
        assert_eq!(record(&mut l, i), Appended::Stored(i as u64));
    }
    l.sync().expect("sync");
    // The previous version crashed here: its rows are on disk, the checkpoint covers 10.
    let crashed = dir.path().join("after-crash");
    copy_dir(&data, &crashed);
    drop(l);
    write_legacy_ids(&crashed, 15);

    let mut l = Ledger::open(&crashed, Options::default()).expect("recover");
    assert_eq!(l.size(), 15);
    for i in [2, 12] {
        assert_eq!(
            record(&mut l, i),
            Appended::Duplicate(i as u64),
            "retry of {i}"
        );
    }
    for (i, index) in [(12, 15), (2, 16)] {
        let other = other_record(&mut l, i);
        assert!(
            matches!(other, Appended::Conflict { index: x, conflicts_with: c, .. } if x == index && c == i as u64),
            "{other:?}"
        );
    }
}
