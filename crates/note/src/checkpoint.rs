//! Transparency log checkpoints (c2sp.org/tlog-checkpoint): the note text naming a log,
//! its tree size and its Merkle root hash.

use crate::key::{Signer, Verifier};
use crate::note::{open, sign, Note};
use crate::text::{b64, check_no_control, decode_hash, parse_decimal, quote, LineError};
use crate::NoteError;

/// A log checkpoint: origin, tree size, RFC 6962 root hash and optional extension lines.
///
/// Body layout (every line ends with a newline):
///
/// ```text
/// <origin>
/// <tree size, decimal, no leading zeroes>
/// <base64 root hash, 32 bytes>
/// <extension line>*
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The log's unique identity, e.g. `example.com/log42`. Non-empty.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 Merkle tree root hash at `size`.
    pub root: [u8; 32],
    /// Opaque, non-empty extension lines (the specification does not recommend them).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text of this checkpoint. It is only a valid checkpoint if
    /// [`Checkpoint::validate`] passes; [`Checkpoint::sign`] checks that first.
    pub fn to_body(&self) -> String {
        let ext_len: usize = self.extensions.iter().map(|e| e.len() + 1).sum();
        let mut out = String::with_capacity(self.origin.len() + 70 + ext_len);
        out.push_str(&self.origin);
        out.push('\n');
        out.push_str(&self.size.to_string());
        out.push('\n');
        out.push_str(&b64(&self.root));
        out.push('\n');
        for ext in &self.extensions {
            out.push_str(ext);
            out.push('\n');
        }
        out
    }

    /// Parses a checkpoint note text (the body of a signed note, not the signatures).
    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        parse_lines(body).map_err(|e| NoteError::MalformedCheckpoint {
            line: e.line,
            reason: e.reason,
        })
    }

    /// Checks the fields can be written as a checkpoint: the origin and extension lines
    /// must be non-empty single lines without control characters.
    pub fn validate(&self) -> Result<(), NoteError> {
        let bad = |line: usize, reason: String| NoteError::MalformedCheckpoint { line, reason };
        if self.origin.is_empty() {
            return Err(bad(1, "origin is empty".into()));
        }
        check_field(&self.origin).map_err(|r| bad(1, format!("origin {r}")))?;
        for (i, ext) in self.extensions.iter().enumerate() {
            if ext.is_empty() {
                return Err(bad(4 + i, "extension line is empty".into()));
            }
            check_field(ext).map_err(|r| bad(4 + i, format!("extension line {r}")))?;
        }
        Ok(())
    }

    /// Validates and signs this checkpoint, returning the signed note text.
    pub fn sign(&self, signers: &[&Signer]) -> Result<String, NoteError> {
        self.validate()?;
        sign(&self.to_body(), signers)
    }

    /// Opens a signed checkpoint with trusted verifiers (see [`crate::open`]) and parses
    /// its text. Callers should also check [`Checkpoint::origin`] is the log they expect.
    pub fn open(text: &str, verifiers: &[Verifier]) -> Result<(Checkpoint, Note), NoteError> {
        let note = open(text, verifiers)?;
        let checkpoint = Checkpoint::parse(&note.body)?;
        Ok((checkpoint, note))
    }
}

/// A field written as one line: no newline, no other control character.
fn check_field(s: &str) -> Result<(), String> {
    match s.bytes().find(|&b| b < 0x20) {
        None => Ok(()),
        Some(b'\n') => Err(format!("{} contains a newline", quote(s))),
        Some(b) => Err(format!("{} contains control character U+{b:04X}", quote(s))),
    }
}

/// Parses a checkpoint body; errors carry 1-based line numbers within the body.
pub(crate) fn parse_lines(body: &str) -> Result<Checkpoint, LineError> {
    check_no_control(body)?;
    if body.is_empty() {
        return Err(LineError::new(1, "checkpoint is empty"));
    }
    if !body.ends_with('\n') {
        let line = body.bytes().filter(|&b| b == b'\n').count() + 1;
        return Err(LineError::new(
            line,
            "checkpoint does not end with a newline",
        ));
    }
    let lines: Vec<&str> = body[..body.len() - 1].split('\n').collect();
    if lines.len() < 3 {
        return Err(LineError::new(
            lines.len(),
            format!(
                "checkpoint has {} line(s), needs at least 3 (origin, tree size, root hash)",
                lines.len()
            ),
        ));
    }
    let origin = lines[0];
    if origin.is_empty() {
        return Err(LineError::new(1, "origin is empty"));
    }
    let size = parse_decimal(lines[1])
        .map_err(|r| LineError::new(2, format!("tree size {} {r}", quote(lines[1]))))?;
    let root = decode_hash(lines[2])
        .map_err(|r| LineError::new(3, format!("root hash {} {r}", quote(lines[2]))))?;
    let mut extensions = Vec::with_capacity(lines.len() - 3);
    for (i, ext) in lines[3..].iter().enumerate() {
        if ext.is_empty() {
            return Err(LineError::new(4 + i, "extension line is empty"));
        }
        extensions.push((*ext).to_owned());
    }
    Ok(Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
        extensions,
    })
}
