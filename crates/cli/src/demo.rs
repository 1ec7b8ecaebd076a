//! `suho demo` (the README's main job) and `suho simulate`.

use std::path::{Path, PathBuf};
use std::time::Instant;
use suho_app::App;

use anyhow::{Context, Result};
use clap::Args;
use suho_ledger::Layout;
use suho_sim::{ScenarioName, SimConfig, Timestamp};

use crate::ui::thousands;

#[derive(Args, Clone)]
pub struct SimulateArgs {
    /// Output directory: records.ndjson, registry.ndjson, geo.csv, suho.toml, truth.ndjson.
    #[arg(long, default_value = "sim")]
    pub out: PathBuf,
    /// Seed: the same settings give the same bytes.
    #[arg(long)]
    pub seed: Option<u64>,
    /// First day (YYYY-MM-DD, Seoul time).
    #[arg(long)]
    pub start: Option<String>,
    /// Number of days.
    #[arg(long)]
    pub days: Option<u32>,
    /// Customers.
    #[arg(long)]
    pub customers: Option<u32>,
    /// Employees and contractors.
    #[arg(long)]
    pub employees: Option<u32>,
    /// Records on an average day.
    #[arg(long)]
    pub records_per_day: Option<u64>,
    /// Mix in labelled attacks: coupang, slow-theft, stolen-api-key, insider-download, benign, quiet-insider, steady-excess, role-data, all.
    #[arg(long)]
    pub scenario: Option<String>,
}

impl SimulateArgs {
    fn config(&self) -> Result<SimConfig> {
        let mut c = SimConfig::default();
        if let Some(s) = self.seed {
            c.seed = s;
        }
        if let Some(s) = &self.start {
            c.start = Timestamp::parse(s)?;
        }
        if let Some(d) = self.days {
            c.days = d;
        }
        if let Some(n) = self.customers {
            c.customers = n;
        }
        if let Some(n) = self.employees {
            c.employees = n;
        }
        if let Some(n) = self.records_per_day {
            c.records_per_day = Some(n);
        }
        if let Some(s) = &self.scenario {
            c.scenario = Some(s.parse::<ScenarioName>()?);
        }
        Ok(c)
    }
}

pub fn simulate(a: &SimulateArgs) -> Result<suho_sim::SimStats> {
    let cfg = a.config()?;
    let t = Instant::now();
    let stats = suho_sim::generate_to_dir(&cfg, &a.out)
        .with_context(|| format!("simulating into {}", a.out.display()))?;
    println!(
        "simulated {} records in {:.1}s ({} by customers, {} by staff, {} by service accounts, {} attack, {} benign-surprise), {} principals, {} signing keys, {} credentials",
        thousands(stats.records),
        t.elapsed().as_secs_f64(),
        thousands(stats.customer_records),
        thousands(stats.staff_records),
        thousands(stats.service_records),
        thousands(stats.attack_records),
        thousands(stats.benign_surprise_records),
        thousands(stats.principals),
        thousands(stats.signing_keys),
        thousands(stats.credentials)
    );
    for f in &stats.files {
        println!("  wrote {}", f.display());
    }
    Ok(stats)
}

#[derive(Args)]
pub struct DemoArgs {
    /// Days of traffic to simulate (the attack starts about three weeks after the departure).
    #[arg(long, default_value_t = 150)]
    days: u32,
}

fn step(n: u32, text: &str) {
    println!("\n\x1b[1m{n}. {text}\x1b[0m");
}

