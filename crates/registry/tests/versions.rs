//! Registry lines with `valid_from`: versions in event time, kept by the store and read back
//! by the snapshot detection takes.

use suho_registry::{
    HistoryFilter, KeyStatus, LoadReport, Millis, PrincipalStatus, RegistryStore, Validity,
};
use tempfile::TempDir;

fn ms(rfc3339: &str) -> Millis {
    suho_record::parse_rfc3339(rfc3339).expect("test time")
}

fn open() -> (TempDir, RegistryStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = RegistryStore::open(dir.path()).expect("open store");
    (dir, store)
}

fn load(store: &mut RegistryStore, now: &str, lines: &str) -> LoadReport {
    let report = store
        .load(lines.as_bytes(), "hr.ndjson", ms(now))
        .expect("load");
    assert_eq!(report.rejected, Vec::<(u64, String)>::new(), "{lines}");
    report
}

const AGENT: &str = r#"{"type":"principal","id":"emp-7","kind":"employee","status":"active","role":"cs-agent","countries":["KR"],"networks":["10.20.0.0/16"]}"#;

/// The role and status of emp-7 at `t`, from a fresh snapshot.
fn at(store: &RegistryStore, t: &str) -> (String, PrincipalStatus) {
    let reg = store.snapshot().expect("snapshot");
    let p = reg.principal_at("emp-7", ms(t)).expect("emp-7");
    (p.role.clone().unwrap_or_default(), p.status_at(ms(t)))
}

#[test]
fn lines_without_valid_from_keep_one_version_that_holds_at_every_time() {
    let (_dir, mut store) = open();
    load(&mut store, "2025-07-01T09:00:00Z", AGENT);
    load(
        &mut store,
        "2025-07-02T09:00:00Z",
        &AGENT.replace("cs-agent", "fraud-analyst"),
    );
    let reg = store.snapshot().expect("snapshot");
    assert_eq!(reg.principal_versions("emp-7").len(), 1);
    for t in [
        "2020-01-01T00:00:00Z",
        "2025-07-01T00:00:00Z",
        "2030-01-01T00:00:00Z",
    ] {
        assert_eq!(at(&store, t).0, "fraud-analyst", "at {t}");
    }
    assert!(reg.earlier_principals.is_empty());
}

#[test]
fn a_reorg_loaded_late_holds_from_its_valid_from_and_the_old_role_before() {
    let (dir, mut store) = open();
    load(&mut store, "2025-07-01T09:00:00Z", AGENT);
    // The re-org took effect on 1 June; the export arrives a month later.
    let reorg = AGENT.replace(
        r#""role":"cs-agent""#,
        r#""role":"fraud-analyst","valid_from":"2025-06-01T00:00:00+09:00""#,
    );
    let report = load(&mut store, "2025-07-02T09:00:00Z", &reorg);
    assert_eq!(report.updated, 1);
    assert_eq!(report.earliest_valid_from, Some(ms("2025-05-31T15:00:00Z")));
    assert_eq!(at(&store, "2025-05-31T14:59:59Z").0, "cs-agent");
    assert_eq!(at(&store, "2025-05-31T15:00:00Z").0, "fraud-analyst");
    // The current version is the newest one; loading the same line again changes nothing.
    let reg = store.snapshot().expect("snapshot");
    assert_eq!(
        reg.principal("emp-7").and_then(|p| p.role.as_deref()),
        Some("fraud-analyst")
    );
    assert_eq!(
        load(&mut store, "2025-07-03T09:00:00Z", &reorg).unchanged,
        1
    );
    // A daily export without valid_from changes the current version from when it began,
    // and leaves the role before the re-org alone.
    load(
        &mut store,
        "2025-07-04T09:00:00Z",
        &AGENT
            .replace("cs-agent", "fraud-analyst")
            .replace("10.20.0.0/16", "10.30.0.0/16"),
    );
    let reg = store.snapshot().expect("snapshot");
    let versions = reg.principal_versions("emp-7");
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].role.as_deref(), Some("cs-agent"));
    assert_eq!(versions[1].networks[0].to_string(), "10.30.0.0/16");
    assert_eq!(versions[1].valid_from, Some(ms("2025-05-31T15:00:00Z")));
    // The history shows every version with its valid_from.
    let rows = store
        .history(HistoryFilter {
            id: Some("emp-7".into()),
            ..HistoryFilter::default()
        })
        .expect("history");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1].after["valid_from"], "2025-05-31T15:00:00.000Z");
    assert_eq!(rows[1].valid_from, Some(ms("2025-05-31T15:00:00Z")));
    assert_eq!(rows[2].valid_from, None);
    // What scope and notify show of the actor: every version, oldest first.
    let shown = store.principal_versions("emp-7").expect("versions");
    let shown: Vec<(Option<&str>, Option<Millis>)> = shown
        .iter()
        .map(|p| (p.role.as_deref(), p.valid_from))
        .collect();
    assert_eq!(
        shown,
        vec![
            (Some("cs-agent"), None),
            (Some("fraud-analyst"), Some(ms("2025-05-31T15:00:00Z")))
        ]
    );
    assert!(store
        .principal_versions("nobody")
        .expect("versions")
        .is_empty());
    // And all of it survives reopening.
    drop(store);
    let store = RegistryStore::open(dir.path()).expect("reopen");
    assert_eq!(at(&store, "2025-05-20T00:00:00Z").0, "cs-agent");
    assert_eq!(at(&store, "2025-06-20T00:00:00Z").0, "fraud-analyst");
}

