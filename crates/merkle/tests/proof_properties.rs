//! Properties of inclusion and consistency proofs on random trees of 1..2000 leaves: generated
//! proofs verify against `root_of` and equal the RFC 6962 definitions (tests/common), and
//! mutated proofs, indices, sizes and roots are judged exactly as a from-the-definition
//! reference verifier judges them (flipped bytes always fail).

mod common;

use common::{
    entries, hashes_of, mth, path_spans, reference_verify_consistency, reference_verify_inclusion,
    subproof_spans,
};
use proptest::prelude::*;
use proptest::sample::Index;
use suho_merkle::{
    consistency_proof, inclusion_proof, root_of, verify_consistency, verify_inclusion, Hash,
    MemTree, VerifyError,
};

struct Tree {
    mem: MemTree,
    leaves: Vec<Hash>,
}

fn tree(seed: u64, size: u64) -> Tree {
    let mem = MemTree::from_entries(entries(seed, size));
    let leaves = mem.leaf_hashes().to_vec();
    Tree { mem, leaves }
}

fn flip(proof: &[Hash], element: Index, byte: Index, bit: u8) -> Vec<Hash> {
    let mut mutated = proof.to_vec();
    let e = element.index(mutated.len());
    let b = byte.index(32);
    mutated[e][b] ^= 1 << (bit % 8);
    mutated
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Every leaf's proof verifies against `root_of`, which equals the reference MTH.
    #[test]
    fn every_inclusion_proof_verifies(size in 1u64..2000, seed: u64) {
        let t = tree(seed, size);
        let root = root_of(&t.mem, size).expect("valid arguments");
        prop_assert_eq!(root, mth(&t.leaves));
        for index in 0..size {
            let proof = inclusion_proof(&t.mem, index, size).expect("valid arguments");
            prop_assert_eq!(
                verify_inclusion(&t.leaves[index as usize], index, size, &proof, &root),
                Ok(()),
                "leaf {} of {}", index, size
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A generated inclusion proof is RFC 6962 PATH, verifies in both verifiers, and fails
    /// once any bit of it, the leaf or the root is flipped.
    #[test]
    fn inclusion_proof_is_rfc_path_and_tamper_evident(
        size in 1u64..2000,
        seed: u64,
        pick: Index,
        element: Index,
        byte: Index,
        bit: u8,
    ) {
        let t = tree(seed, size);
        let index = pick.index(size as usize) as u64;
        let leaf = t.leaves[index as usize];
        let root = mth(&t.leaves);
        let proof = inclusion_proof(&t.mem, index, size).expect("valid arguments");
        prop_assert_eq!(&proof, &hashes_of(&t.leaves, &path_spans(index, 0, size)));
        prop_assert!(reference_verify_inclusion(&leaf, index, size, &proof, &root));

        if !proof.is_empty() {
            let mutated = flip(&proof, element, byte, bit);
            let verdict = verify_inclusion(&leaf, index, size, &mutated, &root);
            prop_assert!(
                matches!(verdict, Err(VerifyError::RootMismatch { .. })),
                "flipped proof accepted or misreported: {:?}", verdict
            );
        }
        let mut bad_leaf = leaf;
        bad_leaf[byte.index(32)] ^= 1 << (bit % 8);
        prop_assert!(verify_inclusion(&bad_leaf, index, size, &proof, &root).is_err());
        let mut bad_root = root;
        bad_root[byte.index(32)] ^= 1 << (bit % 8);
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &bad_root).is_err());

        // Proof too long or too short.
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert_eq!(
            verify_inclusion(&leaf, index, size, &longer, &root),
            Err(VerifyError::WrongProofLength { expected: proof.len(), got: proof.len() + 1 })
        );
        if let Some((_, shorter)) = proof.split_last() {
            prop_assert!(verify_inclusion(&leaf, index, size, shorter, &root).is_err());
        }
    }

    /// With a wrong index or a wrong size, the library verifier agrees with the reference
    /// verifier (which rebuilds the root from the RFC definition), and out-of-range indices
    /// are refused.
    #[test]
    fn inclusion_proof_with_wrong_index_or_size(
        size in 1u64..2000,
        seed: u64,
        pick: Index,
        other_index: Index,
        other_size in 1u64..2100,
    ) {
        let t = tree(seed, size);
        let index = pick.index(size as usize) as u64;
        let leaf = t.leaves[index as usize];
        let root = mth(&t.leaves);
        let proof = inclusion_proof(&t.mem, index, size).expect("valid arguments");

        let wrong_index = other_index.index(size as usize) as u64;
        if wrong_index != index {
            let lib = verify_inclusion(&leaf, wrong_index, size, &proof, &root);
            let reference = reference_verify_inclusion(&leaf, wrong_index, size, &proof, &root);
            prop_assert_eq!(lib.is_ok(), reference, "index {} claimed as {}", index, wrong_index);
        }
        if other_size != size {
            let lib = verify_inclusion(&leaf, index, other_size, &proof, &root);
            let reference = reference_verify_inclusion(&leaf, index, other_size, &proof, &root);
            prop_assert_eq!(lib.is_ok(), reference, "size {} claimed as {}", size, other_size);
            if index >= other_size {
                prop_assert_eq!(lib, Err(VerifyError::IndexOutOfRange { index, size: other_size }));
            }
        }
    }

    /// A generated consistency proof is RFC 6962 PROOF, verifies in both verifiers, and fails
    /// once any bit of it or of either root is flipped, or it loses or gains a hash.
    #[test]
    fn consistency_proof_is_rfc_proof_and_tamper_evident(
        new_size in 1u64..2000,
        old_pick: Index,
        seed: u64,
        element: Index,
        byte: Index,
        bit: u8,
    ) {
        let t = tree(seed, new_size);
        let old_size = old_pick.index(new_size as usize) as u64 + 1;
        let old_root = mth(&t.leaves[..old_size as usize]);
        let new_root = mth(&t.leaves);
        prop_assert_eq!(root_of(&t.mem, old_size).expect("valid arguments"), old_root);

        let proof = consistency_proof(&t.mem, old_size, new_size).expect("valid arguments");
        let expected = if old_size == new_size {
            Vec::new()
        } else {
            hashes_of(&t.leaves, &subproof_spans(old_size, 0, new_size, true))
        };
        prop_assert_eq!(&proof, &expected);
        prop_assert_eq!(verify_consistency(old_size, new_size, &proof, &old_root, &new_root), Ok(()));
        prop_assert!(reference_verify_consistency(old_size, new_size, &proof, &old_root, &new_root));

        if !proof.is_empty() {
            let mutated = flip(&proof, element, byte, bit);
            prop_assert!(verify_consistency(old_size, new_size, &mutated, &old_root, &new_root).is_err());
            let (_, shorter) = proof.split_last().expect("proof is not empty");
            prop_assert!(verify_consistency(old_size, new_size, shorter, &old_root, &new_root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(new_root);
        prop_assert_eq!(
            verify_consistency(old_size, new_size, &longer, &old_root, &new_root),
            Err(VerifyError::WrongProofLength { expected: proof.len(), got: proof.len() + 1 })
        );
        let mut bad_old = old_root;
        bad_old[byte.index(32)] ^= 1 << (bit % 8);
        prop_assert!(verify_consistency(old_size, new_size, &proof, &bad_old, &new_root).is_err());
        let mut bad_new = new_root;
        bad_new[byte.index(32)] ^= 1 << (bit % 8);
        prop_assert!(verify_consistency(old_size, new_size, &proof, &old_root, &bad_new).is_err());
        if old_size < new_size {
            prop_assert!(verify_consistency(old_size, new_size, &proof, &new_root, &old_root).is_err());
        }
    }

    /// With wrong sizes, the library verifier agrees with the reference verifier, and sizes
    /// that are out of order or start from 0 are refused with their own errors.
    #[test]
    fn consistency_proof_with_wrong_sizes(
        new_size in 1u64..2000,
        old_pick: Index,
        seed: u64,
        other_old in 0u64..2100,
        other_new in 0u64..2100,
    ) {
        let t = tree(seed, new_size);
        let old_size = old_pick.index(new_size as usize) as u64 + 1;
        let old_root = mth(&t.leaves[..old_size as usize]);
        let new_root = mth(&t.leaves);
        let proof = consistency_proof(&t.mem, old_size, new_size).expect("valid arguments");

        for (claimed_old, claimed_new) in [
            (other_old, new_size),
            (old_size, other_new),
            (other_old, other_new),
        ] {
            if (claimed_old, claimed_new) == (old_size, new_size) {
                continue;
            }
            let lib = verify_consistency(claimed_old, claimed_new, &proof, &old_root, &new_root);
            let reference =
                reference_verify_consistency(claimed_old, claimed_new, &proof, &old_root, &new_root);
            prop_assert_eq!(
                lib.is_ok(), reference,
                "{} -> {} claimed as {} -> {}: {:?}", old_size, new_size, claimed_old, claimed_new, lib
            );
            if claimed_old > claimed_new {
                prop_assert_eq!(lib, Err(VerifyError::OldSizeExceedsNewSize {
                    old_size: claimed_old,
                    new_size: claimed_new,
                }));
            } else if claimed_old == 0 {
                prop_assert_eq!(lib, Err(VerifyError::EmptyOldTree { new_size: claimed_new }));
            }
        }
    }
}
