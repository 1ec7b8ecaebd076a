//! Following files as they grow (`suho ingest --follow`): the ledger, detection with its
//! outbox hook, the configuration's ingest window and the reject log, around
//! `suho_ingest::follow`, which tails the files across rotation and keeps its place.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use suho_ingest::{FollowOptions, FollowProgress, RejectLog};

use crate::ingest::IngestTotals;
use crate::{App, AppError};

/// What to follow.
#[derive(Clone, Default)]
pub struct FollowRequest {
    /// The files (each waited for when it does not exist yet).
    pub files: Vec<PathBuf>,
    /// The decoder (default: the contract format).
    pub decoder: Option<Arc<dyn suho_decode::Decoder>>,
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
    let s = suho_ingest::follow(
        &mut ledger,
        detection.as_mut(),
        &req.files,
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
    })
}
