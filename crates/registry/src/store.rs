//! The registry's persistent store: `<data>/registry.db`, SQLite in WAL mode.
//!
//! Three tables hold the current version of every principal, signing key and credential, one
//! typed column per field, so the snapshot taken at ingest start decodes no JSON. The
//! `history` table holds every grant, change, revocation and offboarding as it was recorded,
//! with the record before and after as JSON (PIPA safety standard Art. 5(3) asks for three
//! years; nothing here ever deletes a history row). A load or an offboarding is one
//! transaction: it is applied entirely or not at all.
//!
//! Built for million-line loads (a credential per issued token):
//! - the record tables are keyed by id (`WITHOUT ROWID`) and each batch of 16,384 records is
//!   written in id order, so a record costs one b-tree write in a page that is likely cached;
//! - history carries no index, so each history row is one append: every record row points at
//!   its newest history row (`last_seq`), every history row at the one before it for the
//!   same record (`prev_seq`), and `recorded_at` never decreases along `seq`, so a time
//!   filter is a binary search over `seq`;
//! - into an empty table, ids are known to be new without asking SQLite;
//! - the caller's thread reads and parses while a second thread writes.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, Type, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Statement, TransactionBehavior};
use serde::{Serialize, Serializer};
use suho_record::{LineItem, LineReader, MAX_LINE_BYTES};

use crate::model::{
    parse_registry_line, Credential, CredentialKind, Issuance, KeyStatus, Millis, Principal,
    PrincipalKind, PrincipalStatus, RegistryRecord, SigningKey,
};
use crate::{Registry, RegistryError};

/// File name of the store inside the data directory.
pub const REGISTRY_DB_FILE: &str = "registry.db";

/// Version of the schema below, kept in SQLite's `user_version`. Version 2 added
/// `valid_from` to the record tables (version 1 files gain the column, NULL, when opened).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS principal (
    id           TEXT NOT NULL PRIMARY KEY,
    last_seq     INTEGER NOT NULL,  -- newest history row of this record
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    role         TEXT,
    departed_at  INTEGER,
    suspended_at INTEGER,
    countries    TEXT,  -- JSON array, NULL when empty
    networks     TEXT,  -- JSON array of CIDRs, NULL when empty
    valid_from   INTEGER  -- event time this version holds from; NULL: every time
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signing_key (
    id         TEXT NOT NULL PRIMARY KEY,
    last_seq   INTEGER NOT NULL,
    owner      TEXT,
    status     TEXT NOT NULL,
    issuance   TEXT NOT NULL,
    created_at INTEGER,
    retired_at INTEGER,
    revoked_at INTEGER,
    valid_from INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS signing_key_owner ON signing_key (owner);
CREATE TABLE IF NOT EXISTS credential (
    id          TEXT NOT NULL PRIMARY KEY,
    last_seq    INTEGER NOT NULL,
    principal   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    signing_key TEXT,
    issued_at   INTEGER,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    valid_from  INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    seq         INTEGER PRIMARY KEY,  -- rows are never deleted, so seq only grows
    recorded_at INTEGER NOT NULL,     -- wall clock, epoch ms; never decreases along seq
    source      TEXT NOT NULL,
    type        TEXT NOT NULL,
    id          TEXT NOT NULL,
    change      TEXT NOT NULL,
    prev_seq    INTEGER,              -- previous history row of the same record
    before      TEXT,                 -- registry line (times in epoch ms), NULL when new
    after       TEXT NOT NULL         -- registry line (times in epoch ms)
);
";

/// Record columns in the order [`Stored::from_row`] reads them.
const PRINCIPAL_COLUMNS: &str = "SELECT last_seq, id, kind, status, role, departed_at, \
                                 suspended_at, countries, networks, valid_from FROM principal";
const KEY_COLUMNS: &str = "SELECT last_seq, id, owner, status, issuance, created_at, \
                           retired_at, revoked_at, valid_from FROM signing_key";
const CREDENTIAL_COLUMNS: &str = "SELECT last_seq, id, principal, kind, signing_key, \
                                  issued_at, expires_at, revoked_at, valid_from FROM credential";

const HISTORY_COLUMNS: &str =
    "SELECT seq, recorded_at, source, type, id, change, prev_seq, before, after FROM history";

/// The registry on disk, with its history.
#[derive(Debug)]
pub struct RegistryStore {
    conn: Connection,
    path: PathBuf,
}

/// What one [`RegistryStore::load`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// Records whose `(type, id)` was new.
    pub inserted: u64,
    /// Records that replaced a different version (changes and revocations).
    pub updated: u64,
    /// Records identical to what the registry already held.
    pub unchanged: u64,
    /// Lines that would have undone or postponed a departure or revocation the registry
    /// already held (an older export loaded after an offboarding): the rest of the line was
    /// applied, the departure or revocation kept. 1-based line number and what was kept.
    pub kept_ends: Vec<(u64, String)>,
    /// Lines that loaded but deserve a look (see [`RegistryRecord::timeless_end`]): 1-based
    /// line number and why.
    pub warnings: Vec<(u64, String)>,
    /// Lines that were not loaded: 1-based line number and a reason a person can act on.
    pub rejected: Vec<(u64, String)>,
    /// The earliest `valid_from` of the lines loaded, if any carried one. Detection judges
    /// records stored from now on against the registry as it stood at their time; records
    /// already stored were judged when they were stored and are not judged again.
    #[serde(serialize_with = "ser_opt_time")]
    pub earliest_valid_from: Option<Millis>,
}

/// What a history row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A record with a new `(type, id)`: a principal, key or credential came into being.
    Granted,
    /// A record was replaced by a different version that is neither a revocation nor a
    /// departure.
    Changed,
    /// A credential gained `revoked_at`, or a signing key became revoked.
    Revoked,
    /// A principal became departed.
    Offboarded,
}

/// Which history rows [`RegistryStore::history`] returns; every field left `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// Only this record type: `principal`, `signing_key` or `credential`.
    pub type_: Option<String>,
    /// Only records with this id.
    pub id: Option<String>,
    /// Only rows recorded at or after this wall-clock time (epoch ms).
    pub since: Option<Millis>,
    /// At most this many rows (the newest ones).
    pub limit: Option<usize>,
}

/// One history row: a grant, change, revocation or offboarding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryRow {
    /// Position in the history; grows with every row.
    pub seq: i64,
    /// Wall-clock time the change was recorded (epoch ms; RFC 3339 in JSON).
    #[serde(serialize_with = "ser_time")]
    pub recorded_at: Millis,
    /// Where the change came from: the loaded file's name, or `offboard by <operator>`.
    pub source: String,
    /// Record type: `principal`, `signing_key` or `credential`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Record id.
    pub id: String,
    /// What happened.
    pub change: ChangeKind,
    /// The record before, as a registry line; `null` for a new record.
    pub before: Option<serde_json::Value>,
    /// The record after, as a registry line.
    pub after: serde_json::Value,
    /// The event time from which the version after holds (its line's `valid_from`); absent
    /// when it holds at every time.
    #[serde(
        serialize_with = "ser_opt_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_from: Option<Millis>,
}

/// What [`RegistryStore::offboard`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffboardReport {
    /// The principal.
    pub principal: String,
    /// The departure time given (event time; RFC 3339 in JSON).
    #[serde(serialize_with = "ser_time")]
    pub at: Millis,
    /// Whether the registry already had the principal departed at or before `at`, in which
    /// case that earlier departure was kept.
    pub already_departed: bool,
    /// Credentials revoked now, by id.
    pub credentials_revoked: Vec<String>,
    /// Signing keys revoked now, by id.
    pub keys_revoked: Vec<String>,
    /// Credentials, then signing keys, that were already revoked at or before `at` and were
    /// left as they were.
    pub already_revoked: Vec<String>,
}

/// Why an orphan's owner no longer answers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerStatus {
    /// The owner has left.
    Departed,
    /// The owner is suspended.
    Suspended,
    /// The owner named by the record is not in the registry.
    NotRegistered,
    /// A signing key with no owner recorded.
    NoOwner,
}

