//! PostgreSQL pgAudit entries, from the server log in either of its forms:
//!
//! - **csvlog** (`log_destination = 'csvlog'`): one CSV record per message, whose 14th column
//!   (`message`) is `AUDIT: SESSION,...` or `AUDIT: OBJECT,...`. A multi-line statement is quoted
//!   inside the record, which then spans lines; [`Framing::PostgresLog`] hands such a record
//!   over whole.
//! - **stderr** (`log_destination = 'stderr'`, with `logging_collector` or not): the
//!   `log_line_prefix` (the mapping gives it; default Debian's `%m [%p] %q%u@%d `), the
//!   severity, then the message; the lines of a multi-line message after the first begin with
//!   a tab and belong to it.
//!
//! Each pgAudit entry becomes one access record: pgAudit writes an entry per statement, and
//! per object when object auditing or `pgaudit.log_relation` is on, so a statement touching two
//! audited tables is two records, and `COPY (query) TO` (which pgAudit logs as the query's
//! SELECT and the COPY) two exports. Server messages that are not pgAudit entries are no accesses and give no record.
//!
//! The mapping names, per table, the column that holds the subject key (`customers.id`,
//! `orders.customer_id`) and a category per column. Subjects are the literal keys the
//! statement compares that column with (`WHERE id = 123`, `IN (1,2,3)`, `= ANY(...)`, the
//! values an `INSERT` writes), parameters (`$1`) taken from the parameter list pgAudit logs
//! with `pgaudit.log_parameter = on`; when a statement names none, the row count pgAudit logs
//! with `pgaudit.log_rows = on` becomes `subject_count`. Fields are the categories of the
//! columns a SELECT returns (all of the table's for `*`), an UPDATE sets, an INSERT or COPY
//! writes; all of them for a DELETE, and when the statement was not logged. An entry about no
//! mapped table, or a command that handles no rows (DDL, PREPARE, SET), is stored without
//! subjects and marked unmapped.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::framing::{is_csvlog_start, Framing};
use crate::sql::{array_literal, Statement, Val};
use crate::{clip, source_sha256, tidy_subjects, DecodeError, Decoded, Decoder, MappingError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    log: LogSpec,
    /// Zone abbreviation -> UTC offset (`"+09:00"`), for the names in log timestamps that
    /// are not built in or are ambiguous (CST, IST).
    #[serde(default)]
    zones: BTreeMap<String, String>,
    /// `schema.table` (or `table`, meaning `public.table`) -> what it holds.
    #[serde(default)]
    tables: BTreeMap<String, TableSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LogSpec {
    /// The server's `log_line_prefix`, for stderr lines.
    prefix: String,
    /// Who the actor is: `user` (the database user) or `application_name`.
    actor: String,
    /// With `actor = "application_name"`: a regular expression whose group `actor` picks the
    /// account out of it (`^crm:(?P<actor>.+)$`); the database user when it does not match.
    actor_pattern: Option<String>,
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            prefix: "%m [%p] %q%u@%d ".into(),
            actor: "user".into(),
            actor_pattern: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableSpec {
    /// The column whose values are subject ids.
    subject: Option<String>,
    /// Column -> field category (contract vocabulary).
    #[serde(default)]
    columns: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct Table {
    /// `schema.table`, lowercased.
    name: String,
    subject: Option<String>,
    /// (column, category), by column.
    columns: Vec<(String, String)>,
    /// Every category of the table, sorted, deduplicated.
    all_fields: Vec<String>,
}

impl Table {
    fn category(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, f)| f.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PrefixTok {
    Lit(String),
    Esc(u8),
    /// `%q`: non-session processes stop the prefix here.
    Q,
}

/// A loaded pgAudit mapping.
#[derive(Debug, Clone)]
pub struct PgAuditMapping {
    prefix: Vec<PrefixTok>,
    actor_from_app: bool,
    actor_pattern: Option<regex::Regex>,
    zones: HashMap<String, String>,
    tables: Vec<Table>,
}

impl PgAuditMapping {
    /// Load a mapping file (TOML).
    pub fn load(path: &Path) -> Result<PgAuditMapping, MappingError> {
        crate::load_mapping(path, PgAuditMapping::parse)
    }

    /// Parse a mapping from its TOML text; the error says which key is wrong.
    pub fn parse(text: &str) -> Result<PgAuditMapping, String> {
        let file: MappingFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let prefix = parse_prefix(&file.log.prefix)
            .map_err(|e| format!("log.prefix {:?}: {e}", file.log.prefix))?;
        let actor_from_app = match file.log.actor.as_str() {
            "user" => false,
            "application_name" => true,
            other => {
                return Err(format!(
                    "log.actor {other:?}: use \"user\" (the database user) or \"application_name\""
                ))
            }
        };
        let actor_pattern = match &file.log.actor_pattern {
            Some(p) => {
                let re =
                    regex::Regex::new(p).map_err(|e| format!("log.actor_pattern {p:?}: {e}"))?;
                Some(re)
            }
            None => None,
        };
        let mut zones = HashMap::new();
        for (name, off) in &file.zones {
            let norm = numeric_offset(off)
                .ok_or_else(|| format!("zones.{name} {off:?}: write an offset like \"+09:00\""))?;
            zones.insert(name.clone(), norm);
        }
        let mut tables = Vec::new();
        for (name, spec) in &file.tables {
            let name = name.to_ascii_lowercase();
            let name = if name.contains('.') {
                name
            } else {
                format!("public.{name}")
            };
            let columns: Vec<(String, String)> = spec
                .columns
                .iter()
                .map(|(c, f)| (c.to_ascii_lowercase(), f.clone()))
                .collect();
            let mut all_fields: Vec<String> = columns.iter().map(|(_, f)| f.clone()).collect();
            all_fields.sort();
            all_fields.dedup();
            tables.push(Table {
                name,
                subject: spec.subject.as_ref().map(|s| s.to_ascii_lowercase()),
                columns,
                all_fields,
            });
        }
        Ok(PgAuditMapping {
            prefix,
            actor_from_app,
            actor_pattern,
            zones,
            tables,
        })
    }

    /// The mapped table a name refers to: `schema.table`, or `table` in `public`... or in any
    /// schema when only one mapped table has that name.
    fn table(&self, name: &str) -> Option<usize> {
        let name = name.trim_matches('"');
        if name.contains('.') {
            // pgAudit quotes identifiers that need it: public."Customers".
            let plain: String = name.chars().filter(|&c| c != '"').collect();
            let lower = plain.to_ascii_lowercase();
            return self
                .tables
                .iter()
                .position(|t| t.name == plain || t.name == lower);
        }
        let short = |t: &Table| t.name.rsplit('.').next() == Some(name);
        let mut hits = self.tables.iter().enumerate().filter(|(_, t)| short(t));
        let first = hits.next()?;
        match hits.next() {
            None => Some(first.0),
            Some(_) => self
                .tables
                .iter()
                .position(|t| t.name == format!("public.{name}")),
        }
    }
}

fn parse_prefix(p: &str) -> Result<Vec<PrefixTok>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        let e = chars.next().ok_or("ends in a lone %")?;
        if e == '%' {
            lit.push('%');
            continue;
        }
        if !lit.is_empty() {
            out.push(PrefixTok::Lit(std::mem::take(&mut lit)));
        }
        if e == 'q' {
            out.push(PrefixTok::Q);
            continue;
        }
        if !"amnptslcrhudiexvbPQ".contains(e) {
            return Err(format!("%{e} is not a log_line_prefix escape"));
        }
        if let Some(PrefixTok::Esc(prev)) = out.last() {
            if !b"mntpslcxP".contains(prev) {
                return Err(format!(
                    "%{} and %{e} are not separated by text, so where one ends is unknown",
                    *prev as char
                ));
            }
        }
        out.push(PrefixTok::Esc(e as u8));
    }
    if !lit.is_empty() {
        out.push(PrefixTok::Lit(lit));
    }
    Ok(out)
}

/// What a log line's prefix (or a csvlog record's columns) says.
#[derive(Debug, Default, Clone)]
struct Context<'a> {
    time: Option<Cow<'a, str>>,
    epoch: Option<&'a str>,
    user: Option<Cow<'a, str>>,
    database: Option<Cow<'a, str>>,
    pid: Option<Cow<'a, str>>,
    client: Option<Cow<'a, str>>,
    application: Option<Cow<'a, str>>,
    session: Option<Cow<'a, str>>,
    line: Option<Cow<'a, str>>,
}

/// Match `line` against the prefix; the context and the rest of the line. Past `%q`, a line
/// that does not match the rest of the prefix is one of a non-session process, cut at `%q`.
fn match_prefix<'a>(toks: &[PrefixTok], line: &'a str) -> Option<(Context<'a>, &'a str)> {
    let mut ctx = Context::default();
    let mut rest = line;
    let mut at_q: Option<(Context<'a>, &'a str)> = None;
    for (i, tok) in toks.iter().enumerate() {
        let next_lit = match toks.get(i + 1) {
            Some(PrefixTok::Lit(l)) => Some(l.as_str()),
            _ => None,
        };
        match tok {
            PrefixTok::Q => at_q = Some((ctx.clone(), rest)),
            PrefixTok::Lit(l) => match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return at_q,
            },
            PrefixTok::Esc(e) => {
                let Some(n) = escape_len(*e, rest, next_lit) else {
                    return at_q;
                };
                let v: &'a str = &rest[..n];
                rest = &rest[n..];
                match e {
                    b'm' | b't' => ctx.time = Some(Cow::Borrowed(v)),
                    b'n' => ctx.epoch = Some(v),
                    b'u' => ctx.user = Some(Cow::Borrowed(v)),
                    b'd' => ctx.database = Some(Cow::Borrowed(v)),
                    b'p' => ctx.pid = Some(Cow::Borrowed(v)),
                    // host(port)
                    b'r' => {
                        ctx.client = Some(Cow::Borrowed(v.split_once('(').map_or(v, |(h, _)| h)))
                    }
                    b'h' => ctx.client = ctx.client.take().or(Some(Cow::Borrowed(v))),
                    b'a' => ctx.application = Some(Cow::Borrowed(v)),
                    b'c' => ctx.session = Some(Cow::Borrowed(v)),
                    b'l' => ctx.line = Some(Cow::Borrowed(v)),
                    _ => {}
                }
            }
        }
    }
    Some((ctx, rest))
}

