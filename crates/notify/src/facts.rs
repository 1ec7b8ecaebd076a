//! What a notice is drafted from: the incident's exact scope, the moment of awareness, the
//! stage, the company, and what the previous run said. And what follows from them: which
//! reporting triggers apply and the two 72-hour clocks.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::categories::{class_of, Class};
use crate::Company;

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// The PIPA (Enforcement Decree Arts. 39, 40) and GDPR (Art. 33) deadline: 72 hours.
pub const DEADLINE_MS: i64 = 72 * HOUR_MS;
/// Subjects from which a leak must be reported (Enforcement Decree Art. 40(1)1).
pub const REPORT_SUBJECTS: u64 = 1_000;
/// Minimum days a notice posted on the web site stays up (Enforcement Decree Art. 39(3)).
pub const POSTING_DAYS: i64 = 30;
/// California residents above which a sample notice goes to the Attorney General.
pub const CALIFORNIA_AG_RESIDENTS: u64 = 500;
/// Subjects from which a leak by wilful conduct or gross negligence is aggravated under the
/// 2026 amendment (penalty surcharge up to 10 %).
pub const AGGRAVATED_SUBJECTS: u64 = 10_000_000;

/// Where the notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// A leak is possible but not confirmed (유출 가능성 안내, 2026 amendment).
    Possible,
    /// What is confirmed so far; the rest follows (Enforcement Decree Art. 39(2)).
    First,
    /// More is confirmed: compares with the previous run.
    Update,
    /// The investigation is complete.
    Final,
}

impl Stage {
    /// `possible`, `first`, `update` or `final`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Possible => "possible",
            Stage::First => "first",
            Stage::Update => "update",
            Stage::Final => "final",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> Result<Stage, String> {
        match s {
            "possible" => Ok(Stage::Possible),
            "first" => Ok(Stage::First),
            "update" => Ok(Stage::Update),
            "final" => Ok(Stage::Final),
            _ => Err(format!(
                "{s:?} is not a stage: possible, first, update or final"
            )),
        }
    }
}

/// What the previous run's drafts said, for an update ("previously N, now M subjects").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    /// Its stage.
    pub stage: Stage,
    /// When it was drafted (epoch ms).
    pub drafted_at_ms: i64,
    /// Subjects then.
    pub subjects: u64,
    /// Access records then.
    pub records: u64,
    /// Category -> subjects then.
    pub fields: BTreeMap<String, u64>,
    /// First access then (RFC 3339).
    pub first_access: Option<String>,
    /// Last access then (RFC 3339).
    pub last_access: Option<String>,
}

/// Everything a draft is made from. Serialised as `facts.json` beside the drafts, so the next
/// run (an update) can say what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// The incident id.
    pub incident: String,
    /// The rules that fired, sorted.
    pub rules: Vec<String>,
    /// The incident's severity (`low` .. `critical`).
    pub severity: String,
    /// The records the scope covers, as a person reads it (credential, key, time range).
    #[serde(default)]
    pub selector: String,
    /// When the company became aware of the leak (epoch ms): the clocks start here.
    pub aware_at_ms: i64,
    /// The time of drafting (epoch ms): the clocks' remaining hours are counted from here.
    pub now_ms: i64,
    /// The stage of notification.
    pub stage: Stage,
    /// Exact number of distinct data subjects.
    pub subjects: u64,
    /// Subjects processed but not listed one by one (then `subjects` is a lower bound).
    #[serde(default)]
    pub unlisted_subjects: u64,
    /// Access records in the scope.
    pub records: u64,
    /// Category -> exact number of subjects whose data of it was accessed.
    pub fields: BTreeMap<String, u64>,
    /// Event time of the first access (RFC 3339).
    pub first_access: Option<String>,
    /// Event time of the last access (RFC 3339).
    pub last_access: Option<String>,
    /// Countries the accesses came from (ISO 3166 alpha-2), most records first.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Number of distinct credentials involved.
    #[serde(default)]
    pub credentials: u64,
    /// Signing keys involved.
    #[serde(default)]
    pub signing_keys: Vec<String>,
    /// Actors involved (at most a hundred are listed).
    #[serde(default)]
    pub actors: Vec<String>,
    /// Exact number of distinct actors.
    #[serde(default)]
    pub actor_count: u64,
    /// The caller states the access was unlawful access from outside, whatever the rules.
    #[serde(default)]
    pub external: bool,
    /// Contact details of some subjects are missing: the web-site posting replaces notice.
    #[serde(default)]
    pub contacts_missing: bool,
    /// Subjects known to be California residents, when the company knows.
    #[serde(default)]
    pub california_residents: Option<u64>,
    /// The company.
    #[serde(default)]
    pub company: Company,
    /// What the previous run said (for an update).
    #[serde(default)]
    pub previous: Option<Previous>,
}

