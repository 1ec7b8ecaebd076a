//! Published examples, transcribed from c2sp.org/signed-note, c2sp.org/tlog-checkpoint,
//! c2sp.org/tlog-proof and golang.org/x/mod/sumdb/note (note_test.go).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use suho_note::{open, sign, Checkpoint, NoteError, Signer, TlogProof, Verifier};

// ---- c2sp.org/signed-note, "Verifier keys / Example" ----

const C2SP_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const C2SP_NOTE: &str = "This is an example message.\n\
\n\
\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

#[test]
fn c2sp_signed_note_example_verifies() {
    let v = Verifier::parse(C2SP_VKEY).unwrap();
    assert_eq!(v.name(), "example.com/foo");
    assert_eq!(v.key_id(), [0x53, 0x0d, 0x90, 0x3a]);
    assert_eq!(v.to_string(), C2SP_VKEY);

    let note = open(C2SP_NOTE, &[v]).unwrap();
    assert_eq!(note.body, "This is an example message.\n");
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.signatures[0].name, "example.com/foo");
    assert_eq!(note.signatures[0].key_id, [0x53, 0x0d, 0x90, 0x3a]);
    assert_eq!(note.signatures[0].sig.len(), 64);
    assert!(note.unverified.is_empty());
}

#[test]
fn c2sp_signed_note_example_rejects_a_flipped_body_byte() {
    let v = Verifier::parse(C2SP_VKEY).unwrap();
    let tampered = C2SP_NOTE.replacen("example message", "exbmple message", 1);
    let err = open(&tampered, &[v]).unwrap_err();
    assert!(
        matches!(&err, NoteError::InvalidSignature { line: 3, name, key_id, .. }
            if name == "example.com/foo" && key_id == "530d903a"),
        "{err:?}"
    );
    assert!(err.to_string().contains("line 3"), "{err}");
}

#[test]
fn c2sp_signed_note_example_rejects_a_flipped_signature_byte() {
    let v = Verifier::parse(C2SP_VKEY).unwrap();
    let (head, b64) = C2SP_NOTE.trim_end().rsplit_once(' ').unwrap();
    let mut raw = STANDARD.decode(b64).unwrap();
    // Every byte of the Ed25519 signature (after the 4-byte key id) is covered.
    for i in 4..raw.len() {
        raw[i] ^= 0x01;
        let tampered = format!("{head} {}\n", STANDARD.encode(&raw));
        let err = open(&tampered, std::slice::from_ref(&v)).unwrap_err();
        assert!(
            matches!(err, NoteError::InvalidSignature { .. }),
            "byte {i}: {err:?}"
        );
        raw[i] ^= 0x01;
    }
    // A flipped key id byte makes the signature one of an unknown key: ignored, so the
    // note has no trusted signature left.
    raw[0] ^= 0x01;
    let tampered = format!("{head} {}\n", STANDARD.encode(&raw));
    let err = open(&tampered, &[v]).unwrap_err();
    assert!(
        matches!(err, NoteError::NoTrustedSignature { signatures: 1, .. }),
        "{err:?}"
    );
}

// ---- c2sp.org/signed-note, the opening example (no verifier key is published) ----

const QUASIMODO_TEXT: &str = "Ognuno sta solo sul cuor della terra\n\
trafitto da un raggio di sole:\n\
\n\
ed \u{e8} subito sera.\n";
const QUASIMODO_SIG: &str = "\u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";

#[test]
fn c2sp_quasimodo_example_parses_and_its_unknown_signature_is_ignored() {
    let signed = format!("{QUASIMODO_TEXT}\n{QUASIMODO_SIG}");
    // Without its key, the note parses but must be rejected as unverified.
    let err = open(&signed, &[]).unwrap_err();
    assert_eq!(
        err,
        NoteError::NoTrustedSignature {
            signatures: 1,
            found: "quasimodo.example/salvatore+367ba04b".into()
        }
    );
    // A key with the same name (but another id) does not make the signature "known".
    let other = Signer::generate("quasimodo.example/salvatore").unwrap();
    let err = open(&signed, &[other.verifier()]).unwrap_err();
    assert!(
        matches!(err, NoteError::NoTrustedSignature { .. }),
        "{err:?}"
    );
}

