//! Crash safety, tested by killing a real process: `suho serve` is killed with SIGKILL at
//! random moments while clients ingest; every acknowledged record must survive exactly once,
//! and `suho verify` must pass after each restart.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};

mod common;

use common::{free_port, ingest_token, start_serve as start, start_serve_with, suho, SUHO};

fn record(n: u64) -> String {
    format!(
        "{{\"time\":{},\"actor\":\"emp-{:03}\",\"action\":\"read\",\"resource\":\"GET /v1/customers/{{id}}\",\"subjects\":[\"c-{:07}\"],\"id\":\"k-{n}\"}}\n",
        1_750_000_000_000u64 + n * 250,
        n % 97,
        n % 100_000
    )
}

/// POST a body; Some(response JSON) only when the server acknowledged it.
fn post(addr: &str, token: &str, body: &[u8]) -> Option<serde_json::Value> {
    let mut conn = TcpStream::connect(addr).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let head = format!(
        "POST /v1/records HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).ok()?;
    conn.write_all(body).ok()?;
    let mut resp = Vec::new();
    conn.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp);
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    let (_, json) = text.split_once("\r\n\r\n")?;
    serde_json::from_str(json).ok()
}

#[test]
fn sigkill_during_http_ingest_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let token = ingest_token(data);

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    let mut acked: HashMap<String, u64> = HashMap::new();
    let mut next = 0u64;
    let mut pending: Option<(u64, u64)> = None;
    let kills = 12;
    for round in 0..kills {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut server = start(data, &addr);
        let kill_after = Duration::from_millis(rng.gen_range(50..600));
        // SIGKILL from another thread, at a random moment, whatever the client is doing.
        let killer = std::thread::spawn(move || {
            std::thread::sleep(kill_after);
            server.kill().expect("SIGKILL");
            server.wait().expect("reap");
        });
        // The batch in flight at the kill is retried, after the restart, with the same ids.
        loop {
            let (from, to) = pending.take().unwrap_or_else(|| {
                let size = rng.gen_range(1..400);
                let r = (next, next + size);
                next += size;
                r
            });
            let body: String = (from..to).map(record).collect();
            match post(&addr, &token, body.as_bytes()) {
                Some(v) => {
                    for r in v["results"].as_array().expect("results") {
                        let line = r["line"].as_u64().expect("line");
                        let index = r["index"]
                            .as_u64()
                            .expect("stored or duplicate with an index");
                        let id = format!("k-{}", from + line - 1);
                        if let Some(prev) = acked.insert(id.clone(), index) {
                            assert_eq!(prev, index, "record {id} acknowledged at two indexes");
                        }
                    }
                }
                None => {
                    pending = Some((from, to));
                    if killer.is_finished() {
                        break;
                    }
                }
            }
        }
        killer.join().expect("killer thread");
        let v = suho(data, &["verify"]);
        assert!(
            v.status.success(),
            "round {round}: verify failed after SIGKILL: {}",
            String::from_utf8_lossy(&v.stdout)
        );
    }
    assert!(
        acked.len() > 1000,
        "the test acknowledged too few records to mean anything: {}",
        acked.len()
    );

    // Every acknowledged record is stored exactly once, at the index it was acknowledged with.
    let out = suho(data, &["records"]);
    assert!(out.status.success());
    let mut seen: HashMap<String, u64> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("records prints JSON");
        let id = v["record"]["id"].as_str().expect("id").to_string();
        let index = v["ledger_index"].as_u64().expect("index");
        assert!(
            seen.insert(id.clone(), index).is_none(),
            "record {id} is stored twice"
        );
    }
    for (id, index) in &acked {
        assert_eq!(
            seen.get(id),
            Some(index),
            "acknowledged record {id} is missing or moved"
        );
    }
}

