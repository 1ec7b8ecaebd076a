//! The history: sync from the ledger, exact scope against brute force, retention, outputs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{append, expect, raw, records, Expected, Raw, DAY, T0};
use suho_history::{
    scope, scope_subjects, History, HistoryError, OutFormat, ScopeOptions, ScopeSummary, Selector,
    SyncOptions,
};
use suho_ledger::Layout;

/// A data directory with `n` records over `days` days, synced.
fn synced(n: usize, days: i64) -> (tempfile::TempDir, Layout, Vec<Raw>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lines = records(7, n, T0, days);
    append(dir.path(), &lines);
    let layout = Layout::new(dir.path());
    let report = History::sync(&layout, |_| {}).expect("sync");
    assert_eq!(report.records, n as u64);
    let all = lines
        .iter()
        .enumerate()
        .map(|(i, l)| raw(i as u64, l))
        .collect();
    (dir, layout, all)
}

fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.insert(p.clone(), fs::read(&p).expect("read"));
            }
        }
    }
    out
}

fn lookup_opts() -> ScopeOptions {
    ScopeOptions {
        country_of: Some(Arc::new(common::country)),
        top: usize::MAX,
        ..ScopeOptions::default()
    }
}

fn check(s: &ScopeSummary, e: &Expected, what: &str) {
    assert_eq!(s.records, e.records, "{what}: records");
    assert_eq!(s.subjects, e.subjects, "{what}: subjects");
    assert_eq!(s.fields, e.fields, "{what}: fields");
    assert_eq!(
        s.first_access,
        e.first.map(suho_record::format_rfc3339_ms),
        "{what}: first_access"
    );
    assert_eq!(
        s.last_access,
        e.last.map(suho_record::format_rfc3339_ms),
        "{what}: last_access"
    );
    assert_eq!(s.unlisted_subjects, e.unlisted, "{what}: unlisted");
    // Lists are the top entries by records (ties by id), each with its exact count.
    let top = |got: &[suho_history::Involved], want: &BTreeMap<String, u64>, name: &str| {
        let mut w: Vec<(u64, &String)> = want.iter().map(|(k, v)| (*v, k)).collect();
        w.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let g: Vec<(u64, &String)> = got.iter().map(|i| (i.records, &i.id)).collect();
        assert_eq!(g, w[..g.len()], "{what}: {name}");
        assert!(
            g.len() == w.len() || g.len() == 100,
            "{what}: {name}: {} listed of {}",
            g.len(),
            w.len()
        );
    };
    top(&s.credentials, &e.credentials, "credentials");
    assert_eq!(
        s.credential_count,
        e.credentials.len() as u64,
        "{what}: credential_count"
    );
    top(&s.ips, &e.ips, "ips");
    assert_eq!(s.ip_count, e.ips.len() as u64, "{what}: ip_count");
    top(&s.actors, &e.actors, "actors");
    assert_eq!(s.actor_count, e.actors.len() as u64, "{what}: actor_count");
    top(&s.signing_keys, &e.signing_keys, "signing_keys");
    assert_eq!(
        s.signing_key_count,
        e.signing_keys.len() as u64,
        "{what}: signing_key_count"
    );
    top(&s.countries, &e.countries, "countries");
}

