//! `suho suppress`: analysts' suppressions of one rule for one actor, network or resource,
//! with an expiry and a reason, each recorded in the ledger.

use anyhow::{anyhow, Result};
use clap::{ArgGroup, Subcommand};
use suho_app::App;
use suho_detect::Target;

use crate::ui::thousands;

#[derive(Subcommand)]
pub enum SuppressCmd {
    /// Hide RULE's alerts about one actor, network or resource until a time (event time),
    /// recorded in the ledger with who and why. A hidden alert is still stored (`suho alerts
    /// --suppressed`) but not sent to the sinks. Critical alerts are never hidden, and a rule
    /// that states a registry fact (departed, suspended, revoked, forged, ...) needs --force.
    /// A running `suho serve` or `suho ingest --follow` applies it from its next records.
    #[command(group(ArgGroup::new("target").required(true).args(["actor", "network", "resource"])))]
    Add {
        /// The rule (e.g. subjects_per_day, unusual_network, off_hours).
        #[arg(long)]
        rule: String,
        /// Only this actor's records.
        #[arg(long)]
        actor: Option<String>,
        /// Only records from this source network (CIDR).
        #[arg(long)]
        network: Option<String>,
        /// Only records about this resource (as records name it).
        #[arg(long)]
        resource: Option<String>,
        /// Applies to records before this event time (RFC 3339).
        #[arg(long)]
        until: String,
        /// Why (recorded in the ledger).
        #[arg(long)]
        reason: String,
        /// Allow suppressing a registry-fact rule (its critical alerts still go out).
        #[arg(long)]
        force: bool,
        /// Who is suppressing (default SUHO_OPERATOR, else the login name).
        #[arg(long = "as")]
        operator: Option<String>,
    },
    /// The suppressions in force, each with what it hid (alerts, records, the latest).
    List {
        /// Removed suppressions too.
        #[arg(long)]
        all: bool,
        /// Print NDJSON.
        #[arg(long)]
        ndjson: bool,
    },
    /// Stop suppression ID (recorded in the ledger); it stays listed with `--all`.
    Remove {
        /// The suppression's id (`sup-<n>`).
        id: String,
        /// Why (recorded in the ledger).
        #[arg(long, default_value = "no longer needed")]
        reason: String,
        /// Who is removing it.
        #[arg(long = "as")]
        operator: Option<String>,
    },
}

pub fn suppress(app: &App, cmd: SuppressCmd) -> Result<i32> {
    let now = suho_ledger::now_ms();
    match cmd {
        SuppressCmd::Add {
            rule,
            actor,
            network,
            resource,
            until,
            reason,
            force,
            operator,
        } => {
            let target = match (actor, network, resource) {
                (Some(a), _, _) => Target::Actor(a),
                (_, Some(n), _) => Target::Network(n),
                (_, _, Some(r)) => Target::Resource(r),
                _ => return Err(anyhow!("name an --actor, a --network or a --resource")),
            };
            let until_ms = suho_record::parse_rfc3339(&until)
                .map_err(|e| anyhow!("--until {until:?}: {e}"))?;
            let operator = suho_app::own_use::operator(operator.as_deref());
            let (s, recorded) = suho_app::suppress::add(
                app,
                suho_app::suppress::NewSuppression {
                    rule,
                    target,
                    until_ms,
                    reason,
                    force,
                },
                &operator,
                now,
            )?;
            println!(
                "{}: {} for {} {} until {} ({})",
                s.id,
                s.rule,
                s.target.kind(),
                s.target.value(),
                s.until,
                s.reason
            );
            println!("{recorded}");
        }
        SuppressCmd::List { all, ndjson } => {
            let list = suho_app::suppress::list(app, all)?;
            if ndjson {
                for l in &list {
                    let mut v = serde_json::to_value(&l.suppression)?;
                    v["hidden"] = serde_json::to_value(l.hidden)?;
                    println!("{v}");
                }
                return Ok(0);
            }
            if list.is_empty() {
                println!("no suppressions");
                return Ok(0);
            }
            println!(
                "{:<8} {:<22} {:<32} {:<24} {:>7} {:>8}  {:<24} reason",
                "id", "rule", "for", "until", "alerts", "records", "last hidden"
            );
            for l in &list {
                let s = &l.suppression;
                let mut reason = s.reason.clone();
                if let Some(at) = &s.removed_at {
                    reason = format!("{reason} [removed {at}]");
                }
                println!(
                    "{:<8} {:<22} {:<32} {:<24} {:>7} {:>8}  {:<24} {reason}",
                    s.id,
                    s.rule,
                    format!("{} {}", s.target.kind(), s.target.value()),
                    s.until,
                    thousands(l.hidden.alerts),
                    thousands(l.hidden.records),
                    l.hidden
                        .last_ms
                        .map_or("-".into(), suho_record::format_rfc3339_ms),
                );
            }
        }
        SuppressCmd::Remove {
            id,
            reason,
            operator,
        } => {
            let operator = suho_app::own_use::operator(operator.as_deref());
            let (s, recorded) = suho_app::suppress::remove(app, &id, &reason, &operator, now)?;
            println!(
                "{} removed: {} for {} {} no longer hidden",
                s.id,
                s.rule,
                s.target.kind(),
                s.target.value()
            );
            println!("{recorded}");
        }
    }
    Ok(0)
}
