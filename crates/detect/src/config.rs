//! Detector settings: `home_countries` and the geo database from `suho.toml` `[geo]`
//! (contract section 4), thresholds from an optional `[detect]` section.
//!
//! ```toml
//! [geo]
//! database = "geo.csv"       # relative to the data directory
//! home_countries = ["KR"]
//!
//! [detect]                   # optional; any key left out keeps its default
//! daily_own_factor = 3.0
//! bulk_min_subjects = 100
//! sigma_rules = "rules/"     # the team's Sigma rules, relative to the data directory
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::geo::GeoDb;
use crate::DetectError;

/// Every threshold the detectors use. Each field's doc gives its default; `RULES.md` says
/// which rule reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// ISO 3166 alpha-2 countries where the organisation operates (from `[geo]`). Default `["KR"]`.
    pub home_countries: Vec<String>,
    /// Home time zone as hours east of UTC: days (baselines, alert windows) run from
    /// midnight to midnight home time, and working hours are home-time hours. Default: the
    /// standard offset of the first home country (KR: 9), 0 when unknown.
    pub home_utc_offset_hours: Option<f64>,

    /// Active days an actor needs before its own baseline is used; until then it is judged
    /// against its role's peers only (cold start). Default 5.
    pub min_history_days: u32,
    /// Peers (same role, or same kind when there is no role) with history needed for a peer
    /// baseline. Default 3.
    pub min_peers: u32,
    /// Quantile of recent active days taken as an actor's or role's "normal high". Default 0.9.
    pub baseline_quantile: f64,

    /// `subjects_per_hour`: never fires below this many distinct subjects in an hour. Default 40.
    pub hourly_min_subjects: u64,
    /// `subjects_per_hour`: times the actor's normal high busiest hour. Default 3.
    pub hourly_own_factor: f64,
    /// `subjects_per_hour`: times the peers' normal busiest hour. Default 3.
    pub hourly_peer_factor: f64,
    /// `subjects_per_hour` with neither own nor peer history. Default 300.
    pub hourly_cold_subjects: u64,
    /// `subjects_per_day`: never fires below this many distinct subjects in a day. Default 60.
    pub daily_min_subjects: u64,
    /// `subjects_per_day`: times the actor's normal high day (see RULES.md). Default 2.
    pub daily_own_factor: f64,
    /// `subjects_per_day`: times the peers' normal high day. Default 1.5.
    pub daily_peer_factor: f64,
    /// `subjects_per_day` with neither own nor peer history. Default 1,000.
    pub daily_cold_subjects: u64,
    /// `subjects_per_hour` / `subjects_per_day` in cold start (no own history yet): times the
    /// peers' normal. Default 2.5.
    pub cold_peer_factor: f64,
    /// Volume alerts turn high at this many times the threshold (with own history). Default 2.
    pub high_factor: f64,
    /// `reach_30d` change detection: the cumulative sum of the daily excess over the actor's
    /// normal (in robust standard deviations) that raises it. Default 4.
    pub shift_limit: f64,
    /// `reach_30d` change detection: the slack subtracted from each day's excess (in robust
    /// standard deviations). Default 0.75.
    pub shift_slack: f64,
    /// `reach_30d` change detection: excess subjects accumulated before it can fire (or
    /// twice the actor's median day, when that is smaller). Default 100.
    pub shift_min_excess: u64,

    /// `reach_30d`: never fires below this many distinct subjects in 30 days. Default 2,000.
    pub reach30_min_subjects: u64,
    /// `reach_90d`: never fires below this many distinct subjects in 90 days. Default 5,000.
    pub reach90_min_subjects: u64,
    /// `reach_30d` / `reach_90d`: times the actor's own reach over the previous period. Default 2.
    pub reach_own_factor: f64,
    /// `reach_30d` / `reach_90d`: times the peers' normal reach. Default 2.
    pub reach_peer_factor: f64,

    /// `enumeration`: steps between subjects (within a day) before it can fire. Default 30.
    pub enumeration_min_steps: u32,
    /// `enumeration`: share of steps that go to the next id (1 to 3 apart). Default 0.6.
    pub enumeration_min_ratio: f64,

    /// `bulk_without_purpose`: subjects in one export, download or print for a medium alert
    /// (fewer is low). Default 100.
    pub bulk_min_subjects: u64,
    /// `bulk_without_purpose`: subjects for a high alert. Default 1,000.
    pub bulk_high_subjects: u64,

    /// `off_hours`: active days before an actor's working hours are known. Default 10.
    pub off_hours_min_days: u32,
    /// `off_hours`: days an hour must be flagged before it counts as a working hour. Default 5.
    pub off_hours_learn_days: u32,

    /// `login_failed_burst`: failures within the window for a medium alert. Default 10.
    pub login_failed_burst: u32,
    /// `login_failed_burst`: failures within the window for a high alert. Default 50.
    pub login_failed_high: u32,
    /// `login_failed_burst`: window length in minutes. Default 10.
    pub login_failed_window_minutes: u32,

    /// `shared_source`: distinct actors from one home-country (or unknown-country) /24 or
    /// /48 within an hour. Default 100.
    pub shared_source_home: u32,
    /// `shared_source`: distinct actors from one foreign /24 or /48 within an hour. Default 20.
    pub shared_source_foreign: u32,

    /// `impossible_travel`: speed (km/h) above which two uses of one credential cannot be one
    /// traveller. Default 1,000.
    pub travel_max_kmh: f64,
    /// `impossible_travel`: ignore places closer than this (km). Default 500.
    pub travel_min_km: f64,

    /// `unusual_network`: active days during which an actor with no registry `networks`
    /// learns its networks without alerts. Default 7.
    pub learning_days: u32,
    /// `unusual_network`: days a new network must be seen on before it is usual. Default 5.
    pub network_learn_days: u32,

    /// Context escalation: subjects touched today from an unusual place or at an unusual hour
    /// that turn a low/medium origin or hour alert high, as a multiple of the actor's normal
    /// day. Default 2.
    pub context_own_factor: f64,
    /// Context escalation: never below this many subjects. Default 50.
    pub context_min_subjects: u64,

    /// Unregistered, non-customer actors given behaviour state at most (the rest still get
    /// registry and origin checks). Default 10,000.
    pub max_unknown_actors: usize,
    /// log2 of the slots remembering customers' credentials for impossible travel (32 bytes
    /// each). Default 16 (2 MiB).
    pub customer_travel_slots_log2: u8,
    /// Actors idle this many days lose their state. Default 120.
    pub idle_actor_days: u32,

    /// The team's own Sigma rules: a directory (relative to the data directory, or absolute)
    /// whose `*.yml` / `*.yaml` files are loaded at startup and run in the same pass
    /// (`suho-sigma`; `RULES.md`, "Custom rules (Sigma)"). Default: none.
    pub sigma_rules: Option<String>,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            home_countries: vec!["KR".into()],
            home_utc_offset_hours: None,
            min_history_days: 5,
            min_peers: 3,
            baseline_quantile: 0.9,
            hourly_min_subjects: 40,
            hourly_own_factor: 3.0,
            hourly_peer_factor: 3.0,
            hourly_cold_subjects: 300,
            daily_min_subjects: 60,
            daily_own_factor: 2.0,
            daily_peer_factor: 1.5,
            daily_cold_subjects: 1000,
            cold_peer_factor: 2.5,
            high_factor: 2.0,
            shift_limit: 4.0,
            shift_slack: 0.75,
            shift_min_excess: 100,
            reach30_min_subjects: 2000,
            reach90_min_subjects: 5000,
            reach_own_factor: 2.0,
            reach_peer_factor: 2.0,
            enumeration_min_steps: 30,
            enumeration_min_ratio: 0.6,
            bulk_min_subjects: 100,
            bulk_high_subjects: 1000,
            off_hours_min_days: 10,
            off_hours_learn_days: 5,
            login_failed_burst: 10,
            login_failed_high: 50,
            login_failed_window_minutes: 10,
            shared_source_home: 100,
            shared_source_foreign: 20,
            travel_max_kmh: 1000.0,
            travel_min_km: 500.0,
            learning_days: 7,
            network_learn_days: 5,
            context_own_factor: 2.0,
            context_min_subjects: 50,
            max_unknown_actors: 10_000,
            customer_travel_slots_log2: 16,
            idle_actor_days: 120,
            sigma_rules: None,
        }
    }
}

