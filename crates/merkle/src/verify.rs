//! Verification of inclusion and consistency proofs (RFC 9162 sections 2.1.3.2 and 2.1.4.2).
//!
//! Each algorithm is split in two: a walk over the bits of the index and sizes that says, for
//! each proof hash in turn, on which side it joins the running hash, and the hashing that
//! follows the walk. The walk is run once without hashing to learn the exact proof length, so a
//! proof of the wrong length is rejected with its expected length before any hashing.

use crate::{node_hash, Hash, RootRole, VerifyError};

/// How the next proof hash joins the running hash of an inclusion proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Join {
    /// The proof hash is the left sibling: `r = H(p, r)`.
    Left,
    /// The proof hash is the right sibling: `r = H(r, p)`.
    Right,
}

/// Walks the inclusion proof of leaf `index` in a tree of `size` leaves (`index < size`),
/// calling `step` once per proof hash, bottom-up.
fn walk_inclusion(index: u64, size: u64, mut step: impl FnMut(Join)) {
    // fn: position of the running node in its level; sn: position of the last node.
    let mut fnode = index;
    let mut snode = size - 1;
    while snode != 0 {
        if fnode & 1 == 1 || fnode == snode {
            step(Join::Left);
            // On the right edge at an even position there is no sibling at this level: climb
            // until the running node is a right child. fnode is non-zero here (it equals the
            // non-zero snode or is odd), so this stops at a set bit.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            step(Join::Right);
        }
        fnode >>= 1;
        snode >>= 1;
    }
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of size `size` whose root is
/// `root`, using the inclusion proof `proof` (sibling hashes, bottom-up).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let mut expected = 0usize;
    walk_inclusion(index, size, |_| expected += 1);
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let mut hashes = proof.iter();
    let mut running = *leaf;
    walk_inclusion(index, size, |join| {
        // The walk takes exactly `expected` steps, and proof has that many hashes.
        if let Some(p) = hashes.next() {
            running = match join {
                Join::Left => node_hash(p, &running),
                Join::Right => node_hash(&running, p),
            };
        }
    });
    if running != *root {
        return Err(VerifyError::RootMismatch {
            role: RootRole::Tree,
            expected: *root,
            computed: running,
        });
    }
    Ok(())
}

/// How the next consistency proof hash joins the two running hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grow {
    /// A left sibling of both trees: `fr = H(c, fr)` and `sr = H(c, sr)`.
    BothLeft,
    /// A right sibling that only the new tree has: `sr = H(sr, c)`.
    NewRight,
}

/// Walks the consistency proof between sizes `old_size` and `new_size`
/// (`0 < old_size < new_size`), calling `step` once per proof hash after the seed.
fn walk_consistency(old_size: u64, new_size: u64, mut step: impl FnMut(Grow)) {
    let mut fnode = old_size - 1;
    let mut snode = new_size - 1;
    // Skip the levels where the old tree's last node is a right child: the seed hash already
    // covers them.
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    while snode != 0 {
        if fnode & 1 == 1 || fnode == snode {
            step(Grow::BothLeft);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            step(Grow::NewRight);
        }
        fnode >>= 1;
        snode >>= 1;
    }
}

/// Verifies that the tree of size `old_size` with root `old_root` is a prefix of the tree of
/// size `new_size` with root `new_root`, using the consistency proof `proof`.
///
/// Equal sizes need an empty proof and equal roots. An `old_size` of 0 is refused with
/// [`VerifyError::EmptyOldTree`]: the empty tree is a prefix of every tree, so there is nothing
/// to prove, and a caller that meets it should decide that case itself.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::OldSizeExceedsNewSize { old_size, new_size });
    }
    if old_size == 0 {
        return Err(VerifyError::EmptyOldTree { new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if old_root != new_root {
            return Err(VerifyError::RootMismatch {
                role: RootRole::New,
                expected: *new_root,
                computed: *old_root,
            });
        }
        return Ok(());
    }

    // When the old tree is a complete subtree its root is the seed; otherwise the proof
    // starts with the root of the subtree the old tree ends in.
    let seed_in_proof = !old_size.is_power_of_two();
    let mut expected = usize::from(seed_in_proof);
    walk_consistency(old_size, new_size, |_| expected += 1);
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (seed, rest) = match (seed_in_proof, proof.split_first()) {
        (true, Some((first, rest))) => (*first, rest),
        // Not reached with seed_in_proof: the length check guarantees a first hash.
        _ => (*old_root, proof),
    };

    let mut old_running = seed;
    let mut new_running = seed;
    let mut hashes = rest.iter();
    walk_consistency(old_size, new_size, |grow| {
        // The walk takes exactly `rest.len()` steps (checked above).
        if let Some(c) = hashes.next() {
            match grow {
                Grow::BothLeft => {
                    old_running = node_hash(c, &old_running);
                    new_running = node_hash(c, &new_running);
                }
                Grow::NewRight => new_running = node_hash(&new_running, c),
            }
        }
    });
    if old_running != *old_root {
        return Err(VerifyError::RootMismatch {
            role: RootRole::Old,
            expected: *old_root,
            computed: old_running,
        });
    }
    if new_running != *new_root {
        return Err(VerifyError::RootMismatch {
            role: RootRole::New,
            expected: *new_root,
            computed: new_running,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inclusion_len(index: u64, size: u64) -> usize {
        let mut n = 0;
        walk_inclusion(index, size, |_| n += 1);
        n
    }

    #[test]
    fn inclusion_walk_lengths_match_tree_shape() {
        assert_eq!(inclusion_len(0, 1), 0);
        assert_eq!(inclusion_len(0, 8), 3);
        assert_eq!(inclusion_len(6, 7), 2); // right edge: siblings at levels 1 and 2 only
        assert_eq!(inclusion_len(4, 5), 1);
        assert_eq!(inclusion_len(u64::MAX - 1, u64::MAX), 63);
        assert_eq!(inclusion_len(0, u64::MAX), 64);
    }

    #[test]
    fn consistency_walk_handles_largest_sizes() {
        let mut n = 0;
        walk_consistency(u64::MAX - 1, u64::MAX, |_| n += 1);
        assert!(n > 0 && n <= 64);
    }
}
