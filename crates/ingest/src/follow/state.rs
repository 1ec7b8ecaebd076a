//! The follow state (`<data>/follow/state`): per followed file, its identity and the byte
//! position up to which its lines are in the ledger, saved with the ledger size it corresponds
//! to; and the reconciliation that makes a restart exact after a kill.
//!
//! Three lines of text (FORMAT.md documents them):
//!
//! ```text
//! suho.dev/follow-state@v2
//! {"ledger_size":S,"current":ID,"next_id":N,"files":[{"id":..,"path":..,"dev":..,"ino":..,"offset":..,"line":..,"head_len":..,"head_sha256":"..","format":"gateway","source":"gw"}]}
//! sha256 <hex SHA-256 of the second line>
//! ```
//!
//! Version 2 names each file's decoder (`format`) and, for a file of a `[[sources]]` entry, the
//! source (`source`), because one follower reads files of several formats and a restart must
//! match each file's lines with the decoder they were stored with. A version 1 state (one
//! decoder for every file) is read as it is: its files have neither, and each is matched with
//! the decoder its path is followed with now, as before.
//!
//! The state is saved (temporary file, fsync, rename, fsync of the directory) only once the
//! ledger holds `ledger_size` records durably, and every file's `offset` is then the end of its
//! last line whose records are among them. Records past `ledger_size` can only come from the
//! file `current`, from its `offset` on: the follower saves the state before it appends the
//! first line of another file (or suho's own-use spool, `current` null). So after a kill,
//! wherever it landed, [`resume`] re-reads the lines of `current` from its offset, prepares them
//! as ingest did (the record of a line is the line, or what the decoder makes of it), and
//! matches the SHA-256 of each record, in order, against the entries past `ledger_size`; the
//! file resumes after the last line whose record is there. A line whose record is not there
//! was rejected or a duplicate by id, and reading it again does the same. Identical lines have
//! identical records and the same fate, so the earliest match is the right one. No record id is
//! needed.
//!
//! Another command may have appended to the ledger after the kill and before the restart
//! (`suho scope` records its own use, `suho ingest` another file): those records come after
//! the follower's. A line the ingest would certainly have stored (valid, without an id, its time
//! within the window as of when the records around it were sequenced) whose record is not the
//! next one ends the follower's records there; the rest are another writer's. A clean stop
//! saves the state with no current file, so then nothing needs matching at all.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use suho_decode::Decoder;
use suho_ledger::{Entry, Ledger, WalReader};

use super::FollowError;

/// First line of the state file.
const MAGIC: &str = "suho.dev/follow-state@v2";
/// First line of a state written before files had their own decoders (still read).
const MAGIC_V1: &str = "suho.dev/follow-state@v1";
/// Bytes at the start of a file whose SHA-256 identifies its content: a file truncated and
/// written again (copytruncate) has another first line.
pub(crate) const HEAD_BYTES: u64 = 1024;

/// The start of a file's content, to tell it from another content under the same inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Head {
    pub(crate) len: u64,
    pub(crate) sha256: [u8; 32],
}

