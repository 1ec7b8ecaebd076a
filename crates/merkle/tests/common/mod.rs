//! A reference model of RFC 6962 section 2.1, written as the RFC's recursive definitions over a
//! plain list of leaf hashes, with none of the library's bit tricks. The property tests compare
//! the library against it.
#![allow(dead_code)] // each test binary uses a different part of the model

use std::collections::HashMap;

use suho_merkle::{empty_root, node_hash, Hash};

/// A half-open range of leaves `[begin, end)`.
pub type Span = (u64, u64);

/// The largest power of two strictly smaller than `n` (`n >= 2`), found by doubling.
pub fn largest_power_of_two_below(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 MTH(D[n]) of a list of leaf hashes.
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = largest_power_of_two_below(n as u64) as usize;
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The leaf ranges whose MTH make up RFC 6962 PATH(m, D[begin:end]), in proof order.
pub fn path_spans(m: u64, begin: u64, end: u64) -> Vec<Span> {
    if end - begin == 1 {
        return Vec::new();
    }
    let mid = begin + largest_power_of_two_below(end - begin);
    if m < mid {
        let mut spans = path_spans(m, begin, mid);
        spans.push((mid, end));
        spans
    } else {
        let mut spans = path_spans(m, mid, end);
        spans.push((begin, mid));
        spans
    }
}

/// The leaf ranges whose MTH make up RFC 6962 SUBPROOF(m, D[begin:end], whole), in proof order.
pub fn subproof_spans(m: u64, begin: u64, end: u64, whole: bool) -> Vec<Span> {
    if m == end {
        return if whole {
            Vec::new()
        } else {
            vec![(begin, end)]
        };
    }
    let mid = begin + largest_power_of_two_below(end - begin);
    if m <= mid {
        let mut spans = subproof_spans(m, begin, mid, whole);
        spans.push((mid, end));
        spans
    } else {
        let mut spans = subproof_spans(m, mid, end, false);
        spans.push((begin, mid));
        spans
    }
}

/// Proof hashes for the given spans, computed from the leaves directly.
pub fn hashes_of(leaves: &[Hash], spans: &[Span]) -> Vec<Hash> {
    spans
        .iter()
        .map(|&(b, e)| mth(&leaves[b as usize..e as usize]))
        .collect()
}

/// MTH of `[begin, end)` using only the range hashes in `known`, following RFC 6962's splits;
/// `None` when the known ranges do not determine it.
fn mth_from_known(known: &HashMap<Span, Hash>, begin: u64, end: u64) -> Option<Hash> {
    if let Some(hash) = known.get(&(begin, end)) {
        return Some(*hash);
    }
    if end - begin <= 1 {
        return None;
    }
    let mid = begin + largest_power_of_two_below(end - begin);
    Some(node_hash(
        &mth_from_known(known, begin, mid)?,
        &mth_from_known(known, mid, end)?,
    ))
}

/// Reference inclusion verifier: reads the proof as the hashes of the PATH ranges, and
/// recomputes the root from them and the leaf.
pub fn reference_verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let spans = path_spans(index, 0, size);
    if spans.len() != proof.len() {
        return false;
    }
    let mut known: HashMap<Span, Hash> = spans.into_iter().zip(proof.iter().copied()).collect();
    known.insert((index, index + 1), *leaf);
    mth_from_known(&known, 0, size) == Some(*root)
}

/// Reference consistency verifier: reads the proof as the hashes of the SUBPROOF ranges, and
/// recomputes the old root (when the proof determines it) and the new root from them.
pub fn reference_verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    let spans = subproof_spans(old_size, 0, new_size, true);
    if spans.len() != proof.len() {
        return false;
    }
    let mut known: HashMap<Span, Hash> = spans.into_iter().zip(proof.iter().copied()).collect();
    match mth_from_known(&known, 0, old_size) {
        Some(computed_old) => {
            if computed_old != *old_root {
                return false;
            }
        }
        // The old tree is one complete subtree: the proof builds on its root.
        None => {
            known.insert((0, old_size), *old_root);
        }
    }
    mth_from_known(&known, 0, new_size) == Some(*new_root)
}

/// Deterministic, distinct leaf entries for a test tree.
pub fn entries(seed: u64, size: u64) -> Vec<Vec<u8>> {
    (0..size)
        .map(|i| format!("entry {i} of tree {seed}").into_bytes())
        .collect()
}
