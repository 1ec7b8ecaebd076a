//! `suho eval`: run a labelled scenario end to end (simulate, load the registry, ingest with
//! every detector on) and score the alerts against the ground truth.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;
use suho_detect::{AlertFilter, Severity};

use crate::demo::SimulateArgs;
use crate::ui::thousands;

#[derive(Args)]
pub struct EvalArgs {
    /// Scenario: coupang, slow-theft, stolen-api-key, insider-download, benign, quiet-insider, steady-excess, role-data, all.
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Days of traffic.
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// Seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the scores as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// How one labelled attack fared.
#[derive(Debug, Clone, Serialize)]
pub struct AttackScore {
    pub name: String,
    pub description: String,
    pub detected: bool,
    pub first_alert_rule: Option<String>,
    pub first_alert_severity: Option<String>,
    pub first_alert_summary: Option<String>,
    pub first_alert_time: Option<String>,
    pub first_malicious_time: String,
    pub last_malicious_time: String,
    /// Event-time seconds from the first malicious record to the first alert on a malicious record.
    pub seconds_to_detect: Option<f64>,
    /// The alert fired on the very first malicious record.
    pub on_first_record: bool,
    /// Distinct subjects reached by malicious records up to and including the alerting one.
    pub subjects_before_alert: u64,
    /// Distinct subjects the whole attack reached.
    pub subjects_total: u64,
    pub malicious_records: u64,
    /// Distinct subjects reached, cumulative, at the end of each event day (UTC) of the attack.
    pub daily_cumulative: Vec<(String, u64)>,
}

/// How a benign surprise fared.
#[derive(Debug, Clone, Serialize)]
pub struct BenignScore {
    pub name: String,
    pub description: String,
    /// Highest severity raised on its records (None: no alert).
    pub max_severity: Option<String>,
    pub allowed: String,
}

/// Everything `suho eval` reports.
#[derive(Debug, Clone, Serialize)]
pub struct EvalResult {
    pub scenario: String,
    pub days: u32,
    pub records: u64,
    pub principal_days: u64,
    pub attacks: Vec<AttackScore>,
    pub benign: Vec<BenignScore>,
    /// Alerts on records that are not part of any attack, by severity.
    pub false_alerts: HashMap<String, u64>,
    pub false_alerts_per_1000_principal_days: HashMap<String, f64>,
    /// False alerts of every severity per 1,000 principal-days (target: at most 50).
    pub false_alerts_all_per_1000_principal_days: f64,
    /// False high and critical alerts per 1,000 principal-days (target: at most 1).
    pub false_alerts_high_critical_per_1000_principal_days: f64,
    pub data: PathBuf,
}

struct Truth {
    name: String,
    kind: String,
    description: String,
    ids: HashSet<String>,
    first_malicious_time: String,
    last_time: String,
    allowed: String,
    /// The principal the attack acts as or through (empty when none).
    principal: String,
}

fn read_truth(path: &Path) -> Result<Vec<Truth>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        out.push(Truth {
            name: s("name"),
            kind: s("kind"),
            description: s("description"),
            ids: v["ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            first_malicious_time: s("first_malicious_time"),
            last_time: s("last_time"),
            allowed: v["max_severity"].as_str().unwrap_or("medium").to_string(),
            principal: s("principal"),
        });
    }
    Ok(out)
}

/// Simulate `scenario` into `<data>/eval/<scenario>/input`, ingest it into a fresh
/// `<data>/eval/<scenario>/data`, and score the alerts.
pub fn run(data: &Path, scenario: &str, days: u32, seed: Option<u64>) -> Result<EvalResult> {
    let root = data.join("eval").join(scenario);
    let input = root.join("input");
    let ldata = root.join("data");
    if ldata.exists() {
        std::fs::remove_dir_all(&ldata)
            .with_context(|| format!("cannot clear {}", ldata.display()))?;
    }
    std::fs::create_dir_all(&ldata)?;
    let sim = SimulateArgs {
        out: input.clone(),
        seed,
        start: None,
        days: Some(days),
        customers: None,
        employees: None,
        records_per_day: None,
        scenario: Some(scenario.to_string()),
    };
    crate::demo::simulate(&sim)?;
    for f in ["geo.csv", "suho.toml"] {
        std::fs::copy(input.join(f), ldata.join(f)).with_context(|| format!("copying {f}"))?;
    }
    let lapp = suho_app::App::new(&ldata);
    crate::detect_cmd::registry(
        &lapp,
        crate::detect_cmd::RegistryCmd::Load {
            file: input.join("registry.ndjson"),
        },
    )?;
    let mut ledger = lapp.open_ledger()?;
    let totals = crate::ledger_cmd::ingest_into(
        &lapp,
        &mut ledger,
        &[input.join("records.ndjson")],
        None,
        true,
        None,
    )?;
    drop(ledger);
    crate::ledger_cmd::print_totals(&totals, &lapp);
    score(&lapp, &input, scenario, days)
}

