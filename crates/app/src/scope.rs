//! Which customers, which fields: the history brought up to the durable ledger, a selector
//! built from what a person names (an actor, a credential, an incident, an alert), the exact
//! scope, and the record of that use of personal data in the ledger.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;
use sha2::{Digest, Sha256};
use suho_detect::Incident;
use suho_history::{
    History, OutFormat, ScopeOptions, ScopeSummary, Selector, SubjectList, SyncProgress, SyncReport,
};

use crate::own_use::{self, OwnUse, Recorded};
use crate::recovery::{self, Recovered};
use crate::{App, AppError, During};

/// What a person names to select records; every part given must match.
#[derive(Debug, Clone, Default)]
pub struct SelectSpec {
    /// Accounts that acted.
    pub actors: Vec<String>,
    /// Credentials presented.
    pub credentials: Vec<String>,
    /// Keys that signed the credentials.
    pub signing_keys: Vec<String>,
    /// Source countries (ISO 3166 alpha-2).
    pub countries: Vec<String>,
    /// Source networks (CIDR) or single addresses.
    pub networks: Vec<String>,
    /// Event time at or after (RFC 3339 or YYYY-MM-DD).
    pub since: Option<String>,
    /// Event time before (RFC 3339 or YYYY-MM-DD).
    pub until: Option<String>,
    /// The records of this incident.
    pub incident: Option<String>,
    /// The records of this alert's subject since it fired.
    pub alert: Option<String>,
}

/// Bring the ledger's checkpoint and the detectors up to every durable record (after a crash
/// they lag until a writer opens the ledger), then the history up to the ledger. An answer from
/// the history that is called exact must cover every stored record; while another process
/// holds the ledger, it covers what that process has checkpointed, as the returned
/// [`Recovered`] says.
pub fn sync_history(
    app: &App,
    progress: &mut dyn FnMut(&SyncProgress),
) -> Result<(Recovered, SyncReport), AppError> {
    let recovered = recovery::recover(app).during("recovering the ledger before answering")?;
    let opts = suho_history::SyncOptions {
        country_of: country_lookup(app)?,
        ..Default::default()
    };
    let report = History::sync_with(app.dir().layout(), &opts, |p: &SyncProgress| progress(p))
        .during("syncing the history with the ledger")?;
    Ok((recovered, report))
}

/// The geo database as a country lookup, when `suho.toml` names one.
pub fn country_lookup(app: &App) -> Result<Option<suho_history::CountryLookup>, AppError> {
    Ok(app.config()?.geo.clone().map(|g| {
        let g = Arc::new(g);
        Arc::new(move |ip| g.country(ip)) as suho_history::CountryLookup
    }))
}

/// Scope options: the geo database for countries, the customer base for the share (given, or
/// `[company] customers` in `suho.toml`).
pub fn scope_options(app: &App, customers: Option<u64>) -> Result<ScopeOptions, AppError> {
    Ok(ScopeOptions {
        country_of: country_lookup(app)?,
        customers: customers.or(app.config()?.company.customers),
        ..ScopeOptions::default()
    })
}

fn time_arg(flag: &str, t: &str) -> Result<i64, AppError> {
    if let Some(day) = suho_history::parse_date(t) {
        return Ok(day * 86_400_000);
    }
    suho_record::parse_rfc3339(t).map_err(|e| {
        AppError::Refused(format!(
            "--{flag} {t:?}: {e} (use RFC 3339, e.g. 2025-06-24T00:00:00Z, or YYYY-MM-DD)"
        ))
    })
}