#[test]
fn a_network_move_and_an_ownership_change_hold_from_their_valid_from() {
    let (_dir, mut store) = open();
    load(
        &mut store,
        "2025-07-01T09:00:00Z",
        r#"{"type":"principal","id":"svc-batch","kind":"service","status":"active","networks":["10.1.0.0/16"]}
{"type":"signing_key","id":"kid-1","owner":"emp-1","status":"active"}
{"type":"credential","id":"key-9","principal":"emp-1","kind":"api_key"}"#,
    );
    load(
        &mut store,
        "2025-07-10T09:00:00Z",
        r#"{"type":"principal","id":"svc-batch","kind":"service","status":"active","networks":["192.0.2.0/24"],"valid_from":"2025-07-05T00:00:00Z"}
{"type":"signing_key","id":"kid-1","owner":"emp-2","status":"active","valid_from":"2025-07-06T00:00:00Z"}
{"type":"credential","id":"key-9","principal":"emp-2","kind":"api_key","valid_from":"2025-07-07T00:00:00Z"}"#,
    );
    let reg = store.snapshot().expect("snapshot");
    let nets = |t: &str| reg.principal_at("svc-batch", ms(t)).expect("svc").networks[0].to_string();
    assert_eq!(nets("2025-07-04T23:59:59Z"), "10.1.0.0/16");
    assert_eq!(nets("2025-07-05T00:00:00Z"), "192.0.2.0/24");
    let owner = |t: &str| reg.key_at("kid-1", ms(t)).and_then(|k| k.owner.clone());
    assert_eq!(owner("2025-07-05T12:00:00Z").as_deref(), Some("emp-1"));
    assert_eq!(owner("2025-07-06T12:00:00Z").as_deref(), Some("emp-2"));
    let holder = |t: &str| {
        reg.credential_at("key-9", ms(t))
            .map(|c| c.principal.clone())
    };
    assert_eq!(holder("2025-07-06T12:00:00Z").as_deref(), Some("emp-1"));
    assert_eq!(holder("2025-07-07T12:00:00Z").as_deref(), Some("emp-2"));
}

#[test]
fn a_rehire_is_active_from_its_valid_from_and_departed_in_between() {
    let (_dir, mut store) = open();
    load(
        &mut store,
        "2025-03-01T09:00:00Z",
        r#"{"type":"principal","id":"emp-7","kind":"employee","status":"departed","role":"cs-agent","departed_at":"2025-02-28T18:00:00+09:00"}"#,
    );
    // Rehired on 1 June; HR keeps the old departed_at on the line.
    let report = load(
        &mut store,
        "2025-06-02T09:00:00Z",
        r#"{"type":"principal","id":"emp-7","kind":"employee","status":"active","role":"cs-lead","departed_at":"2025-02-28T18:00:00+09:00","valid_from":"2025-06-01T09:00:00+09:00"}"#,
    );
    assert_eq!(report.kept_ends, Vec::<(u64, String)>::new());
    let active = PrincipalStatus::Active;
    let departed = PrincipalStatus::Departed;
    assert_eq!(
        at(&store, "2025-02-01T00:00:00Z"),
        ("cs-agent".into(), active)
    );
    assert_eq!(
        at(&store, "2025-04-01T00:00:00Z"),
        ("cs-agent".into(), departed)
    );
    assert_eq!(
        at(&store, "2025-05-31T23:59:59Z"),
        ("cs-agent".into(), departed)
    );
    assert_eq!(
        at(&store, "2025-06-01T00:00:00Z"),
        ("cs-lead".into(), active)
    );
    assert_eq!(
        at(&store, "2026-01-01T00:00:00Z"),
        ("cs-lead".into(), active)
    );
    // The rehired principal owns nothing orphaned, and can be offboarded again.
    let r = store
        .offboard(
            "emp-7",
            ms("2025-09-01T00:00:00Z"),
            "sec",
            ms("2025-09-01T01:00:00Z"),
        )
        .expect("offboard");
    assert!(!r.already_departed);
    assert_eq!(at(&store, "2025-08-31T00:00:00Z").1, active);
    assert_eq!(at(&store, "2025-09-02T00:00:00Z").1, departed);
    assert_eq!(at(&store, "2025-04-01T00:00:00Z").1, departed);
}