/// A credential or signing key that still works although nobody present answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// `credential` or `signing_key`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Its id.
    pub id: String,
    /// The owner the registry names (credential `principal`, key `owner`).
    pub owner: Option<String>,
    /// Why that owner does not answer for it.
    pub owner_status: OwnerStatus,
    /// When the owner departed, if recorded (RFC 3339 in JSON).
    #[serde(serialize_with = "ser_opt_time")]
    pub owner_departed_at: Option<Millis>,
    /// When the owner was suspended, if recorded (RFC 3339 in JSON).
    #[serde(serialize_with = "ser_opt_time")]
    pub owner_suspended_at: Option<Millis>,
    /// When it stops working by itself: a credential's `expires_at`, a key's scheduled
    /// retirement or revocation; `null` when never.
    #[serde(serialize_with = "ser_opt_time")]
    pub valid_until: Option<Millis>,
}

impl RegistryStore {
    /// Opens `<data_dir>/registry.db`, creating the directory, the file (mode 0600) and the
    /// schema when missing, in WAL journal mode.
    pub fn open(data_dir: &Path) -> Result<RegistryStore, RegistryError> {
        fs::create_dir_all(data_dir).map_err(|source| RegistryError::Io {
            path: data_dir.to_path_buf(),
            op: "create the data directory",
            source,
        })?;
        let path = data_dir.join(REGISTRY_DB_FILE);
        create_private(&path)?;
        let conn = Connection::open(&path).map_err(db_err(&path, "open"))?;
        let store = RegistryStore { conn, path };
        store.configure()?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A number that changes whenever another connection (another `suho` process: a load, an
    /// offboarding) commits to the registry: SQLite's `PRAGMA data_version`, one cheap query.
    /// A long-running reader compares it to decide when to take a fresh [`snapshot`].
    ///
    /// [`snapshot`]: RegistryStore::snapshot
    pub fn data_version(&self) -> Result<i64, RegistryError> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(db_err(&self.path, "read the data version"))
    }

    fn configure(&self) -> Result<(), RegistryError> {
        let (conn, path) = (&self.conn, self.path.as_path());
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err(path, "set busy timeout"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(db_err(path, "switch to WAL journal mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(RegistryError::Unusable {
                path: path.to_path_buf(),
                detail: format!("SQLite refused WAL journal mode (got {mode:?})"),
            });
        }
        // History is audit evidence: a committed load survives power loss.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err(path, "set synchronous"))?;
        // Up to 256 MiB of page cache (taken only as pages are touched) keeps the record
        // tables in memory during a million-line load.
        conn.pragma_update(None, "cache_size", -262_144)
            .map_err(db_err(path, "set cache size"))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db_err(path, "read schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(RegistryError::SchemaTooNew {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        // Immediate: two processes opening a version 1 file at once do not both alter it.
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .map_err(db_err(path, "begin schema update"))?;
        tx.execute_batch(SCHEMA)
            .map_err(db_err(path, "create schema"))?;
        if version < 2 {
            for table in [Principal::TYPE, SigningKey::TYPE, Credential::TYPE] {
                let has: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = 'valid_from')",
                        [table],
                        |r| r.get(0),
                    )
                    .map_err(db_err(path, "read the schema"))?;
                if !has {
                    tx.execute_batch(&format!(
                        "ALTER TABLE {table} ADD COLUMN valid_from INTEGER"
                    ))
                    .map_err(db_err(path, "add valid_from to a version 1 registry"))?;
                }
            }
        }
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(db_err(path, "write schema version"))?;
        tx.commit().map_err(db_err(path, "commit schema"))?;
        Ok(())
    }

    /// Upserts every registry line read from `reader` (contract section 2), in one
    /// transaction. `source` names the input in history rows (a file name, `-`); `now_ms` is
    /// the wall-clock time recorded there. Blank lines are skipped; a bad line is reported in
    /// [`LoadReport::rejected`] and the others still load. A record identical to the stored
    /// one writes no history. An I/O error while reading `reader` or a database error aborts
    /// the whole load and leaves the registry as it was.
    pub fn load(
        &mut self,
        reader: impl BufRead,
        source: &str,
        now_ms: Millis,
    ) -> Result<LoadReport, RegistryError> {
        let RegistryStore { conn, path } = self;
        let path = path.as_path();
        // This thread reads and parses; a second one writes. Parsing is a third of the work,
        // so on two cores a load takes about as long as its SQLite writes alone.
        std::thread::scope(|scope| {
            let (to_writer, batches) = mpsc::sync_channel(2);
            let writer = scope.spawn(move || write_batches(conn, path, source, now_ms, batches));
            let mut rejected = Vec::new();
            let read = read_batches(reader, source, &mut rejected, &to_writer);
            drop(to_writer);
            let written = match writer.join() {
                Ok(written) => written,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            read?;
            // The writer sees the end of the input whenever reading succeeded, so `None`
            // (rolled back) cannot follow a successful read; it is reported, not assumed.
            let mut report = written?.ok_or_else(|| RegistryError::Unusable {
                path: path.to_path_buf(),
                detail: "the load stopped before the end of its input; nothing was loaded".into(),
            })?;
            report.rejected = rejected;
            Ok(report)
        })
    }

    /// The current registry, read in one consistent view.
    pub fn snapshot(&self) -> Result<Registry, RegistryError> {
        let path = self.path.as_path();
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(db_err(path, "begin snapshot"))?;
        let (principals, timed_principals) = read_map(&tx, path)?;
        let (keys, timed_keys) = read_map(&tx, path)?;
        let (credentials, timed_credentials) = read_map(&tx, path)?;
        let mut reg = Registry {
            principals,
            keys,
            credentials,
            ..Registry::default()
        };
        // Records whose current version carries `valid_from` may have versions before it:
        // their history rows, replayed in order, rebuild the timeline (the current version
        // comes out of the replay as it is stored).
        let op = "read the versions of records with valid_from";
        let mut by_seq = tx.prepare(HISTORY_CHAIN).map_err(db_err(path, op))?;
        replay::<Principal>(&mut reg, timed_principals, &mut by_seq, path)?;
        replay::<SigningKey>(&mut reg, timed_keys, &mut by_seq, path)?;
        replay::<Credential>(&mut reg, timed_credentials, &mut by_seq, path)?;
        drop(by_seq);
        Ok(reg)
    }

    /// Every version of the principal `id`, oldest first (empty when the registry does not
    /// hold it): what the registry said of it from each `valid_from` on, as detection judged
    /// its records (see [`Registry`]).
    pub fn principal_versions(&self, id: &str) -> Result<Vec<Principal>, RegistryError> {
        let path = self.path.as_path();
        let op = "read the versions of a principal";
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(db_err(path, op))?;
        let found: Option<Found<Principal>> = tx
            .query_row(
                &format!("{PRINCIPAL_COLUMNS} WHERE id = ?1"),
                [id],
                Found::from_row,
            )
            .optional()
            .map_err(db_err(path, op))?;
        let Some(found) = found else {
            return Ok(Vec::new());
        };
        let mut reg = Registry::default();
        reg.principals.insert(id.to_string(), found.rec);
        if reg.principals[id].valid_from.is_some() {
            let mut by_seq = tx.prepare(HISTORY_CHAIN).map_err(db_err(path, op))?;
            replay::<Principal>(
                &mut reg,
                vec![(id.to_string(), found.last_seq)],
                &mut by_seq,
                path,
            )?;
        }
        Ok(reg.principal_versions(id).into_iter().cloned().collect())
    }

    /// Offboards `principal` as of event time `at_ms`: marks it departed, revokes every
    /// credential it owns (`revoked_at = at_ms`) and every signing key it owns (status
    /// revoked, `revoked_at = at_ms`), in one transaction. A departure or revocation already
    /// recorded at or before `at_ms` is kept: moving it later would make the accesses in
    /// between look legitimate. History rows name `offboard by <operator>` as their source and
    /// carry wall-clock `now_ms`.
    pub fn offboard(
        &mut self,
        principal: &str,
        at_ms: Millis,
        operator: &str,
        now_ms: Millis,
    ) -> Result<OffboardReport, RegistryError> {
        let RegistryStore { conn, path } = self;
        let path = path.as_path();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err(path, "begin offboarding"))?;
        let report = {
            let source = format!("offboard by {operator}");
            let mut st = Statements::prepare(&tx, &source, now_ms)
                .map_err(db_err(path, "prepare offboarding"))?;
            let person: Found<Principal> = Principal::get(&mut st, principal)
                .map_err(db_err(path, "read the principal"))?
                .ok_or_else(|| RegistryError::UnknownPrincipal {
                    id: principal.to_string(),
                })?;
            let mut report = OffboardReport {
                principal: principal.to_string(),
                at: at_ms,
                already_departed: departed_by(&person.rec, at_ms),
                credentials_revoked: Vec::new(),
                keys_revoked: Vec::new(),
                already_revoked: Vec::new(),
            };
            if !report.already_departed {
                let mut after = person.rec.clone();
                after.status = PrincipalStatus::Departed;
                after.departed_at = Some(at_ms);
                st.replace(&person, &after, ChangeKind::Offboarded)
                    .map_err(db_err(path, "mark the principal departed"))?;
            }

            // Offboarding is rare: a scan of the credentials is cheaper overall than an index
            // on `principal` that every load would have to maintain.
            let creds: Vec<Found<Credential>> = query_all(
                &tx,
                &format!("{CREDENTIAL_COLUMNS} WHERE principal = ?1 ORDER BY id"),
                principal,
            )
            .map_err(db_err(path, "read the principal's credentials"))?;
            for cred in creds {
                if cred.rec.revoked_at.is_some_and(|r| r <= at_ms) {
                    report.already_revoked.push(cred.rec.id);
                    continue;
                }
                let mut after = cred.rec.clone();
                after.revoked_at = Some(at_ms);
                st.replace(&cred, &after, ChangeKind::Revoked)
                    .map_err(|e| {
                        store_err(path, format!("revoke credential {:?}", cred.rec.id), e)
                    })?;
                report.credentials_revoked.push(after.id);
            }

            let keys: Vec<Found<SigningKey>> = query_all(
                &tx,
                &format!("{KEY_COLUMNS} WHERE owner = ?1 ORDER BY id"),
                principal,
            )
            .map_err(db_err(path, "read the principal's signing keys"))?;
            let mut keys_already = Vec::new();
            for key in keys {
                if key_revoked_by(&key.rec, at_ms) {
                    keys_already.push(key.rec.id);
                    continue;
                }
                let mut after = key.rec.clone();
                after.status = KeyStatus::Revoked;
                after.revoked_at = Some(at_ms);
                st.replace(&key, &after, ChangeKind::Revoked).map_err(|e| {
                    store_err(path, format!("revoke signing key {:?}", key.rec.id), e)
                })?;
                report.keys_revoked.push(after.id);
            }
            report.already_revoked.extend(keys_already);
            report
        };
        tx.commit().map_err(db_err(path, "commit offboarding"))?;
        Ok(report)
    }

