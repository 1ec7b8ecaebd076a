//! Behaviour targets on a world that is not `suho simulate`'s: a small company written here,
//! with its own volume distributions (log-normal days with busy spikes, per person), ticket
//! purposes, month-end peaks, a public holiday, a re-org half-way and a service account that
//! reads whole tables by count. Three insiders are planted in it (a quiet insider at four
//! times their normal, a steady excess of 40 a day over 90 under tickets, a pharmacy
//! technician reading `health`), and the noise is measured on the same world without them.
//!
//! Targets (issue 13): the quiet insider medium or higher the same working day, well before
//! the day ends; the steady excess medium or higher within five working days with under 10%
//! of its eventual subjects exposed; the technician medium or higher the same day; at most
//! 50 false alerts of any severity per 1,000 principal-days, and at most 1 high or critical.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::*;
use suho_detect::{Alert, DetectConfig, Engine, Severity};
use suho_registry::{parse_registry_line, Registry};

/// A role: how many people, their typical day (median distinct customers), how much their
/// days vary (log-normal sigma), the share of work under a ticket, and the fields they read.
struct RoleSpec {
    role: &'static str,
    people: usize,
    median: (f64, f64),
    sigma: f64,
    purposed: f64,
    fields: &'static [&'static str],
    /// A rare field some member reads on about one day in `rare_every` (0: never).
    rare: Option<(&'static str, u64)>,
    month_end: f64,
}

const ROLES: &[RoleSpec] = &[
    RoleSpec {
        role: "care-agent",
        people: 18,
        median: (40.0, 110.0),
        sigma: 0.35,
        purposed: 0.6,
        fields: &["name", "phone", "address", "order_history"],
        rare: Some(("payment", 400)),
        month_end: 1.7,
    },
    RoleSpec {
        role: "fraud-analyst",
        people: 7,
        median: (70.0, 110.0),
        sigma: 0.25,
        purposed: 1.0,
        fields: &["name", "payment", "order_history"],
        rare: None,
        month_end: 1.3,
    },
    RoleSpec {
        role: "pharmacy-tech",
        people: 10,
        median: (20.0, 45.0),
        sigma: 0.45,
        purposed: 0.0,
        fields: &["name", "phone", "order_history"],
        rare: Some(("health", 600)),
        month_end: 1.0,
    },
    RoleSpec {
        role: "logistics",
        people: 9,
        median: (30.0, 70.0),
        sigma: 0.5,
        purposed: 0.2,
        fields: &["name", "address", "phone", "delivery_contacts"],
        rare: None,
        month_end: 1.2,
    },
];

const DAYS: i64 = 90;
/// A public holiday (a Wednesday): most people off, the rest at a third of their work.
const HOLIDAY: i64 = 16;
/// The re-org: half the care agents move to a new role from this day.
const REORG: i64 = 35;

struct Person {
    id: String,
    role: usize,
    median: f64,
    net: String,
}

