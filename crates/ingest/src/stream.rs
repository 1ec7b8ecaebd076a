//! File and standard-input ingest: a reader thread cuts the stream into chunks at line ends,
//! worker threads parse, validate and hash the chunks in parallel, and the calling thread
//! sequences them in input order into the ledger, syncing in large groups.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use suho_ledger::{Appended, Ledger};

use crate::detection::{Stage, ToDetect};
use crate::durable::Durability;
use crate::prepare::{prepare_chunk, Item, PreparedChunk};
use crate::{Detection, IngestError, RejectLog};

const CHUNK: usize = 1 << 20;

/// Tuning of a stream ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Parse workers (default: available cores).
    pub workers: usize,
    /// Make records durable at least this often (group commit).
    pub sync_every: Duration,
    /// Publish a signed checkpoint at least this often.
    pub checkpoint_every: Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            sync_every: Duration::from_millis(500),
            checkpoint_every: Duration::from_secs(5),
        }
    }
}

/// Where a running ingest is.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Input bytes read so far.
    pub bytes: u64,
    /// Lines seen so far.
    pub lines: u64,
    /// Records stored so far (conflicts included).
    pub stored: u64,
}

/// What one stream ingest did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StreamSummary {
    /// Input bytes.
    pub bytes: u64,
    /// Non-blank lines.
    pub lines: u64,
    /// Records stored (conflicts included).
    pub stored: u64,
    /// Records already stored (same id, same content).
    pub duplicates: u64,
    /// Lines rejected (see the reject log).
    pub rejected: u64,
    /// Of the records stored, those whose id an earlier record with other content carries.
    pub conflicts: u64,
    /// Ledger index of the first record stored (when any).
    pub first_index: Option<u64>,
}

struct Chunk {
    seq: u64,
    first_line: u64,
    buf: Vec<u8>,
    too_long: Option<u64>,
}

struct Done {
    seq: u64,
    chunk: PreparedChunk,
}

/// Ingest one NDJSON stream named `name` into `ledger`. Every stored record is durable when
/// this returns, and a checkpoint covers it.
/// With `detection`, every stored record is also checked by the detectors in the same pass.
pub fn ingest_stream(
    ledger: &mut Ledger,
    detection: Option<&mut Detection>,
    name: &str,
    input: impl Read + Send,
    opts: &IngestOptions,
    rejects: &mut RejectLog,
    progress: &mut dyn FnMut(Progress),
) -> Result<StreamSummary, IngestError> {
    let workers = opts.workers.max(1);
    let detecting = detection.is_some();
    let (chunk_tx, chunk_rx) = bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = bounded::<Done>(workers * 2);
    let mut summary = StreamSummary::default();
    std::thread::scope(|s| -> Result<(), IngestError> {
        let reader = s.spawn(move || read_chunks(input, chunk_tx));
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
            s.spawn(move || {
                for c in rx {
                    let chunk = match c.too_long {
                        Some(bytes) => PreparedChunk {
                            buf: Vec::new(),
                            items: vec![Item::Rejected {
                                line: c.first_line,
                                reason: format!("the line is {bytes} bytes, over the {} MiB limit for one record; it was skipped", suho_record::MAX_LINE_BYTES >> 20),
                            }],
                            features: Vec::new(),
                            sequenced_ms: 0,
                            blocks: Vec::new(),
                        },
                        None => prepare_chunk(c.buf, c.first_line, suho_ledger::now_ms(), detecting),
                    };
                    if tx.send(Done { seq: c.seq, chunk }).is_err() {
                        break;
                    }
                }
            });
        }
        drop(chunk_rx);
        drop(done_tx);
        let mut stage = detection.map(|d| Stage::spawn(s, d));
        // Group commits run their fsync there, and checkpoints their publication, so that
        // sequencing goes on meanwhile.
        let mut durability = Durability::spawn(s);

        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next = 0u64;
        let mut last_sync = Instant::now();
        let mut last_cp = Instant::now();
        let mut result = Ok(());
        'recv: for d in done_rx.iter() {
            pending.insert(d.seq, d);
            while let Some(mut d) = pending.remove(&next) {
                next += 1;
                summary.bytes += d.chunk.buf.len() as u64;
                let step = sequence(ledger, name, &mut d.chunk, rejects, &mut summary)
                    .and_then(|results| match stage.as_mut() {
                        Some(st) => st.send(ToDetect::Chunk(d.chunk, results)),
                        None => Ok(()),
                    })
                    .and_then(|()| {
                        durability.poll(ledger)?;
                        // Alerts are stored at checkpoints (Flush), which begin with a full
                        // sync: an alert is never stored for a record a crash could still lose.
                        if !durability.busy() && last_cp.elapsed() >= opts.checkpoint_every {
                            durability.start_checkpoint(ledger, stage.as_mut())?;
                            last_cp = Instant::now();
                            last_sync = Instant::now();
                        }
                        if !durability.busy() && last_sync.elapsed() >= opts.sync_every {
                            durability.start_sync(ledger)?;
                            last_sync = Instant::now();
                            progress(Progress {
                                bytes: summary.bytes,
                                lines: summary.lines,
                                stored: summary.stored,
                            });
                        }
                        Ok(())
                    });
                if let Err(e) = step {
                    result = Err(e);
                    break 'recv;
                }
            }
        }
        // Dropping the receiver stops the workers and then the reader on error.
        drop(done_rx);
        durability.wait(ledger)?;
        drop(durability);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the reader thread panicked")));
        result?;
        read.map_err(|error| IngestError::Read {
            source_name: name.to_string(),
            error,
        })?;
        let size = ledger.checkpoint()?;
        if let Some(mut st) = stage {
            st.send(ToDetect::Flush(size))?;
            st.finish()?;
        }
        Ok(())
    })?;
    rejects.flush()?;
    progress(Progress {
        bytes: summary.bytes,
        lines: summary.lines,
        stored: summary.stored,
    });
    Ok(summary)
}

