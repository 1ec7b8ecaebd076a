//! Analyst suppressions: "this rule, for this actor (or network, or resource), is known and
//! expected until then". A suppressed alert is still stored, marked with the suppression that
//! hid it, and kept from the sinks; `suho suppress list` shows what each one hid.
//!
//! The list lives in one JSON file of the data directory (`suppressions.json`, written
//! atomically); the application layer adds and removes entries and records each change in
//! the ledger. Detection reads the file when it opens and again whenever it changes, and
//! matches only when an alert is emitted (never per record).
//!
//! Policy, enforced here so that no front end can forget it:
//! * a **critical** alert is never hidden: a suppression that matches one leaves it to the
//!   sinks (it only hides low, medium and high);
//! * a suppression of a registry-fact rule (an access the registry says should not be
//!   possible: departed, suspended, revoked, forged, ...) is refused unless forced
//!   ([`Suppression::needs_force`]);
//! * a suppression applies to records whose event time is before its `until`, and stops
//!   applying altogether once removed.

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::alert::{Rule, Severity};
use crate::DetectError;

/// What a suppression is about: one actor, one source network, or one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Records of this actor.
    Actor(String),
    /// Records from a source address in this network (CIDR, as given).
    Network(String),
    /// Records about this resource (exactly as the record names it).
    Resource(String),
}

impl Target {
    /// `actor`, `network` or `resource`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Actor(_) => "actor",
            Target::Network(_) => "network",
            Target::Resource(_) => "resource",
        }
    }

    /// The actor, network or resource.
    pub fn value(&self) -> &str {
        match self {
            Target::Actor(v) | Target::Network(v) | Target::Resource(v) => v,
        }
    }
}

/// One analyst suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// `sup-<n>`, never reused within a data directory.
    pub id: String,
    /// The rule it silences (a [`Rule`] name).
    pub rule: String,
    /// Whose or what records.
    pub target: Target,
    /// Event time (RFC 3339, UTC) from which it no longer applies.
    pub until: String,
    /// Why, as the analyst said.
    pub reason: String,
    /// Who added it.
    pub added_by: String,
    /// When it was added (wall clock, RFC 3339).
    pub added_at: String,
    /// Added with `--force` (needed for registry-fact rules).
    #[serde(default)]
    pub forced: bool,
    /// Where its addition is recorded in the ledger (absent while spooled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
    /// When it was removed (wall clock), if it was: it no longer applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<String>,
    /// Who removed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_by: Option<String>,
}

impl Suppression {
    /// Whether suppressing `rule` needs `--force`: its alerts state a registry fact (an access
    /// that should not be possible), never a matter of behaviour.
    pub fn needs_force(rule: Rule) -> bool {
        matches!(
            rule,
            Rule::DepartedPrincipal
                | Rule::SuspendedPrincipal
                | Rule::OrphanedCredential
                | Rule::OrphanedSigningKey
                | Rule::RevokedCredential
                | Rule::ExpiredCredential
                | Rule::ForgedCredential
                | Rule::CredentialOwnerMismatch
                | Rule::RevokedSigningKey
                | Rule::RetiredSigningKey
                | Rule::UnknownSigningKey
                | Rule::IdConflict
        )
    }

    /// Whether it still applies to anything (not removed).
    pub fn active(&self) -> bool {
        self.removed_at.is_none()
    }
}

/// The suppressions file: every suppression ever added (removed ones stay, marked, so that
/// what they hid can still be shown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionFile {
    /// Format version (1).
    pub version: u32,
    /// The number the next suppression gets.
    pub next: u64,
    /// Oldest first.
    pub suppressions: Vec<Suppression>,
}

impl SuppressionFile {
    /// Reads `path`; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<SuppressionFile, DetectError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SuppressionFile {
                    version: 1,
                    next: 1,
                    suppressions: Vec::new(),
                })
            }
            Err(e) => {
                return Err(DetectError::Io {
                    path: path.to_path_buf(),
                    what: "reading the suppressions",
                    source: e,
                })
            }
        };
        let bad = |reason: String| DetectError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let f: SuppressionFile = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("not a suppressions file: {e}")))?;
        if f.version != 1 {
            return Err(bad(format!(
                "suppressions format version {}, this build reads 1",
                f.version
            )));
        }
        // Every entry must compile, so that detection never meets one it cannot apply.
        Matcher::build(&f.suppressions).map_err(bad)?;
        Ok(f)
    }

    /// Writes it to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), DetectError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| DetectError::Config {
            path: path.to_path_buf(),
            reason: format!("cannot encode the suppressions: {e}"),
        })?;
        suho_durable::write_atomic(path, &text).map_err(|e| DetectError::Io {
            path: e.path,
            what: "writing the suppressions",
            source: e.source,
        })
    }
}

#[derive(Debug, Clone)]
enum Compiled {
    Actor(String),
    Network(ipnet::IpNet),
    Resource(String),
}

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    rule: Rule,
    target: Compiled,
    until_ms: i64,
}

/// The active suppressions, ready to match emitted alerts against.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    entries: Vec<Entry>,
}

