//! `suho bench`: ingest throughput, reported as a ratio to physical limits measured in the
//! same run on the same bytes (reading the file, `sha256sum` of the file), with peak memory
//! for a first and a second ledger-sized load to show memory does not grow with the ledger.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::ui::thousands;

#[derive(Args)]
pub struct BenchArgs {
    /// Records per generated file.
    #[arg(long, default_value_t = 10_000_000)]
    records: u64,
    /// Records for the HTTP ingest benchmark (0 skips it).
    #[arg(long, default_value_t = 2_000_000)]
    http_records: u64,
    /// Records for the decoder benchmark (a gateway log with JWTs and a 200-route catalogue
    /// against the same records in the contract format; 0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    gateway_records: u64,
    /// Lines per second appended to a followed, rotating file (0 skips the follow row).
    #[arg(long, default_value_t = 100_000)]
    follow_rate: u64,
    /// Seconds the follow row appends for.
    #[arg(long, default_value_t = 10)]
    follow_seconds: u64,
    /// The followed file is rotated (renamed, a new one created) every this many MB.
    #[arg(long, default_value_t = 64)]
    follow_rotate_mb: u64,
    /// Records for the Sigma row: the detection stage's CPU per record with 0 and with 100
    /// Sigma rules loaded (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    sigma_records: u64,
    /// Keep the generated files and ledger (under DATA/bench).
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy)]
struct Timed {
    seconds: f64,
    /// CPU time (user + system, every thread) the measured work took, where the kernel says.
    cpu_seconds: Option<f64>,
    peak_rss_kib: Option<u64>,
}

impl Timed {
    /// The mean of two runs of the same work (peak memory: the larger).
    fn mean(a: &Timed, b: &Timed) -> Timed {
        Timed {
            seconds: (a.seconds + b.seconds) / 2.0,
            cpu_seconds: a.cpu_seconds.zip(b.cpu_seconds).map(|(x, y)| (x + y) / 2.0),
            peak_rss_kib: a.peak_rss_kib.max(b.peak_rss_kib),
        }
    }
}

/// CPU time from `/proc/self/stat` (Linux): `(this process, its waited-for children)`, user
/// plus system, every thread included. The kernel counts in USER_HZ ticks, which Linux fixes
/// at 100 per second for user space on every architecture it runs on.
fn cpu_seconds() -> Option<(f64, f64)> {
    stat_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// [`cpu_seconds`] from the text of a `/proc/PID/stat` file.
fn stat_cpu_seconds(stat: &str) -> Option<(f64, f64)> {
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11) // state .. cmajflt: fields 3 to 13
        .take(4) // utime, stime, cutime, cstime: fields 14 to 17
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let ticks = |t: u64| t as f64 / 100.0;
    (f.len() == 4).then(|| (ticks(f[0] + f[1]), ticks(f[2] + f[3])))
}

