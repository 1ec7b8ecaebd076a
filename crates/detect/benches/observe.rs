//! Throughput of `Engine::observe` and memory per 10,000 active principals.
//!
//! `cargo bench -p suho-detect --bench observe` builds a synthetic day-by-day mix in memory
//! (customers acting on their own data, staff, service accounts; a registry of 10,000
//! principals), extracts features outside the timed loop (that runs on the parallel workers
//! in suho), and times `observe` alone on one thread.
//!
//! With `SUHO_BENCH_DIR=DIR` it replays a directory written by `suho simulate`
//! (`records.ndjson`, `registry.ndjson`, `suho.toml`) instead, prints alerts by rule and
//! severity, and writes every emitted alert (with the id of the record that emitted it) to
//! `DIR/alerts.ndjson`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use suho_detect::{Alert, DetectConfig, Engine, Features};
use suho_registry::{parse_registry_line, Registry};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Input {
    lines: Vec<Vec<u8>>,
    feats: Vec<Features>,
}

fn prepare(lines: Vec<Vec<u8>>, engine: &Engine) -> Input {
    let feats = lines
        .iter()
        .map(|l| match suho_record::parse_record(l) {
            Ok(r) => Features::from_record_geo(&r, engine.geo()),
            Err(e) => panic!("bench input is not a valid record: {e}"),
        })
        .collect();
    Input { lines, feats }
}

fn run(engine: &mut Engine, input: &Input, mut sink: impl FnMut(usize, &[Alert])) -> (f64, usize) {
    let mut out = Vec::new();
    let mut alerts = 0usize;
    let start = Instant::now();
    for (i, (f, body)) in input.feats.iter().zip(&input.lines).enumerate() {
        engine.observe(i as u64, f, body, &mut out);
        if !out.is_empty() {
            alerts += out.len();
            sink(i, &out);
            out.clear();
        }
    }
    (start.elapsed().as_secs_f64(), alerts)
}

