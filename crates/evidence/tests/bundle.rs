//! Evidence bundles: written from a real ledger, checked offline, and refused when any byte of
//! them is altered.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};
use suho_evidence::{verify_bundle, write_bundle, BundleInput, EvidenceError};
use suho_ledger::{Layout, Ledger, Options, Prepared};
use suho_merkle::{inclusion_proof, leaf_hash, verify_inclusion, NodeSource};
use suho_note::{Checkpoint, Verifier};

const T0: i64 = 1_750_377_600_000;

/// A ledger of `n` records; record i is read by `emp-{i % 7}` from a Korean or Dutch address
/// and touches customers `c-{i % 1000}` and `c-{(i * 7) % 1000}`.
fn ledger(dir: &Path, n: u64) -> Vec<String> {
    let mut l = Ledger::open(dir, Options::default()).expect("open");
    let mut bodies = Vec::new();
    for i in 0..n {
        let ip = if i % 5 == 0 {
            "185.107.59.32"
        } else {
            "10.1.2.3"
        };
        let body = format!(
            r#"{{"time":{},"actor":"emp-{}","action":"read","resource":"GET /v1/customers","src_ip":"{ip}","subjects":["c-{}","c-{}"],"fields":["name","{}"]}}"#,
            T0 + i as i64 * 1000,
            i % 7,
            i % 1000,
            (i * 7) % 1000,
            if i % 2 == 0 { "phone" } else { "entrance_code" }
        );
        l.append(&Prepared::new(
            body.as_bytes(),
            T0 + i as i64 * 1000,
            None,
            T0,
        ))
        .expect("append");
        bodies.push(body);
    }
    l.checkpoint().expect("checkpoint");
    bodies
}

fn country(ip: std::net::IpAddr) -> Option<[u8; 2]> {
    Some(if ip.to_string().starts_with("185.") {
        *b"NL"
    } else {
        *b"KR"
    })
}

fn bundle(data: &Path, indexes: &[u64], out: &Path) {
    let lookup: &suho_evidence::CountryOf = &country;
    write_bundle(
        &Layout::new(data),
        &BundleInput {
            indexes,
            about: serde_json::json!({"incident": "inc-test"}),
            country_of: Some(lookup),
            home_countries: vec!["KR".into()],
        },
        out,
    )
    .expect("write bundle");
}

fn key(data: &Path) -> Verifier {
    suho_ledger::load_verifier(&Layout::new(data).keys()).expect("key")
}

/// Brute force over the raw bodies: distinct subjects of the selected records.
fn subjects_of(bodies: &[String], indexes: &[u64]) -> usize {
    let mut s = BTreeSet::new();
    for &i in indexes {
        let v: serde_json::Value = serde_json::from_str(&bodies[i as usize]).expect("json");
        for x in v["subjects"].as_array().expect("subjects") {
            s.insert(x.as_str().expect("str").to_string());
        }
    }
    s.len()
}

#[test]
fn a_bundle_proves_its_records_against_an_older_checkpoint_and_the_log_grew_consistently() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let bodies = ledger(&data, 3000);
    // Records spread over several entry tiles, the last well before the end of the log.
    let indexes: Vec<u64> = (0..3000).filter(|i| i % 3 == 1 && *i < 1700).collect();
    let out = tmp.path().join("bundle");
    bundle(&data, &indexes, &out);

    let check = verify_bundle(&out, Some(&key(&data))).expect("verifies");
    assert!(check.key_pinned);
    assert_eq!(check.records, indexes.len() as u64);
    assert_eq!(check.checkpoint_size, *indexes.last().expect("some") + 1);
    assert_eq!(check.latest_size, 3000);
    assert_eq!(check.subjects, subjects_of(&bodies, &indexes) as u64);
    // Every fifth record came from NL: "no data left the company" does not hold.
    let nl = indexes.iter().filter(|i| *i % 5 == 0).count() as u64;
    assert_eq!(check.external_records, nl);
    assert_eq!(check.countries.get("NL"), Some(&nl));
    assert_eq!(
        check.fields.get("entrance_code").copied(),
        Some(subjects_of(
            &bodies,
            &indexes
                .iter()
                .copied()
                .filter(|i| i % 2 == 1)
                .collect::<Vec<_>>()
        ) as u64)
    );
    // The consistency proof is there because the checkpoint is older than the latest.
    assert!(out.join("consistency.proof").is_file());
}

