//! API gateway and application JSON access logs (nginx `escape=json`, Envoy, Kong, an app's own
//! JSON), mapped by a file that names the log's fields and catalogues the routes.
//!
//! The bearer JWT's header and claims are read without the key (`kid` becomes `signing_key`,
//! `jti` the credential, `sub` the actor): suho judges a token against its registry, not its
//! signature, which is how a token signed by a real key but never issued is caught. A raw
//! token is a live credential: only those claims are kept; the token never reaches the record.
//!
//! The route catalogue says, per route template, which path or query parameter (or logged
//! field) names the subjects and which field categories the response carries. A request whose
//! route is not catalogued is still stored (resource `METHOD /path`, no subjects,
//! `attrs.unmapped = true`) and counted, never dropped.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::json::{get, text, text_at};
use crate::{check_action, source_sha256, DecodeError, Decoded, Decoder, MappingError};

/// Where the log's fields are (dotted paths into each JSON line).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldPaths {
    /// Event time.
    pub time: String,
    /// `auto` (RFC 3339 or common-log-format strings; numbers with a fraction or below 1e11 as
    /// seconds, others as milliseconds), `rfc3339`, `clf`, `epoch_s` or `epoch_ms`.
    pub time_format: String,
    /// HTTP method.
    pub method: Option<String>,
    /// Request path, with or without its query string.
    pub path: Option<String>,
    /// Request query string, when logged apart from the path.
    pub query: Option<String>,
    /// The request line (`GET /path?q HTTP/1.1`), used when method or path are not logged.
    pub request: Option<String>,
    /// Client address.
    pub src_ip: Option<String>,
    /// Response status code.
    pub status: Option<String>,
    /// The `Authorization` header as sent (`Bearer <JWT>`): read for its claims only.
    pub authorization: Option<String>,
    /// An object of claims the gateway already verified (Envoy `jwt_authn` metadata, Kong).
    pub claims: Option<String>,
    /// The acting account, when logged apart from the token (default: the JWT's `sub`).
    pub actor: Option<String>,
    /// The credential id (default: the JWT's `jti`).
    pub credential: Option<String>,
    /// The signing key id (default: the JWT header's `kid`).
    pub signing_key: Option<String>,
    /// The request id: the record's `id`, so a re-read log is stored once.
    pub id: Option<String>,
    /// The reason or ticket for the access.
    pub purpose: Option<String>,
}

impl Default for FieldPaths {
    fn default() -> Self {
        FieldPaths {
            time: "time".into(),
            time_format: "auto".into(),
            method: Some("method".into()),
            path: Some("path".into()),
            query: None,
            request: Some("request".into()),
            src_ip: Some("remote_addr".into()),
            status: Some("status".into()),
            authorization: Some("authorization".into()),
            claims: None,
            actor: None,
            credential: None,
            signing_key: None,
            id: Some("request_id".into()),
            purpose: None,
        }
    }
}

/// One catalogued route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    /// `METHOD /path/{param}/...`; `*` as the method matches any.
    route: String,
    /// Where the subjects are: `path:NAME`, `query:NAME` (comma-separated values and repeated
    /// parameters) or `field:DOTTED.PATH` (a string or an array of strings in the log line).
    #[serde(default)]
    subjects: Vec<String>,
    /// Field categories the response carries (contract vocabulary).
    #[serde(default)]
    fields: Vec<String>,
    /// Contract action (default from the method: GET read, POST create, PUT/PATCH update,
    /// DELETE delete).
    action: Option<String>,
    /// A logged field holding the number of subjects when they are not listed.
    subject_count: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    fields: FieldPaths,
    #[serde(default)]
    routes: Vec<RouteSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SubjectSource {
    Path(usize),
    Query(String),
    Field(String),
}

#[derive(Debug, Clone)]
struct Route {
    /// `METHOD /template`, the record's resource.
    resource: String,
    segments: Vec<Segment>,
    subjects: Vec<SubjectSource>,
    fields: Vec<String>,
    action: Option<String>,
    subject_count: Option<String>,
    literals: usize,
}