/// Sequence one prepared chunk and count what happened to its lines; the per-item results
/// go on to the detectors.
fn sequence(
    ledger: &mut Ledger,
    name: &str,
    chunk: &mut PreparedChunk,
    rejects: &mut RejectLog,
    summary: &mut StreamSummary,
) -> Result<Vec<Option<Appended>>, IngestError> {
    let results = chunk.append_to(ledger)?;
    for (item, res) in chunk.items.iter().zip(&results) {
        summary.lines += 1;
        match (item, res) {
            (Item::Rejected { line, reason }, _) => {
                summary.rejected += 1;
                rejects.reject(name, *line, reason)?;
            }
            (_, Some(Appended::Duplicate(_))) => summary.duplicates += 1,
            (_, Some(a)) => {
                summary.stored += 1;
                summary.conflicts += u64::from(matches!(a, Appended::Conflict { .. }));
                summary.first_index.get_or_insert(a.index());
            }
            (_, None) => {}
        }
    }
    Ok(results)
}

/// Cut `input` into chunks that end at a line end; a line longer than the record limit is
/// skipped without being buffered and reported as its own chunk.
fn read_chunks(mut input: impl Read, tx: crossbeam_channel::Sender<Chunk>) -> std::io::Result<()> {
    let mut seq = 0u64;
    let mut line = 1u64;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
    let mut eof = false;
    loop {
        // Fill to at least CHUNK bytes (or EOF).
        while !eof && buf.len() < CHUNK {
            eof = read_more(&mut input, &mut buf)? == 0;
        }
        if buf.is_empty() {
            return Ok(());
        }
        let cut = if eof {
            Some(buf.len())
        } else {
            memchr::memrchr(b'\n', &buf).map(|p| p + 1)
        };
        match cut {
            Some(cut) => {
                let rest = buf.split_off(cut);
                let lines = memchr::memchr_iter(b'\n', &buf).count() as u64
                    + u64::from(!buf.ends_with(b"\n"));
                let chunk = Chunk {
                    seq,
                    first_line: line,
                    buf,
                    too_long: None,
                };
                seq += 1;
                line += lines;
                if tx.send(chunk).is_err() {
                    return Ok(());
                }
                buf = Vec::with_capacity(CHUNK * 2);
                buf.extend_from_slice(&rest);
            }
            None if buf.len() > suho_record::MAX_LINE_BYTES => {
                // Skip the rest of this line, counting its bytes, keeping what follows it.
                let mut skipped = buf.len() as u64;
                buf.clear();
                loop {
                    if read_more(&mut input, &mut buf)? == 0 {
                        eof = true;
                        break;
                    }
                    if let Some(p) = memchr::memchr(b'\n', &buf) {
                        skipped += p as u64;
                        buf.drain(..=p);
                        break;
                    }
                    skipped += buf.len() as u64;
                    buf.clear();
                }
                if tx
                    .send(Chunk {
                        seq,
                        first_line: line,
                        buf: Vec::new(),
                        too_long: Some(skipped),
                    })
                    .is_err()
                {
                    return Ok(());
                }
                seq += 1;
                line += 1;
            }
            None => {
                // A long line still within the limit: read more.
                eof = read_more(&mut input, &mut buf)? == 0;
            }
        }
    }
}

/// Append up to CHUNK more bytes of `input` to `buf`; 0 at end of input. Reads into the
/// spare capacity (`Read::take` + `read_to_end`), so fresh buffers are not zeroed first.
fn read_more(input: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    // read_to_end retries interrupted reads itself.
    buf.reserve(CHUNK);
    input.by_ref().take(CHUNK as u64).read_to_end(buf)
}
