//! The ledger cannot be quietly rewritten or re-signed: a ledger whose checkpoint is gone, whose
//! checkpoint is older than what its key signed, or whose key is gone, fails `verify` and stops
//! every writer until an operator reseals it, and a consistency proof is written only from a
//! checkpoint the log extends.

use std::fs;
use std::path::Path;

use suho_ledger::{
    consistency_proof_file, load_verifier, read_signed, verify, verify_consistency_file, Layout,
    Ledger, LedgerError, Options, Prepared, Resealed, SealProblem, VerifyProblem,
};
use suho_note::Verifier;

mod common;

use common::{copy_dir, edit_records};

const T0: i64 = 1_750_000_000_000;

fn record(i: u64, actor: &str) -> Vec<u8> {
    format!(
        r#"{{"time":{},"actor":"{actor}","action":"read","resource":"GET /v1/customers/{{id}}","subjects":["c-{:07}"],"id":"{actor}-{i}"}}"#,
        T0 + i as i64 * 1000,
        i * 7
    )
    .into_bytes()
}

/// Append records `from..to` by `actor` in batches of 100, then checkpoint.
fn add(l: &mut Ledger, from: u64, to: u64, actor: &str) {
    let bodies: Vec<Vec<u8>> = (from..to).map(|i| record(i, actor)).collect();
    for chunk in bodies.chunks(100) {
        let batch: Vec<Prepared> = chunk
            .iter()
            .map(|b| {
                let r = suho_record::parse_record(b).expect("a valid record");
                Prepared::new(b, r.time_ms, r.id.as_deref(), T0)
            })
            .collect();
        l.append_batch(&batch, Vec::new()).expect("append");
    }
    l.checkpoint().expect("checkpoint");
}

/// A ledger of `n` records by `emp-1`, closed.
fn build(dir: &Path, n: u64) -> Layout {
    let mut l = Ledger::open(dir, Options::default()).expect("open");
    add(&mut l, 0, n, "emp-1");
    drop(l);
    let layout = Layout::new(dir);
    verify(&layout, None, |_, _| {}).expect("an untouched ledger verifies");
    layout
}

fn key(layout: &Layout) -> Verifier {
    load_verifier(&layout.keys()).expect("the verifier key")
}

fn verify_fails(layout: &Layout, key: Option<&Verifier>) -> VerifyProblem {
    match verify(layout, key, |_, _| {}) {
        Ok(r) => panic!("verify passed: {r:?}"),
        Err(p) => p,
    }
}

/// `Ledger::open` refuses, and tells the operator what to run.
fn open_refused(dir: &Path) -> LedgerError {
    match Ledger::open(dir, Options::default()) {
        Ok(l) => panic!("a writer opened the ledger (size {})", l.size()),
        Err(e) => {
            assert!(e.to_string().contains("suho ledger reseal"), "{e}");
            e
        }
    }
}

#[test]
fn a_deleted_checkpoint_fails_verify_and_stops_every_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path(), 600);
    let vkey = key(&layout);
    fs::remove_file(layout.checkpoint()).expect("rm checkpoint");

    for k in [Some(&vkey), None] {
        let p = verify_fails(&layout, k);
        assert!(p.what.contains("checkpoint is missing"), "{p}");
    }
    open_refused(dir.path());
    assert!(
        !layout.checkpoint().exists(),
        "a refused writer signed a checkpoint"
    );
}

#[test]
fn a_rewritten_record_with_the_ledger_deleted_is_not_resigned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path(), 600);
    let vkey = key(&layout);
    edit_records(&layout, |r| {
        let body = String::from_utf8(r[17].1.clone()).expect("utf-8");
        r[17].1 = body.replace("emp-1", "emp-2").into_bytes();
    });
    fs::remove_dir_all(layout.ledger()).expect("rm ledger/");

    open_refused(dir.path());
    assert!(!layout.checkpoint().exists(), "the rewrite was re-signed");
    let p = verify_fails(&layout, Some(&vkey));
    assert!(p.what.contains("checkpoint is missing"), "{p}");
}

#[test]
fn a_deleted_key_is_refused_and_no_new_key_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path(), 600);
    let vkey = key(&layout);
    fs::remove_dir_all(layout.keys()).expect("rm keys/");

    let e = open_refused(dir.path());
    assert!(e.to_string().contains("signing key"), "{e}");
    assert!(
        !layout.keys().join("ledger.key").exists(),
        "a new key was made"
    );
    let p = verify_fails(&layout, Some(&vkey));
    assert!(p.what.contains("signing key"), "{p}");
}

