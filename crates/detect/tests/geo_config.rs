//! The geo database (CSV and MaxMind) and `suho.toml` loading.

mod common;

use std::net::IpAddr;

use common::mmdb::{build, V};
use suho_detect::{DetectConfig, DetectError, GeoDb};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn cc(db: &GeoDb, s: &str) -> Option<String> {
    db.country(ip(s))
        .map(|c| String::from_utf8_lossy(&c).into_owned())
}

#[test]
fn csv_with_header_nested_networks_comments_and_ipv6() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("geo.csv");
    std::fs::write(
        &p,
        "network,country\n# offices\n10.0.0.0/8,KR\n\n10.9.0.0/16,jp\n203.0.113.7,US\n2001:db8::/32,DE\n2001:db8:ff::/48,FR\n",
    )
    .expect("write");
    let db = GeoDb::open(&p).expect("open");
    assert_eq!(cc(&db, "10.1.2.3").as_deref(), Some("KR"));
    assert_eq!(
        cc(&db, "10.9.200.1").as_deref(),
        Some("JP"),
        "the more specific network wins; codes are upper-cased"
    );
    assert_eq!(cc(&db, "203.0.113.7").as_deref(), Some("US"));
    assert_eq!(cc(&db, "203.0.113.8"), None);
    assert_eq!(cc(&db, "2001:db8:1::1").as_deref(), Some("DE"));
    assert_eq!(cc(&db, "2001:db8:ff:1::1").as_deref(), Some("FR"));
    assert_eq!(
        cc(&db, "::ffff:10.9.0.1").as_deref(),
        Some("JP"),
        "IPv4-mapped IPv6 is IPv4"
    );
    let place = db.place(ip("10.9.0.1")).expect("place");
    assert!(
        place.has_coordinates(),
        "a CSV place is its country's centroid"
    );
}

#[test]
fn bad_csv_lines_are_errors_with_their_line_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("geo.csv");
    for (text, line, word) in [
        (
            "network,country\n10.0.0.0/8,KR\n10.0.0.0/33,KR\n",
            3,
            "not a network",
        ),
        ("10.0.0.0/8,KR\n11.0.0.0/8,Korea\n", 2, "alpha-2"),
        ("network,country\n10.0.0.0/8\n", 2, "network,country"),
    ] {
        std::fs::write(&p, text).expect("write");
        match GeoDb::open(&p) {
            Err(e @ DetectError::Geo { line: Some(l), .. }) => {
                assert_eq!(l, line, "{e}");
                assert!(
                    e.to_string().contains(word) && e.to_string().contains(&format!("line {line}")),
                    "{e}"
                );
            }
            other => panic!("expected a geo error for {text:?}, got {other:?}"),
        }
    }
}

#[test]
fn csv_lookups_are_right_across_a_large_table() {
    // 60,000 adjacent /16 networks, countries in rotation: every lookup must land in the right
    // one (a binary search over sorted ranges; its speed is measured by `suho bench`, not here).
    let countries = ["KR", "JP", "US", "DE"];
    let mut text = String::from("network,country\n");
    for i in 0..60_000u32 {
        let cc = countries[(i % 4) as usize];
        text.push_str(&format!("{}.{}.0.0/16,{cc}\n", 1 + i / 256, i % 256));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("geo.csv");
    std::fs::write(&p, text).expect("write");
    let db = GeoDb::open(&p).expect("open");
    assert_eq!(cc(&db, "1.1.5.5").as_deref(), Some("JP"));
    let first = 0x0100_0000u32; // 1.0.0.0, the first network
    let end = first + 60_000 * 65_536; // past the last one
    for i in 0..200_000u32 {
        let a = 0x0100_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761) % 0xff00_0000);
        let want = (first..end)
            .contains(&a)
            .then(|| countries[(((a - first) >> 16) % 4) as usize].to_string());
        let got = db
            .country(IpAddr::V4(std::net::Ipv4Addr::from(a)))
            .map(|c| String::from_utf8_lossy(&c).into_owned());
        assert_eq!(got, want, "{}", std::net::Ipv4Addr::from(a));
    }
}

