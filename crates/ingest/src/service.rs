//! The ingest service behind `suho serve`: concurrent submitters, one writer thread, group
//! commit. Bodies are prepared (parsed, validated, hashed) on worker threads; the writer
//! sequences whatever has queued up, makes it durable with one fsync, and only then reports
//! each batch's results. A signed checkpoint follows at a fixed interval, published on a
//! thread of its own so that acknowledgements never wait for it.

use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, RecvTimeoutError};
use suho_ledger::{Appended, Ledger};

use crate::detection::{Stage, ToDetect};
use crate::durable::Durability;
use crate::prepare::{prepare_body, prepare_chunk, Item, PreparedChunk};
use crate::{
    BatchReport, Detection, Done, IngestConfig, IngestError, IngestHandle, LineResult, RejectLog,
    Source, Submission,
};

/// Tuning of the service.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Threads that parse and hash submitted bodies.
    pub workers: usize,
    /// Publish a signed checkpoint at most this long after a record became durable.
    pub checkpoint_every: Duration,
    /// Which event times are accepted (`[ingest]` in `suho.toml`).
    pub config: IngestConfig,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            checkpoint_every: Duration::from_secs(1),
            config: IngestConfig::default(),
        }
    }
}

struct Ready {
    chunk: PreparedChunk,
    source: Source,
    done: Done,
}

/// A running ingest service; stop it with [`IngestService::shutdown`].
pub struct IngestService {
    handle: IngestHandle,
    workers: Vec<JoinHandle<()>>,
    writer: Option<JoinHandle<Result<(), IngestError>>>,
}

impl IngestService {
    /// Start the service over `ledger`; rejects are appended to `rejects`.
    pub fn start(ledger: Ledger, rejects: RejectLog, opts: ServiceOptions) -> IngestService {
        IngestService::start_detecting(ledger, None, rejects, opts)
    }

    /// Like [`IngestService::start`], running the detectors over every stored record.
    pub fn start_detecting(
        ledger: Ledger,
        detection: Option<Detection>,
        rejects: RejectLog,
        opts: ServiceOptions,
    ) -> IngestService {
        let detecting = Detection::detecting(detection.as_ref());
        let (tx, rx) = bounded::<Submission>(1024);
        let (ready_tx, ready_rx) = unbounded::<Ready>();
        let config = opts.config;
        let workers = (0..opts.workers.max(1))
            .map(|_| {
                let rx = rx.clone();
                let ready_tx = ready_tx.clone();
                let detecting = detecting.clone();
                std::thread::spawn(move || {
                    for Submission { source, body, done } in rx {
                        let now = suho_ledger::now_ms();
                        let chunk = prepare_body(body, now, &config.at(now), &detecting);
                        if let Err(e) = ready_tx.send(Ready {
                            chunk,
                            source,
                            done,
                        }) {
                            (e.into_inner().done)(Err(IngestError::Stopped));
                        }
                    }
                })
            })
            .collect();
        drop(ready_tx);
        let every = opts.checkpoint_every;
        let failure = Arc::new(OnceLock::new());
        let failed = Arc::clone(&failure);
        let writer = std::thread::spawn(move || {
            // Set while unwinding too: a panic in the writer is a failure like any other.
            let on_panic = FailOnPanic(Arc::clone(&failed));
            let res = write_loop(ledger, detection, rejects, ready_rx, every, config);
            if let Err(e) = &res {
                let _ = failed.set(e.to_string());
            }
            drop(on_panic);
            res
        });
        IngestService {
            handle: IngestHandle { tx, failure },
            workers,
            writer: Some(writer),
        }
    }

    /// A handle for submitting bodies.
    pub fn handle(&self) -> IngestHandle {
        self.handle.clone()
    }

    /// Why the service stopped taking records, if it stopped on an error (see
    /// [`IngestHandle::failure`]).
    pub fn failure(&self) -> Option<&str> {
        self.handle.failure()
    }

