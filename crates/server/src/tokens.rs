//! Bearer API tokens: creation, revocation, and authentication of requests.
//!
//! A token reads `suho_<id>_<secret>`: `id` is 16 lowercase hex digits (8 random bytes) and
//! `secret` is 64 lowercase hex digits (32 random bytes from the operating system). The store
//! keeps, per token, its id, role, name, creation and revocation times, and the SHA-256 of the
//! whole token text; never the token itself. A token is shown once, when it is created.
//!
//! The store is `<data>/tokens.ndjson`, one JSON object per line, mode 0600. Writers (the CLI,
//! or a server) take an exclusive `flock` on `<data>/tokens.lock`, rewrite the whole file to a
//! temporary file and rename it into place, so a reader never sees half a file. A running
//! server notices a change by the file's identity (inode, size, modification and change
//! times), which costs one `stat` per authentication; it re-reads the file only when that
//! changes. When the file cannot be read or parsed during such a reload, the store fails closed:
//! no token authenticates until the file is good again.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ServerError;

/// File name of the token store inside the data directory.
pub const TOKENS_FILE: &str = "tokens.ndjson";
/// File name of the writers' lock file inside the data directory.
pub const LOCK_FILE: &str = "tokens.lock";
/// Prefix of every token.
pub const TOKEN_PREFIX: &str = "suho_";

const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
const MAX_NAME_BYTES: usize = 128;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May append access records (`POST /v1/records`).
    Ingest,
    /// May read the ledger: checkpoint, tiles, health details.
    Read,
    /// May ask leak-check ranges (`GET /v1/leak-check/range/{prefix}`): the token of a
    /// company's public "was my data leaked?" web front end.
    Lookup,
    /// May do everything.
    Admin,
}

impl Role {
    /// Whether a token of this role may use an endpoint that requires `required`.
    pub fn permits(self, required: Role) -> bool {
        self == Role::Admin || self == required
    }

    /// The role's name as written in the token file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Lookup => "lookup",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ServerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ingest" => Ok(Role::Ingest),
            "read" => Ok(Role::Read),
            "lookup" => Ok(Role::Lookup),
            "admin" => Ok(Role::Admin),
            other => Err(ServerError::UnknownRole(other.to_owned())),
        }
    }
}

/// Everything about a token except its secret and hash: safe to print and log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Public identifier, 16 lowercase hex digits; part of the token text.
    pub id: String,
    /// What the token may do.
    pub role: Role,
    /// Free text given at creation (who or what uses the token).
    pub name: String,
    /// RFC 3339 UTC time of creation.
    pub created_at: String,
    /// RFC 3339 UTC time of revocation, if revoked.
    pub revoked_at: Option<String>,
}

impl TokenInfo {
    /// Whether the token has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// One line of the token file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenRecord {
    id: String,
    role: Role,
    name: String,
    sha256: String,
    created_at: String,
    revoked_at: Option<String>,
}

/// A parsed, validated token record as kept in memory.
#[derive(Debug, Clone)]
struct Entry {
    info: TokenInfo,
    hash: [u8; 32],
}

/// What identifies one version of a file (tokens, leak-check store); a rename or rewrite
/// changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    pub(crate) fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// What the cache was loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// The file did not exist.
    Absent,
    /// This version of the file.
    File(Stamp),
    /// The file could not be inspected; nothing authenticates.
    Unreadable,
}

#[derive(Debug)]
struct Cache {
    seen: Seen,
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
}

impl Cache {
    fn new(seen: Seen, entries: Vec<Entry>) -> Cache {
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.info.id.clone(), i))
            .collect();
        Cache {
            seen,
            entries,
            by_id,
        }
    }
}

struct Inner {
    dir: PathBuf,
    path: PathBuf,
    cache: RwLock<Cache>,
}

