//! The reader of `suho ingest --follow`: looks at every followed path, reads what each file
//! gained, and hands whole lines on, in order, as pieces tagged with the file they came from.
//!
//! Files are polled with `stat`, not watched with inotify: a poll of a few milliseconds while
//! lines arrive, backing off to [`super::FollowOptions::poll`] when idle, costs next to nothing,
//! needs no dependency, and sees rotation the same way on every filesystem (inotify misses
//! changes on NFS and overlay mounts and needs its watches re-armed across renames). The
//! latency it adds is the few milliseconds of the short poll.
//!
//! Per path:
//! - a path that does not exist (yet, or for a moment during rotation) is waited for;
//! - a file renamed away (rotation) is read to its end and kept open until it has stopped
//!   growing for the rotation grace (a program may write to it until it reopens its log); its
//!   last line without a line end is then taken as it is, since nothing will complete it; the
//!   new file at the path is read meanwhile, from its start;
//! - a file that became shorter than what was read, or whose first bytes changed
//!   (copytruncate, or a file truncated and written again), is read again from its start, as a
//!   new file; the line it held without a line end is taken as it is.
//!
//! Only whole lines are handed on; a line without its line end waits for it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use suho_decode::Decoder;

use super::state::{identity, Head, HEAD_BYTES};
use super::{FileProgress, FollowOptions};

/// Bytes read at a time: the size of a piece of lines.
const READ: usize = 1 << 20;
/// Most bytes read from one file before the other files are looked at again.
const VISIT: usize = 8 << 20;
/// Shortest wait between two looks while lines arrive.
const MIN_POLL: Duration = Duration::from_millis(5);

/// What the reader hands on, in order.
pub(crate) enum Piece {
    /// A file newly followed (found at its path), from `offset`, line `line`.
    Track {
        id: u64,
        path: PathBuf,
        dev: u64,
        ino: u64,
        offset: u64,
        line: u64,
        /// The decoder's name and the `[[sources]]` entry of the path, if any.
        format: &'static str,
        source: Option<String>,
    },
    /// Whole lines of file `id`, bytes `start..end`, the first numbered `first_line`; or, with
    /// `too_long`, the start of one line over the record limit, that long.
    Lines {
        id: u64,
        first_line: u64,
        start: u64,
        end: u64,
        buf: Vec<u8>,
        too_long: Option<u64>,
        /// Number of the line after them.
        next_line: u64,
        /// The file's head, when it grew since the last piece.
        head: Option<Head>,
        /// The decoder of the file's lines (None: the contract format).
        decoder: Option<Arc<dyn Decoder>>,
    },
    /// File `id` ends here: nothing more is read from it.
    Retire { id: u64 },
}

/// One open file being read.
pub(crate) struct Tail {
    pub(crate) id: u64,
    file: File,
    dev: u64,
    ino: u64,
    /// Bytes of the file read so far.
    read: u64,
    /// End of the last whole line handed on.
    sent: u64,
    /// Number of the line that starts at `sent`.
    line: u64,
    /// Bytes read past `sent`: the start of a line waiting for its end.
    pending: Vec<u8>,
    /// The start of the content, as far as read (up to [`HEAD_BYTES`]).
    head: Head,
    head_sent: bool,
    /// When the file was found no longer at its path.
    rotated: Option<Instant>,
    /// When it last grew.
    grown: Instant,
    /// A line over the record limit being skipped: its number, start, first bytes and length
    /// so far.
    skipping: Option<(u64, u64, Vec<u8>, u64)>,
    /// The decoder of its lines: its path's, kept when the file is rotated away.
    decoder: Option<Arc<dyn Decoder>>,
}

impl Tail {
    /// Follow `file` from byte `offset`, line `line`.
    pub(crate) fn new(
        id: u64,
        mut file: File,
        offset: u64,
        line: u64,
        head: Head,
        decoder: Option<Arc<dyn Decoder>>,
    ) -> std::io::Result<Tail> {
        let meta = file.metadata()?;
        let (dev, ino) = identity(&meta);
        file.seek(SeekFrom::Start(offset))?;
        Ok(Tail {
            id,
            file,
            dev,
            ino,
            read: offset,
            sent: offset,
            line,
            pending: Vec::new(),
            head,
            head_sent: true,
            rotated: None,
            grown: Instant::now(),
            skipping: None,
            decoder,
        })
    }

    fn size(&self) -> u64 {
        self.file.metadata().map_or(self.read, |m| m.len())
    }