fn score(lapp: &suho_app::App, input: &Path, scenario: &str, days: u32) -> Result<EvalResult> {
    let ldata = lapp.dir().root();
    let truth = read_truth(&input.join("truth.ndjson"))?;
    let registered: HashSet<String> = {
        let f = std::fs::File::open(input.join("registry.ndjson"))?;
        std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
            .filter(|v| v["type"] == "principal")
            .filter_map(|v| v["id"].as_str().map(String::from))
            .collect()
    };
    let alerts = lapp.alerts()?.list(&AlertFilter::default())?;
    // Which truth label each record id belongs to.
    let mut label: HashMap<&str, usize> = HashMap::new();
    for (i, t) in truth.iter().enumerate() {
        for id in &t.ids {
            label.insert(id.as_str(), i);
        }
    }
    // First alert on each label, and false alerts.
    let mut first: HashMap<usize, &suho_detect::Alert> = HashMap::new();
    let mut benign_max: HashMap<usize, Severity> = HashMap::new();
    let mut false_alerts: HashMap<String, u64> = HashMap::new();
    // An alert folds later records in (one alert per actor, rule and window, then updates) and
    // may be raised by them: an alert on an attack's own principal whose window reaches into
    // the attack is about that attack, whatever benign record first opened it.
    // An alert on the attacker's principal raised once the attack began is about the attack
    // even when the record that crossed a threshold was one of its ordinary ones (a volume
    // count mixes both): it detects the attack at its own time.
    let attack_window: Vec<(usize, &str, i64)> = truth
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == "attack" && !t.principal.is_empty())
        .filter_map(|(i, t)| {
            let first = suho_record::parse_rfc3339(&t.first_malicious_time).ok()?;
            Some((i, t.principal.as_str(), first))
        })
        .collect();
    let ms = |t: &str| suho_record::parse_rfc3339(t).unwrap_or(i64::MIN);
    for a in &alerts {
        let mut l = a.record_id.as_deref().and_then(|id| label.get(id)).copied();
        let opened_by_attack = l.is_some_and(|i| truth[i].kind == "attack");
        let on_attacker = |t: &str| {
            attack_window
                .iter()
                .find(|(_, p, first)| a.actor.as_deref() == Some(*p) && ms(t) >= *first)
                .map(|(i, _, _)| *i)
        };
        if !opened_by_attack {
            if let Some(i) = on_attacker(&a.time) {
                l = Some(i);
            } else if on_attacker(&a.last_time).is_some() {
                // About the attack, but opened before it began: not its detection.
                continue;
            }
        }
        match l {
            Some(i) if truth[i].kind == "attack" => {
                let e = first.entry(i).or_insert(a);
                if a.ledger_index < e.ledger_index {
                    *e = a;
                }
            }
            Some(i) => {
                let m = benign_max.entry(i).or_insert(a.severity);
                *m = (*m).max(a.severity);
                *false_alerts
                    .entry(a.severity.as_str().to_string())
                    .or_default() += 1;
            }
            None => {
                *false_alerts
                    .entry(a.severity.as_str().to_string())
                    .or_default() += 1
            }
        }
    }
    // One pass over the records: subjects reached by each attack before and after its first
    // alert, and principal-days of registered staff.
    let mut reached: HashMap<usize, HashSet<String>> = HashMap::new();
    // Subjects of the attack's records up to the first alert's time.
    let mut before: HashMap<usize, HashSet<String>> = HashMap::new();
    let alert_ms: HashMap<usize, i64> = first.iter().map(|(i, a)| (*i, ms(&a.time))).collect();
    let mut malicious: HashMap<usize, u64> = HashMap::new();
    let mut first_seen: HashMap<usize, String> = HashMap::new();
    let mut daily: HashMap<usize, Vec<(i64, u64)>> = HashMap::new();
    let mut principal_days: HashSet<(String, i64)> = HashSet::new();
    let mut records = 0u64;
    let f = std::fs::File::open(input.join("records.ndjson"))?;
    for line in std::io::BufReader::with_capacity(1 << 20, f).split(b'\n') {
        let line = line?;
        let Ok(r) = suho_record::parse_record(&line) else {
            continue;
        };
        records += 1;
        if registered.contains(r.actor.as_ref()) {
            principal_days.insert((r.actor.to_string(), r.time_ms.div_euclid(86_400_000)));
        }
        let Some(&i) = r.id.as_deref().and_then(|id| label.get(id)) else {
            continue;
        };
        if truth[i].kind != "attack" {
            continue;
        }
        *malicious.entry(i).or_default() += 1;
        first_seen
            .entry(i)
            .or_insert_with(|| r.id.as_deref().unwrap_or_default().to_string());
        let set = reached.entry(i).or_default();
        for s in &r.subjects {
            set.insert(s.to_string());
        }
        let day = r.time_ms.div_euclid(86_400_000);
        let series = daily.entry(i).or_default();
        match series.last_mut() {
            Some((d, n)) if *d == day => *n = set.len() as u64,
            _ => series.push((day, set.len() as u64)),
        }
        // Subjects exposed up to and including the first alert's time.
        if alert_ms.get(&i).is_some_and(|&t| r.time_ms <= t) {
            let b = before.entry(i).or_default();
            for s in &r.subjects {
                b.insert(s.to_string());
            }
        }
    }
    let mut attacks = Vec::new();
    let mut benign = Vec::new();
    for (i, t) in truth.iter().enumerate() {
        if t.kind == "attack" {
            let a = first.get(&i);
            let total = reached.get(&i).map_or(0, |s| s.len() as u64);
            let first_ms = suho_record::parse_rfc3339(&t.first_malicious_time).ok();
            let alert_ms = a.and_then(|a| suho_record::parse_rfc3339(&a.time).ok());
            attacks.push(AttackScore {
                name: t.name.clone(),
                description: t.description.clone(),
                detected: a.is_some(),
                first_alert_rule: a.map(|a| a.rule.clone()),
                first_alert_severity: a.map(|a| a.severity.as_str().to_string()),
                first_alert_summary: a.map(|a| a.summary.clone()),
                first_alert_time: a.map(|a| a.time.clone()),
                first_malicious_time: t.first_malicious_time.clone(),
                last_malicious_time: t.last_time.clone(),
                seconds_to_detect: first_ms.zip(alert_ms).map(|(f, a)| (a - f) as f64 / 1000.0),
                on_first_record: a.is_some_and(|a| first_seen.get(&i) == a.record_id.as_ref()),
                subjects_before_alert: if a.is_some() {
                    before.get(&i).map_or(0, |b| b.len() as u64)
                } else {
                    total
                },
                subjects_total: total,
                malicious_records: malicious.get(&i).copied().unwrap_or(0),
                daily_cumulative: daily
                    .get(&i)
                    .map(|v| {
                        v.iter()
                            .map(|(d, n)| {
                                (
                                    suho_record::format_rfc3339_ms(d * 86_400_000)[..10]
                                        .to_string(),
                                    *n,
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        } else {
            benign.push(BenignScore {
                name: t.name.clone(),
                description: t.description.clone(),
                max_severity: benign_max.get(&i).map(|s| s.as_str().to_string()),
                allowed: t.allowed.clone(),
            });
        }
    }
    let pd = principal_days.len() as u64;
    let per_k = Severity::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().to_string(),
                false_alerts.get(s.as_str()).copied().unwrap_or(0) as f64 * 1000.0
                    / pd.max(1) as f64,
            )
        })
        .collect();
    let sum = |of: &[Severity]| {
        of.iter()
            .map(|s| false_alerts.get(s.as_str()).copied().unwrap_or(0))
            .sum::<u64>() as f64
            * 1000.0
            / pd.max(1) as f64
    };
    let all_per_k = sum(&Severity::ALL);
    let high_per_k = sum(&[Severity::High, Severity::Critical]);
    Ok(EvalResult {
        scenario: scenario.to_string(),
        days,
        records,
        principal_days: pd,
        attacks,
        benign,
        false_alerts,
        false_alerts_per_1000_principal_days: per_k,
        false_alerts_all_per_1000_principal_days: all_per_k,
        false_alerts_high_critical_per_1000_principal_days: high_per_k,
        data: ldata.to_path_buf(),
    })
}

fn human_duration(s: f64) -> String {
    if s < 1.0 {
        "0 s".into()
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86_400.0)
    }
}

pub fn print(r: &EvalResult) {
    println!(
        "\nscenario {} over {} days: {} records, {} principal-days of staff and services",
        r.scenario,
        r.days,
        thousands(r.records),
        thousands(r.principal_days)
    );
    println!(
        "\n{:<26} {:<9} {:<30} {:<9} {:>14} {:>24}",
        "attack",
        "detected",
        "first alert (rule)",
        "severity",
        "time to detect",
        "subjects exposed first"
    );
    for a in &r.attacks {
        let ttd = match (a.seconds_to_detect, a.on_first_record) {
            (_, true) => "first record".to_string(),
            (Some(s), false) => human_duration(s),
            (None, _) => "-".into(),
        };
        let pct = if a.subjects_total > 0 {
            100.0 * a.subjects_before_alert as f64 / a.subjects_total as f64
        } else {
            0.0
        };
        println!(
            "{:<26} {:<9} {:<30} {:<9} {:>14} {:>24}",
            a.name,
            if a.detected { "yes" } else { "NO" },
            a.first_alert_rule.as_deref().unwrap_or("-"),
            a.first_alert_severity.as_deref().unwrap_or("-"),
            ttd,
            format!(
                "{} / {} ({pct:.2}%)",
                thousands(a.subjects_before_alert),
                thousands(a.subjects_total)
            )
        );
    }
    if !r.benign.is_empty() {
        println!(
            "\n{:<26} {:<16} {:<10}",
            "benign surprise", "highest alert", "allowed"
        );
        for b in &r.benign {
            let ok = b
                .max_severity
                .as_deref()
                .map(|s| s.parse::<Severity>().ok() <= b.allowed.parse::<Severity>().ok())
                .unwrap_or(true);
            println!(
                "{:<26} {:<16} {:<10} {}",
                b.name,
                b.max_severity.as_deref().unwrap_or("none"),
                b.allowed,
                if ok { "ok" } else { "TOO HIGH" }
            );
        }
    }
    println!(
        "\nfalse alerts per 1,000 principal-days (alerts neither on an attack's records nor about its principal once it began):"
    );
    for s in Severity::ALL.iter().rev() {
        let n = r.false_alerts.get(s.as_str()).copied().unwrap_or(0);
        println!(
            "  {:<9} {:>7.2}   ({} alerts)",
            s.as_str(),
            r.false_alerts_per_1000_principal_days
                .get(s.as_str())
                .copied()
                .unwrap_or(0.0),
            n
        );
    }
    println!(
        "  {:<9} {:>7.2}   (target at most 50)\n  {:<9} {:>7.2}   (target at most 1)",
        "all",
        r.false_alerts_all_per_1000_principal_days,
        "high+crit",
        r.false_alerts_high_critical_per_1000_principal_days
    );
}

pub fn eval(data: &Path, a: EvalArgs) -> Result<i32> {
    let r = run(data, &a.scenario, a.days, a.seed)?;
    print(&r);
    if let Some(p) = a.json {
        std::fs::write(&p, serde_json::to_vec_pretty(&r)?)?;
        println!("\nwrote {}", p.display());
    }
    Ok(if r.attacks.iter().all(|x| x.detected) {
        0
    } else {
        1
    })
}
