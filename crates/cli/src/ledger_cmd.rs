//! Ledger commands: ingest, rejects, verify, status, keys and proofs.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use suho_ingest::{ingest_stream, Detection, IngestOptions, RejectLog, StreamSummary};
use suho_ledger::{Entry, Layout, Ledger, Options};

use crate::ui::{bytes_bar, count_bar, thousands, verifier_arg};

#[derive(Subcommand)]
pub enum LedgerCmd {
    /// Print the ledger's verifier key (C2SP signed-note verifier key form).
    Key,
    /// Write the C2SP tlog-proof that entry INDEX is in the latest checkpoint.
    Proof {
        /// Ledger index.
        index: u64,
        /// Output file (default: entry-INDEX.tlog-proof; `-` for standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a proof that the latest checkpoint extends an older one.
    Consistency {
        /// The older signed checkpoint (a file saved from `ledger/checkpoint`).
        #[arg(long)]
        from: PathBuf,
        /// Output file (`-` for standard output).
        #[arg(long, default_value = "-")]
        out: PathBuf,
    },
    /// Print the record at INDEX with its entry.
    Show {
        /// Ledger index.
        index: u64,
    },
}

/// Totals over several inputs.
#[derive(Default)]
pub struct IngestTotals {
    /// Records stored, conflicts included.
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Of the records stored, those whose id an earlier record with other content carries.
    pub conflicts: u64,
    pub lines: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub ledger_size: u64,
    /// New alerts by severity.
    pub alerts: Vec<(&'static str, u64)>,
}

pub fn ingest(data: &Path, files: &[PathBuf]) -> Result<IngestTotals> {
    let mut ledger = Ledger::open(data, Options::default())?;
    let t = ingest_into(&mut ledger, data, files, true)?;
    print_totals(&t, data);
    Ok(t)
}

pub fn print_totals(t: &IngestTotals, data: &Path) {
    println!(
        "ingested {} lines in {:.1}s ({}/s): {} stored, {} duplicates, {} rejected, {} conflicts; ledger size {}",
        thousands(t.lines),
        t.seconds,
        thousands((t.lines as f64 / t.seconds.max(1e-9)) as u64),
        thousands(t.stored),
        thousands(t.duplicates),
        thousands(t.rejected),
        thousands(t.conflicts),
        thousands(t.ledger_size)
    );
    if t.conflicts > 0 {
        println!(
            "id conflicts: {} stored records carry the id of an earlier record with other content; both are kept (see `suho alerts --rule id_conflict`)",
            thousands(t.conflicts)
        );
    }
    if !t.alerts.is_empty() {
        let parts: Vec<String> = t
            .alerts
            .iter()
            .rev()
            .map(|(s, n)| format!("{} {s}", thousands(*n)))
            .collect();
        println!("new alerts: {} (see `suho alerts`)", parts.join(", "));
    }
    if t.rejected > 0 {
        println!(
            "rejected lines and reasons: {} (or `suho rejects`)",
            RejectLog::new(data).path().display()
        );
    }
}

/// Ingest `files` into an open ledger (used by `ingest`, the demo and the benchmark).
pub fn ingest_into(
    ledger: &mut Ledger,
    data: &Path,
    files: &[PathBuf],
    show_progress: bool,
) -> Result<IngestTotals> {
    let mut detection = if std::env::var_os("SUHO_NO_DETECT").is_some() {
        None
    } else {
        Some(Detection::open(ledger)?)
    };
    let mut rejects = RejectLog::new(data);
    let opts = IngestOptions::default();
    let mut totals = IngestTotals::default();
    let started = Instant::now();
    for f in files {
        let s: StreamSummary = if f.as_os_str() == "-" {
            ingest_stream(
                ledger,
                detection.as_mut(),
                "-",
                std::io::stdin(),
                &opts,
                &mut rejects,
                &mut |_| {},
            )?
        } else {
            let file = File::open(f).with_context(|| format!("cannot open {}", f.display()))?;
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let name = f.display().to_string();
            let pb = show_progress.then(|| bytes_bar(len, "ingest"));
            let s = ingest_stream(
                ledger,
                detection.as_mut(),
                &name,
                file,
                &opts,
                &mut rejects,
                &mut |p| {
                    if let Some(pb) = &pb {
                        pb.set_position(p.bytes);
                    }
                },
            )?;
            if let Some(pb) = pb {
                pb.finish_and_clear();
            }
            s
        };
        totals.stored += s.stored;
        totals.duplicates += s.duplicates;
        totals.rejected += s.rejected;
        totals.conflicts += s.conflicts;
        totals.lines += s.lines;
        totals.bytes += s.bytes;
    }
    totals.seconds = started.elapsed().as_secs_f64();
    totals.ledger_size = ledger.size();
    if let Some(d) = &detection {
        totals.alerts = d.raised().iter().map(|(s, n)| (s.as_str(), *n)).collect();
    }
    Ok(totals)
}

pub fn rejects(data: &Path, limit: usize, ndjson: bool) -> Result<i32> {
    let log = RejectLog::new(data);
    let file = match File::open(log.path()) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("no rejected lines");
            return Ok(0);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", log.path().display())),
    };
    let mut ring = std::collections::VecDeque::with_capacity(limit.min(10_000));
    let mut total = 0u64;
    for line in BufReader::new(file).lines() {
        let line = line?;
        total += 1;
        if ring.len() == limit {
            ring.pop_front();
        }
        ring.push_back(line);
    }
    if !ndjson && total as usize > ring.len() {
        println!(
            "{} rejected lines; the newest {}:",
            thousands(total),
            ring.len()
        );
    }
    for line in ring {
        if ndjson {
            println!("{line}");
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        println!(
            "{}:{}: {}",
            v["source"].as_str().unwrap_or("?"),
            v["line"].as_u64().unwrap_or(0),
            v["reason"].as_str().unwrap_or(&line)
        );
    }
    Ok(0)
}

pub fn verify(data: &Path, key: Option<&str>) -> Result<i32> {
    let layout = Layout::new(data);
    let verifier = key.map(verifier_arg).transpose()?;
    let pb = count_bar(0, "verify");
    let started = Instant::now();
    let res = suho_ledger::verify(&layout, verifier.as_ref(), |done, total| {
        pb.set_length(total);
        pb.set_position(done);
    });
    pb.finish_and_clear();
    match res {
        Ok(r) => {
            println!(
                "OK: {} entries verified in {:.1}s against the signed checkpoint of {} (root {})",
                thousands(r.checkpoint_size),
                started.elapsed().as_secs_f64(),
                r.origin,
                hex::encode(r.root)
            );
            if r.uncheckpointed > 0 {
                println!(
                    "   {} more records are durable but not yet in a checkpoint",
                    thousands(r.uncheckpointed)
                );
            }
            Ok(0)
        }
        Err(p) => {
            println!("FAILED: {p}");
            Ok(1)
        }
    }
}

pub fn status(data: &Path) -> Result<i32> {
    let layout = Layout::new(data);
    let vkey = suho_ledger::load_verifier(&layout.keys())?;
    let text = std::fs::read_to_string(layout.checkpoint())
        .context("no checkpoint yet: ingest some records first")?;
    let note = suho_note::open(&text, std::slice::from_ref(&vkey))?;
    let cp = suho_note::Checkpoint::parse(&note.body)?;
    println!("data directory   {}", data.display());
    println!("log              {}", cp.origin);
    println!("verifier key     {vkey}");
    println!("checkpoint size  {}", thousands(cp.size));
    println!("root             {}", hex::encode(cp.root));
    println!("public tiles     {}", layout.ledger().display());
    println!("records (WAL)    {}", layout.wal().display());
    Ok(0)
}

pub fn records(data: &Path, from: u64, limit: Option<u64>) -> Result<i32> {
    use std::io::Write;
    let layout = Layout::new(data);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut left = limit.unwrap_or(u64::MAX);
    let mut failed = None;
    suho_ledger::WalReader::new(&layout.wal()).scan(from, |frame| {
        if left == 0 {
            return false;
        }
        left -= 1;
        // {"ledger_index":N,"record":<the stored record, verbatim>}
        let res = write!(out, "{{\"ledger_index\":{},\"record\":", frame.index)
            .and_then(|_| out.write_all(&frame.body))
            .and_then(|_| out.write_all(b"}\n"));
        if let Err(e) = res {
            failed = Some(e);
            return false;
        }
        true
    })?;
    match failed {
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Some(e) => Err(e.into()),
        None => {
            out.flush()?;
            Ok(0)
        }
    }
}

pub fn ledger(data: &Path, cmd: LedgerCmd) -> Result<i32> {
    let layout = Layout::new(data);
    match cmd {
        LedgerCmd::Key => {
            // Creates the key on first use, like every command that opens the ledger.
            let signer = suho_ledger::load_or_create_signer(&layout.keys())?;
            println!("{}", signer.verifier());
        }
        LedgerCmd::Proof { index, out } => {
            let text = suho_ledger::inclusion_proof_file(&layout, index)?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("entry-{index}.tlog-proof")));
            write_out(&out, &text)?;
        }
        LedgerCmd::Consistency { from, out } => {
            let old = std::fs::read_to_string(&from)
                .with_context(|| format!("cannot read {}", from.display()))?;
            let text = suho_ledger::consistency_proof_file(&layout, &old)?;
            write_out(&out, &text)?;
        }
        LedgerCmd::Show { index } => {
            let frame = suho_ledger::WalReader::new(&layout.wal()).frame(index)?;
            let Some(e) = Entry::decode(&frame.entry) else {
                bail!("entry {index} is not a version-1 entry")
            };
            println!("index        {index}");
            println!(
                "event time   {}",
                suho_record::format_rfc3339_ms(e.event_time_ms)
            );
            println!(
                "sequenced    {}",
                suho_record::format_rfc3339_ms(e.sequenced_ms)
            );
            println!("body sha256  {}", hex::encode(e.body_sha256));
            println!("body matches {}", e.matches_body(&frame.body));
            println!("record       {}", String::from_utf8_lossy(&frame.body));
        }
    }
    Ok(0)
}

