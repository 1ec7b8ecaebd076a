//! Proof files: c2sp.org/tlog-proof (inclusion) and suho's consistency-proof file.
//!
//! Both carry signed checkpoints verbatim. Parsing checks their structure, the syntax of
//! their signature lines and their checkpoint text, but does not verify signatures: that
//! needs trusted keys, see [`TlogProof::open_checkpoint`] and
//! [`ConsistencyProofFile::open_checkpoints`].

use crate::checkpoint::{parse_lines, Checkpoint};
use crate::key::Verifier;
use crate::note::{parse_sig_line, split_note, Note, MAX_SIGNATURES, SIGNATURE_PREFIX};
use crate::text::{
    b64, check_no_control, decode_hash, parse_decimal, quote, unb64, LineError, Lines,
};
use crate::NoteError;

/// First line of a c2sp.org/tlog-proof file.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// File extension the tlog-proof specification recommends (without the dot).
pub const TLOG_PROOF_EXTENSION: &str = "tlog-proof";

/// First line of a suho consistency-proof file.
pub const CONSISTENCY_PROOF_HEADER: &str = "suho.dev/consistency-proof@v1";

/// Most hashes an inclusion proof can need: a tree of at most 2^64 leaves is 64 levels high.
pub const MAX_INCLUSION_HASHES: usize = 64;

/// Bound on consistency-proof hashes, well above what any tree of 2^64 leaves needs.
pub const MAX_CONSISTENCY_HASHES: usize = 128;

/// A c2sp.org/tlog-proof: a signed checkpoint, a leaf index and the inclusion proof of
/// that leaf in the checkpointed tree, with optional unauthenticated extra data.
///
/// ```text
/// c2sp.org/tlog-proof@v1
/// extra <base64>          (only when extra is Some)
/// index <decimal>
/// <base64 hash>           (zero or more, leaf's sibling first)
///
/// <signed checkpoint, verbatim>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque extra data. Not authenticated: never trust it without checking it against
    /// the logged entry.
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the entry in the log.
    pub index: u64,
    /// RFC 6962 inclusion proof, from the leaf's sibling up to the root's child.
    pub hashes: Vec<[u8; 32]>,
    /// The signed checkpoint note text (ends with a newline).
    pub checkpoint: String,
}

impl TlogProof {
    /// Writes the proof in the tlog-proof text format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64 + self.hashes.len() * 45 + self.checkpoint.len());
        out.push_str(TLOG_PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&b64(extra));
            out.push('\n');
        }
        out.push_str("index ");
        out.push_str(&self.index.to_string());
        out.push('\n');
        push_hashes(&mut out, &self.hashes);
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a tlog-proof file. The embedded checkpoint's text and signature-line syntax
    /// are checked; its signatures are not verified (see [`TlogProof::open_checkpoint`]).
    pub fn parse(text: &str) -> Result<TlogProof, NoteError> {
        parse_tlog_proof(text).map_err(|e| NoteError::MalformedProof {
            format: TLOG_PROOF_HEADER,
            line: e.line,
            reason: e.reason,
        })
    }

    /// Verifies the checkpoint's signatures with trusted verifiers (see [`crate::open`])
    /// and parses it. The caller still checks the inclusion proof against its root.
    pub fn open_checkpoint(&self, verifiers: &[Verifier]) -> Result<(Checkpoint, Note), NoteError> {
        Checkpoint::open(&self.checkpoint, verifiers)
    }
}

fn push_hashes(out: &mut String, hashes: &[[u8; 32]]) {
    for h in hashes {
        out.push_str(&b64(h));
        out.push('\n');
    }
}

/// Reads base64 hash lines up to and including the blank line that ends them.
fn read_hashes(lines: &mut Lines<'_>, max: usize) -> Result<Vec<[u8; 32]>, LineError> {
    let mut hashes = Vec::new();
    loop {
        match lines.next_line() {
            None => {
                return Err(LineError::new(
                    lines.lines_read() + 1,
                    "file ends before the blank line and the signed checkpoint",
                ))
            }
            Some((_, "")) => return Ok(hashes),
            Some((n, line)) => {
                if hashes.len() == max {
                    return Err(LineError::new(
                        n,
                        format!("more than {max} proof hashes; no valid proof is that long"),
                    ));
                }
                let h = decode_hash(line)
                    .map_err(|r| LineError::new(n, format!("proof hash {} {r}", quote(line))))?;
                hashes.push(h);
            }
        }
    }
}

