//! The registry re-keyed by the 64-bit id hashes that [`crate::Features`] carry, with what
//! each check needs precomputed (peer group, countries, network ranges, owners' hashes).
//!
//! Records are judged against the registry as it stood at their event time. Each entry of
//! `principals`, `keys` and `creds` is the current version and says from when it holds
//! (`from`, `i64::MIN` when it is the only version); the few records with earlier versions
//! (registry lines with `valid_from`) keep them, oldest first, in `earlier_*`. So a lookup in
//! event time ([`RegIndex::principal_at`], [`RegIndex::key_at`], [`RegIndex::cred_at`]) costs
//! what a plain lookup costs plus one comparison, unless the record is older than the
//! current version of a record that changed.

use std::net::IpAddr;

use suho_registry::{Credential, Principal, PrincipalKind, Registry, SigningKey};

use crate::hash::{hash_id, HashMap64};

/// An address as a 128-bit number: IPv4 in the IPv4-mapped IPv6 range, so both families
/// share one space without colliding.
#[inline]
pub(crate) fn ip_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => (0xffffu128 << 32) | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The network an address is "on" for baselines: its /24 (IPv4) or /48 (IPv6).
#[inline]
pub(crate) fn net_prefix(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(_) => ip_u128(ip) & !0xffu128,
        IpAddr::V6(_) => ip_u128(ip) & !((1u128 << 80) - 1),
    }
}

/// A prefix from [`net_prefix`] written as a CIDR.
pub(crate) fn prefix_text(p: u128) -> String {
    if p >> 32 == 0xffff {
        let v4 = std::net::Ipv4Addr::from((p & 0xffff_ffff) as u32);
        format!("{v4}/24")
    } else {
        format!("{}/48", std::net::Ipv6Addr::from(p))
    }
}

pub(crate) struct PInfo {
    pub p: Principal,
    /// Event time from which this version holds; `i64::MIN` for the only or earliest one.
    pub from: i64,
    /// Peer group: the role, or the kind when there is no role.
    pub group: u64,
    pub countries: Vec<[u8; 2]>,
    /// Registry `networks` as inclusive ranges in [`ip_u128`] space.
    pub nets: Vec<(u128, u128)>,
}

impl PInfo {
    pub fn is_service(&self) -> bool {
        self.p.kind == PrincipalKind::Service
    }

    pub fn in_registry_networks(&self, ip: u128) -> bool {
        self.nets.iter().any(|&(s, e)| (s..=e).contains(&ip))
    }
}

pub(crate) struct KInfo {
    pub k: SigningKey,
    /// Event time from which this version holds; `i64::MIN` for the only or earliest one.
    pub from: i64,
    /// Hash of the owner's id, 0 when none.
    pub owner: u64,
    /// The owner, when registered (its current version, copied here: every use of the key
    /// checks it). See [`KInfo::owner_at`] for the owner as it stood at a time.
    pub owner_p: Option<Principal>,
    /// The owner has earlier versions.
    owner_versions: bool,
    /// [`crate::hash::id_check`] of the key's id.
    pub check: u64,
}

pub(crate) struct CInfo {
    pub c: Credential,
    /// Event time from which this version holds; `i64::MIN` for the only or earliest one.
    pub from: i64,
    pub owner: u64,
    /// The owner, when registered (its current version). See [`CInfo::owner_at`].
    pub owner_p: Option<Principal>,
    /// The owner has earlier versions.
    owner_versions: bool,
    /// Hash of the registered signing key, 0 when none.
    pub key: u64,
    /// [`crate::hash::id_check`] of the credential's id.
    pub check: u64,
}

/// A one-hash Bloom filter over id hashes: "certainly absent" answers skip a hash-map probe
/// (and its cache miss) for the customers and unregistered sessions that make up most
/// traffic. At 16 bits per entry about 6% of absent ids still probe.
#[derive(Default)]
pub(crate) struct Prefilter {
    bits: Vec<u64>,
}

impl Prefilter {
    fn new(hashes: impl Iterator<Item = u64> + Clone) -> Prefilter {
        let n = hashes.clone().count();
        let words = (n * 16 / 64).max(1024).next_power_of_two();
        let mut bits = vec![0u64; words];
        for h in hashes {
            let i = Prefilter::index(h, words);
            bits[i / 64] |= 1 << (i % 64);
        }
        Prefilter { bits }
    }

