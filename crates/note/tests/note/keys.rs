//! Key generation, encodings and the errors for bad keys.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use suho_note::{key_id, validate_key_name, NoteError, Signer, Verifier};

#[test]
fn generated_keys_round_trip_through_their_text_forms() {
    let signer = Signer::generate("suho.example/ledger").unwrap();
    let skey = signer.private_key();
    assert!(skey.starts_with("PRIVATE+KEY+suho.example/ledger+"));
    let again = Signer::from_private_key(&skey).unwrap();
    assert_eq!(again.private_key(), skey);
    assert_eq!(again.verifier(), signer.verifier());

    let vkey = signer.verifier().to_string();
    let parsed = Verifier::parse(&vkey).unwrap();
    assert_eq!(parsed, signer.verifier());
    assert_eq!(parsed.name(), "suho.example/ledger");
    assert_eq!(parsed.key_id(), signer.key_id());
    assert_eq!(
        key_id("suho.example/ledger", parsed.public_key()),
        signer.key_id()
    );
    assert_eq!(vkey.parse::<Verifier>().unwrap(), parsed);
}

#[test]
fn two_generated_keys_differ() {
    let a = Signer::generate("n").unwrap();
    let b = Signer::generate("n").unwrap();
    assert_ne!(a.private_key(), b.private_key());
}

#[test]
fn seed_keys_are_deterministic() {
    let a = Signer::from_seed("n", [9; 32]).unwrap();
    let b = Signer::from_seed("n", [9; 32]).unwrap();
    assert_eq!(a.private_key(), b.private_key());
    assert_eq!(a.verifier(), b.verifier());
}

#[test]
fn verifier_from_a_public_key_matches_the_signer() {
    let s = Signer::from_seed("suho.example/x", [1; 32]).unwrap();
    let v = Verifier::new("suho.example/x", *s.verifier().public_key()).unwrap();
    assert_eq!(v, s.verifier());
}

#[test]
fn key_names_follow_the_spec() {
    for good in ["a", "example.com/log42", "PeterNeumann", "로그"] {
        assert!(validate_key_name(good).is_ok(), "{good}");
    }
    let cases = [
        ("", "it is empty"),
        ("a b", "it contains a space character"),
        ("a\u{3000}b", "it contains a space character"),
        ("a+b", "it contains a plus sign"),
    ];
    for (name, reason) in cases {
        assert_eq!(
            validate_key_name(name),
            Err(NoteError::InvalidKeyName {
                name: name.into(),
                reason
            })
        );
        assert!(Signer::generate(name).is_err(), "{name:?}");
    }
}

#[test]
fn private_key_errors_say_why_without_repeating_the_secret() {
    let signer = Signer::from_seed("suho.example/k", [42; 32]).unwrap();
    let skey = signer.private_key();
    let secret = skey.rsplit('+').next().unwrap().to_owned();

    let missing_prefix = skey.replacen("PRIVATE+KEY+", "", 1);
    let err = Signer::from_private_key(&missing_prefix).unwrap_err();
    assert_eq!(
        err.to_string(),
        "private key: does not start with \"PRIVATE+KEY+\""
    );

    let wrong_id = format!("PRIVATE+KEY+suho.example/k+00000000+{secret}");
    let err = Signer::from_private_key(&wrong_id).unwrap_err();
    assert!(
        matches!(&err, NoteError::KeyIdMismatch { what: "private key", stated, .. } if stated == "00000000"),
        "{err:?}"
    );

    let bad_b64 = format!("{}!", &skey[..skey.len() - 1]);
    let err = Signer::from_private_key(&bad_b64).unwrap_err();
    assert!(err.to_string().contains("not valid base64"), "{err}");

    for err in [
        Signer::from_private_key(&missing_prefix).unwrap_err(),
        Signer::from_private_key(&wrong_id).unwrap_err(),
        Signer::from_private_key(&bad_b64).unwrap_err(),
    ] {
        assert!(!err.to_string().contains(&secret[..20]), "{err}");
        assert!(!format!("{err:?}").contains(&secret[..20]), "{err:?}");
    }
    // Debug of a signer does not print the secret either.
    assert!(!format!("{signer:?}").contains(&secret[..20]));
}

#[test]
fn verifier_key_errors_name_the_key_and_the_problem() {
    let v = Signer::from_seed("suho.example/k", [3; 32])
        .unwrap()
        .verifier()
        .to_string();
    let upper = "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    let err = Verifier::parse(upper).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "verifier key {upper:?}: key id \"C74F20A3\" is not 8 lowercase hexadecimal digits"
        )
    );
    assert!(Verifier::parse(&v).is_ok());

    let err = Verifier::parse("no-plus-signs-here").unwrap_err();
    assert_eq!(
        err.to_string(),
        "verifier key \"no-plus-signs-here\": expected three parts <name>+<key id>+<key> separated by '+'"
    );

    // All-zero public key material is a small-order point.
    let mut material = vec![0x01];
    material.extend_from_slice(&[0u8; 32]);
    let zero = format!("z+00000000+{}", STANDARD.encode(&material));
    let err = Verifier::parse(&zero).unwrap_err();
    assert!(err.to_string().contains("small-order"), "{err}");
}
