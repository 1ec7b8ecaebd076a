//! Recording suho's own use of personal data (scope runs, evidence bundles, SQL, offboarding)
//! in the ledger, as access records like any other: who ran it, why, how many subjects and
//! which categories, never the subjects themselves (a SHA-256 of the result stands for them).

use std::path::PathBuf;

use rand::RngCore;
use suho_ledger::{Ledger, LedgerError, Prepared};

use crate::{App, AppError, During};

/// One use of suho's own powers over personal data.
pub struct OwnUse<'a> {
    /// Who ran it (see [`operator`]).
    pub actor: &'a str,
    /// Contract action: `search` for a scope or a query, `export` for a bundle or a list.
    pub action: &'a str,
    /// What was run, e.g. `suho scope`.
    pub resource: String,
    /// Why, as the operator said.
    pub purpose: &'a str,
    /// Number of data subjects in the result.
    pub subject_count: Option<u64>,
    /// Categories of personal information in the result.
    pub fields: Vec<String>,
    /// What else an auditor needs (selector, result hash, output file).
    pub attrs: serde_json::Value,
}

/// Where the record went.
pub enum Recorded {
    /// Appended and durable at this ledger index.
    Ledger(u64),
    /// Another process holds the ledger; spooled durably, it appends it within a second.
    Spooled(PathBuf),
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recorded::Ledger(i) => write!(f, "recorded in the ledger at index {i}"),
            Recorded::Spooled(p) => write!(
                f,
                "recorded in the own-use spool ({}); the process holding the ledger appends it",
                p.display()
            ),
        }
    }
}

/// The operator's name: `--as`, else `SUHO_OPERATOR`, else the login name, prefixed `suho:`
/// when taken from the operating system.
pub fn operator(explicit: Option<&str>) -> String {
    if let Some(a) = explicit.filter(|a| !a.is_empty()) {
        return a.to_string();
    }
    if let Ok(a) = std::env::var("SUHO_OPERATOR") {
        if !a.is_empty() {
            return a;
        }
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("os:{user}")
}

/// The record body of `u`, with a fresh id; returns (body, id, event time).
pub fn body_of(u: OwnUse<'_>) -> Result<(String, String, i64), AppError> {
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let id = format!("suho-own-{}", hex::encode(nonce));
    let mut body = serde_json::json!({
        "time": suho_record::format_rfc3339_ms(suho_ledger::now_ms()),
        "actor": u.actor,
        "action": u.action,
        "resource": u.resource,
        "purpose": u.purpose,
        "id": id,
        "attrs": u.attrs,
    });
    if let Some(n) = u.subject_count {
        body["subject_count"] = n.into();
    }
    if !u.fields.is_empty() {
        body["fields"] = u.fields.into();
    }
    let body = body.to_string();
    let rec = suho_record::parse_record(body.as_bytes())
        .map_err(|e| AppError::Refused(format!("suho's own-use record is invalid: {e}")))?;
    let time = rec.time_ms;
    Ok((body, id, time))
}

/// Append `u` to an open ledger of `app`, checkpoint it and run it through the detectors;
/// returns its index.
pub fn record_in(app: &App, ledger: &mut Ledger, u: OwnUse<'_>) -> Result<u64, AppError> {
    let (body, id, time) = body_of(u)?;
    suho_ingest::spool::drain(ledger)?;
    let p = Prepared::new(body.as_bytes(), time, Some(&id), suho_ledger::now_ms());
    let index = ledger.append(&p)?.index();
    ledger.checkpoint()?;
    // The detectors see suho's own use like any other access, now rather than at the next
    // ingest, so that nothing stored waits unseen (`suho status` would call that pending).
    app.open_detection(ledger)
        .during("running suho's own-use record through the detectors")?;
    Ok(index)
}

/// Record `u` in the ledger of `app` (or the spool when another process holds it).
pub fn record(app: &App, u: OwnUse<'_>) -> Result<Recorded, AppError> {
    match app.open_ledger() {
        Ok(mut ledger) => Ok(Recorded::Ledger(record_in(app, &mut ledger, u)?)),
        Err(AppError::Ledger(LedgerError::Locked { .. })) => {
            let (body, id, _) = body_of(u)?;
            let path = suho_ingest::spool::submit(app.dir().root(), &id, body.as_bytes())
                .during("spooling suho's own-use record")?;
            Ok(Recorded::Spooled(path))
        }
        Err(e) => Err(e).during("recording suho's own use in the ledger"),
    }
}
