//! `suho suppress`: an analyst hides one rule's alerts for one actor until a time; the change
//! is recorded in the ledger (and `suho verify` passes over it), the hidden alert is stored and
//! shown under `--suppressed` but not among the raised alerts, and `suho suppress list` says
//! what each suppression hid.

mod common;

use std::path::Path;

use common::suho;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ndjson(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// An account no registry knows reads customer data: `unknown_principal`, high.
fn intruder_reads(path: &Path, day: u32, actor: &str) {
    let lines: String = (0..3)
        .map(|k| {
            format!(
                "{{\"time\":\"2025-06-{day:02}T10:0{k}:00Z\",\"actor\":\"{actor}\",\"action\":\"read\",\"resource\":\"GET /v1/customers/{{id}}\",\"src_ip\":\"10.1.1.1\",\"subjects\":[\"c-{k}\"]}}\n"
            )
        })
        .collect();
    std::fs::write(path, lines).expect("records");
}

#[test]
fn a_suppression_is_recorded_in_the_ledger_hides_its_alerts_until_its_time_and_says_what_it_hid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let as_alice = ["--as", "alice"];

    // A registry-fact rule needs --force; nothing is recorded for a refusal.
    let out = suho(
        &data,
        &[
            &[
                "suppress",
                "add",
                "--rule",
                "departed_principal",
                "--actor",
                "emp-1",
                "--until",
                "2025-07-01T00:00:00Z",
                "--reason",
                "known",
            ][..],
            &as_alice,
        ]
        .concat(),
    );
    assert!(!out.status.success(), "refused without --force");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let added = ok(&suho(
        &data,
        &[
            &[
                "suppress",
                "add",
                "--rule",
                "unknown_principal",
                "--actor",
                "x-pentest",
                "--until",
                "2025-06-15T00:00:00Z",
                "--reason",
                "SEC-12 pen test account",
            ][..],
            &as_alice,
        ]
        .concat(),
    ));
    assert!(added.starts_with("sup-1: unknown_principal"), "{added}");
    assert!(
        added.contains("recorded in the ledger at index 0"),
        "{added}"
    );

    // Within its time: hidden. After it: raised.
    let before = dir.path().join("before.ndjson");
    let after = dir.path().join("after.ndjson");
    intruder_reads(&before, 10, "x-pentest");
    intruder_reads(&after, 20, "x-pentest");
    ok(&suho(&data, &["ingest", before.to_str().expect("path")]));
    ok(&suho(&data, &["ingest", after.to_str().expect("path")]));

    let raised = ndjson(&ok(&suho(
        &data,
        &[
            "alerts",
            "--format",
            "ndjson",
            "--rule",
            "unknown_principal",
        ],
    )));
    assert_eq!(raised.len(), 1, "{raised:#?}");
    assert!(raised[0]["time"]
        .as_str()
        .is_some_and(|t| t.starts_with("2025-06-20")));
    // The table shows the record of the latest update and since when the alert is high.
    let table = ok(&suho(&data, &["alerts", "--rule", "unknown_principal"]));
    assert!(
        table.contains("updated (record)") && table.contains("high since"),
        "{table}"
    );
    assert!(table.contains("2025-06-20T10:00:00Z #"), "{table}");
    let hidden = ndjson(&ok(&suho(
        &data,
        &["alerts", "--suppressed", "--format", "ndjson"],
    )));
    assert_eq!(hidden.len(), 1, "{hidden:#?}");
    assert_eq!(hidden[0]["suppressed_by"], "sup-1");
    assert_eq!(hidden[0]["severity"], "high");
    assert!(hidden[0]["time"]
        .as_str()
        .is_some_and(|t| t.starts_with("2025-06-10")));

    let list = ndjson(&ok(&suho(&data, &["suppress", "list", "--ndjson"])));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], "sup-1");
    assert_eq!(list[0]["added_by"], "alice");
    assert_eq!(list[0]["hidden"]["alerts"], 1);
    assert_eq!(list[0]["hidden"]["records"], 3);
    let table = ok(&suho(&data, &["suppress", "list"]));
    assert!(table.contains("actor x-pentest"), "{table}");

    // The addition is a ledger record, and the ledger verifies.
    let first = ndjson(&ok(&suho(
        &data,
        &["records", "--from", "0", "--limit", "1"],
    )));
    let body = first[0].to_string();
    assert!(body.contains("suppress.add"), "{body}");
    assert!(body.contains("SEC-12 pen test account"), "{body}");
    assert!(body.contains("alice"), "{body}");
    ok(&suho(&data, &["verify"]));

    // Removed: recorded too, gone from the list in force, kept with --all.
    let removed = ok(&suho(
        &data,
        &[
            &["suppress", "remove", "sup-1", "--reason", "test over"][..],
            &as_alice,
        ]
        .concat(),
    ));
    assert!(removed.contains("recorded in the ledger"), "{removed}");
    assert!(ok(&suho(&data, &["suppress", "list"])).contains("no suppressions"));
    let all = ndjson(&ok(&suho(
        &data,
        &["suppress", "list", "--all", "--ndjson"],
    )));
    assert_eq!(all[0]["removed_by"], "alice");
    let records = ok(&suho(&data, &["records"]));
    assert!(records.contains("suppress.remove"), "{records}");
    ok(&suho(&data, &["verify"]));
    let again = suho(&data, &["suppress", "remove", "sup-1"]);
    assert!(!again.status.success(), "already removed");
}

