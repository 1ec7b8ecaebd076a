//! Behaviour of the generated data as suho and its evaluations rely on it: deterministic bytes,
//! records that suho's own parser accepts, a registry in the contract's shape that agrees with
//! the records at event time, staff rhythm, and ground truth that matches the records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;
use suho_sim::{generate, Outputs, ScenarioName, SimConfig, SimError, Timestamp};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const KST_MS: i64 = 9 * HOUR_MS;

/// Everything one run wrote.
struct Run {
    records: Vec<u8>,
    registry: Vec<u8>,
    geo: Vec<u8>,
    truth: Vec<u8>,
    stats: suho_sim::SimStats,
}

fn small(scenario: Option<ScenarioName>) -> SimConfig {
    SimConfig {
        seed: 7,
        days: 40,
        customers: 4_000,
        employees: 20,
        service_accounts: 5,
        records_per_day: Some(1_800),
        scenario,
        ..SimConfig::default()
    }
}

fn run(cfg: &SimConfig) -> Run {
    let (mut records, mut registry, mut geo, mut truth) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let stats = generate(
        cfg,
        &mut Outputs {
            records: &mut records,
            registry: &mut registry,
            geo_csv: &mut geo,
            truth: &mut truth,
        },
    )
    .unwrap();
    Run {
        records,
        registry,
        geo,
        truth,
        stats,
    }
}

/// One run of every scenario together, shared by the tests that only read it.
fn all() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| run(&small(Some(ScenarioName::All))))
}

/// One run of plain traffic.
fn plain() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| run(&small(None)))
}

/// Parsed records of [`all`] and [`plain`], parsed once.
fn all_records() -> &'static [Value] {
    static V: OnceLock<Vec<Value>> = OnceLock::new();
    V.get_or_init(|| json_lines(&all().records))
}

fn plain_records() -> &'static [Value] {
    static V: OnceLock<Vec<Value>> = OnceLock::new();
    V.get_or_init(|| json_lines(&plain().records))
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    lines(bytes)
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn parse_time(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap(),
        Value::String(s) => Timestamp::parse(s).unwrap().unix_ms(),
        other => panic!("bad time {other}"),
    }
}

fn truth(run: &Run) -> Vec<Value> {
    json_lines(&run.truth)
}

fn truth_named<'a>(t: &'a [Value], name: &str) -> &'a Value {
    t.iter()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no truth line {name}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn ipv4(s: &str) -> u32 {
    u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
}

fn in_cidr(ip: u32, cidr: &str) -> bool {
    let (net, len) = cidr.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    ip & mask == ipv4(net) & mask
}

mod determinism {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_bytes() {
        let again = run(&small(Some(ScenarioName::All)));
        let first = all();
        assert!(
            first.records == again.records,
            "records differ between runs"
        );
        assert_eq!(first.registry, again.registry);
        assert_eq!(first.geo, again.geo);
        assert_eq!(first.truth, again.truth);
        assert_eq!(first.stats, again.stats);
    }

    #[test]
    fn another_seed_gives_other_traffic() {
        let mut cfg = small(None);
        cfg.seed = 8;
        let other = run(&cfg);
        assert!(other.records != plain().records);
        assert!(other.registry != plain().registry);
    }

    #[test]
    fn a_scenario_adds_records_without_changing_the_normal_traffic() {
        let attacked = run(&small(Some(ScenarioName::StolenApiKey)));
        let t = truth(&attacked);
        let ids: HashSet<String> = strs(&t[0]["ids"]).into_iter().collect();
        // Producer ids are sequence numbers, so they shift; everything else must not.
        let strip = |bytes: &[u8], skip: &HashSet<String>| -> Vec<Vec<u8>> {
            const KEY: &[u8] = b",\"id\":\"";
            let mut v: Vec<Vec<u8>> = lines(bytes)
                .filter_map(|line| {
                    let Some(at) = line.windows(KEY.len()).position(|w| w == KEY) else {
                        return Some(line.to_vec());
                    };
                    let from = at + KEY.len();
                    let len = line[from..].iter().position(|&b| b == b'"').unwrap();
                    let id = std::str::from_utf8(&line[from..from + len]).unwrap();
                    if skip.contains(id) {
                        return None;
                    }
                    let mut out = line[..at].to_vec();
                    out.extend_from_slice(&line[from + len + 1..]);
                    Some(out)
                })
                .collect();
            v.sort_unstable();
            v
        };
        let base = strip(&plain().records, &HashSet::new());
        let rest = strip(&attacked.records, &ids);
        assert_eq!(base.len(), rest.len());
        assert!(
            base == rest,
            "normal traffic changed when the scenario was added"
        );
    }
}