/// How many bytes of `s` the escape `e` takes.
fn escape_len(e: u8, s: &str, next_lit: Option<&str>) -> Option<usize> {
    let b = s.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    match e {
        b'm' | b't' | b's' => {
            // YYYY-MM-DD HH:MM:SS[.fff] ZONE
            if b.len() < 19 || b[4] != b'-' || b[10] != b' ' || b[13] != b':' {
                return None;
            }
            let mut i = 19;
            if b.get(i) == Some(&b'.') {
                i += 1 + digits(i + 1);
            }
            if b.get(i) != Some(&b' ') {
                return None;
            }
            i += 1;
            let zone = b[i..]
                .iter()
                .take_while(|c| !c.is_ascii_whitespace())
                .count();
            (zone > 0).then_some(i + zone)
        }
        b'n' => {
            let a = digits(0);
            let f = if b.get(a) == Some(&b'.') {
                1 + digits(a + 1)
            } else {
                0
            };
            (a > 0).then_some(a + f)
        }
        b'p' | b'l' | b'x' | b'P' => {
            let n = digits(0);
            (n > 0 || e == b'P' || e == b'x').then_some(n)
        }
        b'c' => {
            let hex = |from: usize| {
                b[from..]
                    .iter()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .count()
            };
            let a = hex(0);
            (a > 0 && b.get(a) == Some(&b'.')).then(|| a + 1 + hex(a + 1))
        }
        _ => match next_lit {
            Some(l) => s.find(l),
            None => Some(s.find(' ').unwrap_or(s.len())),
        },
    }
}

