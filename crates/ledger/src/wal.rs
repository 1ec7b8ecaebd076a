//! The write-ahead log: the durable home of every record body.
//!
//! Records are stored in compressed blocks: the bytes that must reach the disk before a record
//! is acknowledged are what caps durable ingest, and access records compress about five-fold.
//! Blocks are built (and compressed) on the parallel worker threads; the single writer only
//! stamps each block with its first ledger index and appends it.
//!
//! Segment `wal/<first index, 20 digits>.seg`: a 16-byte header (magic, first index), then blocks.
//! Block: a 36-byte header (magic `SBLK`, first index u64, record count u32, sequenced time
//! i64 ms, raw length u32, payload length u32, CRC-32C of the payload u32; FORMAT.md) and an
//! LZ4 block payload of frames `u32 body length || i64 event time ms || body`.
//! A record is acknowledged only after its block is fsynced. After a crash, the first block that
//! is incomplete or fails its checksum marks the torn tail, which is cut off. Beside each
//! segment, `<first>.idx` lists `(first index, offset)` of every block: derived data, rebuilt on
//! recovery, used for reading records by index.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::entry::{Entry, ENTRY_LEN};
use crate::LedgerError;

/// A segment is closed once it holds this many bytes (at a block boundary).
pub const SEGMENT_BYTES: u64 = 256 << 20;
const SEG_MAGIC: &[u8; 8] = b"SUHOWAL\x02";
const SEG_HEADER: u64 = 16;
const BLOCK_MAGIC: &[u8; 4] = b"SBLK";
/// Bytes of a block header.
pub const BLOCK_HEADER: usize = 36;
/// Largest raw (uncompressed) block a reader accepts; a larger size in a header is damage.
pub const MAX_BLOCK_RAW: usize = 64 << 20;
/// Blocks are cut before they pass this many raw bytes (a record larger than that gets a block
/// of its own), so a writer stays far inside [`MAX_BLOCK_RAW`] whatever the batch size, and a
/// reader that wants one record decompresses a few MiB, not a whole HTTP body.
pub const BLOCK_TARGET_RAW: usize = 4 << 20;
/// Bytes before each body in a raw block: its length (u32) and event time (i64).
const FRAME_HEADER: usize = 12;

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Records encoded and compressed, ready to be stamped with their first index and appended.
pub struct EncodedBlock {
    count: u32,
    raw_len: u32,
    sequenced_ms: i64,
    payload: Vec<u8>,
    /// CRC-32C of `payload`, computed where the block is built (a worker thread), not on the
    /// single thread that appends blocks.
    crc: u32,
}

impl EncodedBlock {
    /// Records in the block.
    pub fn count(&self) -> u32 {
        self.count
    }
    /// Raw (uncompressed) bytes.
    pub fn raw_len(&self) -> usize {
        self.raw_len as usize
    }
    /// Time the records were sequenced (the same for the whole block).
    pub fn sequenced_ms(&self) -> i64 {
        self.sequenced_ms
    }
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// The 36-byte header of block `b` starting at ledger index `first`.
pub(crate) fn encode_header(first: u64, b: &EncodedBlock) -> [u8; BLOCK_HEADER] {
    let mut h = [0u8; BLOCK_HEADER];
    h[..4].copy_from_slice(BLOCK_MAGIC);
    h[4..12].copy_from_slice(&first.to_be_bytes());
    h[12..16].copy_from_slice(&b.count.to_be_bytes());
    h[16..24].copy_from_slice(&b.sequenced_ms.to_be_bytes());
    h[24..28].copy_from_slice(&b.raw_len.to_be_bytes());
    h[28..32].copy_from_slice(&(b.payload.len() as u32).to_be_bytes());
    h[32..36].copy_from_slice(&b.crc.to_be_bytes());
    h
}

/// Builds one block from `(event time, body)` records.
pub struct BlockBuilder {
    raw: Vec<u8>,
    count: u32,
    sequenced_ms: i64,
}

impl BlockBuilder {
    /// An empty block whose records are sequenced at `sequenced_ms`.
    pub fn new(sequenced_ms: i64) -> BlockBuilder {
        BlockBuilder {
            raw: Vec::with_capacity(1 << 20),
            count: 0,
            sequenced_ms,
        }
    }

