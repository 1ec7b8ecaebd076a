//! `records` and `record_subjects` in SQL: results equal a brute force over the raw NDJSON,
//! pushed-down filters return exactly what a full scan returns (and skip what they should),
//! and nothing but a read-only query runs.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{append, raw, records, Raw, DAY, T0};
use serde_json::Value;
use suho_history::{History, SqlError, SqlSession, SqlValue, SyncOptions, WriterOptions};
use suho_ledger::Layout;

/// A record as the brute force sees it, with what `Raw` leaves out.
struct Rec {
    raw: Raw,
    action: String,
    resource: String,
    id: Option<String>,
}

/// 20,000 records over 4 days, then 2,000 late ones for day 2: several files per day, small
/// row groups, so pruning has something to skip.
fn history() -> (tempfile::TempDir, Layout, Vec<Rec>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = Layout::new(dir.path());
    let opts = SyncOptions {
        writer: WriterOptions {
            row_group_rows: 1_000,
            rows_per_file: 4_000,
            max_open: 1,
            ..WriterOptions::default()
        },
        ..SyncOptions::default()
    };
    let mut lines = records(21, 20_000, T0, 4);
    append(dir.path(), &lines);
    History::sync_with(&layout, &opts, |_| {}).expect("sync");
    let late = records(22, 2_000, T0 + DAY, 1);
    append(dir.path(), &late);
    History::sync_with(&layout, &opts, |_| {}).expect("sync");
    lines.extend(late);
    let all = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let v: Value = serde_json::from_str(l).expect("json");
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            Rec {
                raw: raw(i as u64, l),
                action: s("action").expect("action"),
                resource: s("resource").expect("resource"),
                id: s("id"),
            }
        })
        .collect();
    (dir, layout, all)
}