#[test]
fn a_rehire_dated_before_the_departure_cannot_undo_it() {
    let (_dir, mut store) = open();
    load(
        &mut store,
        "2025-03-01T09:00:00Z",
        r#"{"type":"principal","id":"emp-7","kind":"employee","status":"departed","departed_at":"2025-02-28T09:00:00Z"}"#,
    );
    let report = load(
        &mut store,
        "2025-03-02T09:00:00Z",
        r#"{"type":"principal","id":"emp-7","kind":"employee","status":"active","valid_from":"2025-02-01T00:00:00Z"}"#,
    );
    assert_eq!(report.kept_ends.len(), 1, "{report:?}");
    assert_eq!(
        at(&store, "2025-03-01T00:00:00Z").1,
        PrincipalStatus::Departed
    );
}

#[test]
fn an_offboarding_dated_before_the_latest_reorg_covers_the_days_between() {
    let (_dir, mut store) = open();
    load(&mut store, "2025-05-01T09:00:00Z", AGENT);
    load(
        &mut store,
        "2025-05-02T09:00:00Z",
        &AGENT.replace(
            r#""role":"cs-agent""#,
            r#""role":"cs-lead","valid_from":"2025-06-01T00:00:00Z""#,
        ),
    );
    // HR says he left on 20 May, before the re-org he was part of took effect.
    store
        .offboard(
            "emp-7",
            ms("2025-05-20T00:00:00Z"),
            "sec",
            ms("2025-06-10T00:00:00Z"),
        )
        .expect("offboard");
    assert_eq!(
        at(&store, "2025-05-19T00:00:00Z"),
        ("cs-agent".into(), PrincipalStatus::Active)
    );
    assert_eq!(
        at(&store, "2025-05-25T00:00:00Z"),
        ("cs-agent".into(), PrincipalStatus::Departed)
    );
    assert_eq!(
        at(&store, "2025-06-05T00:00:00Z").1,
        PrincipalStatus::Departed
    );
}

#[test]
fn history_loaded_late_slots_in_and_the_current_version_stays() {
    let (_dir, mut store) = open();
    load(
        &mut store,
        "2025-07-01T09:00:00Z",
        &AGENT.replace(
            r#""role":"cs-agent""#,
            r#""role":"cs-lead","valid_from":"2025-06-01T00:00:00Z""#,
        ),
    );
    // March's export, loaded after June's.
    let march = AGENT.replace(
        r#""role":"cs-agent""#,
        r#""role":"trainee","valid_from":"2025-03-01T00:00:00Z""#,
    );
    assert_eq!(load(&mut store, "2025-07-02T09:00:00Z", &march).updated, 1);
    assert_eq!(at(&store, "2025-04-01T00:00:00Z").0, "trainee");
    assert_eq!(at(&store, "2025-06-02T00:00:00Z").0, "cs-lead");
    let reg = store.snapshot().expect("snapshot");
    assert_eq!(
        reg.principal("emp-7").and_then(|p| p.role.as_deref()),
        Some("cs-lead")
    );
    assert_eq!(
        load(&mut store, "2025-07-03T09:00:00Z", &march).unchanged,
        1
    );
}

#[test]
fn revocations_stay_one_way_across_versions() {
    let (_dir, mut store) = open();
    load(
        &mut store,
        "2025-07-01T09:00:00Z",
        r#"{"type":"signing_key","id":"kid-1","owner":"emp-1","status":"revoked","revoked_at":"2025-06-01T00:00:00Z"}
{"type":"credential","id":"tok-1","principal":"emp-1","kind":"api_key","revoked_at":"2025-06-01T00:00:00Z"}"#,
    );
    let report = load(
        &mut store,
        "2025-07-02T09:00:00Z",
        r#"{"type":"signing_key","id":"kid-1","owner":"emp-2","status":"active","valid_from":"2025-07-01T00:00:00Z"}
{"type":"credential","id":"tok-1","principal":"emp-2","kind":"api_key","valid_from":"2025-07-01T00:00:00Z"}"#,
    );
    assert_eq!(report.kept_ends.len(), 2, "{report:?}");
    let reg = store.snapshot().expect("snapshot");
    let t = ms("2025-07-05T00:00:00Z");
    assert_eq!(
        reg.key_at("kid-1", t).expect("key").status_at(t),
        KeyStatus::Revoked
    );
    assert_eq!(
        reg.credential_at("tok-1", t).expect("cred").validity_at(t),
        Validity::Revoked
    );
}