#[test]
fn an_older_signed_checkpoint_put_back_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path());
    let mut l = Ledger::open(dir.path(), Options::default()).expect("open");
    add(&mut l, 0, 300, "emp-1");
    let old = fs::read_to_string(layout.checkpoint()).expect("checkpoint");
    add(&mut l, 300, 600, "emp-1");
    drop(l);
    let vkey = key(&layout);
    fs::write(layout.checkpoint(), &old).expect("put the old checkpoint back");

    for k in [Some(&vkey), None] {
        let p = verify_fails(&layout, k);
        assert!(p.what.contains("older"), "{p}");
    }
    open_refused(dir.path());
    assert_eq!(
        fs::read_to_string(layout.checkpoint()).expect("checkpoint"),
        old,
        "a refused writer replaced the checkpoint"
    );
    // Nothing past the old checkpoint was touched: the full tile of leaves 256..512 is there.
    assert!(layout.ledger().join("tile/0/001").exists());

    // A reseal keeps the old checkpoint, whose partial tiles went when that full tile came,
    // and finds the same history re-integrated from the write-ahead log.
    let (l, r) = Ledger::reseal(dir.path(), Options::default(), reseal_record).expect("reseal");
    assert_eq!(l.checkpoint_size(), 601);
    drop(l);
    assert_eq!(r.kept_checkpoint.map(|c| c.0), Some(300));
    assert_eq!(r.history_kept(), Some(true));
    verify(&layout, Some(&vkey), |_, _| {}).expect("verify after the reseal");
}

/// Ledger `a` and a copy `b` of it at 300 records (same key), then 300 different records each.
fn fork(root: &Path) -> (Layout, Layout) {
    let (a, b) = (root.join("a"), root.join("b"));
    let mut l = Ledger::open(&a, Options::default()).expect("open");
    add(&mut l, 0, 300, "emp-1");
    drop(l);
    copy_dir(&a, &b);
    let mut l = Ledger::open(&a, Options::default()).expect("open a");
    add(&mut l, 300, 600, "emp-1");
    drop(l);
    let mut l = Ledger::open(&b, Options::default()).expect("open b");
    add(&mut l, 300, 600, "emp-9");
    drop(l);
    (Layout::new(&a), Layout::new(&b))
}

#[test]
fn consistency_from_a_checkpoint_the_log_does_not_extend_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = fork(dir.path());
    let a600 = fs::read_to_string(a.checkpoint()).expect("a's checkpoint");
    let b600 = fs::read_to_string(b.checkpoint()).expect("b's checkpoint");

    // Same size, another root, the same key.
    let e = consistency_proof_file(&a, &b600).expect_err("a proof from a forked checkpoint");
    assert!(e.to_string().contains("does not extend"), "{e}");

    let mut l = Ledger::open(a.data.as_path(), Options::default()).expect("open a");
    add(&mut l, 600, 900, "emp-1");
    drop(l);
    // A smaller forked checkpoint.
    let e = consistency_proof_file(&a, &b600).expect_err("a proof from a forked checkpoint");
    assert!(e.to_string().contains("does not extend"), "{e}");

    // The log's own older checkpoint still gets its proof, and the proof checks.
    let proof = consistency_proof_file(&a, &a600).expect("a proof from a's own checkpoint");
    assert_eq!(
        verify_consistency_file(&proof, &key(&a)).expect("the proof verifies"),
        (600, 900)
    );
}

#[test]
fn a_crash_between_the_checkpoint_and_the_signer_state_needs_no_operator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path());
    let mut l = Ledger::open(dir.path(), Options::default()).expect("open");
    add(&mut l, 0, 300, "emp-1");
    let behind = fs::read(layout.signed()).expect("the signer state");
    add(&mut l, 300, 600, "emp-1");
    drop(l);
    // The checkpoint of 600 was renamed into place, the state still says 300.
    fs::write(layout.signed(), &behind).expect("state one checkpoint behind");

    verify(&layout, None, |_, _| {}).expect("verify after the crash");
    let l = Ledger::open(dir.path(), Options::default()).expect("open after the crash");
    assert_eq!(l.checkpoint_size(), 600);
    drop(l);
    let s = read_signed(&layout).expect("read").expect("a state");
    assert_eq!(s.size, 600, "the state caught up with the checkpoint");
}

