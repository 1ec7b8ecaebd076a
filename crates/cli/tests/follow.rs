//! `suho ingest --follow` killed with SIGKILL at random moments while a writer appends to the
//! followed file and rotates it: after each restart it goes on where the ledger ends, and at
//! the end every written line is in the ledger exactly once. The records carry no `id`, so
//! nothing but the follower's saved positions and their reconciliation with the ledger keeps a
//! line from being lost or stored twice.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};

mod common;

use common::{suho, wait_status, SUHO};

/// Record `n`: no id, unique by its resource.
fn record(n: u64) -> String {
    format!(
        r#"{{"time":{},"actor":"emp-{:03}","action":"read","resource":"GET /v1/orders/{n}","subjects":["c-{:05}"]}}"#,
        1_750_000_000_000u64 + n * 10,
        n % 50,
        n % 9973
    )
}

/// `suho ingest --follow LOG` on `data`, its standard error appended to `log_err`.
fn start(data: &Path, log: &Path, err: &Path) -> Child {
    let stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(err)
        .expect("stderr file");
    Command::new(SUHO)
        .env("SUHO_CHECKPOINT_EVERY_SECS", "1")
        .arg("--data")
        .arg(data)
        .arg("ingest")
        .arg("--follow")
        .arg(log)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn suho ingest --follow")
}

/// How many times each record number is in the ledger of `data`.
fn stored(data: &Path) -> HashMap<u64, u32> {
    let out = suho(data, &["records"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("records prints JSON");
        let resource = v["record"]["resource"].as_str().unwrap_or_default();
        // suho's own records (none are expected here) have other resources.
        if let Some(n) = resource.strip_prefix("GET /v1/orders/") {
            *seen.entry(n.parse::<u64>().expect("number")).or_insert(0) += 1;
        }
    }
    seen
}

/// The writer: appends records to `log` in bursts, some lines in two writes, and rotates the
/// file (rename, new file; the last line before each rotation without its line end) while a
/// follower runs. Asked to, it SIGKILLs the follower right after a burst, so that the kill
/// lands while lines are arriving and some written lines cannot be stored yet.
struct Writer {
    log: PathBuf,
    written: Arc<AtomicU64>,
    up: Arc<AtomicBool>,
    finish: Arc<AtomicBool>,
    kill: Arc<Mutex<Option<mpsc::Sender<u64>>>>,
    child: Arc<Mutex<Option<Child>>>,
}

impl Writer {
    fn run(self, seed: u64) -> u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .expect("open log")
        };
        let mut file = open(&self.log);
        let mut n = 0u64;
        let mut since_rotation = 0u64;
        let mut rotations = 0;
        while !self.finish.load(Ordering::Relaxed) {
            for _ in 0..rng.gen_range(10..40) {
                let line = record(n) + "\n";
                if rng.gen_ratio(1, 20) {
                    // A line in two writes: a follower may read its first part alone.
                    let cut = rng.gen_range(1..line.len());
                    file.write_all(&line.as_bytes()[..cut]).expect("write");
                    file.write_all(&line.as_bytes()[cut..]).expect("write");
                } else {
                    file.write_all(line.as_bytes()).expect("write");
                }
                n += 1;
                since_rotation += 1;
            }
            if self.up.load(Ordering::Relaxed) && since_rotation >= 3000 {
                // The last line before the rotation has no line end: it is taken as it is.
                file.write_all(record(n).as_bytes()).expect("write");
                n += 1;
                rotations += 1;
                std::fs::rename(
                    &self.log,
                    self.log.with_extension(format!("log.{rotations}")),
                )
                .expect("rotate");
                file = open(&self.log);
                since_rotation = 0;
            }
            self.written.store(n, Ordering::Relaxed);
            if let Some(done) = self.kill.lock().expect("lock").take() {
                if let Some(c) = self.child.lock().expect("lock").as_mut() {
                    c.kill().expect("SIGKILL");
                }
                self.up.store(false, Ordering::Relaxed);
                let _ = done.send(n);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            rotations >= 3,
            "the writer rotated the file only {rotations} times"
        );
        n
    }
}

#[test]
fn sigkill_while_following_a_rotating_file_loses_and_doubles_no_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("access.log");
    let err = dir.path().join("follower.stderr");
    let written = Arc::new(AtomicU64::new(0));
    let up = Arc::new(AtomicBool::new(false));
    let finish = Arc::new(AtomicBool::new(false));
    let kill = Arc::new(Mutex::new(None));
    let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
    let writer = Writer {
        log: log.clone(),
        written: Arc::clone(&written),
        up: Arc::clone(&up),
        finish: Arc::clone(&finish),
        kill: Arc::clone(&kill),
        child: Arc::clone(&child),
    };
    let writer = std::thread::spawn(move || writer.run(0xf011));
    let stderr = || std::fs::read_to_string(&err).unwrap_or_default();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut held = 0u64;
    for round in 0..6 {
        *child.lock().expect("lock") = Some(start(&data, &log, &err));
        // A kill at a random point of this round's work: once it has stored a random number
        // of records more (read from its status file), while the writer goes on.
        let target = held + rng.gen_range(300..3000);
        wait_status(
            &data,
            &child,
            &format!("round {round}: {target} records"),
            |v| v["ledger_size"].as_u64().is_some_and(|s| s >= target),
        );
        up.store(true, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        *kill.lock().expect("lock") = Some(tx);
        let written_at_kill = rx.recv().expect("the writer killed the follower");
        let status = child
            .lock()
            .expect("lock")
            .take()
            .expect("child")
            .wait()
            .expect("reap");
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the follower was not running when killed ({status}): {}",
            stderr()
        );
        let seen = stored(&data);
        if let Some((n, k)) = seen.iter().find(|(_, k)| **k > 1) {
            panic!("round {round}: line {n} is stored {k} times");
        }
        let now = seen.len() as u64;
        assert!(
            now > held && now < written_at_kill,
            "round {round}: the kill interrupted the work: {held} stored before the round, {now} after the kill, {written_at_kill} written"
        );
        held = now;
        let v = suho(&data, &["verify"]);
        assert!(
            v.status.success(),
            "round {round}: verify after SIGKILL: {}",
            String::from_utf8_lossy(&v.stdout)
        );
    }

    // The writer stops; a last follower stores what is left and stops cleanly on SIGTERM.
    finish.store(true, Ordering::Relaxed);
    let total = writer.join().expect("writer");
    *child.lock().expect("lock") = Some(start(&data, &log, &err));
    wait_status(&data, &child, &format!("all {total} lines"), |v| {
        v["ledger_size"].as_u64() == Some(total)
    });
    // `suho status` names the running follower and where the file is.
    let said = String::from_utf8_lossy(&suho(&data, &["status"]).stdout).to_string();
    assert!(said.contains("(suho ingest --follow)"), "{said}");
    assert!(
        said.contains(&format!("following      {}", log.display())),
        "{said}"
    );
    let mut last = child.lock().expect("lock").take().expect("child");
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(last.id().to_string())
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = last.wait().expect("reap");
    assert!(
        status.success(),
        "SIGTERM stops the follower cleanly: {status}: {}",
        stderr()
    );

    let seen = stored(&data);
    for n in 0..total {
        match seen.get(&n) {
            Some(1) => {}
            Some(k) => panic!("line {n} is stored {k} times"),
            None => panic!("line {n} is missing"),
        }
    }
    assert_eq!(
        seen.len() as u64,
        total,
        "nothing but the written lines is stored"
    );
    assert!(suho(&data, &["verify"]).status.success());
}
