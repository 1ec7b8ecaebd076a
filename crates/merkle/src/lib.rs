//! RFC 6962 (section 2.1) Merkle tree hashing with SHA-256: leaf and node hashes, tree roots,
//! inclusion and consistency proofs (making and verifying them), and the compact range that
//! follows the right edge of a growing tree in O(log n) memory. Pure computation, no IO: the
//! hashes of stored subtrees come in through the [`NodeSource`] trait, which the ledger
//! implements over its tiles.
//!
//! Hashing follows RFC 6962 section 2.1: a leaf is `SHA-256(0x00 || entry)`, an interior node is
//! `SHA-256(0x01 || left || right)`, the empty tree is `SHA-256("")`, and a tree of `n > 1`
//! leaves splits at the largest power of two smaller than `n`. Nodes are addressed as
//! `(level, index)`: the node at `(level, index)` is the root of the complete subtree over leaves
//! `[index << level, (index + 1) << level)`; level 0 holds the leaf hashes.
//!
//! Proof verification follows the algorithms of RFC 9162 section 2.1.3.2 and 2.1.4.2 (the same
//! proofs as RFC 6962, written as loops over the bits of the tree sizes).
//!
//! ```
//! use suho_merkle::{inclusion_proof, leaf_hash, verify_inclusion, CompactRange, MemTree};
//!
//! let entries = [b"alice read c-1".as_slice(), b"bob exported c-2", b"carol printed c-3"];
//! let tree = MemTree::from_entries(entries);
//!
//! // The writer only keeps the right edge, and learns each completed node as it appends.
//! let mut edge = CompactRange::new();
//! for entry in entries {
//!     edge.append(leaf_hash(entry), |_level, _index, _hash| { /* store in a tile */ });
//! }
//! assert_eq!(edge.root(), tree.root());
//!
//! let proof = inclusion_proof(&tree, 1, 3).expect("leaf 1 is in a tree of 3");
//! assert!(verify_inclusion(&leaf_hash(entries[1]), 1, 3, &proof, &edge.root()).is_ok());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compact;
mod error;
mod mem;
mod proof;
mod verify;

pub use compact::CompactRange;
pub use error::{ProofError, RootRole, VerifyError};
pub use mem::{MemTree, MemTreeError};
pub use proof::{consistency_proof, inclusion_proof, range_root, root_of};
pub use verify::{verify_consistency, verify_inclusion};

use sha2::{Digest, Sha256};

/// A SHA-256 hash: of a leaf, of an interior node, or the root of a tree.
pub type Hash = [u8; 32];

/// Length in bytes of a [`Hash`](tyalias@Hash).
pub const HASH_LEN: usize = 32;

/// Domain-separation prefix of leaf hashes (RFC 6962 section 2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of interior node hashes (RFC 6962 section 2.1).
const NODE_PREFIX: u8 = 0x01;

/// `SHA-256("")`, the root of the empty tree.
const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Hash of one log entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(entry);
    hasher.finalize().into()
}

/// Hash of an interior node from its two children: `SHA-256(0x01 || left || right)`.
///
/// The 65 input bytes are assembled on the stack; nothing is allocated.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 1 + 2 * HASH_LEN];
    input[0] = NODE_PREFIX;
    input[1..1 + HASH_LEN].copy_from_slice(left);
    input[1 + HASH_LEN..].copy_from_slice(right);
    Sha256::digest(input).into()
}

/// Root of a complete subtree from its bottom row, as a C2SP hash tile stores it: the row must
/// hold a power of two of hashes (None otherwise, or when it is empty).
pub fn complete_subtree_root(row: &[Hash]) -> Option<Hash> {
    if !row.len().is_power_of_two() {
        return None;
    }
    let mut layer = row.to_vec();
    while layer.len() > 1 {
        layer = layer
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    layer.first().copied()
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    EMPTY_ROOT
}

/// Converts bytes read from outside (a proof, a checkpoint) into a [`Hash`](tyalias@Hash), rejecting any
/// length other than 32 with [`VerifyError::HashLength`].
pub fn hash_from_slice(bytes: &[u8]) -> Result<Hash, VerifyError> {
    Hash::try_from(bytes).map_err(|_| VerifyError::HashLength { len: bytes.len() })
}

/// Lowercase hex of a hash, as error messages print it.
pub fn hex(hash: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * HASH_LEN);
    for byte in hash {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Source of hashes of complete subtrees of one tree.
///
/// `node(level, index)` is the root of the complete subtree over leaves
/// `[index << level, (index + 1) << level)`; level 0 returns leaf hashes. The proof functions
/// only ask for nodes of complete subtrees that lie inside the tree size they were given.
/// The ledger implements this over its tiles; [`MemTree`] implements it in memory.
pub trait NodeSource {
    /// Why a node could not be produced (missing tile, IO failure, ...).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Hash of the complete subtree at `(level, index)`.
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<S: NodeSource + ?Sized> NodeSource for &S {
    type Error = S::Error;

    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error> {
        (**self).node(level, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_subtree_root_hashes_pairs_up_to_one() {
        let h = |b: u8| [b; 32];
        assert_eq!(complete_subtree_root(&[h(1)]), Some(h(1)));
        assert_eq!(
            complete_subtree_root(&[h(1), h(2), h(3), h(4)]),
            Some(node_hash(
                &node_hash(&h(1), &h(2)),
                &node_hash(&h(3), &h(4))
            ))
        );
        assert_eq!(complete_subtree_root(&[h(1), h(2), h(3)]), None);
        assert_eq!(complete_subtree_root(&[]), None);
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let computed: Hash = Sha256::digest([]).into();
        assert_eq!(empty_root(), computed);
    }

    #[test]
    fn node_hash_equals_streamed_sha256_of_prefix_and_children() {
        let left = leaf_hash(b"left");
        let right = leaf_hash(b"right");
        let mut hasher = Sha256::new();
        hasher.update([0x01]);
        hasher.update(left);
        hasher.update(right);
        let streamed: Hash = hasher.finalize().into();
        assert_eq!(node_hash(&left, &right), streamed);
        assert_ne!(node_hash(&left, &right), node_hash(&right, &left));
    }

    #[test]
    fn hex_is_lowercase_and_64_chars() {
        let mut hash = [0u8; 32];
        hash[0] = 0xab;
        hash[31] = 0x0f;
        let text = hex(&hash);
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("ab00"));
        assert!(text.ends_with("000f"));
    }

    #[test]
    fn hash_from_slice_rejects_wrong_lengths() {
        assert_eq!(hash_from_slice(&[7u8; 32]), Ok([7u8; 32]));
        assert_eq!(
            hash_from_slice(&[]),
            Err(VerifyError::HashLength { len: 0 })
        );
        assert_eq!(
            hash_from_slice(&[1u8; 33]),
            Err(VerifyError::HashLength { len: 33 })
        );
    }
}
