//! The store: `<data>/leakcheck/hashes.bin`, every loaded identifier hash, sorted, in one file
//! that protects itself.
//!
//! # File format (version 1)
//!
//! | offset | size | what |
//! |---|---|---|
//! | 0 | 8 | magic `SUHOLEAK` |
//! | 8 | 4 | format version, little-endian `u32`: `1` |
//! | 12 | 4 | reserved, zero |
//! | 16 | 8 | number of hashes `n`, little-endian `u64` (at most 2^32 - 1) |
//! | 24 | 32 | SHA-256 of bytes 0..24 followed by the body |
//! | 56 | 8 | reserved, zero |
//! | 64 | 32 × n | the body: the hashes, strictly ascending as bytes (no duplicates) |
//!
//! The file is written whole to a temporary file in the same directory, fsynced, renamed into
//! place and the directory fsynced, so a reader sees the old store or the new one, never a
//! mixture. Its mode is 0600: hashes of phone numbers are easily reversed by trying every
//! number, so the file is as private as the contacts it came from.
//!
//! # Reading
//!
//! [`Store::open`] reads the file once: it checks the header, the length, the checksum and the
//! order, and builds an index of where each of the 2^20 ranges starts (4 MiB). A range query is
//! then one positioned read of exactly that range's hashes; the hashes themselves stay on disk
//! (a store of 33.7M hashes is 1.08 GB on disk and 4 MiB in memory). An open store keeps its
//! file open, so a load that replaces the file does not disturb it.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use suho_durable::{AtomicFile, Mode};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::hash::PREFIX_COUNT;
use crate::{Error, IdHash, Prefix};

/// Directory of the store inside the data directory.
pub const STORE_DIR: &str = "leakcheck";
/// File name of the store inside [`STORE_DIR`].
pub const STORE_FILE: &str = "hashes.bin";
/// Lock file taken by loads inside [`STORE_DIR`].
pub const LOCK_FILE: &str = "LOCK";
/// The first 8 bytes of a store file.
pub const MAGIC: &[u8; 8] = b"SUHOLEAK";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Size of the header in bytes.
pub const HEADER_LEN: u64 = 64;
/// A padded range response has at least this many lines, and a multiple of it.
pub const PADDING_STEP: usize = 16;

const HASH_LEN: u64 = 32;
/// Hashes read per `read` while opening (1 MiB).
const OPEN_CHUNK_HASHES: usize = 32 * 1024;

/// The path of the store in data directory `data_dir`.
pub fn store_path(data_dir: impl AsRef<Path>) -> PathBuf {
    data_dir.as_ref().join(STORE_DIR).join(STORE_FILE)
}

/// An open, verified store. Range queries take `&self` and may run from many threads at once.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    file: File,
    count: u64,
    /// `starts[p]` is the index of the first hash whose prefix is `p` or more; `2^20 + 1`
    /// entries, the last being `count`.
    starts: Vec<u32>,
    largest_range: u32,
}

