//! Loading, matching, correlating and refusing Sigma rules over access records.
//!
//! Rule sources: `whoami` below is rsigma-eval's own README/doc example ("Detect Whoami",
//! `CommandLine|contains: 'whoami'`) and the correlations are the Sigma specification's
//! correlation examples (SigmaHQ sigma-specification, `specification/sigma-correlation-rules-
//! specification.md`: "Many failed logins" as `event_count` grouped by user, and
//! "Enumeration of users" as `value_count`), adapted to access-record fields.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use suho_detect::Alert;
use suho_registry::Registry;
use suho_sigma::{RuleSet, SigmaError, Stage};

fn set(files: &[(&str, &str)]) -> Result<RuleSet, SigmaError> {
    let texts: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(n, t)| (PathBuf::from(format!("rules/{n}")), t.to_string()))
        .collect();
    RuleSet::from_texts(Path::new("rules"), &texts)
}

fn line(t: i64, actor: &str, action: &str, resource: &str, extra: &str) -> String {
    format!(
        r#"{{"time":{t},"actor":"{actor}","action":"{action}","resource":"{resource}"{extra}}}"#
    )
}

/// Runs records through worker matching and the stage, as ingest does.
fn run(rules: RuleSet, registry: Registry, lines: &[String]) -> Vec<Alert> {
    let rules = Arc::new(rules);
    let mut st = Stage::new(Arc::clone(&rules), Arc::new(registry), 9 * 3_600_000);
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let rec = suho_record::parse_record(l.as_bytes()).expect("record");
        let mut m = Vec::new();
        rules.match_record(&rec, &mut m);
        let pre: Vec<(u32, u32)> = m.into_iter().map(|r| (0, r)).collect();
        st.observe(
            i as u64,
            suho_detect::hash_id(&rec.actor),
            l.as_bytes(),
            &pre,
            &mut out,
        );
    }
    st.flush(&mut out);
    out
}

const WHOAMI: &str = r#"
title: Detect Whoami
id: 5f1e1b2a-0000-4000-8000-000000000001
status: test
logsource:
    product: suho
    category: access
detection:
    selection:
        resource|contains: 'whoami'
    condition: selection
level: medium
"#;

const HEALTH_EXPORT: &str = r#"
title: Export of health data without a ticket
id: health-export
status: stable
logsource: {product: suho}
detection:
    selection:
        action: [export, download]
        fields: health
    filter:
        purpose|startswith: 'TICKET-'
    condition: selection and not filter
level: high
"#;

#[test]
fn the_evaluators_own_example_loads_and_matches_an_access_record() {
    let rules = set(&[("whoami.yml", WHOAMI)]).expect("loads");
    assert_eq!(rules.rules().len(), 1);
    let i = &rules.rules()[0];
    assert_eq!(i.name, "sigma:5f1e1b2a-0000-4000-8000-000000000001");
    assert_eq!(i.severity, suho_detect::Severity::Medium);
    assert_eq!(i.status.as_deref(), Some("test"));
    let hit = line(1_750_000_000_000, "emp-1", "read", "GET /debug/WhoAmI", "");
    let miss = line(1_750_000_000_000, "emp-1", "read", "GET /v1/customers", "");
    let alerts = run(rules, Registry::default(), &[hit, miss]);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.rule, "sigma:5f1e1b2a-0000-4000-8000-000000000001");
    assert_eq!(a.severity, suho_detect::Severity::Medium);
    assert_eq!(a.ledger_index, 0);
    assert_eq!(a.actor.as_deref(), Some("emp-1"));
    assert_eq!(a.time, "2025-06-15T15:06:40.000Z");
}