pub fn demo(data: &Path, a: DemoArgs) -> Result<i32> {
    println!(
        "== suho demo: a Coupang-style breach, caught on the attacker's first forged token =="
    );
    println!(
        "A backend engineer left, but his token-signing key was never revoked. Weeks later, tokens"
    );
    println!(
        "it signed (never issued) read customer data from servers abroad, slowly, for months."
    );
    println!("Coupang noticed after 147 days. Here suho ingests the same kind of traffic.");

    step(1, "simulate an e-commerce company with the attack mixed in, load its registry, ingest with every detector on");
    let r = crate::eval::run(data, "coupang", a.days, None)?;
    let ldata = r.data.clone();
    let lapp = App::new(&ldata);
    let Some(att) = r.attacks.iter().find(|x| x.name.starts_with("coupang")) else {
        anyhow::bail!("the simulation has no coupang attack")
    };

    step(
        2,
        "verify the ledger: every record, every hash, the signed checkpoint",
    );
    let code = crate::ledger_cmd::verify(&ldata, None)?;
    if code != 0 {
        return Ok(code);
    }

    step(
        3,
        "the alert that fired on the attacker's first forged token",
    );
    let store = lapp.alerts()?;
    let all = store.list(&suho_detect::AlertFilter::default())?;
    let first = all
        .iter()
        .filter(|x| {
            att.first_alert_time.as_deref() == Some(x.time.as_str())
                && Some(&x.rule) == att.first_alert_rule.as_ref()
        })
        .min_by_key(|x| x.ledger_index);
    match first {
        Some(al) => {
            println!(
                "  [{}] {} at {} (ledger index {})",
                al.severity.as_str().to_uppercase(),
                al.rule,
                al.time,
                al.ledger_index
            );
            println!("  {}", al.summary);
            println!("  evidence: {}", al.evidence);
            println!(
                "  the attack's first malicious record was at {}: {}",
                att.first_malicious_time,
                if att.on_first_record {
                    "the alert fired on that very record"
                } else {
                    "the alert came later"
                }
            );
        }
        None => println!(
            "  no alert fired on the attack: see `suho --data {} alerts`",
            ldata.display()
        ),
    }
    println!("\n  every critical and high alert of the run:");
    crate::detect_cmd::alerts(
        &lapp,
        crate::detect_cmd::Format::Table,
        Some(suho_detect::Severity::High),
        None,
        None,
        Some(12),
    )?;

    step(
        4,
        "the open door: credentials and keys still valid although their owner has left",
    );
    crate::detect_cmd::print_orphans(&lapp.registry()?.orphans(suho_ledger::now_ms())?, false)?;

    step(
        5,
        "what 147 days of silence cost, against what suho let through",
    );
    let pct = |n: u64| {
        if att.subjects_total > 0 {
            100.0 * n as f64 / att.subjects_total as f64
        } else {
            0.0
        }
    };
    println!("  {:<44} {:>14} {:>10}", "", "customers", "share");
    println!(
        "  {:<44} {:>14} {:>9.2}%",
        format!(
            "attack left alone ({} .. {})",
            &att.first_malicious_time[..10],
            &att.last_malicious_time[..10]
        ),
        thousands(att.subjects_total),
        100.0
    );
    println!(
        "  {:<44} {:>14} {:>9.4}%",
        "exposed before suho's first alert",
        thousands(att.subjects_before_alert),
        pct(att.subjects_before_alert)
    );
    chart(&att.daily_cumulative, att.first_alert_time.as_deref());

    step(6, "respond: offboard the departed engineer for good (revokes everything he held, recorded in the ledger)");
    let owner = att
        .description
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    if !owner.is_empty() {
        let (r, recorded) = suho_app::registry::offboard(
            &lapp,
            &owner,
            suho_ledger::now_ms(),
            "demo-security-team",
            suho_ledger::now_ms(),
        )?;
        crate::detect_cmd::print_offboard(&r, &recorded);
        crate::detect_cmd::print_orphans(&lapp.registry()?.orphans(suho_ledger::now_ms())?, false)?;
    }

    if let Some(al) = first {
        step(
            7,
            "hand an auditor offline proof that the alerting record is in the log",
        );
        let layout = Layout::new(&ldata);
        let proof = ldata.join(format!("entry-{}.tlog-proof", al.ledger_index));
        crate::ledger_cmd::ledger(
            &ldata,
            crate::ledger_cmd::LedgerCmd::Proof {
                index: al.ledger_index,
                out: Some(proof.clone()),
            },
        )?;
        let vkey = suho_ledger::load_verifier(&layout.keys())?.to_string();
        println!("   $ suho verify-proof {} --key '{vkey}'", proof.display());
        crate::ledger_cmd::verify_proof(&proof, &vkey, None)?;

        step(
            8,
            "an insider rewrites that record to hide the attack; verify names it",
        );
        tamper_and_verify(&ldata, al.ledger_index)?;
        respond(&lapp, &al.incident)?;
    }
    println!(
        "\nEverything is in {} (the drafts under notices/, the bundle under evidence-*/): try `suho --data {} alerts`, `incidents`, `scope --actor svc-order`, `sql \"SELECT country, count(*) FROM records GROUP BY country\"`.",
        ldata.display(),
        ldata.display()
    );
    Ok(0)
}

