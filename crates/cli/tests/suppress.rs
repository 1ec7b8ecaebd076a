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