    /// Credentials and signing keys that still work at wall-clock `now_ms` (credential: not
    /// revoked, not expired; key: active) although their owner is departed or suspended at
    /// `now_ms`, is not in the registry, or (for a key) is not recorded at all. Sorted by
    /// owner, type and id.
    pub fn orphans(&self, now_ms: Millis) -> Result<Vec<Orphan>, RegistryError> {
        let path = self.path.as_path();
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(db_err(path, "begin orphan search"))?;
        let (principals, _): (HashMap<String, Principal>, _) = read_map(&tx, path)?;
        let judge = |owner: Option<&str>| -> Option<(OwnerStatus, Option<&Principal>)> {
            let Some(owner) = owner else {
                return Some((OwnerStatus::NoOwner, None));
            };
            match principals.get(owner) {
                None => Some((OwnerStatus::NotRegistered, None)),
                Some(p) => match p.status_at(now_ms) {
                    PrincipalStatus::Active => None,
                    PrincipalStatus::Departed => Some((OwnerStatus::Departed, Some(p))),
                    PrincipalStatus::Suspended => Some((OwnerStatus::Suspended, Some(p))),
                },
            }
        };
        let orphan =
            |type_, id: &str, owner: Option<&str>, status, p: Option<&Principal>, until| Orphan {
                type_,
                id: id.to_string(),
                owner: owner.map(str::to_string),
                owner_status: status,
                owner_departed_at: p.and_then(|p| p.departed_at),
                owner_suspended_at: p.and_then(|p| p.suspended_at),
                valid_until: until,
            };
        let mut out = Vec::new();
        {
            // Same test as `Credential::validity_at`: revoked from `revoked_at` on, expired
            // from `expires_at` on.
            let op = "read credentials";
            let mut stmt = tx
                .prepare(
                    "SELECT id, principal, expires_at FROM credential
                     WHERE (revoked_at IS NULL OR revoked_at > ?1)
                       AND (expires_at IS NULL OR expires_at > ?1)",
                )
                .map_err(db_err(path, op))?;
            let mut rows = stmt.query([now_ms]).map_err(db_err(path, op))?;
            while let Some(row) = rows.next().map_err(db_err(path, op))? {
                let owner = text(row, 1).map_err(db_err(path, op))?;
                if let Some((status, p)) = judge(Some(owner)) {
                    let id = text(row, 0).map_err(db_err(path, op))?;
                    let until: Option<Millis> = row.get(2).map_err(db_err(path, op))?;
                    out.push(orphan("credential", id, Some(owner), status, p, until));
                }
            }
        }
        let (keys, _): (HashMap<String, SigningKey>, _) = read_map(&tx, path)?;
        for k in keys.values() {
            // A retired key signs nothing new but still verifies the tokens it signed, so it
            // is an open door until revoked, like an active one.
            let now_status = k.status_at(now_ms);
            if now_status == KeyStatus::Revoked {
                continue;
            }
            if let Some((status, p)) = judge(k.owner.as_deref()) {
                // Not revoked now, so any revocation recorded is still ahead (and a retirement
                // still ahead for an active key).
                let until = match now_status {
                    KeyStatus::Active => [k.retired_at, k.revoked_at].into_iter().flatten().min(),
                    _ => k.revoked_at,
                };
                out.push(orphan(
                    "signing_key",
                    &k.id,
                    k.owner.as_deref(),
                    status,
                    p,
                    until,
                ));
            }
        }
        out.sort_by(|a, b| (&a.owner, a.type_, &a.id).cmp(&(&b.owner, b.type_, &b.id)));
        Ok(out)
    }

    /// History rows matching `filter`, newest first.
    pub fn history(&self, filter: HistoryFilter) -> Result<Vec<HistoryRow>, RegistryError> {
        let path = self.path.as_path();
        let op = "read history";
        let types: &[&'static str] = match filter.type_.as_deref() {
            None => &[Principal::TYPE, SigningKey::TYPE, Credential::TYPE],
            Some("principal") => &[Principal::TYPE],
            Some("signing_key") => &[SigningKey::TYPE],
            Some("credential") => &[Credential::TYPE],
            Some(t) => {
                return Err(RegistryError::Invalid(format!(
                    "unknown record type {t:?}: expected principal, signing_key or credential"
                )))
            }
        };
        let limit = filter.limit.unwrap_or(usize::MAX);
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(db_err(path, "begin history read"))?;
        let first_seq = match filter.since {
            Some(since) => first_seq_since(&tx, since).map_err(db_err(path, op))?,
            None => i64::MIN,
        };

        let Some(id) = &filter.id else {
            let only_type = match types {
                [t] => Some(*t),
                _ => None,
            };
            // SQLite reads a negative LIMIT as "no limit".
            let limit = i64::try_from(limit).unwrap_or(-1);
            let mut stmt = tx
                .prepare(&format!(
                    "{HISTORY_COLUMNS} WHERE seq >= ?1 AND (?2 IS NULL OR type = ?2)
                     ORDER BY seq DESC LIMIT ?3"
                ))
                .map_err(db_err(path, op))?;
            let rows = stmt
                .query_map(params![first_seq, only_type, limit], |r| {
                    history_row(r).map(|(row, _)| row)
                })
                .map_err(db_err(path, op))?;
            return rows
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err(path, op));
        };

