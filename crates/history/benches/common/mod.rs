//! The traffic both history benchmarks query: a month of an e-commerce company's access
//! records, generated deterministically (see `scope.rs` for its shape).
#![allow(dead_code)]

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

use std::path::{Path, PathBuf};
use std::time::Instant;

use suho_history::{HistoryWriter, WriterOptions};
use suho_record::{AccessRecord, Action, Outcome};

pub(crate) const SEED: u64 = 0x5eed_2025;
pub(crate) const T0: i64 = 1_748_736_000_000; // 2025-06-01T00:00:00Z
pub(crate) const DAY: i64 = 86_400_000;
pub(crate) const CREDENTIALS: u64 = 10_000;
pub(crate) const LONG_LIVED: u64 = 1_000;
pub(crate) const ACCOUNTS: u64 = 2_200;
pub(crate) const CUSTOMERS: u64 = 1_000_000;
pub(crate) const FIELDS: [&str; 10] = [
    "name",
    "email",
    "phone",
    "address",
    "order_history",
    "payment",
    "birth_date",
    "entrance_code",
    "delivery_contacts",
    "resident_registration_number",
];

pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Random numbers for record `i`, the same whichever thread builds it.
pub(crate) struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = mix(self.0);
        self.0 % n
    }
}

/// When short-lived credential `c` (>= LONG_LIVED) is valid: [start, start + life).
pub(crate) fn token_window(c: u64, span: i64) -> (i64, i64) {
    let life = DAY + (mix(SEED ^ c ^ 0xabc) % (2 * DAY as u64)) as i64;
    let start = (mix(SEED ^ c) % (span - life).max(1) as u64) as i64;
    (T0 + start, life)
}

pub(crate) struct Pools {
    pub(crate) creds: Vec<String>,
    accounts: Vec<String>,
    keys: Vec<String>,
    resources: Vec<String>,
    /// Short-lived credentials sorted by window start: (start, end, id).
    windows: Vec<(i64, i64, u64)>,
}

pub(crate) fn pools(span: i64) -> Pools {
    let mut windows: Vec<(i64, i64, u64)> = (LONG_LIVED..CREDENTIALS)
        .map(|c| {
            let (s, life) = token_window(c, span);
            (s, s + life, c)
        })
        .collect();
    windows.sort_unstable();
    Pools {
        creds: (0..CREDENTIALS)
            .map(|c| {
                if c < LONG_LIVED {
                    format!("key-{c:05}")
                } else {
                    format!("tok-{c:05}")
                }
            })
            .collect(),
        accounts: (0..ACCOUNTS)
            .map(|a| {
                if a < 200 {
                    format!("svc-{a:03}")
                } else {
                    format!("emp-{a:04}")
                }
            })
            .collect(),
        keys: (0..8).map(|k| format!("kid-2025-{k:02}")).collect(),
        resources: (0..50)
            .map(|r| format!("GET /v1/customers/{{id}}/r{r}"))
            .collect(),
        windows,
    }
}

/// Build records `range` into the history of `data`.
pub(crate) fn build(data: &Path, range: std::ops::Range<u64>, n: u64, span: i64, p: &Pools) {
    let history = data.join("history");
    let mut w = HistoryWriter::new(&history, WriterOptions::default()).expect("writer");
    generate(range, n, span, p, |i, rec| w.push(i, rec).expect("push"));
    w.finish().expect("finish");
}

