//! `suho scope` and `suho history`: which customers, which fields, when, by which credentials
//! and from where, exactly, from the Parquet history; and an incident's scope for the evidence
//! and notice commands. Every scope run is recorded in the ledger as an access to personal data.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use suho_app::own_use;
use suho_app::scope::{selector_json, ScopeRequest, SelectSpec};
use suho_app::App;
use suho_history::{
    History, OutFormat, ScopeOptions, ScopeSummary, Selector, SyncProgress, DEFAULT_KEEP_DAYS,
    LARGE_SYSTEM_KEEP_DAYS,
};

use crate::ui::{count_bar, thousands};

/// Which records: every selector given must match; repeat one to allow several values.
#[derive(Args, Clone, Default)]
pub struct SelectArgs {
    /// The account that acted.
    #[arg(long)]
    pub actor: Vec<String>,
    /// The credential presented (token id, API key id).
    #[arg(long)]
    pub credential: Vec<String>,
    /// The key that signed the credential.
    #[arg(long)]
    pub signing_key: Vec<String>,
    /// Source country (ISO 3166 alpha-2, from the geo database).
    #[arg(long)]
    pub country: Vec<String>,
    /// Source network (CIDR) or single IP address.
    #[arg(long, alias = "ip")]
    pub cidr: Vec<String>,
    /// Event time at or after (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<String>,
    /// Event time before (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub until: Option<String>,
    /// The records of this incident (see `suho incidents`).
    #[arg(long)]
    pub incident: Option<String>,
    /// The records of this alert's subject since it fired (see `suho alerts`).
    #[arg(long)]
    pub alert: Option<String>,
}

