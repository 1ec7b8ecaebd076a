//! The registry file (contract section 2) and the ground-truth file, written with serde: they
//! are small next to the records.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::event::{field, CredRef};
use crate::fmt::ipv4_string;
use crate::net::country_of;
use crate::render::{actor_string, customer_id, TruthAcc};
use crate::scenario::LabelKind;
use crate::time::{rfc3339, TimeStyle};
use crate::world::{cred_string, RegCred, World};

#[derive(Serialize)]
struct PrincipalLine<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    id: &'a str,
    kind: &'static str,
    status: &'static str,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    departed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suspended_at: Option<String>,
    countries: [&'static str; 1],
    networks: Vec<String>,
}

#[derive(Serialize)]
struct KeyLine<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    id: &'a str,
    owner: &'a str,
    status: &'static str,
    issuance: &'static str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    retired_at: Option<String>,
}

#[derive(Serialize)]
struct CredLine<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    id: String,
    principal: &'a str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_key: Option<&'a str>,
    issued_at: String,
    expires_at: String,
}

/// Lines written to the registry, by type.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RegistryCounts {
    pub principals: u64,
    pub signing_keys: u64,
    pub credentials: u64,
}

fn line<T: Serialize>(out: &mut dyn Write, v: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// Writes every principal, signing key and registered credential.
pub(crate) fn write_registry(
    world: &World,
    creds: &[RegCred],
    out: &mut dyn Write,
) -> io::Result<RegistryCounts> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let mut counts = RegistryCounts::default();
    let utc = |ms: i64| rfc3339(ms, TimeStyle::UtcSeconds);
    let kst = |ms: i64| rfc3339(ms, TimeStyle::KstSeconds);
    let mut order: Vec<usize> = (0..world.principals.len()).collect();
    order.sort_by(|&a, &b| world.principals[a].id.cmp(&world.principals[b].id));
    for i in order {
        let p = &world.principals[i];
        let status = if p.depart.is_some() {
            "departed"
        } else if p.suspend.is_some() {
            "suspended"
        } else {
            "active"
        };
        line(
            &mut out,
            &PrincipalLine {
                ty: "principal",
                id: &p.id,
                kind: p.kind.name(),
                status,
                role: p.role.name(),
                departed_at: p.depart.map(|c| kst(c.at_ms)),
                suspended_at: p.suspend.map(|c| kst(c.at_ms)),
                countries: ["KR"],
                networks: p.networks.iter().map(|n| n.to_string()).collect(),
            },
        )?;
        counts.principals += 1;
    }
    // The identity provider's account owns the token-signing keys; it reads no personal data
    // itself, but an owner missing from the registry would make every key look orphaned.
    if !world.principals.iter().any(|p| p.id == "svc-auth") {
        line(
            &mut out,
            &PrincipalLine {
                ty: "principal",
                id: "svc-auth",
                kind: "service",
                status: "active",
                role: "identity-provider",
                departed_at: None,
                suspended_at: None,
                countries: ["KR"],
                networks: vec!["10.100.0.0/16".to_string()],
            },
        )?;
        counts.principals += 1;
    }
    for k in &world.keys {
        line(
            &mut out,
            &KeyLine {
                ty: "signing_key",
                id: &k.id,
                owner: &k.owner,
                status: if k.retired_ms.is_some() {
                    "retired"
                } else {
                    "active"
                },
                issuance: k.issuance,
                created_at: utc(k.created_ms),
                retired_at: k.retired_ms.map(utc),
            },
        )?;
        counts.signing_keys += 1;
    }
    for (i, s) in world.services.iter().enumerate() {
        line(
            &mut out,
            &CredLine {
                ty: "credential",
                id: cred_string(world, CredRef::ApiKey(i as u32)),
                principal: &world.principals[s.principal as usize].id,
                kind: "api_key",
                signing_key: None,
                issued_at: utc(s.key_issued_ms),
                expires_at: utc(s.key_expires_ms),
            },
        )?;
        counts.credentials += 1;
    }
    let mut sorted: Vec<&RegCred> = creds.iter().collect();
    sorted.sort_by_key(|c| (c.issued_ms, c.token));
    for c in sorted {
        line(
            &mut out,
            &CredLine {
                ty: "credential",
                id: cred_string(world, CredRef::Token(c.token)),
                principal: &world.principals[c.principal as usize].id,
                kind: "access_token",
                signing_key: world.keys.get(c.key as usize).map(|k| k.id.as_str()),
                issued_at: utc(c.issued_ms),
                expires_at: utc(c.expires_ms),
            },
        )?;
        counts.credentials += 1;
    }
    out.flush()?;
    Ok(counts)
}

