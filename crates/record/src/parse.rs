//! `parse_record`: one line of bytes to a validated [`AccessRecord`].
//!
//! A line is first checked to be UTF-8, then offered to the hand-written fast path
//! ([`crate::fast`]), which accepts valid records only. Everything it declines comes here, to
//! the serde_json path, which accepts the rest of the valid records and explains every
//! rejection. In this path serde_json drives hand-written visitors, so strings borrow from
//! the line, `attrs` and unknown fields are skipped without being built, and every bound is
//! checked as the value is read. A visitor that finds a broken rule stores the precise
//! [`RecordError`] in a slot and aborts the parse; serde_json's own errors are only used for
//! malformed JSON.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{quote, RecordError};
use crate::record::{AccessRecord, Action, Outcome, TimeForm};
use crate::time::{parse_rfc3339, MAX_TIME_MS, MIN_TIME_MS};
use crate::{limits, MAX_LINE_BYTES};

/// Parses and validates one access record (contract section 1) from one line.
///
/// `line` is one line without its line break (see [`crate::LineReader`] and
/// [`crate::split_lines`]); leading and trailing JSON whitespace is allowed. The returned
/// record borrows from `line`. Never panics; every rejection names the field and the rule.
///
/// Beyond the contract's table: `time` must fall in 1970-01-01T00:00:00Z ..=
/// 9999-12-31T23:59:59.999Z ([`crate::MIN_TIME_MS`]..=[`crate::MAX_TIME_MS`]); an integer
/// `time` must be a JSON integer (no fraction or exponent); `fields` is bounded by
/// [`crate::limits`]; a known field may not appear twice (unknown fields are not checked for
/// repeats); see [`AccessRecord`] for how `null` and `""` are read.
pub fn parse_record(line: &[u8]) -> Result<AccessRecord<'_>, RecordError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(RecordError::LineTooLong {
            bytes: u64::try_from(line.len()).unwrap_or(u64::MAX),
        });
    }
    let text = std::str::from_utf8(line).map_err(|e| RecordError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    if let Some(record) = crate::fast::parse_fast(text) {
        return Ok(record);
    }
    parse_serde(text)
}

/// Same contract and results as [`parse_record`], using only the serde_json path that
/// [`parse_record`] falls back to for lines its fast path does not accept. About half as
/// fast; it exists so that tests and the fuzzer can check that both paths agree.
pub fn parse_record_serde(line: &[u8]) -> Result<AccessRecord<'_>, RecordError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(RecordError::LineTooLong {
            bytes: u64::try_from(line.len()).unwrap_or(u64::MAX),
        });
    }
    let text = std::str::from_utf8(line).map_err(|e| RecordError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    parse_serde(text)
}

fn parse_serde(text: &str) -> Result<AccessRecord<'_>, RecordError> {
    let mut slot: Option<RecordError> = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = RecordSeed { slot: &mut slot }
        .deserialize(&mut de)
        .and_then(|record| de.end().map(|()| record));
    match parsed {
        Ok(record) => Ok(record),
        Err(e) => Err(slot.unwrap_or_else(|| json_error(text, &e))),
    }
}

/// Turns a serde_json syntax error into [`RecordError::Json`] (or a clearer special case).
fn json_error(text: &str, e: &serde_json::Error) -> RecordError {
    if text
        .bytes()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return RecordError::Blank;
    }
    if text.starts_with('\u{feff}') {
        return RecordError::ByteOrderMark;
    }
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    RecordError::Json {
        column: e.column(),
        message,
    }
}

/// Where a visitor leaves the precise reason before it aborts the parse.
type Slot = Option<RecordError>;

/// Stores `err` and returns the serde error that unwinds the parse. The serde error's text is
/// never shown: [`parse_record`] returns the stored error instead.
fn reject<E: de::Error>(slot: &mut Slot, err: RecordError) -> E {
    *slot = Some(err);
    E::custom("rejected")
}

/// Generates the `visit_*` methods for the JSON types a visitor does not accept; each stores
/// [`RecordError::WrongType`] built from the visitor's `slot`, `field` and `expected`.
macro_rules! wrong_types {
    ($($kind:ident)*) => { $( wrong_types!(@ $kind); )* };
    (@ bool) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Err(self.wrong(v.to_string()))
        }
    };
    (@ i64) => {
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(self.wrong(format!("the number {v}")))
        }
    };
    (@ u64) => {
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Err(self.wrong(format!("the number {v}")))
        }
    };
    (@ f64) => {
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(self.wrong(format!("the number {v}")))
        }
    };
    (@ str) => {
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(self.wrong(format!("the string {}", quote(v))))
        }
    };
    (@ unit) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(self.wrong("null".to_owned()))
        }
    };
    (@ seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(self.wrong("an array".to_owned()))
        }
    };
    (@ map) => {
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(self.wrong("an object".to_owned()))
        }
    };
}

