//! Where one source record ends. Most logs hold one record per line, but two of the formats
//! suho reads do not: PostgreSQL's csvlog quotes a multi-line statement inside one CSV record
//! (its stderr log continues such a message on lines that begin with a tab), and a CloudTrail
//! log object is one JSON document, `{"Records":[...]}`, on one line or pretty-printed over
//! many. A [`Framing`] cuts a stream into *units*, each one source record, so that a decoder is
//! handed a whole record however many lines it spans, and a reader cuts its chunks only between
//! units.
//!
//! Framing is stateless: a unit boundary is recognisable from the bytes that follow it, so any
//! chunk that starts at a boundary can be split on its own (on any worker). A damaged record
//! (a csvlog record cut short by a crash, a JSON line truncated) ends where the next record
//! visibly starts, so one bad record never swallows the good ones after it.

/// How a decoder's input divides into source records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// One record per line (`\n`, an optional `\r` before it is dropped); blank lines skipped.
    #[default]
    Lines,
    /// A PostgreSQL server log, csvlog or stderr form, told apart per record. A line that
    /// starts like a csvlog record (`YYYY-MM-DD HH:MM:SS[.fff] ZONE,`) begins a CSV record that
    /// ends at the first line end outside double quotes; a line end inside quotes that is
    /// followed by another csvlog record start ends the (truncated) record there. Any other
    /// line is a stderr message, continued by the lines after it that begin with a tab.
    PostgresLog,
    /// JSON values, one per line or pretty-printed over many lines. The elements of a
    /// top-level `{"Records": [...]}` object or `[...]` array are units each: a CloudTrail
    /// log object yields its events one by one, with their exact bytes. A line that begins
    /// with `{"` ends an unfinished value before it (a truncated line of NDJSON). Text outside
    /// any value is a unit up to its line end, for the decoder to reject.
    Json,
}

/// One unit of a buffer: the number of the line it starts on and its bytes.
pub type Unit<'a> = (u64, &'a [u8]);

impl Framing {
    /// The units of `buf`, whose first line is line number `first_line`. The last unit may be
    /// incomplete when `buf` is not the end of its input (see [`Framing::cut`]).
    pub fn units(self, buf: &[u8], first_line: u64) -> Units<'_> {
        Units {
            framing: self,
            lines: suho_record::split_lines(buf, first_line),
            buf,
            pos: 0,
            line: first_line,
        }
    }

    /// Where a reader may cut `buf` (a prefix of the input that starts at a unit boundary)
    /// so that the prefix holds only whole units and the rest starts at a unit boundary; None
    /// while no such cut is possible (more input is needed). For [`Framing::Lines`] that is
    /// after the last `\n`; otherwise it is the start of the last unit, which may still grow.
    pub fn cut(self, buf: &[u8]) -> Option<usize> {
        match self {
            Framing::Lines => memchr::memrchr(b'\n', buf).map(|p| p + 1),
            _ => {
                let mut u = self.units(buf, 1);
                let mut last = None;
                while let Some((start, _, _)) = u.next_span() {
                    last = Some(start);
                }
                last.filter(|&s| s > 0)
            }
        }
    }
}

/// Iterator returned by [`Framing::units`].
#[derive(Debug, Clone)]
pub struct Units<'a> {
    framing: Framing,
    /// [`Framing::Lines`] is the record crate's own line splitting, so the two never differ.
    lines: suho_record::SplitLines<'a>,
    buf: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Iterator for Units<'a> {
    type Item = Unit<'a>;

    fn next(&mut self) -> Option<Unit<'a>> {
        if self.framing == Framing::Lines {
            return self.lines.next();
        }
        let (start, end, line) = self.next_span()?;
        Some((line, &self.buf[start..end]))
    }
}

