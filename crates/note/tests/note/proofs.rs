//! tlog-proof and consistency-proof files: round trips, the published example's layout,
//! and rejections with file line numbers.

use proptest::prelude::*;
use suho_note::{Checkpoint, ConsistencyProofFile, NoteError, Signer, TlogProof};

use crate::vectors::TLOG_PROOF_EXAMPLE;

fn log() -> Signer {
    Signer::from_seed("suho.example/ledger", [7; 32]).unwrap()
}

fn witness() -> Signer {
    Signer::from_seed("witness.example", [8; 32]).unwrap()
}

fn signed_checkpoint(size: u64, root: u8, signers: &[&Signer]) -> String {
    Checkpoint {
        origin: "suho.example/ledger".into(),
        size,
        root: [root; 32],
        extensions: vec![],
    }
    .sign(signers)
    .unwrap()
}

#[test]
fn tlog_proof_round_trips_and_opens() {
    let proof = TlogProof {
        extra: Some(b"record 41".to_vec()),
        index: 41,
        hashes: vec![[1; 32], [2; 32], [3; 32]],
        checkpoint: signed_checkpoint(100, 9, &[&log(), &witness()]),
    };
    let text = proof.encode();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra cmVjb3JkIDQx\nindex 41\nAQEB"));
    let parsed = TlogProof::parse(&text).unwrap();
    assert_eq!(parsed, proof);

    let (cp, note) = parsed.open_checkpoint(&[log().verifier()]).unwrap();
    assert_eq!(cp.size, 100);
    assert_eq!(note.unverified.len(), 1);
    assert!(matches!(
        parsed.open_checkpoint(&[Signer::generate("suho.example/ledger").unwrap().verifier()]),
        Err(NoteError::NoTrustedSignature { .. })
    ));
}

#[test]
fn tlog_proof_without_extra_or_hashes() {
    let proof = TlogProof {
        extra: None,
        index: 0,
        hashes: vec![],
        checkpoint: signed_checkpoint(1, 4, &[&log()]),
    };
    let text = proof.encode();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 0\n\nsuho.example/ledger\n1\n"));
    assert_eq!(TlogProof::parse(&text).unwrap(), proof);
}

#[test]
fn tlog_proof_rejections_cite_the_file_line() {
    let ex = TLOG_PROOF_EXAMPLE;
    let cases = [
        (ex.replacen("tlog-proof@v1", "tlog-proof@v2", 1), "c2sp.org/tlog-proof@v1 line 1: first line must be \"c2sp.org/tlog-proof@v1\", found \"c2sp.org/tlog-proof@v2\""),
        (ex.replacen("index 73894", "index 073894", 1), "c2sp.org/tlog-proof@v1 line 3: index \"073894\" has a leading zero"),
        (ex.replacen("index 73894", "idx 73894", 1), "c2sp.org/tlog-proof@v1 line 3: expected \"index <n>\""),
        (ex.replacen("extra YWdl", "extra !Wdl", 1), "c2sp.org/tlog-proof@v1 line 2: extra data"),
        (ex.replacen("B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=", "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXg==", 1), "c2sp.org/tlog-proof@v1 line 5: proof hash \"B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXg==\" decodes to 31 bytes, a SHA-256 hash is 32"),
        (ex.replacen("109482", "10948x", 1), "c2sp.org/tlog-proof@v1 line 11: checkpoint: tree size \"10948x\" is not a decimal number"),
        (ex.replacen("109482", "73894", 1), "c2sp.org/tlog-proof@v1 line 11: index 73894 is not inside the checkpointed tree of size 73894"),
        (ex.replacen("\u{2014} witness2.example", "- witness2.example", 1), "c2sp.org/tlog-proof@v1 line 16: checkpoint: signature line \"- witness2.example"),
        (ex.replacen("\n\nexample.com/fancylog", "\nexample.com/fancylog", 1), "c2sp.org/tlog-proof@v1 line 9: proof hash \"example.com/fancylog\""),
        (ex[..ex.find("\n\nexample").unwrap() + 2].to_string(), "c2sp.org/tlog-proof@v1 line 10: the checkpoint is missing"),
        ("c2sp.org/tlog-proof@v1\n".to_string(), "c2sp.org/tlog-proof@v1 line 2: missing the \"index <n>\" line"),
        ("c2sp.org/tlog-proof@v1\nindex 1\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n".to_string(), "c2sp.org/tlog-proof@v1 line 4: file ends before the blank line and the signed checkpoint"),
        (String::new(), "c2sp.org/tlog-proof@v1 line 1: the file is empty"),
        (ex.replacen("index", "\tindex", 1), "c2sp.org/tlog-proof@v1 line 3: control character U+0009 at column 1"),
    ];
    for (text, prefix) in &cases {
        let err = TlogProof::parse(text).unwrap_err();
        assert!(
            matches!(err, NoteError::MalformedProof { .. }),
            "{text:?}: {err:?}"
        );
        assert!(err.to_string().starts_with(prefix), "{text:?}:\n{err}");
    }
}

#[test]
fn tlog_proof_with_too_many_hashes_is_refused() {
    let proof = TlogProof {
        extra: None,
        index: 0,
        hashes: vec![[5; 32]; 65],
        checkpoint: signed_checkpoint(1, 4, &[&log()]),
    };
    let err = TlogProof::parse(&proof.encode()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "c2sp.org/tlog-proof@v1 line 67: more than 64 proof hashes; no valid proof is that long"
    );
}

