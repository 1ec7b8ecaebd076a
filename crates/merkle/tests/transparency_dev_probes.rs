//! Runs every inclusion and consistency probe of transparency-dev/merkle's `testdata/`
//! (copied as data into `tests/data/*_probes.json`): the valid proofs must verify, the
//! mutated and invalid ones must be rejected.
//!
//! Some probes carry "hashes" that are not 32 bytes long (empty, "WrongLeaf", "don't care").
//! The typed API cannot be handed those: [`hash_from_slice`] must reject them, which is where a
//! caller parsing such a proof stops. So that the verifier itself is still exercised on those
//! probes (a wrong old root, say, is only ever given as a 9-byte string), their bytes are then
//! zero-padded to 32 and the probe's expectation must hold for the verifier as well. One probe
//! is the exception, listed in [`VALID_ONCE_PADDED`].

use serde::Deserialize;
use suho_merkle::{hash_from_slice, verify_consistency, verify_inclusion, Hash, VerifyError};

#[derive(Deserialize)]
struct Probes<T> {
    cases: Vec<T>,
}

#[derive(Deserialize)]
struct InclusionProbe {
    file: String,
    desc: String,
    want_err: bool,
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: String,
    root: String,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct ConsistencyProbe {
    file: String,
    desc: String,
    want_err: bool,
    old_size: u64,
    new_size: u64,
    old_root: String,
    new_root: String,
    proof: Vec<String>,
}

/// Hash fields of one probe, as the probe gives them and as the verifier is given them.
struct Hashes {
    /// Every field converted with `hash_from_slice`, or the first rejection.
    strict: Result<Vec<Hash>, VerifyError>,
    /// Every field zero-padded to 32 bytes (used only for a valid probe with short hashes).
    padded: Vec<Hash>,
}

fn decode(fields: &[&String]) -> Hashes {
    let raw: Vec<Vec<u8>> = fields
        .iter()
        .map(|text| hex::decode(text).expect("probe hash is hex"))
        .collect();
    let strict = raw.iter().map(|bytes| hash_from_slice(bytes)).collect();
    let padded = raw
        .iter()
        .map(|bytes| {
            assert!(bytes.len() <= 32, "probe hash longer than 32 bytes");
            let mut hash = [0u8; 32];
            hash[..bytes.len()].copy_from_slice(bytes);
            hash
        })
        .collect();
    Hashes { strict, padded }
}

/// Invalid probes whose short hashes, once zero-padded, make a genuinely valid proof: an empty
/// leaf hash and an empty root both become 32 zero bytes, a valid tree of one leaf.
const VALID_ONCE_PADDED: &[&str] = &["single-entry/empty-root-and-leaf.json"];

/// What running the probes found, so the tests can check that nothing was skipped.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    valid_verified: usize,
    invalid_rejected: usize,
    /// Probes with a hash that is not 32 bytes long (rejected by `hash_from_slice`).
    wrong_length_hashes: usize,
    /// Of those, the invalid ones that the verifier also rejects once the hashes are padded.
    wrong_length_rejected_by_verifier: usize,
}

/// Checks one probe and records it; panics with the probe's file and description on failure.
fn check(
    tally: &mut Tally,
    file: &str,
    desc: &str,
    want_err: bool,
    hashes: Hashes,
    verify: impl Fn(&[Hash]) -> Result<(), VerifyError>,
) {
    let result = match hashes.strict {
        Ok(strict) => verify(&strict),
        Err(err) => {
            assert!(
                matches!(err, VerifyError::HashLength { .. }),
                "{file} ({desc}): unexpected parse error {err}"
            );
            tally.wrong_length_hashes += 1;
            let padded = verify(&hashes.padded);
            if want_err && VALID_ONCE_PADDED.contains(&file) {
                assert_eq!(
                    padded,
                    Ok(()),
                    "{file} ({desc}): padded probe should be valid"
                );
                Err(err)
            } else {
                if want_err && padded.is_err() {
                    tally.wrong_length_rejected_by_verifier += 1;
                }
                padded
            }
        }
    };
    match (want_err, result) {
        (false, Ok(())) => tally.valid_verified += 1,
        (true, Err(_)) => tally.invalid_rejected += 1,
        (false, Err(err)) => panic!("{file} ({desc}): valid probe rejected: {err}"),
        (true, Ok(())) => panic!("{file} ({desc}): invalid probe verified"),
    }
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("read {path}: {err}"));
    let probes: Probes<T> =
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("parse {path}: {err}"));
    probes.cases
}

#[test]
fn all_inclusion_probes() {
    let probes: Vec<InclusionProbe> = load("inclusion_probes.json");
    let mut tally = Tally::default();
    for p in &probes {
        // Field order: leaf hash, root, then the proof.
        let mut fields = vec![&p.leaf_hash, &p.root];
        fields.extend(&p.proof);
        check(
            &mut tally,
            &p.file,
            &p.desc,
            p.want_err,
            decode(&fields),
            |h| verify_inclusion(&h[0], p.leaf_index, p.tree_size, &h[2..], &h[1]),
        );
    }
    assert_eq!(probes.len(), 98);
    assert_eq!(
        tally,
        Tally {
            valid_verified: 6,
            invalid_rejected: 92,
            wrong_length_hashes: 26,
            wrong_length_rejected_by_verifier: 25,
        }
    );
}

#[test]
fn all_consistency_probes() {
    let probes: Vec<ConsistencyProbe> = load("consistency_probes.json");
    let mut tally = Tally::default();
    for p in &probes {
        // Field order: old root, new root, then the proof.
        let mut fields = vec![&p.old_root, &p.new_root];
        fields.extend(&p.proof);
        check(
            &mut tally,
            &p.file,
            &p.desc,
            p.want_err,
            decode(&fields),
            |h| verify_consistency(p.old_size, p.new_size, &h[2..], &h[0], &h[1]),
        );
    }
    assert_eq!(probes.len(), 98);
    assert_eq!(
        tally,
        Tally {
            valid_verified: 6,
            invalid_rejected: 92,
            wrong_length_hashes: 27,
            wrong_length_rejected_by_verifier: 26,
        }
    );
}

#[test]
fn happy_path_probes_fail_once_their_root_changes() {
    // Guards against a verifier that accepts everything: the valid probes must depend on the root.
    let probes: Vec<InclusionProbe> = load("inclusion_probes.json");
    let mut checked = 0;
    for p in probes.iter().filter(|p| !p.want_err) {
        let mut fields = vec![&p.leaf_hash, &p.root];
        fields.extend(&p.proof);
        let mut h = decode(&fields)
            .strict
            .expect("valid inclusion probes use 32-byte hashes");
        h[1][0] ^= 1;
        let err = verify_inclusion(&h[0], p.leaf_index, p.tree_size, &h[2..], &h[1]);
        assert!(
            matches!(err, Err(VerifyError::RootMismatch { .. })),
            "{}: {err:?}",
            p.file
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
}
