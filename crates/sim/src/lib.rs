//! Generates realistic, deterministic sample traffic for suho: the access records (contract
//! section 1) of an e-commerce company's customers, staff and service accounts, the registry
//! that describes them (section 2), a small `network,country` geo database, and, on request,
//! labelled attack scenarios mixed into that traffic with a ground-truth file to score
//! detectors against. The same seed always gives the same bytes.
//!
//! The simulated company: customers use the app from Korean broadband and mobile addresses
//! with session tokens signed by an `unregistered` customer-token key (self-access records);
//! cs agents, logistics staff, marketers and backend engineers sign in at the identity
//! provider each working day (a registered access token per day, signed by the current
//! staff-token key, which rotates mid-run) and work 09-18 Seoul time from their offices;
//! service accounts read customer data around the clock from the data centre with registered
//! API keys. Each producer writes its own time format (RFC 3339 in Seoul or UTC, epoch
//! milliseconds) and its own `id` scheme; the service mesh writes no ids. Every labelled
//! record carries an `id`, so the ground truth can be matched after ingest.
//!
//! Architecture invariant: this crate knows nothing about the ledger, detectors or HTTP; it
//! writes bytes to the sinks it is given (and files only in [`generate_to_dir`]).
//!
//! ```no_run
//! let cfg = suho_sim::SimConfig::default();
//! let stats = suho_sim::generate_to_dir(&cfg, std::path::Path::new("demo")).unwrap();
//! println!("{} records", stats.records);
//! ```
#![forbid(unsafe_code)]

mod engine;
mod event;
mod fmt;
mod net;
mod normal;
mod output;
mod render;
mod scenario;
mod time;
mod world;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub use scenario::{ScenarioName, MIN_SCENARIO_DAYS};
pub use time::Timestamp;

/// File names [`generate_to_dir`] writes.
pub const RECORDS_FILE: &str = "records.ndjson";
/// Registry file name.
pub const REGISTRY_FILE: &str = "registry.ndjson";
/// Geo database file name.
pub const GEO_FILE: &str = "geo.csv";
/// suho configuration snippet file name.
pub const CONFIG_FILE: &str = "suho.toml";
/// Ground-truth file name.
pub const TRUTH_FILE: &str = "truth.ndjson";

/// The `suho.toml` that points suho at the generated geo database and describes the simulated
/// company (for scope shares and notices).
pub fn suho_toml(customers: u32) -> String {
    format!(
        r#"[geo]
database = "geo.csv"
home_countries = ["KR"]

# The simulated company: used by `suho scope` (share of the customer base) and `suho notify`.
[company]
name = "Example Commerce Co., Ltd."
name_ko = "예시커머스 주식회사"
customers = {customers}
contact_phone = "1588-0000"
contact_email = "privacy@example-commerce.test"
website = "https://www.example-commerce.test"
dpo_name = "Kim Privacy (김개인)"
dpo_email = "dpo@example-commerce.test"
annual_revenue_krw = 41_000_000_000_000
address = "서울특별시 송파구 예시로 100 (Example-ro 100, Songpa-gu, Seoul)"
countermeasures = [
  "유출에 쓰인 서명키를 폐기하고 그 키로 서명된 모든 인증 토큰을 무효화했습니다",
  "퇴사자의 모든 접근 권한과 인증수단을 회수했습니다",
  "해외 접속 경로를 차단하고 수사기관에 신고했습니다",
]
countermeasures_en = [
  "Revoked the signing key used in the leak and invalidated every token it signed",
  "Revoked every access right and credential of the departed employee",
  "Blocked the overseas access paths and reported the incident to the police",
]
remedy = "피해 신고 센터(1588-0000)에서 피해 사실을 접수하며, 확인된 피해는 보상해 드립니다"
remedy_en = "Report any damage to our centre (1588-0000); confirmed damage will be compensated"
"#
    )
}

/// Most customers a run may have (ids keep a fixed width up to here).
pub const MAX_CUSTOMERS: u32 = 99_999_999;
/// Longest run in days.
pub const MAX_DAYS: u32 = 3650;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Seed for every random choice: the same configuration gives the same bytes.
    pub seed: u64,
    /// First day of the run; rounded down to midnight in Seoul.
    pub start: Timestamp,
    /// Number of days.
    pub days: u32,
    /// Customers (`c-0000001` upward).
    pub customers: u32,
    /// Staff: employees and contractors (at least 8).
    pub employees: u32,
    /// Service accounts (at least 3: `svc-order`, `svc-delivery`, `svc-notify`, ...).
    pub service_accounts: u32,
    /// Target records on an average day; `None` lets the population decide (about 3% of
    /// customers open the app each day, 1,500 records per service account).
    pub records_per_day: Option<u64>,
    /// Labelled scenario to mix in.
    pub scenario: Option<ScenarioName>,
}

