//! Following files as they grow: rename rotation and copytruncate, each with lines before and
//! after and a line without its end at the moment of rotation; a file that does not exist yet;
//! and a restart whose saved position is behind the ledger (as after a kill between the
//! ledger's fsync and the position's save). Every written line must be stored exactly once:
//! the records carry no `id`, so nothing but the positions keeps them from being stored twice.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use suho_ingest::{follow, FollowOptions, FollowProgress, FollowSummary, RejectLog};
use suho_ledger::{Layout, Ledger, Options, WalReader};

/// Record `n`, without an id; unique by its resource.
fn record(n: u64) -> String {
    format!(
        r#"{{"time":{},"actor":"emp-{:03}","action":"read","resource":"GET /r/{n}","subjects":["c-{}"]}}"#,
        1_750_000_000_000u64 + n,
        n % 7,
        n % 11
    )
}

fn lines(range: std::ops::Range<u64>) -> String {
    range.map(|n| record(n) + "\n").collect()
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// A follower running on its own thread, with what it last reported.
struct Running {
    stop: Arc<AtomicBool>,
    last: Arc<Mutex<FollowProgress>>,
    thread: std::thread::JoinHandle<FollowSummary>,
}

fn options() -> FollowOptions {
    FollowOptions {
        rotate_grace: Duration::from_millis(50),
        poll: Duration::from_millis(20),
        ..FollowOptions::default()
    }
}

fn start(data: &Path, files: &[PathBuf]) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let last = Arc::new(Mutex::new(FollowProgress::default()));
    let (data, files) = (data.to_path_buf(), files.to_vec());
    let (s, l) = (Arc::clone(&stop), Arc::clone(&last));
    let thread = std::thread::spawn(move || {
        let mut ledger = Ledger::open(&data, Options::default()).unwrap();
        let mut rejects = RejectLog::new(&data);
        follow(
            &mut ledger,
            None,
            &files,
            &options(),
            &mut rejects,
            &s,
            &mut |p| {
                *l.lock().unwrap() = p.clone();
            },
        )
        .unwrap()
    });
    Running { stop, last, thread }
}

impl Running {
    /// Wait until `cond` holds of the follower's progress (it reports at every group commit).
    fn until(&self, what: &str, cond: impl Fn(&FollowProgress) -> bool) {
        let t = Instant::now();
        loop {
            if cond(&self.last.lock().unwrap()) {
                return;
            }
            assert!(
                !self.thread.is_finished(),
                "the follower stopped while waiting for {what}"
            );
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "never got to: {what}; last progress {:?}",
                self.last.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Wait until the follower has read `path` to its current size (a line without its end
    /// included).
    fn read_all_of(&self, path: &Path) {
        let size = std::fs::metadata(path).unwrap().len();
        self.until(&format!("{} read to byte {size}", path.display()), |p| {
            p.files
                .iter()
                .any(|f| f.path == path && !f.rotated && f.read == size)
        });
    }

    fn stop(self) -> FollowSummary {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// The follow state `text` as a kill leaves it: naming its one file as the current one (the
/// follower names the file it appends from before it appends, and saves no other at a kill).
fn killed_state(text: &str) -> String {
    use sha2::Digest;
    let json = text.lines().nth(1).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        v["current"],
        serde_json::Value::Null,
        "a clean stop names no current file"
    );
    assert_eq!(v["files"].as_array().unwrap().len(), 1);
    v["current"] = v["files"][0]["id"].clone();
    let json = v.to_string();
    let sum: String = sha2::Sha256::digest(json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("suho.dev/follow-state@v1\n{json}\nsha256 {sum}\n")
}

/// How many times each stored record body is in the ledger of `data`.
fn stored(data: &Path) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    WalReader::new(&Layout::new(data).wal())
        .scan(0, |f| {
            *out.entry(String::from_utf8(f.body.clone()).unwrap())
                .or_insert(0) += 1;
            true
        })
        .unwrap();
    out
}

/// Every record of `written` is stored exactly once, and nothing else is.
fn assert_each_once(data: &Path, written: impl Iterator<Item = u64>) {
    let stored = stored(data);
    let mut expected = 0;
    for n in written {
        expected += 1;
        assert_eq!(
            stored.get(&record(n)),
            Some(&1),
            "record {n} stored {:?} times",
            stored.get(&record(n))
        );
    }
    assert_eq!(
        stored.len(),
        expected,
        "only the written records are stored"
    );
}

#[test]
fn rename_rotation_reads_the_old_file_to_its_end_then_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("access.log");
    // Followed before it exists.
    let f = start(&data, std::slice::from_ref(&log));
    append(&log, &lines(0..300));
    // The last line before the rotation has no line end yet: it waits.
    append(&log, &record(300));
    f.until("300 records durable", |p| p.ledger_size == 300);
    f.read_all_of(&log);
    assert_eq!(
        f.last.lock().unwrap().ledger_size,
        300,
        "a line without its end is not stored"
    );
    // logrotate's default: rename, then a new file at the path.
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&log, &lines(301..500));
    // A line written in two parts is stored once it is whole.
    append(&log, &record(500)[..40]);
    f.until("the old file's last line and the new file's lines", |p| {
        p.ledger_size == 500
    });
    append(&log, &(record(500)[40..].to_owned() + "\n"));
    f.until("the line completed", |p| p.ledger_size == 501);
    let summary = f.stop();
    assert_eq!(summary.counts.stored, 501);
    assert_each_once(&data, 0..501);
}

#[test]
fn copytruncate_starts_again_at_zero_and_keeps_the_line_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("app.log");
    append(&log, &lines(0..200));
    // The writer keeps its file open with O_APPEND, as programs rotated by copytruncate do.
    let mut writer = OpenOptions::new().append(true).open(&log).unwrap();
    let f = start(&data, std::slice::from_ref(&log));
    writer.write_all(record(200).as_bytes()).unwrap();
    f.until("200 records durable", |p| p.ledger_size == 200);
    f.read_all_of(&log);
    // copytruncate: copy, then truncate in place; the writer goes on at the new end.
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    writer.write_all(lines(201..400).as_bytes()).unwrap();
    f.until("every line", |p| p.ledger_size == 400);
    // Truncated again, and written past the old size before the follower looks: the first
    // bytes differ, so it still starts again at 0.
    let before = std::fs::metadata(&log).unwrap().len();
    File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    let mut more = String::new();
    let mut n = 400;
    while (more.len() as u64) < before + 1000 {
        more.push_str(&(record(n) + "\n"));
        n += 1;
    }
    writer.write_all(more.as_bytes()).unwrap();
    f.until("the lines after the second truncation", |p| {
        p.ledger_size == n
    });
    f.stop();
    assert_each_once(&data, 0..n);
}

#[test]
fn a_restart_behind_the_ledger_finds_its_place_by_the_records_without_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("access.log");
    // Lines that are rejected, and a line repeated (stored each time: no id): the matching
    // must skip the first and count the second twice.
    append(&log, &lines(0..100));
    let f = start(&data, std::slice::from_ref(&log));
    f.until("100", |p| p.ledger_size == 100);
    f.stop();
    let state = suho_ingest::state_path(&data);
    // A clean stop names no current file; a kill leaves the one being read.
    let behind = killed_state(&std::fs::read_to_string(&state).unwrap());

