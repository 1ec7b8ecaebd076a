//! Scenario helper: a registry and records as NDJSON in, alerts out.
//!
//! ```ignore
//! let alerts = Scenario::new()
//!     .registry(r#"{"type":"principal","id":"emp-1","kind":"employee","status":"active"}"#)
//!     .run(&lines);
//! assert_fires(&alerts, "departed_principal", Severity::Critical, "emp-1", 0);
//! ```
//!
//! Times are written with [`at`]: day `d` (0 = Monday 2025-06-02) at `hh:mm` Seoul time, the
//! default home time zone.

#![allow(dead_code)]

pub mod mmdb;

use std::path::PathBuf;
use std::sync::Arc;

use suho_detect::{Alert, DetectConfig, Engine, Features, GeoDb, Severity};
use suho_registry::{parse_registry_line, Registry};

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;
/// 2025-06-02T00:00:00+09:00, a Monday.
pub const BASE: i64 = 1_748_790_000_000;

/// Epoch ms of day `d` at `h:m` Seoul time.
pub fn at(d: i64, h: i64, m: i64) -> i64 {
    BASE + d * DAY + h * HOUR + m * MIN
}

/// The geo database most scenarios use: KR office, broadband and hosting ranges, JP, US, DE.
pub const GEO_CSV: &str = "network,country\n\
10.0.0.0/8,KR\n\
172.16.0.0/12,KR\n\
211.0.0.0/8,KR\n\
175.0.0.0/8,KR\n\
126.0.0.0/8,JP\n\
198.51.100.0/24,US\n\
203.0.113.0/24,US\n\
185.0.0.0/8,DE\n";

pub struct Scenario {
    registry: Registry,
    cfg: DetectConfig,
    geo: Option<GeoDb>,
    _dir: Option<tempfile::TempDir>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::new()
    }
}

impl Scenario {
    /// No registry, default settings, the [`GEO_CSV`] geo database.
    pub fn new() -> Scenario {
        Scenario {
            registry: Registry::default(),
            cfg: DetectConfig::default(),
            geo: None,
            _dir: None,
        }
        .geo_csv(GEO_CSV)
    }

    /// Adds registry lines (NDJSON; blank lines ignored).
    pub fn registry(mut self, ndjson: &str) -> Scenario {
        for l in ndjson.lines().map(str::trim).filter(|l| !l.is_empty()) {
            match parse_registry_line(l.as_bytes()) {
                Ok(r) => self.registry.upsert(r),
                Err(e) => panic!("bad registry line in scenario: {e}: {l}"),
            }
        }
        self
    }

    /// Uses this `network,country` CSV as the geo database.
    pub fn geo_csv(mut self, csv: &str) -> Scenario {
        let dir = tempfile::tempdir().expect("tempdir");
        let path: PathBuf = dir.path().join("geo.csv");
        std::fs::write(&path, csv).expect("write geo");
        self.geo = Some(GeoDb::open(&path).expect("geo db"));
        self._dir = Some(dir);
        self
    }

    /// Changes settings.
    pub fn config(mut self, f: impl FnOnce(&mut DetectConfig)) -> Scenario {
        f(&mut self.cfg);
        self
    }

    pub fn engine(&self) -> Engine {
        Engine::new(
            Arc::new(self.registry.clone()),
            self.geo.clone(),
            self.cfg.clone(),
        )
    }

    /// Runs records (one JSON object per element); a record's ledger index is its position.
    pub fn run(&self, lines: &[String]) -> Vec<Alert> {
        let mut e = self.engine();
        feed(&mut e, lines, 0)
    }
}

/// Feeds `lines` to `e`, the first with ledger index `first`; returns every alert emitted.
pub fn feed(e: &mut Engine, lines: &[String], first: u64) -> Vec<Alert> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let r = suho_record::parse_record(l.as_bytes())
            .unwrap_or_else(|err| panic!("bad record in scenario: {err}: {l}"));
        let f = Features::from_record(&r);
        e.observe(first + i as u64, &f, l.as_bytes(), &mut out);
    }
    out
}

/// Builds one access record.
#[derive(Clone)]
pub struct R {
    pub v: serde_json::Map<String, serde_json::Value>,
}

/// A `read` of nothing by `actor` at `time` (epoch ms).
pub fn r(time: i64, actor: &str) -> R {
    let mut v = serde_json::Map::new();
    v.insert("time".into(), time.into());
    v.insert("actor".into(), actor.into());
    v.insert("action".into(), "read".into());
    v.insert("resource".into(), "GET /v1/customers/{id}".into());
    R { v }
}

