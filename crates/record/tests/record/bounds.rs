//! Every bound of contract section 1, at the limit (accepted) and one past it (rejected).

use suho_record::{limits, MAX_LINE_BYTES};

use crate::{parse, reason, record_with};

/// A record whose `field` holds a string of `n` bytes, all `c`.
fn with_string(field: &str, n: usize, c: char) -> String {
    let value = c.to_string().repeat(n / c.len_utf8());
    assert_eq!(value.len(), n);
    let base = r#""time":1750734765120,"action":"read""#;
    match field {
        "actor" => format!(r#"{{{base},"actor":"{value}","resource":"r"}}"#),
        "resource" => format!(r#"{{{base},"actor":"e","resource":"{value}"}}"#),
        _ => format!(r#"{{{base},"actor":"e","resource":"r","{field}":"{value}"}}"#),
    }
}

#[test]
fn string_fields_accept_their_limit_and_reject_one_byte_more() {
    let bounds = [
        ("actor", limits::ACTOR_MAX_BYTES, 256),
        ("resource", limits::RESOURCE_MAX_BYTES, 512),
        ("credential", limits::CREDENTIAL_MAX_BYTES, 256),
        ("signing_key", limits::SIGNING_KEY_MAX_BYTES, 256),
        ("purpose", limits::PURPOSE_MAX_BYTES, 512),
        ("id", limits::ID_MAX_BYTES, 128),
    ];
    for (field, limit, contract) in bounds {
        assert_eq!(limit, contract, "{field}: the contract's bound");
        let ok = with_string(field, limit, 'a');
        assert!(parse(ok.as_bytes()).is_ok(), "{field} at {limit} bytes");
        let over = with_string(field, limit + 1, 'a');
        assert_eq!(
            reason(over.as_bytes()),
            format!(
                "field \"{field}\" is {} bytes, longer than the {limit}-byte limit",
                limit + 1
            )
        );
    }
}

#[test]
fn bounds_count_utf8_bytes_not_characters() {
    // '가' is 3 bytes: 85 of them (255 bytes) fit in actor, 86 (258 bytes) do not.
    assert!(parse(with_string("actor", 255, '가').as_bytes()).is_ok());
    assert_eq!(
        reason(with_string("actor", 258, '가').as_bytes()),
        "field \"actor\" is 258 bytes, longer than the 256-byte limit"
    );
    // Escapes count after unescaping: "\u00e9" is one 2-byte character.
    let escaped = format!(
        r#"{{"time":1,"actor":"{}","action":"read","resource":"r"}}"#,
        "\\u00e9".repeat(128)
    );
    let record = parse(escaped.as_bytes()).map_err(|e| e.to_string());
    assert_eq!(record.map(|r| r.actor.len()), Ok(256));
}

fn list(n: usize, entry: &str) -> String {
    let mut s = String::with_capacity(n * (entry.len() + 3) + 2);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        s.push_str(entry);
        s.push('"');
    }
    s.push(']');
    s
}

#[test]
fn subjects_accept_100000_entries_of_128_bytes_in_one_line() {
    let entry = "s".repeat(limits::SUBJECT_MAX_BYTES);
    let line = record_with(&format!(
        r#","subjects":{}"#,
        list(limits::MAX_SUBJECTS, &entry)
    ));
    assert!(line.len() <= MAX_LINE_BYTES, "{} bytes", line.len());
    let r = parse(line.as_bytes()).map_err(|e| e.to_string());
    assert_eq!(
        r.map(|r| (r.subjects.len(), r.subjects_processed())),
        Ok((100_000, 100_000))
    );
}

#[test]
fn subjects_reject_100001_entries_and_say_how_many() {
    let line = record_with(&format!(r#","subjects":{}"#, list(100_001, "c")));
    assert_eq!(
        reason(line.as_bytes()),
        "field \"subjects\" has 100001 entries, more than 100,000"
    );
}

#[test]
fn subject_entries_are_at_most_128_bytes() {
    let ok = record_with(&format!(r#","subjects":["c-1","{}"]"#, "x".repeat(128)));
    assert!(parse(ok.as_bytes()).is_ok());
    let over = record_with(&format!(r#","subjects":["c-1","{}"]"#, "x".repeat(129)));
    assert_eq!(
        reason(over.as_bytes()),
        "field \"subjects\"[1] is 129 bytes, longer than the 128-byte limit"
    );
}

#[test]
fn fields_are_at_most_64_entries_of_64_bytes() {
    let ok = record_with(&format!(r#","fields":{}"#, list(64, &"f".repeat(64))));
    assert!(parse(ok.as_bytes()).is_ok());
    let long = record_with(&format!(r#","fields":["name","{}"]"#, "f".repeat(65)));
    assert_eq!(
        reason(long.as_bytes()),
        "field \"fields\"[1] is 65 bytes, longer than the 64-byte limit"
    );
    let many = record_with(&format!(r#","fields":{}"#, list(65, "name")));
    assert_eq!(
        reason(many.as_bytes()),
        "field \"fields\" has 65 entries, more than 64"
    );
}

#[test]
fn subject_count_must_cover_the_listed_subjects() {
    let equal = record_with(r#","subjects":["a","b"],"subject_count":2"#);
    assert_eq!(
        parse(equal.as_bytes()).map(|r| r.subjects_processed()),
        Ok(2)
    );
    let more = record_with(r#","subjects":["a","b"],"subject_count":5000"#);
    assert_eq!(
        parse(more.as_bytes()).map(|r| r.subjects_processed()),
        Ok(5000)
    );
    let fewer = record_with(r#","subjects":["a","b"],"subject_count":1"#);
    assert_eq!(
        reason(fewer.as_bytes()),
        "field \"subject_count\" is 1 but \"subjects\" lists 2"
    );
    let huge = record_with(r#","subject_count":18446744073709551615"#);
    assert_eq!(
        parse(huge.as_bytes()).map(|r| r.subjects_processed()),
        Ok(u64::MAX)
    );
}

#[test]
fn a_line_over_16_mib_is_rejected_before_parsing() {
    let mut line = record_with(r#","attrs":{"pad":""#).into_bytes();
    line.truncate(line.len() - 1);
    line.resize(MAX_LINE_BYTES + 1 - 3, b'x');
    line.extend_from_slice(b"\"}}");
    assert_eq!(line.len(), MAX_LINE_BYTES + 1);
    assert_eq!(
        reason(&line),
        "the line is 16777217 bytes, longer than the 16777216-byte (16 MiB) limit"
    );
    // One byte less is a valid record.
    line.remove(line.len() - 4);
    assert!(parse(&line).is_ok());
}

#[test]
fn time_range_ends_are_inclusive() {
    for (time, ms) in [
        ("0", 0),
        ("253402300799999", 253_402_300_799_999),
        ("\"1970-01-01T00:00:00Z\"", 0),
        ("\"9999-12-31T23:59:59.999Z\"", 253_402_300_799_999),
        ("\"9999-12-31T23:59:59.999999999Z\"", 253_402_300_799_999),
    ] {
        let line = format!(r#"{{"time":{time},"actor":"e","action":"read","resource":"r"}}"#);
        assert_eq!(parse(line.as_bytes()).map(|r| r.time_ms), Ok(ms), "{time}");
    }
}