/// The token store of one data directory. Cheap to clone; clones share one cache.
#[derive(Clone)]
pub struct TokenStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    /// Opens the token store of `data_dir`, creating the directory when it is missing. A missing
    /// token file is an empty store; a token file with a bad line is an error (naming the line).
    /// A token file readable by group or others is narrowed to mode 0600, with a warning.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<TokenStore, ServerError> {
        let dir = data_dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|source| ServerError::TokenIo {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(TOKENS_FILE);
        tighten_mode(&path)?;
        let cache = match read_store(&path)? {
            None => Cache::new(Seen::Absent, Vec::new()),
            Some((stamp, entries)) => Cache::new(Seen::File(stamp), entries),
        };
        Ok(TokenStore {
            inner: Arc::new(Inner {
                dir,
                path,
                cache: RwLock::new(cache),
            }),
        })
    }

    /// Path of the token file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Creates a token of `role` named `name` and returns its description and its text. The
    /// text is not stored anywhere: show it to the user once.
    pub fn create(&self, role: Role, name: &str) -> Result<(TokenInfo, String), ServerError> {
        validate_name(name)?;
        let mut rng = rand::rngs::OsRng;
        self.update(|records| {
            let mut id_bytes = [0u8; ID_BYTES];
            let id = loop {
                rng.fill_bytes(&mut id_bytes);
                let id = hex::encode(id_bytes);
                if !records.iter().any(|r| r.id == id) {
                    break id;
                }
            };
            let mut secret = [0u8; SECRET_BYTES];
            rng.fill_bytes(&mut secret);
            let token = format!("{TOKEN_PREFIX}{id}_{}", hex::encode(secret));
            let record = TokenRecord {
                id: id.clone(),
                role,
                name: name.to_owned(),
                sha256: hex::encode(Sha256::digest(token.as_bytes())),
                created_at: rfc3339_utc(SystemTime::now()),
                revoked_at: None,
            };
            let info = info_of(&record);
            records.push(record);
            Ok((info, token))
        })
    }

    /// Every token, revoked ones included, in creation order.
    pub fn list(&self) -> Vec<TokenInfo> {
        self.refresh();
        self.read_cache()
            .entries
            .iter()
            .map(|e| e.info.clone())
            .collect()
    }

    /// Revokes token `id` (or the token itself, pasted whole); from then on it authenticates
    /// nothing. Revoking a revoked token keeps its first revocation time. Returns the token's
    /// description. An error never repeats a token-shaped argument: it may hold a secret.
    pub fn revoke(&self, id: &str) -> Result<TokenInfo, ServerError> {
        let id = claimed_id(id).unwrap_or(id);
        self.update(|records| {
            let record = records.iter_mut().find(|r| r.id == id).ok_or_else(|| {
                ServerError::UnknownToken {
                    id: if id.starts_with(TOKEN_PREFIX) {
                        "(a token-shaped argument, not repeated)".to_owned()
                    } else {
                        id.to_owned()
                    },
                }
            })?;
            if record.revoked_at.is_none() {
                record.revoked_at = Some(rfc3339_utc(SystemTime::now()));
            }
            Ok(info_of(record))
        })
    }

    /// The token that `bearer` (the text after `Bearer `) is, if it is a current, unrevoked
    /// token of this store. Looks the token up by id and compares SHA-256 hashes in constant
    /// time.
    pub fn authenticate(&self, bearer: &str) -> Option<TokenInfo> {
        let id = claimed_id(bearer)?;
        self.refresh();
        let hash: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        let cache = self.read_cache();
        let entry = &cache.entries[*cache.by_id.get(id)?];
        if !constant_time_eq(&entry.hash, &hash) || entry.info.is_revoked() {
            return None;
        }
        Some(entry.info.clone())
    }

    /// Re-reads the token file if it changed since it was last read.
    fn refresh(&self) {
        let now = match fs::metadata(&self.inner.path) {
            Ok(meta) => Seen::File(Stamp::of(&meta)),
            Err(e) if e.kind() == ErrorKind::NotFound => Seen::Absent,
            Err(e) => {
                let mut cache = self.write_cache();
                if cache.seen != Seen::Unreadable {
                    tracing::error!(path = %self.inner.path.display(), error = %e,
                        "cannot inspect the token file; refusing every token until it is readable");
                    *cache = Cache::new(Seen::Unreadable, Vec::new());
                }
                return;
            }
        };
        if self.read_cache().seen == now {
            return;
        }
        let mut cache = self.write_cache();
        if cache.seen == now {
            return;
        }
        *cache = match read_store(&self.inner.path) {
            Ok(None) => Cache::new(Seen::Absent, Vec::new()),
            Ok(Some((stamp, entries))) => {
                tracing::info!(path = %self.inner.path.display(), tokens = entries.len(), "token file reloaded");
                Cache::new(Seen::File(stamp), entries)
            }
            Err(e) => {
                tracing::error!(error = %e, "refusing every token until the token file is repaired");
                // Remember the broken version so it is not re-parsed on every request.
                Cache::new(now, Vec::new())
            }
        };
    }

    /// Runs `f` on the token file's records under the writers' lock and writes the result back
    /// atomically.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut Vec<TokenRecord>) -> Result<T, ServerError>,
    ) -> Result<T, ServerError> {
        let _lock = lock_writers(&self.inner.dir)?;
        let mut records = read_records(&self.inner.path)?.unwrap_or_default();
        let out = f(&mut records)?;
        write_atomically(&self.inner.path, &records)?;
        let loaded = read_store(&self.inner.path)?;
        *self.write_cache() = match loaded {
            None => Cache::new(Seen::Absent, Vec::new()),
            Some((stamp, entries)) => Cache::new(Seen::File(stamp), entries),
        };
        Ok(out)
    }

    fn read_cache(&self) -> RwLockReadGuard<'_, Cache> {
        // A panic while holding the lock cannot leave the cache half-updated: every writer
        // replaces it whole. So a poisoned lock is still good to use.
        self.inner
            .cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, Cache> {
        self.inner
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The id part of a well-formed token text, without checking that the token exists. Safe to
/// log: it is 16 hex digits and not secret.
pub fn claimed_id(bearer: &str) -> Option<&str> {
    let rest = bearer.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if is_lower_hex(id, ID_BYTES * 2) && is_lower_hex(secret, SECRET_BYTES * 2) {
        Some(id)
    } else {
        None
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn validate_name(name: &str) -> Result<(), ServerError> {
    if name.is_empty() {
        return Err(ServerError::InvalidTokenName {
            reason: "the name is empty; say who or what will use the token",
        });
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(ServerError::InvalidTokenName {
            reason: "the name is longer than 128 bytes",
        });
    }
    if name.chars().any(char::is_control) {
        return Err(ServerError::InvalidTokenName {
            reason: "the name contains control characters",
        });
    }
    Ok(())
}

fn info_of(r: &TokenRecord) -> TokenInfo {
    TokenInfo {
        id: r.id.clone(),
        role: r.role,
        name: r.name.clone(),
        created_at: r.created_at.clone(),
        revoked_at: r.revoked_at.clone(),
    }
}

fn corrupt(path: &Path, line: usize, reason: impl Into<String>) -> ServerError {
    ServerError::TokenFileCorrupt {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Reads and validates the token file; `None` when it does not exist.
fn read_records(path: &Path) -> Result<Option<Vec<TokenRecord>>, ServerError> {
    Ok(read_file(path)?.map(|(_, records)| records))
}

/// Reads the token file into cache entries, with the stamp of the version that was read.
fn read_store(path: &Path) -> Result<Option<(Stamp, Vec<Entry>)>, ServerError> {
    let Some((stamp, records)) = read_file(path)? else {
        return Ok(None);
    };
    let entries = records
        .iter()
        .map(|r| {
            let mut hash = [0u8; 32];
            // read_file checked that `sha256` is 64 hex digits, so this cannot fail; an error
            // here still only means "no entry" rather than a panic.
            hex::decode_to_slice(&r.sha256, &mut hash).ok()?;
            Some(Entry {
                info: info_of(r),
                hash,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| corrupt(path, 0, "a sha256 field is not hex"))?;
    Ok(Some((stamp, entries)))
}

fn read_file(path: &Path) -> Result<Option<(Stamp, Vec<TokenRecord>)>, ServerError> {
    let io_err = |source| ServerError::TokenIo {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let stamp = Stamp::of(&file.metadata().map_err(io_err)?);
    let text = std::io::read_to_string(file).map_err(io_err)?;
    let mut records: Vec<TokenRecord> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let r: TokenRecord =
            serde_json::from_str(line).map_err(|e| corrupt(path, n, e.to_string()))?;
        if !is_lower_hex(&r.id, ID_BYTES * 2) {
            return Err(corrupt(path, n, "id is not 16 lowercase hex digits"));
        }
        if !is_lower_hex(&r.sha256, 64) {
            return Err(corrupt(path, n, "sha256 is not 64 lowercase hex digits"));
        }
        if records.iter().any(|o| o.id == r.id) {
            return Err(corrupt(path, n, format!("token id {} appears twice", r.id)));
        }
        records.push(r);
    }
    Ok(Some((stamp, records)))
}

/// Takes the writers' exclusive lock; it is released when the returned file is closed.
fn lock_writers(dir: &Path) -> Result<File, ServerError> {
    let path = dir.join(LOCK_FILE);
    let io_err = |source| ServerError::TokenIo {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(io_err)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io_err(e.into()))?;
    Ok(file)
}

fn write_atomically(path: &Path, records: &[TokenRecord]) -> Result<(), ServerError> {
    let mut text = String::new();
    for r in records {
        let line = serde_json::to_string(r).map_err(|e| corrupt(path, 0, e.to_string()))?;
        text.push_str(&line);
        text.push('\n');
    }
    // Owner-only: the file holds token hashes and their roles.
    suho_durable::write_atomic_with(path, text.as_bytes(), suho_durable::Mode::Private).map_err(
        |e| ServerError::TokenIo {
            path: e.path,
            source: e.source,
        },
    )
}

fn tighten_mode(path: &Path) -> Result<(), ServerError> {
    let io_err = |source| ServerError::TokenIo {
        path: path.to_path_buf(),
        source,
    };
    let mode = match fs::metadata(path) {
        Ok(meta) => meta.permissions().mode(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(e)),
    };
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format_args!("{:o}", mode & 0o777),
            "token file was readable by others; setting mode 0600");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;
    }
    Ok(())
}

/// RFC 3339 UTC text (second precision) of a system time.
pub(crate) fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a count of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_of_known_instants() {
        let at = |s: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_750_734_765), "2025-06-24T03:12:45Z");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn revoke_takes_the_whole_token_and_never_repeats_a_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TokenStore::open(dir.path()).expect("open");
        let (info, token) = store.create(Role::Ingest, "ci").expect("create");
        let revoked = store.revoke(&token).expect("revoke by the token itself");
        assert_eq!(revoked.id, info.id);
        assert!(store.authenticate(&token).is_none());
        let unknown = format!("suho_{}_{}", "f".repeat(16), "e".repeat(64));
        let err = store.revoke(&unknown).expect_err("unknown").to_string();
        assert!(!err.contains(&"e".repeat(64)), "{err}");
        let malformed = format!("suho_{}", "d".repeat(70));
        let err = store.revoke(&malformed).expect_err("unknown").to_string();
        assert!(!err.contains(&"d".repeat(70)), "{err}");
    }

    #[test]
    fn claimed_id_accepts_only_the_token_shape() {
        let good = format!("suho_{}_{}", "0123456789abcdef", "ab".repeat(32));
        assert_eq!(claimed_id(&good), Some("0123456789abcdef"));
        assert_eq!(claimed_id(&good.to_uppercase()), None);
        assert_eq!(claimed_id(&good[..good.len() - 1]), None);
        assert_eq!(claimed_id("suho_0123456789abcdef"), None);
        assert_eq!(claimed_id(&good.replacen("suho_", "sujo_", 1)), None);
    }

    #[test]
    fn constant_time_eq_compares_every_byte() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
    }

    #[test]
    fn admin_permits_everything_others_only_themselves() {
        for required in [Role::Ingest, Role::Read, Role::Admin] {
            assert!(Role::Admin.permits(required));
        }
        assert!(Role::Ingest.permits(Role::Ingest));
        assert!(!Role::Ingest.permits(Role::Read));
        assert!(!Role::Read.permits(Role::Ingest));
        assert!(!Role::Read.permits(Role::Admin));
    }
}