#[test]
fn a_new_ledgers_first_checkpoint_without_its_state_needs_no_operator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path());
    drop(Ledger::open(dir.path(), Options::default()).expect("open"));
    fs::remove_file(layout.signed()).expect("a crash before the first state");
    verify(&layout, None, |_, _| {}).expect("verify");
    let mut l = Ledger::open(dir.path(), Options::default()).expect("open");
    add(&mut l, 0, 10, "emp-1");
    drop(l);
    verify(&layout, None, |_, _| {}).expect("verify");
}

#[test]
fn a_signer_state_the_checkpoint_does_not_extend_is_refused() {
    // Someone with the key rebuilt another history past what the signer state says it signed
    // (as a writer that kept no state would) and signed it.
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = fork(dir.path());
    let mut l = Ledger::open(b.data.as_path(), Options::default()).expect("open b");
    add(&mut l, 600, 900, "emp-9");
    drop(l);
    fs::copy(a.signed(), b.signed()).expect("a's state (600, a's root) into b (900)");

    let p = verify_fails(&b, None);
    assert!(p.what.contains("history was rewritten"), "{p}");
    let e = open_refused(b.data.as_path());
    assert!(
        matches!(
            e,
            LedgerError::Refused(SealProblem::Diverged { size: 600, .. })
        ),
        "{e}"
    );
}

#[test]
fn a_signer_state_removed_from_a_ledger_with_records_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path(), 300);
    fs::remove_file(layout.signed()).expect("rm state");
    let p = verify_fails(&layout, None);
    assert!(p.what.contains("keys/ledger.signed is missing"), "{p}");
    open_refused(dir.path());
}

/// The record of a reseal, as the command-line tool makes it (without operator details).
fn reseal_record(r: &Resealed) -> Result<Vec<u8>, LedgerError> {
    Ok(format!(
        r#"{{"time":{},"actor":"ops","action":"update","resource":"suho ledger reseal","id":"reseal-{}","attrs":{{"suho_event":"ledger.reseal","overridden":{}}}}}"#,
        T0 + 10_000_000,
        r.log_size,
        r.overridden.len()
    )
    .into_bytes())
}

#[test]
fn reseal_rebuilds_a_deleted_ledger_records_itself_first_and_names_a_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path(), 600);
    let vkey = key(&layout);
    let signed = fs::read_to_string(layout.checkpoint()).expect("checkpoint");
    edit_records(&layout, |r| {
        let body = String::from_utf8(r[17].1.clone()).expect("utf-8");
        r[17].1 = body.replace("emp-1", "emp-2").into_bytes();
    });
    fs::remove_dir_all(layout.ledger()).expect("rm ledger/");

    let (l, r) = Ledger::reseal(dir.path(), Options::default(), reseal_record).expect("reseal");
    assert!(
        matches!(r.overridden[..], [SealProblem::NoCheckpoint { .. }]),
        "{:?}",
        r.overridden
    );
    assert_eq!(r.signed_before.as_ref().map(|s| s.size), Some(600));
    assert_eq!(r.kept_checkpoint, None);
    assert_eq!(r.history_kept(), Some(false), "the rewrite is named");
    assert_eq!(r.record, Some(600));
    assert_eq!(
        l.checkpoint_size(),
        601,
        "the record is in the first checkpoint"
    );
    drop(l);

    // The record of the reseal is in the log, verify passes (with the same key), writers open.
    let rec = suho_ledger::WalReader::new(&layout.wal())
        .frame(600)
        .expect("the record");
    assert!(String::from_utf8_lossy(&rec.body).contains("ledger.reseal"));
    verify(&layout, Some(&vkey), |_, _| {}).expect("verify after the reseal");
    drop(Ledger::open(dir.path(), Options::default()).expect("a writer opens"));
    // The checkpoint signed before the rewrite is not this log's past.
    let e = consistency_proof_file(&layout, &signed).expect_err("a proof from the old history");
    assert!(e.to_string().contains("does not extend"), "{e}");
}

#[test]
fn reseal_after_a_lost_key_makes_a_new_one_and_keeps_the_checkpoint_its_public_key_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path(), 600);
    let old = key(&layout);
    fs::remove_file(layout.keys().join("ledger.key")).expect("rm the private key");

    let (l, r) = Ledger::reseal(dir.path(), Options::default(), reseal_record).expect("reseal");
    drop(l);
    assert!(
        matches!(r.overridden[..], [SealProblem::KeyMissing { .. }]),
        "{:?}",
        r.overridden
    );
    assert_eq!(r.previous_key, Some(old.to_string()));
    let new = key(&layout);
    assert_eq!(r.new_key, Some(new.to_string()));
    assert_ne!(new.to_string(), old.to_string());
    assert_eq!(r.kept_checkpoint.map(|c| c.0), Some(600));
    assert_eq!(r.history_kept(), Some(true));

    verify(&layout, Some(&new), |_, _| {}).expect("verify with the new key");
    verify_fails(&layout, Some(&old));
    drop(Ledger::open(dir.path(), Options::default()).expect("a writer opens"));
}

