//! Errors of proof verification and proof construction.

use std::fmt;

use crate::{hex, Hash};

/// Which root a [`VerifyError::RootMismatch`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RootRole {
    /// The tree root an inclusion proof was checked against.
    Tree,
    /// The root of the older (smaller) tree of a consistency proof.
    Old,
    /// The root of the newer (larger) tree of a consistency proof.
    New,
}

impl fmt::Display for RootRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RootRole::Tree => "tree",
            RootRole::Old => "old tree",
            RootRole::New => "new tree",
        })
    }
}

/// Why a proof, a hash or a compact range was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The leaf index is not inside the tree (`index >= size`).
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// A consistency proof was asked for from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeExceedsNewSize {
        /// The claimed old tree size.
        old_size: u64,
        /// The claimed new tree size.
        new_size: u64,
    },
    /// A consistency proof from the empty tree: every tree extends it, so such a proof proves
    /// nothing and is refused (callers treat an old size of 0 as trivially consistent).
    #[error("consistency from an empty old tree proves nothing (new tree size {new_size})")]
    EmptyOldTree {
        /// The claimed new tree size.
        new_size: u64,
    },
    /// The proof does not have the number of hashes the tree sizes and index call for.
    #[error("proof has {got} hashes, but these sizes need exactly {expected}")]
    WrongProofLength {
        /// Number of hashes a valid proof has for these arguments.
        expected: usize,
        /// Number of hashes given.
        got: usize,
    },
    /// The root computed from the proof is not the root that was claimed.
    #[error("{role} root mismatch: expected {}, computed {}", hex(.expected), hex(.computed))]
    RootMismatch {
        /// Which root did not match.
        role: RootRole,
        /// The root the caller claimed.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// A compact range needs one hash per set bit of its size.
    #[error("a compact range of size {size} needs {expected} hashes (one per set bit), got {got}")]
    CompactRangeLength {
        /// The claimed tree size.
        size: u64,
        /// Number of hashes the size calls for.
        expected: u32,
        /// Number of hashes given.
        got: usize,
    },
    /// A compact range larger than this crate supports.
    #[error("tree size {size} is larger than the supported maximum {max}")]
    TreeTooLarge {
        /// The claimed tree size.
        size: u64,
        /// The largest supported size.
        max: u64,
    },
    /// Bytes that should have been a SHA-256 hash have the wrong length.
    #[error("a hash is 32 bytes, got {len}")]
    HashLength {
        /// Number of bytes given.
        len: usize,
    },
}

/// Why a root or proof could not be built from a [`NodeSource`](crate::NodeSource).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError<E> {
    /// The node source failed to produce a node.
    #[error("cannot read node at level {level}, index {index} from the node source")]
    Source {
        /// Level of the node that was asked for.
        level: u8,
        /// Index of the node within its level.
        index: u64,
        /// The node source's own error.
        #[source]
        source: E,
    },
    /// The leaf index is not inside the tree (`index >= size`).
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// A consistency proof was asked for from a larger tree to a smaller one.
    #[error("old tree size {old_size} is larger than new tree size {new_size}")]
    OldSizeExceedsNewSize {
        /// The old tree size asked for.
        old_size: u64,
        /// The new tree size asked for.
        new_size: u64,
    },
    /// A consistency proof from the empty tree was asked for; it would prove nothing, and
    /// [`verify_consistency`](crate::verify_consistency) refuses it.
    #[error(
        "a consistency proof from an empty old tree proves nothing (new tree size {new_size})"
    )]
    EmptyOldTree {
        /// The new tree size asked for.
        new_size: u64,
    },
    /// A leaf range whose start is after its end.
    #[error("leaf range [{begin}, {end}) is invalid: begin is after end")]
    InvalidRange {
        /// First leaf of the range.
        begin: u64,
        /// One past the last leaf of the range.
        end: u64,
    },
}
