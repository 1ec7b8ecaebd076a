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

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;

use crate::capture::{Cap, Path as At, ReadError, Wanted};
use crate::{check_action, DecodeError, Decoded, Decoder, MappingError};

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
    /// A logged field's path, and where it is in a line's wanted members.
    Field(String, At),
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
    subject_count_at: Option<At>,
    literals: usize,
}

/// [`FieldPaths`] resolved against the mapping's [`Wanted`] members.
#[derive(Debug, Clone)]
struct FieldsAt {
    time: At,
    method: Option<At>,
    path: Option<At>,
    query: Option<At>,
    request: Option<At>,
    src_ip: Option<At>,
    status: Option<At>,
    authorization: Option<At>,
    claims: Option<At>,
    actor: Option<At>,
    credential: Option<At>,
    signing_key: Option<At>,
    id: Option<At>,
    purpose: Option<At>,
}

/// FNV-1a over a path segment. The catalogue is the operator's own file and a request's path
/// only chooses which bucket it probes, so the hash needs no keyed defence against floods; the
/// default SipHash was a tenth of the route lookup.
#[derive(Default)]
struct SegmentHasher(u64);

impl Hasher for SegmentHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Route templates of one method as a tree of path segments: a request path walks it from
/// the root, following its literal segment and, where the template has a parameter there, the
/// parameter branch as well.
#[derive(Debug, Clone, Default)]
struct RouteTree {
    literal: HashMap<String, RouteTree, BuildHasherDefault<SegmentHasher>>,
    param: Option<Box<RouteTree>>,
    /// Routes whose template ends here, in catalogue order.
    ends: Vec<usize>,
}

impl RouteTree {
    fn insert(&mut self, segments: &[Segment], route: usize) {
        match segments.split_first() {
            None => self.ends.push(route),
            Some((Segment::Literal(l), rest)) => self
                .literal
                .entry(l.clone())
                .or_default()
                .insert(rest, route),
            Some((Segment::Param(_), rest)) => self
                .param
                .get_or_insert_with(Default::default)
                .insert(rest, route),
        }
    }

    /// Every route that fits `segs`, offered to `best` (a parameter fits any non-empty
    /// segment).
    fn fits(&self, segs: &[&str], best: &mut impl FnMut(usize)) {
        let Some((first, rest)) = segs.split_first() else {
            self.ends.iter().for_each(|&r| best(r));
            return;
        };
        if let Some(t) = self.literal.get(*first) {
            t.fits(rest, best);
        }
        if let (Some(t), false) = (&self.param, first.is_empty()) {
            t.fits(rest, best);
        }
    }
}

