//! Scope over a large history, against DuckDB on the same Parquet files.
//!
//! Builds `SUHO_BENCH_RECORDS` records (default 10 million) of history directly with
//! [`HistoryWriter`] (no ledger: the point is the query), then times `scope` for one credential
//! and, when `python3 -c "import duckdb"` works, the same query in DuckDB over the same files.
//!
//! The traffic: 30 days (`SUHO_BENCH_DAYS`), in ledger order = time order; 2,200 accounts;
//! 10,000 credentials, of which 1,000 long-lived (service API keys, used all month, 30% of the
//! traffic) and 9,000 tokens that live 1 to 3 days; 8 signing keys; 1,000,000 customers, 1 to 3
//! subjects per record; 1 to 4 field categories; a producer id on a quarter of the records.
//!
//! `SUHO_BENCH_DIR` keeps the data between runs (it is rebuilt when the record count differs);
//! `SUHO_BENCH_SYNC` (default 1,000,000) also times `History::sync` over a real ledger of that
//! many records; `SUHO_BENCH_RUNS` (default 3) is the number of timed runs (best is printed);
//! `SUHO_BENCH_DUCKDB=0` skips DuckDB; `SUHO_BENCH_ONLY=short|long` runs one of the two queries.
//! Run: `SUHO_BENCH_RECORDS=100000000 SUHO_BENCH_DIR=/tmp/h100m cargo bench -p suho-history --bench scope`.
//!
//! Measured on the 2-core development machine (while other builds shared it), 100 million
//! records: building the history takes about 3 minutes (0.6 M records/s on 2 threads) and 2.8 GB;
//! scope for a short-lived token 0.16 s (DuckDB 0.88 s), for a long-lived key read in every row
//! group 0.92 s (DuckDB 12.1 s); both engines give the same counts.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use suho_history::{scope, HistoryWriter, ScopeOptions, Selector, WriterOptions};
use suho_ledger::Layout;
use suho_record::{AccessRecord, Action, Outcome};

const SEED: u64 = 0x5eed_2025;
const T0: i64 = 1_748_736_000_000; // 2025-06-01T00:00:00Z
const DAY: i64 = 86_400_000;
const CREDENTIALS: u64 = 10_000;
const LONG_LIVED: u64 = 1_000;
const ACCOUNTS: u64 = 2_200;
const CUSTOMERS: u64 = 1_000_000;
const FIELDS: [&str; 10] = [
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

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Random numbers for record `i`, the same whichever thread builds it.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = mix(self.0);
        self.0 % n
    }
}

/// When short-lived credential `c` (>= LONG_LIVED) is valid: [start, start + life).
fn token_window(c: u64, span: i64) -> (i64, i64) {
    let life = DAY + (mix(SEED ^ c ^ 0xabc) % (2 * DAY as u64)) as i64;
    let start = (mix(SEED ^ c) % (span - life).max(1) as u64) as i64;
    (T0 + start, life)
}

struct Pools {
    creds: Vec<String>,
    accounts: Vec<String>,
    keys: Vec<String>,
    resources: Vec<String>,
    /// Short-lived credentials sorted by window start: (start, end, id).
    windows: Vec<(i64, i64, u64)>,
}

fn pools(span: i64) -> Pools {
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
fn build(data: &Path, range: std::ops::Range<u64>, n: u64, span: i64, p: &Pools) {
    let history = data.join("history");
    let mut w = HistoryWriter::new(&history, WriterOptions::default()).expect("writer");
    generate(range, n, span, p, |i, rec| w.push(i, rec).expect("push"));
    w.finish().expect("finish");
}

/// Records `range` of `n` over `span` ms, handed to `sink` in order.
fn generate(
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

/// The contract's NDJSON form of a record.
fn to_json(r: &AccessRecord<'_>) -> String {
    let mut o = serde_json::json!({
        "time": r.time_ms,
        "actor": r.actor,
        "action": r.action.as_str(),
        "resource": r.resource,
        "subjects": r.subjects,
        "fields": r.fields,
    });
    let m = o.as_object_mut().expect("an object");
    if let Some(ip) = r.src_ip {
        m.insert("src_ip".into(), ip.to_string().into());
    }
    for (k, v) in [
        ("credential", &r.credential),
        ("signing_key", &r.signing_key),
        ("id", &r.id),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v.as_ref().into());
        }
    }
    o.to_string()
}