impl Store {
    /// Opens and verifies the store file at `path` (magic, version, length, checksum, order).
    /// A file that fails any check is refused with [`Error::Corrupt`] saying which.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, Error> {
        let path = path.as_ref().to_path_buf();
        let corrupt = |reason: String| Error::Corrupt {
            path: path.clone(),
            reason,
        };
        let mut file = File::open(&path).map_err(Error::io(&path))?;
        let len = file.metadata().map_err(Error::io(&path))?.len();
        if len < HEADER_LEN {
            return Err(corrupt(format!(
                "{len} bytes, shorter than the {HEADER_LEN}-byte header"
            )));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut header).map_err(Error::io(&path))?;
        if &header[0..8] != MAGIC {
            return Err(corrupt("not a leak-check store (bad magic)".to_owned()));
        }
        let version = u32::from_le_bytes(le_bytes(&header[8..12]));
        if version != VERSION {
            return Err(corrupt(format!(
                "format version {version}; this build reads version {VERSION}"
            )));
        }
        if header[12..16] != [0; 4] || header[56..64] != [0; 8] {
            return Err(corrupt("reserved header bytes are not zero".to_owned()));
        }
        let count = u64::from_le_bytes(le_bytes(&header[16..24]));
        let want_len = count
            .checked_mul(HASH_LEN)
            .and_then(|b| b.checked_add(HEADER_LEN));
        if want_len != Some(len) {
            return Err(corrupt(format!(
                "{len} bytes, but the header says {count} hashes ({} bytes); the file is truncated or overwritten",
                want_len.map_or_else(|| "too many".to_owned(), |n| n.to_string())
            )));
        }
        if count > u64::from(u32::MAX) {
            return Err(corrupt(format!(
                "{count} hashes; a store holds at most {}",
                u32::MAX
            )));
        }
        let mut checksum = Sha256::new();
        checksum.update(&header[0..24]);
        let mut counts = vec![0u32; PREFIX_COUNT + 1];
        let mut previous: Option<IdHash> = None;
        let mut disorder: Option<u64> = None;
        let mut index = 0u64;
        let mut buf = vec![0u8; OPEN_CHUNK_HASHES * HASH_LEN as usize];
        while index < count {
            let n = (count - index).min(OPEN_CHUNK_HASHES as u64) as usize;
            let chunk = &mut buf[..n * HASH_LEN as usize];
            file.read_exact(chunk).map_err(Error::io(&path))?;
            checksum.update(&chunk[..]);
            for bytes in chunk.chunks_exact(HASH_LEN as usize) {
                let hash = IdHash(le_bytes(bytes));
                if disorder.is_none() && previous.is_some_and(|p| p >= hash) {
                    disorder = Some(index);
                }
                // `prefix()` is below 2^20 and `counts` has 2^20 + 1 entries.
                counts[hash.prefix().value() as usize + 1] += 1;
                previous = Some(hash);
                index += 1;
            }
        }
        let digest: [u8; 32] = checksum.finalize().into();
        if digest[..] != header[24..56] {
            return Err(corrupt(
                "checksum mismatch: the file was altered or damaged".to_owned(),
            ));
        }
        if let Some(i) = disorder {
            return Err(corrupt(format!(
                "hash {i} is not greater than the one before it (the hashes must be sorted, without duplicates)"
            )));
        }
        let largest_range = counts.iter().copied().max().unwrap_or(0);
        let mut starts = counts;
        for p in 1..starts.len() {
            starts[p] += starts[p - 1];
        }
        Ok(Store {
            path,
            file,
            count,
            starts,
            largest_range,
        })
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of hashes stored.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether the store holds no hash.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The number of hashes in the fullest range.
    pub fn largest_range(&self) -> usize {
        self.largest_range as usize
    }

    /// Every stored hash starting with `prefix`, ascending.
    pub fn range(&self, prefix: Prefix) -> Result<Vec<IdHash>, Error> {
        let p = prefix.value() as usize;
        // A `Prefix` is below 2^20 and `starts` has 2^20 + 1 entries.
        let (first, end) = (u64::from(self.starts[p]), u64::from(self.starts[p + 1]));
        self.read_hashes(first, end - first)
    }

    /// [`Store::range`] padded with random fake hashes of the same prefix to
    /// [`Store::padding_target`] lines, all sorted together, so the response's size says
    /// nothing about how many real hashes the range holds. The fakes come from the thread's
    /// cryptographically secure generator, so they cannot be told from real hashes.
    pub fn range_padded(&self, prefix: Prefix) -> Result<Vec<IdHash>, Error> {
        self.range_padded_with(prefix, &mut rand::thread_rng())
    }

    /// [`Store::range_padded`] with fakes drawn from `rng` (use a cryptographically secure one
    /// outside tests).
    pub fn range_padded_with(
        &self,
        prefix: Prefix,
        rng: &mut impl RngCore,
    ) -> Result<Vec<IdHash>, Error> {
        let real = self.range(prefix)?;
        Ok(pad(prefix, real, self.padding_target(), rng))
    }

    /// The number of lines of every padded response: the fullest range's count rounded up to a
    /// multiple of [`PADDING_STEP`] (at least one step).
    pub fn padding_target(&self) -> usize {
        self.largest_range().max(1).div_ceil(PADDING_STEP) * PADDING_STEP
    }

    /// Every stored hash, ascending.
    pub fn read_all(&self) -> Result<Vec<IdHash>, Error> {
        self.read_hashes(0, self.count)
    }

    fn read_hashes(&self, first: u64, n: u64) -> Result<Vec<IdHash>, Error> {
        let mut buf = vec![0u8; (n * HASH_LEN) as usize];
        self.file
            .read_exact_at(&mut buf, HEADER_LEN + first * HASH_LEN)
            .map_err(Error::io(&self.path))?;
        Ok(buf
            .chunks_exact(HASH_LEN as usize)
            .map(|c| IdHash(le_bytes(c)))
            .collect())
    }
}

