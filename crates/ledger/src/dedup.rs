//! The record-id index: a repeated producer `id` is stored once, also across restarts, while
//! memory stays bounded whatever the size of the ledger; a different record under a used id is
//! a conflict, stored like any record and reported as such, never dropped.
//!
//! Ids are fingerprinted (128 bits of SHA-256) and filed by the event hour of their record: a
//! retry carries the same record, hence the same hour. Each row also holds the first 128 bits
//! of the record body's SHA-256, taken from its entry (nothing is hashed again): a retry is the
//! same id with the same body, the same id with another body is a conflict. Each hour is a
//! bucket file of 40-byte rows (id fingerprint, ledger index, body fingerprint) under
//! `ids/<hour>.ids2`. Recent buckets stay in memory, least recently used ones are dropped past
//! a budget, and a bucket is read back from disk when a record of that hour arrives again. New
//! rows reach disk at each group commit (durable at the next checkpoint); rows for records
//! sequenced after the last checkpoint are rebuilt from the write-ahead log on recovery.
//!
//! Earlier versions wrote `ids/<hour>.ids`, 24-byte rows without the body fingerprint. Such a
//! file is converted when its hour is first used: each row's body fingerprint is read from its
//! entry in the tiles, the new file is made durable, and only then is the old one removed.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::entry::{ENTRY_LEN, ENTRY_SHA256_AT};
use crate::tilepath::TILE_WIDTH;
use crate::tiles::TileReader;
use crate::LedgerError;

/// Where a record's id is filed: its event hour and the id's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdKey {
    /// Event time in hours since the epoch.
    pub hour: i64,
    /// First 128 bits of SHA-256 over the id.
    pub fingerprint: u128,
}

impl IdKey {
    /// Key of a record with producer id `id` and event time `time_ms`.
    pub fn new(id: &str, time_ms: i64) -> IdKey {
        let d = Sha256::new_with_prefix(b"suho-id\0")
            .chain_update(id.as_bytes())
            .finalize();
        let mut fp = [0u8; 16];
        fp.copy_from_slice(&d[..16]);
        IdKey {
            hour: time_ms.div_euclid(3_600_000),
            fingerprint: u128::from_be_bytes(fp),
        }
    }
}

/// The first 128 bits of the SHA-256 of the body an encoded entry commits to.
pub(crate) fn body_fingerprint(entry: &[u8; ENTRY_LEN]) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&entry[ENTRY_SHA256_AT..ENTRY_SHA256_AT + 16]);
    u128::from_be_bytes(b)
}

/// Fingerprints are already uniformly distributed SHA-256 output, so hashing them again (as
/// SipHash would) only costs time on the per-record path; this hasher passes the low 64 bits
/// through (folding in a second fingerprint for a pair), and spreads hour numbers with one
/// multiply. std has no such hasher and a crate for a few lines is not worth a dependency.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = self.0.rotate_left(32) ^ v as u64;
    }
    /// Hours are consecutive numbers: a multiply (Fibonacci hashing) spreads them over the
    /// high bits, which the table also uses.
    fn write_i64(&mut self, v: i64) {
        self.0 = (v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Build = BuildHasherDefault<PassThrough>;

/// What filing a record under its id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filed {
    /// The id is new in its hour; the record is filed under it.
    New,
    /// The same id with the same body is stored at this index; nothing was filed.
    Duplicate(u64),
    /// The id is stored with another body, first at `first` (whose body fingerprint is
    /// `first_body`), and this body under it nowhere yet; the record is filed beside it.
    Conflict { first: u64, first_body: u128 },
}

/// One record filed under an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    index: u64,
    body: u128,
}

#[derive(Default)]
struct Bucket {
    /// The first record filed under each id.
    first: HashMap<u128, Row, Build>,
    /// Records filed later under an id with another body (conflicts), by (id, body): empty,
    /// and so unallocated, in almost every bucket.
    more: HashMap<(u128, u128), u64, Build>,
    /// Rows not yet on disk.
    pending: Vec<(u128, Row)>,
    last_used: u64,
}

impl Bucket {
    fn rows(&self) -> usize {
        self.first.len() + self.more.len()
    }