impl Units<'_> {
    /// The next unit as (start, end, line number), advancing past it (not for
    /// [`Framing::Lines`], whose cut needs no units).
    fn next_span(&mut self) -> Option<(usize, usize, u64)> {
        match self.framing {
            Framing::Lines => None,
            Framing::PostgresLog => self.next_postgres(),
            Framing::Json => self.next_json(),
        }
    }

    /// Advance to `to`, counting the line ends passed.
    fn advance_to(&mut self, to: usize) {
        self.line += memchr::memchr_iter(b'\n', &self.buf[self.pos..to]).count() as u64;
        self.pos = to;
    }

    fn line_end(&self, from: usize) -> usize {
        memchr::memchr(b'\n', &self.buf[from..]).map_or(self.buf.len(), |i| from + i)
    }

    fn next_postgres(&mut self) -> Option<(usize, usize, u64)> {
        let buf = self.buf;
        // Skip blank lines.
        loop {
            if self.pos >= buf.len() {
                return None;
            }
            let end = self.line_end(self.pos);
            if buf[self.pos..end].iter().all(u8::is_ascii_whitespace) {
                self.advance_to((end + 1).min(buf.len()));
            } else {
                break;
            }
        }
        let start = self.pos;
        let line = self.line;
        let end = if is_csvlog_start(&buf[start..]) {
            // A CSV record: ends at a line end outside quotes.
            let mut quoted = false;
            let mut i = start;
            loop {
                match memchr::memchr2(b'"', b'\n', &buf[i..]) {
                    None => break buf.len(),
                    Some(off) => {
                        let at = i + off;
                        if buf[at] == b'"' {
                            quoted = !quoted;
                        } else if !quoted || is_csvlog_start(&buf[at + 1..]) {
                            break at;
                        }
                        i = at + 1;
                    }
                }
            }
        } else {
            // A stderr message and its tab-led continuation lines.
            let mut end = self.line_end(start);
            while end + 1 < buf.len() && buf[end + 1] == b'\t' {
                end = self.line_end(end + 1);
            }
            end
        };
        self.advance_to((end + 1).min(buf.len()));
        Some((start, trim_cr(buf, start, end), line))
    }

    fn next_json(&mut self) -> Option<(usize, usize, u64)> {
        let buf = self.buf;
        // Skip whitespace and the punctuation of an enclosing `{"Records":[` or `[`.
        while self.pos < buf.len() {
            match buf[self.pos] {
                b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']' | b'}' => {
                    self.advance_to(self.pos + 1)
                }
                b'{' => match records_opener(&buf[self.pos..]) {
                    Some(n) => self.advance_to(self.pos + n),
                    None => break,
                },
                _ => break,
            }
        }
        if self.pos >= buf.len() {
            return None;
        }
        let start = self.pos;
        let line = self.line;
        let end = if buf[start] == b'{' {
            json_value_end(buf, start)
        } else {
            self.line_end(start)
        };
        self.advance_to(end);
        Some((start, trim_cr(buf, start, end), line))
    }
}