mod records {
    use super::*;

    #[test]
    fn every_record_parses_with_suho_record() {
        for run in [all(), plain()] {
            let mut n = 0u64;
            let mut last = i64::MIN;
            for (i, line) in lines(&run.records).enumerate() {
                let rec = suho_record::parse_record(line).unwrap_or_else(|e| {
                    panic!("line {}: {e}: {}", i + 1, String::from_utf8_lossy(line))
                });
                assert!(rec.time_ms >= last, "line {} goes back in time", i + 1);
                last = rec.time_ms;
                n += 1;
            }
            assert_eq!(n, run.stats.records);
            assert!(n > 40_000, "only {n} records");
        }
    }

    #[test]
    fn uses_every_action_and_time_form() {
        let mut actions = BTreeSet::new();
        let (mut epoch, mut kst, mut utc) = (0, 0, 0);
        for r in all_records() {
            actions.insert(r["action"].as_str().unwrap().to_string());
            match &r["time"] {
                Value::Number(_) => epoch += 1,
                Value::String(s) if s.ends_with("+09:00") => kst += 1,
                Value::String(s) if s.ends_with('Z') => utc += 1,
                other => panic!("time {other}"),
            }
        }
        assert_eq!(actions.len(), 11, "{actions:?}");
        assert!(epoch > 0 && kst > 0 && utc > 0);
    }

    #[test]
    fn customers_act_only_on_themselves_with_unregistered_session_tokens() {
        let registry = json_lines(&all().registry);
        let unregistered: HashSet<&str> = registry
            .iter()
            .filter(|l| l["type"] == "signing_key" && l["issuance"] == "unregistered")
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        let attack_ids: HashSet<String> =
            truth(all()).iter().flat_map(|t| strs(&t["ids"])).collect();
        let mut customers = 0;
        for r in all_records() {
            let actor = r["actor"].as_str().unwrap();
            if !actor.starts_with("c-") || attack_ids.contains(r["id"].as_str().unwrap_or("")) {
                continue;
            }
            customers += 1;
            assert_eq!(actor.len(), 9, "customer ids look like c-0000417");
            if r["action"] == "login_failed" {
                assert!(r.get("credential").is_none());
                continue;
            }
            assert!(unregistered.contains(r["signing_key"].as_str().unwrap()));
            assert!(r["credential"].as_str().unwrap().starts_with("sess-"));
            if let Some(s) = r["subjects"].as_array() {
                assert_eq!(
                    s,
                    &vec![Value::from(actor)],
                    "self-access names only the actor"
                );
            }
        }
        assert!(customers > 10_000);
    }

    #[test]
    fn volume_follows_records_per_day() {
        let cfg = SimConfig {
            seed: 3,
            days: 10,
            customers: 20_000,
            employees: 10,
            service_accounts: 4,
            records_per_day: Some(3_000),
            scenario: None,
            ..SimConfig::default()
        };
        let r = run(&cfg);
        let want = 10.0 * 3_000.0;
        let got = r.stats.records as f64;
        assert!(
            (got - want).abs() / want < 0.12,
            "asked for ~{want}, got {got}"
        );
        assert!(r.stats.customer_records > r.stats.staff_records);
    }

    #[test]
    fn bench_traffic_writes_exactly_n_valid_lines_and_the_registry_of_their_staff() {
        let (mut out, mut reg, mut geo) = (Vec::new(), Vec::new(), Vec::new());
        let n = suho_sim::bench_traffic(20_000, &mut out, &mut reg, &mut geo).unwrap();
        assert_eq!(n, 20_000);
        assert!(!geo.is_empty(), "a geo database comes with the traffic");
        let reg = json_lines(&reg);
        let ids = |kind: &str| -> HashSet<String> {
            reg.iter()
                .filter(|l| l["type"] == kind)
                .map(|l| l["id"].as_str().unwrap().to_string())
                .collect()
        };
        let (principals, credentials) = (ids("principal"), ids("credential"));
        let (mut count, mut staff, mut creds) = (0, 0, 0);
        for line in lines(&out) {
            let r = suho_record::parse_record(line).unwrap();
            count += 1;
            // Customers act on their own data and are not registered (contract section 1).
            if !r.actor.starts_with("c-") {
                staff += 1;
                assert!(
                    principals.contains(r.actor.as_ref()),
                    "{} is registered",
                    r.actor
                );
            }
            if let Some(c) = r.credential.as_deref().filter(|c| !c.starts_with("sess-")) {
                creds += 1;
                assert!(credentials.contains(c), "credential {c} is registered");
            }
        }
        assert_eq!(count, 20_000);
        assert!(
            staff > 1_000 && creds > 0,
            "staff {staff}, credentials {creds}"
        );
    }
}