/// Polls `cond` on `suho ARGS` output until it holds (at most two minutes); on timeout says
/// what the last run printed and what the follower logged (`log`).
fn wait_for(data: &Path, log: &Path, args: &[&str], what: &str, cond: impl Fn(&str) -> bool) {
    let t = std::time::Instant::now();
    loop {
        let out = suho(data, args);
        if out.status.success() && cond(&String::from_utf8_lossy(&out.stdout)) {
            return;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(120),
            "never got to: {what}\nlast output: {}\n{}\nfollower log: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_running_follower_applies_a_suppression_added_by_another_process_from_its_next_records() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    let log = dir.path().join("access.log");
    std::fs::write(&log, "").expect("log");
    let err = dir.path().join("follower.log");
    let mut child = std::process::Command::new(common::SUHO)
        .env("SUHO_CHECKPOINT_EVERY_SECS", "1")
        .env("SUHO_LOG", "info")
        .arg("--data")
        .arg(&data)
        .args(["ingest", "--follow"])
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).expect("log file"))
        .spawn()
        .expect("spawn suho ingest --follow");
    let append = |day: u32, actor: &str| {
        let tmp = dir.path().join("lines");
        intruder_reads(&tmp, day, actor);
        let lines = std::fs::read(&tmp).expect("lines");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open log");
        f.write_all(&lines).expect("append");
    };
    let unknown = [
        "alerts",
        "--all",
        "--format",
        "ndjson",
        "--rule",
        "unknown_principal",
    ];
    append(10, "x-first");
    wait_for(&data, &err, &unknown, "the first alert", |o| {
        ndjson(o).len() == 1
    });

    // Added while the follower holds the ledger: spooled, and the follower records it.
    let added = ok(&suho(
        &data,
        &[
            "suppress",
            "add",
            "--rule",
            "unknown_principal",
            "--actor",
            "x-second",
            "--until",
            "2025-07-01T00:00:00Z",
            "--reason",
            "SEC-13 red team",
            "--as",
            "bob",
        ],
    ));
    assert!(added.contains("own-use spool"), "{added}");
    append(11, "x-second");
    wait_for(&data, &err, &unknown, "the second alert", |o| {
        ndjson(o).len() == 2
    });
    let all = ndjson(&ok(&suho(&data, &unknown)));
    let second = all
        .iter()
        .find(|a| a["actor"] == "x-second")
        .expect("x-second's alert");
    assert_eq!(
        second["suppressed_by"], "sup-1",
        "applied without a restart"
    );
    let first = all
        .iter()
        .find(|a| a["actor"] == "x-first")
        .expect("x-first's alert");
    assert!(first.get("suppressed_by").is_none());
    wait_for(
        &data,
        &err,
        &["records"],
        "the spooled suppression record",
        |o| o.contains("suppress.add"),
    );
    child.kill().expect("kill");
    child.wait().expect("wait");
}