/// A parsed `AUDIT:` message.
#[derive(Debug)]
struct Entry<'a> {
    audit_type: Cow<'a, str>,
    statement_id: u64,
    substatement_id: u64,
    class: Cow<'a, str>,
    command: Cow<'a, str>,
    object_type: Cow<'a, str>,
    object_name: Cow<'a, str>,
    /// None when pgAudit did not log it (`<not logged>`, `<previously logged>`).
    statement: Option<Cow<'a, str>>,
    /// None when not logged; `$n` is `params[n - 1]` (None for a NULL).
    params: Option<Vec<Option<String>>>,
    rows: Option<u64>,
}

fn parse_entry(msg: &str) -> Result<Entry<'_>, String> {
    let body = msg
        .strip_prefix("AUDIT: ")
        .ok_or("the message does not start with AUDIT:")?;
    let mut f = csv_fields(body).map_err(|e| format!("AUDIT entry: {e}"))?;
    // pgAudit writes PARAMETER too (`<not logged>` unless pgaudit.log_parameter is on); its
    // own documentation shows entries without it, read as parameters not logged.
    if f.len() < 8 {
        return Err(format!(
            "AUDIT entry has {} fields; pgAudit writes at least 8 (AUDIT_TYPE, STATEMENT_ID, SUBSTATEMENT_ID, CLASS, COMMAND, OBJECT_TYPE, OBJECT_NAME, STATEMENT, then PARAMETER)",
            f.len()
        ));
    }
    let audit_type = std::mem::take(&mut f[0]);
    if audit_type != "SESSION" && audit_type != "OBJECT" {
        return Err(format!(
            "AUDIT entry type {audit_type:?} is neither SESSION nor OBJECT"
        ));
    }
    let num = |what: &str, s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("AUDIT entry {what} {s:?} is not a number"))
    };
    let statement_id = num("STATEMENT_ID", &f[1])?;
    let substatement_id = num("SUBSTATEMENT_ID", &f[2])?;
    let rows = match f.get(9) {
        Some(r) => Some(num("ROWS", r)?),
        None => None,
    };
    let logged = |s: &str| !matches!(s, "<not logged>" | "<previously logged>");
    let statement = if logged(&f[7]) {
        Some(std::mem::take(&mut f[7]))
    } else {
        None
    };
    let params = match f.get(8).map_or("<not logged>", |p| p.as_ref()) {
        "<none>" => Some(Vec::new()),
        p if !logged(p) => None,
        p => Some(
            csv_fields(p)
                .map_err(|e| format!("AUDIT entry PARAMETER: {e}"))?
                .into_iter()
                .map(|v| (!v.is_empty()).then(|| v.into_owned()))
                .collect(),
        ),
    };
    let mut it = f.into_iter();
    let _ = it.next(); // type, taken
    let _ = it.next();
    let _ = it.next();
    let class = it.next().unwrap_or_default();
    let command = it.next().unwrap_or_default();
    let object_type = it.next().unwrap_or_default();
    let object_name = it.next().unwrap_or_default();
    Ok(Entry {
        audit_type,
        statement_id,
        substatement_id,
        class,
        command,
        object_type,
        object_name,
        statement,
        params,
        rows,
    })
}