fn gauss(rng: &mut Rng) -> f64 {
    let u1 = (rng.below(1 << 30) as f64 + 1.0) / (1u64 << 30) as f64;
    let u2 = rng.below(1 << 30) as f64 / (1u64 << 30) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Day of the month of day `d` (day 0 is 2 June 2025).
fn dom(d: i64) -> i64 {
    let x = d + 2;
    if x <= 30 {
        x
    } else if x <= 61 {
        x - 30
    } else if x <= 92 {
        x - 61
    } else {
        x - 92
    }
}

fn people(rng: &mut Rng) -> Vec<Person> {
    let mut out = Vec::new();
    for (ri, r) in ROLES.iter().enumerate() {
        for i in 0..r.people {
            let (lo, hi) = r.median;
            let median = lo + (hi - lo) * (rng.below(1000) as f64 / 1000.0);
            out.push(Person {
                id: format!("{}-{i:02}", r.role),
                role: ri,
                median,
                net: format!("10.{}.{}.{}", 40 + ri, i, 10 + rng.below(200)),
            });
        }
    }
    out
}

fn registry(ps: &[Person], reorg: bool) -> Registry {
    let mut reg = Registry::default();
    for (k, p) in ps.iter().enumerate() {
        let mut role = ROLES[p.role].role.to_string();
        if reorg && p.role == 0 && k % 2 == 0 {
            role = "care-tier2".into();
        }
        let line = format!(
            r#"{{"type":"principal","id":"{}","kind":"employee","status":"active","role":"{role}","countries":["KR"],"networks":["10.{}.0.0/16"]}}"#,
            p.id,
            40 + p.role
        );
        reg.upsert(parse_registry_line(line.as_bytes()).expect("registry line"));
    }
    let svc = r#"{"type":"principal","id":"svc-recon","kind":"service","status":"active","role":"batch","networks":["10.90.0.0/16"]}"#;
    reg.upsert(parse_registry_line(svc.as_bytes()).expect("registry line"));
    reg
}

/// One access record.
#[allow(clippy::too_many_arguments)]
fn rec(
    t: i64,
    actor: &str,
    ip: &str,
    subjects: &[String],
    fields: &[&str],
    purpose: Option<&str>,
    id: &str,
) -> String {
    let mut v = r(t, actor).ip(ip).subjects(subjects).id(id);
    v.v.insert(
        "fields".into(),
        fields.iter().map(|f| serde_json::Value::from(*f)).collect(),
    );
    if let Some(p) = purpose {
        v = v.purpose(p);
    }
    v.line()
}

/// What to plant in the world.
#[derive(Default, Clone, Copy)]
struct Plant {
    quiet_insider: bool,
    steady_excess: bool,
    role_data: bool,
}

const QUIET: &str = "care-agent-03";
const QUIET_DAY: i64 = 45; // a Monday
const STEADY: &str = "fraud-analyst-02";
const STEADY_FROM: i64 = 42; // a Friday
const TECH: &str = "pharmacy-tech-04";
const TECH_DAY: i64 = 50;

/// The world's records, day by day, each day sorted by time.
fn world(plant: Plant, seed: u64) -> (Vec<Person>, Vec<Vec<String>>) {
    let mut rng = Rng(seed);
    let ps = people(&mut rng);
    let mut days = Vec::new();
    let mut serial = 0u64;
    for d in 0..DAYS {
        let mut lines: Vec<(i64, String)> = Vec::new();
        let weekend = d.rem_euclid(7) >= 5;
        for p in &ps {
            let spec = &ROLES[p.role];
            if weekend && rng.below(20) != 0 {
                continue;
            }
            if d == HOLIDAY && rng.below(5) != 0 {
                continue;
            }
            if rng.below(25) == 0 {
                continue; // a day off
            }
            let mut n = p.median * (spec.sigma * gauss(&mut rng)).exp();
            if rng.below(40) == 0 {
                n *= 1.8; // a busy day
            }
            if dom(d) >= 27 {
                n *= spec.month_end;
            }
            if d == HOLIDAY || weekend {
                n /= 3.0;
            }
            let mut n = n.round().max(1.0) as u64;
            // The quiet insider: a steady ~60 a day, then 248 on one Monday (reads without
            // a ticket, from the desk, in working hours).
            let quiet = plant.quiet_insider && p.id == QUIET;
            if p.id == QUIET {
                n = 55 + rng.below(11);
            }
            let extra = if quiet && d == QUIET_DAY { 248 - n } else { 0 };
            let steady = plant.steady_excess && p.id == STEADY && d >= STEADY_FROM && !weekend;
            let steady_extra = if steady { 35 + rng.below(11) } else { 0 };
            let tech = plant.role_data && p.id == TECH && d >= TECH_DAY && !weekend;
            let tech_extra = if tech { 55 + rng.below(11) } else { 0 };
            let rare_today = spec
                .rare
                .filter(|(_, every)| rng.below(*every) == 0)
                .map(|(f, _)| f);
            let total = n + extra + steady_extra + tech_extra;
            for k in 0..total {
                let minute = 9 * 60 + (k * 9 * 60 / total.max(1)) as i64;
                let t = at(d, 0, minute) + rng.below(59_000) as i64;
                let kind = if k >= n + extra + steady_extra {
                    2 // the technician's health reads
                } else if k >= n + extra {
                    1 // the analyst's excess
                } else if k >= n {
                    3 // the quiet insider's extra
                } else {
                    0
                };
                let c = match kind {
                    0 => cust(rng.below(2_000_000)),
                    _ => cust(3_000_000 + rng.below(1_000_000)),
                };
                serial += 1;
                let id = match kind {
                    0 => format!("n-{serial}"),
                    1 => format!("steady-{serial}"),
                    2 => format!("tech-{serial}"),
                    _ => format!("quiet-{serial}"),
                };
                let purposed =
                    kind == 1 || (kind == 0 && (rng.below(1000) as f64) < spec.purposed * 1000.0);
                let ticket = format!("TCK-{}", 10_000 + rng.below(90_000));
                let mut fields: Vec<&str> = spec.fields.to_vec();
                if kind == 2 {
                    fields.push("health");
                } else if k == 0 {
                    if let Some(f) = rare_today {
                        fields.push(f);
                    }
                }
                lines.push((
                    t,
                    rec(
                        t,
                        &p.id,
                        &p.net,
                        &[c],
                        &fields,
                        purposed.then_some(ticket.as_str()),
                        &id,
                    ),
                ));
            }
        }
        // The reconciliation job reads the customer and order tables by count, twice a night.
        if !weekend {
            for (h, table) in [
                (2, "customers"),
                (2, "orders"),
                (3, "customers"),
                (3, "orders"),
            ] {
                let t = at(d, h, 5);
                let line = r(t, "svc-recon")
                    .ip("10.90.0.5")
                    .resource(&format!("table {table}"))
                    .count(1_500_000)
                    .id(&format!("recon-{d}-{h}-{table}"))
                    .line();
                lines.push((t, line));
            }
        }
        lines.sort_by_key(|(t, _)| *t);
        days.push(lines.into_iter().map(|(_, l)| l).collect());
    }
    (ps, days)
}

/// Runs the world through one engine (the re-org applied from its day); returns the alerts
/// and every record in ledger order.
fn run(plant: Plant, seed: u64) -> (Vec<Alert>, Vec<String>, u64) {
    let (ps, days) = world(plant, seed);
    let mut e = Engine::new(
        Arc::new(registry(&ps, false)),
        None,
        DetectConfig::default(),
    );
    let mut all = Vec::new();
    let mut alerts = Vec::new();
    let mut principal_days = HashSet::new();
    for (d, lines) in days.into_iter().enumerate() {
        if d as i64 == REORG {
            e.set_registry(Arc::new(registry(&ps, true)));
        }
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            principal_days.insert((v["actor"].as_str().unwrap_or_default().to_string(), d));
        }
        let first = all.len() as u64;
        alerts.extend(feed(&mut e, &lines, first));
        all.extend(lines);
    }
    e.flush(&mut alerts);
    (alerts, all, principal_days.len() as u64)
}

