//! Decoders: each maps one source record of a log that some other system wrote (an API
//! gateway's JSON access log, PostgreSQL pgAudit, AWS CloudTrail, OCSF) to suho access records
//! (contract section 1), so that a team points suho at the logs it already has, with a mapping
//! file and no code.
//!
//! A source record is a line, except where the format says otherwise ([`Framing`]: a csvlog
//! record or a pretty-printed JSON document spans lines). A decoded record never carries a
//! secret the source held (a raw bearer token is read for its claims and dropped) and always
//! carries `attrs.source` (the decoder) and `attrs.source_sha256`, the SHA-256 of the exact
//! source record's bytes (a line without its line end), so an investigator holding the source
//! log can show which record a stored record came from. The contract format itself is decoded
//! by [`Passthrough`], which stores the line verbatim.
#![forbid(unsafe_code)]

mod capture;
mod cloudtrail;
mod framing;
mod gateway;
mod json;
mod ocsf;
mod pgaudit;
mod sql;

use std::path::Path;

pub use cloudtrail::{CloudTrailDecoder, CloudTrailMapping};
pub use framing::{Framing, Unit, Units};
pub use gateway::{GatewayDecoder, GatewayMapping};
pub use ocsf::{OcsfDecoder, OcsfMapping};
pub use pgaudit::{PgAuditDecoder, PgAuditMapping};

/// Why a line could not be decoded: where (which field) and why, for the reject log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}")]
pub struct DecodeError {
    /// One sentence a person can act on.
    pub what: String,
}

impl DecodeError {
    pub(crate) fn new(what: impl Into<String>) -> DecodeError {
        DecodeError { what: what.into() }
    }
}

/// A mapping file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not say what it must.
    #[error("{}: {detail}", path.display())]
    Invalid {
        path: std::path::PathBuf,
        detail: String,
    },
}

/// What one source record became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decoded {
    /// Access records appended (each one NDJSON line with its `\n`). Zero for a source record
    /// that is no access (a PostgreSQL server message that is not a pgAudit entry).
    pub records: usize,
    /// The source record is about nothing the mapping covers (a route not in the catalogue, a
    /// table, bucket or resource not mapped, a management event): stored, counted and listed,
    /// with no subjects (the mapping says where subjects are).
    pub unmapped: bool,
}

/// Maps lines of one log format to access records.
pub trait Decoder: Send + Sync + std::fmt::Debug {
    /// The format's name (`suho`, `gateway`, ...).
    fn name(&self) -> &'static str;

    /// Whether [`Decoder::decode`] stores the line as it is (the contract format), so that a
    /// caller may use the line itself instead of a decoded copy.
    fn is_passthrough(&self) -> bool {
        false
    }

    /// How the input divides into source records (default: lines). A reader hands
    /// [`Decoder::decode`] one unit of this framing at a time.
    fn framing(&self) -> Framing {
        Framing::Lines
    }