/// A loaded mapping: field paths and the route catalogue, indexed for matching.
#[derive(Debug, Clone)]
pub struct GatewayMapping {
    fields: FieldPaths,
    routes: Vec<Route>,
    /// (method, segment count) -> routes, most specific first; method `*` under "*".
    index: HashMap<(String, usize), Vec<usize>>,
}

impl GatewayMapping {
    /// Load a mapping file (TOML).
    pub fn load(path: &Path) -> Result<GatewayMapping, MappingError> {
        crate::load_mapping(path, GatewayMapping::parse)
    }

    /// Parse a mapping from its TOML text; the error says which route or key is wrong.
    pub fn parse(text: &str) -> Result<GatewayMapping, String> {
        let file: MappingFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if !["auto", "rfc3339", "clf", "epoch_s", "epoch_ms"]
            .contains(&file.fields.time_format.as_str())
        {
            return Err(format!(
                "fields.time_format {:?}: use auto, rfc3339, clf, epoch_s or epoch_ms",
                file.fields.time_format
            ));
        }
        let mut routes = Vec::with_capacity(file.routes.len());
        for (i, spec) in file.routes.iter().enumerate() {
            routes.push(route(spec).map_err(|e| format!("routes[{i}] {:?}: {e}", spec.route))?);
        }
        let mut index: HashMap<(String, usize), Vec<usize>> = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            let method = r.resource.split(' ').next().unwrap_or("*").to_string();
            index.entry((method, r.segments.len())).or_default().push(i);
        }
        for v in index.values_mut() {
            // Most literal segments first: /v1/customers/search beats /v1/customers/{id}.
            v.sort_by_key(|&i| std::cmp::Reverse(routes[i].literals));
        }
        Ok(GatewayMapping {
            fields: file.fields,
            routes,
            index,
        })
    }

    /// Routes in the catalogue.
    pub fn routes(&self) -> usize {
        self.routes.len()
    }

    fn find(&self, method: &str, segs: &[&str]) -> Option<&Route> {
        for m in [method, "*"] {
            let Some(cands) = self.index.get(&(m.to_string(), segs.len())) else {
                continue;
            };
            for &i in cands {
                let r = &self.routes[i];
                let fits = r.segments.iter().zip(segs).all(|(t, s)| match t {
                    Segment::Literal(l) => l == s,
                    Segment::Param(_) => !s.is_empty(),
                });
                if fits {
                    return Some(r);
                }
            }
        }
        None
    }
}

fn route(spec: &RouteSpec) -> Result<Route, String> {
    let (method, template) = spec
        .route
        .split_once(' ')
        .ok_or("write it as METHOD /path, e.g. GET /v1/customers/{id}")?;
    let method = method.trim().to_ascii_uppercase();
    let template = template.trim();
    if !template.starts_with('/') {
        return Err("the path must start with /".into());
    }
    let segments: Vec<Segment> = split_path(template)
        .into_iter()
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Literal(s.to_string()),
            },
        )
        .collect();
    let mut subjects = Vec::new();
    for s in &spec.subjects {
        let (kind, name) = s
            .split_once(':')
            .ok_or_else(|| format!("subjects {s:?}: write path:NAME, query:NAME or field:PATH"))?;
        subjects.push(match kind {
            "path" => SubjectSource::Path(
                segments
                    .iter()
                    .position(|g| *g == Segment::Param(name.to_string()))
                    .ok_or_else(|| format!("subjects {s:?}: the route has no {{{name}}}"))?,
            ),
            "query" => SubjectSource::Query(name.to_string()),
            "field" => SubjectSource::Field(name.to_string()),
            _ => return Err(format!("subjects {s:?}: use path:, query: or field:")),
        });
    }
    if let Some(a) = &spec.action {
        check_action("action", a)?;
    }
    Ok(Route {
        resource: format!("{method} {template}"),
        literals: segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count(),
        segments,
        subjects,
        fields: spec.fields.clone(),
        action: spec.action.clone(),
        subject_count: spec.subject_count.clone(),
    })
}

