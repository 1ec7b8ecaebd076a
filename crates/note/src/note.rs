//! Signed notes (c2sp.org/signed-note): signing and verified opening.
//!
//! A signed note is the note text (ending in a newline), a blank line, then one or more
//! signature lines `— <key name> <base64(key id || signature)>`. The text is separated from
//! the signatures by the *last* blank line, so the text itself may contain blank lines.

use crate::key::{validate_key_name, Signer, Verifier};
use crate::text::{b64, check_no_control, quote, unb64, LineError};
use crate::NoteError;

/// Most signature lines a note may carry. The specification requires accepting at least
/// 16; like Go's `sumdb/note` we accept up to 100 and reject more before doing any
/// cryptography.
pub const MAX_SIGNATURES: usize = 100;

/// The start of every signature line: EM DASH (U+2014) and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// One signature line of a signed note.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signature {
    /// The key name.
    pub name: String,
    /// The key id: the first four bytes of the decoded signature.
    pub key_id: [u8; 4],
    /// The signature bytes after the key id (64 bytes for Ed25519).
    pub sig: Vec<u8>,
}

impl Signature {
    /// The signature line, `— <name> <base64(key id || sig)>` plus a newline.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.sig.len());
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.sig);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, b64(&raw))
    }
}

/// A signed note whose signatures were checked by [`open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The note text, including its final newline, excluding the separating blank line.
    pub body: String,
    /// Signatures by trusted keys, all verified, in note order (repeats dropped).
    pub signatures: Vec<Signature>,
    /// Signatures by keys not in the trusted list: ignored as the specification requires,
    /// kept here so that they can be passed on (for example witness cosignatures).
    pub unverified: Vec<Signature>,
}

/// A signed note split into text and signature lines, signatures not yet decoded.
pub(crate) struct RawNote<'a> {
    pub(crate) body: &'a str,
    /// `(1-based line number, line without newline)`.
    pub(crate) sig_lines: Vec<(usize, &'a str)>,
}

/// Splits a signed note at its last blank line and checks the character rules.
pub(crate) fn split_note(text: &str) -> Result<RawNote<'_>, LineError> {
    if text.is_empty() {
        return Err(LineError::new(1, "the signed note is empty"));
    }
    check_no_control(text)?;
    let total_lines = text.bytes().filter(|&b| b == b'\n').count();
    if !text.ends_with('\n') {
        return Err(LineError::new(
            total_lines + 1,
            "the signed note does not end with a newline",
        ));
    }
    let Some(split) = text.rfind("\n\n") else {
        return Err(LineError::new(
            total_lines,
            "no blank line separates the note text from the signature lines",
        ));
    };
    let body = &text[..=split];
    let sigs = &text[split + 2..];
    // The line after the blank line; the blank line is body lines + 1.
    let first_sig_line = body.bytes().filter(|&b| b == b'\n').count() + 2;
    if sigs.is_empty() {
        return Err(LineError::new(
            first_sig_line - 1,
            "the note ends with a blank line but no signature lines follow it",
        ));
    }
    // `sigs` ends with a newline and holds no blank line (the split is the last one).
    let sig_lines = sigs
        .split_terminator('\n')
        .enumerate()
        .map(|(i, line)| (first_sig_line + i, line))
        .collect();
    Ok(RawNote { body, sig_lines })
}

/// Parses the syntax of a signature line: returns the key name and the base64 text.
pub(crate) fn parse_sig_line(line: &str) -> Result<(&str, &str), String> {
    let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
        return Err(format!(
            "signature line {} does not start with an em dash (U+2014) and a space",
            quote(line)
        ));
    };
    let Some((name, sig)) = rest.split_once(' ') else {
        return Err(format!(
            "signature line {} has no space between key name and signature",
            quote(line)
        ));
    };
    validate_key_name(name).map_err(|e| e.to_string())?;
    if sig.is_empty() {
        return Err(format!("signature by {name:?} is empty"));
    }
    Ok((name, sig))
}

/// Checks a note text for [`sign`]: non-empty, ends in a newline, no control characters.
fn check_body(body: &str) -> Result<(), NoteError> {
    let invalid = |e: LineError| NoteError::InvalidBody {
        line: e.line,
        reason: e.reason,
    };
    if body.is_empty() {
        return Err(invalid(LineError::new(
            1,
            "the note text is empty; it must be at least one line ending in a newline",
        )));
    }
    check_no_control(body).map_err(invalid)?;
    if !body.ends_with('\n') {
        let line = body.bytes().filter(|&b| b == b'\n').count() + 1;
        return Err(invalid(LineError::new(
            line,
            "the note text does not end with a newline",
        )));
    }
    Ok(())
}