    /// Raw bytes so far.
    pub fn raw_len(&self) -> usize {
        self.raw.len()
    }

    /// Records so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether a record of `body_len` bytes still belongs in this block: it does while the
    /// block stays within [`BLOCK_TARGET_RAW`], and always in an empty block.
    fn fits(&self, body_len: usize) -> bool {
        self.count == 0 || self.raw.len() + FRAME_HEADER + body_len <= BLOCK_TARGET_RAW
    }

    /// Add a record (one block, however large: see [`BatchBlocks`] for a batch).
    pub fn push(&mut self, event_time_ms: i64, body: &[u8]) {
        // Bodies are at most 16 MiB (suho_record::MAX_LINE_BYTES).
        self.raw
            .extend_from_slice(&(body.len() as u32).to_be_bytes());
        self.raw.extend_from_slice(&event_time_ms.to_be_bytes());
        self.raw.extend_from_slice(body);
        self.count += 1;
    }

    /// Compress.
    pub fn finish(self) -> EncodedBlock {
        let payload = compress(&self.raw);
        EncodedBlock {
            count: self.count,
            raw_len: self.raw.len() as u32,
            sequenced_ms: self.sequenced_ms,
            crc: crc32c::crc32c(&payload),
            payload,
        }
    }
}

/// The blocks of one batch of records sequenced together, cut before a block passes
/// [`BLOCK_TARGET_RAW`]: however many records a batch (an HTTP body) holds, no block is one a
/// reader would refuse.
pub struct BatchBlocks {
    current: BlockBuilder,
    done: Vec<EncodedBlock>,
}

impl BatchBlocks {
    /// No blocks yet; every record is sequenced at `sequenced_ms`.
    pub fn new(sequenced_ms: i64) -> BatchBlocks {
        BatchBlocks {
            current: BlockBuilder::new(sequenced_ms),
            done: Vec::new(),
        }
    }

    /// Add a record, starting a new block when it would pass the target.
    pub fn push(&mut self, event_time_ms: i64, body: &[u8]) {
        if !self.current.fits(body.len()) {
            let next = BlockBuilder::new(self.current.sequenced_ms);
            self.done
                .push(std::mem::replace(&mut self.current, next).finish());
        }
        self.current.push(event_time_ms, body);
    }

    /// Compress the last block; the blocks in order (none for no records).
    pub fn finish(mut self) -> Vec<EncodedBlock> {
        if self.current.count > 0 {
            self.done.push(self.current.finish());
        }
        self.done
    }
}

/// LZ4 acceleration of block compression. Compression is the largest single cost of ingest on
/// the worker threads; at 16 the reference LZ4 library compresses these records at about
/// 700 MB/s with a ratio of 3.7 (1 gives 550 MB/s and 4.3; the pure-Rust `lz4_flex`, which
/// has no acceleration, 430 MB/s), and the write-ahead log then needs ~80 MB/s of disk at a
/// million records per second, well under what a disk sustains with fsync.
const LZ4_ACCELERATION: i32 = 16;

thread_local! {
    /// Per-thread compression output, sized to the worst case once: `lz4::block::compress`
    /// would allocate and zero that worst case (about the raw size) for every block.
    static COMPRESS_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Compress a raw block (an LZ4 block, readable by any LZ4 implementation).
pub(crate) fn compress(raw: &[u8]) -> Vec<u8> {
    COMPRESS_BUF.with_borrow_mut(|out| {
        // Raw blocks are at most MAX_BLOCK_RAW bytes, far inside LZ4's limit, so compression
        // cannot fail; an empty payload would fail the block's length check on read, never
        // pass silently.
        let bound = lz4::block::compress_bound(raw.len()).unwrap_or(0);
        if out.len() < bound {
            out.resize(bound, 0);
        }
        let mode = Some(lz4::block::CompressionMode::FAST(LZ4_ACCELERATION));
        match lz4::block::compress_to_buffer(raw, mode, false, out) {
            Ok(n) => out[..n].to_vec(),
            Err(_) => Vec::new(),
        }
    })
}

/// Decompress a block payload whose raw length is `raw_len`.
pub(crate) fn decompress(payload: &[u8], raw_len: usize) -> io::Result<Vec<u8>> {
    let len = i32::try_from(raw_len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "raw length over 2 GiB"))?;
    lz4::block::decompress(payload, Some(len))
}

pub(crate) fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.seg"))
}