pub fn bench(data: &Path, a: BenchArgs) -> Result<i32> {
    let dir = data.join("bench");
    // A previous run is moved aside and deleted only after measuring: on ext4, creating files
    // right after deleting tens of thousands of others is several times slower (the inode
    // allocator skips recently deleted inodes one by one), and that is not what ingest costs.
    let old = data.join(format!("bench.old-{}", std::process::id()));
    if dir.exists() {
        std::fs::rename(&dir, &old)
            .with_context(|| format!("cannot move {} aside", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let file1 = dir.join("records-1.ndjson");
    let file2 = dir.join("records-2.ndjson");
    let http_file = dir.join("http.ndjson");
    eprintln!(
        "generating 2 x {} records (and {} for HTTP), with the company's registry and geo database ...",
        thousands(a.records),
        thousands(a.http_records)
    );
    // One company, one stream of traffic, cut into the files: every principal, credential and
    // key in them is in the registry that each measured data directory loads first, so the
    // detectors do what they do for a real company (registry facts, geo, baselines), instead
    // of flagging one unknown principal after another.
    {
        let mut split = SplitLines::new(&[
            (&file1, a.records),
            (&file2, a.records),
            (&http_file, a.http_records),
        ])?;
        let mut registry = BufWriter::new(File::create(dir.join(suho_sim::REGISTRY_FILE))?);
        let mut geo = BufWriter::new(File::create(dir.join(suho_sim::GEO_FILE))?);
        suho_sim::bench_traffic(
            2 * a.records + a.http_records,
            &mut split,
            &mut registry,
            &mut geo,
        )?;
        // Write the generated bytes back now: otherwise the kernel flushes them during the
        // first measured ingest, whose fsyncs then wait behind gigabytes of someone else's data.
        split.finish()?;
        registry.flush()?;
        geo.flush()?;
        std::fs::write(
            dir.join("suho.toml"),
            suho_sim::suho_toml(suho_sim::BENCH_CUSTOMERS),
        )?;
    }
    // The files were just written, so they are in the page cache for every measurement
    // alike: the figures compare CPU work on the same cached bytes.
    let bytes = std::fs::metadata(&file1)?.len();

    // Physical limits over the same bytes.
    let read = time_it(|| {
        let mut f = File::open(&file1)?;
        let mut buf = vec![0u8; 1 << 20];
        while f.read(&mut buf)? > 0 {}
        Ok(())
    })?;
    let sha = time_cmd(Command::new("sha256sum").arg(&file1))?;
    let floor = floor(&file1)?;

    // `suho ingest FILE` into `data`, timed, with its peak memory.
    let ingest = |data: &Path, file: &Path, detect: bool| {
        let mut cmd = Command::new(&exe);
        cmd.arg("--data")
            .arg(data)
            .arg("ingest")
            .arg(file)
            .env("SUHO_PEAK_RSS", "1");
        if !detect {
            cmd.env("SUHO_NO_DETECT", "1");
        }
        time_cmd(&mut cmd)
    };
    // Detectors off and on, each into an empty ledger of its own, in the order off, on, on,
    // off: the first run after generating the data pays for it (write-back, cold caches), and
    // the order cancels that and any drift from the ratio. Each row is the mean of its two runs.
    let ledger = company_data(&exe, &dir, "data")?;
    let plain_a = ingest(
        &company_data(&exe, &dir, "data-no-detect-a")?,
        &file1,
        false,
    )?;
    let first_a = ingest(&ledger, &file1, true)?;
    let first_b = ingest(&company_data(&exe, &dir, "data-on-b")?, &file1, true)?;
    let plain_b = ingest(
        &company_data(&exe, &dir, "data-no-detect-b")?,
        &file1,
        false,
    )?;
    let plain = Timed::mean(&plain_a, &plain_b);
    let first = Timed::mean(&first_a, &first_b);
    // A second load into the first ledger (now holding one file) shows memory and speed do not
    // depend on how much the ledger holds.
    let second = ingest(&ledger, &file2, true)?;
    let verify = time_cmd(Command::new(&exe).arg("--data").arg(&ledger).arg("verify"))?;

    let n = a.records as f64;
    let mb = bytes as f64 / 1e6;
    println!();
    println!(
        "suho bench: {} records per file, {:.0} MB ({:.0} bytes/record), {} cores",
        thousands(a.records),
        mb,
        bytes as f64 / n,
        std::thread::available_parallelism()
            .map(|c| c.get())
            .unwrap_or(1)
    );
    println!(
        "{:<44} {:>8} {:>12} {:>7} {:>10} {:>7} {:>10}",
        "what", "seconds", "records/s", "MB/s", "CPU/record", "cores", "peak RSS"
    );
    // `n` records of `mb` megabytes: what the row's work covered.
    let row_of = |what: &str, t: &Timed, n: f64, mb: f64| {
        println!(
            "{:<44} {:>8.2} {:>12} {:>7.0} {:>10} {:>7} {:>10}",
            what,
            t.seconds,
            thousands((n / t.seconds) as u64),
            mb / t.seconds,
            t.cpu_seconds
                .map(|c| format!("{:.2} µs", c * 1e6 / n))
                .unwrap_or_default(),
            t.cpu_seconds
                .map(|c| format!("{:.2}", c / t.seconds))
                .unwrap_or_default(),
            t.peak_rss_kib
                .map(|k| format!("{} MiB", k / 1024))
                .unwrap_or_default()
        );
    };
    let row = |what: &str, t: &Timed| row_of(what, t, n, mb);
    row("read the file (1 core)", &read);
    row("sha256sum the file (1 core)", &sha);
    row("per-record floor (all cores, see below)", &floor);
    row("suho ingest, detectors off, empty (mean of 2)", &plain);
    row("suho ingest, empty ledger (mean of 2)", &first);
    row("suho ingest, ledger already holds 1 file", &second);
    let both_mb = mb + std::fs::metadata(&file2)?.len() as f64 / 1e6;
    row_of("suho verify (both files)", &verify, 2.0 * n, both_mb);
    println!(
        "ingest / sha256sum throughput: {:.2} (first load), {:.2} (second load)",
        sha.seconds / first.seconds,
        sha.seconds / second.seconds
    );
    println!(
        "detectors on / off throughput: {:.2} (first load)",
        plain.seconds / first.seconds
    );
    if let Some(cpu) = first.cpu_seconds {
        // Every per-record step runs on all cores, so CPU per record says how many busy cores a
        // rate takes on this kind of CPU; the target rate is the yardstick.
        let per_record = cpu / n;
        println!(
            "CPU per record with every detector on: {:.2} µs, so 1,000,000 records/s takes {:.1} cores \
             of this CPU kept busy (this machine has {}; ingest kept {:.2} busy)",
            per_record * 1e6,
            per_record * 1e6,
            std::thread::available_parallelism()
                .map(|c| c.get())
                .unwrap_or(1),
            cpu / first.seconds
        );
    }
    if let (Some(on), Some(off)) = (first.peak_rss_kib, plain.peak_rss_kib) {
        let actors = distinct_actors(&file1)?;
        let extra_mib = on.saturating_sub(off) as f64 / 1024.0;
        println!(
            "detector memory: {:.0} MiB more peak RSS with detectors on than off, for {} active principals \
             (distinct actors in the file) = at most {:.1} MiB per 10,000 active principals (fixed costs included)",
            extra_mib,
            thousands(actors),
            extra_mib * 10_000.0 / actors.max(1) as f64
        );
    }
    println!(
        "per-record floor: parse and validate, SHA-256 of the body, its id, its leaf and one tree node,\n\
         LZ4 for the write-ahead log, on every core at once; no I/O, no detectors. It caps ingest at \
         {} records/s;\ningest / that ceiling: {:.2} (first load), {:.2} (second load), {:.2} (detectors off)",
        thousands((n / floor.seconds) as u64),
        floor.seconds / first.seconds,
        floor.seconds / second.seconds,
        floor.seconds / plain.seconds,
    );

    if a.sigma_records > 0 {
        sigma_bench(&dir, &file1, a.sigma_records.min(a.records))?;
    }
    if a.gateway_records > 0 {
        gateway_bench(&exe, &dir, &file1, a.gateway_records.min(a.records))?;
    }
    if a.http_records > 0 {
        http_bench(&exe, &dir, a.http_records)?;
    }
    if a.follow_rate > 0 && a.follow_seconds > 0 {
        follow_bench(
            &exe,
            &dir,
            &file1,
            a.follow_rate,
            a.follow_seconds,
            a.follow_rotate_mb,
        )?;
    }
    if !a.keep {
        std::fs::remove_dir_all(&dir)?;
    }
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(0)
}

/// The CPU work every record needs whatever the pipeline around it, timed over the file's
/// bytes already in memory, on every core at once (each core takes an equal share of the
/// lines): parse and validate, SHA-256 of the body (the entry), of the id (deduplication), of
/// the leaf and of one interior node (a tree of n leaves has n - 1), and LZ4 compression of
/// 1 MiB blocks as the write-ahead log stores them. On a virtual machine two busy cores do
/// not give twice the work of one, which is why this runs on all of them.
fn floor(file: &Path) -> Result<Timed> {
    let bytes = std::fs::read(file)?;
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    // Cut into one share per core, at line ends.
    let mut shares = Vec::with_capacity(cores);
    let mut from = 0;
    for k in 1..=cores {
        let mut to = (bytes.len() * k / cores).max(from);
        while to > 0 && to < bytes.len() && bytes[to - 1] != b'\n' {
            to += 1;
        }
        shares.push(&bytes[from..to]);
        from = to;
    }
    let now = suho_ledger::now_ms();
    time_it(|| {
        std::thread::scope(|s| {
            let handles: Vec<_> = shares
                .iter()
                .map(|share| s.spawn(move || floor_share(share, now)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a floor thread panicked"))?
                })
                .collect::<Result<Vec<()>>>()
        })?;
        Ok(())
    })
}

fn floor_share(share: &[u8], now: i64) -> Result<()> {
    let mut node = [0u8; 32];
    let mut block = suho_ledger::BlockBuilder::new(now);
    let mut compressed = 0usize;
    for (line, body) in suho_record::split_lines(share, 1) {
        let rec = suho_record::parse_record(body)
            .map_err(|e| anyhow::anyhow!("line {line} of a share of the generated file: {e}"))?;
        let p = suho_ledger::Prepared::new(body, rec.time_ms, rec.id.as_deref(), now);
        node = suho_merkle::node_hash(&node, &p.leaf);
        block.push(rec.time_ms, body);
        if block.raw_len() >= 1 << 20 {
            let full = std::mem::replace(&mut block, suho_ledger::BlockBuilder::new(now));
            compressed += full.finish().count() as usize;
        }
    }
    compressed += block.finish().count() as usize;
    std::hint::black_box((node, compressed));
    Ok(())
}

/// Distinct `actor` values in an NDJSON file: the principals the detectors keep state for.
fn distinct_actors(file: &Path) -> Result<u64> {
    let bytes = std::fs::read(file)?;
    let mut actors = std::collections::HashSet::new();
    for (_, line) in suho_record::split_lines(&bytes, 1) {
        if let Ok(rec) = suho_record::parse_record(line) {
            if !actors.contains(rec.actor.as_ref()) {
                actors.insert(rec.actor.into_owned());
            }
        }
    }
    Ok(actors.len() as u64)
}

/// Run `f`, timed, with the CPU time this process spent meanwhile (every thread).
fn time_it(f: impl FnOnce() -> Result<()>) -> Result<Timed> {
    let cpu = cpu_seconds();
    let t = Instant::now();
    f()?;
    Ok(Timed {
        seconds: t.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds()
            .zip(cpu)
            .map(|(after, before)| after.0 - before.0),
        peak_rss_kib: None,
    })
}

/// Run a command to completion; its peak RSS comes from a `peak_rss_kib=N` line it prints on
/// standard error (suho does when SUHO_PEAK_RSS is set); its CPU time is what the kernel adds
/// to this process's children's total when it is waited for.
fn time_cmd(cmd: &mut Command) -> Result<Timed> {
    let cpu = cpu_seconds();
    let t = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let seconds = t.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("{cmd:?} failed: {stderr}");
    }
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kib="))
        .and_then(|v| v.trim().parse().ok());
    Ok(Timed {
        seconds,
        cpu_seconds: cpu_seconds()
            .zip(cpu)
            .map(|(after, before)| after.1 - before.1),
        peak_rss_kib: peak,
    })
}

/// HTTP ingest from a local client: `suho serve` in a child process, 4 client threads posting
/// 10,000-record bodies over keep-alive connections.
fn http_bench(exe: &Path, dir: &Path, records: u64) -> Result<()> {
    let data = company_data(exe, dir, "http-data")?;
    let token_out = Command::new(exe)
        .arg("--data")
        .arg(&data)
        .args(["token", "create", "--role", "ingest", "--name", "bench"])
        .output()?;
    let token = String::from_utf8_lossy(&token_out.stdout)
        .trim()
        .to_string();
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(exe)
        .arg("--data")
        .arg(&data)
        .args(["serve", "--listen", &addr])
        .stderr(Stdio::null())
        .spawn()?;
    let result = (|| -> Result<(f64, u64, Vec<f64>)> {
        wait_for_port(&addr)?;
        let body = std::fs::read(dir.join("http.ndjson"))?;
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        let mut start = 0;
        let mut count = 0;
        for (i, b) in body.iter().enumerate() {
            if *b == b'\n' {
                count += 1;
                if count == 10_000 {
                    bodies.push(body[start..=i].to_vec());
                    start = i + 1;
                    count = 0;
                }
            }
        }
        if start < body.len() {
            bodies.push(body[start..].to_vec());
        }
        let clients = 4;
        let t = Instant::now();
        let (stored, mut waits) = std::thread::scope(|s| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let mine: Vec<&Vec<u8>> = bodies.iter().skip(c).step_by(clients).collect();
                    let addr = addr.clone();
                    let token = token.clone();
                    s.spawn(move || -> Result<(u64, Vec<f64>)> {
                        let mut conn = TcpStream::connect(&addr)?;
                        let mut stored = 0;
                        let mut waits = Vec::with_capacity(mine.len());
                        for b in mine {
                            let sent = Instant::now();
                            let resp = post(&mut conn, &addr, &token, b)?;
                            waits.push(sent.elapsed().as_secs_f64());
                            // The per-line results are skipped, not built into a tree: the
                            // client shares the server's two cores.
                            let r: Counts =
                                serde_json::from_slice(&resp).context("response is not JSON")?;
                            stored += r.stored;
                        }
                        Ok((stored, waits))
                    })
                })
                .collect();
            let mut total = (0, Vec::new());
            for h in handles {
                let (stored, waits) =
                    h.join().map_err(|_| anyhow::anyhow!("client panicked"))??;
                total.0 += stored;
                total.1.extend(waits);
            }
            Ok::<_, anyhow::Error>(total)
        })?;
        let secs = t.elapsed().as_secs_f64();
        waits.sort_by(f64::total_cmp);
        Ok((secs, stored, waits))
    })();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    let _ = server.wait();
    let (secs, stored, waits) = result?;
    println!(
        "{:<44} {:>10.2} {:>14}   (4 clients, 10,000 records per POST, acknowledged durable)",
        "HTTP ingest, POST /v1/records",
        secs,
        thousands((stored as f64 / secs) as u64)
    );
    // Time from sending a POST to its acknowledgement, the wait a producer sees.
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize] * 1000.0;
    if !waits.is_empty() {
        println!(
            "HTTP acknowledgement per POST: median {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} POSTs)",
            at(0.5),
            at(0.99),
            at(1.0),
            waits.len()
        );
    }
    if stored != records {
        bail!("the server acknowledged {stored} of {records} records");
    }
    Ok(())
}

