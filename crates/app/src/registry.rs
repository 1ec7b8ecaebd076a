//! The registry's lifecycle actions that carry policy: offboarding revokes everything a
//! principal held at once, and the decision is recorded in the ledger like any other access.

use suho_registry::OffboardReport;

use crate::own_use::{self, OwnUse, Recorded};
use crate::{App, AppError};

/// Offboard `principal` as of `at_ms` (revoking every credential and signing key it held),
/// then record the offboarding in the ledger (through the spool when another process holds it).
pub fn offboard(
    app: &App,
    principal: &str,
    at_ms: i64,
    operator: &str,
    now_ms: i64,
) -> Result<(OffboardReport, Recorded), AppError> {
    let mut store = app.registry()?;
    let r = store.offboard(principal, at_ms, operator, now_ms)?;
    let recorded = own_use::record(
        app,
        OwnUse {
            actor: operator,
            action: "update",
            resource: format!("suho registry offboard {}", r.principal),
            purpose: "offboarding: revoke everything the principal held",
            subject_count: None,
            fields: Vec::new(),
            attrs: serde_json::json!({
                "suho_event": "registry.offboard",
                "principal": r.principal,
                "departed_at": suho_record::format_rfc3339_ms(at_ms),
                "credentials_revoked": r.credentials_revoked,
                "keys_revoked": r.keys_revoked,
            }),
        },
    )?;
    Ok((r, recorded))
}
