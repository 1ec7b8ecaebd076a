//! Ed25519 signer and verifier keys in the signed-note text encodings.
//!
//! - verifier key (public): `<name>+<hex key id>+<base64(0x01 || 32-byte public key)>`
//! - private key (Go's `golang.org/x/mod/sumdb/note` form):
//!   `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>`
//!
//! The key id is `SHA-256(name || 0x0A || 0x01 || public key)[:4]`.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::text::{b64, unb64};
use crate::NoteError;

/// The signature type byte of Ed25519 in signed notes.
pub const ALG_ED25519: u8 = 0x01;

const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

/// Checks a key name: non-empty, no Unicode space, no plus sign (signed-note "Format").
pub fn validate_key_name(name: &str) -> Result<(), NoteError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.chars().any(char::is_whitespace) {
        "it contains a space character"
    } else if name.contains('+') {
        "it contains a plus sign"
    } else if name.bytes().any(|b| b < 0x20) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(NoteError::InvalidKeyName {
        name: name.to_owned(),
        reason,
    })
}

/// The Ed25519 key id: the first four bytes of `SHA-256(name || "\n" || 0x01 || public key)`.
pub fn key_id(name: &str, public_key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public_key.as_bytes());
    let sum = h.finalize();
    [sum[0], sum[1], sum[2], sum[3]]
}

/// Splits `<name>+<8 hex>+<base64>` (the base64 part may itself contain `+`).
fn split_key(s: &str) -> Result<(&str, [u8; 4], Vec<u8>), String> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("expected three parts <name>+<key id>+<key> separated by '+'".into());
    };
    if id_hex.len() != 8
        || !id_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "key id {id_hex:?} is not 8 lowercase hexadecimal digits"
        ));
    }
    let mut id = [0u8; 4];
    hex::decode_to_slice(id_hex, &mut id)
        .map_err(|e| format!("key id {id_hex:?} is not hexadecimal ({e})"))?;
    let key = unb64(key_b64).map_err(|e| format!("key material is not valid base64 ({e})"))?;
    Ok((name, id, key))
}

/// Checks the decoded key material is `0x01 || 32 bytes` and returns the 32 bytes.
fn ed25519_material(
    what: &'static str,
    name: &str,
    key: &[u8],
    bad: impl Fn(String) -> NoteError,
) -> Result<[u8; 32], NoteError> {
    let Some((&alg, rest)) = key.split_first() else {
        return Err(bad("key material is empty".into()));
    };
    if alg != ALG_ED25519 {
        return Err(NoteError::UnsupportedAlgorithm {
            what,
            name: name.to_owned(),
            alg,
        });
    }
    <[u8; 32]>::try_from(rest).map_err(|_| {
        bad(format!(
            "Ed25519 key material is {} bytes after the type byte, want 32",
            rest.len()
        ))
    })
}

/// A named Ed25519 signing key.
///
/// `Debug` does not print the secret key.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key: SigningKey,
    key_id: [u8; 4],
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Generates a new key named `name` from operating system randomness.
    pub fn generate(name: &str) -> Result<Signer, NoteError> {
        use rand::RngCore as _;
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| NoteError::Randomness(e.to_string()))?;
        Signer::from_seed(name, seed)
    }

    /// Builds a signer from a name and a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Signer, NoteError> {
        validate_key_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, &key.verifying_key());
        Ok(Signer {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`, ignoring
    /// surrounding whitespace. The key id must match the name and derived public key.
    pub fn from_private_key(s: &str) -> Result<Signer, NoteError> {
        const WHAT: &str = "private key";
        let bad = |reason: String| NoteError::MalformedPrivateKey { reason };
        let s = s.trim();
        let Some(rest) = s.strip_prefix(PRIVATE_PREFIX) else {
            return Err(bad(format!("does not start with {PRIVATE_PREFIX:?}")));
        };
        let (name, stated, key) = split_key(rest).map_err(bad)?;
        validate_key_name(name)?;
        let seed = ed25519_material(WHAT, name, &key, bad)?;
        let signer = Signer::from_seed(name, seed)?;
        if signer.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                what: WHAT,
                name: name.to_owned(),
                stated: hex::encode(stated),
                computed: hex::encode(signer.key_id),
            });
        }
        Ok(signer)
    }

    /// The `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>` form. Keep it secret.
    pub fn private_key(&self) -> String {
        let mut material = Vec::with_capacity(33);
        material.push(ALG_ED25519);
        material.extend_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_PREFIX}{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            b64(&material)
        )
    }

    /// The matching public verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (first four bytes of the key hash).
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// Signs a message, returning the 64-byte Ed25519 signature.
    pub(crate) fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// A named Ed25519 public key that checks signatures in signed notes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Verifier {
    name: String,
    key: VerifyingKey,
    key_id: [u8; 4],
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({self})")
    }
}

impl fmt::Display for Verifier {
    /// The verifier key form `<name>+<hex key id>+<base64(0x01 || public key)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = [0u8; 33];
        material[0] = ALG_ED25519;
        material[1..].copy_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            b64(&material)
        )
    }
}

impl std::str::FromStr for Verifier {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verifier::parse(s)
    }
}

impl Verifier {
    /// Parses a verifier key `<name>+<hex key id>+<base64(0x01 || public key)>`, ignoring
    /// surrounding whitespace. The key id must match the name and key, and the key must be
    /// a valid, not small-order, Ed25519 point.
    pub fn parse(vkey: &str) -> Result<Verifier, NoteError> {
        const WHAT: &str = "verifier key";
        let vkey = vkey.trim();
        let bad = |reason: String| NoteError::MalformedVerifierKey {
            vkey: vkey.to_owned(),
            reason,
        };
        let (name, stated, material) = split_key(vkey).map_err(bad)?;
        validate_key_name(name)?;
        let bytes = ed25519_material(WHAT, name, &material, bad)?;
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| bad("public key is not a valid Ed25519 point".into()))?;
        if key.is_weak() {
            return Err(bad(
                "public key is a small-order point that would accept forged signatures".into(),
            ));
        }
        let computed = key_id(name, &key);
        if computed != stated {
            return Err(NoteError::KeyIdMismatch {
                what: WHAT,
                name: name.to_owned(),
                stated: hex::encode(stated),
                computed: hex::encode(computed),
            });
        }
        Ok(Verifier {
            name: name.to_owned(),
            key,
            key_id: computed,
        })
    }

    /// Builds a verifier from a name and an Ed25519 public key.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Verifier, NoteError> {
        validate_key_name(name)?;
        Ok(Verifier {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id (first four bytes of the key hash).
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks an Ed25519 signature over `msg` (strict RFC 8032 verification: canonical
    /// `S`, no small-order components).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), &'static str> {
        let sig = ed25519_dalek::Signature::from_slice(sig)
            .map_err(|_| "the signature is not 64 bytes long")?;
        self.key
            .verify_strict(msg, &sig)
            .map_err(|_| "Ed25519 verification failed")
    }
}
