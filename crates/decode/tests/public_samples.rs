//! The decoders on public samples this project did not write: every pgAudit entry of pgaudit's
//! own regression output, and CloudTrail events of the MIT-licensed invictus-ir/aws_dataset.
//!
//! The samples are data fetched from those repositories; this workplace keeps such data in
//! the shared directory beside the repository (`../shared/samples/`), not in it. Set
//! `SUHO_SAMPLES` to read them from elsewhere. Where they are absent the tests say so and pass,
//! unless `SUHO_REQUIRE_SAMPLES=1`. Each sample directory has a SOURCE.md (repository, commit,
//! path, licence).

use std::path::PathBuf;

use serde_json::{json, Value};
use suho_decode::{
    source_sha256, CloudTrailDecoder, CloudTrailMapping, Decoder, Framing, PgAuditDecoder,
    PgAuditMapping,
};

fn samples(which: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("SUHO_SAMPLES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples"),
    }
    .join(which);
    if dir.join("SOURCE.md").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("SUHO_REQUIRE_SAMPLES").as_deref() != Ok("1"),
        "SUHO_REQUIRE_SAMPLES=1 but {} has no samples",
        dir.display()
    );
    eprintln!("skipped: no public samples at {}", dir.display());
    None
}

/// Decode every unit of `log`; the records of each unit, or its rejection.
fn decode_all(d: &dyn Decoder, log: &[u8]) -> Vec<(u64, Result<Vec<Value>, String>)> {
    d.framing()
        .units(log, 1)
        .map(|(line, unit)| {
            let mut out = Vec::new();
            let r = d.decode(unit, &mut out).map(|_| {
                out.split(|&b| b == b'\n')
                    .filter(|r| !r.is_empty())
                    .map(|r| {
                        suho_record::parse_record(r)
                            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(r)));
                        serde_json::from_slice(r).expect("json")
                    })
                    .collect()
            });
            (line, r.map_err(|e| e.to_string()))
        })
        .collect()
}

const PG_MAPPING: &str = r#"
[log]
prefix = "%m [%p] %q%u@%d %r "

[tables.account]
subject = "id"
columns = { name = "name", password = "credential", description = "note" }
"#;

/// The entries of pgaudit's expected output: (message, CLASS, COMMAND), each message with the
/// lines of its multi-line statement.
fn pgaudit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut entries = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let Some(at) = l.find("AUDIT: ") else {
            continue;
        };
        let mut msg = l[at..].to_string();
        while msg.matches('"').count() % 2 == 1 {
            match lines.next() {
                Some(more) => {
                    msg.push('\n');
                    msg.push_str(more);
                }
                None => break,
            }
        }
        let mut f = msg["AUDIT: ".len()..].splitn(6, ',');
        let (_, _, _, class, command) = (f.next(), f.next(), f.next(), f.next(), f.next());
        entries.push((
            msg.clone(),
            class.unwrap_or_default().to_string(),
            command.unwrap_or_default().to_string(),
        ));
    }
    entries
}

/// The server log a PostgreSQL with these entries writes, in both forms: (csvlog, stderr).
fn server_logs(entries: &[(String, String, String)]) -> (String, String) {
    let mut csvlog = String::new();
    let mut stderr = String::new();
    for (n, (msg, _, _)) in entries.iter().enumerate() {
        csvlog.push_str(&format!(
            "2023-07-10 11:57:50.{:03} UTC,\"regress_user1\",\"contrib_regression\",4242,\"10.0.0.5:50412\",64abf1a2.1092,{},\"SELECT\",2023-07-10 11:57:00 UTC,3/{n},0,LOG,00000,\"{}\",,,,,,,,,\"psql\",\"client backend\",,0\n",
            n % 1000,
            n + 1,
            msg.replace('"', "\"\"")
        ));
        stderr.push_str(&format!(
            "2023-07-10 11:57:50.{:03} UTC [4242] regress_user1@contrib_regression 10.0.0.5(50412) LOG:  {}\n",
            n % 1000,
            msg.replace('\n', "\n\t")
        ));
        // A server message between entries, which is no access.
        stderr.push_str("2023-07-10 11:57:50.000 UTC [4242] LOG:  checkpoint starting: time\n");
    }
    (csvlog, stderr)
}

/// pgaudit's README as Debian's `postgresql-15-pgaudit` package installs it: the project's own
/// documented examples of its log entries, on every machine `.ci/run` prepares (it installs
/// the package), with no data copied into this repository.
const DEBIAN_README: &str = "/usr/share/doc/postgresql-15-pgaudit/README.md.gz";

