//! `suho scope` and `suho history`: which customers, which fields, when, by which credentials
//! and from where, exactly, from the Parquet history; and an incident's scope for the evidence
//! and notice commands. Every scope run is recorded in the ledger as an access to personal data.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use suho_detect::{AlertStore, DetectConfig, Incident};
use suho_history::{
    History, OutFormat, ScopeOptions, ScopeSummary, Selector, SubjectList, SyncProgress,
    DEFAULT_KEEP_DAYS, LARGE_SYSTEM_KEEP_DAYS,
};
use suho_ledger::Layout;

use crate::own_use::{self, OwnUse};
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
pub fn sync_options(data: &Path) -> Result<suho_history::SyncOptions> {
    Ok(suho_history::SyncOptions {
        country_of: country_lookup(data)?,
        ..Default::default()
    })
}

/// Bring the ledger's checkpoint and the detectors up to every durable record (after a crash
/// they lag behind until a writer opens the ledger), then catch the history up with the
/// ledger, with a progress bar when there is much to do. An answer from the history that is
/// called exact must cover every stored record; while another process holds the ledger, it
/// covers what that process has checkpointed, and this says so.
pub fn sync_history(data: &Path, quiet: bool) -> Result<suho_history::SyncReport> {
    let layout = Layout::new(data);
    match suho_ingest::recover(&layout).context("recovering the ledger before answering")? {
        suho_ingest::Recovered::UpToDate { size, caught_up } if caught_up > 0 => eprintln!(
            "recovered: {} stored record(s) that a stopped process had not checkpointed or run \
             through the detectors are now covered (ledger size {})",
            thousands(caught_up),
            thousands(size)
        ),
        suho_ingest::Recovered::UpToDate { .. } => {}
        suho_ingest::Recovered::Live { writer, checkpoint } => eprintln!(
            "note: a running suho process ({writer}) holds the ledger; this answer covers the \
             {} records of its newest checkpoint, not records it stored after it",
            thousands(checkpoint)
        ),
    }
    let started = Instant::now();
    let mut bar = None;
    let report = History::sync_with(&layout, &sync_options(data)?, |p: &SyncProgress| {
        if quiet || p.to - p.from < 200_000 {
            return;
        }
        let b = bar.get_or_insert_with(|| count_bar(p.to - p.from, "history"));
        b.set_position(p.records);
    })
    .context("syncing the history with the ledger")?;
    if let Some(b) = bar {
        b.finish_and_clear();
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

pub fn history(data: &Path, cmd: HistoryCmd) -> Result<i32> {
    let layout = Layout::new(data);
    match cmd {
        HistoryCmd::Sync => {
            let r = sync_history(data, false)?;
            println!(
                "history covers ledger indexes below {} ({} new records, {} files)",
                r.to,
                thousands(r.records),
                r.files.len()
            );
        }
        HistoryCmd::Status => {
            let through = History::indexed_through(&layout)?;
            let summary =
                suho_history::scope(&layout, &Selector::default(), &ScopeOptions::default())?;
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
            sync_history(data, false)?;
            let now = suho_ledger::now_ms();
            let preview = History::prune_preview(&layout, keep, now)?;
            if dry_run {
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
            // Steady retention deletes a small part; deleting most of the history at once is
            // what happens to sample data from a past year, or with a wrong clock.
            if preview.records > preview.kept_records && !yes {
                bail!(
                    "refusing to delete most of the history: {} records are older than {} and only {} would remain (the retention period of {keep} days counts back from today). Run with --dry-run to see the days, or --yes if that is what you want",
                    thousands(preview.records),
                    preview.horizon,
                    thousands(preview.kept_records)
                );
            }
            let r = History::prune(&layout, keep, now)?;
            for p in &r.partitions {
                println!(
                    "history: pruned {}: {} records in {} files (ledger {}..={})",
                    p.date,
                    thousands(p.records),
                    p.files,
                    p.first_index.map_or("-".into(), |i| i.to_string()),
                    p.last_index.map_or("-".into(), |i| i.to_string()),
                );
            }
            // The ledger: whole write-ahead-log segments older than the horizon lose their
            // bodies; entries and tiles stay, so the log stays verifiable (C2SP minimum index).
            let horizon_ms = suho_history::parse_date(&r.horizon).unwrap_or(0) * 86_400_000;
            let mut ledger = suho_ledger::Ledger::open(data, suho_ledger::Options::default())
                .context("pruning the ledger (stop `suho serve` on this data directory first)")?;
            let plan = ledger.plan_prune(horizon_ms)?;
            if r.partitions.is_empty() && plan.is_none() {
                println!("nothing older than {} (keeping {keep} days)", r.horizon);
                return Ok(0);
            }
            let who = own_use::operator(operator.as_deref());
            let min_index = plan.as_ref().map(|p| p.min_index);
            let index = own_use::record_in(
                &mut ledger,
                OwnUse {
                    actor: &who,
                    action: "delete",
                    resource: "suho history prune".into(),
                    purpose: "retention: the PIPA access-record retention period elapsed",
                    subject_count: None,
                    fields: Vec::new(),
                    attrs: serde_json::json!({
                        "suho_event": if plan.is_some() { "ledger.prune" } else { "history.prune" },
                        "min_index": min_index,
                        "keep_days": keep,
                        "horizon": r.horizon,
                        "history_records": r.records,
                        "ledger_records": plan.as_ref().map_or(0, |p| p.records),
                        "partitions": r.partitions.iter().map(|p| serde_json::json!({
                            "date": p.date, "records": p.records,
                            "first_index": p.first_index, "last_index": p.last_index,
                        })).collect::<Vec<_>>(),
                    }),
                },
            )?;
            if let Some(plan) = &plan {
                ledger.apply_prune(plan, index)?;
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
                r.horizon
            );
        }
    }
    Ok(0)
}

fn time_arg(flag: &str, t: &str) -> Result<i64> {
    if let Some(day) = suho_history::parse_date(t) {
        return Ok(day * 86_400_000);
    }
    suho_record::parse_rfc3339(t).map_err(|e| {
        anyhow::anyhow!(
            "--{flag} {t:?}: {e} (use RFC 3339, e.g. 2025-06-24T00:00:00Z, or YYYY-MM-DD)"
        )
    })
}

/// Alert rules that mean a signing key itself is compromised: the scope is everything it signed.
const KEY_RULES: &[&str] = &[
    "forged_credential",
    "orphaned_signing_key",
    "revoked_signing_key",
    "retired_signing_key",
    "unknown_signing_key",
];

/// The selector and a one-line description, from the command-line selectors (and an incident's
/// or alert's records when named).
pub fn build_selector(data: &Path, a: &SelectArgs) -> Result<(Selector, String, Option<Incident>)> {
    let mut sel = Selector {
        actors: a.actor.clone(),
        credentials: a.credential.clone(),
        signing_keys: a.signing_key.clone(),
        countries: a.country.clone(),
        ..Selector::default()
    };
    for c in &a.cidr {
        let net = c
            .parse::<IpNet>()
            .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| {
                anyhow::anyhow!("--cidr {c:?} is neither a network (203.0.113.0/24) nor an address")
            })?;
        sel.networks.push(net);
    }
    let mut words = Vec::new();
    let mut incident = None;
    if a.incident.is_some() || a.alert.is_some() {
        let store = AlertStore::open(&data.join("alerts.db"))?;
        if let Some(id) = &a.incident {
            let inc = store
                .incidents(None, None)?
                .into_iter()
                .find(|i| &i.id == id)
                .with_context(|| format!("no incident {id:?} (see `suho incidents`)"))?;
            let mut keys = Vec::new();
            for aid in &inc.alert_ids {
                if let Some(al) = store.get(aid)? {
                    if KEY_RULES.contains(&al.rule.as_str()) {
                        if let Some(k) = al.signing_key {
                            if !keys.contains(&k) {
                                keys.push(k);
                            }
                        }
                    }
                }
            }
            let (kind, value) = inc
                .subject
                .split_once(':')
                .unwrap_or(("actor", &inc.subject));
            if !keys.is_empty() {
                words.push(format!("signing key {}", keys.join(", ")));
                sel.signing_keys.extend(keys);
            } else {
                match kind {
                    "credential" => sel.credentials.push(value.to_string()),
                    "signing_key" => sel.signing_keys.push(value.to_string()),
                    "source" => sel.networks.push(value.parse::<IpNet>().with_context(|| {
                        format!("incident {id}: source {value:?} is not a network")
                    })?),
                    _ => sel.actors.push(value.to_string()),
                }
                words.push(format!("{} {value}", kind.replace('_', " ")));
            }
            sel.since_ms
                .get_or_insert(suho_record::parse_rfc3339(&inc.first_time).unwrap_or(0));
            if inc.status == "closed" {
                sel.until_ms
                    .get_or_insert(suho_record::parse_rfc3339(&inc.last_time).unwrap_or(0) + 1);
            }
            incident = Some(inc);
        }
        if let Some(id) = &a.alert {
            let al = store
                .get(id)?
                .with_context(|| format!("no alert {id:?} (see `suho alerts`)"))?;
            if KEY_RULES.contains(&al.rule.as_str()) && al.signing_key.is_some() {
                let k = al.signing_key.clone().unwrap_or_default();
                words.push(format!("signing key {k}"));
                sel.signing_keys.push(k);
            } else if let Some(c) = &al.credential {
                words.push(format!("credential {c}"));
                sel.credentials.push(c.clone());
            } else if let Some(actor) = &al.actor {
                words.push(format!("actor {actor}"));
                sel.actors.push(actor.clone());
            }
            sel.since_ms
                .get_or_insert(suho_record::parse_rfc3339(&al.time).unwrap_or(0));
        }
    }
    for (what, v) in [
        ("actor", &a.actor),
        ("credential", &a.credential),
        ("signing key", &a.signing_key),
        ("country", &a.country),
        ("network", &a.cidr),
    ] {
        if !v.is_empty() {
            words.push(format!("{what} {}", v.join(", ")));
        }
    }
    if let Some(t) = &a.since {
        sel.since_ms = Some(time_arg("since", t)?);
    }
    if let Some(t) = &a.until {
        sel.until_ms = Some(time_arg("until", t)?);
    }
    let fmt = |ms: Option<i64>| ms.map_or("..".to_string(), suho_record::format_rfc3339_ms);
    if sel.since_ms.is_some() || sel.until_ms.is_some() {
        words.push(format!(
            "{} .. {}",
            fmt(sel.since_ms),
            sel.until_ms
                .map_or("now".to_string(), suho_record::format_rfc3339_ms)
        ));
    }
    let text = if words.is_empty() {
        "every record in the history".to_string()
    } else {
        words.join(", ")
    };
    Ok((sel, text, incident))
}

/// The geo database as a country lookup, when `suho.toml` names one.
fn country_lookup(data: &Path) -> Result<Option<suho_history::CountryLookup>> {
    let (_, geo) = DetectConfig::load(data)?;
    Ok(geo.map(|g| {
        let g = Arc::new(g);
        Arc::new(move |ip| g.country(ip)) as suho_history::CountryLookup
    }))
}

/// Scope options: the geo database for countries, the customer base for the share (given, or
/// `[company] customers` in suho.toml).
pub fn scope_options(data: &Path, customers: Option<u64>) -> Result<ScopeOptions> {
    let customers = match customers {
        Some(c) => Some(c),
        None => crate::notify_cmd::load_company(data)?.customers,
    };
    Ok(ScopeOptions {
        country_of: country_lookup(data)?,
        customers,
        ..ScopeOptions::default()
    })
}

/// SHA-256 over the sorted subject ids (one per line): stands for the result in the ledger.
fn result_hash(list: Option<&SubjectList>) -> Option<String> {
    let list = list?;
    let mut h = Sha256::new();
    for s in list.iter() {
        h.update(s.subject.as_bytes());
        h.update(b"\n");
    }
    Some(hex::encode(h.finalize()))
}

fn selector_json(sel: &Selector) -> serde_json::Value {
    let fmt = |ms: Option<i64>| ms.map(suho_record::format_rfc3339_ms);
    serde_json::json!({
        "actors": sel.actors, "credentials": sel.credentials, "signing_keys": sel.signing_keys,
        "countries": sel.countries,
        "networks": sel.networks.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "since": fmt(sel.since_ms), "until": fmt(sel.until_ms),
    })
}

/// Record a scope run (or an evidence bundle, a notice) in the ledger.
/// Who ran what, why: the part of an own-use record that is not the scope.
pub struct Use<'a> {
    /// Who ran it.
    pub operator: &'a str,
    /// Why.
    pub reason: &'a str,
    /// The command, e.g. `suho scope`.
    pub what: &'a str,
    /// `search` or `export`.
    pub action: &'a str,
}

pub fn record_scope_use(
    data: &Path,
    u: &Use<'_>,
    sel: &Selector,
    summary: &ScopeSummary,
    list: Option<&SubjectList>,
    extra: serde_json::Value,
) -> Result<own_use::Recorded> {
    let Use {
        operator,
        reason,
        what,
        action,
    } = *u;
    own_use::record(
        data,
        OwnUse {
            actor: operator,
            action,
            resource: what.to_string(),
            purpose: reason,
            subject_count: Some(summary.subjects),
            fields: summary.fields.keys().cloned().collect(),
            attrs: serde_json::json!({
                "suho_event": what.replace(' ', "."),
                "selector": selector_json(sel),
                "records": summary.records,
                "result_sha256": result_hash(list),
                "extra": extra,
            }),
        },
    )
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

pub fn scope(data: &Path, a: ScopeArgs) -> Result<i32> {
    let layout = Layout::new(data);
    sync_history(data, a.format == ScopeFormat::Json)?;
    let (sel, text, _) = build_selector(data, &a.select)?;
    let opts = scope_options(data, a.customers)?;
    let started = Instant::now();
    let (summary, list) = if a.out.is_some() {
        let (s, l) = suho_history::scope_subjects(&layout, &sel, &opts)?;
        (s, Some(l))
    } else {
        (suho_history::scope(&layout, &sel, &opts)?, None)
    };
    let took = started.elapsed();
    let mut written = None;
    if let (Some(out), Some(l)) = (&a.out, &list) {
        let format = match &a.out_format {
            Some(f) => OutFormat::from_name(f)
                .with_context(|| format!("--out-format {f:?}: use csv, ndjson or parquet"))?,
            None => OutFormat::from_path(out).with_context(|| {
                format!(
                    "--out {}: name it .csv, .ndjson or .parquet, or give --out-format",
                    out.display()
                )
            })?,
        };
        let n = l.write(out, format)?;
        written = Some((out.clone(), n));
    }
    let who = own_use::operator(a.operator.as_deref());
    let recorded = record_scope_use(
        data,
        &Use {
            operator: &who,
            reason: &a.reason,
            what: "suho scope",
            action: if written.is_some() {
                "export"
            } else {
                "search"
            },
        },
        &sel,
        &summary,
        list.as_ref(),
        serde_json::json!({ "out": written.as_ref().map(|(p, _)| p.display().to_string()) }),
    )?;
    if a.format == ScopeFormat::Json {
        let mut v = serde_json::to_value(&summary)?;
        v["selector"] = selector_json(&sel);
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
        eprintln!("{recorded}");
        return Ok(0);
    }
    print_summary(&text, &summary, took.as_secs_f64());
    if let Some(c) = a.claim {
        println!("  claim check    {}", claim_verdict(c, summary.subjects));
    }
    if let Some((p, n)) = written {
        println!(
            "  subject list   {} subjects written to {}",
            thousands(n),
            p.display()
        );
    }
    println!("  this run was {recorded} (as {who}: {:?})", a.reason);
    Ok(0)
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

/// An incident's exact scope, for evidence and notices.
pub struct IncidentScope {
    pub incident: Incident,
    pub selector: Selector,
    pub selector_text: String,
    pub summary: ScopeSummary,
    pub subjects: SubjectList,
}

/// Scope an incident (syncs the history first); the run is recorded in the ledger as an access
/// by the operator, with `reason`.
pub fn incident_scope(data: &Path, incident: &str, reason: &str) -> Result<IncidentScope> {
    sync_history(data, false)?;
    let args = SelectArgs {
        incident: Some(incident.to_string()),
        ..SelectArgs::default()
    };
    let (selector, selector_text, inc) = build_selector(data, &args)?;
    let Some(incident) = inc else {
        bail!("no incident {incident:?}");
    };
    let opts = scope_options(data, None)?;
    let (summary, subjects) = suho_history::scope_subjects(&Layout::new(data), &selector, &opts)?;
    let who = own_use::operator(None);
    let recorded = record_scope_use(
        data,
        &Use {
            operator: &who,
            reason,
            what: "suho scope",
            action: "search",
        },
        &selector,
        &summary,
        Some(&subjects),
        serde_json::json!({ "incident": incident.id }),
    )?;
    eprintln!(
        "scope of {}: {} subjects; {recorded}",
        incident.id,
        thousands(summary.subjects)
    );
    Ok(IncidentScope {
        incident,
        selector,
        selector_text,
        summary,
        subjects,
    })
}