/// Checks a signed checkpoint embedded at `first_line` of a proof file, without verifying
/// signatures, and returns its parsed text.
fn check_embedded(text: &str, first_line: usize, what: &str) -> Result<Checkpoint, LineError> {
    let offset = first_line - 1;
    if text.is_empty() {
        return Err(LineError::new(first_line, format!("the {what} is missing")));
    }
    let with_what = |e: LineError| LineError::new(e.line + offset, format!("{what}: {}", e.reason));
    let raw = split_note(text).map_err(with_what)?;
    if raw.sig_lines.len() > MAX_SIGNATURES {
        return Err(LineError::new(
            first_line,
            format!(
                "{what} has {} signature lines, more than the {MAX_SIGNATURES} accepted",
                raw.sig_lines.len()
            ),
        ));
    }
    for &(line, sig) in &raw.sig_lines {
        parse_sig_line(sig).map_err(|r| with_what(LineError::new(line, r)))?;
    }
    parse_lines(raw.body).map_err(with_what)
}

fn parse_tlog_proof(text: &str) -> Result<TlogProof, LineError> {
    check_no_control(text)?;
    let mut lines = Lines::new(text);
    expect_header(&mut lines, TLOG_PROOF_HEADER)?;

    let mut next = lines.next_line();
    let mut extra = None;
    if let Some((n, line)) = next {
        if let Some(data) = line.strip_prefix("extra ") {
            let bytes = unb64(data).map_err(|e| {
                LineError::new(
                    n,
                    format!("extra data {} is not valid base64 ({e})", quote(data)),
                )
            })?;
            extra = Some(bytes);
            next = lines.next_line();
        }
    }

    let index = match next {
        None => {
            return Err(LineError::new(
                lines.lines_read() + 1,
                "missing the \"index <n>\" line",
            ))
        }
        Some((n, line)) => {
            let Some(digits) = line.strip_prefix("index ") else {
                return Err(LineError::new(
                    n,
                    format!(
                        "expected \"index <n>\" (or \"extra <base64>\" on line 2), found {}",
                        quote(line)
                    ),
                ));
            };
            parse_decimal(digits)
                .map_err(|r| LineError::new(n, format!("index {} {r}", quote(digits))))?
        }
    };

    let hashes = read_hashes(&mut lines, MAX_INCLUSION_HASHES)?;
    let checkpoint = lines.rest();
    let parsed = check_embedded(checkpoint, lines.lines_read() + 1, "checkpoint")?;
    if index >= parsed.size {
        return Err(LineError::new(
            lines.lines_read() + 2,
            format!(
                "index {index} is not inside the checkpointed tree of size {}",
                parsed.size
            ),
        ));
    }
    Ok(TlogProof {
        extra,
        index,
        hashes,
        checkpoint: checkpoint.to_owned(),
    })
}

fn expect_header(lines: &mut Lines<'_>, header: &str) -> Result<(), LineError> {
    match lines.next_line() {
        Some((_, line)) if line == header => Ok(()),
        Some((n, line)) => Err(LineError::new(
            n,
            format!("first line must be {header:?}, found {}", quote(line)),
        )),
        None => Err(LineError::new(1, "the file is empty")),
    }
}

/// suho's consistency-proof file: two signed checkpoints of the same log and the RFC 6962
/// consistency proof between them. No C2SP format exists for a standalone consistency
/// proof; this one is modelled on c2sp.org/tlog-proof.
///
/// ```text
/// suho.dev/consistency-proof@v1
/// <base64 hash>                  (zero or more: the RFC 6962 consistency proof, in order)
///
/// <old signed checkpoint, verbatim>
///
/// <new signed checkpoint, verbatim>
/// ```
///
/// Each signed checkpoint is a checkpoint text (no blank lines), a blank line and its
/// signature lines (each starting with `— `). The blank line after the old checkpoint's
/// last signature line therefore unambiguously separates the two checkpoints. The tree
/// sizes are read from the checkpoints, never repeated, so they cannot disagree.
///
/// Parsing requires both checkpoints to have the same origin and the old size to be at
/// most the new size; it does not verify signatures (see
/// [`ConsistencyProofFile::open_checkpoints`]) nor the proof hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProofFile {
    /// The older signed checkpoint note text (ends with a newline).
    pub old_checkpoint: String,
    /// The newer signed checkpoint note text (ends with a newline).
    pub new_checkpoint: String,
    /// RFC 6962 consistency proof from the old tree to the new tree.
    pub hashes: Vec<[u8; 32]>,
}