impl Head {
    /// The head of `file` (up to [`HEAD_BYTES`], at most `known` bytes: what has been read).
    pub(crate) fn of(file: &File, known: u64) -> std::io::Result<Head> {
        let len = known.min(HEAD_BYTES);
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, 0)?;
        Ok(Head {
            len,
            sha256: Sha256::digest(&buf).into(),
        })
    }

    /// Whether `file` still starts with this head (false when it is shorter or differs).
    pub(crate) fn matches(&self, file: &File) -> std::io::Result<bool> {
        if self.len == 0 {
            return Ok(true);
        }
        let mut buf = vec![0u8; self.len as usize];
        match file.read_exact_at(&mut buf, 0) {
            Ok(()) => Ok(<[u8; 32]>::from(Sha256::digest(&buf)) == self.sha256),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// One followed file as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Saved {
    /// Unique among the files this data directory has followed.
    pub(crate) id: u64,
    /// The path followed (absolute), under which the file was found; a rotated file has been
    /// renamed since and is looked for by `dev` and `ino` in the same directory.
    pub(crate) path: PathBuf,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    /// End of the last line whose records are in the ledger (within `ledger_size`).
    pub(crate) offset: u64,
    /// Number of the line starting at `offset` (1 for the first line of the file).
    pub(crate) line: u64,
    pub(crate) head_len: u64,
    #[serde(with = "hex32")]
    pub(crate) head_sha256: [u8; 32],
    /// The decoder the file's lines are read with (`suho`, `gateway`, ...); None in a version 1
    /// state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) format: Option<String>,
    /// The `[[sources]]` entry the file is read for; None for a file named on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
}

impl Saved {
    pub(crate) fn head(&self) -> Head {
        Head {
            len: self.head_len,
            sha256: self.head_sha256,
        }
    }
}

/// The follow state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    /// Records the ledger held, durably, when the state was saved.
    pub(crate) ledger_size: u64,
    /// The only file whose records may lie past `ledger_size` (None: only the own-use spool's).
    pub(crate) current: Option<u64>,
    /// The next file id to give.
    pub(crate) next_id: u64,
    pub(crate) files: Vec<Saved>,
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(64);
        for b in v {
            out.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        super::parse_hex32(&s).ok_or_else(|| serde::de::Error::custom("not 64 hex digits"))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl State {
    /// Read the state at `path`; None when there is none yet.
    pub(crate) fn load(path: &Path) -> Result<Option<State>, FollowError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FollowError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let bad = |reason: String| FollowError::State {
            path: path.to_path_buf(),
            reason,
        };
        let mut lines = text.lines();
        match lines.next() {
            Some(MAGIC | MAGIC_V1) => {}
            Some(other) if other.starts_with("suho.dev/follow-state@") => {
                return Err(bad(format!(
                    "it is of format {other:?}, which this suho does not read (it reads {MAGIC} \
                     and {MAGIC_V1})"
                )))
            }
            _ => return Err(bad(format!("it does not start with {MAGIC}"))),
        }
        let json = lines.next().unwrap_or_default();
        let sum = lines
            .next()
            .and_then(|l| l.strip_prefix("sha256 "))
            .and_then(parse_hex32)
            .ok_or_else(|| bad("its third line is not `sha256 <64 hex digits>`".into()))?;
        if <[u8; 32]>::from(Sha256::digest(json.as_bytes())) != sum {
            return Err(bad(
                "its checksum does not match its content (the file was damaged or edited)".into(),
            ));
        }
        serde_json::from_str(json)
            .map(Some)
            .map_err(|e| bad(format!("its content is not a follow state: {e}")))
    }

    /// The file's text.
    pub(crate) fn encode(&self) -> String {
        // Serialising plain structs of numbers, strings and paths cannot fail; a path that is
        // not UTF-8 is refused where paths are taken in.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!(
            "{MAGIC}\n{json}\nsha256 {}\n",
            hex(&Sha256::digest(json.as_bytes()))
        )
    }

    /// Save the state durably at `path`.
    pub(crate) fn save(&self, path: &Path) -> Result<(), FollowError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| FollowError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        suho_durable::write_atomic(path, self.encode().as_bytes()).map_err(|e| FollowError::Io {
            path: e.path,
            source: e.source,
        })
    }
}

/// Device and inode of `meta`.
pub(crate) fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Open the file with identity `(dev, ino)`: at `path` if it is still there, otherwise
/// wherever it was renamed to in the same directory (log rotation renames `x.log` to
/// `x.log.1`). None when it is gone (deleted, or compressed into a new file).
pub(crate) fn locate(path: &Path, dev: u64, ino: u64) -> Option<File> {
    let open_if_same = |p: &Path| -> Option<File> {
        let f = File::open(p).ok()?;
        let meta = f.metadata().ok()?;
        (meta.is_file() && identity(&meta) == (dev, ino)).then_some(f)
    };
    if let Some(f) = open_if_same(path) {
        return Some(f);
    }
    let dir = path.parent()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_file() && identity(&meta) == (dev, ino) {
            if let Some(f) = open_if_same(&entry.path()) {
                return Some(f);
            }
        }
    }
    None
}

/// Whether `file` still holds what `saved` describes: at least `offset` bytes, starting with
/// the saved head. A file truncated while suho was stopped (copytruncate) fails this.
pub(crate) fn same_content(file: &File, saved: &Saved) -> bool {
    let long_enough = file.metadata().map(|m| m.len() >= saved.offset);
    matches!(long_enough, Ok(true)) && matches!(saved.head().matches(file), Ok(true))
}

