//! Inputs that cannot be written in a text corpus: bad UTF-8, control bytes, blank lines.

use crate::{parse, reason, record_with};

#[test]
fn invalid_utf8_is_reported_with_its_byte_offset() {
    assert_eq!(
        reason(b"{\"actor\":\"\xff\"}"),
        "invalid UTF-8 at byte offset 10"
    );
    // A truncated two-byte sequence at the end.
    let mut line = record_with("").into_bytes();
    line.push(0xC3);
    let at = line.len() - 1;
    assert_eq!(reason(&line), format!("invalid UTF-8 at byte offset {at}"));
    // An overlong encoding of '/', and a UTF-16 surrogate encoded in UTF-8.
    assert_eq!(
        reason(b"{\"a\":\"\xC0\xAF\"}"),
        "invalid UTF-8 at byte offset 6"
    );
    assert_eq!(
        reason(b"{\"a\":\"\xED\xA0\x80\"}"),
        "invalid UTF-8 at byte offset 6"
    );
}

#[test]
fn raw_control_characters_inside_strings_are_rejected() {
    let line = record_with(",\"purpose\":\"tab\there\"");
    assert_eq!(
        reason(line.as_bytes()),
        format!(
            "not valid JSON at column {}: control character (\\u0000-\\u001F) found while parsing a string",
            line.find('\t').map_or(0, |i| i + 1)
        )
    );
    let nul = record_with(",\"attrs\":{\"k\":\"a\u{0}b\"}");
    assert!(reason(nul.as_bytes()).contains("control character"));
}

#[test]
fn blank_lines_and_a_byte_order_mark_get_their_own_reasons() {
    assert_eq!(reason(b""), "the line is blank");
    assert_eq!(reason(b" \t\r"), "the line is blank");
    let bom = format!("\u{feff}{}", record_with(""));
    assert_eq!(
        reason(bom.as_bytes()),
        "the line starts with a UTF-8 byte order mark (EF BB BF); remove it"
    );
}

#[test]
fn long_values_are_cut_in_the_reason() {
    let value = "z".repeat(10_000);
    let line = record_with(&format!(",\"src_ip\":\"{value}\""));
    let why = reason(line.as_bytes());
    assert_eq!(
        why,
        format!(
            "field \"src_ip\": \"{}\"… (10000 bytes) is not an IPv4 or IPv6 address",
            "z".repeat(64)
        )
    );
}

#[test]
fn whitespace_around_and_inside_the_object_is_allowed() {
    let line =
        " \t{ \"time\" : 1 , \"actor\" :\"e\",\"action\": \"read\" ,\"resource\":\"r\" } \r\t ";
    assert_eq!(parse(line.as_bytes()).map(|r| r.time_ms), Ok(1));
}
