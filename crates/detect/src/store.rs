//! Alerts and incidents in SQLite (`<data>/alerts.db`).
//!
//! An alert is stored once per id: a later emission of the same id (an update) replaces its
//! count, last time, summary and evidence, and its severity only ever rises. Each alert names
//! its incident (alerts about one actor, credential, key or source network); an incident's
//! first/last time and severity follow its alerts, and it stays `open` until someone closes it
//! (a new alert reopens it).
//!
//! **The outbox.** Every `upsert` call also appends, in the same transaction, one outbox event
//! per alert it touched: `created` when the alert was new, `updated` otherwise, carrying the
//! alert's JSON as it stands after the call. So an alert is never stored without its event,
//! and a crash loses neither. Events are numbered in commit order by SQLite `AUTOINCREMENT`:
//! a number is never reused, even after pruning, so a reader's cursor (the last number it
//! handled) never skips a later event. The sinks (`suho-sink`) read the outbox through
//! [`AlertStore::outbox_after`] and delete what every sink has delivered with
//! [`AlertStore::prune_outbox`].
//!
//! **Quiet alerts.** An emission hidden by an analyst's suppression (`suppressed_by`) or
//! folded into the daily digest as a routine low (`digest`) is stored like any other, but
//! appends no outbox event and touches no incident. If a later emission of the same alert is
//! no longer quiet (it rose to medium, or the suppression expired), its event is `created`:
//! the sinks never saw it before (the `announced` column remembers whether they did).
//!
//! **Schema history.** Columns added since the first version are added to an existing
//! database when it is opened (`ALTER TABLE ... ADD COLUMN`), keeping every row:
//! `emissions` (rows before it count as emitted once), then `updated_time_ms`,
//! `updated_index`, `high_since_ms`, `high_since_index` (NULL for rows stored before suho
//! kept them), `suppressed_by`, `digest` (NULL: not quiet) and `announced` (1 for older rows,
//! whose events were all written).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::alert::{Alert, Severity};
use crate::DetectError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    severity INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    last_time_ms INTEGER NOT NULL,
    actor TEXT,
    credential TEXT,
    incident TEXT NOT NULL,
    count INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts(time_ms);
CREATE INDEX IF NOT EXISTS alerts_by_incident ON alerts(incident);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    severity INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT OR IGNORE INTO outbox_meta (key, value) VALUES ('instance', lower(hex(randomblob(8))));
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    first_time_ms INTEGER NOT NULL,
    last_time_ms INTEGER NOT NULL,
    severity INTEGER NOT NULL
);
";

/// Which of the stored alerts a listing shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlertView {
    /// What the sinks get: neither suppressed nor in the digest (the default).
    #[default]
    Raised,
    /// Routine lows folded into the daily digest.
    Digest,
    /// Alerts a suppression hid.
    Suppressed,
    /// Everything stored.
    All,
}

/// One day's digest of routine lows for one rule (`suho alerts --digest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestEntry {
    /// The day (`YYYY-MM-DD`, home time).
    pub day: String,
    /// The rule.
    pub rule: String,
    /// Alerts folded in.
    pub alerts: u64,
    /// Records those alerts hold.
    pub records: u64,
    /// Whom they are about (`incident_of`), sorted.
    pub about: Vec<String>,
}

/// What one suppression hid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Hidden {
    /// Alerts it hides (stored, marked with it).
    pub alerts: u64,
    /// Records those alerts hold.
    pub records: u64,
    /// Event time (epoch ms) of the latest emission it hid.
    pub last_ms: Option<i64>,
}

/// Columns added to `alerts` after its first version, in order, with their declarations.
const ADDED_COLUMNS: [(&str, &str); 7] = [
    ("updated_time_ms", "INTEGER"),
    ("updated_index", "INTEGER"),
    ("high_since_ms", "INTEGER"),
    ("high_since_index", "INTEGER"),
    ("suppressed_by", "TEXT"),
    ("digest", "TEXT"),
    ("announced", "INTEGER NOT NULL DEFAULT 1"),
];

