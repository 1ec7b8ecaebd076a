//! Signing and opening notes: round trips and the rejections a verifier relies on.

use suho_note::{open, sign, NoteError, Signer, MAX_SIGNATURES};

fn key(name: &str, seed: u8) -> Signer {
    Signer::from_seed(name, [seed; 32]).unwrap()
}

#[test]
fn sign_then_open_round_trips_with_several_signers() {
    let log = key("suho.example/log", 1);
    let witness = key("witness.example", 2);
    let body = "line one\n\nline three after a blank line\n";
    let signed = sign(body, &[&log, &witness]).unwrap();
    assert!(signed.starts_with(body));
    assert_eq!(
        signed.lines().filter(|l| l.starts_with('\u{2014}')).count(),
        2
    );

    let note = open(&signed, &[log.verifier(), witness.verifier()]).unwrap();
    assert_eq!(note.body, body);
    let names: Vec<_> = note.signatures.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["suho.example/log", "witness.example"]);

    // Trusting only the witness still opens it; the log signature is then unverified.
    let note = open(&signed, &[witness.verifier()]).unwrap();
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.unverified.len(), 1);
    assert_eq!(
        note.unverified[0].to_line().trim_end(),
        signed.lines().nth(4).unwrap()
    );
}

#[test]
fn opening_with_the_wrong_key_fails() {
    let signer = key("suho.example/log", 1);
    let impostor = key("suho.example/log", 2);
    let signed = sign("hello\n", &[&signer]).unwrap();
    let err = open(&signed, &[impostor.verifier()]).unwrap_err();
    assert!(
        matches!(err, NoteError::NoTrustedSignature { signatures: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("none is by a trusted key"),
        "{err}"
    );
}

#[test]
fn tampered_body_fails_with_the_signature_line() {
    let signer = key("suho.example/log", 1);
    let signed = sign("size 10\nroot A\n", &[&signer]).unwrap();
    let tampered = signed.replacen("size 10", "size 11", 1);
    let err = open(&tampered, &[signer.verifier()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "signed note line 4: signature by trusted key suho.example/log+{} does not verify \
             (Ed25519 verification failed); the note was altered or not signed by that key",
            hex::encode(signer.key_id())
        )
    );
}

#[test]
fn a_bad_trusted_signature_rejects_the_note_even_if_another_verifies() {
    let a = key("a.example", 1);
    let b = key("b.example", 2);
    let signed_a = sign("text\n", &[&a]).unwrap();
    let signed_b_other = sign("other text\n", &[&b]).unwrap();
    let b_line = signed_b_other.lines().last().unwrap();
    let mixed = format!("{signed_a}{b_line}\n");
    let err = open(&mixed, &[a.verifier(), b.verifier()]).unwrap_err();
    assert!(
        matches!(&err, NoteError::InvalidSignature { line: 4, name, .. } if name == "b.example"),
        "{err:?}"
    );
    // Not trusting b, its signature is ignored and the note opens.
    assert!(open(&mixed, &[a.verifier()]).is_ok());
}

#[test]
fn duplicate_trusted_verifier_is_harmless() {
    let a = key("a.example", 1);
    let signed = sign("text\n", &[&a]).unwrap();
    let note = open(&signed, &[a.verifier(), a.verifier()]).unwrap();
    assert_eq!(note.signatures.len(), 1);
}

#[test]
fn sign_rejects_bad_bodies_with_the_line() {
    let s = key("a.example", 1);
    let cases = [
        ("", "note text line 1: the note text is empty; it must be at least one line ending in a newline"),
        ("one\ntwo", "note text line 2: the note text does not end with a newline"),
        ("one\r\ntwo\n", "note text line 1: control character U+000D at column 4 is not allowed (only newline may appear; is this a CRLF file?)"),
        ("ok\nta\tb\n", "note text line 2: control character U+0009 at column 3 is not allowed (only newline may appear; is this a CRLF file?)"),
    ];
    for (body, msg) in cases {
        assert_eq!(sign(body, &[&s]).unwrap_err().to_string(), msg, "{body:?}");
    }
}

#[test]
fn sign_rejects_bad_signer_lists() {
    let s = key("a.example", 1);
    assert_eq!(sign("x\n", &[]), Err(NoteError::NoSigners));
    assert_eq!(
        sign("x\n", &[&s, &s]),
        Err(NoteError::DuplicateSigner {
            name: "a.example".into(),
            key_id: hex::encode(s.key_id())
        })
    );
    let many: Vec<Signer> = (0..=MAX_SIGNATURES)
        .map(|i| key(&format!("w{i}.example"), 5))
        .collect();
    let refs: Vec<&Signer> = many.iter().collect();
    assert!(matches!(
        sign("x\n", &refs),
        Err(NoteError::TooManySignatures {
            count: 101,
            max: 100
        })
    ));
}

#[test]
fn open_accepts_the_maximum_number_of_signatures() {
    let many: Vec<Signer> = (0..MAX_SIGNATURES)
        .map(|i| key(&format!("w{i}.example"), 5))
        .collect();
    let refs: Vec<&Signer> = many.iter().collect();
    let signed = sign("x\n", &refs).unwrap();
    let note = open(&signed, &[many[99].verifier()]).unwrap();
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.unverified.len(), 99);
}

#[test]
fn open_reports_malformed_lines_precisely() {
    let s = key("a.example", 1);
    let signed = sign("text\n", &[&s]).unwrap();
    let sig_b64 = signed
        .lines()
        .last()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let cases = [
        (String::new(), "signed note line 1: the signed note is empty"),
        ("text\n".to_string(), "signed note line 1: no blank line separates the note text from the signature lines"),
        ("text\n\n".to_string(), "signed note line 2: the note ends with a blank line but no signature lines follow it"),
        (format!("text\n\n- a.example {sig_b64}\n"), "signed note line 3: signature line \"- a.example "),
        (format!("text\n\n\u{2014} a.example{sig_b64}\n"), "signed note line 3: signature line"),
        (format!("text\n\n\u{2014} a+b {sig_b64}\n"), "signed note line 3: key name \"a+b\" is invalid: it contains a plus sign"),
        ("text\n\n\u{2014} a.example AAAA\n".to_string(), "signed note line 3: signature by \"a.example\" is 3 bytes, too short for a 4-byte key id and a signature"),
        ("text\n\n\u{2014} a.example not*base64\n".to_string(), "signed note line 3: signature by \"a.example\" is not valid base64"),
        (format!("text\n\n\u{2014} a.example {sig_b64}"), "signed note line 3: the signed note does not end with a newline"),
        (format!("text\r\n\n\u{2014} a.example {sig_b64}\n"), "signed note line 1: control character U+000D"),
    ];
    for (text, prefix) in &cases {
        let err = open(text, &[s.verifier()]).unwrap_err();
        assert!(
            matches!(err, NoteError::MalformedNote { .. }),
            "{text:?}: {err:?}"
        );
        assert!(err.to_string().starts_with(prefix), "{text:?}: {err}");
    }
}
