//! AWS CloudTrail events: the `{"Records":[...]}` log objects a trail delivers (one line, or
//! pretty-printed over many: [`Framing::Json`] hands the decoder one event at a time, with its
//! exact bytes) and one event per line (CloudWatch Logs, EventBridge and Lake exports).
//!
//! Data events on S3 objects (`GetObject`, `PutObject`, `DeleteObject`, ...) and DynamoDB items
//! (`GetItem`, `Query`, `Scan`, `PutItem`, `BatchGetItem`, ...) are mapped: per bucket and key
//! prefix, a pattern with a named group `subject` picks the subject out of the object key
//! (`^customers/(?P<subject>[^/]+)/`); per table, a key attribute names the subject. The actor
//! is the first of the mapping's `userIdentity` paths the event has (default: `arn`, then
//! `principalId`, `userName`, `invokedBy`, `accountId`), the credential
//! `userIdentity.accessKeyId`, the id `eventID`.
//!
//! Every other event (a management event, a data event on an unmapped bucket or table) is
//! stored too, without subjects, and marked unmapped: the ledger keeps what the trail said,
//! and `suho` lists what the mapping does not cover. A service name in `sourceIPAddress`
//! (`s3.amazonaws.com`, `AWS Internal`) is no address: it is kept as `attrs.source_ip_address`.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::framing::Framing;
use crate::json::{first_text, get, text, text_at, Paths};
use crate::{
    check_action, clip, operation_action, source_sha256, tidy_subjects, DecodeError, Decoded,
    Decoder, MappingError, SubjectPattern,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    fields: FieldSpec,
    /// eventName -> contract action, overriding the default.
    #[serde(default)]
    actions: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    s3: Vec<S3Spec>,
    #[serde(default)]
    dynamodb: Vec<DynamoSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FieldSpec {
    /// Paths to the actor, first present wins.
    actor: Paths,
    /// Path to the credential id.
    credential: Paths,
}

impl Default for FieldSpec {
    fn default() -> Self {
        FieldSpec {
            actor: Paths::Many(
                [
                    "userIdentity.arn",
                    "userIdentity.principalId",
                    "userIdentity.userName",
                    "userIdentity.invokedBy",
                    "userIdentity.accountId",
                ]
                .map(String::from)
                .to_vec(),
            ),
            credential: Paths::One("userIdentity.accessKeyId".into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct S3Spec {
    bucket: String,
    #[serde(default)]
    prefix: String,
    /// Regular expression over the object key; its group `subject` is the subject id.
    subject: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DynamoSpec {
    table: String,
    /// The key attribute whose value names the subject.
    key: Option<String>,
    /// Regular expression over that value; its group `subject` is the subject id.
    subject: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
}

#[derive(Debug, Clone)]
struct S3Entry {
    bucket: String,
    prefix: String,
    subject: Option<SubjectPattern>,
    fields: Vec<String>,
}

#[derive(Debug, Clone)]
struct DynamoEntry {
    table: String,
    key: Option<String>,
    subject: Option<SubjectPattern>,
    fields: Vec<String>,
}

/// A loaded CloudTrail mapping.
#[derive(Debug, Clone)]
pub struct CloudTrailMapping {
    actor: Vec<String>,
    credential: Vec<String>,
    actions: Vec<(String, String)>,
    s3: Vec<S3Entry>,
    dynamodb: Vec<DynamoEntry>,
}

impl CloudTrailMapping {
    /// Load a mapping file (TOML).
    pub fn load(path: &Path) -> Result<CloudTrailMapping, MappingError> {
        crate::load_mapping(path, CloudTrailMapping::parse)
    }

    /// Parse a mapping from its TOML text; the error says which entry or key is wrong.
    pub fn parse(text: &str) -> Result<CloudTrailMapping, String> {
        let file: MappingFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut actions = Vec::new();
        for (name, a) in file.actions {
            check_action(&format!("actions.{name}"), &a)?;
            actions.push((name, a));
        }
        let mut s3 = Vec::new();
        for (i, e) in file.s3.into_iter().enumerate() {
            let subject = match &e.subject {
                Some(p) => Some(SubjectPattern::new(&format!("s3[{i}].subject"), p)?),
                None => None,
            };
            s3.push(S3Entry {
                bucket: e.bucket,
                prefix: e.prefix,
                subject,
                fields: e.fields,
            });
        }
        // Longest prefix first, so the most specific entry wins.
        s3.sort_by_key(|e| std::cmp::Reverse(e.prefix.len()));
        let mut dynamodb = Vec::new();
        for (i, e) in file.dynamodb.into_iter().enumerate() {
            let subject = match &e.subject {
                Some(p) => Some(SubjectPattern::new(&format!("dynamodb[{i}].subject"), p)?),
                None => None,
            };
            if subject.is_some() && e.key.is_none() {
                return Err(format!(
                    "dynamodb[{i}] ({}): a subject pattern needs the key attribute it reads (key = \"...\")",
                    e.table
                ));
            }
            dynamodb.push(DynamoEntry {
                table: e.table,
                key: e.key,
                subject,
                fields: e.fields,
            });
        }
        Ok(CloudTrailMapping {
            actor: file.fields.actor.into_vec(),
            credential: file.fields.credential.into_vec(),
            actions,
            s3,
            dynamodb,
        })
    }
}

/// Decodes CloudTrail events with a [`CloudTrailMapping`].
#[derive(Debug, Clone)]
pub struct CloudTrailDecoder {
    map: CloudTrailMapping,
}

impl CloudTrailDecoder {
    /// A decoder for `map`.
    pub fn new(map: CloudTrailMapping) -> CloudTrailDecoder {
        CloudTrailDecoder { map }
    }
}

#[derive(Deserialize)]
struct Document<'a> {
    #[serde(borrow, rename = "Records")]
    records: Vec<&'a RawValue>,
}

const DYNAMODB_ITEM_EVENTS: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];

impl Decoder for CloudTrailDecoder {
    fn name(&self) -> &'static str {
        "cloudtrail"
    }

    fn framing(&self) -> Framing {
        Framing::Json
    }

    fn decode(&self, unit: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError> {
        let v: Value =
            serde_json::from_slice(unit).map_err(|e| DecodeError::new(format!("not JSON: {e}")))?;
        let Value::Object(obj) = &v else {
            return Err(DecodeError::new(
                "not a JSON object (a CloudTrail event or a {\"Records\":[...]} log object)",
            ));
        };
        if obj.contains_key("Records") {
            // A whole log object handed over as one unit: each event with its own bytes.
            let doc: Document<'_> = serde_json::from_slice(unit)
                .map_err(|e| DecodeError::new(format!("Records is not an array of events: {e}")))?;
            let at = out.len();
            let mut d = Decoded::default();
            for (i, raw) in doc.records.iter().enumerate() {
                let ev: Value = serde_json::from_str(raw.get())
                    .map_err(|e| DecodeError::new(format!("Records[{i}]: {e}")))?;
                match self.event(&ev, raw.get().as_bytes(), out) {
                    Ok(one) => {
                        d.records += one.records;
                        d.unmapped |= one.unmapped;
                    }
                    Err(e) => {
                        out.truncate(at);
                        return Err(DecodeError::new(format!("Records[{i}]: {e}")));
                    }
                }
            }
            return Ok(d);
        }
        self.event(&v, unit, out)
    }
}

impl CloudTrailDecoder {
    fn event(&self, v: &Value, bytes: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError> {
        let map = &self.map;
        if !v.is_object() {
            return Err(DecodeError::new("an event is not a JSON object"));
        }
        let time_text = match get(v, "eventTime") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(DecodeError::new(format!(
                    "eventTime is {other}, not an RFC 3339 string"
                )))
            }
            None => return Err(DecodeError::new("no eventTime: not a CloudTrail event")),
        };
        let time = suho_record::parse_rfc3339(time_text)
            .map_err(|e| DecodeError::new(format!("eventTime {time_text:?}: {e}")))?;
        let name = text_at(v, Some("eventName"))
            .ok_or_else(|| DecodeError::new("no eventName: not a CloudTrail event"))?;
        let source = text_at(v, Some("eventSource"))
            .ok_or_else(|| DecodeError::new("no eventSource: not a CloudTrail event"))?;
        let actor = first_text(v, &map.actor).ok_or_else(|| {
            DecodeError::new(format!(
                "no actor: the event has none of {} (fields.actor)",
                map.actor.join(", ")
            ))
        })?;
        let params = get(v, "requestParameters").filter(|p| p.is_object());
        let param = |k: &str| params.and_then(|p| p.get(k)).and_then(text);

        let mut rec = Map::new();
        let mut attrs = Map::new();
        let mut subjects: Vec<String> = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        let mut mapped = false;
        let service = source.strip_suffix(".amazonaws.com").unwrap_or(&source);
        let resource: String = match (source.as_str(), param("bucketName"), param("key")) {
            ("s3.amazonaws.com", Some(bucket), Some(key)) => {
                if let Some(e) = map
                    .s3
                    .iter()
                    .find(|e| e.bucket == bucket && key.starts_with(&e.prefix))
                {
                    mapped = true;
                    fields.extend(e.fields.iter().cloned());
                    if let Some(s) = e.subject.as_ref().and_then(|p| p.find(&key)) {
                        subjects.push(s.to_string());
                    }
                }
                let r = format!("s3://{bucket}/{key}");
                attrs.insert("bucket".into(), Value::from(bucket));
                if r.len() > 512 {
                    attrs.insert("key".into(), Value::from(key));
                }
                clip(&r, 512).to_string()
            }
            ("dynamodb.amazonaws.com", _, _) if DYNAMODB_ITEM_EVENTS.contains(&name.as_str()) => {
                let mut tables: Vec<&DynamoEntry> = Vec::new();
                let mut named: Vec<String> = Vec::new();
                if let Some(p) = params {
                    table_names(p, &mut named);
                }
                for t in &named {
                    if let Some(e) = map.dynamodb.iter().find(|e| &e.table == t) {
                        tables.push(e);
                    }
                }
                for e in &tables {
                    mapped = true;
                    fields.extend(e.fields.iter().cloned());
                    if let (Some(k), Some(p)) = (&e.key, params) {
                        let mut values = Vec::new();
                        key_values(p, k, &mut values);
                        for val in values {
                            match &e.subject {
                                Some(pat) => subjects.extend(pat.find(&val).map(str::to_string)),
                                None => subjects.push(val),
                            }
                        }
                    }
                }
                named.sort();
                named.dedup();
                if named.is_empty() {
                    format!("dynamodb:{name}")
                } else {
                    clip(&format!("dynamodb:{}", named.join(",")), 512).to_string()
                }
            }
            _ => clip(&format!("{service}:{name}"), 512).to_string(),
        };
        tidy_subjects(&mut subjects);
        fields.sort();
        fields.dedup();

        let read_only = get(v, "readOnly").and_then(Value::as_bool);
        let action = map
            .actions
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a.as_str())
            .unwrap_or_else(|| default_action(&name, read_only, v));
        rec.insert("time".into(), Value::from(time));
        rec.insert("actor".into(), Value::from(clip(&actor, 256)));
        rec.insert("action".into(), Value::from(action));
        rec.insert("resource".into(), Value::from(resource));
        if let Some(ip) = text_at(v, Some("sourceIPAddress")) {
            match ip.parse::<IpAddr>() {
                Ok(ip) => {
                    rec.insert("src_ip".into(), Value::from(ip.to_string()));
                }
                Err(_) => {
                    attrs.insert("source_ip_address".into(), Value::from(ip));
                }
            }
        }
        if let Some(c) = first_text(v, &map.credential) {
            rec.insert("credential".into(), Value::from(clip(&c, 256)));
        }
        if !subjects.is_empty() {
            rec.insert("subjects".into(), Value::from(subjects));
        }
        if !fields.is_empty() {
            rec.insert("fields".into(), Value::from(fields));
        }
        if let Some(id) = text_at(v, Some("eventID")) {
            rec.insert("id".into(), Value::from(clip(&id, 128)));
        }
        if let Some(code) = text_at(v, Some("errorCode")) {
            rec.insert("outcome".into(), Value::from("failure"));
            attrs.insert("error_code".into(), Value::from(code));
        } else if name == "ConsoleLogin"
            && text_at(v, Some("responseElements.ConsoleLogin")).as_deref() == Some("Failure")
        {
            rec.insert("outcome".into(), Value::from("failure"));
        }
        attrs.insert("source".into(), Value::from("cloudtrail"));
        attrs.insert("source_sha256".into(), Value::from(source_sha256(bytes)));
        attrs.insert("event_source".into(), Value::from(source.as_str()));
        attrs.insert("event_name".into(), Value::from(name.as_str()));
        for (key, path) in [
            ("event_type", "eventType"),
            ("event_category", "eventCategory"),
            ("aws_region", "awsRegion"),
            ("account", "recipientAccountId"),
            ("identity_type", "userIdentity.type"),
            ("request_id", "requestID"),
            ("user_agent", "userAgent"),
        ] {
            if let Some(x) = text_at(v, Some(path)) {
                attrs.insert(key.into(), Value::from(clip(&x, 512)));
            }
        }
        if let Some(r) = read_only {
            attrs.insert("read_only".into(), Value::from(r));
        }
        if !mapped {
            attrs.insert("unmapped".into(), Value::from(true));
        }
        rec.insert("attrs".into(), Value::Object(attrs));
        crate::emit(rec, out)?;
        Ok(Decoded {
            records: 1,
            unmapped: !mapped,
        })
    }
}

/// Table names a DynamoDB request names: `tableName` anywhere, and the keys of a
/// `requestItems` / `transactItems` map.
fn table_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("tableName" | "TableName", Value::String(t)) => out.push(t.clone()),
                    ("requestItems" | "RequestItems", Value::Object(items)) => {
                        out.extend(items.keys().cloned());
                        table_names(x, out);
                    }
                    _ => table_names(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| table_names(x, out)),
        _ => {}
    }
}

