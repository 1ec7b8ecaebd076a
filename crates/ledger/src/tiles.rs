//! Hash tiles and entry bundles on disk, in the C2SP tlog-tiles layout, so that a plain static
//! file server can publish the log and existing tlog-tiles clients can read it.
//!
//! Tile level `L` holds the hashes of tree level `8 * L`, 256 to a tile. Full tiles are written
//! as soon as they fill; partial tiles (`.p/<W>`) only at checkpoints, for the checkpoint's
//! size. Partial tiles are removed once the full tile exists and a checkpoint covers it.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use suho_merkle::{Hash, NodeSource};

use crate::entry::ENTRY_LEN;
use crate::tilepath::{bundle_path, tile_path, TILE_WIDTH};
use crate::LedgerError;

/// Width of tile `index` of tile level `level` in a tree of `size` leaves (0 when it is empty).
pub fn tile_width(size: u64, level: u8, index: u64) -> u64 {
    let nodes = if u32::from(level) * 8 >= 64 {
        0
    } else {
        size >> (u32::from(level) * 8)
    };
    nodes.saturating_sub(index * TILE_WIDTH).min(TILE_WIDTH)
}

/// Write `bytes` to `root/rel`, creating parent directories when needed.
pub(crate) fn write_file(root: &Path, rel: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let path = root.join(rel);
    let res = match File::create(&path) {
        Ok(mut f) => f.write_all(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|source| LedgerError::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            File::create(&path).and_then(|mut f| f.write_all(bytes))
        }
        Err(e) => Err(e),
    };
    res.map_err(|source| LedgerError::Io { path, source })
}

/// Remove the full tiles `from, from + 1, ...` (named by `path`) until one does not exist.
fn remove_from(root: &Path, from: u64, path: impl Fn(u64) -> PathBuf) -> Result<(), LedgerError> {
    let mut t = from;
    loop {
        let p = root.join(path(t));
        match fs::remove_file(&p) {
            Ok(()) => t += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(LedgerError::Io { path: p, source }),
        }
    }
}

/// The right edge of every tile level plus the current entry bundle, kept in memory.
pub(crate) struct TileWriter {
    root: PathBuf,
    /// For each tile level, the hashes of its rightmost (incomplete) tile.
    edge: Vec<Vec<Hash>>,
    /// Encoded entries of the rightmost (incomplete) bundle.
    bundle: Vec<u8>,
    bundle_count: u64,
    /// Tiles (level, index; level 255 = entry bundle) completed since the last checkpoint, whose partial
    /// versions can go once a checkpoint covers the full tile.
    completed: Vec<(u8, u64)>,
    /// Tiles (as in `completed`) that have partial versions on disk: only these are pruned,
    /// so a checkpoint costs nothing per tile that was never partial at a checkpoint.
    partial: HashSet<(u8, u64)>,
    buf: Vec<u8>,
}

const BUNDLE_LEVEL: u8 = u8::MAX;

impl TileWriter {
    /// Resume at a checkpointed `size`, loading the right edge of its tiles: from the partial
    /// tiles written for it or, when those are gone, the full tiles that hold it (a reseal
    /// can resume at an older checkpoint whose partial tiles were pruned).
    pub(crate) fn resume(root: &Path, size: u64) -> Result<TileWriter, LedgerError> {
        let reader = TileReader::new(root);
        let mut edge = Vec::new();
        let mut partial = HashSet::new();
        let mut level = 0u8;
        while level < 8 && (size >> (u32::from(level) * 8)) > 0 {
            let nodes = size >> (u32::from(level) * 8);
            let t = nodes / TILE_WIDTH;
            let w = nodes % TILE_WIDTH;
            let mut hashes = if w == 0 {
                Vec::new()
            } else {
                partial.insert((level, t));
                let bytes = reader.read_edge(&tile_path(level, t, TILE_WIDTH), w, 32)?;
                bytes
                    .chunks_exact(32)
                    .map(|c| {
                        let mut h = [0u8; 32];
                        h.copy_from_slice(c);
                        h
                    })
                    .collect()
            };
            hashes.truncate(w as usize);
            edge.push(hashes);
            level += 1;
        }
        let w = size % TILE_WIDTH;
        let mut bundle = Vec::with_capacity(TILE_WIDTH as usize * (ENTRY_LEN + 2));
        if w > 0 {
            let t = size / TILE_WIDTH;
            partial.insert((BUNDLE_LEVEL, t));
            let full = bundle_path(t, TILE_WIDTH);
            let (entries, damage) = parse_bundle(&reader.read_edge(&full, w, 0)?);
            if (entries.len() as u64) < w {
                return Err(LedgerError::Corrupt {
                    path: root.join(full),
                    detail: format!(
                        "holds {} whole entries, the checkpoint needs {w}: {}",
                        entries.len(),
                        damage.unwrap_or_else(|| "truncated".into())
                    ),
                });
            }
            for e in entries.iter().take(w as usize) {
                bundle.extend_from_slice(&(ENTRY_LEN as u16).to_be_bytes());
                bundle.extend_from_slice(e);
            }
        }
        // Full tiles written past the checkpoint before a crash may hold hashes of records
        // lost with the torn tail: remove them; re-integrated records write them again.
        for level in 0..8u8 {
            let full = (size >> (u32::from(level) * 8)) / TILE_WIDTH;
            remove_from(root, full, |t| tile_path(level, t, TILE_WIDTH))?;
        }
        remove_from(root, size / TILE_WIDTH, |t| bundle_path(t, TILE_WIDTH))?;
        Ok(TileWriter {
            root: root.to_path_buf(),
            edge,
            bundle,
            bundle_count: w,
            completed: Vec::new(),
            partial,
            buf: Vec::with_capacity(8192),
        })
    }