    /// Decode one source record (a line without its line end, or a unit of
    /// [`Decoder::framing`]), appending the records it holds to `out`, each as one NDJSON line
    /// ending in `\n`. On error nothing is appended.
    fn decode(&self, line: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError>;
}

/// The contract format: the line is the record.
#[derive(Debug, Clone, Copy, Default)]
pub struct Passthrough;

impl Decoder for Passthrough {
    fn name(&self) -> &'static str {
        "suho"
    }
    fn is_passthrough(&self) -> bool {
        true
    }
    fn decode(&self, line: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError> {
        out.extend_from_slice(line);
        out.push(b'\n');
        Ok(Decoded {
            records: 1,
            unmapped: false,
        })
    }
}

/// The formats [`decoder`] knows (what `suho ingest --format` takes).
pub const FORMATS: &[&str] = &["suho", "gateway", "pgaudit", "cloudtrail", "ocsf"];

/// The decoder for `format`, with its mapping file where the format needs one.
pub fn decoder(format: &str, mapping: Option<&Path>) -> Result<Box<dyn Decoder>, MappingError> {
    let need = |what: &str| MappingError::Invalid {
        path: Path::new("--mapping").to_path_buf(),
        detail: format!("the {what} format needs a mapping file (--mapping FILE)"),
    };
    match format {
        "suho" => Ok(Box::new(Passthrough)),
        "gateway" => {
            let path = mapping.ok_or_else(|| need("gateway"))?;
            Ok(Box::new(GatewayDecoder::new(GatewayMapping::load(path)?)))
        }
        "pgaudit" => {
            let path = mapping.ok_or_else(|| need("pgaudit"))?;
            Ok(Box::new(PgAuditDecoder::new(PgAuditMapping::load(path)?)))
        }
        "cloudtrail" => {
            let path = mapping.ok_or_else(|| need("cloudtrail"))?;
            Ok(Box::new(CloudTrailDecoder::new(CloudTrailMapping::load(
                path,
            )?)))
        }
        "ocsf" => {
            let path = mapping.ok_or_else(|| need("ocsf"))?;
            Ok(Box::new(OcsfDecoder::new(OcsfMapping::load(path)?)))
        }
        other => Err(MappingError::Invalid {
            path: Path::new("--format").to_path_buf(),
            detail: format!(
                "unknown format {other:?}: use one of {}",
                FORMATS.join(", ")
            ),
        }),
    }
}

/// SHA-256 of a source line, lowercase hex: what `attrs.source_sha256` holds.
pub fn source_sha256(line: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(line))
}

/// The contract's actions (section 1).
pub(crate) const ACTIONS: &[&str] = &[
    "read",
    "search",
    "export",
    "download",
    "print",
    "create",
    "update",
    "delete",
    "login",
    "logout",
    "login_failed",
];

/// Read a mapping file's text and parse it with `parse`; errors name the file.
pub(crate) fn load_mapping<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, MappingError> {
    let text = std::fs::read_to_string(path).map_err(|source| MappingError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|detail| MappingError::Invalid {
        path: path.to_path_buf(),
        detail,
    })
}

/// A mapping's `action` override, checked against the contract's vocabulary.
pub(crate) fn check_action(what: &str, a: &str) -> Result<(), String> {
    if ACTIONS.contains(&a) {
        Ok(())
    } else {
        Err(format!("{what} {a:?}: use one of {}", ACTIONS.join(", ")))
    }
}

/// A mapping's subject pattern: a regular expression whose named group `subject` (or, without
/// one, the whole match) is the subject id.
#[derive(Debug, Clone)]
pub(crate) struct SubjectPattern(regex::Regex);

impl SubjectPattern {
    pub(crate) fn new(what: &str, pattern: &str) -> Result<SubjectPattern, String> {
        let re = regex::Regex::new(pattern).map_err(|e| format!("{what} {pattern:?}: {e}"))?;
        Ok(SubjectPattern(re))
    }

    /// The subject in `text`, if the pattern matches it.
    pub(crate) fn find<'t>(&self, text: &'t str) -> Option<&'t str> {
        let c = self.0.captures(text)?;
        c.name("subject")
            .or_else(|| c.get(0))
            .map(|m| m.as_str())
            .filter(|s| !s.is_empty())
    }
}

/// Sort and deduplicate subjects and drop those the contract would refuse (empty, over 128
/// bytes), so that a decoded record is always a valid one.
pub(crate) fn tidy_subjects(subjects: &mut Vec<String>) {
    subjects.retain(|s| !s.is_empty() && s.len() <= 128);
    subjects.sort_unstable();
    subjects.dedup();
}

/// `s` cut to at most `max` bytes on a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The bytes a JSON string must escape: `"`, `\` and the control characters.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Writes one record as an NDJSON line member by member, without building a map of it first
/// (the per-line path of a decoder). Keys are the caller's, written once each.
pub(crate) struct RecordWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Whether the object being written has no member yet, per nesting level.
    empty: Vec<bool>,
}

