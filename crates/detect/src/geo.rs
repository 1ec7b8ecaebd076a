//! Where an IP address is: the `[geo] database` of `suho.toml` (contract section 4), either a
//! MaxMind-format `.mmdb` or a CSV of `network,country` lines.
//!
//! A CSV is read once into sorted, non-overlapping address ranges (a more specific network
//! inside a larger one wins), so a lookup is one binary search. An `.mmdb` is read with the
//! `maxminddb` crate; its `location` (latitude, longitude) is used when present. Otherwise a
//! place is the centroid of its country ([`centroid`]), which is all impossible-travel needs.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::DetectError;

/// A place on earth: its country and, when known, its coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// ISO 3166 alpha-2 country code, upper case.
    pub country: [u8; 2],
    /// Latitude in degrees (the country's centroid when the database has no location).
    pub lat: f32,
    /// Longitude in degrees.
    pub lon: f32,
}

impl Place {
    fn in_country(country: [u8; 2]) -> Place {
        let (lat, lon) = centroid(country).unwrap_or((f32::NAN, f32::NAN));
        Place { country, lat, lon }
    }

    /// The country code as text.
    pub fn country_str(&self) -> &str {
        std::str::from_utf8(&self.country).unwrap_or("??")
    }

    /// Whether the coordinates are known.
    pub fn has_coordinates(&self) -> bool {
        self.lat.is_finite() && self.lon.is_finite()
    }

    /// Great-circle distance in kilometres, or `None` when either place has no coordinates.
    pub fn distance_km(&self, other: &Place) -> Option<f64> {
        if !self.has_coordinates() || !other.has_coordinates() {
            return None;
        }
        let (la1, lo1) = (
            f64::from(self.lat).to_radians(),
            f64::from(self.lon).to_radians(),
        );
        let (la2, lo2) = (
            f64::from(other.lat).to_radians(),
            f64::from(other.lon).to_radians(),
        );
        let a = ((la2 - la1) / 2.0).sin().powi(2)
            + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
        Some(2.0 * 6371.0 * a.sqrt().min(1.0).asin())
    }
}

/// A geo database: country (and maybe coordinates) by IP address. Cheap to clone (shared).
#[derive(Clone)]
pub struct GeoDb {
    inner: Arc<Inner>,
}

enum Inner {
    Csv(CsvDb),
    Mmdb(maxminddb::Reader<Vec<u8>>),
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.inner {
            Inner::Csv(c) => write!(
                f,
                "GeoDb::Csv({} IPv4 ranges, {} IPv6 ranges)",
                c.v4.len(),
                c.v6.len()
            ),
            Inner::Mmdb(r) => write!(f, "GeoDb::Mmdb({})", r.metadata.database_type),
        }
    }
}

const MMDB_MARKER: &[u8] = b"\xab\xcd\xefMaxMind.com";

impl GeoDb {
    /// Opens a `.mmdb` (recognised by its metadata marker) or a `network,country` CSV.
    ///
    /// CSV: one `network,country` per line (CIDR or single address, ISO 3166 alpha-2);
    /// blank lines and lines starting with `#` are skipped, a first line that is not a
    /// network is a header, further columns are ignored. A bad line is an error naming its
    /// line number.
    pub fn open(path: &Path) -> Result<GeoDb, DetectError> {
        let bytes = std::fs::read(path).map_err(|e| DetectError::Io {
            path: path.to_path_buf(),
            what: "reading the geo database",
            source: e,
        })?;
        GeoDb::from_bytes(bytes, path)
    }

