//! The reject log: every rejected line, as NDJSON in `<data>/rejects.ndjson`, so the team that
//! runs a broken producer can find and fix it (`suho rejects`): when it was rejected, where it
//! came from (a file path, `-`, or `http:<token name>` with the token's id), its line number,
//! the reason, and the start of the line (at most [`EXCERPT_BYTES`] bytes, cut on a character
//! boundary, with anything that looks like a bearer token blanked) with the line's length.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::IngestError;

/// Appends rejected lines to the reject log.
pub struct RejectLog {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    written: u64,
}

/// Longest excerpt of a rejected line kept in the log, in bytes.
pub const EXCERPT_BYTES: usize = 200;

/// Where a batch of lines came from, as the reject log names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// A file path, `-` for standard input, or `http:<token name>`.
    pub name: String,
    /// The id of the API token that sent the lines (not secret), for HTTP.
    pub token: Option<String>,
}

impl Source {
    /// Lines read from the file (or `-`) `name`.
    pub fn file(name: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            token: None,
        }
    }

    /// Lines posted over HTTP with the token `id` named `name`.
    pub fn http(id: &str, name: &str) -> Source {
        Source {
            name: format!("http:{name}"),
            token: Some(id.to_owned()),
        }
    }
}

#[derive(Serialize)]
struct Row<'a> {
    time: String,
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    line: u64,
    reason: &'a str,
    excerpt: String,
    bytes: u64,
}

impl RejectLog {
    /// The reject log of data directory `data`; the file is created on the first reject.
    pub fn new(data: &Path) -> RejectLog {
        RejectLog {
            path: data.join("rejects.ndjson"),
            out: None,
            written: 0,
        }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rejects written through this handle.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Record that line `line` of `source` was rejected for `reason`. `head` is the line, or
    /// at least its first [`EXCERPT_BYTES`] bytes; `bytes` is the whole line's length.
    pub fn reject(
        &mut self,
        source: &Source,
        line: u64,
        reason: &str,
        head: &[u8],
        bytes: u64,
    ) -> Result<(), IngestError> {
        let err = |error| IngestError::RejectLog {
            path: self.path.clone(),
            error,
        };
        if self.out.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(err)?;
            self.out = Some(BufWriter::new(f));
        }
        let row = Row {
            time: rfc3339_now(),
            source: &source.name,
            token: source.token.as_deref(),
            line,
            // A reason quotes the value it refuses, which may be a token sent in the wrong field.
            reason: &redact(reason),
            excerpt: excerpt(head),
            bytes,
        };
        let mut text = serde_json::to_vec(&row).unwrap_or_default();
        text.push(b'\n');
        if let Some(out) = self.out.as_mut() {
            out.write_all(&text)
                .map_err(|error| IngestError::RejectLog {
                    path: self.path.clone(),
                    error,
                })?;
        }
        self.written += 1;
        Ok(())
    }

    /// Flush buffered rows to the file.
    pub fn flush(&mut self) -> Result<(), IngestError> {
        if let Some(out) = self.out.as_mut() {
            out.flush().map_err(|error| IngestError::RejectLog {
                path: self.path.clone(),
                error,
            })?;
        }
        Ok(())
    }
}