/// Bring the positions of `state` up to the durable ledger after a stop that did not save them
/// (a kill, a crash, a power loss): see the module documentation. Returns what it did, for the
/// operator, when it did anything.
/// What gives the decoder a saved file's lines are matched with (None: the contract format),
/// or why there is none to trust.
pub(crate) type DecoderOf<'a> = dyn Fn(&Saved) -> Result<Option<Arc<dyn Decoder>>, String> + 'a;

/// `decoder_of` gives the decoder a saved file's lines are matched with (None: the contract
/// format), or why there is none to trust.
pub(crate) fn resume(
    ledger: &Ledger,
    state: &mut State,
    decoder_of: &DecoderOf<'_>,
    config: &crate::IngestConfig,
    state_path: &Path,
) -> Result<Option<String>, FollowError> {
    let durable = ledger.durable_size();
    let saved = state.ledger_size;
    if durable < saved {
        return Err(FollowError::State {
            path: state_path.to_path_buf(),
            reason: format!(
                "it was saved when the ledger held {saved} records, but the ledger now holds {durable}: \
                 records it counted on are gone (a restored backup?). Positions past what the ledger \
                 holds would skip lines; move this file away to read every followed file from its \
                 start again (lines without an `id` already stored are then stored twice)"
            ),
        });
    }
    if durable == saved {
        return Ok(None);
    }
    let past = durable - saved;
    let Some(current) = state.current else {
        // Only suho's own-use records (from the spool, with ids) were being appended.
        return Ok(None);
    };
    let Some(entry) = state.files.iter_mut().find(|f| f.id == current) else {
        return Err(FollowError::State {
            path: state_path.to_path_buf(),
            reason: format!("it names file {current} as current but lists no such file"),
        });
    };
    // The lines past the saved position are matched with the decoder of their own file.
    let decoder = decoder_of(entry).map_err(|reason| FollowError::State {
        path: state_path.to_path_buf(),
        reason,
    })?;
    let decoder = decoder.as_deref().filter(|d| !d.is_passthrough());
    let mut want = Vec::with_capacity(past.min(1 << 20) as usize);
    WalReader::new(&ledger.layout().wal())
        .scan(saved, |frame| {
            if frame.index >= durable {
                return false;
            }
            if let Some(e) = Entry::decode(&frame.entry) {
                want.push((e.body_sha256, e.sequenced_ms));
            }
            true
        })
        .map_err(|e| FollowError::Ingest(e.into()))?;
    let Some(file) = locate(&entry.path, entry.dev, entry.ino).filter(|f| same_content(f, entry))
    else {
        return Ok(Some(format!(
            "{}: {past} records stored from it after byte {} were not saved as read, and the file \
             is gone or was truncated since; it is read again as it is now",
            entry.path.display(),
            entry.offset
        )));
    };
    let found =
        match_lines(file, entry.offset, entry.line, &want, decoder, config).map_err(|source| {
            FollowError::Io {
                path: entry.path.clone(),
                source,
            }
        })?;
    let mut note = format!(
        "{}: {} records stored after the last saved position (byte {}) are in the ledger; \
         reading on from byte {} (line {})",
        entry.path.display(),
        found.matched,
        entry.offset,
        found.offset,
        found.line
    );
    if found.matched < want.len() {
        note.push_str(&format!(
            "; the other {} records past the saved ledger size {saved} are not from its lines \
             (another command stored them while the follower was stopped)",
            want.len() - found.matched
        ));
    }
    entry.offset = found.offset;
    entry.line = found.line;
    state.ledger_size = durable;
    Ok(Some(note))
}

/// Where the lines whose records are `want` end.
#[derive(Debug, PartialEq, Eq)]
struct Found {
    /// How many of `want` were found, in order.
    matched: usize,
    /// End of the line of the last one found (the start offset when none was).
    offset: u64,
    /// Number of the line after it.
    line: u64,
}

/// What a line's record says about where the follower's records end.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// It is the next record wanted.
    Found,
    /// It is not, and ingest may have left it out (invalid, out of the time window, or with
    /// an id that may have been a duplicate).
    Skipped,
    /// It is not, though ingest would have stored it: the follower's records end before it.
    End,
}

