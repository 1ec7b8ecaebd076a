//! `suho sql` over a large history, against DuckDB on the same Parquet files.
//!
//! Builds `SUHO_BENCH_RECORDS` records (default 10 million, 30 days) of history directly with
//! [`HistoryWriter`] (the same traffic as `benches/scope.rs`, so `SUHO_BENCH_DIR` can be shared
//! with it), then times SQL queries through [`SqlSession`] (a fresh session per run, as `suho
//! sql` does) and, when `python3 -c "import duckdb"` works, the same queries in DuckDB over the
//! same files, checking both give the same answer.
//!
//! The queries: `count(*)` with a short-lived token's credential (a few row groups) and with a
//! long-lived key's (every row group, bloom filters cannot help); a full `GROUP BY actor`; a
//! one-day time range; distinct subjects of a token and of a whole day, through
//! `record_subjects` and through `json_each(records.subjects)` (suho only: to choose between
//! them).
//!
//! `SUHO_BENCH_DIR` keeps the data between runs; `SUHO_BENCH_RUNS` (default 3) timed runs, the
//! best is printed; `SUHO_BENCH_DUCKDB=0` skips DuckDB; `SUHO_BENCH_ONLY=text` runs the queries
//! whose name contains `text`; `SUHO_BENCH_SQL=query` times one query of your own.
//! Run: `SUHO_BENCH_DIR=/tmp/h10m cargo bench -p suho-history --bench sql`.
//!
//! Measured on the 2-core development machine (other builds sharing it; best of 3), 10 million
//! records (0.28 GB of Parquet), suho against DuckDB 2.0 (Python) on the same files, both giving
//! the same answers:
//!
//! | query                                              | suho     | DuckDB  |
//! |----------------------------------------------------|----------|---------|
//! | `count(*)`, all records                            | 0.39-0.5 s | 0.01 s |
//! | `count(*)` for a short-lived token (3/30 row groups) | 0.012-0.016 s | 0.010 s |
//! | `count(*)` for a long-lived key (30/30 row groups)  | 0.033-0.052 s | 0.027 s |
//! | `GROUP BY actor`, all records                      | 2.5-2.9 s (10.3 s before the scan sorted it) | 0.06 s |
//! | one day: `count(*), count(DISTINCT actor)`         | 0.16 s   | 0.014 s |
//! | token: `count(DISTINCT subject)`                   | 0.02 s   | 0.076 s |
//! | one day: `count(DISTINCT subject)`                 | 1.8-2.3 s (0.75 s as a GROUP BY subquery) | 0.15 s |
//! | one day: top 10 subjects by accesses               | 0.71 s (json_each: 1.1 s) | 0.22 s |
//!
//! Peak memory of the full `GROUP BY actor`: 490 MB (the ordered scan holds the actor and
//! ledger-index columns and the sort keys).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;
use suho_history::{SqlSession, SqlValue};
use suho_ledger::Layout;

mod common;
use common::*;

/// One benchmark query: suho's SQL and DuckDB's over `read_parquet(GLOB)`.
struct Query {
    name: &'static str,
    suho: String,
    duckdb: Option<String>,
}

