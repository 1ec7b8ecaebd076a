//! Behaviour of suho-record that producers and the ingest path rely on: which lines are
//! accepted, what a rejected line is told, and how streams are cut into lines.

mod bounds;
mod bytes;
mod corpus;
mod good;
mod lines;
mod properties;

use suho_record::{parse_record, parse_record_serde, AccessRecord, RecordError};

/// Parses `line` with both paths, checks that they agree, and returns the result.
fn parse(line: &[u8]) -> Result<AccessRecord<'_>, RecordError> {
    let fast = parse_record(line);
    let serde = parse_record_serde(line);
    assert_eq!(
        fast,
        serde,
        "the two parse paths disagree on {}",
        String::from_utf8_lossy(&line[..line.len().min(300)])
    );
    fast
}

/// The rejection message for `line`; fails the test if the line is accepted.
fn reason(line: &[u8]) -> String {
    match parse(line) {
        Ok(r) => panic!(
            "accepted a line that must be rejected: {} => {r:?}",
            String::from_utf8_lossy(&line[..line.len().min(300)])
        ),
        Err(e) => e.to_string(),
    }
}

/// A valid record with `extra` (a `,"key":value` list, may be empty) appended.
fn record_with(extra: &str) -> String {
    format!(
        r#"{{"time":"2025-06-24T03:12:45.120Z","actor":"emp-0131","action":"read","resource":"GET /v1/customers/{{id}}/profile"{extra}}}"#
    )
}
