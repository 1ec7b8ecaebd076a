//! `suho notify`: draft every notice an incident's exact scope requires (PIPA Art. 34 notices
//! and the PIPC/KISA report, GDPR Art. 33/34, California Civ. Code 1798.82, the statutory
//! exposure) into `<data>/notices/<INCIDENT>/`, with a per-subject mail-merge list.

use std::path::{Path, PathBuf};
use suho_app::App;

use anyhow::{bail, Context, Result};
use clap::Args;
use suho_notify::{
    draft_all, write_default_templates, write_drafts, write_mail_merge_file, Facts, Stage,
    SubjectRow, Templates, Written, FACTS_FILE, MAIL_MERGE_FILE,
};

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

fn load_previous(out: &Path) -> Result<Option<Facts>> {
    let path = out.join(FACTS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(Facts::from_json(&text, &path.display().to_string())?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn notify(app: &App, a: NotifyArgs) -> Result<i32> {
    let tdir = app.dir().notice_templates_dir();
    if a.init_templates {
        for w in write_default_templates(&tdir)? {
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
    if id.is_empty() || id.contains(['/', '\\']) || id == "." || id == ".." {
        bail!("{id:?} is not an incident id (see `suho incidents`)");
    }
    // Everything that can be wrong with the configuration is found before the scope is read:
    // reading it is recorded as an access to personal data.
    let company = app.config()?.company.clone();
    let templates = Templates::load(&tdir)?;
    templates.check()?;
    let aware_arg = a.aware_at.as_deref().map(parse_time).transpose()?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| app.dir().incident_notices_dir(&id));
    let before = load_previous(&out)?;
    let stage = a.stage.unwrap_or(if before.is_some() {
        Stage::Update
    } else {
        Stage::First
    });
    if stage == Stage::Update && before.is_none() {
        eprintln!(
            "note: no previous run in {} to compare with; the update states the current scope only",
            out.display()
        );
    }

    let reason = a
        .reason
        .clone()
        .unwrap_or_else(|| format!("breach notification (PIPA Art. 34) for incident {id}"));
    let scope = scope_cmd::incident_scope(app, &id, &reason)?;
    let inc = &scope.incident;
    let aware_at_ms = match aware_arg {
        Some(ms) => ms,
        None => first_detected(app, inc)?,
    };
    let s = &scope.summary;
    let facts = Facts {
        incident: inc.id.clone(),
        rules: inc.rules.clone(),
        severity: inc.severity.as_str().to_string(),
        selector: scope.selector_text.clone(),
        aware_at_ms,
        now_ms: suho_ledger::now_ms(),
        stage,
        subjects: s.subjects,
        unlisted_subjects: s.unlisted_subjects,
        records: s.records,
        fields: s.fields.clone(),
        first_access: s.first_access.clone(),
        last_access: s.last_access.clone(),
        countries: s.countries.iter().map(|c| c.id.clone()).collect(),
        credentials: s.credential_count,
        signing_keys: s.signing_keys.iter().map(|k| k.id.clone()).collect(),
        actors: s.actors.iter().map(|x| x.id.clone()).collect(),
        actor_count: s.actor_count,
        external: a.external,
        contacts_missing: a.contacts_missing,
        california_residents: a.california_residents,
        company,
        previous: match stage {
            Stage::First => None,
            _ => before.as_ref().map(Facts::as_previous),
        },
    };

    let drafts = draft_all(&facts, &templates)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let merge = out.join(MAIL_MERGE_FILE);
    let rows = scope.subjects.iter().map(|x| SubjectRow {
        subject: x.subject,
        fields: x.fields,
        first_ms: x.first_ms,
        last_ms: x.last_ms,
        accesses: x.accesses,
    });
    let merged = write_mail_merge_file(&merge, rows)?;
    let written = write_drafts(&out, &drafts)?;

    print_report(&facts, &templates);
    println!();
    println!("Files written to {}:", out.display());
    for p in &written {
        println!(
            "  {}",
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        );
    }
    println!("  {MAIL_MERGE_FILE} ({} subjects)", thousands(merged));
    Ok(0)
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

/// When suho raised the incident's first alert: the moment the company could know.
fn first_detected(app: &App, inc: &suho_detect::Incident) -> Result<i64> {
    let store = app.alerts()?;
    let mut first = None::<i64>;
    for id in &inc.alert_ids {
        if let Some(al) = store.get(id)? {
            if let Ok(ms) = suho_record::parse_rfc3339(&al.detected_at) {
                first = Some(first.map_or(ms, |f| f.min(ms)));
            }
        }
    }
    first.with_context(|| {
        format!(
            "incident {}: no alert says when it was detected; give --aware-at",
            inc.id
        )
    })
}