    /// A node of the tree was completed (from `CompactRange::append`).
    pub(crate) fn on_node(
        &mut self,
        level: u8,
        index: u64,
        hash: &Hash,
    ) -> Result<(), LedgerError> {
        if !level.is_multiple_of(8) {
            return Ok(());
        }
        let l = (level / 8) as usize;
        if self.edge.len() <= l {
            self.edge.resize_with(l + 1, Vec::new);
        }
        let tile = &mut self.edge[l];
        tile.push(*hash);
        if tile.len() as u64 == TILE_WIDTH {
            self.buf.clear();
            for h in tile.iter() {
                self.buf.extend_from_slice(h);
            }
            tile.clear();
            let t = index / TILE_WIDTH;
            write_file(&self.root, &tile_path(l as u8, t, TILE_WIDTH), &self.buf)?;
            self.completed.push((l as u8, t));
        }
        Ok(())
    }

    /// An entry was appended at `index`.
    pub(crate) fn on_entry(
        &mut self,
        index: u64,
        entry: &[u8; ENTRY_LEN],
    ) -> Result<(), LedgerError> {
        self.bundle
            .extend_from_slice(&(ENTRY_LEN as u16).to_be_bytes());
        self.bundle.extend_from_slice(entry);
        self.bundle_count += 1;
        if self.bundle_count == TILE_WIDTH {
            let t = index / TILE_WIDTH;
            write_file(&self.root, &bundle_path(t, TILE_WIDTH), &self.bundle)?;
            self.bundle.clear();
            self.bundle_count = 0;
            self.completed.push((BUNDLE_LEVEL, t));
        }
        Ok(())
    }

    /// Write the partial tiles and bundle of a tree of `size` (called before a checkpoint).
    pub(crate) fn write_partials(&mut self, size: u64) -> Result<(), LedgerError> {
        for (l, tile) in self.edge.iter().enumerate() {
            if tile.is_empty() {
                continue;
            }
            let nodes = size >> (l as u32 * 8);
            self.buf.clear();
            for h in tile {
                self.buf.extend_from_slice(h);
            }
            // Recorded first, so that a failed write's directory is still pruned later.
            self.partial.insert((l as u8, nodes / TILE_WIDTH));
            write_file(
                &self.root,
                &tile_path(l as u8, nodes / TILE_WIDTH, tile.len() as u64),
                &self.buf,
            )?;
        }
        if self.bundle_count > 0 {
            self.partial.insert((BUNDLE_LEVEL, size / TILE_WIDTH));
            write_file(
                &self.root,
                &bundle_path(size / TILE_WIDTH, self.bundle_count),
                &self.bundle,
            )?;
        }
        Ok(())
    }

    /// Remove partial tiles made obsolete by full tiles that the checkpoint of `size` covers;
    /// tiles completed past it keep their partial versions until a checkpoint covers them.
    pub(crate) fn prune_partials(&mut self, size: u64) {
        let (done, later) = std::mem::take(&mut self.completed)
            .into_iter()
            .partition::<Vec<_>, _>(|&(level, index)| covered(level, index, size));
        self.completed = later;
        for (level, index) in done {
            if !self.partial.remove(&(level, index)) {
                continue;
            }
            let full = if level == BUNDLE_LEVEL {
                bundle_path(index, TILE_WIDTH)
            } else {
                tile_path(level, index, TILE_WIDTH)
            };
            // Best effort: a leftover partial tile is harmless, clients prefer the full one.
            let _ = fs::remove_dir_all(partial_dir(&self.root.join(full)));
        }
    }
}

