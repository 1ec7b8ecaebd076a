//! The registry store as an operator uses it: registry lines in, facts out.

use std::io::{self, BufRead, Read};

use suho_registry::{
    parse_registry_line, ChangeKind, HistoryFilter, HistoryRow, KeyStatus, LoadReport, Millis,
    Orphan, OwnerStatus, PrincipalStatus, RegistryError, RegistryRecord, RegistryStore, Validity,
};
use tempfile::TempDir;

fn ms(rfc3339: &str) -> Millis {
    suho_record::parse_rfc3339(rfc3339).expect("test time")
}

/// Wall-clock times of the loads in these scenarios.
const DAY1: &str = "2025-07-01T09:00:00Z";
const DAY2: &str = "2025-07-02T09:00:00Z";

fn open() -> (TempDir, RegistryStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RegistryStore::open(dir.path()).expect("open store");
    (dir, store)
}

fn load(store: &mut RegistryStore, source: &str, now: &str, lines: &str) -> LoadReport {
    store.load(lines.as_bytes(), source, ms(now)).expect("load")
}

/// History of one record, newest first, as (change, source).
fn story(store: &RegistryStore, type_: &str, id: &str) -> Vec<(ChangeKind, String)> {
    rows(store, type_, id)
        .into_iter()
        .map(|r| (r.change, r.source))
        .collect()
}

fn rows(store: &RegistryStore, type_: &str, id: &str) -> Vec<HistoryRow> {
    store
        .history(HistoryFilter {
            type_: Some(type_.into()),
            id: Some(id.into()),
            ..Default::default()
        })
        .expect("history")
}

fn all_history(store: &RegistryStore) -> Vec<HistoryRow> {
    store.history(HistoryFilter::default()).expect("history")
}

fn change(kind: ChangeKind, source: &str) -> (ChangeKind, String) {
    (kind, source.to_string())
}

const DAY1_FILE: &str = r#"
{"type":"principal","id":"emp-0042","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.20.0.0/16"]}
{"type":"signing_key","id":"kid-2024-02","owner":"svc-auth","status":"active","issuance":"registered","created_at":"2024-02-01T00:00:00Z"}
{"type":"credential","id":"tok-9c01","principal":"emp-0042","kind":"access_token","signing_key":"kid-2024-02","issued_at":"2025-06-24T00:00:00Z","expires_at":"2025-06-25T00:00:00Z"}
"#;

mod load_and_history {
    use super::*;

    #[test]
    fn new_records_are_granted_with_no_before_and_the_record_after() {
        let (_dir, mut store) = open();
        let report = load(&mut store, "registry-day1.ndjson", DAY1, DAY1_FILE);
        assert_eq!(
            report,
            LoadReport {
                inserted: 3,
                updated: 0,
                unchanged: 0,
                rejected: vec![],
                kept_ends: vec![],
                warnings: vec![],
                earliest_valid_from: None,
            }
        );

        let tok = rows(&store, "credential", "tok-9c01");
        assert_eq!(tok.len(), 1);
        let row = &tok[0];
        assert_eq!(row.change, ChangeKind::Granted);
        assert_eq!(row.source, "registry-day1.ndjson");
        assert_eq!(row.recorded_at, ms(DAY1));
        assert_eq!(row.before, None);
        assert_eq!(row.after["principal"], "emp-0042");
        assert_eq!(row.after["expires_at"], "2025-06-25T00:00:00.000Z");

        let reg = store.snapshot().expect("snapshot");
        assert_eq!(reg.principals.len(), 1);
        assert_eq!(reg.keys.len(), 1);
        assert_eq!(reg.credentials.len(), 1);
        let emp = reg.principal("emp-0042").expect("emp-0042");
        assert_eq!(emp.countries, ["KR"]);
        assert_eq!(emp.networks[0].to_string(), "10.20.0.0/16");
    }