impl Facts {
    /// These facts as the `previous` of the next run.
    pub fn as_previous(&self) -> Previous {
        Previous {
            stage: self.stage,
            drafted_at_ms: self.now_ms,
            subjects: self.subjects,
            records: self.records,
            fields: self.fields.clone(),
            first_access: self.first_access.clone(),
            last_access: self.last_access.clone(),
        }
    }

    /// The reporting triggers these facts meet.
    pub fn triggers(&self) -> Triggers {
        Triggers::of(self)
    }

    /// The two 72-hour clocks.
    pub fn clocks(&self) -> Clocks {
        Clocks::of(self.aware_at_ms, self.now_ms)
    }
}

/// Rules whose firing means the access came from outside the company's authority: forged or
/// foreign-signed credentials, keys or accounts of people who had left, accounts that do not
/// exist, or many accounts driven from one source (PIPA Enforcement Decree Art. 40(1)3,
/// "외부로부터의 불법적인 접근").
pub const EXTERNAL_RULES: &[&str] = &[
    "forged_credential",
    "orphaned_signing_key",
    "orphaned_credential",
    "departed_principal",
    "suspended_principal",
    "unknown_principal",
    "unknown_signing_key",
    "revoked_signing_key",
    "retired_signing_key",
    "revoked_credential",
    "foreign_origin",
    "shared_source",
];

/// Which of the three PIPA reporting triggers (Enforcement Decree Art. 40(1)) apply. Any one
/// means the leak must be reported to the PIPC or KISA within 72 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Triggers {
    /// 1,000 or more subjects.
    pub large_scale: bool,
    /// Unique identifiers or sensitive information leaked: the categories, in notice order.
    pub special_categories: Vec<String>,
    /// Unlawful access from outside.
    pub external_access: bool,
    /// Why `external_access`: the rules that show it, and `caller` when the caller said so.
    pub external_reasons: Vec<String>,
    /// At least one trigger applies.
    pub report_required: bool,
}

impl Triggers {
    fn of(f: &Facts) -> Triggers {
        let large_scale = f.subjects >= REPORT_SUBJECTS;
        let mut special: Vec<String> = f
            .fields
            .iter()
            .filter(|(k, &n)| {
                n > 0 && matches!(class_of(k), Class::UniqueIdentifier | Class::Sensitive)
            })
            .map(|(k, _)| k.clone())
            .collect();
        special.sort_by(|a, b| crate::categories::order(a).cmp(&crate::categories::order(b)));
        let mut reasons: Vec<String> = f
            .rules
            .iter()
            .filter(|r| EXTERNAL_RULES.contains(&r.as_str()))
            .cloned()
            .collect();
        if f.external {
            reasons.push("caller".to_string());
        }
        let external_access = !reasons.is_empty();
        Triggers {
            large_scale,
            report_required: large_scale || !special.is_empty() || external_access,
            special_categories: special,
            external_access,
            external_reasons: reasons,
        }
    }
}

/// A deadline counted from the moment of awareness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Clock {
    /// The deadline (epoch ms).
    pub deadline_ms: i64,
    /// Milliseconds left at the time of drafting; negative when overdue.
    pub remaining_ms: i64,
}

impl Clock {
    /// A clock of `len_ms` from `start_ms`, read at `now_ms`.
    pub fn new(start_ms: i64, len_ms: i64, now_ms: i64) -> Clock {
        let deadline_ms = start_ms.saturating_add(len_ms);
        Clock {
            deadline_ms,
            remaining_ms: deadline_ms.saturating_sub(now_ms),
        }
    }

    /// True when the deadline has passed.
    pub fn overdue(&self) -> bool {
        self.remaining_ms < 0
    }

    /// Hours left (negative when overdue), to one decimal.
    pub fn hours_left(&self) -> f64 {
        (self.remaining_ms as f64 / HOUR_MS as f64 * 10.0).round() / 10.0
    }
}

/// The two PIPA 72-hour clocks, both from the moment of awareness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Clocks {
    /// Notify the data subjects (Enforcement Decree Art. 39(1)).
    pub notify_subjects: Clock,
    /// Report to the PIPC or KISA (Enforcement Decree Art. 40(1)); GDPR Art. 33 runs alike.
    pub report_pipc: Clock,
}

impl Clocks {
    /// Both clocks from `aware_at_ms`, read at `now_ms`.
    pub fn of(aware_at_ms: i64, now_ms: i64) -> Clocks {
        Clocks {
            notify_subjects: Clock::new(aware_at_ms, DEADLINE_MS, now_ms),
            report_pipc: Clock::new(aware_at_ms, DEADLINE_MS, now_ms),
        }
    }
}