/// Whether a tree of `size` leaves holds every hash of full tile `(level, index)` (level
/// [`BUNDLE_LEVEL`]: entry bundle `index`).
fn covered(level: u8, index: u64, size: u64) -> bool {
    let leaves_per_tile = if level == BUNDLE_LEVEL {
        TILE_WIDTH
    } else {
        // A level-L tile holds 256 hashes of tree level 8L, each over 256^L leaves.
        TILE_WIDTH.saturating_pow(u32::from(level) + 1)
    };
    index
        .checked_add(1)
        .and_then(|n| n.checked_mul(leaves_per_tile))
        .is_some_and(|end| end <= size)
}

/// Reads hash tiles and bundles; a [`NodeSource`] for proofs.
pub struct TileReader {
    root: PathBuf,
}

impl TileReader {
    /// Reader over the tiles under `root` (`<data>/ledger`).
    pub fn new(root: &Path) -> TileReader {
        TileReader {
            root: root.to_path_buf(),
        }
    }

    /// Read at least the first `min_width` hashes of tile `(level, index)`: the full tile, or the
    /// narrowest partial tile that is wide enough.
    pub fn read_tile(
        &self,
        level: u8,
        index: u64,
        min_width: u64,
    ) -> Result<Vec<Hash>, LedgerError> {
        let bytes = self.read_at_least(&tile_path(level, index, TILE_WIDTH), min_width, 32)?;
        Ok(bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect())
    }

    /// Read the entries bundle `index` (at least `min_width` entries), returning raw entries.
    pub fn read_bundle(
        &self,
        index: u64,
        min_width: u64,
    ) -> Result<Vec<[u8; ENTRY_LEN]>, LedgerError> {
        let full = bundle_path(index, TILE_WIDTH);
        let path = self.root.join(&full);
        let bytes = self.read_at_least(&full, min_width, 0)?;
        match parse_bundle(&bytes) {
            (entries, None) => Ok(entries),
            (_, Some(detail)) => Err(LedgerError::Corrupt { path, detail }),
        }
    }

    /// Like [`TileReader::read_bundle`], but returns the whole entries before a damaged or
    /// truncated one, with what is wrong after them.
    pub fn read_bundle_prefix(
        &self,
        index: u64,
        min_width: u64,
    ) -> Result<(Vec<[u8; ENTRY_LEN]>, Option<String>), LedgerError> {
        let full = bundle_path(index, TILE_WIDTH);
        let bytes = self.read_at_least(&full, min_width, 0)?;
        Ok(parse_bundle(&bytes))
    }

    fn read_at_least(
        &self,
        full: &Path,
        min_width: u64,
        item: usize,
    ) -> Result<Vec<u8>, LedgerError> {
        let path = self.root.join(full);
        match read_capped(&path) {
            Ok(b) => return check_len(&path, b, TILE_WIDTH, item),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(LedgerError::Io { path, source }),
        }
        self.read_partial(full, min_width, item)?
            .ok_or_else(|| missing(&path, min_width))
    }

    /// Like [`TileReader::read_at_least`], but a partial tile first: the right edge of a
    /// checkpoint's tree, where a full tile may be one a crash left half-written.
    fn read_edge(&self, full: &Path, min_width: u64, item: usize) -> Result<Vec<u8>, LedgerError> {
        if let Some(b) = self.read_partial(full, min_width, item)? {
            return Ok(b);
        }
        let path = self.root.join(full);
        match read_capped(&path) {
            Ok(b) => check_len(&path, b, TILE_WIDTH, item),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing(&path, min_width)),
            Err(source) => Err(LedgerError::Io { path, source }),
        }
    }

    /// The narrowest partial version of the tile `full` at least `min_width` wide.
    fn read_partial(
        &self,
        full: &Path,
        min_width: u64,
        item: usize,
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        let pdir = partial_dir(&self.root.join(full));
        let mut widths: Vec<u64> = match fs::read_dir(&pdir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|w| (1..=TILE_WIDTH).contains(w)) // anything else is not a partial
                .collect(),
            Err(_) => Vec::new(),
        };
        widths.sort_unstable();
        match widths.into_iter().find(|w| *w >= min_width) {
            Some(w) => {
                let p = pdir.join(w.to_string());
                let b = read_capped(&p).map_err(|source| LedgerError::Io {
                    path: p.clone(),
                    source,
                })?;
                check_len(&p, b, w, item).map(Some)
            }
            None => Ok(None),
        }
    }
}

fn missing(path: &Path, min_width: u64) -> LedgerError {
    LedgerError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("missing (no full tile and no partial tile of width >= {min_width})"),
    }
}

/// The directory of the partial versions of the tile at `full`: `<full>.p`.
fn partial_dir(full: &Path) -> PathBuf {
    let mut p = full.as_os_str().to_owned();
    p.push(".p");
    PathBuf::from(p)
}