#[test]
fn a_rule_is_filed_under_its_exact_values_and_a_not_filter_is_kept() {
    let rules = set(&[("h.yml", HEALTH_EXPORT)]).expect("loads");
    assert_eq!(rules.rules()[0].dispatch, "fields=health");
    let f = r#","fields":["name","Health"],"subjects":["c-1"]"#;
    let lines = [
        line(1_750_000_000_000, "emp-1", "export", "/r", f),
        line(
            1_750_000_001_000,
            "emp-1",
            "export",
            "/r",
            &format!(r#"{f},"purpose":"TICKET-9""#),
        ),
        line(1_750_000_002_000, "emp-1", "read", "/r", f),
        line(1_750_000_003_000, "emp-2", "download", "/r", f),
        line(
            1_750_000_004_000,
            "emp-1",
            "export",
            "/r",
            r#","fields":["name"]"#,
        ),
    ];
    let alerts = run(rules, Registry::default(), &lines);
    // emp-1's first export, emp-2's download: one alert each (per rule, actor and day).
    let mut actors: Vec<_> = alerts.iter().filter_map(|a| a.actor.clone()).collect();
    actors.dedup();
    assert_eq!(actors, ["emp-1", "emp-2"], "{alerts:?}");
    assert!(alerts
        .iter()
        .all(|a| a.severity == suho_detect::Severity::High));
}

#[test]
fn repeated_matches_fold_into_one_alert_per_actor_and_day_with_a_count() {
    let rules = set(&[("w.yml", WHOAMI)]).expect("loads");
    let lines: Vec<String> = (0..5)
        .map(|i| line(1_750_000_000_000 + i * 1000, "emp-1", "read", "/whoami", ""))
        .collect();
    let alerts = run(rules, Registry::default(), &lines);
    let last = alerts.last().expect("alert");
    assert!(alerts.iter().all(|a| a.id == last.id));
    assert_eq!(last.count, 5);
    assert_eq!(last.last_ledger_index, 4);
    assert_eq!(last.ledger_index, 0);
}

const FAILED_LOGIN: &str = r#"
title: Failed login
id: failed-login
logsource: {product: suho}
detection:
    selection:
        action: login_failed
    condition: selection
level: low
---
title: Many failed logins
id: many-failed-logins
correlation:
    type: event_count
    rules:
        - failed-login
    group-by:
        - actor
    timespan: 5m
    condition:
        gte: 10
level: high
"#;

#[test]
fn an_event_count_correlation_fires_across_records_and_its_rule_alone_does_not() {
    let rules = set(&[("failed.yml", FAILED_LOGIN)]).expect("loads");
    let only_counted = rules
        .rules()
        .iter()
        .find(|r| r.name == "sigma:failed-login")
        .expect("rule");
    assert!(!only_counted.alerts, "generate: false is Sigma's default");
    let t0 = 1_750_000_000_000;
    let mut lines: Vec<String> = (0..9)
        .map(|i| line(t0 + i * 10_000, "emp-7", "login_failed", "/login", ""))
        .collect();
    // Another actor's failures and one out of the window do not count for emp-7.
    lines.push(line(t0 + 20_000, "emp-8", "login_failed", "/login", ""));
    let nine = run(
        set(&[("f.yml", FAILED_LOGIN)]).expect("loads"),
        Registry::default(),
        &lines,
    );
    assert!(nine.is_empty(), "nine in 5 minutes: {nine:?}");
    lines.push(line(t0 + 100_000, "emp-7", "login_failed", "/login", ""));
    let ten = run(rules, Registry::default(), &lines);
    assert_eq!(ten.len(), 1, "{ten:?}");
    let a = &ten[0];
    assert_eq!(a.rule, "sigma:many-failed-logins");
    assert_eq!(a.severity, suho_detect::Severity::High);
    assert_eq!(a.incident_of, "actor:emp-7");
    assert_eq!(a.evidence["sigma"]["value"], 10.0);
    assert_eq!(a.ledger_index, 10);
}

const HEALTH_READERS: &str = r#"
title: Health data read
id: health-read
logsource: {product: suho}
detection:
    selection:
        fields: health
    condition: selection
level: informational
---
title: One actor reading health data of many customers
id: health-many-subjects
correlation:
    type: value_count
    rules:
        - health-read
    group-by:
        - actor
    timespan: 1h
    condition:
        field: subjects
        gt: 50
level: high
"#;

#[test]
fn a_value_count_over_subjects_counts_distinct_listed_subjects_across_records() {
    let t0 = 1_750_000_000_000;
    let rec = |i: i64, subjects: &str| {
        line(
            t0 + i * 30_000,
            "pharm-3",
            "read",
            "/rx",
            &format!(r#","fields":["health"],"subjects":[{subjects}]"#),
        )
    };
    // 40 records of one subject, then one of 11 more (2 of them seen before): 49 distinct.
    let mut lines: Vec<String> = (0..40).map(|i| rec(i, &format!("\"c-{i}\""))).collect();
    let more: Vec<String> = (38..49).map(|i| format!("\"c-{i}\"")).collect();
    lines.push(rec(40, &more.join(",")));
    let quiet = run(
        set(&[("h.yml", HEALTH_READERS)]).expect("loads"),
        Registry::default(),
        &lines,
    );
    assert!(
        quiet.iter().all(|a| a.rule != "sigma:health-many-subjects"),
        "{quiet:?}"
    );
    // Re-reading the same customers adds nothing; two new ones make 51 > 50.
    lines.push(rec(41, "\"c-1\",\"c-2\""));
    lines.push(rec(42, "\"c-100\",\"c-101\""));
    let fired = run(
        set(&[("h.yml", HEALTH_READERS)]).expect("loads"),
        Registry::default(),
        &lines,
    );
    let a: Vec<&Alert> = fired
        .iter()
        .filter(|a| a.rule == "sigma:health-many-subjects")
        .collect();
    assert!(!a.is_empty(), "{fired:?}");
    assert_eq!(a[0].ledger_index, 42);
    assert_eq!(a[0].evidence["sigma"]["group"]["actor"], "pharm-3");
}

const ROLE_RULE: &str = r#"
title: Logistics reading payment data
id: logistics-payment
logsource: {product: suho}
detection:
    selection:
        role: logistics
        fields: payment
    condition: selection
level: medium
"#;

#[test]
fn a_rule_on_the_registry_role_runs_on_the_stage_for_that_role_only() {
    let rules = set(&[("r.yml", ROLE_RULE)]).expect("loads");
    // Filed by its field on the parse workers; the role is checked on the stage.
    assert_eq!(
        rules.rules()[0].dispatch,
        "fields=payment, then role=logistics (detection stage)"
    );
    let mut reg = Registry::default();
    for l in [
        r#"{"type":"principal","id":"emp-l","kind":"employee","status":"active","role":"Logistics"}"#,
        r#"{"type":"principal","id":"emp-f","kind":"employee","status":"active","role":"finance"}"#,
    ] {
        reg.upsert(suho_registry::parse_registry_line(l.as_bytes()).expect("line"));
    }
    let f = r#","fields":["payment"],"subjects":["c-1"]"#;
    let lines = [
        line(1_750_000_000_000, "emp-f", "read", "/pay", f),
        line(1_750_000_001_000, "emp-l", "read", "/pay", f),
    ];
    let alerts = run(rules, reg, &lines);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].actor.as_deref(), Some("emp-l"));
}