/// The selector of `spec` and a one-line description of it; an incident or alert named in it
/// becomes what it is about (a compromised signing key: everything the key signed; otherwise
/// its credential, actor or source network), from when it started.
pub fn selector(
    app: &App,
    spec: &SelectSpec,
) -> Result<(Selector, String, Option<Incident>), AppError> {
    let mut sel = Selector {
        actors: spec.actors.clone(),
        credentials: spec.credentials.clone(),
        signing_keys: spec.signing_keys.clone(),
        countries: spec.countries.clone(),
        ..Selector::default()
    };
    for c in &spec.networks {
        let net = c
            .parse::<IpNet>()
            .or_else(|_| c.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| {
                AppError::Refused(format!(
                    "--cidr {c:?} is neither a network (203.0.113.0/24) nor an address"
                ))
            })?;
        sel.networks.push(net);
    }
    let implicates_key = |rule: &str| {
        rule.parse::<suho_detect::Rule>()
            .is_ok_and(|r| r.implicates_signing_key())
    };
    let mut words = Vec::new();
    let mut incident = None;
    if spec.incident.is_some() || spec.alert.is_some() {
        let store = app.alerts()?;
        if let Some(id) = &spec.incident {
            let inc = store
                .incidents(None, None)?
                .into_iter()
                .find(|i| &i.id == id)
                .ok_or_else(|| {
                    AppError::Refused(format!("no incident {id:?} (see `suho incidents`)"))
                })?;
            let mut keys = Vec::new();
            for aid in &inc.alert_ids {
                if let Some(al) = store.get(aid)? {
                    if implicates_key(&al.rule) {
                        if let Some(k) = al.signing_key {
                            if !keys.contains(&k) {
                                keys.push(k);
                            }
                        }
                    }
                }
            }
            let (kind, value) = inc
                .subject
                .split_once(':')
                .unwrap_or(("actor", &inc.subject));
            if !keys.is_empty() {
                words.push(format!("signing key {}", keys.join(", ")));
                sel.signing_keys.extend(keys);
            } else {
                match kind {
                    "credential" => sel.credentials.push(value.to_string()),
                    "signing_key" => sel.signing_keys.push(value.to_string()),
                    "source" => sel.networks.push(value.parse::<IpNet>().map_err(|_| {
                        AppError::Refused(format!(
                            "incident {id}: source {value:?} is not a network"
                        ))
                    })?),
                    _ => sel.actors.push(value.to_string()),
                }
                words.push(format!("{} {value}", kind.replace('_', " ")));
            }
            sel.since_ms
                .get_or_insert(suho_record::parse_rfc3339(&inc.first_time).unwrap_or(0));
            if inc.status == "closed" {
                sel.until_ms
                    .get_or_insert(suho_record::parse_rfc3339(&inc.last_time).unwrap_or(0) + 1);
            }
            incident = Some(inc);
        }
        if let Some(id) = &spec.alert {
            let al = store
                .get(id)?
                .ok_or_else(|| AppError::Refused(format!("no alert {id:?} (see `suho alerts`)")))?;
            match (&al.signing_key, &al.credential, &al.actor) {
                (Some(k), _, _) if implicates_key(&al.rule) => {
                    words.push(format!("signing key {k}"));
                    sel.signing_keys.push(k.clone());
                }
                (_, Some(c), _) => {
                    words.push(format!("credential {c}"));
                    sel.credentials.push(c.clone());
                }
                (_, None, Some(actor)) => {
                    words.push(format!("actor {actor}"));
                    sel.actors.push(actor.clone());
                }
                _ => {}
            }
            sel.since_ms
                .get_or_insert(suho_record::parse_rfc3339(&al.time).unwrap_or(0));
        }
    }
    for (what, v) in [
        ("actor", &spec.actors),
        ("credential", &spec.credentials),
        ("signing key", &spec.signing_keys),
        ("country", &spec.countries),
        ("network", &spec.networks),
    ] {
        if !v.is_empty() {
            words.push(format!("{what} {}", v.join(", ")));
        }
    }
    if let Some(t) = &spec.since {
        sel.since_ms = Some(time_arg("since", t)?);
    }
    if let Some(t) = &spec.until {
        sel.until_ms = Some(time_arg("until", t)?);
    }
    let fmt = |ms: Option<i64>| ms.map_or("..".to_string(), suho_record::format_rfc3339_ms);
    if sel.since_ms.is_some() || sel.until_ms.is_some() {
        words.push(format!(
            "{} .. {}",
            fmt(sel.since_ms),
            sel.until_ms
                .map_or("now".to_string(), suho_record::format_rfc3339_ms)
        ));
    }
    let text = if words.is_empty() {
        "every record in the history".to_string()
    } else {
        words.join(", ")
    };
    Ok((sel, text, incident))
}

/// SHA-256 over the sorted subject ids (one per line): stands for the result in the ledger.
fn result_hash(list: Option<&SubjectList>) -> Option<String> {
    let list = list?;
    let mut h = Sha256::new();
    for s in list.iter() {
        h.update(s.subject.as_bytes());
        h.update(b"\n");
    }
    Some(hex::encode(h.finalize()))
}

/// The selector as JSON (for a scope's output and its own-use record).
pub fn selector_json(sel: &Selector) -> serde_json::Value {
    let fmt = |ms: Option<i64>| ms.map(suho_record::format_rfc3339_ms);
    serde_json::json!({
        "actors": sel.actors, "credentials": sel.credentials, "signing_keys": sel.signing_keys,
        "countries": sel.countries,
        "networks": sel.networks.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "since": fmt(sel.since_ms), "until": fmt(sel.until_ms),
    })
}

/// Who ran what, why: the part of an own-use record that is not the scope.
#[derive(Debug, Clone, Copy)]
pub struct Use<'a> {
    /// Who ran it.
    pub operator: &'a str,
    /// Why.
    pub reason: &'a str,
    /// The command, e.g. `suho scope`.
    pub what: &'a str,
    /// `search` or `export`.
    pub action: &'a str,
}

/// Record a scope run (or an evidence bundle, a notice) in the ledger: who, why, how many
/// subjects, which categories, and a hash standing for the subjects, never the subjects.
pub fn record_scope_use(
    app: &App,
    u: &Use<'_>,
    sel: &Selector,
    summary: &ScopeSummary,
    list: Option<&SubjectList>,
    extra: serde_json::Value,
) -> Result<Recorded, AppError> {
    own_use::record(
        app,
        OwnUse {
            actor: u.operator,
            action: u.action,
            resource: u.what.to_string(),
            purpose: u.reason,
            subject_count: Some(summary.subjects),
            fields: summary.fields.keys().cloned().collect(),
            attrs: serde_json::json!({
                "suho_event": u.what.replace(' ', "."),
                "selector": selector_json(sel),
                "records": summary.records,
                "result_sha256": result_hash(list),
                "extra": extra,
            }),
        },
    )
}