    #[test]
    fn a_second_load_records_changes_and_revocations_with_before_and_after() {
        let (_dir, mut store) = open();
        load(&mut store, "registry-day1.ndjson", DAY1, DAY1_FILE);
        // Day 2: the token's lifetime is extended, the key is revoked, the agent changes role
        // and a second agent leaves.
        let report = load(
            &mut store,
            "registry-day2.ndjson",
            DAY2,
            r#"
{"type":"principal","id":"emp-0042","kind":"employee","status":"active","role":"cs-lead","countries":["KR"],"networks":["10.20.0.0/16"]}
{"type":"signing_key","id":"kid-2024-02","owner":"svc-auth","status":"revoked","revoked_at":"2025-07-01T12:00:00Z","created_at":"2024-02-01T00:00:00Z"}
{"type":"credential","id":"tok-9c01","principal":"emp-0042","kind":"access_token","signing_key":"kid-2024-02","issued_at":"2025-06-24T00:00:00Z","expires_at":"2025-06-26T00:00:00Z"}
{"type":"principal","id":"emp-0131","kind":"employee","status":"active"}
{"type":"principal","id":"emp-0131","kind":"employee","status":"departed","departed_at":"2025-05-31T18:00:00+09:00"}
"#,
        );
        assert_eq!(
            (report.inserted, report.updated, report.unchanged),
            (1, 4, 0)
        );
        assert!(report.rejected.is_empty());

        assert_eq!(
            story(&store, "credential", "tok-9c01"),
            [
                change(ChangeKind::Changed, "registry-day2.ndjson"),
                change(ChangeKind::Granted, "registry-day1.ndjson"),
            ]
        );
        let tok = &rows(&store, "credential", "tok-9c01")[0];
        let before = tok.before.as_ref().expect("a change has a before");
        assert_eq!(before["expires_at"], "2025-06-25T00:00:00.000Z");
        assert_eq!(tok.after["expires_at"], "2025-06-26T00:00:00.000Z");
        assert_eq!(tok.recorded_at, ms(DAY2));

        let key = &rows(&store, "signing_key", "kid-2024-02")[0];
        assert_eq!(key.change, ChangeKind::Revoked);
        assert_eq!(key.before.as_ref().expect("before")["status"], "active");
        assert_eq!(key.after["status"], "revoked");

        let lead = &rows(&store, "principal", "emp-0042")[0];
        assert_eq!(lead.change, ChangeKind::Changed);
        assert_eq!(lead.before.as_ref().expect("before")["role"], "cs-agent");
        assert_eq!(lead.after["role"], "cs-lead");

        assert_eq!(
            story(&store, "principal", "emp-0131"),
            [
                change(ChangeKind::Offboarded, "registry-day2.ndjson"),
                change(ChangeKind::Granted, "registry-day2.ndjson"),
            ]
        );

        let reg = store.snapshot().expect("snapshot");
        assert_eq!(
            reg.credential("tok-9c01").expect("tok").expires_at,
            Some(ms("2025-06-26T00:00:00Z"))
        );
        let key = reg.key("kid-2024-02").expect("key");
        assert_eq!(key.status_at(ms("2025-07-01T11:59:59Z")), KeyStatus::Active);
        assert_eq!(
            key.status_at(ms("2025-07-01T12:00:00Z")),
            KeyStatus::Revoked
        );
        let gone = reg.principal("emp-0131").expect("emp-0131");
        assert_eq!(
            gone.status_at(ms("2025-05-31T09:00:00Z")),
            PrincipalStatus::Departed
        );
        assert_eq!(
            gone.status_at(ms("2025-05-31T08:59:59Z")),
            PrincipalStatus::Active
        );
    }