#[test]
fn a_third_party_checks_the_tiles_with_rfc6962_alone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let bodies = ledger(&data, 700);
    let indexes = [3u64, 300, 517];
    let out = tmp.path().join("bundle");
    bundle(&data, &indexes, &out);

    // Independent reading: the checkpoint note, the partial tiles at the checkpoint's widths,
    // the record's SHA-256 inside its entry, and an RFC 6962 proof rebuilt from the tiles.
    let text = fs::read_to_string(out.join("checkpoint")).expect("checkpoint");
    let (cp, _) = Checkpoint::open(&text, &[key(&data)]).expect("signed");
    assert_eq!(cp.size, 518);
    struct Tiles<'a>(&'a Path, u64);
    impl NodeSource for Tiles<'_> {
        type Error = std::io::Error;
        fn node(&self, level: u8, index: u64) -> Result<[u8; 32], std::io::Error> {
            let (tl, r) = (level / 8, u32::from(level % 8));
            let first = index << r;
            let t = first / 256;
            let width = ((self.1 >> (8 * u32::from(tl))) - t * 256).min(256);
            let name = if width == 256 {
                format!("tile/{tl}/{t:03}")
            } else {
                format!("tile/{tl}/{t:03}.p/{width}")
            };
            let b = fs::read(self.0.join(name))?;
            let mut layer: Vec<[u8; 32]> = b
                .chunks_exact(32)
                .skip((first % 256) as usize)
                .take(1 << r)
                .map(|c| c.try_into().expect("32"))
                .collect();
            while layer.len() > 1 {
                layer = layer
                    .chunks_exact(2)
                    .map(|p| suho_merkle::node_hash(&p[0], &p[1]))
                    .collect();
            }
            Ok(layer[0])
        }
    }
    let src = Tiles(&out, cp.size);
    let lines: Vec<String> = fs::read_to_string(out.join("records.ndjson"))
        .expect("records")
        .lines()
        .map(str::to_string)
        .collect();
    for (k, &i) in indexes.iter().enumerate() {
        assert_eq!(lines[k], bodies[i as usize]);
        let t = i / 256;
        let width = (cp.size - t * 256).min(256);
        let name = if width == 256 {
            format!("tile/entries/{t:03}")
        } else {
            format!("tile/entries/{t:03}.p/{width}")
        };
        let bundle = fs::read(out.join(name)).expect("entry bundle");
        let at = (i % 256) as usize * 55;
        assert_eq!(&bundle[at..at + 2], &[0, 53]);
        let entry = &bundle[at + 2..at + 55];
        assert_eq!(&entry[21..], Sha256::digest(lines[k].as_bytes()).as_slice());
        let proof = inclusion_proof(&src, i, cp.size).expect("proof from the tiles");
        verify_inclusion(&leaf_hash(entry), i, cp.size, &proof, &cp.root).expect("included");
    }
}

/// A copy of the bundle `pristine` at `to`, to alter.
fn copy_of(pristine: &Path, to: &Path) -> std::path::PathBuf {
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(pristine)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
    to.to_path_buf()
}

fn expect_invalid(out: &Path, key: &Verifier, what: &str) -> String {
    match verify_bundle(out, Some(key)) {
        Err(e @ (EvidenceError::Invalid { .. } | EvidenceError::Note { .. })) => e.to_string(),
        Err(e) => panic!("{what}: unexpected error kind: {e}"),
        Ok(_) => panic!("{what}: an altered bundle verified"),
    }
}

