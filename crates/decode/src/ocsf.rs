//! OCSF events from a SIEM or a data lake: API Activity (class 6003) and Datastore Activity
//! (class 6005), one JSON object per line (pretty-printed objects and JSON arrays of them are
//! read too: [`Framing::Json`]).
//!
//! Field names are the OCSF schema's (1.x): `time` (epoch milliseconds), `actor.user.uid` /
//! `actor.user.name` (the actor), `actor.session.credential_uid`, `actor.user.credential_uid` or
//! `actor.session.uid` (the credential), `src_endpoint.ip`, `api.operation`,
//! `api.service.name`, `resources[]`, `database`, `databucket`, `table`, `status_id` (2 is a
//! failure), `metadata.uid` (the record's id). The action comes from `activity_id`
//! (6003: 1 Create, 2 Read, 3 Update, 4 Delete; 6005: 1 Read, 2 Update, 3 Connect, 4 Query,
//! 5 Write, 6 Create, 7 Delete, 8 List, 9 Encrypt, 10 Decrypt), or from the operation's verb
//! when the activity is Unknown (0) or Other (99).
//!
//! The mapping's `[[resources]]` entries say, per class, operation or resource name, where the
//! subjects are (paths into the event, `[]` walking an array: `resources[].uid`) with an
//! optional pattern, and which field categories the event carries. An event no entry matches
//! is stored without subjects and marked unmapped. An event of any other class is rejected,
//! naming its class.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::framing::Framing;
use crate::json::{all_at, first_text, get, text, text_at, Paths};
use crate::{
    check_action, clip, operation_action, source_sha256, tidy_subjects, DecodeError, Decoded,
    Decoder, MappingError, SubjectPattern,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    fields: FieldSpec,
    #[serde(default)]
    resources: Vec<ResourceSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FieldSpec {
    actor: Paths,
    credential: Paths,
}

impl Default for FieldSpec {
    fn default() -> Self {
        FieldSpec {
            actor: Paths::Many(vec!["actor.user.uid".into(), "actor.user.name".into()]),
            credential: Paths::Many(vec![
                "actor.session.credential_uid".into(),
                "actor.user.credential_uid".into(),
                "actor.session.uid".into(),
            ]),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceSpec {
    /// Only events of this class (6003 or 6005).
    class: Option<u32>,
    /// Only events whose `api.operation` is this.
    operation: Option<String>,
    /// Only events naming this resource (`table.name`, `databucket.name`, `database.name`,
    /// `resources[].name` or `resources[].type`); also the record's resource.
    name: Option<String>,
    /// Paths to the subjects.
    #[serde(default)]
    subjects: Vec<String>,
    /// A regular expression over each subject value; its group `subject` is the id.
    pattern: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    action: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    class: Option<u32>,
    operation: Option<String>,
    name: Option<String>,
    subjects: Vec<String>,
    pattern: Option<SubjectPattern>,
    fields: Vec<String>,
    action: Option<String>,
}

/// A loaded OCSF mapping.
#[derive(Debug, Clone)]
pub struct OcsfMapping {
    actor: Vec<String>,
    credential: Vec<String>,
    entries: Vec<Entry>,
}

impl OcsfMapping {
    /// Load a mapping file (TOML).
    pub fn load(path: &Path) -> Result<OcsfMapping, MappingError> {
        crate::load_mapping(path, OcsfMapping::parse)
    }

    /// Parse a mapping from its TOML text; the error says which entry or key is wrong.
    pub fn parse(text: &str) -> Result<OcsfMapping, String> {
        let file: MappingFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        for (i, r) in file.resources.into_iter().enumerate() {
            if let Some(c) = r.class {
                if c != API_ACTIVITY && c != DATASTORE_ACTIVITY {
                    return Err(format!(
                        "resources[{i}].class {c}: use 6003 (API Activity) or 6005 (Datastore Activity)"
                    ));
                }
            }
            if let Some(a) = &r.action {
                check_action(&format!("resources[{i}].action"), a)?;
            }
            let pattern = match &r.pattern {
                Some(p) => Some(SubjectPattern::new(&format!("resources[{i}].pattern"), p)?),
                None => None,
            };
            entries.push(Entry {
                class: r.class,
                operation: r.operation,
                name: r.name,
                subjects: r.subjects,
                pattern,
                fields: r.fields,
                action: r.action,
            });
        }
        Ok(OcsfMapping {
            actor: file.fields.actor.into_vec(),
            credential: file.fields.credential.into_vec(),
            entries,
        })
    }
}

const API_ACTIVITY: u32 = 6003;
const DATASTORE_ACTIVITY: u32 = 6005;

/// Names of the OCSF 1.x classes a SIEM most often sends, for the reason of a rejection.
fn class_name(uid: u64) -> Option<&'static str> {
    Some(match uid {
        1001 => "File System Activity",
        1007 => "Process Activity",
        2001 => "Security Finding",
        2004 => "Detection Finding",
        3001 => "Account Change",
        3002 => "Authentication",
        3003 => "Authorize Session",
        3005 => "User Access Management",
        3006 => "Group Management",
        4001 => "Network Activity",
        4002 => "HTTP Activity",
        4003 => "DNS Activity",
        6001 => "Web Resources Activity",
        6002 => "Application Lifecycle",
        6003 => "API Activity",
        6004 => "Web Resource Access Activity",
        6005 => "Datastore Activity",
        6006 => "File Hosting Activity",
        _ => return None,
    })
}

/// Decodes OCSF events with an [`OcsfMapping`].
#[derive(Debug, Clone)]
pub struct OcsfDecoder {
    map: OcsfMapping,
}

impl OcsfDecoder {
    /// A decoder for `map`.
    pub fn new(map: OcsfMapping) -> OcsfDecoder {
        OcsfDecoder { map }
    }
}

/// Latest time a record may carry (the year 9999), so an absurd `time` is named here.
const MAX_MS: i64 = 253_402_300_799_999;

impl Decoder for OcsfDecoder {
    fn name(&self) -> &'static str {
        "ocsf"
    }

    fn framing(&self) -> Framing {
        Framing::Json
    }

    fn decode(&self, unit: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError> {
        let map = &self.map;
        let v: Value =
            serde_json::from_slice(unit).map_err(|e| DecodeError::new(format!("not JSON: {e}")))?;
        if !v.is_object() {
            return Err(DecodeError::new("not a JSON object (an OCSF event)"));
        }
        let class = match get(&v, "class_uid") {
            Some(c) => c
                .as_u64()
                .ok_or_else(|| DecodeError::new(format!("class_uid is {c}, not a number")))?,
            None => return Err(DecodeError::new("no class_uid: not an OCSF event")),
        };
        if class != u64::from(API_ACTIVITY) && class != u64::from(DATASTORE_ACTIVITY) {
            let named = class_name(class).map_or(String::new(), |n| format!(" ({n})"));
            return Err(DecodeError::new(format!(
                "class_uid {class}{named} is not API Activity (6003) or Datastore Activity (6005)"
            )));
        }
        let time = match get(&v, "time") {
            Some(t) => t
                .as_i64()
                .filter(|ms| (0..=MAX_MS).contains(ms))
                .ok_or_else(|| {
                    DecodeError::new(format!(
                        "time is {t}, not epoch milliseconds between 1970 and 9999"
                    ))
                })?,
            None => return Err(DecodeError::new("no time (epoch milliseconds)")),
        };
        let actor = first_text(&v, &map.actor).ok_or_else(|| {
            DecodeError::new(format!(
                "no actor: the event has none of {} (fields.actor)",
                map.actor.join(", ")
            ))
        })?;
        let activity = match get(&v, "activity_id") {
            Some(a) => a
                .as_u64()
                .ok_or_else(|| DecodeError::new(format!("activity_id is {a}, not a number")))?,
            None => 0,
        };
        let operation = text_at(&v, Some("api.operation"));

        // The names the event gives what it touched.
        let mut names: Vec<String> = Vec::new();
        for p in ["table.name", "databucket.name", "database.name"] {
            names.extend(text_at(&v, Some(p)));
        }
        let mut found = Vec::new();
        all_at(&v, "resources[].name", &mut found);
        all_at(&v, "resources[].type", &mut found);
        names.extend(found.into_iter().filter_map(text));

        let entry = map.entries.iter().find(|e| {
            e.class.is_none_or(|c| u64::from(c) == class)
                && e.operation
                    .as_ref()
                    .is_none_or(|o| operation.as_deref() == Some(o.as_str()))
                && e.name.as_ref().is_none_or(|n| names.contains(n))
        });

        let mut subjects: Vec<String> = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        if let Some(e) = entry {
            let mut vals = Vec::new();
            for p in &e.subjects {
                all_at(&v, p, &mut vals);
            }
            for val in vals {
                let items: Vec<&Value> = match val {
                    Value::Array(a) => a.iter().collect(),
                    x => vec![x],
                };
                for s in items.into_iter().filter_map(text) {
                    match &e.pattern {
                        Some(p) => subjects.extend(p.find(&s).map(str::to_string)),
                        None => subjects.push(s),
                    }
                }
            }
            tidy_subjects(&mut subjects);
            fields = e.fields.clone();
            fields.sort();
            fields.dedup();
        }

        let service = text_at(&v, Some("api.service.name"));
        let resource = entry
            .and_then(|e| e.name.clone())
            .or_else(|| {
                text_at(&v, Some("table.name")).map(|t| match text_at(&v, Some("database.name")) {
                    Some(db) => format!("{db}.{t}"),
                    None => t,
                })
            })
            .or_else(|| text_at(&v, Some("databucket.name")))
            .or_else(|| text_at(&v, Some("database.name")))
            .or_else(|| match (&service, &operation) {
                (Some(s), Some(o)) => Some(format!("{s} {o}")),
                (None, Some(o)) => Some(o.clone()),
                _ => None,
            })
            .or_else(|| names.first().cloned())
            .unwrap_or_else(|| class_name(class).unwrap_or("ocsf").to_string());

        let action = entry
            .and_then(|e| e.action.as_deref())
            .unwrap_or_else(|| activity_action(class, activity, operation.as_deref()));

        let mut rec = Map::new();
        rec.insert("time".into(), Value::from(time));
        rec.insert("actor".into(), Value::from(clip(&actor, 256)));
        rec.insert("action".into(), Value::from(action));
        rec.insert("resource".into(), Value::from(clip(&resource, 512)));
        let mut attrs = Map::new();
        attrs.insert("source".into(), Value::from("ocsf"));
        attrs.insert("source_sha256".into(), Value::from(source_sha256(unit)));
        attrs.insert("class_uid".into(), Value::from(class));
        attrs.insert("activity_id".into(), Value::from(activity));
        if let Some(ip) = text_at(&v, Some("src_endpoint.ip")) {
            match ip.parse::<IpAddr>() {
                Ok(ip) => {
                    rec.insert("src_ip".into(), Value::from(ip.to_string()));
                }
                Err(_) => {
                    attrs.insert("src_endpoint_ip".into(), Value::from(clip(&ip, 256)));
                }
            }
        }
        if let Some(c) = first_text(&v, &map.credential) {
            rec.insert("credential".into(), Value::from(clip(&c, 256)));
        }
        if !subjects.is_empty() {
            rec.insert("subjects".into(), Value::from(subjects));
        }
        if !fields.is_empty() {
            rec.insert("fields".into(), Value::from(fields));
        }
        if let Some(id) = text_at(&v, Some("metadata.uid")) {
            rec.insert("id".into(), Value::from(clip(&id, 128)));
        }
        if get(&v, "status_id").and_then(Value::as_u64) == Some(2) {
            rec.insert("outcome".into(), Value::from("failure"));
        }
        for (key, value) in [
            ("operation", operation),
            ("service", service),
            ("product", text_at(&v, Some("metadata.product.name"))),
            (
                "query",
                first_text(
                    &v,
                    &[
                        "query_info.query_string".into(),
                        "query_info.datastore_query".into(),
                    ],
                ),
            ),
        ] {
            if let Some(x) = value {
                attrs.insert(key.into(), Value::from(clip(&x, 1024)));
            }
        }
        if entry.is_none() {
            attrs.insert("unmapped".into(), Value::from(true));
        }
        rec.insert("attrs".into(), Value::Object(attrs));
        crate::emit(rec, out)?;
        Ok(Decoded {
            records: 1,
            unmapped: entry.is_none(),
        })
    }
}

/// The contract action of an OCSF activity.
fn activity_action(class: u64, activity: u64, operation: Option<&str>) -> &'static str {
    let by_id = match (class, activity) {
        (6003, 1) => Some("create"),
        (6003, 2) => Some("read"),
        (6003, 3) => Some("update"),
        (6003, 4) => Some("delete"),
        (6005, 1 | 8 | 10) => Some("read"),
        (6005, 2 | 5 | 9) => Some("update"),
        (6005, 3) => Some("login"),
        (6005, 4) => Some("search"),
        (6005, 6) => Some("create"),
        (6005, 7) => Some("delete"),
        _ => None,
    };
    by_id
        .or_else(|| operation.and_then(operation_action))
        .unwrap_or("read")
}