/// When consecutive lines were appended: `(first line, time)` of each write, in order. A line
/// is numbered from 0 in the order written, which is its ledger index past the starting size
/// when every line is one stored record.
#[derive(Default)]
pub struct Appends {
    writes: Vec<(u64, Instant)>,
}

impl Appends {
    /// Lines from `first` on were appended at `at` (until the next write's first line).
    pub fn push(&mut self, first: u64, at: Instant) {
        self.writes.push((first, at));
    }

    /// When line `line` was appended.
    pub fn at(&self, line: u64) -> Option<Instant> {
        let i = self.writes.partition_point(|(first, _)| *first <= line);
        self.writes.get(i.checked_sub(1)?).map(|(_, t)| *t)
    }

    /// Latency of every line up to `total` to the first of `reached` (`(time, n)`: the first
    /// n lines had reached the goal, such as durable in the ledger, by then; in time order)
    /// that covers it.
    pub fn to_prefix(&self, total: u64, reached: &[(Instant, u64)]) -> Vec<Duration> {
        let mut out = Vec::with_capacity(total as usize);
        let mut r = reached.iter().peekable();
        for line in 0..total {
            while r.peek().is_some_and(|(_, n)| *n <= line) {
                r.next();
            }
            let (Some((t, _)), Some(at)) = (r.peek(), self.at(line)) else {
                break;
            };
            out.push(t.saturating_duration_since(at));
        }
        out
    }
}