        // One record's history: follow its chain from the newest row back.
        let mut out = Vec::new();
        let mut by_seq = tx
            .prepare(&format!("{HISTORY_COLUMNS} WHERE seq = ?1"))
            .map_err(db_err(path, op))?;
        for t in types {
            let last: Option<i64> = tx
                .query_row(
                    &format!("SELECT last_seq FROM {t} WHERE id = ?1"),
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err(path, op))?;
            let mut next = last;
            while let Some(seq) = next.filter(|&s| s >= first_seq) {
                let (row, prev) = by_seq
                    .query_row([seq], history_row)
                    .map_err(db_err(path, op))?;
                out.push(row);
                next = prev;
            }
        }
        out.sort_by_key(|row| std::cmp::Reverse(row.seq));
        out.truncate(limit);
        Ok(out)
    }
}

/// What the reading thread of a load sends the writing thread.
enum ToWriter {
    /// Parsed records with their line numbers, in file order.
    Batch(Vec<(u64, RegistryRecord)>),
    /// The input ended: commit. Without it the load is rolled back.
    End,
}

/// Reads and parses `reader`, sending batches of records to the writer and collecting
/// rejected lines. Stops early, without error, if the writer has stopped (its error is the
/// one to report).
fn read_batches(
    reader: impl BufRead,
    source: &str,
    rejected: &mut Vec<(u64, String)>,
    to_writer: &mpsc::SyncSender<ToWriter>,
) -> Result<(), RegistryError> {
    let mut lines = LineReader::new(reader);
    let mut last_line = 0u64;
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    loop {
        let item = match lines.next_line() {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(e) => {
                return Err(RegistryError::Read {
                    source_name: source.to_string(),
                    after_line: last_line,
                    source: e,
                })
            }
        };
        match item {
            LineItem::TooLong { number, bytes } => {
                last_line = number;
                rejected.push((
                    number,
                    format!("line is {bytes} bytes, over the {MAX_LINE_BYTES}-byte limit"),
                ));
            }
            LineItem::Line { number, bytes } => {
                last_line = number;
                match parse_registry_line(bytes) {
                    Ok(rec) => batch.push((number, rec)),
                    Err(e) => rejected.push((number, line_reason(&e))),
                }
                if batch.len() == LOAD_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
                    if to_writer.send(ToWriter::Batch(full)).is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
    // A failed send means the writer has stopped; it reports why.
    if to_writer.send(ToWriter::Batch(batch)).is_ok() {
        let _ = to_writer.send(ToWriter::End);
    }
    Ok(())
}

/// Writes the batches a load's reader sends, in one transaction that commits only when the
/// reader says the input ended. `Ok(None)`: the reader stopped early and nothing was written.
fn write_batches(
    conn: &mut Connection,
    path: &Path,
    source: &str,
    now_ms: Millis,
    batches: mpsc::Receiver<ToWriter>,
) -> Result<Option<LoadReport>, RegistryError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err(path, "begin load"))?;
    let mut report = LoadReport::default();
    {
        let mut st =
            Statements::prepare(&tx, source, now_ms).map_err(db_err(path, "prepare load"))?;
        loop {
            match batches.recv() {
                Ok(ToWriter::Batch(mut batch)) => st.apply(&mut batch, &mut report, path)?,
                Ok(ToWriter::End) => break,
                // Dropping the transaction rolls it back.
                Err(mpsc::RecvError) => return Ok(None),
            }
        }
    }
    tx.commit().map_err(db_err(path, "commit load"))?;
    Ok(Some(report))
}

/// Creates the database file with mode 0600 if it does not exist yet (SQLite gives its
/// `-wal` and `-shm` files the same mode).
fn create_private(path: &Path) -> Result<(), RegistryError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .map(drop)
        .map_err(|source| RegistryError::Io {
            path: path.to_path_buf(),
            op: "create the registry database",
            source,
        })
}

/// The first `seq` recorded at or after `since`, found by binary search: `recorded_at`
/// never decreases along `seq` (see [`Statements::prepare`]).
fn first_seq_since(conn: &Connection, since: Millis) -> rusqlite::Result<i64> {
    let (lo, hi): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT min(seq), max(seq) FROM history", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(mut lo), Some(max)) = (lo, hi) else {
        return Ok(i64::MAX);
    };
    let mut hi = max + 1;
    let mut at_or_after =
        conn.prepare("SELECT seq, recorded_at FROM history WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    // Invariant: every row before `lo` is older than `since`; the row at `hi`, if any, is not.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (seq, at): (i64, Millis) =
            at_or_after.query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if at >= since {
            hi = mid;
        } else {
            lo = seq + 1;
        }
    }
    Ok(lo)
}

/// Decodes a row selected with `HISTORY_COLUMNS`, with its `prev_seq`.
fn history_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(HistoryRow, Option<i64>)> {
    let (after, valid_from) = history_line(r, 8)?.unwrap_or((serde_json::Value::Null, None));
    let row = HistoryRow {
        seq: r.get(0)?,
        recorded_at: r.get(1)?,
        source: r.get(2)?,
        type_: r.get(3)?,
        id: r.get(4)?,
        change: r.get(5)?,
        before: history_line(r, 7)?.map(|(v, _)| v),
        after,
        valid_from,
    };
    Ok((row, r.get(6)?))
}

/// `(id, last_seq)` of records whose current version carries `valid_from`.
type Timed = Vec<(String, i64)>;

/// Every record of one table, by id, and the `(id, last_seq)` of those whose current version
/// carries `valid_from`.
fn read_map<T: Stored>(
    conn: &Connection,
    path: &Path,
) -> Result<(HashMap<String, T>, Timed), RegistryError> {
    let op = T::READ_ALL;
    let count: i64 = conn
        .query_row(&format!("SELECT count(*) FROM {}", T::TYPE), [], |r| {
            r.get(0)
        })
        .map_err(db_err(path, op))?;
    let mut map = HashMap::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut timed = Vec::new();
    let mut stmt = conn.prepare(T::SELECT).map_err(db_err(path, op))?;
    let mut rows = stmt.query([]).map_err(db_err(path, op))?;
    while let Some(row) = rows.next().map_err(db_err(path, op))? {
        let found = Found::<T>::from_row(row).map_err(db_err(path, op))?;
        if found.rec.valid_from().is_some() {
            timed.push((found.rec.id().to_string(), found.last_seq));
        }
        map.insert(found.rec.id().to_string(), found.rec);
    }
    Ok((map, timed))
}

/// One history row's link to the one before it and the record after it.
const HISTORY_CHAIN: &str = "SELECT prev_seq, after FROM history WHERE seq = ?1";

/// The versions a record's history rows hold, newest first, from row `last_seq` back to the
/// newest row without `valid_from` (which held at every time, so nothing before it matters;
/// included) or the record's first row. `by_seq` is [`HISTORY_CHAIN`] prepared.
fn history_chain(
    by_seq: &mut Statement<'_>,
    last_seq: i64,
) -> rusqlite::Result<Vec<RegistryRecord>> {
    let mut out = Vec::new();
    let mut next = Some(last_seq);
    while let Some(seq) = next {
        let (prev, rec) = by_seq.query_row([seq], |r| {
            let rec = parse_registry_line(text(r, 1)?.as_bytes())
                .map_err(|e| conversion_failure(1, e.to_string()))?;
            Ok((r.get::<_, Option<i64>>(0)?, rec))
        })?;
        next = if rec.valid_from().is_some() {
            prev
        } else {
            None
        };
        out.push(rec);
    }
    Ok(out)
}

