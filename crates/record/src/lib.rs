//! Parses and validates access records (contract section 1, one JSON object per NDJSON
//! line) and splits input streams into lines, fast and with bounded memory.
//!
//! [`parse_record`] turns one line into an [`AccessRecord`] that borrows its strings from the
//! line, or a [`RecordError`] whose message names the field and the rule it broke.
//! [`LineReader`] and [`split_lines`] cut a stream or a buffer into numbered lines.
//! `attrs` and unknown top-level fields are checked but never built: the ledger stores the
//! original line bytes, so they are kept verbatim by construction.
//!
//! Parsing has two paths with one contract: a hand-written fast path that accepts valid
//! records only (about 3,800 instructions for a 250-byte line), and a serde_json path that
//! handles whatever the fast path declines and words every rejection. Tests and the fuzz
//! target (`fuzz/`) check that the two agree on every input; `benches/parse.rs` measures
//! both.
//!
//! Architecture invariant: this crate knows nothing about the ledger, detectors, HTTP or
//! files; it sees bytes and returns values.

#![forbid(unsafe_code)]

mod error;
mod fast;
mod lines;
mod parse;
mod record;
pub mod time;

pub use error::{RecordError, RejectedLine, Thousands};
pub use lines::{split_lines, LineItem, LineReader, SplitLines};
pub use parse::{parse_record, parse_record_serde};
pub use record::{AccessRecord, Action, Outcome, TimeForm, UnknownName};
pub use time::{format_rfc3339_ms, parse_rfc3339, TimeError, MAX_TIME_MS, MIN_TIME_MS};

/// Longest accepted line, 16 MiB: room for 100,000 subjects of 128 bytes.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// The bounds of contract section 1, in bytes (UTF-8, after JSON unescaping) or entries.
///
/// The contract leaves `fields` unbounded; suho caps it at [`MAX_FIELDS`](limits::MAX_FIELDS)
/// entries of [`FIELD_MAX_BYTES`](limits::FIELD_MAX_BYTES) bytes, far above the vocabulary
/// (at most 28 bytes, 16 categories).
pub mod limits {
    /// `actor`: 1..=256 bytes.
    pub const ACTOR_MAX_BYTES: usize = 256;
    /// `resource`: 1..=512 bytes.
    pub const RESOURCE_MAX_BYTES: usize = 512;
    /// `credential`: ..=256 bytes.
    pub const CREDENTIAL_MAX_BYTES: usize = 256;
    /// `signing_key`: ..=256 bytes.
    pub const SIGNING_KEY_MAX_BYTES: usize = 256;
    /// Each `subjects` entry: ..=128 bytes.
    pub const SUBJECT_MAX_BYTES: usize = 128;
    /// `subjects`: at most 100,000 entries.
    pub const MAX_SUBJECTS: usize = 100_000;
    /// Each `fields` entry: ..=64 bytes (suho's bound; the contract sets none).
    pub const FIELD_MAX_BYTES: usize = 64;
    /// `fields`: at most 64 entries (suho's bound; the contract sets none).
    pub const MAX_FIELDS: usize = 64;
    /// `purpose`: ..=512 bytes.
    pub const PURPOSE_MAX_BYTES: usize = 512;
    /// `id`: ..=128 bytes.
    pub const ID_MAX_BYTES: usize = 128;
}