impl R {
    pub fn action(mut self, a: &str) -> R {
        self.v.insert("action".into(), a.into());
        self
    }
    pub fn resource(mut self, s: &str) -> R {
        self.v.insert("resource".into(), s.into());
        self
    }
    pub fn ip(mut self, ip: &str) -> R {
        self.v.insert("src_ip".into(), ip.into());
        self
    }
    pub fn cred(mut self, c: &str) -> R {
        self.v.insert("credential".into(), c.into());
        self
    }
    pub fn key(mut self, k: &str) -> R {
        self.v.insert("signing_key".into(), k.into());
        self
    }
    pub fn subjects<S: AsRef<str>>(mut self, s: &[S]) -> R {
        self.v.insert(
            "subjects".into(),
            s.iter()
                .map(|x| serde_json::Value::from(x.as_ref()))
                .collect(),
        );
        self
    }
    pub fn subject(self, s: &str) -> R {
        self.subjects(&[s])
    }
    pub fn count(mut self, n: u64) -> R {
        self.v.insert("subject_count".into(), n.into());
        self
    }
    pub fn purpose(mut self, p: &str) -> R {
        self.v.insert("purpose".into(), p.into());
        self
    }
    pub fn failed(mut self) -> R {
        self.v.insert("outcome".into(), "failure".into());
        self
    }
    pub fn id(mut self, id: &str) -> R {
        self.v.insert("id".into(), id.into());
        self
    }
    pub fn line(self) -> String {
        serde_json::Value::Object(self.v).to_string()
    }
}

/// Customer id `c-0000417` style.
pub fn cust(n: u64) -> String {
    format!("c-{n:07}")
}

/// A deterministic pseudo-random stream for scenario traffic (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Sorts lines by their `time` (scenarios are built actor by actor).
pub fn by_time(mut lines: Vec<String>) -> Vec<String> {
    lines.sort_by_key(|l| {
        serde_json::from_str::<serde_json::Value>(l)
            .ok()
            .and_then(|v| v["time"].as_i64())
            .unwrap_or(0)
    });
    lines
}

/// `(rule, severity, actor, ledger_index)` of every new alert (first emission of an id), in order.
pub fn brief(alerts: &[Alert]) -> Vec<(String, Severity, String, u64)> {
    let mut seen = std::collections::HashSet::new();
    alerts
        .iter()
        .filter(|a| seen.insert(a.id.clone()))
        .map(|a| {
            (
                a.rule.clone(),
                a.severity,
                a.actor.clone().unwrap_or_default(),
                a.ledger_index,
            )
        })
        .collect()
}

/// The highest severity any emission of `rule` reached for `actor` (any actor when `None`).
pub fn max_sev(alerts: &[Alert], rule: &str, actor: Option<&str>) -> Option<Severity> {
    alerts
        .iter()
        .filter(|a| a.rule == rule && actor.is_none_or(|x| a.actor.as_deref() == Some(x)))
        .map(|a| a.severity)
        .max()
}

/// The highest severity of any alert about `actor`.
pub fn max_sev_of(alerts: &[Alert], actor: &str) -> Option<Severity> {
    alerts
        .iter()
        .filter(|a| a.actor.as_deref() == Some(actor))
        .map(|a| a.severity)
        .max()
}

/// Asserts that `rule` fired first on ledger index `index`, for `actor`, at `severity`.
#[track_caller]
pub fn assert_fires(alerts: &[Alert], rule: &str, severity: Severity, actor: &str, index: u64) {
    let b = brief(alerts);
    let hit = b.iter().find(|(r, _, _, _)| r == rule);
    assert_eq!(
        hit.map(|(r, s, a, i)| (r.as_str(), *s, a.as_str(), *i)),
        Some((rule, severity, actor, index)),
        "expected {rule} {severity} for {actor} at index {index}; alerts: {b:#?}"
    );
}

/// Asserts that `rule` never fired.
#[track_caller]
pub fn assert_silent(alerts: &[Alert], rule: &str) {
    let b: Vec<_> = brief(alerts)
        .into_iter()
        .filter(|(r, _, _, _)| r == rule)
        .collect();
    assert!(b.is_empty(), "expected no {rule}; got {b:#?}");
}

/// Asserts that nothing reached `severity` or above.
#[track_caller]
pub fn assert_below(alerts: &[Alert], severity: Severity) {
    let bad: Vec<_> = alerts
        .iter()
        .filter(|a| a.severity >= severity)
        .map(|a| {
            (
                a.rule.clone(),
                a.severity,
                a.actor.clone(),
                a.summary.clone(),
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "expected everything below {severity}; got {bad:#?}"
    );
}

/// The alerts without their wall-clock field, for comparing runs.
pub fn without_wall_clock(alerts: &[Alert]) -> Vec<Alert> {
    alerts
        .iter()
        .cloned()
        .map(|mut a| {
            a.detected_at = String::new();
            a
        })
        .collect()
}
