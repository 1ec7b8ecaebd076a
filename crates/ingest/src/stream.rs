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
use crate::prepare::{prepare_lines, Item, PreparedChunk};
use crate::{Detection, IngestConfig, IngestError, RejectLog, Source};

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
    /// Which event times are accepted (`[ingest]` in `suho.toml`).
    pub config: IngestConfig,
    /// The input's format, when it is not the contract's NDJSON (`suho ingest --format`).
    pub decoder: Option<std::sync::Arc<dyn suho_decode::Decoder>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            sync_every: Duration::from_millis(500),
            checkpoint_every: Duration::from_secs(5),
            config: IngestConfig::default(),
            decoder: None,
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

/// A stream ingest that stopped on an error, with what it had done until then.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct StreamError {
    /// What was done before the error. Records counted as stored were made durable when the
    /// error was in reading the input; after a ledger error, the next open of the ledger
    /// decides (crash recovery).
    pub summary: StreamSummary,
    /// What went wrong.
    pub error: IngestError,
}

struct Chunk {
    seq: u64,
    first_line: u64,
    /// The chunk's lines; for a line over the limit, its first bytes.
    buf: Vec<u8>,
    /// The length of a line over the limit (the chunk is that line alone).
    too_long: Option<u64>,
}

struct Done {
    seq: u64,
    /// Input bytes the chunk covered.
    bytes: u64,
    chunk: PreparedChunk,
}