/// Bytes in the write-ahead log of `data` (its segment files and their indexes).
fn wal_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join("wal"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// A file of `n` records with ids.
fn records_file(dir: &Path, n: u64) -> PathBuf {
    let file = dir.join("records.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).expect("create"));
    for i in 0..n {
        f.write_all(record(i).as_bytes()).expect("write");
    }
    f.flush().expect("flush");
    file
}

/// Start `suho ingest FILE` (`n` records, of which `data` already holds `held`) on `data`,
/// publishing a checkpoint every `checkpoint_secs`, and SIGKILL it `delay` after its
/// write-ahead log has grown by a few blocks of records. Asserts that
/// the kill interrupted it: it was still running (killed by the signal, not exited) and had
/// not stored the whole file. Returns the records stored after the kill.
fn kill_ingest_midway(
    data: &Path,
    file: &Path,
    n: u64,
    held: u64,
    delay: Duration,
    checkpoint_secs: u64,
) -> u64 {
    let start = wal_bytes(data);
    let mut child = Command::new(SUHO)
        .env("SUHO_CHECKPOINT_EVERY_SECS", checkpoint_secs.to_string())
        .arg("--data")
        .arg(data)
        .arg("ingest")
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ingest");
    // Re-sent records already stored are duplicates and add nothing: wait for new ones.
    // Two MiB of log is several whole blocks (a block is a compressed input chunk), so at
    // least one is complete however the kill cuts the one being written.
    while wal_bytes(data) <= start + (2 << 20) {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("the ingest ended ({status}) before it stored anything new");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap");
    assert_eq!(
        status.signal(),
        Some(9),
        "the ingest had finished ({status}) before the kill: nothing was interrupted"
    );
    let after = stored(data).len() as u64;
    assert!(
        after > held && after < n,
        "the kill interrupted the ingest midway: {held} records before, {after} after, of {n}"
    );
    after
}

/// Every record `suho records` prints, as JSON.
fn stored(data: &Path) -> Vec<serde_json::Value> {
    let out = suho(data, &["records"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("records prints JSON"))
        .collect()
}

#[test]
fn sigkill_during_file_ingest_leaves_a_verifiable_ledger_and_retries_store_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Large enough that four kills, each a few blocks into what a round adds, leave work for
    // the last ingest however fast this machine stores.
    let n = 1_000_000u64;
    let file = records_file(dir.path(), n);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut held = 0;
    // Up to four rounds, while half the file is still to come: however fast this machine
    // stores, the kill always lands inside the work.
    for round in 0..4 {
        if held >= n / 2 {
            break;
        }
        // Each round re-sends the whole file and is killed at a random moment of what it adds:
        // mid-block, mid-fsync, around a checkpoint (published every second here).
        let delay = Duration::from_millis(rng.gen_range(0..20));
        held = kill_ingest_midway(&data, &file, n, held, delay, 1);
        let v = suho(&data, &["verify"]);
        assert!(
            v.status.success(),
            "round {round}: verify failed after SIGKILL: {}",
            String::from_utf8_lossy(&v.stdout)
        );
    }
    // Finish the file: every line is stored exactly once, whatever the kills interrupted.
    let out = suho(&data, &["ingest", file.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ids = std::collections::HashSet::new();
    for v in stored(&data) {
        assert!(
            ids.insert(v["record"]["id"].as_str().expect("id").to_string()),
            "a record is stored twice"
        );
    }
    assert_eq!(ids.len() as u64, n);
    assert!(suho(&data, &["verify"]).status.success());
}

#[test]
fn after_a_kill_scope_counts_every_durable_record_and_status_says_recovery_is_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Large enough that the kill lands inside the work however fast this machine stores.
    let n = 600_000;
    let file = records_file(dir.path(), n);
    // Killed midway, with periodic checkpoints an hour apart: the records it stored are
    // durable but neither checkpointed nor seen by the detectors.
    kill_ingest_midway(&data, &file, n, 0, Duration::ZERO, 3600);

    let status = suho(&data, &["status"]);
    let said = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{said}");
    assert!(said.contains("recovery pending"), "{said}");
    let alerts = suho(&data, &["alerts"]);
    assert!(
        String::from_utf8_lossy(&alerts.stderr).contains("recovery pending"),
        "alerts must say they miss what the stopped process stored"
    );

    // Scope first brings the ledger and detectors up to the durable log, then counts.
    let out = suho(&data, &["scope", "--format", "json", "--reason", "test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("scope prints JSON");
    let records = stored(&data);
    let durable: Vec<_> = records
        .iter()
        .filter(|v| {
            v["record"]["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("k-"))
        })
        .collect();
    assert!(
        durable.len() > 1000 && durable.len() < 600_000,
        "the kill left part of the file durable: {}",
        durable.len()
    );
    let subjects: std::collections::HashSet<&str> = durable
        .iter()
        .flat_map(|v| v["record"]["subjects"].as_array().expect("subjects"))
        .map(|s| s.as_str().expect("subject"))
        .collect();
    assert_eq!(
        summary["subjects"].as_u64(),
        Some(subjects.len() as u64),
        "scope counts every durable record's subjects"
    );
    assert_eq!(summary["records"].as_u64(), Some(durable.len() as u64));

    let status = suho(&data, &["status"]);
    let said = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(!said.contains("recovery pending"), "{said}");
}

#[test]
fn serve_exits_non_zero_when_its_ingest_service_fails_and_recovers_on_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let token = ingest_token(data);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut server = start_serve_with(data, &addr, Stdio::piped());
    // The tile directory becomes a file: the first full tile cannot be written.
    let tile = data.join("ledger/tile");
    if tile.is_dir() {
        std::fs::remove_dir_all(&tile).expect("remove tiles");
    }
    std::fs::write(&tile, b"not a directory").expect("write");
    let body: String = (0..300).map(record).collect();
    assert!(
        post(&addr, &token, body.as_bytes()).is_none(),
        "not acknowledged"
    );
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = server.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "suho serve kept running with a dead ingest service"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("ingest service stopped on an error"),
        "{stderr}"
    );
    // Fixed and restarted, suho recovers and the ledger verifies.
    std::fs::remove_file(&tile).expect("remove the file");
    let mut server = start(data, &addr);
    let acked = post(&addr, &token, record(1000).as_bytes()).expect("acknowledged after restart");
    assert_eq!(acked["stored"], 1);
    server.kill().expect("kill");
    server.wait().expect("reap");
    let out = suho(data, &["verify"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_offboarding_while_serve_runs_applies_to_the_next_records_and_is_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    let registry = data.join("registry.ndjson");
    std::fs::write(
        &registry,
        concat!(
            r#"{"type":"principal","id":"emp-0131","kind":"employee","status":"active","role":"backend-engineer"}"#,
            "\n",
            r#"{"type":"signing_key","id":"kid-staff","owner":"svc-auth","status":"active","issuance":"registered"}"#,
            "\n",
            r#"{"type":"credential","id":"tok-131","principal":"emp-0131","kind":"session","signing_key":"kid-staff"}"#,
            "\n"
        ),
    )
    .expect("write registry");
    let out = suho(
        data,
        &["registry", "load", registry.to_str().expect("utf-8")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = ingest_token(data);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut server = start(data, &addr);
    let access = |id: &str, at_ms: u64| {
        format!(
            "{{\"time\":{at_ms},\"actor\":\"emp-0131\",\"credential\":\"tok-131\",\"signing_key\":\"kid-staff\",\"action\":\"read\",\"resource\":\"r\",\"subjects\":[\"c-1\"],\"id\":\"{id}\"}}\n"
        )
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert!(post(&addr, &token, access("before", now_ms - 60_000).as_bytes()).is_some());

    // Offboarded by another process while serve holds the ledger.
    let out = suho(
        data,
        &[
            "registry",
            "offboard",
            "emp-0131",
            "--operator",
            "kim.security",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("revoked credential  tok-131"), "{said}");
    assert!(said.contains("spool"), "recorded through the spool: {said}");

    // His next access is caught by the running server.
    assert!(post(&addr, &token, access("after", now_ms + 60_000).as_bytes()).is_some());
    let t = std::time::Instant::now();
    let alerts = loop {
        let out = suho(data, &["alerts", "--format", "ndjson"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("departed_principal") || t.elapsed() > Duration::from_secs(20) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(alerts.contains("departed_principal"), "{alerts}");
    assert!(alerts.contains("revoked_credential"), "{alerts}");
    // serve appends the spooled offboarding record within its checkpoint interval.
    let t = std::time::Instant::now();
    let recorded = loop {
        let out = suho(data, &["records", "--from", "0"]);
        if String::from_utf8_lossy(&out.stdout).contains("suho registry offboard emp-0131") {
            break true;
        }
        if t.elapsed() > Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    server.kill().expect("kill");
    server.wait().expect("reap");
    assert!(recorded, "the offboarding never reached the ledger");
    assert!(suho(data, &["verify"]).status.success());
}