/// Replaces each record named in `timed` (id, newest history row) with the timeline its
/// history replays into.
fn replay<T: Stored>(
    reg: &mut Registry,
    timed: Timed,
    by_seq: &mut Statement<'_>,
    path: &Path,
) -> Result<(), RegistryError> {
    for (id, last_seq) in timed {
        let chain = history_chain(by_seq, last_seq)
            .map_err(|e| store_err(path, format!("read the versions of {} {id:?}", T::TYPE), e))?;
        T::current(reg).remove(&id);
        for rec in chain.into_iter().rev() {
            reg.upsert(rec);
        }
    }
    Ok(())
}

/// A stored record with where it lives.
struct Found<T> {
    /// Its newest history row.
    last_seq: i64,
    rec: T,
}

impl<T: Stored> Found<T> {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Found {
            last_seq: r.get(0)?,
            rec: T::from_row(r)?,
        })
    }
}

/// Every record `sql` selects with `arg` bound to `?1`.
fn query_all<T: Stored>(
    conn: &Connection,
    sql: &str,
    arg: &str,
) -> rusqlite::Result<Vec<Found<T>>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([arg], Found::from_row)?;
    rows.collect()
}

fn id_hash(id: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Records parsed before they are written, sorted by `(type, id)`: writing the tables (keyed
/// by id) in order touches each page once per batch instead of once per record.
const LOAD_BATCH: usize = 16_384;

/// Outcome of one upsert.
enum Upsert {
    Inserted,
    Updated,
    Unchanged,
}

/// Reading and writing one record table.
struct TableStatements<'c> {
    /// Columns as in `*_COLUMNS`, by id.
    get: Statement<'c>,
    /// `?1` is the id, `?2` the history seq, then [`Stored::VALUE_COLUMNS`].
    insert: Statement<'c>,
    /// Same parameters as `insert`.
    update: Statement<'c>,
    /// The table was empty when the transaction began: an id can only be present if this
    /// transaction inserted it, which `inserted` tells without asking SQLite (a first load
    /// of a million credentials skips a million lookups).
    was_empty: bool,
    /// Hashes of the ids inserted by this transaction (kept only while `was_empty`).
    inserted: HashSet<u64>,
}

impl<'c> TableStatements<'c> {
    fn prepare<T: Stored>(conn: &'c Connection) -> rusqlite::Result<Self> {
        let cols = T::VALUE_COLUMNS;
        let marks: Vec<String> = (3..cols.len() + 3).map(|i| format!("?{i}")).collect();
        let sets: Vec<String> = cols
            .iter()
            .zip(&marks)
            .map(|(c, m)| format!(", {c} = {m}"))
            .collect();
        let was_empty = conn.query_row(
            &format!("SELECT NOT EXISTS (SELECT 1 FROM {})", T::TYPE),
            [],
            |r| r.get(0),
        )?;
        Ok(TableStatements {
            get: conn.prepare(&format!("{} WHERE id = ?1", T::SELECT))?,
            insert: conn.prepare(&format!(
                "INSERT INTO {} (id, last_seq, {}) VALUES (?1, ?2, {})",
                T::TYPE,
                cols.join(", "),
                marks.join(", ")
            ))?,
            update: conn.prepare(&format!(
                "UPDATE {} SET last_seq = ?2{} WHERE id = ?1",
                T::TYPE,
                sets.concat()
            ))?,
            was_empty,
            inserted: HashSet::new(),
        })
    }
}

/// The statements a load or an offboarding runs, prepared once, and the source and time its
/// history rows carry.
struct Statements<'c> {
    principal: TableStatements<'c>,
    key: TableStatements<'c>,
    credential: TableStatements<'c>,
    add_history: Statement<'c>,
    /// [`HISTORY_CHAIN`].
    by_seq: Statement<'c>,
    source: String,
    /// Wall-clock time of the history rows: `now_ms`, or the newest `recorded_at` already
    /// stored if the clock has stepped back since, so that time never decreases along `seq`.
    recorded_at: Millis,
}

impl<'c> Statements<'c> {
    fn prepare(conn: &'c Connection, source: &str, now_ms: Millis) -> rusqlite::Result<Self> {
        let newest: Option<Millis> = conn
            .query_row(
                "SELECT recorded_at FROM history ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Statements {
            principal: TableStatements::prepare::<Principal>(conn)?,
            key: TableStatements::prepare::<SigningKey>(conn)?,
            credential: TableStatements::prepare::<Credential>(conn)?,
            add_history: conn.prepare(
                "INSERT INTO history (recorded_at, source, type, id, change, prev_seq, before, after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
            by_seq: conn.prepare(HISTORY_CHAIN)?,
            source: source.to_string(),
            recorded_at: newest.map_or(now_ms, |n| n.max(now_ms)),
        })
    }

    /// Upserts a batch of `(line number, record)` in `(type, id)` order, keeping file order
    /// among records with the same id, and empties it.
    fn apply(
        &mut self,
        batch: &mut Vec<(u64, RegistryRecord)>,
        report: &mut LoadReport,
        path: &Path,
    ) -> Result<(), RegistryError> {
        // Sorting positions moves a word per swap instead of a whole record.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| batch[a].1.key().cmp(&batch[b].1.key()));
        for i in order {
            let (number, rec) = &batch[i];
            let mut kept = None;
            let upsert = match rec {
                RegistryRecord::Principal(p) => self.upsert(p, &mut kept),
                RegistryRecord::SigningKey(k) => self.upsert(k, &mut kept),
                RegistryRecord::Credential(c) => self.upsert(c, &mut kept),
            }
            .map_err(|e| {
                let (type_, id) = rec.key();
                store_err(path, format!("line {number}: write {type_} {id:?}"), e)
            })?;
            match upsert {
                Upsert::Inserted => report.inserted += 1,
                Upsert::Updated => report.updated += 1,
                Upsert::Unchanged => report.unchanged += 1,
            }
            if let Some(what) = kept {
                report.kept_ends.push((*number, what));
            }
            if let Some(why) = rec.timeless_end() {
                report.warnings.push((*number, why));
            }
            if let Some(v) = rec.valid_from() {
                report.earliest_valid_from =
                    Some(report.earliest_valid_from.map_or(v, |e| e.min(v)));
            }
        }
        batch.clear();
        Ok(())
    }

    /// Upserts `new`, with a history row unless it is unchanged. A departure or revocation
    /// already held is kept (see [`Stored::with_ends_kept`]); `kept` then says what.
    ///
    /// Versions (`valid_from`, see [`Registry`]): a line without it changes the current
    /// version and inherits its `valid_from`; a line with a later one becomes the current
    /// version (the one it replaces stays in the history, where the snapshot finds it); a
    /// line with an earlier one is history loaded late: it gets a history row, and the current
    /// version stays as it is.
    fn upsert<T: Stored>(
        &mut self,
        new: &T,
        kept: &mut Option<String>,
    ) -> rusqlite::Result<Upsert> {
        let table = T::table(self);
        let surely_new = table.was_empty && table.inserted.insert(id_hash(new.id()));
        let old = if surely_new {
            None
        } else {
            T::get(self, new.id())?
        };
        let inherited;
        let new = match &old {
            Some(o) if new.valid_from().is_none() && o.rec.valid_from().is_some() => {
                inherited = new.with_valid_from(o.rec.valid_from());
                &inherited
            }
            Some(o) if new.valid_from() < o.rec.valid_from() => {
                return self.backfill(o, new);
            }
            _ => new,
        };
        let merged = old.as_ref().and_then(|o| new.with_ends_kept(&o.rec));
        let new = match merged {
            Some((ref m, ref what)) => {
                *kept = Some(what.clone());
                m
            }
            None => new,
        };
        match old {
            Some(old) if &old.rec == new => Ok(Upsert::Unchanged),
            Some(old) => {
                self.replace(&old, new, new.change_from(&old.rec))?;
                Ok(Upsert::Updated)
            }
            None => {
                let seq = self.add_history(None, new, ChangeKind::Granted)?;
                new.write(&mut T::table(self).insert, seq)?;
                Ok(Upsert::Inserted)
            }
        }
    }

