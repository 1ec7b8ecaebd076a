//! HTTP bodies that are one JSON array of records (how several log shippers batch), turned into
//! NDJSON: element *n* becomes line *n*, its JSON text compacted (whitespace outside strings
//! removed, nothing else touched: numbers, escapes and key order stay as sent), so that each
//! element is stored as its own record.

use std::fmt;

use serde::de::{self, Deserializer as _, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Whether `body` is meant as a JSON array: its first byte other than JSON whitespace is `[`.
pub(crate) fn is_array(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'[')
}

/// The elements of the JSON array `body`, one compact JSON text per line; or why `body` is not
/// a JSON array. Needs no more memory than `body` (plus one byte): elements are copied out as
/// they are read.
pub(crate) fn array_to_lines(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(body.len() + 1);
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = de
        .deserialize_seq(Elements(&mut out))
        .and_then(|()| de.end());
    match read {
        Ok(()) => Ok(out),
        Err(e) => Err(format!(
            "the body starts with '[' but is not a JSON array of records ({e}); nothing of it was stored"
        )),
    }
}

/// Appends each element of a sequence, compacted, and a line end.
struct Elements<'o>(&'o mut Vec<u8>);

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of access records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            compact_into(raw.get().as_bytes(), self.0);
            self.0.push(b'\n');
        }
        Ok(())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Map, &self))
    }
}

/// Appends valid JSON text `raw` without the whitespace outside its strings. The whitespace
/// JSON allows between tokens is never needed to separate them, so the meaning is unchanged.
fn compact_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        } else if b == b'"' {
            in_string = true;
        }
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_become_compact_lines_with_strings_untouched() {
        let body = b" \n[\n  {\"time\": 1750734765120,\n   \"actor\" : \"emp 1\\\" \\n x\"},\n  {\"a\":[1, 2.50e3, \"\\u00e9 \"]}\n] \n";
        let lines = array_to_lines(body).expect("an array");
        assert_eq!(
            String::from_utf8(lines).expect("utf-8"),
            "{\"time\":1750734765120,\"actor\":\"emp 1\\\" \\n x\"}\n{\"a\":[1,2.50e3,\"\\u00e9 \"]}\n"
        );
        assert!(is_array(body));
        assert!(!is_array(b" {\"time\":1}"));
        assert!(!is_array(b""));
        assert_eq!(array_to_lines(b"[]").ok(), Some(Vec::new()));
    }

    #[test]
    fn something_that_is_not_an_array_is_refused_whole() {
        for body in [
            &b"[{\"a\":1}, nope]"[..],
            b"[{\"a\":1}",
            b"[{\"a\":1}] [",
            b"[1,]",
        ] {
            let why = array_to_lines(body).expect_err("not an array");
            assert!(why.contains("not a JSON array"), "{why}");
            assert!(why.contains("nothing of it was stored"), "{why}");
        }
    }
}
