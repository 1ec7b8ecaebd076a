//! The slow half of making things durable, on a thread of its own: the fsync of a group commit
//! ([`suho_ledger::PendingSync`]) and the publication of a checkpoint
//! ([`suho_ledger::PendingCheckpoint`]), one job at a time, while the sequencing thread goes
//! on. File ingest hands it both; `suho serve` only checkpoints, because an acknowledgement
//! must wait for its own group commit anyway, but never for a checkpoint's `syncfs`, which
//! also writes back whatever other programs left dirty on the filesystem.

use std::thread::Scope;

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use suho_ledger::{Ledger, LedgerError, PendingCheckpoint, PendingSync};

use crate::detection::{Stage, ToDetect};
use crate::IngestError;

enum Job {
    Sync(PendingSync),
    Checkpoint(PendingCheckpoint),
}

/// What a finished job made durable.
enum Landed {
    Synced(u64),
    Checkpointed(u64),
}

/// The durability thread, seen from the sequencing thread.
pub(crate) struct Durability {
    tx: Sender<Job>,
    rx: Receiver<Result<Landed, LedgerError>>,
    busy: bool,
}

impl Durability {
    /// Start the thread inside the scope `s`; it ends once this handle is dropped.
    pub(crate) fn spawn<'scope>(s: &'scope Scope<'scope, '_>) -> Durability {
        let (tx, jobs) = bounded::<Job>(1);
        let (done, rx) = bounded(1);
        s.spawn(move || {
            for job in jobs {
                let landed = match job {
                    Job::Sync(p) => p.wait_all().map(Landed::Synced),
                    Job::Checkpoint(c) => c.publish().map(Landed::Checkpointed),
                };
                if done.send(landed).is_err() {
                    break;
                }
            }
        });
        Durability {
            tx,
            rx,
            busy: false,
        }
    }

    /// A job is in flight (a new one waits for it).
    pub(crate) fn busy(&self) -> bool {
        self.busy
    }

    /// Start a group commit of every record sequenced so far; the caller checks [`busy`].
    ///
    /// [`busy`]: Durability::busy
    pub(crate) fn start_sync(&mut self, ledger: &mut Ledger) -> Result<(), IngestError> {
        self.start(Job::Sync(ledger.begin_sync()?))
    }

    /// Start a checkpoint of every record sequenced so far (none when the newest checkpoint
    /// covers them); the caller checks [`busy`]. Its records are durable once this returns and
    /// `stage` has been sent exactly these, so the detectors save their state for it now.
    ///
    /// [`busy`]: Durability::busy
    pub(crate) fn start_checkpoint(
        &mut self,
        ledger: &mut Ledger,
        stage: Option<&mut Stage<'_>>,
    ) -> Result<(), IngestError> {
        let Some(c) = ledger.begin_checkpoint()? else {
            return Ok(());
        };
        if let Some(st) = stage {
            st.send(ToDetect::Flush(c.size()))?;
        }
        self.start(Job::Checkpoint(c))
    }

    fn start(&mut self, job: Job) -> Result<(), IngestError> {
        self.tx.send(job).map_err(|_| stopped())?;
        self.busy = true;
        Ok(())
    }

    /// Take note of a job finished meanwhile, if any.
    pub(crate) fn poll(&mut self, ledger: &mut Ledger) -> Result<(), IngestError> {
        if self.busy {
            match self.rx.try_recv() {
                Ok(landed) => self.landed(ledger, landed)?,
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Err(stopped()),
            }
        }
        Ok(())
    }

    /// Wait for the job in flight, if any.
    pub(crate) fn wait(&mut self, ledger: &mut Ledger) -> Result<(), IngestError> {
        if self.busy {
            let landed = self.rx.recv().map_err(|_| stopped())?;
            self.landed(ledger, landed)?;
        }
        Ok(())
    }

    fn landed(
        &mut self,
        ledger: &mut Ledger,
        landed: Result<Landed, LedgerError>,
    ) -> Result<(), IngestError> {
        self.busy = false;
        match landed? {
            Landed::Synced(size) => ledger.synced(size),
            Landed::Checkpointed(size) => ledger.checkpointed(size),
        }
        Ok(())
    }
}

fn stopped() -> IngestError {
    IngestError::Ledger("the durability thread stopped".into())
}