fn query(s: &SqlSession, sql: &str) -> Vec<Vec<SqlValue>> {
    let mut q = s.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = Vec::new();
    q.for_each(None, |r| {
        rows.push(r.to_vec());
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows
}

fn int(v: &SqlValue) -> i64 {
    match v {
        SqlValue::Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(v: &SqlValue) -> Option<String> {
    match v {
        SqlValue::Text(s) => Some(s.clone()),
        SqlValue::Null => None,
        other => panic!("not text: {other:?}"),
    }
}

fn one_int(s: &SqlSession, sql: &str) -> i64 {
    let rows = query(s, sql);
    assert_eq!(rows.len(), 1, "{sql}");
    int(&rows[0][0])
}

/// Ledger indexes a query returns in its first column, sorted.
fn indexes(s: &SqlSession, sql: &str) -> Vec<u64> {
    let mut v: Vec<u64> = query(s, sql).iter().map(|r| int(&r[0]) as u64).collect();
    v.sort_unstable();
    v
}

fn distinct(subjects: &[String]) -> BTreeSet<&String> {
    subjects.iter().collect()
}

#[test]
fn every_column_of_every_record_is_returned_as_stored() {
    let (_dir, layout, all) = history();
    let s = SqlSession::open(&layout).expect("session");
    let rows = query(
        &s,
        "SELECT ledger_index, time, time_ms, actor, action, resource, src_ip, country, \
         credential, signing_key, subjects, subject_count, fields, purpose, outcome, id \
         FROM records ORDER BY ledger_index",
    );
    assert_eq!(rows.len(), all.len());
    for (row, rec) in rows.iter().zip(&all) {
        let r = &rec.raw;
        let what = format!("record {}", r.index);
        assert_eq!(int(&row[0]) as u64, r.index, "{what}");
        assert_eq!(
            text(&row[1]),
            Some(suho_record::format_rfc3339_ms(r.time)),
            "{what}"
        );
        assert_eq!(int(&row[2]), r.time, "{what}");
        assert_eq!(text(&row[3]).as_ref(), Some(&r.actor), "{what}");
        assert_eq!(text(&row[4]).as_ref(), Some(&rec.action), "{what}");
        assert_eq!(text(&row[5]).as_ref(), Some(&rec.resource), "{what}");
        assert_eq!(text(&row[6]), r.src_ip, "{what}");
        assert_eq!(text(&row[7]), None, "{what}: no country without a lookup");
        assert_eq!(text(&row[8]), r.credential, "{what}");
        assert_eq!(text(&row[9]), r.signing_key, "{what}");
        let subjects: Vec<String> =
            serde_json::from_str(&text(&row[10]).expect("subjects")).expect("a JSON array");
        assert_eq!(subjects, r.subjects, "{what}");
        assert_eq!(
            row[11],
            r.subject_count
                .map_or(SqlValue::Null, |c| SqlValue::Integer(c as i64)),
            "{what}"
        );
        let fields: Vec<String> =
            serde_json::from_str(&text(&row[12]).expect("fields")).expect("a JSON array");
        assert_eq!(fields, r.fields, "{what}");
        assert_eq!(text(&row[13]), None, "{what}");
        assert_eq!(text(&row[14]).as_deref(), Some("success"), "{what}");
        assert_eq!(text(&row[15]), rec.id, "{what}");
    }
}

#[test]
fn counts_groups_and_distinct_subjects_match_brute_force() {
    let (_dir, layout, all) = history();
    for threads in [1, 3] {
        let s = SqlSession::open_with_threads(&layout, threads).expect("session");
        assert_eq!(
            one_int(&s, "SELECT count(*) FROM records") as usize,
            all.len()
        );

        let mut by_actor: BTreeMap<String, i64> = BTreeMap::new();
        for r in &all {
            *by_actor.entry(r.raw.actor.clone()).or_default() += 1;
        }
        let got: BTreeMap<String, i64> = query(
            &s,
            "SELECT actor, count(*) FROM records GROUP BY actor ORDER BY actor",
        )
        .iter()
        .map(|r| (text(&r[0]).expect("actor"), int(&r[1])))
        .collect();
        assert_eq!(got, by_actor, "GROUP BY actor");

        // One row per (record, distinct subject).
        let pairs: usize = all.iter().map(|r| distinct(&r.raw.subjects).len()).sum();
        assert_eq!(
            one_int(&s, "SELECT count(*) FROM record_subjects") as usize,
            pairs
        );

        // Distinct subjects per credential (NULL: records without one).
        let mut per_cred: BTreeMap<Option<String>, BTreeSet<&String>> = BTreeMap::new();
        for r in &all {
            per_cred
                .entry(r.raw.credential.clone())
                .or_default()
                .extend(distinct(&r.raw.subjects));
        }
        per_cred.retain(|_, v| !v.is_empty());
        let want: BTreeMap<Option<String>, i64> = per_cred
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as i64))
            .collect();
        let got: BTreeMap<Option<String>, i64> = query(
            &s,
            "SELECT credential, count(DISTINCT subject) FROM record_subjects GROUP BY credential",
        )
        .iter()
        .map(|r| (text(&r[0]), int(&r[1])))
        .collect();
        assert_eq!(got, want, "distinct subjects per credential");

        let tok07 = want[&Some("tok-07".to_string())];
        assert!(tok07 > 10, "the test data must give tok-07 subjects");
        assert_eq!(
            one_int(
                &s,
                "SELECT count(DISTINCT subject) FROM record_subjects WHERE credential = 'tok-07'"
            ),
            tok07
        );
        assert_eq!(
            one_int(
                &s,
                "SELECT count(DISTINCT j.value) FROM records r, json_each(r.subjects) j \
                 WHERE r.credential = 'tok-07'"
            ),
            tok07,
            "json_each over subjects gives the same count"
        );

        // Distinct subjects with a field category, over a time window.
        let (since, until) = (T0 + DAY + 3_600_000, T0 + 3 * DAY);
        let mut want = BTreeSet::new();
        for r in all.iter().map(|r| &r.raw) {
            if r.time >= since && r.time < until && r.fields.iter().any(|f| f == "payment") {
                want.extend(distinct(&r.subjects));
            }
        }
        let sql = format!(
            "SELECT count(DISTINCT subject) FROM record_subjects, json_each(fields) f \
             WHERE f.value = 'payment' AND time >= '{}' AND time < '{}'",
            suho_record::format_rfc3339_ms(since),
            suho_record::format_rfc3339_ms(until)
        );
        assert_eq!(one_int(&s, &sql) as usize, want.len());
    }
}

/// (what, WHERE clause the scan can push down, the same condition defeating pushdown,
/// brute-force predicate)
type Case = (&'static str, String, String, Box<dyn Fn(&Raw) -> bool>);

fn cases(all: &[Rec]) -> Vec<Case> {
    let t = |ms: i64| suho_record::format_rfc3339_ms(ms);
    let some_time = all[7_777].raw.time;
    let day2 = T0 + 2 * DAY;
    let cred = |c: &'static str| move |r: &Raw| r.credential.as_deref() == Some(c);
    vec![
        (
            "one credential",
            "credential = 'tok-07'".into(),
            "credential || '' = 'tok-07'".into(),
            Box::new(cred("tok-07")),
        ),
        (
            "an unknown credential",
            "credential = 'tok-nope'".into(),
            "credential || '' = 'tok-nope'".into(),
            Box::new(|_: &Raw| false),
        ),
        (
            "credential IN",
            "credential IN ('tok-07', 'tok-31')".into(),
            "credential || '' IN ('tok-07', 'tok-31')".into(),
            Box::new(|r: &Raw| matches!(r.credential.as_deref(), Some("tok-07" | "tok-31"))),
        ),
        (
            "credential OR actor",
            "credential = 'tok-07' OR actor = 'emp-003'".into(),
            "credential || '' = 'tok-07' OR actor || '' = 'emp-003'".into(),
            Box::new(|r: &Raw| r.credential.as_deref() == Some("tok-07") || r.actor == "emp-003"),
        ),
        (
            "credential under NOCASE",
            "credential = 'TOK-07' COLLATE NOCASE".into(),
            "credential || '' = 'TOK-07' COLLATE NOCASE".into(),
            Box::new(cred("tok-07")),
        ),
        (
            "credential against a number",
            "credential = 7".into(),
            "credential || '' = 7".into(),
            Box::new(|_: &Raw| false),
        ),
        (
            "credential = NULL",
            "credential = NULL".into(),
            "credential || '' = NULL".into(),
            Box::new(|_: &Raw| false),
        ),
        (
            "actor, day 2 by text time",
            format!(
                "actor = 'emp-003' AND time >= '{}' AND time < '{}'",
                t(day2),
                t(day2 + DAY)
            ),
            format!(
                "actor || '' = 'emp-003' AND time || '' >= '{}' AND time || '' < '{}'",
                t(day2),
                t(day2 + DAY)
            ),
            Box::new(move |r: &Raw| r.actor == "emp-003" && r.time >= day2 && r.time < day2 + DAY),
        ),
        (
            "a date as the lower bound",
            "time >= '2025-06-22'".into(),
            "time || '' >= '2025-06-22'".into(),
            Box::new(move |r: &Raw| r.time >= T0 + 2 * DAY),
        ),
        (
            "exact text time, BETWEEN",
            format!(
                "time BETWEEN '{}' AND '{}'",
                t(some_time),
                t(some_time + 90_000)
            ),
            format!(
                "time || '' BETWEEN '{}' AND '{}'",
                t(some_time),
                t(some_time + 90_000)
            ),
            Box::new(move |r: &Raw| r.time >= some_time && r.time <= some_time + 90_000),
        ),
        (
            "strict text time bounds",
            format!("time > '{}' AND time < '{}'", t(some_time), t(some_time + 60_000)),
            format!(
                "time || '' > '{}' AND time || '' < '{}'",
                t(some_time),
                t(some_time + 60_000)
            ),
            Box::new(move |r: &Raw| r.time > some_time && r.time < some_time + 60_000),
        ),
        (
            "time IN two exact times",
            format!("time IN ('{}', '{}')", t(some_time), t(all[20_500].raw.time)),
            format!(
                "time || '' IN ('{}', '{}')",
                t(some_time),
                t(all[20_500].raw.time)
            ),
            {
                let other = all[20_500].raw.time;
                Box::new(move |r: &Raw| r.time == some_time || r.time == other)
            },
        ),
        (
            "ledger_index IN",
            "ledger_index IN (3, 20042, 99999999)".into(),
            "CAST(ledger_index AS INTEGER) IN (3, 20042, 99999999)".into(),
            Box::new(|r: &Raw| [3, 20_042].contains(&r.index)),
        ),
        (
            "time_ms range",
            format!(
                "time_ms >= {} AND time_ms < {}",
                T0 + DAY + 3_600_000,
                T0 + 2 * DAY
            ),
            format!(
                "CAST(time_ms AS INTEGER) >= {} AND CAST(time_ms AS INTEGER) < {}",
                T0 + DAY + 3_600_000,
                T0 + 2 * DAY
            ),
            Box::new(|r: &Raw| r.time >= T0 + DAY + 3_600_000 && r.time < T0 + 2 * DAY),
        ),
        (
            "time_ms > a real",
            format!("time_ms > {}.5", some_time),
            format!("CAST(time_ms AS INTEGER) > {}.5", some_time),
            Box::new(move |r: &Raw| r.time > some_time),
        ),
        (
            "time_ms against text",
            format!("time_ms <= '{some_time}'"),
            format!("CAST(time_ms AS INTEGER) <= '{some_time}'"),
            Box::new(move |r: &Raw| r.time <= some_time),
        ),
        (
            "ledger_index range",
            "ledger_index BETWEEN 4100 AND 4350".into(),
            "CAST(ledger_index AS INTEGER) BETWEEN 4100 AND 4350".into(),
            Box::new(|r: &Raw| (4100..=4350).contains(&r.index)),
        ),
        (
            "one ledger index, in a late file",
            "ledger_index = 20042".into(),
            "CAST(ledger_index AS INTEGER) = 20042".into(),
            Box::new(|r: &Raw| r.index == 20_042),
        ),
        (
            "negative and empty ranges",
            "ledger_index < 0 OR (ledger_index > 10 AND ledger_index < 5)".into(),
            "CAST(ledger_index AS INTEGER) < 0 OR (CAST(ledger_index AS INTEGER) > 10 AND CAST(ledger_index AS INTEGER) < 5)".into(),
            Box::new(|_: &Raw| false),
        ),
        (
            "an IPv6 source",
            "src_ip = '2001:db8::5'".into(),
            "src_ip || '' = '2001:db8::5'".into(),
            Box::new(|r: &Raw| r.src_ip.as_deref() == Some("2001:db8::5")),
        ),
        (
            "signing key and credential and late time",
            format!(
                "signing_key = 'kid-1' AND credential = 'tok-02' AND time_ms >= {}",
                T0 + DAY
            ),
            format!(
                "signing_key || '' = 'kid-1' AND credential || '' = 'tok-02' AND CAST(time_ms AS INTEGER) >= {}",
                T0 + DAY
            ),
            Box::new(|r: &Raw| {
                r.signing_key.as_deref() == Some("kid-1")
                    && r.credential.as_deref() == Some("tok-02")
                    && r.time >= T0 + DAY
            }),
        ),
    ]
}

/// Equal lists, or a short account of where they differ.
fn same<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} rows, expected {}; first difference at {at:?}: {:?} vs {:?}",
            got.len(),
            want.len(),
            at.and_then(|i| got.get(i)),
            at.and_then(|i| want.get(i)),
        );
    }
}