fn index_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.idx"))
}

/// First indexes of the segments in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u64>, LedgerError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_at(dir)(e)),
    };
    for e in rd {
        let e = e.map_err(io_at(dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = name
            .strip_suffix(".seg")
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(first);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Whether any segment in `dir` holds more than its header: a block, whole or torn.
pub(crate) fn holds_records(dir: &Path) -> Result<bool, LedgerError> {
    for first in list_segments(dir)? {
        let path = segment_path(dir, first);
        match fs::metadata(&path) {
            Ok(m) if m.len() > SEG_HEADER => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&path)(e)),
        }
    }
    Ok(false)
}

/// Appends blocks; durable only after [`WalWriter::sync`].
pub(crate) struct WalWriter {
    dir: PathBuf,
    size: u64,
    seg_first: u64,
    seg: File,
    seg_len: u64,
    idx: File,
    buf: Vec<u8>,
    idx_buf: Vec<u8>,
    unsynced: Vec<File>,
    /// A new segment starts once the current one reaches this size.
    pub(crate) segment_bytes: u64,
}

impl WalWriter {
    /// Continue segment `seg_first` whose valid length is `seg_len` (0: create it), the log
    /// holding `size` records.
    fn open_at(
        dir: &Path,
        seg_first: u64,
        seg_len: u64,
        size: u64,
    ) -> Result<WalWriter, LedgerError> {
        let (seg, seg_len) = open_segment(dir, seg_first, seg_len)?;
        let ipath = index_path(dir, seg_first);
        let idx = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ipath)
            .map_err(io_at(&ipath))?;
        Ok(WalWriter {
            dir: dir.to_path_buf(),
            size,
            seg_first,
            seg,
            seg_len,
            idx,
            buf: Vec::with_capacity(4 << 20),
            idx_buf: Vec::new(),
            unsynced: Vec::new(),
            segment_bytes: SEGMENT_BYTES,
        })
    }

    /// Records appended so far (durable or not).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Append a block; its records get indexes `size..size + count`.
    pub(crate) fn append(&mut self, b: &EncodedBlock) -> Result<u64, LedgerError> {
        if self.seg_len + self.buf.len() as u64 >= self.segment_bytes {
            self.roll()?;
        }
        let first = self.size;
        let offset = self.seg_len + self.buf.len() as u64;
        self.idx_buf.extend_from_slice(&first.to_be_bytes());
        self.idx_buf.extend_from_slice(&offset.to_be_bytes());
        self.buf.extend_from_slice(&encode_header(first, b));
        self.buf.extend_from_slice(&b.payload);
        self.size += u64::from(b.count);
        if self.buf.len() >= 4 << 20 {
            self.flush()?;
        }
        Ok(first)
    }

    fn roll(&mut self) -> Result<(), LedgerError> {
        self.flush()?;
        let (seg, seg_len) = open_segment(&self.dir, self.size, 0)?;
        let old = std::mem::replace(&mut self.seg, seg);
        self.unsynced.push(old);
        self.seg_first = self.size;
        self.seg_len = seg_len;
        let ipath = index_path(&self.dir, self.seg_first);
        self.idx = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ipath)
            .map_err(io_at(&ipath))?;
        Ok(())
    }

    /// Hand buffered blocks to the OS (not yet durable).
    pub(crate) fn flush(&mut self) -> Result<(), LedgerError> {
        if !self.buf.is_empty() {
            let path = segment_path(&self.dir, self.seg_first);
            self.seg.write_all(&self.buf).map_err(io_at(&path))?;
            self.seg_len += self.buf.len() as u64;
            self.buf.clear();
        }
        if !self.idx_buf.is_empty() {
            let path = index_path(&self.dir, self.seg_first);
            self.idx.write_all(&self.idx_buf).map_err(io_at(&path))?;
            self.idx_buf.clear();
        }
        Ok(())
    }

    /// Hand every appended block to the OS and return the files whose data must reach the
    /// disk for them to be durable; the fsyncs can then run on another thread while this
    /// writer goes on appending.
    pub(crate) fn begin_sync(&mut self) -> Result<SegmentSync, LedgerError> {
        self.flush()?;
        let current = self.seg.try_clone().map_err(io_at(&self.dir))?;
        let mut files: Vec<File> = self.unsynced.drain(..).collect();
        files.push(current);
        Ok(SegmentSync {
            dir: self.dir.clone(),
            files,
        })
    }
}