    #[test]
    fn loading_the_same_registry_again_changes_nothing_and_writes_no_history() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, DAY1_FILE);
        let before = all_history(&store);

        let again = load(&mut store, "registry.ndjson", DAY2, DAY1_FILE);
        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 3));

        // The same facts written differently (field order, time zone, epoch ms) are the same
        // record.
        let same = load(
            &mut store,
            "registry-rewritten.ndjson",
            DAY2,
            r#"{"expires_at":"2025-06-25T09:00:00+09:00","issued_at":1750723200000,"signing_key":"kid-2024-02","kind":"access_token","principal":"emp-0042","id":"tok-9c01","type":"credential"}"#,
        );
        assert_eq!((same.inserted, same.updated, same.unchanged), (0, 0, 1));

        assert_eq!(all_history(&store), before);
    }

    #[test]
    fn a_changed_record_can_be_loaded_back_from_its_history_row() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, DAY1_FILE);
        let reg = store.snapshot().expect("snapshot");
        for row in all_history(&store) {
            let line = serde_json::to_vec(&row.after).expect("json");
            let rec = parse_registry_line(&line).expect("history `after` is a registry line");
            let current = match &rec {
                RegistryRecord::Principal(p) => {
                    RegistryRecord::Principal(reg.principal(&p.id).expect("p").clone())
                }
                RegistryRecord::SigningKey(k) => {
                    RegistryRecord::SigningKey(reg.key(&k.id).expect("k").clone())
                }
                RegistryRecord::Credential(c) => {
                    RegistryRecord::Credential(reg.credential(&c.id).expect("c").clone())
                }
            };
            assert_eq!(rec, current);
        }
    }

    #[test]
    fn history_can_be_narrowed_by_type_time_and_count() {
        let (_dir, mut store) = open();
        load(&mut store, "day1", DAY1, DAY1_FILE);
        load(
            &mut store,
            "day2",
            DAY2,
            r#"{"type":"credential","id":"tok-9c01","principal":"emp-0042","kind":"access_token","revoked_at":"2025-07-02T08:00:00Z"}"#,
        );

        let credentials = store
            .history(HistoryFilter {
                type_: Some("credential".into()),
                ..Default::default()
            })
            .expect("history");
        assert_eq!(credentials.len(), 2);
        assert!(credentials.iter().all(|r| r.type_ == "credential"));

        let since_day2 = store
            .history(HistoryFilter {
                since: Some(ms(DAY2)),
                ..Default::default()
            })
            .expect("history");
        assert_eq!(since_day2.len(), 1);
        assert_eq!(since_day2[0].change, ChangeKind::Revoked);

        let newest = store
            .history(HistoryFilter {
                limit: Some(2),
                ..Default::default()
            })
            .expect("history");
        assert_eq!(newest.len(), 2);
        assert_eq!(newest[0].source, "day2", "newest first");
        assert!(newest[0].seq > newest[1].seq);

        let err = store
            .history(HistoryFilter {
                type_: Some("principals".into()),
                ..Default::default()
            })
            .expect_err("unknown type");
        assert!(err.to_string().contains("principals"), "{err}");
    }

    #[test]
    fn a_record_listed_twice_in_one_file_is_granted_then_changed_in_file_order() {
        let (_dir, mut store) = open();
        let report = load(
            &mut store,
            "registry.ndjson",
            DAY1,
            r#"{"type":"credential","id":"tok-1","principal":"emp-1","kind":"session"}
{"type":"principal","id":"emp-1","kind":"employee","status":"active"}
{"type":"credential","id":"tok-1","principal":"emp-1","kind":"session","revoked_at":"2025-07-01T08:00:00Z"}"#,
        );
        assert_eq!(
            (report.inserted, report.updated, report.unchanged),
            (2, 1, 0)
        );
        let tok = rows(&store, "credential", "tok-1");
        assert_eq!(
            tok.iter().map(|r| r.change).collect::<Vec<_>>(),
            [ChangeKind::Revoked, ChangeKind::Granted]
        );
        assert_eq!(tok[0].before.as_ref(), Some(&tok[1].after));
        let reg = store.snapshot().expect("snapshot");
        assert_eq!(
            reg.credential("tok-1").expect("tok-1").revoked_at,
            Some(ms("2025-07-01T08:00:00Z"))
        );
    }

    #[test]
    fn since_finds_the_rows_of_later_loads_even_after_the_clock_steps_back() {
        let (_dir, mut store) = open();
        load(&mut store, "day1", DAY1, DAY1_FILE);
        load(
            &mut store,
            "day2",
            DAY2,
            r#"{"type":"principal","id":"emp-0042","kind":"employee","status":"suspended"}"#,
        );
        // The clock steps back a day: the rows keep the newest time already recorded, so
        // recorded_at never decreases along seq.
        load(
            &mut store,
            "skewed",
            DAY1,
            r#"{"type":"principal","id":"emp-0042","kind":"employee","status":"active"}"#,
        );
        let since = |t: &str| -> Vec<String> {
            store
                .history(HistoryFilter {
                    since: Some(ms(t)),
                    ..Default::default()
                })
                .expect("history")
                .into_iter()
                .map(|r| r.source)
                .collect()
        };
        assert_eq!(since("2025-06-01T00:00:00Z").len(), 5);
        assert_eq!(since(DAY1).len(), 5);
        assert_eq!(since("2025-07-01T09:00:00.001Z"), ["skewed", "day2"]);
        assert_eq!(since(DAY2), ["skewed", "day2"]);
        assert!(since("2025-07-03T00:00:00Z").is_empty());

        let skewed = &rows(&store, "principal", "emp-0042")[0];
        assert_eq!(skewed.source, "skewed");
        assert_eq!(skewed.recorded_at, ms(DAY2));

        let one_record_since_day2 = store
            .history(HistoryFilter {
                id: Some("emp-0042".into()),
                since: Some(ms(DAY2)),
                ..Default::default()
            })
            .expect("history");
        assert_eq!(one_record_since_day2.len(), 2);
    }

    #[test]
    fn history_of_an_unknown_id_is_empty() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, DAY1_FILE);
        assert!(rows(&store, "credential", "tok-nope").is_empty());
        let any_type = store
            .history(HistoryFilter {
                id: Some("emp-0042".into()),
                ..Default::default()
            })
            .expect("history");
        assert_eq!(any_type.len(), 1);
        assert_eq!(any_type[0].type_, "principal");
    }

    #[test]
    fn history_rows_serialize_with_the_record_type_and_rfc3339_times() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, DAY1_FILE);
        let row = &rows(&store, "signing_key", "kid-2024-02")[0];
        let json = serde_json::to_value(row).expect("json");
        assert_eq!(json["type"], "signing_key");
        assert_eq!(json["id"], "kid-2024-02");
        assert_eq!(json["change"], "granted");
        assert_eq!(json["recorded_at"], "2025-07-01T09:00:00.000Z");
        assert_eq!(json["before"], serde_json::Value::Null);
        assert_eq!(json["after"]["owner"], "svc-auth");
    }
}