    /// Records `earlier`, a version from before the current one's `valid_from`, unless the
    /// history already holds it as the newest version from that time.
    fn backfill<T: Stored>(&mut self, current: &Found<T>, earlier: &T) -> rusqlite::Result<Upsert> {
        let chain = history_chain(&mut self.by_seq, current.last_seq)?;
        let want = earlier.valid_from();
        let held = chain.iter().find(|r| r.valid_from() == want);
        if held.is_some_and(|r| T::is(r, earlier)) {
            return Ok(Upsert::Unchanged);
        }
        let seq = self.add_history(Some(current), earlier, ChangeKind::Changed)?;
        current.rec.write(&mut T::table(self).update, seq)?;
        Ok(Upsert::Updated)
    }

    /// Writes `after` over `before` and records the change.
    fn replace<T: Stored>(
        &mut self,
        before: &Found<T>,
        after: &T,
        change: ChangeKind,
    ) -> rusqlite::Result<()> {
        let seq = self.add_history(Some(before), after, change)?;
        after.write(&mut T::table(self).update, seq)
    }

    /// Appends a history row; returns its seq.
    fn add_history<T: Stored>(
        &mut self,
        before: Option<&Found<T>>,
        after: &T,
        change: ChangeKind,
    ) -> rusqlite::Result<i64> {
        let before_json = before.map(|b| to_json(&b.rec.line())).transpose()?;
        let after_json = to_json(&after.line())?;
        self.add_history.insert(params![
            self.recorded_at,
            self.source,
            T::TYPE,
            after.id(),
            change,
            before.map(|b| b.last_seq),
            before_json,
            after_json
        ])
    }
}

/// A record type kept in its own table.
/// The end (a departure, retirement or revocation) to restore when a line with end `new`
/// replaces a record with end `before`, if the line would remove or postpone it: `None` is no
/// end, `Some(None)` an end at every time (a status given without its time), `Some(Some(t))`
/// an end from `t` on. A time given to a timeless end (the fix the load's warning asks for),
/// an earlier end, or an end made timeless, stands.
fn restored_end(
    before: Option<Option<Millis>>,
    new: Option<Option<Millis>>,
) -> Option<Option<Millis>> {
    match (before, new) {
        (Some(b), None) => Some(b),
        (Some(Some(b)), Some(Some(n))) if b < n => Some(Some(b)),
        _ => None,
    }
}

fn since_text(at: Option<Millis>) -> String {
    at.map_or_else(String::new, |t| {
        format!(" since {}", suho_record::format_rfc3339_ms(t))
    })
}

trait Stored: PartialEq + Clone + Sized {
    /// The `type` of its registry lines, also its table's name.
    const TYPE: &'static str;
    /// `SELECT last_seq, id, <VALUE_COLUMNS> FROM <table>`.
    const SELECT: &'static str;
    /// Columns after `id`, in the order [`Stored::write`] binds them.
    const VALUE_COLUMNS: &'static [&'static str];
    /// What reading them all is called in errors.
    const READ_ALL: &'static str;
    /// Its registry line, with times as epoch ms (cheap to write, read back by
    /// `parse_registry_line`).
    type Line<'a>: Serialize
    where
        Self: 'a;

    fn id(&self) -> &str;
    fn valid_from(&self) -> Option<Millis>;
    /// A copy with another `valid_from`.
    fn with_valid_from(&self, v: Option<Millis>) -> Self {
        let mut c = self.clone();
        c.set_valid_from(v);
        c
    }
    fn set_valid_from(&mut self, v: Option<Millis>);
    /// Whether `rec` is this very record.
    fn is(rec: &RegistryRecord, this: &Self) -> bool;
    /// This type's current versions in a [`Registry`].
    fn current(reg: &mut Registry) -> &mut HashMap<String, Self>;
    fn line(&self) -> Self::Line<'_>;
    /// What replacing `before` with `self` amounts to.
    fn change_from(&self, before: &Self) -> ChangeKind;
    /// `self` (about to replace `before`) with every departure or revocation `before` holds
    /// kept at the earlier time, and what was kept; `None` when `self` stands as it is. A load
    /// cannot undo or postpone an end, so an older export loaded after an offboarding cannot
    /// reopen the door.
    fn with_ends_kept(&self, before: &Self) -> Option<(Self, String)>;
    /// Decodes a row selected with [`Stored::SELECT`] (columns 1 on).
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
    fn table<'s, 'c>(st: &'s mut Statements<'c>) -> &'s mut TableStatements<'c>;
    /// Runs the table's insert or update for this record, pointing at history row `seq`.
    fn write(&self, stmt: &mut Statement<'_>, seq: i64) -> rusqlite::Result<()>;

    /// The stored record with this id.
    fn get(st: &mut Statements<'_>, id: &str) -> rusqlite::Result<Option<Found<Self>>> {
        Self::table(st)
            .get
            .query_row([id], Found::from_row)
            .optional()
    }
}

/// Runs an insert or update that must write exactly one row.
fn write_one(stmt: &mut Statement<'_>, p: &[&dyn ToSql]) -> rusqlite::Result<()> {
    match stmt.execute(p)? {
        1 => Ok(()),
        n => Err(rusqlite::Error::StatementChangedRows(n)),
    }
}

#[derive(Serialize)]
struct PrincipalLine<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    id: &'a str,
    kind: PrincipalKind,
    status: PrincipalStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    departed_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suspended_at: Option<Millis>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    countries: &'a [String],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    networks: &'a [ipnet::IpNet],
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<Millis>,
}

impl Stored for Principal {
    const TYPE: &'static str = "principal";
    const SELECT: &'static str = PRINCIPAL_COLUMNS;
    const VALUE_COLUMNS: &'static [&'static str] = &[
        "kind",
        "status",
        "role",
        "departed_at",
        "suspended_at",
        "countries",
        "networks",
        "valid_from",
    ];
    const READ_ALL: &'static str = "read principals";
    type Line<'a> = PrincipalLine<'a>;

    fn id(&self) -> &str {
        &self.id
    }
    fn valid_from(&self) -> Option<Millis> {
        self.valid_from
    }
    fn set_valid_from(&mut self, v: Option<Millis>) {
        self.valid_from = v;
    }
    fn is(rec: &RegistryRecord, this: &Self) -> bool {
        matches!(rec, RegistryRecord::Principal(r) if r == this)
    }
    fn current(reg: &mut Registry) -> &mut HashMap<String, Self> {
        &mut reg.principals
    }
    fn line(&self) -> PrincipalLine<'_> {
        // Destructured in full so that a new field fails to compile until it is stored.
        let Principal {
            id,
            kind,
            status,
            role,
            departed_at,
            suspended_at,
            countries,
            networks,
            valid_from,
        } = self;
        PrincipalLine {
            type_: Self::TYPE,
            id,
            kind: *kind,
            status: *status,
            role: role.as_deref(),
            departed_at: *departed_at,
            suspended_at: *suspended_at,
            countries,
            networks,
            valid_from: *valid_from,
        }
    }
    fn with_ends_kept(&self, before: &Self) -> Option<(Self, String)> {
        let before_end = departure(before);
        // A rehire: a version from after the departure, which stays in the versions before.
        if let (Some(v), Some(Some(d))) = (self.valid_from, before_end) {
            if d < v && self.valid_from > before.valid_from {
                return None;
            }
        }
        let at = restored_end(before_end, departure(self))?;
        let mut p = self.clone();
        p.status = PrincipalStatus::Departed;
        p.departed_at = at;
        let what = format!(
            "principal {:?} stays departed{}: a load cannot undo or postpone an offboarding (a rehire is a line with a valid_from after the departure)",
            p.id,
            since_text(at)
        );
        Some((p, what))
    }
    fn change_from(&self, before: &Self) -> ChangeKind {
        let departed = |p: &Principal| departure(p).is_some();
        if departed(self) && !departed(before) {
            ChangeKind::Offboarded
        } else {
            ChangeKind::Changed
        }
    }
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Principal {
            id: r.get(1)?,
            kind: r.get(2)?,
            status: r.get(3)?,
            role: r.get(4)?,
            departed_at: r.get(5)?,
            suspended_at: r.get(6)?,
            countries: json_column(r, 7)?.unwrap_or_default(),
            networks: json_column(r, 8)?.unwrap_or_default(),
            valid_from: r.get(9)?,
        })
    }
    fn table<'s, 'c>(st: &'s mut Statements<'c>) -> &'s mut TableStatements<'c> {
        &mut st.principal
    }
    fn write(&self, stmt: &mut Statement<'_>, seq: i64) -> rusqlite::Result<()> {
        let countries = json_list(&self.countries)?;
        let networks = json_list(&self.networks)?;
        write_one(
            stmt,
            params![
                self.id,
                seq,
                self.kind,
                self.status,
                self.role,
                self.departed_at,
                self.suspended_at,
                countries,
                networks,
                self.valid_from
            ],
        )
    }
}