/// Steps 9 on: the incident's exact scope against the first public count, an evidence bundle
/// an investigator checks offline, the notices, and the subjects' own lookup.
fn respond(lapp: &App, incident: &str) -> Result<()> {
    let ldata = lapp.dir().root();
    step(
        9,
        "scope, exactly and in seconds: Coupang's first notice said 4,500 accounts; what does the ledger say?",
    );
    println!("   $ suho scope --incident {incident} --claim 4500 --reason \"PIPA 72h scoping\" --out affected.csv");
    let list = ldata.join("affected.csv");
    let select = suho_app::scope::SelectSpec {
        incident: Some(incident.to_string()),
        ..Default::default()
    };
    let reason = "PIPA 72h scoping of the breach";
    crate::scope_cmd::sync_history(lapp, false)?;
    let run = suho_app::scope::run(
        lapp,
        &suho_app::scope::ScopeRequest {
            select,
            customers: None,
            out: Some((list.clone(), suho_history::OutFormat::Csv)),
            operator: "demo-security-team",
            reason,
        },
    )?;
    crate::scope_cmd::print_run(&run, Some(4500), "demo-security-team", reason);

    step(
        10,
        "evidence: a bundle investigators check offline, and what it says of the company's claims",
    );
    let bundle = ldata.join(format!("evidence-{incident}"));
    if bundle.exists() {
        std::fs::remove_dir_all(&bundle)?;
    }
    let b = suho_app::evidence::bundle(
        lapp,
        incident,
        &bundle,
        "demo-security-team",
        "evidence for the regulator and the police",
    )?;
    crate::evidence_cmd::print_bundled(&bundle, &b.scope, &b.report, &b.recorded);
    let vkey = suho_ledger::load_verifier(&Layout::new(ldata).keys())?.to_string();
    println!(
        "   $ suho verify-evidence {} --key '{vkey}' --claim-subjects 4500 --claim-no-external",
        bundle.display()
    );
    let code = crate::evidence_cmd::verify_evidence(crate::evidence_cmd::VerifyEvidenceArgs {
        dir: bundle,
        key: Some(vkey),
        claim_subjects: Some(4500),
        claim_no_external: true,
        claim_recovered: None,
        json: false,
    })?;
    let meaning = match code {
        0 => "the bundle verifies, and the claims fit it",
        3 => "the bundle verifies, and the claims do not fit it",
        _ => "the bundle does not verify",
    };
    println!("   (exit status {code}: {meaning})");

    step(
        11,
        "notify within 72 hours: every notice the law requires, with 유출 (leak), never 노출 (exposure)",
    );
    println!("   $ suho notify {incident}");
    let notices = lapp.dir().incident_notices_dir(incident);
    if notices.exists() {
        std::fs::remove_dir_all(&notices)?;
    }
    let n = suho_app::notify::draft(
        lapp,
        &suho_app::notify::NotifyRequest {
            incident: incident.to_string(),
            out: Some(notices.clone()),
            reason: Some("PIPA Art. 34 notices and the PIPC report".into()),
            operator: "demo-security-team".into(),
            ..Default::default()
        },
    )?;
    crate::notify_cmd::print_notified(&n);
    let sms = std::fs::read_to_string(notices.join("sms.ko.txt")).unwrap_or_default();
    println!("\n   the SMS every affected customer gets (sms.ko.txt):");
    for line in sms.lines() {
        println!("   | {line}");
    }

    step(
        12,
        "\"was my data leaked?\": customers check without telling suho who they are (k-anonymity)",
    );
    // The company joins the affected list with its customer database and loads only hashes.
    let contacts = ldata.join("affected-contacts.csv");
    let mut csv = String::from("subject_id,email,phone\n");
    let mut first_affected = None;
    for line in std::fs::read_to_string(&list)?.lines().skip(1) {
        let id = line.split(',').next().unwrap_or("");
        let n: u64 = id.trim_start_matches("c-").parse().unwrap_or(0);
        csv.push_str(&format!(
            "{id},{id}@mail.example.test,010-{:04}-{:04}\n",
            n / 10_000 % 10_000,
            n % 10_000
        ));
        first_affected.get_or_insert_with(|| id.to_string());
    }
    std::fs::write(&contacts, csv)?;
    println!("   $ suho leak-check load affected-contacts.csv --csv   # hashed on load; plain contacts are not kept");
    crate::leak_cmd::leak_check(
        ldata,
        crate::leak_cmd::LeakCmd::Load {
            file: contacts.clone(),
            csv: true,
            merge: false,
        },
    )?;
    std::fs::remove_file(&contacts)?;
    if let Some(id) = first_affected {
        println!("   $ suho leak-check ask --email {id}@mail.example.test");
        crate::leak_cmd::leak_check(
            ldata,
            crate::leak_cmd::LeakCmd::Ask {
                email: Some(format!("{id}@mail.example.test")),
                phone: None,
                url: None,
                token: None,
            },
        )?;
    }
    println!("   $ suho leak-check ask --email someone-else@mail.example.test");
    crate::leak_cmd::leak_check(
        ldata,
        crate::leak_cmd::LeakCmd::Ask {
            email: Some("someone-else@mail.example.test".into()),
            phone: None,
            url: None,
            token: None,
        },
    )?;
    println!("   (`suho serve` offers the same as GET /v1/leak-check/range/{{prefix}} for the company's web site)");
    Ok(())
}