    #[inline]
    fn index(h: u64, words: usize) -> usize {
        // Bits 20.. of the hash: independent of the bits hash maps use.
        ((h >> 20) as usize) & (words * 64 - 1)
    }

    #[inline]
    pub fn may_contain(&self, h: u64) -> bool {
        if self.bits.is_empty() {
            return true;
        }
        let i = Prefilter::index(h, self.bits.len());
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }
}

impl KInfo {
    /// The key's owner as it stood at event time `t`, when registered.
    #[inline]
    pub fn owner_at<'a>(&'a self, ix: &'a RegIndex, t: i64) -> Option<&'a Principal> {
        if self.owner_versions {
            ix.principal_at(self.owner, t).map(|p| &p.p)
        } else {
            self.owner_p.as_ref()
        }
    }
}

impl CInfo {
    /// The credential's owner as it stood at event time `t`, when registered.
    #[inline]
    pub fn owner_at<'a>(&'a self, ix: &'a RegIndex, t: i64) -> Option<&'a Principal> {
        if self.owner_versions {
            ix.principal_at(self.owner, t).map(|p| &p.p)
        } else {
            self.owner_p.as_ref()
        }
    }
}

#[derive(Default)]
pub(crate) struct RegIndex {
    principal_filter: Prefilter,
    credential_filter: Prefilter,
    /// Current versions.
    pub principals: HashMap64<PInfo>,
    pub keys: HashMap64<KInfo>,
    pub creds: HashMap64<CInfo>,
    /// Versions before the current one, oldest first, of the records that have them.
    earlier_principals: HashMap64<Vec<PInfo>>,
    earlier_keys: HashMap64<Vec<KInfo>>,
    earlier_creds: HashMap64<Vec<CInfo>>,
    /// Members of each peer group, sorted (deterministic order). A principal whose role
    /// changed is a member of the group of each of its versions.
    pub groups: HashMap64<Vec<u64>>,
}

/// `valid_from` as the start of a version: `i64::MIN` when it holds at every time.
fn from_of(valid_from: Option<i64>) -> i64 {
    valid_from.unwrap_or(i64::MIN)
}

/// The version in effect at `t` among `earlier` (oldest first), all of which began before
/// the current one: the last that began at or before `t`, else the earliest.
#[cold]
fn earlier_at<T>(earlier: Option<&Vec<T>>, t: i64, from: impl Fn(&T) -> i64) -> Option<&T> {
    let list = earlier?;
    let after = list.partition_point(|v| from(v) <= t);
    list.get(after.saturating_sub(1))
}

/// The version of a record in effect at `t`: the current one when `t` is at or after its
/// start (the common case, no second lookup), else the one among the `earlier` versions.
#[inline]
fn version_at<'a, T>(
    current: &'a T,
    earlier: impl FnOnce() -> Option<&'a Vec<T>>,
    t: i64,
    from: impl Fn(&T) -> i64,
) -> &'a T {
    if t >= from(current) {
        current
    } else {
        earlier_at(earlier(), t, from).unwrap_or(current)
    }
}