/// A deterministic pseudo-random stream (SplitMix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn synthetic(days: i64, per_day: u64) {
    const STAFF: u64 = 9_900;
    const SERVICES: u64 = 100;
    const CUSTOMERS: u64 = 2_000_000;
    let roles = [
        "cs-agent",
        "logistics",
        "marketing",
        "backend-engineer",
        "finance",
    ];
    let mut reg = Registry::default();
    let mut regtext = String::new();
    for i in 0..STAFF {
        regtext.push_str(&format!(
            "{{\"type\":\"principal\",\"id\":\"emp-{i:05}\",\"kind\":\"employee\",\"status\":\"active\",\"role\":\"{}\",\"countries\":[\"KR\"],\"networks\":[\"10.{}.0.0/16\"]}}\n",
            roles[(i % 5) as usize],
            i % 200
        ));
    }
    for i in 0..SERVICES {
        regtext.push_str(&format!(
            "{{\"type\":\"principal\",\"id\":\"svc-{i:03}\",\"kind\":\"service\",\"status\":\"active\",\"role\":\"service\",\"networks\":[\"172.16.{i}.0/24\"]}}\n"
        ));
    }
    regtext.push_str("{\"type\":\"signing_key\",\"id\":\"kid-staff\",\"owner\":\"svc-000\",\"status\":\"active\",\"issuance\":\"registered\"}\n");
    regtext.push_str("{\"type\":\"signing_key\",\"id\":\"kid-cust\",\"owner\":\"svc-000\",\"status\":\"active\",\"issuance\":\"unregistered\"}\n");
    for i in 0..STAFF {
        regtext.push_str(&format!(
            "{{\"type\":\"credential\",\"id\":\"tok-{i:05}\",\"principal\":\"emp-{i:05}\",\"kind\":\"access_token\",\"signing_key\":\"kid-staff\"}}\n"
        ));
    }
    for l in regtext.lines() {
        match parse_registry_line(l.as_bytes()) {
            Ok(r) => reg.upsert(r),
            Err(e) => panic!("bench registry line: {e}"),
        }
    }
    let geo_csv = "network,country\n10.0.0.0/8,KR\n172.16.0.0/12,KR\n1.0.0.0/8,KR\n2.0.0.0/8,JP\n";
    let dir = std::env::temp_dir().join(format!("suho-detect-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("geo.csv"), geo_csv);
    let _ = std::fs::write(
        dir.join("suho.toml"),
        "[geo]\ndatabase = \"geo.csv\"\nhome_countries = [\"KR\"]\n",
    );
    let (cfg, geo) = match DetectConfig::load(&dir) {
        Ok(x) => x,
        Err(e) => panic!("bench config: {e}"),
    };
    let _ = std::fs::remove_dir_all(&dir);

    let rss0 = rss_kib();
    let mut engine = Engine::new(Arc::new(reg), geo, cfg);
    let mut rng = Rng(42);
    // Midnight in Seoul (the default home time zone), 2025-06-16.
    let t0: i64 = 1_750_000_000_000 - 1_750_000_000_000 % 86_400_000 - 9 * 3_600_000;
    let mut total = 0f64;
    let mut n = 0u64;
    let mut alerts = 0usize;
    let mut by: BTreeMap<(String, String), usize> = BTreeMap::new();
    const CHUNK: u64 = 50_000;
    for day in 0..days {
        let mut k = 0u64;
        while k < per_day {
            // Build the next records in event-time order: 80% customers (app sessions of one
            // to five records from one address and session token), 15% staff, 5% services.
            let mut lines = Vec::with_capacity(CHUNK as usize + 8);
            let end = (k + CHUNK).min(per_day);
            while k < end {
                let t = t0 + day * 86_400_000 + (k as i64 * 86_400_000 / per_day as i64);
                let x = rng.below(100);
                if x < 80 {
                    let c = rng.below(CUSTOMERS);
                    let host = rng.below(250) + 1;
                    for j in 0..(1 + rng.below(5)) {
                        lines.push(format!(
                            "{{\"time\":{},\"actor\":\"c-{c:07}\",\"action\":\"read\",\"resource\":\"GET /me\",\"src_ip\":\"1.{}.{}.{host}\",\"credential\":\"s-{day}-{c}\",\"signing_key\":\"kid-cust\",\"subjects\":[\"c-{c:07}\"],\"fields\":[\"name\"]}}",
                            t + j as i64 * 20,
                            c % 256,
                            (c / 256) % 256
                        ).into_bytes());
                        k += 1;
                    }
                    continue;
                }
                let line = if x < 95 {
                    let e = rng.below(STAFF);
                    let c = rng.below(CUSTOMERS);
                    format!(
                        "{{\"time\":{t},\"actor\":\"emp-{e:05}\",\"action\":\"read\",\"resource\":\"GET /customers/{{id}}\",\"src_ip\":\"10.{}.3.{}\",\"credential\":\"tok-{e:05}\",\"signing_key\":\"kid-staff\",\"subjects\":[\"c-{c:07}\"],\"fields\":[\"name\",\"phone\"]}}",
                        e % 200,
                        e % 250 + 1
                    )
                } else {
                    let s = rng.below(SERVICES);
                    let c = rng.below(CUSTOMERS);
                    format!(
                        "{{\"time\":{t},\"actor\":\"svc-{s:03}\",\"action\":\"read\",\"resource\":\"GET /internal/profile\",\"src_ip\":\"172.16.{s}.9\",\"credential\":\"key-{s}\",\"subjects\":[\"c-{c:07}\"],\"fields\":[\"name\",\"address\"]}}"
                    )
                };
                lines.push(line.into_bytes());
                k += 1;
            }
            let input = prepare(lines, &engine);
            let (secs, a) = run(&mut engine, &input, |_, out| {
                for x in out.iter().filter(|x| x.count == 1) {
                    *by.entry((x.rule.clone(), x.severity.as_str().to_string()))
                        .or_default() += 1;
                }
            });
            total += secs;
            n += input.feats.len() as u64;
            alerts += a;
        }
    }
    let stats = engine.stats();
    let rss1 = rss_kib();
    println!("synthetic mix: {n} records over {days} event-time days, 80% customers (sessions of 1-5 records) / 15% staff / 5% services");
    println!(
        "  observe: {:.0} records/s ({:.0} ns/record), {alerts} alerts emitted",
        n as f64 / total,
        total * 1e9 / n as f64
    );
    println!(
        "  state: {} actors with behaviour state ({:.2} KiB each: {:.1} MiB per 10,000 active principals), {} source networks; all detector state {:.1} MiB by accounting",
        stats.actors,
        stats.actor_bytes as f64 / 1024.0 / stats.actors.max(1) as f64,
        stats.actor_bytes as f64 / 1048576.0 * 10_000.0 / stats.actors.max(1) as f64,
        stats.sources,
        stats.approx_bytes as f64 / 1048576.0
    );
    println!(
        "  RSS growth since the engine was built: {:.1} MiB (engine state, allocator slack, and one 50,000-record input chunk)",
        (rss1.saturating_sub(rss0)) as f64 / 1024.0
    );
    println!(
        "  new alerts by rule and severity (synthetic traffic has no attacks; cold-start noise):"
    );
    for ((rule, sev), c) in by {
        println!("    {rule:28} {sev:9} {c}");
    }
}

fn replay(dir: &Path) {
    let mut reg = Registry::default();
    let regtext = std::fs::read(dir.join("registry.ndjson")).unwrap_or_default();
    for l in regtext.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(r) = parse_registry_line(l) {
            reg.upsert(r);
        }
    }
    let (cfg, geo) = match DetectConfig::load(dir) {
        Ok(x) => x,
        Err(e) => panic!("{e}"),
    };
    let mut engine = Engine::new(Arc::new(reg), geo, cfg);
    let text = match std::fs::read(dir.join("records.ndjson")) {
        Ok(t) => t,
        Err(e) => panic!("reading records.ndjson: {e}"),
    };
    let lines: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    drop(text);
    let rss0 = rss_kib();
    let input = prepare(lines, &engine);
    let mut by: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut log = std::io::BufWriter::new(match std::fs::File::create(dir.join("alerts.ndjson")) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    });
    let (secs, alerts) = run(&mut engine, &input, |i, out| {
        let rid = suho_record::parse_record(&input.lines[i])
            .ok()
            .and_then(|r| r.id.map(|s| s.to_string()));
        for a in out {
            if a.count == 1 {
                *by.entry((a.rule.clone(), a.severity.as_str().to_string()))
                    .or_default() += 1;
            }
            let mut v = serde_json::to_value(a).unwrap_or_default();
            v["emitted_by"] = serde_json::Value::from(rid.clone());
            let _ = writeln!(log, "{v}");
        }
    });
    let _ = log.flush();
    let n = input.feats.len();
    println!("replay of {}: {n} records", dir.display());
    println!(
        "  observe: {:.0} records/s ({:.0} ns/record), {alerts} alert emissions",
        n as f64 / secs,
        secs * 1e9 / n as f64
    );
    let s = engine.stats();
    println!(
        "  state: {} actors, {} sources, {} open alerts, approx {:.1} MiB; RSS growth {:.1} MiB",
        s.actors,
        s.sources,
        s.open_alerts,
        s.approx_bytes as f64 / 1048576.0,
        rss_kib().saturating_sub(rss0) as f64 / 1024.0
    );
    println!("  new alerts by rule and severity:");
    for ((rule, sev), c) in by {
        println!("    {rule:28} {sev:9} {c}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this without it: then
    // a small smoke run only.
    if !std::env::args().any(|a| a == "--bench") {
        synthetic(1, 20_000);
        return;
    }
    match std::env::var_os("SUHO_BENCH_DIR") {
        Some(d) => replay(Path::new(&d)),
        None => synthetic(3, 1_000_000),
    }
}