fn trim_cr(buf: &[u8], start: usize, end: usize) -> usize {
    if end > start && buf[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// Whether `s` starts like a csvlog record: `YYYY-MM-DD HH:MM:SS`, optional `.fff`, a space, a
/// zone name without spaces or commas, and the comma that ends the first field.
pub(crate) fn is_csvlog_start(s: &[u8]) -> bool {
    const SHAPE: &[u8] = b"0000-00-00 00:00:00";
    if s.len() < SHAPE.len() + 3 {
        return false;
    }
    let shape_ok = SHAPE.iter().zip(s).all(|(&p, &c)| {
        if p == b'0' {
            c.is_ascii_digit()
        } else {
            c == p
        }
    });
    if !shape_ok {
        return false;
    }
    let mut i = SHAPE.len();
    if s.get(i) == Some(&b'.') {
        i += 1;
        let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        i += digits;
    }
    if s.get(i) != Some(&b' ') {
        return false;
    }
    i += 1;
    let zone = s[i..]
        .iter()
        .take(65)
        .take_while(|&&c| c != b',' && c != b' ' && c != b'\n')
        .count();
    zone > 0 && s.get(i + zone) == Some(&b',')
}

/// The length of a `{"Records":[` opener (any whitespace between its tokens) at the start of
/// `s`, if that is what `s` starts with.
fn records_opener(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    let ws = |s: &[u8], mut i: usize| {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    i = ws(s, i);
    if !s[i..].starts_with(b"\"Records\"") {
        return None;
    }
    i = ws(s, i + 9);
    if s.get(i) != Some(&b':') {
        return None;
    }
    i = ws(s, i + 1);
    (s.get(i) == Some(&b'[')).then_some(i + 1)
}

/// The end (exclusive) of the JSON value that starts with `{` at `start`: after its closing
/// brace; or the line end before a line that begins with `{"` (a new NDJSON record); or the
/// end of the buffer.
fn json_value_end(buf: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut i = start;
    while i < buf.len() {
        let c = buf[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                b'\n' if buf[i + 1..].starts_with(b"{\"") => return i,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                b'\n' if buf[i + 1..].starts_with(b"{\"") => return i,
                _ => {}
            }
        }
        i += 1;
    }
    buf.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: Framing, s: &str) -> Vec<(u64, String)> {
        f.units(s.as_bytes(), 1)
            .map(|(l, b)| (l, String::from_utf8_lossy(b).into_owned()))
            .collect()
    }

    #[test]
    fn lines_are_lines() {
        assert_eq!(
            all(Framing::Lines, "a\r\n\n  \nb"),
            vec![(1, "a".into()), (4, "b".into())]
        );
        assert_eq!(Framing::Lines.cut(b"a\nb"), Some(2));
        assert_eq!(Framing::Lines.cut(b"ab"), None);
    }

    #[test]
    fn a_csvlog_record_spans_the_line_ends_inside_its_quotes() {
        let log = "2025-06-24 12:00:00.123 KST,\"u\",\"d\",1,,,,,,,,LOG,00000,\"AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.c,\"\"SELECT *\nFROM c\nWHERE id = 1\"\"\",,,,\r\n\
                   2025-06-24 12:00:01 UTC,\"u\",\"d\",1,,,,,,,,LOG,00000,\"plain\",,,,\n";
        let u = all(Framing::PostgresLog, log);
        assert_eq!(u.len(), 2, "{u:?}");
        assert_eq!(u[0].0, 1);
        assert!(u[0].1.ends_with("\"\"\",,,,"), "{u:?}");
        assert!(u[0].1.contains("FROM c\nWHERE id = 1"));
        assert_eq!(u[1].0, 4);
        assert!(u[1].1.contains("plain"));
    }

    #[test]
    fn a_truncated_csvlog_record_ends_where_the_next_one_starts() {
        let log = "2025-06-24 12:00:00.123 KST,\"u\",\"d\",1,\"cut short\n\
                   2025-06-24 12:00:01.000 KST,\"u\",\"d\",1,,,,,,,,LOG,00000,\"x\",,,,\n\
                   2025-06-24 12:00:02.000 KST,\"u\",\"d\",1,,,,,,,,LOG,00000,\"y\",,,,\n";
        let u = all(Framing::PostgresLog, log);
        assert_eq!(u.len(), 3, "{u:?}");
        assert_eq!(
            u[0].1,
            "2025-06-24 12:00:00.123 KST,\"u\",\"d\",1,\"cut short"
        );
        assert_eq!((u[1].0, u[2].0), (2, 3));
    }

    #[test]
    fn a_stderr_message_keeps_its_tab_continuations() {
        let log = "2025-06-24 12:00:00.123 KST [7] u@d LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,\"SELECT *\n\tFROM c\",<none>\n\
                   2025-06-24 12:00:00.124 KST [7] u@d LOG:  next\n";
        let u = all(Framing::PostgresLog, log);
        assert_eq!(u.len(), 2, "{u:?}");
        assert!(u[0].1.ends_with("\tFROM c\",<none>"));
        assert_eq!(u[1].0, 3);
        // The last line may still get a continuation: cut before it.
        let cut = Framing::PostgresLog.cut(log.as_bytes()).expect("cut");
        assert!(log[cut..].starts_with("2025-06-24 12:00:00.124"));
    }

    #[test]
    fn json_units_are_events_of_a_records_document_in_any_layout() {
        let one_line = r#"{"Records":[{"a":1,"s":"}{\"x"},{"b":[2,{"c":3}]}]}"#;
        let u = all(Framing::Json, one_line);
        assert_eq!(
            u,
            vec![
                (1, r#"{"a":1,"s":"}{\"x"}"#.into()),
                (1, r#"{"b":[2,{"c":3}]}"#.into())
            ]
        );
        let pretty = "{\n  \"Records\" : [\n    {\n      \"a\": 1\n    },\n    {\n      \"b\": 2\n    }\n  ]\n}\n";
        let u = all(Framing::Json, pretty);
        assert_eq!(u.len(), 2, "{u:?}");
        assert_eq!(u[0], (3, "{\n      \"a\": 1\n    }".into()));
        assert_eq!(u[1].0, 6);
        let ndjson = "{\"a\":1}\n{\"b\":2}\r\n\n[{\"c\":3}]\n";
        assert_eq!(all(Framing::Json, ndjson).len(), 3);
    }

    #[test]
    fn a_truncated_json_line_and_text_outside_values_are_units_of_their_own() {
        let s = "{\"a\":\"trunc\n{\"b\":2}\nnot json\n{\"c\":{\n";
        let u = all(Framing::Json, s);
        assert_eq!(
            u,
            vec![
                (1, "{\"a\":\"trunc".into()),
                (2, "{\"b\":2}".into()),
                (3, "not json".into()),
                (4, "{\"c\":{\n".into())
            ]
        );
        // Cut before the last (unfinished) value, after whole ones only.
        let cut = Framing::Json.cut(s.as_bytes()).expect("cut");
        assert_eq!(&s[cut..], "{\"c\":{\n");
        assert_eq!(Framing::Json.cut(b"{\"Records\":[{\"a\":1"), Some(12));
        assert_eq!(Framing::Json.cut(b"{\"a\":1"), None);
    }

    #[test]
    fn cutting_anywhere_a_cut_allows_gives_the_same_units() {
        let log = "{\"Records\":[{\"a\":1},{\"b\":\"x\\\"y\"},\n{\"c\":3}]}\n{\"d\":4}\nbad\n";
        let whole: Vec<Vec<u8>> = Framing::Json
            .units(log.as_bytes(), 1)
            .map(|(_, b)| b.to_vec())
            .collect();
        for n in 1..log.len() {
            let head = &log.as_bytes()[..n];
            if let Some(c) = Framing::Json.cut(head) {
                let mut got: Vec<Vec<u8>> = Framing::Json
                    .units(&log.as_bytes()[..c], 1)
                    .map(|(_, b)| b.to_vec())
                    .collect();
                got.extend(
                    Framing::Json
                        .units(&log.as_bytes()[c..], 1)
                        .map(|(_, b)| b.to_vec()),
                );
                assert_eq!(got, whole, "cut at {c} of prefix {n}");
            }
        }
    }
}
