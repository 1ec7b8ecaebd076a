//! The id index never outlives the records it points at: a record whose write-ahead-log block
//! a crash cut off (it was never acknowledged) can be sent again and is stored, not taken for
//! a duplicate of a record that no longer exists.

use std::fs;
use std::path::Path;

use suho_ledger::{Appended, Ledger, Options, Prepared};

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
