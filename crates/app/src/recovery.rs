//! Bringing what is derived from the ledger up to the durable ledger after a crash.
//!
//! A process killed while ingesting leaves records that are durable in the write-ahead log but
//! past the last signed checkpoint, and past the position the detectors last saved. Until a
//! writer opens the ledger again, the checkpoint, the history (which indexes up to the
//! checkpoint) and the alerts all lag behind what was stored. [`lag`] says by how much without
//! changing anything, for `suho status` and `suho alerts`; [`recover`] closes the gap (the
//! ledger's own recovery, then the detectors' catch-up), for every command that answers from
//! the history: an answer called exact must cover every durable record.

use suho_ingest::{Detection, IngestError};
use suho_ledger::{Layout, Ledger, LedgerError, Options, WalReader};

use crate::{App, AppError};

/// How far the derived parts of a data directory are behind its durable ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lag {
    /// Records covered by the newest signed checkpoint.
    pub checkpoint: u64,
    /// Records the write-ahead log holds (durable or in a torn tail that recovery cuts off);
    /// None while a writer holds the ledger, whose log is then still growing.
    pub logged: Option<u64>,
    /// Records the saved detector state has seen.
    pub detected: u64,
    /// The process holding the ledger (`pid N`), if any.
    pub writer: Option<String>,
}

impl Lag {
    /// Records stored by a process that stopped before checkpointing or saving its detectors,
    /// and that no writer is now working on: recovery is pending.
    pub fn pending(&self) -> Option<u64> {
        let logged = self.logged?;
        let behind = logged.saturating_sub(self.checkpoint.min(self.detected));
        (behind > 0).then_some(behind)
    }

    /// One sentence on what is pending and how to finish it, when something is.
    pub fn warning(&self) -> Option<String> {
        let behind = self.pending()?;
        Some(format!(
            "recovery pending: the ledger holds {behind} record(s) that a process which stopped \
             early (a crash or a kill) did not checkpoint or run through the detectors \
             (checkpoint {}, detectors {}, log {}); alerts and counts miss them until \
             `suho recover` (or any ingest) brings them up to date",
            self.checkpoint,
            self.detected,
            self.logged.unwrap_or(0)
        ))
    }
}

/// Read the lag of the data directory of `app` without changing anything.
pub fn lag(app: &App) -> Result<Lag, AppError> {
    let layout = app.dir().layout();
    let checkpoint = checkpoint_size(layout)?;
    let detected = Detection::saved_position(&app.dir().detect_dir())?;
    let writer = suho_ledger::lock_holder(&layout.data)?;
    let logged = match writer {
        Some(_) => None,
        None => Some(logged_records(layout, checkpoint)?),
    };
    Ok(Lag {
        checkpoint,
        logged,
        detected,
        writer,
    })
}

/// What [`recover`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// The ledger, its checkpoint and the detectors now cover every durable record.
    UpToDate {
        /// Durable records, all checkpointed and seen by the detectors.
        size: u64,
        /// Records that had to be checkpointed or run through the detectors to get there.
        caught_up: u64,
    },
    /// Another process holds the ledger and keeps all of it up to date as it goes; answers can
    /// cover only what it has checkpointed.
    Live {
        /// The holder (`pid N`).
        writer: String,
        /// Records its newest checkpoint covers.
        checkpoint: u64,
    },
}

/// Bring the checkpoint and the detectors up to every durable record: open the ledger (which
/// cuts a torn tail, re-integrates records past the checkpoint and signs a new one), then let
/// the detectors replay what they have not seen. Alerts are stored before this returns.
pub fn recover(app: &App) -> Result<Recovered, AppError> {
    let layout = app.dir().layout();
    let before = lag(app)?;
    let mut ledger = match Ledger::open(&layout.data, Options::default()) {
        Ok(l) => l,
        Err(LedgerError::Locked { holder, .. }) => {
            return Ok(Recovered::Live {
                writer: holder,
                checkpoint: checkpoint_size(layout)?,
            })
        }
        Err(e) => return Err(e.into()),
    };
    let setup = app.detection_setup()?;
    let size = ledger.durable_size();
    // Opening catches the detectors up with `size` records and saves their state; the ledger
    // stays open meanwhile, so no writer can start and run ahead of them.
    let detection = Detection::open(&mut ledger, setup)?;
    drop(detection);
    drop(ledger);
    let caught_up = size.saturating_sub(before.checkpoint.min(before.detected));
    if caught_up > 0 {
        tracing::info!(
            size,
            caught_up,
            "recovered records a stopped process had stored"
        );
    }
    Ok(Recovered::UpToDate { size, caught_up })
}

/// Size of the newest checkpoint on disk (0 when there is none); its signature is checked by
/// the ledger when it opens and by `suho verify`, not here.
fn checkpoint_size(layout: &Layout) -> Result<u64, IngestError> {
    let path = layout.checkpoint();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(LedgerError::Io { path, source }.into()),
    };
    // A signed note: the checkpoint body, a blank line, the signatures.
    let body = text.split_once("\n\n").map_or(text.as_str(), |(b, _)| b);
    suho_note::Checkpoint::parse(&format!("{body}\n"))
        .map(|cp| cp.size)
        .map_err(|e| IngestError::Ledger(format!("{}: {e}", path.display())))
}

/// Records in the write-ahead log, counted from the checkpoint on (what lies before it is
/// covered by the signed checkpoint). A damaged block ends the count: `suho verify` and the
/// ledger's recovery judge it.
fn logged_records(layout: &Layout, checkpoint: u64) -> Result<u64, IngestError> {
    if !layout.wal().exists() {
        return Ok(checkpoint);
    }
    let mut end = checkpoint;
    let scanned = WalReader::new(&layout.wal()).scan(checkpoint, |frame| {
        end = frame.index + 1;
        true
    });
    if let Err(e) = scanned {
        tracing::warn!(error = %e, "the write-ahead log could not be read to its end");
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_pending_while_a_writer_works_or_when_all_is_caught_up() {
        let lag = |logged, checkpoint, detected| Lag {
            checkpoint,
            logged,
            detected,
            writer: None,
        };
        assert_eq!(lag(None, 5, 5).pending(), None);
        assert_eq!(lag(Some(10), 10, 10).pending(), None);
        assert_eq!(lag(Some(10), 4, 10).pending(), Some(6));
        assert_eq!(lag(Some(10), 10, 3).pending(), Some(7));
        assert!(lag(Some(10), 0, 0)
            .warning()
            .is_some_and(|w| w.contains("10 record(s)")));
    }
}