    /// Read what the file gained (at most [`VISIT`] bytes); whole lines go to `out`. Returns
    /// the bytes read.
    fn read_more(&mut self, out: &mut dyn FnMut(Piece) -> bool) -> std::io::Result<usize> {
        let mut total = 0;
        while total < VISIT {
            let before = self.pending.len();
            let n = (&mut self.file)
                .take(READ as u64)
                .read_to_end(&mut self.pending)?;
            if n == 0 {
                break;
            }
            total += n;
            self.read += n as u64;
            self.grown = Instant::now();
            if self.head.len < HEAD_BYTES && self.read > self.head.len {
                self.head = Head::of(&self.file, self.read)?;
                self.head_sent = false;
            }
            if !self.cut(before, out) {
                return Ok(total);
            }
        }
        Ok(total)
    }

    /// Hand on the whole lines in `pending` (bytes from `new` on are new). False when the
    /// receiver is gone.
    fn cut(&mut self, new: usize, out: &mut dyn FnMut(Piece) -> bool) -> bool {
        if let Some((line, start, head, len)) = self.skipping.as_mut() {
            match memchr::memchr(b'\n', &self.pending[new..]) {
                None => {
                    *len += self.pending.len() as u64;
                    self.sent += self.pending.len() as u64;
                    self.pending.clear();
                    return true;
                }
                Some(p) => {
                    let cut = new + p + 1;
                    *len += p as u64;
                    let piece = Piece::Lines {
                        id: self.id,
                        first_line: *line,
                        start: *start,
                        end: self.sent + cut as u64,
                        buf: std::mem::take(head),
                        too_long: Some(*len),
                        next_line: *line + 1,
                        head: None,
                        decoder: self.decoder.clone(),
                    };
                    self.sent += cut as u64;
                    self.line += 1;
                    self.pending.drain(..cut);
                    self.skipping = None;
                    if !out(piece) {
                        return false;
                    }
                }
            }
        }
        match memchr::memrchr(b'\n', &self.pending) {
            Some(p) => {
                let rest = self.pending.split_off(p + 1);
                let buf = std::mem::replace(&mut self.pending, rest);
                self.send_lines(buf, out)
            }
            None if self.pending.len() > suho_record::MAX_LINE_BYTES => {
                // Skip the rest of this line without buffering it; its start goes to the
                // reject log.
                let head = self.pending[..crate::EXCERPT_BYTES].to_vec();
                self.skipping = Some((self.line, self.sent, head, self.pending.len() as u64));
                self.sent += self.pending.len() as u64;
                self.pending.clear();
                true
            }
            None => true,
        }
    }

    fn send_lines(&mut self, buf: Vec<u8>, out: &mut dyn FnMut(Piece) -> bool) -> bool {
        let lines =
            memchr::memchr_iter(b'\n', &buf).count() as u64 + u64::from(!buf.ends_with(b"\n"));
        let start = self.sent;
        self.sent += buf.len() as u64;
        let first_line = self.line;
        self.line += lines;
        let head = (!self.head_sent).then_some(self.head);
        self.head_sent = true;
        out(Piece::Lines {
            id: self.id,
            first_line,
            start,
            end: self.sent,
            buf,
            too_long: None,
            next_line: self.line,
            head,
            decoder: self.decoder.clone(),
        })
    }

    /// The file ends: its line without a line end is taken as it is, then it is retired.
    fn finish(mut self, out: &mut dyn FnMut(Piece) -> bool) -> bool {
        if let Some((line, start, head, len)) = self.skipping.take() {
            let end = self.sent;
            let piece = Piece::Lines {
                id: self.id,
                first_line: line,
                start,
                end,
                buf: head,
                too_long: Some(len),
                next_line: line + 1,
                head: None,
                decoder: self.decoder.clone(),
            };
            if !out(piece) {
                return false;
            }
        }
        if !self.pending.is_empty() {
            let buf = std::mem::take(&mut self.pending);
            if !self.send_lines(buf, out) {
                return false;
            }
        }
        out(Piece::Retire { id: self.id })
    }

    /// Whether the file no longer holds what was read: shorter than that, or another start.
    fn truncated(&self) -> bool {
        self.size() < self.read || matches!(self.head.matches(&self.file), Ok(false))
    }
}

