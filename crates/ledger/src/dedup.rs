//! The record-id index: a repeated producer `id` is stored once, also across restarts, while
//! memory stays bounded whatever the size of the ledger.
//!
//! Ids are fingerprinted (128 bits of SHA-256) and filed by the event hour of their record: a
//! retry carries the same record, hence the same hour. Each hour is a bucket file of 24-byte
//! rows (fingerprint, ledger index) under `ids/`. Recent buckets stay in memory, least recently
//! used ones are dropped past a budget, and a bucket is read back from disk when a record of
//! that hour arrives again. New rows reach disk at each checkpoint; rows for records sequenced
//! after the last checkpoint are rebuilt from the write-ahead log on recovery.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

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

/// Fingerprints are already uniformly distributed SHA-256 output, so hashing them again (as
/// SipHash would) only costs time on the per-record path; this hasher passes the low 64 bits
/// through, and spreads hour numbers with one multiply. std has no such hasher and a crate for
/// a few lines is not worth a dependency.
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
        self.0 = v as u64;
    }
    /// Hours are consecutive numbers: a multiply (Fibonacci hashing) spreads them over the
    /// high bits, which the table also uses.
    fn write_i64(&mut self, v: i64) {
        self.0 = (v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type FpMap = HashMap<u128, u64, BuildHasherDefault<PassThrough>>;

struct Bucket {
    rows: FpMap,
    /// Rows not yet on disk.
    pending: Vec<(u128, u64)>,
    last_used: u64,
}

pub(crate) struct Dedup {
    dir: PathBuf,
    buckets: HashMap<i64, Bucket, BuildHasherDefault<PassThrough>>,
    resident_rows: usize,
    budget_rows: usize,
    clock: u64,
}

const ROW: usize = 24;

impl Dedup {
    pub(crate) fn open(dir: &Path, budget_rows: usize) -> Result<Dedup, LedgerError> {
        fs::create_dir_all(dir).map_err(|source| LedgerError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Dedup {
            dir: dir.to_path_buf(),
            buckets: HashMap::default(),
            resident_rows: 0,
            budget_rows,
            clock: 0,
        })
    }

    fn path(&self, hour: i64) -> PathBuf {
        self.dir.join(format!("{hour}.ids"))
    }

    /// The index already stored under `key`, or record `index` as its owner and return None.
    pub(crate) fn check_and_insert(
        &mut self,
        key: IdKey,
        index: u64,
    ) -> Result<Option<u64>, LedgerError> {
        self.clock += 1;
        if !self.buckets.contains_key(&key.hour) {
            self.load(key.hour)?;
        }
        let clock = self.clock;
        let Some(b) = self.buckets.get_mut(&key.hour) else {
            unreachable!("load() just inserted this bucket")
        };
        b.last_used = clock;
        if let Some(&existing) = b.rows.get(&key.fingerprint) {
            return Ok(Some(existing));
        }
        b.rows.insert(key.fingerprint, index);
        b.pending.push((key.fingerprint, index));
        self.resident_rows += 1;
        Ok(None)
    }

    fn load(&mut self, hour: i64) -> Result<(), LedgerError> {
        let path = self.path(hour);
        let mut rows = FpMap::default();
        match fs::read(&path) {
            Ok(bytes) => {
                // A torn last row (crash while appending) is ignored: its record is past the
                // checkpoint and is re-filed from the write-ahead log.
                for row in bytes.chunks_exact(ROW) {
                    let mut fp = [0u8; 16];
                    fp.copy_from_slice(&row[..16]);
                    let mut ix = [0u8; 8];
                    ix.copy_from_slice(&row[16..]);
                    rows.entry(u128::from_be_bytes(fp))
                        .or_insert(u64::from_be_bytes(ix));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(LedgerError::Io { path, source }),
        }
        self.resident_rows += rows.len();
        self.buckets.insert(
            hour,
            Bucket {
                rows,
                pending: Vec::new(),
                last_used: self.clock,
            },
        );
        Ok(())
    }

    /// Append the pending rows of records below `durable` (already fsynced in the write-ahead
    /// log) to their bucket files, made durable by the next checkpoint's sync, then drop least
    /// recently used buckets while over budget. Rows of records not yet durable stay pending:
    /// written now, they would survive a crash that cut their records off, and a retry of
    /// such a record would be taken for a duplicate of a record that no longer exists.
    pub(crate) fn flush(&mut self, durable: u64) -> Result<(), LedgerError> {
        let mut row = [0u8; ROW];
        let dir = self.dir.clone();
        for (hour, b) in self.buckets.iter_mut() {
            if !b.pending.iter().any(|&(_, ix)| ix < durable) {
                continue;
            }
            let path = dir.join(format!("{hour}.ids"));
            let mut out = Vec::with_capacity(b.pending.len() * ROW);
            for &(fp, ix) in b.pending.iter().filter(|&&(_, ix)| ix < durable) {
                row[..16].copy_from_slice(&fp.to_be_bytes());
                row[16..].copy_from_slice(&ix.to_be_bytes());
                out.extend_from_slice(&row);
            }
            append_rows(&path, &out).map_err(|source| LedgerError::Io { path, source })?;
            // Only once written: a failed write keeps them pending (and the bucket resident).
            // A new Vec, not `retain`: a drained Vec keeps its capacity, and one per hour
            // bucket held as much memory again as the resident rows themselves.
            b.pending = b
                .pending
                .iter()
                .copied()
                .filter(|&(_, ix)| ix >= durable)
                .collect();
        }
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
                self.resident_rows -= b.rows.len();
            }
        }
        Ok(())
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

    #[test]
    fn ids_are_found_after_eviction_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Dedup::open(dir.path(), 2).expect("open");
        let hour = |h: i64| h * 3_600_000;
        for (i, h) in [0i64, 1, 2, 3].iter().enumerate() {
            assert_eq!(
                d.check_and_insert(IdKey::new("a", hour(*h)), i as u64)
                    .expect("insert"),
                None
            );
        }
        d.flush(u64::MAX).expect("flush");
        assert!(d.buckets.len() < 4, "old buckets were evicted");
        // Hour 0 was evicted; it is read back from disk.
        assert_eq!(
            d.check_and_insert(IdKey::new("a", hour(0) + 5), 9)
                .expect("lookup"),
            Some(0)
        );
        let mut again = Dedup::open(dir.path(), 100).expect("reopen");
        assert_eq!(
            again
                .check_and_insert(IdKey::new("a", hour(3)), 10)
                .expect("lookup"),
            Some(3)
        );
        assert_eq!(
            again
                .check_and_insert(IdKey::new("b", hour(3)), 11)
                .expect("insert"),
            None
        );
    }
}
