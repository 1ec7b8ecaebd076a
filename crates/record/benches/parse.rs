//! Throughput of the record path on one core: `cargo bench -p suho-record`.
//!
//! Generates 1,000,000 realistic access-record lines of 250 bytes in memory, then reports
//! lines/s for splitting, for `parse_record`, for both together, for the serde_json-only
//! path, and for SHA-256 over the same bytes (the ledger hashes every line, so it is the
//! yardstick parsing is measured against).
//!
//! Rates are computed from the thread's CPU time, so other processes on a busy machine do
//! not lower them (they still do through shared caches and SMT siblings); wall time is
//! printed too.
//!
//! Environment: `SUHO_BENCH_LINES=N` changes the line count (small counts suit
//! `valgrind --tool=callgrind`); `SUHO_BENCH_ONLY=NAME` runs one case, for profiling.

use std::hint::black_box;
use std::io::Cursor;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use suho_record::{parse_record, parse_record_serde, split_lines, LineItem, LineReader};

const LINE_BYTES: usize = 250;
const ROUNDS: usize = 3;

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

const ACTIONS: [&str; 6] = ["read", "read", "read", "search", "export", "update"];
const RESOURCES: [&str; 5] = [
    "GET /v1/customers/{id}/profile",
    "GET /v1/orders/{id}",
    "POST /v1/customers/search",
    "GET /v1/customers/{id}/addresses",
    "report:monthly-churn",
];
const FIELDS: [&str; 8] = [
    "\"name\",\"phone\",\"address\"",
    "\"name\",\"email\"",
    "\"order_history\"",
    "\"address\",\"entrance_code\"",
    "\"name\"",
    "\"payment\"",
    "\"phone\"",
    "\"delivery_contacts\"",
];

/// Appends one line of exactly [`LINE_BYTES`] bytes plus `\n`.
fn line(rng: &mut Rng, out: &mut Vec<u8>) {
    loop {
        let head = head(rng);
        // Keep at least 4 bytes of id; draw again if this combination is too long.
        if head.len() + 6 <= LINE_BYTES {
            out.extend_from_slice(head.as_bytes());
            for _ in head.len()..LINE_BYTES - 2 {
                out.push(b"0123456789abcdef"[rng.below(16) as usize]);
            }
            out.extend_from_slice(b"\"}\n");
            return;
        }
    }
}

/// A record like the contract's example, up to the opening quote of its last field, `id`:
/// 10% integer times, 10% IPv6 sources, one or two subjects.
fn head(rng: &mut Rng) -> String {
    let ms = 1_750_000_000_000 + rng.below(86_400_000 * 30);
    let time = if rng.below(10) == 0 {
        ms.to_string()
    } else {
        format!("\"{}\"", suho_record::format_rfc3339_ms(ms as i64))
    };
    let ip = if rng.below(10) == 0 {
        format!("2001:db8:{:x}::{:x}", rng.below(65536), rng.below(65536))
    } else {
        format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.below(256)
        )
    };
    let mut subjects = String::new();
    for k in 0..1 + rng.below(2) {
        if k > 0 {
            subjects.push(',');
        }
        subjects.push_str(&format!("\"c-{:07}\"", rng.below(10_000_000)));
    }
    format!(
        "{{\"time\":{time},\"actor\":\"emp-{:04}\",\"credential\":\"tok-{:06x}\",\"signing_key\":\"kid-2024-02\",\"src_ip\":\"{ip}\",\"action\":\"{}\",\"resource\":\"{}\",\"subjects\":[{subjects}],\"fields\":[{}],\"id\":\"",
        rng.below(5000),
        rng.below(1 << 24),
        rng.pick(&ACTIONS),
        rng.pick(&RESOURCES),
        rng.pick(&FIELDS),
    )
}

/// CPU time this thread has run (user + system, 10 ms resolution), from Linux's
/// `/proc/thread-self/stat`; `None` where unavailable.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which ends with the last ')': state is field 3, utime
    // and stime are fields 14 and 15, in clock ticks of 1/100 s on Linux.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace().skip(11);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