fn selectors(all: &[Raw]) -> Vec<(&'static str, Selector)> {
    let net = |s: &str| s.parse().expect("cidr");
    vec![
        ("everything", Selector::default()),
        (
            "one credential",
            Selector {
                credentials: vec!["tok-07".into()],
                ..Selector::default()
            },
        ),
        (
            "two credentials",
            Selector {
                credentials: vec!["tok-07".into(), "tok-31".into()],
                ..Selector::default()
            },
        ),
        (
            "unknown credential",
            Selector {
                credentials: vec!["tok-nope".into()],
                ..Selector::default()
            },
        ),
        (
            "actor",
            Selector {
                actors: vec!["emp-003".into()],
                ..Selector::default()
            },
        ),
        (
            "signing key",
            Selector {
                signing_keys: vec!["kid-2".into()],
                ..Selector::default()
            },
        ),
        (
            "cidr",
            Selector {
                networks: vec![net("203.0.113.0/28")],
                ..Selector::default()
            },
        ),
        (
            "one ip",
            Selector {
                networks: vec![net("10.20.1.7/32")],
                ..Selector::default()
            },
        ),
        (
            "ipv6",
            Selector {
                networks: vec![net("2001:db8::/64")],
                ..Selector::default()
            },
        ),
        (
            "country",
            Selector {
                countries: vec!["us".into(), "CN".into()],
                ..Selector::default()
            },
        ),
        (
            "time range",
            Selector {
                since_ms: Some(T0 + DAY + 3_600_000),
                until_ms: Some(T0 + 2 * DAY + 7_200_000),
                ..Selector::default()
            },
        ),
        (
            "since only",
            Selector {
                since_ms: Some(T0 + 3 * DAY),
                ..Selector::default()
            },
        ),
        (
            "ledger indexes",
            Selector {
                ledger_indexes: Some(vec![
                    3,
                    4,
                    999,
                    5000,
                    12_345,
                    all.len() as u64 - 1,
                    u64::MAX,
                ]),
                ..Selector::default()
            },
        ),
        (
            "credential AND cidr AND time",
            Selector {
                credentials: vec!["tok-07".into(), "tok-12".into()],
                networks: vec![net("10.20.0.0/16")],
                since_ms: Some(T0 + DAY),
                ..Selector::default()
            },
        ),
        (
            "actor AND signing key AND country",
            Selector {
                actors: vec!["emp-001".into(), "emp-002".into()],
                signing_keys: vec!["kid-1".into()],
                countries: vec!["KR".into()],
                ..Selector::default()
            },
        ),
    ]
}

mod scope_counts {
    use super::*;

    #[test]
    fn every_selector_matches_a_brute_force_count_over_the_raw_records() {
        let (_dir, layout, all) = synced(30_000, 4);
        for (what, sel) in selectors(&all) {
            let s = scope(&layout, &sel, &lookup_opts()).expect("scope");
            check(&s, &expect(&all, &sel, true), what);
        }
    }

