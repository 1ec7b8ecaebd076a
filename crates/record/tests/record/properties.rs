//! Properties over generated input: no input makes the parser panic, the fast path and the
//! serde_json path agree on everything, and valid records read back what was written.

use std::net::IpAddr;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use suho_record::{
    format_rfc3339_ms, split_lines, Action, LineItem, LineReader, Outcome, MAX_TIME_MS,
};

use crate::parse;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn near_records_get_the_same_answer_from_both_paths(line in near_record()) {
        // `parse` asserts that the fast path and the serde_json path agree.
        let _ = parse(line.as_bytes());
    }

    #[test]
    fn line_reader_and_split_lines_agree(
        bytes in prop::collection::vec(prop::sample::select(b"ab{}\r\n \t\xEF".to_vec()), 0..200),
        capacity in 1usize..16,
    ) {
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(capacity, bytes.as_slice()));
        let mut from_reader = Vec::new();
        while let Ok(Some(item)) = reader.next_line() {
            match item {
                LineItem::Line { number, bytes } => from_reader.push((number, bytes.to_vec())),
                LineItem::TooLong { .. } => prop_assert!(false, "no line here is too long"),
            }
        }
        let from_split: Vec<(u64, Vec<u8>)> = split_lines(&bytes, 1).map(|(n, l)| (n, l.to_vec())).collect();
        prop_assert_eq!(from_reader, from_split);
    }

    #[test]
    fn valid_records_read_back_what_was_written(r in valid_record()) {
        let line = r.to_line();
        let parsed = parse(line.as_bytes()).map_err(|e| e.to_string());
        prop_assert!(parsed.is_ok(), "{:?} for {}", parsed, line);
        let Ok(p) = parsed else { unreachable!() };
        prop_assert_eq!(p.time_ms, r.expected_ms);
        prop_assert_eq!(&*p.actor, r.actor.as_str());
        prop_assert_eq!(p.action, r.action);
        prop_assert_eq!(&*p.resource, r.resource.as_str());
        prop_assert_eq!(p.src_ip, r.src_ip);
        prop_assert_eq!(p.credential.as_deref(), r.credential.as_deref());
        prop_assert_eq!(p.signing_key.as_deref(), r.signing_key.as_deref());
        prop_assert_eq!(&p.subjects, &r.subjects);
        prop_assert_eq!(p.subject_count, r.subject_count);
        prop_assert_eq!(&p.fields, &r.fields);
        prop_assert_eq!(p.purpose.as_deref(), r.purpose.as_deref());
        prop_assert_eq!(p.outcome, r.outcome.unwrap_or(Outcome::Success));
        prop_assert_eq!(p.id.as_deref(), r.id.as_deref());
    }
}

/// Pieces of JSON that are, or are close to, parts of a record: the generator glues them
/// into objects so that both parse paths meet every field, type and corner of the grammar.
fn near_record() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "time",
        "actor",
        "action",
        "resource",
        "src_ip",
        "credential",
        "signing_key",
        "subjects",
        "subject_count",
        "fields",
        "purpose",
        "outcome",
        "id",
        "attrs",
        "x",
        "act\\u006fr",
        "tim\\u0065",
        "",
        "subject",
    ]);
    let values = prop::sample::select(vec![
        "1750734765120",
        "0",
        "-0",
        "-1",
        "01",
        "1.5",
        "1e3",
        "1E+2",
        "-",
        "18446744073709551616",
        "\"2025-06-24T03:12:45.120Z\"",
        "\"2025-06-24T12:12:45+09:00\"",
        "\"2025-13-01T00:00:00Z\"",
        "\"emp-0131\"",
        "\"read\"",
        "\"login_failed\"",
        "\"success\"",
        "\"failure\"",
        "\"\"",
        "\"10.0.0.1\"",
        "\"256.0.0.1\"",
        "\"1.2.3\"",
        "\"::1\"",
        "\"010.0.0.1\"",
        "null",
        "true",
        "false",
        "nul",
        "[]",
        "[\"a\",\"b\"]",
        "[\"a\",]",
        "[1]",
        "[null]",
        "{}",
        "{\"a\":[1,{\"b\":null,\"c\":-2.5e-3}],\"d\":\"\\u00e9\\\"\"}",
        "{\"a\":}",
        "{\"a\" 1}",
        "[[[[[[]]]]]]",
        "\"\\u00e9\\n\\t\\/\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "\"\\x\"",
        "\"a\tb\"",
        "\"가나다\"",
        "{\"k\":\"\\ud800\"}",
        "\"c-\\u0030\"",
    ]);
    let ws = prop::sample::select(vec!["", "", "", " ", "\t", "\r", "\n"]);
    let member = (keys, ws.clone(), values, ws.clone())
        .prop_map(|(k, w1, v, w2)| format!("\"{k}\"{w1}:{w2}{v}"));
    let base = prop::sample::select(vec![
        "",
        "\"time\":1,\"actor\":\"e\",\"action\":\"read\",\"resource\":\"r\"",
        "\"time\":\"2025-06-24T03:12:45.120Z\",\"actor\":\"emp-0131\",\"action\":\"search\",\"resource\":\"GET /x\"",
    ]);
    (
        base,
        prop::collection::vec(member, 0..5),
        ws,
        any::<bool>(),
        any::<u8>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(base, members, ws, corrupt, byte, at)| {
            let mut parts: Vec<String> = Vec::new();
            if !base.is_empty() {
                parts.push(base.to_owned());
            }
            parts.extend(members);
            let mut line = format!("{ws}{{{}}}{ws}", parts.join(","));
            if corrupt {
                // Replace one byte with an ASCII byte, keeping the line UTF-8 where it can.
                let mut bytes = line.into_bytes();
                let i = at.index(bytes.len());
                bytes[i] = byte & 0x7f;
                line = String::from_utf8_lossy(&bytes).into_owned();
            }
            line
        })
}

