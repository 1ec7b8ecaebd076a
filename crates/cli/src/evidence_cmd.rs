//! `suho evidence` and `suho verify-evidence`: an incident's records with the proofs an
//! investigator checks offline, and what they show of the company's claims.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use suho_app::App;
use suho_evidence::verify_bundle;

use crate::scope_cmd::claim_verdict;
use crate::ui::{thousands, verifier_arg};

#[derive(Args, Clone)]
pub struct EvidenceArgs {
    /// The incident id (see `suho incidents`).
    pub incident: String,
    /// The bundle directory to create.
    #[arg(long)]
    pub out: PathBuf,
    /// Why (recorded in the ledger with your name).
    #[arg(
        long,
        env = "SUHO_REASON",
        default_value = "evidence for an incident investigation"
    )]
    pub reason: String,
}

#[derive(Args, Clone)]
#[command(
    after_help = "Exit status: 0 the bundle verifies and every claim given fits it; \
1 the bundle does not verify (altered, incomplete, or not signed by --key); \
2 the command could not run (bad arguments, unreadable files); \
3 the bundle verifies but a claim given does not fit it."
)]
pub struct VerifyEvidenceArgs {
    /// The bundle directory.
    pub dir: PathBuf,
    /// The log's verifier key (or a file holding it), obtained independently of the bundle.
    #[arg(long)]
    pub key: Option<String>,
    /// A claimed number of affected customers to check ("only 4,500 accounts").
    #[arg(long)]
    pub claim_subjects: Option<u64>,
    /// Check the claim "no data left the company".
    #[arg(long)]
    pub claim_no_external: bool,
    /// Check a claim that the data of N customers was recovered (all of it, it says).
    #[arg(long)]
    pub claim_recovered: Option<u64>,
    /// Print the check as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn evidence(app: &App, a: EvidenceArgs) -> Result<i32> {
    crate::scope_cmd::sync_history(app, false)?;
    let who = suho_app::own_use::operator(None);
    let suho_app::evidence::Bundled {
        scope,
        report,
        recorded,
    } = suho_app::evidence::bundle(app, &a.incident, &a.out, &who, &a.reason)?;
    print_bundled(&a.out, &scope, &report, &recorded);
    Ok(0)
}

/// What `suho evidence` prints of a bundle written.
pub fn print_bundled(
    out: &std::path::Path,
    scope: &suho_app::scope::IncidentScope,
    report: &suho_evidence::BundleReport,
    recorded: &suho_app::own_use::Recorded,
) {
    eprintln!(
        "scope of {}: {} subjects; {}",
        scope.incident.id,
        thousands(scope.summary.subjects),
        scope.recorded
    );
    println!(
        "wrote {}: {} records of {} ({}), {} subjects, proved against a checkpoint of size {} with a consistency proof to size {}; {} tiles, {:.1} MB",
        out.display(),
        thousands(report.records),
        scope.incident.id,
        scope.selector_text,
        thousands(scope.summary.subjects),
        thousands(report.checkpoint_size),
        thousands(report.latest_size),
        thousands(report.tiles),
        report.bytes as f64 / 1e6
    );
    println!("this export was {recorded}");
}

pub fn verify_evidence(a: VerifyEvidenceArgs) -> Result<i32> {
    let pinned = a.key.as_deref().map(verifier_arg).transpose()?;
    let check = match verify_bundle(&a.dir, pinned.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            println!("FAILED: {e}");
            return Ok(1);
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&check)?);
    } else {
        println!(
            "OK: {} records are in the log {} (checkpoint of size {}, {} entry tiles proved), and the latest checkpoint (size {}) extends it",
            thousands(check.records),
            check.origin,
            thousands(check.checkpoint_size),
            thousands(check.tiles_proved),
            thousands(check.latest_size)
        );
        if !check.key_pinned {
            println!("   signatures checked with the bundle's own verifier.key: pass --key with a key obtained independently");
        }
        println!(
            "   {} distinct subjects, {} .. {}",
            thousands(check.subjects),
            check.first_access.as_deref().unwrap_or("-"),
            check.last_access.as_deref().unwrap_or("-")
        );
        let fields: Vec<String> = check
            .fields
            .iter()
            .map(|(f, n)| format!("{f} {}", thousands(*n)))
            .collect();
        println!("   fields: {}", fields.join(", "));
        let countries: Vec<String> = check
            .countries
            .iter()
            .map(|(c, n)| format!("{c} {}", thousands(*n)))
            .collect();
        println!(
            "   records by source country (suho's geo statement): {}",
            countries.join(", ")
        );
    }
    let mut fits = true;
    if let Some(n) = a.claim_subjects {
        println!(
            "claim \"{} customers affected\": {}",
            thousands(n),
            claim_verdict(n, check.subjects)
        );
        fits &= n >= check.subjects;
    }
    if a.claim_no_external {
        if check.external_records == 0 {
            println!("claim \"no data left the company\": fits: every record came from the home countries and none was an export, download or print");
        } else {
            fits = false;
            println!(
                "claim \"no data left the company\": does NOT fit: {} records ({} subjects) were read from outside the home countries or exported",
                thousands(check.external_records),
                thousands(check.external_subjects)
            );
        }
    }
    if let Some(n) = a.claim_recovered {
        if n >= check.subjects {
            println!("claim \"all data of {} customers recovered\": covers the {} subjects the ledger shows", thousands(n), thousands(check.subjects));
        } else {
            fits = false;
            println!(
                "claim \"all data of {} customers recovered\": does NOT fit: the ledger shows {} subjects' data read, {} more than recovered",
                thousands(n),
                thousands(check.subjects),
                thousands(check.subjects - n)
            );
        }
    }
    Ok(if fits { 0 } else { 3 })
}