/// Ingest one NDJSON stream named `name` (a file path, or `-`) into `ledger`. Every stored
/// record is durable when this returns, and a checkpoint covers it; so are those stored before
/// an error in reading the input, which [`StreamError::summary`] counts.
/// With `detection`, every stored record is also checked by the detectors in the same pass.
pub fn ingest_stream(
    ledger: &mut Ledger,
    detection: Option<&mut Detection>,
    name: &str,
    input: impl Read + Send,
    opts: &IngestOptions,
    rejects: &mut RejectLog,
    progress: &mut dyn FnMut(Progress),
) -> Result<StreamSummary, StreamError> {
    let workers = opts.workers.max(1);
    let detecting = Detection::detecting(detection.as_deref());
    let detecting = &detecting;
    let config = opts.config;
    let decoder = opts.decoder.as_deref().filter(|d| !d.is_passthrough());
    let source = Source::file(name);
    let (chunk_tx, chunk_rx) = bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = bounded::<Done>(workers * 2);
    let mut summary = StreamSummary::default();
    let res = std::thread::scope(|s| -> Result<(), IngestError> {
        let framing = decoder.map_or(suho_decode::Framing::Lines, |d| d.framing());
        let reader = s.spawn(move || read_chunks(input, chunk_tx, framing));
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
            s.spawn(move || {
                for c in rx {
                    let bytes = c.too_long.unwrap_or(c.buf.len() as u64);
                    let chunk = prepare_lines(
                        c.buf,
                        c.first_line,
                        c.too_long,
                        decoder,
                        framing,
                        &config,
                        detecting,
                    );
                    if tx
                        .send(Done {
                            seq: c.seq,
                            bytes,
                            chunk,
                        })
                        .is_err()
                    {
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
                summary.bytes += d.bytes;
                let step = sequence(ledger, &source, &mut d.chunk, rejects, &mut summary)
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
        // What was read before a read error is stored like the rest: durable, checkpointed and
        // seen by the detectors, so that the error can say exactly what was stored.
        let size = ledger.checkpoint()?;
        if let Some(mut st) = stage {
            st.send(ToDetect::Flush(size))?;
            st.finish()?;
        }
        read.map_err(|error| IngestError::Read {
            source_name: name.to_string(),
            error,
        })
    });
    let res = res.and_then(|()| rejects.flush());
    progress(Progress {
        bytes: summary.bytes,
        lines: summary.lines,
        stored: summary.stored,
    });
    match res {
        Ok(()) => Ok(summary),
        Err(error) => {
            let _ = rejects.flush();
            Err(StreamError { summary, error })
        }
    }
}

/// Sequence one prepared chunk and count what happened to its lines; the per-item results
/// go on to the detectors.
pub(crate) fn sequence(
    ledger: &mut Ledger,
    source: &Source,
    chunk: &mut PreparedChunk,
    rejects: &mut RejectLog,
    summary: &mut StreamSummary,
) -> Result<Vec<Option<Appended>>, IngestError> {
    let results = chunk.append_to(ledger)?;
    chunk.log_rejected(source, rejects)?;
    for (item, res) in chunk.items.iter().zip(&results) {
        summary.lines += 1;
        match (item, res) {
            (Item::Rejected { .. }, _) => summary.rejected += 1,
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
/// skipped without being buffered and reported as its own chunk. A read error (a truncated
/// gzip file, a failing disk) ends the input: the complete lines before it are still sent,
/// then the error is returned.
/// Cut `input` into chunks of whole source records (lines, or the units of the decoder's
/// `framing`: a csvlog record or a pretty-printed JSON document spans lines).
fn read_chunks(
    input: impl Read,
    tx: crossbeam_channel::Sender<Chunk>,
    framing: suho_decode::Framing,
) -> std::io::Result<()> {
    let mut input = Reading {
        input,
        failed: None,
    };
    let mut seq = 0u64;
    let mut line = 1u64;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
    let mut eof = false;
    loop {
        // Fill to at least CHUNK bytes (or EOF).
        while !eof && buf.len() < CHUNK {
            eof = input.more(&mut buf) == 0;
        }
        if buf.is_empty() {
            return input.result();
        }
        let cut = if eof && input.failed.is_none() {
            Some(buf.len())
        } else {
            framing.cut(&buf)
        };
        match cut {
            Some(cut) => {
                let rest = buf.split_off(cut);
                // A framing may cut within a line (between two JSON values on it): the next
                // chunk then starts on the same line.
                let lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
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
            // Only a line cut short by the error is left.
            None if input.failed.is_some() => return input.result(),
            None if buf.len() > suho_record::MAX_LINE_BYTES => {
                // Skip the rest of this line, counting its bytes, keeping what follows it (and
                // its start, for the reject log).
                let mut skipped = buf.len() as u64;
                let head = buf[..crate::EXCERPT_BYTES].to_vec();
                buf.clear();
                loop {
                    if input.more(&mut buf) == 0 {
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
                        buf: head,
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
                eof = input.more(&mut buf) == 0;
            }
        }
    }
}

/// An input that remembers its first read error and reads as ended from then on.
struct Reading<R> {
    input: R,
    failed: Option<std::io::Error>,
}

impl<R: Read> Reading<R> {
    /// Appends more of the input to `buf` (see [`read_more`]); 0 at its end or after an error.
    fn more(&mut self, buf: &mut Vec<u8>) -> usize {
        if self.failed.is_some() {
            return 0;
        }
        match read_more(&mut self.input, buf) {
            Ok(n) => n,
            Err(e) => {
                // What was read before the error stays in `buf` (`read_to_end` keeps it).
                self.failed = Some(e);
                0
            }
        }
    }

    fn result(&mut self) -> std::io::Result<()> {
        self.failed.take().map_or(Ok(()), Err)
    }
}

/// Append up to CHUNK more bytes of `input` to `buf`; 0 at end of input. Reads into the
/// spare capacity (`Read::take` + `read_to_end`), so fresh buffers are not zeroed first.
fn read_more(input: &mut impl Read, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    // read_to_end retries interrupted reads itself.
    buf.reserve(CHUNK);
    input.by_ref().take(CHUNK as u64).read_to_end(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails every read, like a truncated gzip stream or a failing disk.
    struct Broken;

    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "truncated",
            ))
        }
    }

    #[test]
    fn the_complete_lines_before_a_read_error_are_still_sent() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let input = std::io::Cursor::new(b"line 1\nline 2\nline 3 cut sh".to_vec()).chain(Broken);
        let res = read_chunks(input, tx, suho_decode::Framing::Lines);
        assert_eq!(
            res.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::UnexpectedEof)
        );
        let chunks: Vec<Chunk> = rx.iter().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].buf, b"line 1\nline 2\n");
        assert_eq!(chunks[0].first_line, 1);
    }

    #[test]
    fn chunks_of_a_framed_stream_end_between_records_that_span_lines() {
        // csvlog records whose quoted statement spans three lines, 2.5 MiB in all: the reader
        // must cut only between records, and number each chunk's first line right.
        let record = |i: usize| {
            format!(
                "2025-06-24 12:00:00.{:03} UTC,\"u\",\"d\",1,,,{i},,,,,LOG,00000,\"AUDIT: SESSION,{i},1,READ,SELECT,,,\"\"SELECT *\nFROM customers\nWHERE id = {i}\"\",<none>\",,,,\n",
                i % 1000
            )
        };
        let input: String = (0..20_000).map(record).collect();
        assert!(input.len() > 2 * CHUNK);
        let (tx, rx) = crossbeam_channel::unbounded();
        read_chunks(
            std::io::Cursor::new(input.clone().into_bytes()),
            tx,
            suho_decode::Framing::PostgresLog,
        )
        .expect("read");
        let chunks: Vec<Chunk> = rx.iter().collect();
        assert!(chunks.len() > 1);
        let mut line = 1;
        let mut joined = Vec::new();
        for c in &chunks {
            assert!(
                c.buf.starts_with(b"2025-06-24 "),
                "a chunk starts with a record"
            );
            assert_eq!(c.first_line, line);
            line += memchr::memchr_iter(b'\n', &c.buf).count() as u64;
            joined.extend_from_slice(&c.buf);
        }
        assert_eq!(joined, input.as_bytes());
    }
}