#[derive(Serialize)]
struct Window {
    start: String,
    end: String,
}

#[derive(Serialize)]
struct TruthLine<'a> {
    name: &'a str,
    scenario: &'a str,
    kind: &'static str,
    description: &'a str,
    principal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_severity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_severity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_malicious_time: Option<String>,
    first_time: Option<String>,
    last_time: Option<String>,
    records: u64,
    actors: Vec<&'a str>,
    credentials: Vec<&'a str>,
    signing_key: Option<&'a str>,
    signing_keys: Vec<&'a str>,
    src_ips: Vec<String>,
    countries: Vec<&'static str>,
    subjects_reached: u64,
    fields: BTreeMap<&'static str, u64>,
    subjects: Vec<String>,
    ids: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    windows: Vec<Window>,
}

/// Writes one ground-truth line per label; returns the number of lines.
pub(crate) fn write_truth(
    world: &World,
    truth: &[TruthAcc],
    out: &mut dyn Write,
) -> io::Result<u64> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let utc = |ms: i64| rfc3339(ms, TimeStyle::UtcMillis);
    let mut lines = 0;
    for (label, acc) in world.plan.labels.iter().zip(truth) {
        let attack = label.kind == LabelKind::Attack;
        let mut countries: Vec<&'static str> =
            acc.ips.iter().filter_map(|&ip| country_of(ip)).collect();
        countries.sort_unstable();
        countries.dedup();
        let sorted = |mut v: Vec<String>| {
            v.sort_unstable();
            v
        };
        let actors = sorted(acc.actors.iter().map(|&a| actor_string(world, a)).collect());
        let credentials = sorted(
            acc.credentials
                .iter()
                .map(|&c| cred_string(world, c))
                .collect(),
        );
        let keys = sorted(
            acc.keys
                .iter()
                .filter_map(|&k| world.keys.get(k as usize).map(|k| k.id.clone()))
                .collect(),
        );
        let fields = field::NAMES
            .iter()
            .zip(&acc.fields)
            .map(|(name, set)| (*name, set.len()))
            .filter(|(_, n)| *n > 0)
            .collect();
        line(
            &mut out,
            &TruthLine {
                name: label.name,
                scenario: label.scenario,
                kind: if attack { "attack" } else { "benign" },
                description: &label.description,
                principal: label.principal.as_deref(),
                min_severity: attack.then_some(label.severity),
                max_severity: (!attack).then_some(label.severity),
                first_malicious_time: if attack { acc.first.map(utc) } else { None },
                first_time: acc.first.map(utc),
                last_time: acc.last.map(utc),
                records: acc.records,
                actors: actors.iter().map(String::as_str).collect(),
                credentials: credentials.iter().map(String::as_str).collect(),
                signing_key: keys.first().map(String::as_str),
                signing_keys: keys.iter().map(String::as_str).collect(),
                src_ips: acc
                    .ips
                    .iter()
                    .filter(|&&ip| ip != 0)
                    .map(|&ip| ipv4_string(ip))
                    .collect(),
                countries,
                subjects_reached: acc.subjects.len(),
                fields,
                subjects: acc
                    .subjects
                    .iter()
                    .map(|c| customer_id(c, world.cust_width))
                    .collect(),
                ids: acc.ids.iter().map(String::as_str).collect(),
                windows: label
                    .windows
                    .iter()
                    .map(|&(s, e)| Window {
                        start: utc(s),
                        end: utc(e),
                    })
                    .collect(),
            },
        )?;
        lines += 1;
    }
    out.flush()?;
    Ok(lines)
}
