//! Why a line was rejected, in words a producer can act on.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::{TimeError, MAX_TIME_MS, MIN_TIME_MS};
use crate::MAX_LINE_BYTES;

/// Why one line is not a valid access record (contract section 1).
///
/// Every message names the field and the rule it broke, so the team that runs the producer
/// can fix it without reading suho's source. Values quoted from the input are cut to 64
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("the line is {bytes} bytes, longer than the {limit}-byte (16 MiB) limit", limit = MAX_LINE_BYTES)]
    LineTooLong {
        /// Length of the line without its line break.
        bytes: u64,
    },
    /// The line is empty or holds only spaces and tabs.
    #[error("the line is blank")]
    Blank,
    /// The line is not UTF-8.
    #[error("invalid UTF-8 at byte offset {offset}")]
    InvalidUtf8 {
        /// 0-based offset of the first byte that is not part of a valid UTF-8 sequence.
        offset: usize,
    },
    /// The line starts with U+FEFF, which JSON does not allow.
    #[error("the line starts with a UTF-8 byte order mark (EF BB BF); remove it")]
    ByteOrderMark,
    /// The line is not one JSON value.
    #[error("not valid JSON at column {column}: {message}")]
    Json {
        /// 1-based byte column where the parser stopped.
        column: usize,
        /// What the JSON parser expected there.
        message: String,
    },
    /// The line is JSON but not an object.
    #[error("the record must be a JSON object, not {found}")]
    NotAnObject {
        /// What the line holds instead.
        found: String,
    },
    /// A required field (`time`, `actor`, `action`, `resource`) is absent.
    #[error("missing required field \"{field}\"")]
    MissingField {
        /// The field's name.
        field: &'static str,
    },
    /// A known field appears twice.
    #[error("duplicate field \"{field}\"")]
    DuplicateField {
        /// The field's name.
        field: &'static str,
    },
    /// A field holds the wrong JSON type (for example a number where a string belongs), or
    /// `null` for a required field.
    #[error("field \"{field}\" must be {expected}, not {found}")]
    WrongType {
        /// The field's name.
        field: &'static str,
        /// What the contract allows there.
        expected: &'static str,
        /// What the line holds.
        found: String,
    },
    /// A string field that must hold at least one byte is `""`.
    #[error("field \"{field}\" is empty; it must be 1 to {limit} bytes")]
    Empty {
        /// The field's name.
        field: &'static str,
        /// The field's upper bound in bytes.
        limit: usize,
    },
    /// A string field is over its byte bound.
    #[error("field \"{field}\" is {bytes} bytes, longer than the {limit}-byte limit")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// Length of the value in bytes (UTF-8, after JSON unescaping).
        bytes: usize,
        /// The bound.
        limit: usize,
    },
    /// An entry of an array-of-strings field is not a string.
    #[error("field \"{field}\"[{index}] must be a string, not {found}")]
    EntryWrongType {
        /// The field's name.
        field: &'static str,
        /// 0-based position in the array.
        index: usize,
        /// What the entry holds.
        found: String,
    },
    /// An entry of an array-of-strings field is over its byte bound.
    #[error("field \"{field}\"[{index}] is {bytes} bytes, longer than the {limit}-byte limit")]
    EntryTooLong {
        /// The field's name.
        field: &'static str,
        /// 0-based position in the array.
        index: usize,
        /// Length of the entry in bytes.
        bytes: usize,
        /// The bound.
        limit: usize,
    },
    /// An array field has more entries than its bound.
    #[error("field \"{field}\" has {entries} entries, more than {}", Thousands(*limit as u128))]
    TooManyEntries {
        /// The field's name.
        field: &'static str,
        /// How many entries the array has.
        entries: usize,
        /// The bound.
        limit: usize,
    },
    /// `subject_count` is below the number of listed `subjects`.
    #[error("field \"subject_count\" is {count} but \"subjects\" lists {listed}")]
    SubjectCountTooSmall {
        /// The value of `subject_count`.
        count: u64,
        /// The length of `subjects`.
        listed: usize,
    },
    /// `action` is not in the contract's list.
    #[error("field \"action\": {value} is not one of read, search, export, download, print, create, update, delete, login, logout, login_failed")]
    UnknownAction {
        /// The value, quoted.
        value: String,
    },
    /// `outcome` is neither `success` nor `failure`.
    #[error("field \"outcome\": {value} is not one of success, failure")]
    UnknownOutcome {
        /// The value, quoted.
        value: String,
    },
    /// `time` is a string but not an RFC 3339 date-time with offset.
    #[error("field \"time\": {value} is not an RFC 3339 time with offset ({reason})")]
    BadTime {
        /// The value, quoted.
        value: String,
        /// What is wrong with it.
        reason: TimeError,
    },
    /// `time` is a valid time, but before 1970 or after 9999.
    #[error("field \"time\": {value} is outside the accepted range 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (epoch milliseconds {MIN_TIME_MS} to {MAX_TIME_MS})")]
    TimeOutOfRange {
        /// The value as written (quoted if it was a string).
        value: String,
    },
    /// `src_ip` is not an IP address.
    #[error("field \"src_ip\": {value} is not an IPv4 or IPv6 address")]
    BadIp {
        /// The value, quoted.
        value: String,
    },
}

/// One rejected input line, as written to reject logs (`{"line":12,"reason":"..."}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedLine {
    /// 1-based line number in its input.
    pub line: u64,
    /// Why it was rejected: the [`RecordError`] message.
    pub reason: String,
}

impl RejectedLine {
    /// The reject-log entry for line `line` that failed with `err`.
    pub fn new(line: u64, err: &RecordError) -> Self {
        RejectedLine {
            line,
            reason: err.to_string(),
        }
    }

    /// The reject-log entry for a line that [`crate::LineReader`] skipped as too long.
    pub fn too_long(line: u64, bytes: u64) -> Self {
        Self::new(line, &RecordError::LineTooLong { bytes })
    }
}

/// Longest excerpt of an input value that goes into a message, in characters.
const EXCERPT_CHARS: usize = 64;

/// A string value from the input, quoted and cut for use in a message:
/// `"emp-0131"`, or `"aaaa…"… (300 bytes)` when it is long.
pub(crate) fn quote(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &s[..cut], s.len()),
    }
}

/// Writes an integer with thousands separators: `100,000` (the one implementation for error
/// messages, notices and the command line).
pub struct Thousands(pub u128);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands() {
        for (n, s) in [(0, "0"), (64, "64"), (1000, "1,000"), (100_000, "100,000")] {
            assert_eq!(Thousands(n).to_string(), s);
        }
        assert_eq!(Thousands(1_234_567).to_string(), "1,234,567");
    }

    #[test]
    fn quote_cuts_long_values_on_char_boundaries() {
        assert_eq!(quote("emp-1"), "\"emp-1\"");
        let long = "가".repeat(100);
        let q = quote(&long);
        assert!(q.starts_with(&format!("\"{}\"…", "가".repeat(64))), "{q}");
        assert!(q.ends_with("(300 bytes)"), "{q}");
    }

    #[test]
    fn rejected_line_serialises_as_line_and_reason() {
        let r = RejectedLine::new(7, &RecordError::MissingField { field: "time" });
        assert_eq!(
            serde_json::to_string(&r).ok().as_deref(),
            Some(r#"{"line":7,"reason":"missing required field \"time\""}"#)
        );
    }
}