/// A loaded mapping: field paths and the route catalogue, indexed for matching.
#[derive(Debug, Clone)]
pub struct GatewayMapping {
    fields: FieldPaths,
    routes: Vec<Route>,
    /// Method -> its routes' tree; method `*` under "*".
    index: HashMap<String, RouteTree>,
    /// The top-level members of a log line that some mapped path reads.
    wanted: Wanted,
    at: FieldsAt,
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
        let mut index: HashMap<String, RouteTree> = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            let method = r.resource.split(' ').next().unwrap_or("*").to_string();
            index.entry(method).or_default().insert(&r.segments, i);
        }
        let f = &file.fields;
        let mut paths: Vec<&str> = vec![f.time.as_str()];
        paths.extend(
            [
                &f.method,
                &f.path,
                &f.query,
                &f.request,
                &f.src_ip,
                &f.status,
                &f.authorization,
                &f.claims,
                &f.actor,
                &f.credential,
                &f.signing_key,
                &f.id,
                &f.purpose,
            ]
            .into_iter()
            .flatten()
            .map(String::as_str),
        );
        for r in &routes {
            paths.extend(r.subject_count.as_deref());
            paths.extend(r.subjects.iter().filter_map(|s| match s {
                SubjectSource::Field(p, _) => Some(p.as_str()),
                _ => None,
            }));
        }
        let wanted = Wanted::new(paths);
        for r in &mut routes {
            r.subject_count_at = r.subject_count.as_deref().map(|p| wanted.path(p));
            for s in &mut r.subjects {
                if let SubjectSource::Field(p, at) = s {
                    *at = wanted.path(p);
                }
            }
        }
        let opt = |p: &Option<String>| p.as_deref().map(|p| wanted.path(p));
        let at = FieldsAt {
            time: wanted.path(&f.time),
            method: opt(&f.method),
            path: opt(&f.path),
            query: opt(&f.query),
            request: opt(&f.request),
            src_ip: opt(&f.src_ip),
            status: opt(&f.status),
            authorization: opt(&f.authorization),
            claims: opt(&f.claims),
            actor: opt(&f.actor),
            credential: opt(&f.credential),
            signing_key: opt(&f.signing_key),
            id: opt(&f.id),
            purpose: opt(&f.purpose),
        };
        Ok(GatewayMapping {
            fields: file.fields,
            routes,
            index,
            wanted,
            at,
        })
    }

    /// Routes in the catalogue.
    pub fn routes(&self) -> usize {
        self.routes.len()
    }

    /// The route for a request: of the templates of its method that fit the path (else of
    /// method `*`), the one with the most literal segments (`/v1/customers/search` beats
    /// `/v1/customers/{id}`), the first in the catalogue among equals.
    fn find(&self, method: &str, segs: &[&str]) -> Option<&Route> {
        for m in [method, "*"] {
            let Some(tree) = self.index.get(m) else {
                continue;
            };
            let mut best: Option<usize> = None;
            tree.fits(segs, &mut |i| {
                let better = best.is_none_or(|b| {
                    let (ri, rb) = (&self.routes[i], &self.routes[b]);
                    ri.literals > rb.literals || (ri.literals == rb.literals && i < b)
                });
                if better {
                    best = Some(i);
                }
            });
            if let Some(i) = best {
                return Some(&self.routes[i]);
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
            "field" => SubjectSource::Field(name.to_string(), At::default()),
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
        subject_count_at: None,
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

/// What a bearer token (or a verified claims object) says about itself.
#[derive(Default, Clone)]
struct Claims<'a> {
    sub: Option<Cow<'a, str>>,
    jti: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
}

thread_local! {
    /// A decoded JWT part, reused from line to line.
    static JWT_PART: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// What recently seen tokens said, per worker thread.
    static TOKENS: RefCell<TokenCache> = RefCell::new(TokenCache::new());
}

/// The claims of recently seen tokens. A bearer token is sent with every request of its
/// session, so a gateway log repeats each one many times; reading it once saves decoding two
/// base64 parts and two JSON objects per line. A token is known by a 128-bit hash of the
/// whole token under two keys chosen at random per process (a forged token differs from the
/// real one somewhere, and without the keys no one can make two tokens collide), so the cache
/// never holds a token, which is a live credential.
struct TokenCache {
    keys: (RandomState, RandomState),
    claims: HashMap<u128, Option<Claims<'static>>, BuildHasherDefault<SegmentHasher>>,
}

impl TokenCache {
    /// Tokens remembered per thread before the cache starts again.
    const CAPACITY: usize = 4096;

    fn new() -> TokenCache {
        TokenCache {
            keys: (RandomState::new(), RandomState::new()),
            claims: HashMap::default(),
        }
    }

    fn key(&self, token: &str) -> u128 {
        let hash = |k: &RandomState| {
            let mut h = k.build_hasher();
            h.write(token.as_bytes());
            h.finish()
        };
        (u128::from(hash(&self.keys.0)) << 64) | u128::from(hash(&self.keys.1))
    }
}

/// Header and claims of a JWT, read without checking its signature (suho checks the token
/// against its registry instead). None when the value is not a JWT.
fn jwt_claims(authorization: &str) -> Option<Claims<'static>> {
    let token = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .unwrap_or(authorization)
        .trim();
    TOKENS.with_borrow_mut(|cache| {
        let key = cache.key(token);
        if let Some(known) = cache.claims.get(&key) {
            return known.clone();
        }
        let claims = read_jwt(token);
        if cache.claims.len() >= TokenCache::CAPACITY {
            cache.claims.clear();
        }
        cache.claims.insert(key, claims.clone());
        claims
    })
}

/// [`jwt_claims`] of one token, read afresh.
fn read_jwt(token: &str) -> Option<Claims<'static>> {
    let mut parts = token.split('.');
    let (h, p) = (parts.next()?, parts.next()?);
    parts.next()?;
    // Only the three claims suho keeps are read; every other member of the header and the
    // payload is skipped without allocating.
    #[derive(serde::Deserialize)]
    struct Part<'a> {
        #[serde(borrow)]
        sub: Option<Cap<'a>>,
        #[serde(borrow)]
        jti: Option<Cap<'a>>,
        #[serde(borrow)]
        kid: Option<Cap<'a>>,
    }
    let owned = |c: &Option<Cap<'_>>| {
        c.as_ref()
            .and_then(|c| c.text().map(|t| Cow::Owned(t.into_owned())))
    };
    let read = |s: &str, keep: &mut dyn FnMut(&Part<'_>)| -> Option<()> {
        JWT_PART.with_borrow_mut(|bytes| {
            bytes.clear();
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode_vec(s.trim_end_matches('='), bytes)
                .ok()?;
            // An object only: serde would also fill the struct from an array, by position.
            if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                return None;
            }
            let part: Part<'_> = serde_json::from_slice(bytes).ok()?;
            keep(&part);
            Some(())
        })
    };
    let mut claims = Claims::default();
    read(h, &mut |part| claims.kid = owned(&part.kid))?;
    read(p, &mut |part| {
        claims.sub = owned(&part.sub);
        claims.jti = owned(&part.jti);
    })?;
    Some(claims)
}

