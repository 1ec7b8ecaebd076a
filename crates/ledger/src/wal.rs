//! The write-ahead log: the durable home of every record body and its entry.
//!
//! Records live in segments of `SEGMENT_RECORDS` frames, `wal/<k>.seg`, each beginning with a
//! 16-byte header (magic, first index). A frame is `u32 BE length || entry (53 bytes) || body`.
//! A record is acknowledged only after its frame is fsynced. After a crash the first frame that
//! is incomplete or whose body does not match its entry marks the torn tail, which is cut off.
//! Beside each segment, `wal/<k>.idx` holds the u64 BE offset of every frame: derived data,
//! rebuilt on recovery, used for reading records by index.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::entry::{Entry, ENTRY_LEN};
use crate::LedgerError;

/// Frames per segment.
pub const SEGMENT_RECORDS: u64 = 1 << 16;
const MAGIC: &[u8; 8] = b"SUHOWAL\x01";
const HEADER_LEN: u64 = 16;

pub(crate) fn segment_path(dir: &Path, k: u64) -> PathBuf {
    dir.join(format!("{k:010}.seg"))
}

fn index_path(dir: &Path, k: u64) -> PathBuf {
    dir.join(format!("{k:010}.idx"))
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends frames; durable only after [`WalWriter::sync`].
pub(crate) struct WalWriter {
    dir: PathBuf,
    size: u64,
    seg: File,
    seg_len: u64,
    idx: File,
    buf: Vec<u8>,
    idx_buf: Vec<u8>,
    /// Finished segments written since the last sync: they need an fsync too.
    unsynced: Vec<File>,
}

impl WalWriter {
    /// Open for appending after `size` valid records; `seg_len` is the valid length of the
    /// segment that holds index `size` (0 when that segment does not exist yet).
    fn open_at(dir: &Path, size: u64, seg_len: u64) -> Result<WalWriter, LedgerError> {
        let k = size / SEGMENT_RECORDS;
        let (seg, seg_len) = open_segment(dir, k, seg_len)?;
        let ipath = index_path(dir, k);
        let idx = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ipath)
            .map_err(io_at(&ipath))?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            size,
            seg,
            seg_len,
            idx,
            buf: Vec::with_capacity(4 << 20),
            idx_buf: Vec::with_capacity(64 << 10),
            unsynced: Vec::new(),
        })
    }

    /// Records appended so far (durable or not).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Append one frame to the buffer.
    pub(crate) fn append(&mut self, entry: &[u8; ENTRY_LEN], body: &[u8]) -> Result<(), LedgerError> {
        if self.size > 0 && self.size % SEGMENT_RECORDS == 0 && self.seg_len > HEADER_LEN {
            self.roll()?;
        }
        let offset = self.seg_len + self.buf.len() as u64;
        self.idx_buf.extend_from_slice(&offset.to_be_bytes());
        // Bodies are at most 16 MiB, so the frame length fits in u32.
        let len = (ENTRY_LEN + body.len()) as u32;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(entry);
        self.buf.extend_from_slice(body);
        self.size += 1;
        if self.buf.len() >= 4 << 20 {
            self.flush()?;
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<(), LedgerError> {
        self.flush()?;
        let k = self.size / SEGMENT_RECORDS;
        let (seg, seg_len) = open_segment(&self.dir, k, 0)?;
        let old = std::mem::replace(&mut self.seg, seg);
        self.unsynced.push(old);
        self.seg_len = seg_len;
        let ipath = index_path(&self.dir, k);
        self.idx = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ipath)
            .map_err(io_at(&ipath))?;
        Ok(())
    }

    /// Hand buffered frames to the OS (not yet durable).
    pub(crate) fn flush(&mut self) -> Result<(), LedgerError> {
        if !self.buf.is_empty() {
            let path = segment_path(&self.dir, self.size.saturating_sub(1) / SEGMENT_RECORDS);
            self.seg.write_all(&self.buf).map_err(io_at(&path))?;
            self.seg_len += self.buf.len() as u64;
            self.buf.clear();
        }
        if !self.idx_buf.is_empty() {
            let path = self.dir.join("index");
            self.idx.write_all(&self.idx_buf).map_err(io_at(&path))?;
            self.idx_buf.clear();
        }
        Ok(())
    }

    /// Make every appended frame durable (group commit: one fsync for the whole batch).
    pub(crate) fn sync(&mut self) -> Result<(), LedgerError> {
        self.flush()?;
        for f in self.unsynced.drain(..) {
            f.sync_data().map_err(io_at(&self.dir))?;
        }
        self.seg.sync_data().map_err(io_at(&self.dir))?;
        Ok(())
    }
}