/// The values of key attribute `key` anywhere in a request: plain (`{"id": "c-1"}`) or typed
/// the way DynamoDB's API writes them (`{"id": {"S": "c-1"}}`, `{"N": "7"}`).
fn key_values(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    match x {
                        Value::Object(typed) if typed.len() == 1 => {
                            if let Some(t) = typed.values().next().and_then(text) {
                                out.push(t);
                                continue;
                            }
                        }
                        other => {
                            if let Some(t) = text(other) {
                                out.push(t);
                                continue;
                            }
                        }
                    }
                }
                key_values(x, key, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| key_values(x, key, out)),
        _ => {}
    }
}

fn default_action(name: &str, read_only: Option<bool>, v: &Value) -> &'static str {
    match name {
        "ConsoleLogin" => {
            if text_at(v, Some("responseElements.ConsoleLogin")).as_deref() == Some("Failure") {
                "login_failed"
            } else {
                "login"
            }
        }
        "GetObject" | "GetItem" | "BatchGetItem" | "TransactGetItems" => "read",
        "Query" | "Scan" | "SelectObjectContent" => "search",
        "PutObject"
        | "CopyObject"
        | "PutItem"
        | "CreateMultipartUpload"
        | "CompleteMultipartUpload"
        | "UploadPart" => "create",
        "BatchWriteItem" | "TransactWriteItems" | "UpdateItem" => "update",
        "DeleteObject" | "DeleteObjects" | "DeleteItem" => "delete",
        _ => operation_action(name).unwrap_or(match read_only {
            Some(false) => "update",
            _ => "read",
        }),
    }
}
