//! Properties of `CompactRange` on random trees of 1..2000 leaves, checked against `MemTree`
//! (which stores every level and is built independently): the root after every append, the
//! hashes of the right edge, the nodes reported to `visit`, and rebuilding with `from_parts`.

mod common;

use proptest::prelude::*;
use suho_merkle::{root_of, CompactRange, Hash, MemTree, NodeSource, VerifyError};

/// Every complete subtree node of `mem`, as (level, index, hash), level by level.
fn all_nodes(mem: &MemTree) -> Vec<(u8, u64, Hash)> {
    let size = mem.size();
    let mut nodes = Vec::new();
    for level in 0..64u8 {
        let count = size >> level;
        if count == 0 {
            break;
        }
        for index in 0..count {
            nodes.push((level, index, mem.node(level, index).expect("complete node")));
        }
    }
    nodes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn compact_range_follows_mem_tree(size in 1u64..2000, seed: u64) {
        let mem = MemTree::from_entries(common::entries(seed, size));
        let leaves = mem.leaf_hashes();
        prop_assert_eq!(mem.root(), common::mth(leaves));

        let mut range = CompactRange::new();
        let mut reported = Vec::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let old_size = i as u64;
            let first_new = reported.len();
            range.append(*leaf, |level, index, hash| reported.push((level, index, *hash)));
            let new_size = old_size + 1;

            // This append completes the leaf and one node per trailing one bit of the old
            // size, bottom-up, each the node over the new leaf at its level.
            let expected: Vec<(u8, u64, Hash)> = (0..=old_size.trailing_ones() as u8)
                .map(|level| {
                    let index = old_size >> level;
                    (level, index, mem.node(level, index).expect("complete node"))
                })
                .collect();
            prop_assert_eq!(&reported[first_new..], expected.as_slice(), "append #{}", old_size);

            prop_assert_eq!(range.size(), new_size);
            prop_assert_eq!(range.root(), root_of(&mem, new_size).expect("in range"));

            // The right edge: one complete subtree per set bit of the size, largest first.
            let edge: Vec<Hash> = (0..64u8)
                .rev()
                .filter(|level| (new_size >> level) & 1 == 1)
                .map(|level| mem.node(level, (new_size >> level) - 1).expect("complete node"))
                .collect();
            prop_assert_eq!(range.hashes(), edge.as_slice());
        }

        // Over the whole run every complete subtree was reported exactly once.
        let mut reported_sorted = reported.clone();
        reported_sorted.sort();
        let mut expected_all = all_nodes(&mem);
        expected_all.sort();
        prop_assert_eq!(reported_sorted, expected_all);
    }

    #[test]
    fn from_parts_rebuilds_a_range_that_keeps_growing(
        size in 0u64..2000,
        extra in 1u64..64,
        seed: u64,
    ) {
        let all = common::entries(seed, size + extra);
        let mem = MemTree::from_entries(&all);
        let leaves = mem.leaf_hashes();

        let mut original = CompactRange::new();
        for leaf in &leaves[..size as usize] {
            original.append(*leaf, |_, _, _| {});
        }
        let mut rebuilt = CompactRange::from_parts(size, original.hashes().to_vec())
            .expect("hashes of a real range");
        prop_assert_eq!(&rebuilt, &original);
        for leaf in &leaves[size as usize..] {
            rebuilt.append(*leaf, |_, _, _| {});
        }
        prop_assert_eq!(rebuilt.root(), mem.root());

        // One hash too many or too few is refused.
        let mut too_many = original.hashes().to_vec();
        too_many.push(mem.root());
        prop_assert_eq!(
            CompactRange::from_parts(size, too_many),
            Err(VerifyError::CompactRangeLength {
                size,
                expected: size.count_ones(),
                got: size.count_ones() as usize + 1,
            })
        );
        if size > 0 {
            let too_few = original.hashes()[1..].to_vec();
            prop_assert!(CompactRange::from_parts(size, too_few).is_err());
        }
    }
}

#[test]
fn from_parts_refuses_sizes_of_2_to_the_63_and_above() {
    let hashes = vec![[0u8; 32]];
    assert!(matches!(
        CompactRange::from_parts(1 << 63, hashes),
        Err(VerifyError::TreeTooLarge { .. })
    ));
    let largest = (1u64 << 63) - 1;
    let mut range = CompactRange::from_parts(largest, vec![[1u8; 32]; 63]).expect("largest size");
    assert_eq!(range.size(), largest);
    // One more leaf merges all 63 subtrees into the single root of 2^63 leaves.
    let mut top = None;
    range.append([2u8; 32], |level, index, _| top = Some((level, index)));
    assert_eq!(range.size(), 1 << 63);
    assert_eq!(range.hashes().len(), 1);
    assert_eq!(top, Some((63, 0)));
}

#[test]
fn empty_range_reports_empty_root() {
    let range = CompactRange::new();
    assert_eq!(range.size(), 0);
    assert!(range.hashes().is_empty());
    assert_eq!(range.root(), suho_merkle::empty_root());
    assert_eq!(
        CompactRange::from_parts(0, Vec::new()),
        Ok(CompactRange::new())
    );
}