fn split_path(path: &str) -> Vec<&str> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    path.split('/').skip(1).collect()
}

/// Decodes gateway access-log lines with a [`GatewayMapping`].
#[derive(Debug, Clone)]
pub struct GatewayDecoder {
    map: GatewayMapping,
}

impl GatewayDecoder {
    /// A decoder for `map`.
    pub fn new(map: GatewayMapping) -> GatewayDecoder {
        GatewayDecoder { map }
    }
}

/// What a bearer token says about itself.
#[derive(Default)]
struct Claims {
    sub: Option<String>,
    jti: Option<String>,
    kid: Option<String>,
}

/// Header and claims of a JWT, read without checking its signature (suho checks the token
/// against its registry instead). None when the value is not a JWT.
fn jwt_claims(authorization: &str) -> Option<Claims> {
    let token = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .unwrap_or(authorization)
        .trim();
    let mut parts = token.split('.');
    let (h, p) = (parts.next()?, parts.next()?);
    parts.next()?;
    // Only the three claims suho keeps are materialised; every other member of the header
    // and the payload is skipped without allocating.
    #[derive(serde::Deserialize)]
    struct Part {
        sub: Option<Value>,
        jti: Option<Value>,
        kid: Option<Value>,
    }
    let decode = |s: &str| -> Option<Part> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()?;
        // An object only: serde would also fill the struct from an array, by position.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(&bytes).ok()
    };
    let header = decode(h)?;
    let payload = decode(p)?;
    Some(Claims {
        sub: payload.sub.as_ref().and_then(text),
        jti: payload.jti.as_ref().and_then(text),
        kid: header.kid.as_ref().and_then(text),
    })
}

fn claims_object(v: &Value) -> Claims {
    Claims {
        sub: v.get("sub").and_then(text),
        jti: v.get("jti").and_then(text),
        kid: v.get("kid").and_then(text),
    }
}

/// Event time in milliseconds from a logged value.
fn time_ms(v: &Value, format: &str) -> Result<i64, String> {
    let secs = |f: f64| (f * 1000.0).round() as i64;
    match (v, format) {
        (Value::Number(n), "epoch_ms") => n
            .as_i64()
            .ok_or_else(|| format!("{n} is not whole milliseconds")),
        (Value::Number(n), "epoch_s") => n.as_f64().map(secs).ok_or_else(|| format!("{n}")),
        (Value::Number(n), "auto") => match n.as_i64() {
            Some(i) if i >= 100_000_000_000 => Ok(i),
            _ => n.as_f64().map(secs).ok_or_else(|| format!("{n}")),
        },
        (Value::String(s), "epoch_s" | "epoch_ms" | "auto") if s.parse::<f64>().is_ok() => {
            let n: Value = serde_json::from_str(s).map_err(|e| format!("{s:?}: {e}"))?;
            time_ms(&n, format)
        }
        (Value::String(s), "clf") => parse_clf(s),
        (Value::String(s), "rfc3339") => {
            suho_record::parse_rfc3339(s).map_err(|e| format!("{s:?}: {e}"))
        }
        (Value::String(s), "auto") => suho_record::parse_rfc3339(s)
            .or_else(|_| parse_clf(s))
            .map_err(|_| format!("{s:?} is neither RFC 3339 nor common log format")),
        (other, f) => Err(format!("{other} is not a {f} time")),
    }
}

