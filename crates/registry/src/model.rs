//! The registry's records (contract section 2) and their state at a point in event time.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::RegistryError;

/// Epoch milliseconds, UTC.
pub type Millis = i64;

/// What kind of principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A member of staff.
    Employee,
    /// An outside worker.
    Contractor,
    /// A machine account.
    Service,
}

/// A principal's employment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalStatus {
    /// Works here.
    Active,
    /// Temporarily barred.
    Suspended,
    /// Has left.
    Departed,
}

/// A person or service account that may access personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Principal {
    /// Account id, as it appears in access records' `actor`.
    pub id: String,
    /// Employee, contractor or service.
    pub kind: PrincipalKind,
    /// Status as loaded.
    pub status: PrincipalStatus,
    /// Peer group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// When the principal left (event time).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub departed_at: Option<Millis>,
    /// When the principal was suspended (event time).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub suspended_at: Option<Millis>,
    /// ISO 3166 alpha-2 countries where the principal normally works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// Networks the principal normally comes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<IpNet>,
    /// Event time from which this version holds (a re-org, a network move, a rehire); `None`:
    /// it holds at every time, as lines without `valid_from` always have.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "valid_time")]
    pub valid_from: Option<Millis>,
}

impl Principal {
    /// Status at event time `t`: departed or suspended from the recorded moment on; a status
    /// given without a time holds at every time. On a version with `valid_from`, a departure
    /// or suspension dated before it on a line whose status is another one is an episode
    /// that ended by then (a rehire, a reinstatement): it does not hold in this version (the
    /// versions before it carry it, see [`crate::Registry::upsert`]).
    pub fn status_at(&self, t: Millis) -> PrincipalStatus {
        let since = |at: Option<Millis>, s: PrincipalStatus| match at {
            Some(at) => t >= at && (self.status == s || self.valid_from.is_none_or(|v| at >= v)),
            None => self.status == s,
        };
        if since(self.departed_at, PrincipalStatus::Departed) {
            PrincipalStatus::Departed
        } else if since(self.suspended_at, PrincipalStatus::Suspended) {
            PrincipalStatus::Suspended
        } else {
            PrincipalStatus::Active
        }
    }
}

/// A signing key's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// In use.
    Active,
    /// No longer used to sign.
    Retired,
    /// Must not be trusted.
    Revoked,
}

/// How credentials signed by a key are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Issuance {
    /// Every credential the key signs is registered: an unregistered one is forged.
    #[default]
    Registered,
    /// Credentials it signs are not registered one by one (e.g. customer sessions).
    Unregistered,
}

/// A key that signs credentials (JWT `kid`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Key id, as in access records' `signing_key`.
    pub id: String,
    /// Principal that owns (holds) the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Status as loaded.
    pub status: KeyStatus,
    /// Whether credentials it signs are registered.
    #[serde(default)]
    pub issuance: Issuance,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub created_at: Option<Millis>,
    /// When it was retired.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub retired_at: Option<Millis>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub revoked_at: Option<Millis>,
    /// Event time from which this version holds (a new owner, a new issuance); `None`: at
    /// every time.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "valid_time")]
    pub valid_from: Option<Millis>,
}

impl SigningKey {
    /// Status at event time `t` (a status given without a time holds at every time).
    pub fn status_at(&self, t: Millis) -> KeyStatus {
        let since = |at: Option<Millis>, s: KeyStatus| match at {
            Some(at) => t >= at,
            None => self.status == s,
        };
        if since(self.revoked_at, KeyStatus::Revoked) {
            KeyStatus::Revoked
        } else if since(self.retired_at, KeyStatus::Retired) {
            KeyStatus::Retired
        } else {
            KeyStatus::Active
        }
    }
}

/// What kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// Short-lived bearer token.
    AccessToken,
    /// Token that mints access tokens.
    RefreshToken,
    /// Long-lived key.
    ApiKey,
    /// Interactive session.
    Session,
    /// Client certificate.
    Certificate,
}