/// A followed path and the files read under it.
pub(crate) struct Watch {
    pub(crate) path: PathBuf,
    /// The decoder of every file read under the path (None: the contract format), its name,
    /// and the `[[sources]]` entry the path belongs to.
    pub(crate) decoder: Option<Arc<dyn Decoder>>,
    pub(crate) format: &'static str,
    pub(crate) source: Option<String>,
    /// The file at the path.
    pub(crate) current: Option<Tail>,
    /// Files renamed away (or whose path is gone), oldest first, read to their end.
    pub(crate) rotated: VecDeque<Tail>,
    /// The last problem met looking at the path, reported once.
    problem: Option<String>,
}

impl Watch {
    pub(crate) fn new(input: &super::Input, current: Option<Tail>, rotated: Vec<Tail>) -> Watch {
        let now = Instant::now();
        Watch {
            path: input.path.clone(),
            decoder: input.decoder.clone(),
            format: input.format,
            source: input.source.clone(),
            current,
            rotated: rotated
                .into_iter()
                .map(|mut t| {
                    t.rotated = Some(now);
                    t
                })
                .collect(),
            problem: None,
        }
    }
}

/// The reader thread's loop; ends when `stop` is set or the receiver is gone.
pub(crate) struct Reader<'a> {
    pub(crate) watches: Vec<Watch>,
    pub(crate) next_id: u64,
    pub(crate) opts: &'a FollowOptions,
    pub(crate) stop: &'a AtomicBool,
    /// Where each file is, for progress reports.
    pub(crate) seen: Arc<Mutex<Vec<FileProgress>>>,
}

