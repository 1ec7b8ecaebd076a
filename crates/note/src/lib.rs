//! suho-note writes and reads the signed text formats that make suho's ledger checkable by
//! anyone holding its public key: C2SP signed notes (c2sp.org/signed-note) with Ed25519
//! keys in the Go `sumdb/note` key encodings, log checkpoints (c2sp.org/tlog-checkpoint),
//! inclusion proofs (c2sp.org/tlog-proof) and suho's own consistency-proof file. It does
//! text and signatures only: no Merkle hashing, no IO.
//!
//! ```
//! use suho_note::{open, Checkpoint, Signer};
//!
//! let signer = Signer::generate("example.com/ledger").unwrap();
//! let checkpoint = Checkpoint {
//!     origin: "example.com/ledger".into(),
//!     size: 3,
//!     root: [7; 32],
//!     extensions: vec![],
//! };
//! let signed = checkpoint.sign(&[&signer]).unwrap();
//! let (opened, _note) = Checkpoint::open(&signed, &[signer.verifier()]).unwrap();
//! assert_eq!(opened, checkpoint);
//! ```

#![forbid(unsafe_code)]

mod checkpoint;
mod error;
mod key;
mod note;
mod proof;
mod text;

pub use checkpoint::Checkpoint;
pub use error::NoteError;
pub use key::{key_id, validate_key_name, Signer, Verifier, ALG_ED25519};
pub use note::{open, sign, Note, Signature, MAX_SIGNATURES, SIGNATURE_PREFIX};
pub use proof::{
    ConsistencyProofFile, TlogProof, CONSISTENCY_PROOF_HEADER, MAX_CONSISTENCY_HASHES,
    MAX_INCLUSION_HASHES, TLOG_PROOF_EXTENSION, TLOG_PROOF_HEADER,
};

/// Re-exported so callers can build a [`Verifier`] from a raw public key without naming
/// the dependency themselves.
pub use ed25519_dalek::VerifyingKey;
