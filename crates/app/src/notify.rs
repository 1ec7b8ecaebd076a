//! Breach notices: every draft an incident's exact scope requires (PIPA Art. 34 notices and
//! the PIPC/KISA report, GDPR, California, the statutory exposure) and the per-subject mail-merge
//! list, from the incident's facts, the company's facts in `[company]`, and the templates the
//! company overrode. Everything that can be wrong with the configuration is found before the
//! scope is read, because reading it is recorded as an access to personal data.

use std::path::{Path, PathBuf};

use suho_notify::{
    draft_all, write_drafts, write_mail_merge_file, Facts, Stage, SubjectRow, Templates,
    FACTS_FILE, MAIL_MERGE_FILE,
};

use crate::scope::{incident_scope, IncidentScope};
use crate::{App, AppError};

/// What to draft.
#[derive(Debug, Clone, Default)]
pub struct NotifyRequest {
    /// The incident.
    pub incident: String,
    /// Where (default: `notices/<incident>/` in the data directory).
    pub out: Option<PathBuf>,
    /// When the company became aware (default: when suho raised the incident's first alert).
    pub aware_at_ms: Option<i64>,
    /// Which notice (default: update when a previous run's facts are in `out`, else first).
    pub stage: Option<Stage>,
    /// The access was unlawful access from outside, whatever the rules say.
    pub external: bool,
    /// Some subjects' contact details are missing.
    pub contacts_missing: bool,
    /// California residents among the subjects, if known.
    pub california_residents: Option<u64>,
    /// Why the scope is read (default: the PIPA Art. 34 notification of the incident).
    pub reason: Option<String>,
    /// Who runs it.
    pub operator: String,
}

/// What [`draft`] wrote.
pub struct Notified {
    /// The facts the drafts state.
    pub facts: Facts,
    /// The templates used.
    pub templates: Templates,
    /// The incident's scope (its reading is recorded in the ledger).
    pub scope: IncidentScope,
    /// The directory written.
    pub out: PathBuf,
    /// The drafts written.
    pub written: Vec<PathBuf>,
    /// Subjects in the mail-merge list.
    pub merged: u64,
    /// An update was asked for but no previous run is in `out` to compare with.
    pub no_previous: bool,
}

fn load_previous(out: &Path) -> Result<Option<Facts>, AppError> {
    let path = out.join(FACTS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(Facts::from_json(&text, &path.display().to_string())?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AppError::Io { path, source }),
    }
}

/// When suho raised the incident's first alert: the moment the company could know.
pub fn first_detected(app: &App, inc: &suho_detect::Incident) -> Result<i64, AppError> {
    let store = app.alerts()?;
    let mut first = None::<i64>;
    for id in &inc.alert_ids {
        if let Some(al) = store.get(id)? {
            if let Ok(ms) = suho_record::parse_rfc3339(&al.detected_at) {
                first = Some(first.map_or(ms, |f| f.min(ms)));
            }
        }
    }
    first.ok_or_else(|| {
        AppError::Refused(format!(
            "incident {}: no alert says when it was detected; give --aware-at",
            inc.id
        ))
    })
}

/// Draft every notice of `req.incident` (the history is brought up to the ledger first).
pub fn draft(app: &App, req: &NotifyRequest) -> Result<Notified, AppError> {
    let id = &req.incident;
    if id.is_empty() || id.contains(['/', '\\']) || id == "." || id == ".." {
        return Err(AppError::Refused(format!(
            "{id:?} is not an incident id (see `suho incidents`)"
        )));
    }
    let company = app.config()?.company.clone();
    let templates = Templates::load(&app.dir().notice_templates_dir())?;
    templates.check()?;
    let out = req
        .out
        .clone()
        .unwrap_or_else(|| app.dir().incident_notices_dir(id));
    let before = load_previous(&out)?;
    let stage = req.stage.unwrap_or(if before.is_some() {
        Stage::Update
    } else {
        Stage::First
    });
    let reason = req
        .reason
        .clone()
        .unwrap_or_else(|| format!("breach notification (PIPA Art. 34) for incident {id}"));
    crate::scope::sync_history(app, &mut |_| {})?;
    let scope = incident_scope(app, id, &req.operator, &reason)?;
    let inc = &scope.incident;
    let aware_at_ms = match req.aware_at_ms {
        Some(ms) => ms,
        None => first_detected(app, inc)?,
    };
    let s = &scope.summary;
    let facts = Facts {
        incident: inc.id.clone(),
        rules: inc.rules.clone(),
        severity: inc.severity.as_str().to_string(),
        selector: scope.selector_text.clone(),
        aware_at_ms,
        now_ms: suho_ledger::now_ms(),
        stage,
        subjects: s.subjects,
        unlisted_subjects: s.unlisted_subjects,
        records: s.records,
        fields: s.fields.clone(),
        first_access: s.first_access.clone(),
        last_access: s.last_access.clone(),
        countries: s.countries.iter().map(|c| c.id.clone()).collect(),
        credentials: s.credential_count,
        signing_keys: s.signing_keys.iter().map(|k| k.id.clone()).collect(),
        actors: s.actors.iter().map(|x| x.id.clone()).collect(),
        actor_count: s.actor_count,
        external: req.external,
        contacts_missing: req.contacts_missing,
        california_residents: req.california_residents,
        company,
        previous: match stage {
            Stage::First => None,
            _ => before.as_ref().map(Facts::as_previous),
        },
    };
    let drafts = draft_all(&facts, &templates)?;
    std::fs::create_dir_all(&out).map_err(|source| AppError::Io {
        path: out.clone(),
        source,
    })?;
    let rows = scope.subjects.iter().map(|x| SubjectRow {
        subject: x.subject,
        fields: x.fields,
        first_ms: x.first_ms,
        last_ms: x.last_ms,
        accesses: x.accesses,
    });
    let merged = write_mail_merge_file(&out.join(MAIL_MERGE_FILE), rows)?;
    let written = write_drafts(&out, &drafts)?;
    Ok(Notified {
        facts,
        templates,
        scope,
        out,
        written,
        merged,
        no_previous: stage == Stage::Update && before.is_none(),
    })
}