/// A credential that was issued to a principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    /// Credential id (JWT `jti`, API key id, session id).
    pub id: String,
    /// Owner.
    pub principal: String,
    /// Kind.
    pub kind: CredentialKind,
    /// Key that signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
    /// When it was issued.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub issued_at: Option<Millis>,
    /// When it expires.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub expires_at: Option<Millis>,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_time")]
    pub revoked_at: Option<Millis>,
    /// Event time from which this version holds (a new owner, a new key); `None`: at every
    /// time.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "valid_time")]
    pub valid_from: Option<Millis>,
}

/// A credential's validity at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    /// Issued, not expired, not revoked.
    Valid,
    /// Used before it was issued.
    NotYetIssued,
    /// Used after it expired.
    Expired,
    /// Used after it was revoked.
    Revoked,
}

impl Credential {
    /// Validity at event time `t`.
    pub fn validity_at(&self, t: Millis) -> Validity {
        if self.revoked_at.is_some_and(|r| t >= r) {
            Validity::Revoked
        } else if self.expires_at.is_some_and(|e| t >= e) {
            Validity::Expired
        } else if self.issued_at.is_some_and(|i| t < i) {
            Validity::NotYetIssued
        } else {
            Validity::Valid
        }
    }
}

/// One line of a registry file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RegistryRecord {
    /// A principal.
    Principal(Principal),
    /// A signing key.
    SigningKey(SigningKey),
    /// A credential.
    Credential(Credential),
}

impl RegistryRecord {
    /// A warning when the record gives an end status without its time (the contract asks
    /// for both): it then holds at every time, so every record of the principal or key,
    /// however old, is judged as if it had already ended.
    pub fn timeless_end(&self) -> Option<String> {
        let (what, id, field) = match self {
            RegistryRecord::Principal(p) => match p.status {
                PrincipalStatus::Departed if p.departed_at.is_none() => {
                    ("principal", &p.id, "departed without departed_at")
                }
                PrincipalStatus::Suspended if p.suspended_at.is_none() => {
                    ("principal", &p.id, "suspended without suspended_at")
                }
                _ => return None,
            },
            RegistryRecord::SigningKey(k) => match k.status {
                KeyStatus::Revoked if k.revoked_at.is_none() => {
                    ("signing key", &k.id, "revoked without revoked_at")
                }
                KeyStatus::Retired if k.retired_at.is_none() => {
                    ("signing key", &k.id, "retired without retired_at")
                }
                _ => return None,
            },
            RegistryRecord::Credential(_) => return None,
        };
        Some(format!(
            "{what} {id:?} is {field}: it counts as such at every time, so even its oldest \
             records are judged that way; give the time"
        ))
    }

    /// The line's `valid_from`: the event time from which it holds (`None`: every time).
    pub fn valid_from(&self) -> Option<Millis> {
        match self {
            RegistryRecord::Principal(p) => p.valid_from,
            RegistryRecord::SigningKey(k) => k.valid_from,
            RegistryRecord::Credential(c) => c.valid_from,
        }
    }

    /// `(type, id)`: the upsert key.
    pub fn key(&self) -> (&'static str, &str) {
        match self {
            RegistryRecord::Principal(p) => ("principal", &p.id),
            RegistryRecord::SigningKey(k) => ("signing_key", &k.id),
            RegistryRecord::Credential(c) => ("credential", &c.id),
        }
    }
}

/// Parse one registry line (contract section 2). Times are RFC 3339 with offset or epoch ms.
pub fn parse_registry_line(line: &[u8]) -> Result<RegistryRecord, RegistryError> {
    let rec: RegistryRecord =
        serde_json::from_slice(line).map_err(|e| RegistryError::Invalid(e.to_string()))?;
    let id = rec.key().1;
    if id.is_empty() || id.len() > 256 {
        return Err(RegistryError::Invalid(format!(
            "\"id\" must be 1..256 bytes, got {}",
            id.len()
        )));
    }
    Ok(rec)
}

/// `valid_from`: an optional time like the others, whose errors name the field and which must
/// lie within the times an access record may carry (1970 to 9999), since it is compared with
/// them.
mod valid_time {
    use serde::{de::Error, Deserializer, Serializer};

    use super::Millis;