#[test]
fn reseal_of_a_sound_ledger_changes_and_records_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path(), 300);
    let before = fs::read_to_string(layout.checkpoint()).expect("checkpoint");
    let (l, r) = Ledger::reseal(dir.path(), Options::default(), |_| {
        Err::<Vec<u8>, LedgerError>(LedgerError::InvalidRecord("not asked for".into()))
    })
    .expect("reseal");
    assert!(r.overridden.is_empty());
    assert_eq!(r.record, None);
    assert_eq!(l.size(), 300);
    drop(l);
    assert_eq!(
        fs::read_to_string(layout.checkpoint()).expect("checkpoint"),
        before
    );
}

#[test]
fn reseal_after_a_rollback_leaves_no_tile_of_the_history_it_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path());
    let mut l = Ledger::open(dir.path(), Options::default()).expect("open");
    add(&mut l, 0, 300, "emp-1");
    let at300 = fs::read_to_string(layout.checkpoint()).expect("checkpoint");
    add(&mut l, 300, 400, "emp-1");
    let at400 = fs::read_to_string(layout.checkpoint()).expect("checkpoint");
    drop(l);
    // Record 350 rewritten and the checkpoint of 300 put back, to have 300..400 re-signed.
    edit_records(&layout, |r| {
        let body = String::from_utf8(r[350].1.clone()).expect("utf-8");
        r[350].1 = body.replace("emp-1", "emp-2").into_bytes();
    });
    fs::write(layout.checkpoint(), &at300).expect("put back");
    open_refused(dir.path());

    let (l, r) = Ledger::reseal(dir.path(), Options::default(), reseal_record).expect("reseal");
    drop(l);
    assert!(
        matches!(
            r.overridden[..],
            [SealProblem::RolledBack {
                checkpoint_size: 300,
                signed_size: 400
            }]
        ),
        "{:?}",
        r.overridden
    );
    assert_eq!(r.kept_checkpoint.map(|c| c.0), Some(300));
    assert_eq!(r.history_kept(), Some(false));
    verify(&layout, None, |_, _| {}).expect("verify after the reseal");
    // The partial tiles of the replaced history at 400 are gone: a proof from its checkpoint
    // is refused, where a stale tile 001.p/144 would have let it pass.
    let e = consistency_proof_file(&layout, &at400).expect_err("a proof from the old history");
    assert!(e.to_string().contains("does not extend"), "{e}");
    consistency_proof_file(&layout, &at300).expect("the kept checkpoint is this log's past");
}

#[test]
fn a_checkpoint_whose_signature_fails_is_refused_and_a_reseal_rebuilds_past_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = build(dir.path(), 600);
    let vkey = key(&layout);
    // Another signature line: the note no longer verifies with the ledger's key.
    let text = fs::read_to_string(layout.checkpoint()).expect("checkpoint");
    let (body, sig) = text.split_once("\n\n").expect("a signed note");
    let mut sig = sig.to_string();
    let flip = sig.len() - 3;
    let c = if &sig[flip..flip + 1] == "A" {
        "B"
    } else {
        "A"
    };
    sig.replace_range(flip..flip + 1, c);
    fs::write(layout.checkpoint(), format!("{body}\n\n{sig}")).expect("write");

    let e = Ledger::open(dir.path(), Options::default())
        .err()
        .expect("refused");
    assert!(!matches!(e, LedgerError::Locked { .. }), "{e}");
    let (l, r) = Ledger::reseal(dir.path(), Options::default(), reseal_record).expect("reseal");
    assert!(
        matches!(
            r.overridden[..],
            [SealProblem::CheckpointUnverified { .. }, ..]
        ),
        "{:?}",
        r.overridden
    );
    assert_eq!(r.kept_checkpoint, None, "rebuilt from the first record");
    assert_eq!(r.history_kept(), Some(true), "the records were not changed");
    drop(l);
    verify(&layout, Some(&vkey), |_, _| {}).expect("verify after the reseal");
}