mod bad_lines {
    use super::*;

    #[test]
    fn bad_lines_are_reported_by_number_and_reason_while_good_lines_load() {
        let (_dir, mut store) = open();
        let file = [
            r#"{"type":"principal","id":"emp-0001","kind":"employee","status":"active"}"#,
            r#""#,
            r#"this is not json"#,
            r#"{"type":"principal","id":"emp-0002","kind":"robot","status":"active"}"#,
            r#"{"type":"credential","id":"tok-1","kind":"api_key"}"#,
            r#"{"type":"credential","id":"tok-2","principal":"emp-0001","kind":"api_key","issued_at":"yesterday"}"#,
            r#"{"type":"printer","id":"lp-1"}"#,
            r#"{"type":"principal","id":"","kind":"employee","status":"active"}"#,
            r#"{"type":"credential","id":"tok-4","principal":"emp-0001","kind":"api_key","expires_at":true}"#,
            r#"   "#,
            r#"{"type":"credential","id":"tok-3","principal":"emp-0001","kind":"session"}"#,
        ]
        .join("\n");
        let report = load(&mut store, "registry.ndjson", DAY1, &file);
        assert_eq!(
            (report.inserted, report.updated, report.unchanged),
            (2, 0, 0)
        );

        let numbers: Vec<u64> = report.rejected.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [3, 4, 5, 6, 7, 8, 9]);
        let reason = |line: u64| {
            report
                .rejected
                .iter()
                .find(|(n, _)| *n == line)
                .map(|(_, r)| r.as_str())
                .expect("rejected line")
        };
        assert!(reason(3).contains("expected"), "{}", reason(3));
        assert!(reason(4).contains("robot"), "{}", reason(4));
        assert!(reason(5).contains("principal"), "{}", reason(5));
        assert!(reason(6).contains("yesterday"), "{}", reason(6));
        assert!(reason(7).contains("printer"), "{}", reason(7));
        assert!(reason(8).contains("\"id\""), "{}", reason(8));
        assert!(reason(9).contains("RFC 3339"), "{}", reason(9));
        assert!(
            !reason(4).contains("at line 1"),
            "the JSON parser's line is always 1 and only confuses: {}",
            reason(4)
        );

