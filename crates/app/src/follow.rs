//! Following files as they grow (`suho ingest --follow`): the ledger, detection with its
//! outbox hook, the configuration's ingest window and the reject log, around
//! `suho_ingest::follow`, which tails the files across rotation and keeps its place.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use suho_ingest::{FollowInput, FollowOptions, FollowProgress, RejectLog};

use crate::ingest::IngestTotals;
use crate::{App, AppError};

/// What to follow: files with one decoder, or `[[sources]]` entries, each with its own.
#[derive(Clone, Default)]
pub struct FollowRequest {
    /// The files (each waited for when it does not exist yet).
    pub files: Vec<PathBuf>,
    /// The decoder of `files` (default: the contract format).
    pub decoder: Option<Arc<dyn suho_decode::Decoder>>,
    /// Names of `[[sources]]` entries of `suho.toml` (`all`: every one), each followed with
    /// its own format and mapping. Not with `files`.
    pub sources: Vec<String>,
    /// Called whenever alerts are stored (to wake the sink dispatcher).
    pub on_outbox: Option<suho_detect::OutboxHook>,
}

/// Follow `req.files` into the ledger of `app`, with every detector on (unless SUHO_NO_DETECT
/// is set), until `stop` is set; then everything read is durable and positions are saved.
pub fn run(
    app: &App,
    req: &FollowRequest,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&FollowProgress),
) -> Result<IngestTotals, AppError> {
    let inputs = inputs(app, req)?;
    // A file that cannot be followed stops the command before the ledger is opened.
    for i in &inputs {
        suho_ingest::check_followable(i)?;
    }
    let mut ledger = app.open_ledger()?;
    let mut opts = FollowOptions::default();
    opts.ingest.config = app.config()?.ingest;
    opts.ingest.decoder = req.decoder.clone();
    if let Some(every) = app.checkpoint_every() {
        opts.ingest.checkpoint_every = every;
    }
    let mut detection = app.open_detection(&mut ledger)?;
    if let Some(d) = &mut detection {
        d.on_outbox(req.on_outbox.clone());
    }
    let mut rejects = RejectLog::new(app.dir().root());
    let started = Instant::now();
    let s = suho_ingest::follow_inputs(
        &mut ledger,
        detection.as_mut(),
        &inputs,
        &opts,
        &mut rejects,
        stop,
        progress,
    )?;
    Ok(IngestTotals {
        stored: s.counts.stored,
        duplicates: s.counts.duplicates,
        rejected: s.counts.rejected,
        conflicts: s.counts.conflicts,
        lines: s.counts.lines,
        bytes: s.counts.bytes,
        seconds: started.elapsed().as_secs_f64(),
        ledger_size: s.ledger_size,
        alerts: detection
            .as_ref()
            .map(|d| d.raised().iter().map(|(s, n)| (s.as_str(), *n)).collect())
            .unwrap_or_default(),
        sources: s.sources,
    })
}

/// The files of `req` with its decoder, or its sources with theirs (never both).
fn inputs(app: &App, req: &FollowRequest) -> Result<Vec<FollowInput>, AppError> {
    if req.sources.is_empty() {
        return Ok(req
            .files
            .iter()
            .map(|f| FollowInput {
                path: f.clone(),
                source: None,
                decoder: req.decoder.clone(),
            })
            .collect());
    }
    if !req.files.is_empty() {
        return Err(AppError::Refused(
            "follow either files (with --format) or [[sources]] (each with its own format), \
             not both in one command: name the files as a source in suho.toml instead"
                .into(),
        ));
    }
    let config = app.config()?;
    let mut out = Vec::new();
    for s in config.select_sources(&req.sources)? {
        out.push(FollowInput {
            path: s.path.clone(),
            source: Some(s.name.clone()),
            decoder: Some(s.decoder()?.into()),
        });
    }
    Ok(out)
}