/// What a record says that a suppression can match.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The record's actor.
    pub actor: Option<&'a str>,
    /// Its source address.
    pub src_ip: Option<IpAddr>,
    /// Its resource.
    pub resource: Option<&'a str>,
    /// Its event time (epoch ms).
    pub time_ms: i64,
}

impl Matcher {
    /// The matcher of the active entries of `list`; an entry that does not compile is an
    /// error naming it.
    pub fn build(list: &[Suppression]) -> Result<Matcher, String> {
        let mut entries = Vec::new();
        for s in list {
            let rule: Rule = s
                .rule
                .parse()
                .map_err(|e| format!("suppression {}: {e}", s.id))?;
            let until_ms = suho_record::parse_rfc3339(&s.until)
                .map_err(|e| format!("suppression {}: until {:?}: {e}", s.id, s.until))?;
            let target = match &s.target {
                Target::Actor(a) => Compiled::Actor(a.clone()),
                Target::Resource(r) => Compiled::Resource(r.clone()),
                Target::Network(n) => Compiled::Network(
                    n.parse::<ipnet::IpNet>()
                        .map_err(|e| format!("suppression {}: network {n:?}: {e}", s.id))?
                        .trunc(),
                ),
            };
            if s.active() {
                entries.push(Entry {
                    id: s.id.clone(),
                    rule,
                    target,
                    until_ms,
                });
            }
        }
        Ok(Matcher { entries })
    }

    /// Whether no suppression is active.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first active suppression that hides an emission of `rule` at `severity` caused by
    /// the record `s`. A critical emission is never hidden.
    pub fn hides(&self, rule: Rule, severity: Severity, s: Subject<'_>) -> Option<&str> {
        if severity == Severity::Critical {
            return None;
        }
        self.entries
            .iter()
            .find(|e| {
                e.rule == rule
                    && s.time_ms < e.until_ms
                    && match &e.target {
                        Compiled::Actor(a) => s.actor == Some(a.as_str()),
                        Compiled::Resource(r) => s.resource == Some(r.as_str()),
                        Compiled::Network(n) => s.src_ip.is_some_and(|ip| n.contains(&ip)),
                    }
            })
            .map(|e| e.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sup(id: &str, rule: &str, target: Target, until: &str) -> Suppression {
        Suppression {
            id: id.into(),
            rule: rule.into(),
            target,
            until: until.into(),
            reason: "r".into(),
            added_by: "a".into(),
            added_at: "2025-06-01T00:00:00Z".into(),
            forced: false,
            ledger_index: None,
            removed_at: None,
            removed_by: None,
        }
    }

    #[test]
    fn matches_rule_target_and_event_time_never_critical_nor_removed() {
        let mut removed = sup(
            "sup-3",
            "off_hours",
            Target::Actor("emp-1".into()),
            "2030-01-01T00:00:00Z",
        );
        removed.removed_at = Some("2025-06-02T00:00:00Z".into());
        let m = Matcher::build(&[
            sup(
                "sup-1",
                "subjects_per_day",
                Target::Actor("emp-1".into()),
                "2025-07-01T00:00:00Z",
            ),
            sup(
                "sup-2",
                "unusual_network",
                Target::Network("10.9.0.0/16".into()),
                "2025-07-01T00:00:00Z",
            ),
            removed,
        ])
        .expect("compiles");
        let before = suho_record::parse_rfc3339("2025-06-30T23:59:59Z").expect("t");
        let after = suho_record::parse_rfc3339("2025-07-01T00:00:00Z").expect("t");
        let at = |actor, ip: Option<&str>, t| Subject {
            actor: Some(actor),
            src_ip: ip.and_then(|i| i.parse().ok()),
            resource: None,
            time_ms: t,
        };
        let per_day = Rule::SubjectsPerDay;
        assert_eq!(
            m.hides(per_day, Severity::High, at("emp-1", None, before)),
            Some("sup-1")
        );
        assert_eq!(
            m.hides(per_day, Severity::Low, at("emp-1", None, after)),
            None
        );
        assert_eq!(
            m.hides(per_day, Severity::Low, at("emp-2", None, before)),
            None
        );
        assert_eq!(
            m.hides(Rule::OffHours, Severity::Low, at("emp-1", None, before)),
            None
        );
        assert_eq!(
            m.hides(per_day, Severity::Critical, at("emp-1", None, before)),
            None,
            "a critical alert is never hidden"
        );
        let net = Rule::UnusualNetwork;
        assert_eq!(
            m.hides(net, Severity::Medium, at("x", Some("10.9.3.4"), before)),
            Some("sup-2")
        );
        assert_eq!(
            m.hides(net, Severity::Medium, at("x", Some("10.8.3.4"), before)),
            None
        );
    }

    #[test]
    fn a_bad_entry_is_refused_with_its_id() {
        let err = Matcher::build(&[sup(
            "sup-9",
            "no_such_rule",
            Target::Actor("a".into()),
            "2025-07-01T00:00:00Z",
        )])
        .expect_err("refused");
        assert!(err.contains("sup-9"), "{err}");
        let err = Matcher::build(&[sup(
            "sup-8",
            "off_hours",
            Target::Network("10.0.0.0/99".into()),
            "2025-07-01T00:00:00Z",
        )])
        .expect_err("refused");
        assert!(err.contains("sup-8") && err.contains("network"), "{err}");
    }
}