impl Found {
    /// Look at `record`: the next one of `want` (SHA-256 and sequenced time of each), or not.
    fn check(
        &mut self,
        record: &[u8],
        want: &[([u8; 32], i64)],
        config: &crate::IngestConfig,
    ) -> Step {
        let Some((sha, sequenced_ms)) = want.get(self.matched) else {
            return Step::End;
        };
        if <[u8; 32]>::from(Sha256::digest(record)) == *sha {
            self.matched += 1;
            return Step::Found;
        }
        match suho_record::parse_record(record) {
            Ok(rec)
                if rec.id.is_none()
                    && config
                        .at(*sequenced_ms)
                        .check(rec.time_ms, rec.time_form)
                        .is_ok() =>
            {
                Step::End
            }
            _ => Step::Skipped,
        }
    }
}

/// Read `file` from `offset` (line number `line`), line by line, and find the records `want`
/// (SHA-256 of each body, in ledger order) among the records of its lines, in order. A final
/// line without a line end counts too: a rotated file's last line is ingested as it is.
fn match_lines(
    mut file: File,
    offset: u64,
    line: u64,
    want: &[([u8; 32], i64)],
    decoder: Option<&dyn Decoder>,
    config: &crate::IngestConfig,
) -> std::io::Result<Found> {
    use std::io::{Seek, SeekFrom};
    let mut found = Found {
        matched: 0,
        offset,
        line,
    };
    if want.is_empty() {
        return Ok(found);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut at = offset;
    let mut number = line;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut decoded = Vec::new();
    // A line over the record limit was rejected: skip it without buffering it.
    let mut skipping = false;
    loop {
        let start = buf.len();
        let n = (&mut file).take(1 << 20).read_to_end(&mut buf)?;
        let eof = n == 0;
        if skipping {
            match memchr::memchr(b'\n', &buf[start..]) {
                Some(p) => {
                    let cut = start + p + 1;
                    at += cut as u64;
                    number += 1;
                    buf.drain(..cut);
                    skipping = false;
                }
                None => {
                    at += buf.len() as u64;
                    buf.clear();
                    if eof {
                        return Ok(found);
                    }
                    continue;
                }
            }
        }
        let cut = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(p) => p + 1,
                None if buf.len() > suho_record::MAX_LINE_BYTES + 2 => {
                    at += buf.len() as u64;
                    buf.clear();
                    skipping = true;
                    continue;
                }
                None => continue,
            }
        };
        // The lines of buf[..cut], numbered and split as ingest splits them, each with the
        // offset of its end.
        let chunk = &buf[..cut];
        let base = chunk.as_ptr() as usize;
        let mut lines = suho_record::split_lines(chunk, number);
        for (n, body) in lines.by_ref() {
            if body.len() > suho_record::MAX_LINE_BYTES {
                continue;
            }
            let after = body.as_ptr() as usize - base + body.len();
            let end = memchr::memchr(b'\n', &chunk[after..]).map_or(chunk.len(), |p| after + p + 1);
            let (mut hit, mut ended) = (false, false);
            let mut step =
                |record: &[u8], found: &mut Found| match found.check(record, want, config) {
                    Step::Found => hit = true,
                    Step::End => ended = true,
                    Step::Skipped => {}
                };
            match decoder {
                None => step(body, &mut found),
                Some(d) => {
                    decoded.clear();
                    if d.decode(body, &mut decoded).is_ok() {
                        for record in decoded.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
                            step(record, &mut found);
                        }
                    }
                }
            }
            if hit {
                found.offset = at + end as u64;
                found.line = n + 1;
            }
            if found.matched == want.len() || ended {
                return Ok(found);
            }
        }
        number = lines.next_line_number();
        at += cut as u64;
        buf.drain(..cut);
        if eof {
            return Ok(found);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn sha(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    /// A record line without an id, numbered `n`, and what the ledger's entry says of it.
    fn rec(n: u64) -> String {
        format!(
            r#"{{"time":{},"actor":"a","action":"read","resource":"r{n}"}}"#,
            1_750_000_000_000u64 + n
        )
    }

    fn stored(line: &str) -> ([u8; 32], i64) {
        (sha(line.as_bytes()), 1_750_000_100_000)
    }

    #[test]
    fn the_state_round_trips_and_a_damaged_one_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("follow/state");
        assert_eq!(State::load(&path).expect("no state"), None);
        let state = State {
            ledger_size: 42,
            current: Some(3),
            next_id: 4,
            files: vec![Saved {
                id: 3,
                path: "/var/log/app/access.log".into(),
                dev: 2049,
                ino: 77,
                offset: 1234,
                line: 17,
                head_len: 1024,
                head_sha256: sha(b"x"),
                format: Some("gateway".into()),
                source: Some("gw".into()),
            }],
        };
        state.save(&path).expect("save");
        assert_eq!(State::load(&path).expect("load"), Some(state.clone()));
        let text = std::fs::read_to_string(&path).expect("read");
        let edited = text.replace("\"offset\":1234", "\"offset\":9999");
        std::fs::write(&path, edited).expect("write");
        let e = State::load(&path).expect_err("edited").to_string();
        assert!(e.contains("checksum does not match"), "{e}");
        std::fs::write(&path, text.replace("@v2", "@v9")).expect("write");
        let e = State::load(&path).expect_err("newer format").to_string();
        assert!(e.contains("does not read"), "{e}");
    }

    #[test]
    fn a_version_1_state_is_read_as_it_is_with_no_format_or_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let json = format!(
            r#"{{"ledger_size":5,"current":0,"next_id":1,"files":[{{"id":0,"path":"/l","dev":1,"ino":2,"offset":10,"line":3,"head_len":10,"head_sha256":"{}"}}]}}"#,
            hex(&sha(b"h"))
        );
        let text = format!(
            "suho.dev/follow-state@v1\n{json}\nsha256 {}\n",
            hex(&sha(json.as_bytes()))
        );
        std::fs::write(&path, text).expect("write");
        let state = State::load(&path).expect("load").expect("a state");
        assert_eq!((state.ledger_size, state.current), (5, Some(0)));
        assert_eq!(state.files[0].offset, 10);
        assert_eq!(
            (&state.files[0].format, &state.files[0].source),
            (&None, &None)
        );
        // Saved again, it is version 2.
        state.save(&path).expect("save");
        let again = std::fs::read_to_string(&path).expect("read");
        assert!(again.starts_with("suho.dev/follow-state@v2\n"), "{again}");
    }

    #[test]
    fn matching_finds_the_end_of_the_last_stored_line_past_rejected_and_repeated_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let config = crate::IngestConfig::default();
        // Line 2 was rejected, lines 3 and 4 are the same record (both stored: no id), line 5
        // has an id and was a duplicate.
        let dup = r#"{"time":1750000000000,"actor":"a","action":"read","resource":"r","id":"k1"}"#;
        let lines = [
            rec(1),
            "not json".into(),
            rec(3),
            rec(3),
            dup.into(),
            rec(6),
            rec(7),
        ];
        let mut f = File::create(&path).expect("create");
        let mut ends = Vec::new();
        let mut at = 0;
        for l in &lines {
            writeln!(f, "{l}").expect("write");
            at += l.len() as u64 + 1;
            ends.push(at);
        }
        write!(f, "{}", rec(8)).expect("write");
        drop(f);
        let open = || File::open(&path).expect("open");
        let want = [
            stored(&rec(1)),
            stored(&rec(3)),
            stored(&rec(3)),
            stored(&rec(6)),
        ];
        let found = match_lines(open(), 0, 1, &want, None, &config).expect("match");
        assert_eq!(
            found,
            Found {
                matched: 4,
                offset: ends[5],
                line: 7
            }
        );
        // A rotated file's final line without its end was taken as it is.
        let found = match_lines(
            open(),
            ends[5],
            7,
            &[stored(&rec(7)), stored(&rec(8))],
            None,
            &config,
        )
        .expect("match");
        assert_eq!((found.matched, found.offset), (2, at + rec(8).len() as u64));
        // Records another command stored after the follower's: the first line ingest would
        // have stored and that is not next ends the follower's records; they are not looked
        // for further on, even where a line has the same content.
        let want = [stored(&rec(1)), stored(&rec(7)), stored(&rec(3))];
        let found = match_lines(open(), 0, 1, &want, None, &config).expect("match");
        assert_eq!((found.matched, found.offset, found.line), (1, ends[0], 2));
    }
}