    /// Stop taking work, finish what is queued, write a final checkpoint.
    pub fn shutdown(mut self) -> Result<(), IngestError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), IngestError> {
        // Replace our sender so the channel closes once every handle clone is gone.
        let (dead, _) = bounded(1);
        let failure = Arc::clone(&self.handle.failure);
        drop(std::mem::replace(
            &mut self.handle,
            IngestHandle { tx: dead, failure },
        ));
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        match self.writer.take() {
            Some(w) => w
                .join()
                .unwrap_or_else(|_| Err(IngestError::Ledger("the writer thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for IngestService {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = self.stop();
        }
    }
}

/// Records "the writer thread panicked" as the service's failure if dropped while unwinding.
struct FailOnPanic(Arc<OnceLock<String>>);

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.set("the writer thread panicked".into());
        }
    }
}

fn write_loop(
    mut ledger: Ledger,
    mut detection: Option<Detection>,
    mut rejects: RejectLog,
    rx: crossbeam_channel::Receiver<Ready>,
    every: Duration,
    config: IngestConfig,
) -> Result<(), IngestError> {
    std::thread::scope(|s| {
        let mut stage = detection.as_mut().map(|d| Stage::spawn(s, d));
        let mut durability = Durability::spawn(s);
        let res = sequence_loop(
            &mut ledger,
            stage.as_mut(),
            &mut rejects,
            rx,
            every,
            &config,
            &mut durability,
        )
        .and_then(|()| {
            durability.wait(&mut ledger)?;
            let size = ledger.checkpoint()?;
            match stage.as_mut() {
                Some(st) => st.send(ToDetect::Flush(size)),
                None => Ok(()),
            }
        });
        drop(durability);
        let finished = stage.as_mut().map_or(Ok(()), Stage::finish);
        res.and(finished)
    })
}