/// Varied rules: OR lists, NOT, selectors, several conditions, keywords, regex, numbers.
const VARIED: &str = r#"
title: r1
id: r1
logsource: {product: suho}
detection:
    a: {action: export}
    b: {resource|startswith: '/admin'}
    condition: a or b
---
title: r2
id: r2
logsource: {product: suho}
detection:
    sel_1: {action: read, fields: [payment, health]}
    sel_2: {action: search, purpose: null}
    condition: 1 of sel_*
---
title: r3
id: r3
logsource: {product: suho}
detection:
    sel_a: {actor: EMP-1}
    sel_b: {outcome: failure}
    condition: all of sel_*
---
title: r4
id: r4
logsource: {product: suho}
detection:
    sel: {action: read}
    not_this: {resource: /r0}
    condition: sel and not not_this
---
title: r5
id: r5
logsource: {product: suho}
detection:
    keywords: ['c-7']
    condition: keywords
---
title: r6
id: r6
logsource: {product: suho}
detection:
    sel: {subject_count|gte: 3, action: [export, print]}
    condition: sel
---
title: r7
id: r7
logsource: {product: suho}
detection:
    sel: {resource|re: '^/r[0-2]$'}
    other: {purpose|contains: 'T-1'}
    condition: sel and other or not sel
---
title: r8
id: r8
logsource: {product: suho}
detection:
    x: {resource: /R1}
    y: {fields: email}
    condition: x and y
---
title: r9
id: r9
logsource: {product: suho}
detection:
    them1: {action: delete}
    them2: {action: [delete, update]}
    condition: all of them
---
title: r10
id: r10
logsource: {product: suho}
detection:
    net: {src_ip|cidr: ['198.51.0.0/24', '2001:db8::/32']}
    path: {resource|contains: 'DMIN'}
    condition: net and path
---
title: r11
id: r11
logsource: {product: suho}
detection:
    pay: {fields: payment}
    hea: {fields: health}
    condition: pay and hea
---
title: r12
id: r12
logsource: {product: suho}
detection:
    who: {actor|endswith: '-1'}
    why: {purpose|startswith: 't-'}
    condition: who and why and not net
    net: {src_ip|cidr: '10.0.0.0/8'}