impl<'a> RecordWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> RecordWriter<'a> {
        out.push(b'{');
        RecordWriter {
            out,
            empty: vec![true],
        }
    }

    fn key(&mut self, key: &str) {
        if let Some(e) = self.empty.last_mut() {
            if !*e {
                self.out.push(b',');
            }
            *e = false;
        }
        // Keys are the decoders' own names, which need no escape.
        debug_assert!(!key.bytes().any(|b| NEEDS_ESCAPE[usize::from(b)]));
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn quoted(&mut self, s: &str) {
        // Most values need no escape (serde_json escapes `"`, `\\` and control characters).
        if !s.bytes().any(|b| NEEDS_ESCAPE[usize::from(b)]) {
            self.out.reserve(s.len() + 2);
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
            return;
        }
        // A &str always encodes (serde_json escapes what JSON needs); nothing can fail here.
        let _ = serde_json::to_writer(&mut *self.out, s);
    }

    /// The SHA-256 of `bytes` as a lowercase hex string: [`source_sha256`] without a `String`.
    pub(crate) fn sha256_hex(&mut self, key: &str, bytes: &[u8]) {
        use sha2::{Digest, Sha256};
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(key);
        self.out.push(b'"');
        for b in Sha256::digest(bytes) {
            self.out.push(HEX[usize::from(b >> 4)]);
            self.out.push(HEX[usize::from(b & 15)]);
        }
        self.out.push(b'"');
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        self.quoted(value);
    }

    pub(crate) fn num(&mut self, key: &str, value: i64) {
        self.key(key);
        // Writing to a Vec cannot fail.
        let _ = std::io::Write::write_fmt(&mut *self.out, format_args!("{value}"));
    }

    pub(crate) fn unsigned(&mut self, key: &str, value: u64) {
        self.key(key);
        // Writing to a Vec cannot fail.
        let _ = std::io::Write::write_fmt(&mut *self.out, format_args!("{value}"));
    }

    pub(crate) fn boolean(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub(crate) fn strs<S: AsRef<str>>(&mut self, key: &str, values: &[S]) {
        self.key(key);
        self.out.push(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.quoted(v.as_ref());
        }
        self.out.push(b']');
    }

    pub(crate) fn begin_object(&mut self, key: &str) {
        self.key(key);
        self.out.push(b'{');
        self.empty.push(true);
    }

    pub(crate) fn end_object(&mut self) {
        self.empty.pop();
        self.out.push(b'}');
    }

    /// Closes the record and ends its line.
    pub(crate) fn finish(self) {
        self.out.extend_from_slice(b"}\n");
    }
}

/// Write `rec` as one NDJSON line.
pub(crate) fn emit(
    rec: serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    serde_json::to_writer(&mut *out, &serde_json::Value::Object(rec))
        .map_err(|e| DecodeError::new(format!("cannot encode the record: {e}")))?;
    out.push(b'\n');
    Ok(())
}

/// The contract action an API operation's name suggests (`GetObject` read, `DeleteItem`
/// delete, ...), by its verb; None when the verb says nothing.
pub(crate) fn operation_action(op: &str) -> Option<&'static str> {
    const VERBS: &[(&str, &str)] = &[
        ("Get", "read"),
        ("Describe", "read"),
        ("List", "read"),
        ("Head", "read"),
        ("Lookup", "read"),
        ("Read", "read"),
        ("Download", "download"),
        ("Search", "search"),
        ("Query", "search"),
        ("Scan", "search"),
        ("Select", "search"),
        ("Export", "export"),
        ("Create", "create"),
        ("Insert", "create"),
        ("Add", "create"),
        ("Upload", "create"),
        ("Put", "update"),
        ("Update", "update"),
        ("Modify", "update"),
        ("Set", "update"),
        ("Write", "update"),
        ("Delete", "delete"),
        ("Remove", "delete"),
        ("Terminate", "delete"),
        ("Purge", "delete"),
    ];
    VERBS.iter().find_map(|(verb, action)| {
        let rest = op.strip_prefix(verb)?;
        // The verb is a whole word: GetItem, not Getaway.
        (rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase() || c == '_'))
            .then_some(*action)
    })
}