    #[test]
    fn small_row_groups_and_small_files_prune_and_still_count_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines = records(11, 30_000, T0, 3);
        append(dir.path(), &lines);
        let layout = Layout::new(dir.path());
        let writer = suho_history::WriterOptions {
            row_group_rows: 1_500,
            rows_per_file: 4_000,
            max_open: 1,
            ..Default::default()
        };
        History::sync_with(
            &layout,
            &SyncOptions {
                writer,
                ..SyncOptions::default()
            },
            |_| {},
        )
        .expect("sync");
        let all: Vec<Raw> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| raw(i as u64, l))
            .collect();
        for (what, sel) in selectors(&all) {
            let s = scope(&layout, &sel, &lookup_opts()).expect("scope");
            check(&s, &expect(&all, &sel, true), what);
            if what == "ledger indexes" {
                assert!(
                    s.scan.row_groups_read <= 6,
                    "{what}: statistics must rule out most row groups: {:?}",
                    s.scan
                );
            }
            if what == "time range" {
                // 25 of 72 hours: partitions and statistics leave about a third.
                assert!(
                    s.scan.row_groups_read <= 10 && s.scan.row_groups_read < s.scan.row_groups,
                    "{what}: {:?}",
                    s.scan
                );
            }
            if what == "unknown credential" {
                assert!(
                    s.scan.row_groups_read * 10 < s.scan.row_groups,
                    "{what}: bloom filters rule out row groups: {:?}",
                    s.scan
                );
            }
        }
    }

    #[test]
    fn one_thread_and_many_threads_agree() {
        let (_dir, layout, all) = synced(20_000, 5);
        let sel = Selector {
            signing_keys: vec!["kid-0".into(), "kid-3".into()],
            ..Selector::default()
        };
        let one = scope(
            &layout,
            &sel,
            &ScopeOptions {
                threads: 1,
                ..lookup_opts()
            },
        )
        .expect("scope");
        let four = scope(
            &layout,
            &sel,
            &ScopeOptions {
                threads: 4,
                ..lookup_opts()
            },
        )
        .expect("scope");
        assert_eq!(one, four);
        check(&one, &expect(&all, &sel, true), "kid-0|kid-3");
    }

    #[test]
    fn selectors_narrow_together() {
        let (_dir, layout, all) = synced(10_000, 3);
        let cred = Selector {
            credentials: vec!["tok-05".into()],
            ..Selector::default()
        };
        let both = Selector {
            credentials: vec!["tok-05".into()],
            actors: vec!["emp-004".into()],
            ..Selector::default()
        };
        let a = scope(&layout, &cred, &lookup_opts()).expect("scope");
        let b = scope(&layout, &both, &lookup_opts()).expect("scope");
        assert!(
            b.records > 0 && b.records < a.records,
            "the AND must narrow: {} vs {}",
            b.records,
            a.records
        );
        assert_eq!(
            b.actors.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["emp-004"]
        );
        assert_eq!(
            b.credentials
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>(),
            ["tok-05"]
        );
        let by_hand = all
            .iter()
            .filter(|r| r.credential.as_deref() == Some("tok-05") && r.actor == "emp-004")
            .count() as u64;
        assert_eq!(b.records, by_hand);
    }

    #[test]
    fn a_country_without_a_lookup_reads_the_country_column_which_sync_leaves_empty() {
        let (_dir, layout, all) = synced(3_000, 2);
        let sel = Selector {
            countries: vec!["KR".into()],
            ..Selector::default()
        };
        let s = scope(&layout, &sel, &ScopeOptions::default()).expect("scope");
        check(&s, &expect(&all, &sel, false), "country without lookup");
        assert_eq!(s.records, 0);
    }

    #[test]
    fn share_of_customers_and_top_lists() {
        let (_dir, layout, all) = synced(5_000, 2);
        let opts = ScopeOptions {
            customers: Some(2_000),
            top: 3,
            ..ScopeOptions::default()
        };
        let s = scope(&layout, &Selector::default(), &opts).expect("scope");
        let e = expect(&all, &Selector::default(), false);
        assert_eq!(s.share_of_customers, Some(e.subjects as f64 / 2_000.0));
        assert_eq!(s.customers, Some(2_000));
        assert_eq!(s.credentials.len(), 3);
        assert_eq!(s.credential_count, e.credentials.len() as u64);
        let mut top: Vec<(u64, String)> =
            e.credentials.iter().map(|(k, v)| (*v, k.clone())).collect();
        top.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        assert_eq!(s.credentials[0].records, top[0].0);
        assert_eq!(s.credentials[0].id, top[0].1);
        let json = serde_json::to_value(&s).expect("json");
        for key in [
            "subjects",
            "records",
            "fields",
            "first_access",
            "last_access",
            "share_of_customers",
        ] {
            assert!(json.get(key).is_some(), "summary JSON lacks {key}: {json}");
        }
    }

    #[test]
    fn bad_selectors_are_refused_with_a_reason() {
        let (_dir, layout, _) = synced(100, 1);
        let bad_country = Selector {
            countries: vec!["Korea".into()],
            ..Selector::default()
        };
        let err = scope(&layout, &bad_country, &ScopeOptions::default()).expect_err("bad country");
        assert!(err.to_string().contains("ISO 3166"), "{err}");
        let empty = Selector {
            since_ms: Some(T0 + DAY),
            until_ms: Some(T0),
            ..Selector::default()
        };
        let err = scope(&layout, &empty, &ScopeOptions::default()).expect_err("empty range");
        assert!(err.to_string().contains("time range is empty"), "{err}");
    }

    #[test]
    fn an_empty_history_scopes_to_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = scope(
            &Layout::new(dir.path()),
            &Selector::default(),
            &ScopeOptions::default(),
        )
        .expect("scope");
        assert_eq!(
            (s.records, s.subjects, s.first_access.clone()),
            (0, 0, None)
        );
        assert_eq!(s.scan.oldest_day, None);
    }
}

