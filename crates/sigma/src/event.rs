//! rsigma's [`Event`] over suho's own parsed record: a rule reads the access record's fields
//! where the record already lies, with no JSON value built per record.

use std::borrow::Cow;

use rsigma_eval::{Event, EventValue};
use serde_json::{Map, Value};
use suho_record::AccessRecord;

/// The names a rule may use, in the order `to_json` writes them. Every one is the contract's
/// own field name (section 1), except `role`, the actor's role in the registry.
pub const FIELDS: &[&str] = &[
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
    "role",
];

/// One access record as a Sigma event.
pub struct RecordEvent<'r, 'a> {
    /// The record.
    pub rec: &'r AccessRecord<'a>,
    /// The actor's role in the registry (detection stage only; `None` on the parse workers,
    /// which run only rules that do not read it).
    pub role: Option<&'r str>,
    /// When set, `subjects` is this one listed subject: a `value_count` over `subjects`
    /// counts each listed subject (rsigma counts one value per event).
    pub one_subject: Option<usize>,
}

impl<'r, 'a> RecordEvent<'r, 'a> {
    /// The record as an event, without a role.
    pub fn new(rec: &'r AccessRecord<'a>) -> Self {
        RecordEvent {
            rec,
            role: None,
            one_subject: None,
        }
    }

    fn string_values(&self, visit: &mut dyn FnMut(&str) -> bool) -> bool {
        let r = self.rec;
        let scalars = [
            Some(r.actor.as_ref()),
            Some(r.action.as_str()),
            Some(r.resource.as_ref()),
            r.credential.as_deref(),
            r.signing_key.as_deref(),
            r.purpose.as_deref(),
            Some(r.outcome.as_str()),
            r.id.as_deref(),
        ];
        for s in scalars.into_iter().flatten() {
            if visit(s) {
                return true;
            }
        }
        if let Some(ip) = r.src_ip {
            if visit(&ip.to_string()) {
                return true;
            }
        }
        r.subjects
            .iter()
            .chain(r.fields.iter())
            .any(|s| visit(s.as_ref()))
    }
}

fn strs<'v>(list: &'v [Cow<'_, str>]) -> EventValue<'v> {
    EventValue::Array(
        list.iter()
            .map(|s| EventValue::Str(Cow::Borrowed(s.as_ref())))
            .collect(),
    )
}

impl Event for RecordEvent<'_, '_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        let r = self.rec;
        fn s(v: &str) -> EventValue<'_> {
            EventValue::Str(Cow::Borrowed(v))
        }
        Some(match path {
            "actor" => s(&r.actor),
            "action" => s(r.action.as_str()),
            "resource" => s(&r.resource),
            "purpose" => s(r.purpose.as_deref()?),
            "fields" => strs(&r.fields),
            "subjects" => match self.one_subject {
                Some(i) => s(r.subjects.get(i)?),
                None => strs(&r.subjects),
            },
            "outcome" => s(r.outcome.as_str()),
            "role" => s(self.role?),
            "credential" => s(r.credential.as_deref()?),
            "signing_key" => s(r.signing_key.as_deref()?),
            "src_ip" => EventValue::Str(Cow::Owned(r.src_ip?.to_string())),
            "subject_count" => {
                EventValue::Int(i64::try_from(r.subjects_processed()).unwrap_or(i64::MAX))
            }
            "time" => EventValue::Str(Cow::Owned(suho_record::format_rfc3339_ms(r.time_ms))),
            "id" => s(r.id.as_deref()?),
            _ => return None,
        })
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.string_values(&mut |s| pred(s))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        self.string_values(&mut |s| {
            out.push(Cow::Owned(s.to_string()));
            false
        });
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.string_values(&mut |s| {
            visit(s);
            false
        });
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        for f in FIELDS {
            if let Some(v) = self.get_field(f) {
                m.insert((*f).to_string(), v.to_json());
            }
        }
        Value::Object(m)
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        Some(
            FIELDS
                .iter()
                .filter(|f| self.get_field(f).is_some())
                .map(|f| Cow::Borrowed(*f))
                .collect(),
        )
    }
}
