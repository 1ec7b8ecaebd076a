//! Registry, alerts and incidents commands.

use std::path::PathBuf;
use suho_app::App;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use suho_detect::{AlertFilter, AlertView, Severity};
use suho_registry::HistoryFilter;

use crate::ui::thousands;

#[derive(Subcommand)]
pub enum RegistryCmd {
    /// Upsert principals, signing keys and credentials from NDJSON (`-` reads standard input);
    /// a line with `valid_from` holds from that event time (a re-org, a network move, a
    /// rehire), the version before it until then.
    Load {
        /// Registry file (contract section 2).
        file: PathBuf,
    },
    /// Mark PRINCIPAL departed and revoke every credential and signing key it owns.
    Offboard {
        /// Principal id.
        principal: String,
        /// When the principal left (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        /// Who is offboarding (recorded in history and in the ledger).
        #[arg(long, env = "USER", default_value = "unknown-operator")]
        operator: String,
    },
    /// Credentials and keys still valid although their owner has left.
    Orphans {
        /// Print NDJSON.
        #[arg(long)]
        ndjson: bool,
    },
    /// Every grant, change and revocation, newest first, as NDJSON: `after` is the version
    /// the change made, `valid_from` the event time it holds from (absent: every time).
    History {
        /// Only this id.
        #[arg(long)]
        id: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// A table for people.
    Table,
    /// NDJSON, contract section 3.
    Ndjson,
}

fn now() -> i64 {
    suho_ledger::now_ms()
}

pub fn registry(app: &App, cmd: RegistryCmd) -> Result<i32> {
    let mut store = app.registry()?;
    match cmd {
        RegistryCmd::Load { file } => {
            let name = file.display().to_string();
            let report = if file.as_os_str() == "-" {
                store.load(std::io::stdin().lock(), "-", now())?
            } else {
                let f =
                    std::fs::File::open(&file).with_context(|| format!("cannot open {name}"))?;
                store.load(std::io::BufReader::new(f), &name, now())?
            };
            println!(
                "registry: {} inserted, {} updated, {} unchanged, {} rejected",
                thousands(report.inserted),
                thousands(report.updated),
                thousands(report.unchanged),
                report.rejected.len()
            );
            for (line, reason) in report.rejected.iter().take(20) {
                println!("  {name}:{line}: {reason}");
            }
            if report.rejected.len() > 20 {
                println!(
                    "  ... and {} more rejected lines",
                    report.rejected.len() - 20
                );
            }
            for (line, what) in report.kept_ends.iter().chain(&report.warnings) {
                eprintln!("warning: {name}:{line}: {what}");
            }
            if let Some(t) = report.earliest_valid_from {
                eprintln!(
                    "note: lines carry valid_from (the earliest {}): records stored from now on \
                     are judged against the registry as it stood at their time; records already \
                     stored were judged when they were stored and are not judged again",
                    suho_record::format_rfc3339_ms(t)
                );
            }
        }
        RegistryCmd::Offboard {
            principal,
            at,
            operator,
        } => {
            let at_ms = match at {
                Some(t) => suho_record::parse_rfc3339(&t)
                    .map_err(|e| anyhow::anyhow!("--at {t:?}: {e}"))?,
                None => now(),
            };
            drop(store);
            let (r, recorded) =
                suho_app::registry::offboard(app, &principal, at_ms, &operator, now())?;
            print_offboard(&r, &recorded);
            return Ok(0);
        }
        RegistryCmd::Orphans { ndjson } => print_orphans(&store.orphans(now())?, ndjson)?,
        RegistryCmd::History { id, limit } => {
            for row in store.history(HistoryFilter {
                id,
                limit: Some(limit),
                ..HistoryFilter::default()
            })? {
                println!("{}", serde_json::to_string(&row)?);
            }
        }
    }
    Ok(0)
}

/// What `suho registry offboard` prints: what was revoked, and where the record of it went.
pub fn print_offboard(r: &suho_registry::OffboardReport, recorded: &suho_app::own_use::Recorded) {
    println!(
        "offboarded {} as of {}",
        r.principal,
        suho_record::format_rfc3339_ms(r.at)
    );
    for c in &r.credentials_revoked {
        println!("  revoked credential  {c}");
    }
    for k in &r.keys_revoked {
        println!("  revoked signing key {k}");
    }
    for x in &r.already_revoked {
        println!("  already revoked     {x}");
    }
    println!("{recorded}");
}

/// What `suho registry orphans` prints.
pub fn print_orphans(orphans: &[suho_registry::Orphan], ndjson: bool) -> Result<()> {
    if ndjson {
        for o in orphans {
            println!("{}", serde_json::to_string(o)?);
        }
    } else if orphans.is_empty() {
        println!("no orphaned credentials or keys: everything a departed or suspended principal held is revoked");
    } else {
        println!(
            "{} credentials and keys are still valid although their owner is gone:",
            orphans.len()
        );
        for o in orphans {
            let v = serde_json::to_value(o)?;
            println!(
                "  {:<12} {:<24} owner {:<14} {:<15} since {}",
                o.type_,
                o.id,
                o.owner.as_deref().unwrap_or("-"),
                v["owner_status"].as_str().unwrap_or("?"),
                v["owner_departed_at"]
                    .as_str()
                    .or(v["owner_suspended_at"].as_str())
                    .unwrap_or("-")
            );
        }
    }
    Ok(())
}

/// Alerts and incidents miss what a stopped process stored but never ran through the detectors:
/// say so on standard error (standard output stays what scripts parse).
fn warn_if_recovery_pending(app: &App) -> Result<()> {
    match suho_app::recovery::lag(app) {
        Ok(lag) => {
            if let Some(w) = lag.warning() {
                eprintln!("warning: {w}");
            }
        }
        // A side check: the alerts are still worth printing.
        Err(e) => eprintln!("warning: cannot tell whether recovery is pending: {e}"),
    }
    Ok(())
}

pub fn alerts(
    app: &App,
    format: Format,
    min: Option<Severity>,
    rule: Option<String>,
    actor: Option<String>,
    limit: Option<usize>,
) -> Result<i32> {
    list_alerts(
        app,
        format,
        AlertFilter {
            min_severity: min,
            rule,
            actor,
            limit,
            ..AlertFilter::default()
        },
    )
}

/// `suho alerts`: the alerts `filter` selects, or with [`AlertView::Digest`] the digest.
pub fn list_alerts(app: &App, format: Format, filter: AlertFilter) -> Result<i32> {
    warn_if_recovery_pending(app)?;
    let store = app.alerts()?;
    let alerts = store.list(&filter)?;
    if format == Format::Ndjson {
        for a in &alerts {
            println!("{}", serde_json::to_string(a)?);
        }
        return Ok(0);
    }
    if filter.view == AlertView::Digest {
        return print_digest(&store, &filter);
    }
    if alerts.is_empty() {
        println!("no alerts");
        return Ok(0);
    }
    let hidden = filter.view != AlertView::Raised;
    println!(
        "{:<24} {:<9} {:<28} {:<16} {:>6}  {:<24} {:<24} {}summary",
        "time",
        "severity",
        "rule",
        "actor",
        "count",
        "updated (record)",
        "high since",
        if hidden { "quiet     " } else { "" }
    );
    for a in &alerts {
        let updated = a.updated.as_ref().map_or("-".into(), |u| {
            format!("{} #{}", short(&u.time), u.ledger_index)
        });
        let high = a.high_since().map_or("-".into(), |h| {
            format!("{} #{}", short(&h.time), h.ledger_index)
        });
        let quiet = if hidden {
            format!(
                "{:<10}",
                a.suppressed_by
                    .as_deref()
                    .or(a.digest.as_ref().map(|_| "digest"))
                    .unwrap_or("-")
            )
        } else {
            String::new()
        };
        println!(
            "{:<24} {:<9} {:<28} {:<16} {:>6}  {:<24} {:<24} {quiet}{}",
            a.time,
            a.severity.as_str(),
            a.rule,
            a.actor.as_deref().unwrap_or("-"),
            a.count,
            updated,
            high,
            a.summary
        );
    }
    Ok(0)
}

/// An RFC 3339 time to the second (`2025-06-24T03:12:45Z`), to keep the table narrow.
fn short(t: &str) -> String {
    match (t.get(..19), t.ends_with('Z')) {
        (Some(head), true) => format!("{head}Z"),
        _ => t.to_string(),
    }
}

/// `suho alerts --digest`: one line per day and rule, newest day first.
fn print_digest(store: &suho_detect::AlertStore, filter: &AlertFilter) -> Result<i32> {
    let days = store.digest(filter.since_ms)?;
    let days: Vec<_> = days
        .into_iter()
        .filter(|d| filter.rule.as_ref().is_none_or(|r| *r == d.rule))
        .collect();
    if days.is_empty() {
        println!("the digest is empty: no routine lows");
        return Ok(0);
    }
    println!(
        "routine lows: the same rule drew a low alert about the same entity on most recent days \
         (4 of the 7 or 10 of the 28 before); kept from the sinks, raised again if they rise"
    );
    println!(
        "{:<10}  {:<28} {:>7} {:>9}  about",
        "day", "rule", "alerts", "records"
    );
    for d in &days {
        let mut about = d
            .about
            .iter()
            .take(6)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if d.about.len() > 6 {
            about.push_str(&format!(" and {} more", d.about.len() - 6));
        }
        println!(
            "{:<10}  {:<28} {:>7} {:>9}  {about}",
            d.day,
            d.rule,
            thousands(d.alerts),
            thousands(d.records)
        );
    }
    Ok(0)
}

pub fn incidents(app: &App, format: Format, min: Option<Severity>) -> Result<i32> {
    warn_if_recovery_pending(app)?;
    let store = app.alerts()?;
    let incidents = store.incidents(None, min)?;
    for i in &incidents {
        let v = serde_json::to_value(i)?;
        if format == Format::Ndjson {
            println!("{v}");
        } else {
            println!(
                "{} {:<9} {} .. {}  {}  rules: {}",
                v["id"].as_str().unwrap_or("?"),
                v["severity"].as_str().unwrap_or("?"),
                v["first_time"].as_str().unwrap_or("?"),
                v["last_time"].as_str().unwrap_or("?"),
                v["subject"].as_str().or(v["actor"].as_str()).unwrap_or(""),
                v["rules"]
                    .as_array()
                    .map(|r| r
                        .iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_default()
            );
        }
    }
    if incidents.is_empty() && format == Format::Table {
        println!("no incidents");
    }
    Ok(0)
}

/// Check a severity argument.
pub fn severity_arg(s: &str) -> Result<Severity> {
    match s.parse() {
        Ok(v) => Ok(v),
        Err(e) => bail!("{e}"),
    }
}