/// Records `range` of `n` over `span` ms, handed to `sink` in order.
pub(crate) fn generate(
    range: std::ops::Range<u64>,
    n: u64,
    span: i64,
    p: &Pools,
    mut sink: impl FnMut(u64, &AccessRecord<'_>),
) {
    let mut active: Vec<u64> = Vec::new();
    let mut next_window = 0usize;
    let mut subjects: Vec<String> = Vec::with_capacity(3);
    let mut fields: Vec<&str> = Vec::with_capacity(4);
    for i in range {
        let mut r = Rng(SEED ^ mix(i));
        let t = T0 + ((i as u128 * span as u128) / n as u128) as i64;
        // Tokens valid at t.
        while next_window < p.windows.len() && p.windows[next_window].0 <= t {
            active.push(p.windows[next_window].2);
            next_window += 1;
        }
        if i % 4096 == 0 {
            active.retain(|&c| {
                let (s, life) = token_window(c, span);
                t < s + life
            });
        }
        let cred = if r.below(10) < 3 || active.is_empty() {
            r.below(LONG_LIVED)
        } else {
            active[r.below(active.len() as u64) as usize]
        };
        let account = cred % ACCOUNTS;
        subjects.clear();
        for _ in 0..1 + r.below(3) {
            subjects.push(format!("c-{:07}", r.below(CUSTOMERS)));
        }
        fields.clear();
        for _ in 0..1 + r.below(4) {
            fields.push(FIELDS[r.below(FIELDS.len() as u64) as usize]);
        }
        let ip = IpAddr::V4(Ipv4Addr::new(
            10,
            (account >> 8) as u8,
            account as u8,
            if r.below(20) == 0 {
                r.below(250) as u8
            } else {
                1
            },
        ));
        let id = (r.below(4) == 0).then(|| format!("req-{:016x}", mix(i)));
        let rec = AccessRecord {
            time_ms: t,
            time_form: suho_record::TimeForm::EpochMillis,
            actor: Cow::Borrowed(&p.accounts[account as usize]),
            action: [Action::Read, Action::Search, Action::Export, Action::Update]
                [r.below(4) as usize],
            resource: Cow::Borrowed(&p.resources[r.below(50) as usize]),
            src_ip: Some(ip),
            credential: Some(Cow::Borrowed(&p.creds[cred as usize])),
            signing_key: Some(Cow::Borrowed(&p.keys[(cred % 8) as usize])),
            subjects: subjects.iter().map(|s| Cow::Borrowed(s.as_str())).collect(),
            subject_count: None,
            fields: fields.iter().map(|f| Cow::Borrowed(*f)).collect(),
            purpose: None,
            outcome: Outcome::Success,
            id: id.as_deref().map(Cow::Borrowed),
        };
        sink(i, &rec);
    }
}

/// A numeric setting from the environment (`_` separators allowed), else `default`.
pub(crate) fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Bytes of every file under `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                total += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    total
}

/// The history a benchmark queries: `SUHO_BENCH_RECORDS` records over `SUHO_BENCH_DAYS` days in
/// `SUHO_BENCH_DIR` (kept between runs, rebuilt when the settings differ) or a temporary dir.
pub(crate) struct Dataset {
    /// Keeps a temporary directory alive.
    pub(crate) _tmp: Option<tempfile::TempDir>,
    pub(crate) data: PathBuf,
    pub(crate) n: u64,
    pub(crate) days: i64,
    pub(crate) span: i64,
    pub(crate) pools: Pools,
}

pub(crate) fn dataset(prefix: &str) -> Dataset {
    let n: u64 = env("SUHO_BENCH_RECORDS", 10_000_000);
    let days: i64 = env("SUHO_BENCH_DAYS", 30);
    let span = days * DAY;
    let (_tmp, data) = match std::env::var("SUHO_BENCH_DIR") {
        Ok(d) => (None, PathBuf::from(d)),
        Err(_) => {
            let t = tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(std::env::temp_dir())
                .expect("tempdir");
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let pools = pools(span);
    let marker = data.join("bench-records");
    let want = format!("{n} {days} {SEED}");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
        let _ = std::fs::remove_dir_all(data.join("history"));
        std::fs::create_dir_all(&data).expect("data dir");
        let t = Instant::now();
        // Two writers, each a contiguous half of the ledger (its own files): both cores.
        std::thread::scope(|s| {
            let p = &pools;
            let data = &data;
            s.spawn(move || build(data, 0..n / 2, n, span, p));
            s.spawn(move || build(data, n / 2..n, n, span, p));
        });
        let el = t.elapsed();
        std::fs::write(&marker, &want).expect("marker");
        println!(
            "built {n} records over {days} days in {:.1} s ({:.2} M records/s), {:.2} GB of Parquet",
            el.as_secs_f64(),
            n as f64 / el.as_secs_f64() / 1e6,
            dir_bytes(&data.join("history")) as f64 / 1e9
        );
    } else {
        println!(
            "reusing {n} records in {} ({:.2} GB)",
            data.display(),
            dir_bytes(&data.join("history")) as f64 / 1e9
        );
    }
    Dataset {
        _tmp,
        data,
        n,
        days,
        span,
        pools,
    }
}