#[test]
fn text_with_a_blank_line_is_separated_at_the_last_blank_line() {
    // The quasimodo text has a blank line inside; cosigning it with our own key shows the
    // text is split at the last blank line and kept whole.
    let signer = Signer::generate("suho.test/poet").unwrap();
    let signed = sign(QUASIMODO_TEXT, &[&signer]).unwrap();
    let with_foreign = format!("{signed}{QUASIMODO_SIG}");
    let note = open(&with_foreign, &[signer.verifier()]).unwrap();
    assert_eq!(note.body, QUASIMODO_TEXT);
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.unverified.len(), 1);
    assert_eq!(note.unverified[0].name, "quasimodo.example/salvatore");
    assert_eq!(note.unverified[0].key_id, [0x36, 0x7b, 0xa0, 0x4b]);
}

// ---- golang.org/x/mod/sumdb/note, note_test.go ----

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

#[test]
fn go_private_key_gives_the_published_verifier_key() {
    let signer = Signer::from_private_key(PETER_SKEY).unwrap();
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(signer.verifier().to_string(), PETER_VKEY);
    assert_eq!(signer.private_key(), PETER_SKEY);
    // Surrounding whitespace (a key file's trailing newline) is ignored.
    let padded = format!("  {PETER_SKEY}\n");
    assert_eq!(
        Signer::from_private_key(&padded).unwrap().private_key(),
        PETER_SKEY
    );
}

#[test]
fn go_sign_produces_the_published_signed_note() {
    let signer = Signer::from_private_key(PETER_SKEY).unwrap();
    let signed = sign(GO_TEXT, &[&signer]).unwrap();
    assert_eq!(signed, format!("{GO_TEXT}\n{PETER_SIG}"));
}

#[test]
fn go_open_with_one_known_and_one_unknown_signature() {
    let peter = Verifier::parse(PETER_VKEY).unwrap();
    let enoch = Verifier::parse(ENOCH_VKEY).unwrap();
    let msg = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");

    let note = open(&msg, std::slice::from_ref(&peter)).unwrap();
    assert_eq!(note.body, GO_TEXT);
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.signatures[0].name, "PeterNeumann");
    assert_eq!(note.signatures[0].key_id, [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(note.unverified.len(), 1);
    assert_eq!(note.unverified[0].name, "EnochRoot");
    assert_eq!(note.unverified[0].key_id, [0xaf, 0x0c, 0xfe, 0x78]);

    let note = open(&msg, &[peter, enoch]).unwrap();
    assert_eq!(note.signatures.len(), 2);
    assert_eq!(note.signatures[1].name, "EnochRoot");
    assert!(note.unverified.is_empty());

    let err = open(&msg, &[]).unwrap_err();
    assert_eq!(
        err,
        NoteError::NoTrustedSignature {
            signatures: 2,
            found: "PeterNeumann+c74f20a3, EnochRoot+af0cfe78".into()
        }
    );
}

#[test]
fn go_open_drops_repeated_signatures() {
    let peter = Verifier::parse(PETER_VKEY).unwrap();
    let enoch_abcd = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    let msg = format!("{GO_TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_abcd}");
    let note = open(&msg, &[peter]).unwrap();
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.unverified.len(), 2);
    assert_eq!(note.unverified[0].sig.len(), 64);
    assert_eq!(note.unverified[1].sig.len(), 67);
}

#[test]
fn go_open_rejects_a_damaged_known_signature() {
    let peter = Verifier::parse(PETER_VKEY).unwrap();
    let damaged = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let err = open(&format!("{GO_TEXT}\n{damaged}"), &[peter]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "signed note line 4: signature by trusted key PeterNeumann+c74f20a3 does not verify \
         (the signature is not 64 bytes long); the note was altered or not signed by that key"
    );
}

