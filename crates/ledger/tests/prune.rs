//! Retention pruning: the oldest records' bodies go, whole segments at a time; the log stays
//! verifiable and provable, and a pruning that removed recent records, or that no ledger record
//! documents, is named by `verify`.

use std::fs;
use std::path::Path;

use suho_ledger::{
    inclusion_proof_file, read_mark, verify, verify_proof_file, Layout, Ledger, Options, Prepared,
    WalReader,
};

const T0: i64 = 1_700_000_000_000;
const DAY: i64 = 86_400_000;

fn opts() -> Options {
    Options {
        segment_bytes: 1 << 16,
        ..Options::default()
    }
}

/// 6,000 records: the first 4,000 on day 0, the rest on day 400, checkpointed in batches.
fn build(dir: &Path) -> Ledger {
    let mut l = Ledger::open(dir, opts()).expect("open");
    for i in 0..6000i64 {
        let t = if i < 4000 { T0 + i } else { T0 + 400 * DAY + i };
        let body = format!(
            r#"{{"time":{t},"actor":"emp-{}","action":"read","resource":"GET /c/{i}","subjects":["c-{i:07}"],"fields":["name","phone"],"padding":"{}"}}"#,
            i % 9,
            "x".repeat(200)
        );
        l.append(&Prepared::new(body.as_bytes(), t, None, T0))
            .expect("append");
        if i % 250 == 249 {
            l.sync().expect("sync");
            l.checkpoint().expect("checkpoint");
        }
    }
    l.checkpoint().expect("checkpoint");
    l
}

fn prune_record(l: &mut Ledger, min_index: u64) -> u64 {
    let body = format!(
        r#"{{"time":{},"actor":"ops","action":"delete","resource":"suho history prune","attrs":{{"suho_event":"ledger.prune","min_index":{min_index}}}}}"#,
        T0 + 401 * DAY
    );
    let i = l
        .append(&Prepared::new(body.as_bytes(), T0 + 401 * DAY, None, T0))
        .expect("append")
        .index();
    l.checkpoint().expect("checkpoint");
    i
}

fn segments(dir: &Path) -> usize {
    fs::read_dir(dir.join("wal"))
        .expect("wal")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "seg"))
        })
        .count()
}

#[test]
fn pruning_removes_old_bodies_and_keeps_the_log_verifiable_and_provable() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let mut l = build(dir);
    let before = segments(dir);
    assert!(before > 4, "{before} segments: the test needs several");

    // A horizon between the two days: only segments wholly on day 0 can go.
    let plan = l
        .plan_prune(T0 + 10 * DAY)
        .expect("plan")
        .expect("something to prune");
    assert!(plan.min_index > 0 && plan.min_index <= 4000, "{plan:?}");
    assert_eq!(plan.records, plan.min_index);
    // A horizon before everything prunes nothing.
    assert!(l.plan_prune(T0).expect("plan").is_none());

    let at = prune_record(&mut l, plan.min_index);
    l.apply_prune(&plan, at).expect("apply");
    assert_eq!(segments(dir), before - plan.segments.len());
    let mark = read_mark(&Layout::new(dir)).expect("mark").expect("pruned");
    assert_eq!((mark.min_index, mark.record), (plan.min_index, at));

    // Verify walks the pruned part from the entries, the rest from the records.
    let report = verify(&Layout::new(dir), None, |_, _| {}).expect("verifies");
    assert_eq!(report.checkpoint_size, 6001);

    // A pruned record can still be proved (its entry), though its body is gone.
    let proof = inclusion_proof_file(&Layout::new(dir), 3).expect("proof");
    let key = suho_ledger::load_verifier(&Layout::new(dir).keys()).expect("key");
    verify_proof_file(&proof, &key, None).expect("proof verifies");
    let mut first_kept = None;
    WalReader::new(&Layout::new(dir).wal())
        .scan(0, |f| {
            first_kept = Some(f.index);
            false
        })
        .expect("scan");
    assert_eq!(first_kept, Some(plan.min_index));

    // The ledger reopens and grows after a prune.
    drop(l);
    let mut l = Ledger::open(dir, opts()).expect("reopen");
    prune_record(&mut l, 0);
    drop(l);
    verify(&Layout::new(dir), None, |_, _| {}).expect("verifies after growth");
}

#[test]
fn a_pruning_that_hides_recent_records_or_is_undocumented_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let mut l = build(dir);
    // An insider deletes segments holding day-400 records and writes a marker claiming an
    // old horizon.
    let plan = l
        .plan_prune(T0 + 500 * DAY)
        .expect("plan")
        .expect("something");
    assert!(plan.min_index > 4000, "{plan:?}");
    let at = prune_record(&mut l, plan.min_index);
    l.apply_prune(&plan, at).expect("apply");
    drop(l);
    let layout = Layout::new(dir);
    verify(&layout, None, |_, _| {}).expect("an honest late prune verifies");
    let marker = dir.join("wal/PRUNED");
    let honest = fs::read_to_string(&marker).expect("marker");
    fs::write(
        &marker,
        honest.replace(
            &format!("horizon_ms {}", T0 + 500 * DAY),
            &format!("horizon_ms {}", T0 + 10 * DAY),
        ),
    )
    .expect("write");
    let p = verify(&layout, None, |_, _| {}).expect_err("hidden recent records");
    assert!(p.what.contains("pruned too early"), "{}", p.what);
    assert!(p.index.is_some_and(|i| i >= 4000), "{:?}", p.index);

    // The marker names a record that is not the pruning record.
    fs::write(
        &marker,
        honest.replace(&format!("record {at}"), "record 5999"),
    )
    .expect("write");
    let p = verify(&layout, None, |_, _| {}).expect_err("undocumented");
    assert!(p.what.contains("ledger.prune"), "{}", p.what);

    // Segments removed without any marker: the gap is named.
    fs::remove_file(&marker).expect("rm");
    let p = verify(&layout, None, |_, _| {}).expect_err("gap");
    assert_eq!(p.index, Some(0), "{}", p.what);
}
