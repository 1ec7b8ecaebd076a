//! Decoders: each maps one line of a log that some other system wrote (an API gateway's JSON
//! access log, ...) to suho access records (contract section 1), so that a team points suho at
//! the logs it already has, with a mapping file and no code.
//!
//! A decoded record never carries a secret the source line held (a raw bearer token is read for
//! its claims and dropped) and always carries `attrs.source` (the decoder) and
//! `attrs.source_sha256`, the SHA-256 of the exact source line without its line end, so an
//! investigator holding the source log can show which line a stored record came from. The
//! contract format itself is decoded by [`Passthrough`], which stores the line verbatim.
#![forbid(unsafe_code)]

mod gateway;
mod json;

use std::path::Path;

pub use gateway::{GatewayDecoder, GatewayMapping};

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

/// What one source line became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decoded {
    /// Access records appended (each one NDJSON line with its `\n`).
    pub records: usize,
    /// The line's request matched no route of the catalogue: stored, counted and listed, with
    /// no subjects (the catalogue says where subjects are).
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

    /// Decode one source line (without its line end), appending the records it holds to `out`,
    /// each as one NDJSON line ending in `\n`. On error nothing is appended.
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
pub const FORMATS: &[&str] = &["suho", "gateway"];

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