/// Median, 99th percentile and maximum of latencies.
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub samples: usize,
}

impl Latency {
    /// Over `samples` (None when there are none). A later row (append to sink delivery) gives
    /// it, per delivered alert, its delivery time less `Appends::at` of its record's line.
    pub fn of(mut samples: Vec<Duration>) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Some(Latency {
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
            samples: samples.len(),
        })
    }
}

/// `suho ingest --follow` keeping up with a file appended to at `rate` lines per second for
/// `seconds` (lines of `source`, written in one write per millisecond, the file rotated every
/// `rotate_mb` MB), with every detector on: lines made durable per second as a fraction of the
/// rate appended, and the latency from each line's write to its group commit (fsync, in the
/// ledger). The follower runs in this process, so each group commit's time is known exactly;
/// the writer shares the machine with it, as a logging program would.
fn follow_bench(
    exe: &Path,
    dir: &Path,
    source: &Path,
    rate: u64,
    seconds: u64,
    rotate_mb: u64,
) -> Result<()> {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let data = company_data(exe, dir, "follow-data")?;
    // Alert latency: a webhook sink to a receiver in this process, and once a second a line
    // of an intruder no registry knows (its own actor, credential and signing key), which the
    // detectors raise a new alert on; each alert's delivery time less its line's append time.
    let receiver = WebhookReceiver::start()?;
    std::fs::write(
        data.join("bench-webhook.secret"),
        format!("{}\n", suho_sink::WebhookSecret::generate()),
    )?;
    let mut toml = std::fs::read_to_string(data.join("suho.toml"))?;
    toml.push_str(&format!(
        "\n[[sinks]]\nname = \"bench\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{}/alerts\"\nsecret_file = \"bench-webhook.secret\"\n",
        receiver.port
    ));
    std::fs::write(data.join("suho.toml"), toml)?;
    let logs = dir.join("follow-logs");
    std::fs::create_dir_all(&logs)?;
    let log = logs.join("access.log");
    let total = rate * seconds;
    let stop = AtomicBool::new(false);
    let reached: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let rotate_bytes = rotate_mb.max(1) << 20;
    let (appends, rotations, append_secs, totals) = std::thread::scope(|s| -> Result<_> {
        let follower = {
            let (data, log, stop, reached) = (&data, &log, &stop, Arc::clone(&reached));
            s.spawn(move || -> Result<suho_app::ingest::IngestTotals> {
                let app = suho_app::App::new(data);
                let sinks = suho_app::sinks::start(&app)?;
                let req = suho_app::follow::FollowRequest {
                    files: vec![log.clone()],
                    on_outbox: Some(sinks.hook()),
                    ..Default::default()
                };
                let totals = suho_app::follow::run(&app, &req, stop, &mut |p| {
                    if let Ok(mut r) = reached.lock() {
                        if r.last().is_none_or(|(_, n)| *n < p.ledger_size) {
                            r.push((Instant::now(), p.ledger_size));
                        }
                    }
                })?;
                sinks.drain(Some(Duration::from_secs(10)), false)?;
                Ok(totals)
            })
        };
        let writing = (|| -> Result<(Appends, u32, f64)> {
            let mut input = std::io::BufReader::with_capacity(1 << 20, File::open(source)?);
            let mut out = File::create(&log)?;
            let mut in_file = 0u64;
            let mut rotations = 0u32;
            let mut appends = Appends::default();
            let mut buf = Vec::with_capacity(1 << 20);
            let mut written = 0u64;
            let start = Instant::now();
            while written < total {
                let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
                if due > written {
                    buf.clear();
                    for line in written..due {
                        let at = buf.len();
                        if input.read_until(b'\n', &mut buf)? == 0 {
                            bail!("{} has fewer than {total} lines", source.display());
                        }
                        if line % rate == rate / 2 {
                            // In place of this line: an intruder's record (see above).
                            let k = line / rate;
                            buf.truncate(at);
                            buf.extend_from_slice(
                                format!(
                                    "{{\"time\":{},\"actor\":\"bench-intruder-{k}\",\"action\":\"read\",\"resource\":\"customers\",\"subjects\":[\"c-{k}\"],\"credential\":\"tok-intruder-{k}\",\"signing_key\":\"kid-intruder-{k}\",\"src_ip\":\"203.0.113.{}\"}}\n",
                                    suho_ledger::now_ms(),
                                    k % 250 + 1
                                )
                                .as_bytes(),
                            );
                        }
                    }
                    appends.push(written, Instant::now());
                    out.write_all(&buf)?;
                    in_file += buf.len() as u64;
                    written = due;
                    if in_file >= rotate_bytes {
                        rotations += 1;
                        std::fs::rename(&log, logs.join(format!("access.log.{rotations}")))?;
                        out = File::create(&log)?;
                        in_file = 0;
                    }
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            Ok((appends, rotations, start.elapsed().as_secs_f64()))
        })();
        // Wait for the follower to make every line durable (or to fail), then stop it.
        if writing.is_ok() {
            while !follower.is_finished()
                && reached
                    .lock()
                    .map(|r| r.last().is_none_or(|(_, n)| *n < total))
                    .unwrap_or(false)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        stop.store(true, Ordering::Relaxed);
        let totals = follower
            .join()
            .map_err(|_| anyhow::anyhow!("the follower panicked"))??;
        let (appends, rotations, secs) = writing?;
        Ok((appends, rotations, secs, totals))
    })?;
    let reached = reached.lock().map(|r| r.clone()).unwrap_or_default();
    if totals.stored != total {
        bail!("the follower stored {} of {total} lines", totals.stored);
    }
    let first = appends.at(0).context("nothing was appended")?;
    let last = reached
        .last()
        .map(|(t, _)| *t)
        .context("the follower reported nothing durable")?;
    let durable_rate = total as f64 / last.duration_since(first).as_secs_f64();
    let appended_rate = total as f64 / append_secs;
    let latency = Latency::of(appends.to_prefix(total, &reached)).context("no latency samples")?;
    println!(
        "{:<44} {:>10.2} {:>14}   ({} lines appended at {}/s, file rotated every {} MB: {} rotations; every detector on)",
        "suho ingest --follow, durable",
        last.duration_since(first).as_secs_f64(),
        thousands(durable_rate as u64),
        thousands(total),
        thousands(appended_rate as u64),
        rotate_mb,
        rotations
    );
    println!(
        "follow: durable / appended rate {:.2}; append to durable (fsync'd in the ledger) p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} lines)",
        durable_rate / appended_rate,
        latency.p50.as_secs_f64() * 1e3,
        latency.p99.as_secs_f64() * 1e3,
        latency.max.as_secs_f64() * 1e3,
        thousands(latency.samples as u64)
    );
    // Append to webhook delivery, per alert raised on an intruder's line (its first delivery).
    let delivered = receiver.deliveries();
    let mut seen = std::collections::HashSet::new();
    let samples: Vec<Duration> = delivered
        .iter()
        .filter(|(_, alert)| {
            alert["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("bench-intruder-"))
        })
        .filter_map(|(t, alert)| {
            let index = alert["ledger_index"].as_u64()?;
            if !seen.insert(alert["id"].as_str()?.to_string()) {
                return None;
            }
            Some(t.saturating_duration_since(appends.at(index)?))
        })
        .collect();
    let injected = total.saturating_sub(rate / 2).div_ceil(rate.max(1));
    match Latency::of(samples) {
        Some(l) => println!(
            "follow: append to alert delivered to a webhook p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} alerts on {} intruder lines, {} webhook requests in all)",
            l.p50.as_secs_f64() * 1e3,
            l.p99.as_secs_f64() * 1e3,
            l.max.as_secs_f64() * 1e3,
            l.samples,
            injected,
            delivered.len()
        ),
        None => bail!(
            "no alert on the {injected} intruder lines reached the webhook ({} requests in all)",
            delivered.len()
        ),
    }
    Ok(())
}

/// A webhook receiver for the follow row: answers every request 204 and keeps, per request,
/// when it arrived and the alert in its body (`data` of suho's webhook body).
struct WebhookReceiver {
    port: u16,
    got: std::sync::Arc<std::sync::Mutex<Vec<(Instant, serde_json::Value)>>>,
}

impl WebhookReceiver {
    fn start() -> Result<WebhookReceiver> {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let got: std::sync::Arc<std::sync::Mutex<Vec<(Instant, serde_json::Value)>>> =
            std::sync::Arc::default();
        let sink = std::sync::Arc::clone(&got);
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let sink = std::sync::Arc::clone(&sink);
                std::thread::spawn(move || -> std::io::Result<()> {
                    let mut out = conn.try_clone()?;
                    let mut r = std::io::BufReader::new(conn);
                    loop {
                        let mut len = 0usize;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line)? == 0 {
                                return Ok(());
                            }
                            let l = line.trim_end();
                            if l.is_empty() {
                                break;
                            }
                            if let Some((k, v)) = l.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    len = v.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                        let mut body = vec![0u8; len];
                        std::io::Read::read_exact(&mut r, &mut body)?;
                        let at = Instant::now();
                        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                            if let Ok(mut g) = sink.lock() {
                                g.push((at, v["data"].clone()));
                            }
                        }
                        out.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")?;
                    }
                });
            }
        });
        Ok(WebhookReceiver { port, got })
    }

    fn deliveries(&self) -> Vec<(Instant, serde_json::Value)> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// A data directory `name` under the bench directory set up as the company would set it up:
