//! Line-level helpers shared by the formats: character checks, decimal numbers, hashes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// A problem found at a 1-based line of some text; the caller turns it into a
/// [`crate::NoteError`] variant naming the format.
#[derive(Debug)]
pub(crate) struct LineError {
    pub(crate) line: usize,
    pub(crate) reason: String,
}

impl LineError {
    pub(crate) fn new(line: usize, reason: impl Into<String>) -> Self {
        LineError {
            line,
            reason: reason.into(),
        }
    }
}

/// Finds the first ASCII control character other than newline, which signed notes forbid.
pub(crate) fn check_no_control(text: &str) -> Result<(), LineError> {
    let Some(pos) = text.bytes().position(|b| b < 0x20 && b != b'\n') else {
        return Ok(());
    };
    let before = &text[..pos];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let byte = text.as_bytes()[pos];
    Err(LineError::new(
        line,
        format!(
            "control character U+{byte:04X} at column {column} is not allowed \
             (only newline may appear; is this a CRLF file?)"
        ),
    ))
}

/// Parses an ASCII decimal with no sign and no leading zeroes (except `0` itself).
pub(crate) fn parse_decimal(s: &str) -> Result<u64, String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a decimal number".into());
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err("has a leading zero".into());
    }
    s.parse::<u64>()
        .map_err(|_| "does not fit in 64 bits".into())
}

/// Decodes a standard, padded base64 SHA-256 hash (exactly 32 bytes).
pub(crate) fn decode_hash(s: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(s)
        .map_err(|e| format!("is not valid base64 ({e})"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("decodes to {} bytes, a SHA-256 hash is 32", bytes.len()))
}

/// Encodes bytes as standard, padded base64.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded, canonical base64.
pub(crate) fn unb64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(s)
}

/// Quotes a possibly long input fragment for an error message, cut to a readable length.
pub(crate) fn quote(s: &str) -> String {
    const MAX_CHARS: usize = 60;
    if s.chars().count() <= MAX_CHARS {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX_CHARS).collect();
        format!("{cut:?}...")
    }
}

/// Walks text line by line, keeping 1-based line numbers and byte offsets.
pub(crate) struct Lines<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lines {
            text,
            pos: 0,
            line: 0,
        }
    }

    /// The next line without its newline, with its line number; `None` at the end of the
    /// text. A final line without a newline is returned too (callers check termination).
    pub(crate) fn next_line(&mut self) -> Option<(usize, &'a str)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (line, advance) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += advance;
        self.line += 1;
        Some((self.line, line))
    }

    /// Byte offset of the next unread line.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Number of lines consumed so far.
    pub(crate) fn lines_read(&self) -> usize {
        self.line
    }

    /// The unread rest of the text.
    pub(crate) fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decimal_rules() {
        assert_eq!(parse_decimal("0"), Ok(0));
        assert_eq!(parse_decimal("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_decimal("007"), Err("has a leading zero".into()));
        assert_eq!(parse_decimal("+7"), Err("is not a decimal number".into()));
        assert_eq!(parse_decimal(""), Err("is empty".into()));
        assert_eq!(
            parse_decimal("18446744073709551616"),
            Err("does not fit in 64 bits".into())
        );
    }

    #[test]
    fn control_character_position() {
        let err = check_no_control("ab\ncd\tef\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("U+0009 at column 3"), "{}", err.reason);
    }

    #[test]
    fn lines_track_numbers_and_rest() {
        let mut lines = Lines::new("a\n\nb\nrest\n");
        assert_eq!(lines.next_line(), Some((1, "a")));
        assert_eq!(lines.next_line(), Some((2, "")));
        assert_eq!(lines.next_line(), Some((3, "b")));
        assert_eq!(lines.rest(), "rest\n");
        assert_eq!(lines.lines_read(), 3);
        assert_eq!(lines.next_line(), Some((4, "rest")));
        assert_eq!(lines.next_line(), None);
    }
}
