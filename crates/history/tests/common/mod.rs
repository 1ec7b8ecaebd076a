//! A small ledger of varied access records, and brute-force answers computed from the raw
//! NDJSON lines with serde_json alone (independent of suho-record and of the history).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde_json::Value;
use suho_history::Selector;
use suho_ledger::{Ledger, Options, Prepared};

/// 2025-06-20T00:00:00Z
pub const T0: i64 = 1_750_377_600_000;
pub const DAY: i64 = 86_400_000;

pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const FIELDS: [&str; 8] = [
    "name",
    "email",
    "phone",
    "address",
    "order_history",
    "payment",
    "entrance_code",
    "delivery_contacts",
];

/// `n` records with event times over `days` days from `start_ms`, in roughly ascending time.
pub fn records(seed: u64, n: usize, start_ms: i64, days: i64) -> Vec<String> {
    let mut r = Lcg::new(seed);
    let span = days * DAY;
    (0..n)
        .map(|i| {
            let t = start_ms + (span * i as i64) / n as i64 + r.below(60_000) as i64;
            let actor = format!("emp-{:03}", r.below(25));
            let mut obj = serde_json::Map::new();
            // Both time forms of the contract.
            if i % 3 == 0 {
                obj.insert(
                    "time".into(),
                    Value::from(suho_record::format_rfc3339_ms(t)),
                );
            } else {
                obj.insert("time".into(), Value::from(t));
            }
            obj.insert("actor".into(), Value::from(actor));
            obj.insert(
                "action".into(),
                Value::from(["read", "search", "export"][r.below(3) as usize]),
            );
            obj.insert(
                "resource".into(),
                Value::from(format!("GET /v1/customers/{{id}}/{}", r.below(4))),
            );
            match r.below(10) {
                0 => {}
                1..=5 => {
                    obj.insert(
                        "src_ip".into(),
                        Value::from(format!("10.20.{}.{}", r.below(4), r.below(50))),
                    );
                }
                6..=7 => {
                    obj.insert(
                        "src_ip".into(),
                        Value::from(format!("203.0.113.{}", r.below(30))),
                    );
                }
                8 => {
                    obj.insert(
                        "src_ip".into(),
                        Value::from(format!("2001:db8::{:x}", r.below(20))),
                    );
                }
                _ => {
                    obj.insert(
                        "src_ip".into(),
                        Value::from(format!("198.51.100.{}", r.below(10))),
                    );
                }
            }
            if r.below(8) != 0 {
                obj.insert(
                    "credential".into(),
                    Value::from(format!("tok-{:02}", r.below(40))),
                );
            }
            if r.below(5) != 0 {
                obj.insert(
                    "signing_key".into(),
                    Value::from(format!("kid-{}", r.below(4))),
                );
            }
            let k = r.below(4);
            let mut subjects: Vec<String> =
                (0..k).map(|_| format!("c-{:04}", r.below(600))).collect();
            if r.below(50) == 0 {
                // A repeated subject in one record, and ids CSV must quote.
                subjects.push(subjects.first().cloned().unwrap_or_else(|| "c-0001".into()));
                subjects.push("c,\"quoted\"".into());
            }
            if !subjects.is_empty() || r.below(2) == 0 {
                obj.insert("subjects".into(), Value::from(subjects.clone()));
            }
            if r.below(20) == 0 {
                obj.insert(
                    "subject_count".into(),
                    Value::from(subjects.len() as u64 + r.below(1000)),
                );
            }
            let nf = r.below(4);
            let mut fields: Vec<&str> = (0..nf)
                .map(|_| FIELDS[r.below(FIELDS.len() as u64) as usize])
                .collect();
            if r.below(100) == 0 {
                fields.push("health");
            }
            if !fields.is_empty() {
                obj.insert("fields".into(), Value::from(fields));
            }
            if r.below(4) == 0 {
                obj.insert("id".into(), Value::from(format!("req-{seed}-{i}")));
            }
            if r.below(10) == 0 {
                obj.insert("attrs".into(), serde_json::json!({"ticket": "INC-1"}));
            }
            Value::Object(obj).to_string()
        })
        .collect()
}

/// Append `lines` to the ledger in `data` and write a checkpoint.
pub fn append(data: &Path, lines: &[String]) {
    let mut ledger = Ledger::open(data, Options::default()).expect("open ledger");
    let now = suho_ledger::now_ms();
    let prepared: Vec<Prepared<'_>> = lines
        .iter()
        .map(|l| {
            let rec = suho_record::parse_record(l.as_bytes()).expect("test records are valid");
            Prepared::new(l.as_bytes(), rec.time_ms, rec.id.as_deref(), now)
        })
        .collect();
    for chunk in prepared.chunks(1000) {
        ledger.append_batch(chunk, Vec::new()).expect("append");
    }
    ledger.checkpoint().expect("checkpoint");
}

/// A test country database.
pub fn country(ip: IpAddr) -> Option<[u8; 2]> {
    let s = ip.to_string();
    if s.starts_with("10.") {
        Some(*b"KR")
    } else if s.starts_with("203.0.113.") {
        Some(*b"US")
    } else if s.starts_with("2001:db8:") {
        Some(*b"CN")
    } else {
        None
    }
}

/// One record as the brute force sees it.
#[derive(Debug, Clone)]
pub struct Raw {
    pub index: u64,
    pub time: i64,
    pub actor: String,
    pub src_ip: Option<String>,
    pub credential: Option<String>,
    pub signing_key: Option<String>,
    pub subjects: Vec<String>,
    pub subject_count: Option<u64>,
    pub fields: Vec<String>,
}

