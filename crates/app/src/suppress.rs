//! Analyst suppressions (`suho suppress`): "this rule, for this actor, network or resource, is
//! expected until then, because ...". Each addition and removal is recorded in the ledger
//! (who, why, what) before it takes effect, like an offboarding; the list lives in the data
//! directory (`suppressions.json`, [`crate::DataDir::suppressions`]), which detection reads
//! when it opens and again whenever the file changes (a running `suho serve` or
//! `suho ingest --follow` applies a change from its next records on).
//!
//! Policy: a suppression of a registry-fact rule (departed, suspended, revoked, forged, ...)
//! is refused unless forced, and even then a critical alert is never hidden (the detectors
//! leave every critical alert to the sinks). Suppressions apply by event time: to records
//! before their `until`.

use std::collections::HashMap;

use suho_detect::{Hidden, Rule, Suppression, SuppressionFile, Target};

use crate::own_use::{self, OwnUse, Recorded};
use crate::{App, AppError};

/// What `suho suppress add` asks for.
#[derive(Debug, Clone)]
pub struct NewSuppression {
    /// The rule to silence.
    pub rule: String,
    /// For whom or what.
    pub target: Target,
    /// Event time (epoch ms) from which it no longer applies.
    pub until_ms: i64,
    /// Why (required).
    pub reason: String,
    /// Suppress a registry-fact rule all the same.
    pub force: bool,
}

/// A suppression and what it hid.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The suppression.
    pub suppression: Suppression,
    /// The alerts stored hidden by it.
    pub hidden: Hidden,
}

fn load(app: &App) -> Result<SuppressionFile, AppError> {
    Ok(SuppressionFile::load(&app.dir().suppressions())?)
}

fn record(
    app: &App,
    operator: &str,
    what: &str,
    s: &Suppression,
    reason: &str,
) -> Result<Recorded, AppError> {
    let mut attrs = serde_json::json!({
        "suho_event": format!("suppress.{what}"),
        "suppression": s.id,
        "rule": s.rule,
        "until": s.until,
        "forced": s.forced,
    });
    attrs[s.target.kind()] = s.target.value().into();
    own_use::record(
        app,
        OwnUse {
            actor: operator,
            action: "update",
            resource: format!("suho suppress {what} {}", s.id),
            purpose: reason,
            subject_count: None,
            fields: Vec::new(),
            attrs,
        },
    )
}

/// Adds a suppression: checks it, records it in the ledger, then saves it (detection applies
/// it from then on).
pub fn add(
    app: &App,
    new: NewSuppression,
    operator: &str,
    now_ms: i64,
) -> Result<(Suppression, Recorded), AppError> {
    let rule: Rule = new.rule.parse().map_err(AppError::Refused)?;
    if new.reason.trim().is_empty() {
        return Err(AppError::Refused(
            "a suppression needs a --reason: the ledger records why alerts were hidden".into(),
        ));
    }
    if Suppression::needs_force(rule) && !new.force {
        return Err(AppError::Refused(format!(
            "{rule} states a registry fact (an access that should not be possible); suppress it \
             only with --force, and know that its critical alerts are never hidden"
        )));
    }
    if new.target.value().is_empty() {
        return Err(AppError::Refused(format!(
            "--{} must not be empty",
            new.target.kind()
        )));
    }
    let mut file = load(app)?;
    let mut s = Suppression {
        id: format!("sup-{}", file.next),
        rule: rule.as_str().to_string(),
        target: new.target,
        until: suho_record::format_rfc3339_ms(new.until_ms),
        reason: new.reason,
        added_by: operator.to_string(),
        added_at: suho_record::format_rfc3339_ms(now_ms),
        forced: new.force,
        ledger_index: None,
        removed_at: None,
        removed_by: None,
    };
    // Refuse what detection could not apply (a bad network) before anything is recorded.
    suho_detect::SuppressionMatcher::build(std::slice::from_ref(&s)).map_err(AppError::Refused)?;
    let recorded = record(app, operator, "add", &s, &s.reason.clone())?;
    if let Recorded::Ledger(i) = recorded {
        s.ledger_index = Some(i);
    }
    file.next += 1;
    file.suppressions.push(s.clone());
    file.save(&app.dir().suppressions())?;
    Ok((s, recorded))
}

/// Removes suppression `id` (it stays listed, marked removed, with what it hid): records the
/// removal in the ledger, then saves.
pub fn remove(
    app: &App,
    id: &str,
    reason: &str,
    operator: &str,
    now_ms: i64,
) -> Result<(Suppression, Recorded), AppError> {
    let mut file = load(app)?;
    let Some(pos) = file.suppressions.iter().position(|s| s.id == id) else {
        return Err(AppError::Refused(format!(
            "no suppression {id}: `suho suppress list --all` shows them"
        )));
    };
    if !file.suppressions[pos].active() {
        return Err(AppError::Refused(format!(
            "suppression {id} was already removed"
        )));
    }
    let recorded = record(app, operator, "remove", &file.suppressions[pos], reason)?;
    let s = &mut file.suppressions[pos];
    s.removed_at = Some(suho_record::format_rfc3339_ms(now_ms));
    s.removed_by = Some(operator.to_string());
    let s = s.clone();
    file.save(&app.dir().suppressions())?;
    Ok((s, recorded))
}

/// Every suppression (removed ones too when `all`), oldest first, with what each hid.
pub fn list(app: &App, all: bool) -> Result<Vec<Listed>, AppError> {
    let file = load(app)?;
    let mut hidden: HashMap<String, Hidden> = app.alerts()?.hidden()?;
    Ok(file
        .suppressions
        .into_iter()
        .filter(|s| all || s.active())
        .map(|s| Listed {
            hidden: hidden.remove(&s.id).unwrap_or_default(),
            suppression: s,
        })
        .collect())
}