#[derive(Serialize)]
struct KeyLine<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<&'a str>,
    status: KeyStatus,
    issuance: Issuance,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retired_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<Millis>,
}

impl Stored for SigningKey {
    const TYPE: &'static str = "signing_key";
    const SELECT: &'static str = KEY_COLUMNS;
    const VALUE_COLUMNS: &'static [&'static str] = &[
        "owner",
        "status",
        "issuance",
        "created_at",
        "retired_at",
        "revoked_at",
        "valid_from",
    ];
    const READ_ALL: &'static str = "read signing keys";
    type Line<'a> = KeyLine<'a>;

    fn id(&self) -> &str {
        &self.id
    }
    fn valid_from(&self) -> Option<Millis> {
        self.valid_from
    }
    fn set_valid_from(&mut self, v: Option<Millis>) {
        self.valid_from = v;
    }
    fn is(rec: &RegistryRecord, this: &Self) -> bool {
        matches!(rec, RegistryRecord::SigningKey(r) if r == this)
    }
    fn current(reg: &mut Registry) -> &mut HashMap<String, Self> {
        &mut reg.keys
    }
    fn line(&self) -> KeyLine<'_> {
        // Destructured in full so that a new field fails to compile until it is stored.
        let SigningKey {
            id,
            owner,
            status,
            issuance,
            created_at,
            retired_at,
            revoked_at,
            valid_from,
        } = self;
        KeyLine {
            type_: Self::TYPE,
            id,
            owner: owner.as_deref(),
            status: *status,
            issuance: *issuance,
            created_at: *created_at,
            retired_at: *retired_at,
            revoked_at: *revoked_at,
            valid_from: *valid_from,
        }
    }
    fn with_ends_kept(&self, before: &Self) -> Option<(Self, String)> {
        let retired = |k: &SigningKey| {
            (k.status == KeyStatus::Retired || k.retired_at.is_some()).then_some(k.retired_at)
        };
        let revoked = |k: &SigningKey| {
            (k.status == KeyStatus::Revoked || k.revoked_at.is_some()).then_some(k.revoked_at)
        };
        let (keep_retired, keep_revoked) = (
            restored_end(retired(before), retired(self)),
            restored_end(revoked(before), revoked(self)),
        );
        if keep_retired.is_none() && keep_revoked.is_none() {
            return None;
        }
        let mut k = self.clone();
        let mut what = Vec::new();
        if let Some(at) = keep_retired {
            k.retired_at = at;
            match k.status {
                KeyStatus::Active => k.status = KeyStatus::Retired,
                // Retired at every time, and revoked from some time on: the status field
                // holds the revocation, so the retirement needs a time, the earliest there is.
                KeyStatus::Revoked if at.is_none() => {
                    k.retired_at = Some(suho_record::MIN_TIME_MS);
                }
                _ => {}
            }
            what.push(format!("retired{}", since_text(at)));
        }
        if let Some(at) = keep_revoked {
            k.revoked_at = at;
            k.status = KeyStatus::Revoked;
            what.push(format!("revoked{}", since_text(at)));
        }
        let what = format!(
            "signing key {:?} stays {}: a load cannot undo or postpone a retirement or revocation",
            k.id,
            what.join(" and ")
        );
        Some((k, what))
    }
    fn change_from(&self, before: &Self) -> ChangeKind {
        let revoked = |k: &SigningKey| k.status == KeyStatus::Revoked || k.revoked_at.is_some();
        if revoked(self) && !revoked(before) {
            ChangeKind::Revoked
        } else {
            ChangeKind::Changed
        }
    }
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(SigningKey {
            id: r.get(1)?,
            owner: r.get(2)?,
            status: r.get(3)?,
            issuance: r.get(4)?,
            created_at: r.get(5)?,
            retired_at: r.get(6)?,
            revoked_at: r.get(7)?,
            valid_from: r.get(8)?,
        })
    }
    fn table<'s, 'c>(st: &'s mut Statements<'c>) -> &'s mut TableStatements<'c> {
        &mut st.key
    }
    fn write(&self, stmt: &mut Statement<'_>, seq: i64) -> rusqlite::Result<()> {
        write_one(
            stmt,
            params![
                self.id,
                seq,
                self.owner,
                self.status,
                self.issuance,
                self.created_at,
                self.retired_at,
                self.revoked_at,
                self.valid_from
            ],
        )
    }
}

#[derive(Serialize)]
struct CredentialLine<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    id: &'a str,
    principal: &'a str,
    kind: CredentialKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_from: Option<Millis>,
}

impl Stored for Credential {
    const TYPE: &'static str = "credential";
    const SELECT: &'static str = CREDENTIAL_COLUMNS;
    const VALUE_COLUMNS: &'static [&'static str] = &[
        "principal",
        "kind",
        "signing_key",
        "issued_at",
        "expires_at",
        "revoked_at",
        "valid_from",
    ];
    const READ_ALL: &'static str = "read credentials";
    type Line<'a> = CredentialLine<'a>;

    fn id(&self) -> &str {
        &self.id
    }
    fn valid_from(&self) -> Option<Millis> {
        self.valid_from
    }
    fn set_valid_from(&mut self, v: Option<Millis>) {
        self.valid_from = v;
    }
    fn is(rec: &RegistryRecord, this: &Self) -> bool {
        matches!(rec, RegistryRecord::Credential(r) if r == this)
    }
    fn current(reg: &mut Registry) -> &mut HashMap<String, Self> {
        &mut reg.credentials
    }
    fn line(&self) -> CredentialLine<'_> {
        // Destructured in full so that a new field fails to compile until it is stored.
        let Credential {
            id,
            principal,
            kind,
            signing_key,
            issued_at,
            expires_at,
            revoked_at,
            valid_from,
        } = self;
        CredentialLine {
            type_: Self::TYPE,
            id,
            principal,
            kind: *kind,
            signing_key: signing_key.as_deref(),
            issued_at: *issued_at,
            expires_at: *expires_at,
            revoked_at: *revoked_at,
            valid_from: *valid_from,
        }
    }
    fn with_ends_kept(&self, before: &Self) -> Option<(Self, String)> {
        let end = |c: &Credential| c.revoked_at.map(Some);
        let at = restored_end(end(before), end(self))?;
        let mut c = self.clone();
        c.revoked_at = at;
        let what = format!(
            "credential {:?} stays revoked{}: a load cannot undo or postpone a revocation",
            c.id,
            since_text(at)
        );
        Some((c, what))
    }
    fn change_from(&self, before: &Self) -> ChangeKind {
        if self.revoked_at.is_some() && before.revoked_at.is_none() {
            ChangeKind::Revoked
        } else {
            ChangeKind::Changed
        }
    }
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Credential {
            id: r.get(1)?,
            principal: r.get(2)?,
            kind: r.get(3)?,
            signing_key: r.get(4)?,
            issued_at: r.get(5)?,
            expires_at: r.get(6)?,
            revoked_at: r.get(7)?,
            valid_from: r.get(8)?,
        })
    }
    fn table<'s, 'c>(st: &'s mut Statements<'c>) -> &'s mut TableStatements<'c> {
        &mut st.credential
    }
    fn write(&self, stmt: &mut Statement<'_>, seq: i64) -> rusqlite::Result<()> {
        write_one(
            stmt,
            params![
                self.id,
                seq,
                self.principal,
                self.kind,
                self.signing_key,
                self.issued_at,
                self.expires_at,
                self.revoked_at,
                self.valid_from
            ],
        )
    }
}

