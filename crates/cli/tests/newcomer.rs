//! What a person new to suho runs into: retention that would delete everything, a scope over
//! pruned days, a record taken from `suho records` to check a proof, and detector state that
//! must stay consistent with the position it names.

use std::path::{Path, PathBuf};

mod common;

use common::suho;

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// `n` records by `actor` at `start_ms`, a minute apart, each with its own subject.
fn records(dir: &Path, name: &str, actor: &str, start_ms: u64, n: u64) -> PathBuf {
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"time\":{},\"actor\":\"{actor}\",\"action\":\"read\",\"resource\":\"GET /v1/customers/{{id}}\",\"subjects\":[\"{name}-{i}\"],\"fields\":[\"name\"],\"id\":\"{name}-{i}\"}}\n",
                start_ms + i * 60_000
            )
        })
        .collect();
    let p = dir.join(format!("{name}.ndjson"));
    std::fs::write(&p, lines).expect("write records");
    p
}

fn ingest(data: &Path, file: &Path) {
    let out = suho(data, &["ingest", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));
}

fn scope_json(data: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["scope", "--format", "json", "--reason", "test"];
    args.extend_from_slice(extra);
    let out = suho(data, &args);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("scope prints JSON")
}

#[test]
fn retention_refuses_to_delete_the_whole_history_and_scope_then_says_what_was_pruned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Sample data from a past year, as `suho simulate` writes: all of it past 365 days.
    let old = records(dir.path(), "old", "emp-1", 1_750_000_000_000, 50);
    ingest(&data, &old);
    assert_eq!(scope_json(&data, &[])["subjects"], 50);

    let out = suho(&data, &["history", "prune"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("refusing to delete most of the history"),
        "{}",
        text(&out)
    );
    let out = suho(&data, &["history", "prune", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("would delete 50 records"),
        "{}",
        text(&out)
    );
    assert_eq!(
        scope_json(&data, &[])["subjects"],
        50,
        "neither the refusal nor the dry run deleted anything"
    );

    // Newer records arrive; now a pruning keeps more than it deletes and goes ahead.
    let new = records(dir.path(), "new", "emp-1", now_ms() - 3_600_000, 60);
    ingest(&data, &new);
    let out = suho(&data, &["history", "prune"]);
    assert!(out.status.success(), "{}", text(&out));

    let all = scope_json(&data, &[]);
    assert_eq!(all["subjects"], 60);
    assert_eq!(all["complete"], false, "{all}");
    assert!(all["scan"]["pruned_before"].is_string(), "{all}");
    let out = suho(&data, &["scope", "--reason", "test"]);
    assert!(
        text(&out).contains("exact over the history kept") && text(&out).contains("pruned"),
        "{}",
        text(&out)
    );
    // A selection that starts after the pruned days is complete.
    let today = scope_json(
        &data,
        &["--since", all["first_access"].as_str().expect("first")],
    );
    assert_eq!(today["complete"], true, "{today}");
    assert_eq!(today["subjects"], 60);
}

#[test]
fn verify_proof_accepts_a_line_as_suho_records_prints_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ingest(
        &data,
        &records(dir.path(), "r", "emp-1", 1_750_000_000_000, 5),
    );
    let proof = dir.path().join("p.tlog-proof");
    let out = suho(
        &data,
        &[
            "ledger",
            "proof",
            "3",
            "--out",
            proof.to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let key = String::from_utf8_lossy(&suho(&data, &["ledger", "key"]).stdout)
        .trim()
        .to_string();
    let check = |from: &str| {
        let line = dir.path().join(format!("line-{from}.json"));
        let out = suho(&data, &["records", "--from", from, "--limit", "1"]);
        std::fs::write(&line, &out.stdout).expect("write line");
        suho(
            &data,
            &[
                "verify-proof",
                proof.to_str().expect("utf-8"),
                "--key",
                &key,
                "--record",
                line.to_str().expect("utf-8"),
            ],
        )
    };
    let ok = check("3");
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("is exactly the one logged"),
        "{}",
        text(&ok)
    );
    let wrong = check("2");
    assert!(!wrong.status.success(), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("ledger index 2") && text(&wrong).contains("entry 3"),
        "{}",
        text(&wrong)
    );
}

#[test]
fn detector_state_carries_its_own_position_so_a_stale_position_file_replays_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let registry = dir.path().join("registry.ndjson");
    std::fs::write(
        &registry,
        r#"{"type":"principal","id":"emp-9","kind":"employee","status":"departed","departed_at":"2025-01-01T00:00:00Z","role":"backend-engineer"}"#,
    )
    .expect("write registry");
    let out = suho(
        &data,
        &["registry", "load", registry.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "{}", text(&out));
    ingest(
        &data,
        &records(dir.path(), "d", "emp-9", 1_750_000_000_000, 30),
    );
    let counts = |data: &Path| -> Vec<(String, u64)> {
        let out = suho(data, &["alerts", "--format", "ndjson"]);
        let mut v: Vec<(String, u64)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let a: serde_json::Value = serde_json::from_str(l).expect("alert JSON");
                (
                    a["rule"].as_str().expect("rule").to_string(),
                    a["count"].as_u64().unwrap_or(1),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = counts(&data);
    assert!(
        before
            .iter()
            .any(|(rule, n)| rule == "departed_principal" && *n == 30),
        "{before:?}"
    );
    // What a crash between two separate writes used to leave: the state saved at 30 records,
    // a position file still saying 0. The position is in the state file now; a stale position
    // file must not make the detectors count the same records again.
    std::fs::write(data.join("detect/observed"), "0").expect("write");
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "").expect("write");
    ingest(&data, &empty);
    assert_eq!(counts(&data), before, "no record was counted twice");
}

#[test]
fn help_describes_the_data_directory_everywhere_and_verify_evidence_lists_its_exit_statuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    for cmd in [
        &["sql", "--help"][..],
        &["token", "create", "--help"],
        &["ingest", "--help"],
    ] {
        let out = suho(dir.path(), cmd);
        let help = text(&out);
        let data = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("--data"))
            .nth(1)
            .unwrap_or_default();
        assert!(
            data.contains("Data directory"),
            "{cmd:?}: --data is described: {help}"
        );
    }
    let help = text(&suho(dir.path(), &["verify-evidence", "--help"]));
    assert!(
        help.contains("3 the bundle verifies but a claim given does not fit it"),
        "{help}"
    );
}