#[test]
fn pushed_down_filters_return_what_a_full_scan_returns() {
    let (_dir, layout, all) = history();
    for threads in [1, 2] {
        let s = SqlSession::open_with_threads(&layout, threads).expect("session");
        for (what, fast, slow, pred) in cases(&all) {
            let want: Vec<u64> = all
                .iter()
                .map(|r| &r.raw)
                .filter(|r| pred(r))
                .map(|r| r.index)
                .collect();
            let pushed = indexes(
                &s,
                &format!("SELECT ledger_index FROM records WHERE {fast}"),
            );
            let full = indexes(
                &s,
                &format!("SELECT ledger_index FROM records WHERE {slow}"),
            );
            same(
                &pushed,
                &full,
                &format!("{what}: pushdown against a full scan"),
            );
            same(&pushed, &want, &format!("{what}: against brute force"));
            // The same rows through record_subjects, one per distinct subject.
            let mut want_pairs: Vec<(u64, String)> = Vec::new();
            for r in all.iter().map(|r| &r.raw).filter(|r| pred(r)) {
                want_pairs.extend(
                    distinct(&r.subjects)
                        .into_iter()
                        .map(|s| (r.index, s.clone())),
                );
            }
            want_pairs.sort();
            let mut got: Vec<(u64, String)> = query(
                &s,
                &format!("SELECT ledger_index, subject FROM record_subjects WHERE {fast}"),
            )
            .iter()
            .map(|r| (int(&r[0]) as u64, text(&r[1]).expect("subject")))
            .collect();
            got.sort();
            same(&got, &want_pairs, &format!("{what}: record_subjects"));
        }
        // A join: the constraint's value comes from another table, row by row.
        let joined = indexes(
            &s,
            "SELECT r.ledger_index FROM (SELECT 'tok-07' AS c UNION ALL SELECT 'tok-31') x \
             JOIN records r ON r.credential = x.c",
        );
        let want: Vec<u64> = all
            .iter()
            .filter(|r| matches!(r.raw.credential.as_deref(), Some("tok-07" | "tok-31")))
            .map(|r| r.raw.index)
            .collect();
        same(&joined, &want, "join on credential");
    }
}

