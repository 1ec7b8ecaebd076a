//! What keeps a writer from quietly re-signing a ledger that is not as its key left it.
//!
//! The signer remembers the newest checkpoint it published (`keys/ledger.signed`: origin,
//! size, root), written right after each checkpoint is renamed into place. A writer and
//! `verify` then refuse, as a [`SealProblem`], a ledger whose records or tiles have no
//! checkpoint, whose checkpoint is older than what the key signed or has another root at
//! that size, whose signer state is gone while it holds records, or whose key is gone while
//! it exists. Only an operator lets a writer past that (`Ledger::reseal`), and the record of
//! that decision goes into the ledger before anything is signed.
//!
//! The order (checkpoint first, then the state) keeps both crash-safe and tamper-evident: a
//! crash in between leaves the state one checkpoint behind, which the next writer catches up
//! with because the checkpoint extends it (same root at the state's size); the state is never
//! ahead of a checkpoint that was published, so a checkpoint older than the state was put
//! back by someone. A reader that reads the state before the checkpoint (as `verify` does)
//! never mistakes a publication in progress for a rollback.

use std::fs;
use std::io;

use base64::Engine as _;
use suho_merkle::Hash;
use suho_note::Checkpoint;

use crate::{Layout, LedgerError};

const FORMAT: &str = "suho.dev/signed@v1";

/// The newest checkpoint the signer published (`keys/ledger.signed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedState {
    /// The log's origin: the signing key's name.
    pub origin: String,
    /// Records the checkpoint covers.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
}

impl SignedState {
    fn encode(&self) -> String {
        format!(
            "{FORMAT}\norigin {}\nsize {}\nroot {}\n",
            self.origin,
            self.size,
            base64::engine::general_purpose::STANDARD.encode(self.root)
        )
    }
}

/// Read `keys/ledger.signed` (None when there is none).
pub fn read_signed(layout: &Layout) -> Result<Option<SignedState>, LedgerError> {
    let path = layout.signed();
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LedgerError::Io { path, source }),
    };
    let bad = |detail: String| LedgerError::Corrupt {
        path: path.clone(),
        detail,
    };
    let mut lines = text.lines();
    if lines.next() != Some(FORMAT) {
        return Err(bad(format!("the first line is not {FORMAT:?}")));
    }
    let (mut origin, mut size, mut root) = (None, None, None);
    for line in lines {
        let (k, v) = line
            .split_once(' ')
            .ok_or_else(|| bad(format!("line {line:?} is not `key value`")))?;
        match k {
            "origin" => origin = Some(v.to_string()),
            "size" => size = v.parse::<u64>().ok(),
            "root" => {
                root = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .ok()
                    .and_then(|b| Hash::try_from(b.as_slice()).ok())
            }
            _ => return Err(bad(format!("unknown key {k:?}"))),
        }
    }
    match (origin, size, root) {
        (Some(origin), Some(size), Some(root)) => Ok(Some(SignedState { origin, size, root })),
        _ => Err(bad(
            "needs origin, size (a number) and root (32 bytes, base64)".into(),
        )),
    }
}

/// Write `keys/ledger.signed` atomically and durably.
pub(crate) fn write_signed(layout: &Layout, s: &SignedState) -> Result<(), LedgerError> {
    crate::write_atomic(&layout.signed(), s.encode().as_bytes())
}

/// Why a writer refuses a ledger, and `verify` fails it, until an operator reseals it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealProblem {
    /// The checkpoint on disk does not verify with the ledger's key (a bad signature, or not a
    /// checkpoint at all).
    #[error("ledger/checkpoint does not verify with the ledger's key: {detail}")]
    CheckpointUnverified {
        /// Why.
        detail: String,
    },
    /// The private key is gone, but the ledger exists.
    #[error("the signing key keys/ledger.key is missing, but {found}: suho never makes a new key for an existing ledger")]
    KeyMissing {
        /// What shows the ledger exists.
        found: String,
    },
    /// The checkpoint is gone, but the ledger has records.
    #[error("the checkpoint ledger/checkpoint is missing, but {found}: a ledger writes its first checkpoint before its first record, so it was removed")]
    NoCheckpoint {
        /// What shows the ledger has records.
        found: String,
    },
    /// The signer state is gone, but the ledger has records.
    #[error("the signer state keys/ledger.signed is missing, but {found}: it is written with every checkpoint, so it was removed (or the ledger was made by a suho that did not keep it)")]
    StateMissing {
        /// What shows the ledger has records.
        found: String,
    },
    /// The key that signed the newest checkpoint is not the key in `keys/`.
    #[error("the newest checkpoint was signed by {signed_by} (keys/ledger.signed), but the checkpoint or key now is {key}: the key was replaced")]
    KeyChanged {
        /// The origin in the signer state.
        signed_by: String,
        /// The origin of the checkpoint or key found.
        key: String,
    },
    /// The checkpoint is older than the newest one the key signed.
    #[error("the checkpoint (size {checkpoint_size}) is older than the newest one the key signed (size {signed_size}, keys/ledger.signed): an older checkpoint was put back")]
    RolledBack {
        /// Size of the checkpoint found.
        checkpoint_size: u64,
        /// Size of the newest checkpoint signed.
        signed_size: u64,
    },
    /// At the size the key signed, the log has another root.
    #[error("at size {size} the log's root is {}, but the checkpoint the key signed at that size had root {} (keys/ledger.signed): the history was rewritten", hex::encode(.root), hex::encode(.signed_root))]
    Diverged {
        /// The size signed.
        size: u64,
        /// The log's root at that size now.
        root: Hash,
        /// The root signed.
        signed_root: Hash,
    },
}

