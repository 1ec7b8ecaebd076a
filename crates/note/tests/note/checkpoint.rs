//! Checkpoint bodies: round trips and the exact rule each rejection cites.

use proptest::prelude::*;
use suho_note::{Checkpoint, NoteError, Signer};

fn cp(size: u64) -> Checkpoint {
    Checkpoint {
        origin: "suho.example/ledger".into(),
        size,
        root: [0xab; 32],
        extensions: vec![],
    }
}

#[test]
fn body_layout_is_origin_size_root() {
    assert_eq!(
        cp(12).to_body(),
        "suho.example/ledger\n12\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
    );
}

#[test]
fn signed_checkpoint_round_trips_and_checks_the_key() {
    let log = Signer::from_seed("suho.example/ledger", [7; 32]).unwrap();
    let mut c = cp(0);
    c.extensions = vec!["ext one".into(), "ext two".into()];
    let signed = c.sign(&[&log]).unwrap();
    let (opened, note) = Checkpoint::open(&signed, &[log.verifier()]).unwrap();
    assert_eq!(opened, c);
    assert_eq!(note.body, c.to_body());

    let other = Signer::from_seed("suho.example/ledger", [8; 32]).unwrap();
    assert!(matches!(
        Checkpoint::open(&signed, &[other.verifier()]),
        Err(NoteError::NoTrustedSignature { .. })
    ));
}

#[test]
fn rejections_name_the_line_and_the_rule() {
    let root = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=";
    let cases = [
        (format!("o\n12a\n{root}\n"), "checkpoint line 2: tree size \"12a\" is not a decimal number"),
        (format!("o\n012\n{root}\n"), "checkpoint line 2: tree size \"012\" has a leading zero"),
        (format!("o\n-1\n{root}\n"), "checkpoint line 2: tree size \"-1\" is not a decimal number"),
        (format!("o\n\n{root}\n"), "checkpoint line 2: tree size \"\" is empty"),
        (format!("o\n18446744073709551616\n{root}\n"), "checkpoint line 2: tree size \"18446744073709551616\" does not fit in 64 bits"),
        (format!("\n1\n{root}\n"), "checkpoint line 1: origin is empty"),
        ("o\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urqw==\n".to_string(), "checkpoint line 3: root hash \"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urqw==\" decodes to 31 bytes, a SHA-256 hash is 32"),
        ("o\n1\nnot base64!\n".to_string(), "checkpoint line 3: root hash \"not base64!\" is not valid base64"),
        ("o\n1\n".to_string(), "checkpoint line 2: checkpoint has 2 line(s), needs at least 3 (origin, tree size, root hash)"),
        (format!("o\n1\n{root}"), "checkpoint line 3: checkpoint does not end with a newline"),
        (format!("o\n1\n{root}\next\n\n"), "checkpoint line 5: extension line is empty"),
        (format!("o\r\n1\n{root}\n"), "checkpoint line 1: control character U+000D at column 2"),
        (String::new(), "checkpoint line 1: checkpoint is empty"),
    ];
    for (body, prefix) in &cases {
        let err = Checkpoint::parse(body).unwrap_err();
        assert!(
            matches!(err, NoteError::MalformedCheckpoint { .. }),
            "{body:?}: {err:?}"
        );
        assert!(err.to_string().starts_with(prefix), "{body:?}: {err}");
    }
}

#[test]
fn fields_that_cannot_be_written_are_refused_before_signing() {
    let log = Signer::from_seed("suho.example/ledger", [7; 32]).unwrap();
    let mut c = cp(1);
    c.origin = "two\nlines".into();
    assert_eq!(
        c.sign(&[&log]).unwrap_err().to_string(),
        "checkpoint line 1: origin \"two\\nlines\" contains a newline"
    );
    let mut c = cp(1);
    c.origin.clear();
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "checkpoint line 1: origin is empty"
    );
    let mut c = cp(1);
    c.extensions = vec!["fine".into(), String::new()];
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "checkpoint line 5: extension line is empty"
    );
}

proptest! {
    #[test]
    fn valid_checkpoints_round_trip(
        origin in "[a-z0-9./-]{1,40}",
        size: u64,
        root: [u8; 32],
        extensions in proptest::collection::vec("[ -~]{1,30}", 0..4),
    ) {
        let c = Checkpoint { origin, size, root, extensions };
        prop_assert!(c.validate().is_ok());
        prop_assert_eq!(Checkpoint::parse(&c.to_body()).unwrap(), c);
    }
}