    append(&log, "not json\n");
    append(&log, &(record(100) + "\n" + &record(100) + "\n"));
    append(&log, &lines(101..151));
    let f = start(&data, std::slice::from_ref(&log));
    f.until("152", |p| p.ledger_size == 152);
    f.stop();
    // As if killed after the ledger's fsync and before the position's save: the state says
    // 100 records while the ledger holds 152.
    std::fs::write(&state, &behind).unwrap();
    append(&log, &lines(151..170));
    let f = start(&data, std::slice::from_ref(&log));
    f.until("170 + the repeat", |p| p.ledger_size == 171);
    let summary = f.stop();
    assert!(
        summary
            .notes
            .iter()
            .any(|n| n.contains("52 records stored after the last saved position")),
        "{:?}",
        summary.notes
    );
    let stored = stored(&data);
    assert_eq!(
        stored.get(&record(100)),
        Some(&2),
        "the repeated line, twice as written"
    );
    for n in (0..170).filter(|n| *n != 100) {
        assert_eq!(stored.get(&record(n)), Some(&1), "record {n}");
    }
    assert_eq!(stored.values().sum::<u32>(), 171);
}

#[test]
fn records_another_command_stored_after_a_kill_are_not_taken_for_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("access.log");
    append(&log, &lines(0..50));
    let f = start(&data, std::slice::from_ref(&log));
    f.until("50", |p| p.ledger_size == 50);
    f.stop();
    let state = suho_ingest::state_path(&data);
    let behind = killed_state(&std::fs::read_to_string(&state).unwrap());
    append(&log, &lines(50..80));
    let f = start(&data, std::slice::from_ref(&log));
    f.until("80", |p| p.ledger_size == 80);
    f.stop();
    // Killed before saving the position of lines 50..80; then, before the restart, another
    // command stored records, one of them with the content of a line still to be read.
    std::fs::write(&state, &behind).unwrap();
    let other = dir.path().join("other.ndjson");
    std::fs::write(&other, record(90) + "\n" + &lines(1000..1010)).unwrap();
    {
        let mut ledger = Ledger::open(&data, Options::default()).unwrap();
        let mut rejects = RejectLog::new(&data);
        let input = File::open(&other).unwrap();
        suho_ingest::ingest_stream(
            &mut ledger,
            None,
            "other.ndjson",
            input,
            &suho_ingest::IngestOptions::default(),
            &mut rejects,
            &mut |_| {},
        )
        .unwrap();
    }
    append(&log, &lines(80..100));
    let f = start(&data, std::slice::from_ref(&log));
    f.until("every line", |p| p.ledger_size == 111);
    let summary = f.stop();
    assert!(
        summary.notes.iter().any(
            |n| n.contains("30 records stored after the last saved position")
                && n.contains("the other 11 records")
        ),
        "{:?}",
        summary.notes
    );
    let stored = stored(&data);
    assert_eq!(
        stored.get(&record(90)),
        Some(&2),
        "once from the file, once from the other"
    );
    for n in (0..100).chain(1000..1010).filter(|n| *n != 90) {
        assert_eq!(stored.get(&record(n)), Some(&1), "record {n}");
    }
}

#[test]
fn a_restart_after_rotation_finds_the_renamed_file_and_reads_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("access.log");
    append(&log, &lines(0..100));
    let f = start(&data, std::slice::from_ref(&log));
    f.until("100", |p| p.ledger_size == 100);
    f.stop();
    // While suho is stopped: more lines, a rotation, lines in the new file.
    append(&log, &lines(100..150));
    append(&log, &record(150));
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&log, &lines(151..200));
    let f = start(&data, std::slice::from_ref(&log));
    f.until("every line", |p| p.ledger_size == 200);
    f.stop();
    assert_each_once(&data, 0..200);
}