#[test]
fn pushdown_skips_row_groups_and_decodes_only_matching_rows() {
    let (_dir, layout, all) = history();
    let s = SqlSession::open_with_threads(&layout, 1).expect("session");
    let n = one_int(
        &s,
        "SELECT count(*) FROM records WHERE credential = 'tok-07'",
    );
    let want = all
        .iter()
        .filter(|r| r.raw.credential.as_deref() == Some("tok-07"))
        .count();
    assert_eq!(n as usize, want);
    let st = s.stats();
    assert_eq!(
        st.rows_decoded as usize, want,
        "only matching rows reach SQLite"
    );

    let s = SqlSession::open_with_threads(&layout, 1).expect("session");
    let day2 = suho_record::format_rfc3339_ms(T0 + 2 * DAY);
    let day3 = suho_record::format_rfc3339_ms(T0 + 3 * DAY);
    query(
        &s,
        &format!("SELECT count(*) FROM records WHERE time >= '{day2}' AND time < '{day3}'"),
    );
    let st = s.stats();
    let total_groups = {
        let s = SqlSession::open_with_threads(&layout, 1).expect("session");
        query(&s, "SELECT count(*) FROM records");
        s.stats().row_groups
    };
    assert!(
        st.row_groups < total_groups,
        "other days' files are skipped: {st:?} of {total_groups} row groups"
    );
    assert!(
        st.row_groups_read * 3 < total_groups,
        "one day of four: {st:?} of {total_groups} row groups"
    );

    let s = SqlSession::open_with_threads(&layout, 1).expect("session");
    query(
        &s,
        "SELECT count(*) FROM records WHERE credential = 'tok-nope'",
    );
    let st = s.stats();
    assert_eq!(st.rows_decoded, 0);
    assert!(
        st.row_groups_read < st.row_groups / 4,
        "statistics and bloom filters skip the row groups: {st:?}"
    );

    let s = SqlSession::open_with_threads(&layout, 1).expect("session");
    query(&s, "SELECT * FROM records WHERE ledger_index = 20042");
    let st = s.stats();
    assert_eq!(st.row_groups_read, 1, "{st:?}");
    assert_eq!(st.rows_decoded, 1, "{st:?}");
}