impl Reader<'_> {
    /// Read until stopped; pieces go to `tx` numbered in order.
    pub(crate) fn run(mut self, tx: Sender<(u64, Piece)>, quit: &AtomicBool) {
        let mut seq = 0u64;
        let mut out = |p: Piece| {
            seq += 1;
            tx.send((seq - 1, p)).is_ok()
        };
        let mut idle = MIN_POLL;
        // The file lines were last handed on from, and since when: another file with lines
        // waits until this one has had `turn`, unless it has nothing more.
        let mut active: Option<(u64, Instant)> = None;
        while !self.stop.load(Ordering::Relaxed) && !quit.load(Ordering::Relaxed) {
            for w in &mut self.watches {
                if !look(w, &mut self.next_id, &mut out) {
                    return;
                }
            }
            let read = match self.read_turn(&mut active, &mut out) {
                Some(n) => n,
                None => return,
            };
            if !self.retire_idle(&mut out) {
                return;
            }
            self.publish();
            if read >= READ {
                idle = MIN_POLL;
                continue;
            }
            if read > 0 {
                idle = MIN_POLL;
            }
            std::thread::sleep(idle);
            if read == 0 {
                idle = (idle * 2).min(self.opts.poll.max(MIN_POLL));
            }
        }
    }

    /// Read from one file: the active one while it has lines and its turn lasts, otherwise the
    /// next one with lines. None when the receiver is gone.
    fn read_turn(
        &mut self,
        active: &mut Option<(u64, Instant)>,
        out: &mut dyn FnMut(Piece) -> bool,
    ) -> Option<usize> {
        // Every open file with unread bytes, in a fixed order: per path, rotated ones first.
        let ready: Vec<u64> = self
            .watches
            .iter()
            .flat_map(|w| w.rotated.iter().chain(w.current.iter()))
            .filter(|t| t.size() > t.read)
            .map(|t| t.id)
            .collect();
        if ready.is_empty() {
            return Some(0);
        }
        let keep = active.filter(|(id, since)| {
            ready.contains(id) && (since.elapsed() < self.opts.turn || ready.len() == 1)
        });
        let id = match keep {
            Some((id, _)) => id,
            None => {
                // The next file with lines after the active one, in order (round robin).
                let after = active
                    .and_then(|(a, _)| ready.iter().position(|id| *id == a))
                    .map_or(0, |p| (p + 1) % ready.len());
                let id = ready[after];
                *active = Some((id, Instant::now()));
                id
            }
        };
        let tail = self
            .watches
            .iter_mut()
            .flat_map(|w| w.rotated.iter_mut().chain(w.current.iter_mut()))
            .find(|t| t.id == id)?;
        let mut ok = true;
        let mut send = |p: Piece| {
            ok = ok && out(p);
            ok
        };
        match tail.read_more(&mut send) {
            Ok(n) if ok => Some(n),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(file = tail.id, error = %e, "could not read a followed file; trying again");
                Some(0)
            }
        }
    }

    /// Retire rotated files read to their end that have not grown for the rotation grace.
    fn retire_idle(&mut self, out: &mut dyn FnMut(Piece) -> bool) -> bool {
        let grace = self.opts.rotate_grace;
        for w in &mut self.watches {
            while let Some(t) = w.rotated.front() {
                let done = t.size() <= t.read
                    && t.grown.elapsed() >= grace
                    && t.rotated.is_some_and(|r| r.elapsed() >= grace);
                if !done {
                    break;
                }
                if let Some(t) = w.rotated.pop_front() {
                    if !t.finish(out) {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn publish(&self) {
        let files = self
            .watches
            .iter()
            .flat_map(|w| {
                w.rotated
                    .iter()
                    .map(move |t| (w, t, true))
                    .chain(w.current.iter().map(move |t| (w, t, false)))
            })
            .map(|(w, t, rotated)| FileProgress {
                id: t.id,
                path: w.path.clone(),
                source: w.source.clone(),
                rotated,
                position: 0,
                read: t.read,
                size: t.size().max(t.read),
                lag_bytes: 0,
            })
            .collect();
        if let Ok(mut seen) = self.seen.lock() {
            *seen = files;
        }
    }
}

/// Look at `w`'s path: a new file, a rotation, a truncation. False when the receiver is gone.
fn look(w: &mut Watch, next_id: &mut u64, out: &mut dyn FnMut(Piece) -> bool) -> bool {
    let meta = match std::fs::metadata(&w.path) {
        Ok(m) if m.is_file() => Some(m),
        Ok(_) => {
            report(
                w,
                format!(
                    "{} is not a regular file; waiting for one",
                    w.path.display()
                ),
            );
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            report(
                w,
                format!("cannot look at {}: {e}; trying again", w.path.display()),
            );
            return true;
        }
    };
    let Some(meta) = meta else {
        // The file was renamed away or deleted: read it to its end, then retire it.
        if let Some(mut t) = w.current.take() {
            t.rotated = Some(Instant::now());
            w.rotated.push_back(t);
        }
        return true;
    };
    let at_path = identity(&meta);
    if let Some(t) = &w.current {
        if (t.dev, t.ino) == at_path {
            if t.truncated() {
                // Read again from the start, as a new file.
                let Some(old) = w.current.take() else {
                    return true;
                };
                tracing::info!(path = %w.path.display(), "the followed file was truncated; reading it from its start");
                let file = match old.file.try_clone() {
                    Ok(f) => f,
                    Err(e) => {
                        report(w, format!("cannot reopen {}: {e}", w.path.display()));
                        return old.finish(out);
                    }
                };
                if !old.finish(out) {
                    return false;
                }
                return open(w, file, next_id, out);
            }
            return true;
        }
        // Rotated: a new file is at the path.
        if let Some(mut t) = w.current.take() {
            t.rotated = Some(Instant::now());
            w.rotated.push_back(t);
        }
    }
    // A file renamed back to the path is read on where it was.
    if let Some(i) = w.rotated.iter().position(|t| (t.dev, t.ino) == at_path) {
        if let Some(mut t) = w.rotated.remove(i) {
            t.rotated = None;
            w.current = Some(t);
        }
        return true;
    }
    match File::open(&w.path) {
        Ok(f) if f.metadata().map(|m| identity(&m)).ok() == Some(at_path) => {
            open(w, f, next_id, out)
        }
        // Replaced between the look and the open: the next look sees the new one.
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => {
            report(
                w,
                format!("cannot open {}: {e}; trying again", w.path.display()),
            );
            true
        }
    }
}

/// Follow `file`, found at `w`'s path, from its start.
fn open(w: &mut Watch, file: File, next_id: &mut u64, out: &mut dyn FnMut(Piece) -> bool) -> bool {
    let id = *next_id;
    *next_id += 1;
    match Tail::new(id, file, 0, 1, Head::default(), w.decoder.clone()) {
        Ok(t) => {
            w.problem = None;
            let piece = Piece::Track {
                id,
                path: w.path.clone(),
                dev: t.dev,
                ino: t.ino,
                offset: 0,
                line: 1,
                format: w.format,
                source: w.source.clone(),
            };
            w.current = Some(t);
            out(piece)
        }
        Err(e) => {
            report(
                w,
                format!("cannot read {}: {e}; trying again", w.path.display()),
            );
            true
        }
    }
}

/// Log a problem with a path once (until it changes).
fn report(w: &mut Watch, problem: String) {
    if w.problem.as_deref() != Some(problem.as_str()) {
        tracing::warn!("{problem}");
        w.problem = Some(problem);
    }
}

/// The absolute form of `path` (relative to the working directory), without resolving links:
/// the follow state names files this way, so a restart from elsewhere finds them.
pub(crate) fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::path::absolute(path)
}
