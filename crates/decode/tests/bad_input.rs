//! A corpus of bad input per decoder (`tests/data/bad/<format>.log`, with what each unit must
//! become in `<format>.expect`: `ok`, `skip` for a unit that is no access, or `reject` and
//! words the reason must contain): every bad unit is rejected with a reason that names the
//! field, and the good units between them still decode. Then random bytes and every truncation
//! of those corpora: no decoder panics, and whatever one writes is a valid access record.

use std::path::PathBuf;

use proptest::prelude::*;
use suho_decode::{
    CloudTrailDecoder, CloudTrailMapping, Decoder, GatewayDecoder, GatewayMapping, OcsfDecoder,
    OcsfMapping, PgAuditDecoder, PgAuditMapping,
};

const GATEWAY: &str = r#"
[fields]
time = "time_iso8601"
method = "request_method"
path = "request_uri"
claims = "jwt_claims"

[[routes]]
route = "GET /v1/customers/{id}/profile"
subjects = ["path:id"]
fields = ["name"]
"#;

const PGAUDIT: &str = r#"
[log]
prefix = "%m [%p] %q%u@%d "

[tables.customers]
subject = "id"
columns = { name = "name" }
"#;

const CLOUDTRAIL: &str = r#"
[[s3]]
bucket = "acme-customer-files"
prefix = "customers/"
subject = "^customers/(?P<subject>[^/]+)/"
fields = ["name"]
"#;

const OCSF: &str = r#"
[[resources]]
class = 6005
name = "customers"
subjects = ["resources[].uid"]
fields = ["name"]
"#;

fn decoders() -> Vec<Box<dyn Decoder>> {
    vec![
        Box::new(GatewayDecoder::new(
            GatewayMapping::parse(GATEWAY).expect("gateway mapping"),
        )),
        Box::new(PgAuditDecoder::new(
            PgAuditMapping::parse(PGAUDIT).expect("pgaudit mapping"),
        )),
        Box::new(CloudTrailDecoder::new(
            CloudTrailMapping::parse(CLOUDTRAIL).expect("cloudtrail mapping"),
        )),
        Box::new(OcsfDecoder::new(
            OcsfMapping::parse(OCSF).expect("ocsf mapping"),
        )),
    ]
}

fn corpus(name: &str, ext: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bad")
        .join(format!("{name}.{ext}"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Decode `unit`; panics if the decoder writes anything but valid records, or writes on error.
fn decode_checked(d: &dyn Decoder, unit: &[u8]) -> Result<usize, String> {
    let mut out = Vec::new();
    match d.decode(unit, &mut out) {
        Ok(decoded) => {
            let lines: Vec<&[u8]> = out
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(lines.len(), decoded.records, "{}", d.name());
            for l in lines {
                if let Err(e) = suho_record::parse_record(l) {
                    panic!(
                        "{} wrote an invalid record ({e}): {}\nfrom: {}",
                        d.name(),
                        String::from_utf8_lossy(l),
                        String::from_utf8_lossy(unit)
                    );
                }
            }
            Ok(decoded.records)
        }
        Err(e) => {
            assert!(out.is_empty(), "{}: nothing is written on error", d.name());
            Err(e.to_string())
        }
    }
}

#[test]
fn every_bad_unit_is_rejected_with_its_reason_and_the_good_ones_around_it_decode() {
    for d in decoders() {
        let log = corpus(d.name(), "log");
        let expect = String::from_utf8(corpus(d.name(), "expect")).expect("utf-8");
        let expect: Vec<&str> = expect.lines().filter(|l| !l.is_empty()).collect();
        let units: Vec<(u64, &[u8])> = d.framing().units(&log, 1).collect();
        assert_eq!(
            units.len(),
            expect.len(),
            "{}: the corpus has {} units for {} expectations",
            d.name(),
            units.len(),
            expect.len()
        );
        for ((line, unit), want) in units.iter().zip(&expect) {
            let got = decode_checked(d.as_ref(), unit);
            let show = String::from_utf8_lossy(unit);
            match (*want, got) {
                ("ok", Ok(n)) => assert!(n >= 1, "{} line {line}: no record: {show}", d.name()),
                ("skip", Ok(n)) => assert_eq!(n, 0, "{} line {line}: {show}", d.name()),
                (w, Err(reason)) if w.starts_with("reject ") => {
                    let words = &w["reject ".len()..];
                    assert!(
                        reason.contains(words),
                        "{} line {line}: the reason {reason:?} does not say {words:?}: {show}",
                        d.name()
                    );
                }
                (w, got) => panic!(
                    "{} line {line}: expected {w}, got {got:?}: {show}",
                    d.name()
                ),
            }
        }
    }
}

#[test]
fn every_truncation_of_a_corpus_decodes_or_is_rejected_without_a_panic() {
    for d in decoders() {
        let log = corpus(d.name(), "log");
        for end in 0..=log.len() {
            for (_, unit) in d.framing().units(&log[..end], 1) {
                let _ = decode_checked(d.as_ref(), unit);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_a_decoder_or_its_framing(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for d in decoders() {
            for (_, unit) in d.framing().units(&bytes, 1) {
                let _ = decode_checked(d.as_ref(), unit);
            }
            let _ = d.framing().cut(&bytes);
        }
    }

    #[test]
    fn corpus_units_with_bytes_changed_never_panic(i in any::<usize>(), b in any::<u8>(), which in 0usize..4) {
        let ds = decoders();
        let d = &ds[which];
        let mut log = corpus(d.name(), "log");
        let at = i % log.len();
        log[at] = b;
        for (_, unit) in d.framing().units(&log, 1) {
            let _ = decode_checked(d.as_ref(), unit);
        }
    }
}