fn write_out(out: &Path, text: &str) -> Result<()> {
    if out.as_os_str() == "-" {
        print!("{text}");
    } else {
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

pub fn verify_proof(file: &Path, key: &str, record: Option<&Path>) -> Result<i32> {
    let verifier = verifier_arg(key)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let record = match record {
        Some(p) => {
            let mut b = Vec::new();
            File::open(p)
                .and_then(|mut f| f.read_to_end(&mut b))
                .with_context(|| format!("cannot read {}", p.display()))?;
            while b.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                b.pop();
            }
            Some(b)
        }
        None => None,
    };
    match suho_ledger::verify_proof_file(&text, &verifier, record.as_deref()) {
        Ok(c) => {
            println!(
                "OK: entry {} is in the log {} of size {} (event time {}, record sha256 {})",
                c.index,
                c.origin,
                thousands(c.size),
                suho_record::format_rfc3339_ms(c.entry.event_time_ms),
                hex::encode(c.entry.body_sha256)
            );
            match c.record_matches {
                Some(true) => println!("OK: the record given is exactly the one logged"),
                Some(false) => {
                    println!("FAILED: the record given is NOT the one logged at this index");
                    return Ok(1);
                }
                None => {}
            }
            Ok(0)
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(1)
        }
    }
}

pub fn verify_consistency(file: &Path, key: &str) -> Result<i32> {
    let verifier = verifier_arg(key)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    match suho_ledger::verify_consistency_file(&text, &verifier) {
        Ok((old, new)) => {
            println!(
                "OK: the log of size {} extends the log of size {} (append-only)",
                thousands(new),
                thousands(old)
            );
            Ok(0)
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(1)
        }
    }
}
