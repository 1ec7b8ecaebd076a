//! The registry held in memory, as detection reads it: the current version of every record,
//! and the earlier versions of the few whose state changed at a known event time.

use std::collections::HashMap;

use crate::model::{
    Credential, KeyStatus, Millis, Principal, PrincipalStatus, RegistryRecord, SigningKey,
};

/// Every principal, signing key and credential, by id: the current version of each, and the
/// versions before it for records whose lines carried `valid_from`.
///
/// A record's versions form a timeline in event time. A line with `valid_from` holds from
/// then until the next version's `valid_from`; the earliest version also holds before its own
/// `valid_from` (a registry has to start somewhere: a first line's `valid_from` does not make
/// the principal unknown before it). A line without `valid_from` replaces the version in
/// effect now and inherits its `valid_from`: with no `valid_from` anywhere, that is the one
/// version, at every time, as before versions existed. A line whose `valid_from` is earlier
/// than the current version's is a piece of history loaded late and slots in where it belongs.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Principals by id (the current version).
    pub principals: HashMap<String, Principal>,
    /// Signing keys by id (the current version).
    pub keys: HashMap<String, SigningKey>,
    /// Credentials by id (the current version).
    pub credentials: HashMap<String, Credential>,
    /// Versions before the current one, oldest first, of principals that have them.
    pub earlier_principals: HashMap<String, Vec<Principal>>,
    /// Versions before the current one, oldest first, of signing keys that have them.
    pub earlier_keys: HashMap<String, Vec<SigningKey>>,
    /// Versions before the current one, oldest first, of credentials that have them.
    pub earlier_credentials: HashMap<String, Vec<Credential>>,
}

impl Registry {
    /// Insert a record, or a new version of one (see [`Registry`] for where it goes). A
    /// departure, suspension, retirement or revocation a version records (timed, and in
    /// effect in that version) is a fact about event time: every earlier version is given it
    /// too, so that an offboarding dated before the latest re-org still covers the days in
    /// between.
    pub fn upsert(&mut self, rec: RegistryRecord) {
        match rec {
            RegistryRecord::Principal(p) => {
                place(&mut self.principals, &mut self.earlier_principals, p);
            }
            RegistryRecord::SigningKey(k) => place(&mut self.keys, &mut self.earlier_keys, k),
            RegistryRecord::Credential(c) => {
                place(&mut self.credentials, &mut self.earlier_credentials, c);
            }
        }
    }

    /// The principal with this id (its current version).
    pub fn principal(&self, id: &str) -> Option<&Principal> {
        self.principals.get(id)
    }

    /// The signing key with this id (its current version).
    pub fn key(&self, id: &str) -> Option<&SigningKey> {
        self.keys.get(id)
    }

    /// The credential with this id (its current version).
    pub fn credential(&self, id: &str) -> Option<&Credential> {
        self.credentials.get(id)
    }

    /// The principal with this id as it stood at event time `t`.
    pub fn principal_at(&self, id: &str, t: Millis) -> Option<&Principal> {
        version_at(&self.principals, &self.earlier_principals, id, t)
    }

    /// The signing key with this id as it stood at event time `t`.
    pub fn key_at(&self, id: &str, t: Millis) -> Option<&SigningKey> {
        version_at(&self.keys, &self.earlier_keys, id, t)
    }

    /// The credential with this id as it stood at event time `t`.
    pub fn credential_at(&self, id: &str, t: Millis) -> Option<&Credential> {
        version_at(&self.credentials, &self.earlier_credentials, id, t)
    }

    /// Every version of the principal with this id, oldest first (empty when unknown).
    pub fn principal_versions(&self, id: &str) -> Vec<&Principal> {
        versions(&self.principals, &self.earlier_principals, id)
    }

    /// Every version of the signing key with this id, oldest first.
    pub fn key_versions(&self, id: &str) -> Vec<&SigningKey> {
        versions(&self.keys, &self.earlier_keys, id)
    }

    /// Every version of the credential with this id, oldest first.
    pub fn credential_versions(&self, id: &str) -> Vec<&Credential> {
        versions(&self.credentials, &self.earlier_credentials, id)
    }

    /// Credentials owned by `principal` (current versions).
    pub fn credentials_of<'a>(
        &'a self,
        principal: &'a str,
    ) -> impl Iterator<Item = &'a Credential> + 'a {
        self.credentials
            .values()
            .filter(move |c| c.principal == principal)
    }

    /// Signing keys owned by `principal` (current versions).
    pub fn keys_of<'a>(&'a self, principal: &'a str) -> impl Iterator<Item = &'a SigningKey> + 'a {
        self.keys
            .values()
            .filter(move |k| k.owner.as_deref() == Some(principal))
    }
}

/// The version in effect at `t`: the last whose `valid_from` is at or before `t`, else the
/// earliest. One comparison when the record has a single version.
fn version_at<'a, T: Versioned>(
    current: &'a HashMap<String, T>,
    earlier: &'a HashMap<String, Vec<T>>,
    id: &str,
    t: Millis,
) -> Option<&'a T> {
    let cur = current.get(id)?;
    if cur.valid_from().is_none_or(|v| t >= v) {
        return Some(cur);
    }
    let list = earlier.get(id).map_or(&[][..], Vec::as_slice);
    let after = list.partition_point(|e| e.valid_from().is_none_or(|v| v <= t));
    Some(match after {
        0 => list.first().unwrap_or(cur),
        n => &list[n - 1],
    })
}