/// A scope to run.
#[derive(Debug, Clone)]
pub struct ScopeRequest<'a> {
    /// Which records.
    pub select: SelectSpec,
    /// The customer base, for the share (default: `[company] customers`).
    pub customers: Option<u64>,
    /// Write the per-subject list here, in this format.
    pub out: Option<(PathBuf, OutFormat)>,
    /// Who runs it and why.
    pub operator: &'a str,
    /// Why.
    pub reason: &'a str,
}

/// A scope's answer.
pub struct ScopeRun {
    /// The selector that ran.
    pub selector: Selector,
    /// It in words.
    pub text: String,
    /// The exact counts.
    pub summary: ScopeSummary,
    /// Subjects written to the `out` file, when one was asked for.
    pub written: Option<(PathBuf, u64)>,
    /// Where the record of this use went.
    pub recorded: Recorded,
    /// Seconds the scan took.
    pub seconds: f64,
    /// What the registry says of the selected actors, version by version, oldest first
    /// (`valid_from`: from when each held). Records were judged against the version of their
    /// time.
    pub registry: Vec<suho_registry::Principal>,
}

/// Run a scope over the history, brought up to the ledger first (a caller that wants to show
/// that work syncs before; this then finds nothing new), and record the use.
pub fn run(app: &App, req: &ScopeRequest<'_>) -> Result<ScopeRun, AppError> {
    let (selector, text, _) = self::selector(app, &req.select)?;
    sync_history(app, &mut |_| {})?;
    let opts = scope_options(app, req.customers)?;
    let layout = app.dir().layout();
    let started = Instant::now();
    let (summary, list) = if req.out.is_some() {
        let (s, l) = suho_history::scope_subjects(layout, &selector, &opts)?;
        (s, Some(l))
    } else {
        (suho_history::scope(layout, &selector, &opts)?, None)
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut written = None;
    if let (Some((out, format)), Some(l)) = (&req.out, &list) {
        let n = l.write(out, *format)?;
        written = Some((out.clone(), n));
    }
    let recorded = record_scope_use(
        app,
        &Use {
            operator: req.operator,
            reason: req.reason,
            what: "suho scope",
            action: if written.is_some() {
                "export"
            } else {
                "search"
            },
        },
        &selector,
        &summary,
        list.as_ref(),
        serde_json::json!({ "out": written.as_ref().map(|(p, _)| p.display().to_string()) }),
    )?;
    let registry = actor_versions(app, &selector)?;
    Ok(ScopeRun {
        selector,
        text,
        summary,
        written,
        recorded,
        seconds,
        registry,
    })
}

/// An incident's exact scope, for evidence and notices.
pub struct IncidentScope {
    /// The incident.
    pub incident: Incident,
    /// What it selects.
    pub selector: Selector,
    /// That in words.
    pub selector_text: String,
    /// The exact counts.
    pub summary: ScopeSummary,
    /// Every subject.
    pub subjects: SubjectList,
    /// Where the record of this use went.
    pub recorded: Recorded,
    /// What the registry says of the selected actors, version by version (see
    /// [`ScopeRun::registry`]).
    pub registry: Vec<suho_registry::Principal>,
}

/// Every registry version of the actors `sel` names, actor by actor, oldest first.
fn actor_versions(app: &App, sel: &Selector) -> Result<Vec<suho_registry::Principal>, AppError> {
    if sel.actors.is_empty() {
        return Ok(Vec::new());
    }
    let store = app.registry()?;
    let mut out = Vec::new();
    for a in &sel.actors {
        out.extend(store.principal_versions(a)?);
    }
    Ok(out)
}

/// Scope an incident over the history, brought up to the ledger first; the run is recorded in
/// the ledger as an access by `operator`, with `reason`.
pub fn incident_scope(
    app: &App,
    incident: &str,
    operator: &str,
    reason: &str,
) -> Result<IncidentScope, AppError> {
    let spec = SelectSpec {
        incident: Some(incident.to_string()),
        ..SelectSpec::default()
    };
    let (selector, selector_text, inc) = self::selector(app, &spec)?;
    let incident = inc.ok_or_else(|| AppError::Refused(format!("no incident {incident:?}")))?;
    sync_history(app, &mut |_| {})?;
    let opts = scope_options(app, None)?;
    let (summary, subjects) = suho_history::scope_subjects(app.dir().layout(), &selector, &opts)?;
    let recorded = record_scope_use(
        app,
        &Use {
            operator,
            reason,
            what: "suho scope",
            action: "search",
        },
        &selector,
        &summary,
        Some(&subjects),
        serde_json::json!({ "incident": incident.id }),
    )?;
    let registry = actor_versions(app, &selector)?;
    Ok(IncidentScope {
        incident,
        selector,
        selector_text,
        summary,
        subjects,
        recorded,
        registry,
    })
}
