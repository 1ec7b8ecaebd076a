//! The RFC 6962 test vectors published by transparency-dev/merkle: the leaf inputs, every node
//! hash and every root of the 8-leaf tree and its prefixes (`testonly/constants.go`), and the
//! inclusion and consistency proofs listed in `cmd/proofgen/main.go` (from which the
//! `testdata/` probes are generated).

use suho_merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root_of,
    verify_consistency, verify_inclusion, CompactRange, Hash, MemTree, NodeSource,
};

fn h(text: &str) -> Hash {
    let bytes = hex::decode(text).expect("test vector is hex");
    Hash::try_from(bytes.as_slice()).expect("test vector is 32 bytes")
}

/// `LeafInputs()`, hex.
const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// `NodeHashes()`: level 0 (leaf hashes) to level 3 (the root of all 8 leaves).
const NODE_HASHES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// `RootHashes()`: the root of the tree of the first `n` leaf inputs, for n = 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// `CompactTrees()`: the compact range of each prefix, as (level, index) into NODE_HASHES.
const COMPACT_TREES: [&[(usize, usize)]; 9] = [
    &[],
    &[(0, 0)],
    &[(1, 0)],
    &[(1, 0), (0, 2)],
    &[(2, 0)],
    &[(2, 0), (0, 4)],
    &[(2, 0), (1, 2)],
    &[(2, 0), (1, 2), (0, 6)],
    &[(3, 0)],
];

/// `inclusionProofs` of cmd/proofgen: (leaf number counted from 1, tree size, proof).
const INCLUSION_PROOFS: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        3,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        2,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// `consistencyProofs` of cmd/proofgen: (old size, new size, proof).
const CONSISTENCY_PROOFS: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn leaf_inputs() -> Vec<Vec<u8>> {
    LEAF_INPUTS
        .iter()
        .map(|text| hex::decode(text).expect("leaf input is hex"))
        .collect()
}

fn full_tree() -> MemTree {
    MemTree::from_entries(leaf_inputs())
}

fn hashes(texts: &[&str]) -> Vec<Hash> {
    texts.iter().map(|text| h(text)).collect()
}

#[test]
fn empty_tree_root_is_sha256_of_empty_string() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    assert_eq!(MemTree::new().root(), h(ROOTS[0]));
    assert_eq!(CompactRange::new().root(), h(ROOTS[0]));
}

#[test]
fn leaf_hashes_of_leaf_inputs() {
    for (i, input) in leaf_inputs().iter().enumerate() {
        assert_eq!(leaf_hash(input), h(NODE_HASHES[0][i]), "leaf {i}");
    }
}

#[test]
fn every_complete_subtree_hash_of_the_8_leaf_tree() {
    let tree = full_tree();
    for (level, nodes) in NODE_HASHES.iter().enumerate() {
        for (index, expected) in nodes.iter().enumerate() {
            let got = tree
                .node(level as u8, index as u64)
                .expect("node is stored");
            assert_eq!(got, h(expected), "node ({level}, {index})");
            if level > 0 {
                let below = NODE_HASHES[level - 1];
                let combined = node_hash(&h(below[2 * index]), &h(below[2 * index + 1]));
                assert_eq!(
                    combined,
                    h(expected),
                    "node_hash of the children of ({level}, {index})"
                );
            }
        }
    }
}

#[test]
fn roots_of_every_tree_size_from_0_to_8() {
    let full = full_tree();
    let inputs = leaf_inputs();
    for (size, expected) in ROOTS.iter().enumerate() {
        let expected = h(expected);
        assert_eq!(
            root_of(&full, size as u64).expect("in range"),
            expected,
            "root_of size {size}"
        );
        let prefix = MemTree::from_entries(&inputs[..size]);
        assert_eq!(prefix.root(), expected, "MemTree of {size} leaves");
    }
}

#[test]
fn compact_range_roots_and_hashes_of_every_prefix() {
    let mut range = CompactRange::new();
    for (size, input) in std::iter::once(None)
        .chain(leaf_inputs().into_iter().map(Some))
        .enumerate()
    {
        if let Some(input) = input {
            range.append(leaf_hash(&input), |_, _, _| {});
        }
        assert_eq!(range.size(), size as u64);
        assert_eq!(range.root(), h(ROOTS[size]), "root after {size} appends");
        let expected: Vec<Hash> = COMPACT_TREES[size]
            .iter()
            .map(|&(level, index)| h(NODE_HASHES[level][index]))
            .collect();
        assert_eq!(
            range.hashes(),
            expected.as_slice(),
            "compact range of size {size}"
        );
    }
}

#[test]
fn inclusion_proofs_match_published_proofs_and_verify() {
    let tree = full_tree();
    let inputs = leaf_inputs();
    for (leaf_number, size, expected) in INCLUSION_PROOFS {
        let index = leaf_number - 1;
        let proof = inclusion_proof(&tree, index, size).expect("valid arguments");
        assert_eq!(
            proof,
            hashes(expected),
            "inclusion proof of leaf {index} in size {size}"
        );
        let leaf = leaf_hash(&inputs[index as usize]);
        let root = h(ROOTS[size as usize]);
        assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
    }
}

#[test]
fn consistency_proofs_match_published_proofs_and_verify() {
    let tree = full_tree();
    for (old_size, new_size, expected) in CONSISTENCY_PROOFS {
        let proof = consistency_proof(&tree, old_size, new_size).expect("valid arguments");
        assert_eq!(
            proof,
            hashes(expected),
            "consistency proof {old_size} -> {new_size}"
        );
        let old_root = h(ROOTS[old_size as usize]);
        let new_root = h(ROOTS[new_size as usize]);
        assert_eq!(
            verify_consistency(old_size, new_size, &proof, &old_root, &new_root),
            Ok(())
        );
    }
}

#[test]
fn all_inclusion_proofs_of_the_8_leaf_tree_verify() {
    let tree = full_tree();
    for size in 1..=8u64 {
        let root = h(ROOTS[size as usize]);
        for index in 0..size {
            let proof = inclusion_proof(&tree, index, size).expect("valid arguments");
            let leaf = h(NODE_HASHES[0][index as usize]);
            assert_eq!(
                verify_inclusion(&leaf, index, size, &proof, &root),
                Ok(()),
                "leaf {index} in size {size}"
            );
        }
    }
}

#[test]
fn all_consistency_proofs_of_the_8_leaf_tree_verify() {
    let tree = full_tree();
    for new_size in 1..=8u64 {
        for old_size in 1..=new_size {
            let proof = consistency_proof(&tree, old_size, new_size).expect("valid arguments");
            let old_root = h(ROOTS[old_size as usize]);
            let new_root = h(ROOTS[new_size as usize]);
            assert_eq!(
                verify_consistency(old_size, new_size, &proof, &old_root, &new_root),
                Ok(()),
                "{old_size} -> {new_size}"
            );
        }
    }
}
