//! Scope through the `suho` binary, as scripts run them: exact counts against a brute-force
//! count over the raw records, and every run recorded in the ledger, also while `suho serve`
//! holds it. (Evidence bundles are tested in `crates/evidence/tests/bundle.rs`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{free_port, start_serve, SUHO};

fn suho(data: &Path, args: &[&str]) -> Output {
    Command::new(SUHO)
        .arg("--data")
        .arg(data)
        .args(args)
        .env("SUHO_OPERATOR", "analyst-kim")
        .output()
        .expect("run suho")
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// 4,000 records: 8 credentials, subjects from a pool of 1,500, fields varying; returns the
/// lines.
fn records() -> Vec<String> {
    let mut x: u64 = 7;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % n
    };
    let fields = ["name", "phone", "address", "entrance_code", "email"];
    (0..4000)
        .map(|i| {
            let n = 1 + next(4) as usize;
            let subjects: Vec<String> = (0..n).map(|_| format!("\"c-{}\"", next(1500))).collect();
            let f: Vec<String> = (0..1 + next(3) as usize)
                .map(|_| format!("\"{}\"", fields[next(5) as usize]))
                .collect();
            format!(
                r#"{{"time":{},"actor":"emp-{}","credential":"tok-{}","action":"read","resource":"GET /c","src_ip":"10.0.0.{}","subjects":[{}],"fields":[{}]}}"#,
                1_750_377_600_000i64 + i * 60_000,
                next(5),
                next(8),
                next(200),
                subjects.join(","),
                f.join(",")
            )
        })
        .collect()
}

#[test]
fn scope_counts_are_exact_and_every_run_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let lines = records();
    let file = dir.path().join("in.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    ok(suho(&data, &["ingest", file.to_str().expect("utf-8")]));

    // Brute force over the raw lines with serde_json alone.
    let mut subjects = BTreeSet::new();
    let mut per_field: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut n = 0;
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("json");
        if v["credential"] != "tok-3" || v["time"].as_i64().expect("t") < 1_750_400_000_000 {
            continue;
        }
        n += 1;
        for s in v["subjects"].as_array().expect("subjects") {
            let s = s.as_str().expect("s").to_string();
            subjects.insert(s.clone());
            for f in v["fields"].as_array().expect("fields") {
                per_field
                    .entry(f.as_str().expect("f").to_string())
                    .or_default()
                    .insert(s.clone());
            }
        }
    }
    let out = ok(suho(
        &data,
        &[
            "scope",
            "--credential",
            "tok-3",
            "--since",
            "2025-06-20T06:13:20Z",
            "--format",
            "json",
            "--claim",
            "10",
            "--reason",
            "ticket SEC-1",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["subjects"], subjects.len() as u64);
    assert_eq!(v["records"], n);
    for (f, set) in &per_field {
        assert_eq!(v["fields"][f], set.len() as u64, "field {f}");
    }
    assert_eq!(v["claim"]["verdict"], "understated");

    // The run is in the ledger: who, why, how many, never the subjects themselves.
    let recs = ok(suho(&data, &["records", "--from", "4000"]));
    let own: serde_json::Value =
        serde_json::from_str(recs.lines().next().expect("a record")).expect("json");
    let r = &own["record"];
    assert_eq!(r["actor"], "analyst-kim");
    assert_eq!(r["purpose"], "ticket SEC-1");
    assert_eq!(r["resource"], "suho scope");
    assert_eq!(r["subject_count"], subjects.len() as u64);
    assert!(r.get("subjects").is_none());
    assert_eq!(r["attrs"]["selector"]["credentials"][0], "tok-3");

    // The per-subject list holds exactly the brute-force subjects.
    let csv = dir.path().join("list.csv");
    ok(suho(
        &data,
        &[
            "scope",
            "--credential",
            "tok-3",
            "--since",
            "2025-06-20T06:13:20Z",
            "--out",
            csv.to_str().expect("utf-8"),
        ],
    ));
    let listed: BTreeSet<String> = std::fs::read_to_string(&csv)
        .expect("csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().expect("id").to_string())
        .collect();
    assert_eq!(listed, subjects);

    // The same count through SQL, and the query is recorded too.
    let out = ok(suho(
        &data,
        &[
            "sql",
            "SELECT count(DISTINCT subject) AS n FROM record_subjects WHERE credential = 'tok-3' AND time >= '2025-06-20T06:13:20Z'",
            "--format",
            "csv",
            "--reason",
            "ticket SEC-2",
        ],
    ));
    assert_eq!(
        out.lines().nth(1),
        Some(subjects.len().to_string().as_str()),
        "{out}"
    );
    let recs = ok(suho(&data, &["records", "--from", "4000"]));
    assert!(
        recs.lines()
            .any(|l| l.contains("\"resource\":\"suho sql\"") && l.contains("ticket SEC-2")),
        "{recs}"
    );
    let bad = suho(&data, &["sql", "DELETE FROM records"]);
    assert_eq!(bad.status.code(), Some(2));

    // A bad selector is a clear error, not a panic.
    let bad = suho(&data, &["scope", "--cidr", "10.0.0.0/99"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--cidr"));
}

#[test]
fn a_scope_run_while_serve_holds_the_ledger_is_spooled_and_appended_by_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let lines = records();
    let file = dir.path().join("in.ndjson");
    std::fs::write(&file, lines[..500].join("\n") + "\n").expect("write");
    ok(suho(&data, &["ingest", file.to_str().expect("utf-8")]));

    let addr = format!("127.0.0.1:{}", free_port());
    let mut serve = start_serve(&data, &addr);

    let out = ok(suho(
        &data,
        &[
            "scope",
            "--credential",
            "tok-3",
            "--reason",
            "while serving",
        ],
    ));
    assert!(out.contains("own-use spool"), "{out}");
    // serve appends the spooled record within its checkpoint interval.
    let t = std::time::Instant::now();
    let found = loop {
        let recs = ok(suho(&data, &["records", "--from", "500"]));
        if recs.contains("while serving") {
            break true;
        }
        if t.elapsed().as_secs() > 20 {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(found, "the spooled scope record never reached the ledger");
    assert!(
        std::fs::read_dir(data.join("spool"))
            .expect("spool")
            .filter_map(|e| e.ok())
            .all(|e| e.path().extension().is_none_or(|x| x != "ndjson")),
        "the spool still holds the record after it was appended"
    );
    let v = suho(&data, &["verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}