fn sequence_loop(
    ledger: &mut Ledger,
    mut stage: Option<&mut Stage<'_>>,
    rejects: &mut RejectLog,
    rx: crossbeam_channel::Receiver<Ready>,
    every: Duration,
    config: &IngestConfig,
    durability: &mut Durability,
) -> Result<(), IngestError> {
    let mut last_cp = Instant::now();
    loop {
        let first = match rx.recv_timeout(every) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                tick(ledger, stage.as_deref_mut(), rejects, durability, config)?;
                last_cp = Instant::now();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        // Group commit: take everything already queued, then one fsync for all of it.
        let mut group = vec![first];
        let mut lines = group[0].chunk.items.len();
        while lines < 200_000 {
            match rx.try_recv() {
                Ok(r) => {
                    lines += r.chunk.items.len();
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        let mut reports = Vec::with_capacity(group.len());
        let mut dones = Vec::with_capacity(group.len());
        let mut failure = None;
        // A failed detection stage stops the service, but only after this group's records,
        // already sequenced, are made durable and acknowledged: otherwise clients would retry
        // records that are in fact stored.
        let mut detect_failure = None;
        for Ready {
            mut chunk,
            source,
            done,
        } in group
        {
            dones.push(done);
            if failure.is_some() {
                continue;
            }
            match sequence(ledger, &mut chunk, rejects, &source) {
                Ok((rep, results)) => {
                    reports.push(rep);
                    if let (Some(st), None) = (stage.as_deref_mut(), &detect_failure) {
                        detect_failure = st.send(ToDetect::Chunk(chunk, results)).err();
                    }
                }
                Err(e) => failure = Some(e.to_string()),
            }
        }
        if failure.is_none() {
            if let Err(e) = ledger.sync() {
                failure = Some(e.to_string());
            } else if let (Some(st), None) = (stage.as_deref_mut(), &detect_failure) {
                detect_failure = st.send(ToDetect::StoreAlerts).err();
            }
        }
        let _ = rejects.flush();
        let size = ledger.durable_size();
        match failure {
            None => {
                for (done, mut rep) in dones.into_iter().zip(reports) {
                    rep.ledger_size = size;
                    done(Ok(rep));
                }
            }
            Some(msg) => {
                tracing::error!(error = %msg, "a group commit failed; its batches were not acknowledged");
                for done in dones {
                    done(Err(IngestError::Ledger(msg.clone())));
                }
                return Err(IngestError::Ledger(msg));
            }
        }
        if let Some(e) = detect_failure {
            tracing::error!(error = %e, "the detectors failed; the ingest service stops");
            return Err(e);
        }
        durability.poll(ledger)?;
        if last_cp.elapsed() >= every {
            tick(ledger, stage.as_deref_mut(), rejects, durability, config)?;
            last_cp = Instant::now();
        }
    }
}

/// The checkpoint tick: sequence suho's own use spooled by commands while this process holds
/// the ledger (through the detectors, like any body), then start publishing a checkpoint and
/// save the detectors' state for it.
fn tick(
    ledger: &mut Ledger,
    mut stage: Option<&mut Stage<'_>>,
    rejects: &mut RejectLog,
    durability: &mut Durability,
    config: &IngestConfig,
) -> Result<(), IngestError> {
    if let Err(e) = drain_spool(ledger, stage.as_deref_mut(), rejects, config) {
        tracing::error!(error = %e, "could not drain the own-use spool");
    }
    durability.poll(ledger)?;
    if durability.busy() || ledger.checkpoint_size() >= ledger.size() {
        return Ok(());
    }
    durability.start_checkpoint(ledger, stage)
}

pub(crate) fn drain_spool(
    ledger: &mut Ledger,
    stage: Option<&mut Stage<'_>>,
    rejects: &mut RejectLog,
    config: &IngestConfig,
) -> Result<(), IngestError> {
    let spooled = crate::spool::pending(&ledger.layout().data)?;
    if spooled.is_empty() {
        return Ok(());
    }
    let mut body = Vec::new();
    for (_, b) in &spooled {
        body.extend_from_slice(b);
        body.push(b'\n');
    }
    let now = suho_ledger::now_ms();
    let detecting = stage
        .as_ref()
        .map(|s| s.detecting.clone())
        .unwrap_or_default();
    let mut chunk = prepare_chunk(body, 1, now, &config.at(now), &detecting);
    let (_, results) = sequence(ledger, &mut chunk, rejects, &Source::file("spool"))?;
    ledger.sync()?;
    if let Some(st) = stage {
        st.send(ToDetect::Chunk(chunk, results))?;
    }
    crate::spool::remove(&spooled)
}

/// Sequence one prepared body and report every line; the per-item results go on to the
/// detectors.
fn sequence(
    ledger: &mut Ledger,
    chunk: &mut PreparedChunk,
    rejects: &mut RejectLog,
    source: &Source,
) -> Result<(BatchReport, Vec<Option<Appended>>), IngestError> {
    let results = chunk.append_to(ledger)?;
    let mut rep = BatchReport {
        stored: 0,
        duplicates: 0,
        rejected: 0,
        conflicts: 0,
        ledger_size: 0,
        results: Vec::with_capacity(chunk.items.len()),
    };
    chunk.log_rejected(source, rejects)?;
    for (item, res) in chunk.items.iter().zip(&results) {
        match (item, res) {
            (Item::Rejected { line, reason, .. }, _) => {
                rep.rejected += 1;
                rep.results.push(LineResult::Rejected {
                    line: *line,
                    reason: reason.clone(),
                });
            }
            (Item::Ok { line, .. }, Some(Appended::Stored(index))) => {
                rep.stored += 1;
                rep.results.push(LineResult::Stored {
                    line: *line,
                    index: *index,
                });
            }
            (
                Item::Ok { line, .. },
                Some(Appended::Conflict {
                    index,
                    conflicts_with,
                    ..
                }),
            ) => {
                rep.stored += 1;
                rep.conflicts += 1;
                rep.results.push(LineResult::Conflict {
                    line: *line,
                    index: *index,
                    conflicts_with: *conflicts_with,
                });
            }
            (Item::Ok { line, .. }, Some(Appended::Duplicate(index))) => {
                rep.duplicates += 1;
                rep.results.push(LineResult::Duplicate {
                    line: *line,
                    index: *index,
                });
            }
            (Item::Ok { .. }, None) => {}
        }
    }
    Ok((rep, results))
}