/// its `suho.toml` and geo database, and its registry loaded.
fn company_data(exe: &Path, dir: &Path, name: &str) -> Result<std::path::PathBuf> {
    let data = dir.join(name);
    std::fs::create_dir_all(&data)?;
    for f in ["suho.toml", suho_sim::GEO_FILE] {
        std::fs::copy(dir.join(f), data.join(f))
            .with_context(|| format!("cannot copy {f} into {}", data.display()))?;
    }
    let out = Command::new(exe)
        .arg("--data")
        .arg(&data)
        .args(["registry", "load"])
        .arg(dir.join(suho_sim::REGISTRY_FILE))
        .output()
        .context("cannot run suho registry load")?;
    if !out.status.success() {
        bail!(
            "suho registry load failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(data)
}

/// Route prefixes in the decoder benchmark's catalogue; each has two routes (one customer by
/// path, several by query), so the catalogue holds twice as many routes.
const GATEWAY_ROUTES: usize = 100;

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The decoder's cost: the first `n` records of `file` written twice, as contract records and
/// as an nginx-style JSON access log whose bearer JWTs carry the credential, signing key and
/// actor, routed by a catalogue of 200 route templates; both ingested with every detector on,
/// in the order contract, gateway, gateway, contract, each into an empty ledger.
fn gateway_bench(exe: &Path, dir: &Path, file: &Path, n: u64) -> Result<()> {
    let contract = dir.join("contract-subset.ndjson");
    let log = dir.join("gateway.log");
    let mapping = dir.join("gateway-mapping.toml");
    {
        let mut m = String::from(
            "[fields]\ntime = \"time_iso8601\"\nmethod = \"request_method\"\npath = \"request_uri\"\n\
             src_ip = \"remote_addr\"\nstatus = \"status\"\nauthorization = \"http_authorization\"\n\
             id = \"request_id\"\npurpose = \"purpose\"\n",
        );
        for k in 0..GATEWAY_ROUTES {
            m.push_str(&format!(
                "[[routes]]\nroute = \"GET /v1/r{k}/customers/{{id}}\"\nsubjects = [\"path:id\"]\nfields = [\"name\", \"phone\", \"address\"]\n\
                 [[routes]]\nroute = \"GET /v1/r{k}/customers\"\nsubjects = [\"query:ids\"]\nfields = [\"name\", \"email\"]\naction = \"search\"\n"
            ));
        }
        std::fs::write(&mapping, m)?;
        let bytes = std::fs::read(file)?;
        let mut c = BufWriter::new(File::create(&contract)?);
        let mut g = BufWriter::new(File::create(&log)?);
        for (i, (_, line)) in suho_record::split_lines(&bytes, 1)
            .take(n as usize)
            .enumerate()
        {
            c.write_all(line)?;
            c.write_all(b"\n")?;
            let v: serde_json::Value = serde_json::from_slice(line)?;
            let text = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let header = serde_json::json!({"alg": "RS256", "kid": v["signing_key"]});
            let claims = serde_json::json!({"sub": v["actor"], "jti": v["credential"]});
            let jwt = format!(
                "{}.{}.{}",
                b64url(header.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes()),
                b64url(b"not-a-real-signature")
            );
            let subjects: Vec<&str> = v["subjects"]
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
                .unwrap_or_default();
            let k = i % GATEWAY_ROUTES;
            let uri = match subjects.as_slice() {
                [one] => format!("/v1/r{k}/customers/{one}"),
                many => format!("/v1/r{k}/customers?ids={}", many.join(",")),
            };
            // The contract allows RFC 3339 text or epoch milliseconds; nginx logs the former.
            let time = match v["time"].as_i64() {
                Some(ms) => suho_record::format_rfc3339_ms(ms),
                None => text("time"),
            };
            let entry = serde_json::json!({
                "time_iso8601": time,
                "remote_addr": text("src_ip"),
                "request_method": "GET",
                "request_uri": uri,
                "status": 200,
                "http_authorization": format!("Bearer {jwt}"),
                "request_id": format!("gw-{i}"),
                "purpose": text("purpose"),
                "http_user_agent": "bench/1",
            });
            serde_json::to_writer(&mut g, &entry)?;
            g.write_all(b"\n")?;
        }
        c.flush()?;
        g.flush()?;
    }
    let run = |name: &str, format: Option<(&Path, &Path)>| -> Result<Timed> {
        let data = company_data(exe, dir, name)?;
        let mut cmd = Command::new(exe);
        cmd.arg("--data").arg(&data).arg("ingest");
        match format {
            Some((log, mapping)) => cmd
                .arg("--format")
                .arg("gateway")
                .arg("--mapping")
                .arg(mapping)
                .arg(log),
            None => cmd.arg(&contract),
        };
        let t = time_cmd(&mut cmd)?;
        let rejects = suho_ingest::RejectLog::new(&data);
        if rejects.path().exists() {
            bail!(
                "the decoder benchmark's {name} rejected lines (see {}): it would compare different work",
                rejects.path().display()
            );
        }
        Ok(t)
    };
    // Every line of both files must be stored, or the comparison is not of the same work.
    let c1 = run("gw-contract-a", None)?;
    let g1 = run("gw-gateway-a", Some((&log, &mapping)))?;
    let g2 = run("gw-gateway-b", Some((&log, &mapping)))?;
    let c2 = run("gw-contract-b", None)?;
    let (c, g) = (Timed::mean(&c1, &c2), Timed::mean(&g1, &g2));
    let n = n as f64;
    let per = |t: &Timed| {
        t.cpu_seconds
            .map(|x| format!(", {:.2} µs CPU/record", x * 1e6 / n))
            .unwrap_or_default()
    };
    println!();
    println!(
        "decoders: {} records, every detector on, runs in the order contract, gateway, gateway, contract (means of 2)",
        thousands(n as u64)
    );
    println!(
        "  contract format          {:>8.2} s {:>12} records/s{}",
        c.seconds,
        thousands((n / c.seconds) as u64),
        per(&c)
    );
    println!(
        "  gateway log, JWT, {} routes {:>5.2} s {:>12} records/s{}",
        2 * GATEWAY_ROUTES,
        g.seconds,
        thousands((n / g.seconds) as u64),
        per(&g)
    );
    println!(
        "  gateway / contract throughput: {:.2} (target at least 0.70)",
        c.seconds / g.seconds
    );
    Ok(())
}

/// Writes the first lines it is given to one file, the next ones to the next file, each file
/// taking its share of lines.
struct SplitLines {
    files: Vec<(BufWriter<File>, u64)>,
    at: usize,
}

impl SplitLines {
    fn new(shares: &[(&Path, u64)]) -> Result<SplitLines> {
        let mut files = Vec::with_capacity(shares.len());
        for &(path, lines) in shares {
            let f =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            files.push((BufWriter::with_capacity(1 << 20, f), lines));
        }
        Ok(SplitLines { files, at: 0 })
    }

    /// Flush every file and write it back to disk.
    fn finish(mut self) -> Result<()> {
        for (f, _) in &mut self.files {
            f.flush()?;
            f.get_ref().sync_all()?;
        }
        Ok(())
    }
}

impl Write for SplitLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let Some((file, left)) = self.files.get_mut(self.at) else {
                return Err(std::io::Error::other("more lines than the files take"));
            };
            if *left == 0 {
                self.at += 1;
                continue;
            }
            let mut cut = rest.len();
            let mut lines = 0;
            for (i, _) in rest.iter().enumerate().filter(|(_, &b)| b == b'\n') {
                lines += 1;
                if lines == *left {
                    cut = i + 1;
                    break;
                }
            }
            file.write_all(&rest[..cut])?;
            *left -= lines;
            rest = &rest[cut..];
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for (f, _) in &mut self.files {
            f.flush()?;
        }
        Ok(())
    }
}