/// The first emission of each alert id, in order.
fn firsts(alerts: &[Alert]) -> Vec<&Alert> {
    let mut seen = HashSet::new();
    alerts
        .iter()
        .filter(|a| seen.insert(a.id.clone()))
        .collect()
}

/// The first alert on `actor` at `min` severity or above (at any emission of an alert), with
/// the ledger index of the record that made it so.
fn first_at(alerts: &[Alert], actor: &str, min: Severity) -> Option<(u64, String, String)> {
    alerts
        .iter()
        .filter(|a| a.actor.as_deref() == Some(actor) && a.severity >= min)
        .map(|a| {
            (
                a.last_ledger_index.max(a.ledger_index),
                a.rule.clone(),
                a.time.clone(),
            )
        })
        .min_by_key(|x| x.0)
}

fn rec_time(line: &str) -> i64 {
    serde_json::from_str::<serde_json::Value>(line).expect("json")["time"]
        .as_i64()
        .unwrap_or(0)
}

#[test]
fn a_quiet_insider_at_four_times_their_normal_is_medium_the_same_morning() {
    let (alerts, lines, _) = run(
        Plant {
            quiet_insider: true,
            ..Plant::default()
        },
        7,
    );
    let (at_index, rule, _) =
        first_at(&alerts, QUIET, Severity::Medium).expect("the quiet insider is raised");
    let t = rec_time(&lines[at_index as usize]);
    assert!(
        t >= at(QUIET_DAY, 0, 0) && t < at(QUIET_DAY, 15, 0),
        "raised by {rule} at {} (the 248-subject day is day {QUIET_DAY}, 09:00-18:00)",
        suho_record::format_rfc3339_ms(t)
    );
    // Well before the day ends: less than two thirds of the day's 248 subjects exposed.
    let day_start = lines
        .iter()
        .position(|l| l.contains(QUIET) && rec_time(l) >= at(QUIET_DAY, 0, 0))
        .expect("the day");
    let exposed = lines[day_start..=at_index as usize]
        .iter()
        .filter(|l| l.contains(&format!("\"{QUIET}\"")))
        .count();
    assert!(exposed < 248 * 2 / 3, "{exposed} of 248 read before {rule}");
    // The baseline printed is the one compared: the threshold is the larger of the floor,
    // twice the own normal high and 1.5 times the peers' (the defaults), as printed.
    let a = alerts
        .iter()
        .find(|a| a.actor.as_deref() == Some(QUIET) && a.rule == "subjects_per_day")
        .expect("a subjects_per_day alert");
    let b = &a.evidence["behaviour"];
    let own = b["own_normal"].as_u64().expect("own normal");
    let peer = b["peer_normal"].as_u64().expect("peer normal");
    let threshold = b["threshold"].as_u64().expect("threshold");
    let want = (60f64).max(own as f64 * 2.0).max(peer as f64 * 1.5).round() as u64;
    assert_eq!(threshold, want, "{b}");
    assert!(
        b["distinct_subjects"].as_u64() > Some(threshold),
        "the count compared is the one printed: {b}"
    );
    assert!(
        a.summary
            .contains(&format!("its normal high {own} and its peers' {peer}")),
        "{}",
        a.summary
    );
}

