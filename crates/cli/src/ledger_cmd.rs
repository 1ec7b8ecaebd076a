//! Ledger commands: ingest, rejects, verify, status, keys and proofs.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use suho_ingest::{
    ingest_stream, open_input, Compression, Detection, IngestConfig, IngestError, IngestOptions,
    RejectLog, StreamError, StreamSummary,
};
use suho_ledger::{Entry, Layout, Ledger, Options, Resealed, SignedState};

use crate::own_use::{self, OwnUse};
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
    /// Let writers open a ledger they refuse, after you have looked at why (`suho verify`):
    /// its checkpoint or signing key is gone, or its checkpoint is older than, or differs
    /// from, what the key signed. Keeps the newest checkpoint that verifies, rebuilds the
    /// rest of the tree from the write-ahead log, makes a new key if the old one is lost,
    /// and records this decision (who, why, what was overridden, the roots before and after,
    /// any new key) in the ledger before signing anything.
    Reseal {
        /// Why: recorded in the ledger.
        #[arg(long)]
        reason: String,
        /// Who decided (default: SUHO_OPERATOR, else the login name): recorded in the ledger.
        #[arg(long = "as")]
        operator: Option<String>,
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

/// `suho ingest`: `files`, each line decoded by `decoder` (the contract format's passthrough by
/// default).
pub fn ingest(
    data: &Path,
    files: &[PathBuf],
    decoder: std::sync::Arc<dyn suho_decode::Decoder>,
) -> Result<IngestTotals> {
    let mut ledger = Ledger::open(data, Options::default())?;
    let t = ingest_into(&mut ledger, data, files, Some(decoder), true)?;
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
///
/// Every named file is checked first (it exists, is a readable file, and is not compressed in
/// a format suho cannot read), so that a typo stores nothing. A gzip file is decompressed. If
/// something still fails after some records were stored, what was stored, per file, is printed
/// to standard error before the error is returned.
pub fn ingest_into(
    ledger: &mut Ledger,
    data: &Path,
    files: &[PathBuf],
    decoder: Option<std::sync::Arc<dyn suho_decode::Decoder>>,
    show_progress: bool,
) -> Result<IngestTotals> {
    check_inputs(files)?;
    let config = IngestConfig::load(data)?;
    let mut detection = if std::env::var_os("SUHO_NO_DETECT").is_some() {
        None
    } else {
        Some(Detection::open(ledger)?)
    };
    let mut rejects = RejectLog::new(data);
    let mut opts = IngestOptions {
        config,
        decoder,
        ..IngestOptions::default()
    };
    // How often a long ingest publishes a signed checkpoint (default 5 s).
    if let Some(secs) = std::env::var("SUHO_CHECKPOINT_EVERY_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        opts.checkpoint_every = std::time::Duration::from_secs(secs);
    }
    let mut totals = IngestTotals::default();
    let mut done: Vec<(String, StreamSummary)> = Vec::new();
    let started = Instant::now();
    for f in files {
        let name = f.display().to_string();
        let res = ingest_file(
            ledger,
            detection.as_mut(),
            f,
            &opts,
            &mut rejects,
            show_progress,
        );
        let s = match res {
            Ok(s) => s,
            Err(e) => {
                eprint!("{}", stored_before_error(&done, &name, &e.summary, files));
                return Err(
                    anyhow::Error::new(e.error).context(format!("ingesting {name} stopped"))
                );
            }
        };
        totals.stored += s.stored;
        totals.duplicates += s.duplicates;
        totals.rejected += s.rejected;
        totals.conflicts += s.conflicts;
        totals.lines += s.lines;
        totals.bytes += s.bytes;
        done.push((name, s));
    }
    totals.seconds = started.elapsed().as_secs_f64();
    totals.ledger_size = ledger.size();
    if let Some(d) = &detection {
        totals.alerts = d.raised().iter().map(|(s, n)| (s.as_str(), *n)).collect();
    }
    Ok(totals)
}

/// Checks, before anything is stored, that every named input can be ingested: it exists, is a
/// readable file (not a directory), and is plain or gzip. Names every one that cannot.
fn check_inputs(files: &[PathBuf]) -> Result<()> {
    let mut problems = Vec::new();
    for f in files.iter().filter(|f| f.as_os_str() != "-") {
        let name = f.display().to_string();
        // Only regular files are opened and sniffed here: a pipe (`<(zcat x.gz)`, a FIFO)
        // would lose the bytes read, and its writer could die of SIGPIPE when we close it.
        let checked = std::fs::metadata(f)
            .and_then(|m| {
                if m.is_dir() {
                    Err(std::io::Error::other("it is a directory"))
                } else {
                    Ok(m)
                }
            })
            .map_err(|e| format!("cannot read {name}: {e}"))
            .and_then(|m| {
                if !m.is_file() {
                    return Ok(());
                }
                let file = File::open(f).map_err(|e| format!("cannot read {name}: {e}"))?;
                open_input(&name, file).map(drop).map_err(|e| e.to_string())
            });
        if let Err(why) = checked {
            problems.push(why);
        }
    }
    if !problems.is_empty() {
        bail!("{}; nothing was ingested", problems.join("; "));
    }
    Ok(())
}

/// Ingests one named input (`-` is standard input), with a progress bar for files.
fn ingest_file(
    ledger: &mut Ledger,
    detection: Option<&mut Detection>,
    f: &Path,
    opts: &IngestOptions,
    rejects: &mut RejectLog,
    show_progress: bool,
) -> std::result::Result<StreamSummary, StreamError> {
    let name = f.display().to_string();
    let failed = |error| StreamError {
        summary: StreamSummary::default(),
        error,
    };
    let (input, len) = if f.as_os_str() == "-" {
        (open_input("-", std::io::stdin()).map_err(failed)?, None)
    } else {
        let file = File::open(f).map_err(|error| {
            failed(IngestError::Read {
                source_name: name.clone(),
                error,
            })
        })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        (open_input(&name, file).map_err(failed)?, Some(len))
    };
    let pb = len
        .filter(|_| show_progress)
        .map(|n| bytes_bar(n, "ingest"));
    // The bar measures the file, so a compressed file's progress is its compressed bytes read.
    let raw = (input.compression() != Compression::None).then(|| input.raw_bytes_read());
    let res = ingest_stream(ledger, detection, &name, input, opts, rejects, &mut |p| {
        if let Some(pb) = &pb {
            pb.set_position(raw.as_ref().map_or(p.bytes, |r| r.load(Ordering::Relaxed)));
        }
    });
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    res
}

/// What an ingest that stopped at `failed` had stored: every file before it, and `partial`
/// of it; and the files it did not reach.
fn stored_before_error(
    done: &[(String, StreamSummary)],
    failed: &str,
    partial: &StreamSummary,
    files: &[PathBuf],
) -> String {
    use std::fmt::Write as _;
    let line = |s: &StreamSummary| {
        let mut text = format!(
            "{} stored, {} duplicates, {} rejected",
            thousands(s.stored),
            thousands(s.duplicates),
            thousands(s.rejected)
        );
        if let Some(i) = s.first_index {
            let _ = write!(text, " (ledger indexes from {i})");
        }
        text
    };
    let mut out = String::from("the ingest stopped on an error; what it stored until then:\n");
    for (name, s) in done {
        let _ = writeln!(out, "  {name}: complete: {}", line(s));
    }
    let _ = writeln!(
        out,
        "  {failed}: stopped after {} lines: {}",
        thousands(partial.lines),
        line(partial)
    );
    let rest: Vec<String> = files
        .iter()
        .skip(done.len() + 1)
        .map(|f| f.display().to_string())
        .collect();
    if !rest.is_empty() {
        let _ = writeln!(out, "  not ingested: {}", rest.join(", "));
    }
    out
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
        println!("{}", reject_entry(&line));
    }
    Ok(0)
}

/// One reject-log entry for people: `TIME SOURCE:LINE: REASON`, then the start of the line
/// (quoted, so that control characters in it cannot act on the terminal). Entries written
/// before the log kept excerpts have only the first line.
fn reject_entry(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    let mut text = format!(
        "{} {}:{}: {}",
        v["time"].as_str().unwrap_or("?"),
        v["source"].as_str().unwrap_or("?"),
        v["line"].as_u64().unwrap_or(0),
        v["reason"].as_str().unwrap_or(line)
    );
    if let Some(excerpt) = v["excerpt"].as_str() {
        text.push_str(&format!("\n    line: {excerpt:?}"));
        let bytes = v["bytes"].as_u64().unwrap_or(0);
        if bytes > excerpt.len() as u64 {
            text.push_str(&format!(
                " (first {} of {} bytes)",
                excerpt.len(),
                thousands(bytes)
            ));
        }
    }
    text
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
        .context("no checkpoint: the ledger was never opened, or its checkpoint was removed (`suho verify` says which)")?;
    let note = suho_note::open(&text, std::slice::from_ref(&vkey))?;
    let cp = suho_note::Checkpoint::parse(&note.body)?;
    println!("data directory   {}", data.display());
    println!("log              {}", cp.origin);
    println!("verifier key     {vkey}");
    println!("checkpoint size  {}", thousands(cp.size));
    println!("root             {}", hex::encode(cp.root));
    println!("public tiles     {}", layout.ledger().display());
    println!("records (WAL)    {}", layout.wal().display());
    let lag = suho_ingest::lag(&layout)?;
    match (&lag.writer, lag.logged) {
        (Some(w), _) => {
            println!("writer           {w} (it checkpoints and detects as it goes)");
            crate::follow_cmd::print_status(data, Some(w));
        }
        (None, Some(n)) => println!("records logged   {}", thousands(n)),
        (None, None) => {}
    }
    println!("detectors seen   {}", thousands(lag.detected));
    if let Some(w) = lag.warning() {
        println!("{w}");
    }
    Ok(0)
}

pub fn recover(data: &Path) -> Result<i32> {
    let layout = Layout::new(data);
    let before = suho_ingest::lag(&layout)?;
    if let Some(w) = &before.writer {
        bail!("a running suho process ({w}) holds the ledger and keeps it up to date; nothing to recover");
    }
    let r = crate::scope_cmd::sync_history(data, false)?;
    let lag = suho_ingest::lag(&layout)?;
    println!(
        "ledger size {}: checkpointed, seen by the detectors ({}), indexed in the history (< {})",
        thousands(lag.checkpoint),
        thousands(lag.detected),
        thousands(r.to)
    );
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
            // Creates the key for a new data directory, like every command that opens the
            // ledger; never for an existing ledger whose key is gone.
            let signer = suho_ledger::load_or_create_signer(&layout)?;
            println!("{}", signer.verifier());
        }
        LedgerCmd::Reseal { reason, operator } => return reseal(data, &reason, operator),
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

/// `suho ledger reseal`: the record of the decision is made by `Ledger::reseal` from what it
/// found, and appended before the resealed ledger is signed (not through `own_use::record_in`,
/// which would sign first).
fn reseal(data: &Path, reason: &str, operator: Option<String>) -> Result<i32> {
    let who = own_use::operator(operator.as_deref());
    let (ledger, r) = Ledger::reseal(data, Options::default(), |r: &Resealed| {
        let state = |s: &SignedState| serde_json::json!({"origin": s.origin, "size": s.size, "root": hex::encode(s.root)});
        let (body, _, _) = own_use::body_of(OwnUse {
            actor: &who,
            action: "update",
            resource: "suho ledger reseal".into(),
            purpose: reason,
            subject_count: None,
            fields: Vec::new(),
            attrs: serde_json::json!({
                "suho_event": "ledger.reseal",
                "overridden": r.overridden.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "signed_before": r.signed_before.as_ref().map(state),
                "kept_checkpoint": r.kept_checkpoint.map(|(size, root)| serde_json::json!({"size": size, "root": hex::encode(root)})),
                "root_at_signed_size": r.root_at_signed_size.map(hex::encode),
                "history_kept": r.history_kept(),
                "log_size": r.log_size,
                "previous_key": r.previous_key,
                "new_key": r.new_key,
            }),
        })?;
        anyhow::Ok(body.into_bytes())
    })?;
    if r.overridden.is_empty() {
        println!(
            "nothing to reseal: writers open this ledger as it is (size {}); nothing was signed or recorded",
            thousands(ledger.size())
        );
        return Ok(0);
    }
    println!(
        "resealed the ledger in {} (as {who}: {reason:?})",
        data.display()
    );
    for p in &r.overridden {
        println!("  overridden: {p}");
    }
    match (&r.signed_before, r.history_kept()) {
        (Some(s), Some(true)) => println!(
            "  the key had signed {} records (root {}); the log rebuilt from the write-ahead log has that root at that size: that history is kept",
            thousands(s.size),
            hex::encode(s.root)
        ),
        (Some(s), Some(false)) => println!(
            "  the key had signed {} records (root {}); the log rebuilt from the write-ahead log has another root at that size ({}): that history was REWRITTEN",
            thousands(s.size),
            hex::encode(s.root),
            r.root_at_signed_size.map(hex::encode).unwrap_or_default()
        ),
        (Some(s), None) => println!(
            "  the key had signed {} records (root {}); the write-ahead log now holds only {}: records were REMOVED",
            thousands(s.size),
            hex::encode(s.root),
            thousands(r.log_size)
        ),
        (None, _) => println!("  what the key had signed is not known (keys/ledger.signed was gone)"),
    }
    match r.kept_checkpoint {
        Some((size, _)) => println!(
            "  kept the checkpoint of {} records; re-integrated the {} records after it from the write-ahead log",
            thousands(size),
            thousands(r.log_size - size)
        ),
        None => println!(
            "  rebuilt the tree from the {} records of the write-ahead log",
            thousands(r.log_size)
        ),
    }
    if let Some(k) = &r.new_key {
        println!("  the signing key was lost: made a new key; give auditors its verifier key:");
        println!("    {k}");
        if let Some(old) = &r.previous_key {
            println!("  previous verifier key: {old}");
        }
    }
    if let Some(i) = r.record {
        println!("  this decision was {}", own_use::Recorded::Ledger(i));
    }
    println!(
        "  signed a checkpoint of {} records; `suho verify` checks it all again",
        thousands(ledger.checkpoint_size())
    );
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

/// A line as `suho records` prints it, `{"ledger_index":N,"record":<record verbatim>}`: the
/// index and the record's exact bytes.
fn records_line(line: &[u8]) -> Option<(u64, &[u8])> {
    let rest = line.strip_prefix(br#"{"ledger_index":"#)?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let index = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let body = rest[digits..].strip_prefix(br#","record":"#)?;
    let body = body.strip_suffix(b"}")?;
    Some((index, body))
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
    let mut checked = suho_ledger::verify_proof_file(&text, &verifier, record.as_deref());
    // A line as `suho records` prints it wraps the stored record: check the record inside.
    let mut unwrapped = None;
    if let (Ok(c), Some((index, body))) = (&checked, record.as_deref().and_then(records_line)) {
        if c.record_matches == Some(false) {
            if index != c.index {
                println!(
                    "FAILED: the line given is the record at ledger index {index}, but the proof is for entry {}",
                    c.index
                );
                return Ok(1);
            }
            unwrapped = Some(index);
            checked = suho_ledger::verify_proof_file(&text, &verifier, Some(body));
        }
    }
    match checked {
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
                Some(true) => match unwrapped {
                    Some(i) => println!(
                        "OK: the record in the `suho records` line given (ledger index {i}) is exactly the one logged"
                    ),
                    None => println!("OK: the record given is exactly the one logged"),
                },
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