impl Drop for RejectLog {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// The start of a line for the log: at most [`EXCERPT_BYTES`] bytes, cut on a character
/// boundary (bytes that are not UTF-8 become U+FFFD), bearer tokens blanked.
pub(crate) fn excerpt(line: &[u8]) -> String {
    let mut head = &line[..line.len().min(EXCERPT_BYTES)];
    // A character cut by the limit is left out rather than shown as U+FFFD.
    if let Err(e) = std::str::from_utf8(head) {
        if e.error_len().is_none() {
            head = &head[..e.valid_up_to()];
        }
    }
    let mut text = String::from_utf8_lossy(head).into_owned();
    if text.len() > EXCERPT_BYTES {
        // Replacement characters (3 bytes for 1) made it longer.
        let mut cut = EXCERPT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    redact(&text)
}

/// Blanks what follows `bearer ` (any case) and the rest of anything shaped like a suho token
/// (`suho_<id>_<secret>`), so that a producer that logs its own requests cannot put a
/// credential into the reject log.
fn redact(text: &str) -> String {
    fn token_char(c: char) -> bool {
        !c.is_whitespace() && !matches!(c, '"' | '\\' | ',' | '}' | ']')
    }
    fn suho_char(c: char) -> bool {
        c.is_ascii_hexdigit() || c == '_'
    }
    /// What introduces a secret (lower case), and which characters the secret is made of.
    type Secret = (&'static str, fn(char) -> bool);
    const SECRETS: [Secret; 2] = [("bearer ", token_char), ("suho_", suho_char)];
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let rest = &lower[i..];
        let Some((prefix, part_of_secret)) = SECRETS.iter().find(|(p, _)| rest.starts_with(p))
        else {
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        // "Bearer   <token>": the secret starts after any run of blanks.
        let blanks = text[i + prefix.len()..]
            .chars()
            .take_while(|c| c.is_whitespace())
            .map(char::len_utf8)
            .sum::<usize>();
        let start = i + prefix.len() + blanks;
        let end = text[start..]
            .char_indices()
            .find(|&(_, c)| !part_of_secret(c))
            .map_or(text.len(), |(k, _)| start + k);
        out.push_str(&text[i..start]);
        if end > start {
            out.push_str("<redacted>");
        }
        i = end;
    }
    out
}

/// Wall-clock time now as RFC 3339 UTC with milliseconds.
fn rfc3339_now() -> String {
    suho_record::format_rfc3339_ms(suho_ledger::now_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_bounded_and_cut_on_a_character_boundary() {
        let line = format!("{{\"a\":\"{}\"}}", "가".repeat(100));
        let e = excerpt(line.as_bytes());
        assert!(
            e.len() <= EXCERPT_BYTES && e.len() > EXCERPT_BYTES - 3,
            "{}",
            e.len()
        );
        assert!(line.starts_with(&e));
        assert_eq!(excerpt(b"short line"), "short line");
        // Bytes that are not UTF-8 are shown as U+FFFD, still within the bound.
        let bad = [0xffu8; 300];
        let e = excerpt(&bad);
        assert!(e.len() <= EXCERPT_BYTES && e.chars().all(|c| c == '\u{fffd}'));
    }

    #[test]
    fn bearer_tokens_never_reach_the_excerpt() {
        let token = format!("suho_{}_{}", "0123456789abcdef", "ab".repeat(32));
        for line in [
            format!("{{\"auth\":\"Bearer {token}\"}}"),
            format!("{{\"auth\":\"bearer eyJhbGciOi.x-y_z\",\"t\":\"{token}\"}}"),
        ] {
            let e = excerpt(line.as_bytes());
            assert!(!e.contains(&"ab".repeat(32)), "{e}");
            assert!(!e.contains("eyJhbGciOi"), "{e}");
            assert!(e.contains("<redacted>"), "{e}");
        }
        assert_eq!(excerpt(b"suho_ingest and bearer"), "suho_ingest and bearer");
        // Blanks after "Bearer" do not end the secret before it starts.
        let e = excerpt(b"{\"auth\":\"Bearer   eyJhbGciOi.x-y_z\"}");
        assert!(!e.contains("eyJhbGciOi"), "{e}");
    }

    #[test]
    fn a_reason_quoting_a_token_is_redacted_in_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = RejectLog::new(dir.path());
        let token = format!("suho_{}_{}", "0123456789abcdef", "cd".repeat(32));
        let source = Source {
            name: "http:test".into(),
            token: None,
        };
        log.reject(&source, 1, &format!("unknown action \"{token}\""), b"{}", 2)
            .expect("logged");
        log.flush().expect("flush");
        let text = std::fs::read_to_string(log.path()).expect("read");
        assert!(!text.contains(&"cd".repeat(32)), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
