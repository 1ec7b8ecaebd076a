//! `suho verify`: recompute everything from the records up and name the first entry that is
//! altered, missing or out of place.
//!
//! The checks, per index `i` below the checkpoint size: the record's frame in the write-ahead
//! log is whole and its body matches the SHA-256 in its entry; that entry equals entry `i` of
//! the published bundle; its leaf hash equals hash `i` of the level-0 tile; every completed
//! subtree equals its hash in the higher tiles. Then the rebuilt root must equal the root of
//! the signed checkpoint, whose signature must verify. Before all that, the ledger must be as
//! its key left it (see `seal`): a checkpoint where there are records, the key, and a
//! checkpoint that is not older than the newest one the key signed and has, at that size, the
//! root it signed.

use std::fs;
use std::path::PathBuf;

use suho_merkle::{leaf_hash, CompactRange, Hash};
use suho_note::{Checkpoint, Verifier};

use crate::entry::{Entry, ENTRY_LEN};
use crate::tilepath::{bundle_path, tile_path, TILE_WIDTH};
use crate::tiles::{tile_width, TileReader};
use crate::wal::{list_segments, segment_path, BlockProblem, SegmentReader};
use crate::{Layout, LedgerError, SealProblem};

/// A ledger that verified.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Records covered by the signed checkpoint, all verified.
    pub checkpoint_size: u64,
    /// The checkpoint's root hash.
    pub root: Hash,
    /// Records sequenced after the checkpoint (their bodies were checked too).
    pub uncheckpointed: u64,
    /// The checkpoint's origin (the log's name).
    pub origin: String,
}

/// The first thing found wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {what}", index.map(|i| format!("entry {i}")).unwrap_or_else(|| "ledger".into()), path.as_ref().map(|p| format!(" ({})", p.display())).unwrap_or_default())]
pub struct VerifyProblem {
    /// The first ledger index affected, when one is.
    pub index: Option<u64>,
    /// The file where the problem was seen.
    pub path: Option<PathBuf>,
    /// What is wrong, in words.
    pub what: String,
}

fn problem(index: Option<u64>, path: Option<PathBuf>, what: impl Into<String>) -> VerifyProblem {
    VerifyProblem {
        index,
        path,
        what: what.into(),
    }
}

fn from_ledger(index: Option<u64>, e: LedgerError) -> VerifyProblem {
    match e {
        LedgerError::Corrupt { path, detail } => problem(index, Some(path), detail),
        LedgerError::Io { path, source } => problem(index, Some(path), source.to_string()),
        other => problem(index, None, other.to_string()),
    }
}

