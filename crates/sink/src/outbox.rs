//! The outbox as the sinks see it: the events `suho_detect::AlertStore` commits with every
//! alert, and per sink, in the same database (`sink_state`), the cursor (the last event its
//! receiver acknowledged), how many it delivered, its consecutive failed attempts, when it is
//! retried, its last error and its last success.
//!
//! The cursor only moves forward, and only after a receiver acknowledged ([`Outbox::delivered`])
//! or past events the sink's `min_severity` leaves out ([`Pending::skip_to`]). Events every
//! configured sink has passed are deleted once older than [`KEEP_DELIVERED_DAYS`].

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use suho_detect::{Alert, AlertStore, OutboxKind};

use crate::config::{SinkConfig, Start};
use crate::SinkError;

/// Delivered events stay this many days (for a sink added later with `start = "oldest"`, and
/// for a look back), then go once every configured sink has passed them.
pub const KEEP_DELIVERED_DAYS: i64 = 7;

const STATE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sink_state (
    name TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_ms INTEGER,
    last_success_ms INTEGER,
    added_ms INTEGER NOT NULL
);
";

/// One event on its way to a sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its number in the outbox (commit order, never reused).
    pub seq: i64,
    /// Its id, the same on every attempt and for every sink: `msg_<database>_<seq>`. It is the
    /// `webhook-id`, the OCSF `metadata.uid` and the syslog `event_id`.
    pub uid: String,
    /// New alert or update.
    pub kind: OutboxKind,
    /// When the event was committed (epoch ms).
    pub created_ms: i64,
    /// The alert as it stood after the upsert.
    pub alert: Alert,
    /// The same alert as the JSON the store holds (contract section 3).
    pub json: String,
}

impl Event {
    /// `alert.created` or `alert.updated` (the Standard Webhooks `type`, the syslog MSGID).
    pub fn event_type(&self) -> &'static str {
        match self.kind {
            OutboxKind::Created => "alert.created",
            OutboxKind::Updated => "alert.updated",
        }
    }
}

/// A sink's delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SinkState {
    /// The last event passed (acknowledged, or left out by `min_severity`).
    pub cursor: i64,
    /// Events its receiver acknowledged, ever.
    pub delivered: u64,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// Not retried before this (epoch ms; 0 = now).
    pub next_attempt_ms: i64,
    /// The last failure, one sentence.
    pub last_error: Option<String>,
    /// When it failed (epoch ms).
    pub last_error_ms: Option<i64>,
    /// The last acknowledged delivery (epoch ms).
    pub last_success_ms: Option<i64>,
    /// When suho first delivered to it (epoch ms).
    pub added_ms: i64,
}

/// What a sink has to deliver next.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Events after its cursor that it takes, oldest first.
    pub events: Vec<Event>,
    /// When `events` is empty: the cursor may move here, past events the sink leaves out.
    pub skip_to: i64,
}

