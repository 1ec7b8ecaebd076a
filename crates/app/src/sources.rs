//! What the decoders could not map: requests whose route is not in a mapping's catalogue,
//! statements on tables a mapping does not name. They are stored like every record (nothing
//! is dropped) with `attrs.unmapped`, and listed here grouped by a template of their resource
//! (`GET /v1/customers/{}/orders`), with counts, so that a team sees which routes to add to its
//! mapping file and how much traffic each carries.
//!
//! The list is built by reading the write-ahead log once: `sources/unmapped.json` keeps the
//! groups and the ledger position read, so each run reads only what was stored since.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{App, AppError};

/// One kind of unmapped request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmappedGroup {
    /// The decoder that stored it (`attrs.source`).
    pub source: String,
    /// The resource with its identifier-like segments replaced by `{}`.
    pub template: String,
    /// Records stored.
    pub records: u64,
    /// Event time of the first and the last (RFC 3339).
    pub first_time: String,
    pub last_time: String,
    /// The ledger index of the first, to look at with `suho ledger show`.
    pub example_index: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    version: u32,
    /// Ledger records read.
    read_to: u64,
    groups: Vec<UnmappedGroup>,
}

const STATE_VERSION: u32 = 2;
const STATE_FILE: &str = "unmapped.json";

/// Whether a path segment names one thing (an id, a key, a hash) rather than a route part.
fn is_identifier(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    let digits = seg.bytes().filter(u8::is_ascii_digit).count();
    let hex = seg.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    // Digits that make up a third of a segment or more name one thing (c-000042, u8f3a91);
    // a digit or two in a word does not (v1, s3:GetObject, oauth2).
    digits == seg.len()
        || (hex && seg.len() >= 16)
        || (digits >= 3 && digits * 3 >= seg.len())
        || seg.contains('@')
}

/// The resource with its identifier-like segments (numbers, UUIDs, long hex, ids that mix
/// letters and digits, e-mail addresses) replaced by `{}`; a query string is dropped.
pub fn template_of(resource: &str) -> String {
    let resource = resource.split(['?', '#']).next().unwrap_or(resource);
    let (method, path) = match resource.split_once(' ') {
        Some((m, p)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => (Some(m), p),
        _ => (None, resource),
    };
    let mut out = String::with_capacity(resource.len());
    if let Some(m) = method {
        out.push_str(m);
        out.push(' ');
    }
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let decoded = seg.strip_prefix("c-").unwrap_or(seg);
        if is_identifier(seg) || (decoded != seg && is_identifier(decoded)) {
            out.push_str("{}");
        } else {
            out.push_str(seg);
        }
    }
    out
}

/// Read what was stored since the last run and return every group, most records first.
pub fn unmapped(app: &App) -> Result<Vec<UnmappedGroup>, AppError> {
    let dir = app.dir().sources_dir();
    let path = dir.join(STATE_FILE);
    let mut state: State = match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
            Ok(s) if s.version == STATE_VERSION => s,
            // A damaged or older summary is only a cache: read the log again.
            _ => State::default(),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(source) => return Err(AppError::Io { path, source }),
    };
    let mut groups: BTreeMap<(String, String), UnmappedGroup> = state
        .groups
        .drain(..)
        .map(|g| ((g.source.clone(), g.template.clone()), g))
        .collect();
    let mut read_to = state.read_to;
    let wal = app.dir().layout().wal();
    if wal.exists() {
        let finder = memchr::memmem::Finder::new(b"\"unmapped\":true");
        suho_ledger::WalReader::new(&wal).scan(state.read_to, |frame| {
            read_to = frame.index + 1;
            if finder.find(&frame.body).is_none() {
                return true;
            }
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&frame.body) else {
                return true;
            };
            if v["attrs"]["unmapped"] != serde_json::Value::Bool(true) {
                return true;
            }
            let source = v["attrs"]["source"].as_str().unwrap_or("?").to_string();
            let template = template_of(v["resource"].as_str().unwrap_or(""));
            // The contract allows RFC 3339 text or epoch milliseconds.
            let time = match &v["time"] {
                serde_json::Value::Number(n) => n
                    .as_i64()
                    .map(suho_record::format_rfc3339_ms)
                    .unwrap_or_default(),
                t => t.as_str().unwrap_or("").to_string(),
            };
            let g = groups
                .entry((source.clone(), template.clone()))
                .or_insert_with(|| UnmappedGroup {
                    source,
                    template,
                    records: 0,
                    first_time: time.clone(),
                    last_time: time.clone(),
                    example_index: frame.index,
                });
            g.records += 1;
            if time < g.first_time {
                g.first_time.clone_from(&time);
            }
            if time > g.last_time {
                g.last_time = time;
            }
            true
        })?;
    }
    let mut list: Vec<UnmappedGroup> = groups.into_values().collect();
    if read_to != state.read_to {
        std::fs::create_dir_all(&dir).map_err(|source| AppError::Io {
            path: dir.clone(),
            source,
        })?;
        let bytes = serde_json::to_vec(&State {
            version: STATE_VERSION,
            read_to,
            groups: list.clone(),
        })
        .map_err(|e| AppError::Refused(format!("cannot encode {}: {e}", path.display())))?;
        suho_durable::write_atomic(&path, &bytes)?;
    }
    list.sort_by(|a, b| b.records.cmp(&a.records).then(a.template.cmp(&b.template)));
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_become_placeholders_and_route_words_stay() {
        for (resource, template) in [
            (
                "GET /v1/customers/123/orders",
                "GET /v1/customers/{}/orders",
            ),
            (
                "GET /v1/orders/7f0c2a4e-1d3b-4c6f-9a8e-2b1d0c3e4f5a",
                "GET /v1/orders/{}",
            ),
            (
                "GET /v1/customers/c-000042?fields=all",
                "GET /v1/customers/{}",
            ),
            ("POST /v2/export/batch", "POST /v2/export/batch"),
            ("GET /users/kim@example.com", "GET /users/{}"),
            ("public.customers", "public.customers"),
            ("s3:GetBucketPolicy", "s3:GetBucketPolicy"),
            ("GET /v2/oauth2/token", "GET /v2/oauth2/token"),
            ("GET /v1/users/u8f3a91/keys", "GET /v1/users/{}/keys"),
        ] {
            assert_eq!(template_of(resource), template, "{resource}");
        }
    }
}
