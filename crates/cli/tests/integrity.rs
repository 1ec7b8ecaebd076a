//! A ledger cannot be quietly rewritten or re-signed from the command line: with its
//! checkpoint or its key gone, `verify` fails and every writer stops until an operator runs
//! `suho ledger reseal`, which is itself recorded in the ledger; a consistency proof is written
//! only from a checkpoint the log extends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::suho;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `count` records by `actor` from index `from` on, written to `dir/name`.
fn records(dir: &Path, name: &str, actor: &str, from: u64, count: u64) -> PathBuf {
    let lines: String = (from..from + count)
        .map(|i| {
            format!(
                "{{\"time\":{},\"actor\":\"{actor}\",\"action\":\"read\",\"resource\":\"r\",\"subjects\":[\"c-{i}\"],\"id\":\"{actor}-{i}\"}}\n",
                1_750_000_000_000u64 + i
            )
        })
        .collect();
    let p = dir.join(name);
    std::fs::write(&p, lines).expect("write records");
    p
}

fn ingest(data: &Path, file: &Path) -> Output {
    suho(data, &["ingest", file.to_str().expect("utf-8")])
}

/// A data directory holding 700 ingested records; returns it with its verifier key.
fn ledger(dir: &Path) -> (PathBuf, String) {
    let data = dir.join("data");
    ok(&ingest(&data, &records(dir, "a.ndjson", "emp-1", 0, 700)));
    let vkey = ok(&suho(&data, &["ledger", "key"])).trim().to_string();
    (data, vkey)
}

/// The writer refuses, saying what to run, and signs nothing.
fn writer_refuses(dir: &Path, data: &Path) {
    let out = ingest(data, &records(dir, "b.ndjson", "emp-1", 700, 10));
    assert!(!out.status.success(), "ingest ran: {}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("suho ledger reseal"),
        "{}",
        text(&out.stderr)
    );
}

fn verify_fails(data: &Path, key: Option<&str>, why: &str) {
    let mut args = vec!["verify"];
    if let Some(k) = key {
        args.extend(["--key", k]);
    }
    let out = suho(data, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(why), "{}", text(&out.stdout));
}

#[test]
fn a_deleted_checkpoint_fails_verify_and_stops_ingest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, vkey) = ledger(dir.path());
    std::fs::remove_file(data.join("ledger/checkpoint")).expect("rm checkpoint");

    verify_fails(&data, Some(&vkey), "checkpoint is missing");
    verify_fails(&data, None, "checkpoint is missing");
    writer_refuses(dir.path(), &data);
    assert!(!data.join("ledger/checkpoint").exists());
}

#[test]
fn a_deleted_key_directory_stops_every_writer_and_no_key_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, vkey) = ledger(dir.path());
    std::fs::remove_dir_all(data.join("keys")).expect("rm keys/");

    verify_fails(&data, Some(&vkey), "signing key");
    writer_refuses(dir.path(), &data);
    let out = suho(&data, &["ledger", "key"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(!data.join("keys/ledger.key").exists(), "a new key was made");
}

#[test]
fn reseal_records_the_operators_decision_and_the_ledger_verifies_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, vkey) = ledger(dir.path());
    std::fs::remove_dir_all(data.join("ledger")).expect("rm ledger/");
    writer_refuses(dir.path(), &data);

    let out = ok(&suho(
        &data,
        &[
            "ledger",
            "reseal",
            "--reason",
            "ledger/ restored after a disk failure",
            "--as",
            "alice",
        ],
    ));
    assert!(out.contains("checkpoint is missing"), "{out}");
    assert!(out.contains("recorded in the ledger at index 700"), "{out}");

    // The decision is in the ledger, as the last record, with who, why and what.
    let all = ok(&suho(&data, &["records", "--from", "700"]));
    let last: serde_json::Value =
        serde_json::from_str(all.lines().last().expect("a record")).expect("json");
    assert_eq!(last["ledger_index"], 700);
    let r = &last["record"];
    assert_eq!(r["actor"], "alice");
    assert_eq!(r["purpose"], "ledger/ restored after a disk failure");
    assert_eq!(r["resource"], "suho ledger reseal");
    assert_eq!(r["attrs"]["suho_event"], "ledger.reseal");
    assert_eq!(r["attrs"]["signed_before"]["size"], 700);
    // The log rebuilt from the write-ahead log is the one that was signed.
    assert_eq!(r["attrs"]["history_kept"], true);
    assert!(
        r["attrs"]["overridden"][0]
            .as_str()
            .is_some_and(|s| s.contains("checkpoint is missing")),
        "{r}"
    );

    let v = ok(&suho(&data, &["verify", "--key", &vkey]));
    assert!(v.contains("OK: 701 entries"), "{v}");
    ok(&ingest(
        &data,
        &records(dir.path(), "c.ndjson", "emp-1", 800, 10),
    ));
}

#[test]
fn reseal_after_a_lost_key_makes_a_new_key_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, old) = ledger(dir.path());
    std::fs::remove_dir_all(data.join("keys")).expect("rm keys/");

    let out = ok(&suho(
        &data,
        &[
            "ledger",
            "reseal",
            "--reason",
            "the key was lost",
            "--as",
            "bob",
        ],
    ));
    let new = ok(&suho(&data, &["ledger", "key"])).trim().to_string();
    assert_ne!(new, old);
    assert!(out.contains(&new), "the new key is not printed: {out}");

    let all = ok(&suho(&data, &["records", "--from", "700"]));
    let last: serde_json::Value =
        serde_json::from_str(all.lines().last().expect("a record")).expect("json");
    assert_eq!(last["record"]["attrs"]["new_key"], new.as_str());

    ok(&suho(&data, &["verify"]));
    ok(&suho(&data, &["verify", "--key", &new]));
    // What the old key signed is not what the log now says: an auditor holding it sees that.
    let out = suho(&data, &["verify", "--key", &old]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

#[test]
fn a_consistency_proof_from_a_forked_checkpoint_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, _) = ledger(dir.path());
    let b = dir.path().join("fork");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(&a)
        .arg(&b)
        .status()
        .expect("cp");
    assert!(cp.success());
    ok(&ingest(
        &a,
        &records(dir.path(), "a2.ndjson", "emp-1", 700, 800),
    ));
    ok(&ingest(
        &b,
        &records(dir.path(), "b2.ndjson", "emp-9", 700, 300),
    ));

    let proof = dir.path().join("c.proof");
    let from = b.join("ledger/checkpoint");
    let out = suho(
        &a,
        &[
            "ledger",
            "consistency",
            "--from",
            from.to_str().expect("utf-8"),
            "--out",
            proof.to_str().expect("utf-8"),
        ],
    );
    assert!(!out.status.success(), "a proof was written");
    assert!(
        text(&out.stderr).contains("does not extend"),
        "{}",
        text(&out.stderr)
    );
    assert!(!proof.exists());
}