/// The fields of one CSV record (RFC 4180: `"` quotes, `""` inside quotes is a quote).
pub(crate) fn csv_fields(s: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(26);
    let mut i = 0;
    loop {
        if b.get(i) == Some(&b'"') {
            let start = i + 1;
            let mut j = start;
            let mut owned: Option<String> = None;
            let mut seg = start;
            loop {
                match memchr::memchr(b'"', &b[j..]) {
                    None => {
                        return Err(format!(
                            "field {} opens a quote at byte {i} that is never closed (the record is cut short)",
                            out.len() + 1
                        ))
                    }
                    Some(n) => {
                        let q = j + n;
                        if b.get(q + 1) == Some(&b'"') {
                            owned.get_or_insert_with(String::new).push_str(&s[seg..=q]);
                            j = q + 2;
                            seg = j;
                        } else {
                            let v = match owned.take() {
                                Some(mut o) => {
                                    o.push_str(&s[seg..q]);
                                    Cow::Owned(o)
                                }
                                None => Cow::Borrowed(&s[seg..q]),
                            };
                            out.push(v);
                            i = q + 1;
                            break;
                        }
                    }
                }
            }
            match b.get(i) {
                None => return Ok(out),
                Some(b',') => i += 1,
                Some(_) => {
                    return Err(format!(
                        "field {} has text after its closing quote (byte {i})",
                        out.len()
                    ))
                }
            }
        } else {
            let end = memchr::memchr(b',', &b[i..]).map_or(b.len(), |n| i + n);
            out.push(Cow::Borrowed(&s[i..end]));
            if end == b.len() {
                return Ok(out);
            }
            i = end + 1;
        }
    }
}

/// `+09`, `-0330`, `+05:30` as `+HH:MM`.
fn numeric_offset(z: &str) -> Option<String> {
    let (sign, rest) = match z.as_bytes().first()? {
        b'+' => ('+', &z[1..]),
        b'-' => ('-', &z[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|&c| c != ':').collect();
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.as_str(), "00"),
        3 => (&digits[..1], &digits[1..]),
        4 => (&digits[..2], &digits[2..]),
        _ => return None,
    };
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 15 && m < 60).then(|| format!("{sign}{h:02}:{m:02}"))
}

/// Zone abbreviations PostgreSQL prints that mean one offset wherever they are used.
const ZONES: &[(&str, &str)] = &[
    ("UTC", "+00:00"),
    ("GMT", "+00:00"),
    ("UCT", "+00:00"),
    ("Z", "+00:00"),
    ("KST", "+09:00"),
    ("JST", "+09:00"),
    ("HKT", "+08:00"),
    ("SGT", "+08:00"),
    ("AWST", "+08:00"),
    ("WIB", "+07:00"),
    ("MSK", "+03:00"),
    ("EET", "+02:00"),
    ("EEST", "+03:00"),
    ("CET", "+01:00"),
    ("CEST", "+02:00"),
    ("WET", "+00:00"),
    ("WEST", "+01:00"),
    ("BST", "+01:00"),
    ("SAST", "+02:00"),
    ("EST", "-05:00"),
    ("EDT", "-04:00"),
    ("CDT", "-05:00"),
    ("MST", "-07:00"),
    ("MDT", "-06:00"),
    ("PST", "-08:00"),
    ("PDT", "-07:00"),
    ("AKST", "-09:00"),
    ("AKDT", "-08:00"),
    ("HST", "-10:00"),
    ("AEST", "+10:00"),
    ("AEDT", "+11:00"),
    ("ACST", "+09:30"),
    ("ACDT", "+10:30"),
    ("NZST", "+12:00"),
    ("NZDT", "+13:00"),
];

impl PgAuditMapping {
    /// `YYYY-MM-DD HH:MM:SS[.fff] ZONE` in milliseconds.
    fn time_ms(&self, t: &str) -> Result<i64, String> {
        let mut parts = t.split(' ');
        let (date, clock, zone) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(d), Some(c), Some(z), None) => (d, c, z),
            _ => {
                return Err(format!(
                    "{t:?} is not a log timestamp (YYYY-MM-DD HH:MM:SS.fff ZONE)"
                ))
            }
        };
        let offset = self
            .zones
            .get(zone)
            .cloned()
            .or_else(|| ZONES.iter().find(|(z, _)| *z == zone).map(|(_, o)| o.to_string()))
            .or_else(|| numeric_offset(zone))
            .ok_or_else(|| {
                format!(
                    "{t:?}: the zone {zone:?} is not known; give its offset in the mapping's [zones] (e.g. {zone} = \"+09:00\")"
                )
            })?;
        suho_record::parse_rfc3339(&format!("{date}T{clock}{offset}"))
            .map_err(|e| format!("{t:?}: {e}"))
    }
}