#[test]
fn go_open_rejects_malformed_messages() {
    let peter = Verifier::parse(PETER_VKEY).unwrap();
    let bad_msgs = [
        GO_TEXT.to_string(),
        format!("{GO_TEXT}\n"),
        format!("{GO_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{GO_TEXT}\n{PETER_SIG}"),
        format!("{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
        format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for msg in &bad_msgs {
        let err = open(msg, std::slice::from_ref(&peter)).unwrap_err();
        assert!(
            matches!(err, NoteError::MalformedNote { .. }),
            "{msg:?}: {err:?}"
        );
    }
    let err = open(&format!("{GO_TEXT}\n{}", PETER_SIG.repeat(101)), &[peter]).unwrap_err();
    assert_eq!(
        err,
        NoteError::TooManySignatures {
            count: 101,
            max: 100
        }
    );
}

#[test]
fn go_verifier_key_manglings_are_rejected() {
    assert!(Verifier::parse(PETER_VKEY).is_ok());
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            let sub = std::str::from_utf8(&b[i..j]).unwrap();
            assert!(Verifier::parse(sub).is_err(), "accepted {sub:?}");
        }
    }
    let mut m = b.to_vec();
    for i in 0..m.len() {
        m[i] += 1;
        let s = String::from_utf8(m.clone()).unwrap();
        assert!(Verifier::parse(&s).is_err(), "accepted {s:?}");
        m[i] -= 1;
    }
    // Wrong key length and unknown algorithm, each with a key id adjusted to match.
    // (The first has non-canonical base64 padding bits, which strict decoding refuses
    // before the length is even looked at.)
    let err = Verifier::parse(
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
    )
    .unwrap_err();
    assert!(
        matches!(err, NoteError::MalformedVerifierKey { .. }),
        "{err:?}"
    );
    let err = Verifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
        .unwrap_err();
    assert!(
        matches!(err, NoteError::UnsupportedAlgorithm { alg: 0x65, .. }),
        "{err:?}"
    );
}

#[test]
fn go_private_key_manglings_are_rejected() {
    let b = PETER_SKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            let sub = std::str::from_utf8(&b[i..j]).unwrap();
            assert!(Signer::from_private_key(sub).is_err(), "accepted {sub:?}");
        }
    }
    let mut m = b.to_vec();
    for i in 0..m.len() {
        m[i] += 1;
        let s = String::from_utf8(m.clone()).unwrap();
        assert!(Signer::from_private_key(&s).is_err(), "accepted {s:?}");
        m[i] -= 1;
    }
}

// ---- c2sp.org/tlog-checkpoint ----

const SOFA_CHECKPOINT: &str = "example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

#[test]
fn c2sp_checkpoint_example_body_parses() {
    let (body, _) = SOFA_CHECKPOINT.split_once("\n\n").unwrap();
    let body = format!("{body}\n");
    let cp = Checkpoint::parse(&body).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    assert_eq!(
        cp.root.to_vec(),
        STANDARD
            .decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
            .unwrap()
    );
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.to_body(), body);

    // The signed form is well-formed; without the log's key it is unverified.
    let err = Checkpoint::open(SOFA_CHECKPOINT, &[]).unwrap_err();
    assert_eq!(
        err,
        NoteError::NoTrustedSignature {
            signatures: 1,
            found: "example.com/behind-the-sofa+033de0ae".into()
        }
    );
}

// ---- c2sp.org/tlog-proof ----

pub(crate) const TLOG_PROOF_EXAMPLE: &str = "c2sp.org/tlog-proof@v1\n\
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n\
index 73894\n\
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n\
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n\
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\
\n\
example.com/fancylog\n\
109482\n\
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\
\n\
\u{2014} example.com/fancylog hI2DJw[...]1roloI=\n\
\u{2014} witness1.example mJirIklj[...]qY9v2B/5bg==\n\
\u{2014} witness2.example TnKKVHLX[...]xwYwrSjgow==\n\
\u{2014} witness3.example S4X82uH5[...]3oEcROGLFQ==\n";

#[test]
fn c2sp_tlog_proof_example_parses_and_reencodes_exactly() {
    let proof = TlogProof::parse(TLOG_PROOF_EXAMPLE).unwrap();
    let extra = proof.extra.as_deref().unwrap();
    assert!(extra.starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"));
    assert_eq!(extra.len(), 39);
    assert_eq!(proof.index, 73894);
    assert_eq!(proof.hashes.len(), 5);
    assert_eq!(
        proof.hashes[0].to_vec(),
        STANDARD
            .decode("gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=")
            .unwrap()
    );
    assert_eq!(
        proof.hashes[4].to_vec(),
        STANDARD
            .decode("AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=")
            .unwrap()
    );
    assert!(proof
        .checkpoint
        .starts_with("example.com/fancylog\n109482\n"));
    assert!(proof.checkpoint.ends_with("3oEcROGLFQ==\n"));
    assert_eq!(proof.encode(), TLOG_PROOF_EXAMPLE);

    // The example's signatures are elided ("[...]"), so verifying them must fail.
    let err = proof.open_checkpoint(&[]).unwrap_err();
    assert!(
        matches!(&err, NoteError::MalformedNote { line: 5, reason } if reason.contains("base64")),
        "{err:?}"
    );
}
