//! The right edge of a growing tree: the compact range `[0, size)`.

use crate::{empty_root, node_hash, Hash, VerifyError};

/// Largest size [`CompactRange::from_parts`] accepts: `2^63 - 1`. Growing from there to
/// `u64::MAX` takes 2^63 appends, which no machine performs, so `size` never overflows.
const MAX_FROM_PARTS_SIZE: u64 = (1 << 63) - 1;

/// Room for one hash per bit of a `u64` size, so appends never reallocate.
const MAX_HASHES: usize = 64;

/// The right edge ("compact range" `[0, size)`) of a growing tree: the tree size and the roots
/// of its maximal complete subtrees, left to right (one per set bit of `size`, largest first).
///
/// This is all that is needed to append leaves and compute the root, in O(log n) memory.
#[derive(Debug, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl Clone for CompactRange {
    /// Clones with room for 64 hashes, so the clone's appends do not reallocate either.
    fn clone(&self) -> Self {
        let mut hashes = Vec::with_capacity(MAX_HASHES);
        hashes.extend_from_slice(&self.hashes);
        CompactRange {
            size: self.size,
            hashes,
        }
    }
}

impl Default for CompactRange {
    fn default() -> Self {
        Self::new()
    }
}

impl CompactRange {
    /// The compact range of the empty tree.
    pub fn new() -> Self {
        CompactRange {
            size: 0,
            hashes: Vec::with_capacity(MAX_HASHES),
        }
    }

    /// Rebuilds a compact range from the roots of the maximal complete subtrees of
    /// `[0, size)`, left to right, as [`hashes`](Self::hashes) returns them.
    ///
    /// Fails when the number of hashes is not the number of set bits of `size`, or when `size`
    /// is at least 2^63.
    pub fn from_parts(size: u64, mut hashes: Vec<Hash>) -> Result<Self, VerifyError> {
        if size > MAX_FROM_PARTS_SIZE {
            return Err(VerifyError::TreeTooLarge {
                size,
                max: MAX_FROM_PARTS_SIZE,
            });
        }
        let expected = size.count_ones();
        if hashes.len() != expected as usize {
            return Err(VerifyError::CompactRangeLength {
                size,
                expected,
                got: hashes.len(),
            });
        }
        hashes.reserve(MAX_HASHES.saturating_sub(hashes.len()));
        Ok(CompactRange { size, hashes })
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Roots of the maximal complete subtrees of `[0, size)`, left to right (largest first).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash.
    ///
    /// `visit(level, index, hash)` is called first for the leaf itself (level 0, index = the
    /// old size) and then, bottom-up, for every complete subtree this leaf completes: the node
    /// at `(level, old_size >> level)` for each level up to the number of trailing one bits of
    /// the old size. No allocation happens here.
    pub fn append(&mut self, leaf: Hash, mut visit: impl FnMut(u8, u64, &Hash)) {
        let index = self.size;
        visit(0, index, &leaf);
        // Each trailing one bit of the old size is a complete subtree on the right edge that
        // the new leaf's subtree now pairs with, smallest (last in `hashes`) first.
        let merges = index.trailing_ones() as usize;
        let keep = self.hashes.len().saturating_sub(merges);
        let mut running = leaf;
        let mut level = 0u8;
        for left in self.hashes[keep..].iter().rev() {
            running = node_hash(left, &running);
            level += 1;
            visit(level, index >> level, &running);
        }
        self.hashes.truncate(keep);
        self.hashes.push(running);
        // Cannot overflow: see MAX_FROM_PARTS_SIZE.
        self.size += 1;
    }

    /// Root of the tree of size [`size`](Self::size); [`empty_root`] when it is 0.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.hashes.iter().rev();
        match subtrees.next() {
            None => empty_root(),
            Some(last) => subtrees.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}