#[test]
fn a_limit_stops_the_scan_early() {
    let (_dir, layout, all) = history();
    for threads in [1, 3] {
        let s = SqlSession::open_with_threads(&layout, threads).expect("session");
        let mut q = s
            .prepare("SELECT ledger_index, subjects FROM records")
            .expect("prepare");
        let mut seen = 0;
        let n = q
            .for_each(Some(5), |_| {
                seen += 1;
                Ok(())
            })
            .expect("run");
        assert_eq!((n, seen), (5, 5));
        assert!((s.stats().rows_decoded as usize) < all.len());
        // The session goes on working after an abandoned scan.
        assert_eq!(
            one_int(&s, "SELECT count(*) FROM records LIMIT 1") as usize,
            all.len()
        );
    }
}

#[test]
fn only_read_only_queries_run() {
    let (dir, layout, all) = history();
    let s = SqlSession::open(&layout).expect("session");
    let before = std::fs::read_dir(dir.path()).expect("ls").count();
    let attach = format!("ATTACH '{}' AS x", dir.path().join("new.db").display());
    for sql in [
        "DELETE FROM records",
        "INSERT INTO records (actor) VALUES ('x')",
        "UPDATE records SET actor = 'x'",
        "DROP TABLE records",
        "CREATE TABLE t (a)",
        attach.as_str(),
        "PRAGMA writable_schema = 1",
        "-- a comment first\n DELETE FROM records",
        "WITH x AS (SELECT 1) DELETE FROM records",
        "SELECT 1; DELETE FROM records",
        "",
    ] {
        match s.prepare(sql) {
            Err(SqlError::NotAQuery { .. } | SqlError::Sql { .. }) => {}
            Err(e) => panic!("{sql}: unexpected error {e}"),
            Ok(_) => panic!("{sql}: was accepted"),
        }
    }
    let e = s.prepare("DELETE FROM records").expect_err("refused");
    assert!(
        matches!(&e, SqlError::NotAQuery { query, .. } if query == "DELETE FROM records"),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), before);
    assert_eq!(
        one_int(&s, "SELECT count(*) FROM records") as usize,
        all.len()
    );
    // Queries in every read-only form run.
    assert_eq!(
        one_int(
            &s,
            "WITH c AS (SELECT count(*) AS n FROM records) SELECT n FROM c"
        ) as usize,
        all.len()
    );
    assert!(!query(
        &s,
        "EXPLAIN QUERY PLAN SELECT * FROM records WHERE credential = 'x'"
    )
    .is_empty());
    assert_eq!(one_int(&s, "VALUES (7)"), 7);
}

