//! The registry re-keyed by the 64-bit id hashes that [`crate::Features`] carry, with what
//! each check needs precomputed (peer group, countries, network ranges, owners' hashes).

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
    /// Hash of the owner's id, 0 when none.
    pub owner: u64,
    /// The owner, when registered (copied here: every use of the key checks it).
    pub owner_p: Option<Principal>,
    /// [`crate::hash::id_check`] of the key's id.
    pub check: u64,
}

pub(crate) struct CInfo {
    pub c: Credential,
    pub owner: u64,
    /// The owner, when registered.
    pub owner_p: Option<Principal>,
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

#[derive(Default)]
pub(crate) struct RegIndex {
    principal_filter: Prefilter,
    credential_filter: Prefilter,
    pub principals: HashMap64<PInfo>,
    pub keys: HashMap64<KInfo>,
    pub creds: HashMap64<CInfo>,
    /// Members of each peer group, sorted (deterministic order).
    pub groups: HashMap64<Vec<u64>>,
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
            let group = group_of(p);
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
            ix.groups.entry(group).or_default().push(h);
            ix.principals.insert(
                h,
                PInfo {
                    p: p.clone(),
                    group,
                    countries,
                    nets,
                },
            );
        }
        for m in ix.groups.values_mut() {
            m.sort_unstable();
        }
        ix.principal_filter = Prefilter::new(ix.principals.keys().copied());
        for k in reg.keys.values() {
            ix.keys.insert(
                hash_id(&k.id),
                KInfo {
                    k: k.clone(),
                    check: crate::hash::id_check(&k.id),
                    owner: k.owner.as_deref().map_or(0, hash_id),
                    owner_p: k
                        .owner
                        .as_deref()
                        .and_then(|o| reg.principals.get(o))
                        .cloned(),
                },
            );
        }
        for c in reg.credentials.values() {
            ix.creds.insert(
                hash_id(&c.id),
                CInfo {
                    c: c.clone(),
                    owner: hash_id(&c.principal),
                    owner_p: reg.principals.get(&c.principal).cloned(),
                    key: c.signing_key.as_deref().map_or(0, hash_id),
                    check: crate::hash::id_check(&c.id),
                },
            );
        }
        ix.credential_filter = Prefilter::new(ix.creds.keys().copied());
        ix
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
}