fn queries(p: &Pools) -> Vec<Query> {
    let token = &p.creds[(LONG_LIVED + 4_321) as usize];
    let key = &p.creds[17];
    let day = "2025-06-10";
    let next = "2025-06-11";
    let dday = format!(
        "time >= TIMESTAMPTZ '{day} 00:00:00+00' AND time < TIMESTAMPTZ '{next} 00:00:00+00'"
    );
    vec![
        Query {
            name: "count(*), all records",
            suho: "SELECT count(*) FROM records".into(),
            duckdb: Some("SELECT count(*) FROM read_parquet(GLOB)".into()),
        },
        Query {
            name: "count(*) WHERE credential = short-lived token",
            suho: format!("SELECT count(*) FROM records WHERE credential = '{token}'"),
            duckdb: Some(format!(
                "SELECT count(*) FROM read_parquet(GLOB) WHERE credential = '{token}'"
            )),
        },
        Query {
            name: "count(*) WHERE credential = long-lived key",
            suho: format!("SELECT count(*) FROM records WHERE credential = '{key}'"),
            duckdb: Some(format!(
                "SELECT count(*) FROM read_parquet(GLOB) WHERE credential = '{key}'"
            )),
        },
        Query {
            name: "GROUP BY actor, all records",
            suho: "SELECT actor, count(*) FROM records GROUP BY actor".into(),
            duckdb: Some("SELECT actor, count(*) FROM read_parquet(GLOB) GROUP BY actor".into()),
        },
        Query {
            name: "one day: count(*), count(DISTINCT actor)",
            suho: format!(
                "SELECT count(*), count(DISTINCT actor) FROM records \
                 WHERE time >= '{day}' AND time < '{next}'"
            ),
            duckdb: Some(format!(
                "SELECT count(*), count(DISTINCT actor) FROM read_parquet(GLOB) WHERE {dday}"
            )),
        },
        Query {
            name: "token: count(DISTINCT subject), record_subjects",
            suho: format!(
                "SELECT count(DISTINCT subject) FROM record_subjects WHERE credential = '{token}'"
            ),
            duckdb: Some(format!(
                "SELECT count(DISTINCT s) FROM (SELECT unnest(subjects) AS s \
                 FROM read_parquet(GLOB) WHERE credential = '{token}')"
            )),
        },
        Query {
            name: "token: count(DISTINCT subject), json_each",
            suho: format!(
                "SELECT count(DISTINCT j.value) FROM records r, json_each(r.subjects) j \
                 WHERE r.credential = '{token}'"
            ),
            duckdb: None,
        },
        Query {
            name: "one day: count(DISTINCT subject), record_subjects",
            suho: format!(
                "SELECT count(DISTINCT subject) FROM record_subjects \
                 WHERE time >= '{day}' AND time < '{next}'"
            ),
            duckdb: Some(format!(
                "SELECT count(DISTINCT s) FROM (SELECT unnest(subjects) AS s \
                 FROM read_parquet(GLOB) WHERE {dday})"
            )),
        },
        Query {
            name: "one day: distinct subjects by GROUP BY, record_subjects",
            suho: format!(
                "SELECT count(*) FROM (SELECT subject FROM record_subjects \
                 WHERE time >= '{day}' AND time < '{next}' GROUP BY subject)"
            ),
            duckdb: None,
        },
        Query {
            name: "one day: top subjects by accesses, record_subjects",
            suho: format!(
                "SELECT subject, count(*) AS n FROM record_subjects \
                 WHERE time >= '{day}' AND time < '{next}' \
                 GROUP BY subject ORDER BY n DESC, subject LIMIT 10"
            ),
            duckdb: Some(format!(
                "SELECT s, count(*) AS n FROM (SELECT DISTINCT ledger_index, unnest(subjects) AS s \
                 FROM read_parquet(GLOB) WHERE {dday}) GROUP BY s ORDER BY n DESC, s LIMIT 10"
            )),
        },
        Query {
            name: "one day: top subjects by accesses, json_each",
            suho: format!(
                "SELECT j.value, count(DISTINCT r.ledger_index) AS n \
                 FROM records r, json_each(r.subjects) j \
                 WHERE r.time >= '{day}' AND r.time < '{next}' \
                 GROUP BY j.value ORDER BY n DESC, j.value LIMIT 10"
            ),
            duckdb: None,
        },
        Query {
            name: "one day: count(DISTINCT subject), json_each",
            suho: format!(
                "SELECT count(DISTINCT j.value) FROM records r, json_each(r.subjects) j \
                 WHERE r.time >= '{day}' AND r.time < '{next}'"
            ),
            duckdb: None,
        },
    ]
}

/// Rows as JSON, sorted (GROUP BY order is not defined).
fn normalise(rows: Vec<Vec<Value>>) -> Vec<String> {
    let mut v: Vec<String> = rows
        .into_iter()
        .map(|r| Value::Array(r).to_string())
        .collect();
    v.sort();
    v
}

fn run_suho(layout: &Layout, sql: &str) -> (Vec<Vec<Value>>, suho_history::SqlStats) {
    let s = SqlSession::open(layout).expect("session");
    let mut q = s.prepare(sql).expect("prepare");
    let mut rows = Vec::new();
    q.for_each(None, |r: &[SqlValue]| {
        rows.push(r.iter().map(SqlValue::to_json).collect());
        Ok(())
    })
    .expect("query");
    (rows, s.stats())
}