fn claims_object<'a>(v: &'a Cap<'_>) -> Claims<'a> {
    Claims {
        sub: v.member("sub").and_then(Cap::text),
        jti: v.member("jti").and_then(Cap::text),
        kid: v.member("kid").and_then(Cap::text),
    }
}

/// Event time in milliseconds from a logged value.
fn time_ms(v: &Cap<'_>, format: &str) -> Result<i64, String> {
    let secs = |f: f64| (f * 1000.0).round() as i64;
    match (v, format) {
        (Cap::Num(n), "epoch_ms") => n
            .as_i64()
            .ok_or_else(|| format!("{n} is not whole milliseconds")),
        (Cap::Num(n), "epoch_s") => n.as_f64().map(secs).ok_or_else(|| format!("{n}")),
        (Cap::Num(n), "auto") => match n.as_i64() {
            Some(i) if i >= 100_000_000_000 => Ok(i),
            _ => n.as_f64().map(secs).ok_or_else(|| format!("{n}")),
        },
        (Cap::Str(s), "epoch_s" | "epoch_ms" | "auto") if s.parse::<f64>().is_ok() => {
            let n: serde_json::Number =
                serde_json::from_str(s).map_err(|e| format!("{s:?}: {e}"))?;
            time_ms(&Cap::Num(n), format)
        }
        (Cap::Str(s), "clf") => parse_clf(s),
        (Cap::Str(s), "rfc3339") => {
            suho_record::parse_rfc3339(s).map_err(|e| format!("{s:?}: {e}"))
        }
        (Cap::Str(s), "auto") => suho_record::parse_rfc3339(s)
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
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
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
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
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
        let at = &self.map.at;
        // Only the members some mapped path reads are kept; the rest are checked and skipped.
        let v = self.map.wanted.read(line).map_err(|e| match e {
            ReadError::Json(e) => DecodeError::new(format!("not JSON: {e}")),
            ReadError::NotObject => DecodeError::new("not a JSON object"),
        })?;
        // A non-empty scalar at a mapped path, as text (nginx writes `-` for empty).
        let text_at = |path: &Option<At>| -> Option<Cow<'_, str>> {
            path.as_ref()
                .and_then(|p| v.get(p))
                .and_then(Cap::text)
                .filter(|s| !s.is_empty() && s != "-")
        };
        let time = v
            .get(&at.time)
            .ok_or_else(|| DecodeError::new(format!("no time (field {:?})", f.time)))
            .and_then(|t| {
                time_ms(t, &f.time_format)
                    .map_err(|e| DecodeError::new(format!("time (field {:?}): {e}", f.time)))
            })?;

        let request = text_at(&at.request);
        let mut req = request.as_deref().unwrap_or("").split(' ');
        let method = text_at(&at.method)
            .or_else(|| req.next().filter(|m| !m.is_empty()).map(Cow::Borrowed))
            .ok_or_else(|| DecodeError::new("no HTTP method (fields method or request)"))?;
        let method = if method.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(method.to_ascii_uppercase())
        } else {
            method
        };
        let target = text_at(&at.path)
            .or_else(|| req.next().map(Cow::Borrowed))
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| DecodeError::new("no request path (fields path or request)"))?;
        let (path, inline_query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target.as_ref(), None),
        };
        let logged_query = text_at(&at.query);
        let query = logged_query.as_deref().or(inline_query);

        let claims = match at.claims.as_ref().and_then(|p| v.get(p)) {
            Some(c) if c.is_object() => claims_object(c),
            _ => text_at(&at.authorization)
                .and_then(|a| jwt_claims(&a))
                .unwrap_or_default(),
        };
        let actor = text_at(&at.actor).or(claims.sub).ok_or_else(|| {
            DecodeError::new("no actor: the token has no sub claim and no actor field is mapped")
        })?;

        let segs = split_path(path);
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
                let mut subjects: Vec<Cow<'_, str>> = Vec::new();
                for s in &r.subjects {
                    match s {
                        SubjectSource::Path(i) => {
                            if let Some(seg) = segs.get(*i) {
                                subjects.push(percent_decode(seg));
                            }
                        }
                        SubjectSource::Query(name) => {
                            for pair in query.unwrap_or("").split('&') {
                                let (k, val) = pair.split_once('=').unwrap_or((pair, ""));
                                if percent_decode(k) == name.as_str() {
                                    match percent_decode(val) {
                                        Cow::Borrowed(val) => subjects.extend(
                                            val.split(',')
                                                .filter(|x| !x.is_empty())
                                                .map(Cow::Borrowed),
                                        ),
                                        Cow::Owned(val) => subjects.extend(
                                            val.split(',')
                                                .filter(|x| !x.is_empty())
                                                .map(|x| Cow::Owned(x.to_string())),
                                        ),
                                    }
                                }
                            }
                        }
                        SubjectSource::Field(_, p) => match v.get(p) {
                            Some(Cap::Arr(a)) => {
                                subjects.extend(a.iter().filter_map(Cap::text));
                            }
                            Some(x) => subjects.extend(x.text()),
                            None => {}
                        },
                    }
                }
                subjects.sort_unstable();
                subjects.dedup();
                if !subjects.is_empty() {
                    w.strs("subjects", &subjects);
                }
                if let Some(n) = r
                    .subject_count_at
                    .as_ref()
                    .and_then(|p| v.get(p))
                    .and_then(Cap::as_u64)
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
            ("src_ip", text_at(&at.src_ip)),
            ("credential", text_at(&at.credential).or(claims.jti)),
            ("signing_key", text_at(&at.signing_key).or(claims.kid)),
            ("purpose", text_at(&at.purpose)),
            ("id", text_at(&at.id)),
        ] {
            if let Some(x) = value {
                w.str(key, &x);
            }
        }
        let status = text_at(&at.status).and_then(|s| s.parse::<u16>().ok());
        if status.is_some_and(|s| s >= 400) {
            w.str("outcome", "failure");
        }
        w.begin_object("attrs");
        w.str("source", "gateway");
        w.sha256_hex("source_sha256", line);
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
            time_ms(&Cap::Num(1_750_734_765u64.into()), "auto"),
            Ok(1_750_734_765_000)
        );
        assert_eq!(
            time_ms(&Cap::Num(1_750_734_765_123u64.into()), "auto"),
            Ok(1_750_734_765_123)
        );
        assert_eq!(
            time_ms(
                &Cap::Num(serde_json::Number::from_f64(1750734765.123).expect("finite")),
                "auto"
            ),
            Ok(1_750_734_765_123)
        );
        assert_eq!(
            time_ms(&Cap::Str("1750734765.123".into()), "auto"),
            Ok(1_750_734_765_123)
        );
        assert!(time_ms(&Cap::Str("yesterday".into()), "auto").is_err());
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
    fn a_token_is_remembered_whole_so_a_forgery_reusing_a_real_signature_is_read_afresh() {
        use base64::Engine as _;
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let header = b(r#"{"alg":"RS256","kid":"kid-2024"}"#);
        let real = format!(
            "Bearer {header}.{}.SIG",
            b(r#"{"sub":"svc-a","jti":"t-1"}"#)
        );
        let forged = format!(
            "Bearer {header}.{}.SIG",
            b(r#"{"sub":"svc-b","jti":"t-9"}"#)
        );
        for _ in 0..2 {
            let c = jwt_claims(&real).unwrap_or_default();
            assert_eq!(
                (c.sub.as_deref(), c.jti.as_deref()),
                (Some("svc-a"), Some("t-1"))
            );
            let c = jwt_claims(&forged).unwrap_or_default();
            assert_eq!(
                (c.sub.as_deref(), c.jti.as_deref()),
                (Some("svc-b"), Some("t-9"))
            );
        }
    }

    /// The route rule as the catalogue states it, by brute force: of the method's templates
    /// that fit (else method `*`), most literal segments, first in the file among equals.
    fn route_by_scan(m: &GatewayMapping, method: &str, segs: &[&str]) -> Option<String> {
        for want in [method, "*"] {
            let mut best: Option<&Route> = None;
            for r in &m.routes {
                let fits = r.resource.split(' ').next() == Some(want)
                    && r.segments.len() == segs.len()
                    && r.segments.iter().zip(segs).all(|(t, s)| match t {
                        Segment::Literal(l) => l == s,
                        Segment::Param(_) => !s.is_empty(),
                    });
                if fits && best.is_none_or(|b| r.literals > b.literals) {
                    best = Some(r);
                }
            }
            if let Some(r) = best {
                return Some(r.resource.clone());
            }
        }
        None
    }

    proptest::proptest! {
        #[test]
        fn the_route_tree_chooses_what_the_catalogue_rule_says(
            templates in proptest::collection::vec(
                (0..3usize, proptest::collection::vec(0..4usize, 0..4)), 1..12),
            paths in proptest::collection::vec(
                (0..3usize, proptest::collection::vec(0..5usize, 0..4)), 1..12),
        ) {
            const METHODS: [&str; 3] = ["GET", "POST", "*"];
            const SEGS: [&str; 4] = ["a", "b", "{x}", "{y}"];
            const PATH_SEGS: [&str; 5] = ["a", "b", "c", "", "a%2Cb"];
            let mut toml = String::new();
            for (m, segs) in &templates {
                let path: String = segs.iter().map(|&s| format!("/{}", SEGS[s])).collect();
                let path = if path.is_empty() { "/".to_string() } else { path };
                toml.push_str(&format!("[[routes]]\nroute = \"{} {path}\"\n", METHODS[*m]));
            }
            let map = GatewayMapping::parse(&toml).expect("catalogue");
            for (m, segs) in &paths {
                let path: String = segs.iter().map(|&s| format!("/{}", PATH_SEGS[s])).collect();
                let path = if path.is_empty() { "/".to_string() } else { path };
                let split = split_path(&path);
                let method = METHODS[*m % 2];
                proptest::prop_assert_eq!(
                    map.find(method, &split).map(|r| r.resource.clone()),
                    route_by_scan(&map, method, &split),
                    "{} {}", method, path
                );
            }
        }
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("c-1%2Cc-2"), "c-1,c-2");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