/// Implements `wrong` (store [`RecordError::WrongType`]) and `expecting` for a visitor with
/// `slot`, `field` and `expected`, and `DeserializeSeed` through `deserialize_any`.
macro_rules! field_visitor {
    ($name:ident) => {
        impl $name<'_> {
            fn wrong<E: de::Error>(self, found: String) -> E {
                reject(
                    self.slot,
                    RecordError::WrongType {
                        field: self.field,
                        expected: self.expected,
                        found,
                    },
                )
            }
        }

        impl<'de> DeserializeSeed<'de> for $name<'_> {
            type Value = <Self as Visitor<'de>>::Value;

            fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
        }
    };
}

/// The known top-level fields; `Other` is any other key (skipped, kept in the line bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Member {
    Time,
    Actor,
    Action,
    Resource,
    SrcIp,
    Credential,
    SigningKey,
    Subjects,
    SubjectCount,
    Fields,
    Purpose,
    Outcome,
    Id,
    Attrs,
    Other,
}

impl Member {
    /// The key with this (unescaped) name.
    pub(crate) fn from_name(name: &str) -> Member {
        match name {
            "time" => Member::Time,
            "actor" => Member::Actor,
            "action" => Member::Action,
            "resource" => Member::Resource,
            "src_ip" => Member::SrcIp,
            "credential" => Member::Credential,
            "signing_key" => Member::SigningKey,
            "subjects" => Member::Subjects,
            "subject_count" => Member::SubjectCount,
            "fields" => Member::Fields,
            "purpose" => Member::Purpose,
            "outcome" => Member::Outcome,
            "id" => Member::Id,
            "attrs" => Member::Attrs,
            _ => Member::Other,
        }
    }

    /// Bit of this key in a set of seen keys; 0 for `Other`, which may repeat.
    pub(crate) fn bit(self) -> u16 {
        match self {
            Member::Other => 0,
            k => 1 << (k as u16),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Member::Time => "time",
            Member::Actor => "actor",
            Member::Action => "action",
            Member::Resource => "resource",
            Member::SrcIp => "src_ip",
            Member::Credential => "credential",
            Member::SigningKey => "signing_key",
            Member::Subjects => "subjects",
            Member::SubjectCount => "subject_count",
            Member::Fields => "fields",
            Member::Purpose => "purpose",
            Member::Outcome => "outcome",
            Member::Id => "id",
            Member::Attrs => "attrs",
            Member::Other => "",
        }
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Member;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Member, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Member;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Member, E> {
        Ok(Member::from_name(v))
    }
}

/// The whole record: a JSON object.
struct RecordSeed<'s> {
    slot: &'s mut Slot,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = AccessRecord<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl RecordSeed<'_> {
    fn wrong<E: de::Error>(self, found: String) -> E {
        reject(self.slot, RecordError::NotAnObject { found })
    }

    /// A string field with bounds `min..=max` bytes.
    fn string(&mut self, key: Member, min: usize, max: usize, optional: bool) -> StrSeed<'_> {
        StrSeed {
            slot: self.slot,
            field: key.name(),
            expected: if min > 0 {
                "a non-empty string"
            } else {
                "a string"
            },
            min,
            max,
            optional,
        }
    }

    fn list(&mut self, key: Member, max_entries: usize, max_bytes: usize) -> ListSeed<'_> {
        ListSeed {
            slot: self.slot,
            field: key.name(),
            expected: "an array of strings",
            max_entries,
            max_bytes,
        }
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = AccessRecord<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = 0u16;
        let mut time_ms = None;
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

