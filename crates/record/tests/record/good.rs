//! Records suho must accept, and what it reads from them.

use std::borrow::Cow;
use std::net::IpAddr;

use suho_record::{Action, Outcome, TimeForm};

use crate::parse;

fn good_lines() -> Vec<&'static str> {
    include_str!("../corpus/good.ndjson").lines().collect()
}

#[test]
fn every_line_of_the_good_corpus_parses() {
    let lines = good_lines();
    assert_eq!(lines.len(), 9);
    for (i, line) in lines.iter().enumerate() {
        if let Err(e) = parse(line.as_bytes()) {
            panic!("good.ndjson:{}: rejected: {e}", i + 1);
        }
    }
}

#[test]
fn the_contract_example_reads_as_written() {
    let line = good_lines()[0];
    let r = parse(line.as_bytes()).map_err(|e| e.to_string());
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.time_ms, 1_750_734_765_120);
    assert_eq!(r.time_form, TimeForm::Rfc3339);
    assert_eq!(r.actor, "emp-0131");
    assert_eq!(r.credential.as_deref(), Some("tok-7f3a"));
    assert_eq!(r.signing_key.as_deref(), Some("kid-2024-02"));
    assert_eq!(r.src_ip, "203.0.113.7".parse::<IpAddr>().ok());
    assert_eq!(r.action, Action::Read);
    assert_eq!(r.resource, "GET /v1/customers/{id}/profile");
    assert_eq!(r.subjects, ["c-00417"]);
    assert_eq!(r.fields, ["name", "phone", "address"]);
    assert_eq!(r.subject_count, None);
    assert_eq!(r.subjects_processed(), 1);
    assert_eq!(r.outcome, Outcome::Success);
    assert_eq!((r.purpose, r.id), (None, None));
    // Plain strings are borrowed from the line, not copied.
    assert!(matches!(r.actor, Cow::Borrowed(_)));
    assert!(r.subjects.iter().all(|s| matches!(s, Cow::Borrowed(_))));
}

#[test]
fn integer_time_subject_count_and_ids_are_read() {
    let r = parse(good_lines()[1].as_bytes()).map_err(|e| e.to_string());
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.time_ms, 1_750_734_765_120);
    // An ingest tells epoch seconds sent by mistake by this: a small integer, not an old date.
    assert_eq!(r.time_form, TimeForm::EpochMillis);
    assert_eq!(r.action, Action::Export);
    assert_eq!(r.subject_count, Some(120_000));
    assert_eq!(r.subjects_processed(), 120_000);
    assert_eq!(r.purpose.as_deref(), Some("TICKET-4411"));
    assert_eq!(r.id.as_deref(), Some("r-1"));
    assert_eq!(r.src_ip, None);
}

#[test]
fn offsets_are_converted_to_utc_and_ipv6_is_read() {
    let r = parse(good_lines()[2].as_bytes()).map_err(|e| e.to_string());
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.time_ms, 1_750_734_765_120);
    assert_eq!(r.src_ip, "2001:db8::7".parse::<IpAddr>().ok());
    assert_eq!(r.action, Action::Login);
    let r = parse(good_lines()[3].as_bytes()).map_err(|e| e.to_string());
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.outcome, Outcome::Failure);
    assert_eq!(r.action, Action::LoginFailed);
    assert_eq!(r.src_ip, "::ffff:10.1.2.3".parse::<IpAddr>().ok());
}

#[test]
fn attrs_and_unknown_fields_of_any_shape_are_accepted() {
    for i in [4, 5] {
        let r = parse(good_lines()[i].as_bytes()).map_err(|e| e.to_string());
        assert_eq!(r.map(|r| r.actor.into_owned()), Ok("emp-0131".to_owned()));
    }
}

#[test]
fn null_optional_fields_are_absent() {
    let r = parse(good_lines()[6].as_bytes()).map_err(|e| e.to_string());
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.src_ip, None);
    assert_eq!(
        (r.credential, r.signing_key, r.purpose, r.id),
        (None, None, None, None)
    );
    assert!(r.subjects.is_empty() && r.fields.is_empty());
    assert_eq!((r.subject_count, r.outcome), (None, Outcome::Success));
}

#[test]
fn empty_optional_strings_are_absent_so_an_empty_id_never_merges_records() {
    let line =
        crate::record_with(r#","id":"","credential":"","signing_key":"","purpose":"","src_ip":"""#);
    let r = parse(line.as_bytes()).map_err(|e| e.to_string());
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(
        (r.id, r.credential, r.signing_key, r.purpose),
        (None, None, None, None)
    );
    assert_eq!(r.src_ip, None);
}

#[test]
fn unicode_and_escapes_are_decoded() {
    let r = parse(good_lines()[7].as_bytes()).map_err(|e| e.to_string());
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.actor, "김민준");
    assert_eq!(r.action, Action::Print);
    assert_eq!(r.purpose.as_deref(), Some("민원 처리 \"긴급\"\n2차"));
    let r = parse(good_lines()[8].as_bytes()).map_err(|e| e.to_string());
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.resource, "PUT /v1/customers/{id}");
    assert_eq!(r.subjects, ["c-001"]);
    assert_eq!(r.id.as_deref(), Some("😀"));
}

#[test]
fn into_owned_keeps_every_field() {
    for line in good_lines() {
        let Ok(r) = parse(line.as_bytes()) else {
            panic!("{line}")
        };
        let owned = r.clone().into_owned();
        assert_eq!(owned, r);
    }
}