#[test]
fn an_unknown_column_or_bad_sql_says_what_and_where() {
    let (_dir, layout, _) = history();
    let s = SqlSession::open(&layout).expect("session");
    let e = s
        .prepare("SELECT credentail FROM records")
        .expect_err("unknown column");
    let msg = e.to_string();
    assert!(matches!(e, SqlError::Sql { .. }), "{msg}");
    assert!(msg.contains("no such column: credentail"), "{msg}");
    assert!(msg.contains("SELECT credentail FROM records"), "{msg}");
    assert!(
        msg.contains("records has: ledger_index, time, time_ms"),
        "{msg}"
    );
    let e = s
        .prepare("SELECT * FROM recods")
        .expect_err("unknown table");
    assert!(e.to_string().contains("no such table: recods"), "{e}");
    let e = s.prepare("SELEC 1").expect_err("syntax");
    assert!(matches!(e, SqlError::NotAQuery { .. }), "{e}");
    let e = s
        .prepare("SELECT count(* FROM records")
        .expect_err("syntax");
    assert!(e.to_string().contains("syntax error"), "{e}");
}

#[test]
fn an_empty_history_has_no_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SqlSession::open(&Layout::new(dir.path())).expect("session");
    assert_eq!(one_int(&s, "SELECT count(*) FROM records"), 0);
    assert!(query(&s, "SELECT * FROM record_subjects").is_empty());
}

#[test]
fn an_unreadable_history_file_is_named() {
    let (dir, layout, _) = history();
    let day = dir.path().join("history").join("date=2025-06-21");
    let file = std::fs::read_dir(&day)
        .expect("day partition")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .expect("a file");
    std::fs::write(&file, b"not parquet").expect("overwrite");
    let s = SqlSession::open(&layout).expect("session");
    let mut q = s.prepare("SELECT count(*) FROM records").expect("prepare");
    let e = q.for_each(None, |_| Ok(())).expect_err("a broken file");
    assert!(matches!(e, SqlError::History(_)), "{e}");
    assert!(e.to_string().contains(&file.display().to_string()), "{e}");
}

