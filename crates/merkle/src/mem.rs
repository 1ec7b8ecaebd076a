//! An in-memory tree that stores every complete subtree, for tests and small callers.

use crate::{empty_root, leaf_hash, node_hash, Hash, NodeSource};

/// A [`MemTree`] was asked for a node that it does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemTreeError {
    /// The node is not a complete subtree of the tree as it stands.
    #[error("node at level {level}, index {index} is not a complete subtree of this tree of size {size}")]
    NotComplete {
        /// Level asked for.
        level: u8,
        /// Index asked for.
        index: u64,
        /// Current size of the tree.
        size: u64,
    },
}

/// A tree kept whole in memory: every level of complete subtree hashes, level 0 being the leaf
/// hashes. Memory is about twice the leaf hashes, so it suits tests and small trees.
///
/// It is built the plain way (pair the last two nodes of a level whenever that level gets an
/// even length), independently of [`CompactRange`](crate::CompactRange), so each can check the
/// other.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemTree {
    levels: Vec<Vec<Hash>>,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> Self {
        MemTree::default()
    }

    /// A tree of the given entries, hashed with [`leaf_hash`].
    pub fn from_entries<I>(entries: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut tree = MemTree::new();
        for entry in entries {
            tree.push_entry(entry.as_ref());
        }
        tree
    }

    /// A tree of the given leaf hashes.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = MemTree::new();
        for leaf in leaves {
            tree.push_leaf_hash(leaf);
        }
        tree
    }

    /// Appends an entry, hashed with [`leaf_hash`].
    pub fn push_entry(&mut self, entry: &[u8]) {
        self.push_leaf_hash(leaf_hash(entry));
    }

    /// Appends a leaf hash and every complete subtree it completes.
    pub fn push_leaf_hash(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let nodes = &mut self.levels[level];
            nodes.push(hash);
            if nodes.len() % 2 == 1 {
                break;
            }
            hash = node_hash(&nodes[nodes.len() - 2], &nodes[nodes.len() - 1]);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Leaf hashes, in order.
    pub fn leaf_hashes(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// Root of the whole tree ([`empty_root`] when empty).
    pub fn root(&self) -> Hash {
        let size = self.size();
        // Fold the maximal complete subtrees from the smallest (rightmost) to the largest.
        let mut root: Option<Hash> = None;
        for level in 0..self.levels.len() {
            if (size >> level) & 1 == 0 {
                continue;
            }
            // Invariant: bit `level` of size is set, so push_leaf_hash has stored
            // (size >> level) nodes at this level and the last one is complete.
            let subtree = self.levels[level][((size >> level) - 1) as usize];
            root = Some(match root {
                None => subtree,
                Some(right) => node_hash(&subtree, &right),
            });
        }
        root.unwrap_or_else(empty_root)
    }
}

impl NodeSource for MemTree {
    type Error = MemTreeError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MemTreeError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(MemTreeError::NotComplete {
                level,
                index,
                size: self.size(),
            })
    }
}