/// The outbox of `<data>/alerts.db` and the sinks' cursors.
pub struct Outbox {
    alerts: AlertStore,
    conn: Connection,
    path: PathBuf,
    instance: String,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Outbox {
    /// Opens the outbox of the data directory `data_dir` (creating the database when missing).
    pub fn open(data_dir: &Path) -> Result<Outbox, SinkError> {
        let path = data_dir.join(suho_detect::ALERTS_DB);
        let alerts = AlertStore::open(&path)?;
        let instance = alerts.outbox_instance()?;
        let err = |e: rusqlite::Error| SinkError::State {
            path: path.clone(),
            reason: e.to_string(),
        };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(STATE_SCHEMA).map_err(err)?;
        Ok(Outbox {
            alerts,
            conn,
            path,
            instance,
        })
    }

    fn err(&self, e: rusqlite::Error) -> SinkError {
        SinkError::State {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// How far the outbox goes: the newest event number and what it still holds.
    pub fn head(&self) -> Result<suho_detect::OutboxHead, SinkError> {
        Ok(self.alerts.outbox_head()?)
    }

    /// The id every attempt of event `seq` carries.
    pub fn uid(&self, seq: i64) -> String {
        format!("msg_{}_{seq}", self.instance)
    }

    /// The sink's state; `None` before suho first delivered to it.
    pub fn state(&self, sink: &str) -> Result<Option<SinkState>, SinkError> {
        self.conn
            .query_row(
                "SELECT cursor, delivered, attempts, next_attempt_ms, last_error, last_error_ms,
                        last_success_ms, added_ms
                 FROM sink_state WHERE name = ?1",
                params![sink],
                |r| {
                    Ok(SinkState {
                        cursor: r.get(0)?,
                        delivered: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                        attempts: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(u32::MAX),
                        next_attempt_ms: r.get(3)?,
                        last_error: r.get(4)?,
                        last_error_ms: r.get(5)?,
                        last_success_ms: r.get(6)?,
                        added_ms: r.get(7)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Where a sink seen for the first time starts: after the newest event (`start = "now"`)
    /// or before the oldest one held (`"oldest"`).
    fn start_cursor(&self, cfg: &SinkConfig) -> Result<i64, SinkError> {
        let head = self.alerts.outbox_head()?;
        Ok(match cfg.start() {
            Start::Now => head.newest,
            Start::Oldest => head.oldest.map_or(head.newest, |o| o - 1),
        })
    }

    /// The sink's state, created (at its start) when suho has not delivered to it before.
    pub fn register(&mut self, cfg: &SinkConfig) -> Result<SinkState, SinkError> {
        if let Some(s) = self.state(&cfg.name)? {
            return Ok(s);
        }
        let cursor = self.start_cursor(cfg)?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO sink_state (name, cursor, added_ms) VALUES (?1, ?2, ?3)",
                params![cfg.name, cursor, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        self.registered(&cfg.name)
    }

    fn registered(&self, sink: &str) -> Result<SinkState, SinkError> {
        self.state(sink)?.ok_or_else(|| SinkError::State {
            path: self.path.clone(),
            reason: format!("sink {sink:?} has no state row"),
        })
    }

    /// Up to `limit` events after the sink's cursor that it takes (registering it first).
    pub fn pending(&mut self, cfg: &SinkConfig, limit: usize) -> Result<Pending, SinkError> {
        let state = self.register(cfg)?;
        // The newest number first: every event up to it is committed, so when none of them is
        // for this sink, the cursor can pass them without skipping one committed meanwhile.
        let newest = self.alerts.outbox_head()?.newest;
        let rows = self
            .alerts
            .outbox_after(state.cursor, cfg.min_severity(), limit)?;
        let mut events = Vec::with_capacity(rows.len());
        for r in rows {
            let alert: Alert = serde_json::from_str(&r.json).map_err(|e| SinkError::Event {
                path: self.path.clone(),
                seq: r.seq,
                reason: format!("alert {} is not a valid alert: {e}", r.alert_id),
            })?;
            events.push(Event {
                seq: r.seq,
                uid: self.uid(r.seq),
                kind: r.kind,
                created_ms: r.created_ms,
                alert,
                json: r.json,
            });
        }
        Ok(Pending {
            events,
            skip_to: newest.max(state.cursor),
        })
    }

    /// The sink's receiver acknowledged `count` events up to and including number `through`.
    pub fn delivered(
        &mut self,
        sink: &str,
        through: i64,
        count: u64,
    ) -> Result<SinkState, SinkError> {
        self.conn
            .execute(
                "UPDATE sink_state SET cursor = max(cursor, ?2), delivered = delivered + ?3,
                        attempts = 0, next_attempt_ms = 0, last_success_ms = ?4
                 WHERE name = ?1",
                params![
                    sink,
                    through,
                    i64::try_from(count).unwrap_or(i64::MAX),
                    now_ms()
                ],
            )
            .map_err(|e| self.err(e))?;
        self.registered(sink)
    }

    /// Moves the cursor past events the sink leaves out (nothing was delivered).
    pub fn skip(&mut self, sink: &str, to: i64) -> Result<SinkState, SinkError> {
        self.conn
            .execute(
                "UPDATE sink_state SET cursor = max(cursor, ?2) WHERE name = ?1",
                params![sink, to],
            )
            .map_err(|e| self.err(e))?;
        self.registered(sink)
    }

    /// An attempt failed; the next one is not before `next_attempt_ms`.
    pub fn failed(
        &mut self,
        sink: &str,
        reason: &str,
        next_attempt_ms: i64,
    ) -> Result<SinkState, SinkError> {
        self.conn
            .execute(
                "UPDATE sink_state SET attempts = attempts + 1, next_attempt_ms = ?2,
                        last_error = ?3, last_error_ms = ?4
                 WHERE name = ?1",
                params![sink, next_attempt_ms, reason, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        self.registered(sink)
    }

    /// Events after the sink's cursor that it takes (for a sink not seen yet: from where it
    /// would start).
    pub fn pending_count(&self, cfg: &SinkConfig) -> Result<u64, SinkError> {
        let cursor = match self.state(&cfg.name)? {
            Some(s) => s.cursor,
            None => self.start_cursor(cfg)?,
        };
        Ok(self.alerts.outbox_count_after(cursor, cfg.min_severity())?)
    }

    /// Deletes events every configured sink has passed that are older than
    /// [`KEEP_DELIVERED_DAYS`]; returns how many went. With no sink configured, that is every
    /// event older than that.
    pub fn prune(&self, sinks: &[SinkConfig]) -> Result<u64, SinkError> {
        let mut through = self.alerts.outbox_head()?.newest;
        for s in sinks {
            if let Some(st) = self.state(&s.name)? {
                through = through.min(st.cursor);
            }
        }
        let before = now_ms() - KEEP_DELIVERED_DAYS * 86_400_000;
        Ok(self.alerts.prune_outbox(through, before)?)
    }
}

/// A sink as `suho sinks status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkStatus {
    /// Its name.
    pub name: String,
    /// `webhook`, `syslog` or `ocsf_file`.
    pub kind: &'static str,
    /// Where it delivers (no credentials).
    pub target: String,
    /// The alerts it takes.
    pub min_severity: suho_detect::Severity,
    /// Whether suho has started delivering to it (before that, it starts per `start`).
    pub started: bool,
    /// The last event passed.
    pub cursor: i64,
    /// Events its receiver acknowledged, ever.
    pub delivered: u64,
    /// Events waiting for it.
    pub pending: u64,
    /// Whether its last attempt failed.
    pub failing: bool,
    /// Failed attempts since the last success.
    pub attempts: u32,
    /// When it is retried (RFC 3339), while failing.
    pub next_attempt: Option<String>,
    /// The last failure, one sentence.
    pub last_error: Option<String>,
    /// When it failed (RFC 3339).
    pub last_error_at: Option<String>,
    /// The last acknowledged delivery (RFC 3339).
    pub last_success: Option<String>,
}

/// Every configured sink's status, in configuration order.
pub fn status(data_dir: &Path, sinks: &[SinkConfig]) -> Result<Vec<SinkStatus>, SinkError> {
    let outbox = Outbox::open(data_dir)?;
    let time = |ms: i64| suho_record::format_rfc3339_ms(ms);
    let mut out = Vec::with_capacity(sinks.len());
    for cfg in sinks {
        let state = outbox.state(&cfg.name)?;
        let pending = outbox.pending_count(cfg)?;
        let s = state.clone().unwrap_or_default();
        let failing = s.attempts > 0;
        out.push(SinkStatus {
            name: cfg.name.clone(),
            kind: cfg.kind.as_str(),
            target: cfg.target(),
            min_severity: cfg.min_severity(),
            started: state.is_some(),
            cursor: s.cursor,
            delivered: s.delivered,
            pending,
            failing,
            attempts: s.attempts,
            next_attempt: failing.then(|| time(s.next_attempt_ms)),
            last_error: s.last_error,
            last_error_at: s.last_error_ms.map(time),
            last_success: s.last_success_ms.map(time),
        });
    }
    Ok(out)
}
