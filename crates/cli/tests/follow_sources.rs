//! `suho ingest --follow --source gw --source app`: two `[[sources]]` of different formats (an
//! API gateway's JSON log, decoded, and the contract format, stored verbatim) followed by one
//! process into one ledger, killed with SIGKILL while both grow and the gateway log rotates.
//! After each restart the follower matches the lines past its saved position with the decoder
//! of their own file; at the end every line of both logs is stored exactly once, by its own
//! decoder. No record carries an `id`, so nothing but the saved positions keeps a line from
//! being lost or doubled.

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
use sha2::{Digest, Sha256};

mod common;

use common::{status_of, suho, wait_status, SUHO};

/// Line `n` of the gateway log: no request id, its ticket `t{n}` the subject.
fn gw_line(n: u64) -> String {
    format!(
        r#"{{"ts":{},"method":"GET","path":"/v1/tickets/t{n}","user":"agent-{}"}}"#,
        1_750_000_000_000u64 + n * 10,
        n % 7
    )
}

/// Line `n` of the application's log, in the contract format: no id, unique by resource.
fn app_line(n: u64) -> String {
    format!(
        r#"{{"time":{},"actor":"emp-{:03}","action":"read","resource":"GET /v1/orders/{n}","subjects":["c-{:05}"]}}"#,
        1_750_000_000_000u64 + n * 10,
        n % 50,
        n % 9973
    )
}

const GW_MAPPING: &str = r#"
[fields]
time = "ts"
time_format = "epoch_ms"
method = "method"
path = "path"
actor = "user"

[[routes]]
route = "GET /v1/tickets/{id}"
subjects = ["path:id"]
fields = ["name"]
"#;

/// A data directory whose suho.toml names the two sources.
fn configure(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let mapping = dir.join("gw-mapping.toml");
    std::fs::write(&mapping, GW_MAPPING).expect("mapping");
    let (gw, app) = (dir.join("gw.log"), dir.join("app.log"));
    std::fs::write(
        data.join("suho.toml"),
        format!(
            "[[sources]]\nname = \"gw\"\npath = \"{}\"\nformat = \"gateway\"\nmapping = \"{}\"\n\n\
             [[sources]]\nname = \"app\"\npath = \"{}\"\n",
            gw.display(),
            mapping.display(),
            app.display()
        ),
    )
    .expect("suho.toml");
    (data, gw, app)
}

