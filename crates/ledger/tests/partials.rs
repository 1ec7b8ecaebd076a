//! Partial tiles (`<tile>.p/<W>`) exist for a checkpoint whose size ends inside a tile, and go
//! once a checkpoint covers the full tile, also when the partial was written before a restart.

use std::path::Path;

use suho_ledger::{Ledger, Options, Prepared};

const T0: i64 = 1_700_000_000_000;

fn append(l: &mut Ledger, from: i64, n: i64) {
    for i in from..from + n {
        let body = format!(
            r#"{{"time":{},"actor":"emp-1","action":"read","resource":"r{i}"}}"#,
            T0 + i
        );
        l.append(&Prepared::new(body.as_bytes(), T0 + i, None, T0))
            .expect("append");
    }
}

fn exists(root: &Path, rel: &str) -> bool {
    root.join("ledger").join(rel).exists()
}

#[test]
fn partial_tiles_are_removed_once_a_checkpoint_covers_the_full_tile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut l = Ledger::open(root, Options::default()).expect("open");
    append(&mut l, 0, 100);
    l.checkpoint().expect("checkpoint");
    assert!(
        exists(root, "tile/0/000.p/100"),
        "partial hash tile at size 100"
    );
    assert!(
        exists(root, "tile/entries/000.p/100"),
        "partial bundle at size 100"
    );

    append(&mut l, 100, 200);
    l.checkpoint().expect("checkpoint");
    assert!(exists(root, "tile/0/000") && exists(root, "tile/entries/000"));
    assert!(
        !exists(root, "tile/0/000.p"),
        "the full tile replaced the partial one"
    );
    assert!(!exists(root, "tile/entries/000.p"));
    assert!(exists(root, "tile/0/001.p/44"), "the new edge is partial");

    // The partial written before a restart goes too.
    drop(l);
    let mut l = Ledger::open(root, Options::default()).expect("reopen");
    append(&mut l, 300, 300);
    l.checkpoint().expect("checkpoint");
    assert!(exists(root, "tile/0/001") && !exists(root, "tile/0/001.p"));
    assert!(exists(root, "tile/entries/001") && !exists(root, "tile/entries/001.p"));
    assert!(exists(root, "tile/0/002.p/88"));
}

#[test]
fn a_checkpoint_published_in_the_background_keeps_the_partials_it_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut l = Ledger::open(root, Options::default()).expect("open");
    append(&mut l, 0, 100);
    let pending = l
        .begin_checkpoint()
        .expect("begin")
        .expect("records past the checkpoint");
    assert_eq!(pending.size(), 100);
    // Sequencing goes on while the checkpoint is published: tile 0 fills up meanwhile.
    append(&mut l, 100, 200);
    assert_eq!(
        l.checkpoint_size(),
        0,
        "nothing is published before publish()"
    );
    let size = pending.publish().expect("publish");
    l.checkpointed(size);
    assert_eq!(l.checkpoint_size(), 100);
    // The published checkpoint says 100: its partial tiles must stay, although full ones exist.
    assert!(exists(root, "tile/0/000.p/100") && exists(root, "tile/entries/000.p/100"));
    let text = std::fs::read_to_string(root.join("ledger/checkpoint")).expect("checkpoint");
    assert_eq!(text.lines().nth(1), Some("100"));

    // The next checkpoint covers the full tile, and its partial goes.
    assert_eq!(l.checkpoint().expect("checkpoint"), 300);
    assert!(!exists(root, "tile/0/000.p") && !exists(root, "tile/entries/000.p"));
    assert!(exists(root, "tile/0/001.p/44"));
    drop(l);
    let report = suho_ledger::verify(&suho_ledger::Layout::new(root), None, |_, _| {})
        .expect("the ledger verifies");
    assert_eq!(report.checkpoint_size, 300);
}