mod syncing {
    use super::*;

    #[test]
    fn a_second_sync_changes_nothing() {
        let (dir, layout, _) = synced(8_000, 3);
        let before = files_under(&dir.path().join("history"));
        assert!(
            before.len() >= 3,
            "one file per day at least: {:?}",
            before.keys()
        );
        let again = History::sync(&layout, |_| {}).expect("sync");
        assert_eq!(
            (again.records, again.files.len(), again.from, again.to),
            (0, 0, 8_000, 8_000)
        );
        assert_eq!(files_under(&dir.path().join("history")), before);
        assert_eq!(History::indexed_through(&layout).expect("state"), 8_000);
    }

    #[test]
    fn files_are_day_partitions_named_by_their_first_ledger_index() {
        let (dir, _layout, all) = synced(4_000, 2);
        let files = files_under(&dir.path().join("history"));
        for path in files.keys() {
            let day = path
                .parent()
                .and_then(Path::file_name)
                .and_then(|n| n.to_str())
                .expect("partition");
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            let first: u64 = name
                .trim_start_matches("part-")
                .trim_end_matches(".parquet")
                .parse()
                .expect("index");
            let r = &all[first as usize];
            assert_eq!(
                day,
                format!("date={}", &suho_record::format_rfc3339_ms(r.time)[..10])
            );
        }
    }

    #[test]
    fn an_incremental_sync_adds_only_the_new_records() {
        let (dir, layout, mut all) = synced(6_000, 2);
        let more = records(99, 4_000, T0 + DAY, 3);
        append(dir.path(), &more);
        all.extend(
            more.iter()
                .enumerate()
                .map(|(i, l)| raw(6_000 + i as u64, l)),
        );
        let mut calls = 0;
        let report = History::sync(&layout, |_| calls += 1).expect("sync");
        assert_eq!(
            (report.from, report.to, report.records),
            (6_000, 10_000, 4_000)
        );
        assert!(calls >= 1);
        for (what, sel) in selectors(&all) {
            let s = scope(&layout, &sel, &lookup_opts()).expect("scope");
            check(&s, &expect(&all, &sel, true), what);
        }
    }