/// Segments with data handed to the OS but not yet known durable.
pub(crate) struct SegmentSync {
    dir: PathBuf,
    files: Vec<File>,
}

impl SegmentSync {
    /// fsync (data) every segment.
    pub(crate) fn wait(self) -> Result<(), LedgerError> {
        for f in self.files {
            f.sync_data().map_err(io_at(&self.dir))?;
        }
        Ok(())
    }
}

fn open_segment(dir: &Path, first: u64, valid_len: u64) -> Result<(File, u64), LedgerError> {
    let path = segment_path(dir, first);
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .map_err(io_at(&path))?;
    if valid_len < SEG_HEADER {
        f.set_len(0).map_err(io_at(&path))?;
        let mut header = [0u8; SEG_HEADER as usize];
        header[..8].copy_from_slice(SEG_MAGIC);
        header[8..].copy_from_slice(&first.to_be_bytes());
        f.write_all(&header).map_err(io_at(&path))?;
        // The new file's directory entry must survive a crash too.
        sync_dir(dir)?;
        Ok((f, SEG_HEADER))
    } else {
        f.set_len(valid_len).map_err(io_at(&path))?;
        f.seek(SeekFrom::Start(valid_len)).map_err(io_at(&path))?;
        Ok((f, valid_len))
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    suho_durable::sync_dir(dir).map_err(|e| LedgerError::Io {
        path: e.path,
        source: e.source,
    })
}

/// One record read back from the log.
pub struct Frame {
    /// Ledger index.
    pub index: u64,
    /// Its 53-byte entry, recomputed from the stored body and times.
    pub entry: [u8; ENTRY_LEN],
    /// The record body.
    pub body: Vec<u8>,
}

/// One record of a block: ledger index, event time, body.
pub(crate) type BlockRecord<'a> = (u64, i64, &'a [u8]);

/// A decoded block.
pub(crate) struct Block {
    pub(crate) first_index: u64,
    pub(crate) count: u32,
    pub(crate) sequenced_ms: i64,
    raw: Vec<u8>,
    /// The payload failed its checksum (but decoded): the records are suspect.
    pub(crate) checksum_failed: bool,
}

impl Block {
    /// The records `(index, event time, body)`; an error names the first record that cannot be decoded.
    pub(crate) fn records(&self) -> Result<Vec<BlockRecord<'_>>, String> {
        let raw = &self.raw;
        // `next_block` refused a count that cannot fit in the raw length.
        let mut out = Vec::with_capacity(self.count as usize);
        let mut at = 0usize;
        while at < raw.len() {
            let index = self.first_index + out.len() as u64;
            if raw.len() - at < FRAME_HEADER {
                return Err(format!("record {index}: frame header cut short"));
            }
            let len = u32::from_be_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]) as usize;
            let mut t = [0u8; 8];
            t.copy_from_slice(&raw[at + 4..at + FRAME_HEADER]);
            at += FRAME_HEADER;
            if raw.len() - at < len {
                return Err(format!(
                    "record {index}: body length {len} runs past the block"
                ));
            }
            out.push((index, i64::from_be_bytes(t), &raw[at..at + len]));
            at += len;
        }
        if out.len() != self.count as usize {
            return Err(format!(
                "block at {} holds {} records, its header says {}",
                self.first_index,
                out.len(),
                self.count
            ));
        }
        Ok(out)
    }

    pub(crate) fn frames(&self) -> Result<Vec<Frame>, String> {
        Ok(self
            .records()?
            .into_iter()
            .map(|(index, t, body)| Frame {
                index,
                entry: Entry::for_body(body, t, self.sequenced_ms).encode(),
                body: body.to_vec(),
            })
            .collect())
    }
}

