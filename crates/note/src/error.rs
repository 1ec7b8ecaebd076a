//! The one error type of this crate.

/// Why a key, a signed note, a checkpoint or a proof file was rejected.
///
/// Every message names where the problem is (which key, which line) and why, so that a
/// person reading it can find and fix the input. Messages never contain private key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key name is empty, or contains a Unicode space or a plus sign, which the
    /// signed-note specification forbids.
    #[error("key name {name:?} is invalid: {reason}")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A `PRIVATE+KEY+<name>+<key id>+<key>` string could not be parsed.
    /// The message never repeats the secret part of the key.
    #[error("private key: {reason}")]
    MalformedPrivateKey {
        /// What is wrong with it.
        reason: String,
    },

    /// A `<name>+<key id>+<key>` verifier key could not be parsed.
    #[error("verifier key {vkey:?}: {reason}")]
    MalformedVerifierKey {
        /// The rejected verifier key, as given.
        vkey: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A key uses a signature type other than Ed25519 (`0x01`), the only one this crate
    /// supports.
    #[error(
        "{what} for {name:?} uses signature type 0x{alg:02x}; only Ed25519 (0x01) is supported"
    )]
    UnsupportedAlgorithm {
        /// `"private key"` or `"verifier key"`.
        what: &'static str,
        /// The key name.
        name: String,
        /// The signature type byte found.
        alg: u8,
    },

    /// The key id written in a key string is not the one its name and public key give.
    #[error(
        "{what} for {name:?} states key id {stated} but its name and public key give {computed}"
    )]
    KeyIdMismatch {
        /// `"private key"` or `"verifier key"`.
        what: &'static str,
        /// The key name.
        name: String,
        /// The key id written in the key string, as hex.
        stated: String,
        /// The key id computed from the name and public key, as hex.
        computed: String,
    },

    /// The operating system's random number generator failed while generating a key.
    #[error("could not read operating system randomness to generate a key: {0}")]
    Randomness(String),

    /// A note text given to [`crate::sign`] breaks the signed-note rules.
    #[error("note text line {line}: {reason}")]
    InvalidBody {
        /// 1-based line in the note text.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// [`crate::sign`] was called with no signer; a signed note needs at least one signature.
    #[error("cannot sign a note without at least one signer")]
    NoSigners,

    /// [`crate::sign`] was given two signers with the same key name and key id.
    #[error("signer {name}+{key_id} is given more than once")]
    DuplicateSigner {
        /// The key name.
        name: String,
        /// The key id, as hex.
        key_id: String,
    },

    /// A signed note is not in the signed-note format.
    #[error("signed note line {line}: {reason}")]
    MalformedNote {
        /// 1-based line in the signed note.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A signed note carries more signature lines than this crate accepts
    /// ([`crate::MAX_SIGNATURES`]); refusing bounds the work an attacker can cause.
    #[error("signed note has {count} signature lines, more than the {max} accepted")]
    TooManySignatures {
        /// How many signature lines the note has (or how many signers were given).
        count: usize,
        /// The limit.
        max: usize,
    },

    /// Two different trusted verifier keys share a key name and key id, so a signature
    /// naming them cannot be attributed.
    #[error("two different trusted verifier keys are named {name}+{key_id}; remove one")]
    AmbiguousVerifier {
        /// The key name.
        name: String,
        /// The key id, as hex.
        key_id: String,
    },

    /// A signature by a trusted key (matching key name and key id) does not verify:
    /// the note text was altered or the signature was forged or damaged.
    #[error(
        "signed note line {line}: signature by trusted key {name}+{key_id} does not verify \
         ({reason}); the note was altered or not signed by that key"
    )]
    InvalidSignature {
        /// 1-based line of the signature in the signed note.
        line: usize,
        /// The key name.
        name: String,
        /// The key id, as hex.
        key_id: String,
        /// Why verification failed.
        reason: &'static str,
    },

    /// No signature of a signed note is by a trusted key, so its text must be ignored.
    #[error(
        "signed note has {signatures} signature(s) but none is by a trusted key (found: {found})"
    )]
    NoTrustedSignature {
        /// How many signature lines the note has.
        signatures: usize,
        /// The `name+keyid` of every signature found, comma-separated.
        found: String,
    },

    /// A checkpoint body breaks the c2sp.org/tlog-checkpoint rules.
    #[error("checkpoint line {line}: {reason}")]
    MalformedCheckpoint {
        /// 1-based line in the checkpoint.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// The two checkpoints of a consistency proof cannot belong together: different
    /// origins, or the old tree is larger than the new one.
    #[error("consistency proof checkpoints do not belong together: {reason}")]
    CheckpointMismatch {
        /// What disagrees.
        reason: String,
    },

    /// A proof file (c2sp.org/tlog-proof or suho's consistency-proof file) is malformed.
    #[error("{format} line {line}: {reason}")]
    MalformedProof {
        /// The format's first line, naming the format.
        format: &'static str,
        /// 1-based line in the proof file.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}