    /// Same as [`GeoDb::open`] on bytes already read; `path` is only used in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<GeoDb, DetectError> {
        let tail = &bytes[bytes.len().saturating_sub(128 * 1024)..];
        let is_mmdb = tail.windows(MMDB_MARKER.len()).any(|w| w == MMDB_MARKER);
        let inner = if is_mmdb {
            let len = bytes.len() as u64;
            let bad = |reason: String| DetectError::Geo {
                path: path.to_path_buf(),
                line: None,
                reason,
            };
            // The decoder can panic on a damaged file: that is a bad database, not a crash.
            let reader = std::panic::catch_unwind(move || maxminddb::Reader::from_source(bytes))
                .map_err(|_| {
                    bad("the MaxMind database is damaged (its metadata cannot be decoded)".into())
                })?
                .map_err(|e| bad(format!("not a readable MaxMind database: {e}")))?;
            let m = &reader.metadata;
            let tree = u64::from(m.node_count) * u64::from(m.record_size) / 4 + 16;
            if !matches!(m.record_size, 24 | 28 | 32) || tree > len {
                return Err(DetectError::Geo {
                    path: path.to_path_buf(),
                    line: None,
                    reason: format!(
                        "MaxMind database is truncated or corrupt (record size {}, {} nodes)",
                        m.record_size, m.node_count
                    ),
                });
            }
            Inner::Mmdb(reader)
        } else {
            let text = std::str::from_utf8(&bytes).map_err(|e| DetectError::Geo {
                path: path.to_path_buf(),
                line: Some(
                    1 + bytes[..e.valid_up_to()]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count() as u64,
                ),
                reason: "neither a MaxMind database nor UTF-8 text (a network,country CSV)".into(),
            })?;
            Inner::Csv(
                CsvDb::parse(text).map_err(|(line, reason)| DetectError::Geo {
                    path: path.to_path_buf(),
                    line: Some(line),
                    reason,
                })?,
            )
        };
        Ok(GeoDb {
            inner: Arc::new(inner),
        })
    }

    /// The country of `ip`, or `None` when the database does not know it.
    pub fn country(&self, ip: IpAddr) -> Option<[u8; 2]> {
        self.place(ip).map(|p| p.country)
    }

    /// The country and coordinates of `ip`.
    pub fn place(&self, ip: IpAddr) -> Option<Place> {
        self.lookup(ip).0
    }

    /// Whether lookups are slow enough to be worth caching (a MaxMind database decodes a
    /// record per lookup; a CSV is one binary search).
    pub(crate) fn wants_cache(&self) -> bool {
        matches!(&*self.inner, Inner::Mmdb(_))
    }

    /// The place and the prefix length of the network it came from (0 when unknown).
    pub(crate) fn lookup(&self, ip: IpAddr) -> (Option<Place>, u8) {
        match &*self.inner {
            Inner::Csv(c) => (c.lookup(ip), 0),
            Inner::Mmdb(r) => {
                let ip = canonical(ip);
                if ip.is_ipv6() && r.metadata.ip_version == 4 {
                    return (None, 0);
                }
                // The maxminddb decoder trusts the file and can panic on a damaged one; a
                // damaged record means "unknown", never a crash of the ingest pipeline.
                let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    r.lookup_prefix::<MmRecord>(ip)
                }));
                match found {
                    Ok(Ok((Some(rec), len))) => (rec.place(), u8::try_from(len).unwrap_or(0)),
                    _ => (None, 0),
                }
            }
        }
    }
}

/// IPv4-mapped IPv6 addresses are IPv4.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The fields of a MaxMind record suho reads: `country.iso_code` (or `registered_country`),
/// `location.latitude` / `longitude`. `country` may also be a bare code string, as some
/// country-only databases write it.
#[derive(Deserialize)]
struct MmRecord {
    #[serde(default)]
    country: Option<MmCountry>,
    #[serde(default)]
    registered_country: Option<MmCountry>,
    #[serde(default)]
    location: Option<MmLocation>,
}