#[test]
fn bad_valid_from_values_are_rejected_with_line_number_and_reason() {
    let (_dir, mut store) = open();
    let lines = [
        AGENT.replace(r#""role""#, r#""valid_from":"yesterday","role""#),
        AGENT.replace(r#""role""#, r#""valid_from":"2025-13-01T00:00:00Z","role""#),
        AGENT.replace(r#""role""#, r#""valid_from":"2025-06-01T00:00:00","role""#),
        AGENT.replace(r#""role""#, r#""valid_from":1.5,"role""#),
        AGENT.replace(r#""role""#, r#""valid_from":-1,"role""#),
        AGENT.replace(r#""role""#, r#""valid_from":true,"role""#),
        AGENT.replace(r#""role""#, r#""valid_from":"2025-06-01T00:00:00Z","role""#),
    ];
    let report = store
        .load(
            lines.join("\n").as_bytes(),
            "hr.ndjson",
            ms("2025-07-01T00:00:00Z"),
        )
        .expect("load");
    let numbers: Vec<u64> = report.rejected.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5, 6], "{report:#?}");
    for (n, why) in &report.rejected {
        assert!(why.starts_with("\"valid_from\": "), "line {n}: {why}");
    }
    assert!(report.rejected[0].1.contains("yesterday"), "{report:#?}");
    assert!(report.rejected[1].1.contains("month"), "{report:#?}");
    assert!(report.rejected[4].1.contains("outside"), "{report:#?}");
    assert_eq!(report.inserted, 1);
}

#[test]
fn a_version_1_registry_gains_valid_from_when_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(suho_registry::REGISTRY_DB_FILE);
    {
        let conn = rusqlite::Connection::open(&path).expect("sqlite");
        conn.execute_batch(
            "CREATE TABLE principal (id TEXT NOT NULL PRIMARY KEY, last_seq INTEGER NOT NULL,
                kind TEXT NOT NULL, status TEXT NOT NULL, role TEXT, departed_at INTEGER,
                suspended_at INTEGER, countries TEXT, networks TEXT) WITHOUT ROWID;
             CREATE TABLE signing_key (id TEXT NOT NULL PRIMARY KEY, last_seq INTEGER NOT NULL,
                owner TEXT, status TEXT NOT NULL, issuance TEXT NOT NULL, created_at INTEGER,
                retired_at INTEGER, revoked_at INTEGER) WITHOUT ROWID;
             CREATE TABLE credential (id TEXT NOT NULL PRIMARY KEY, last_seq INTEGER NOT NULL,
                principal TEXT NOT NULL, kind TEXT NOT NULL, signing_key TEXT, issued_at INTEGER,
                expires_at INTEGER, revoked_at INTEGER) WITHOUT ROWID;
             CREATE TABLE history (seq INTEGER PRIMARY KEY, recorded_at INTEGER NOT NULL,
                source TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, change TEXT NOT NULL,
                prev_seq INTEGER, before TEXT, after TEXT NOT NULL);
             INSERT INTO history VALUES (1, 0, 'old', 'principal', 'emp-7', 'granted', NULL, NULL,
                '{\"type\":\"principal\",\"id\":\"emp-7\",\"kind\":\"employee\",\"status\":\"active\",\"role\":\"cs-agent\"}');
             INSERT INTO principal VALUES ('emp-7', 1, 'employee', 'active', 'cs-agent', NULL, NULL, NULL, NULL);
             PRAGMA user_version = 1;",
        )
        .expect("version 1 schema");
    }
    let mut store = RegistryStore::open(dir.path()).expect("open a version 1 registry");
    assert_eq!(at(&store, "2025-01-01T00:00:00Z").0, "cs-agent");
    load(
        &mut store,
        "2025-07-01T00:00:00Z",
        r#"{"type":"principal","id":"emp-7","kind":"employee","status":"active","role":"cs-lead","valid_from":"2025-06-01T00:00:00Z"}"#,
    );
    assert_eq!(at(&store, "2025-05-01T00:00:00Z").0, "cs-agent");
    assert_eq!(at(&store, "2025-06-01T00:00:00Z").0, "cs-lead");
}
