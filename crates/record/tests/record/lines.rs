//! Cutting streams and buffers into numbered lines with bounded memory.

use std::io::{self, BufRead, BufReader, Read};

use suho_record::{parse_record, split_lines, LineItem, LineReader, RejectedLine, MAX_LINE_BYTES};

use crate::record_with;

/// What a reader yields, owned, for comparisons.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Line(u64, Vec<u8>),
    TooLong(u64, u64),
}

fn read_all<R: BufRead>(reader: &mut LineReader<R>) -> Vec<Item> {
    let mut out = Vec::new();
    loop {
        match reader.next_line() {
            Ok(Some(LineItem::Line { number, bytes })) => {
                out.push(Item::Line(number, bytes.to_vec()))
            }
            Ok(Some(LineItem::TooLong { number, bytes })) => out.push(Item::TooLong(number, bytes)),
            Ok(None) => return out,
            Err(e) => panic!("unexpected I/O error: {e}"),
        }
    }
}

fn lines_of(input: &[u8]) -> Vec<Item> {
    read_all(&mut LineReader::new(input))
}

fn line(n: u64, s: &str) -> Item {
    Item::Line(n, s.as_bytes().to_vec())
}

/// A stream of `len` bytes of `fill` generated on demand, never held in memory.
struct Generated {
    left: u64,
    fill: u8,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].fill(self.fill);
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_100_mb_line_is_skipped_and_reported_without_being_loaded() {
    const BIG: u64 = 100_000_000;
    let first = record_with("");
    let next = record_with(r#","id":"after-the-big-one""#);
    let head = format!("{first}\n{{\"time\":1,\"attrs\":\"");
    let tail = format!("\r\n{next}\n");
    let stream = head
        .as_bytes()
        .chain(Generated {
            left: BIG - 19,
            fill: b'x',
        })
        .chain(tail.as_bytes());
    let mut reader = LineReader::new(BufReader::with_capacity(64 << 10, stream));

    let Ok(Some(LineItem::Line { number: 1, bytes })) = reader.next_line() else {
        panic!("line 1")
    };
    assert_eq!(bytes, first.as_bytes());
    let item = reader.next_line().map_err(|e| e.to_string());
    assert_eq!(
        item,
        Ok(Some(LineItem::TooLong {
            number: 2,
            bytes: BIG
        }))
    );
    assert!(
        reader.line_buffer_capacity() <= MAX_LINE_BYTES + 1,
        "held {} bytes",
        reader.line_buffer_capacity()
    );
    let Ok(Some(LineItem::Line { number: 3, bytes })) = reader.next_line() else {
        panic!("line 3")
    };
    let record = parse_record(bytes).map_err(|e| e.to_string());
    assert_eq!(
        record.map(|r| r.id.map(|id| id.into_owned())),
        Ok(Some("after-the-big-one".to_owned()))
    );
    assert!(matches!(reader.next_line(), Ok(None)));
    assert_eq!(reader.lines_read(), 3);

    let reject = RejectedLine::too_long(2, BIG);
    assert_eq!(
        reject.reason,
        "the line is 100000000 bytes, longer than the 16777216-byte (16 MiB) limit"
    );
}

#[test]
fn the_limit_applies_to_the_line_without_its_line_break() {
    let exact = vec![b'x'; MAX_LINE_BYTES];
    let mut input = exact.clone();
    input.extend_from_slice(b"\r\n");
    input.extend_from_slice(&exact);
    input.extend_from_slice(b"x\nlast");
    let items = lines_of(&input);
    assert_eq!(
        items,
        vec![
            Item::Line(1, exact.clone()),
            Item::TooLong(2, MAX_LINE_BYTES as u64 + 1),
            line(3, "last"),
        ]
    );
}

#[test]
fn an_empty_stream_has_no_lines() {
    let mut reader = LineReader::new(&b""[..]);
    assert!(matches!(reader.next_line(), Ok(None)));
    assert!(matches!(reader.next_line(), Ok(None)));
    assert_eq!(reader.lines_read(), 0);
    assert_eq!(split_lines(b"", 1).count(), 0);
}

#[test]
fn blank_lines_are_skipped_but_counted() {
    let mut reader = LineReader::new(&b"\n   \n\t\r\n\r\n"[..]);
    assert!(matches!(reader.next_line(), Ok(None)));
    assert_eq!(reader.lines_read(), 4);
    assert_eq!(
        lines_of(b"\n\n{}\n \n{}"),
        vec![line(3, "{}"), line(5, "{}")]
    );
}

#[test]
fn crlf_and_lf_endings_are_stripped_and_a_last_line_needs_no_newline() {
    let input = b"a\r\nb\nc\r\n\r\nd";
    assert_eq!(
        lines_of(input),
        vec![line(1, "a"), line(2, "b"), line(3, "c"), line(5, "d")]
    );
    // A lone \r inside a line is kept; only the one before \n goes.
    assert_eq!(lines_of(b"a\rb\r\r\n"), vec![line(1, "a\rb\r")]);
}

#[test]
fn a_byte_order_mark_is_dropped_at_the_start_of_a_stream_only() {
    let input = b"\xEF\xBB\xBF{}\n\xEF\xBB\xBF{}\n";
    assert_eq!(
        lines_of(input),
        vec![line(1, "{}"), Item::Line(2, b"\xEF\xBB\xBF{}".to_vec())]
    );
}

#[test]
fn tiny_reads_give_the_same_lines() {
    let input = b"{\"a\":1}\r\n\n  \nxyz\r\n\r\nlast\r";
    let mut one_byte = LineReader::new(BufReader::with_capacity(1, input.as_slice()));
    assert_eq!(read_all(&mut one_byte), lines_of(input));
    assert_eq!(
        lines_of(input),
        vec![line(1, "{\"a\":1}"), line(4, "xyz"), line(6, "last")]
    );
}

#[test]
fn split_lines_numbers_from_the_given_line() {
    let buf = b"a\r\n\nb\n  \nc";
    let got: Vec<(u64, &[u8])> = split_lines(buf, 41).collect();
    assert_eq!(got, vec![(41, &b"a"[..]), (43, &b"b"[..]), (45, &b"c"[..])]);
    let mut it = split_lines(b"a\nb\n", 1);
    assert_eq!(it.next(), Some((1, &b"a"[..])));
    assert_eq!(it.next_line_number(), 2);
    assert_eq!(it.next(), Some((2, &b"b"[..])));
    assert_eq!(it.next(), None);
    assert_eq!(it.next_line_number(), 3);
}

/// Fails with `kind` on its first read, then reads `data`.
struct FailsOnce {
    kind: Option<io::ErrorKind>,
    data: &'static [u8],
}

impl Read for FailsOnce {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.kind.take() {
            return Err(io::Error::new(kind, "injected"));
        }
        self.data.read(buf)
    }
}

#[test]
fn interrupted_reads_are_retried_and_other_errors_returned() {
    let interrupted = FailsOnce {
        kind: Some(io::ErrorKind::Interrupted),
        data: b"a\nb",
    };
    let mut reader = LineReader::new(BufReader::new(interrupted));
    assert_eq!(read_all(&mut reader), vec![line(1, "a"), line(2, "b")]);

    let broken = FailsOnce {
        kind: Some(io::ErrorKind::ConnectionReset),
        data: b"a\n",
    };
    let mut reader = LineReader::new(BufReader::new(broken));
    let err = reader.next_line().err().map(|e| e.kind());
    assert_eq!(err, Some(io::ErrorKind::ConnectionReset));
}