    #[test]
    fn sync_stops_at_the_signed_checkpoint_or_the_given_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines = records(3, 2_000, T0, 1);
        append(dir.path(), &lines);
        let layout = Layout::new(dir.path());
        let r = History::sync_with(
            &layout,
            &SyncOptions {
                upto: Some(1_500),
                ..SyncOptions::default()
            },
            |_| {},
        )
        .expect("sync");
        assert_eq!((r.records, r.to), (1_500, 1_500));
        let r = History::sync(&layout, |_| {}).expect("sync");
        assert_eq!((r.from, r.to, r.records), (1_500, 2_000, 500));
        let s = scope(&layout, &Selector::default(), &ScopeOptions::default()).expect("scope");
        assert_eq!(s.records, 2_000);
    }

    #[test]
    fn leftovers_of_an_interrupted_sync_are_removed_and_rewritten() {
        let (dir, layout, all) = synced(3_000, 2);
        let history = dir.path().join("history");
        // An interrupted sync: a temporary file, and a file past the state (renamed, state not updated).
        let part = fs::read_dir(&history)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.is_dir())
            .expect("a partition");
        fs::write(part.join(".part-00000000000000003000.parquet.tmp"), b"half").expect("write");
        let real = files_under(&history).into_keys().next().expect("a file");
        fs::copy(&real, part.join("part-00000000000000003000.parquet")).expect("copy");
        let r = History::sync(&layout, |_| {}).expect("sync");
        assert_eq!(r.leftovers_removed, 2);
        assert_eq!(r.records, 0);
        let s = scope(&layout, &Selector::default(), &ScopeOptions::default()).expect("scope");
        check(
            &s,
            &expect(&all, &Selector::default(), false),
            "after cleanup",
        );
    }

    #[test]
    fn a_history_ahead_of_its_ledger_is_refused_not_trusted() {
        let (_dir, layout, _) = synced(500, 1);
        let other = tempfile::tempdir().expect("tempdir");
        append(other.path(), &records(5, 100, T0, 1));
        // A smaller ledger put in place of the one the history was built from.
        fs::remove_dir_all(layout.wal()).expect("rm wal");
        fs::remove_dir_all(layout.ledger()).expect("rm ledger");
        fs::rename(other.path().join("wal"), layout.wal()).expect("mv wal");
        fs::rename(other.path().join("ledger"), layout.ledger()).expect("mv ledger");
        let err = History::sync(&layout, |_| {}).expect_err("ahead");
        assert!(err.to_string().contains("the ledger was replaced"), "{err}");
    }

    #[test]
    fn a_sync_while_another_holds_the_lock_is_refused() {
        let (dir, layout, _) = synced(100, 1);
        let lock = fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("history/LOCK"))
            .expect("lock file");
        lock.try_lock().expect("take the lock");
        let err = History::sync(&layout, |_| {}).expect_err("busy");
        assert!(matches!(err, HistoryError::Busy { .. }), "{err}");
        let err = History::prune(&layout, 1, T0).expect_err("busy");
        assert!(matches!(err, HistoryError::Busy { .. }), "{err}");
        lock.unlock().expect("unlock");
        History::sync(&layout, |_| {}).expect("sync after unlock");
    }

    #[test]
    fn the_writer_refuses_rows_out_of_ledger_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut w =
            suho_history::HistoryWriter::new(dir.path(), suho_history::WriterOptions::default())
                .expect("writer");
        let line = records(1, 1, T0, 1).remove(0);
        let rec = suho_record::parse_record(line.as_bytes()).expect("record");
        w.push(5, &rec).expect("first row");
        let err = w.push(5, &rec).expect_err("repeat");
        assert!(err.to_string().contains("ledger order"), "{err}");
    }
}

mod retention {
    use super::*;

    #[test]
    fn pruning_deletes_only_partitions_older_than_the_horizon() {
        let (dir, layout, all) = synced(10_000, 5);
        // Now is the last day of data: keep 2 days back, so days 0..=1 go and 2..=4 stay.
        let now = T0 + 4 * DAY + 3_600_000;
        let report = History::prune(&layout, 2, now).expect("prune");
        assert_eq!(report.horizon, "2025-06-22");
        let dates: Vec<&str> = report.partitions.iter().map(|p| p.date.as_str()).collect();
        assert_eq!(dates, ["2025-06-20", "2025-06-21"]);
        let gone: Vec<&Raw> = all.iter().filter(|r| r.time < T0 + 2 * DAY).collect();
        assert_eq!(report.records, gone.len() as u64);
        assert_eq!(
            report.partitions[0].first_index,
            gone.iter()
                .filter(|r| r.time < T0 + DAY)
                .map(|r| r.index)
                .min()
        );
        assert_eq!(
            report.partitions[1].last_index,
            gone.iter()
                .filter(|r| r.time >= T0 + DAY)
                .map(|r| r.index)
                .max()
        );
        assert!(!dir.path().join("history/date=2025-06-21").exists());
        assert!(dir.path().join("history/date=2025-06-22").exists());

        let kept: Vec<Raw> = all
            .iter()
            .filter(|r| r.time >= T0 + 2 * DAY)
            .cloned()
            .collect();
        let s = scope(&layout, &Selector::default(), &ScopeOptions::default()).expect("scope");
        check(
            &s,
            &expect(&kept, &Selector::default(), false),
            "after pruning",
        );
        assert_eq!(s.scan.oldest_day.as_deref(), Some("2025-06-22"));
        // A later sync does not bring the pruned days back.
        assert_eq!(History::sync(&layout, |_| {}).expect("sync").records, 0);
        assert!(History::prune(&layout, 2, now)
            .expect("prune")
            .partitions
            .is_empty());
    }