#[test]
fn the_log_examples_in_pgaudits_readme_as_debian_ships_it_decode_in_both_forms() {
    use std::io::Read;
    let file = match std::fs::File::open(DEBIAN_README) {
        Ok(f) => f,
        Err(e) => {
            assert!(
                std::env::var("SUHO_REQUIRE_PGAUDIT").as_deref() != Ok("1"),
                "SUHO_REQUIRE_PGAUDIT=1 but {DEBIAN_README} cannot be read: {e}"
            );
            eprintln!("skipped: {DEBIAN_README}: {e} (apt-get install postgresql-15-pgaudit)");
            return;
        }
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .expect("gunzip the README");
    let entries = pgaudit_entries(&text);
    assert!(
        entries.len() >= 8,
        "{} entries in the README",
        entries.len()
    );
    let (csvlog, stderr) = server_logs(&entries);
    let d = PgAuditDecoder::new(PgAuditMapping::parse(PG_MAPPING).expect("mapping"));
    for (form, log) in [("csvlog", &csvlog), ("stderr", &stderr)] {
        let records: Vec<Value> = decode_all(&d, log.as_bytes())
            .into_iter()
            .flat_map(|(line, r)| r.unwrap_or_else(|e| panic!("{form} line {line}: {e}")))
            .collect();
        assert_eq!(records.len(), entries.len(), "{form}: one record per entry");
        for (r, (msg, class, command)) in records.iter().zip(&entries) {
            assert_eq!(r["attrs"]["class"], *class.as_str(), "{form}: {msg}");
            assert_eq!(r["attrs"]["command"], *command.as_str(), "{form}: {msg}");
        }
        // The README's object-audit example: only the audited column is read, and the mapping
        // calls `password` a credential.
        let (i, _) = entries
            .iter()
            .enumerate()
            .find(|(_, (m, _, _))| {
                m.starts_with("AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.account,")
            })
            .expect("the README's object audit example");
        assert_eq!(
            records[i]["fields"],
            json!(["credential"]),
            "{form}: {}",
            records[i]
        );
        assert_eq!(records[i]["action"], "read");
        let (i, _) = entries
            .iter()
            .enumerate()
            .find(|(_, (m, _, _))| {
                m.starts_with("AUDIT: OBJECT,2,1,WRITE,UPDATE,TABLE,public.account,")
            })
            .expect("the README's object audit update");
        assert_eq!(records[i]["action"], "update", "{form}: {}", records[i]);
    }
}

#[test]
fn every_entry_of_pgaudits_own_regression_output_decodes_in_csvlog_and_stderr_form() {
    let Some(dir) = samples("pgaudit") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("pgaudit.out.audit-lines")).expect("sample");
    let entries = pgaudit_entries(&text);
    assert!(entries.len() > 400, "{} entries", entries.len());

    let (csvlog, stderr) = server_logs(&entries);
    let d = PgAuditDecoder::new(PgAuditMapping::parse(PG_MAPPING).expect("mapping"));
    for (form, log) in [("csvlog", &csvlog), ("stderr", &stderr)] {
        let got = decode_all(&d, log.as_bytes());
        let records: Vec<Value> = got
            .into_iter()
            .flat_map(|(line, r)| r.unwrap_or_else(|e| panic!("{form} line {line}: {e}")))
            .collect();
        // One record per entry, in order, saying what pgAudit said.
        assert_eq!(records.len(), entries.len(), "{form}");
        for (r, (msg, class, command)) in records.iter().zip(&entries) {
            assert_eq!(r["attrs"]["class"], *class.as_str(), "{form}: {msg}");
            assert_eq!(r["attrs"]["command"], *command.as_str(), "{form}: {msg}");
            assert_eq!(r["actor"], "regress_user1");
            assert_eq!(r["src_ip"], "10.0.0.5");
            assert_eq!(r["time"].as_i64().map(|t| t / 1000), Some(1_688_990_270));
        }
        let find = |needle: &str| -> &Value {
            let i = entries
                .iter()
                .position(|(m, _, _)| m.starts_with(needle))
                .unwrap_or_else(|| panic!("no entry {needle}"));
            &records[i]
        };
        // A prepared statement executed: the key is the parameter pgAudit logged.
        let r = find("AUDIT: SESSION,12,1,READ,SELECT,TABLE,public.account,\"PREPARE pgclassstmt");
        assert_eq!(r["subjects"], json!(["1"]), "{form}: {r}");
        assert_eq!(r["action"], "read");
        assert_eq!(r["fields"], json!(["credential", "name", "note"]));
        // COPY ... TO, which pgAudit logs as a SELECT: an export.
        let r = find("AUDIT: SESSION,8,1,READ,SELECT,TABLE,public.account,COPY account TO stdout");
        assert_eq!(r["action"], "export");
        assert_eq!(r["resource"], "public.account");
        // Object audit of one column, over a statement on two lines.
        let r = find("AUDIT: OBJECT,1,1,READ,SELECT,TABLE,public.account,\"SELECT password");
        assert_eq!(r["fields"], json!(["credential"]), "{form}: {r}");
        assert_eq!(r["attrs"]["audit_type"], "OBJECT");
        assert!(r.get("subjects").is_none());
        // PREPARE handles no rows; a table the mapping does not name is unmapped.
        let r = find("AUDIT: SESSION,11,1,READ,PREPARE,,,\"PREPARE pgclassstmt");
        assert_eq!(r["attrs"]["unmapped"], true);
        let r = find("AUDIT: OBJECT,4,1,WRITE,UPDATE,TABLE,public.test4,update public.test4");
        assert_eq!(r["attrs"]["unmapped"], true);
        assert_eq!(r["action"], "update");
        assert_eq!(r["resource"], "public.test4");
    }
}