#[derive(Debug, Clone)]
struct Generated {
    time: Value,
    expected_ms: i64,
    actor: String,
    action: Action,
    resource: String,
    src_ip: Option<IpAddr>,
    credential: Option<String>,
    signing_key: Option<String>,
    subjects: Vec<String>,
    subject_count: Option<u64>,
    fields: Vec<String>,
    purpose: Option<String>,
    outcome: Option<Outcome>,
    id: Option<String>,
    attrs: Option<Value>,
}

impl Generated {
    fn to_line(&self) -> String {
        let mut m = Map::new();
        m.insert("time".into(), self.time.clone());
        m.insert("actor".into(), json!(self.actor));
        m.insert("action".into(), json!(self.action.as_str()));
        m.insert("resource".into(), json!(self.resource));
        let opt = |m: &mut Map<String, Value>, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        };
        if let Some(ip) = self.src_ip {
            m.insert("src_ip".into(), json!(ip.to_string()));
        }
        opt(&mut m, "credential", &self.credential);
        opt(&mut m, "signing_key", &self.signing_key);
        if !self.subjects.is_empty() {
            m.insert("subjects".into(), json!(self.subjects));
        }
        if let Some(c) = self.subject_count {
            m.insert("subject_count".into(), json!(c));
        }
        if !self.fields.is_empty() {
            m.insert("fields".into(), json!(self.fields));
        }
        opt(&mut m, "purpose", &self.purpose);
        if let Some(o) = self.outcome {
            m.insert("outcome".into(), json!(o.as_str()));
        }
        opt(&mut m, "id", &self.id);
        if let Some(a) = &self.attrs {
            m.insert("attrs".into(), a.clone());
            m.insert("zz_unknown".into(), a.clone());
        }
        Value::Object(m).to_string()
    }
}

/// Text of 1..=`max` bytes, with quotes, backslashes, control characters and non-ASCII.
fn text(max: usize) -> impl Strategy<Value = String> {
    "[a-z0-9가-힣😀\"\\\\/\n\t\u{1}\u{7f} -]{1,40}"
        .prop_filter("within the bound", move |s| s.len() <= max)
}

/// An RFC 3339 rendering of `ms` with `offset_min` and `digits` fraction digits, and the
/// instant it names (the fraction truncated to milliseconds).
fn rfc3339(ms: i64, offset_min: i64, digits: usize, extra: u32) -> (String, i64) {
    let local = format_rfc3339_ms(ms + offset_min * 60_000); // "YYYY-MM-DDTHH:MM:SS.mmmZ"
    let (head, millis) = (&local[..19], &local[20..23]);
    let frac = match digits {
        0 => String::new(),
        1..=3 => format!(".{}", &millis[..digits]),
        _ => format!(
            ".{millis}{:0width$}",
            extra % 10u32.pow(digits as u32 - 3),
            width = digits - 3
        ),
    };
    let offset = if offset_min == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        format!(
            "{sign}{:02}:{:02}",
            offset_min.abs() / 60,
            offset_min.abs() % 60
        )
    };
    let kept: i64 = match digits {
        0 => 0,
        1 => millis[..1].parse::<i64>().unwrap_or(0) * 100,
        2 => millis[..2].parse::<i64>().unwrap_or(0) * 10,
        _ => millis.parse::<i64>().unwrap_or(0),
    };
    (
        format!("{head}{frac}{offset}"),
        ms - ms.rem_euclid(1000) + kept,
    )
}

fn valid_record() -> impl Strategy<Value = Generated> {
    let day = 86_400_000i64;
    let time = (
        day..MAX_TIME_MS - day,
        any::<bool>(),
        -1439i64..1440,
        0usize..10,
        any::<u32>(),
    )
        .prop_map(|(ms, as_int, off, digits, extra)| {
            if as_int {
                (json!(ms), ms)
            } else {
                let (s, expected) = rfc3339(ms, off, digits, extra);
                (json!(s), expected)
            }
        });
    let attrs = prop_oneof![
        Just(None),
        Just(Some(json!({}))),
        Just(Some(
            json!({"a": [1, {"b": null}], "c": "x\"y", "d": -1.5e-3, "e": true})
        )),
    ];
    let ids = (
        prop::option::of(text(256)),
        prop::option::of(text(256)),
        prop::option::of(text(512)),
        prop::option::of(text(128)),
    );
    let lists = (
        prop::collection::vec(text(128), 0..5),
        prop::option::of(0u64..10),
        prop::collection::vec(text(64), 0..5),
    );
    (
        time,
        text(256),
        prop::sample::select(Action::ALL.to_vec()),
        text(512),
        prop::option::of(any::<IpAddr>()),
        ids,
        lists,
        prop::option::of(prop::sample::select(vec![
            Outcome::Success,
            Outcome::Failure,
        ])),
        attrs,
    )
        .prop_map(
            |(time, actor, action, resource, src_ip, ids, lists, outcome, attrs)| {
                let (credential, signing_key, purpose, id) = ids;
                let (subjects, extra, fields) = lists;
                Generated {
                    time: time.0,
                    expected_ms: time.1,
                    actor,
                    action,
                    resource,
                    src_ip,
                    credential,
                    signing_key,
                    subject_count: extra.map(|e| subjects.len() as u64 + e),
                    subjects,
                    fields,
                    purpose,
                    outcome,
                    id,
                    attrs,
                }
            },
        )
}