mod registry {
    use super::*;

    #[test]
    fn lines_follow_contract_section_2() {
        let reg = json_lines(&all().registry);
        let mut seen = HashSet::new();
        let principals: HashSet<&str> = reg
            .iter()
            .filter(|l| l["type"] == "principal")
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        let keys: HashSet<&str> = reg
            .iter()
            .filter(|l| l["type"] == "signing_key")
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        for l in &reg {
            let ty = l["type"].as_str().unwrap();
            let id = l["id"].as_str().unwrap();
            assert!(
                seen.insert((ty.to_string(), id.to_string())),
                "duplicate {ty} {id}"
            );
            match ty {
                "principal" => {
                    assert!(["employee", "contractor", "service"]
                        .contains(&l["kind"].as_str().unwrap()));
                    let status = l["status"].as_str().unwrap();
                    assert!(["active", "suspended", "departed"].contains(&status));
                    assert_eq!(status == "departed", l.get("departed_at").is_some(), "{l}");
                    assert_eq!(
                        status == "suspended",
                        l.get("suspended_at").is_some(),
                        "{l}"
                    );
                    if let Some(t) = l.get("departed_at") {
                        parse_time(t);
                    }
                    assert_eq!(l["countries"], serde_json::json!(["KR"]));
                    for n in strs(&l["networks"]) {
                        in_cidr(0, &n);
                    }
                    assert!(l["role"].is_string());
                }
                "signing_key" => {
                    let status = l["status"].as_str().unwrap();
                    assert!(["active", "retired", "revoked"].contains(&status));
                    assert_eq!(status == "retired", l.get("retired_at").is_some());
                    assert!(
                        ["registered", "unregistered"].contains(&l["issuance"].as_str().unwrap())
                    );
                    assert!(id.starts_with("kid-"));
                    parse_time(&l["created_at"]);
                    let owner = l["owner"].as_str().unwrap();
                    assert!(
                        owner == "svc-auth" || principals.contains(owner),
                        "key owner {owner}"
                    );
                }
                "credential" => {
                    assert!([
                        "access_token",
                        "refresh_token",
                        "api_key",
                        "session",
                        "certificate"
                    ]
                    .contains(&l["kind"].as_str().unwrap()));
                    assert!(principals.contains(l["principal"].as_str().unwrap()));
                    if let Some(k) = l.get("signing_key") {
                        assert!(keys.contains(k.as_str().unwrap()));
                    }
                    assert!(parse_time(&l["issued_at"]) < parse_time(&l["expires_at"]));
                }
                other => panic!("unknown type {other}"),
            }
        }
        let count = |ty: &str| reg.iter().filter(|l| l["type"] == ty).count() as u64;
        assert_eq!(count("principal"), all().stats.principals);
        assert_eq!(count("credential"), all().stats.credentials);
        assert!(count("principal") >= 20 + 5);
        let departed = reg.iter().filter(|l| l["status"] == "departed").count();
        assert!(departed >= 3, "a few departed employees");
        let unregistered = reg
            .iter()
            .filter(|l| l["issuance"] == "unregistered")
            .count();
        assert!(unregistered >= 1, "a customer-token key");
        let retired = reg.iter().filter(|l| l["status"] == "retired").count();
        assert!(retired >= 1, "some retired keys");
    }

