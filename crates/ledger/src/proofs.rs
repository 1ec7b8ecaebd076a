//! Inclusion and consistency proofs as self-contained files an auditor checks offline.
//!
//! An inclusion proof is a C2SP tlog-proof whose `extra` data is the 53-byte ledger entry, so
//! the proof alone names what is included (times, length, SHA-256 of the record); the record
//! itself can be checked against it when the auditor has it.

use std::fs;

use suho_merkle::{
    consistency_proof, inclusion_proof, leaf_hash, root_of, verify_consistency, verify_inclusion,
};
use suho_note::{Checkpoint, ConsistencyProofFile, TlogProof, Verifier};

use crate::entry::{Entry, ENTRY_LEN};
use crate::tilepath::TILE_WIDTH;
use crate::tiles::TileReader;
use crate::{Layout, LedgerError};

fn latest(layout: &Layout, verifier: &Verifier) -> Result<(String, Checkpoint), LedgerError> {
    let path = layout.checkpoint();
    let text = fs::read_to_string(&path).map_err(|source| LedgerError::Io { path, source })?;
    let note = suho_note::open(&text, std::slice::from_ref(verifier))?;
    Ok((text, Checkpoint::parse(&note.body)?))
}

/// The C2SP tlog-proof of entry `index` against the latest checkpoint.
pub fn inclusion_proof_file(layout: &Layout, index: u64) -> Result<String, LedgerError> {
    let verifier = crate::load_verifier(&layout.keys())?;
    let (text, cp) = latest(layout, &verifier)?;
    if index >= cp.size {
        return Err(LedgerError::Proof(format!(
            "index {index} is not covered by the latest checkpoint (size {})",
            cp.size
        )));
    }
    let reader = TileReader::new(&layout.ledger());
    let t = index / TILE_WIDTH;
    let entries = reader.read_bundle(t, (cp.size - t * TILE_WIDTH).min(TILE_WIDTH))?;
    let entry = entries
        .get((index % TILE_WIDTH) as usize)
        .ok_or(LedgerError::NotFound { index })?;
    let hashes =
        inclusion_proof(&reader, index, cp.size).map_err(|e| LedgerError::Proof(e.to_string()))?;
    Ok(TlogProof {
        extra: Some(entry.to_vec()),
        index,
        hashes,
        checkpoint: text,
    }
    .encode())
}

/// What a verified inclusion proof shows.
#[derive(Debug, Clone)]
pub struct ProofCheck {
    /// The log's origin.
    pub origin: String,
    /// Index of the entry.
    pub index: u64,
    /// Size of the checkpointed tree it is included in.
    pub size: u64,
    /// The decoded entry.
    pub entry: Entry,
    /// Whether the given record body is the one the entry commits to (None: no record given).
    pub record_matches: Option<bool>,
}

/// Check a tlog-proof file with nothing but the verifier key (and optionally the record).
pub fn verify_proof_file(
    text: &str,
    verifier: &Verifier,
    record: Option<&[u8]>,
) -> Result<ProofCheck, LedgerError> {
    let proof = TlogProof::parse(text)?;
    let note = suho_note::open(&proof.checkpoint, std::slice::from_ref(verifier))?;
    let cp = Checkpoint::parse(&note.body)?;
    if cp.origin != verifier.name() {
        return Err(LedgerError::Proof(format!(
            "the checkpoint's origin {:?} is not the key's name {:?}",
            cp.origin,
            verifier.name()
        )));
    }
    let entry_bytes = proof
        .extra
        .ok_or_else(|| LedgerError::Proof("the proof carries no entry (extra data)".into()))?;
    let entry = match <[u8; ENTRY_LEN]>::try_from(entry_bytes.as_slice())
        .ok()
        .and_then(|b| Entry::decode(&b))
    {
        Some(e) => e,
        None => {
            return Err(LedgerError::Proof(format!(
                "the extra data ({} bytes) is not a suho ledger entry",
                entry_bytes.len()
            )))
        }
    };
    verify_inclusion(
        &leaf_hash(&entry_bytes),
        proof.index,
        cp.size,
        &proof.hashes,
        &cp.root,
    )
    .map_err(|e| {
        LedgerError::Proof(format!(
            "entry {} is not in the checkpointed tree of size {}: {e}",
            proof.index, cp.size
        ))
    })?;
    Ok(ProofCheck {
        origin: cp.origin,
        index: proof.index,
        size: cp.size,
        entry,
        record_matches: record.map(|r| entry.matches_body(r)),
    })
}

/// A consistency proof from an older signed checkpoint (text) to the latest one; refused when
/// the log does not extend the older checkpoint (its root at that size differs).
pub fn consistency_proof_file(
    layout: &Layout,
    old_checkpoint: &str,
) -> Result<String, LedgerError> {
    let verifier = crate::load_verifier(&layout.keys())?;
    let old_note = suho_note::open(old_checkpoint, std::slice::from_ref(&verifier))?;
    let old = Checkpoint::parse(&old_note.body)?;
    let (text, new) = latest(layout, &verifier)?;
    if old.size > new.size {
        return Err(LedgerError::Proof(format!(
            "the old checkpoint (size {}) is larger than the latest (size {})",
            old.size, new.size
        )));
    }
    if old.origin != new.origin {
        return Err(LedgerError::Proof(format!(
            "the old checkpoint is of another log ({:?}, this log is {:?})",
            old.origin, new.origin
        )));
    }
    // The key signing it does not make it this log's past: a fork or a rewritten history is
    // signed by the same key. The log's own root at that size must be the one it says.
    let reader = TileReader::new(&layout.ledger());
    let root = root_of(&reader, old.size).map_err(|e| LedgerError::Proof(e.to_string()))?;
    if root != old.root {
        return Err(LedgerError::Proof(format!(
            "the log does not extend the old checkpoint: at size {} its root is {}, the checkpoint says {} (a fork, or a rewritten history)",
            old.size,
            hex::encode(root),
            hex::encode(old.root)
        )));
    }
    let hashes = consistency_proof(&reader, old.size, new.size)
        .map_err(|e| LedgerError::Proof(e.to_string()))?;
    Ok(ConsistencyProofFile {
        old_checkpoint: old_checkpoint.to_string(),
        new_checkpoint: text,
        hashes,
    }
    .encode())
}

/// Check a consistency-proof file: both checkpoints signed by `verifier`, and the newer tree
/// extends the older one. Returns (old size, new size).
pub fn verify_consistency_file(text: &str, verifier: &Verifier) -> Result<(u64, u64), LedgerError> {
    let f = ConsistencyProofFile::parse(text)?;
    let old = Checkpoint::parse(
        &suho_note::open(&f.old_checkpoint, std::slice::from_ref(verifier))?.body,
    )?;
    let new = Checkpoint::parse(
        &suho_note::open(&f.new_checkpoint, std::slice::from_ref(verifier))?.body,
    )?;
    if old.origin != new.origin {
        return Err(LedgerError::Proof(format!(
            "the checkpoints are of different logs ({:?}, {:?})",
            old.origin, new.origin
        )));
    }
    verify_consistency(old.size, new.size, &f.hashes, &old.root, &new.root).map_err(|e| {
        LedgerError::Proof(format!(
            "the log of size {} does not extend the log of size {}: {e}",
            new.size, old.size
        ))
    })?;
    Ok((old.size, new.size))
}