impl ConsistencyProofFile {
    /// Writes the file in the layout documented on the type.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(
            64 + self.hashes.len() * 45 + self.old_checkpoint.len() + self.new_checkpoint.len(),
        );
        out.push_str(CONSISTENCY_PROOF_HEADER);
        out.push('\n');
        push_hashes(&mut out, &self.hashes);
        out.push('\n');
        out.push_str(&self.old_checkpoint);
        out.push('\n');
        out.push_str(&self.new_checkpoint);
        out
    }

    /// Parses a consistency-proof file (see the type's documentation for the layout).
    pub fn parse(text: &str) -> Result<ConsistencyProofFile, NoteError> {
        parse_consistency(text).map_err(|e| NoteError::MalformedProof {
            format: CONSISTENCY_PROOF_HEADER,
            line: e.line,
            reason: e.reason,
        })
    }

    /// Verifies both checkpoints with trusted verifiers (see [`crate::open`]) and parses
    /// them, returning `(old, new)`. Also checks that they name the same log and that the
    /// old tree is not larger than the new one. The caller still checks the proof hashes.
    pub fn open_checkpoints(
        &self,
        verifiers: &[Verifier],
    ) -> Result<(Checkpoint, Checkpoint), NoteError> {
        let (old, _) = Checkpoint::open(&self.old_checkpoint, verifiers)?;
        let (new, _) = Checkpoint::open(&self.new_checkpoint, verifiers)?;
        check_pair(&old, &new).map_err(|(_, reason)| NoteError::CheckpointMismatch { reason })?;
        Ok((old, new))
    }
}

/// Checks two checkpoints can be the ends of one consistency proof. On failure returns
/// the line of the new checkpoint it concerns (0: origin, 1: tree size) and the reason.
fn check_pair(old: &Checkpoint, new: &Checkpoint) -> Result<(), (usize, String)> {
    if old.origin != new.origin {
        return Err((
            0,
            format!(
                "the checkpoints are of different logs: old origin {} and new origin {}",
                quote(&old.origin),
                quote(&new.origin)
            ),
        ));
    }
    if old.size > new.size {
        return Err((
            1,
            format!(
                "the old checkpoint's tree size {} is larger than the new checkpoint's {}",
                old.size, new.size
            ),
        ));
    }
    Ok(())
}

fn parse_consistency(text: &str) -> Result<ConsistencyProofFile, LineError> {
    check_no_control(text)?;
    let mut lines = Lines::new(text);
    expect_header(&mut lines, CONSISTENCY_PROOF_HEADER)?;
    let hashes = read_hashes(&mut lines, MAX_CONSISTENCY_HASHES)?;

    // Old checkpoint: text lines up to a blank line, then signature lines up to a blank line.
    let old_start = lines.offset();
    let old_first_line = lines.lines_read() + 1;
    loop {
        match lines.next_line() {
            None => {
                return Err(LineError::new(
                    lines.lines_read() + 1,
                    "file ends inside the old checkpoint, before its signatures",
                ))
            }
            Some((_, "")) => break,
            Some(_) => {}
        }
    }
    let mut old_sigs = 0usize;
    let old_end = loop {
        let end = lines.offset();
        match lines.next_line() {
            None => return Err(LineError::new(
                lines.lines_read() + 1,
                "file ends after the old checkpoint: the blank line and new checkpoint are missing",
            )),
            Some((n, "")) => {
                if old_sigs == 0 {
                    return Err(LineError::new(
                        n,
                        "old checkpoint: no signature lines after its text",
                    ));
                }
                break end;
            }
            Some((n, line)) => {
                if !line.starts_with(SIGNATURE_PREFIX) {
                    return Err(LineError::new(
                        n,
                        format!(
                            "expected a signature line of the old checkpoint or the blank line before the new \
                             checkpoint, found {}",
                            quote(line)
                        ),
                    ));
                }
                old_sigs += 1;
            }
        }
    };
    let old_text = &text[old_start..old_end];
    let old = check_embedded(old_text, old_first_line, "old checkpoint")?;

    let new_first_line = lines.lines_read() + 1;
    let new_text = lines.rest();
    let new = check_embedded(new_text, new_first_line, "new checkpoint")?;
    check_pair(&old, &new).map_err(|(at, r)| LineError::new(new_first_line + at, r))?;

    Ok(ConsistencyProofFile {
        old_checkpoint: old_text.to_owned(),
        new_checkpoint: new_text.to_owned(),
        hashes,
    })
}
