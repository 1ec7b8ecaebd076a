//! The registry: who works here, which credentials and signing keys exist and who owns them,
//! with the full history of every grant, change and revocation (PIPA safety standard
//! Art. 5(3)). Detection reads it as it stood at each record's event time.
#![forbid(unsafe_code)]

mod model;
mod snapshot;

pub use snapshot::Registry;
pub use model::{
    parse_registry_line, Credential, CredentialKind, Issuance, KeyStatus, Millis, Principal, PrincipalKind, PrincipalStatus, RegistryRecord, SigningKey,
    Validity,
};

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A registry line is not a valid record.
    #[error("{0}")]
    Invalid(String),
}