#[test]
fn a_steady_excess_of_forty_a_day_is_medium_within_five_working_days() {
    let (alerts, lines, _) = run(
        Plant {
            steady_excess: true,
            ..Plant::default()
        },
        11,
    );
    let excess: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("\"id\":\"steady-"))
        .map(|(i, _)| i)
        .collect();
    let (at_index, rule, time) =
        first_at(&alerts, STEADY, Severity::Medium).expect("the steady excess is raised");
    let t = rec_time(&lines[at_index as usize]);
    // Five working days from a Friday: Friday, Monday to Thursday.
    assert!(
        t >= at(STEADY_FROM, 0, 0) && t < at(STEADY_FROM + 7, 0, 0),
        "first medium+ ({rule}) at {time}"
    );
    let before = excess.iter().filter(|&&i| i as u64 <= at_index).count();
    assert!(
        (before as f64) < 0.10 * excess.len() as f64,
        "{before} of {} excess subjects exposed before {rule}",
        excess.len()
    );
    // The alert carries the crossing record's own time, not a round minute of no record.
    let a = alerts
        .iter()
        .find(|a| a.actor.as_deref() == Some(STEADY) && a.rule == "reach_30d")
        .expect("reach_30d");
    let idx = a.ledger_index as usize;
    assert_eq!(
        suho_record::parse_rfc3339(&a.time).expect("time"),
        rec_time(&lines[idx]),
        "the alert's time is its record's"
    );
    assert!(lines[idx].contains(STEADY));
}

#[test]
fn a_technician_reading_health_is_medium_the_same_day() {
    let (alerts, lines, _) = run(
        Plant {
            role_data: true,
            ..Plant::default()
        },
        13,
    );
    let (at_index, rule, time) =
        first_at(&alerts, TECH, Severity::Medium).expect("the technician is raised");
    let first_health = lines
        .iter()
        .position(|l| l.contains("\"id\":\"tech-"))
        .expect("health reads");
    assert_eq!(
        (at_index, rule.as_str()),
        (first_health as u64, "unusual_data_for_role"),
        "raised on the first health record, at {time}"
    );
    let high = first_at(&alerts, TECH, Severity::High).expect("high once it is many");
    assert!(rec_time(&lines[high.0 as usize]) < at(TECH_DAY + 1, 0, 0));
}

#[test]
fn the_world_without_insiders_stays_under_the_noise_targets() {
    let (alerts, _, principal_days) = run(Plant::default(), 5);
    let first = firsts(&alerts);
    // Severity as each alert finally stood.
    let mut last: HashMap<&str, &Alert> = HashMap::new();
    for a in &alerts {
        last.insert(a.id.as_str(), a);
    }
    let per_k = |n: usize| n as f64 * 1000.0 / principal_days as f64;
    let all = first.len();
    let high = last
        .values()
        .filter(|a| a.severity >= Severity::High)
        .count();
    let mut by_rule: HashMap<(String, Severity), usize> = HashMap::new();
    for a in last.values() {
        *by_rule.entry((a.rule.clone(), a.severity)).or_default() += 1;
    }
    if std::env::var("WORLD_DEBUG").is_ok() {
        for a in last.values() {
            eprintln!("{} {} {} {}", a.time, a.rule, a.severity, a.evidence);
        }
    }
    eprintln!(
        "{all} alerts ({:.1} per 1,000 principal-days), {high} high or critical ({:.2}); by rule: {by_rule:?}",
        per_k(all),
        per_k(high)
    );
    assert!(
        per_k(all) <= 50.0 && per_k(high) <= 1.0,
        "{all} alerts ({:.1} per 1,000 principal-days), {high} high or critical ({:.2}); by rule: {by_rule:#?}",
        per_k(all),
        per_k(high)
    );
    // The service account's table reads count each table once: 1.5M a day, never 6M.
    assert!(
        !last
            .values()
            .any(|a| a.actor.as_deref() == Some("svc-recon")
                && a.evidence["behaviour"]["distinct_subjects"].as_u64() > Some(3_000_000)),
        "{:#?}",
        last.values()
            .filter(|a| a.actor.as_deref() == Some("svc-recon"))
            .map(|a| &a.summary)
            .collect::<Vec<_>>()
    );
}