/// Which alerts to list. Empty filters select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// Raised (default), digest, suppressed or all.
    pub view: AlertView,
    /// Only alerts whose last record is at or after this event time (epoch ms).
    pub since_ms: Option<i64>,
    /// Only this rule.
    pub rule: Option<String>,
    /// Only this severity or higher.
    pub min_severity: Option<Severity>,
    /// Only alerts whose triggering record's actor is this.
    pub actor: Option<String>,
    /// At most this many (the earliest first).
    pub limit: Option<usize>,
}

/// Related alerts: everything raised about one actor, credential, key or source network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Stable id (`inc-` and 16 hex digits).
    pub id: String,
    /// What it is about: `actor:<id>`, `credential:<id>`, `signing_key:<id>` or `source:<net>`.
    pub subject: String,
    /// The actor, when the incident is about one.
    pub actor: Option<String>,
    /// The credential, when the incident is about one.
    pub credential: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    /// Event time of the first alert's triggering record (RFC 3339, UTC).
    pub first_time: String,
    /// Event time of the latest record folded into any of its alerts.
    pub last_time: String,
    /// The highest severity of its alerts.
    pub severity: Severity,
    /// Rules that fired, sorted.
    pub rules: Vec<String>,
    /// Its alerts' ids, earliest first.
    pub alert_ids: Vec<String>,
}

/// Whether an outbox event announces a new alert or a later state of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxKind {
    /// The upsert stored this alert id for the first time.
    Created,
    /// The alert was already stored; the event carries its state after the upsert.
    Updated,
}

impl OutboxKind {
    /// `created` or `updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Created => "created",
            OutboxKind::Updated => "updated",
        }
    }
}

/// One outbox event: an alert as it stood after one `upsert` call.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// Number in commit order, from 1; never reused.
    pub seq: i64,
    /// New alert or update.
    pub kind: OutboxKind,
    /// The alert's id.
    pub alert_id: String,
    /// The alert's severity after the upsert.
    pub severity: Severity,
    /// Wall-clock time the event was committed (epoch ms).
    pub created_ms: i64,
    /// The alert (contract section 3) as it stood after the upsert, as JSON.
    pub json: String,
}

/// How far the outbox goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxHead {
    /// The highest event number ever given (0 when none was), even if pruned since.
    pub newest: i64,
    /// The lowest event number still held, when any is.
    pub oldest: Option<i64>,
    /// Events held.
    pub events: u64,
}

/// Called after a commit that added outbox events (to wake a dispatcher).
pub type OutboxHook = Arc<dyn Fn() + Send + Sync>;

struct Hook(Option<OutboxHook>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(hook)"
        } else {
            "None"
        })
    }
}

/// The alert database.
#[derive(Debug)]
pub struct AlertStore {
    conn: Connection,
    path: PathBuf,
    hook: Hook,
}