        while let Some(key) = map.next_key_seed(KeySeed)? {
            if key == Member::Other {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let bit = key.bit();
            if seen & bit != 0 {
                return Err(reject(
                    self.slot,
                    RecordError::DuplicateField { field: key.name() },
                ));
            }
            seen |= bit;
            match key {
                Member::Time => {
                    time_ms = Some(map.next_value_seed(TimeSeed {
                        slot: self.slot,
                        field: "time",
                        expected:
                            "an RFC 3339 time string with offset or integer epoch milliseconds",
                    })?)
                }
                Member::Actor => {
                    actor =
                        map.next_value_seed(self.string(key, 1, limits::ACTOR_MAX_BYTES, false))?
                }
                Member::Action => {
                    action = Some(map.next_value_seed(ActionSeed {
                        slot: self.slot,
                        field: "action",
                        expected: "a string naming the action, such as \"read\"",
                    })?)
                }
                Member::Resource => {
                    resource =
                        map.next_value_seed(self.string(key, 1, limits::RESOURCE_MAX_BYTES, false))?
                }
                Member::SrcIp => {
                    src_ip = map.next_value_seed(IpSeed {
                        slot: self.slot,
                        field: "src_ip",
                        expected: "an IPv4 or IPv6 address string",
                    })?
                }
                Member::Credential => {
                    credential = map.next_value_seed(self.string(
                        key,
                        0,
                        limits::CREDENTIAL_MAX_BYTES,
                        true,
                    ))?
                }
                Member::SigningKey => {
                    signing_key = map.next_value_seed(self.string(
                        key,
                        0,
                        limits::SIGNING_KEY_MAX_BYTES,
                        true,
                    ))?
                }
                Member::Subjects => {
                    subjects = map.next_value_seed(self.list(
                        key,
                        limits::MAX_SUBJECTS,
                        limits::SUBJECT_MAX_BYTES,
                    ))?
                }
                Member::SubjectCount => {
                    subject_count = map.next_value_seed(CountSeed {
                        slot: self.slot,
                        field: "subject_count",
                        expected: "an integer >= 0",
                    })?
                }
                Member::Fields => {
                    fields = map.next_value_seed(self.list(
                        key,
                        limits::MAX_FIELDS,
                        limits::FIELD_MAX_BYTES,
                    ))?
                }
                Member::Purpose => {
                    purpose =
                        map.next_value_seed(self.string(key, 0, limits::PURPOSE_MAX_BYTES, true))?
                }
                Member::Outcome => {
                    outcome = map.next_value_seed(OutcomeSeed {
                        slot: self.slot,
                        field: "outcome",
                        expected: "\"success\" or \"failure\"",
                    })?
                }
                Member::Id => {
                    id = map.next_value_seed(self.string(key, 0, limits::ID_MAX_BYTES, true))?
                }
                Member::Attrs => map.next_value_seed(AttrsSeed {
                    slot: self.slot,
                    field: "attrs",
                    expected: "an object",
                })?,
                Member::Other => {}
            }
        }

        let mut missing = |field| reject(self.slot, RecordError::MissingField { field });
        let Some((time_ms, time_form)) = time_ms else {
            return Err(missing("time"));
        };
        let Some(actor) = actor else {
            return Err(missing("actor"));
        };
        let Some(action) = action else {
            return Err(missing("action"));
        };
        let Some(resource) = resource else {
            return Err(missing("resource"));
        };
        if let Some(count) = subject_count {
            if usize::try_from(count).is_ok_and(|c| c < subjects.len()) {
                return Err(reject(
                    self.slot,
                    RecordError::SubjectCountTooSmall {
                        count,
                        listed: subjects.len(),
                    },
                ));
            }
        }
        Ok(AccessRecord {
            time_ms,
            time_form,
            actor,
            action,
            resource,
            src_ip,
            credential,
            signing_key,
            subjects,
            subject_count,
            fields,
            purpose,
            outcome: outcome.unwrap_or_default(),
            id,
        })
    }

    wrong_types!(bool i64 u64 f64 str unit seq);
}

/// A string field. Yields `None` for `null` or `""` when `optional`.
struct StrSeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    expected: &'static str,
    min: usize,
    max: usize,
    optional: bool,
}

field_visitor!(StrSeed);

impl StrSeed<'_> {
    fn check<E: de::Error>(self, v: &str) -> Result<bool, E> {
        if v.len() > self.max {
            return Err(reject(
                self.slot,
                RecordError::TooLong {
                    field: self.field,
                    bytes: v.len(),
                    limit: self.max,
                },
            ));
        }
        if v.len() < self.min {
            return Err(reject(
                self.slot,
                RecordError::Empty {
                    field: self.field,
                    limit: self.max,
                },
            ));
        }
        Ok(!v.is_empty())
    }
}

impl<'de> Visitor<'de> for StrSeed<'_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(self.check(v)?.then_some(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.check(v)?.then(|| Cow::Owned(v.to_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        if self.optional {
            Ok(None)
        } else {
            Err(self.wrong("null".to_owned()))
        }
    }

    wrong_types!(bool i64 u64 f64 seq map);
}

/// `time`: RFC 3339 string with offset, or integer epoch milliseconds.
struct TimeSeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    expected: &'static str,
}

field_visitor!(TimeSeed);

impl TimeSeed<'_> {
    fn in_range<E: de::Error>(
        self,
        ms: Option<i64>,
        form: TimeForm,
        value: impl FnOnce() -> String,
    ) -> Result<(i64, TimeForm), E> {
        match ms {
            Some(ms) if (MIN_TIME_MS..=MAX_TIME_MS).contains(&ms) => Ok((ms, form)),
            _ => Err(reject(
                self.slot,
                RecordError::TimeOutOfRange { value: value() },
            )),
        }
    }
}