/// `suho.toml` as far as detection reads it; other sections belong to other parts of suho.
#[derive(Deserialize, Default)]
struct SuhoToml {
    #[serde(default)]
    geo: Option<toml::Value>,
    #[serde(default)]
    detect: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoSection {
    database: Option<String>,
    home_countries: Option<Vec<String>>,
}

impl DetectConfig {
    /// Reads `<data_dir>/suho.toml` on its own (for tools and tests; suho's front ends read the
    /// file once through the application layer, which calls [`DetectConfig::from_sections`]):
    /// `[geo] database` (relative to `data_dir`) is opened,
    /// `[geo] home_countries` and `[detect]` fill the config. A missing file gives the
    /// defaults (home country KR, no geo database).
    pub fn load(data_dir: &Path) -> Result<(DetectConfig, Option<GeoDb>), DetectError> {
        let path = data_dir.join("suho.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((DetectConfig::default(), None))
            }
            Err(e) => {
                return Err(DetectError::Io {
                    path,
                    what: "reading the configuration",
                    source: e,
                })
            }
        };
        DetectConfig::from_toml(&text, data_dir, &path)
    }

    /// Same as [`DetectConfig::load`] on the text of a `suho.toml`; `path` is for errors.
    pub fn from_toml(
        text: &str,
        data_dir: &Path,
        path: &Path,
    ) -> Result<(DetectConfig, Option<GeoDb>), DetectError> {
        let doc: SuhoToml = toml::from_str(text).map_err(|e| DetectError::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        DetectConfig::from_sections(doc.geo, doc.detect, data_dir, path)
    }

    /// The `[geo]` and `[detect]` sections of a parsed `suho.toml` (the application layer
    /// parses the file once and hands each part of suho its sections); `path` is for errors.
    pub fn from_sections(
        geo: Option<toml::Value>,
        detect: Option<toml::Value>,
        data_dir: &Path,
        path: &Path,
    ) -> Result<(DetectConfig, Option<GeoDb>), DetectError> {
        let bad = |reason: String| DetectError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let mut cfg = match detect {
            Some(v) => DetectConfig::deserialize(v).map_err(|e| bad(format!("[detect]: {e}")))?,
            None => DetectConfig::default(),
        };
        let geo_section = match geo {
            Some(v) => Some(GeoSection::deserialize(v).map_err(|e| bad(format!("[geo]: {e}")))?),
            None => None,
        };
        let mut geo = None;
        if let Some(g) = geo_section {
            if let Some(h) = g.home_countries {
                cfg.home_countries = h;
            }
            if let Some(db) = g.database.filter(|d| !d.trim().is_empty()) {
                let p = PathBuf::from(&db);
                let p = if p.is_absolute() { p } else { data_dir.join(p) };
                geo = Some(GeoDb::open(&p)?);
            }
        }
        cfg.validate().map_err(bad)?;
        Ok((cfg, geo))
    }

    /// Checks values and normalises country codes to upper case.
    pub fn validate(&mut self) -> Result<(), String> {
        for c in &mut self.home_countries {
            let t = c.trim().to_ascii_uppercase();
            if t.len() != 2 || !t.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "[geo] home_countries: {c:?} is not an ISO 3166 alpha-2 code such as \"KR\""
                ));
            }
            *c = t;
        }
        let positive = [
            ("baseline_quantile", self.baseline_quantile),
            ("hourly_own_factor", self.hourly_own_factor),
            ("hourly_peer_factor", self.hourly_peer_factor),
            ("daily_own_factor", self.daily_own_factor),
            ("daily_peer_factor", self.daily_peer_factor),
            ("high_factor", self.high_factor),
            ("cold_peer_factor", self.cold_peer_factor),
            ("shift_limit", self.shift_limit),
            ("shift_slack", self.shift_slack),
            ("reach_own_factor", self.reach_own_factor),
            ("reach_peer_factor", self.reach_peer_factor),
            ("enumeration_min_ratio", self.enumeration_min_ratio),
            ("travel_max_kmh", self.travel_max_kmh),
            ("context_own_factor", self.context_own_factor),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "[detect] {name} must be a positive number, got {v}"
                ));
            }
        }
        if self.baseline_quantile > 1.0 || self.enumeration_min_ratio > 1.0 {
            return Err(
                "[detect] baseline_quantile and enumeration_min_ratio must be at most 1".into(),
            );
        }
        if let Some(h) = self.home_utc_offset_hours {
            if !(h.is_finite() && (-12.0..=14.0).contains(&h)) {
                return Err(format!(
                    "[detect] home_utc_offset_hours must be -12..=14, got {h}"
                ));
            }
        }
        if !(8..=24).contains(&self.customer_travel_slots_log2) {
            return Err(format!(
                "[detect] customer_travel_slots_log2 must be 8..=24, got {}",
                self.customer_travel_slots_log2
            ));
        }
        if self.login_failed_window_minutes == 0 {
            return Err("[detect] login_failed_window_minutes must be at least 1".into());
        }
        Ok(())
    }

    /// The directory of `sigma_rules`, anchored at `data_dir` when relative.
    pub fn sigma_dir(&self, data_dir: &Path) -> Option<PathBuf> {
        let d = self
            .sigma_rules
            .as_deref()
            .filter(|d| !d.trim().is_empty())?;
        let p = PathBuf::from(d);
        Some(if p.is_absolute() { p } else { data_dir.join(p) })
    }

    /// The home UTC offset in milliseconds (see [`DetectConfig::home_utc_offset_hours`]).
    #[inline]
    pub fn offset_ms(&self) -> i64 {
        let ms = match self.home_utc_offset_hours {
            Some(h) => h * 3_600_000.0,
            None => self.default_offset_hours() * 3_600_000.0,
        };
        (ms + if ms < 0.0 { -0.5 } else { 0.5 }) as i64
    }

    #[cold]
    fn default_offset_hours(&self) -> f64 {
        self.home_countries
            .first()
            .map_or(0.0, |c| standard_offset_hours(c))
    }

    pub(crate) fn home_codes(&self) -> Vec<[u8; 2]> {
        self.home_countries
            .iter()
            .filter_map(|c| {
                let b = c.as_bytes();
                (b.len() == 2).then(|| [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()])
            })
            .collect()
    }
}