"#;

fn arb_record() -> impl Strategy<Value = String> {
    let actions = prop::sample::select(vec![
        "read", "search", "export", "print", "delete", "update", "login",
    ]);
    let resources = prop::sample::select(vec!["/r0", "/R1", "/r1", "/r2", "/admin/x", "/q"]);
    let actors = prop::sample::select(vec!["emp-1", "EMP-1", "emp-2"]);
    let fields = prop::sample::subsequence(vec!["payment", "Health", "email", "name"], 0..=3);
    let purpose = prop::option::of(prop::sample::select(vec!["T-1", "T-2", ""]));
    let subjects = prop::collection::vec(0u32..12, 0..5);
    let failed = any::<bool>();
    let ip = prop::option::of(prop::sample::select(vec![
        "198.51.0.7",
        "198.51.1.7",
        "10.1.2.3",
        "2001:db8::1",
        "::ffff:198.51.0.7",
    ]));
    (
        (
            actions, resources, actors, fields, purpose, subjects, failed,
        ),
        ip,
    )
        .prop_map(|((a, r, who, f, p, s, failed), ip)| {
            let mut extra = String::new();
            if let Some(ip) = ip {
                extra += &format!(r#","src_ip":"{ip}""#);
            }
            extra += &format!(
                r#","fields":[{}]"#,
                f.iter()
                    .map(|x| format!("\"{x}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            if let Some(p) = p {
                extra += &format!(r#","purpose":"{p}""#);
            }
            extra += &format!(
                r#","subjects":[{}]"#,
                s.iter()
                    .map(|x| format!("\"c-{x}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            if failed {
                extra += r#","outcome":"failure""#;
            }
            line(1_750_000_000_000, who, a, r, &extra)
        })
}

proptest! {
    /// Dispatch changes what is evaluated, never what matches: indexed and unindexed
    /// evaluation agree on every record.
    #[test]
    fn dispatch_never_changes_which_rules_match(recs in prop::collection::vec(arb_record(), 1..20)) {
        let rules = set(&[("v.yml", VARIED)]).expect("loads");
        for l in &recs {
            let rec = suho_record::parse_record(l.as_bytes()).expect("record");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            rules.match_record(&rec, &mut a);
            rules.match_record_unindexed(&rec, &mut b);
            a.sort_unstable();
            prop_assert_eq!(a, b, "{}", l);
        }
    }
}

#[test]
fn the_varied_rules_are_mostly_indexed() {
    let rules = set(&[("v.yml", VARIED)]).expect("loads");
    let d: Vec<(&str, &str)> = rules
        .rules()
        .iter()
        .map(|r| (r.title.as_str(), r.dispatch.as_str()))
        .collect();
    assert!(d.contains(&("r2", "action=read,search")), "{d:?}");
    assert!(d.contains(&("r3", "actor=emp-1")), "{d:?}");
    assert!(d.contains(&("r6", "action=export,print")), "{d:?}");
    assert!(d.contains(&("r8", "resource=/r1")), "{d:?}");
    assert!(d.contains(&("r9", "action=delete")), "{d:?}");
    assert!(
        d.iter()
            .any(|(t, x)| *t == "r5" && x.starts_with("residual")),
        "{d:?}"
    );
}

/// Every file in `tests/bad/` is refused with an error naming it, never a panic.
#[test]
fn a_bad_rule_file_is_refused_naming_the_file_and_why() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 8);
    let mut wrong = Vec::new();
    for f in files {
        let tmp = tempfile::tempdir().expect("tmp");
        let name = f.file_name().expect("name");
        std::fs::copy(&f, tmp.path().join(name)).expect("copy");
        // A good rule beside it is not loaded either.
        std::fs::write(tmp.path().join("good.yml"), WHOAMI).expect("write");
        let err = RuleSet::load_dir(tmp.path())
            .expect_err(&format!("{} must be refused", f.display()))
            .to_string();
        let expect = std::fs::read_to_string(&f).expect("read");
        let want = expect
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("first line says what the error says");
        let names_it = err.contains(&name.to_string_lossy().to_string());
        if !(names_it || want.starts_with("dir:")) || !err.contains(want.trim_start_matches("dir:"))
        {
            wrong.push(format!("{}: {err}", f.display()));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let err = RuleSet::load_dir(Path::new("/nonexistent/rules"))
        .expect_err("refused")
        .to_string();
    assert!(err.contains("/nonexistent/rules"), "{err}");
}