    /// File a row read back from disk. Rows are appended in ledger order, but the record with
    /// the lowest index is taken as the first whatever the order; a repeated row is ignored.
    fn add(&mut self, fp: u128, row: Row) {
        match self.first.entry(fp) {
            MapEntry::Vacant(v) => {
                v.insert(row);
            }
            MapEntry::Occupied(mut o) => {
                let later = if row.index < o.get().index {
                    std::mem::replace(o.get_mut(), row)
                } else {
                    row
                };
                if later.body != o.get().body {
                    self.more
                        .entry((fp, later.body))
                        .and_modify(|ix| *ix = (*ix).min(later.index))
                        .or_insert(later.index);
                }
            }
        }
    }
}

pub(crate) struct Dedup {
    dir: PathBuf,
    /// Entries of old-format rows are read from here when their file is converted.
    tiles: TileReader,
    /// Records whose entries the tiles hold (the newest checkpoint's size).
    tiled: u64,
    buckets: HashMap<i64, Bucket, Build>,
    resident_rows: usize,
    budget_rows: usize,
    clock: u64,
}

/// A row: id fingerprint, ledger index, body fingerprint.
const ROW: usize = 40;
/// A row written by earlier versions: id fingerprint, ledger index.
const LEGACY_ROW: usize = 24;

fn u128_at(b: &[u8]) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    u128::from_be_bytes(a)
}