/// Why a block could not be read.
#[derive(Debug)]
pub(crate) enum BlockProblem {
    /// The segment ends inside this block.
    Truncated,
    /// The block is complete but damaged.
    Corrupt(String),
}

/// Reads the blocks of one segment sequentially.
pub(crate) struct SegmentReader {
    path: PathBuf,
    r: BufReader<File>,
    pub(crate) offset: u64,
    len: u64,
}

impl SegmentReader {
    pub(crate) fn open(dir: &Path, first: u64) -> Result<SegmentReader, LedgerError> {
        let path = segment_path(dir, first);
        let f = File::open(&path).map_err(io_at(&path))?;
        let len = f.metadata().map_err(io_at(&path))?.len();
        let mut r = BufReader::with_capacity(1 << 20, f);
        if len < SEG_HEADER {
            return Ok(SegmentReader {
                path,
                r,
                offset: len,
                len,
            });
        }
        let mut header = [0u8; SEG_HEADER as usize];
        r.read_exact(&mut header).map_err(io_at(&path))?;
        if &header[..8] != SEG_MAGIC || header[8..] != first.to_be_bytes() {
            return Err(LedgerError::Corrupt {
                path,
                detail: "not a suho write-ahead-log segment (bad header)".into(),
            });
        }
        Ok(SegmentReader {
            path,
            r,
            offset: SEG_HEADER,
            len,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn at_end(&self) -> bool {
        self.offset >= self.len
    }

    /// Read the next block header, then the payload: decoded when `decode`, skipped when not
    /// (the block's records are then not available). `expect_first` is the index the block must start at.
    pub(crate) fn next_block(
        &mut self,
        expect_first: u64,
        decode: bool,
    ) -> Result<Result<Block, BlockProblem>, LedgerError> {
        // `offset` may come from an index file; past the end is simply no block.
        if self.len.saturating_sub(self.offset) < BLOCK_HEADER as u64 {
            return Ok(Err(BlockProblem::Truncated));
        }
        let mut h = [0u8; BLOCK_HEADER];
        self.r.read_exact(&mut h).map_err(io_at(&self.path))?;
        let u32_at = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[at..at + 8]);
            u64::from_be_bytes(b)
        };
        if &h[..4] != BLOCK_MAGIC {
            return Ok(Err(BlockProblem::Corrupt(
                "no block starts here (bad magic)".into(),
            )));
        }
        let first = u64_at(4);
        let count = u32_at(12);
        if first.checked_add(u64::from(count)).is_none() {
            return Ok(Err(BlockProblem::Corrupt(format!(
                "impossible block: {count} records from index {first} run past the largest index"
            ))));
        }
        let sequenced_ms = u64_at(16) as i64;
        let raw_len = u32_at(24) as usize;
        let payload_len = u32_at(28) as u64;
        let crc = u32_at(32);
        if first != expect_first {
            return Ok(Err(BlockProblem::Corrupt(format!("the block starts at index {first}, expected {expect_first} (blocks removed or reordered)"))));
        }
        if raw_len > MAX_BLOCK_RAW || payload_len > MAX_BLOCK_RAW as u64 {
            return Ok(Err(BlockProblem::Corrupt(format!(
                "impossible block sizes (raw {raw_len}, payload {payload_len})"
            ))));
        }
        if count as usize > raw_len / FRAME_HEADER {
            return Ok(Err(BlockProblem::Corrupt(format!(
                "impossible record count: {count} records cannot fit in {raw_len} raw bytes"
            ))));
        }
        if self.len - self.offset - (BLOCK_HEADER as u64) < payload_len {
            return Ok(Err(BlockProblem::Truncated));
        }
        let mut payload = vec![0u8; payload_len as usize];
        self.r.read_exact(&mut payload).map_err(io_at(&self.path))?;
        self.offset += BLOCK_HEADER as u64 + payload_len;
        let checksum_failed = crc32c::crc32c(&payload) != crc;
        if !decode && !checksum_failed {
            return Ok(Ok(Block {
                first_index: first,
                count,
                sequenced_ms,
                raw: Vec::new(),
                checksum_failed,
            }));
        }
        match decompress(&payload, raw_len) {
            Ok(raw) if raw.len() == raw_len => Ok(Ok(Block {
                first_index: first,
                count,
                sequenced_ms,
                raw,
                checksum_failed,
            })),
            Ok(_) | Err(_) if checksum_failed => Ok(Err(BlockProblem::Corrupt(
                "the block fails its checksum and cannot be decompressed".into(),
            ))),
            Ok(raw) => Ok(Err(BlockProblem::Corrupt(format!(
                "the block decompresses to {} bytes, its header says {raw_len}",
                raw.len()
            )))),
            Err(e) => Ok(Err(BlockProblem::Corrupt(format!(
                "the block cannot be decompressed: {e}"
            )))),
        }
    }
}

/// Recover the log: find the end of the valid blocks at or after `checkpoint_size`, cut off a
/// torn tail, rebuild the block index of the last segment, and hand every record from
/// `checkpoint_size` on to `on_frame` (durable but not yet checkpointed).
pub(crate) fn recover(
    dir: &Path,
    checkpoint_size: u64,
    mut on_frame: impl FnMut(&Frame) -> Result<(), LedgerError>,
) -> Result<WalWriter, LedgerError> {
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let segs = list_segments(dir)?;
    if segs.is_empty() {
        if checkpoint_size > 0 {
            return Err(LedgerError::Corrupt { path: dir.to_path_buf(), detail: format!("the write-ahead log is missing but the checkpoint covers {checkpoint_size} records") });
        }
        return WalWriter::open_at(dir, 0, 0, 0);
    }
    // The segment that holds index `checkpoint_size` (or the last one).
    let start = segs
        .iter()
        .rposition(|f| *f <= checkpoint_size)
        .unwrap_or(0);
    let mut next = segs[start];
    for (i, &first) in segs.iter().enumerate().skip(start) {
        if first != next {
            return Err(LedgerError::Corrupt {
                path: segment_path(dir, first),
                detail: format!(
                    "the segment starts at index {first}, but the previous one ends at {next}"
                ),
            });
        }
        let mut r = SegmentReader::open(dir, first)?;
        let mut offsets = Vec::new();
        let mut torn = None;
        while !r.at_end() {
            let at = r.offset;
            match r.next_block(next, true)? {
                Ok(block) => {
                    let end = next + u64::from(block.count);
                    if block.checksum_failed && end > checkpoint_size {
                        torn = Some((at, "checksum".to_string()));
                        break;
                    }
                    offsets.extend_from_slice(&next.to_be_bytes());
                    offsets.extend_from_slice(&at.to_be_bytes());
                    if end > checkpoint_size {
                        let frames = block.frames().map_err(|detail| LedgerError::Corrupt {
                            path: r.path().to_path_buf(),
                            detail,
                        })?;
                        for f in frames.iter().filter(|f| f.index >= checkpoint_size) {
                            on_frame(f)?;
                        }
                    }
                    next = end;
                }
                Err(problem) => {
                    torn = Some((at, format!("{problem:?}")));
                    break;
                }
            }
        }
        let last = i + 1 == segs.len();
        if let Some((at, why)) = torn {
            if next < checkpoint_size {
                return Err(LedgerError::Corrupt { path: r.path().to_path_buf(), detail: format!("the block holding record {next} is damaged ({why}) but the checkpoint covers it; run `suho verify`") });
            }
            tracing::warn!(
                index = next,
                offset = at,
                why,
                "cutting off the torn tail of the write-ahead log"
            );
            fs::write(index_path(dir, first), &offsets).map_err(io_at(&index_path(dir, first)))?;
            for &later in &segs[i + 1..] {
                let p = segment_path(dir, later);
                tracing::warn!(path = %p.display(), "removing a write-ahead-log segment past the torn tail");
                fs::remove_file(&p).map_err(io_at(&p))?;
                let _ = fs::remove_file(index_path(dir, later));
            }
            return WalWriter::open_at(dir, first, at, next);
        }
        if last {
            if next < checkpoint_size {
                return Err(LedgerError::Corrupt {
                    path: r.path().to_path_buf(),
                    detail: format!(
                        "the log holds {next} records but the checkpoint covers {checkpoint_size}"
                    ),
                });
            }
            fs::write(index_path(dir, first), &offsets).map_err(io_at(&index_path(dir, first)))?;
            let len = r.offset;
            return WalWriter::open_at(dir, first, len, next);
        }
    }
    unreachable!("the loop returns at the last segment")
}

/// Read access to the log: by index, or sequentially.
pub struct WalReader {
    dir: PathBuf,
}

impl WalReader {
    /// Reader over the log in `dir` (`<data>/wal`).
    pub fn new(dir: &Path) -> WalReader {
        WalReader {
            dir: dir.to_path_buf(),
        }
    }

