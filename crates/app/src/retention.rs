//! Retention: the history keeps whole days for a period (PIPA asks at least one year, two for
//! large systems), the ledger drops the bodies of records past it while keeping every entry and
//! tile verifiable, and the deletion itself is recorded in the ledger.
//!
//! Steady retention deletes a small part. Deleting most of the history at once is what
//! happens to sample data from a past year, or with a wrong clock, so it is refused unless the
//! caller says it means it.

use suho_history::{History, PruneReport};
use suho_ledger::PrunePlan;

use crate::own_use::{self, OwnUse};
use crate::{App, AppError, During};

/// What a caller asks.
#[derive(Debug, Clone, Copy)]
pub struct PruneRequest<'a> {
    /// Days to keep, counted back from `now_ms`.
    pub keep_days: u32,
    /// "Now".
    pub now_ms: i64,
    /// Who runs it (recorded in the ledger).
    pub operator: &'a str,
    /// Delete even when more records would go than stay.
    pub allow_most: bool,
}

/// What a prune did.
#[derive(Debug)]
pub struct Pruned {
    /// The history's report (the day partitions deleted).
    pub history: PruneReport,
    /// The ledger's part: bodies removed, when there were whole segments to remove.
    pub ledger: Option<PrunePlan>,
    /// The ledger index of the record of this prune; None when there was nothing to prune.
    pub recorded_at: Option<u64>,
}

/// What a prune would delete, deleting nothing (the history is judged whole, so the caller
/// syncs it first).
pub fn preview(app: &App, keep_days: u32, now_ms: i64) -> Result<PruneReport, AppError> {
    Ok(History::prune_preview(
        app.dir().layout(),
        keep_days,
        now_ms,
    )?)
}

/// Prune the history and the ledger's bodies past the retention period and record it.
pub fn prune(app: &App, req: &PruneRequest<'_>) -> Result<Pruned, AppError> {
    let layout = app.dir().layout();
    let keep = req.keep_days;
    let preview = History::prune_preview(layout, keep, req.now_ms)?;
    if preview.records > preview.kept_records && !req.allow_most {
        return Err(AppError::Refused(format!(
            "refusing to delete most of the history: {} records are older than {} and only {} would remain (the retention period of {keep} days counts back from today). Run with --dry-run to see the days, or --yes if that is what you want",
            preview.records, preview.horizon, preview.kept_records
        )));
    }
    let r = History::prune(layout, keep, req.now_ms)?;
    // The ledger: whole write-ahead-log segments older than the horizon lose their bodies;
    // entries and tiles stay, so the log stays verifiable (C2SP minimum index).
    let horizon_ms = suho_history::parse_date(&r.horizon).unwrap_or(0) * 86_400_000;
    let mut ledger = app
        .open_ledger()
        .during("pruning the ledger (stop `suho serve` on this data directory first)")?;
    let plan = ledger.plan_prune(horizon_ms)?;
    if r.partitions.is_empty() && plan.is_none() {
        return Ok(Pruned {
            history: r,
            ledger: None,
            recorded_at: None,
        });
    }
    let min_index = plan.as_ref().map(|p| p.min_index);
    let index = own_use::record_in(
        app,
        &mut ledger,
        OwnUse {
            actor: req.operator,
            action: "delete",
            resource: "suho history prune".into(),
            purpose: "retention: the PIPA access-record retention period elapsed",
            subject_count: None,
            fields: Vec::new(),
            attrs: serde_json::json!({
                "suho_event": if plan.is_some() { "ledger.prune" } else { "history.prune" },
                "min_index": min_index,
                "keep_days": keep,
                "horizon": r.horizon,
                "history_records": r.records,
                "ledger_records": plan.as_ref().map_or(0, |p| p.records),
                "partitions": r.partitions.iter().map(|p| serde_json::json!({
                    "date": p.date, "records": p.records,
                    "first_index": p.first_index, "last_index": p.last_index,
                })).collect::<Vec<_>>(),
            }),
        },
    )?;
    if let Some(plan) = &plan {
        ledger.apply_prune(plan, index)?;
    }
    Ok(Pruned {
        history: r,
        ledger: plan,
        recorded_at: Some(index),
    })
}