#[test]
fn invictus_cloudtrail_events_decode_to_their_actor_credential_time_and_address() {
    let Some(dir) = samples("cloudtrail") else {
        return;
    };
    let file = std::fs::read(dir.join("invictus-events.json")).expect("sample");
    let d = CloudTrailDecoder::new(CloudTrailMapping::parse("").expect("default mapping"));
    let units: Vec<&[u8]> = Framing::Json.units(&file, 1).map(|(_, u)| u).collect();
    assert_eq!(
        units.len(),
        9,
        "one unit per event of the one-line log object"
    );
    let decoded = decode_all(&d, &file);
    let records: Vec<Value> = decoded
        .into_iter()
        .flat_map(|(line, r)| r.unwrap_or_else(|e| panic!("line {line}: {e}")))
        .collect();
    assert_eq!(records.len(), 9);
    for (r, u) in records.iter().zip(&units) {
        // Each record names the exact bytes of its event in the file.
        assert_eq!(r["attrs"]["source_sha256"], source_sha256(u));
        // Management events: stored, unmapped, without subjects.
        assert_eq!(r["attrs"]["unmapped"], true);
        assert!(r.get("subjects").is_none());
    }
    let ms = |t: &str| suho_record::parse_rfc3339(t).expect("time");

    let r = &records[0];
    assert_eq!(r["actor"], "arn:aws:iam::123837392027:user/bert-jan");
    assert_eq!(r["credential"], "AKIATFQR7NSC8Q4X20BJ");
    assert_eq!(r["time"], ms("2023-07-10T11:57:50Z"));
    assert_eq!(r["src_ip"], "192.168.10.20");
    assert_eq!(r["id"], "0bdf2b9c-2cf9-40dd-a88b-0148e08e5a75");
    assert_eq!(r["action"], "read");
    assert_eq!(r["resource"], "secretsmanager:GetSecretValue");
    assert_eq!(r["attrs"]["identity_type"], "IAMUser");

    // Refused: an AccessDenied AssumeRole is a failure.
    let r = &records[1];
    assert_eq!(r["outcome"], "failure");
    assert_eq!(r["attrs"]["error_code"], "AccessDenied");

    // A role session: the assumed-role ARN and the session's key.
    let r = &records[2];
    assert_eq!(
        r["actor"],
        "arn:aws:sts::123837392027:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1688990082523310002"
    );
    assert_eq!(r["credential"], "ASIATFQR7NSCWLLE7IWW");

    // An AWS service acting: no ARN, the service is the actor, its name no address.
    let r = &records[3];
    assert_eq!(r["actor"], "inspector2.amazonaws.com");
    assert!(r.get("src_ip").is_none() && r.get("credential").is_none());
    assert_eq!(r["attrs"]["source_ip_address"], "inspector2.amazonaws.com");

    let r = &records[5];
    assert_eq!(r["action"], "login");
    assert_eq!(r["time"], ms("2023-07-10T12:23:15Z"));

    let r = &records[7];
    assert_eq!(r["attrs"]["source_ip_address"], "AWS Internal");
    assert_eq!(r["credential"], "ASIATFQR7NSCTM3XVF6B");

    // The same log object pretty-printed decodes to the same records (but for the bytes).
    let v: Value = serde_json::from_slice(&file).expect("json");
    let pretty = serde_json::to_vec_pretty(&v).expect("pretty");
    let again: Vec<Value> = decode_all(&d, &pretty)
        .into_iter()
        .flat_map(|(line, r)| r.unwrap_or_else(|e| panic!("pretty line {line}: {e}")))
        .collect();
    let strip = |r: &Value| {
        let mut r = r.clone();
        r["attrs"]
            .as_object_mut()
            .expect("attrs")
            .remove("source_sha256");
        r
    };
    assert_eq!(
        again.iter().map(strip).collect::<Vec<_>>(),
        records.iter().map(strip).collect::<Vec<_>>()
    );
}