/// Adds random fake hashes starting with `prefix` to `hashes` (which should all start with it)
/// until there are `target`, then sorts them all. Real hashes are never dropped or altered; a
/// response already at or over `target` only gets sorted.
pub fn pad(
    prefix: Prefix,
    hashes: Vec<IdHash>,
    target: usize,
    rng: &mut impl RngCore,
) -> Vec<IdHash> {
    let mut all: BTreeSet<IdHash> = hashes.into_iter().collect();
    while all.len() < target {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        prefix.stamp(&mut bytes);
        all.insert(IdHash(bytes));
    }
    all.into_iter().collect()
}

/// Writes `hashes` (sorted and deduplicated here) as a store file at `path`, atomically: a
/// reader sees the old file or the new one. Returns the number of distinct hashes written.
pub fn write_store(path: impl AsRef<Path>, mut hashes: Vec<IdHash>) -> Result<u64, Error> {
    let path = path.as_ref();
    hashes.sort_unstable();
    hashes.dedup();
    let count = hashes.len() as u64;
    if count > u64::from(u32::MAX) {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                ErrorKind::InvalidInput,
                format!("{count} hashes; a store holds at most {}", u32::MAX),
            ),
        });
    }
    let mut header = [0u8; HEADER_LEN as usize];
    header[0..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&count.to_le_bytes());
    let mut checksum = Sha256::new();
    checksum.update(&header[0..24]);
    for h in &hashes {
        checksum.update(h.0);
    }
    header[24..56].copy_from_slice(&checksum.finalize());

    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    write_file(path, &header, &hashes)?;
    Ok(count)
}

fn write_file(path: &Path, header: &[u8], hashes: &[IdHash]) -> Result<(), Error> {
    let durable = |e: suho_durable::Error| Error::Io {
        path: e.path,
        source: e.source,
    };
    // Owner-only: hashes of contact identifiers are personal data.
    let mut out = AtomicFile::create_with(path, Mode::Private).map_err(durable)?;
    out.write_all(header).map_err(Error::io(path))?;
    for h in hashes {
        out.write_all(&h.0).map_err(Error::io(path))?;
    }
    out.commit().map_err(durable)
}

/// Whether a load replaces the store or adds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// The new hashes become the whole store.
    Replace,
    /// The new hashes are added to those already stored.
    Merge,
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The store file written.
    pub path: PathBuf,
    /// Hashes in the store before the load (0 when there was none, or it was unreadable and
    /// replaced).
    pub before: u64,
    /// Distinct hashes given to this load.
    pub given: u64,
    /// Hashes in the store after the load.
    pub total: u64,
}

/// Builds the store of data directory `data_dir` from `hashes`, replacing it or merging into
/// it. Loads are serialised by an exclusive lock on `<data>/leakcheck/LOCK`. The old store stays
/// in place until the new one is complete and durable; a merge into a store that fails
/// verification is refused (replace it instead).
pub fn load(
    data_dir: impl AsRef<Path>,
    hashes: Vec<IdHash>,
    mode: LoadMode,
) -> Result<LoadReport, Error> {
    let dir = data_dir.as_ref().join(STORE_DIR);
    fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(Error::io(&dir))?;
    let _lock = lock(&dir)?;
    let path = dir.join(STORE_FILE);

    let mut new = hashes;
    new.sort_unstable();
    new.dedup();
    let given = new.len() as u64;

    let existing = match Store::open(&path) {
        Ok(store) => Some(store),
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => None,
        Err(e) if mode == LoadMode::Merge => return Err(e),
        // Replacing is the cure for a corrupt store.
        Err(Error::Corrupt { .. }) => None,
        Err(e) => return Err(e),
    };
    let before = existing.as_ref().map_or(0, Store::len);
    let all = match (mode, existing) {
        (LoadMode::Merge, Some(store)) => {
            let mut all = store.read_all()?;
            all.extend(new);
            all
        }
        _ => new,
    };
    let total = write_store(&path, all)?;
    Ok(LoadReport {
        path,
        before,
        given,
        total,
    })
}

/// Takes the loads' exclusive lock; released when the returned file is closed.
fn lock(dir: &Path) -> Result<File, Error> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(Error::io(&path))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| Error::Io {
        path: path.clone(),
        source: e.into(),
    })?;
    Ok(file)
}

/// The first `N` bytes of `b` as an array (`b` is always exactly `N` long at the call sites:
/// fixed header fields and `chunks_exact` pieces).
fn le_bytes<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}