fn consistency() -> ConsistencyProofFile {
    ConsistencyProofFile {
        old_checkpoint: signed_checkpoint(5, 1, &[&log(), &witness()]),
        new_checkpoint: signed_checkpoint(9, 2, &[&log()]),
        hashes: vec![[3; 32], [4; 32]],
    }
}

#[test]
fn consistency_file_layout_is_documented_and_round_trips() {
    let file = consistency();
    let text = file.encode();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "suho.dev/consistency-proof@v1");
    assert_eq!(lines[3], "");
    assert_eq!(
        &lines[4..7],
        [
            "suho.example/ledger",
            "5",
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
        ]
    );
    assert_eq!(lines[7], "");
    assert!(lines[8].starts_with("\u{2014} suho.example/ledger "));
    assert!(lines[9].starts_with("\u{2014} witness.example "));
    assert_eq!(lines[10], "");
    assert_eq!(&lines[11..13], ["suho.example/ledger", "9"]);

    let parsed = ConsistencyProofFile::parse(&text).unwrap();
    assert_eq!(parsed, file);
    let (old, new) = parsed.open_checkpoints(&[log().verifier()]).unwrap();
    assert_eq!((old.size, new.size), (5, 9));
}

#[test]
fn consistency_file_with_equal_sizes_and_no_hashes() {
    let file = ConsistencyProofFile {
        old_checkpoint: signed_checkpoint(5, 1, &[&log()]),
        new_checkpoint: signed_checkpoint(5, 1, &[&log()]),
        hashes: vec![],
    };
    assert_eq!(ConsistencyProofFile::parse(&file.encode()).unwrap(), file);
}

#[test]
fn consistency_file_needs_trusted_signatures_on_both_checkpoints() {
    let mut file = consistency();
    file.new_checkpoint = signed_checkpoint(9, 2, &[&witness()]);
    let parsed = ConsistencyProofFile::parse(&file.encode()).unwrap();
    assert!(matches!(
        parsed.open_checkpoints(&[log().verifier()]),
        Err(NoteError::NoTrustedSignature { .. })
    ));
    let tampered = file.encode().replacen("\n9\n", "\n10\n", 1);
    let parsed = ConsistencyProofFile::parse(&tampered).unwrap();
    assert!(matches!(
        parsed.open_checkpoints(&[log().verifier(), witness().verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn consistency_file_rejections_cite_the_file_line() {
    let text = consistency().encode();
    let other_origin = ConsistencyProofFile {
        new_checkpoint: Checkpoint {
            origin: "other.example/log".into(),
            size: 9,
            root: [2; 32],
            extensions: vec![],
        }
        .sign(&[&log()])
        .unwrap(),
        ..consistency()
    };
    let shrinking = ConsistencyProofFile {
        old_checkpoint: signed_checkpoint(10, 1, &[&log()]),
        ..consistency()
    };
    let old_sig_end = text.find("\n\nsuho.example/ledger\n9").unwrap();
    let cases = [
        (text.replacen("suho.dev/", "suho.com/", 1), "suho.dev/consistency-proof@v1 line 1: first line must be"),
        (other_origin.encode(), "suho.dev/consistency-proof@v1 line 12: the checkpoints are of different logs: old origin \"suho.example/ledger\" and new origin \"other.example/log\""),
        (shrinking.encode(), "suho.dev/consistency-proof@v1 line 12: the old checkpoint's tree size 10 is larger than the new checkpoint's 9"),
        (format!("{}\n{}", &text[..old_sig_end], &text[old_sig_end + 2..]), "suho.dev/consistency-proof@v1 line 11: expected a signature line of the old checkpoint or the blank line before the new checkpoint, found \"suho.example/ledger\""),
        (text[..old_sig_end + 1].to_string(), "suho.dev/consistency-proof@v1 line 11: file ends after the old checkpoint"),
        (text[..old_sig_end + 2].to_string(), "suho.dev/consistency-proof@v1 line 12: the new checkpoint is missing"),
        (text.replacen("\n5\n", "\n05\n", 1), "suho.dev/consistency-proof@v1 line 6: old checkpoint: tree size \"05\" has a leading zero"),
        (text.replacen("\n9\n", "\n9x\n", 1), "suho.dev/consistency-proof@v1 line 13: new checkpoint: tree size \"9x\" is not a decimal number"),
        ("suho.dev/consistency-proof@v1\n\na\n1\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n\nx\n".to_string(), "suho.dev/consistency-proof@v1 line 7: old checkpoint: no signature lines after its text"),
    ];
    for (t, prefix) in &cases {
        let err = ConsistencyProofFile::parse(t).unwrap_err();
        assert!(
            matches!(err, NoteError::MalformedProof { .. }),
            "{t:?}: {err:?}"
        );
        assert!(err.to_string().starts_with(prefix), "{t:?}:\n{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn proofs_round_trip(
        extra in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        index in 0u64..1000,
        hashes in proptest::collection::vec(any::<[u8; 32]>(), 0..10),
        old in 0u64..1000,
        grow in 0u64..1000,
    ) {
        let signer = log();
        let proof = TlogProof {
            extra,
            index,
            hashes: hashes.clone(),
            checkpoint: signed_checkpoint(index + 1, 3, &[&signer]),
        };
        prop_assert_eq!(TlogProof::parse(&proof.encode()).unwrap(), proof);
        let file = ConsistencyProofFile {
            old_checkpoint: signed_checkpoint(old, 1, &[&signer]),
            new_checkpoint: signed_checkpoint(old + grow, 2, &[&signer]),
            hashes,
        };
        prop_assert_eq!(ConsistencyProofFile::parse(&file.encode()).unwrap(), file);
    }
}