/// An epoch with a fraction (`%n`) in milliseconds.
fn epoch_ms(s: &str) -> Result<i64, String> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs
        .parse()
        .map_err(|_| format!("{s:?} is not an epoch time"))?;
    let mut ms = 0i64;
    for (i, c) in frac.bytes().take(3).enumerate() {
        ms += i64::from(c - b'0') * [100, 10, 1][i];
    }
    secs.checked_mul(1000)
        .and_then(|x| x.checked_add(ms))
        .ok_or_else(|| format!("{s:?} is out of range"))
}

/// Decodes pgAudit entries with a [`PgAuditMapping`].
#[derive(Debug, Clone)]
pub struct PgAuditDecoder {
    map: PgAuditMapping,
}

impl PgAuditDecoder {
    /// A decoder for `map`.
    pub fn new(map: PgAuditMapping) -> PgAuditDecoder {
        PgAuditDecoder { map }
    }
}

/// The CSV columns of a csvlog record this decoder reads (0-based).
const CSV_TIME: usize = 0;
const CSV_USER: usize = 1;
const CSV_DB: usize = 2;
const CSV_PID: usize = 3;
const CSV_FROM: usize = 4;
const CSV_SESSION: usize = 5;
const CSV_LINE: usize = 6;
const CSV_MESSAGE: usize = 13;
const CSV_APP: usize = 22;

impl Decoder for PgAuditDecoder {
    fn name(&self) -> &'static str {
        "pgaudit"
    }

    fn framing(&self) -> Framing {
        Framing::PostgresLog
    }

    fn decode(&self, line: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError> {
        let text = std::str::from_utf8(line).map_err(|e| {
            DecodeError::new(format!(
                "not UTF-8 at byte {} (set the server's log encoding to UTF8)",
                e.valid_up_to()
            ))
        })?;
        if is_csvlog_start(line) {
            self.csvlog(text, line, out)
        } else {
            self.stderr(text, line, out)
        }
    }
}