/// Rewrite record `index` (another actor) the way an insider with shell access could, run
/// verify, and restore the file.
fn tamper_and_verify(data: &Path, index: u64) -> Result<()> {
    let layout = Layout::new(data);
    let segments: Vec<PathBuf> = std::fs::read_dir(layout.wal())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    let saved: Vec<(PathBuf, Vec<u8>)> = segments
        .iter()
        .map(|p| Ok((p.clone(), std::fs::read(p)?)))
        .collect::<std::io::Result<_>>()?;
    suho_ledger::fault::rewrite_record(&layout, index, |body| {
        let text = String::from_utf8_lossy(body).replace("\"actor\":\"", "\"actor\":\"x");
        *body = text.into_bytes();
    })?;
    let code = crate::ledger_cmd::verify(data, None)?;
    for (p, b) in saved {
        std::fs::write(p, b)?;
    }
    println!("   (restored the original file; `suho verify` exit status was {code})");
    Ok(())
}

/// A terminal chart of customers reached per day, with suho's alert marked.
fn chart(series: &[(String, u64)], alert: Option<&str>) {
    let Some(max) = series.iter().map(|(_, n)| *n).max().filter(|m| *m > 0) else {
        return;
    };
    println!("\n  customers reached by the attack, cumulative (each row: a week; | marks suho's first alert)");
    let alert_day = alert.map(|t| &t[..10]);
    for (i, week) in series.chunks(7).enumerate() {
        let (day, n) = &week[week.len() - 1];
        let width = (50 * *n / max) as usize;
        let marked = alert_day.is_some_and(|a| {
            week.iter().any(|(d, _)| d.as_str() >= a)
                && (i == 0 || series[..i * 7].iter().all(|(d, _)| d.as_str() < a))
        });
        println!(
            "  {day} {}{:<50} {:>10}",
            if marked { "|" } else { " " },
            "#".repeat(width.max(usize::from(*n > 0))),
            thousands(*n)
        );
    }
}