impl SealProblem {
    /// The file, relative to the data directory, where the problem shows.
    pub fn file(&self) -> &'static str {
        match self {
            SealProblem::KeyMissing { .. } => "keys/ledger.key",
            SealProblem::StateMissing { .. } | SealProblem::KeyChanged { .. } => {
                "keys/ledger.signed"
            }
            SealProblem::NoCheckpoint { .. }
            | SealProblem::CheckpointUnverified { .. }
            | SealProblem::RolledBack { .. }
            | SealProblem::Diverged { .. } => "ledger/checkpoint",
        }
    }
}

/// What shows that the data directory holds a ledger's records: records in the write-ahead
/// log (or pruned from it) or tiles. None when it holds none.
fn records_found(layout: &Layout) -> Result<Option<String>, LedgerError> {
    if crate::wal::holds_records(&layout.wal())? {
        return Ok(Some("the write-ahead log holds records".into()));
    }
    if layout.wal().join("PRUNED").exists() {
        return Ok(Some("the write-ahead log was pruned (wal/PRUNED)".into()));
    }
    let tiles = layout.ledger().join("tile");
    match fs::read_dir(&tiles) {
        Ok(mut rd) => Ok(rd
            .next()
            .is_some()
            .then(|| "ledger/tile holds tiles".to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LedgerError::Io {
            path: tiles,
            source,
        }),
    }
}

/// [`SealProblem::KeyMissing`] when the ledger in `layout` has no private key but exists: a
/// checkpoint, a signer state, records or tiles.
pub(crate) fn key_missing(layout: &Layout) -> Result<Option<SealProblem>, LedgerError> {
    if crate::keys::has_private_key(&layout.keys()) {
        return Ok(None);
    }
    let found = if layout.checkpoint().exists() {
        Some("ledger/checkpoint exists".to_string())
    } else if layout.signed().exists() {
        Some("keys/ledger.signed exists".to_string())
    } else {
        records_found(layout)?
    };
    Ok(found.map(|found| SealProblem::KeyMissing { found }))
}

/// The problems of a `checkpoint` (None: there is none; already verified by the caller) with
/// the signer state `signed`, except a root that differs below the checkpoint's size, which
/// the caller checks with [`diverged`] from the tiles or the records.
pub(crate) fn problems(
    layout: &Layout,
    checkpoint: Option<&Checkpoint>,
    signed: Option<&SignedState>,
) -> Result<Vec<SealProblem>, LedgerError> {
    let problem = match (checkpoint, signed) {
        (None, _) => {
            let found = match records_found(layout)? {
                Some(f) => Some(f),
                None => signed.filter(|s| s.size > 0).map(|s| {
                    format!(
                        "keys/ledger.signed says a checkpoint of {} records was signed",
                        s.size
                    )
                }),
            };
            found.map(|found| SealProblem::NoCheckpoint { found })
        }
        // A size-0 checkpoint and nothing else: a crash between a new ledger's first
        // checkpoint and its state.
        (Some(cp), None) => {
            let found = if cp.size > 0 {
                Some(format!("the checkpoint covers {} records", cp.size))
            } else {
                records_found(layout)?
            };
            found.map(|found| SealProblem::StateMissing { found })
        }
        (Some(cp), Some(s)) if cp.origin != s.origin => Some(SealProblem::KeyChanged {
            signed_by: s.origin.clone(),
            key: cp.origin.clone(),
        }),
        (Some(cp), Some(s)) if cp.size < s.size => Some(SealProblem::RolledBack {
            checkpoint_size: cp.size,
            signed_size: s.size,
        }),
        (Some(cp), Some(s)) if cp.size == s.size => diverged(s, cp.root),
        (Some(_), Some(_)) => None,
    };
    Ok(problem.into_iter().collect())
}

/// [`SealProblem::Diverged`] when `root`, the log's root at `signed.size`, is not the root
/// signed.
pub(crate) fn diverged(signed: &SignedState, root: Hash) -> Option<SealProblem> {
    (root != signed.root).then_some(SealProblem::Diverged {
        size: signed.size,
        root,
        signed_root: signed.root,
    })
}

/// What [`crate::Ledger::reseal`] overrode and rebuilt: everything an auditor needs to judge
/// the decision, and nothing of the records.
#[derive(Debug, Clone)]
pub struct Resealed {
    /// What writers refused, in the order found; empty when nothing was wrong (then nothing was
    /// re-signed and no record was made).
    pub overridden: Vec<SealProblem>,
    /// The newest checkpoint the signer had signed (None when its state was gone).
    pub signed_before: Option<SignedState>,
    /// The checkpoint kept (size, root): records below it were taken from the tiles as it
    /// signed them. None: there was none that verifies, and the tree was rebuilt from the
    /// first record of the write-ahead log.
    pub kept_checkpoint: Option<(u64, Hash)>,
    /// The rebuilt log's root at the size of `signed_before` (None when the log now holds
    /// fewer records, or nothing was signed before).
    pub root_at_signed_size: Option<Hash>,
    /// The verifier key of the lost key, when its public half was still in `keys/`.
    pub previous_key: Option<String>,
    /// The verifier key made because the previous key was lost.
    pub new_key: Option<String>,
    /// Records in the log before the record of the reseal.
    pub log_size: u64,
    /// Ledger index of the record of the reseal.
    pub record: Option<u64>,
}

impl Resealed {
    /// Whether the rebuilt log has, at the size the key had signed, the root it signed: true
    /// when the history the key signed is kept, false when it was rewritten, None when it
    /// cannot be told.
    pub fn history_kept(&self) -> Option<bool> {
        let s = self.signed_before.as_ref()?;
        self.root_at_signed_size.map(|r| r == s.root)
    }
}