/// Whether the principal is already recorded as departed at or before `at`.
fn departed_by(p: &Principal, at: Millis) -> bool {
    p.status_at(at) == PrincipalStatus::Departed
}

/// The departure a principal's version holds: `None` when none, `Some(None)` a departure at
/// every time, `Some(Some(t))` one from `t` on. A departure dated before the version's
/// `valid_from` on a line that is not `departed` is a past episode (a rehire), not held.
fn departure(p: &Principal) -> Option<Option<Millis>> {
    match p.departed_at {
        Some(d) if p.status == PrincipalStatus::Departed || p.valid_from.is_none_or(|v| d >= v) => {
            Some(Some(d))
        }
        Some(_) => None,
        None => (p.status == PrincipalStatus::Departed).then_some(None),
    }
}

/// Whether the key is already recorded as revoked at or before `at`.
fn key_revoked_by(k: &SigningKey, at: Millis) -> bool {
    match k.revoked_at {
        Some(r) => r <= at,
        None => k.status == KeyStatus::Revoked,
    }
}

fn to_json<T: Serialize>(v: &T) -> rusqlite::Result<String> {
    serde_json::to_string(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A list column: NULL when empty, else a JSON array.
fn json_list<T: Serialize>(items: &[T]) -> rusqlite::Result<Option<String>> {
    if items.is_empty() {
        return Ok(None);
    }
    to_json(&items).map(Some)
}

fn conversion_failure(
    idx: usize,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, e.into())
}

/// A text column, borrowed.
fn text<'r>(row: &'r rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(idx)?
        .as_str()
        .map_err(|e| conversion_failure(idx, e))
}

/// Decodes a JSON text column; NULL is `None`.
fn json_column<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<T>> {
    match row.get_ref(idx)? {
        ValueRef::Null => Ok(None),
        _ => serde_json::from_str(text(row, idx)?)
            .map(Some)
            .map_err(|e| conversion_failure(idx, e)),
    }
}

/// A history `before`/`after` column as the registry line it holds, times in RFC 3339, and
/// that line's `valid_from`.
fn history_line(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<(serde_json::Value, Option<Millis>)>> {
    if let ValueRef::Null = row.get_ref(idx)? {
        return Ok(None);
    }
    let rec = parse_registry_line(text(row, idx)?.as_bytes())
        .map_err(|e| conversion_failure(idx, e.to_string()))?;
    serde_json::to_value(&rec)
        .map(|v| Some((v, rec.valid_from())))
        .map_err(|e| conversion_failure(idx, e))
}

/// Enums stored as their snake_case contract names (the same names serde uses).
macro_rules! sql_enum {
    ($ty:ty, $what:literal, { $($variant:path => $name:literal),+ $(,)? }) => {
        impl $ty {
            fn sql_name(self) -> &'static str {
                match self {
                    $($variant => $name),+
                }
            }
        }
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.sql_name().as_bytes())))
            }
        }
        impl FromSql for $ty {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                match v.as_str()? {
                    $($name => Ok($variant),)+
                    other => Err(FromSqlError::Other(
                        format!("unknown {} {other:?}", $what).into(),
                    )),
                }
            }
        }
    };
}

sql_enum!(PrincipalKind, "principal kind", {
    PrincipalKind::Employee => "employee",
    PrincipalKind::Contractor => "contractor",
    PrincipalKind::Service => "service",
});
sql_enum!(PrincipalStatus, "principal status", {
    PrincipalStatus::Active => "active",
    PrincipalStatus::Suspended => "suspended",
    PrincipalStatus::Departed => "departed",
});
sql_enum!(KeyStatus, "signing key status", {
    KeyStatus::Active => "active",
    KeyStatus::Retired => "retired",
    KeyStatus::Revoked => "revoked",
});
sql_enum!(Issuance, "issuance", {
    Issuance::Registered => "registered",
    Issuance::Unregistered => "unregistered",
});
sql_enum!(CredentialKind, "credential kind", {
    CredentialKind::AccessToken => "access_token",
    CredentialKind::RefreshToken => "refresh_token",
    CredentialKind::ApiKey => "api_key",
    CredentialKind::Session => "session",
    CredentialKind::Certificate => "certificate",
});
sql_enum!(ChangeKind, "history change", {
    ChangeKind::Granted => "granted",
    ChangeKind::Changed => "changed",
    ChangeKind::Revoked => "revoked",
    ChangeKind::Offboarded => "offboarded",
});

/// A map_err adapter naming the database and the operation; allocates only on error.
fn db_err<'a>(path: &'a Path, op: &'a str) -> impl FnOnce(rusqlite::Error) -> RegistryError + 'a {
    move |source| store_err(path, op.to_string(), source)
}

fn store_err(path: &Path, op: String, source: rusqlite::Error) -> RegistryError {
    RegistryError::Store {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// The reason for a rejected line. serde_json ends its messages with "at line 1 column N";
/// the line is always 1 (one JSON value per line), so only the column is kept.
fn line_reason(e: &RegistryError) -> String {
    let msg = e.to_string();
    if let Some(pos) = msg.rfind(" at line ") {
        if let Some((_, col)) = msg[pos + " at line ".len()..].split_once(" column ") {
            if !col.is_empty() && col.bytes().all(|b| b.is_ascii_digit()) {
                return format!("{} (column {col})", &msg[..pos]);
            }
        }
    }
    msg
}

fn ser_time<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&suho_record::format_rfc3339_ms(*ms))
}

fn ser_opt_time<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => ser_time(ms, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names stored in SQLite are the contract's names, as serde writes them.
    #[test]
    fn stored_enum_names_match_the_contract_names() {
        fn same<T: Serialize + Copy>(all: &[T], name: fn(T) -> &'static str) {
            for &v in all {
                let json = serde_json::to_string(&v).expect("serialize");
                assert_eq!(json, format!("\"{}\"", name(v)));
            }
        }
        use PrincipalKind as PK;
        same(&[PK::Employee, PK::Contractor, PK::Service], PK::sql_name);
        use PrincipalStatus as PS;
        same(&[PS::Active, PS::Suspended, PS::Departed], PS::sql_name);
        same(
            &[KeyStatus::Active, KeyStatus::Retired, KeyStatus::Revoked],
            KeyStatus::sql_name,
        );
        same(
            &[Issuance::Registered, Issuance::Unregistered],
            Issuance::sql_name,
        );
        use CredentialKind as CK;
        same(
            &[
                CK::AccessToken,
                CK::RefreshToken,
                CK::ApiKey,
                CK::Session,
                CK::Certificate,
            ],
            CK::sql_name,
        );
        use ChangeKind as C;
        same(
            &[C::Granted, C::Changed, C::Revoked, C::Offboarded],
            C::sql_name,
        );
    }

    #[test]
    fn line_reason_keeps_the_column_only() {
        let e = RegistryError::Invalid("missing field `kind` at line 1 column 42".into());
        assert_eq!(line_reason(&e), "missing field `kind` (column 42)");
        let e = RegistryError::Invalid("\"id\" must be 1..256 bytes, got 0".into());
        assert_eq!(line_reason(&e), "\"id\" must be 1..256 bytes, got 0");
    }
}