impl SelectArgs {
    /// What the arguments name, for the application layer.
    pub fn spec(&self) -> SelectSpec {
        SelectSpec {
            actors: self.actor.clone(),
            credentials: self.credential.clone(),
            signing_keys: self.signing_key.clone(),
            countries: self.country.clone(),
            networks: self.cidr.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            incident: self.incident.clone(),
            alert: self.alert.clone(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeFormat {
    /// For people.
    Table,
    /// Contract section 5, one JSON object.
    Json,
}

#[derive(Args, Clone)]
pub struct ScopeArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output form.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ScopeFormat,
    /// Write the per-subject list (subject, fields, first and last access, accesses, ledger
    /// indexes) to this file: .csv, .ndjson or .parquet.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Format of --out when its extension does not say (csv, ndjson, parquet).
    #[arg(long)]
    pub out_format: Option<String>,
    /// A number of affected customers someone claimed, to check against the ledger.
    #[arg(long)]
    pub claim: Option<u64>,
    /// Why you run this scope (recorded in the ledger with your name).
    #[arg(long, env = "SUHO_REASON", default_value = "no reason given")]
    pub reason: String,
    /// Who runs it (default: SUHO_OPERATOR, else the login name).
    #[arg(long = "as")]
    pub operator: Option<String>,
    /// Size of the whole customer base (default: `[company] customers` in suho.toml).
    #[arg(long)]
    pub customers: Option<u64>,
}

#[derive(Subcommand, Clone)]
pub enum HistoryCmd {
    /// Index every checkpointed record not yet in the history.
    Sync,
    /// Delete history day partitions past the retention period (the ledger stays whole and
    /// verifiable); the pruning is recorded in the ledger.
    Prune {
        /// Keep this many days (default 365; PIPA asks 2 years of large systems: --large-system).
        #[arg(long)]
        keep_days: Option<u32>,
        /// Keep 730 days: systems with 50,000+ subjects, unique identifiers or sensitive data.
        #[arg(long)]
        large_system: bool,
        /// Who runs it.
        #[arg(long = "as")]
        operator: Option<String>,
        /// Show what would be deleted, and delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete even when more records would go than stay (as with sample data from a past
        /// year, or a clock set wrong).
        #[arg(long)]
        yes: bool,
    },
    /// What the history covers.
    Status,
}

/// Sync options: the geo database fills the history's `country` column.
pub fn sync_options(app: &App) -> Result<suho_history::SyncOptions> {
    Ok(suho_history::SyncOptions {
        country_of: suho_app::scope::country_lookup(app)?,
        ..Default::default()
    })
}

/// Recover, then catch the history up with the ledger (the application layer's policy before
/// an exact answer), with a progress bar when there is much to do and a sentence on what
/// recovery did.
pub fn sync_history(app: &App, quiet: bool) -> Result<suho_history::SyncReport> {
    let started = Instant::now();
    let mut bar = None;
    let (recovered, report) = suho_app::scope::sync_history(app, &mut |p: &SyncProgress| {
        if quiet || p.to - p.from < 200_000 {
            return;
        }
        let b = bar.get_or_insert_with(|| count_bar(p.to - p.from, "history"));
        b.set_position(p.records);
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match recovered {
        suho_app::recovery::Recovered::UpToDate { size, caught_up } if caught_up > 0 => eprintln!(
            "recovered: {} stored record(s) that a stopped process had not checkpointed or run \
             through the detectors are now covered (ledger size {})",
            thousands(caught_up),
            thousands(size)
        ),
        suho_app::recovery::Recovered::UpToDate { .. } => {}
        suho_app::recovery::Recovered::Live { writer, checkpoint } => eprintln!(
            "note: a running suho process ({writer}) holds the ledger; this answer covers the \
             {} records of its newest checkpoint, not records it stored after it",
            thousands(checkpoint)
        ),
    }
    if !quiet && report.records > 0 {
        eprintln!(
            "history: indexed {} new records (ledger {}..{}) in {:.1}s",
            thousands(report.records),
            report.from,
            report.to,
            started.elapsed().as_secs_f64()
        );
    }
    if report.unreadable > 0 {
        eprintln!(
            "history: {} stored records could not be read as access records (first: {})",
            report.unreadable,
            report.first_unreadable.as_deref().unwrap_or("?")
        );
    }
    Ok(report)
}

pub fn history(app: &App, cmd: HistoryCmd) -> Result<i32> {
    let layout = app.dir().layout();
    match cmd {
        HistoryCmd::Sync => {
            let r = sync_history(app, false)?;
            println!(
                "history covers ledger indexes below {} ({} new records, {} files)",
                r.to,
                thousands(r.records),
                r.files.len()
            );
        }
        HistoryCmd::Status => {
            let through = History::indexed_through(layout)?;
            let summary =
                suho_history::scope(layout, &Selector::default(), &ScopeOptions::default())?;
            println!(
                "history covers ledger indexes below {through}: {} records, {} distinct subjects, {} .. {}, oldest day kept {}",
                thousands(summary.records),
                thousands(summary.subjects),
                summary.first_access.as_deref().unwrap_or("-"),
                summary.last_access.as_deref().unwrap_or("-"),
                summary.scan.oldest_day.as_deref().unwrap_or("-"),
            );
        }
        HistoryCmd::Prune {
            keep_days,
            large_system,
            operator,
            dry_run,
            yes,
        } => {
            let keep = keep_days.unwrap_or(if large_system {
                LARGE_SYSTEM_KEEP_DAYS
            } else {
                DEFAULT_KEEP_DAYS
            });
            // Judged on the whole history: index what the ledger holds first.
            sync_history(app, false)?;
            let now = suho_ledger::now_ms();
            if dry_run {
                let preview = suho_app::retention::preview(app, keep, now)?;
                println!(
                    "would delete {} records in {} day partitions older than {} (keeping {keep} days from today); {} records in {} day partitions would remain",
                    thousands(preview.records),
                    preview.partitions.len(),
                    preview.horizon,
                    thousands(preview.kept_records),
                    preview.kept_partitions
                );
                return Ok(0);
            }
            let who = own_use::operator(operator.as_deref());
            let r = suho_app::retention::prune(
                app,
                &suho_app::retention::PruneRequest {
                    keep_days: keep,
                    now_ms: now,
                    operator: &who,
                    allow_most: yes,
                },
            )?;
            for p in &r.history.partitions {
                println!(
                    "history: pruned {}: {} records in {} files (ledger {}..={})",
                    p.date,
                    thousands(p.records),
                    p.files,
                    p.first_index.map_or("-".into(), |i| i.to_string()),
                    p.last_index.map_or("-".into(), |i| i.to_string()),
                );
            }
            let Some(index) = r.recorded_at else {
                println!(
                    "nothing older than {} (keeping {keep} days)",
                    r.history.horizon
                );
                return Ok(0);
            };
            if let Some(plan) = &r.ledger {
                println!(
                    "ledger: removed the bodies of the {} records below index {} ({} segments, {:.1} MB); their entries and tiles stay, and `suho verify` still checks them",
                    thousands(plan.records),
                    plan.min_index,
                    plan.segments.len(),
                    plan.bytes as f64 / 1e6
                );
            }
            println!(
                "pruned everything older than {} (keeping {keep} days); recorded in the ledger at index {index}",
                r.history.horizon
            );
        }
    }
    Ok(0)
}

/// The verdict on a claimed number of affected customers.
pub fn claim_verdict(claimed: u64, exact: u64) -> String {
    match claimed.cmp(&exact) {
        std::cmp::Ordering::Equal => {
            format!(
                "the claim of {} matches the ledger exactly",
                thousands(claimed)
            )
        }
        std::cmp::Ordering::Less => format!(
            "the claim of {} understates it: the ledger says {} ({} more{})",
            thousands(claimed),
            thousands(exact),
            thousands(exact - claimed),
            if claimed > 0 {
                format!(", {:.1} times the claim", exact as f64 / claimed as f64)
            } else {
                String::new()
            }
        ),
        std::cmp::Ordering::Greater => format!(
            "the claim of {} is more than the ledger shows ({}): the ledger records {} fewer",
            thousands(claimed),
            thousands(exact),
            thousands(claimed - exact)
        ),
    }
}

pub fn scope(app: &App, a: ScopeArgs) -> Result<i32> {
    sync_history(app, a.format == ScopeFormat::Json)?;
    let out = match &a.out {
        None => None,
        Some(out) => Some((
            out.clone(),
            match &a.out_format {
                Some(f) => OutFormat::from_name(f)
                    .with_context(|| format!("--out-format {f:?}: use csv, ndjson or parquet"))?,
                None => OutFormat::from_path(out).with_context(|| {
                    format!(
                        "--out {}: name it .csv, .ndjson or .parquet, or give --out-format",
                        out.display()
                    )
                })?,
            },
        )),
    };
    let who = own_use::operator(a.operator.as_deref());
    let run = suho_app::scope::run(
        app,
        &ScopeRequest {
            select: a.select.spec(),
            customers: a.customers,
            out,
            operator: &who,
            reason: &a.reason,
        },
    )?;
    if a.format == ScopeFormat::Json {
        let summary = &run.summary;
        let mut v = serde_json::to_value(summary)?;
        v["selector"] = selector_json(&run.selector);
        // Added: the selected actors' registry versions (contract section 2 lines).
        if !run.registry.is_empty() {
            v["registry"] = serde_json::to_value(&run.registry)?;
        }
        // False when retention deleted days the selection reaches into (see scan.pruned_before).
        v["complete"] = summary.scan.pruned_before.is_none().into();
        if let Some(c) = a.claim {
            v["claim"] = serde_json::json!({
                "claimed": c, "subjects": summary.subjects,
                "verdict": match c.cmp(&summary.subjects) {
                    std::cmp::Ordering::Equal => "matches",
                    std::cmp::Ordering::Less => "understated",
                    std::cmp::Ordering::Greater => "overstated",
                },
            });
        }
        println!("{}", serde_json::to_string(&v)?);
        eprintln!("{}", run.recorded);
        return Ok(0);
    }
    print_run(&run, a.claim, &who, &a.reason);
    Ok(0)
}

/// A scope's answer for people: the summary, the claim check, the list written, the record.
pub fn print_run(run: &suho_app::scope::ScopeRun, claim: Option<u64>, who: &str, reason: &str) {
    print_summary(&run.text, &run.summary, run.seconds);
    if let Some(c) = claim {
        println!(
            "  claim check    {}",
            claim_verdict(c, run.summary.subjects)
        );
    }
    // The selected actors as the registry had them, version by version (valid_from: from when).
    for p in &run.registry {
        println!(
            "  registry       {}",
            serde_json::to_string(p).unwrap_or_default()
        );
    }
    if let Some((p, n)) = &run.written {
        println!(
            "  subject list   {} subjects written to {}",
            thousands(*n),
            p.display()
        );
    }
    println!("  this run was {} (as {who}: {reason:?})", run.recorded);
}

pub fn print_summary(text: &str, s: &ScopeSummary, seconds: f64) {
    println!("scope: {text}");
    let share = s
        .share_of_customers
        .map(|f| {
            format!(
                " ({:.2}% of {} customers)",
                f * 100.0,
                thousands(s.customers.unwrap_or(0))
            )
        })
        .unwrap_or_default();
    match &s.scan.pruned_before {
        None => println!("  subjects       {}{share}, exact", thousands(s.subjects)),
        Some(day) => {
            println!(
                "  subjects       {}{share}, exact over the history kept",
                thousands(s.subjects)
            );
            println!(
                "  pruned         retention deleted every day before {day}: records from then are not counted"
            );
        }
    }
    if s.unlisted_subjects > 0 {
        println!(
            "                 plus up to {} processed in bulk without being listed one by one",
            thousands(s.unlisted_subjects)
        );
    }
    println!("  records        {}", thousands(s.records));
    println!(
        "  when           {} .. {}",
        s.first_access.as_deref().unwrap_or("-"),
        s.last_access.as_deref().unwrap_or("-")
    );
    let mut fields: Vec<_> = s.fields.iter().collect();
    fields.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (i, (f, n)) in fields.iter().enumerate() {
        println!(
            "  {:<14} {:<26} {:>12} subjects",
            if i == 0 { "fields" } else { "" },
            f,
            thousands(**n)
        );
    }
    let list = |v: &[suho_history::Involved], total: u64| {
        let mut out: Vec<String> = v
            .iter()
            .take(5)
            .map(|i| format!("{} ({})", i.id, thousands(i.records)))
            .collect();
        if total > 5 {
            out.push(format!("and {} more", thousands(total - 5)));
        }
        out.join(", ")
    };
    println!(
        "  credentials    {}: {}",
        thousands(s.credential_count),
        list(&s.credentials, s.credential_count)
    );
    println!(
        "  signing keys   {}: {}",
        thousands(s.signing_key_count),
        list(&s.signing_keys, s.signing_key_count)
    );
    println!(
        "  actors         {}: {}",
        thousands(s.actor_count),
        list(&s.actors, s.actor_count)
    );
    println!(
        "  source IPs     {}: {}",
        thousands(s.ip_count),
        list(&s.ips, s.ip_count)
    );
    println!(
        "  countries      {}",
        list(&s.countries, s.countries.len() as u64)
    );
    println!(
        "  scanned        {} of {} row groups in {} files, {:.2}s (history covers ledger < {})",
        s.scan.row_groups_read, s.scan.row_groups, s.scan.files, seconds, s.scan.indexed_through
    );
}
