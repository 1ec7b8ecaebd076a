//! End to end through the `suho` binary, as a user runs it: ingest a file with good, huge and
//! bad lines; read the rejects; verify; prove a record to an auditor who has only the key.

use std::process::{Command, Output};

mod common;

use common::{suho, SUHO};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn a_record_with_100000_subjects_is_stored_proved_and_verified_like_any_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let subjects: Vec<String> = (0..100_000).map(|i| format!("\"c-{i:0120}\"")).collect();
    let huge = format!(
        r#"{{"time":"2025-06-24T03:12:45.120Z","actor":"emp-0131","action":"export","resource":"customers.csv","subjects":[{}],"fields":["name","phone"],"id":"huge-1"}}"#,
        subjects.join(",")
    );
    let small = r#"{"time":1750734765120,"actor":"emp-0042","action":"read","resource":"GET /v1/customers/{id}","subjects":["c-1"],"id":"small-1"}"#;
    let file = dir.path().join("in.ndjson");
    let body = format!("{small}\n{huge}\nnot json\n{{\"time\":\"2025-06-24T03:12:45Z\",\"action\":\"read\",\"resource\":\"x\"}}\n");
    std::fs::write(&file, &body).expect("write");

    let out = suho(&data, &["ingest", file.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("2 stored, 0 duplicates, 2 rejected"),
        "{}",
        stdout(&out)
    );

    // The reject log names each bad line and why.
    let rejects = stdout(&suho(&data, &["rejects"]));
    assert!(rejects.contains(":3:"), "{rejects}");
    assert!(
        rejects.contains(":4:") && rejects.contains("actor"),
        "{rejects}"
    );

    // Ingesting the same file again stores nothing new: the ids are already there.
    let again = suho(&data, &["ingest", file.to_str().expect("utf-8")]);
    assert!(
        stdout(&again).contains("0 stored, 2 duplicates"),
        "{}",
        stdout(&again)
    );

    assert!(suho(&data, &["verify"]).status.success());

    // An auditor holding only the verifier key checks the huge record's inclusion proof, and
    // that the record they were shown is exactly the one logged.
    let vkey = stdout(&suho(&data, &["ledger", "key"])).trim().to_string();
    assert!(vkey.starts_with("suho.local/ledger-"), "{vkey}");
    let proof = dir.path().join("huge.tlog-proof");
    assert!(suho(
        &data,
        &[
            "ledger",
            "proof",
            "1",
            "--out",
            proof.to_str().expect("utf-8")
        ]
    )
    .status
    .success());
    let record = dir.path().join("huge.json");
    std::fs::write(&record, &huge).expect("write");
    let check = Command::new(SUHO)
        .args([
            "verify-proof",
            proof.to_str().expect("utf-8"),
            "--key",
            &vkey,
            "--record",
            record.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("exactly the one logged"),
        "{}",
        stdout(&check)
    );

    // A different record does not pass as the logged one.
    std::fs::write(&record, small).expect("write");
    let wrong = Command::new(SUHO)
        .args([
            "verify-proof",
            proof.to_str().expect("utf-8"),
            "--key",
            &vkey,
            "--record",
            record.to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    assert!(!wrong.status.success(), "{}", stdout(&wrong));

    // The stored record is the producer's line, verbatim.
    let recs = stdout(&suho(&data, &["records", "--from", "1", "--limit", "1"]));
    let v: serde_json::Value = serde_json::from_str(recs.trim()).expect("json");
    assert_eq!(
        v["record"]["subjects"].as_array().map(Vec::len),
        Some(100_000)
    );
}

#[test]
fn consistency_proofs_show_the_log_only_grew() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let write = |name: &str, from: u64, to: u64| {
        let lines: String = (from..to)
            .map(|i| format!("{{\"time\":{},\"actor\":\"emp-1\",\"action\":\"read\",\"resource\":\"r\",\"id\":\"r{i}\"}}\n", 1_750_000_000_000u64 + i))
            .collect();
        let p = dir.path().join(name);
        std::fs::write(&p, lines).expect("write");
        p
    };
    let a = write("a.ndjson", 0, 700);
    assert!(suho(&data, &["ingest", a.to_str().expect("utf-8")])
        .status
        .success());
    let old = dir.path().join("old-checkpoint");
    std::fs::copy(data.join("ledger/checkpoint"), &old).expect("copy");
    let b = write("b.ndjson", 700, 1500);
    assert!(suho(&data, &["ingest", b.to_str().expect("utf-8")])
        .status
        .success());
    let proof = dir.path().join("c.proof");
    let out = suho(
        &data,
        &[
            "ledger",
            "consistency",
            "--from",
            old.to_str().expect("utf-8"),
            "--out",
            proof.to_str().expect("utf-8"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vkey = stdout(&suho(&data, &["ledger", "key"])).trim().to_string();
    let check = Command::new(SUHO)
        .args([
            "verify-consistency",
            proof.to_str().expect("utf-8"),
            "--key",
            &vkey,
        ])
        .output()
        .expect("run");
    assert!(check.status.success(), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("1,500 extends the log of size 700"),
        "{}",
        stdout(&check)
    );

    // A proof checked with another ledger's well-formed key is refused because no signature
    // verifies, not because the key is malformed.
    let other = stdout(&suho(&dir.path().join("other"), &["ledger", "key"]))
        .trim()
        .to_string();
    assert!(
        suho_note::Verifier::parse(&other).is_ok(),
        "a well-formed key: {other}"
    );
    assert_ne!(other, vkey);
    let bad = Command::new(SUHO)
        .args([
            "verify-consistency",
            proof.to_str().expect("utf-8"),
            "--key",
            &other,
        ])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    let said = stdout(&bad);
    assert!(said.contains("none is by a trusted key"), "{said}");
}

#[test]
fn a_reader_that_stops_reading_ends_suho_quietly_not_with_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.ndjson");
    std::fs::write(&file, "{\"time\": 1}\n".repeat(5_000)).expect("write");
    let data = dir.path().join("data");
    assert!(suho(&data, &["ingest", file.to_str().expect("utf-8")])
        .status
        .success());
    // `suho rejects | head -0`: the reader has gone before suho writes its 5,000 lines.
    let mut child = Command::new(SUHO)
        .arg("--data")
        .arg(&data)
        .args(["rejects", "--limit", "5000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

/// A different record under a used `id` is stored, said, and alerted on: a producer reusing
/// request ids, or someone who predicted an id and sent a harmless record first to have the
/// real one dropped as a "duplicate".
#[test]
fn a_different_record_under_a_used_id_is_stored_reported_and_alerted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = dir.path().join("in.ndjson");
    let read = r#"{"time":"2025-06-24T03:12:45Z","id":"req-77","actor":"emp-0131","action":"read","resource":"GET /v1/customers/{id}","subjects":["c-1"]}"#;
    let export = r#"{"time":"2025-06-24T03:40:02Z","id":"req-77","actor":"emp-0131","action":"export","resource":"customers.csv","subjects":["c-1","c-2"],"fields":["name","phone"]}"#;
    std::fs::write(&file, format!("{read}\n{export}\n")).expect("write");

    let out = suho(&data, &["ingest", file.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(
        text.contains("2 stored, 0 duplicates, 0 rejected, 1 conflicts; ledger size 2"),
        "{text}"
    );

    let alerts = stdout(&suho(&data, &["alerts", "--format", "ndjson"]));
    let conflicts: Vec<serde_json::Value> = alerts
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson"))
        .filter(|a: &serde_json::Value| a["rule"] == "id_conflict")
        .collect();
    assert_eq!(conflicts.len(), 1, "{alerts}");
    let a = &conflicts[0];
    assert_eq!(a["severity"], "high", "{a}");
    assert_eq!(a["ledger_index"], 1, "{a}");
    assert_eq!(a["actor"], "emp-0131", "{a}");
    let summary = a["summary"].as_str().expect("summary");
    assert!(
        summary.contains("req-77") && summary.contains("Record 1") && summary.contains("record 0"),
        "{summary}"
    );
    // Both records, each with the hash of its body, so they can be compared with the ledger.
    let ev = &a["evidence"]["ledger"];
    assert_eq!(ev["id"], "req-77", "{a}");
    assert_eq!(ev["ledger_index"], 1, "{a}");
    assert_eq!(ev["first_ledger_index"], 0, "{a}");
    let sha = |line: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(line.as_bytes()))
    };
    assert_eq!(ev["body_sha256"], sha(export), "{a}");
    assert_eq!(ev["first_body_sha256_prefix"], sha(read)[..32], "{a}");

    // Retrying the file is safe: both records are there, each exactly once.
    let again = stdout(&suho(&data, &["ingest", file.to_str().expect("utf-8")]));
    assert!(
        again.contains("0 stored, 2 duplicates, 0 rejected, 0 conflicts; ledger size 2"),
        "{again}"
    );
    assert!(suho(&data, &["verify"]).status.success());
}

/// Records stored while the detectors did not run (a crash before their state was saved, or
/// `SUHO_NO_DETECT`) are checked when they catch up, conflicts included: the ledger's id index
/// says which records were conflicts, as ingest did.
#[test]
fn an_id_conflict_stored_while_the_detectors_were_off_is_alerted_when_they_catch_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = dir.path().join("in.ndjson");
    let read = r#"{"time":1750734765120,"id":"gw-5","actor":"svc-batch","action":"read","resource":"r","subjects":["c-1"]}"#;
    let export = r#"{"time":1750734765999,"id":"gw-5","actor":"svc-batch","action":"export","resource":"all.csv","subjects":["c-1","c-2"]}"#;
    std::fs::write(&file, format!("{read}\n{export}\n")).expect("write");
    let out = Command::new(SUHO)
        .arg("--data")
        .arg(&data)
        .args(["ingest", file.to_str().expect("utf-8")])
        .env("SUHO_NO_DETECT", "1")
        .output()
        .expect("run");
    assert!(stdout(&out).contains("1 conflicts"), "{}", stdout(&out));
    let none = stdout(&suho(&data, &["alerts", "--format", "ndjson"]));
    assert!(!none.contains("id_conflict"), "{none}");

    // The next run with detectors catches up with the two stored records first.
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "").expect("write");
    assert!(suho(&data, &["ingest", empty.to_str().expect("utf-8")])
        .status
        .success());
    let alerts = stdout(&suho(
        &data,
        &["alerts", "--format", "ndjson", "--rule", "id_conflict"],
    ));
    let a: serde_json::Value =
        serde_json::from_str(alerts.lines().next().unwrap_or("null")).expect("json");
    assert_eq!(a["rule"], "id_conflict", "{alerts}");
    assert_eq!(a["ledger_index"], 1, "{alerts}");
    assert_eq!(a["evidence"]["ledger"]["first_ledger_index"], 0, "{alerts}");
}

/// `n` valid records with ids `{prefix}-0..n`, one per line, dated 2025.
fn records(prefix: &str, n: u64) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"time\":{},\"actor\":\"emp-1\",\"action\":\"read\",\"resource\":\"r\",\"id\":\"{prefix}-{i}\"}}\n",
                1_750_000_000_000u64 + i
            )
        })
        .collect()
}

fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text).expect("compress");
    gz.finish().expect("compress")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn ingest_checks_every_file_first_and_a_missing_one_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let a = dir.path().join("a.ndjson");
    std::fs::write(&a, records("a", 3)).expect("write");
    let missing = dir.path().join("missing.ndjson");
    let zst = dir.path().join("c.ndjson.zst");
    std::fs::write(&zst, [0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00]).expect("write");
    for (args, names) in [
        (vec![&a, &missing], vec!["missing.ndjson"]),
        (
            vec![&a, &zst, &missing],
            vec!["c.ndjson.zst is compressed with zstd", "missing.ndjson"],
        ),
    ] {
        let args: Vec<&str> = std::iter::once("ingest")
            .chain(args.iter().map(|p| p.to_str().expect("utf-8")))
            .collect();
        let out = suho(&data, &args);
        assert!(!out.status.success());
        for name in names {
            assert!(stderr(&out).contains(name), "{}", stderr(&out));
        }
        assert!(
            stderr(&out).contains("nothing was ingested"),
            "{}",
            stderr(&out)
        );
    }
    // Nothing of a.ndjson was stored: ingesting it now stores all of it.
    let out = suho(&data, &["ingest", a.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 stored, 0 duplicates, 0 rejected")
            && stdout(&out).contains("ledger size 3"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_gzip_file_is_ingested_with_its_lines_numbered_in_the_decompressed_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let text = format!("{}not json\n{}", records("g", 2), records("h", 1));
    let gz = dir.path().join("access.ndjson.gz");
    std::fs::write(&gz, gzip(text.as_bytes())).expect("write");
    let out = suho(&data, &["ingest", gz.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 stored, 0 duplicates, 1 rejected"),
        "{}",
        stdout(&out)
    );
    let rejects = stdout(&suho(&data, &["rejects"]));
    assert!(
        rejects.contains("access.ndjson.gz:3: not valid JSON"),
        "{rejects}"
    );
    assert!(rejects.contains("line: \"not json\""), "{rejects}");
    // The stored records are the decompressed lines, verbatim.
    let recs = stdout(&suho(&data, &["records", "--limit", "1"]));
    assert!(recs.contains(records("g", 1).trim_end()), "{recs}");
}

#[test]
fn a_failure_after_some_files_were_stored_says_exactly_what_was_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let a = dir.path().join("a.ndjson");
    std::fs::write(&a, records("a", 3)).expect("write");
    // A gzip file cut short, as a copy interrupted mid-way leaves it: its first part is good.
    let whole = gzip(records("b", 20_000).as_bytes());
    let b = dir.path().join("b.ndjson.gz");
    std::fs::write(&b, &whole[..whole.len() / 2]).expect("write");
    let c = dir.path().join("c.ndjson");
    std::fs::write(&c, records("c", 3)).expect("write");
    let paths: Vec<&str> = [&a, &b, &c]
        .iter()
        .map(|p| p.to_str().expect("utf-8"))
        .collect();
    let out = suho(&data, &["ingest", paths[0], paths[1], paths[2]]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}: complete: 3 stored, 0 duplicates, 0 rejected (ledger indexes from 0)",
            paths[0]
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("not ingested: {}", paths[2])),
        "{err}"
    );
    assert!(
        err.contains(&format!("ingesting {} stopped", paths[1])),
        "{err}"
    );
    // The complete lines before the cut were stored, and the summary says how many.
    let partial = err
        .lines()
        .find_map(|l| l.strip_prefix(&format!("  {}: stopped after ", paths[1])))
        .unwrap_or_else(|| panic!("{err}"));
    let stored: u64 = partial
        .split_once(" lines: ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("{partial}"));
    assert!(stored > 0 && stored < 20_000, "{partial}");
    // It is durable, checkpointed and verifies.
    assert!(suho(&data, &["verify"]).status.success());
    let status = stdout(&suho(&data, &["status"]));
    let size: Option<u64> = status
        .lines()
        .find_map(|l| l.strip_prefix("checkpoint size"))
        .and_then(|n| n.trim().replace(',', "").parse().ok());
    assert_eq!(size, Some(3 + stored), "{status}");
}

#[test]
fn the_ingest_window_comes_from_suho_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(
        data.join("suho.toml"),
        "[ingest]\nmax_past_days = 30\nmax_future_hours = 1\n",
    )
    .expect("write");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let day = 86_400_000u64;
    let line = |time: u64| {
        format!("{{\"time\":{time},\"actor\":\"emp-1\",\"action\":\"read\",\"resource\":\"r\"}}\n")
    };
    let file = dir.path().join("in.ndjson");
    let text = [
        now - 10 * day,
        now - 60 * day,
        now + 3 * 3_600_000,
        now / 1000,
    ]
    .map(line)
    .concat();
    std::fs::write(&file, text).expect("write");
    let out = suho(&data, &["ingest", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 stored, 0 duplicates, 3 rejected"),
        "{}",
        stdout(&out)
    );
    let rejects = stdout(&suho(&data, &["rejects"]));
    assert!(
        rejects.contains(":2: field \"time\"") && rejects.contains("more than 30 days before now"),
        "{rejects}"
    );
    assert!(rejects.contains("raise max_past_days in the [ingest] section of suho.toml"));
    assert!(
        rejects.contains(":3: field \"time\"") && rejects.contains("more than 1 hours after now")
    );
    assert!(rejects.contains(":4: field \"time\"") && rejects.contains("looks like epoch seconds"));

    // A typo in the section is an error, not a silently ignored setting.
    std::fs::write(data.join("suho.toml"), "[ingest]\nmax_past_dayz = 30\n").expect("write");
    let out = suho(&data, &["ingest", file.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("max_past_dayz"), "{}", stderr(&out));
}
