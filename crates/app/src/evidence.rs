//! Evidence bundles: an incident's exact scope, its records with the tiles and checkpoints an
//! investigator verifies offline, and the record of this export of personal data in the ledger.

use std::path::Path;
use std::sync::Arc;

use suho_evidence::{write_bundle, BundleInput, BundleReport};

use crate::own_use::Recorded;
use crate::scope::{incident_scope, record_scope_use, IncidentScope, Use};
use crate::{App, AppError, During};

/// What [`bundle`] wrote.
pub struct Bundled {
    /// The incident's scope (its selection is recorded in the ledger too).
    pub scope: IncidentScope,
    /// The bundle.
    pub report: BundleReport,
    /// Where the record of the export went.
    pub recorded: Recorded,
}

/// Write the evidence bundle of `incident` to `out` (the history must be synced first), and
/// record the scope run and the export.
pub fn bundle(
    app: &App,
    incident: &str,
    out: &Path,
    operator: &str,
    reason: &str,
) -> Result<Bundled, AppError> {
    let scope = incident_scope(app, incident, operator, reason)?;
    let config = app.config()?;
    let geo = config.geo.clone().map(Arc::new);
    let lookup = geo.map(|g| move |ip| g.country(ip));
    let lookup_ref: Option<&suho_evidence::CountryOf> =
        lookup.as_ref().map(|f| f as &suho_evidence::CountryOf);
    let about = serde_json::json!({
        "incident": scope.incident,
        "selection": scope.selector_text,
        "scope": scope.summary,
        "created_at": suho_record::format_rfc3339_ms(suho_ledger::now_ms()),
        "created_by": operator,
        "reason": reason,
    });
    let report = write_bundle(
        app.dir().layout(),
        &BundleInput {
            indexes: scope.subjects.record_indexes(),
            about,
            country_of: lookup_ref,
            home_countries: config.detect.home_countries.clone(),
        },
        out,
    )
    .during(format!("writing the evidence bundle {}", out.display()))?;
    let recorded = record_scope_use(
        app,
        &Use {
            operator,
            reason,
            what: "suho evidence",
            action: "export",
        },
        &scope.selector,
        &scope.summary,
        Some(&scope.subjects),
        serde_json::json!({"incident": scope.incident.id, "out": out.display().to_string()}),
    )?;
    Ok(Bundled {
        scope,
        report,
        recorded,
    })
}
