//! The validated access record and its closed vocabularies.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The task performed (contract section 1, `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `read`
    Read,
    /// `search`
    Search,
    /// `export`
    Export,
    /// `download`
    Download,
    /// `print`
    Print,
    /// `create`
    Create,
    /// `update`
    Update,
    /// `delete`
    Delete,
    /// `login`
    Login,
    /// `logout`
    Logout,
    /// `login_failed`
    LoginFailed,
}

impl Action {
    /// Every action, in the contract's order.
    pub const ALL: [Action; 11] = [
        Action::Read,
        Action::Search,
        Action::Export,
        Action::Download,
        Action::Print,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Login,
        Action::Logout,
        Action::LoginFailed,
    ];

    /// The wire name: `read`, ..., `login_failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Search => "search",
            Action::Export => "export",
            Action::Download => "download",
            Action::Print => "print",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Login => "login",
            Action::Logout => "logout",
            Action::LoginFailed => "login_failed",
        }
    }

    /// The action with this exact (case-sensitive) wire name.
    pub fn from_wire(s: &str) -> Option<Action> {
        Some(match s {
            "read" => Action::Read,
            "search" => Action::Search,
            "export" => Action::Export,
            "download" => Action::Download,
            "print" => Action::Print,
            "create" => Action::Create,
            "update" => Action::Update,
            "delete" => Action::Delete,
            "login" => Action::Login,
            "logout" => Action::Logout,
            "login_failed" => Action::LoginFailed,
            _ => return None,
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the names of a closed vocabulary ([`Action`], [`Outcome`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not one of {allowed}")]
pub struct UnknownName {
    /// The string that was given.
    pub value: String,
    /// The allowed names, comma-separated.
    pub allowed: &'static str,
}

impl FromStr for Action {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::from_wire(s).ok_or_else(|| UnknownName {
            value: s.to_owned(),
            allowed: "read, search, export, download, print, create, update, delete, login, logout, login_failed",
        })
    }
}

/// Whether the access succeeded (contract section 1, `outcome`; default success).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
    /// `success`
    #[default]
    Success,
    /// `failure`
    Failure,
}

impl Outcome {
    /// The wire name: `success` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }

    /// The outcome with this exact (case-sensitive) wire name.
    pub fn from_wire(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::from_wire(s).ok_or_else(|| UnknownName {
            value: s.to_owned(),
            allowed: "success, failure",
        })
    }
}

/// How a record's `time` was written (contract section 1 allows both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeForm {
    /// An RFC 3339 string with offset.
    Rfc3339,
    /// An integer: epoch milliseconds.
    EpochMillis,
}

/// One validated access record (contract section 1).
///
/// Strings borrow from the input line unless they held JSON escapes. Only the contract's
/// fields are here: `attrs` and unknown top-level fields are validated (attrs must be an
/// object) and skipped, because the ledger keeps the original line bytes verbatim.
///
/// Normalisation: an optional field that is `null` is absent; so is an optional string field
/// (`src_ip`, `credential`, `signing_key`, `purpose`, `id`) that is `""`, so that an empty
/// `id` never merges unrelated records. A `null` `subjects` or `fields` is an empty list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord<'a> {
    /// Event time, epoch milliseconds UTC, in [`crate::MIN_TIME_MS`]..=[`crate::MAX_TIME_MS`].
    pub time_ms: i64,
    /// How `time` was written: an ingest uses it to tell epoch seconds sent by mistake (a
    /// small integer) from an old RFC 3339 date.
    pub time_form: TimeForm,
    /// The account that acted; 1..=256 bytes.
    pub actor: Cow<'a, str>,
    /// The task performed.
    pub action: Action,
    /// What was accessed; 1..=512 bytes.
    pub resource: Cow<'a, str>,
    /// Access location.
    pub src_ip: Option<IpAddr>,
    /// Id of the credential presented; ..=256 bytes.
    pub credential: Option<Cow<'a, str>>,
    /// Id of the key that signed the credential; ..=256 bytes.
    pub signing_key: Option<Cow<'a, str>>,
    /// Ids of the data subjects processed, in input order; each ..=128 bytes, at most 100,000.
    pub subjects: Vec<Cow<'a, str>>,
    /// Number of subjects processed when not listed one by one; >= `subjects.len()`.
    pub subject_count: Option<u64>,
    /// Categories of personal information processed; each ..=64 bytes, at most 64.
    pub fields: Vec<Cow<'a, str>>,
    /// Reason or ticket for the access; ..=512 bytes.
    pub purpose: Option<Cow<'a, str>>,
    /// Whether the access succeeded.
    pub outcome: Outcome,
    /// The producer's unique id for this record; 1..=128 bytes when present.
    pub id: Option<Cow<'a, str>>,
}

impl AccessRecord<'_> {
    /// Number of subjects processed: the larger of `subject_count` and `subjects.len()`.
    pub fn subjects_processed(&self) -> u64 {
        let listed = u64::try_from(self.subjects.len()).unwrap_or(u64::MAX);
        self.subject_count.map_or(listed, |c| c.max(listed))
    }

    /// The same record, owning all its strings.
    pub fn into_owned(self) -> AccessRecord<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        AccessRecord {
            time_ms: self.time_ms,
            time_form: self.time_form,
            actor: own(self.actor),
            action: self.action,
            resource: own(self.resource),
            src_ip: self.src_ip,
            credential: self.credential.map(own),
            signing_key: self.signing_key.map(own),
            subjects: self.subjects.into_iter().map(own).collect(),
            subject_count: self.subject_count,
            fields: self.fields.into_iter().map(own).collect(),
            purpose: self.purpose.map(own),
            outcome: self.outcome,
            id: self.id.map(own),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
            assert_eq!(a.to_string(), a.as_str());
        }
        let err = "Read".parse::<Action>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("\"Read\" is not one of read, search, export, download, print, create, update, delete, login, logout, login_failed")
        );
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in [Outcome::Success, Outcome::Failure] {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
        }
        assert!("ok".parse::<Outcome>().is_err());
        assert_eq!(Outcome::default(), Outcome::Success);
    }
}