fn start(data: &Path, err: &Path) -> Child {
    let stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(err)
        .expect("stderr file");
    Command::new(SUHO)
        .env("SUHO_CHECKPOINT_EVERY_SECS", "1")
        .arg("--data")
        .arg(data)
        .args(["ingest", "--follow", "--source", "gw", "--source", "app"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn suho ingest --follow --source")
}

/// How many times each line of each log is in the ledger, checking that each record is what
/// its own decoder makes of its line: a gateway line decoded (`attrs.source` "gateway", the
/// SHA-256 of the line in `attrs.source_sha256`), an application line stored as it is.
fn stored(data: &Path) -> (HashMap<u64, u32>, HashMap<u64, u32>) {
    let out = suho(data, &["records"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut gw, mut app) = (HashMap::new(), HashMap::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("records prints JSON");
        let r = &v["record"];
        if let Some(n) = r["resource"]
            .as_str()
            .and_then(|s| s.strip_prefix("GET /v1/orders/"))
        {
            let n: u64 = n.parse().expect("number");
            let written: serde_json::Value =
                serde_json::from_str(&app_line(n)).expect("app line is JSON");
            assert_eq!(*r, written, "an application line is stored as it is");
            *app.entry(n).or_insert(0) += 1;
        } else if let Some(n) = r["subjects"][0].as_str().and_then(|s| s.strip_prefix('t')) {
            let n: u64 = n.parse().expect("number");
            assert_eq!(r["attrs"]["source"], "gateway", "{r}");
            assert_eq!(
                r["attrs"]["source_sha256"],
                hex::encode(Sha256::digest(gw_line(n).as_bytes())),
                "gateway line {n} is stored with the SHA-256 of its line: {r}"
            );
            assert_eq!(r["actor"], format!("agent-{}", n % 7));
            *gw.entry(n).or_insert(0) += 1;
        }
    }
    (gw, app)
}

/// Where the writer says, once it has killed the follower, how many lines of each log it had
/// written.
type KillSignal = mpsc::Sender<(u64, u64)>;

/// The writer: appends to both logs in bursts (some lines in two writes), rotating the gateway
/// log (rename, new file, the last line before it without its line end) while the application
/// log grows on. Asked to, it SIGKILLs the follower right after a burst.
struct Writer {
    gw: PathBuf,
    app: PathBuf,
    written: Arc<(AtomicU64, AtomicU64)>,
    up: Arc<AtomicBool>,
    finish: Arc<AtomicBool>,
    kill: Arc<Mutex<Option<KillSignal>>>,
    child: Arc<Mutex<Option<Child>>>,
}

impl Writer {
    fn run(self, seed: u64) -> (u64, u64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .expect("open log")
        };
        let (mut gw, mut app) = (open(&self.gw), open(&self.app));
        let (mut g, mut a) = (0u64, 0u64);
        let mut since_rotation = 0u64;
        let mut rotations = 0;
        while !self.finish.load(Ordering::Relaxed) {
            for _ in 0..rng.gen_range(10..40) {
                let (file, line) = if rng.gen_bool(0.5) {
                    g += 1;
                    since_rotation += 1;
                    (&mut gw, gw_line(g - 1) + "\n")
                } else {
                    a += 1;
                    (&mut app, app_line(a - 1) + "\n")
                };
                if rng.gen_ratio(1, 20) {
                    let cut = rng.gen_range(1..line.len());
                    file.write_all(&line.as_bytes()[..cut]).expect("write");
                    file.write_all(&line.as_bytes()[cut..]).expect("write");
                } else {
                    file.write_all(line.as_bytes()).expect("write");
                }
            }
            if self.up.load(Ordering::Relaxed) && since_rotation >= 1500 {
                gw.write_all(gw_line(g).as_bytes()).expect("write");
                g += 1;
                rotations += 1;
                std::fs::rename(&self.gw, self.gw.with_extension(format!("log.{rotations}")))
                    .expect("rotate");
                gw = open(&self.gw);
                since_rotation = 0;
            }
            self.written.0.store(g, Ordering::Relaxed);
            self.written.1.store(a, Ordering::Relaxed);
            if let Some(done) = self.kill.lock().expect("lock").take() {
                if let Some(c) = self.child.lock().expect("lock").as_mut() {
                    c.kill().expect("SIGKILL");
                }
                self.up.store(false, Ordering::Relaxed);
                let _ = done.send((g, a));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            rotations >= 2,
            "the writer rotated the gateway log only {rotations} times"
        );
        (g, a)
    }
}

#[test]
fn two_sources_of_different_formats_followed_at_once_store_every_line_once_across_sigkill_and_rotation(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, gw, app) = configure(dir.path());
    let err = dir.path().join("follower.stderr");
    let up = Arc::new(AtomicBool::new(false));
    let finish = Arc::new(AtomicBool::new(false));
    let kill = Arc::new(Mutex::new(None));
    let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
    let writer = Writer {
        gw: gw.clone(),
        app: app.clone(),
        written: Arc::new((AtomicU64::new(0), AtomicU64::new(0))),
        up: Arc::clone(&up),
        finish: Arc::clone(&finish),
        kill: Arc::clone(&kill),
        child: Arc::clone(&child),
    };
    let writer = std::thread::spawn(move || writer.run(0x5eed));
    let stderr = || std::fs::read_to_string(&err).unwrap_or_default();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut held = 0u64;
    for round in 0..5 {
        *child.lock().expect("lock") = Some(start(&data, &err));
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
        let (gw_at_kill, app_at_kill) = rx.recv().expect("the writer killed the follower");
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
        let (g, a) = stored(&data);
        for (name, seen) in [("gateway", &g), ("application", &a)] {
            if let Some((n, k)) = seen.iter().find(|(_, k)| **k > 1) {
                panic!("round {round}: {name} line {n} is stored {k} times");
            }
        }
        let now = (g.len() + a.len()) as u64;
        assert!(
            now > held && now < gw_at_kill + app_at_kill,
            "round {round}: the kill interrupted the work: {held} stored before the round, {now} after the kill, {gw_at_kill} + {app_at_kill} written"
        );
        held = now;
        let v = suho(&data, &["verify"]);
        assert!(
            v.status.success(),
            "round {round}: verify after SIGKILL: {}",
            String::from_utf8_lossy(&v.stdout)
        );
    }

    finish.store(true, Ordering::Relaxed);
    let (gw_total, app_total) = writer.join().expect("writer");
    *child.lock().expect("lock") = Some(start(&data, &err));
    wait_status(
        &data,
        &child,
        &format!("all {gw_total} + {app_total} lines"),
        |v| v["ledger_size"].as_u64() == Some(gw_total + app_total),
    );
    // The status counts per source what this follower stored, and names each file's source.
    let said = String::from_utf8_lossy(&suho(&data, &["status"]).stdout).to_string();
    assert!(said.contains("  source app: "), "{said}");
    assert!(said.contains("  source gw: "), "{said}");
    assert!(
        said.contains(&format!("following      [gw] {}", gw.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("following      [app] {}", app.display())),
        "{said}"
    );
    let mut last = child.lock().expect("lock").take().expect("child");
    let pid = last.id();
    let v = status_of(&data, pid).expect("status");
    let per_source: u64 = v["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["stored"].as_u64().expect("stored"))
        .sum();
    assert_eq!(per_source, v["stored"].as_u64().expect("stored"), "{v}");
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let status = last.wait().expect("reap");
    assert!(status.success(), "SIGTERM: {status}: {}", stderr());

    let (g, a) = stored(&data);
    for (name, seen, total) in [("gateway", &g, gw_total), ("application", &a, app_total)] {
        for n in 0..total {
            match seen.get(&n) {
                Some(1) => {}
                Some(k) => panic!("{name} line {n} is stored {k} times"),
                None => panic!("{name} line {n} is missing"),
            }
        }
        assert_eq!(seen.len() as u64, total, "{name}: only the written lines");
    }
    assert!(suho(&data, &["verify"]).status.success());
}

#[test]
fn a_source_whose_records_span_lines_is_refused_with_follow_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let log = dir.path().join("postgresql.csv");
    std::fs::write(&log, "").expect("log");
    let mapping = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pgaudit/mapping.toml");
    std::fs::write(
        data.join("suho.toml"),
        format!(
            "[[sources]]\nname = \"pg\"\npath = \"{}\"\nformat = \"pgaudit\"\nmapping = \"{}\"\n",
            log.display(),
            mapping.display()
        ),
    )
    .expect("suho.toml");
    let out = suho(&data, &["ingest", "--follow", "--source", "pg"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("source \"pg\"") && said.contains("span lines"),
        "{said}"
    );
    assert!(!data.join("follow/state").exists(), "nothing was followed");
    // `all` is every source: the same refusal.
    let out = suho(&data, &["ingest", "--follow", "--source", "all"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("source \"pg\""));
}