fn ms(text: &str) -> i64 {
    suho_record::parse_rfc3339(text).unwrap_or(0)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A stored alert as it stands: its JSON, with the severity and count the row has reached
/// (an emission older than the stored one leaves the JSON but can still raise the severity).
fn as_stands(json: &str, severity: u8, count: i64, path: &Path) -> Result<Alert, DetectError> {
    let mut a: Alert = serde_json::from_str(json).map_err(|e| DetectError::Store {
        path: path.to_path_buf(),
        reason: format!("a stored alert is not valid JSON: {e}"),
    })?;
    a.severity = a.severity.max(Severity::from_rank(severity));
    a.count = a.count.max(u64::try_from(count).unwrap_or(0));
    Ok(a)
}

impl AlertStore {
    /// Opens (creating when missing) the store at `path`.
    pub fn open(path: &Path) -> Result<AlertStore, DetectError> {
        let err = |e: rusqlite::Error| DetectError::Store {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        // How many upsert calls touched the alert: 1 means the last one created it. Rows from
        // before the outbox existed count as emitted once.
        let has_emissions: bool = conn
            .query_row(
                "SELECT count(*) FROM pragma_table_info('alerts') WHERE name = 'emissions'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(err)?
            > 0;
        if !has_emissions {
            conn.execute_batch(
                "ALTER TABLE alerts ADD COLUMN emissions INTEGER NOT NULL DEFAULT 1",
            )
            .map_err(err)?;
        }
        for (column, decl) in ADDED_COLUMNS {
            let has: i64 = conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('alerts') WHERE name = ?1",
                    [column],
                    |r| r.get(0),
                )
                .map_err(err)?;
            if has == 0 {
                conn.execute_batch(&format!("ALTER TABLE alerts ADD COLUMN {column} {decl}"))
                    .map_err(err)?;
            }
        }
        conn.execute_batch(
            "CREATE INDEX IF NOT EXISTS alerts_by_suppression ON alerts(suppressed_by) WHERE suppressed_by IS NOT NULL;
             CREATE INDEX IF NOT EXISTS alerts_by_digest ON alerts(digest) WHERE digest IS NOT NULL;",
        )
        .map_err(err)?;
        Ok(AlertStore {
            conn,
            path: path.to_path_buf(),
            hook: Hook(None),
        })
    }

    /// Calls `hook` after every commit that added outbox events (`None` removes it).
    pub fn on_outbox(&mut self, hook: Option<OutboxHook>) {
        self.hook = Hook(hook);
    }

    fn err(&self, e: rusqlite::Error) -> DetectError {
        DetectError::Store {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Inserts or updates alerts (same id = update), in one transaction, with one outbox event
    /// per alert id (the alert as it stands after the call).
    pub fn upsert(&mut self, alerts: &[Alert]) -> Result<(), DetectError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |e: rusqlite::Error| DetectError::Store {
            path: path.clone(),
            reason: e.to_string(),
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO alerts (id, rule, severity, time_ms, last_time_ms, actor, credential, incident, count, json, emissions,
                                         updated_time_ms, updated_index, high_since_ms, high_since_index, suppressed_by, digest, announced)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?12, ?13, ?14, ?15, ?16, 0)
                     ON CONFLICT(id) DO UPDATE SET
                        json = CASE WHEN excluded.count >= alerts.count OR excluded.severity > alerts.severity
                                    THEN excluded.json ELSE alerts.json END,
                        updated_time_ms = CASE WHEN excluded.count >= alerts.count OR excluded.severity > alerts.severity
                                    THEN excluded.updated_time_ms ELSE alerts.updated_time_ms END,
                        updated_index = CASE WHEN excluded.count >= alerts.count OR excluded.severity > alerts.severity
                                    THEN excluded.updated_index ELSE alerts.updated_index END,
                        suppressed_by = CASE WHEN excluded.count >= alerts.count OR excluded.severity > alerts.severity
                                    THEN excluded.suppressed_by ELSE alerts.suppressed_by END,
                        digest = CASE WHEN excluded.count >= alerts.count OR excluded.severity > alerts.severity
                                    THEN excluded.digest ELSE alerts.digest END,
                        high_since_ms = CASE WHEN alerts.high_since_ms IS NULL
                                    THEN excluded.high_since_ms ELSE alerts.high_since_ms END,
                        high_since_index = CASE WHEN alerts.high_since_ms IS NULL
                                    THEN excluded.high_since_index ELSE alerts.high_since_index END,
                        severity = max(alerts.severity, excluded.severity),
                        last_time_ms = max(alerts.last_time_ms, excluded.last_time_ms),
                        count = max(alerts.count, excluded.count),
                        emissions = alerts.emissions + 1
                     RETURNING json, severity, count, announced, suppressed_by IS NOT NULL OR digest IS NOT NULL",
                )
                .map_err(err)?;
            let mut inc = tx
                .prepare_cached(
                    "INSERT INTO incidents (id, subject, status, first_time_ms, last_time_ms, severity)
                     VALUES (?1, ?2, 'open', ?3, ?4, ?5)
                     ON CONFLICT(id) DO UPDATE SET
                        status = 'open',
                        first_time_ms = min(incidents.first_time_ms, excluded.first_time_ms),
                        last_time_ms = max(incidents.last_time_ms, excluded.last_time_ms),
                        severity = max(incidents.severity, excluded.severity)",
                )
                .map_err(err)?;
            let mut seen = tx
                .prepare_cached("UPDATE alerts SET announced = 1 WHERE id = ?1")
                .map_err(err)?;
            // One event per alert id, in order of first appearance, with its final state.
            let mut events: Vec<(OutboxKind, &str, u8, String)> = Vec::new();
            let mut slot: HashMap<&str, usize> = HashMap::new();
            for a in alerts {
                let json = serde_json::to_string(a).map_err(|e| DetectError::Store {
                    path: path.clone(),
                    reason: format!("cannot encode alert {}: {e}", a.id),
                })?;
                let (t, last) = (ms(&a.time), ms(&a.last_time));
                let count = i64::try_from(a.count).unwrap_or(i64::MAX);
                let high = a.high_since();
                let index = |i: u64| i64::try_from(i).unwrap_or(i64::MAX);
                let (stored, severity, stored_count, announced, quiet): (
                    String,
                    u8,
                    i64,
                    bool,
                    bool,
                ) = put
                    .query_row(
                        params![
                            a.id,
                            a.rule,
                            a.severity.rank(),
                            t,
                            last,
                            a.actor,
                            a.credential,
                            a.incident,
                            count,
                            json,
                            a.updated.as_ref().map(|m| ms(&m.time)),
                            a.updated.as_ref().map(|m| index(m.ledger_index)),
                            high.map(|m| ms(&m.time)),
                            high.map(|m| index(m.ledger_index)),
                            a.suppressed_by,
                            a.digest,
                        ],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .map_err(err)?;
                if quiet {
                    // Stored, and listed by `suho alerts --digest` / `--suppressed`; not an
                    // incident's business, and not the sinks'.
                    continue;
                }
                inc.execute(params![
                    a.incident,
                    a.incident_of,
                    t,
                    last,
                    a.severity.rank()
                ])
                .map_err(err)?;
                // Usually the row now holds exactly this emission; otherwise say what it holds.
                let stands =
                    if stored == json && severity == a.severity.rank() && stored_count == count {
                        json
                    } else {
                        let now = as_stands(&stored, severity, stored_count, &path)?;
                        serde_json::to_string(&now).map_err(|e| DetectError::Store {
                            path: path.clone(),
                            reason: format!("cannot encode alert {}: {e}", a.id),
                        })?
                    };
                match slot.get(a.id.as_str()) {
                    Some(&k) => {
                        events[k].2 = severity;
                        events[k].3 = stands;
                    }
                    None => {
                        slot.insert(&a.id, events.len());
                        // The sinks never saw it (new, or quiet until now): they get it as new.
                        let kind = if announced {
                            OutboxKind::Updated
                        } else {
                            seen.execute(params![a.id]).map_err(err)?;
                            OutboxKind::Created
                        };
                        events.push((kind, &a.id, severity, stands));
                    }
                }
            }
            let mut ev = tx
                .prepare_cached(
                    "INSERT INTO outbox (kind, alert_id, severity, created_ms, json)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            let now = now_ms();
            for (kind, id, severity, json) in &events {
                ev.execute(params![kind.as_str(), id, severity, now, json])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        if let Some(hook) = &self.hook.0 {
            hook();
        }
        Ok(())
    }

    /// Outbox events after number `after` whose alert is at least `min_severity`, oldest
    /// first, at most `limit`.
    pub fn outbox_after(
        &self,
        after: i64,
        min_severity: Severity,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, DetectError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, kind, alert_id, severity, created_ms, json FROM outbox
                 WHERE seq > ?1 AND severity >= ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![
                    after,
                    min_severity.rank(),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, u8>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, kind, alert_id, severity, created_ms, json) = row.map_err(|e| self.err(e))?;
            let kind = match kind.as_str() {
                "created" => OutboxKind::Created,
                "updated" => OutboxKind::Updated,
                other => {
                    return Err(DetectError::Store {
                        path: self.path.clone(),
                        reason: format!("outbox event {seq} has an unknown kind {other:?}"),
                    })
                }
            };
            out.push(OutboxEvent {
                seq,
                kind,
                alert_id,
                severity: Severity::from_rank(severity),
                created_ms,
                json,
            });
        }
        Ok(out)
    }

    /// Number of outbox events after number `after` whose alert is at least `min_severity`.
    pub fn outbox_count_after(
        &self,
        after: i64,
        min_severity: Severity,
    ) -> Result<u64, DetectError> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE seq > ?1 AND severity >= ?2",
                params![after, min_severity.rank()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The newest event number ever given, and what the outbox still holds.
    pub fn outbox_head(&self) -> Result<OutboxHead, DetectError> {
        let newest: Option<i64> = self
            .conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let (oldest, events): (Option<i64>, i64) = self
            .conn
            .query_row("SELECT min(seq), count(*) FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.err(e))?;
        Ok(OutboxHead {
            newest: newest.unwrap_or(0),
            oldest,
            events: u64::try_from(events).unwrap_or(0),
        })
    }

    /// Deletes the events numbered up to `through` that were committed before `before_ms`
    /// (epoch ms); returns how many went. Numbers are never given again.
    pub fn prune_outbox(&self, through: i64, before_ms: i64) -> Result<u64, DetectError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM outbox WHERE seq <= ?1 AND created_ms < ?2",
                params![through, before_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }

    /// A random name for this alert database, made when its outbox was created: it tells
    /// events of this data directory from those of another (or of a recreated one) whose
    /// numbers are the same. Lower-case hex.
    pub fn outbox_instance(&self) -> Result<String, DetectError> {
        self.conn
            .query_row(
                "SELECT value FROM outbox_meta WHERE key = 'instance'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Alerts matching `filter`, earliest first.
    pub fn list(&self, filter: &AlertFilter) -> Result<Vec<Alert>, DetectError> {
        let mut sql = String::from("SELECT json, severity, count FROM alerts WHERE 1=1");
        sql.push_str(match filter.view {
            AlertView::Raised => " AND suppressed_by IS NULL AND digest IS NULL",
            AlertView::Digest => " AND digest IS NOT NULL",
            AlertView::Suppressed => " AND suppressed_by IS NOT NULL",
            AlertView::All => "",
        });
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = filter.since_ms {
            sql.push_str(" AND last_time_ms >= ?");
            args.push(s.into());
        }
        if let Some(r) = &filter.rule {
            sql.push_str(" AND rule = ?");
            args.push(r.clone().into());
        }
        if let Some(s) = filter.min_severity {
            sql.push_str(" AND severity >= ?");
            args.push(i64::from(s.rank()).into());
        }
        if let Some(a) = &filter.actor {
            sql.push_str(" AND actor = ?");
            args.push(a.clone().into());
        }
        sql.push_str(" ORDER BY time_ms, id");
        if let Some(n) = filter.limit {
            sql.push_str(" LIMIT ?");
            args.push(i64::try_from(n).unwrap_or(i64::MAX).into());
        }
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u8>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (json, sev, count) = row.map_err(|e| self.err(e))?;
            out.push(as_stands(&json, sev, count, &self.path)?);
        }
        Ok(out)
    }

    /// The alert with this id.
    pub fn get(&self, id: &str) -> Result<Option<Alert>, DetectError> {
        let json: Option<String> = self
            .conn
            .query_row("SELECT json FROM alerts WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| DetectError::Store {
                path: self.path.clone(),
                reason: format!("stored alert {id} is not valid JSON: {e}"),
            })
        })
        .transpose()
    }

    /// Incidents, most recently active first; `status` `Some("open")` lists open ones only.
    pub fn incidents(
        &self,
        status: Option<&str>,
        min_severity: Option<Severity>,
    ) -> Result<Vec<Incident>, DetectError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, subject, status, first_time_ms, last_time_ms, severity FROM incidents
                 WHERE (?1 IS NULL OR status = ?1) AND severity >= ?2
                 ORDER BY last_time_ms DESC, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![status, min_severity.map_or(0, Severity::rank)],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, u8>(5)?,
                    ))
                },
            )
            .map_err(|e| self.err(e))?;
        let mut members = self
            .conn
            .prepare(
                "SELECT id, rule FROM alerts WHERE incident = ?1
                 AND suppressed_by IS NULL AND digest IS NULL ORDER BY time_ms, id",
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, subject, status, first, last, sev) = row.map_err(|e| self.err(e))?;
            let mut alert_ids = Vec::new();
            let mut rules = Vec::new();
            let ms = members
                .query_map(params![id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(|e| self.err(e))?;
            for m in ms {
                let (aid, rule) = m.map_err(|e| self.err(e))?;
                alert_ids.push(aid);
                rules.push(rule);
            }
            rules.sort();
            rules.dedup();
            let part = |p: &str| subject.strip_prefix(p).map(str::to_string);
            out.push(Incident {
                actor: part("actor:"),
                credential: part("credential:"),
                id,
                subject: subject.clone(),
                status,
                first_time: suho_record::format_rfc3339_ms(first),
                last_time: suho_record::format_rfc3339_ms(last),
                severity: Severity::from_rank(sev),
                rules,
                alert_ids,
            });
        }
        Ok(out)
    }

    /// Sets an incident's status (`open` or `closed`); returns whether it exists.
    pub fn set_incident_status(&self, id: &str, status: &str) -> Result<bool, DetectError> {
        if status != "open" && status != "closed" {
            return Err(DetectError::Store {
                path: self.path.clone(),
                reason: format!("incident status must be \"open\" or \"closed\", not {status:?}"),
            });
        }
        let n = self
            .conn
            .execute(
                "UPDATE incidents SET status = ?2 WHERE id = ?1",
                params![id, status],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// The daily digest of routine lows, newest day first (`since_ms`: only days whose alerts
    /// reach that event time).
    pub fn digest(&self, since_ms: Option<i64>) -> Result<Vec<DigestEntry>, DetectError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT digest, rule, count(*), sum(count), group_concat(DISTINCT incident) FROM alerts
                 WHERE digest IS NOT NULL AND last_time_ms >= ?1
                 GROUP BY digest, rule ORDER BY digest DESC, rule",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![since_ms.unwrap_or(i64::MIN)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut about = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT json_extract(json, '$.incident_of') FROM alerts
                 WHERE digest = ?1 AND rule = ?2 ORDER BY 1",
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (day, rule, alerts, records) = row.map_err(|e| self.err(e))?;
            let who = about
                .query_map(params![day, rule], |r| r.get::<_, Option<String>>(0))
                .map_err(|e| self.err(e))?
                .filter_map(|x| x.transpose())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?;
            out.push(DigestEntry {
                day,
                rule,
                alerts: u64::try_from(alerts).unwrap_or(0),
                records: u64::try_from(records).unwrap_or(0),
                about: who,
            });
        }
        Ok(out)
    }

    /// What each suppression hides: alerts marked with its id, by id.
    pub fn hidden(&self) -> Result<HashMap<String, Hidden>, DetectError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT suppressed_by, count(*), sum(count), max(coalesce(updated_time_ms, last_time_ms))
                 FROM alerts WHERE suppressed_by IS NOT NULL GROUP BY suppressed_by",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for row in rows {
            let (id, alerts, records, last_ms) = row.map_err(|e| self.err(e))?;
            out.insert(
                id,
                Hidden {
                    alerts: u64::try_from(alerts).unwrap_or(0),
                    records: u64::try_from(records).unwrap_or(0),
                    last_ms,
                },
            );
        }
        Ok(out)
    }

    /// Number of stored alerts.
    pub fn count(&self) -> Result<u64, DetectError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