    #[test]
    fn the_default_keeps_a_year() {
        let (_dir, layout, _) = synced(1_000, 2);
        let r = History::prune(&layout, suho_history::DEFAULT_KEEP_DAYS, T0 + 364 * DAY)
            .expect("prune");
        assert!(r.partitions.is_empty());
        let r = History::prune(&layout, suho_history::DEFAULT_KEEP_DAYS, T0 + 367 * DAY)
            .expect("prune");
        assert_eq!(r.partitions.len(), 2);
        assert_eq!(r.records, 1_000);
    }
}

mod per_subject {
    use super::*;

    type Row = (BTreeSet<String>, String, String, u64, Vec<u64>);

    fn expected_rows(e: &Expected) -> BTreeMap<String, Row> {
        e.per_subject
            .iter()
            .map(|(s, (f, first, last, n, ix))| {
                (
                    s.clone(),
                    (
                        f.clone(),
                        suho_record::format_rfc3339_ms(*first),
                        suho_record::format_rfc3339_ms(*last),
                        *n,
                        ix.clone(),
                    ),
                )
            })
            .collect()
    }

    fn split(s: &str) -> Vec<String> {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split(';').map(str::to_string).collect()
        }
    }

    /// A minimal RFC 4180 reader for the test.
    fn csv_rows(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut cell = String::new();
        let mut quoted = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => row.push(std::mem::take(&mut cell)),
                ('\n', false) => {
                    row.push(std::mem::take(&mut cell));
                    rows.push(std::mem::take(&mut row));
                }
                (c, _) => cell.push(c),
            }
        }
        rows
    }

    #[test]
    fn csv_ndjson_and_parquet_lists_round_trip() {
        let (dir, layout, all) = synced(12_000, 3);
        let sel = Selector {
            signing_keys: vec!["kid-1".into()],
            ..Selector::default()
        };
        let (summary, list) =
            scope_subjects(&layout, &sel, &ScopeOptions::default()).expect("scope");
        let e = expect(&all, &sel, false);
        check(&summary, &e, "kid-1");
        let want = expected_rows(&e);
        assert_eq!(list.len() as u64, summary.subjects);
        assert!(
            want.contains_key("c,\"quoted\""),
            "the data must exercise CSV quoting"
        );

        let csv = dir.path().join("out.csv");
        assert_eq!(
            list.write(&csv, OutFormat::from_path(&csv).expect("csv"))
                .expect("write"),
            want.len() as u64
        );
        let rows = csv_rows(&fs::read_to_string(&csv).expect("read"));
        assert_eq!(
            rows[0],
            [
                "subject",
                "fields",
                "first_access",
                "last_access",
                "accesses",
                "ledger_indexes"
            ]
        );
        let got: BTreeMap<String, Row> = rows[1..]
            .iter()
            .map(|r| {
                let ix = split(&r[5])
                    .iter()
                    .map(|x| x.parse().expect("index"))
                    .collect();
                (
                    r[0].clone(),
                    (
                        split(&r[1]).into_iter().collect(),
                        r[2].clone(),
                        r[3].clone(),
                        r[4].parse().expect("n"),
                        ix,
                    ),
                )
            })
            .collect();
        assert_eq!(got, want);
        let subjects_in_order: Vec<&String> = rows[1..].iter().map(|r| &r[0]).collect();
        assert!(
            subjects_in_order.windows(2).all(|w| w[0] < w[1]),
            "sorted by subject"
        );

        let nd = dir.path().join("out.ndjson");
        list.write(&nd, OutFormat::Ndjson).expect("write");
        let got: BTreeMap<String, Row> = fs::read_to_string(&nd)
            .expect("read")
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                let strs = |k: &str| {
                    v[k].as_array()
                        .expect("array")
                        .iter()
                        .map(|x| x.as_str().expect("str").to_string())
                        .collect::<BTreeSet<_>>()
                };
                let ix = v["ledger_indexes"]
                    .as_array()
                    .expect("array")
                    .iter()
                    .map(|x| x.as_u64().expect("u64"))
                    .collect();
                let s = |k: &str| v[k].as_str().expect("str").to_string();
                (
                    s("subject"),
                    (
                        strs("fields"),
                        s("first_access"),
                        s("last_access"),
                        v["accesses"].as_u64().expect("n"),
                        ix,
                    ),
                )
            })
            .collect();
        assert_eq!(got, want);

        let pq = dir.path().join("out.parquet");
        list.write(&pq, OutFormat::Parquet).expect("write");
        let got = read_subject_parquet(&pq);
        assert_eq!(got, want);
        assert!(!dir.path().join("out.parquet.tmp").exists());
    }

    fn read_subject_parquet(path: &Path) -> BTreeMap<String, Row> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{TimestampMillisecondType, UInt64Type};
        use arrow_array::Array;
        let f = fs::File::open(path).expect("open");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .expect("parquet")
            .build()
            .expect("reader");
        let mut out = BTreeMap::new();
        for b in reader {
            let b = b.expect("batch");
            let subject = b
                .column_by_name("subject")
                .expect("subject")
                .as_string::<i32>()
                .clone();
            let fields = b
                .column_by_name("fields")
                .expect("fields")
                .as_list::<i32>()
                .clone();
            let first = b
                .column_by_name("first_access")
                .expect("first")
                .as_primitive::<TimestampMillisecondType>()
                .clone();
            let last = b
                .column_by_name("last_access")
                .expect("last")
                .as_primitive::<TimestampMillisecondType>()
                .clone();
            let n = b
                .column_by_name("accesses")
                .expect("accesses")
                .as_primitive::<UInt64Type>()
                .clone();
            let ix = b
                .column_by_name("ledger_indexes")
                .expect("ix")
                .as_list::<i32>()
                .clone();
            for i in 0..b.num_rows() {
                let fl = fields.value(i);
                let fl = fl.as_string::<i32>();
                let il = ix.value(i);
                let il = il.as_primitive::<UInt64Type>();
                out.insert(
                    subject.value(i).to_string(),
                    (
                        (0..fl.len()).map(|j| fl.value(j).to_string()).collect(),
                        suho_record::format_rfc3339_ms(first.value(i)),
                        suho_record::format_rfc3339_ms(last.value(i)),
                        n.value(i),
                        il.values().to_vec(),
                    ),
                );
            }
        }
        out
    }
}