/// What the benchmark client reads of a `POST /v1/records` response.
#[derive(serde::Deserialize)]
struct Counts {
    stored: u64,
}

/// A minimal HTTP/1.1 POST over a kept-alive connection; the benchmark needs nothing more, and
/// a full client crate would add build time for one loop.
fn post(conn: &mut TcpStream, host: &str, token: &str, body: &[u8]) -> Result<Vec<u8>> {
    write!(
        conn,
        "POST /v1/records HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    conn.write_all(body)?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte)? == 0 {
            bail!("the server closed the connection");
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        bail!("the server answered {}", head.lines().next().unwrap_or(""));
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .context("no content-length in the response")?;
    let mut resp = vec![0u8; len];
    conn.read_exact(&mut resp)?;
    Ok(resp)
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn wait_for_port(addr: &str) -> Result<()> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on {addr} after 30 s")
}

/// CPU time of the calling thread (Linux), user plus system.
fn thread_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string("/proc/thread-self/stat").ok()?).map(|c| c.0)
}

/// 100 varied, selective Sigma rules over the bench's own traffic: exact resources and
/// actors seen in it with an action they rarely take, field categories exported without a
/// ticket, roles reading payment data, a few residual ones (CIDR, substring) that every record
/// meets, and event_count / value_count correlations.
fn sigma_rules(lines: &[&[u8]], roles: &[String]) -> String {
    use std::collections::BTreeSet;
    let mut resources = BTreeSet::new();
    let mut actors = BTreeSet::new();
    for l in lines.iter().take(20_000) {
        if let Ok(r) = suho_record::parse_record(l) {
            resources.insert(r.resource.to_string());
            actors.insert(r.actor.to_string());
        }
    }
    let esc = |s: &str| s.replace('\\', "\\\\").replace('\'', "''");
    let mut y = String::new();
    let mut n = 0;
    let rule = |y: &mut String, n: &mut usize, level: &str, detection: &str| {
        *n += 1;
        y.push_str(&format!(
            "title: bench rule {n}\nid: bench-{n}\nstatus: test\nlogsource: {{product: suho}}\ndetection:\n{detection}level: {level}\n---\n"
        ));
    };
    let actions = ["[export, delete]", "[print, update]", "download"];
    for (i, r) in resources.iter().cycle().take(30).enumerate() {
        let d = format!(
            "    sel:\n        resource: '{}'\n        action: {}\n    condition: sel\n",
            esc(r),
            actions[i % actions.len()]
        );
        rule(&mut y, &mut n, "medium", &d);
    }
    for a in actors.iter().cycle().take(20) {
        let d = format!(
            "    sel:\n        actor: '{}'\n        action: [print, download]\n        subject_count|gte: 50\n    condition: sel\n",
            esc(a)
        );
        rule(&mut y, &mut n, "high", &d);
    }
    let fields = [
        "health",
        "payment",
        "resident_registration_number",
        "passport_number",
        "biometric",
        "criminal_record",
        "driver_license_number",
        "alien_registration_number",
        "birth_date",
        "entrance_code",
    ];
    for f in fields.iter().cycle().take(20) {
        let d = format!(
            "    sel:\n        fields: {f}\n        action: [export, download, print]\n    ticket:\n        purpose|startswith: 'TICKET-'\n    condition: sel and not ticket\n"
        );
        rule(&mut y, &mut n, "high", &d);
    }
    for r in roles.iter().cycle().take(10) {
        let d = format!(
            "    sel:\n        role: '{}'\n        fields: [criminal_record, biometric]\n    condition: sel\n",
            esc(r)
        );
        rule(&mut y, &mut n, "medium", &d);
    }
    for i in 0..5 {
        let d = format!("    sel:\n        src_ip|cidr: '198.51.{i}.0/24'\n    condition: sel\n");
        rule(&mut y, &mut n, "high", &d);
    }
    for i in 0..5 {
        let d = format!(
            "    sel:\n        resource|contains: '/internal-debug-{i}/'\n    condition: sel\n"
        );
        rule(&mut y, &mut n, "low", &d);
    }
    // 10 correlations over rules above: 90 detection rules and 10 correlations.
    let mut y = y
        .split("---\n")
        .filter(|d| !d.is_empty())
        .take(90)
        .collect::<Vec<_>>()
        .join("---\n");
    for i in 0..10 {
        let base = 51 + i; // the field-category rules
        let (kind, cond) = if i % 2 == 0 {
            ("event_count", "gte: 20".to_string())
        } else {
            (
                "value_count",
                "field: subjects\n        gte: 200".to_string(),
            )
        };
        y.push_str(&format!(
            "---\ntitle: bench correlation {i}\nid: bench-corr-{i}\ncorrelation:\n    type: {kind}\n    rules: [bench-{base}]\n    generate: true\n    group-by: [actor]\n    timespan: 1h\n    condition:\n        {cond}\nlevel: high\n"
        ));
    }
    y
}