fn open_segment(dir: &Path, k: u64, valid_len: u64) -> Result<(File, u64), LedgerError> {
    let path = segment_path(dir, k);
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .map_err(io_at(&path))?;
    if valid_len < HEADER_LEN {
        f.set_len(0).map_err(io_at(&path))?;
        let mut header = [0u8; HEADER_LEN as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..].copy_from_slice(&(k * SEGMENT_RECORDS).to_be_bytes());
        f.write_all(&header).map_err(io_at(&path))?;
        // The new file's directory entry must survive a crash too.
        sync_dir(dir)?;
        Ok((f, HEADER_LEN))
    } else {
        f.set_len(valid_len).map_err(io_at(&path))?;
        f.seek(SeekFrom::Start(valid_len)).map_err(io_at(&path))?;
        Ok((f, valid_len))
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

/// One frame read back from a segment.
pub struct Frame {
    /// Ledger index.
    pub index: u64,
    /// The raw 53-byte entry as stored in the log.
    pub entry: [u8; ENTRY_LEN],
    /// The record body.
    pub body: Vec<u8>,
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameProblem {
    /// The segment ends inside this frame (or exactly before it).
    Truncated,
    /// The frame is complete but malformed or its body does not match its entry.
    Corrupt(String),
}

/// Reads frames of one segment sequentially.
pub(crate) struct SegmentReader {
    path: PathBuf,
    r: BufReader<File>,
    pub(crate) next_index: u64,
    pub(crate) offset: u64,
    len: u64,
}

impl SegmentReader {
    pub(crate) fn open(dir: &Path, k: u64) -> Result<Option<SegmentReader>, LedgerError> {
        let path = segment_path(dir, k);
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at(&path)(e)),
        };
        let len = f.metadata().map_err(io_at(&path))?.len();
        let mut r = BufReader::with_capacity(1 << 20, f);
        let mut header = [0u8; HEADER_LEN as usize];
        if len < HEADER_LEN {
            return Ok(Some(SegmentReader { path, r, next_index: k * SEGMENT_RECORDS, offset: len, len }));
        }
        r.read_exact(&mut header).map_err(io_at(&path))?;
        if &header[..8] != MAGIC || header[8..] != (k * SEGMENT_RECORDS).to_be_bytes() {
            return Err(LedgerError::Corrupt {
                path,
                detail: "not a suho write-ahead-log segment (bad header)".into(),
            });
        }
        Ok(Some(SegmentReader {
            path,
            r,
            next_index: k * SEGMENT_RECORDS,
            offset: HEADER_LEN,
            len,
        }))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn at_end(&self) -> bool {
        self.offset >= self.len
    }

    /// Read the next frame: Ok(Ok(frame)), Ok(Err(problem)) for a bad frame, Err for IO errors.
    /// `check_body` verifies the body against the entry digest.
    pub(crate) fn next_frame(&mut self, check_body: bool) -> Result<Result<Frame, FrameProblem>, LedgerError> {
        if self.len - self.offset < 4 {
            return Ok(Err(FrameProblem::Truncated));
        }
        let mut len = [0u8; 4];
        self.r.read_exact(&mut len).map_err(io_at(&self.path))?;
        let len = u32::from_be_bytes(len) as u64;
        if len < ENTRY_LEN as u64 || len > (ENTRY_LEN + suho_record::MAX_LINE_BYTES) as u64 {
            return Ok(Err(FrameProblem::Corrupt(format!("frame length {len} is impossible"))));
        }
        if self.len - self.offset - 4 < len {
            return Ok(Err(FrameProblem::Truncated));
        }
        let mut entry = [0u8; ENTRY_LEN];
        self.r.read_exact(&mut entry).map_err(io_at(&self.path))?;
        let mut body = vec![0u8; len as usize - ENTRY_LEN];
        self.r.read_exact(&mut body).map_err(io_at(&self.path))?;
        let index = self.next_index;
        if check_body {
            match Entry::decode(&entry) {
                None => return Ok(Err(FrameProblem::Corrupt("the entry is not a version-1 suho entry".into()))),
                Some(e) if !e.matches_body(&body) => {
                    return Ok(Err(FrameProblem::Corrupt(
                        "the record body does not match the SHA-256 in its entry".into(),
                    )))
                }
                Some(_) => {}
            }
        }
        self.offset += 4 + len;
        self.next_index += 1;
        Ok(Ok(Frame { index, entry, body }))
    }
}

/// Recover the log: find the end of the valid frames at or after `checkpoint_size`, cut off a torn
/// tail, rebuild the offset index of the last segment, and hand every frame from
/// `checkpoint_size` on to `on_frame` (they are durable but not yet checkpointed).
pub(crate) fn recover(
    dir: &Path,
    checkpoint_size: u64,
    mut on_frame: impl FnMut(&Frame) -> Result<(), LedgerError>,
) -> Result<WalWriter, LedgerError> {
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let mut k = checkpoint_size / SEGMENT_RECORDS;
    loop {
        let Some(mut r) = SegmentReader::open(dir, k)? else {
            if k * SEGMENT_RECORDS < checkpoint_size {
                return Err(LedgerError::Corrupt {
                    path: segment_path(dir, k),
                    detail: format!("missing: the checkpoint covers {checkpoint_size} records"),
                });
            }
            // The log ends exactly at a segment boundary: start the next segment.
            return WalWriter::open_at(dir, k * SEGMENT_RECORDS, 0);
        };
        let mut offsets: Vec<u8> = Vec::new();
        loop {
            if r.next_index == (k + 1) * SEGMENT_RECORDS {
                break;
            }
            let start = r.offset;
            if r.at_end() {
                break;
            }
            let check = r.next_index >= checkpoint_size;
            match r.next_frame(check)? {
                Ok(frame) => {
                    offsets.extend_from_slice(&start.to_be_bytes());
                    if frame.index >= checkpoint_size {
                        on_frame(&frame)?;
                    }
                }
                Err(problem) => {
                    if r.next_index < checkpoint_size {
                        return Err(LedgerError::Corrupt {
                            path: r.path().to_path_buf(),
                            detail: format!("record {} is damaged ({problem:?}) but the checkpoint covers it", r.next_index),
                        });
                    }
                    tracing::warn!(index = r.next_index, offset = start, ?problem, "cutting off the torn tail of the write-ahead log");
                    let size = r.next_index;
                    finish_index(dir, k, &offsets)?;
                    remove_segments_after(dir, k)?;
                    return WalWriter::open_at(dir, size, start);
                }
            }
        }
        let size = r.next_index;
        let end = r.offset;
        finish_index(dir, k, &offsets)?;
        if size < (k + 1) * SEGMENT_RECORDS {
            if size < checkpoint_size {
                return Err(LedgerError::Corrupt {
                    path: r.path().to_path_buf(),
                    detail: format!("the log holds {size} records but the checkpoint covers {checkpoint_size}"),
                });
            }
            remove_segments_after(dir, k)?;
            return WalWriter::open_at(dir, size, end);
        }
        k += 1;
    }
}
fn finish_index(dir: &Path, k: u64, offsets: &[u8]) -> Result<(), LedgerError> {
    let path = index_path(dir, k);
    fs::write(&path, offsets).map_err(io_at(&path))
}

fn remove_segments_after(dir: &Path, k: u64) -> Result<(), LedgerError> {
    let mut j = k + 1;
    while segment_path(dir, j).exists() {
        let p = segment_path(dir, j);
        tracing::warn!(path = %p.display(), "removing a write-ahead-log segment past the torn tail");
        fs::remove_file(&p).map_err(io_at(&p))?;
        let _ = fs::remove_file(index_path(dir, j));
        j += 1;
    }
    Ok(())
}

/// Random access to frames by index, through the offset index.
pub struct WalReader {
    dir: PathBuf,
}

impl WalReader {
    /// Reader over the log in `dir` (`<data>/wal`).
    pub fn new(dir: &Path) -> WalReader {
        WalReader { dir: dir.to_path_buf() }
    }

    /// Read the frame at `index`.
    pub fn frame(&self, index: u64) -> Result<Frame, LedgerError> {
        let k = index / SEGMENT_RECORDS;
        let ipath = index_path(&self.dir, k);
        let mut idx = File::open(&ipath).map_err(io_at(&ipath))?;
        idx.seek(SeekFrom::Start((index % SEGMENT_RECORDS) * 8)).map_err(io_at(&ipath))?;
        let mut off = [0u8; 8];
        idx.read_exact(&mut off).map_err(|_| LedgerError::NotFound { index })?;
        let spath = segment_path(&self.dir, k);
        let mut seg = File::open(&spath).map_err(io_at(&spath))?;
        seg.seek(SeekFrom::Start(u64::from_be_bytes(off))).map_err(io_at(&spath))?;
        let mut len = [0u8; 4];
        seg.read_exact(&mut len).map_err(io_at(&spath))?;
        let len = u32::from_be_bytes(len) as usize;
        if !(ENTRY_LEN..=ENTRY_LEN + suho_record::MAX_LINE_BYTES).contains(&len) {
            return Err(LedgerError::Corrupt { path: spath, detail: format!("record {index}: frame length {len} is impossible") });
        }
        let mut entry = [0u8; ENTRY_LEN];
        seg.read_exact(&mut entry).map_err(io_at(&spath))?;
        let mut body = vec![0u8; len - ENTRY_LEN];
        seg.read_exact(&mut body).map_err(io_at(&spath))?;
        Ok(Frame { index, entry, body })
    }
}