impl Default for SimConfig {
    /// The demo: 120 days from 2025-05-01 (Seoul), 200,000 customers, 150 staff, 8 service
    /// accounts, about 8,500 records a day: roughly a million records.
    fn default() -> SimConfig {
        SimConfig {
            seed: 20_250_624,
            start: Timestamp::from_unix_ms(1_746_025_200_000), // 2025-05-01T00:00:00+09:00
            days: 120,
            customers: 200_000,
            employees: 150,
            service_accounts: 8,
            records_per_day: Some(8_500),
            scenario: None,
        }
    }
}

impl SimConfig {
    /// Checks the bounds the generator relies on.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |field: &'static str, reason: String| Err(SimError::Config { field, reason });
        if self.days == 0 || self.days > MAX_DAYS {
            return bad("days", format!("must be 1..={MAX_DAYS}, got {}", self.days));
        }
        if self.customers < 100 || self.customers > MAX_CUSTOMERS {
            return bad(
                "customers",
                format!("must be 100..={MAX_CUSTOMERS}, got {}", self.customers),
            );
        }
        if !(8..=100_000).contains(&self.employees) {
            return bad(
                "employees",
                format!("must be 8..=100000, got {}", self.employees),
            );
        }
        if !(3..=200).contains(&self.service_accounts) {
            return bad(
                "service_accounts",
                format!("must be 3..=200, got {}", self.service_accounts),
            );
        }
        if let Some(n) = self.records_per_day {
            if n == 0 || n > 100_000_000 {
                return bad("records_per_day", format!("must be 1..=100000000, got {n}"));
            }
        }
        let first = self.start.kst_day_number();
        let (y0, _, _) = time::civil_from_days(first);
        let (y1, _, _) = time::civil_from_days(first + i64::from(self.days) + 1);
        if y0 < 1971 || y1 > 9998 {
            return bad(
                "start",
                format!(
                    "the run must fall within years 1971..=9998, starts {}",
                    self.start
                ),
            );
        }
        if self.scenario.is_some() && self.days < MIN_SCENARIO_DAYS {
            return bad(
                "days",
                format!(
                    "a scenario needs at least {MIN_SCENARIO_DAYS} days, got {}",
                    self.days
                ),
            );
        }
        Ok(())
    }
}

/// Where the generated files go.
pub struct Outputs<'a> {
    /// Access records, NDJSON, in event-time order.
    pub records: &'a mut dyn Write,
    /// Registry records, NDJSON.
    pub registry: &'a mut dyn Write,
    /// Geo database, CSV `network,country` with a header line.
    pub geo_csv: &'a mut dyn Write,
    /// Ground truth, NDJSON, one line per label (empty without a scenario).
    pub truth: &'a mut dyn Write,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Access records written.
    pub records: u64,
    /// Unlabelled records by customers acting on their own data.
    pub customer_records: u64,
    /// Unlabelled records by employees and contractors.
    pub staff_records: u64,
    /// Unlabelled records by service accounts.
    pub service_records: u64,
    /// Records labelled as part of an attack.
    pub attack_records: u64,
    /// Records labelled as a benign surprise (trip abroad, new hire, planned export).
    pub benign_surprise_records: u64,
    /// Records per `action`.
    pub by_action: BTreeMap<&'static str, u64>,
    /// Registry lines by type.
    pub principals: u64,
    /// Signing keys in the registry.
    pub signing_keys: u64,
    /// Credentials in the registry.
    pub credentials: u64,
    /// Data rows in the geo CSV.
    pub geo_networks: u64,
    /// Ground-truth lines.
    pub truth_lines: u64,
    /// Event time of the first and last record.
    pub first_time: Option<Timestamp>,
    /// Event time of the last record.
    pub last_time: Option<Timestamp>,
    /// Files written by [`generate_to_dir`] (empty for [`generate`]).
    pub files: Vec<PathBuf>,
}