/// The detection stage's CPU per record with 0 and with 100 Sigma rules loaded, on one
/// thread over the same records in memory, in the order 0, 100, 100, 0. Each record is
/// parsed and its features extracted (what the parse workers do, Sigma's worker half
/// included), then the built-in detectors and the Sigma stage run (what the detection stage
/// does); a parse-only pass is subtracted so the figures are the detectors' own.
fn sigma_bench(dir: &Path, file: &Path, n: u64) -> Result<()> {
    use std::sync::Arc;
    let text = std::fs::read(file)?;
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .take(usize::try_from(n).unwrap_or(usize::MAX))
        .collect();
    let mut registry = suho_registry::Registry::default();
    let mut roles = std::collections::BTreeSet::new();
    for l in std::fs::read(dir.join(suho_sim::REGISTRY_FILE))?.split(|&b| b == b'\n') {
        if let Ok(rec) = suho_registry::parse_registry_line(l) {
            if let suho_registry::RegistryRecord::Principal(p) = &rec {
                roles.extend(p.role.clone());
            }
            registry.upsert(rec);
        }
    }
    let registry = Arc::new(registry);
    let rules_dir = dir.join("sigma-rules");
    std::fs::create_dir_all(&rules_dir)?;
    let roles: Vec<String> = roles.into_iter().collect();
    std::fs::write(rules_dir.join("bench.yml"), sigma_rules(&lines, &roles))?;
    let rules = Arc::new(suho_sigma::RuleSet::load_dir(&rules_dir)?);
    let indexed = rules
        .rules()
        .iter()
        .filter(|r| !r.dispatch.starts_with("residual") && !r.dispatch.starts_with("counts"))
        .count();

    let parse_only = || -> Result<f64> {
        let t0 = thread_cpu_seconds().context("no thread CPU time")?;
        let mut ok = 0u64;
        for l in &lines {
            if let Ok(r) = suho_record::parse_record(l) {
                ok += u64::from(std::hint::black_box(&r).time_ms > 0);
            }
        }
        std::hint::black_box(ok);
        Ok(thread_cpu_seconds().context("no thread CPU time")? - t0)
    };
    let run = |sigma: Option<&Arc<suho_sigma::RuleSet>>| -> Result<(f64, u64)> {
        let cfg = suho_detect::DetectConfig::default();
        let mut engine = suho_detect::Engine::new(Arc::clone(&registry), None, cfg.clone());
        let mut stage = sigma
            .map(|r| suho_sigma::Stage::new(Arc::clone(r), Arc::clone(&registry), cfg.offset_ms()));
        let mut out = Vec::new();
        let mut matched = Vec::new();
        let mut pre = Vec::new();
        let mut alerts = 0u64;
        let t0 = thread_cpu_seconds().context("no thread CPU time")?;
        for (i, l) in lines.iter().enumerate() {
            let Ok(r) = suho_record::parse_record(l) else {
                continue;
            };
            let f = suho_detect::Features::from_record(&r);
            pre.clear();
            if let Some(rules) = sigma {
                matched.clear();
                rules.match_record(&r, &mut matched);
                pre.extend(matched.iter().map(|&m| (0u32, m)));
            }
            engine.observe(i as u64, &f, l, &mut out);
            if let Some(st) = stage.as_mut() {
                st.observe(i as u64, f.actor_hash(), l, &pre, &mut out);
            }
            if out.len() > 10_000 {
                alerts += out.iter().filter(|a| a.rule.starts_with("sigma:")).count() as u64;
                out.clear();
            }
        }
        alerts += out.iter().filter(|a| a.rule.starts_with("sigma:")).count() as u64;
        Ok((
            thread_cpu_seconds().context("no thread CPU time")? - t0,
            alerts,
        ))
    };
    let parse = parse_only()?;
    let (off_a, _) = run(None)?;
    let (on_a, alerts) = run(Some(&rules))?;
    let (on_b, _) = run(Some(&rules))?;
    let (off_b, _) = run(None)?;
    let parse = (parse + parse_only()?) / 2.0;
    let records = lines.len() as f64;
    let us = |s: f64| s * 1e6 / records;
    let off = (off_a + off_b) / 2.0 - parse;
    let on = (on_a + on_b) / 2.0 - parse;
    println!();
    println!(
        "sigma: {} records, one thread, runs in the order 0 rules, 100, 100, 0 (means of 2); {} rules \
         ({} filed under a field value, the rest residual or correlations), {} Sigma alert updates",
        thousands(lines.len() as u64),
        rules.rules().len(),
        indexed,
        thousands(alerts)
    );
    println!(
        "{:<44} {:>10} {:>12}",
        "detection work (parse excluded)", "CPU/record", "records/s"
    );
    println!(
        "{:<44} {:>7.3} µs {:>12}",
        "every built-in detector, 0 Sigma rules",
        us(off),
        thousands((records / off.max(1e-9)) as u64)
    );
    println!(
        "{:<44} {:>7.3} µs {:>12}",
        "every built-in detector, 100 Sigma rules",
        us(on),
        thousands((records / on.max(1e-9)) as u64)
    );
    println!(
        "growth with 100 Sigma rules: {:+.1}% (target: at most +20%); parsing a record costs {:.3} µs besides",
        (on / off.max(1e-9) - 1.0) * 100.0,
        us(parse)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        // Fields 14 to 17 (utime, stime, cutime, cstime) are 250, 50, 1000 and 200 ticks.
        let stat = "4242 (suho (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 50 1000 200 20 0 5 0 100 1000000 2000";
        assert_eq!(stat_cpu_seconds(stat), Some((3.0, 12.0)));
        assert_eq!(stat_cpu_seconds("4242 (suho) S 1 2 3"), None);
        // The real file parses too (the format has not moved under the parser).
        cpu_seconds().expect("this test runs on Linux, which has /proc/self/stat");
    }

    #[test]
    fn latency_is_measured_per_line_from_its_write_to_the_first_report_covering_it() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut appends = Appends::default();
        // Lines 0-2 written at 0 ms, lines 3-4 at 10 ms.
        appends.push(0, ms(0));
        appends.push(3, ms(10));
        assert_eq!(appends.at(2), Some(ms(0)));
        assert_eq!(appends.at(3), Some(ms(10)));
        // Durable: 2 lines at 5 ms, 4 at 12 ms, all 5 at 30 ms.
        let reached = [(ms(5), 2), (ms(12), 4), (ms(30), 5)];
        let got: Vec<u64> = appends
            .to_prefix(5, &reached)
            .iter()
            .map(|d| d.as_millis() as u64)
            .collect();
        assert_eq!(got, [5, 5, 12, 2, 20]);
        let l = Latency::of(appends.to_prefix(5, &reached)).expect("samples");
        assert_eq!(l.p50, Duration::from_millis(5));
        assert_eq!(l.max, Duration::from_millis(20));
        assert!(Latency::of(Vec::new()).is_none());
        // Lines no report covers yet have no latency.
        assert_eq!(appends.to_prefix(5, &reached[..1]).len(), 2);
    }

    #[test]
    fn split_lines_gives_each_file_its_share_across_write_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths: Vec<_> = ["a", "b", "c", "d"].map(|n| dir.path().join(n)).into();
        let mut split = SplitLines::new(&[
            (&paths[0], 3),
            (&paths[1], 0),
            (&paths[2], 2),
            (&paths[3], 1),
        ])
        .expect("files");
        // Writes that cut lines anywhere, as a buffered generator does.
        for piece in ["l1\nl", "2\nl3\nl4", "\n", "l5\nl6\n"] {
            split.write_all(piece.as_bytes()).expect("write");
        }
        assert!(
            split.write_all(b"l7\n").is_err(),
            "no file takes a 7th line"
        );
        split.finish().expect("finish");
        let read = |i: usize| std::fs::read_to_string(&paths[i]).expect("read");
        assert_eq!(read(0), "l1\nl2\nl3\n");
        assert_eq!(read(1), "");
        assert_eq!(read(2), "l4\nl5\n");
        assert_eq!(read(3), "l6\n");
    }
}