/// Verify the ledger in `layout` against `verifier` (the ledger's own verifier key when None).
/// `progress(done, total)` is called every few thousand records.
pub fn verify(
    layout: &Layout,
    verifier: Option<&Verifier>,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, VerifyProblem> {
    let cp_path = layout.checkpoint();
    let seal = |p: SealProblem| {
        problem(
            None,
            Some(layout.data.join(p.file())),
            format!("{p}; writers refuse this ledger until an operator runs `suho ledger reseal`"),
        )
    };
    // The signer state before the checkpoint: a writer publishes them in the other order, so
    // a publication running meanwhile never looks like a rollback.
    let signed = crate::seal::read_signed(layout).map_err(|e| from_ledger(None, e))?;
    if let Some(p) = crate::seal::key_missing(layout).map_err(|e| from_ledger(None, e))? {
        return Err(seal(p));
    }
    let cp = match fs::read_to_string(&cp_path) {
        Ok(text) => {
            let own;
            let verifier = match verifier {
                Some(v) => v,
                None => {
                    own = crate::load_verifier(&layout.keys()).map_err(|e| from_ledger(None, e))?;
                    &own
                }
            };
            let note = suho_note::open(&text, std::slice::from_ref(verifier)).map_err(|e| {
                problem(
                    None,
                    Some(cp_path.clone()),
                    format!(
                        "the checkpoint signature does not verify with key {}: {e}",
                        verifier.name()
                    ),
                )
            })?;
            Some(
                Checkpoint::parse(&note.body)
                    .map_err(|e| problem(None, Some(cp_path.clone()), e.to_string()))?,
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(problem(
                None,
                Some(cp_path.clone()),
                format!("cannot read the checkpoint: {e}"),
            ))
        }
    };
    if let Some(p) = crate::seal::problems(layout, cp.as_ref(), signed.as_ref())
        .map_err(|e| from_ledger(None, e))?
        .into_iter()
        .next()
    {
        return Err(seal(p));
    }
    // No checkpoint and nothing that shows records: an empty ledger killed before its first
    // checkpoint.
    let cp = cp.unwrap_or_else(|| Checkpoint {
        origin: String::new(),
        size: 0,
        root: suho_merkle::empty_root(),
        extensions: Vec::new(),
    });
    let n = cp.size;
    // A signer state behind the checkpoint (a crash between the two): the records must give,
    // at its size, the root it says was signed.
    let signed_at = signed.filter(|s| s.size < n);
    let mut root_at_signed = signed_at
        .as_ref()
        .filter(|s| s.size == 0)
        .map(|_| suho_merkle::empty_root());

    let tiles_root = layout.ledger();
    let reader = TileReader::new(&tiles_root);
    let wal_dir = layout.wal();
    let mut tree = CompactRange::new();
    // Current tile per level and current bundle, loaded as the walk reaches them.
    let mut tile_cache: Vec<Option<(u64, Vec<Hash>)>> = vec![None; 8];
    let mut bundle: Option<(u64, Vec<[u8; ENTRY_LEN]>)> = None;
    let mut i = 0u64;
    let mut extra = 0u64;
    // A pruned log: below the minimum index only the entries remain; they are checked against
    // the tiles and the root like any other, and none may be younger than the horizon.
    let mark = crate::prune::read_mark(layout).map_err(|e| from_ledger(None, e))?;
    let min_index = mark.map_or(0, |m| m.min_index);
    if min_index > n {
        return Err(problem(Some(n), Some(wal_dir.join("PRUNED")), format!("the minimum index {min_index} is past the checkpoint (size {n}): records were removed that no checkpoint covers")));
    }
    while i < min_index {
        let entry = bundle_entry(&reader, &mut bundle, n, i)?;
        if let (Some(m), Some(e)) = (mark, Entry::decode(&entry)) {
            if e.event_time_ms >= m.horizon_ms {
                return Err(problem(Some(i), Some(wal_dir.join("PRUNED")), format!("pruned too early: the record's event time {} is not older than the pruning horizon {}", suho_record::format_rfc3339_ms(e.event_time_ms), suho_record::format_rfc3339_ms(m.horizon_ms))));
            }
        }
        append_checked(&mut tree, &reader, &mut tile_cache, n, i, &entry)?;
        i += 1;
        if signed_at.as_ref().is_some_and(|s| s.size == i) {
            root_at_signed = Some(tree.root());
        }
        if i.is_multiple_of(65536) {
            progress(i, n);
        }
    }
    let mut prune_record_ok = mark.is_none();
    let segs: Vec<u64> = list_segments(&wal_dir)
        .map_err(|e| from_ledger(None, e))?
        .into_iter()
        .filter(|s| *s >= min_index)
        .collect();
    'segments: for &first in &segs {
        if first != i {
            return Err(problem(Some(i.min(first)), Some(segment_path(&wal_dir, first)), format!("the segment starts at entry {first}, but the log before it ends at entry {i} (records removed or a segment missing)")));
        }
        let mut seg = SegmentReader::open(&wal_dir, first).map_err(|e| from_ledger(Some(i), e))?;
        while !seg.at_end() {
            let block = match seg.next_block(i, true).map_err(|e| from_ledger(Some(i), e))? {
                Ok(b) => b,
                Err(BlockProblem::Truncated) if i >= n => break 'segments,
                Err(BlockProblem::Truncated) => {
                    return Err(problem(Some(i), Some(seg.path().to_path_buf()), format!("truncated: the log is cut short inside the block holding entry {i}, and the checkpoint covers {n} entries")))
                }
                Err(BlockProblem::Corrupt(what)) => return Err(problem(Some(i), Some(seg.path().to_path_buf()), format!("altered: {what}"))),
            };
            let frames = block.frames().map_err(|what| {
                problem(
                    Some(i),
                    Some(seg.path().to_path_buf()),
                    format!("altered: {what}"),
                )
            })?;
            for frame in &frames {
                if i >= n {
                    extra += 1;
                    i += 1;
                    continue;
                }
                if let Some(m) = mark.filter(|m| m.record == i) {
                    let body = String::from_utf8_lossy(&frame.body);
                    prune_record_ok = body.contains("\"suho_event\":\"ledger.prune\"")
                        && body.contains(&format!("\"min_index\":{}", m.min_index));
                }
                check_entry(&reader, &mut bundle, n, i, &frame.entry).map_err(|mut p| {
                    if block.checksum_failed {
                        p.what.push_str(
                            " (the record's write-ahead-log block also fails its checksum)",
                        );
                    }
                    p
                })?;
                append_checked(&mut tree, &reader, &mut tile_cache, n, i, &frame.entry)?;
                i += 1;
                if signed_at.as_ref().is_some_and(|s| s.size == i) {
                    root_at_signed = Some(tree.root());
                }
                if i.is_multiple_of(65536) {
                    progress(i, n);
                }
            }
            if block.checksum_failed && i <= n {
                return Err(problem(
                    Some(block.first_index),
                    Some(seg.path().to_path_buf()),
                    "altered: the write-ahead-log block fails its checksum",
                ));
            }
        }
    }
    if i < n {
        return Err(problem(Some(i), Some(wal_dir.clone()), format!("missing: the log ends at entry {i} but the checkpoint covers {n} entries (file truncated or records removed)")));
    }
    progress(i.min(n), n);
    if !prune_record_ok {
        let m = mark.map_or(0, |m| m.record);
        return Err(problem(Some(m), Some(wal_dir.join("PRUNED")), format!("the records below {min_index} were removed, but record {m} is not the ledger.prune record that documents it")));
    }
    if tree.root() != cp.root {
        return Err(problem(
            None,
            Some(cp_path),
            format!(
                "the tree rebuilt from {n} records has root {}, but the signed checkpoint says {}",
                hex::encode(tree.root()),
                hex::encode(cp.root)
            ),
        ));
    }
    if let (Some(s), Some(root)) = (&signed_at, root_at_signed) {
        if let Some(p) = crate::seal::diverged(s, root) {
            return Err(seal(p));
        }
    }
    Ok(VerifyReport {
        checkpoint_size: n,
        root: cp.root,
        uncheckpointed: extra,
        origin: cp.origin,
    })
}

/// Append entry `i` to the rebuilt tree, checking every completed tile-level node against the
/// published tiles.
fn append_checked(
    tree: &mut CompactRange,
    reader: &TileReader,
    tile_cache: &mut [Option<(u64, Vec<Hash>)>],
    n: u64,
    i: u64,
    entry: &[u8; ENTRY_LEN],
) -> Result<(), VerifyProblem> {
    let mut bad: Option<VerifyProblem> = None;
    tree.append(leaf_hash(entry), |level, index, hash| {
        if bad.is_some() || level % 8 != 0 {
            return;
        }
        if let Err(p) = check_node(reader, tile_cache, n, level / 8, index, hash) {
            bad = Some(p);
        }
    });
    match bad {
        Some(mut p) => {
            p.index = Some(i);
            Err(p)
        }
        None => Ok(()),
    }
}

fn check_entry(
    reader: &TileReader,
    bundle: &mut Option<(u64, Vec<[u8; ENTRY_LEN]>)>,
    n: u64,
    i: u64,
    entry: &[u8; ENTRY_LEN],
) -> Result<(), VerifyProblem> {
    if &bundle_entry(reader, bundle, n, i)? != entry {
        let t = i / TILE_WIDTH;
        return Err(problem(Some(i), Some(tiles_path(&bundle_path(t, TILE_WIDTH))), "altered: the published entry differs from the logged record's entry (an entry was changed, or records were removed or reordered)"));
    }
    Ok(())
}

/// The published entry `i` of a log of `n`, from its bundle (kept in `bundle` while the next
/// entries come from the same one); a short or damaged bundle is named.
fn bundle_entry(
    reader: &TileReader,
    bundle: &mut Option<(u64, Vec<[u8; ENTRY_LEN]>)>,
    n: u64,
    i: u64,
) -> Result<[u8; ENTRY_LEN], VerifyProblem> {
    let t = i / TILE_WIDTH;
    if bundle.as_ref().map(|b| b.0) != Some(t) {
        let w = (n - t * TILE_WIDTH).min(TILE_WIDTH);
        let (entries, damage) = reader
            .read_bundle_prefix(t, w)
            .map_err(|e| from_ledger(Some(i), e))?;
        if (entries.len() as u64) < w {
            let first_bad = t * TILE_WIDTH + entries.len() as u64;
            let why = damage.unwrap_or_else(|| "truncated".into());
            return Err(problem(
                Some(first_bad),
                Some(tiles_path(&bundle_path(t, w))),
                format!(
                    "the bundle holds {} whole entries, expected {w}: {why}",
                    entries.len()
                ),
            ));
        }
        *bundle = Some((t, entries));
    }
    bundle
        .as_ref()
        .and_then(|(_, e)| e.get((i % TILE_WIDTH) as usize).copied())
        .ok_or_else(|| {
            problem(
                Some(i),
                Some(tiles_path(&bundle_path(t, TILE_WIDTH))),
                "missing: the entry is not in its bundle",
            )
        })
}

fn check_node(
    reader: &TileReader,
    cache: &mut [Option<(u64, Vec<Hash>)>],
    n: u64,
    tl: u8,
    index: u64,
    hash: &Hash,
) -> Result<(), VerifyProblem> {
    let t = index / TILE_WIDTH;
    let slot = &mut cache[tl as usize];
    if slot.as_ref().map(|c| c.0) != Some(t) {
        let w = tile_width(n, tl, t);
        let hashes = reader
            .read_tile(tl, t, w)
            .map_err(|e| from_ledger(None, e))?;
        *slot = Some((t, hashes));
    }
    let Some((_, hashes)) = slot.as_ref() else {
        unreachable!("loaded just above")
    };
    let pos = (index % TILE_WIDTH) as usize;
    if hashes.get(pos) != Some(hash) {
        return Err(problem(None, Some(tiles_path(&tile_path(tl, t, TILE_WIDTH))), format!(
            "altered: hash {pos} of this tile (tree level {}, node {index}) differs from the hash recomputed from the records",
            u32::from(tl) * 8
        )));
    }
    Ok(())
}

fn tiles_path(rel: &std::path::Path) -> PathBuf {
    PathBuf::from("ledger").join(rel)
}
