//! `suho notify`: draft every notice an incident's exact scope requires (PIPA Art. 34 notices
//! and the PIPC/KISA report, GDPR Art. 33/34, California Civ. Code 1798.82, the statutory
//! exposure) into `<data>/notices/<INCIDENT>/`, with a per-subject mail-merge list.

use std::path::PathBuf;
use suho_app::App;

use anyhow::Result;
use clap::Args;
use suho_notify::{write_default_templates, Facts, Stage, Templates, Written, MAIL_MERGE_FILE};

use crate::scope_cmd;
use crate::ui::thousands;

#[derive(Args, Clone)]
pub struct NotifyArgs {
    /// The incident id (see `suho incidents`).
    #[arg(required_unless_present = "init_templates")]
    pub incident: Option<String>,
    /// Directory for the drafts (default: <data>/notices/<INCIDENT>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// When the company became aware of the leak (RFC 3339 or epoch ms); the 72-hour clocks
    /// start here. Default: when suho raised the incident's first alert (its `detected_at`).
    #[arg(long)]
    pub aware_at: Option<String>,
    /// possible (not yet confirmed), first (what is known so far), update (compares with the
    /// previous run in the output directory) or final. Default: update when a previous run's
    /// facts are there, else first.
    #[arg(long, value_parser = stage_arg)]
    pub stage: Option<Stage>,
    /// The access was unlawful access from outside, whatever the rules say (a reporting
    /// trigger).
    #[arg(long)]
    pub external: bool,
    /// Some subjects' contact details are missing: the web-site posting replaces their notice.
    #[arg(long)]
    pub contacts_missing: bool,
    /// Number of California residents among the subjects, if known (Attorney General
    /// submission above 500).
    #[arg(long)]
    pub california_residents: Option<u64>,
    /// Why the incident's scope is read (recorded in the ledger as an access to personal data).
    #[arg(long)]
    pub reason: Option<String>,
    /// Write the default templates to <data>/templates/notify/ for editing (existing files are
    /// kept), then draft if an incident is given.
    #[arg(long)]
    pub init_templates: bool,
}

fn stage_arg(s: &str) -> Result<Stage, String> {
    s.parse()
}

fn parse_time(s: &str) -> Result<i64> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return Ok(ms);
    }
    suho_record::parse_rfc3339(s.trim())
        .map_err(|e| anyhow::anyhow!("{s:?} is not an RFC 3339 time or epoch milliseconds: {e}"))
}

pub fn notify(app: &App, a: NotifyArgs) -> Result<i32> {
    if a.init_templates {
        for w in write_default_templates(&app.dir().notice_templates_dir())? {
            match w {
                Written::Created(p) => println!("wrote  {}", p.display()),
                Written::Kept(p) => println!("kept   {} (already there)", p.display()),
            }
        }
        println!("edit these files; each overrides the built-in template of the same name");
    }
    let Some(id) = a.incident.clone() else {
        return Ok(0);
    };
    let aware_at_ms = a.aware_at.as_deref().map(parse_time).transpose()?;
    // Show the history catching up (the service syncs too, and then finds nothing new).
    scope_cmd::sync_history(app, false)?;
    let n = suho_app::notify::draft(
        app,
        &suho_app::notify::NotifyRequest {
            incident: id,
            out: a.out.clone(),
            aware_at_ms,
            stage: a.stage,
            external: a.external,
            contacts_missing: a.contacts_missing,
            california_residents: a.california_residents,
            reason: a.reason.clone(),
            operator: suho_app::own_use::operator(None),
        },
    )?;
    print_notified(&n);
    Ok(0)
}

/// What `suho notify` prints of a run: the report, then the files written.
pub fn print_notified(n: &suho_app::notify::Notified) {
    eprintln!(
        "scope of {}: {} subjects; {}",
        n.scope.incident.id,
        thousands(n.scope.summary.subjects),
        n.scope.recorded
    );
    if n.no_previous {
        eprintln!(
            "note: no previous run in {} to compare with; the update states the current scope only",
            n.out.display()
        );
    }
    print_report(&n.facts, &n.templates);
    println!();
    println!("Files written to {}:", n.out.display());
    for p in &n.written {
        println!(
            "  {}",
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        );
    }
    println!("  {MAIL_MERGE_FILE} ({} subjects)", thousands(n.merged));
}

fn print_report(f: &Facts, templates: &Templates) {
    let c = f.clocks();
    let t = f.triggers();
    let clock = |what: &str, k: &suho_notify::Clock| {
        let left = if k.overdue() {
            format!("OVERDUE by {:.1} h", -k.hours_left())
        } else {
            format!("{:.1} h left", k.hours_left())
        };
        println!(
            "  {what:<28} by {}  ({left})",
            suho_record::format_rfc3339_ms(k.deadline_ms)
        );
    };
    println!(
        "Incident {} ({}): {} subjects, {} access records",
        f.incident,
        f.stage,
        thousands(f.subjects),
        thousands(f.records)
    );
    if let Some(p) = &f.previous {
        println!(
            "  previously {}, now {} subjects (previous run: {}, {})",
            thousands(p.subjects),
            thousands(f.subjects),
            p.stage,
            suho_record::format_rfc3339_ms(p.drafted_at_ms)
        );
    }
    println!(
        "72-hour clocks from awareness at {}:",
        suho_record::format_rfc3339_ms(f.aware_at_ms)
    );
    clock("notify data subjects", &c.notify_subjects);
    clock("report to the PIPC/KISA", &c.report_pipc);
    println!(
        "Report to the PIPC/KISA: {}",
        if t.report_required {
            "REQUIRED"
        } else {
            "not required by the current scope (no trigger applies)"
        }
    );
    println!(
        "  [{}] 1,000 or more subjects",
        if t.large_scale { "x" } else { " " }
    );
    println!(
        "  [{}] unique identifiers or sensitive information{}",
        if t.special_categories.is_empty() {
            " "
        } else {
            "x"
        },
        if t.special_categories.is_empty() {
            String::new()
        } else {
            format!(": {}", t.special_categories.join(", "))
        }
    );
    println!(
        "  [{}] unlawful access from outside{}",
        if t.external_access { "x" } else { " " },
        if t.external_reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", t.external_reasons.join(", "))
        }
    );
    let missing = f.company.missing();
    if missing.is_empty() {
        println!("Company facts: complete");
    } else {
        println!(
            "Missing company facts (drafts show [placeholders]; set them in suho.toml [company]): {}",
            missing.join(", ")
        );
    }
    let overridden = templates.overridden();
    if !overridden.is_empty() {
        println!("Templates overridden: {}", overridden.join(", "));
    }
    for p in templates.ignored() {
        println!(
            "warning: {} matches no template name and is ignored (names: {})",
            p.display(),
            Templates::names().collect::<Vec<_>>().join(", ")
        );
    }
}