fn u64_at(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn encode_row(fp: u128, row: Row, out: &mut Vec<u8>) {
    out.extend_from_slice(&fp.to_be_bytes());
    out.extend_from_slice(&row.index.to_be_bytes());
    out.extend_from_slice(&row.body.to_be_bytes());
}

impl Dedup {
    /// The index in `dir`; `tiles` reads the entries of the tree, of which a checkpoint
    /// covers the first `tiled`.
    pub(crate) fn open(
        dir: &Path,
        budget_rows: usize,
        tiles: TileReader,
        tiled: u64,
    ) -> Result<Dedup, LedgerError> {
        fs::create_dir_all(dir).map_err(|source| LedgerError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Dedup {
            dir: dir.to_path_buf(),
            tiles,
            tiled,
            buckets: HashMap::default(),
            resident_rows: 0,
            budget_rows,
            clock: 0,
        })
    }

    /// A checkpoint of `size` records was published: their entries are in the tiles.
    pub(crate) fn set_tiled(&mut self, size: u64) {
        self.tiled = self.tiled.max(size);
    }

    fn path(&self, hour: i64) -> PathBuf {
        self.dir.join(format!("{hour}.ids2"))
    }

    fn legacy_path(&self, hour: i64) -> PathBuf {
        self.dir.join(format!("{hour}.ids"))
    }

    /// File the record at `index` (key `key`, body fingerprint `body`) unless the same id
    /// with the same body is already filed.
    pub(crate) fn check_and_insert(
        &mut self,
        key: IdKey,
        body: u128,
        index: u64,
    ) -> Result<Filed, LedgerError> {
        let fp = key.fingerprint;
        let b = self.bucket(key.hour)?;
        let filed = match b.first.get(&fp) {
            None => {
                b.first.insert(fp, Row { index, body });
                Filed::New
            }
            Some(first) if first.body == body => return Ok(Filed::Duplicate(first.index)),
            Some(&first) => match b.more.entry((fp, body)) {
                MapEntry::Occupied(o) => return Ok(Filed::Duplicate(*o.get())),
                MapEntry::Vacant(v) => {
                    v.insert(index);
                    Filed::Conflict {
                        first: first.index,
                        first_body: first.body,
                    }
                }
            },
        };
        b.pending.push((fp, Row { index, body }));
        self.resident_rows += 1;
        Ok(filed)
    }

    /// The first record filed under `key`: its index and body fingerprint.
    pub(crate) fn first(&mut self, key: IdKey) -> Result<Option<(u64, u128)>, LedgerError> {
        let b = self.bucket(key.hour)?;
        Ok(b.first.get(&key.fingerprint).map(|r| (r.index, r.body)))
    }

    /// The bucket of `hour`, read back from disk (after making room) when not in memory.
    fn bucket(&mut self, hour: i64) -> Result<&mut Bucket, LedgerError> {
        self.clock += 1;
        if !self.buckets.contains_key(&hour) {
            self.evict();
            let b = self.read(hour)?;
            self.resident_rows += b.rows();
            self.buckets.insert(hour, b);
        }
        let b = self.buckets.entry(hour).or_default();
        b.last_used = self.clock;
        Ok(b)
    }

    fn read(&self, hour: i64) -> Result<Bucket, LedgerError> {
        let mut b = Bucket::default();
        let path = self.path(hour);
        match fs::read(&path) {
            Ok(bytes) => {
                // A torn last row (crash while appending) is ignored: its record is past the
                // checkpoint and is re-filed from the write-ahead log.
                for row in bytes.chunks_exact(ROW) {
                    b.add(
                        u128_at(row),
                        Row {
                            index: u64_at(&row[16..]),
                            body: u128_at(&row[24..]),
                        },
                    );
                }
                // Left behind when a conversion stopped after making the new file durable.
                remove_legacy(&self.legacy_path(hour));
                return Ok(b);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(LedgerError::Io { path, source }),
        }
        let legacy = self.legacy_path(hour);
        match fs::read(&legacy) {
            Ok(bytes) => self.convert(hour, &bytes, &mut b)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(LedgerError::Io {
                    path: legacy,
                    source,
                })
            }
        }
        Ok(b)
    }

    /// Convert the old-format rows `bytes` of `hour` into `b` and its new file: each row's
    /// body fingerprint comes from its entry in the tiles. Rows of records past the
    /// checkpoint (whose tiles may not exist yet) are left out: recovery files those again
    /// from the write-ahead log right after. The new file is durable before the old one goes.
    fn convert(&self, hour: i64, bytes: &[u8], b: &mut Bucket) -> Result<(), LedgerError> {
        let legacy = self.legacy_path(hour);
        let mut out = Vec::with_capacity(bytes.len() / LEGACY_ROW * ROW);
        // Rows come in ledger order: one bundle read serves up to 256 of them.
        let mut bundle: Option<(u64, Vec<[u8; ENTRY_LEN]>)> = None;
        for row in bytes.chunks_exact(LEGACY_ROW) {
            let (fp, index) = (u128_at(row), u64_at(&row[16..]));
            if index >= self.tiled {
                continue;
            }
            let tile = index / TILE_WIDTH;
            if bundle.as_ref().map(|(t, _)| *t) != Some(tile) {
                // Every entry of the tile that the checkpoint covers.
                let width = (self.tiled - tile * TILE_WIDTH).min(TILE_WIDTH);
                bundle = Some((tile, self.tiles.read_bundle(tile, width)?));
            }
            let entries = bundle.as_ref().map_or(&[][..], |(_, e)| e.as_slice());
            let Some(entry) = entries.get((index % TILE_WIDTH) as usize) else {
                return Err(LedgerError::Corrupt {
                    path: legacy,
                    detail: format!(
                        "converting the id row of record {index}: its entry bundle holds only {} entries",
                        entries.len()
                    ),
                });
            };
            let row = Row {
                index,
                body: body_fingerprint(entry),
            };
            encode_row(fp, row, &mut out);
            b.add(fp, row);
        }
        crate::write_atomic(&self.path(hour), &out)?;
        remove_legacy(&legacy);
        tracing::info!(
            hour,
            rows = out.len() / ROW,
            "converted an id index file to rows with body fingerprints"
        );
        Ok(())
    }

    /// Append the pending rows of records below `durable` (already fsynced in the write-ahead
    /// log) to their bucket files, made durable by the next checkpoint's sync, then drop least
    /// recently used buckets while over budget. Rows of records not yet durable stay pending:
    /// written now, they would survive a crash that cut their records off, and a retry of
    /// such a record would be taken for a duplicate of a record that no longer exists.
    pub(crate) fn flush(&mut self, durable: u64) -> Result<(), LedgerError> {
        let dir = self.dir.clone();
        let mut out = Vec::new();
        for (hour, b) in self.buckets.iter_mut() {
            if !b.pending.iter().any(|&(_, r)| r.index < durable) {
                continue;
            }
            let path = dir.join(format!("{hour}.ids2"));
            out.clear();
            for &(fp, r) in b.pending.iter().filter(|&&(_, r)| r.index < durable) {
                encode_row(fp, r, &mut out);
            }
            append_rows(&path, &out).map_err(|source| LedgerError::Io { path, source })?;
            // Only once written: a failed write keeps them pending (and the bucket resident).
            // A new Vec, not `retain`: a drained Vec keeps its capacity, and one per hour
            // bucket held as much memory again as the resident rows themselves.
            b.pending = b
                .pending
                .iter()
                .copied()
                .filter(|&(_, r)| r.index >= durable)
                .collect();
        }
        self.evict();
        Ok(())
    }

    /// Drop least recently used buckets while over budget, keeping the most recent one.
    fn evict(&mut self) {
        while self.resident_rows > self.budget_rows && self.buckets.len() > 1 {
            // Only buckets whose rows are all in their file can be read back later.
            let Some((&oldest, _)) = self
                .buckets
                .iter()
                .filter(|(_, b)| b.pending.is_empty())
                .min_by_key(|(_, b)| b.last_used)
            else {
                break;
            };
            if let Some(b) = self.buckets.remove(&oldest) {
                self.resident_rows -= b.rows();
            }
        }
    }
}

/// Remove a converted old-format file. Best effort: while it is there, the new file is read
/// instead and the removal tried again.
fn remove_legacy(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a converted id index file")
        }
    }
}