fn versions<'a, T: Versioned>(
    current: &'a HashMap<String, T>,
    earlier: &'a HashMap<String, Vec<T>>,
    id: &str,
) -> Vec<&'a T> {
    let mut out: Vec<&T> = earlier.get(id).into_iter().flatten().collect();
    out.extend(current.get(id));
    out
}

/// Puts `rec` into its record's timeline, then gives earlier versions the ends later ones
/// record.
fn place<T: Versioned>(
    current: &mut HashMap<String, T>,
    earlier: &mut HashMap<String, Vec<T>>,
    mut rec: T,
) {
    let id = rec.id().to_string();
    let Some(cur) = current.get_mut(&id) else {
        current.insert(id, rec);
        return;
    };
    let (new_from, cur_from) = (rec.valid_from(), cur.valid_from());
    match new_from {
        // No time given: the version in effect now changes, from when it began.
        None => {
            rec.set_valid_from(cur_from);
            *cur = rec;
        }
        Some(_) if new_from == cur_from => *cur = rec,
        Some(_) if new_from > cur_from => {
            let old = std::mem::replace(cur, rec);
            earlier.entry(id.clone()).or_default().push(old);
        }
        // History loaded late: an earlier period.
        Some(_) => {
            let list = earlier.entry(id.clone()).or_default();
            match list.binary_search_by(|e| e.valid_from().cmp(&new_from)) {
                Ok(i) => list[i] = rec,
                Err(i) => list.insert(i, rec),
            }
        }
    }
    if let (Some(list), Some(cur)) = (earlier.get_mut(&id), current.get(&id)) {
        let mut ends = cur.ends();
        for v in list.iter_mut().rev() {
            v.take_ends(ends);
            let own = v.ends();
            ends = [earliest(ends[0], own[0]), earliest(ends[1], own[1])];
        }
    }
}

/// The registry types, as versions on a timeline.
trait Versioned {
    fn id(&self) -> &str;
    fn valid_from(&self) -> Option<Millis>;
    fn set_valid_from(&mut self, v: Option<Millis>);
    /// Timed ends in effect in this version (departure and suspension; revocation and
    /// retirement), `None` where there is none.
    fn ends(&self) -> [Option<Millis>; 2];
    /// Gives this (earlier) version the ends a later one records, keeping an earlier one of
    /// its own.
    fn take_ends(&mut self, ends: [Option<Millis>; 2]);
}

/// Whether an end at `at` (with status `is_end`) is in effect in a version from `from`: the
/// line's status is that end, or the end is not before the version began.
fn in_effect(at: Option<Millis>, is_end: bool, from: Option<Millis>) -> Option<Millis> {
    at.filter(|&a| is_end || from.is_none_or(|v| a >= v))
}

fn earliest(own: Option<Millis>, other: Option<Millis>) -> Option<Millis> {
    match (own, other) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Versioned for Principal {
    fn id(&self) -> &str {
        &self.id
    }
    fn valid_from(&self) -> Option<Millis> {
        self.valid_from
    }
    fn set_valid_from(&mut self, v: Option<Millis>) {
        self.valid_from = v;
    }
    fn ends(&self) -> [Option<Millis>; 2] {
        [
            in_effect(
                self.departed_at,
                self.status == PrincipalStatus::Departed,
                self.valid_from,
            ),
            in_effect(
                self.suspended_at,
                self.status == PrincipalStatus::Suspended,
                self.valid_from,
            ),
        ]
    }
    fn take_ends(&mut self, [departed, suspended]: [Option<Millis>; 2]) {
        let [own_departed, own_suspended] = self.ends();
        if departed.is_some() {
            self.departed_at = earliest(own_departed, departed);
            self.status = PrincipalStatus::Departed;
        }
        if suspended.is_some() {
            self.suspended_at = earliest(own_suspended, suspended);
            if self.status == PrincipalStatus::Active {
                self.status = PrincipalStatus::Suspended;
            }
        }
    }
}

impl Versioned for SigningKey {
    fn id(&self) -> &str {
        &self.id
    }
    fn valid_from(&self) -> Option<Millis> {
        self.valid_from
    }
    fn set_valid_from(&mut self, v: Option<Millis>) {
        self.valid_from = v;
    }
    fn ends(&self) -> [Option<Millis>; 2] {
        // A retirement or revocation is one-way: every one recorded is in effect.
        [self.revoked_at, self.retired_at]
    }
    fn take_ends(&mut self, [revoked, retired]: [Option<Millis>; 2]) {
        if revoked.is_some() {
            self.revoked_at = earliest(self.revoked_at, revoked);
            self.status = KeyStatus::Revoked;
        }
        if retired.is_some() {
            self.retired_at = earliest(self.retired_at, retired);
            if self.status == KeyStatus::Active {
                self.status = KeyStatus::Retired;
            }
        }
    }
}

impl Versioned for Credential {
    fn id(&self) -> &str {
        &self.id
    }
    fn valid_from(&self) -> Option<Millis> {
        self.valid_from
    }
    fn set_valid_from(&mut self, v: Option<Millis>) {
        self.valid_from = v;
    }
    fn ends(&self) -> [Option<Millis>; 2] {
        [self.revoked_at, None]
    }
    fn take_ends(&mut self, [revoked, _]: [Option<Millis>; 2]) {
        self.revoked_at = earliest(self.revoked_at, revoked);
    }
}
