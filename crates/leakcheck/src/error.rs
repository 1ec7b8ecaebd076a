//! The crate's one error type.
//!
//! No message ever repeats a plain contact value (an email address or phone number): errors
//! name the line, the column and what is wrong, so they can be printed and logged safely.

use std::path::PathBuf;

/// Why a leak-check operation failed. Every variant says where and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An email address or phone number could not be normalised.
    #[error("{kind}: {reason}")]
    Identifier {
        /// `email` or `phone`.
        kind: &'static str,
        /// What is wrong with it (never the value itself).
        reason: String,
    },
    /// A range prefix is not exactly five hexadecimal digits.
    #[error("bad range prefix: {reason}")]
    Prefix {
        /// What is wrong with it.
        reason: String,
    },
    /// A hash is not 64 hexadecimal digits.
    #[error("bad hash: {reason}")]
    Hash {
        /// What is wrong with it.
        reason: String,
    },
    /// A line of an input file (hex hashes or contacts CSV) is bad; nothing was loaded.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line (never the contact values in it).
        reason: String,
    },
    /// An input file could not be read.
    #[error("reading input: {0}")]
    Read(#[source] std::io::Error),
    /// The store (or its directory or lock file) could not be read or written.
    #[error("leak-check store {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store file is not a valid leak-check store; it is refused whole.
    #[error("leak-check store {path} is corrupt: {reason}; reload it with `suho leak-check load`")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