/// Time `History::sync` over a fresh ledger of `n` records (the catch-up cost per record).
fn bench_sync(n: u64, days: i64, p: &Pools) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lines = Vec::with_capacity(n as usize);
    generate(0..n, n, days * DAY, p, |_, rec| lines.push(to_json(rec)));
    {
        let mut ledger =
            suho_ledger::Ledger::open(dir.path(), suho_ledger::Options::default()).expect("ledger");
        let now = suho_ledger::now_ms();
        for chunk in lines.chunks(10_000) {
            let prepared: Vec<suho_ledger::Prepared<'_>> = chunk
                .iter()
                .map(|l| {
                    let rec = suho_record::parse_record(l.as_bytes()).expect("valid");
                    suho_ledger::Prepared::new(l.as_bytes(), rec.time_ms, rec.id.as_deref(), now)
                })
                .collect();
            ledger.append_batch(&prepared, None).expect("append");
        }
        ledger.checkpoint().expect("checkpoint");
    }
    let t = Instant::now();
    let r = suho_history::History::sync(&Layout::new(dir.path()), |_| {}).expect("sync");
    let el = t.elapsed().as_secs_f64();
    println!(
        "History::sync of {} ledger records: {el:.2} s ({:.2} M records/s, {} files)",
        r.records,
        r.records as f64 / el / 1e6,
        r.files.len()
    );
}

fn dir_bytes(dir: &Path) -> u64 {
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

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.expect("runs > 0"))
}

const DUCKDB_SCRIPT: &str = r#"
import sys, time, duckdb
glob, cred, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
q = f"""
WITH sel AS MATERIALIZED (
  SELECT ledger_index, time, credential, src_ip, subjects, fields
  FROM read_parquet('{glob}') WHERE credential = $cred),
subj AS MATERIALIZED (SELECT unnest(subjects) AS s, fields FROM sel)
SELECT
  (SELECT count(*) FROM sel) AS records,
  (SELECT count(DISTINCT s) FROM subj) AS subjects,
  (SELECT epoch_ms(min(time)) FROM sel) AS first_access,
  (SELECT epoch_ms(max(time)) FROM sel) AS last_access,
  (SELECT count(DISTINCT src_ip) FROM sel) AS ips,
  (SELECT list(struct_pack(f := f, n := n)) FROM (SELECT f, count(DISTINCT s) AS n FROM (SELECT s, unnest(fields) AS f FROM subj) GROUP BY f)) AS fields
"""
best = None
for _ in range(runs):
    t = time.perf_counter()
    row = con.execute(q, {"cred": cred}).fetchone()
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
print(f"{best:.4f} {row[0]} {row[1]}")
"#;

fn duckdb(glob: &str, cred: &str, runs: usize) -> Option<(f64, u64, u64)> {
    if std::env::var("SUHO_BENCH_DUCKDB").is_ok_and(|v| v == "0") {
        return None;
    }
    let ok = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", DUCKDB_SCRIPT, glob, cred, &runs.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed = (|| {
        let mut it = text.split_whitespace();
        Some((
            it.next()?.parse().ok()?,
            it.next()?.parse().ok()?,
            it.next()?.parse().ok()?,
        ))
    })();
    if parsed.is_none() {
        eprintln!("duckdb printed something unexpected: {text:?}");
    }
    parsed
}