    pub fn serialize<S: Serializer>(v: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        super::opt_time::serialize(v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        let t = super::opt_time::deserialize(d)
            .map_err(|e| D::Error::custom(format!("\"valid_from\": {e}")))?;
        match t {
            Some(ms) if !(suho_record::MIN_TIME_MS..=suho_record::MAX_TIME_MS).contains(&ms) => {
                Err(D::Error::custom(format!(
                    "\"valid_from\": {ms} is outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999Z"
                )))
            }
            t => Ok(t),
        }
    }
}

/// Serde support for optional times written as RFC 3339 (or read as epoch ms).
mod opt_time {
    use serde::{de, Deserializer, Serializer};

    use super::Millis;

    pub fn serialize<S: Serializer>(v: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ms) => s.serialize_str(&suho_record::format_rfc3339_ms(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        // A visitor rather than an untagged enum: untagged buffers every value and builds an
        // error for each variant that does not match, which made registry loads 3x slower.
        d.deserialize_option(TimeVisitor)
    }

    struct TimeVisitor;

    impl<'de> de::Visitor<'de> for TimeVisitor {
        type Value = Option<Millis>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 time with offset or integer epoch milliseconds")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(TimeVisitor)
        }

        fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Self::Value, E> {
            Ok(Some(ms))
        }

        fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Self::Value, E> {
            i64::try_from(ms)
                .map(Some)
                .map_err(|_| E::custom(format!("{ms} is out of range for epoch milliseconds")))
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            suho_record::parse_rfc3339(s)
                .map(Some)
                .map_err(|e| E::custom(format!("{s:?} is not an RFC 3339 time with offset: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        suho_record::parse_rfc3339(s).expect("time")
    }

    #[test]
    fn the_contract_examples_parse_and_judge_status_in_event_time() {
        let p = parse_registry_line(br#"{"type":"principal","id":"emp-0131","kind":"employee","status":"departed","role":"backend-engineer","departed_at":"2025-05-31T18:00:00+09:00","countries":["KR"],"networks":["10.20.0.0/16"]}"#).expect("principal");
        let RegistryRecord::Principal(p) = p else {
            panic!("not a principal")
        };
        assert_eq!(
            p.status_at(ms("2025-05-01T00:00:00Z")),
            PrincipalStatus::Active
        );
        assert_eq!(
            p.status_at(ms("2025-06-24T03:12:45Z")),
            PrincipalStatus::Departed
        );
        let k = parse_registry_line(br#"{"type":"signing_key","id":"kid-2024-02","owner":"svc-auth","status":"active","issuance":"registered","created_at":"2024-02-01T00:00:00Z"}"#).expect("key");
        let RegistryRecord::SigningKey(k) = k else {
            panic!("not a key")
        };
        assert_eq!(k.status_at(ms("2025-06-24T00:00:00Z")), KeyStatus::Active);
        assert_eq!(k.issuance, Issuance::Registered);
        let c = parse_registry_line(br#"{"type":"credential","id":"tok-9c01","principal":"emp-0042","kind":"access_token","signing_key":"kid-2024-02","issued_at":"2025-06-24T00:00:00Z","expires_at":"2025-06-25T00:00:00Z"}"#).expect("credential");
        let RegistryRecord::Credential(c) = c else {
            panic!("not a credential")
        };
        assert_eq!(c.validity_at(ms("2025-06-24T12:00:00Z")), Validity::Valid);
        assert_eq!(c.validity_at(ms("2025-06-25T00:00:00Z")), Validity::Expired);
        assert_eq!(
            c.validity_at(ms("2025-06-23T23:59:59Z")),
            Validity::NotYetIssued
        );
    }

    #[test]
    fn bad_lines_say_why() {
        let e = parse_registry_line(
            br#"{"type":"principal","id":"x","kind":"robot","status":"active"}"#,
        )
        .expect_err("bad kind");
        assert!(e.to_string().contains("robot"), "{e}");
        let e = parse_registry_line(br#"{"type":"credential","id":"t","principal":"p","kind":"api_key","issued_at":"yesterday"}"#).expect_err("bad time");
        assert!(e.to_string().contains("yesterday"), "{e}");
    }
}