pub fn raw(index: u64, line: &str) -> Raw {
    let v: Value = serde_json::from_str(line).expect("json");
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let time = match &v["time"] {
        Value::Number(n) => n.as_i64().expect("ms"),
        Value::String(t) => suho_record::parse_rfc3339(t).expect("rfc3339"),
        other => panic!("bad time {other}"),
    };
    Raw {
        index,
        time,
        actor: s("actor").expect("actor"),
        // The history keeps addresses in their canonical form (`2001:db8::0` is `2001:db8::`).
        src_ip: s("src_ip").map(|ip| ip.parse::<IpAddr>().map_or(ip, |a| a.to_string())),
        credential: s("credential"),
        signing_key: s("signing_key"),
        subjects: list("subjects"),
        subject_count: v.get("subject_count").and_then(Value::as_u64),
        fields: list("fields"),
    }
}

pub fn selected(r: &Raw, sel: &Selector, with_lookup: bool) -> bool {
    let any = |v: &[String], x: &Option<String>| {
        v.is_empty() || x.as_ref().is_some_and(|x| v.contains(x))
    };
    if !sel.actors.is_empty() && !sel.actors.contains(&r.actor) {
        return false;
    }
    if !any(&sel.credentials, &r.credential) || !any(&sel.signing_keys, &r.signing_key) {
        return false;
    }
    let ip: Option<IpAddr> = r.src_ip.as_ref().and_then(|s| s.parse().ok());
    if !sel.networks.is_empty()
        && !ip.is_some_and(|ip| sel.networks.iter().any(|n: &IpNet| n.contains(&ip)))
    {
        return false;
    }
    if !sel.countries.is_empty() {
        // Without a lookup the history's country column is empty: nothing matches.
        let cc = if with_lookup {
            ip.and_then(country)
        } else {
            None
        };
        if !cc.is_some_and(|cc| {
            sel.countries
                .iter()
                .any(|c| c.eq_ignore_ascii_case(std::str::from_utf8(&cc).unwrap_or("")))
        }) {
            return false;
        }
    }
    if sel.since_ms.is_some_and(|s| r.time < s) || sel.until_ms.is_some_and(|u| r.time >= u) {
        return false;
    }
    if let Some(ix) = &sel.ledger_indexes {
        if !ix.contains(&r.index) {
            return false;
        }
    }
    true
}

/// One subject's (fields, first access, last access, accesses, ledger indexes).
pub type PerSubject = (BTreeSet<String>, i64, i64, u64, Vec<u64>);

/// What a scope must say, by brute force.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Expected {
    pub records: u64,
    pub subjects: u64,
    pub fields: BTreeMap<String, u64>,
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub credentials: BTreeMap<String, u64>,
    pub ips: BTreeMap<String, u64>,
    pub actors: BTreeMap<String, u64>,
    pub signing_keys: BTreeMap<String, u64>,
    pub countries: BTreeMap<String, u64>,
    pub unlisted: u64,
    pub per_subject: BTreeMap<String, PerSubject>,
}

pub fn expect(all: &[Raw], sel: &Selector, with_lookup: bool) -> Expected {
    let mut e = Expected::default();
    let mut field_subjects: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in all.iter().filter(|r| selected(r, sel, with_lookup)) {
        e.records += 1;
        e.first = Some(e.first.map_or(r.time, |f| f.min(r.time)));
        e.last = Some(e.last.map_or(r.time, |l| l.max(r.time)));
        let bump = |m: &mut BTreeMap<String, u64>, k: &Option<String>| {
            if let Some(k) = k {
                *m.entry(k.clone()).or_default() += 1;
            }
        };
        bump(&mut e.credentials, &r.credential);
        bump(&mut e.ips, &r.src_ip);
        bump(&mut e.actors, &Some(r.actor.clone()));
        bump(&mut e.signing_keys, &r.signing_key);
        if with_lookup {
            let cc = r
                .src_ip
                .as_ref()
                .and_then(|s| s.parse().ok())
                .and_then(country)
                .map(|c| String::from_utf8_lossy(&c).into_owned());
            bump(&mut e.countries, &cc);
        }
        if let Some(c) = r.subject_count {
            e.unlisted += c.saturating_sub(r.subjects.len() as u64);
        }
        for f in &r.fields {
            // A category processed only for unlisted subjects still appears, with 0.
            field_subjects.entry(f.clone()).or_default();
        }
        let distinct: BTreeSet<&String> = r.subjects.iter().collect();
        for s in distinct {
            let entry = e
                .per_subject
                .entry(s.clone())
                .or_insert_with(|| (BTreeSet::new(), i64::MAX, i64::MIN, 0, Vec::new()));
            entry.0.extend(r.fields.iter().cloned());
            entry.1 = entry.1.min(r.time);
            entry.2 = entry.2.max(r.time);
            entry.3 += 1;
            entry.4.push(r.index);
            for f in &r.fields {
                field_subjects
                    .entry(f.clone())
                    .or_default()
                    .insert(s.clone());
            }
        }
    }
    for v in e.per_subject.values_mut() {
        v.4.sort_unstable();
    }
    e.subjects = e.per_subject.len() as u64;
    e.fields = field_subjects
        .into_iter()
        .map(|(f, s)| (f, s.len() as u64))
        .collect();
    e
}