/// Common log format time: `10/Oct/2000:13:55:36 -0700`.
fn parse_clf(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a common-log-format time (10/Oct/2000:13:55:36 -0700)");
    let s = s.trim_start_matches('[').trim_end_matches(']');
    let (date, zone) = s.split_once(' ').ok_or_else(bad)?;
    let mut p = date.splitn(4, [':', '/']);
    let (d, mon, y, hms) = (
        p.next().ok_or_else(bad)?,
        p.next().ok_or_else(bad)?,
        p.next().ok_or_else(bad)?,
        p.next().ok_or_else(bad)?,
    );
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| *x == mon).ok_or_else(bad)? + 1;
    if zone.len() != 5 || !zone.is_ascii() {
        return Err(bad());
    }
    let text = format!("{y}-{m:02}-{:0>2}T{hms}{}:{}", d, &zone[..3], &zone[3..]);
    suho_record::parse_rfc3339(&text).map_err(|_| bad())
}

/// `%XX` and `+` decoded; malformed escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn default_action(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "PUT" | "PATCH" => "update",
        "DELETE" => "delete",
        _ => "read",
    }
}

impl Decoder for GatewayDecoder {
    fn name(&self) -> &'static str {
        "gateway"
    }

    fn decode(&self, line: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError> {
        let f = &self.map.fields;
        let v: Value =
            serde_json::from_slice(line).map_err(|e| DecodeError::new(format!("not JSON: {e}")))?;
        if !v.is_object() {
            return Err(DecodeError::new("not a JSON object"));
        }
        let time = get(&v, &f.time)
            .ok_or_else(|| DecodeError::new(format!("no time (field {:?})", f.time)))
            .and_then(|t| {
                time_ms(t, &f.time_format)
                    .map_err(|e| DecodeError::new(format!("time (field {:?}): {e}", f.time)))
            })?;

        let request = text_at(&v, f.request.as_deref());
        let mut req = request.as_deref().unwrap_or("").split(' ');
        let method = text_at(&v, f.method.as_deref())
            .or_else(|| req.next().filter(|m| !m.is_empty()).map(str::to_string))
            .ok_or_else(|| DecodeError::new("no HTTP method (fields method or request)"))?
            .to_ascii_uppercase();
        let target = text_at(&v, f.path.as_deref())
            .or_else(|| req.next().map(str::to_string))
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| DecodeError::new("no request path (fields path or request)"))?;
        let (path, inline_query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (target, None),
        };
        let query = text_at(&v, f.query.as_deref()).or(inline_query);

        let claims = match f.claims.as_deref().and_then(|p| get(&v, p)) {
            Some(c) if c.is_object() => claims_object(c),
            _ => text_at(&v, f.authorization.as_deref())
                .and_then(|a| jwt_claims(&a))
                .unwrap_or_default(),
        };
        let actor = text_at(&v, f.actor.as_deref())
            .or(claims.sub)
            .ok_or_else(|| {
                DecodeError::new(
                    "no actor: the token has no sub claim and no actor field is mapped",
                )
            })?;

        let segs = split_path(&path);
        let route = self.map.find(&method, &segs);
        // Written field by field: no map of the record is built (this runs once per line).
        let start = out.len();
        let mut w = crate::RecordWriter::new(out);
        w.num("time", time);
        w.str("actor", &actor);
        let mut unmapped = false;
        match route {
            Some(r) => {
                w.str(
                    "action",
                    r.action.as_deref().unwrap_or(default_action(&method)),
                );
                w.str("resource", &r.resource);
                let mut subjects: Vec<String> = Vec::new();
                for s in &r.subjects {
                    match s {
                        SubjectSource::Path(i) => {
                            if let Some(seg) = segs.get(*i) {
                                subjects.push(percent_decode(seg));
                            }
                        }
                        SubjectSource::Query(name) => {
                            for pair in query.as_deref().unwrap_or("").split('&') {
                                let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                                if percent_decode(k) == *name {
                                    subjects.extend(
                                        percent_decode(val)
                                            .split(',')
                                            .filter(|x| !x.is_empty())
                                            .map(str::to_string),
                                    );
                                }
                            }
                        }
                        SubjectSource::Field(p) => match get(&v, p) {
                            Some(Value::Array(a)) => {
                                subjects.extend(a.iter().filter_map(text));
                            }
                            Some(x) => subjects.extend(text(x)),
                            None => {}
                        },
                    }
                }
                subjects.sort();
                subjects.dedup();
                if !subjects.is_empty() {
                    w.strs("subjects", &subjects);
                }
                if let Some(n) = r
                    .subject_count
                    .as_deref()
                    .and_then(|p| get(&v, p))
                    .and_then(Value::as_u64)
                {
                    w.unsigned("subject_count", n);
                }
                if !r.fields.is_empty() {
                    w.strs("fields", &r.fields);
                }
            }
            None => {
                w.str("action", default_action(&method));
                w.str("resource", &format!("{method} {path}"));
                unmapped = true;
            }
        }
        for (key, value) in [
            ("src_ip", text_at(&v, f.src_ip.as_deref())),
            (
                "credential",
                text_at(&v, f.credential.as_deref()).or(claims.jti),
            ),
            (
                "signing_key",
                text_at(&v, f.signing_key.as_deref()).or(claims.kid),
            ),
            ("purpose", text_at(&v, f.purpose.as_deref())),
            ("id", text_at(&v, f.id.as_deref())),
        ] {
            if let Some(x) = value {
                w.str(key, &x);
            }
        }
        let status = text_at(&v, f.status.as_deref()).and_then(|s| s.parse::<u16>().ok());
        if status.is_some_and(|s| s >= 400) {
            w.str("outcome", "failure");
        }
        w.begin_object("attrs");
        w.str("source", "gateway");
        w.str("source_sha256", &source_sha256(line));
        if unmapped {
            w.boolean("unmapped", true);
        }
        if let Some(s) = status {
            w.unsigned("status", u64::from(s));
        }
        w.end_object();
        w.finish();
        debug_assert!(out[start..].ends_with(b"\n"));
        Ok(Decoded {
            records: 1,
            unmapped,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_times_and_epoch_magnitudes() {
        assert_eq!(
            parse_clf("10/Oct/2000:13:55:36 -0700").ok(),
            suho_record::parse_rfc3339("2000-10-10T13:55:36-07:00").ok()
        );
        assert_eq!(
            time_ms(&Value::from(1_750_734_765u64), "auto"),
            Ok(1_750_734_765_000)
        );
        assert_eq!(
            time_ms(&Value::from(1_750_734_765_123u64), "auto"),
            Ok(1_750_734_765_123)
        );
        assert_eq!(
            time_ms(&serde_json::json!(1750734765.123), "auto"),
            Ok(1_750_734_765_123)
        );
        assert_eq!(
            time_ms(&Value::from("1750734765.123"), "auto"),
            Ok(1_750_734_765_123)
        );
        assert!(time_ms(&Value::from("yesterday"), "auto").is_err());
        assert!(
            parse_clf("10/Oct/2000:13:55:36 +0é0").is_err(),
            "no panic on a bad zone"
        );
    }

    #[test]
    fn only_an_object_is_read_as_a_jwt_header_or_payload() {
        use base64::Engine as _;
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = |h: &str, p: &str| format!("Bearer {}.{}.sig", b(h), b(p));
        let c = jwt_claims(&token(
            r#"{"alg":"RS256","kid":"k1","x":[1,{"y":2}]}"#,
            r#"{"sub":"emp-1","jti":"t-1","roles":["a"]}"#,
        ))
        .unwrap_or_default();
        assert_eq!(
            (c.sub.as_deref(), c.jti.as_deref(), c.kid.as_deref()),
            (Some("emp-1"), Some("t-1"), Some("k1"))
        );
        // An array in the payload position would fill sub, jti, kid by position if read as
        // the struct; it is not a JWT.
        assert!(jwt_claims(&token(r#"{"kid":"k1"}"#, r#"["emp-1","t-1","k9"]"#)).is_none());
        assert!(jwt_claims(&token(r#" ["k"]"#, r#"{"sub":"emp-1"}"#)).is_none());
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("c-1%2Cc-2"), "c-1,c-2");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
