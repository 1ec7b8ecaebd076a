//! `suho ingest --follow`: files that run for months. Each followed file is tailed as it grows
//! and across rotation (see [`tail`]), its whole lines go through the same parse workers,
//! sequencer, group commit and detection stage as a file ingest, and the position up to which
//! each file is in the ledger is kept in `<data>/follow/state` (see [`state`]), so that a
//! restart, after a clean stop or a SIGKILL, neither skips nor repeats a line, with or without
//! record ids.
//!
//! The sequencer keeps two promises the restart relies on:
//! - the state names a ledger size only once the ledger holds it durably, with each file's
//!   position at the end of its last line within it;
//! - records past that size come from one file only, the state's `current`: before the first
//!   line of another file is appended, what was appended is made durable and the state saved
//!   naming the new file. (The reader stays on a file for at least [`FollowOptions::turn`] while
//!   others wait, so several busy files cost one such switch per turn.)
//!
//! Alerts are stored after every group commit, for records already durable (held back until
//! their group commit lands), so they follow the records within milliseconds; the detectors'
//! state is saved at checkpoints as in a file ingest. suho's own-use records spooled by other
//! commands while the follower holds the ledger are appended at checkpoint ticks, as
//! `suho serve` does.
//!
//! `<data>/follow/status` says what a running follower is doing (JSON, rewritten every half
//! second; not durable): `suho status` shows it, and tests wait on it.

mod state;
mod tail;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError};
use serde::{Deserialize, Serialize};
use suho_decode::{Decoder, Framing};
use suho_ledger::{Appended, Ledger};

use crate::detection::{Stage, ToDetect};
use crate::durable::Durability;
use crate::prepare::{prepare_lines, PreparedChunk};
use crate::stream::sequence;
use crate::{Detection, IngestError, IngestOptions, RejectLog, Source, StreamSummary};

use state::{locate, resume, same_content, Head, Saved, State};
use tail::{Piece, Reader, Tail, Watch};

/// Tuning of a follower.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Workers, group commit and checkpoint intervals, the time window, the decoder. The group
    /// commit interval is how long a line may wait, once read, before it is made durable.
    pub ingest: IngestOptions,
    /// Longest wait between two looks at an idle file (a few milliseconds while lines arrive).
    pub poll: Duration,
    /// How long a rotated file is read after it stopped growing (a program may write to its
    /// old file until it reopens its log).
    pub rotate_grace: Duration,
    /// Shortest time the reader stays on one file while others have lines.
    pub turn: Duration,
    /// Positions are saved at least this often while lines arrive (a restart after a kill
    /// re-reads at most this much of the current file to find where it was).
    pub save_every: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            ingest: IngestOptions {
                sync_every: Duration::from_millis(10),
                ..IngestOptions::default()
            },
            poll: Duration::from_millis(200),
            rotate_grace: Duration::from_secs(1),
            turn: Duration::from_millis(100),
            save_every: Duration::from_secs(1),
        }
    }
}

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FollowError {
    /// Storing failed (the ledger, the detectors, the reject log).
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The follow state cannot be used as it is; `reason` says why and what to do.
    #[error("the follow state {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
    /// A file cannot be followed with its decoder; `what` names the source or file.
    #[error("{what}: {reason}; nothing was followed")]
    Unfollowable { what: String, reason: String },
}

/// One path to follow and how its lines are decoded.
#[derive(Debug, Clone)]
pub struct FollowInput {
    /// The file (waited for when it does not exist yet).
    pub path: PathBuf,
    /// The `[[sources]]` entry it belongs to (None: a file named on the command line): its
    /// records are counted under this name, and the follow state keeps it.
    pub source: Option<String>,
    /// The decoder of its lines (None: the contract format).
    pub decoder: Option<Arc<dyn Decoder>>,
}

/// A [`FollowInput`] made ready: absolute path, decoder (None for the contract format) and
/// its name.
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    pub(crate) source: Option<String>,
    pub(crate) decoder: Option<Arc<dyn Decoder>>,
    pub(crate) format: &'static str,
}