impl PgAuditDecoder {
    fn csvlog(&self, text: &str, line: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError> {
        let mut f =
            csv_fields(text).map_err(|e| DecodeError::new(format!("csvlog record: {e}")))?;
        if f.len() <= CSV_MESSAGE {
            return Err(DecodeError::new(format!(
                "csvlog record has {} fields; the message is field 14 (the record is cut short)",
                f.len()
            )));
        }
        if !f[CSV_MESSAGE].starts_with("AUDIT: ") {
            return Ok(Decoded::default());
        }
        fn take<'a>(f: &mut [Cow<'a, str>], i: usize) -> Option<Cow<'a, str>> {
            f.get_mut(i).map(std::mem::take).filter(|v| !v.is_empty())
        }
        let message = std::mem::take(&mut f[CSV_MESSAGE]);
        let client = take(&mut f, CSV_FROM).map(|c| match c {
            // host:port; the host may be IPv6 (::1:5432).
            Cow::Borrowed(s) => Cow::Borrowed(strip_port(s)),
            Cow::Owned(s) => Cow::Owned(strip_port(&s).to_string()),
        });
        let ctx = Context {
            time: take(&mut f, CSV_TIME),
            epoch: None,
            user: take(&mut f, CSV_USER),
            database: take(&mut f, CSV_DB),
            pid: take(&mut f, CSV_PID),
            client,
            application: take(&mut f, CSV_APP),
            session: take(&mut f, CSV_SESSION),
            line: take(&mut f, CSV_LINE),
        };
        self.entry(ctx, &message, "csvlog", line, out)
    }

    fn stderr(&self, text: &str, line: &[u8], out: &mut Vec<u8>) -> Result<Decoded, DecodeError> {
        if memchr::memmem::find(line, b"AUDIT: ").is_none() {
            return Ok(Decoded::default());
        }
        let (ctx, rest) = match_prefix(&self.map.prefix, text).ok_or_else(|| {
            DecodeError::new(
                "the line does not start with the mapping's log_line_prefix (log.prefix); \
                 set it to the server's log_line_prefix",
            )
        })?;
        // SEVERITY:  message
        let sev = rest.bytes().take_while(u8::is_ascii_uppercase).count();
        let Some(message) = rest[sev..].strip_prefix(":  ").filter(|_| sev > 0) else {
            return Err(DecodeError::new(format!(
                "no severity (LOG:, NOTICE:, ...) after the log_line_prefix, at {:?}",
                clip(rest, 40)
            )));
        };
        if !message.starts_with("AUDIT: ") {
            return Ok(Decoded::default());
        }
        // The lines of a multi-line message after the first begin with a tab.
        let message: Cow<'_, str> = if message.contains("\n\t") {
            Cow::Owned(message.replace("\n\t", "\n"))
        } else {
            Cow::Borrowed(message)
        };
        self.entry(ctx, &message, "stderr", line, out)
    }

    fn entry(
        &self,
        ctx: Context<'_>,
        message: &str,
        form: &str,
        line: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Decoded, DecodeError> {
        let map = &self.map;
        let e = parse_entry(message).map_err(DecodeError::new)?;
        let time = match (&ctx.time, ctx.epoch) {
            (_, Some(n)) => epoch_ms(n),
            (Some(t), None) => map.time_ms(t),
            (None, None) => Err(match form {
                "csvlog" => "log_time (field 1) is empty".to_string(),
                _ => "the log_line_prefix (log.prefix) has no time (%m, %t or %n)".to_string(),
            }),
        }
        .map_err(|e| DecodeError::new(format!("time: {e}")))?;
        let user = ctx.user.as_deref().ok_or_else(|| {
            DecodeError::new(match form {
                "csvlog" => "no database user (field 2 user_name is empty)",
                _ => "no database user: the log_line_prefix (log.prefix) has no %u",
            })
        })?;
        if map.actor_from_app && form == "stderr" && !map.prefix.contains(&PrefixTok::Esc(b'a')) {
            // Falling back to the database user would quietly name the wrong account.
            return Err(DecodeError::new(
                "the actor is application_name (log.actor) but the log_line_prefix (log.prefix) \
                 has no %a",
            ));
        }
        let actor = if map.actor_from_app {
            ctx.application
                .as_deref()
                .and_then(|a| match &map.actor_pattern {
                    Some(re) => re
                        .captures(a)
                        .and_then(|c| c.name("actor").or_else(|| c.get(0)))
                        .map(|m| m.as_str()),
                    None => Some(a),
                })
                .filter(|a| !a.is_empty())
                .unwrap_or(user)
        } else {
            user
        };

        let stmt = e.statement.as_deref().map(Statement::parse);
        let data_command = matches!(
            e.command.as_ref(),
            "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY" | "TRUNCATE TABLE"
        );
        // The mapped tables this entry is about.
        let mut about: Vec<usize> = Vec::new();
        if !e.object_name.is_empty() {
            about.extend(map.table(&e.object_name));
        } else if let Some(s) = &stmt {
            for t in &s.tables {
                if let Some(m) = map.table(t) {
                    if !about.contains(&m) {
                        about.push(m);
                    }
                }
            }
        }
        let mapped = data_command && !about.is_empty();

        let mut subjects: Vec<String> = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        if mapped {
            match &stmt {
                Some(s) => {
                    self.subjects(s, &e, &about, &mut subjects);
                    self.fields(s, &e, &about, &mut fields);
                }
                None => {
                    for &m in &about {
                        fields.extend(map.tables[m].all_fields.iter().cloned());
                    }
                }
            }
            tidy_subjects(&mut subjects);
            fields.sort();
            fields.dedup();
        }

        let resource: Cow<'_, str> = if !e.object_name.is_empty() {
            Cow::Borrowed(e.object_name.as_ref())
        } else if !about.is_empty() {
            Cow::Owned(
                about
                    .iter()
                    .map(|&m| map.tables[m].name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        } else if let Some(t) = stmt.as_ref().and_then(|s| s.tables.first()) {
            Cow::Owned(t.clone())
        } else if !e.command.is_empty() {
            Cow::Borrowed(e.command.as_ref())
        } else {
            Cow::Borrowed("postgres")
        };

        let mut rec = Map::new();
        rec.insert("time".into(), Value::from(time));
        rec.insert("actor".into(), Value::from(clip(actor, 256)));
        rec.insert(
            "action".into(),
            Value::from(action(&e.class, &e.command, stmt.as_ref())),
        );
        rec.insert("resource".into(), Value::from(clip(&resource, 512)));
        let mut attrs = Map::new();
        attrs.insert("source".into(), Value::from("pgaudit"));
        attrs.insert("source_sha256".into(), Value::from(source_sha256(line)));
        attrs.insert("log".into(), Value::from(form));
        if let Some(c) = ctx.client.as_deref() {
            match c.parse::<IpAddr>() {
                Ok(ip) => {
                    rec.insert("src_ip".into(), Value::from(ip.to_string()));
                }
                Err(_) => {
                    attrs.insert("client".into(), Value::from(c));
                }
            }
        }
        if !subjects.is_empty() {
            rec.insert("subjects".into(), Value::from(subjects.clone()));
        } else if let (true, Some(rows)) = (mapped && e.command != "COPY", e.rows) {
            // COPY's entry counts no rows (pgAudit logs 0): no count rather than a wrong one.
            rec.insert("subject_count".into(), Value::from(rows));
        }
        if !fields.is_empty() {
            rec.insert("fields".into(), Value::from(fields));
        }
        // The session id and line number name one log message of one server; the form is part
        // of the id because the same message in the csvlog and the stderr log is two source
        // records (with two hashes), not a conflict.
        if let (Some(s), Some(l)) = (ctx.session.as_deref(), ctx.line.as_deref()) {
            rec.insert(
                "id".into(),
                Value::from(clip(&format!("pgaudit:{form}:{s}:{l}"), 128)),
            );
        }
        attrs.insert("audit_type".into(), Value::from(e.audit_type.as_ref()));
        attrs.insert("statement_id".into(), Value::from(e.statement_id));
        attrs.insert("substatement_id".into(), Value::from(e.substatement_id));
        attrs.insert("class".into(), Value::from(e.class.as_ref()));
        attrs.insert("command".into(), Value::from(e.command.as_ref()));
        if !e.object_type.is_empty() {
            attrs.insert("object_type".into(), Value::from(e.object_type.as_ref()));
        }
        if let Some(r) = e.rows {
            attrs.insert("rows".into(), Value::from(r));
        }
        for (k, v) in [
            ("database", &ctx.database),
            ("session_id", &ctx.session),
            ("session_line", &ctx.line),
            ("pid", &ctx.pid),
            ("application_name", &ctx.application),
        ] {
            if let Some(v) = v {
                attrs.insert(k.into(), Value::from(v.as_ref()));
            }
        }
        if actor != user {
            attrs.insert("db_user".into(), Value::from(user));
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

    /// The subject keys the statement names for the tables in `about`.
    fn subjects(&self, s: &Statement, e: &Entry<'_>, about: &[usize], out: &mut Vec<String>) {
        let map = &self.map;
        let key_of = |m: usize| map.tables[m].subject.as_deref();
        let mut push = |v: &Val| {
            let text = match v {
                Val::Lit(l) => Some(l.clone()),
                Val::Param(n) => e
                    .params
                    .as_ref()
                    .and_then(|p| p.get(n.checked_sub(1)?))
                    .and_then(Clone::clone),
            };
            if let Some(t) = text {
                match array_literal(&t) {
                    Some(items) => out.extend(items),
                    None => out.push(t),
                }
            }
        };
        for (col, vals) in &s.comparisons {
            let table = match &col.qualifier {
                Some(q) => s
                    .resolve(q)
                    .and_then(|i| map.table(&s.tables[i]))
                    .filter(|m| about.contains(m)),
                None => about
                    .iter()
                    .copied()
                    .find(|&m| key_of(m) == Some(col.column.as_str())),
            };
            if table.is_some_and(|m| key_of(m) == Some(col.column.as_str())) {
                vals.iter().for_each(&mut push);
            }
        }
        if let Some((t, cols, rows)) = &s.insert {
            if let Some(m) = map.table(&s.tables[*t]).filter(|m| about.contains(m)) {
                if let Some(k) = key_of(m).and_then(|k| cols.iter().position(|c| c == k)) {
                    for row in rows {
                        if let Some(Some(v)) = row.get(k) {
                            push(v);
                        }
                    }
                }
            }
        }
    }

    /// The field categories the entry's command handles for the tables in `about`.
    fn fields(&self, s: &Statement, e: &Entry<'_>, about: &[usize], out: &mut Vec<String>) {
        let map = &self.map;
        for &m in about {
            let table = &map.tables[m];
            let named = |cols: &mut dyn Iterator<Item = &str>, out: &mut Vec<String>| {
                for c in cols {
                    out.extend(table.category(c).map(str::to_string));
                }
            };
            let belongs = |q: &Option<String>| match q {
                None => true,
                Some(q) => s.resolve(q).and_then(|i| map.table(&s.tables[i])) == Some(m),
            };
            match e.command.as_ref() {
                "DELETE" | "TRUNCATE TABLE" => out.extend(table.all_fields.iter().cloned()),
                "INSERT" if s.verb == "insert" => match &s.insert {
                    Some((_, cols, _)) if !cols.is_empty() => {
                        named(&mut cols.iter().map(String::as_str), out)
                    }
                    _ => out.extend(table.all_fields.iter().cloned()),
                },
                "UPDATE" if !s.set_columns.is_empty() => {
                    named(&mut s.set_columns.iter().map(String::as_str), out)
                }
                "COPY" if s.copy_to.is_some() && !s.has_select => {
                    if s.copy_columns.is_empty() {
                        out.extend(table.all_fields.iter().cloned())
                    } else {
                        named(&mut s.copy_columns.iter().map(String::as_str), out)
                    }
                }
                _ if s.has_select => {
                    if s.select_star {
                        out.extend(table.all_fields.iter().cloned());
                    } else {
                        let cols = s
                            .select_columns
                            .iter()
                            .filter(|c| belongs(&c.qualifier))
                            .map(|c| c.column.as_str());
                        named(&mut cols.collect::<Vec<_>>().into_iter(), out);
                    }
                }
                _ => out.extend(table.all_fields.iter().cloned()),
            }
        }
    }
}

/// `host:port` -> host (an IPv6 host keeps its colons); `[local]` as it is.
fn strip_port(s: &str) -> &str {
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => {
            h
        }
        _ => s,
    }
}

/// The contract action of a pgAudit entry.
fn action(class: &str, command: &str, stmt: Option<&Statement>) -> &'static str {
    // Whatever pgAudit calls it (SELECT for `COPY t TO`, SELECT and COPY for `COPY (query)
    // TO`), rows that a COPY writes out are exported, and those it reads in created.
    match stmt.filter(|s| s.verb == "copy").and_then(|s| s.copy_to) {
        Some(true) => return "export",
        Some(false) => return "create",
        None => {}
    }
    match command {
        "SELECT" => "read",
        "INSERT" => "create",
        "UPDATE" | "MERGE" => "update",
        "DELETE" | "TRUNCATE TABLE" => "delete",
        "COPY" if class == "READ" => "export",
        "COPY" => "create",
        _ => match command.split(' ').next().unwrap_or("") {
            "CREATE" => "create",
            "DROP" => "delete",
            "ALTER" | "GRANT" | "REVOKE" | "COMMENT" | "SET" | "RESET" | "REINDEX" | "VACUUM"
            | "ANALYZE" | "CLUSTER" | "REFRESH" => "update",
            _ if class == "WRITE" => "update",
            _ => "read",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc4180_and_say_what_is_wrong() {
        assert_eq!(
            csv_fields(r#"a,"b,c","d""e",,"#).expect("ok"),
            vec!["a", "b,c", "d\"e", "", ""]
        );
        assert!(csv_fields(r#"a,"open"#)
            .expect_err("open")
            .contains("never closed"));
        assert!(csv_fields(r#""a"x,b"#)
            .expect_err("junk")
            .contains("after its closing quote"));
    }

    #[test]
    fn prefixes_match_with_q_and_reject_ambiguity() {
        let p = parse_prefix("%m [%p] %q%u@%d %r ").expect("prefix");
        let (c, rest) = match_prefix(
            &p,
            "2025-06-24 12:00:00.123 KST [42] app@shop 10.0.0.1(5432) LOG:  x",
        )
        .expect("match");
        assert_eq!(c.time.as_deref(), Some("2025-06-24 12:00:00.123 KST"));
        assert_eq!(c.user.as_deref(), Some("app"));
        assert_eq!(c.database.as_deref(), Some("shop"));
        assert_eq!(c.client.as_deref(), Some("10.0.0.1"));
        assert_eq!(c.pid.as_deref(), Some("42"));
        assert_eq!(rest, "LOG:  x");
        let (c, rest) =
            match_prefix(&p, "2025-06-24 12:00:00.123 KST [42] LOG:  starting").expect("q");
        assert_eq!(rest, "LOG:  starting");
        assert!(c.user.is_none());
        assert!(match_prefix(&p, "garbage").is_none());
        assert!(parse_prefix("%u%d").is_err());
        assert!(parse_prefix("%z").is_err());
        assert!(parse_prefix("%").is_err());
    }

    #[test]
    fn an_application_actor_without_a_in_the_stderr_prefix_is_an_error_not_a_silent_fallback() {
        let m = PgAuditMapping::parse("[log]\nactor = \"application_name\"\n").expect("mapping");
        let line = b"2025-06-24 12:00:00.100 KST [42] app@shop LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<none>";
        let e = PgAuditDecoder::new(m)
            .decode(line, &mut Vec::new())
            .expect_err("no %a");
        assert!(e.to_string().contains("no %a"), "{e}");
    }

    #[test]
    fn zones_offsets_and_epochs() {
        let m = PgAuditMapping::parse("[zones]\nCST = \"+08:00\"\n").expect("mapping");
        let utc = m.time_ms("2025-06-24 03:12:45.120 UTC").expect("utc");
        assert_eq!(m.time_ms("2025-06-24 12:12:45.120 KST"), Ok(utc));
        assert_eq!(m.time_ms("2025-06-24 12:12:45.120 +09"), Ok(utc));
        assert_eq!(m.time_ms("2025-06-24 11:12:45.120 CST"), Ok(utc));
        assert!(m
            .time_ms("2025-06-24 12:12:45.120 XYZ")
            .expect_err("zone")
            .contains("[zones]"));
        assert!(m.time_ms("2025-13-24 12:12:45 UTC").is_err());
        assert_eq!(epoch_ms("1750734765.12"), Ok(1_750_734_765_120));
        assert_eq!(numeric_offset("-0330").as_deref(), Some("-03:30"));
        assert_eq!(numeric_offset("+99"), None);
        assert_eq!(strip_port("::1:5432"), "::1");
        assert_eq!(strip_port("[local]"), "[local]");
    }
}