mod format {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn history_files_carry_the_documented_schema_statistics_and_bloom_filters() {
        let (dir, _layout, all) = synced(5_000, 1);
        let files = files_under(&dir.path().join("history"));
        // The first day's file (a few records of the last minutes spill into the next day).
        let path = files.keys().next().expect("file");
        let first_day: Vec<&Raw> = all.iter().filter(|r| r.time < T0 + DAY).collect();
        let file = fs::File::open(path).expect("open");
        let opts = parquet::file::serialized_reader::ReadOptionsBuilder::new()
            .with_reader_properties(
                parquet::file::properties::ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build();
        let reader = SerializedFileReader::new_with_options(file, opts).expect("parquet");
        let md = reader.metadata();
        let schema = md.file_metadata().schema_descr();
        let leaves: Vec<String> = schema.columns().iter().map(|c| c.path().string()).collect();
        assert_eq!(
            leaves,
            [
                "ledger_index",
                "time",
                "actor",
                "action",
                "resource",
                "src_ip",
                "country",
                "credential",
                "signing_key",
                "subjects.list.element",
                "subject_count",
                "fields.list.element",
                "purpose",
                "outcome",
                "id"
            ]
        );
        let time = schema.column(1);
        let logical = format!("{:?}", time.logical_type_ref());
        assert!(
            logical.contains("Timestamp")
                && logical.contains("is_adjusted_to_u_t_c: true")
                && logical.contains("MILLIS"),
            "{logical}"
        );
        assert_eq!(md.file_metadata().num_rows(), first_day.len() as i64);
        let rg = md.row_group(0);
        let sorting = rg.sorting_columns().expect("sorting columns");
        assert_eq!((sorting[0].column_idx, sorting[0].descending), (0, false));
        let stats = rg.column(0).statistics().expect("ledger_index statistics");
        assert_eq!(stats.min_bytes_opt(), Some(&0i64.to_le_bytes()[..]));
        let last = first_day.iter().map(|r| r.index).max().expect("rows") as i64;
        assert_eq!(stats.max_bytes_opt(), Some(&last.to_le_bytes()[..]));
        assert!(rg.column(1).statistics().is_some(), "time statistics");
        let encodings = format!("{:?}", rg.column(7).encodings().collect::<Vec<_>>());
        assert!(
            encodings.contains("RLE_DICTIONARY"),
            "credential is dictionary-encoded: {encodings}"
        );
        let rgr = reader.get_row_group(0).expect("row group");
        let bloom = rgr
            .get_column_bloom_filter(7)
            .expect("a bloom filter on credential");
        let some_cred = all
            .iter()
            .find_map(|r| r.credential.clone())
            .expect("a credential");
        assert!(bloom.check(some_cred.as_str()));
        assert!(md
            .file_metadata()
            .key_value_metadata()
            .is_some_and(|kv| kv.iter().any(|k| k.key == "suho.history.version")));
    }