/// Standard-time UTC offset (hours) of a country's main time zone, for day boundaries; 0 when
/// not listed. Daylight saving is ignored: it only shifts day boundaries by an hour.
fn standard_offset_hours(country: &str) -> f64 {
    match country.to_ascii_uppercase().as_str() {
        "KR" | "JP" | "KP" => 9.0,
        "CN" | "TW" | "HK" | "MO" | "SG" | "MY" | "PH" | "BN" | "MN" => 8.0,
        "TH" | "VN" | "KH" | "LA" | "ID" => 7.0,
        "MM" => 6.5,
        "BD" | "BT" | "KG" => 6.0,
        "NP" => 5.75,
        "IN" | "LK" => 5.5,
        "PK" | "UZ" | "MV" | "TJ" | "KZ" => 5.0,
        "AE" | "OM" | "AZ" | "GE" | "AM" | "MU" => 4.0,
        "RU" | "TR" | "SA" | "QA" | "KW" | "BH" | "IQ" | "BY" | "KE" | "ET" => 3.0,
        "IL" | "EG" | "ZA" | "GR" | "FI" | "EE" | "LV" | "LT" | "UA" | "RO" | "BG" | "CY" => 2.0,
        "DE" | "FR" | "ES" | "IT" | "NL" | "BE" | "CH" | "AT" | "SE" | "NO" | "DK" | "PL"
        | "CZ" | "HU" | "NG" => 1.0,
        "US" | "CA" | "CO" | "PE" | "PA" => -5.0,
        "MX" | "CR" | "GT" => -6.0,
        "BR" | "AR" | "UY" | "CL" => -3.0,
        "AU" => 10.0,
        "NZ" => 12.0,
        _ => 0.0,
    }
}
