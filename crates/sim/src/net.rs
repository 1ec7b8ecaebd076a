//! The simulated internet: office networks, Korean consumer and mobile ranges, foreign hosting
//! ranges, and the `network,country` geo CSV that maps them.
//!
//! The ranges are chosen to look like what a Korean company sees in its logs; they are test
//! data, not a claim about who holds those addresses today.

use std::io::{self, Write};

use rand::Rng;

/// An IPv4 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    /// The network holding `addr` with `prefix` leading bits (1..=32).
    pub(crate) const fn new(addr: [u8; 4], prefix: u8) -> Cidr {
        let ip = u32::from_be_bytes(addr);
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        };
        Cidr {
            base: ip & mask,
            prefix,
        }
    }

    /// Number of addresses.
    pub(crate) fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The `i`-th usable host address (skips the network and broadcast addresses), wrapping.
    pub(crate) fn host(self, i: u64) -> u32 {
        let usable = self.size().saturating_sub(2).max(1);
        let offset = if self.size() > 2 {
            1 + i % usable
        } else {
            i % usable
        };
        self.base.wrapping_add(offset as u32)
    }

    /// A uniformly random usable host address.
    pub(crate) fn random_host<R: Rng>(self, rng: &mut R) -> u32 {
        self.host(rng.gen::<u64>())
    }

    /// Whether `ip` lies in this network.
    pub(crate) fn contains(self, ip: u32) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        ip & mask == self.base
    }

    /// A smaller network inside this one: the `index`-th block of `/prefix`.
    pub(crate) fn subnet(self, prefix: u8, index: u32) -> Cidr {
        let step = 1u32 << (32 - u32::from(prefix));
        let blocks = (self.size() >> (32 - u32::from(prefix))).max(1) as u32;
        Cidr {
            base: self.base.wrapping_add((index % blocks).wrapping_mul(step)),
            prefix,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", std::net::Ipv4Addr::from(self.base), self.prefix)
    }
}

/// What kind of network a range is, which decides who is seen coming from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NetClass {
    /// Korean fixed-line consumer ISP (customers at home, employees at home).
    KrConsumer,
    /// Korean mobile carrier.
    KrMobile,
    /// A Korean cloud or hosting provider.
    KrHosting,
    /// Consumer ISP abroad (travellers).
    ForeignConsumer,
    /// Hosting or cloud abroad (attackers rent these).
    ForeignHosting,
}

/// One geo database row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GeoNet {
    pub cidr: Cidr,
    pub country: &'static str,
    pub class: NetClass,
}

const fn g(addr: [u8; 4], prefix: u8, country: &'static str, class: NetClass) -> GeoNet {
    GeoNet {
        cidr: Cidr::new(addr, prefix),
        country,
        class,
    }
}

/// An office: public egress seen by the identity provider, internal range seen by internal tools.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Office {
    pub public: Cidr,
    pub internal: Cidr,
}

/// Office indices into [`OFFICES`].
pub(crate) const SEOUL_HQ: usize = 0;
pub(crate) const PANGYO_TECH: usize = 1;
pub(crate) const INCHEON_FC: usize = 2;
pub(crate) const DAEGU_CS: usize = 3;

/// The organisation's offices.
pub(crate) const OFFICES: [Office; 4] = [
    Office {
        public: Cidr::new([211, 45, 160, 0], 23),
        internal: Cidr::new([10, 10, 0, 0], 16),
    },
    Office {
        public: Cidr::new([203, 241, 132, 0], 24),
        internal: Cidr::new([10, 20, 0, 0], 16),
    },
    Office {
        public: Cidr::new([210, 94, 184, 0], 23),
        internal: Cidr::new([10, 30, 0, 0], 16),
    },
    Office {
        public: Cidr::new([218, 145, 30, 0], 24),
        internal: Cidr::new([10, 40, 0, 0], 16),
    },
];

/// The production data centre, where service accounts run (one /24 per service).
pub(crate) const DATACENTER: Cidr = Cidr::new([10, 100, 0, 0], 16);

/// The whole internal address space.
pub(crate) const INTERNAL: Cidr = Cidr::new([10, 0, 0, 0], 8);

