//! Arbitrary bytes through the whole record decoder: `LineReader` (with a tiny read buffer,
//! so lines straddle reads), `split_lines`, and `parse_record` on every line.
//!
//! Checks, beyond "never panics": the reader and the splitter cut the same lines, and the
//! fast path of `parse_record` and the serde_json-only path give the same answer.
//!
//! Run: `cargo +nightly fuzz run record_decoder` from `fuzz/`.

#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use suho_record::{parse_record, parse_record_serde, split_lines, LineItem, LineReader};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the reader's buffer size, 1..=64 bytes.
    let (capacity, input) = match data.split_first() {
        Some((c, rest)) => (usize::from(c % 64) + 1, rest),
        None => (1, data),
    };

    let mut from_reader: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut reader = LineReader::new(BufReader::with_capacity(capacity, input));
    loop {
        match reader.next_line() {
            Ok(Some(LineItem::Line { number, bytes })) => {
                assert_eq!(
                    parse_record(bytes),
                    parse_record_serde(bytes),
                    "parse paths disagree"
                );
                from_reader.push((number, bytes.to_vec()));
            }
            Ok(Some(LineItem::TooLong { .. })) => {
                panic!("fuzz inputs are far below the line limit")
            }
            Ok(None) => break,
            Err(e) => panic!("reading from memory cannot fail: {e}"),
        }
    }

    let mut from_split: Vec<(u64, Vec<u8>)> = split_lines(input, 1)
        .map(|(n, l)| (n, l.to_vec()))
        .collect();
    // LineReader also drops a byte order mark at the very start of the stream.
    if let Some((1, first)) = from_split.first_mut() {
        if let Some(rest) = first.strip_prefix(b"\xEF\xBB\xBF") {
            *first = rest.to_vec();
            if first.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                from_split.remove(0);
            }
        }
    }
    assert_eq!(from_reader, from_split, "reader and splitter disagree");
});