    /// Read the record at `index`.
    pub fn frame(&self, index: u64) -> Result<Frame, LedgerError> {
        let segs = list_segments(&self.dir)?;
        let Some(&first) = segs.iter().rev().find(|f| **f <= index) else {
            return Err(LedgerError::NotFound { index });
        };
        let ipath = index_path(&self.dir, first);
        let idx = fs::read(&ipath).map_err(io_at(&ipath))?;
        let rows: Vec<(u64, u64)> = idx
            .chunks_exact(16)
            .map(|c| {
                let mut a = [0u8; 8];
                let mut b = [0u8; 8];
                a.copy_from_slice(&c[..8]);
                b.copy_from_slice(&c[8..]);
                (u64::from_be_bytes(a), u64::from_be_bytes(b))
            })
            .collect();
        let Some(&(bfirst, offset)) = rows.iter().rev().find(|(f, _)| *f <= index) else {
            return Err(LedgerError::NotFound { index });
        };
        let mut r = SegmentReader::open(&self.dir, first)?;
        r.r.seek(SeekFrom::Start(offset)).map_err(io_at(&r.path))?;
        r.offset = offset;
        let path = r.path.clone();
        let block = match r.next_block(bfirst, true)? {
            Ok(b) => b,
            Err(p) => {
                return Err(LedgerError::Corrupt {
                    path,
                    detail: format!("block at record {bfirst}: {p:?}"),
                })
            }
        };
        let frames = block
            .frames()
            .map_err(|detail| LedgerError::Corrupt { path, detail })?;
        frames
            .into_iter()
            .find(|f| f.index == index)
            .ok_or(LedgerError::NotFound { index })
    }

    /// Visit every logged record from index `from` in order, until `f` returns false. Stops at
    /// the end of the log; a damaged block is an error.
    pub fn scan(&self, from: u64, mut f: impl FnMut(&Frame) -> bool) -> Result<(), LedgerError> {
        let segs = list_segments(&self.dir)?;
        let start = segs.iter().rposition(|s| *s <= from).unwrap_or(0);
        for &first in &segs[start..] {
            let mut r = SegmentReader::open(&self.dir, first)?;
            let mut next = first;
            while !r.at_end() {
                let block = match r.next_block(next, true)? {
                    Ok(b) => b,
                    Err(BlockProblem::Truncated) => return Ok(()),
                    Err(BlockProblem::Corrupt(d)) => {
                        return Err(LedgerError::Corrupt {
                            path: r.path.clone(),
                            detail: format!("block at record {next}: {d}"),
                        })
                    }
                };
                next += u64::from(block.count);
                if next <= from {
                    continue;
                }
                let frames = block.frames().map_err(|detail| LedgerError::Corrupt {
                    path: r.path.clone(),
                    detail,
                })?;
                for fr in frames.iter().filter(|fr| fr.index >= from) {
                    if !f(fr) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}