/// The query plan SQLite chose, one line per step.
fn plan_of(s: &SqlSession, sql: &str) -> String {
    query(s, &format!("EXPLAIN QUERY PLAN {sql}"))
        .iter()
        .map(|r| text(&r[3]).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn order_by_and_group_by_are_sorted_by_the_scan_and_exact() {
    let (_dir, layout, all) = history();
    let s = SqlSession::open(&layout).expect("session");
    let raws: Vec<&Raw> = all.iter().map(|r| &r.raw).collect();

    // GROUP BY a column: no SQLite sort, the same groups.
    let sql = "SELECT credential, count(*), count(DISTINCT actor) FROM records GROUP BY credential";
    let p = plan_of(&s, sql);
    assert!(!p.contains("TEMP B-TREE FOR GROUP BY"), "{p}");
    let mut want: BTreeMap<Option<String>, (i64, BTreeSet<&String>)> = BTreeMap::new();
    for r in &raws {
        let e = want.entry(r.credential.clone()).or_default();
        e.0 += 1;
        e.1.insert(&r.actor);
    }
    let want: Vec<(Option<String>, i64, i64)> = want
        .into_iter()
        .map(|(k, (n, a))| (k, n, a.len() as i64))
        .collect();
    let got: Vec<(Option<String>, i64, i64)> = query(&s, sql)
        .iter()
        .map(|r| (text(&r[0]), int(&r[1]), int(&r[2])))
        .collect();
    // SQLite returns groups in the scan's order: NULL first, then byte order.
    assert_eq!(got, want, "GROUP BY credential");

    // ORDER BY with DESC, NULLs and a second term.
    let sql = "SELECT ledger_index, signing_key, time_ms FROM records \
               ORDER BY signing_key DESC, time_ms";
    let p = plan_of(&s, sql);
    assert!(!p.contains("TEMP B-TREE FOR ORDER BY"), "{p}");
    let got: Vec<(Option<String>, i64)> = query(&s, sql)
        .iter()
        .map(|r| (text(&r[1]), int(&r[2])))
        .collect();
    let mut want: Vec<(Option<String>, i64)> = raws
        .iter()
        .map(|r| (r.signing_key.clone(), r.time))
        .collect();
    // DESC puts NULLs last.
    want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    same(&got, &want, "ORDER BY signing_key DESC, time_ms");

    // ORDER BY time (text) DESC with a pushed-down filter, and LIMIT.
    let got: Vec<i64> = query(
        &s,
        "SELECT time_ms FROM records WHERE actor = 'emp-004' ORDER BY time DESC LIMIT 50",
    )
    .iter()
    .map(|r| int(&r[0]))
    .collect();
    let mut want: Vec<i64> = raws
        .iter()
        .filter(|r| r.actor == "emp-004")
        .map(|r| r.time)
        .collect();
    want.sort_unstable_by(|a, b| b.cmp(a));
    want.truncate(50);
    assert_eq!(got, want, "ORDER BY time DESC LIMIT");

    // record_subjects by subject: the busiest subjects.
    let sql = "SELECT subject, count(*) AS n FROM record_subjects GROUP BY subject \
               ORDER BY n DESC, subject LIMIT 20";
    let p = plan_of(&s, sql);
    assert!(!p.contains("TEMP B-TREE FOR GROUP BY"), "{p}");
    let mut per: BTreeMap<&String, i64> = BTreeMap::new();
    for r in &raws {
        for subject in distinct(&r.subjects) {
            *per.entry(subject).or_default() += 1;
        }
    }
    let mut want: Vec<(String, i64)> = per.into_iter().map(|(k, v)| (k.clone(), v)).collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(20);
    let got: Vec<(String, i64)> = query(&s, sql)
        .iter()
        .map(|r| (text(&r[0]).expect("subject"), int(&r[1])))
        .collect();
    assert_eq!(got, want, "subjects by accesses");

    // The ORDER BY of ledger_index over several late files.
    let got = query(
        &s,
        "SELECT ledger_index FROM records ORDER BY ledger_index DESC",
    );
    let got: Vec<u64> = got.iter().map(|r| int(&r[0]) as u64).collect();
    let want: Vec<u64> = (0..all.len() as u64).rev().collect();
    same(&got, &want, "ORDER BY ledger_index DESC");
}
