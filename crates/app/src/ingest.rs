//! Ingesting named inputs (files, `-` for standard input) into the ledger, through a decoder,
//! with the detectors in the same pass: what `suho ingest`, the demo and the benchmark share.
//!
//! Every named input is checked before anything is stored (it exists, is a readable file, and
//! is plain or gzip), so that a typo stores nothing. If something still fails after records
//! were stored, the error says, per input, what was stored until then.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use suho_decode::Decoder;
use suho_ingest::{
    ingest_stream, open_input, Compression, Detection, IngestError, IngestOptions, RejectLog,
    StreamError, StreamSummary,
};
use suho_ledger::Ledger;

use crate::{App, AppError};

/// Totals over several inputs.
#[derive(Debug, Default, Clone)]
pub struct IngestTotals {
    /// Records stored, conflicts included.
    pub stored: u64,
    /// Lines whose record the ledger already held (same id, same content).
    pub duplicates: u64,
    /// Lines refused, each with its reason in the reject log.
    pub rejected: u64,
    /// Of the records stored, those whose id an earlier record with other content carries.
    pub conflicts: u64,
    /// Lines read.
    pub lines: u64,
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// Ledger size afterwards.
    pub ledger_size: u64,
    /// New alerts by severity.
    pub alerts: Vec<(&'static str, u64)>,
    /// Per `[[sources]]` entry followed (`suho ingest --follow --source`), what was done with
    /// its lines.
    pub sources: Vec<suho_ingest::SourceProgress>,
}

/// What a caller sees while inputs are ingested.
pub trait Progress {
    /// An input starts; `len` is its size in bytes when it is a file.
    fn start(&mut self, _name: &str, _len: Option<u64>) {}
    /// Bytes of the current input read so far (of the file as stored: compressed bytes for a
    /// compressed file).
    fn advance(&mut self, _bytes: u64) {}
    /// The current input is done.
    fn finish(&mut self) {}
}

/// No progress shown.
impl Progress for () {}

/// How to ingest.
#[derive(Clone, Default)]
pub struct IngestRequest {
    /// The inputs (`-` is standard input).
    pub files: Vec<PathBuf>,
    /// The decoder (default: the contract format).
    pub decoder: Option<Arc<dyn Decoder>>,
    /// Called whenever alerts are stored (to wake the sink dispatcher).
    pub on_outbox: Option<suho_detect::OutboxHook>,
}

/// Ingest `req.files` into the ledger of `app`, opened by the caller.
pub fn ingest_into(
    app: &App,
    ledger: &mut Ledger,
    req: &IngestRequest,
    progress: &mut dyn Progress,
) -> Result<IngestTotals, AppError> {
    check_inputs(&req.files)?;
    let config = app.config()?;
    let mut detection = app.open_detection(ledger)?;
    if let Some(d) = &mut detection {
        d.on_outbox(req.on_outbox.clone());
    }
    let mut rejects = RejectLog::new(app.dir().root());
    let mut opts = IngestOptions {
        config: config.ingest,
        decoder: req.decoder.clone(),
        ..IngestOptions::default()
    };
    if let Some(every) = app.checkpoint_every() {
        opts.checkpoint_every = every;
    }
    let mut totals = IngestTotals::default();
    let mut done: Vec<(String, StreamSummary)> = Vec::new();
    let started = Instant::now();
    for f in &req.files {
        let name = f.display().to_string();
        let res = ingest_file(ledger, detection.as_mut(), f, &opts, &mut rejects, progress);
        let s = match res {
            Ok(s) => s,
            Err(e) => {
                return Err(AppError::Stopped {
                    input: name.clone(),
                    stored: stored_before_error(&done, &name, &e.summary, &req.files),
                    source: Box::new(e.error.into()),
                })
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
pub fn check_inputs(files: &[PathBuf]) -> Result<(), AppError> {
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
        return Err(AppError::Refused(format!(
            "{}; nothing was ingested",
            problems.join("; ")
        )));
    }
    Ok(())
}

/// Ingests one named input (`-` is standard input).
fn ingest_file(
    ledger: &mut Ledger,
    detection: Option<&mut Detection>,
    f: &Path,
    opts: &IngestOptions,
    rejects: &mut RejectLog,
    progress: &mut dyn Progress,
) -> Result<StreamSummary, StreamError> {
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
    progress.start(&name, len);
    // Progress measures the file, so a compressed file's progress is its compressed bytes read.
    let raw = (input.compression() != Compression::None).then(|| input.raw_bytes_read());
    let res = ingest_stream(ledger, detection, &name, input, opts, rejects, &mut |p| {
        progress.advance(raw.as_ref().map_or(p.bytes, |r| r.load(Ordering::Relaxed)));
    });
    progress.finish();
    res
}

/// What an ingest that stopped at `failed` had stored: every input before it, and `partial`
/// of it; and the inputs it did not reach.
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
            s.stored, s.duplicates, s.rejected
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
        partial.lines,
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
