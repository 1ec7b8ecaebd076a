//! `suho demo` (the README's main job) and `suho simulate`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use suho_ledger::{Layout, Ledger, Options};
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
    /// Mix in labelled attacks: coupang, slow-theft, stolen-api-key, insider-download, benign, all.
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
    let stats = suho_sim::generate_to_dir(&cfg, &a.out).with_context(|| format!("simulating into {}", a.out.display()))?;
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
    /// Where the simulated input goes.
    #[arg(long, default_value = "suho-demo-input")]
    input: PathBuf,
    /// Days of traffic to simulate.
    #[arg(long, default_value_t = 120)]
    days: u32,
}

pub fn demo(data: &Path, a: DemoArgs) -> Result<i32> {
    println!("== suho demo: an e-commerce company's access records, kept where no insider can rewrite them ==\n");
    println!("1. simulate {} days of access records (customers, staff, service accounts)", a.days);
    let sim = SimulateArgs {
        out: a.input.clone(),
        seed: None,
        start: None,
        days: Some(a.days),
        customers: None,
        employees: None,
        records_per_day: None,
        scenario: None,
    };
    simulate(&sim)?;

    println!("\n2. ingest them into the ledger ({})", data.display());
    let mut ledger = Ledger::open(data, Options::default())?;
    let totals = crate::ledger_cmd::ingest_into(&mut ledger, data, &[a.input.join("records.ndjson")], true)?;
    crate::ledger_cmd::print_totals(&totals, data);
    let vkey = ledger.verifier_key();
    drop(ledger);

    println!("\n3. verify: recompute every hash from the records up and check the signed checkpoint");
    let code = crate::ledger_cmd::verify(data, None)?;
    if code != 0 {
        return Ok(code);
    }

    let layout = Layout::new(data);
    println!("\n4. what was stored");
    crate::ledger_cmd::status(data)?;
    let index = totals.ledger_size / 2;
    println!("\n   the record at index {index}:");
    crate::ledger_cmd::ledger(data, crate::ledger_cmd::LedgerCmd::Show { index })?;

    println!("\n5. an auditor checks that record offline, holding only the public key");
    let proof = a.input.join(format!("entry-{index}.tlog-proof"));
    crate::ledger_cmd::ledger(data, crate::ledger_cmd::LedgerCmd::Proof { index, out: Some(proof.clone()) })?;
    println!("   $ suho verify-proof {} --key '{vkey}'", proof.display());
    crate::ledger_cmd::verify_proof(&proof, &vkey, None)?;

    println!("\n6. an insider rewrites the record at index {index} (another actor), re-encoding the file consistently; verify names it");
    let backup = std::fs::read_dir(layout.wal())?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "seg")).collect::<Vec<_>>();
    let saved: Vec<(PathBuf, Vec<u8>)> = backup.iter().map(|p| Ok((p.clone(), std::fs::read(p)?))).collect::<std::io::Result<_>>()?;
    suho_ledger::fault::rewrite_record(&layout, index, |body| {
        let text = String::from_utf8_lossy(body).replace("\"actor\":\"", "\"actor\":\"x");
        *body = text.into_bytes();
    })?;
    let code = crate::ledger_cmd::verify(data, None)?;
    for (p, b) in saved {
        std::fs::write(p, b)?;
    }
    println!("   (restored the original file; `suho verify` exit status was {code})");
    Ok(0)
}