#[derive(Deserialize)]
struct MmLocation {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

struct MmCountry(Option<[u8; 2]>);

fn code(s: &str) -> Option<[u8; 2]> {
    let b = s.trim().as_bytes();
    if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
        Some([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
    } else {
        None
    }
}

impl<'de> Deserialize<'de> for MmCountry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MmCountry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a country code or a map with iso_code")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MmCountry, E> {
                Ok(MmCountry(code(s)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<MmCountry, A::Error> {
                let mut out = None;
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    if k == "iso_code" {
                        let v: std::borrow::Cow<'de, str> = m.next_value()?;
                        out = code(&v);
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(MmCountry(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl MmRecord {
    fn place(&self) -> Option<Place> {
        let cc = self
            .country
            .as_ref()
            .and_then(|c| c.0)
            .or_else(|| self.registered_country.as_ref().and_then(|c| c.0))?;
        let mut p = Place::in_country(cc);
        if let Some(MmLocation {
            latitude: Some(lat),
            longitude: Some(lon),
        }) = self.location
        {
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
                p.lat = lat as f32;
                p.lon = lon as f32;
            }
        }
        Some(p)
    }
}

/// A `network,country` CSV as sorted, disjoint ranges, each with its country's place
/// (centroid) computed once.
struct CsvDb {
    v4: Vec<(u32, u32, Place)>,
    v6: Vec<(u128, u128, Place)>,
}

impl CsvDb {
    /// Parses the CSV; an error is `(line number, reason)`.
    fn parse(text: &str) -> Result<CsvDb, (u64, String)> {
        // (start, end, prefix length, country, order in the file)
        let mut v4: Vec<(u128, u128, u8, [u8; 2])> = Vec::new();
        let mut v6: Vec<(u128, u128, u8, [u8; 2])> = Vec::new();
        let mut seen_data = false;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            let line = raw.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut cols = line.split(',').map(|c| c.trim().trim_matches('"'));
            let net_text = cols.next().unwrap_or("");
            let Some(cc_text) = cols.next() else {
                if !seen_data {
                    seen_data = true;
                    if net_text.parse::<ipnet::IpNet>().is_err()
                        && net_text.parse::<IpAddr>().is_err()
                    {
                        continue; // a one-column header
                    }
                }
                return Err((
                    line_no,
                    format!("expected \"network,country\", found {:?}", cut(line)),
                ));
            };
            let net = match net_text.parse::<ipnet::IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => match net_text.parse::<IpAddr>() {
                    Ok(ip) => ipnet::IpNet::from(ip),
                    Err(_) if !seen_data => {
                        seen_data = true;
                        continue; // the header line
                    }
                    Err(_) => {
                        return Err((
                            line_no,
                            format!(
                            "{:?} is not a network (CIDR such as 203.0.113.0/24) or an IP address",
                            cut(net_text)
                        ),
                        ))
                    }
                },
            };
            seen_data = true;
            let Some(cc) = code(cc_text) else {
                return Err((
                    line_no,
                    format!(
                        "{:?} is not an ISO 3166 alpha-2 country code (two letters, such as KR)",
                        cut(cc_text)
                    ),
                ));
            };
            match net {
                ipnet::IpNet::V4(n) => v4.push((
                    u128::from(u32::from(n.network())),
                    u128::from(u32::from(n.broadcast())),
                    n.prefix_len(),
                    cc,
                )),
                ipnet::IpNet::V6(n) => {
                    let (s, e) = (u128::from(n.network()), u128::from(n.broadcast()));
                    // An IPv4-mapped network is an IPv4 network.
                    if n.prefix_len() >= 96 && s >> 32 == 0xffff {
                        v4.push((s & 0xffff_ffff, e & 0xffff_ffff, n.prefix_len() - 96, cc));
                    } else {
                        v6.push((s, e, n.prefix_len(), cc));
                    }
                }
            }
        }
        let v4 = flatten(v4)
            .into_iter()
            .map(|(s, e, c)| (s as u32, e as u32, Place::in_country(c)))
            .collect();
        let v6 = flatten(v6)
            .into_iter()
            .map(|(s, e, c)| (s, e, Place::in_country(c)))
            .collect();
        Ok(CsvDb { v4, v6 })
    }

    fn lookup(&self, ip: IpAddr) -> Option<Place> {
        match canonical(ip) {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => find(&self.v6, u128::from(v6)),
        }
    }
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

fn find<T: Copy + Ord>(ranges: &[(T, T, Place)], ip: T) -> Option<Place> {
    let i = ranges.partition_point(|r| r.0 <= ip);
    let r = ranges.get(i.checked_sub(1)?)?;
    (ip <= r.1).then_some(r.2)
}

/// Turns CIDR networks (nested or disjoint, never partly overlapping) into sorted disjoint
/// ranges where the most specific network wins; of two identical networks the later line
/// wins. Adjacent ranges of the same country are merged.
fn flatten(mut nets: Vec<(u128, u128, u8, [u8; 2])>) -> Vec<(u128, u128, [u8; 2])> {
    nets.sort_by_key(|n| (n.0, n.2)); // stable: file order among equals
    let mut out: Vec<(u128, u128, [u8; 2])> = Vec::with_capacity(nets.len());
    let mut emit = |s: u128, e: u128, c: [u8; 2]| {
        if let Some(last) = out.last_mut() {
            if last.2 == c && last.1.checked_add(1) == Some(s) {
                last.1 = e;
                return;
            }
        }
        out.push((s, e, c));
    };
    // Enclosing networks still open, innermost last; `cursor` is the first address not yet
    // emitted (`None` once the whole space is done).
    let mut stack: Vec<(u128, [u8; 2])> = Vec::new();
    let mut cursor: Option<u128> = Some(0);
    for (s, e, _, c) in nets {
        while let Some(&(end, cc)) = stack.last() {
            if end >= s {
                break;
            }
            if let Some(cur) = cursor {
                if cur <= end {
                    emit(cur, end, cc);
                }
            }
            cursor = end.checked_add(1);
            stack.pop();
        }
        if let (Some(&(_, cc)), Some(cur)) = (stack.last(), cursor) {
            if cur < s {
                emit(cur, s - 1, cc);
            }
        }
        stack.push((e, c));
        cursor = Some(s);
    }
    while let Some((end, cc)) = stack.pop() {
        if let Some(cur) = cursor {
            if cur <= end {
                emit(cur, end, cc);
            }
        }
        cursor = end.checked_add(1);
    }
    out
}

/// Approximate centroid (latitude, longitude) of a country, for impossible-travel distances
/// when the geo database has no coordinates.
pub fn centroid(country: [u8; 2]) -> Option<(f32, f32)> {
    let code = std::str::from_utf8(&country).ok()?;
    CENTROIDS
        .binary_search_by(|(c, _, _)| (*c).cmp(code))
        .ok()
        .map(|i| (CENTROIDS[i].1, CENTROIDS[i].2))
}

/// Country centroids, sorted by code: rough geographic centres, good to a few hundred km.
const CENTROIDS: &[(&str, f32, f32)] = &[
    ("AD", 42.5, 1.5),
    ("AE", 24.0, 54.0),
    ("AF", 33.0, 65.0),
    ("AG", 17.1, -61.8),
    ("AL", 41.0, 20.0),
    ("AM", 40.0, 45.0),
    ("AO", -12.5, 18.5),
    ("AR", -34.0, -64.0),
    ("AT", 47.3, 13.3),
    ("AU", -25.0, 135.0),
    ("AZ", 40.5, 47.5),
    ("BA", 44.0, 18.0),
    ("BB", 13.2, -59.5),
    ("BD", 24.0, 90.0),
    ("BE", 50.8, 4.0),
    ("BF", 13.0, -2.0),
    ("BG", 43.0, 25.0),
    ("BH", 26.0, 50.5),
    ("BI", -3.5, 30.0),
    ("BJ", 9.5, 2.3),
    ("BN", 4.5, 114.7),
    ("BO", -17.0, -65.0),
    ("BR", -10.0, -55.0),
    ("BS", 24.3, -76.0),
    ("BT", 27.5, 90.5),
    ("BW", -22.0, 24.0),
    ("BY", 53.0, 28.0),
    ("BZ", 17.3, -88.8),
    ("CA", 60.0, -95.0),
    ("CD", 0.0, 25.0),
    ("CF", 7.0, 21.0),
    ("CG", -1.0, 15.0),
    ("CH", 47.0, 8.0),
    ("CI", 8.0, -5.0),
    ("CL", -30.0, -71.0),
    ("CM", 6.0, 12.0),
    ("CN", 35.0, 105.0),
    ("CO", 4.0, -72.0),
    ("CR", 10.0, -84.0),
    ("CU", 21.5, -80.0),
    ("CV", 16.0, -24.0),
    ("CY", 35.0, 33.0),
    ("CZ", 49.8, 15.5),
    ("DE", 51.0, 9.0),
    ("DJ", 11.5, 43.0),
    ("DK", 56.0, 10.0),
    ("DM", 15.4, -61.3),
    ("DO", 19.0, -70.7),
    ("DZ", 28.0, 3.0),
    ("EC", -2.0, -77.5),
    ("EE", 59.0, 26.0),
    ("EG", 27.0, 30.0),
    ("ER", 15.0, 39.0),
    ("ES", 40.0, -4.0),
    ("ET", 8.0, 38.0),
    ("FI", 64.0, 26.0),
    ("FJ", -18.0, 175.0),
    ("FR", 46.0, 2.0),
    ("GA", -1.0, 11.8),
    ("GB", 54.0, -2.0),
    ("GD", 12.1, -61.7),
    ("GE", 42.0, 43.5),
    ("GH", 8.0, -2.0),
    ("GM", 13.5, -15.5),
    ("GN", 11.0, -10.0),
    ("GQ", 2.0, 10.0),
    ("GR", 39.0, 22.0),
    ("GT", 15.5, -90.3),
    ("GU", 13.4, 144.8),
    ("GW", 12.0, -15.0),
    ("GY", 5.0, -59.0),
    ("HK", 22.3, 114.2),
    ("HN", 15.0, -86.5),
    ("HR", 45.2, 15.5),
    ("HT", 19.0, -72.4),
    ("HU", 47.0, 20.0),
    ("ID", -5.0, 120.0),
    ("IE", 53.0, -8.0),
    ("IL", 31.5, 34.8),
    ("IN", 20.0, 77.0),
    ("IQ", 33.0, 44.0),
    ("IR", 32.0, 53.0),
    ("IS", 65.0, -18.0),
    ("IT", 42.8, 12.8),
    ("JM", 18.3, -77.5),
    ("JO", 31.0, 36.0),
    ("JP", 36.0, 138.0),
    ("KE", 1.0, 38.0),
    ("KG", 41.0, 75.0),
    ("KH", 13.0, 105.0),
    ("KM", -12.2, 44.3),
    ("KP", 40.0, 127.0),
    ("KR", 37.0, 127.5),
    ("KW", 29.5, 47.8),
    ("KY", 19.3, -81.3),
    ("KZ", 48.0, 68.0),
    ("LA", 18.0, 105.0),
    ("LB", 33.8, 35.8),
    ("LC", 13.9, -61.0),
    ("LI", 47.2, 9.5),
    ("LK", 7.0, 81.0),
    ("LR", 6.5, -9.5),
    ("LS", -29.5, 28.5),
    ("LT", 56.0, 24.0),
    ("LU", 49.8, 6.2),
    ("LV", 57.0, 25.0),
    ("LY", 25.0, 17.0),
    ("MA", 32.0, -5.0),
    ("MC", 43.7, 7.4),
    ("MD", 47.0, 29.0),
    ("ME", 42.5, 19.3),
    ("MG", -20.0, 47.0),
    ("MK", 41.8, 22.0),
    ("ML", 17.0, -4.0),
    ("MM", 22.0, 98.0),
    ("MN", 46.0, 105.0),
    ("MO", 22.2, 113.6),
    ("MR", 20.0, -12.0),
    ("MT", 35.9, 14.4),
    ("MU", -20.3, 57.6),
    ("MV", 3.3, 73.0),
    ("MW", -13.5, 34.0),
    ("MX", 23.0, -102.0),
    ("MY", 2.5, 112.5),
    ("MZ", -18.3, 35.0),
    ("NA", -22.0, 17.0),
    ("NC", -21.5, 165.5),
    ("NE", 16.0, 8.0),
    ("NG", 10.0, 8.0),
    ("NI", 13.0, -85.0),
    ("NL", 52.5, 5.8),
    ("NO", 62.0, 10.0),
    ("NP", 28.0, 84.0),
    ("NZ", -41.0, 174.0),
    ("OM", 21.0, 57.0),
    ("PA", 9.0, -80.0),
    ("PE", -10.0, -76.0),
    ("PF", -17.7, -149.4),
    ("PG", -6.0, 147.0),
    ("PH", 13.0, 122.0),
    ("PK", 30.0, 70.0),
    ("PL", 52.0, 20.0),
    ("PR", 18.3, -66.5),
    ("PS", 32.0, 35.3),
    ("PT", 39.5, -8.0),
    ("PY", -23.0, -58.0),
    ("QA", 25.5, 51.3),
    ("RE", -21.1, 55.5),
    ("RO", 46.0, 25.0),
    ("RS", 44.0, 21.0),
    ("RU", 60.0, 100.0),
    ("RW", -2.0, 30.0),
    ("SA", 25.0, 45.0),
    ("SB", -8.0, 159.0),
    ("SC", -4.6, 55.5),
    ("SD", 15.0, 30.0),
    ("SE", 62.0, 15.0),
    ("SG", 1.4, 103.8),
    ("SI", 46.1, 14.8),
    ("SK", 48.7, 19.5),
    ("SL", 8.5, -11.5),
    ("SM", 43.9, 12.4),
    ("SN", 14.0, -14.0),
    ("SO", 10.0, 49.0),
    ("SR", 4.0, -56.0),
    ("SS", 7.0, 30.0),
    ("SV", 13.8, -88.9),
    ("SY", 35.0, 38.0),
    ("SZ", -26.5, 31.5),
    ("TD", 15.0, 19.0),
    ("TG", 8.0, 1.2),
    ("TH", 15.0, 100.0),
    ("TJ", 39.0, 71.0),
    ("TL", -8.8, 125.9),
    ("TM", 40.0, 60.0),
    ("TN", 34.0, 9.0),
    ("TO", -20.0, -175.0),
    ("TR", 39.0, 35.0),
    ("TT", 11.0, -61.0),
    ("TW", 23.5, 121.0),
    ("TZ", -6.0, 35.0),
    ("UA", 49.0, 32.0),
    ("UG", 1.0, 32.0),
    ("US", 38.0, -97.0),
    ("UY", -33.0, -56.0),
    ("UZ", 41.0, 64.0),
    ("VA", 41.9, 12.5),
    ("VC", 13.3, -61.2),
    ("VE", 8.0, -66.0),
    ("VN", 16.0, 106.0),
    ("VU", -16.0, 167.0),
    ("WS", -13.6, -172.3),
    ("XK", 42.6, 20.9),
    ("YE", 15.0, 48.0),
    ("ZA", -29.0, 24.0),
    ("ZM", -15.0, 30.0),
    ("ZW", -20.0, 30.0),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centroids_are_sorted_and_distances_sane() {
        assert!(
            CENTROIDS.windows(2).all(|w| w[0].0 < w[1].0),
            "CENTROIDS must stay sorted"
        );
        let kr = Place::in_country(*b"KR");
        let jp = Place::in_country(*b"JP");
        let us = Place::in_country(*b"US");
        let d = kr.distance_km(&jp).unwrap_or(0.0);
        assert!((800.0..1500.0).contains(&d), "KR-JP {d}");
        let d = kr.distance_km(&us).unwrap_or(0.0);
        assert!((9000.0..12000.0).contains(&d), "KR-US {d}");
        assert!(Place::in_country(*b"ZZ").distance_km(&kr).is_none());
    }

    #[test]
    fn nested_networks_resolve_to_the_most_specific() {
        let db = CsvDb::parse(
            "network,country\n10.0.0.0/8,KR\n10.1.0.0/16,JP\n10.1.2.0/24,US\n11.0.0.0/8,kr\n",
        )
        .expect("csv");
        let c = |s: &str| {
            db.lookup(s.parse().expect("ip"))
                .map(|p| p.country_str().to_string())
        };
        assert_eq!(c("10.0.0.1").as_deref(), Some("KR"));
        assert_eq!(c("10.1.0.1").as_deref(), Some("JP"));
        assert_eq!(c("10.1.2.3").as_deref(), Some("US"));
        assert_eq!(c("10.1.3.0").as_deref(), Some("JP"));
        assert_eq!(c("10.2.0.0").as_deref(), Some("KR"));
        assert_eq!(c("11.255.255.255").as_deref(), Some("KR"));
        assert_eq!(c("12.0.0.0"), None);
        assert_eq!(c("9.255.255.255"), None);
        assert_eq!(c("::ffff:10.1.2.3").as_deref(), Some("US"));
        // 10/8 and 11/8 are both KR but not merged across the JP/US hole.
        assert_eq!(db.v4.len(), 5, "{:?}", db.v4);
    }

    #[test]
    fn the_whole_address_space_and_duplicates_work() {
        let db =
            CsvDb::parse("0.0.0.0/0,US\n255.255.255.0/24,KR\n2001:db8::/32,DE\n2001:db8::/32,FR\n")
                .expect("csv");
        let c = |s: &str| db.lookup(s.parse().expect("ip")).map(|p| p.country);
        assert_eq!(c("255.255.255.255"), Some(*b"KR"));
        assert_eq!(c("1.2.3.4"), Some(*b"US"));
        assert_eq!(c("2001:db8::1"), Some(*b"FR"));
        assert_eq!(c("2001:db9::1"), None);
    }
}