impl<'de> Visitor<'de> for TimeSeed<'_> {
    type Value = (i64, TimeForm);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match parse_rfc3339(v) {
            Ok(ms) => self.in_range(Some(ms), TimeForm::Rfc3339, || quote(v)),
            Err(reason) => Err(reject(
                self.slot,
                RecordError::BadTime {
                    value: quote(v),
                    reason,
                },
            )),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.in_range(i64::try_from(v).ok(), TimeForm::EpochMillis, || {
            v.to_string()
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.in_range(Some(v), TimeForm::EpochMillis, || v.to_string())
    }

    wrong_types!(bool f64 unit seq map);
}

/// `action`: one of the contract's names.
struct ActionSeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    expected: &'static str,
}

field_visitor!(ActionSeed);

impl<'de> Visitor<'de> for ActionSeed<'_> {
    type Value = Action;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Action, E> {
        Action::from_wire(v)
            .ok_or_else(|| reject(self.slot, RecordError::UnknownAction { value: quote(v) }))
    }

    wrong_types!(bool i64 u64 f64 unit seq map);
}

/// `outcome`: `success` or `failure`; `null` is absent.
struct OutcomeSeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    expected: &'static str,
}

field_visitor!(OutcomeSeed);

impl<'de> Visitor<'de> for OutcomeSeed<'_> {
    type Value = Option<Outcome>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match Outcome::from_wire(v) {
            Some(o) => Ok(Some(o)),
            None => Err(reject(
                self.slot,
                RecordError::UnknownOutcome { value: quote(v) },
            )),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    wrong_types!(bool i64 u64 f64 seq map);
}

/// `src_ip`: an IPv4 or IPv6 address; `null` and `""` are absent.
struct IpSeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    expected: &'static str,
}

field_visitor!(IpSeed);

impl<'de> Visitor<'de> for IpSeed<'_> {
    type Value = Option<IpAddr>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<IpAddr>() {
            Ok(ip) => Ok(Some(ip)),
            Err(_) => Err(reject(self.slot, RecordError::BadIp { value: quote(v) })),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    wrong_types!(bool i64 u64 f64 seq map);
}

/// `subject_count`: an integer >= 0; `null` is absent.
struct CountSeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    expected: &'static str,
}

field_visitor!(CountSeed);

impl<'de> Visitor<'de> for CountSeed<'_> {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    // serde_json calls visit_i64 only for negative integers.
    wrong_types!(bool i64 f64 str seq map);
}

/// `attrs`: any object (not built); `null` is absent.
struct AttrsSeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    expected: &'static str,
}

field_visitor!(AttrsSeed);

impl<'de> Visitor<'de> for AttrsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    wrong_types!(bool i64 u64 f64 str seq);
}

/// An array of bounded strings (`subjects`, `fields`); `null` is an empty list.
struct ListSeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    expected: &'static str,
    max_entries: usize,
    max_bytes: usize,
}

field_visitor!(ListSeed);

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = Vec<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let entry = EntrySeed {
                slot: &mut *self.slot,
                field: self.field,
                index: out.len(),
                max_bytes: self.max_bytes,
            };
            let Some(item) = seq.next_element_seed(entry)? else {
                return Ok(out);
            };
            if out.len() == self.max_entries {
                // Count the rest so the message says how far over the bound the array is.
                let mut entries = out.len() + 1;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    entries += 1;
                }
                return Err(reject(
                    self.slot,
                    RecordError::TooManyEntries {
                        field: self.field,
                        entries,
                        limit: self.max_entries,
                    },
                ));
            }
            out.push(item);
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    wrong_types!(bool i64 u64 f64 str map);
}

/// One entry of a [`ListSeed`] array.
struct EntrySeed<'s> {
    slot: &'s mut Slot,
    field: &'static str,
    index: usize,
    max_bytes: usize,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl EntrySeed<'_> {
    fn wrong<E: de::Error>(self, found: String) -> E {
        reject(
            self.slot,
            RecordError::EntryWrongType {
                field: self.field,
                index: self.index,
                found,
            },
        )
    }

    fn check<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v.len() > self.max_bytes {
            return Err(reject(
                self.slot,
                RecordError::EntryTooLong {
                    field: self.field,
                    index: self.index,
                    bytes: v.len(),
                    limit: self.max_bytes,
                },
            ));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.check(v)?;
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.check(v)?;
        Ok(Cow::Owned(v.to_owned()))
    }

    wrong_types!(bool i64 u64 f64 unit seq map);
}