/// Signs a note text with every signer and returns the signed note:
/// the text, a blank line, then one signature line per signer in the given order.
///
/// The text must be non-empty, end with a newline and contain no ASCII control character
/// other than newline; it may contain blank lines. At least one and at most
/// [`MAX_SIGNATURES`] signers are required, no two with the same name and key id.
pub fn sign(body: &str, signers: &[&Signer]) -> Result<String, NoteError> {
    check_body(body)?;
    if signers.is_empty() {
        return Err(NoteError::NoSigners);
    }
    if signers.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures {
            count: signers.len(),
            max: MAX_SIGNATURES,
        });
    }
    for (i, s) in signers.iter().enumerate() {
        if signers[..i]
            .iter()
            .any(|o| o.name() == s.name() && o.key_id() == s.key_id())
        {
            return Err(NoteError::DuplicateSigner {
                name: s.name().to_owned(),
                key_id: hex::encode(s.key_id()),
            });
        }
    }
    let mut out = String::with_capacity(body.len() + 1 + signers.len() * 128);
    out.push_str(body);
    out.push('\n');
    for s in signers {
        let sig = Signature {
            name: s.name().to_owned(),
            key_id: s.key_id(),
            sig: s.sign_bytes(body.as_bytes()).to_vec(),
        };
        out.push_str(&sig.to_line());
    }
    Ok(out)
}

/// Parses a signed note and verifies it against trusted verifiers.
///
/// Following c2sp.org/signed-note: signatures whose key name and key id do not both match
/// a trusted verifier are ignored (returned in [`Note::unverified`]); every signature that
/// does match is verified, and one that fails rejects the whole note; the note is rejected
/// unless at least one trusted signature verifies. Notes with more than
/// [`MAX_SIGNATURES`] signature lines are rejected before any verification.
pub fn open(text: &str, verifiers: &[Verifier]) -> Result<Note, NoteError> {
    let malformed = |e: LineError| NoteError::MalformedNote {
        line: e.line,
        reason: e.reason,
    };
    let raw = split_note(text).map_err(malformed)?;
    if raw.sig_lines.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures {
            count: raw.sig_lines.len(),
            max: MAX_SIGNATURES,
        });
    }

    let mut parsed = Vec::with_capacity(raw.sig_lines.len());
    for &(line, text) in &raw.sig_lines {
        let (name, sig_b64) =
            parse_sig_line(text).map_err(|r| malformed(LineError::new(line, r)))?;
        let bytes = unb64(sig_b64).map_err(|e| {
            malformed(LineError::new(
                line,
                format!("signature by {name:?} is not valid base64 ({e})"),
            ))
        })?;
        if bytes.len() < 5 {
            return Err(malformed(LineError::new(
                line,
                format!(
                    "signature by {name:?} is {} bytes, too short for a 4-byte key id and a signature",
                    bytes.len()
                ),
            )));
        }
        let key_id = [bytes[0], bytes[1], bytes[2], bytes[3]];
        parsed.push((
            line,
            Signature {
                name: name.to_owned(),
                key_id,
                sig: bytes[4..].to_vec(),
            },
        ));
    }

    let mut note = Note {
        body: raw.body.to_owned(),
        signatures: Vec::new(),
        unverified: Vec::new(),
    };
    for (line, sig) in parsed {
        let mut matching = verifiers
            .iter()
            .filter(|v| v.name() == sig.name && v.key_id() == sig.key_id);
        let Some(verifier) = matching.next() else {
            if !note.unverified.contains(&sig) {
                note.unverified.push(sig);
            }
            continue;
        };
        if matching.any(|other| other != verifier) {
            return Err(NoteError::AmbiguousVerifier {
                name: sig.name,
                key_id: hex::encode(sig.key_id),
            });
        }
        if let Err(reason) = verifier.verify(raw.body.as_bytes(), &sig.sig) {
            return Err(NoteError::InvalidSignature {
                line,
                name: sig.name,
                key_id: hex::encode(sig.key_id),
                reason,
            });
        }
        if !note
            .signatures
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            note.signatures.push(sig);
        }
    }

    if note.signatures.is_empty() {
        let found = note
            .unverified
            .iter()
            .map(|s| format!("{}+{}", s.name, hex::encode(s.key_id)))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(NoteError::NoTrustedSignature {
            signatures: raw.sig_lines.len(),
            found,
        });
    }
    Ok(note)
}
