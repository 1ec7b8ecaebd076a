//! Ledger commands: ingest, rejects, verify, status, keys and proofs.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use suho_app::own_use::{self, OwnUse};
use suho_app::App;
use suho_ingest::RejectLog;
use suho_ledger::{Entry, Layout, Ledger, Options, Resealed, SignedState};

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

pub use suho_app::ingest::IngestTotals;

/// `suho ingest`: `files`, each line decoded by `decoder` (the contract format's passthrough by
/// default).
pub fn ingest(
    app: &App,
    files: &[PathBuf],
    decoder: std::sync::Arc<dyn suho_decode::Decoder>,
) -> Result<IngestTotals> {
    // A bad [[sinks]] configuration stops the command before the ledger is touched.
    let sinks = crate::sinks_cmd::start(app)?;
    let mut ledger = app.open_ledger()?;
    let t = ingest_into(
        app,
        &mut ledger,
        files,
        Some(decoder),
        true,
        Some(sinks.hook()),
    )?;
    print_totals(&t, app);
    crate::sinks_cmd::finish_ingest(sinks);
    Ok(t)
}

/// `suho ingest --source NAME...`: each named `[[sources]]` entry of suho.toml, with its own
/// decoder; one ledger, one line of totals per source.
pub fn ingest_sources(app: &App, names: &[String]) -> Result<()> {
    let config = app.config()?;
    let mut chosen = Vec::new();
    for s in config.select_sources(names)? {
        chosen.push((s.clone(), s.decoder()?));
    }
    // Every source's file is checked before anything is stored.
    let paths: Vec<PathBuf> = chosen.iter().map(|(s, _)| s.path.clone()).collect();
    suho_app::ingest::check_inputs(&paths)?;
    let sinks = crate::sinks_cmd::start(app)?;
    let mut ledger = app.open_ledger()?;
    for (s, decoder) in chosen {
        print!("source {}: ", s.name);
        let t = ingest_into(
            app,
            &mut ledger,
            std::slice::from_ref(&s.path),
            Some(decoder.into()),
            true,
            Some(sinks.hook()),
        )?;
        print_totals(&t, app);
    }
    drop(ledger);
    crate::sinks_cmd::finish_ingest(sinks);
    Ok(())
}

pub fn print_totals(t: &IngestTotals, app: &App) {
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
    for s in &t.sources {
        println!(
            "  source {}: {} lines: {} stored, {} duplicates, {} rejected, {} conflicts",
            s.name,
            thousands(s.lines),
            thousands(s.stored),
            thousands(s.duplicates),
            thousands(s.rejected),
            thousands(s.conflicts)
        );
    }
    if t.rejected > 0 {
        println!(
            "rejected lines and reasons: {} (or `suho rejects`)",
            RejectLog::new(app.dir().root()).path().display()
        );
    }
}

/// A progress bar per file.
struct Bars {
    show: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl suho_app::ingest::Progress for Bars {
    fn start(&mut self, _name: &str, len: Option<u64>) {
        self.bar = len.filter(|_| self.show).map(|n| bytes_bar(n, "ingest"));
    }
    fn advance(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.set_position(bytes);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// Ingest `files` into an open ledger (used by `ingest`, the demo and the benchmark), with a
/// progress bar per file when `show_progress`; `on_outbox` is called whenever alerts are stored
/// (to wake the sink dispatcher). If the ingest stops part-way, what was stored
/// until then, per file, is printed to standard error before the error is returned.
pub fn ingest_into(
    app: &App,
    ledger: &mut Ledger,
    files: &[PathBuf],
    decoder: Option<std::sync::Arc<dyn suho_decode::Decoder>>,
    show_progress: bool,
    on_outbox: Option<suho_detect::OutboxHook>,
) -> Result<IngestTotals> {
    let req = suho_app::ingest::IngestRequest {
        files: files.to_vec(),
        on_outbox,
        decoder,
    };
    let mut bars = Bars {
        show: show_progress,
        bar: None,
    };
    match suho_app::ingest::ingest_into(app, ledger, &req, &mut bars) {
        Ok(t) => Ok(t),
        Err(suho_app::AppError::Stopped {
            input,
            stored,
            source,
        }) => {
            eprint!("{stored}");
            Err(anyhow::Error::new(*source).context(format!("ingesting {input} stopped")))
        }
        Err(e) => Err(e.into()),
    }
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

pub fn status(app: &App) -> Result<i32> {
    let data = app.dir().root();
    let layout = app.dir().layout();
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
    let lag = suho_app::recovery::lag(app)?;
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

pub fn recover(app: &App) -> Result<i32> {
    let before = suho_app::recovery::lag(app)?;
    if let Some(w) = &before.writer {
        bail!("a running suho process ({w}) holds the ledger and keeps it up to date; nothing to recover");
    }
    let r = crate::scope_cmd::sync_history(app, false)?;
    let lag = suho_app::recovery::lag(app)?;
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