    /// DuckDB reads the same files and agrees; skipped where the `duckdb` Python module is absent
    /// (it is not a test dependency; the schema test above always runs), unless
    /// `SUHO_REQUIRE_DUCKDB` is set, as `.ci/run` does once it has installed the module.
    #[test]
    fn duckdb_reads_the_history_when_it_is_installed() {
        let has = std::process::Command::new("python3")
            .args(["-c", "import duckdb"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has {
            assert!(
                std::env::var_os("SUHO_REQUIRE_DUCKDB").is_none(),
                "SUHO_REQUIRE_DUCKDB is set but `python3 -c 'import duckdb'` fails"
            );
            eprintln!("duckdb not importable: skipping the DuckDB cross-check");
            return;
        }
        let (dir, layout, all) = synced(8_000, 3);
        let glob = dir.path().join("history/**/*.parquet");
        let q = format!(
            "import duckdb\nc = duckdb.connect()\nrows = c.execute(\"SELECT count(*) FROM read_parquet('{g}') WHERE credential = 'tok-07'\").fetchall()[0][0]\nsubs = c.execute(\"SELECT count(DISTINCT s) FROM (SELECT unnest(subjects) AS s FROM read_parquet('{g}') WHERE credential = 'tok-07')\").fetchall()[0][0]\nprint(rows, subs)\n",
            g = glob.display()
        );
        let out = std::process::Command::new("python3")
            .args(["-c", &q])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "duckdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let sel = Selector {
            credentials: vec!["tok-07".into()],
            ..Selector::default()
        };
        let s = scope(&layout, &sel, &ScopeOptions::default()).expect("scope");
        let e = expect(&all, &sel, false);
        assert_eq!(text.trim(), format!("{} {}", e.records, e.subjects));
        assert_eq!((s.records, s.subjects), (e.records, e.subjects));
    }
}

#[test]
fn subject_counts_at_the_top_of_the_range_saturate_instead_of_wrapping() {
    // The contract allows any u64 subject_count; two at the maximum must not add up to a
    // small number of unlisted subjects.
    let dir = tempfile::tempdir().expect("tempdir");
    let line = |i: u64| {
        format!(
            r#"{{"time":{},"actor":"emp-001","action":"export","resource":"r","subjects":["c-{i}"],"subject_count":18446744073709551615}}"#,
            T0 + i as i64
        )
    };
    append(dir.path(), &[line(1), line(2)]);
    let layout = Layout::new(dir.path());
    History::sync(&layout, |_| {}).expect("sync");
    let s = scope(&layout, &Selector::default(), &ScopeOptions::default()).expect("scope");
    assert_eq!(s.records, 2);
    assert_eq!(s.unlisted_subjects, u64::MAX);
}
