//! NDJSON line splitting with a hard memory bound.
//!
//! Rules shared by [`LineReader`] and [`split_lines`]: lines end at `\n`; a `\r` before it is
//! dropped; line numbers start at 1 and count every line, including blank ones; lines that
//! are empty or hold only spaces, tabs and `\r` are skipped; a last line without `\n` is
//! still a line.

use std::io::{self, BufRead};

use crate::MAX_LINE_BYTES;

/// One item from [`LineReader::next_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineItem<'b> {
    /// A non-blank line within [`MAX_LINE_BYTES`], without its line break.
    Line {
        /// 1-based line number.
        number: u64,
        /// The line's bytes, valid until the next call.
        bytes: &'b [u8],
    },
    /// A line longer than [`MAX_LINE_BYTES`]: it was read to its end and dropped.
    TooLong {
        /// 1-based line number.
        number: u64,
        /// Length of the line without its line break.
        bytes: u64,
    },
}

/// Splits a byte stream into lines, holding at most [`MAX_LINE_BYTES`] + 1 bytes of line
/// (plus the reader's own buffer) at any time: an over-long line is skipped to its end and
/// reported as [`LineItem::TooLong`], never loaded. A UTF-8 byte order mark at the very start
/// of the stream is dropped.
#[derive(Debug)]
pub struct LineReader<R: BufRead> {
    inner: R,
    buf: Vec<u8>,
    /// Number of the last line read (returned, skipped as blank, or too long).
    number: u64,
    eof: bool,
}

/// How one physical line ended up.
enum Read {
    Eof,
    Fits,
    TooLong(u64),
}

/// The most line bytes kept while reading: the limit plus a `\r` that may precede `\n`.
const KEEP: usize = MAX_LINE_BYTES + 1;

impl<R: BufRead> LineReader<R> {
    /// Reads lines from `r`. Wrap files and sockets in a `BufReader` (64 KiB or more reads
    /// fastest).
    pub fn new(r: R) -> Self {
        LineReader {
            inner: r,
            buf: Vec::new(),
            number: 0,
            eof: false,
        }
    }

    /// The next non-blank line, or `Ok(None)` at the end of the stream. The returned bytes
    /// exclude the trailing `\n` or `\r\n`. An I/O error is returned as is; calling again
    /// after one continues with the rest of the stream.
    pub fn next_line(&mut self) -> io::Result<Option<LineItem<'_>>> {
        loop {
            if self.eof {
                return Ok(None);
            }
            match self.read_physical_line()? {
                Read::Eof => {
                    self.eof = true;
                    return Ok(None);
                }
                Read::TooLong(bytes) => {
                    self.number += 1;
                    return Ok(Some(LineItem::TooLong {
                        number: self.number,
                        bytes,
                    }));
                }
                Read::Fits => {
                    self.number += 1;
                    if self.number == 1 && self.buf.starts_with(BOM) {
                        self.buf.drain(..BOM.len());
                    }
                    if is_blank(&self.buf) {
                        continue;
                    }
                    return Ok(Some(LineItem::Line {
                        number: self.number,
                        bytes: &self.buf,
                    }));
                }
            }
        }
    }

    /// How many lines have been consumed so far, blank and too-long ones included.
    pub fn lines_read(&self) -> u64 {
        self.number
    }

    /// Bytes currently reserved for holding a line; never more than [`MAX_LINE_BYTES`] + 1.
    pub fn line_buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads up to and including the next `\n` (or to the end of the stream) into `buf`,
    /// without its line break, or counts it if it is over the limit.
    fn read_physical_line(&mut self) -> io::Result<Read> {
        self.buf.clear();
        let mut total: u64 = 0;
        let mut any = false;
        let mut too_long = false;
        let mut last_byte = None;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(Read::Eof);
                }
                break;
            }
            any = true;
            let (chunk, used, ended) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            if let Some(&b) = chunk.last() {
                last_byte = Some(b);
            }
            total += chunk.len() as u64;
            if !too_long {
                if self.buf.len() + chunk.len() > KEEP {
                    too_long = true;
                    self.buf.clear();
                } else {
                    reserve_bounded(&mut self.buf, chunk.len());
                    self.buf.extend_from_slice(chunk);
                }
            }
            self.inner.consume(used);
            if ended {
                break;
            }
        }
        let content = total - u64::from(last_byte == Some(b'\r'));
        if too_long || content > MAX_LINE_BYTES as u64 {
            self.buf.clear();
            return Ok(Read::TooLong(content));
        }
        if last_byte == Some(b'\r') {
            self.buf.pop();
        }
        Ok(Read::Fits)
    }
}

/// Grows `buf` for `extra` more bytes by doubling, but never past [`KEEP`], so the bound on
/// memory is the limit itself rather than twice it.
fn reserve_bounded(buf: &mut Vec<u8>, extra: usize) {
    let needed = buf.len() + extra;
    if needed > buf.capacity() {
        let target = (buf.capacity() * 2).max(needed).clamp(256, KEEP);
        buf.reserve_exact(target - buf.len());
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// Splits an in-memory buffer into `(line number, line)` pairs with the same rules as
/// [`LineReader`]: `\r\n` and `\n` stripped, blank lines skipped but counted, a last line
/// without `\n` kept. Lines are not length-checked; [`crate::parse_record`] rejects one over
/// [`MAX_LINE_BYTES`]. `first_line_number` is the number of the buffer's first line.
pub fn split_lines(buf: &[u8], first_line_number: u64) -> SplitLines<'_> {
    SplitLines {
        rest: buf,
        next_number: first_line_number,
    }
}

/// Iterator returned by [`split_lines`].
#[derive(Debug, Clone)]
pub struct SplitLines<'a> {
    rest: &'a [u8],
    next_number: u64,
}

impl SplitLines<'_> {
    /// Number the next line of the buffer would have (one past the last line seen).
    pub fn next_line_number(&self) -> u64 {
        self.next_number
    }
}

impl<'a> Iterator for SplitLines<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let (mut line, rest) = match memchr::memchr(b'\n', self.rest) {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &self.rest[self.rest.len()..]),
            };
            self.rest = rest;
            let number = self.next_number;
            self.next_number += 1;
            if let [head @ .., b'\r'] = line {
                line = head;
            }
            if !is_blank(line) {
                return Some((number, line));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_never_passes_the_bound() {
        let mut v = vec![0u8; MAX_LINE_BYTES - 10];
        reserve_bounded(&mut v, 11);
        // Doubling would have asked for 32 MiB; the bound caps it at the limit plus '\r'.
        assert!(v.capacity() > MAX_LINE_BYTES);
        assert!(v.capacity() <= KEEP + 64, "{}", v.capacity());
    }
}