        let reg = store.snapshot().expect("snapshot");
        assert!(reg.principal("emp-0001").is_some());
        assert!(reg.credential("tok-3").is_some());
        assert!(reg.principal("emp-0002").is_none());
        assert_eq!(
            all_history(&store).len(),
            2,
            "rejected lines write no history"
        );
    }

    /// A reader that fails after handing out some good lines.
    struct FailsMidway {
        good: io::Cursor<Vec<u8>>,
    }

    impl Read for FailsMidway {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.good.read(buf)? {
                0 => Err(io::Error::other("disk went away")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn an_input_that_fails_to_read_loads_nothing() {
        let (_dir, mut store) = open();
        let reader = io::BufReader::new(FailsMidway {
            good: io::Cursor::new(DAY1_FILE.trim_start().as_bytes().to_vec()),
        });
        let err = store
            .load(
                Box::new(reader) as Box<dyn BufRead>,
                "registry.ndjson",
                ms(DAY1),
            )
            .expect_err("read error");
        let msg = err.to_string();
        assert!(matches!(err, RegistryError::Read { .. }), "{msg}");
        assert!(
            msg.contains("registry.ndjson") && msg.contains("disk went away"),
            "{msg}"
        );

        let reg = store.snapshot().expect("snapshot");
        assert!(reg.principals.is_empty() && reg.keys.is_empty() && reg.credentials.is_empty());
        assert!(all_history(&store).is_empty());
    }
}

/// Coupang, 2025: an engineer left, the signing key he held stayed active.
const COUPANG: &str = r#"
{"type":"principal","id":"emp-0131","kind":"employee","status":"active","role":"backend-engineer"}
{"type":"principal","id":"emp-0042","kind":"employee","status":"active","role":"cs-agent"}
{"type":"signing_key","id":"kid-2024-02","owner":"emp-0131","status":"active","created_at":"2024-02-01T00:00:00Z"}
{"type":"signing_key","id":"kid-2023-01","owner":"emp-0131","status":"revoked","revoked_at":"2024-01-01T00:00:00Z"}
{"type":"signing_key","id":"kid-cs","owner":"emp-0042","status":"active"}
{"type":"credential","id":"tok-live","principal":"emp-0131","kind":"refresh_token","signing_key":"kid-2024-02","issued_at":"2025-05-01T00:00:00Z","expires_at":"2026-05-01T00:00:00Z"}
{"type":"credential","id":"tok-old","principal":"emp-0131","kind":"access_token","revoked_at":"2025-03-01T00:00:00Z"}
{"type":"credential","id":"key-ci","principal":"emp-0131","kind":"api_key","revoked_at":"2025-12-31T00:00:00Z"}
{"type":"credential","id":"tok-cs","principal":"emp-0042","kind":"access_token","expires_at":"2026-01-01T00:00:00Z"}
"#;

mod offboard {
    use super::*;

    const LEFT: &str = "2025-05-31T18:00:00+09:00";

    #[test]
    fn offboarding_revokes_every_credential_and_key_the_principal_held() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, COUPANG);

        let report = store
            .offboard("emp-0131", ms(LEFT), "kim.security", ms(DAY2))
            .expect("offboard");
        assert_eq!(report.principal, "emp-0131");
        assert_eq!(report.at, ms(LEFT));
        assert!(!report.already_departed);
        // key-ci was due to be revoked in December: it is revoked at the departure instead.
        assert_eq!(report.credentials_revoked, ["key-ci", "tok-live"]);
        assert_eq!(report.keys_revoked, ["kid-2024-02"]);
        assert_eq!(report.already_revoked, ["tok-old", "kid-2023-01"]);

        let reg = store.snapshot().expect("snapshot");
        let emp = reg.principal("emp-0131").expect("emp-0131");
        assert_eq!(emp.status, PrincipalStatus::Departed);
        assert_eq!(emp.departed_at, Some(ms(LEFT)));
        let after = ms(LEFT) + 1;
        for id in ["tok-live", "key-ci"] {
            let c = reg.credential(id).expect(id);
            assert_eq!(c.revoked_at, Some(ms(LEFT)), "{id}");
            assert_eq!(c.validity_at(after), Validity::Revoked, "{id}");
        }
        assert_eq!(
            reg.credential("tok-old").expect("tok-old").revoked_at,
            Some(ms("2025-03-01T00:00:00Z")),
            "an earlier revocation is kept"
        );
        let key = reg.key("kid-2024-02").expect("key");
        assert_eq!(key.status, KeyStatus::Revoked);
        assert_eq!(key.status_at(after), KeyStatus::Revoked);
        assert_eq!(
            reg.key("kid-2023-01").expect("old key").revoked_at,
            Some(ms("2024-01-01T00:00:00Z"))
        );
        // The colleague keeps everything.
        assert_eq!(
            reg.key("kid-cs").expect("kid-cs").status_at(after),
            KeyStatus::Active
        );
        assert_eq!(reg.credential("tok-cs").expect("tok-cs").revoked_at, None);

        let by = "offboard by kim.security";
        assert_eq!(
            story(&store, "principal", "emp-0131")[0],
            change(ChangeKind::Offboarded, by)
        );
        assert_eq!(
            story(&store, "credential", "tok-live")[0],
            change(ChangeKind::Revoked, by)
        );
        assert_eq!(
            story(&store, "signing_key", "kid-2024-02")[0],
            change(ChangeKind::Revoked, by)
        );
        let offboard_rows: Vec<HistoryRow> = all_history(&store)
            .into_iter()
            .filter(|r| r.source == by)
            .collect();
        assert_eq!(
            offboard_rows.len(),
            4,
            "principal, two credentials, one key"
        );
        assert!(offboard_rows.iter().all(|r| r.recorded_at == ms(DAY2)));
        let key_ci = &rows(&store, "credential", "key-ci")[0];
        assert_eq!(
            key_ci.before.as_ref().expect("before")["revoked_at"],
            "2025-12-31T00:00:00.000Z"
        );
        assert_eq!(key_ci.after["revoked_at"], "2025-05-31T09:00:00.000Z");
    }

    #[test]
    fn an_older_export_loaded_after_offboarding_cannot_reopen_the_door() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, COUPANG);
        store
            .offboard("emp-0131", ms(LEFT), "kim.security", ms(DAY2))
            .expect("offboard");
        // Yesterday's HR export, loaded again: he is active, his token and key are live, and
        // his role changed.
        let report = load(
            &mut store,
            "hr-export-old.ndjson",
            "2025-07-03T09:00:00Z",
            &COUPANG.replace(r#""role":"backend-engineer""#, r#""role":"platform""#),
        );
        assert_eq!(report.rejected, Vec::<(u64, String)>::new());
        let kept: Vec<&str> = report.kept_ends.iter().map(|(_, w)| w.as_str()).collect();
        assert!(
            kept.iter()
                .any(|w| w.contains("emp-0131") && w.contains("stays departed")),
            "{kept:#?}"
        );
        assert!(kept.iter().any(|w| w.contains("tok-live")), "{kept:#?}");
        assert!(kept.iter().any(|w| w.contains("kid-2024-02")), "{kept:#?}");
        let reg = store.snapshot().expect("snapshot");
        let after = ms(LEFT) + 1;
        let emp = reg.principal("emp-0131").expect("emp-0131");
        assert_eq!(emp.status, PrincipalStatus::Departed);
        assert_eq!(emp.departed_at, Some(ms(LEFT)));
        assert_eq!(
            emp.role.as_deref(),
            Some("platform"),
            "the rest of the line applies"
        );
        assert_eq!(
            reg.credential("tok-live")
                .expect("tok-live")
                .validity_at(after),
            Validity::Revoked
        );
        assert_eq!(
            reg.key("kid-2024-02").expect("key").status_at(after),
            KeyStatus::Revoked
        );
        // A later departure time is a postponement, kept at the earlier one too.
        let later = COUPANG.replace(
            r#""status":"active","role":"backend-engineer""#,
            r#""status":"departed","role":"backend-engineer","departed_at":"2025-09-01T00:00:00Z""#,
        );
        load(&mut store, "later.ndjson", "2025-07-04T09:00:00Z", &later);
        let reg = store.snapshot().expect("snapshot");
        assert_eq!(
            reg.principal("emp-0131").expect("emp").departed_at,
            Some(ms(LEFT))
        );
    }

    #[test]
    fn a_timeless_end_can_be_given_its_time_but_not_undone() {
        let (_dir, mut store) = open();
        load(
            &mut store,
            "a.ndjson",
            DAY1,
            r#"{"type":"principal","id":"emp-7","kind":"employee","status":"departed"}
{"type":"signing_key","id":"kid-x","status":"retired"}"#,
        );
        // The fix the load's warning asks for: the times. The key is also revoked later.
        let report = load(
            &mut store,
            "b.ndjson",
            DAY2,
            r#"{"type":"principal","id":"emp-7","kind":"employee","status":"departed","departed_at":"2025-05-31T18:00:00+09:00"}
{"type":"signing_key","id":"kid-x","status":"revoked","revoked_at":"2025-06-10T00:00:00Z"}"#,
        );
        let kept: Vec<u64> = report.kept_ends.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            kept,
            [2],
            "only the key's retirement was kept: {:#?}",
            report.kept_ends
        );
        let reg = store.snapshot().expect("snapshot");
        assert_eq!(
            reg.principal("emp-7").expect("emp-7").departed_at,
            Some(ms("2025-05-31T18:00:00+09:00"))
        );
        let key = reg.key("kid-x").expect("kid-x");
        assert_eq!(
            key.status_at(ms("2025-06-01T00:00:00Z")),
            KeyStatus::Retired
        );
        assert_eq!(
            key.status_at(ms("2025-06-10T00:00:00Z")),
            KeyStatus::Revoked
        );
    }

    #[test]
    fn an_end_status_without_its_time_loads_with_a_warning() {
        let (_dir, mut store) = open();
        let report = load(
            &mut store,
            "registry.ndjson",
            DAY1,
            r#"{"type":"principal","id":"emp-7","kind":"employee","status":"departed"}
{"type":"principal","id":"emp-8","kind":"employee","status":"departed","departed_at":"2025-05-31T18:00:00+09:00"}
{"type":"signing_key","id":"kid-x","status":"revoked"}"#,
        );
        assert_eq!(report.inserted, 3);
        let lines: Vec<u64> = report.warnings.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [1, 3], "{:#?}", report.warnings);
        assert!(report.warnings[0]
            .1
            .contains("departed without departed_at"));
    }

    #[test]
    fn offboarding_twice_changes_nothing_the_second_time() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, COUPANG);
        store
            .offboard("emp-0131", ms(LEFT), "kim.security", ms(DAY2))
            .expect("first");
        let history = all_history(&store);

        let again = store
            .offboard("emp-0131", ms(LEFT), "lee.security", ms(DAY2))
            .expect("second");
        assert!(again.already_departed);
        assert!(again.credentials_revoked.is_empty() && again.keys_revoked.is_empty());
        assert_eq!(
            again.already_revoked,
            [
                "key-ci",
                "tok-live",
                "tok-old",
                "kid-2023-01",
                "kid-2024-02"
            ]
        );
        assert_eq!(all_history(&store), history);
    }

    #[test]
    fn an_earlier_recorded_departure_is_kept() {
        let (_dir, mut store) = open();
        load(
            &mut store,
            "registry.ndjson",
            DAY1,
            r#"{"type":"principal","id":"emp-7","kind":"contractor","status":"departed","departed_at":"2025-04-30T00:00:00Z"}
{"type":"credential","id":"tok-7","principal":"emp-7","kind":"session"}"#,
        );
        let report = store
            .offboard(
                "emp-7",
                ms("2025-06-30T00:00:00Z"),
                "kim.security",
                ms(DAY2),
            )
            .expect("offboard");
        assert!(report.already_departed);
        assert_eq!(report.credentials_revoked, ["tok-7"]);
        let reg = store.snapshot().expect("snapshot");
        assert_eq!(
            reg.principal("emp-7").expect("emp-7").departed_at,
            Some(ms("2025-04-30T00:00:00Z")),
            "moving the departure later would legitimise May's accesses"
        );
    }

    #[test]
    fn offboarding_an_unknown_principal_is_refused_and_changes_nothing() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, COUPANG);
        let history = all_history(&store);
        let err = store
            .offboard("emp-9999", ms(LEFT), "kim.security", ms(DAY2))
            .expect_err("unknown principal");
        assert!(matches!(err, RegistryError::UnknownPrincipal { .. }));
        assert!(err.to_string().contains("emp-9999"), "{err}");
        assert_eq!(all_history(&store), history);
    }

    #[test]
    fn the_report_serializes_times_as_rfc3339() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, COUPANG);
        let report = store
            .offboard("emp-0131", ms(LEFT), "kim.security", ms(DAY2))
            .expect("offboard");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["at"], "2025-05-31T09:00:00.000Z");
        assert_eq!(json["keys_revoked"][0], "kid-2024-02");
    }
}