#[test]
fn any_alteration_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    ledger(&data, 1200);
    let indexes: Vec<u64> = (100..900).step_by(9).collect();
    let pristine = tmp.path().join("pristine");
    bundle(&data, &indexes, &pristine);
    let k = key(&data);
    verify_bundle(&pristine, Some(&k)).expect("pristine verifies");

    let copy = |name: &str| copy_of(&pristine, &tmp.path().join(name));
    // A record rewritten (and the manifest's digest updated to match: the entry still catches it).
    let b = copy("record");
    let text = fs::read_to_string(b.join("records.ndjson")).expect("read");
    let altered = text.replacen("emp-", "emp-x", 1);
    fs::write(b.join("records.ndjson"), &altered).expect("write");
    let mut m: serde_json::Value =
        serde_json::from_slice(&fs::read(b.join("manifest.json")).expect("m")).expect("json");
    m["files"]["records.ndjson"] = hex::encode(Sha256::digest(altered.as_bytes())).into();
    fs::write(b.join("manifest.json"), m.to_string()).expect("write");
    let e = expect_invalid(&b, &k, "record");
    assert!(
        e.contains("records.ndjson:1") && e.contains("altered"),
        "{e}"
    );

    // A record left out of the bundle without saying so (the manifest's digest updated to
    // match: the record index still catches it).
    let b = copy("dropped");
    let text = fs::read_to_string(b.join("records.ndjson")).expect("read");
    let kept: Vec<&str> = text.lines().skip(1).collect();
    let kept = kept.join("\n") + "\n";
    fs::write(b.join("records.ndjson"), &kept).expect("write");
    let mut m: serde_json::Value =
        serde_json::from_slice(&fs::read(b.join("manifest.json")).expect("m")).expect("json");
    m["files"]["records.ndjson"] = hex::encode(Sha256::digest(kept.as_bytes())).into();
    fs::write(b.join("manifest.json"), m.to_string()).expect("write");
    let e = expect_invalid(&b, &k, "dropped");
    assert!(e.contains("records.ndjson:1"), "{e}");

    // A hash tile altered: the inclusion proof built from it no longer reaches the root.
    let b = copy("tile");
    let tile = b.join("tile/0/001");
    let mut bytes = fs::read(&tile).expect("tile");
    bytes[40] ^= 1;
    fs::write(&tile, &bytes).expect("write");
    let mut m: serde_json::Value =
        serde_json::from_slice(&fs::read(b.join("manifest.json")).expect("m")).expect("json");
    m["files"]["tile/0/001"] = hex::encode(Sha256::digest(&bytes)).into();
    fs::write(b.join("manifest.json"), m.to_string()).expect("write");
    let e = expect_invalid(&b, &k, "tile");
    assert!(e.contains("tile"), "{e}");

    // A checkpoint signed by another key.
    let other = suho_note::Signer::generate(k.name()).expect("signer");
    let b = copy("key");
    let e = expect_invalid(&b, &other.verifier(), "key");
    assert!(e.contains("checkpoint"), "{e}");

    // Nothing to prove, and a directory that already exists, are refused before writing.
    let layout = Layout::new(&data);
    let empty = BundleInput {
        indexes: &[],
        about: serde_json::Value::Null,
        country_of: None,
        home_countries: Vec::new(),
    };
    assert!(matches!(
        write_bundle(&layout, &empty, &tmp.path().join("none")),
        Err(EvidenceError::Request(_))
    ));
    let again = BundleInput {
        indexes: &[1],
        ..empty
    };
    assert!(matches!(
        write_bundle(&layout, &again, &pristine),
        Err(EvidenceError::Request(_))
    ));
}

#[test]
fn a_hostile_bundle_cannot_make_the_check_read_forever_or_outside_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    ledger(&data, 300);
    let pristine = tmp.path().join("pristine");
    bundle(&data, &[10, 20, 30], &pristine);
    let k = key(&data);
    let copy = |name: &str| copy_of(&pristine, &tmp.path().join(name));
    // The manifest is not signed: a name in it could point anywhere.
    for (case, name) in [("absolute", "/dev/zero"), ("parent", "../data/keys/x")] {
        let b = copy(case);
        let mut m: serde_json::Value =
            serde_json::from_slice(&fs::read(b.join("manifest.json")).expect("m")).expect("json");
        m["files"][name] = "00".into();
        fs::write(b.join("manifest.json"), m.to_string()).expect("write");
        let e = expect_invalid(&b, &k, case);
        assert!(
            e.contains(name) && e.contains("not a path inside the bundle"),
            "{e}"
        );
    }
    // A bundle file replaced by a link to an endless device.
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(pristine.join("manifest.json")).expect("m"))
            .expect("json");
    let tile = m["files"]
        .as_object()
        .and_then(|f| f.keys().find(|k| k.starts_with("tile/")).cloned())
        .expect("the bundle holds tiles");
    for file in ["records.index", tile.as_str()] {
        let b = copy(&file.replace('/', "-"));
        fs::remove_file(b.join(file)).expect("remove");
        std::os::unix::fs::symlink("/dev/zero", b.join(file)).expect("symlink");
        let e = expect_invalid(&b, &k, file);
        assert!(e.contains(file) && e.contains("not a plain file"), "{e}");
    }
}