#[test]
fn mmdb_country_and_location_are_read() {
    let db = build(vec![
        (
            ip("126.0.0.0"),
            8,
            V::Map(vec![
                (
                    "country",
                    V::Map(vec![
                        ("iso_code", V::Str("JP")),
                        ("names", V::Map(vec![("en", V::Str("Japan"))])),
                    ]),
                ),
                (
                    "location",
                    V::Map(vec![
                        ("latitude", V::F64(35.69)),
                        ("longitude", V::F64(139.69)),
                    ]),
                ),
            ]),
        ),
        (
            ip("198.51.100.0"),
            24,
            V::Map(vec![(
                "registered_country",
                V::Map(vec![("iso_code", V::Str("US"))]),
            )]),
        ),
        (
            ip("203.0.113.0"),
            24,
            V::Map(vec![("country", V::Str("kr"))]),
        ),
        (
            ip("2001:db8::"),
            32,
            V::Map(vec![("country", V::Map(vec![("iso_code", V::Str("DE"))]))]),
        ),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("geo.mmdb");
    std::fs::write(&p, db).expect("write");
    let db = GeoDb::open(&p).expect("open mmdb");
    assert_eq!(cc(&db, "126.1.2.3").as_deref(), Some("JP"));
    let tokyo = db.place(ip("126.1.2.3")).expect("place");
    assert!(
        (tokyo.lat - 35.69).abs() < 0.01 && (tokyo.lon - 139.69).abs() < 0.01,
        "{tokyo:?}"
    );
    assert_eq!(
        cc(&db, "198.51.100.9").as_deref(),
        Some("US"),
        "registered_country when country is absent"
    );
    assert_eq!(
        cc(&db, "203.0.113.1").as_deref(),
        Some("KR"),
        "a bare country code"
    );
    assert_eq!(cc(&db, "2001:db8::1").as_deref(), Some("DE"));
    assert_eq!(cc(&db, "8.8.8.8"), None);
}

#[test]
fn a_damaged_mmdb_is_an_error_or_unknown_never_a_panic() {
    let good = build(vec![(
        ip("126.0.0.0"),
        8,
        V::Map(vec![("country", V::Str("JP"))]),
    )]);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("geo.mmdb");
    // Metadata cut short.
    std::fs::write(&p, &good[..good.len() - 120]).expect("write");
    let e = GeoDb::open(&p).expect_err("truncated metadata");
    assert!(e.to_string().contains("MaxMind database"), "{e}");
    // Cut before the metadata: not a MaxMind database, and not text either.
    let marker = good
        .windows(4)
        .rposition(|w| w == b"\xab\xcd\xefM")
        .expect("marker");
    std::fs::write(&p, &good[..marker]).expect("write");
    let e = GeoDb::open(&p).expect_err("no metadata");
    assert!(e.to_string().contains("neither a MaxMind database"), "{e}");
    // Scrambled search tree: lookups answer something or nothing, and never panic.
    let mut bad = good.clone();
    for i in (0..bad.len() / 2).step_by(7) {
        bad[i] ^= 0x5a;
    }
    std::fs::write(&p, &bad).expect("write");
    if let Ok(db) = GeoDb::open(&p) {
        for a in ["126.1.2.3", "1.2.3.4", "255.255.255.255", "2001:db8::1"] {
            let _ = db.country(ip(a));
        }
    }
}

#[test]
fn suho_toml_geo_section_and_detect_overrides() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No file: defaults, home KR, no geo database.
    let (cfg, geo) = DetectConfig::load(dir.path()).expect("defaults");
    assert_eq!(cfg.home_countries, vec!["KR".to_string()]);
    assert!(geo.is_none());
    assert_eq!(cfg.offset_ms(), 9 * 3_600_000, "Seoul days");

    std::fs::write(
        dir.path().join("geo.csv"),
        "10.0.0.0/8,KR\n126.0.0.0/8,JP\n",
    )
    .expect("geo");
    std::fs::write(
        dir.path().join("suho.toml"),
        "[geo]\ndatabase = \"geo.csv\"\nhome_countries = [\"kr\", \"JP\"]\n\n[detect]\nbulk_min_subjects = 250\ndaily_own_factor = 4.5\n\n[server]\nlisten = \"0.0.0.0:8080\"\n",
    )
    .expect("toml");
    let (cfg, geo) = DetectConfig::load(dir.path()).expect("load");
    assert_eq!(cfg.home_countries, vec!["KR".to_string(), "JP".to_string()]);
    assert_eq!(cfg.bulk_min_subjects, 250);
    assert_eq!(cfg.daily_own_factor, 4.5);
    assert_eq!(
        cfg.hourly_own_factor,
        DetectConfig::default().hourly_own_factor,
        "unset keys keep defaults"
    );
    assert_eq!(geo.and_then(|g| g.country(ip("126.0.0.1"))), Some(*b"JP"));

    std::fs::write(dir.path().join("suho.toml"), "[detect]\nbulk_minimum = 3\n").expect("toml");
    let e = DetectConfig::load(dir.path()).expect_err("typo");
    assert!(e.to_string().contains("bulk_minimum"), "{e}");
    std::fs::write(
        dir.path().join("suho.toml"),
        "[geo]\nhome_countries = [\"Korea\"]\n",
    )
    .expect("toml");
    let e = DetectConfig::load(dir.path()).expect_err("bad country");
    assert!(e.to_string().contains("Korea"), "{e}");
    std::fs::write(
        dir.path().join("suho.toml"),
        "[geo]\ndatabase = \"missing.csv\"\n",
    )
    .expect("toml");
    let e = DetectConfig::load(dir.path()).expect_err("missing db");
    assert!(e.to_string().contains("missing.csv"), "{e}");
}
