//! Bad arguments and failing node sources give precise errors, never panics or wrong proofs.

use std::error::Error;

use suho_merkle::{
    consistency_proof, inclusion_proof, leaf_hash, range_root, root_of, verify_consistency,
    verify_inclusion, Hash, MemTree, MemTreeError, NodeSource, ProofError, RootRole, VerifyError,
};

fn tree(size: u64) -> MemTree {
    MemTree::from_entries((0..size).map(|i| i.to_be_bytes()))
}

#[test]
fn inclusion_proof_refuses_index_at_or_past_size() {
    let mem = tree(5);
    for (index, size) in [(5, 5), (9, 5), (0, 0), (u64::MAX, 5)] {
        assert!(matches!(
            inclusion_proof(&mem, index, size),
            Err(ProofError::IndexOutOfRange { index: i, size: s }) if i == index && s == size
        ));
    }
}

#[test]
fn consistency_proof_refuses_shrinking_and_empty_old_tree() {
    let mem = tree(5);
    assert!(matches!(
        consistency_proof(&mem, 4, 3),
        Err(ProofError::OldSizeExceedsNewSize {
            old_size: 4,
            new_size: 3
        })
    ));
    assert!(matches!(
        consistency_proof(&mem, 0, 3),
        Err(ProofError::EmptyOldTree { new_size: 3 })
    ));
    assert!(consistency_proof(&mem, 3, 3)
        .expect("equal sizes")
        .is_empty());
}

#[test]
fn range_root_refuses_begin_after_end() {
    assert!(matches!(
        range_root(&tree(5), 3, 2),
        Err(ProofError::InvalidRange { begin: 3, end: 2 })
    ));
}

#[test]
fn missing_nodes_surface_as_source_errors_naming_the_node() {
    let mem = tree(5);
    // Size 6 needs the node over leaves 4..6, which a tree of 5 leaves does not have.
    let err = root_of(&mem, 6).expect_err("tree has only 5 leaves");
    match &err {
        ProofError::Source {
            level,
            index,
            source,
        } => {
            assert_eq!((*level, *index), (1, 2));
            assert_eq!(
                *source,
                MemTreeError::NotComplete {
                    level: 1,
                    index: 2,
                    size: 5
                }
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("level 1, index 2"));
    assert!(err.source().is_some());
    assert!(inclusion_proof(&mem, 0, 7).is_err());
    assert!(consistency_proof(&mem, 2, 9).is_err());
}

#[test]
fn proof_functions_work_through_a_reference_to_a_source() {
    let mem = tree(11);
    let source: &MemTree = &mem;
    // `&source` is a `&&MemTree`: the blanket impl for references is used.
    assert_eq!(root_of(&source, 11).expect("in range"), mem.root());
    assert_eq!(
        inclusion_proof(&source, 3, 11).ok(),
        inclusion_proof(&mem, 3, 11).ok()
    );
}

#[test]
fn verify_inclusion_errors_are_precise() {
    let mem = tree(6);
    let root = mem.root();
    let leaf = leaf_hash(&2u64.to_be_bytes());
    let proof = inclusion_proof(&mem, 2, 6).expect("valid");
    assert_eq!(verify_inclusion(&leaf, 2, 6, &proof, &root), Ok(()));

    assert_eq!(
        verify_inclusion(&leaf, 6, 6, &proof, &root),
        Err(VerifyError::IndexOutOfRange { index: 6, size: 6 })
    );
    assert_eq!(
        verify_inclusion(&leaf, 2, 6, &proof[..2], &root),
        Err(VerifyError::WrongProofLength {
            expected: 3,
            got: 2
        })
    );
    let other = leaf_hash(b"not in the tree");
    let err = verify_inclusion(&other, 2, 6, &proof, &root).expect_err("wrong leaf");
    let VerifyError::RootMismatch {
        role,
        expected,
        computed,
    } = &err
    else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!(*role, RootRole::Tree);
    assert_eq!(*expected, root);
    assert_ne!(*computed, root);
    let message = err.to_string();
    assert!(message.contains(&hex::encode(root)), "{message}");
    assert!(message.contains(&hex::encode(computed)), "{message}");
}

#[test]
fn verify_consistency_errors_are_precise() {
    let mem = tree(7);
    let old_root = root_of(&mem, 3).expect("in range");
    let new_root = mem.root();
    let proof = consistency_proof(&mem, 3, 7).expect("valid");
    assert_eq!(
        verify_consistency(3, 7, &proof, &old_root, &new_root),
        Ok(())
    );

    assert_eq!(
        verify_consistency(7, 3, &proof, &old_root, &new_root),
        Err(VerifyError::OldSizeExceedsNewSize {
            old_size: 7,
            new_size: 3
        })
    );
    assert_eq!(
        verify_consistency(0, 7, &[], &old_root, &new_root),
        Err(VerifyError::EmptyOldTree { new_size: 7 })
    );
    assert_eq!(
        verify_consistency(3, 7, &[], &old_root, &new_root),
        Err(VerifyError::WrongProofLength {
            expected: proof.len(),
            got: 0
        })
    );
    assert_eq!(
        verify_consistency(7, 7, &proof, &new_root, &new_root),
        Err(VerifyError::WrongProofLength {
            expected: 0,
            got: proof.len()
        })
    );
    assert_eq!(verify_consistency(7, 7, &[], &new_root, &new_root), Ok(()));
    assert!(matches!(
        verify_consistency(7, 7, &[], &old_root, &new_root),
        Err(VerifyError::RootMismatch {
            role: RootRole::New,
            ..
        })
    ));

    let wrong: Hash = [9; 32];
    assert!(matches!(
        verify_consistency(3, 7, &proof, &wrong, &new_root),
        Err(VerifyError::RootMismatch { role: RootRole::Old, expected, .. }) if expected == wrong
    ));
    assert!(matches!(
        verify_consistency(3, 7, &proof, &old_root, &wrong),
        Err(VerifyError::RootMismatch { role: RootRole::New, expected, .. }) if expected == wrong
    ));
}

#[test]
fn huge_sizes_do_not_overflow() {
    let leaf = [1u8; 32];
    let root = [2u8; 32];
    assert!(matches!(
        verify_inclusion(&leaf, u64::MAX - 1, u64::MAX, &[], &root),
        Err(VerifyError::WrongProofLength {
            expected: 63,
            got: 0
        })
    ));
    assert!(matches!(
        verify_inclusion(&leaf, 0, u64::MAX, &[root; 64], &root),
        Err(VerifyError::RootMismatch { .. })
    ));
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &[], &leaf, &root).is_err());
    assert!(verify_consistency(1, u64::MAX, &[root; 64], &leaf, &root).is_err());
}

#[test]
fn mem_tree_refuses_nodes_it_does_not_hold() {
    let mem = tree(5);
    assert_eq!(mem.node(0, 4), Ok(leaf_hash(&4u64.to_be_bytes())));
    assert!(mem.node(0, 5).is_err());
    assert!(mem.node(1, 2).is_err());
    assert!(mem.node(3, 0).is_err());
    assert!(mem.node(200, u64::MAX).is_err());
}