impl std::fmt::Display for SimStats {
    /// One paragraph for people: volumes by kind, time span, registry and truth sizes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records ({} customer, {} staff, {} service, {} attack, {} benign surprise)",
            self.records,
            self.customer_records,
            self.staff_records,
            self.service_records,
            self.attack_records,
            self.benign_surprise_records
        )?;
        if let (Some(a), Some(b)) = (self.first_time, self.last_time) {
            write!(f, " from {a} to {b}")?;
        }
        write!(
            f,
            "; registry: {} principals, {} signing keys, {} credentials; geo: {} networks; truth: {} labels",
            self.principals, self.signing_keys, self.credentials, self.geo_networks, self.truth_lines
        )
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A configuration value is out of bounds.
    #[error("invalid simulation setting `{field}`: {reason}")]
    Config {
        /// The `SimConfig` field.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A time string could not be read.
    #[error("invalid time {input:?}: {reason}")]
    Time {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A scenario name is not known.
    #[error("unknown scenario {0:?}: expected coupang, slow-theft, stolen-api-key, insider-download, benign, quiet-insider, steady-excess, role-data or all")]
    UnknownScenario(String),
    /// Writing an output failed.
    #[error("cannot write {what}: {source}")]
    Write {
        /// Which output (records, registry, a file path, ...).
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Generates the run described by `cfg` into the four sinks. Records are written as they are
/// generated, in chunks of about 256 KiB (a file needs no `BufWriter`); the registry, the
/// geo CSV and the ground truth are buffered here and written once all records are out.
pub fn generate(cfg: &SimConfig, out: &mut Outputs<'_>) -> Result<SimStats, SimError> {
    engine::run(cfg, out, None)
}

/// Generates into `dir` (created if missing): `records.ndjson`, `registry.ndjson`, `geo.csv`,
/// `suho.toml` and `truth.ndjson`.
pub fn generate_to_dir(cfg: &SimConfig, dir: &Path) -> Result<SimStats, SimError> {
    cfg.validate()?;
    let io_err = |path: &Path| {
        let what = path.display().to_string();
        move |source| SimError::Write { what, source }
    };
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let paths: Vec<PathBuf> = [
        RECORDS_FILE,
        REGISTRY_FILE,
        GEO_FILE,
        TRUTH_FILE,
        CONFIG_FILE,
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let open = |p: &PathBuf| -> Result<BufWriter<File>, SimError> {
        File::create(p)
            .map(|f| BufWriter::with_capacity(1 << 20, f))
            .map_err(io_err(p))
    };
    // Records arrive in large chunks already: a second buffer would only add a copy.
    let mut records = File::create(&paths[0]).map_err(io_err(&paths[0]))?;
    let mut registry = open(&paths[1])?;
    let mut geo = open(&paths[2])?;
    let mut truth = open(&paths[3])?;
    let mut stats = generate(
        cfg,
        &mut Outputs {
            records: &mut records,
            registry: &mut registry,
            geo_csv: &mut geo,
            truth: &mut truth,
        },
    )?;
    records.flush().map_err(io_err(&paths[0]))?;
    for (w, p) in [
        (&mut registry, &paths[1]),
        (&mut geo, &paths[2]),
        (&mut truth, &paths[3]),
    ] {
        w.flush().map_err(io_err(p))?;
    }
    std::fs::write(&paths[4], suho_toml(cfg.customers)).map_err(io_err(&paths[4]))?;
    stats.files = paths;
    Ok(stats)
}

/// Writes exactly `n` normal-traffic records as fast as the generator goes, with the registry
/// and the geo CSV that match them (what `suho simulate` writes beside them; no truth): for
/// benchmarks of the ingest path, which can then run every detector the way a company would,
/// with its registry loaded and a geo database configured ([`suho_toml`]). Returns the number
/// of records written.
pub fn bench_traffic(
    n: u64,
    mut out: impl Write,
    mut registry: impl Write,
    mut geo_csv: impl Write,
) -> Result<u64, SimError> {
    const PER_DAY: u64 = 500_000;
    let days = (n.div_ceil(PER_DAY) + 1).min(u64::from(MAX_DAYS)) as u32;
    let defaults = SimConfig::default();
    let cfg = SimConfig {
        seed: 1,
        days,
        customers: BENCH_CUSTOMERS,
        employees: 1_000,
        service_accounts: 10,
        records_per_day: Some(PER_DAY),
        ..defaults
    };
    let mut truth = io::sink();
    let stats = engine::run(
        &cfg,
        &mut Outputs {
            records: &mut out,
            registry: &mut registry,
            geo_csv: &mut geo_csv,
            truth: &mut truth,
        },
        Some(n),
    )?;
    Ok(stats.records)
}

/// Customers of the benchmark's company (for its [`suho_toml`]).
pub const BENCH_CUSTOMERS: u32 = 1_000_000;