    /// Every unlabelled record agrees with the registry as it stood at the record's time.
    #[test]
    fn unlabelled_records_agree_with_the_registry_at_event_time() {
        let run = all();
        let reg = json_lines(&run.registry);
        let mut principal = HashMap::new();
        let mut key = HashMap::new();
        let mut cred = HashMap::new();
        for l in &reg {
            let id = l["id"].as_str().unwrap().to_string();
            match l["type"].as_str().unwrap() {
                "principal" => {
                    principal.insert(id, l.clone());
                }
                "signing_key" => {
                    key.insert(id, l.clone());
                }
                _ => {
                    cred.insert(id, l.clone());
                }
            }
        }
        let labelled: HashSet<String> = truth(run).iter().flat_map(|t| strs(&t["ids"])).collect();
        let mut checked = 0;
        for r in all_records() {
            if r["id"].as_str().is_some_and(|id| labelled.contains(id)) {
                continue;
            }
            let t = parse_time(&r["time"]);
            let actor = r["actor"].as_str().unwrap();
            if !actor.starts_with("c-") {
                let p = principal
                    .get(actor)
                    .unwrap_or_else(|| panic!("{actor} not registered"));
                if let Some(d) = p.get("departed_at").or(p.get("suspended_at")) {
                    assert!(t < parse_time(d), "{actor} acts after leaving: {r}");
                }
            }
            let Some(c) = r["credential"].as_str() else {
                assert_eq!(r["action"], "login_failed", "{r}");
                continue;
            };
            if let Some(k) = r["signing_key"].as_str() {
                let k = &key[k];
                if k["issuance"] == "unregistered" {
                    assert!(actor.starts_with("c-"));
                    continue;
                }
            }
            let c = cred
                .get(c)
                .unwrap_or_else(|| panic!("credential {c} not registered: {r}"));
            assert_eq!(c["principal"], actor, "{r}");
            assert_eq!(
                c.get("signing_key").and_then(Value::as_str),
                r["signing_key"].as_str()
            );
            assert!(
                parse_time(&c["issued_at"]) <= t + 1_000 && t <= parse_time(&c["expires_at"]),
                "{r}"
            );
            if let Some(k) = c.get("signing_key") {
                let k = &key[k.as_str().unwrap()];
                let issued = parse_time(&c["issued_at"]);
                assert!(parse_time(&k["created_at"]) <= issued);
                if let Some(ret) = k.get("retired_at") {
                    assert!(
                        issued < parse_time(ret),
                        "token signed by a retired key: {r}"
                    );
                }
            }
            checked += 1;
        }
        assert!(checked > 30_000);
    }

    #[test]
    fn geo_csv_covers_every_address_in_the_records() {
        let run = all();
        let text = String::from_utf8(run.geo.clone()).unwrap();
        let mut rows = text.lines();
        assert_eq!(rows.next(), Some("network,country"));
        let nets: Vec<(String, String)> = rows
            .map(|l| {
                let (n, c) = l.split_once(',').unwrap();
                (n.to_string(), c.to_string())
            })
            .collect();
        assert_eq!(nets.len() as u64, run.stats.geo_networks);
        let countries: BTreeSet<&str> = nets.iter().map(|(_, c)| c.as_str()).collect();
        for cc in ["KR", "US", "CN", "SG", "NL", "JP"] {
            assert!(countries.contains(cc), "{cc} missing");
        }
        for r in all_records() {
            let ip = ipv4(r["src_ip"].as_str().unwrap());
            assert!(
                nets.iter().any(|(n, _)| in_cidr(ip, n)),
                "{ip} not in geo CSV"
            );
        }
    }

    #[test]
    fn generate_to_dir_writes_the_five_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small(None);
        cfg.days = 3;
        let stats = suho_sim::generate_to_dir(&cfg, dir.path()).unwrap();
        assert_eq!(stats.files.len(), 5);
        let toml = std::fs::read_to_string(dir.path().join("suho.toml")).unwrap();
        assert!(toml.contains("[geo]") && toml.contains("database = \"geo.csv\""));
        assert!(toml.contains("home_countries = [\"KR\"]"));
        let recs = std::fs::read(dir.path().join("records.ndjson")).unwrap();
        assert_eq!(lines(&recs).count() as u64, stats.records);
        assert!(dir.path().join("truth.ndjson").exists());
    }
}

mod rhythm {
    use super::*;

    fn kst_hour(t: i64) -> i64 {
        (t + KST_MS).rem_euclid(DAY_MS) / HOUR_MS
    }

