//! The registry held in memory, as detection reads it.

use std::collections::HashMap;

use crate::model::{Credential, Principal, RegistryRecord, SigningKey};

/// Every principal, signing key and credential, by id (the current version of each).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Principals by id.
    pub principals: HashMap<String, Principal>,
    /// Signing keys by id.
    pub keys: HashMap<String, SigningKey>,
    /// Credentials by id.
    pub credentials: HashMap<String, Credential>,
}

impl Registry {
    /// Insert or replace a record.
    pub fn upsert(&mut self, rec: RegistryRecord) {
        match rec {
            RegistryRecord::Principal(p) => {
                self.principals.insert(p.id.clone(), p);
            }
            RegistryRecord::SigningKey(k) => {
                self.keys.insert(k.id.clone(), k);
            }
            RegistryRecord::Credential(c) => {
                self.credentials.insert(c.id.clone(), c);
            }
        }
    }

    /// The principal with this id.
    pub fn principal(&self, id: &str) -> Option<&Principal> {
        self.principals.get(id)
    }

    /// The signing key with this id.
    pub fn key(&self, id: &str) -> Option<&SigningKey> {
        self.keys.get(id)
    }

    /// The credential with this id.
    pub fn credential(&self, id: &str) -> Option<&Credential> {
        self.credentials.get(id)
    }

    /// Credentials owned by `principal`.
    pub fn credentials_of<'a>(
        &'a self,
        principal: &'a str,
    ) -> impl Iterator<Item = &'a Credential> + 'a {
        self.credentials
            .values()
            .filter(move |c| c.principal == principal)
    }

    /// Signing keys owned by `principal`.
    pub fn keys_of<'a>(&'a self, principal: &'a str) -> impl Iterator<Item = &'a SigningKey> + 'a {
        self.keys
            .values()
            .filter(move |k| k.owner.as_deref() == Some(principal))
    }
}