/// Every range the simulator uses that is not an office, with its country.
pub(crate) const GEO_NETS: &[GeoNet] = &[
    g([121, 128, 0, 0], 10, "KR", NetClass::KrConsumer),
    g([175, 192, 0, 0], 10, "KR", NetClass::KrConsumer),
    g([112, 144, 0, 0], 12, "KR", NetClass::KrConsumer),
    g([1, 224, 0, 0], 11, "KR", NetClass::KrConsumer),
    g([223, 32, 0, 0], 11, "KR", NetClass::KrMobile),
    g([39, 112, 0, 0], 13, "KR", NetClass::KrMobile),
    g([106, 96, 0, 0], 12, "KR", NetClass::KrMobile),
    g([211, 249, 40, 0], 22, "KR", NetClass::KrHosting),
    g([126, 0, 0, 0], 8, "JP", NetClass::ForeignConsumer),
    g([133, 242, 0, 0], 16, "JP", NetClass::ForeignHosting),
    g([3, 80, 0, 0], 12, "US", NetClass::ForeignHosting),
    g([54, 144, 0, 0], 12, "US", NetClass::ForeignHosting),
    g([13, 212, 0, 0], 14, "SG", NetClass::ForeignHosting),
    g([52, 74, 0, 0], 16, "SG", NetClass::ForeignHosting),
    g([185, 107, 56, 0], 22, "NL", NetClass::ForeignHosting),
    g([5, 9, 0, 0], 16, "DE", NetClass::ForeignHosting),
    g([47, 92, 0, 0], 14, "CN", NetClass::ForeignHosting),
    g([43, 128, 0, 0], 14, "HK", NetClass::ForeignHosting),
];

/// Ranges of one class, in table order.
pub(crate) fn ranges(class: NetClass) -> impl Iterator<Item = &'static GeoNet> {
    GEO_NETS.iter().filter(move |n| n.class == class)
}

/// A random host from a random range of `class` (weighted equally per range).
pub(crate) fn random_in_class<R: Rng>(rng: &mut R, class: NetClass) -> u32 {
    let n = ranges(class).count().max(1);
    let pick = rng.gen_range(0..n);
    match ranges(class).nth(pick) {
        Some(net) => net.cidr.random_host(rng),
        // Every class used by the simulator has at least one range in GEO_NETS.
        None => INTERNAL.random_host(rng),
    }
}

/// The country of `ip` according to the simulated geo database, if any.
pub(crate) fn country_of(ip: u32) -> Option<&'static str> {
    if INTERNAL.contains(ip) || OFFICES.iter().any(|o| o.public.contains(ip)) {
        return Some("KR");
    }
    GEO_NETS
        .iter()
        .find(|n| n.cidr.contains(ip))
        .map(|n| n.country)
}

/// Writes the geo CSV (header `network,country`, one CIDR per line); returns the data rows written.
pub(crate) fn write_geo_csv(out: &mut dyn Write) -> io::Result<u64> {
    let mut text = String::from("network,country\n");
    let mut rows = 0u64;
    let mut row = |cidr: Cidr, cc: &str| {
        text.push_str(&format!("{cidr},{cc}\n"));
        rows += 1;
    };
    row(INTERNAL, "KR");
    for office in &OFFICES {
        row(office.public, "KR");
    }
    for net in GEO_NETS {
        row(net.cidr, net.country);
    }
    out.write_all(text.as_bytes())?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_hosts_stay_inside_and_skip_network_address() {
        let c = Cidr::new([10, 40, 7, 9], 24);
        assert_eq!(c.to_string(), "10.40.7.0/24");
        for i in [0u64, 1, 253, 254, 1_000_000] {
            let h = c.host(i);
            assert!(c.contains(h));
            assert_ne!(h & 0xff, 0);
            assert_ne!(h & 0xff, 255);
        }
        assert_eq!(DATACENTER.subnet(24, 3).to_string(), "10.100.3.0/24");
    }

    #[test]
    fn ranges_do_not_overlap_so_the_geo_lookup_is_unambiguous() {
        let mut all: Vec<Cidr> = GEO_NETS.iter().map(|n| n.cidr).collect();
        all.extend(OFFICES.iter().map(|o| o.public));
        all.push(INTERNAL);
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(
                    !a.contains(b.base) && !b.contains(a.base),
                    "{a} overlaps {b}"
                );
            }
        }
    }

    #[test]
    fn countries_resolve() {
        assert_eq!(country_of(u32::from_be_bytes([10, 20, 1, 5])), Some("KR"));
        assert_eq!(
            country_of(u32::from_be_bytes([218, 145, 30, 9])),
            Some("KR")
        );
        assert_eq!(country_of(u32::from_be_bytes([126, 33, 2, 1])), Some("JP"));
        assert_eq!(
            country_of(u32::from_be_bytes([185, 107, 57, 3])),
            Some("NL")
        );
        assert_eq!(country_of(u32::from_be_bytes([192, 0, 2, 1])), None);
    }
}