    #[test]
    fn staff_work_seoul_business_hours_and_services_run_around_the_clock() {
        let (mut staff, mut in_hours, mut weekend) = (0u64, 0u64, 0u64);
        let mut service_hours = BTreeSet::new();
        for r in plain_records() {
            let actor = r["actor"].as_str().unwrap();
            let t = parse_time(&r["time"]);
            if actor.starts_with("emp-") || actor.starts_with("ctr-") {
                staff += 1;
                if (9..18).contains(&kst_hour(t)) {
                    in_hours += 1;
                }
                let day = (t + KST_MS).div_euclid(DAY_MS);
                if matches!((day + 4).rem_euclid(7), 0 | 6) {
                    weekend += 1;
                }
            } else if actor.starts_with("svc-") {
                service_hours.insert(kst_hour(t));
            }
        }
        let share = in_hours as f64 / staff as f64;
        assert!(share > 0.8, "only {share:.3} of staff records in 09-18 KST");
        assert!(share < 0.999, "nobody ever works late");
        let weekend_share = weekend as f64 / staff as f64;
        assert!(weekend_share < 0.12, "weekend share {weekend_share:.3}");
        assert_eq!(service_hours.len(), 24);
    }

    #[test]
    fn staff_sign_in_each_working_day_and_sometimes_fail() {
        let recs = plain_records();
        let staff = |r: &&Value| {
            r["actor"].as_str().unwrap().starts_with("emp-")
                || r["actor"].as_str().unwrap().starts_with("ctr-")
        };
        let logins = recs
            .iter()
            .filter(staff)
            .filter(|r| r["action"] == "login")
            .count();
        let failed = recs
            .iter()
            .filter(staff)
            .filter(|r| r["action"] == "login_failed")
            .count();
        // 20 staff, 27 working days in the window, most of them at work on a given day.
        assert!(logins > 20 * 27 * 3 / 4, "{logins} staff logins");
        assert!(failed > 0 && failed < logins / 10);
    }
}

mod scenarios {
    use super::*;

