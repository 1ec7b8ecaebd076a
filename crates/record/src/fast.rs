//! The fast path of [`crate::parse_record`]: a hand-written, accept-only JSON parser
//! specialised to the access record.
//!
//! It returns `Some(record)` only for a line that is valid JSON and a valid record, and
//! `None` for anything else, including valid but unusual input it does not handle (a
//! negative or fractional number, nesting deeper than [`MAX_SKIP_DEPTH`] inside a skipped
//! value). `parse_record` then runs the serde_json path, which either accepts the line or
//! says precisely why not. So this module never explains errors, and the two paths must agree
//! on every line this one accepts: the differential property test and the fuzz target check
//! exactly that.
//!
//! The grammar follows RFC 8259 as serde_json implements it: whitespace is space, tab, `\n`
//! and `\r`; strings may not hold bytes below 0x20; a `\u` escape in a string that is kept
//! must not be a lone surrogate, while skipped strings only need four hex digits.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::limits;
use crate::parse::Member;
use crate::record::{AccessRecord, Action, Outcome, TimeForm};
use crate::time::{parse_rfc3339, MAX_TIME_MS, MIN_TIME_MS};

/// Deeper nesting inside `attrs` or an unknown field is left to the serde_json path.
const MAX_SKIP_DEPTH: u32 = 64;