fn main() {
    let n: u64 = std::env::var("SUHO_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    let days: i64 = std::env::var("SUHO_BENCH_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let runs: usize = std::env::var("SUHO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let span = days * DAY;
    let (_tmp, data): (Option<tempfile::TempDir>, PathBuf) = match std::env::var("SUHO_BENCH_DIR") {
        Ok(d) => (None, PathBuf::from(d)),
        Err(_) => {
            let t = tempfile::Builder::new()
                .prefix("suho-history-bench")
                .tempdir_in(std::env::temp_dir())
                .expect("tempdir");
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    };
    let p = pools(span);
    let marker = data.join("bench-records");
    let want = format!("{n} {days} {SEED}");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
        let _ = std::fs::remove_dir_all(data.join("history"));
        std::fs::create_dir_all(&data).expect("data dir");
        let t = Instant::now();
        // Two writers, each a contiguous half of the ledger (its own files): both cores.
        std::thread::scope(|s| {
            let p = &p;
            let data = &data;
            s.spawn(move || build(data, 0..n / 2, n, span, p));
            s.spawn(move || build(data, n / 2..n, n, span, p));
        });
        let el = t.elapsed();
        std::fs::write(&marker, &want).expect("marker");
        println!("built {n} records over {days} days in {:.1} s ({:.2} M records/s), {:.2} GB of Parquet", el.as_secs_f64(), n as f64 / el.as_secs_f64() / 1e6, dir_bytes(&data.join("history")) as f64 / 1e9);
    } else {
        println!(
            "reusing {n} records in {} ({:.2} GB)",
            data.display(),
            dir_bytes(&data.join("history")) as f64 / 1e9
        );
    }

    let sync_n: u64 = std::env::var("SUHO_BENCH_SYNC")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    if sync_n > 0 {
        bench_sync(sync_n, days, &p);
    }

    if std::env::var_os("SUHO_BENCH_PAGES").is_some() {
        print_pages(&data.join("history/date=2025-06-10"));
    }
    let layout = Layout::new(&data);
    let glob = format!("{}/history/**/*.parquet", data.display());
    // A stolen token (short-lived: a day or three of traffic) and a service key (all month).
    let token = p.creds[(LONG_LIVED + 4_321) as usize].clone();
    let key = p.creds[17].clone();
    for (what, cred) in [
        ("short-lived token", token),
        ("long-lived service key", key),
    ] {
        let sel = Selector {
            credentials: vec![cred.clone()],
            ..Selector::default()
        };
        let opts = ScopeOptions::default();
        let _ = scope(&layout, &sel, &opts).expect("warm-up scope");
        let (t, s) = best_of(runs, || scope(&layout, &sel, &opts).expect("scope"));
        println!(
            "suho scope --credential {cred} ({what}): {:.3} s  records {} subjects {} fields {} | row groups read {}/{} in {} files",
            t.as_secs_f64(),
            s.records,
            s.subjects,
            s.fields.len(),
            s.scan.row_groups_read,
            s.scan.row_groups,
            s.scan.files
        );
        match duckdb(&glob, &cred, runs) {
            Some((dt, records, subjects)) => {
                println!("duckdb, same query, same files: {dt:.3} s  records {records} subjects {subjects}  -> suho is {:.1}x DuckDB's speed", dt / t.as_secs_f64());
                if (records, subjects) != (s.records, s.subjects) {
                    println!("MISMATCH: duckdb counts differ from suho's");
                }
            }
            None => println!(
                "duckdb: not run (SUHO_BENCH_DUCKDB=0, or not importable: pip install duckdb)"
            ),
        }
    }
}

/// Pages per column chunk in the first file of `dir` (a diagnostic of the layout).
fn print_pages(dir: &Path) {
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
    let Some(path) = std::fs::read_dir(dir)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path())
    else {
        return;
    };
    let f = std::fs::File::open(&path).expect("open");
    let md = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .parse_and_finish(&f)
        .expect("metadata");
    let rg = md.row_group(0);
    let pi = md.page_index().expect("page index");
    for (i, c) in rg.columns().iter().enumerate() {
        let pages = pi.page_locations(0, i).map_or(0, |l| l.len());
        println!(
            "{:>28}: {} rows, {pages} pages, {} bytes",
            c.column_path().string(),
            rg.num_rows(),
            c.compressed_size()
        );
    }
}