mod orphans {
    use super::*;

    fn summary(orphans: &[Orphan]) -> Vec<(&str, &str, Option<&str>, OwnerStatus)> {
        orphans
            .iter()
            .map(|o| (o.type_, o.id.as_str(), o.owner.as_deref(), o.owner_status))
            .collect()
    }

    /// The registry says emp-0131 left on 31 May, but nobody revoked what he held.
    const DEPARTED_NOT_REVOKED: &str = r#"
{"type":"principal","id":"emp-0131","kind":"employee","status":"departed","departed_at":"2025-05-31T18:00:00+09:00"}
"#;

    #[test]
    fn a_departed_engineers_active_signing_key_is_an_orphan_and_his_revoked_one_is_not() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, COUPANG);
        load(&mut store, "hr-export.ndjson", DAY1, DEPARTED_NOT_REVOKED);

        let found = store.orphans(ms(DAY2)).expect("orphans");
        assert_eq!(
            summary(&found),
            [
                (
                    "credential",
                    "key-ci",
                    Some("emp-0131"),
                    OwnerStatus::Departed
                ),
                (
                    "credential",
                    "tok-live",
                    Some("emp-0131"),
                    OwnerStatus::Departed
                ),
                (
                    "signing_key",
                    "kid-2024-02",
                    Some("emp-0131"),
                    OwnerStatus::Departed
                ),
            ]
        );
        let key = found.iter().find(|o| o.id == "kid-2024-02").expect("key");
        assert_eq!(key.owner_departed_at, Some(ms("2025-05-31T09:00:00Z")));
        assert_eq!(
            key.valid_until, None,
            "nothing will stop this key by itself"
        );
        let tok = found.iter().find(|o| o.id == "tok-live").expect("token");
        assert_eq!(tok.valid_until, Some(ms("2026-05-01T00:00:00Z")));
        let ci = found.iter().find(|o| o.id == "key-ci").expect("api key");
        assert_eq!(ci.valid_until, None, "revocation scheduled, but no expiry");

        let json = serde_json::to_value(key).expect("json");
        assert_eq!(json["type"], "signing_key");
        assert_eq!(json["owner_status"], "departed");
        assert_eq!(json["owner_departed_at"], "2025-05-31T09:00:00.000Z");
    }

    #[test]
    fn orphans_are_judged_at_the_time_asked() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, COUPANG);
        load(&mut store, "hr-export.ndjson", DAY1, DEPARTED_NOT_REVOKED);
        // Before he left, everything he held was his to hold.
        assert!(store
            .orphans(ms("2025-05-01T00:00:00Z"))
            .expect("orphans")
            .is_empty());
        // After key-ci's scheduled revocation only the token and the key remain.
        let later = store.orphans(ms("2026-01-01T00:00:00Z")).expect("orphans");
        assert_eq!(
            summary(&later),
            [
                (
                    "credential",
                    "tok-live",
                    Some("emp-0131"),
                    OwnerStatus::Departed
                ),
                (
                    "signing_key",
                    "kid-2024-02",
                    Some("emp-0131"),
                    OwnerStatus::Departed
                ),
            ]
        );
    }

    #[test]
    fn offboarding_closes_the_door() {
        let (_dir, mut store) = open();
        load(&mut store, "registry.ndjson", DAY1, COUPANG);
        load(&mut store, "hr-export.ndjson", DAY1, DEPARTED_NOT_REVOKED);
        assert_eq!(store.orphans(ms(DAY2)).expect("orphans").len(), 3);
        store
            .offboard(
                "emp-0131",
                ms("2025-05-31T18:00:00+09:00"),
                "kim.security",
                ms(DAY2),
            )
            .expect("offboard");
        assert_eq!(store.orphans(ms(DAY2)).expect("orphans"), []);
    }

    #[test]
    fn suspended_unregistered_and_missing_owners_are_orphans_too() {
        let (_dir, mut store) = open();
        load(
            &mut store,
            "registry.ndjson",
            DAY1,
            r#"
{"type":"principal","id":"ctr-9","kind":"contractor","status":"suspended","suspended_at":"2025-06-01T00:00:00Z"}
{"type":"principal","id":"svc-auth","kind":"service","status":"active"}
{"type":"credential","id":"sess-9","principal":"ctr-9","kind":"session"}
{"type":"credential","id":"tok-ghost","principal":"emp-ghost","kind":"access_token"}
{"type":"credential","id":"tok-expired","principal":"emp-ghost","kind":"access_token","expires_at":"2025-06-01T00:00:00Z"}
{"type":"signing_key","id":"kid-nobody","status":"active"}
{"type":"signing_key","id":"kid-retired","owner":"emp-ghost","status":"retired","retired_at":"2025-01-01T00:00:00Z"}
{"type":"signing_key","id":"kid-auth","owner":"svc-auth","status":"active"}
"#,
        );
        let found = store.orphans(ms(DAY2)).expect("orphans");
        assert_eq!(
            summary(&found),
            [
                ("signing_key", "kid-nobody", None, OwnerStatus::NoOwner),
                (
                    "credential",
                    "sess-9",
                    Some("ctr-9"),
                    OwnerStatus::Suspended
                ),
                (
                    "credential",
                    "tok-ghost",
                    Some("emp-ghost"),
                    OwnerStatus::NotRegistered
                ),
                // Retired, not revoked: it still verifies the tokens it signed.
                (
                    "signing_key",
                    "kid-retired",
                    Some("emp-ghost"),
                    OwnerStatus::NotRegistered
                ),
            ]
        );
        let sess = &found[1];
        assert_eq!(sess.owner_suspended_at, Some(ms("2025-06-01T00:00:00Z")));
        assert_eq!(sess.owner_departed_at, None);
    }
}