/// Parses `text` (already checked to be UTF-8) if it is a valid record; `None` otherwise.
pub(crate) fn parse_fast(text: &str) -> Option<AccessRecord<'_>> {
    let mut c = Cursor {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    c.ws();
    c.eat(b'{')?;
    c.ws();
    let mut seen = 0u16;
    let mut time = None;
    let mut actor = None;
    let mut action = None;
    let mut resource = None;
    let mut src_ip = None;
    let mut credential = None;
    let mut signing_key = None;
    let mut subjects = Vec::new();
    let mut subject_count = None;
    let mut fields = Vec::new();
    let mut purpose = None;
    let mut outcome = None;
    let mut id = None;
    if c.peek() == Some(b'}') {
        return None; // the required fields are missing
    }
    loop {
        c.ws();
        let key = c.key()?;
        c.ws();
        c.eat(b':')?;
        c.ws();
        match key {
            Member::Time => time = Some(c.time()?),
            Member::Actor => actor = Some(c.bounded(1, limits::ACTOR_MAX_BYTES)?),
            Member::Action => action = Some(Action::from_wire(&c.string()?)?),
            Member::Resource => resource = Some(c.bounded(1, limits::RESOURCE_MAX_BYTES)?),
            Member::SrcIp => {
                if !c.null() {
                    let s = c.string()?;
                    if !s.is_empty() {
                        src_ip = Some(parse_ip(&s)?);
                    }
                }
            }
            Member::Credential => credential = c.optional(limits::CREDENTIAL_MAX_BYTES)?,
            Member::SigningKey => signing_key = c.optional(limits::SIGNING_KEY_MAX_BYTES)?,
            Member::Subjects => {
                subjects = c.list(limits::MAX_SUBJECTS, limits::SUBJECT_MAX_BYTES)?;
            }
            Member::SubjectCount => {
                if !c.null() {
                    subject_count = Some(c.unsigned()?);
                }
            }
            Member::Fields => fields = c.list(limits::MAX_FIELDS, limits::FIELD_MAX_BYTES)?,
            Member::Purpose => purpose = c.optional(limits::PURPOSE_MAX_BYTES)?,
            Member::Outcome => {
                if !c.null() {
                    outcome = Some(Outcome::from_wire(&c.string()?)?);
                }
            }
            Member::Id => id = c.optional(limits::ID_MAX_BYTES)?,
            Member::Attrs => {
                if !c.null() {
                    if c.peek() != Some(b'{') {
                        return None;
                    }
                    c.skip_value()?;
                }
            }
            Member::Other => c.skip_value()?,
        }
        let bit = key.bit();
        if seen & bit != 0 {
            return None; // duplicate field
        }
        seen |= bit;
        c.ws();
        match c.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    c.ws();
    if c.i != c.b.len() {
        return None;
    }
    let record = AccessRecord {
        time_ms: time?.0,
        time_form: time?.1,
        actor: actor?,
        action: action?,
        resource: resource?,
        src_ip,
        credential,
        signing_key,
        subjects,
        subject_count,
        fields,
        purpose,
        outcome: outcome.unwrap_or_default(),
        id,
    };
    if let Some(count) = record.subject_count {
        if usize::try_from(count).is_ok_and(|c| c < record.subjects.len()) {
            return None;
        }
    }
    Some(record)
}

/// `s` as an IP address: dotted-quad IPv4 by hand, everything else by the standard library
/// (which also rejects what the hand parser declines, such as leading zeros).
fn parse_ip(s: &str) -> Option<IpAddr> {
    let mut octets = [0u8; 4];
    let mut parts = s.as_bytes().split(|&c| c == b'.');
    for octet in &mut octets {
        match parts.next()? {
            [d @ b'0'..=b'9'] => *octet = d - b'0',
            [d1 @ b'1'..=b'9', d2 @ b'0'..=b'9'] => *octet = (d1 - b'0') * 10 + (d2 - b'0'),
            [d1 @ b'1'..=b'9', d2 @ b'0'..=b'9', d3 @ b'0'..=b'9'] => {
                let v =
                    u16::from(d1 - b'0') * 100 + u16::from(d2 - b'0') * 10 + u16::from(d3 - b'0');
                *octet = u8::try_from(v).ok()?; // over 255: not an address
            }
            _ => return s.parse().ok(),
        }
    }
    if parts.next().is_some() {
        return s.parse().ok();
    }
    Some(IpAddr::from(octets))
}

struct Cursor<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Bytes that end the fast scan of a string: `"`, `\` and the control characters.
fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// A mask whose lowest set bit is the high bit of the first special byte of `w` (read
/// little-endian), or 0 if there is none. Bits above the first special byte may be spurious
/// (borrows propagate upwards), so only the lowest one is meaningful.
fn special_mask(w: u64) -> u64 {
    let zero_byte = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    zero_byte(w ^ (LO * u64::from(b'"'))) | zero_byte(w ^ (LO * u64::from(b'\\'))) | below_space
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Consumes `null` if it is next.
    fn null(&mut self) -> bool {
        let is_null = self.b[self.i..].starts_with(b"null");
        if is_null {
            self.i += 4;
        }
        is_null
    }

    /// Index of the next `"`, `\` or control byte at or after `self.i`, eight bytes a step.
    #[inline]
    fn scan(&self) -> Option<usize> {
        let mut j = self.i;
        while let Some(chunk) = self.b.get(j..j + 8) {
            let w = u64::from_le_bytes(chunk.try_into().ok()?);
            let m = special_mask(w);
            if m != 0 {
                return Some(j + (m.trailing_zeros() / 8) as usize);
            }
            j += 8;
        }
        while !is_special(*self.b.get(j)?) {
            j += 1;
        }
        Some(j)
    }

    /// An object key. Known keys written without escapes are recognised from their first
    /// bytes, without a scan; anything else is read as a string and looked up.
    #[inline]
    fn key(&mut self) -> Option<Member> {
        let rest = &self.b[self.i..];
        let known =
            |name: &'static [u8], key: Member| rest.starts_with(name).then_some((key, name.len()));
        let hit = match rest.get(1) {
            Some(b't') => known(b"\"time\"", Member::Time),
            Some(b'a') => known(b"\"actor\"", Member::Actor)
                .or_else(|| known(b"\"action\"", Member::Action))
                .or_else(|| known(b"\"attrs\"", Member::Attrs)),
            Some(b'r') => known(b"\"resource\"", Member::Resource),
            Some(b's') => known(b"\"src_ip\"", Member::SrcIp)
                .or_else(|| known(b"\"signing_key\"", Member::SigningKey))
                .or_else(|| known(b"\"subjects\"", Member::Subjects))
                .or_else(|| known(b"\"subject_count\"", Member::SubjectCount)),
            Some(b'c') => known(b"\"credential\"", Member::Credential),
            Some(b'f') => known(b"\"fields\"", Member::Fields),
            Some(b'p') => known(b"\"purpose\"", Member::Purpose),
            Some(b'o') => known(b"\"outcome\"", Member::Outcome),
            Some(b'i') => known(b"\"id\"", Member::Id),
            _ => None,
        };
        if let Some((key, len)) = hit {
            self.i += len;
            return Some(key);
        }
        Some(Member::from_name(&self.string()?))
    }

    /// A JSON string, borrowed unless it holds escapes.
    #[inline]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        let j = self.scan()?;
        if self.b[j] == b'"' {
            self.i = j + 1;
            return Some(Cow::Borrowed(self.text.get(start..j)?));
        }
        self.escaped_string(start, j).map(Cow::Owned)
    }

    /// The rest of a string that holds an escape (or a control byte) at `j`.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize, j: usize) -> Option<String> {
        let mut out = String::with_capacity(j - start + 16);
        out.push_str(self.text.get(start..j)?);
        self.i = j;
        loop {
            match self.next()? {
                b'"' => return Some(out),
                b'\\' => self.unescape(&mut out)?,
                c if c < 0x20 => return None,
                _ => {
                    // Copy the run of ordinary bytes (whole UTF-8 sequences) up to the next
                    // special byte.
                    let from = self.i - 1;
                    let to = self.scan()?;
                    out.push_str(self.text.get(from..to)?);
                    self.i = to;
                }
            }
        }
    }

    fn unescape(&mut self, out: &mut String) -> Option<()> {
        let c = match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                match hi {
                    0xD800..=0xDBFF => {
                        self.eat(b'\\')?;
                        self.eat(b'u')?;
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return None;
                        }
                        char::from_u32(0x1_0000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                    }
                    _ => char::from_u32(hi)?, // None for a lone trailing surrogate
                }
            }
            _ => return None,
        };
        out.push(c);
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0;
        for _ in 0..4 {
            v = v * 16 + char::from(self.next()?).to_digit(16)?;
        }
        Some(v)
    }

    /// A string of `min..=max` bytes.
    fn bounded(&mut self, min: usize, max: usize) -> Option<Cow<'a, str>> {
        let s = self.string()?;
        (min..=max).contains(&s.len()).then_some(s)
    }

    /// An optional string of at most `max` bytes: `null` and `""` are `None`.
    fn optional(&mut self, max: usize) -> Option<Option<Cow<'a, str>>> {
        if self.null() {
            return Some(None);
        }
        let s = self.bounded(0, max)?;
        Some((!s.is_empty()).then_some(s))
    }

    /// An array of at most `max_entries` strings of at most `max_bytes` each; `null` is empty.
    fn list(&mut self, max_entries: usize, max_bytes: usize) -> Option<Vec<Cow<'a, str>>> {
        if self.null() {
            return Some(Vec::new());
        }
        self.eat(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Some(Vec::new());
        }
        let mut out = Vec::with_capacity(4);
        loop {
            self.ws();
            if out.len() == max_entries {
                return None;
            }
            out.push(self.bounded(0, max_bytes)?);
            self.ws();
            match self.next()? {
                b',' => {}
                b']' => return Some(out),
                _ => return None,
            }
        }
    }

    /// A non-negative JSON integer that fits in `u64` (no fraction, no exponent).
    fn unsigned(&mut self) -> Option<u64> {
        let first = self.next()?;
        let mut v = u64::from(first.checked_sub(b'0').filter(|d| *d <= 9)?);
        if v == 0 {
            // JSON forbids leading zeros: "0" must stand alone.
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                return None;
            }
        } else {
            while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
                v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                self.i += 1;
            }
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(v),
        }
    }

    /// `time`: an RFC 3339 string or integer epoch milliseconds, within the accepted range.
    fn time(&mut self) -> Option<(i64, TimeForm)> {
        let (ms, form) = if self.peek() == Some(b'"') {
            (parse_rfc3339(&self.string()?).ok()?, TimeForm::Rfc3339)
        } else {
            (i64::try_from(self.unsigned()?).ok()?, TimeForm::EpochMillis)
        };
        (MIN_TIME_MS..=MAX_TIME_MS)
            .contains(&ms)
            .then_some((ms, form))
    }

    /// Skips any JSON value, checking its grammar, without building it.
    fn skip_value(&mut self) -> Option<()> {
        // Bit k of `stack` is set when the container at depth k+1 is an object.
        let mut stack: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            // At the start of a value.
            self.ws();
            match self.next()? {
                b'"' => self.skip_string()?,
                b'n' => self.literal(b"ull")?,
                b't' => self.literal(b"rue")?,
                b'f' => self.literal(b"alse")?,
                b'-' => self.skip_number()?,
                b'0'..=b'9' => {
                    self.i -= 1;
                    self.skip_number()?
                }
                open @ (b'[' | b'{') => {
                    if depth == MAX_SKIP_DEPTH {
                        return None;
                    }
                    let is_object = open == b'{';
                    if is_object {
                        stack |= 1 << depth;
                    } else {
                        stack &= !(1 << depth);
                    }
                    depth += 1;
                    self.ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        depth -= 1;
                    } else {
                        if is_object {
                            self.object_key()?;
                        }
                        continue;
                    }
                }
                _ => return None,
            }
            // After a complete value: close containers or move to the next element.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let in_object = stack & (1 << (depth - 1)) != 0;
                self.ws();
                match self.next()? {
                    b',' => {
                        if in_object {
                            self.ws();
                            self.object_key()?;
                        }
                        break;
                    }
                    b'}' if in_object => depth -= 1,
                    b']' if !in_object => depth -= 1,
                    _ => return None,
                }
            }
        }
    }

    /// `"key" :` inside a skipped object.
    fn object_key(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.skip_string()?;
        self.ws();
        self.eat(b':')
    }

    /// The rest of a string whose opening quote is consumed; escapes are only checked.
    fn skip_string(&mut self) -> Option<()> {
        loop {
            self.i = self.scan()?;
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        self.hex4()?;
                    }
                    _ => return None,
                },
                _ => return None, // a control character
            }
        }
    }

    fn literal(&mut self, rest: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(rest) {
            self.i += rest.len();
            Some(())
        } else {
            None
        }
    }

    /// A JSON number (its sign, if any, consumed): `int [frac] [exp]`.
    fn skip_number(&mut self) -> Option<()> {
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.next().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.next().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_every_good_corpus_line_so_the_differential_tests_mean_something() {
        let good = include_str!("../tests/corpus/good.ndjson");
        for (i, line) in good.lines().enumerate() {
            let fast = parse_fast(line);
            assert!(
                fast.is_some(),
                "good.ndjson:{} left to the slow path",
                i + 1
            );
            assert_eq!(
                fast.ok_or(()),
                crate::parse::parse_record_serde(line.as_bytes()).map_err(|_| ())
            );
        }
    }

    #[test]
    fn declines_what_it_leaves_to_the_serde_path() {
        for line in [
            r#"{"time":-1,"actor":"e","action":"read","resource":"r"}"#,
            r#"{"time":1.5,"actor":"e","action":"read","resource":"r"}"#,
            r#"{"time":1,"actor":"e","action":"read","resource":"r","subject_count":1e2}"#,
            r#"{"time":1,"actor":"e","actor":"e","action":"read","resource":"r"}"#,
            r#"{"time":1,"actor":"\ud800","action":"read","resource":"r"}"#,
            r#"{"time":1,"actor":"e","action":"read","resource":"r"} x"#,
        ] {
            assert!(parse_fast(line).is_none(), "{line}");
        }
        let deep = format!(
            r#"{{"time":1,"actor":"e","action":"read","resource":"r","x":{}1{}}}"#,
            "[".repeat(65),
            "]".repeat(65)
        );
        assert!(parse_fast(&deep).is_none());
        assert!(crate::parse::parse_record_serde(deep.as_bytes()).is_ok());
    }

    fn naive_scan(b: &[u8], from: usize) -> Option<usize> {
        (from..b.len()).find(|&j| is_special(b[j]))
    }

    proptest! {
        #[test]
        fn word_scan_finds_the_same_byte_as_a_byte_loop(
            bytes in prop::collection::vec(prop::sample::select(vec![b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x00, 0x21, 0x5b]), 0..40),
            from in 0usize..40,
        ) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let b = text.as_bytes();
            let from = from.min(b.len());
            let c = Cursor { text: &text, b, i: from };
            prop_assert_eq!(c.scan(), naive_scan(b, from));
        }
    }
}