struct Timing {
    wall: Duration,
    cpu: Option<Duration>,
    check: u64,
}

impl Timing {
    fn secs(&self) -> f64 {
        self.cpu.unwrap_or(self.wall).as_secs_f64()
    }
}

struct Bench {
    only: Option<String>,
    lines: usize,
    bytes: usize,
}

impl Bench {
    /// Runs `f` [`ROUNDS`] times (once under `SUHO_BENCH_ONLY`) and prints the best rate.
    fn case<F: FnMut() -> u64>(&self, name: &str, mut f: F) {
        if self.only.as_deref().is_some_and(|o| o != name) {
            return;
        }
        let rounds = if self.only.is_some() { 1 } else { ROUNDS };
        let mut best: Option<Timing> = None;
        for _ in 0..rounds {
            let (w0, c0) = (Instant::now(), cpu_time());
            let check = black_box(f());
            let t = Timing {
                wall: w0.elapsed(),
                cpu: cpu_time().zip(c0).map(|(c1, c0)| c1 - c0),
                check,
            };
            if best.as_ref().is_none_or(|b| t.secs() < b.secs()) {
                best = Some(t);
            }
        }
        let Some(t) = best else { return };
        let secs = t.secs();
        println!(
            "{name:<16} {:>6.2} M lines/s {:>7.1} MB/s   cpu {:.2} s, wall {:.2} s  (check {})",
            self.lines as f64 / secs / 1e6,
            self.bytes as f64 / secs / 1e6,
            secs,
            t.wall.as_secs_f64(),
            t.check
        );
    }
}

fn main() {
    let n = std::env::var("SUHO_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000usize);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut buf = Vec::with_capacity(n * (LINE_BYTES + 1));
    for _ in 0..n {
        line(&mut rng, &mut buf);
    }
    let lines: Vec<&[u8]> = split_lines(&buf, 1).map(|(_, l)| l).collect();
    assert_eq!(lines.len(), n);
    assert!(lines.iter().all(|l| l.len() == LINE_BYTES));
    for l in &lines {
        if let Err(e) = parse_record(l) {
            panic!(
                "generated line does not parse: {e}: {}",
                String::from_utf8_lossy(l)
            );
        }
    }
    let bench = Bench {
        only: std::env::var("SUHO_BENCH_ONLY").ok(),
        lines: n,
        bytes: buf.len(),
    };
    if bench.only.is_none() {
        println!(
            "{n} lines of {LINE_BYTES} bytes, best of {ROUNDS} rounds, one core; first line:\n  {}",
            String::from_utf8_lossy(lines[0])
        );
    }

    let subjects = |r: suho_record::AccessRecord<'_>| r.subjects_processed();
    bench.case("parse_record", || {
        lines
            .iter()
            .filter_map(|l| parse_record(l).ok())
            .map(subjects)
            .sum()
    });
    bench.case("serde path only", || {
        lines
            .iter()
            .filter_map(|l| parse_record_serde(l).ok())
            .map(subjects)
            .sum()
    });
    bench.case("split_lines", || {
        split_lines(&buf, 1).map(|(_, l)| l.len() as u64).sum()
    });
    bench.case("LineReader", || {
        let mut r = LineReader::new(Cursor::new(&buf[..]));
        let mut n = 0u64;
        while let Ok(Some(item)) = r.next_line() {
            if let LineItem::Line { bytes, .. } = item {
                n += bytes.len() as u64;
            }
        }
        n
    });
    bench.case("split + parse", || {
        split_lines(&buf, 1)
            .filter_map(|(_, l)| parse_record(l).ok())
            .map(subjects)
            .sum()
    });
    bench.case("SHA-256", || {
        lines
            .iter()
            .map(|l| u64::from(Sha256::digest(l)[0]))
            .fold(0, |a, b| a ^ b)
    });
}