/// Remove what the tiles hold past a tree of `size` leaves, for trees of up to `bound` leaves:
/// partial versions of its edge tiles wider than its edge, and every tile after them. A reseal
/// rebuilds that part from the write-ahead log; tiles of another history left there would be
/// read by proofs for the sizes in between (a reader takes the narrowest partial tile that is
/// wide enough).
pub(crate) fn remove_past(root: &Path, size: u64, bound: u64) -> Result<(), LedgerError> {
    if size == 0 {
        let dir = root.join("tile");
        return match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(LedgerError::Io { path: dir, source }),
        };
    }
    for level in 0..8u8 {
        let shift = u32::from(level) * 8;
        remove_after(root, size >> shift, bound >> shift, |t| {
            tile_path(level, t, TILE_WIDTH)
        })?;
    }
    remove_after(root, size, bound, |t| bundle_path(t, TILE_WIDTH))
}

/// [`remove_past`] for one tile level holding `nodes` of a tree (`bound` at most); `path`
/// names full tile `t`.
fn remove_after(
    root: &Path,
    nodes: u64,
    bound: u64,
    path: impl Fn(u64) -> PathBuf,
) -> Result<(), LedgerError> {
    let remove = |p: PathBuf| match fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(LedgerError::Io { path: p, source }),
    };
    let remove_partials = |full: &Path, keep: u64| -> Result<(), LedgerError> {
        let dir = partial_dir(&root.join(full));
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(LedgerError::Io { path: dir, source }),
        };
        for e in rd {
            let e = e.map_err(|source| LedgerError::Io {
                path: dir.clone(),
                source,
            })?;
            let width = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok());
            if width.is_none_or(|w| w > keep) {
                remove(e.path())?;
            }
        }
        Ok(())
    };
    let edge = nodes / TILE_WIDTH;
    remove_partials(&path(edge), nodes % TILE_WIDTH)?;
    if nodes.is_multiple_of(TILE_WIDTH) {
        remove(root.join(path(edge)))?;
    }
    for t in edge + 1..=bound / TILE_WIDTH {
        remove(root.join(path(t)))?;
        remove_partials(&path(t), 0)?;
    }
    Ok(())
}

/// No tile or bundle suho writes comes near this; a longer file (or a device such as
/// `/dev/zero` in its place) is read only this far, and then fails its length check.
const MAX_TILE_BYTES: u64 = 1 << 20;

/// The file at `path`, read at most [`MAX_TILE_BYTES`] + 1 bytes far: tiles may come from a
/// bundle or a directory someone else prepared.
fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    // Opening a named pipe blocks until someone writes to it: look before opening.
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file, so not a tile",
        ));
    }
    let mut b = Vec::new();
    File::open(path)?
        .take(MAX_TILE_BYTES + 1)
        .read_to_end(&mut b)?;
    Ok(b)
}

fn check_len(path: &Path, b: Vec<u8>, width: u64, item: usize) -> Result<Vec<u8>, LedgerError> {
    if b.len() as u64 > MAX_TILE_BYTES {
        return Err(LedgerError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("over {MAX_TILE_BYTES} bytes: not a tile"),
        });
    }
    if item > 0 && b.len() as u64 != width * item as u64 {
        return Err(LedgerError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{} bytes, expected {}", b.len(), width * item as u64),
        });
    }
    Ok(b)
}

/// Split an entry bundle into its entries.
pub(crate) fn parse_bundle(bytes: &[u8]) -> (Vec<[u8; ENTRY_LEN]>, Option<String>) {
    let mut out = Vec::with_capacity(TILE_WIDTH as usize);
    let mut at = 0;
    while at < bytes.len() {
        if bytes.len() - at < 2 {
            return (out, Some(format!("truncated length prefix at byte {at}")));
        }
        let len = u16::from_be_bytes([bytes[at], bytes[at + 1]]) as usize;
        at += 2;
        if len != ENTRY_LEN || bytes.len() - at < len {
            let what = format!(
                "entry {} at byte {}: length {len}, expected {ENTRY_LEN} (truncated or altered)",
                out.len(),
                at - 2
            );
            return (out, Some(what));
        }
        let mut e = [0u8; ENTRY_LEN];
        e.copy_from_slice(&bytes[at..at + len]);
        out.push(e);
        at += len;
    }
    (out, None)
}

impl NodeSource for TileReader {
    type Error = LedgerError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let tl = level / 8;
        let r = u32::from(level % 8);
        let first = index << r;
        let count = 1u64 << r;
        let t = first / TILE_WIDTH;
        let off = (first % TILE_WIDTH) as usize;
        let tile = self.read_tile(tl, t, off as u64 + count)?;
        // read_tile returned at least off + count hashes, and count is a power of two.
        tile.get(off..off + count as usize)
            .and_then(suho_merkle::complete_subtree_root)
            .ok_or_else(|| LedgerError::Corrupt {
                path: self.root.join(tile_path(tl, t, TILE_WIDTH)),
                detail: format!("too short for node ({level}, {index})"),
            })
    }
}
