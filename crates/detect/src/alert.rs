//! Alerts (contract section 3), their severities and the stable rule names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How urgently a person should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look during working hours.
    Low,
    /// Look today.
    Medium,
    /// Look now.
    High,
    /// Act now: a registry fact says this access should not be possible.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// `low`, `medium`, `high` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// 0 (low) to 3 (critical).
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The severity of rank `r` (clamped to 0..=3).
    pub fn from_rank(r: u8) -> Severity {
        Severity::ALL[usize::from(r.min(3))]
    }

    /// One step lower (low stays low): the access was refused, so it is less urgent.
    pub fn lower(self) -> Severity {
        Severity::from_rank(self.rank().saturating_sub(1))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Severity, String> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a severity: low, medium, high or critical"))
    }
}

macro_rules! rules {
    ($($(#[$doc:meta])* $v:ident = $name:literal,)*) => {
        /// A detector. Its wire name (`Rule::as_str`) is stable: scripts match on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Rule { $($(#[$doc])* $v,)* }

        impl Rule {
            /// Every rule, in documentation order.
            pub const ALL: &'static [Rule] = &[$(Rule::$v,)*];

            /// The stable snake_case name.
            pub fn as_str(self) -> &'static str {
                match self { $(Rule::$v => $name,)* }
            }
        }
    };
}

impl Rule {
    /// Whether an alert of this rule means that a signing key itself is compromised, so that
    /// an incident's scope is everything the key signed, not one actor's or credential's
    /// records.
    pub fn implicates_signing_key(self) -> bool {
        matches!(
            self,
            Rule::ForgedCredential
                | Rule::OrphanedSigningKey
                | Rule::RevokedSigningKey
                | Rule::RetiredSigningKey
                | Rule::UnknownSigningKey
        )
    }
}

rules! {
    /// Access by a principal that had departed at the record's time.
    DepartedPrincipal = "departed_principal",
    /// Access by a principal that was suspended at the record's time.
    SuspendedPrincipal = "suspended_principal",
    /// Access with a credential whose owner had departed or was suspended.
    OrphanedCredential = "orphaned_credential",
    /// Access with a credential signed by a key whose owner had departed or was suspended.
    OrphanedSigningKey = "orphaned_signing_key",
    /// A registered credential used after it was revoked.
    RevokedCredential = "revoked_credential",
    /// A registered credential used after it expired (or before it was issued).
    ExpiredCredential = "expired_credential",
    /// A credential signed by a registered-issuance key but never issued, or presented with
    /// another key than the one that signed it.
    ForgedCredential = "forged_credential",
    /// A registered credential presented by someone other than its owner.
    CredentialOwnerMismatch = "credential_owner_mismatch",
    /// A credential signed by a revoked key.
    RevokedSigningKey = "revoked_signing_key",
    /// A credential signed by a retired key after its retirement.
    RetiredSigningKey = "retired_signing_key",
    /// A credential signed by a key the registry does not know.
    UnknownSigningKey = "unknown_signing_key",
    /// An actor that is neither in the registry nor a customer acting on their own data.
    UnknownPrincipal = "unknown_principal",
    /// Access from a country outside the home countries and the principal's own.
    ForeignOrigin = "foreign_origin",
    /// Access from a network the actor does not normally use.
    UnusualNetwork = "unusual_network",
    /// One credential used from two places too far apart for the time between.
    ImpossibleTravel = "impossible_travel",
    /// Many distinct actors from one source network within an hour.
    SharedSource = "shared_source",
    /// Distinct subjects in an hour far above the actor's and its peers' normal.
    SubjectsPerHour = "subjects_per_hour",
    /// Distinct subjects in a day far above the actor's and its peers' normal.
    SubjectsPerDay = "subjects_per_day",
    /// Walking subject ids in sequence.
    Enumeration = "enumeration",
    /// Distinct subjects over about 30 days far above the actor's and its peers' normal.
    Reach30d = "reach_30d",
    /// Distinct subjects over about 90 days far above the actor's and its peers' normal.
    Reach90d = "reach_90d",
    /// An export, download or print of personal data without a `purpose`.
    BulkWithoutPurpose = "bulk_without_purpose",
    /// Access at an hour the actor never works.
    OffHours = "off_hours",
    /// Data of a category (health, a resident registration number, payment) that the actor's
    /// role's peers rarely read.
    UnusualDataForRole = "unusual_data_for_role",
    /// A burst of failed logins.
    LoginFailedBurst = "login_failed_burst",
    /// A record stored under a producer `id` that an earlier record of the same event hour,
    /// with other content, already carries (a producer reusing ids, or a record sent first
    /// under a predicted id to have the real one dropped).
    IdConflict = "id_conflict",
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(s: &str) -> Result<Rule, String> {
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a rule name"))
    }
}

/// One alert: contract section 3, plus what is needed to follow it up.
///
/// An alert covers one rule, one entity (actor, credential, key or source network) and one
/// window of event time. Later records that match fold into it: `count`, `last_time` and
/// `evidence` grow, and the alert is emitted again under the same `id` when its count
/// doubles or its severity rises.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Alert {
    /// Unique, deterministic id: the same history always gives the same ids.
    pub id: String,
    /// The detector that fired (stable snake_case, see [`Rule`]).
    pub rule: String,
    /// `low`, `medium`, `high` or `critical`; only ever rises for one id.
    pub severity: Severity,
    /// Event time (RFC 3339, UTC) of the record that triggered the alert.
    pub time: String,
    /// Wall-clock time suho raised (or last updated) it.
    pub detected_at: String,
    /// Actor of the triggering record.
    pub actor: Option<String>,
    /// Credential of the triggering record.
    pub credential: Option<String>,
    /// Signing key of the triggering record.
    pub signing_key: Option<String>,
    /// Source address of the triggering record.
    pub src_ip: Option<String>,
    /// Country of `src_ip`, when the geo database knows it.
    pub country: Option<String>,
    /// Ledger index of the triggering record.
    pub ledger_index: u64,
    /// One sentence: what deviated from what, and what to do.
    pub summary: String,
    /// What deviated from what: the baseline, the threshold, the registry fact.
    pub evidence: serde_json::Value,
    /// The triggering record's `id`, when it had one.
    #[serde(default)]
    pub record_id: Option<String>,
    /// Id of the incident this alert belongs to (alerts about one actor or credential).
    pub incident: String,
    /// What the incident is about: `actor:<id>`, `credential:<id>`, `signing_key:<id>` or
    /// `source:<network>`.
    pub incident_of: String,
    /// Records folded into this alert.
    pub count: u64,
    /// Event time of the latest record folded in.
    pub last_time: String,
    /// Ledger index of the latest record folded in.
    pub last_ledger_index: u64,
    /// The event-time window this alert covers, as an ISO 8601 interval `start/end`.
    pub window: String,
    /// The record at which the alert first reached each severity it has had, in order
    /// (contract section 3): its first record, then every record that raised it. Kept across
    /// updates, so the first entry at `high` or above says when it became high. Empty in
    /// alerts stored before suho kept it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raised: Vec<Mark>,
    /// The record whose processing caused this emission (for a new alert its first record,
    /// for an update the record that folded in; for an update of counts alone, at the end of
    /// a run, the latest record folded in) and the severity the alert had reached then.
    /// `time` and `ledger_index` never move; this does. Absent in alerts stored before suho
    /// kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Mark>,
    /// The id of the analyst suppression (`suho suppress`) that hid this emission: stored,
    /// not delivered to sinks. Absent when nothing hid it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<String>,
    /// A routine low: the day (`YYYY-MM-DD`, home time) of the daily digest it was folded
    /// into, because the same rule drew a low alert about the same entity on most recent
    /// days. Stored and listed by `suho alerts --digest`, not delivered to sinks; it leaves
    /// the digest, and is delivered, if it rises to medium or above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A point in an alert's life: the record at which it reached `severity`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The severity the alert had reached at this record.
    pub severity: Severity,
    /// Event time (RFC 3339, UTC) of the record.
    pub time: String,
    /// Ledger index of the record.
    pub ledger_index: u64,
}

impl Alert {
    /// The rule, parsed.
    pub fn rule(&self) -> Option<Rule> {
        self.rule.parse().ok()
    }

    /// The record at which the alert first reached `high` or above, if it has (from
    /// [`Alert::raised`]).
    pub fn high_since(&self) -> Option<&Mark> {
        self.raised.iter().find(|m| m.severity >= Severity::High)
    }

    /// Whether this emission is kept from the sinks: hidden by a suppression, or a routine
    /// low folded into the daily digest.
    pub fn is_quiet(&self) -> bool {
        self.suppressed_by.is_some() || self.digest.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_snake_case() {
        for r in Rule::ALL {
            assert_eq!(r.as_str().parse::<Rule>(), Ok(*r));
            assert!(r
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()));
        }
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        assert!(Severity::Critical > Severity::High && Severity::Medium > Severity::Low);
        assert_eq!(Severity::Critical.lower(), Severity::High);
        assert_eq!(Severity::Low.lower(), Severity::Low);
    }
}