/// Append whole rows to a bucket file, first cutting off a torn last row (a crash, or a failed
/// write whose rows stayed pending, in the middle of an append) so that every row stays
/// aligned. One `fstat` per bucket written per group commit.
fn append_rows(path: &Path, rows: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let whole = len - len % ROW as u64;
    if whole != len {
        f.set_len(whole)?;
    }
    f.seek(SeekFrom::Start(whole))?;
    f.write_all(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, budget: usize) -> Dedup {
        let tiles = TileReader::new(&dir.join("no-tiles"));
        Dedup::open(dir, budget, tiles, 0).expect("open")
    }

    #[test]
    fn ids_are_found_after_eviction_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = open(dir.path(), 2);
        let hour = |h: i64| h * 3_600_000;
        for (i, h) in [0i64, 1, 2, 3].iter().enumerate() {
            assert_eq!(
                d.check_and_insert(IdKey::new("a", hour(*h)), 7, i as u64)
                    .expect("insert"),
                Filed::New
            );
        }
        d.flush(u64::MAX).expect("flush");
        assert!(d.buckets.len() < 4, "old buckets were evicted");
        // Hour 0 was evicted; it is read back from disk, body fingerprints and all.
        assert_eq!(
            d.check_and_insert(IdKey::new("a", hour(0) + 5), 7, 9)
                .expect("lookup"),
            Filed::Duplicate(0)
        );
        assert_eq!(
            d.check_and_insert(IdKey::new("a", hour(0) + 5), 8, 9)
                .expect("lookup"),
            Filed::Conflict {
                first: 0,
                first_body: 7
            }
        );
        d.flush(u64::MAX).expect("flush");
        let mut again = open(dir.path(), 100);
        assert_eq!(
            again
                .check_and_insert(IdKey::new("a", hour(3)), 7, 10)
                .expect("lookup"),
            Filed::Duplicate(3)
        );
        assert_eq!(
            again
                .check_and_insert(IdKey::new("b", hour(3)), 7, 11)
                .expect("insert"),
            Filed::New
        );
        assert_eq!(
            again
                .check_and_insert(IdKey::new("a", hour(0)), 8, 12)
                .expect("lookup"),
            Filed::Duplicate(9),
            "the conflicting version was filed too"
        );
    }

    #[test]
    fn the_lowest_index_is_the_first_whatever_the_order_of_rows() {
        let mut b = Bucket::default();
        b.add(1, Row { index: 5, body: 50 });
        b.add(1, Row { index: 2, body: 20 });
        b.add(1, Row { index: 2, body: 20 });
        assert_eq!(b.first.get(&1), Some(&Row { index: 2, body: 20 }));
        assert_eq!(b.more.get(&(1, 50)), Some(&5));
        assert_eq!(b.rows(), 2, "a repeated row is not counted twice");
    }

    #[test]
    fn every_version_of_an_id_is_remembered() {
        // Someone sending thousands of bodies under one id: each is a conflict with the
        // first (found by one lookup of id and body), and a retry of any a duplicate of it.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = open(dir.path(), 1_000_000);
        let key = IdKey::new("x", 0);
        for i in 0..10_000u64 {
            let want = if i == 0 {
                Filed::New
            } else {
                Filed::Conflict {
                    first: 0,
                    first_body: 0,
                }
            };
            assert_eq!(
                d.check_and_insert(key, u128::from(i), i).expect("file"),
                want
            );
        }
        assert_eq!(
            d.check_and_insert(key, 4321, 10_000).expect("file"),
            Filed::Duplicate(4321)
        );
    }
}