impl FollowInput {
    /// What the operator calls it: `source "gw" (/var/log/gw.log)`, or the path.
    fn what(&self) -> String {
        match &self.source {
            Some(s) => format!("source {s:?} ({})", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// Whether the lines of `input` can be followed: a follower stores whole lines as they
/// arrive, so a decoder whose source records can span lines (PostgreSQL logs: a csvlog
/// statement with line breaks, a stderr message continued on tab-indented lines) would have
/// its records cut. JSON formats are followed one value per line (NDJSON events, or a
/// `{"Records":[...]}` object on one line); a pretty-printed value is rejected line by line,
/// never stored in part.
pub fn check_followable(input: &FollowInput) -> Result<(), FollowError> {
    let Some(d) = &input.decoder else {
        return Ok(());
    };
    match d.framing() {
        Framing::Lines | Framing::Json => Ok(()),
        Framing::PostgresLog => Err(FollowError::Unfollowable {
            what: input.what(),
            reason: format!(
                "format {} cannot be followed: a PostgreSQL log record can span lines (a csvlog \
                 statement with line breaks in it, a stderr message continued on tab-indented \
                 lines) and a follower stores whole lines as they arrive, so it would cut such \
                 records in two; ingest the file without --follow (each rotated file once)",
                d.name()
            ),
        }),
    }
}

/// Where one followed file is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProgress {
    /// The follower's id of the file (a rotated or truncated file gets a new one).
    pub id: u64,
    /// The path followed.
    pub path: PathBuf,
    /// The `[[sources]]` entry the path belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Renamed away (or its path gone): read to its end, then dropped.
    pub rotated: bool,
    /// Bytes whose lines are durable in the ledger.
    pub position: u64,
    /// Bytes read (a line without its end waits past `position`).
    pub read: u64,
    /// The file's size.
    pub size: u64,
    /// Bytes written to the file and not yet durable in the ledger: `size - position`.
    pub lag_bytes: u64,
}

/// What a running follower has done; also the content of `<data>/follow/status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FollowProgress {
    /// The follower's process.
    pub pid: u32,
    /// When it started and when this was written (RFC 3339, UTC).
    pub started: String,
    pub updated: String,
    /// Records the ledger holds durably.
    pub ledger_size: u64,
    /// Lines read (non-blank), stored (conflicts included), duplicates, rejected, conflicts.
    pub lines: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub conflicts: u64,
    /// Lines per second over the last interval.
    pub lines_per_second: f64,
    pub files: Vec<FileProgress>,
    /// Per `[[sources]]` entry followed (in name order), what this follower did with its lines
    /// (files named on the command line are not counted here).
    #[serde(default)]
    pub sources: Vec<SourceProgress>,
}

/// What a follower did with the lines of one `[[sources]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceProgress {
    /// The source's name.
    pub name: String,
    /// Lines read (non-blank), stored (conflicts included), duplicates, rejected, conflicts.
    pub lines: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub conflicts: u64,
}

/// What a follower did until it was stopped.
#[derive(Debug, Clone, Default)]
pub struct FollowSummary {
    /// Lines read, stored, duplicates, rejected, conflicts; bytes.
    pub counts: StreamSummary,
    /// Durable ledger size at the end.
    pub ledger_size: u64,
    /// Per `[[sources]]` entry followed, what was done with its lines.
    pub sources: Vec<SourceProgress>,
    /// What the start found and did about it (positions found again after a kill, files gone
    /// or truncated while stopped), for the operator.
    pub notes: Vec<String>,
}

/// Where the follow state lives in `data`.
pub fn state_path(data: &Path) -> PathBuf {
    data.join("follow").join("state")
}

/// Where a follower's status lives in `data`.
pub fn status_path(data: &Path) -> PathBuf {
    data.join("follow").join("status")
}

/// The last status a follower wrote in `data`, if any (it may have stopped since: compare its
/// `pid` with the ledger's lock holder).
pub fn read_status(data: &Path) -> Option<FollowProgress> {
    let text = std::fs::read(status_path(data)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// How often the status file is rewritten.
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// Follow `paths` into `ledger`, every file's lines decoded by `opts.ingest.decoder`: see
/// [`follow_inputs`].
pub fn follow(
    ledger: &mut Ledger,
    detection: Option<&mut Detection>,
    paths: &[PathBuf],
    opts: &FollowOptions,
    rejects: &mut RejectLog,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&FollowProgress),
) -> Result<FollowSummary, FollowError> {
    let inputs: Vec<FollowInput> = paths
        .iter()
        .map(|p| FollowInput {
            path: p.clone(),
            source: None,
            decoder: opts.ingest.decoder.clone(),
        })
        .collect();
    follow_inputs(ledger, detection, &inputs, opts, rejects, stop, progress)
}

/// Follow `inputs` into `ledger`, each file's lines decoded by its own input's decoder (a
/// rotated file keeps it), until `stop` is set, then make everything read durable, save the
/// positions, checkpoint, and return. `progress` is called whenever more records are durable,
/// and at least every half second. `opts.ingest.decoder` is not used.
pub fn follow_inputs(
    ledger: &mut Ledger,
    detection: Option<&mut Detection>,
    inputs: &[FollowInput],
    opts: &FollowOptions,
    rejects: &mut RejectLog,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&FollowProgress),
) -> Result<FollowSummary, FollowError> {
    let mut ready: Vec<Input> = Vec::with_capacity(inputs.len());
    for i in inputs {
        check_followable(i)?;
        let path = tail::absolute(&i.path).map_err(|source| FollowError::Io {
            path: i.path.clone(),
            source,
        })?;
        if path.to_str().is_none() {
            return Err(FollowError::Io {
                path,
                source: std::io::Error::other(
                    "the path is not UTF-8; the follow state names files in UTF-8",
                ),
            });
        }
        if let Some(other) = ready.iter().find(|r| r.path == path) {
            if other.source == i.source {
                continue;
            }
            // One file, two decoders: its lines would be stored twice or matched wrongly.
            return Err(FollowError::Unfollowable {
                what: i.what(),
                reason: format!(
                    "the file is also followed as {}; follow each file once",
                    other
                        .source
                        .as_ref()
                        .map_or_else(|| "a plain file".to_owned(), |s| format!("source {s:?}"))
                ),
            });
        }
        let decoder = i.decoder.clone().filter(|d| !d.is_passthrough());
        ready.push(Input {
            path,
            source: i.source.clone(),
            format: decoder.as_ref().map_or("suho", |d| d.name()),
            decoder,
        });
    }
    let data = ledger.layout().data.clone();
    let state_file = state_path(&data);
    let mut state = State::load(&state_file)?.unwrap_or_default();
    let mut notes = Vec::new();
    notes.extend(resume(
        ledger,
        &mut state,
        &|saved| decoder_for(saved, &ready),
        &opts.ingest.config,
        &state_file,
    )?);
    state.ledger_size = ledger.durable_size();
    state.current = None;
    state.next_id = state
        .next_id
        .max(state.files.iter().map(|f| f.id + 1).max().unwrap_or(0));
    let mut watches = Vec::new();
    for input in &ready {
        watches.push(open_watch(input, &mut state, &mut notes));
    }
    state.save(&state_file)?;
    for n in &notes {
        tracing::warn!("{n}");
    }

    let workers = opts.ingest.workers.max(1);
    let detecting = Detection::detecting(detection.as_deref());
    let detecting = &detecting;
    let config = opts.ingest.config;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let quit = AtomicBool::new(false);
    let reader = Reader {
        watches,
        next_id: state.next_id,
        opts,
        stop,
        seen: Arc::clone(&seen),
    };
    let mut seq = Sequencer {
        files: state.files.into_iter().map(|f| (f.id, f)).collect(),
        next_id: state.next_id,
        current: None,
        marks: VecDeque::new(),
        held: VecDeque::new(),
        summary: StreamSummary::default(),
        state_file,
        dirty: false,
        last_save: Instant::now(),
        reported: ledger.durable_size(),
        started: suho_record::format_rfc3339_ms(suho_ledger::now_ms()),
        rate: VecDeque::from([(Instant::now(), 0)]),
        seen,
        status_file: status_path(&data),
        last_status: Instant::now(),
        sources: ready
            .iter()
            .filter_map(|i| i.source.clone())
            .map(|name| {
                let p = SourceProgress {
                    name: name.clone(),
                    ..SourceProgress::default()
                };
                (name, p)
            })
            .collect(),
    };
    let result = std::thread::scope(|s| -> Result<(), FollowError> {
        let (piece_tx, piece_rx) = bounded::<(u64, Piece)>(workers * 2);
        let (done_tx, done_rx) = bounded::<(u64, Ready)>(workers * 2);
        let quit = &quit;
        s.spawn(move || reader.run(piece_tx, quit));
        for _ in 0..workers {
            let rx = piece_rx.clone();
            let tx = done_tx.clone();
            s.spawn(move || {
                for (n, piece) in rx {
                    let ready = match piece {
                        Piece::Track {
                            id,
                            path,
                            dev,
                            ino,
                            offset,
                            line,
                            format,
                            source,
                        } => Ready::Track(Saved {
                            id,
                            path,
                            dev,
                            ino,
                            offset,
                            line,
                            head_len: 0,
                            head_sha256: [0; 32],
                            format: Some(format.to_owned()),
                            source,
                        }),
                        Piece::Lines {
                            id,
                            first_line,
                            start,
                            end,
                            buf,
                            too_long,
                            next_line,
                            head,
                            decoder,
                        } => Ready::Lines {
                            id,
                            end,
                            next_line,
                            head,
                            bytes: end - start,
                            // Each line is one source record (see `check_followable`), as
                            // `resume` reads them again after a kill.
                            chunk: prepare_lines(
                                buf,
                                first_line,
                                too_long,
                                decoder.as_deref(),
                                Framing::Lines,
                                &config,
                                detecting,
                            ),
                        },
                        Piece::Retire { id } => Ready::Retire(id),
                    };
                    if tx.send((n, ready)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(piece_rx);
        drop(done_tx);
        let mut stage = detection.map(|d| Stage::spawn(s, d));
        let mut durability = Durability::spawn(s);
        let res = seq.run(
            ledger,
            &mut stage,
            &mut durability,
            rejects,
            done_rx,
            opts,
            progress,
        );
        if res.is_err() {
            // Stop the reader (the workers stop with it).
            quit.store(true, Ordering::Relaxed);
        }
        let end = res.and_then(|()| {
            durability.wait(ledger)?;
            ledger.sync().map_err(IngestError::from)?;
            // Everything read is durable: no file's records lie past the saved size, so a
            // restart matches nothing, whatever other commands append meanwhile.
            seq.current = None;
            seq.save(ledger, &mut stage, progress)?;
            drop(durability);
            let size = ledger.checkpoint().map_err(IngestError::from)?;
            if let Some(st) = stage.as_mut() {
                st.send(ToDetect::Flush(size))?;
            }
            Ok(())
        });
        let finished = stage.as_mut().map_or(Ok(()), Stage::finish);
        end.and(finished.map_err(FollowError::from))
    });
    let flushed = rejects.flush();
    seq.write_status(ledger.durable_size());
    result?;
    flushed?;
    Ok(FollowSummary {
        counts: seq.summary,
        ledger_size: ledger.durable_size(),
        sources: seq.sources.into_values().collect(),
        notes,
    })
}

/// The decoder `saved`'s lines are matched with after a kill: its path's, as followed now. A
/// version 1 state names no format: every file then had the one decoder the follower was given,
/// which is the decoder its path is followed with now when it is followed at all.
fn decoder_for(saved: &Saved, inputs: &[Input]) -> Result<Option<Arc<dyn Decoder>>, String> {
    let was = saved
        .source
        .as_ref()
        .map_or_else(String::new, |s| format!(" (source {s:?})"));
    let restart = "follow it as before once more to catch up, stop with Ctrl-C or SIGTERM \
                   (a clean stop leaves nothing to match), then change what is followed";
    match (inputs.iter().find(|i| i.path == saved.path), &saved.format) {
        (Some(i), Some(f)) if f != i.format => Err(format!(
            "{}{was} was read with format {f} when suho stopped, and records stored from it past \
             the saved position must be matched with that decoder; it is now followed with \
             format {}: {restart}",
            saved.path.display(),
            i.format
        )),
        (Some(i), _) => Ok(i.decoder.clone()),
        (None, None) => {
            // Version 1: one decoder for every file.
            let mut formats = inputs.iter().map(|i| i.format);
            match (
                inputs.first(),
                formats.all(|f| Some(f) == inputs.first().map(|i| i.format)),
            ) {
                (Some(i), true) => Ok(i.decoder.clone()),
                _ => Err(format!(
                    "{} was being read when suho stopped, and records stored from it past the \
                     saved position must be matched with its decoder, which this state (format \
                     v1) does not name: {restart}",
                    saved.path.display()
                )),
            }
        }
        (None, Some(f)) => Err(format!(
            "{}{was}, format {f}, was being read when suho stopped, and records stored from it \
             past the saved position must be matched with its decoder, but it is not followed \
             now: {restart}",
            saved.path.display()
        )),
    }
}

/// Resolve what the state knows of `input`'s path into the files to read under it: the file at
/// the path (where it was, unless it is another file or was truncated), files rotated away
/// (found again by inode in the same directory), and the file at the path from its start when
/// it is new. The state is updated to match (each file named with the input's format and
/// source); what could not be found is said in `notes`.
fn open_watch(input: &Input, state: &mut State, notes: &mut Vec<String>) -> Watch {
    let path = input.path.as_path();
    let at_path = std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| state::identity(&m));
    let (mut mine, others): (Vec<Saved>, Vec<Saved>) = std::mem::take(&mut state.files)
        .into_iter()
        .partition(|f| f.path == path);
    state.files = others;
    // Newest first: an older entry of the same inode is a content truncated away since.
    mine.sort_by_key(|f| std::cmp::Reverse(f.id));
    let mut current = None;
    let mut rotated = Vec::new();
    let mut inodes = Vec::new();
    for s in mine {
        if inodes.contains(&(s.dev, s.ino)) {
            continue;
        }
        inodes.push((s.dev, s.ino));
        let Some(file) = locate(path, s.dev, s.ino) else {
            notes.push(format!(
                "{}: the file read up to byte {} (inode {}) is gone (deleted or compressed by log \
                 rotation while suho was stopped); anything written to it after that byte was not \
                 read",
                path.display(),
                s.offset,
                s.ino
            ));
            continue;
        };
        if !same_content(&file, &s) {
            notes.push(format!(
                "{}: truncated or rewritten while suho was stopped (copytruncate?): read from its \
                 start again; lines written past byte {} before the truncation were not read",
                path.display(),
                s.offset
            ));
            continue;
        }
        match Tail::new(
            s.id,
            file,
            s.offset,
            s.line,
            s.head(),
            input.decoder.clone(),
        ) {
            Ok(t) if Some((s.dev, s.ino)) == at_path => current = Some(t),
            Ok(t) => rotated.push(t),
            Err(e) => {
                notes.push(format!("{}: cannot read it ({e}); skipped", path.display()));
                continue;
            }
        }
        state.files.push(Saved {
            format: Some(input.format.to_owned()),
            source: input.source.clone(),
            ..s
        });
    }
    rotated.sort_by_key(|t| t.id);
    if current.is_none() {
        if let Some(file) = std::fs::File::open(path)
            .ok()
            .filter(|f| f.metadata().ok().map(|m| state::identity(&m)) == at_path)
        {
            let id = state.next_id;
            if let Ok(t) = Tail::new(id, file, 0, 1, Head::default(), input.decoder.clone()) {
                state.next_id += 1;
                if let Some((dev, ino)) = at_path {
                    state.files.push(Saved {
                        id,
                        path: path.to_path_buf(),
                        dev,
                        ino,
                        offset: 0,
                        line: 1,
                        head_len: 0,
                        head_sha256: [0; 32],
                        format: Some(input.format.to_owned()),
                        source: input.source.clone(),
                    });
                }
                current = Some(t);
            }
        }
    }
    Watch::new(input, current, rotated)
}

/// A piece after the parse workers.
enum Ready {
    Track(Saved),
    Lines {
        id: u64,
        end: u64,
        next_line: u64,
        head: Option<Head>,
        bytes: u64,
        chunk: PreparedChunk,
    },
    Retire(u64),
}

/// What becomes true once the ledger holds `size` records durably.
enum Mark {
    /// File `id`'s lines up to `end` are in: line `line` is next.
    Lines { id: u64, end: u64, line: u64 },
    /// File `id` is done.
    Retire(u64),
}

/// The sequencing thread's state.
struct Sequencer {
    /// Every file of the follow state, with its durable position.
    files: BTreeMap<u64, Saved>,
    next_id: u64,
    /// The file whose records may lie past the last saved size.
    current: Option<u64>,
    /// Positions waiting for the ledger size they need to be durable.
    marks: VecDeque<(u64, Mark)>,
    /// Sequenced chunks waiting for durability before the detectors see them.
    held: VecDeque<(u64, PreparedChunk, Vec<Option<Appended>>)>,
    summary: StreamSummary,
    state_file: PathBuf,
    /// Positions moved since the last save.
    dirty: bool,
    last_save: Instant,
    /// Durable size last reported to `progress`.
    reported: u64,
    started: String,
    /// Lines counted at moments of the last two seconds, oldest first (for the rate).
    rate: VecDeque<(Instant, u64)>,
    seen: Arc<Mutex<Vec<FileProgress>>>,
    status_file: PathBuf,
    last_status: Instant,
    /// Per `[[sources]]` entry, what was done with its lines.
    sources: BTreeMap<String, SourceProgress>,
}

impl Sequencer {
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        ledger: &mut Ledger,
        stage: &mut Option<Stage<'_>>,
        durability: &mut Durability,
        rejects: &mut RejectLog,
        rx: crossbeam_channel::Receiver<(u64, Ready)>,
        opts: &FollowOptions,
        progress: &mut dyn FnMut(&FollowProgress),
    ) -> Result<(), FollowError> {
        let mut pending: BTreeMap<u64, Ready> = BTreeMap::new();
        let mut next = 0u64;
        let mut last_sync = Instant::now();
        let mut last_cp = Instant::now();
        let tick = opts
            .ingest
            .sync_every
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        loop {
            match rx.recv_timeout(tick) {
                Ok((n, r)) => {
                    pending.insert(n, r);
                    while let Some(r) = pending.remove(&next) {
                        next += 1;
                        self.take(ledger, stage, durability, rejects, r, progress)?;
                        self.housekeeping(
                            ledger,
                            stage,
                            durability,
                            rejects,
                            opts,
                            &mut last_sync,
                            &mut last_cp,
                            progress,
                        )?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            self.housekeeping(
                ledger,
                stage,
                durability,
                rejects,
                opts,
                &mut last_sync,
                &mut last_cp,
                progress,
            )?;
        }
    }

    /// Sequence one piece.
    fn take(
        &mut self,
        ledger: &mut Ledger,
        stage: &mut Option<Stage<'_>>,
        durability: &mut Durability,
        rejects: &mut RejectLog,
        r: Ready,
        progress: &mut dyn FnMut(&FollowProgress),
    ) -> Result<(), FollowError> {
        match r {
            Ready::Track(saved) => {
                self.next_id = self.next_id.max(saved.id + 1);
                self.files.insert(saved.id, saved);
                self.dirty = true;
            }
            Ready::Lines {
                id,
                end,
                next_line,
                head,
                bytes,
                mut chunk,
            } => {
                if self.current != Some(id) {
                    self.switch(ledger, stage, durability, Some(id), progress)?;
                }
                let name = match self.files.get_mut(&id) {
                    Some(f) => {
                        if let Some(h) = head {
                            f.head_len = h.len;
                            f.head_sha256 = h.sha256;
                        }
                        f.path.display().to_string()
                    }
                    None => format!("followed file {id}"),
                };
                let before = self.summary.clone();
                let results = sequence(
                    ledger,
                    &Source::file(name),
                    &mut chunk,
                    rejects,
                    &mut self.summary,
                )?;
                self.summary.bytes += bytes;
                let source = self.files.get(&id).and_then(|f| f.source.as_deref());
                if let Some(p) = source.and_then(|s| self.sources.get_mut(s)) {
                    let (now, was) = (&self.summary, &before);
                    p.lines += now.lines - was.lines;
                    p.stored += now.stored - was.stored;
                    p.duplicates += now.duplicates - was.duplicates;
                    p.rejected += now.rejected - was.rejected;
                    p.conflicts += now.conflicts - was.conflicts;
                }
                let size = ledger.size();
                self.marks.push_back((
                    size,
                    Mark::Lines {
                        id,
                        end,
                        line: next_line,
                    },
                ));
                if stage.is_some() {
                    self.held.push_back((size, chunk, results));
                }
            }
            Ready::Retire(id) => self.marks.push_back((ledger.size(), Mark::Retire(id))),
        }
        Ok(())
    }

    /// Group commits, position saves, checkpoints and the status, as they fall due.
    #[allow(clippy::too_many_arguments)]
    fn housekeeping(
        &mut self,
        ledger: &mut Ledger,
        stage: &mut Option<Stage<'_>>,
        durability: &mut Durability,
        rejects: &mut RejectLog,
        opts: &FollowOptions,
        last_sync: &mut Instant,
        last_cp: &mut Instant,
        progress: &mut dyn FnMut(&FollowProgress),
    ) -> Result<(), FollowError> {
        durability.poll(ledger)?;
        self.landed(ledger, stage, progress)?;
        if self.dirty && self.last_save.elapsed() >= opts.save_every {
            self.save(ledger, stage, progress)?;
        }
        if !durability.busy()
            && ledger.size() > ledger.durable_size()
            && last_sync.elapsed() >= opts.ingest.sync_every
        {
            durability.start_sync(ledger)?;
            *last_sync = Instant::now();
        }
        if !durability.busy() && last_cp.elapsed() >= opts.ingest.checkpoint_every {
            self.checkpoint(
                ledger,
                stage,
                durability,
                rejects,
                &opts.ingest.config,
                progress,
            )?;
            *last_cp = Instant::now();
        }
        if self.last_status.elapsed() >= STATUS_EVERY {
            let p = self.progress(ledger.durable_size());
            progress(&p);
            self.write_status_of(&p);
        }
        Ok(())
    }

    /// Make what was appended durable and save the state naming `next` as the file whose
    /// records may come next.
    fn switch(
        &mut self,
        ledger: &mut Ledger,
        stage: &mut Option<Stage<'_>>,
        durability: &mut Durability,
        next: Option<u64>,
        progress: &mut dyn FnMut(&FollowProgress),
    ) -> Result<(), FollowError> {
        durability.wait(ledger)?;
        ledger.sync().map_err(IngestError::from)?;
        self.landed(ledger, stage, progress)?;
        self.current = next;
        self.save(ledger, stage, progress)
    }

    /// Apply what the durable ledger size now covers: positions, and chunks for the detectors
    /// (then their alerts are stored).
    fn landed(
        &mut self,
        ledger: &Ledger,
        stage: &mut Option<Stage<'_>>,
        progress: &mut dyn FnMut(&FollowProgress),
    ) -> Result<(), FollowError> {
        let durable = ledger.durable_size();
        while self.marks.front().is_some_and(|(size, _)| *size <= durable) {
            let Some((_, mark)) = self.marks.pop_front() else {
                break;
            };
            match mark {
                Mark::Lines { id, end, line } => {
                    if let Some(f) = self.files.get_mut(&id) {
                        f.offset = end;
                        f.line = line;
                    }
                }
                Mark::Retire(id) => {
                    self.files.remove(&id);
                }
            }
            self.dirty = true;
        }
        let mut sent = false;
        while self
            .held
            .front()
            .is_some_and(|(size, _, _)| *size <= durable)
        {
            let Some((_, chunk, results)) = self.held.pop_front() else {
                break;
            };
            if let Some(st) = stage.as_mut() {
                st.send(ToDetect::Chunk(chunk, results))?;
                sent = true;
            }
        }
        if sent {
            if let Some(st) = stage.as_mut() {
                st.send(ToDetect::StoreAlerts)?;
            }
        }
        if durable > self.reported {
            self.reported = durable;
            progress(&self.progress(durable));
        }
        Ok(())
    }

    /// Save the state at the durable ledger size.
    fn save(
        &mut self,
        ledger: &Ledger,
        stage: &mut Option<Stage<'_>>,
        progress: &mut dyn FnMut(&FollowProgress),
    ) -> Result<(), FollowError> {
        self.landed(ledger, stage, progress)?;
        State {
            ledger_size: ledger.durable_size(),
            current: self.current,
            next_id: self.next_id,
            files: self.files.values().cloned().collect(),
        }
        .save(&self.state_file)?;
        self.dirty = false;
        self.last_save = Instant::now();
        Ok(())
    }

    /// The checkpoint tick: append suho's own use spooled by other commands, then begin a
    /// checkpoint (its records durable and seen by the detectors first).
    fn checkpoint(
        &mut self,
        ledger: &mut Ledger,
        stage: &mut Option<Stage<'_>>,
        durability: &mut Durability,
        rejects: &mut RejectLog,
        config: &crate::IngestConfig,
        progress: &mut dyn FnMut(&FollowProgress),
    ) -> Result<(), FollowError> {
        let spooled = crate::spool::pending(&ledger.layout().data).map(|s| !s.is_empty());
        if matches!(spooled, Ok(true)) {
            self.switch(ledger, stage, durability, None, progress)?;
            if let Err(e) = crate::service::drain_spool(ledger, stage.as_mut(), rejects, config) {
                tracing::error!(error = %e, "could not append the own-use spool");
            }
        }
        ledger.sync().map_err(IngestError::from)?;
        self.landed(ledger, stage, progress)?;
        durability.start_checkpoint(ledger, stage.as_mut())?;
        Ok(())
    }

    fn progress(&mut self, durable: u64) -> FollowProgress {
        // Lines per second over the last two seconds or so.
        let now = Instant::now();
        while self.rate.len() > 1
            && self
                .rate
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= Duration::from_secs(2))
        {
            self.rate.pop_front();
        }
        let rate = self.rate.front().map_or(0.0, |(t, n)| {
            let dt = now.duration_since(*t).as_secs_f64();
            if dt > 0.0 {
                (self.summary.lines - n) as f64 / dt
            } else {
                0.0
            }
        });
        if self
            .rate
            .back()
            .is_none_or(|(t, _)| now.duration_since(*t) >= Duration::from_millis(100))
        {
            self.rate.push_back((now, self.summary.lines));
        }
        let mut files = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        for f in &mut files {
            f.position = self.files.get(&f.id).map_or(f.read, |s| s.offset);
            f.lag_bytes = f.size.saturating_sub(f.position);
        }
        let s = &self.summary;
        FollowProgress {
            pid: std::process::id(),
            started: self.started.clone(),
            updated: suho_record::format_rfc3339_ms(suho_ledger::now_ms()),
            ledger_size: durable,
            lines: s.lines,
            stored: s.stored,
            duplicates: s.duplicates,
            rejected: s.rejected,
            conflicts: s.conflicts,
            lines_per_second: rate,
            files,
            sources: self.sources.values().cloned().collect(),
        }
    }

    fn write_status(&mut self, durable: u64) {
        let p = self.progress(durable);
        self.write_status_of(&p);
    }

    /// Rewrite the status file (temporary file and rename: a reader sees a whole one).
    fn write_status_of(&mut self, p: &FollowProgress) {
        self.last_status = Instant::now();
        let tmp = self.status_file.with_extension("tmp");
        let written = serde_json::to_vec(p)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, &self.status_file));
        if let Err(e) = written {
            tracing::warn!(path = %self.status_file.display(), error = %e, "could not write the follow status");
        }
    }
}