mod persistence {
    use super::*;

    #[test]
    fn the_registry_and_its_history_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (principals, keys, credentials, history) = {
            let mut store = RegistryStore::open(dir.path()).expect("open");
            load(&mut store, "registry.ndjson", DAY1, COUPANG);
            store
                .offboard(
                    "emp-0131",
                    ms("2025-05-31T18:00:00+09:00"),
                    "kim.security",
                    ms(DAY2),
                )
                .expect("offboard");
            let reg = store.snapshot().expect("snapshot");
            (
                reg.principals,
                reg.keys,
                reg.credentials,
                all_history(&store),
            )
        };
        let store = RegistryStore::open(dir.path()).expect("reopen");
        let reg = store.snapshot().expect("snapshot");
        assert_eq!(reg.principals, principals);
        assert_eq!(reg.keys, keys);
        assert_eq!(reg.credentials, credentials);
        assert_eq!(all_history(&store), history);
        assert_eq!(history.len(), 9 + 4);
    }

    #[test]
    fn the_data_directory_is_created_and_the_database_is_private_and_in_wal_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("suho-data");
        let mut store = RegistryStore::open(&data).expect("open");
        load(&mut store, "registry.ndjson", DAY1, DAY1_FILE);
        let db = data.join(suho_registry::REGISTRY_DB_FILE);
        assert_eq!(store.path(), db);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&db)
                .expect("db file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
            let wal = data.join("registry.db-wal");
            if wal.exists() {
                let mode = std::fs::metadata(&wal).expect("wal").permissions().mode();
                assert_eq!(mode & 0o077, 0, "WAL mode {mode:o}");
            }
        }

        let conn = rusqlite::Connection::open(&db).expect("sqlite");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_database_from_a_newer_suho_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(RegistryStore::open(dir.path()).expect("create"));
        let db = dir.path().join(suho_registry::REGISTRY_DB_FILE);
        rusqlite::Connection::open(&db)
            .expect("sqlite")
            .pragma_update(None, "user_version", 99)
            .expect("bump version");
        let err = RegistryStore::open(dir.path()).expect_err("newer schema");
        assert!(
            matches!(err, RegistryError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("registry.db"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join(suho_registry::REGISTRY_DB_FILE);
        std::fs::write(
            &db,
            b"this is a text file, not SQLite, and it is long enough",
        )
        .expect("write");
        let err = RegistryStore::open(dir.path()).expect_err("not a database");
        assert!(err.to_string().contains("registry.db"), "{err}");
    }
}