const DUCKDB_SCRIPT: &str = r#"
import sys, json, time, duckdb
glob, runs = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
for line in sys.stdin:
    q = json.loads(line).replace("GLOB", "'" + glob + "'")
    con.execute(q).fetchall()  # warm-up
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        rows = con.execute(q).fetchall()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    print(json.dumps({"secs": best, "rows": [list(r) for r in rows]}), flush=True)
"#;

fn duckdb_available() -> bool {
    if std::env::var("SUHO_BENCH_DUCKDB").is_ok_and(|v| v == "0") {
        return false;
    }
    Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// (best seconds, rows) per query, in order.
fn run_duckdb(glob: &str, sqls: &[String], runs: usize) -> Option<Vec<(f64, Vec<Vec<Value>>)>> {
    let mut child = Command::new("python3")
        .args(["-c", DUCKDB_SCRIPT, glob, &runs.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    {
        let mut stdin = child.stdin.take()?;
        for q in sqls {
            writeln!(stdin, "{}", Value::from(q.as_str())).ok()?;
        }
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!("duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            let secs = v["secs"].as_f64()?;
            let rows = v["rows"]
                .as_array()?
                .iter()
                .map(|r| r.as_array().cloned().unwrap_or_default())
                .collect();
            Some((secs, rows))
        })
        .collect()
}

fn main() {
    let Dataset {
        _tmp,
        data,
        n,
        pools: p,
        ..
    } = dataset("suho-sql-bench");
    let runs: usize = env("SUHO_BENCH_RUNS", 3).max(1);

    let layout = Layout::new(&data);
    let mut qs = queries(&p);
    if let Ok(sql) = std::env::var("SUHO_BENCH_SQL") {
        // One query of your own, suho only.
        qs = vec![Query {
            name: "SUHO_BENCH_SQL",
            suho: sql,
            duckdb: None,
        }];
    }
    if let Ok(only) = std::env::var("SUHO_BENCH_ONLY") {
        qs.retain(|q| q.name.contains(only.as_str()));
    }
    let mut suho = Vec::new();
    for q in &qs {
        let _ = run_suho(&layout, &q.suho); // warm-up (page cache)
        let mut best = f64::MAX;
        let mut last = None;
        for _ in 0..runs {
            let t = Instant::now();
            let r = run_suho(&layout, &q.suho);
            best = best.min(t.elapsed().as_secs_f64());
            last = Some(r);
        }
        let (rows, stats) = last.expect("runs > 0");
        println!(
            "suho   {:<52} {best:>7.3} s  {:>6.1} M records/s  ({} rows; row groups read {}/{}, {} records decoded)",
            q.name,
            n as f64 / best / 1e6,
            rows.len(),
            stats.row_groups_read,
            stats.row_groups,
            stats.rows_decoded
        );
        suho.push((best, rows));
    }

    if !duckdb_available() {
        println!("duckdb: not run (SUHO_BENCH_DUCKDB=0, or not importable: pip install duckdb)");
        return;
    }
    let glob = format!("{}/history/**/*.parquet", data.display());
    let with_duck: Vec<(usize, String)> = qs
        .iter()
        .enumerate()
        .filter_map(|(i, q)| q.duckdb.clone().map(|d| (i, d)))
        .collect();
    let sqls: Vec<String> = with_duck.iter().map(|(_, d)| d.clone()).collect();
    let Some(duck) = run_duckdb(&glob, &sqls, runs) else {
        println!("duckdb: failed");
        return;
    };
    for ((i, _), (dt, drows)) in with_duck.iter().zip(duck) {
        let (st, srows) = &suho[*i];
        let same = normalise(srows.clone()) == normalise(drows);
        println!(
            "duckdb {:<52} {dt:>7.3} s  suho/duckdb time {:>5.2}  {}",
            qs[*i].name,
            st / dt,
            if same { "same answer" } else { "MISMATCH" }
        );
        if !same {
            println!("  suho: {:?}", srows.iter().take(3).collect::<Vec<_>>());
        }
    }
}
