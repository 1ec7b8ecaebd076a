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
    /// Keep the generated files and ledger (under DATA/bench).
    #[arg(long)]
    keep: bool,
}

struct Timed {
    seconds: f64,
    peak_rss_kib: Option<u64>,
}

pub fn bench(data: &Path, a: BenchArgs) -> Result<i32> {
    let dir = data.join("bench");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let exe = std::env::current_exe()?;
    let file1 = dir.join("records-1.ndjson");
    let file2 = dir.join("records-2.ndjson");
    eprintln!("generating 2 x {} records ...", thousands(a.records));
    for (f, seed) in [(&file1, 1u64), (&file2, 2u64)] {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(f)?);
        suho_sim::bench_records(a.records, seed, &mut out)?;
        out.flush()?;
    }
    let bytes = std::fs::metadata(&file1)?.len();
    drop_caches_hint(&file1);

    // Physical limits over the same bytes.
    let read = time_it(|| {
        let mut f = File::open(&file1)?;
        let mut buf = vec![0u8; 1 << 20];
        while f.read(&mut buf)? > 0 {}
        Ok(())
    })?;
    let sha = time_cmd(Command::new("sha256sum").arg(&file1))?;

    // Ingest into an empty ledger, then a second load into the same (now twice as big) ledger.
    let ledger = dir.join("data");
    let first = time_cmd(
        Command::new(&exe)
            .arg("--data")
            .arg(&ledger)
            .arg("ingest")
            .arg(&file1)
            .env("SUHO_PEAK_RSS", "1"),
    )?;
    let second = time_cmd(
        Command::new(&exe)
            .arg("--data")
            .arg(&ledger)
            .arg("ingest")
            .arg(&file2)
            .env("SUHO_PEAK_RSS", "1"),
    )?;
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
        "{:<44} {:>10} {:>14} {:>10} {:>12}",
        "what", "seconds", "records/s", "MB/s", "peak RSS"
    );
    let row = |what: &str, t: &Timed| {
        println!(
            "{:<44} {:>10.2} {:>14} {:>10.0} {:>12}",
            what,
            t.seconds,
            thousands((n / t.seconds) as u64),
            mb / t.seconds,
            t.peak_rss_kib
                .map(|k| format!("{} MiB", k / 1024))
                .unwrap_or_default()
        );
    };
    row("read the file (1 core)", &read);
    row("sha256sum the file (1 core)", &sha);
    row("suho ingest, empty ledger", &first);
    row("suho ingest, ledger already holds 1 file", &second);
    row(
        "suho verify (both files)",
        &Timed {
            seconds: verify.seconds,
            peak_rss_kib: None,
        },
    );
    println!(
        "ingest / sha256sum throughput: {:.2} (first load), {:.2} (second load)",
        sha.seconds / first.seconds,
        sha.seconds / second.seconds
    );

    if a.http_records > 0 {
        http_bench(&exe, &dir, a.http_records)?;
    }
    if !a.keep {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(0)
}

fn drop_caches_hint(_f: &Path) {
    // The file was just written, so it is in the page cache for every measurement alike:
    // the figures compare CPU work on the same cached bytes.
}

fn time_it(f: impl FnOnce() -> Result<()>) -> Result<Timed> {
    let t = Instant::now();
    f()?;
    Ok(Timed {
        seconds: t.elapsed().as_secs_f64(),
        peak_rss_kib: None,
    })
}

/// Run a command to completion; its peak RSS comes from a `peak_rss_kib=N` line it prints on
/// standard error (suho does when SUHO_PEAK_RSS is set).
fn time_cmd(cmd: &mut Command) -> Result<Timed> {
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
        peak_rss_kib: peak,
    })
}

/// HTTP ingest from a local client: `suho serve` in a child process, 4 client threads posting
/// 10,000-record bodies over keep-alive connections.
fn http_bench(exe: &Path, dir: &Path, records: u64) -> Result<()> {
    let data = dir.join("http-data");
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
    let result = (|| -> Result<(f64, u64)> {
        wait_for_port(&addr)?;
        let file = dir.join("http.ndjson");
        let mut out = BufWriter::new(File::create(&file)?);
        suho_sim::bench_records(records, 3, &mut out)?;
        out.flush()?;
        drop(out);
        let body = std::fs::read(&file)?;
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
        let stored: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let mine: Vec<&Vec<u8>> = bodies.iter().skip(c).step_by(clients).collect();
                    let addr = addr.clone();
                    let token = token.clone();
                    s.spawn(move || -> Result<u64> {
                        let mut conn = TcpStream::connect(&addr)?;
                        let mut stored = 0;
                        for b in mine {
                            let resp = post(&mut conn, &addr, &token, b)?;
                            let v: serde_json::Value =
                                serde_json::from_slice(&resp).context("response is not JSON")?;
                            stored += v["stored"].as_u64().unwrap_or(0);
                        }
                        Ok(stored)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| anyhow::anyhow!("client panicked"))?)
                .sum::<Result<u64>>()
        })?;
        Ok((t.elapsed().as_secs_f64(), stored))
    })();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    let _ = server.wait();
    let (secs, stored) = result?;
    println!(
        "{:<44} {:>10.2} {:>14}   (4 clients, 10,000 records per POST, acknowledged durable)",
        "HTTP ingest, POST /v1/records",
        secs,
        thousands((stored as f64 / secs) as u64)
    );
    if stored != records {
        bail!("the server acknowledged {stored} of {records} records");
    }
    Ok(())
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