    /// For every truth line: the ids exist, and first/last time, record count, actors and
    /// subjects are what the labelled records say.
    #[test]
    fn ground_truth_matches_the_records() {
        let run = all();
        let by_id: HashMap<&str, &Value> = all_records()
            .iter()
            .filter_map(|r| r["id"].as_str().map(|id| (id, r)))
            .collect();
        let t = truth(run);
        let names: Vec<&str> = t.iter().map(|l| l["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "coupang-departed-key",
                "slow-theft",
                "stolen-api-key",
                "insider-download",
                "quiet-insider",
                "steady-excess",
                "role-data",
                "planned-marketing-export",
                "travel-japan",
                "new-hire-ramp",
                "month-end-peak"
            ]
        );
        for line in t.iter().filter(|l| l["name"] != "month-end-peak") {
            let ids = strs(&line["ids"]);
            assert!(!ids.is_empty(), "{} has no records", line["name"]);
            assert_eq!(
                ids.len() as u64,
                line["records"].as_u64().unwrap(),
                "every labelled record has an id"
            );
            let recs: Vec<&Value> = ids
                .iter()
                .map(|id| {
                    *by_id
                        .get(id.as_str())
                        .unwrap_or_else(|| panic!("truth id {id} not in records"))
                })
                .collect();
            let first = recs.iter().map(|r| parse_time(&r["time"])).min().unwrap();
            let last = recs.iter().map(|r| parse_time(&r["time"])).max().unwrap();
            assert_eq!(parse_time(&line["first_time"]), first);
            assert_eq!(parse_time(&line["last_time"]), last);
            if line["kind"] == "attack" {
                assert_eq!(parse_time(&line["first_malicious_time"]), first);
                assert!(line["min_severity"].is_string());
            } else {
                assert_eq!(line["max_severity"], "medium");
            }
            let actors: BTreeSet<String> = recs
                .iter()
                .map(|r| r["actor"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(actors, strs(&line["actors"]).into_iter().collect());
            let subjects: BTreeSet<String> =
                recs.iter().flat_map(|r| strs(&r["subjects"])).collect();
            assert_eq!(
                subjects.len() as u64,
                line["subjects_reached"].as_u64().unwrap()
            );
            assert_eq!(subjects, strs(&line["subjects"]).into_iter().collect());
        }
        assert_eq!(
            all().stats.attack_records,
            t.iter()
                .filter(|l| l["kind"] == "attack")
                .map(|l| l["records"].as_u64().unwrap())
                .sum::<u64>()
        );
    }

    #[test]
    fn coupang_forges_tokens_with_a_departed_engineers_live_key() {
        let run = all();
        let t = truth(run);
        let line = truth_named(&t, "coupang-departed-key");
        let reg = json_lines(&run.registry);
        let key_id = line["signing_key"].as_str().unwrap();
        let key = reg
            .iter()
            .find(|l| l["type"] == "signing_key" && l["id"] == key_id)
            .unwrap();
        let owner = key["owner"].as_str().unwrap();
        assert_eq!(key["status"], "active");
        assert_eq!(key["issuance"], "registered");
        let engineer = reg
            .iter()
            .find(|l| l["type"] == "principal" && l["id"] == owner)
            .unwrap();
        assert_eq!(engineer["status"], "departed");
        assert_eq!(engineer["role"], "backend-engineer");
        let departed = parse_time(&engineer["departed_at"]);
        let first = parse_time(&line["first_malicious_time"]);
        assert!(
            first - departed >= 20 * DAY_MS,
            "starts about three weeks after departure"
        );

        let registered: HashSet<&str> = reg
            .iter()
            .filter(|l| l["type"] == "credential")
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        let ids: HashSet<String> = strs(&line["ids"]).into_iter().collect();
        let (mut as_service, mut as_customer) = (0, 0);
        let mut per_week: BTreeMap<i64, u64> = BTreeMap::new();
        for r in all_records() {
            let signed_by_key = r["signing_key"] == key_id;
            let t = parse_time(&r["time"]);
            if signed_by_key && t > departed {
                // Completeness: everything his key signed after he left is labelled.
                assert!(
                    ids.contains(r["id"].as_str().unwrap()),
                    "unlabelled forged use {r}"
                );
            }
            if !r["id"].as_str().is_some_and(|id| ids.contains(id)) {
                continue;
            }
            assert!(signed_by_key);
            assert!(
                !registered.contains(r["credential"].as_str().unwrap()),
                "forged tokens are not registered"
            );
            let actor = r["actor"].as_str().unwrap();
            if actor.starts_with("c-") {
                as_customer += 1;
                assert_eq!(strs(&r["subjects"]), vec![actor.to_string()]);
            } else {
                as_service += 1;
                assert!(actor.starts_with("svc-"));
            }
            *per_week.entry((t - first) / (7 * DAY_MS)).or_default() += 1;
        }
        assert!(as_service > 0 && as_customer > 0);
        let countries = strs(&line["countries"]);
        assert!(
            !countries.is_empty() && !countries.contains(&"KR".to_string()),
            "{countries:?}"
        );
        let fields = line["fields"].as_object().unwrap();
        for f in [
            "name",
            "email",
            "phone",
            "address",
            "order_history",
            "entrance_code",
            "delivery_contacts",
        ] {
            assert!(fields.contains_key(f), "{f} missing");
        }
        let weeks: Vec<u64> = per_week.values().copied().collect();
        assert!(
            weeks.len() >= 2 && weeks.last() > weeks.first(),
            "ramps up: {weeks:?}"
        );
    }

    #[test]
    fn slow_theft_uses_valid_credentials_from_a_home_address() {
        let run = all();
        let t = truth(run);
        let line = truth_named(&t, "slow-theft");
        let reg = json_lines(&run.registry);
        let actor = line["principal"].as_str().unwrap();
        let p = reg
            .iter()
            .find(|l| l["type"] == "principal" && l["id"] == actor)
            .unwrap();
        assert_eq!(p["status"], "active");
        let networks = strs(&p["networks"]);
        for ip in strs(&line["src_ips"]) {
            assert!(
                !networks.iter().any(|n| in_cidr(ipv4(&ip), n)),
                "home address {ip} is not an office"
            );
        }
        assert_eq!(strs(&line["countries"]), vec!["KR".to_string()]);
        let registered: HashSet<&str> = reg
            .iter()
            .filter(|l| l["type"] == "credential" && l["principal"] == actor)
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        for c in strs(&line["credentials"]) {
            assert!(registered.contains(c.as_str()));
        }
        assert!(line["subjects_reached"].as_u64().unwrap() > 300);
    }

    #[test]
    fn stolen_api_key_walks_customer_ids_in_order() {
        let run = all();
        let t = truth(run);
        let line = truth_named(&t, "stolen-api-key");
        let ids: HashSet<String> = strs(&line["ids"]).into_iter().collect();
        let walked: Vec<String> = all_records()
            .iter()
            .filter(|r| r["id"].as_str().is_some_and(|id| ids.contains(id)))
            .map(|r| strs(&r["subjects"])[0].clone())
            .collect();
        assert_eq!(walked[0], "c-0000001");
        assert_eq!(walked[1], "c-0000002");
        assert!(walked.windows(2).all(|w| w[0] < w[1]));
        let creds = strs(&line["credentials"]);
        assert_eq!(creds.len(), 1);
        let reg = json_lines(&run.registry);
        let key = reg
            .iter()
            .find(|l| l["type"] == "credential" && l["id"] == creds[0].as_str())
            .unwrap();
        assert_eq!(key["kind"], "api_key");
        assert_eq!(key["principal"], line["principal"]);
    }

    #[test]
    fn exports_differ_by_purpose() {
        let run = all();
        let t = truth(run);
        let ids = |name: &str| -> HashSet<String> {
            strs(&truth_named(&t, name)["ids"]).into_iter().collect()
        };
        let insider = ids("insider-download");
        let planned = ids("planned-marketing-export");
        let (mut insider_actions, mut planned_actions) = (BTreeSet::new(), BTreeSet::new());
        for r in all_records() {
            let Some(id) = r["id"].as_str() else { continue };
            if insider.contains(id) {
                assert!(
                    r.get("purpose").is_none(),
                    "insider exports carry no purpose"
                );
                insider_actions.insert(r["action"].as_str().unwrap().to_string());
            }
            if planned.contains(id) {
                assert!(r["purpose"].as_str().unwrap().starts_with("MKT-"));
                planned_actions.insert(r["action"].as_str().unwrap().to_string());
            }
        }
        let want: BTreeSet<String> = ["download".to_string(), "export".to_string()].into();
        assert_eq!(insider_actions, want);
        assert_eq!(planned_actions, want);
    }

    #[test]
    fn the_traveller_stays_on_one_japanese_address() {
        let t = truth(all());
        let line = truth_named(&t, "travel-japan");
        assert_eq!(strs(&line["countries"]), vec!["JP".to_string()]);
        assert_eq!(strs(&line["src_ips"]).len(), 1);
        let span = parse_time(&line["last_time"]) - parse_time(&line["first_time"]);
        assert!(span < 8 * DAY_MS && span > 3 * DAY_MS);
    }

    #[test]
    fn month_end_is_busier() {
        let t = truth(all());
        let line = truth_named(&t, "month-end-peak");
        let windows = line["windows"].as_array().unwrap();
        assert!(!windows.is_empty());
        let window_days: f64 = windows
            .iter()
            .map(|w| (parse_time(&w["end"]) - parse_time(&w["start"])) as f64 / DAY_MS as f64)
            .sum();
        let inside = line["records"].as_u64().unwrap() as f64 / window_days;
        let overall = plain().stats.records as f64 / 40.0;
        assert!(
            inside > overall * 1.2,
            "month-end {inside:.0}/day vs {overall:.0}/day"
        );
    }

    #[test]
    fn scenario_names_round_trip() {
        for name in ScenarioName::ALL {
            assert_eq!(name.as_str().parse::<ScenarioName>().unwrap(), name);
        }
        assert!(matches!(
            "nope".parse::<ScenarioName>(),
            Err(SimError::UnknownScenario(_))
        ));
    }
}

mod config {
    use super::*;

    #[test]
    fn rejects_out_of_range_settings_naming_the_field() {
        type Change = fn(&mut SimConfig);
        let cases: [(&str, Change); 5] = [
            ("days", |c| c.days = 0),
            ("customers", |c| c.customers = 5),
            ("employees", |c| c.employees = 2),
            ("service_accounts", |c| c.service_accounts = 1),
            ("days", |c| {
                c.days = 5;
                c.scenario = Some(ScenarioName::Coupang);
            }),
        ];
        for (field, change) in cases {
            let mut cfg = small(None);
            change(&mut cfg);
            match cfg.validate() {
                Err(SimError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
            let mut sink = Vec::new();
            assert!(generate(
                &cfg,
                &mut Outputs {
                    records: &mut sink,
                    registry: &mut std::io::sink(),
                    geo_csv: &mut std::io::sink(),
                    truth: &mut std::io::sink(),
                }
            )
            .is_err());
        }
    }

    #[test]
    fn the_default_is_the_million_record_demo() {
        let d = SimConfig::default();
        assert_eq!(
            d.start,
            Timestamp::parse("2025-05-01T00:00:00+09:00").unwrap()
        );
        let total = u64::from(d.days) * d.records_per_day.unwrap();
        assert!((900_000..=1_200_000).contains(&total));
        d.validate().unwrap();
    }
}