/// A principal version with what the checks need precomputed.
fn principal_info(p: &Principal) -> PInfo {
    let countries = p
        .countries
        .iter()
        .filter_map(|c| {
            let b = c.trim().as_bytes();
            (b.len() == 2).then(|| [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
        })
        .collect();
    let nets = p
        .networks
        .iter()
        .map(|n| {
            let n = n.trunc();
            let s = ip_u128(crate::geo::canonical(n.network()));
            let e = ip_u128(crate::geo::canonical(n.broadcast()));
            (s, e)
        })
        .collect();
    PInfo {
        p: p.clone(),
        from: from_of(p.valid_from),
        group: group_of(p),
        countries,
        nets,
    }
}

/// Peer group hash of a principal.
pub(crate) fn group_of(p: &Principal) -> u64 {
    match &p.role {
        Some(r) if !r.is_empty() => hash_id(&format!("role:{r}")),
        _ => hash_id(match p.kind {
            PrincipalKind::Employee => "kind:employee",
            PrincipalKind::Contractor => "kind:contractor",
            PrincipalKind::Service => "kind:service",
        }),
    }
}

impl RegIndex {
    pub fn build(reg: &Registry) -> RegIndex {
        let mut ix = RegIndex::default();
        for p in reg.principals.values() {
            let h = hash_id(&p.id);
            let current = principal_info(p);
            ix.groups.entry(current.group).or_default().push(h);
            if let Some(earlier) = reg.earlier_principals.get(&p.id).filter(|e| !e.is_empty()) {
                let mut versions: Vec<PInfo> = earlier.iter().map(principal_info).collect();
                versions[0].from = i64::MIN;
                for v in &versions {
                    ix.groups.entry(v.group).or_default().push(h);
                }
                ix.principals.insert(h, current);
                ix.earlier_principals.insert(h, versions);
            } else {
                ix.principals.insert(
                    h,
                    PInfo {
                        from: i64::MIN,
                        ..current
                    },
                );
            }
        }
        for m in ix.groups.values_mut() {
            m.sort_unstable();
            m.dedup();
        }
        ix.principal_filter = Prefilter::new(ix.principals.keys().copied());
        let owner_versions = |owner: u64| ix.earlier_principals.contains_key(&owner);
        let key_info = |k: &SigningKey| {
            let owner = k.owner.as_deref().map_or(0, hash_id);
            KInfo {
                k: k.clone(),
                from: from_of(k.valid_from),
                check: crate::hash::id_check(&k.id),
                owner,
                owner_p: k
                    .owner
                    .as_deref()
                    .and_then(|o| reg.principals.get(o))
                    .cloned(),
                owner_versions: owner_versions(owner),
            }
        };
        let cred_info = |c: &Credential| {
            let owner = hash_id(&c.principal);
            CInfo {
                c: c.clone(),
                from: from_of(c.valid_from),
                owner,
                owner_p: reg.principals.get(&c.principal).cloned(),
                owner_versions: owner_versions(owner),
                key: c.signing_key.as_deref().map_or(0, hash_id),
                check: crate::hash::id_check(&c.id),
            }
        };
        let mut keys = HashMap64::default();
        let mut earlier_keys = HashMap64::default();
        for k in reg.keys.values() {
            let h = hash_id(&k.id);
            let mut current = key_info(k);
            match reg.earlier_keys.get(&k.id).filter(|e| !e.is_empty()) {
                Some(earlier) => {
                    let mut versions: Vec<KInfo> = earlier.iter().map(key_info).collect();
                    versions[0].from = i64::MIN;
                    earlier_keys.insert(h, versions);
                }
                None => current.from = i64::MIN,
            }
            keys.insert(h, current);
        }
        let mut creds = HashMap64::default();
        let mut earlier_creds = HashMap64::default();
        for c in reg.credentials.values() {
            let h = hash_id(&c.id);
            let mut current = cred_info(c);
            match reg.earlier_credentials.get(&c.id).filter(|e| !e.is_empty()) {
                Some(earlier) => {
                    let mut versions: Vec<CInfo> = earlier.iter().map(cred_info).collect();
                    versions[0].from = i64::MIN;
                    earlier_creds.insert(h, versions);
                }
                None => current.from = i64::MIN,
            }
            creds.insert(h, current);
        }
        ix.keys = keys;
        ix.earlier_keys = earlier_keys;
        ix.creds = creds;
        ix.earlier_creds = earlier_creds;
        ix.credential_filter = Prefilter::new(ix.creds.keys().copied());
        ix
    }

    /// The principal with this hash as it stood at event time `t`.
    #[inline]
    pub fn principal_at(&self, h: u64, t: i64) -> Option<&PInfo> {
        self.principals
            .get(&h)
            .map(|cur| version_at(cur, || self.earlier_principals.get(&h), t, |v| v.from))
    }

    /// The signing key with this hash as it stood at event time `t`.
    #[inline]
    pub fn key_at(&self, h: u64, t: i64) -> Option<&KInfo> {
        self.keys
            .get(&h)
            .map(|cur| version_at(cur, || self.earlier_keys.get(&h), t, |v| v.from))
    }

    /// The credential with this hash as it stood at event time `t`.
    #[inline]
    pub fn cred_at(&self, h: u64, t: i64) -> Option<&CInfo> {
        self.creds
            .get(&h)
            .map(|cur| version_at(cur, || self.earlier_creds.get(&h), t, |v| v.from))
    }

    /// False when `h` is certainly not a principal.
    #[inline]
    pub fn maybe_principal(&self, h: u64) -> bool {
        self.principal_filter.may_contain(h)
    }

    /// False when `h` is certainly not a registered credential.
    #[inline]
    pub fn maybe_credential(&self, h: u64) -> bool {
        self.credential_filter.may_contain(h)
    }

    /// The id of the principal with this hash.
    pub fn principal_name(&self, h: u64) -> Option<&str> {
        self.principals.get(&h).map(|p| p.p.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suho_registry::PrincipalStatus;

    #[test]
    fn prefixes_are_slash_24_and_slash_48() {
        let a = net_prefix("203.0.113.7".parse().expect("ip"));
        let b = net_prefix("203.0.113.200".parse().expect("ip"));
        let c = net_prefix("203.0.114.7".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(prefix_text(a), "203.0.113.0/24");
        let v6 = net_prefix("2001:db8:1:2::5".parse().expect("ip"));
        assert_eq!(prefix_text(v6), "2001:db8:1::/48");
    }

    fn registry(ndjson: &str) -> Registry {
        let mut reg = Registry::default();
        for l in ndjson.lines().map(str::trim).filter(|l| !l.is_empty()) {
            reg.upsert(suho_registry::parse_registry_line(l.as_bytes()).expect("line"));
        }
        reg
    }

    fn ms(s: &str) -> i64 {
        suho_record::parse_rfc3339(s).expect("time")
    }

    /// A re-org loaded late: records before it are judged by the old role (peer group),
    /// after it by the new one, whatever order they arrive in.
    #[test]
    fn a_mover_is_in_the_old_peer_group_before_the_reorg_and_the_new_one_after() {
        let ix = RegIndex::build(&registry(
            r#"{"type":"principal","id":"emp-7","kind":"employee","status":"active","role":"cs-agent"}
               {"type":"principal","id":"emp-8","kind":"employee","status":"active","role":"cs-agent"}
               {"type":"principal","id":"emp-7","kind":"employee","status":"active","role":"fraud-analyst","valid_from":"2025-06-01T00:00:00Z"}"#,
        ));
        let h = hash_id("emp-7");
        let cs = hash_id("role:cs-agent");
        let fraud = hash_id("role:fraud-analyst");
        let group = |t: &str| ix.principal_at(h, ms(t)).map(|p| p.group);
        assert_eq!(group("2025-06-01T00:00:00Z"), Some(fraud));
        assert_eq!(group("2025-05-31T23:59:59.999Z"), Some(cs));
        assert_eq!(group("2020-01-01T00:00:00Z"), Some(cs));
        assert_eq!(group("2030-01-01T00:00:00Z"), Some(fraud));
        // The existing API still answers with the current version.
        assert_eq!(ix.principals.get(&h).map(|p| p.group), Some(fraud));
        assert_eq!(ix.principal_name(h), Some("emp-7"));
        assert!(ix.groups[&cs].contains(&h) && ix.groups[&fraud].contains(&h));
        // Without versions, the one version holds at every time.
        let h8 = hash_id("emp-8");
        assert_eq!(ix.principal_at(h8, i64::MIN).map(|p| p.group), Some(cs));
        assert_eq!(ix.principals.get(&h8).map(|p| p.from), Some(i64::MIN));
    }

    #[test]
    fn owners_are_judged_as_they_stood_at_the_time() {
        // Left on 1 June, rehired on 10 June (HR keeps the old departure on the line).
        let ix = RegIndex::build(&registry(
            r#"{"type":"principal","id":"emp-1","kind":"employee","status":"departed","departed_at":"2025-06-01T00:00:00Z"}
               {"type":"principal","id":"emp-1","kind":"employee","status":"active","departed_at":"2025-06-01T00:00:00Z","valid_from":"2025-06-10T00:00:00Z"}
               {"type":"credential","id":"tok-1","principal":"emp-1","kind":"api_key"}
               {"type":"signing_key","id":"kid-1","owner":"emp-1","status":"active"}"#,
        ));
        let c = ix.cred_at(hash_id("tok-1"), 0).expect("credential");
        let k = ix.key_at(hash_id("kid-1"), 0).expect("key");
        let status = |owner: Option<&Principal>, t: &str| owner.map(|p| p.status_at(ms(t)));
        for (t, want) in [
            ("2025-05-09T00:00:00Z", PrincipalStatus::Active),
            ("2025-06-05T00:00:00Z", PrincipalStatus::Departed),
            ("2025-06-11T00:00:00Z", PrincipalStatus::Active),
        ] {
            assert_eq!(
                status(c.owner_at(&ix, ms(t)), t),
                Some(want),
                "credential at {t}"
            );
            assert_eq!(status(k.owner_at(&ix, ms(t)), t), Some(want), "key at {t}");
        }
    }
}
