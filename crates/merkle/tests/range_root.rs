//! `range_root` is RFC 6962 MTH of any leaf range, including ranges that do not start at 0 or
//! at an aligned boundary, and it only asks the node source for nodes inside the range.

mod common;

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::sample::Index;
use suho_merkle::{empty_root, range_root, root_of, Hash, MemTree, MemTreeError, NodeSource};

/// A node source that records every node it is asked for.
struct Recording<'a> {
    inner: &'a MemTree,
    asked: RefCell<Vec<(u8, u64)>>,
}

impl NodeSource for Recording<'_> {
    type Error = MemTreeError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MemTreeError> {
        self.asked.borrow_mut().push((level, index));
        self.inner.node(level, index)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn range_root_is_mth_of_the_sublist(size in 1u64..600, seed: u64, a: Index, b: Index) {
        let mem = MemTree::from_entries(common::entries(seed, size));
        let leaves = mem.leaf_hashes();
        let (x, y) = (a.index(size as usize + 1), b.index(size as usize + 1));
        let (begin, end) = (x.min(y), x.max(y));
        let source = Recording { inner: &mem, asked: RefCell::new(Vec::new()) };
        let root = range_root(&source, begin as u64, end as u64).expect("range inside the tree");
        prop_assert_eq!(root, common::mth(&leaves[begin..end]));
        for &(level, index) in source.asked.borrow().iter() {
            let first = index << level;
            let last = ((index + 1) << level) - 1;
            prop_assert!(
                first >= begin as u64 && last < end as u64,
                "asked for node ({}, {}) outside [{}, {})", level, index, begin, end
            );
        }
    }

    #[test]
    fn root_of_fetches_one_node_per_set_bit_of_the_size(size in 1u64..2000, seed: u64) {
        let mem = MemTree::from_entries(common::entries(seed, size));
        let source = Recording { inner: &mem, asked: RefCell::new(Vec::new()) };
        prop_assert_eq!(root_of(&source, size).expect("in range"), mem.root());
        prop_assert_eq!(source.asked.borrow().len(), size.count_ones() as usize);
    }
}

#[test]
fn empty_ranges_have_the_empty_root() {
    let mem = MemTree::new();
    assert_eq!(range_root(&mem, 0, 0).expect("empty range"), empty_root());
    assert_eq!(range_root(&mem, 5, 5).expect("empty range"), empty_root());
    assert_eq!(root_of(&mem, 0).expect("empty tree"), empty_root());
}
