//! Roots and proofs built from the complete subtrees a [`NodeSource`] holds.
//!
//! Every function here walks RFC 6962's recursive definitions (MTH, PATH, SUBPROOF) from the top
//! down, noting which leaf ranges the proof needs, and then asks the source only for the
//! complete subtrees those ranges decompose into.

use crate::{empty_root, node_hash, Hash, NodeSource, ProofError};

/// A half-open range of leaf indices `[begin, end)`.
#[derive(Clone, Copy, Debug)]
struct Span {
    begin: u64,
    end: u64,
}

/// The largest power of two strictly smaller than `n`; `n` must be at least 2.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    // n - 1 >= 1, so its bit length is 1..=64 and the shift is 0..=63.
    1 << (63 - (n - 1).leading_zeros())
}

fn fetch<S: NodeSource>(src: &S, level: u8, index: u64) -> Result<Hash, ProofError<S::Error>> {
    src.node(level, index).map_err(|source| ProofError::Source {
        level,
        index,
        source,
    })
}

/// RFC 6962 MTH of the non-empty leaf range `span`.
///
/// A range that is one complete, aligned subtree is fetched as one node; any other range is
/// split at the largest power of two below its length, as RFC 6962 splits `D[n]`. For ranges
/// that start at 0, or at a multiple of the next power of two above their length (the only
/// ones proofs need), this fetches one node per maximal complete subtree, at most 64.
fn subtree_root<S: NodeSource>(src: &S, span: Span) -> Result<Hash, ProofError<S::Error>> {
    let len = span.end - span.begin;
    if len.is_power_of_two() && span.begin.is_multiple_of(len) {
        // trailing_zeros of a power of two in u64 is at most 63: fits in u8.
        let level = len.trailing_zeros() as u8;
        return fetch(src, level, span.begin >> level);
    }
    // len is not an aligned power of two, so len >= 2.
    let mid = span.begin + split_point(len);
    let left = subtree_root(
        src,
        Span {
            begin: span.begin,
            end: mid,
        },
    )?;
    let right = subtree_root(
        src,
        Span {
            begin: mid,
            end: span.end,
        },
    )?;
    Ok(node_hash(&left, &right))
}

/// RFC 6962 Merkle tree hash of the leaves `[begin, end)`, i.e. `MTH(D[begin:end])`.
///
/// The range is decomposed into complete subtrees fetched from `src` and combined as RFC 6962
/// combines them; for `begin == 0` this is the root of the tree of size `end`. An empty range
/// gives [`empty_root`]. Ranges that start at 0 or at a multiple of the next power of two
/// above their length cost at most one fetch per set bit of their length; other ranges are
/// valid but may need many more nodes (down to single leaves).
pub fn range_root<S: NodeSource>(
    src: &S,
    begin: u64,
    end: u64,
) -> Result<Hash, ProofError<S::Error>> {
    if begin > end {
        return Err(ProofError::InvalidRange { begin, end });
    }
    if begin == end {
        return Ok(empty_root());
    }
    subtree_root(src, Span { begin, end })
}

/// Root of the tree of size `size` (the leaves `[0, size)`): RFC 6962 `MTH(D[size])`.
///
/// Fetches one node per maximal complete subtree (one per set bit of `size`).
pub fn root_of<S: NodeSource>(src: &S, size: u64) -> Result<Hash, ProofError<S::Error>> {
    range_root(src, 0, size)
}

/// Fetches the roots of `spans`, last span first: the order RFC 6962 lists proof hashes in
/// (deepest first) is the reverse of the top-down order in which the spans were found.
fn roots_reversed<S: NodeSource>(
    src: &S,
    spans: &[Span],
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    spans
        .iter()
        .rev()
        .map(|&span| subtree_root(src, span))
        .collect()
}

/// Inclusion proof (RFC 6962 `PATH(index, D[size])`) of leaf `index` in the tree of size
/// `size`: the sibling hashes from the leaf up to the root.
pub fn inclusion_proof<S: NodeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Each step at least halves the range, so there are at most 64 siblings.
    let mut siblings = Vec::with_capacity(64);
    let mut span = Span {
        begin: 0,
        end: size,
    };
    while span.end - span.begin > 1 {
        let mid = span.begin + split_point(span.end - span.begin);
        if index < mid {
            siblings.push(Span {
                begin: mid,
                end: span.end,
            });
            span.end = mid;
        } else {
            siblings.push(Span {
                begin: span.begin,
                end: mid,
            });
            span.begin = mid;
        }
    }
    roots_reversed(src, &siblings)
}

/// Consistency proof (RFC 6962 `PROOF(old_size, D[new_size])`) that the tree of size
/// `old_size` is a prefix of the tree of size `new_size`.
///
/// Equal sizes give an empty proof. An `old_size` of 0 is refused with
/// [`ProofError::EmptyOldTree`], as [`verify_consistency`](crate::verify_consistency) refuses it.
pub fn consistency_proof<S: NodeSource>(
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old_size > new_size {
        return Err(ProofError::OldSizeExceedsNewSize { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::EmptyOldTree { new_size });
    }
    if old_size == new_size {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[begin:end], whole) with begin < m <= end; `whole` is RFC 6962's flag b:
    // true while the old tree is still a prefix of the current range that starts at leaf 0.
    let mut parts = Vec::with_capacity(65);
    let mut span = Span {
        begin: 0,
        end: new_size,
    };
    let mut whole = true;
    while old_size != span.end {
        // begin < old_size < end here, so the range has at least two leaves.
        let mid = span.begin + split_point(span.end - span.begin);
        if old_size <= mid {
            parts.push(Span {
                begin: mid,
                end: span.end,
            });
            span.end = mid;
        } else {
            parts.push(Span {
                begin: span.begin,
                end: mid,
            });
            span.begin = mid;
            whole = false;
        }
    }
    if !whole {
        // The old tree ends exactly at this subtree's end but does not start it: the verifier
        // needs this subtree's root to rebuild both trees.
        parts.push(span);
    }
    roots_reversed(src, &parts)
}

#[cfg(test)]
mod tests {
    use super::split_point;

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
        assert_eq!(split_point(u64::MAX), 1 << 63);
        assert_eq!(split_point((1 << 63) + 1), 1 << 63);
        assert_eq!(split_point(1 << 63), 1 << 62);
    }
}
