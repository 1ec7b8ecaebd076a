//! The detection engine: per-record checks on the sequencing thread, the state they keep,
//! and its persistence.
//!
//! Life of a record in [`Engine::observe`]:
//! 1. Registry facts (stateless): the actor's, the credential's, the signing key's and their
//!    owners' status at the record's event time.
//! 2. Customers (self-access, or an unregistered actor that processes nobody's data) get no
//!    per-actor state: only the source network's distinct-actor count, the credential's last
//!    place (a fixed-size table) and the source's failed logins.
//! 3. Everyone else (principals, unregistered non-customers up to a cap) has an
//!    [`ActorState`]: today's and this hour's distinct subjects (sketches), 28 days of daily
//!    history, 13 weeks of reach, learned networks and working hours, the recent subject ids
//!    for enumeration, and the day's "unusual context" (foreign, unusual network, off hours).
//!
//! All windows are event time. A record older than its actor's current hour or day counts
//! in the current one (records may arrive slightly out of order; nothing goes backwards).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use suho_record::Action;
use suho_registry::{Issuance, KeyStatus, PrincipalStatus, Registry, Validity};

use crate::alert::{Alert, Rule, Severity};
use crate::config::DetectConfig;
use crate::features::{Features, SeqId};
use crate::geo::{GeoDb, Place};
use crate::hash::{fmix64, mix2, HashMap64};
use crate::index::{ip_u128, net_prefix, prefix_text, PInfo, RegIndex};
use crate::render::{render, Context, Finding, Rec, CTX_FOREIGN, CTX_HOURS, CTX_NETWORK};
use crate::sketch::{Distinct, LinearCounter, PeerRing, Ring, WeekReach, WEEKS};
use crate::DetectError;

pub(crate) const HOUR: i64 = 3_600_000;
pub(crate) const DAY: i64 = 86_400_000;
/// Clock skew tolerated between a record's time and a credential's issue/expiry times.
const SKEW_MS: i64 = 5 * 60_000;
/// Networks remembered per actor.
const MAX_NETS: usize = 16;
/// Recent subject ids remembered per actor for enumeration.
const RECENT_SEQ: usize = 8;
/// Days of own history kept for baselines.
const OWN_DAYS: u32 = 28;
/// Actor-days kept per role for peer baselines.
const ROLE_DAYS: u32 = 256;
/// Unregistered actors idle this long lose their state.
const UNKNOWN_IDLE_MS: i64 = 7 * DAY;
/// Sources idle this long lose their state.
const SOURCE_IDLE_HOURS: i64 = 6;
/// Open alerts remembered for folding at most (each holds its last emitted form).
const MAX_OPEN_ALERTS: usize = 100_000;
/// Words (of 64 bits) in each customer "used abroad" filter: 32 KiB each.
const ABROAD_WORDS: usize = 4096;
/// Failed logins per source IP in the window for a by-source burst alert.
const SOURCE_FAIL_FACTOR: u32 = 3;

/// Where one credential (or a principal without one) was last seen.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct TravelMark {
    pub key: u64,
    pub time: i64,
    pub lat: f32,
    pub lon: f32,
    pub cc: [u8; 2],
}

impl TravelMark {
    fn place(&self) -> Place {
        Place {
            country: self.cc,
            lat: self.lat,
            lon: self.lon,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NetSeen {
    prefix: u128,
    last_day: i64,
    days: u16,
    usual: bool,
}

/// The volume threshold of the current hour or day, recomputed as the count grows by a
/// quarter (peers' counts move during the day).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct VolumeWindow {
    threshold: u64,
    peer: Option<u64>,
    next_check: u64,
}

/// Everything kept about one principal (or unregistered non-customer actor).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ActorState {
    unknown: bool,
    group: u64,
    last_ms: i64,
    first_day: i64,
    active_days: u32,
    day: i64,
    hour: i64,

    // Today / this hour.
    day_subj: Distinct,
    day_unlisted: u64,
    day_purposed: u64,
    /// A high volume alert fired today: the day is not learned as normal.
    day_high: bool,
    hour_subj: Distinct,
    hour_unlisted: u64,
    hour_purposed: u64,
    day_max_hour: u64,
    hours_mask: u32,
    flagged_hours: u32,
    ctx_flags: u8,
    ctx_subj: Distinct,
    ctx_unlisted: u64,
    foreign_cc: [u8; 2],
    foreign_several: bool,
    day_win: VolumeWindow,
    hour_win: VolumeWindow,

    // Enumeration.
    /// The last subject ids seen (prefix hash, number), a ring of `RECENT_SEQ`.
    recent_seq: [(u32, u64); RECENT_SEQ],
    recent_len: u8,
    recent_next: u8,
    enum_steps: u32,
    enum_hits: u32,
    enum_score: f32,
    enum_total: f32,
    enum_walk_today: bool,
    enum_days: u32,

    // History.
    daily: Ring,
    hourly: Ring,
    own_day_high: Option<u64>,
    own_hour_high: Option<u64>,
    /// Sizes of exports, downloads and prints without a purpose that did not alert high.
    bulk_sizes: Ring,
    reach: Option<Box<WeekReach>>,
    /// Distinct subjects in the 30 days before the last 30 (refreshed weekly).
    prev30: Option<u64>,
    purposed_weeks: Vec<(i64, u64)>,

    // Working hours (UTC hour of day): days seen, and days flagged while learning.
    hour_days: [u8; 24],
    hour_probation: [u8; 24],
    hour_total: u16,

    // Networks.
    nets: Vec<NetSeen>,
    last_net: u128,
    last_net_day: i64,
    last_net_usual: bool,

    // Login failures.
    fail_win: i64,
    fail_count: u32,
    fail_prev: u32,

    travel: Option<TravelMark>,
}

impl ActorState {
    fn new(day: i64, hour: i64, group: u64, unknown: bool) -> ActorState {
        ActorState {
            unknown,
            group,
            first_day: day,
            day,
            hour,
            daily: Ring::new(OWN_DAYS),
            hourly: Ring::new(OWN_DAYS),
            bulk_sizes: Ring::new(32),
            ..ActorState::default()
        }
    }

    fn heap_bytes(&self) -> usize {
        self.day_subj.heap_bytes()
            + self.hour_subj.heap_bytes()
            + self.ctx_subj.heap_bytes()
            + self.daily.heap_bytes()
            + self.hourly.heap_bytes()
            + self
                .reach
                .as_ref()
                .map_or(0, |r| r.heap_bytes() + std::mem::size_of::<WeekReach>())
            + self.purposed_weeks.capacity() * 16
            + self.nets.capacity() * std::mem::size_of::<NetSeen>()
    }
}

/// What a peer group (role) normally does.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoleStats {
    daily: PeerRing,
    hourly: PeerRing,
    reach30: PeerRing,
    reach90: PeerRing,
    bulk: PeerRing,
    hour_days: Vec<u32>,
    total_days: u32,
    /// First and latest day any member's day was folded in (home-time day numbers).
    first_day: Option<i64>,
    last_day: i64,
}

impl Default for RoleStats {
    fn default() -> RoleStats {
        RoleStats {
            daily: PeerRing::new(ROLE_DAYS),
            hourly: PeerRing::new(ROLE_DAYS),
            reach30: PeerRing::new(128),
            reach90: PeerRing::new(128),
            bulk: PeerRing::new(ROLE_DAYS),
            hour_days: vec![0; 24],
            total_days: 0,
            first_day: None,
            last_day: 0,
        }
    }
}

/// Distinct actors per source network this hour.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SourceState {
    /// Event hour (hours since the epoch, home time) being counted.
    hour: i32,
    /// Busiest completed hour, decaying by 1/8 per hour.
    peak: u16,
    actors: LinearCounter,
}

/// Failed logins per source IP (customers).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct FailState {
    win: i64,
    count: u32,
    prev: u32,
    actors: LinearCounter,
}

/// One open alert: the last emitted form and when to emit again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slot {
    #[serde(with = "alert_as_json")]
    alert: Alert,
    count: u64,
    next_emit: u64,
    last_ms: i64,
    end_ms: i64,
}

/// An [`Alert`] holds free-form JSON evidence, which a non-self-describing format cannot
/// carry: in the state file it is stored as JSON text.
mod alert_as_json {
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    use crate::alert::Alert;

    pub fn serialize<S: Serializer>(a: &Alert, s: S) -> Result<S::Ok, S::Error> {
        serde_json::to_string(a)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Alert, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(D::Error::custom)
    }
}

/// Everything that survives a restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    clock: i64,
    maint_hour: i64,
    actors: HashMap64<Option<Box<ActorState>>>,
    unknown_actors: usize,
    roles: HashMap64<RoleStats>,
    sources: HashMap64<SourceState>,
    fails: HashMap64<FailState>,
    /// Customers' credentials' last foreign place, packed (see [`pack_mark`]), direct-mapped.
    travel: Vec<u64>,
    /// Which customer credentials were used abroad this event hour and the one before: a
    /// bit per credential hash, so that home-country records (nearly all) skip the table.
    abroad: [Vec<u64>; 2],
    abroad_hour: i64,
    slots: HashMap64<Slot>,
    /// Event hour of the last sweep of sources and failed logins, and their sizes then.
    swept_hour: i64,
    swept_sources: usize,
    swept_day: i64,
}

/// Counts of what the engine holds, for operators and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct EngineStats {
    /// Actors with behaviour state (principals and unregistered non-customers).
    pub actors: usize,
    /// Of which unregistered.
    pub unknown_actors: usize,
    /// Source networks being counted.
    pub sources: usize,
    /// Alerts whose window is still open (updates possible).
    pub open_alerts: usize,
    /// Approximate heap bytes of all detector state.
    pub approx_bytes: usize,
}

#[derive(Clone, Copy, Default)]
struct GeoCacheEntry {
    ip: u128,
    valid: bool,
    place: Option<Place>,
}

const GEO_CACHE: usize = 4096;

/// The detectors, run over records one at a time in ledger order.
pub struct Engine {
    cfg: DetectConfig,
    home: Vec<[u8; 2]>,
    registry: Arc<Registry>,
    idx: RegIndex,
    geo: Option<GeoDb>,
    geo_cache: Vec<GeoCacheEntry>,
    st: State,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("stats", &self.stats())
            .field("geo", &self.geo)
            .finish()
    }
}

/// Which incident an alert belongs to.
#[derive(Clone, Copy)]
enum IncidentOf {
    Actor,
    Principal(u64),
    Credential,
    Key(u64),
    Source(u128),
    Ip,
}

struct Hit {
    rule: Rule,
    sev: Severity,
    entity: u64,
    win_start: i64,
    win_len: i64,
    incident: IncidentOf,
    finding: Finding,
}

/// A hit whose window is the home-time day of `t` (`off`: the home UTC offset in ms).
fn day_hit(
    off: i64,
    rule: Rule,
    sev: Severity,
    entity: u64,
    t: i64,
    incident: IncidentOf,
    finding: Finding,
) -> Hit {
    Hit {
        rule,
        sev,
        entity,
        win_start: (t + off).div_euclid(DAY) * DAY - off,
        win_len: DAY,
        incident,
        finding,
    }
}

/// The record being observed, and where alerts go. The record's text is parsed again only
/// when an alert is emitted.
struct Emit<'a, 'o> {
    index: u64,
    f: &'a Features,
    body: &'a [u8],
    place: Option<Place>,
    out: &'o mut Vec<Alert>,
    rec: Option<Rec<'a>>,
}

fn hex16(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn now_text() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    suho_record::format_rfc3339_ms(ms)
}

impl<'a> Emit<'a, '_> {
    fn rec(&mut self) -> &Rec<'a> {
        let body = self.body;
        self.rec.get_or_insert_with(|| Rec {
            r: suho_record::parse_record(body).ok(),
        })
    }

    fn raise(&mut self, slots: &mut HashMap64<Slot>, ix: &RegIndex, hit: Hit) {
        let key = mix2(mix2(hit.rule as u64 + 1, hit.entity), hit.win_start as u64);
        let t = self.f.time_ms;
        let index = self.index;
        if let Some(slot) = slots.get_mut(&key) {
            slot.count += 1;
            if t >= slot.last_ms {
                slot.last_ms = t;
                slot.alert.last_ledger_index = index;
            }
            let escalate = hit.sev > slot.alert.severity;
            if !escalate && slot.count < slot.next_emit {
                return;
            }
            if slot.count >= slot.next_emit {
                slot.next_emit = slot.count.saturating_mul(2);
            }
            let place = self.place;
            let (summary, evidence) = render(hit.rule, &hit.finding, self.rec(), ix, place, t);
            let a = &mut slot.alert;
            a.severity = a.severity.max(hit.sev);
            a.summary = summary;
            a.evidence = evidence;
            a.count = slot.count;
            a.last_time = suho_record::format_rfc3339_ms(slot.last_ms);
            a.detected_at = now_text();
            self.out.push(a.clone());
            return;
        }
        let place = self.place;
        let (summary, evidence) = render(hit.rule, &hit.finding, self.rec(), ix, place, t);
        let rec = self.rec();
        let r = rec.r.as_ref();
        let incident_of = match hit.incident {
            IncidentOf::Actor => format!("actor:{}", rec.actor()),
            IncidentOf::Principal(h) => match ix.principal_name(h) {
                Some(n) => format!("actor:{n}"),
                None => format!("actor:{}", rec.actor()),
            },
            IncidentOf::Credential => {
                format!("credential:{}", rec.credential().unwrap_or("(none)"))
            }
            IncidentOf::Key(h) => match ix.keys.get(&h) {
                Some(k) => format!("signing_key:{}", k.k.id),
                None => format!("signing_key:{}", rec.key().unwrap_or("(none)")),
            },
            IncidentOf::Source(p) => format!("source:{}", prefix_text(p)),
            IncidentOf::Ip => format!("source:{}", rec.ip().unwrap_or_default()),
        };
        let alert = Alert {
            id: format!(
                "al-{}",
                hex16(
                    format!(
                        "{}\0{:016x}\0{}",
                        hit.rule.as_str(),
                        hit.entity,
                        hit.win_start
                    )
                    .as_bytes()
                )
            ),
            rule: hit.rule.as_str().to_string(),
            severity: hit.sev,
            time: suho_record::format_rfc3339_ms(t),
            detected_at: now_text(),
            actor: r.map(|r| r.actor.to_string()),
            credential: r.and_then(|r| r.credential.as_deref().map(str::to_string)),
            signing_key: r.and_then(|r| r.signing_key.as_deref().map(str::to_string)),
            src_ip: r.and_then(|r| r.src_ip).map(|ip| ip.to_string()),
            country: place.map(|p| p.country_str().to_string()),
            ledger_index: index,
            summary,
            evidence,
            record_id: r.and_then(|r| r.id.as_deref().map(str::to_string)),
            incident: format!("inc-{}", hex16(incident_of.as_bytes())),
            incident_of,
            count: 1,
            last_time: suho_record::format_rfc3339_ms(t),
            last_ledger_index: index,
            window: format!(
                "{}/{}",
                suho_record::format_rfc3339_ms(hit.win_start),
                suho_record::format_rfc3339_ms(hit.win_start + hit.win_len)
            ),
        };
        self.out.push(alert.clone());
        if slots.len() >= MAX_OPEN_ALERTS {
            // Memory stays bounded under an alert storm: the alert is emitted (its id is
            // deterministic, so the store still keeps one row) but not remembered.
            return;
        }
        slots.insert(
            key,
            Slot {
                alert,
                count: 1,
                next_emit: 2,
                last_ms: t,
                end_ms: hit.win_start + hit.win_len,
            },
        );
    }
}

impl Engine {
    /// An engine over `registry`, with an optional geo database and these settings.
    pub fn new(registry: Arc<Registry>, geo: Option<GeoDb>, mut cfg: DetectConfig) -> Engine {
        // Invalid values were rejected by `DetectConfig::load`; a hand-built config is
        // normalised here and, where a value is unusable, its default is used instead.
        if cfg.validate().is_err() {
            let home = cfg.home_countries.clone();
            cfg = DetectConfig {
                home_countries: home,
                ..DetectConfig::default()
            };
            let _ = cfg.validate();
        }
        if cfg.home_utc_offset_hours.is_none() {
            cfg.home_utc_offset_hours = Some(cfg.offset_ms() as f64 / 3_600_000.0);
        }
        let home = cfg.home_codes();
        let idx = RegIndex::build(&registry);
        let slots = 1usize << cfg.customer_travel_slots_log2;
        let geo_cache = if geo.as_ref().is_some_and(GeoDb::wants_cache) {
            vec![GeoCacheEntry::default(); GEO_CACHE]
        } else {
            Vec::new()
        };
        Engine {
            cfg,
            home,
            registry,
            idx,
            geo,
            geo_cache,
            st: State {
                travel: vec![0; slots],
                abroad: [vec![0; ABROAD_WORDS], vec![0; ABROAD_WORDS]],
                ..State::default()
            },
        }
    }

    /// Replaces the registry (after `registry load` or `offboard`); learned state is kept.
    pub fn set_registry(&mut self, registry: Arc<Registry>) {
        self.idx = RegIndex::build(&registry);
        self.registry = registry;
    }

    /// The registry in use.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The geo database in use, for [`Features::from_record_geo`] on worker threads.
    pub fn geo(&self) -> Option<&GeoDb> {
        self.geo.as_ref()
    }

    /// The settings in use.
    pub fn config(&self) -> &DetectConfig {
        &self.cfg
    }

    /// What the engine holds.
    pub fn stats(&self) -> EngineStats {
        let mut bytes = self.st.travel.capacity() * 8 + 2 * ABROAD_WORDS * 8;
        let entry = std::mem::size_of::<u64>() + 8;
        for a in self.st.actors.values().flatten() {
            bytes += entry + std::mem::size_of::<ActorState>() + a.heap_bytes();
        }
        for r in self.st.roles.values() {
            bytes += entry
                + std::mem::size_of::<RoleStats>()
                + r.daily.heap_bytes()
                + r.hourly.heap_bytes()
                + r.reach30.heap_bytes()
                + r.reach90.heap_bytes()
                + 96;
        }
        bytes += self.st.sources.capacity() * (entry + std::mem::size_of::<SourceState>());
        bytes += self.st.fails.capacity() * (entry + std::mem::size_of::<FailState>());
        for s in self.st.slots.values() {
            bytes += entry + std::mem::size_of::<Slot>() + s.alert.summary.len() + 512;
        }
        EngineStats {
            actors: self.st.actors.len(),
            unknown_actors: self.st.unknown_actors,
            sources: self.st.sources.len(),
            open_alerts: self.st.slots.len(),
            approx_bytes: bytes,
        }
    }

    fn place_of(&mut self, f: &Features) -> Option<Place> {
        if let Some(p) = f.place {
            return p;
        }
        let ip = f.src_ip?;
        let geo = self.geo.as_ref()?;
        if self.geo_cache.is_empty() {
            return geo.place(ip);
        }
        let key = ip_u128(ip);
        let slot = (fmix64((key as u64) ^ ((key >> 64) as u64)) as usize) & (GEO_CACHE - 1);
        let e = self.geo_cache[slot];
        if e.valid && e.ip == key {
            return e.place;
        }
        let place = geo.place(ip);
        self.geo_cache[slot] = GeoCacheEntry {
            ip: key,
            valid: true,
            place,
        };
        place
    }

    /// Checks one stored record: `index` is its ledger index, `f` its features, `body` its
    /// raw JSON line (re-parsed only to write an alert). New alerts and updates of open
    /// alerts are appended to `out`.
    pub fn observe(&mut self, index: u64, f: &Features, body: &[u8], out: &mut Vec<Alert>) {
        let place = self.place_of(f);
        let Engine {
            cfg, home, idx, st, ..
        } = self;
        if f.time_ms > st.clock {
            st.clock = f.time_ms;
        }
        let clock_hour = st.clock.div_euclid(HOUR);
        if clock_hour != st.maint_hour {
            st.maint_hour = clock_hour;
            maintain(st, cfg);
        }
        let mut em = Emit {
            index,
            f,
            body,
            place,
            out,
            rec: None,
        };
        let principal = if idx.maybe_principal(f.actor) {
            idx.principals.get(&f.actor)
        } else {
            None
        };
        let customer = principal.is_none() && (f.self_access || f.processed == 0);
        registry_checks(
            cfg.offset_ms(),
            idx,
            f,
            principal,
            customer,
            &mut st.slots,
            &mut em,
        );
        if customer {
            customer_checks(cfg, home, idx, f, place, st, &mut em);
        } else {
            actor_checks(cfg, home, idx, principal, f, place, st, &mut em);
        }
    }

    /// Emits the open alerts that absorbed records since they were last emitted (updates are
    /// otherwise only emitted when the count doubles or the severity rises), with their
    /// current count and last time. Call it at the end of an ingest run or before saving, so
    /// the alert store's counts are exact. Ordered by alert id.
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        let mut pending: Vec<&mut Slot> = self
            .st
            .slots
            .values_mut()
            .filter(|s| s.count > s.alert.count)
            .collect();
        pending.sort_by(|a, b| a.alert.id.cmp(&b.alert.id));
        let now = now_text();
        for s in pending {
            s.alert.count = s.count;
            s.alert.last_time = suho_record::format_rfc3339_ms(s.last_ms);
            s.alert.detected_at = now.clone();
            out.push(s.alert.clone());
        }
    }

    /// Writes the detector state to `path` atomically (temporary file, fsync, rename).
    ///
    /// Format: `SUHODET1`, a little-endian u32 format version, a u64 payload length, the
    /// payload (postcard), and the SHA-256 of the payload.
    pub fn save_state(&self, path: &Path) -> Result<(), DetectError> {
        let io = |what: &'static str| {
            move |e: std::io::Error| DetectError::Io {
                path: path.to_path_buf(),
                what,
                source: e,
            }
        };
        let payload = postcard::to_stdvec(&self.st).map_err(|e| DetectError::State {
            path: path.to_path_buf(),
            reason: format!("cannot encode the detector state: {e}"),
        })?;
        let mut buf = Vec::with_capacity(payload.len() + 52);
        buf.extend_from_slice(STATE_MAGIC);
        buf.extend_from_slice(&STATE_VERSION.to_le_bytes());
        buf.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        buf.extend_from_slice(&payload);
        buf.extend_from_slice(&Sha256::digest(&payload));
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp).map_err(io("creating the state file"))?;
            file.write_all(&buf).map_err(io("writing the state file"))?;
            file.sync_all().map_err(io("syncing the state file"))?;
        }
        std::fs::rename(&tmp, path).map_err(io("renaming the state file into place"))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                // Durability of the rename; not every platform can sync a directory.
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Restores state written by [`Engine::save_state`]. A missing file leaves the engine
    /// fresh; a damaged one is an error (the engine is left unchanged).
    pub fn load_state(&mut self, path: &Path) -> Result<(), DetectError> {
        let buf = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(DetectError::Io {
                    path: path.to_path_buf(),
                    what: "reading the state file",
                    source: e,
                })
            }
        };
        let bad = |reason: String| DetectError::State {
            path: path.to_path_buf(),
            reason,
        };
        if buf.len() < 52 || &buf[..8] != STATE_MAGIC {
            return Err(bad(
                "not a suho detector state file (bad magic or too short)".into(),
            ));
        }
        let mut v = [0u8; 4];
        v.copy_from_slice(&buf[8..12]);
        let version = u32::from_le_bytes(v);
        if version != STATE_VERSION {
            return Err(bad(format!(
                "state format version {version}, this build reads {STATE_VERSION}"
            )));
        }
        let mut l = [0u8; 8];
        l.copy_from_slice(&buf[12..20]);
        let len = u64::from_le_bytes(l);
        if len != (buf.len() - 52) as u64 {
            return Err(bad(format!(
                "payload length {len} does not match the file size {}",
                buf.len()
            )));
        }
        let payload = &buf[20..buf.len() - 32];
        if Sha256::digest(payload).as_slice() != &buf[buf.len() - 32..] {
            return Err(bad("checksum mismatch: the file is damaged".into()));
        }
        let mut st: State =
            postcard::from_bytes(payload).map_err(|e| bad(format!("cannot decode: {e}")))?;
        let want = 1usize << self.cfg.customer_travel_slots_log2;
        if st.abroad.iter().any(|b| b.len() != ABROAD_WORDS) {
            st.abroad = [vec![0; ABROAD_WORDS], vec![0; ABROAD_WORDS]];
        }
        if st.travel.len() != want {
            st.travel = vec![0; want];
        }
        self.st = st;
        Ok(())
    }
}

const STATE_MAGIC: &[u8; 8] = b"SUHODET1";
const STATE_VERSION: u32 = 1;

/// Drops state that event time has left behind. Runs once per event-time hour.
fn maintain(st: &mut State, cfg: &DetectConfig) {
    let now = st.clock;
    let hour = now.div_euclid(HOUR);
    st.slots.retain(|_, s| s.end_ms + DAY >= now);
    // Sources and failed-login counters: swept once a day, or sooner when they doubled, so the
    // sweep costs little per record however fast event time passes in a replay.
    if hour - st.swept_hour >= 24 || st.sources.len() > 2 * st.swept_sources + 4096 {
        st.sources
            .retain(|_, s| i64::from(s.hour) >= hour - SOURCE_IDLE_HOURS);
        let win_ms = i64::from(cfg.login_failed_window_minutes) * 60_000;
        st.fails.retain(|_, s| (s.win + 2) * win_ms >= now);
        st.swept_hour = hour;
        st.swept_sources = st.sources.len();
    }
    let day = now.div_euclid(DAY);
    if day == st.swept_day {
        return;
    }
    st.swept_day = day;
    let idle = i64::from(cfg.idle_actor_days) * DAY;
    let mut unknown = 0usize;
    st.actors.retain(|_, a| match a {
        Some(a) => {
            let keep = if a.unknown {
                a.last_ms + UNKNOWN_IDLE_MS >= now
            } else {
                a.last_ms + idle >= now
            };
            if keep && a.unknown {
                unknown += 1;
            }
            keep
        }
        None => false,
    });
    st.unknown_actors = unknown;
}

/// Registry facts, judged at the record's event time.
fn registry_checks(
    off: i64,
    ix: &RegIndex,
    f: &Features,
    p: Option<&PInfo>,
    customer: bool,
    slots: &mut HashMap64<Slot>,
    em: &mut Emit<'_, '_>,
) {
    let t = f.time_ms;
    let adjust = |s: Severity| if f.failed { s.lower() } else { s };
    match p {
        Some(p) => match p.p.status_at(t) {
            PrincipalStatus::Departed => em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::DepartedPrincipal,
                    adjust(Severity::Critical),
                    f.actor,
                    t,
                    IncidentOf::Actor,
                    Finding::Status {
                        status: PrincipalStatus::Departed,
                        since: p.p.departed_at,
                    },
                ),
            ),
            PrincipalStatus::Suspended => em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::SuspendedPrincipal,
                    adjust(Severity::High),
                    f.actor,
                    t,
                    IncidentOf::Actor,
                    Finding::Status {
                        status: PrincipalStatus::Suspended,
                        since: p.p.suspended_at,
                    },
                ),
            ),
            PrincipalStatus::Active => {}
        },
        None if !customer => em.raise(
            slots,
            ix,
            day_hit(
                off,
                Rule::UnknownPrincipal,
                if f.failed {
                    Severity::Low
                } else {
                    Severity::High
                },
                f.actor,
                t,
                IncidentOf::Actor,
                Finding::Unknown,
            ),
        ),
        None => {}
    }

    let cred = if f.credential != 0 && ix.maybe_credential(f.credential) {
        ix.creds.get(&f.credential)
    } else {
        None
    };
    if let Some(c) = cred {
        let mut validity = c.c.validity_at(t);
        if validity == Validity::Expired && c.c.expires_at.is_some_and(|e| t < e + SKEW_MS) {
            validity = Validity::Valid;
        }
        if validity == Validity::NotYetIssued && c.c.issued_at.is_some_and(|i| t + SKEW_MS >= i) {
            validity = Validity::Valid;
        }
        match validity {
            Validity::Revoked => em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::RevokedCredential,
                    adjust(Severity::High),
                    f.credential,
                    t,
                    IncidentOf::Principal(c.owner),
                    Finding::CredValidity {
                        validity,
                        at: c.c.revoked_at,
                    },
                ),
            ),
            Validity::Expired | Validity::NotYetIssued => em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::ExpiredCredential,
                    if f.failed {
                        Severity::Low
                    } else {
                        Severity::High
                    },
                    f.credential,
                    t,
                    IncidentOf::Principal(c.owner),
                    Finding::CredValidity {
                        validity,
                        at: if validity == Validity::Expired {
                            c.c.expires_at
                        } else {
                            c.c.issued_at
                        },
                    },
                ),
            ),
            Validity::Valid => {}
        }
        if c.owner != f.actor {
            if let Some(owner) = &c.owner_p {
                let st = owner.status_at(t);
                if st != PrincipalStatus::Active {
                    let sev = if st == PrincipalStatus::Departed {
                        Severity::Critical
                    } else {
                        Severity::High
                    };
                    em.raise(
                        slots,
                        ix,
                        day_hit(
                            off,
                            Rule::OrphanedCredential,
                            adjust(sev),
                            f.credential,
                            t,
                            IncidentOf::Principal(c.owner),
                            Finding::OrphanCred {
                                owner: c.owner,
                                status: st,
                                since: if st == PrincipalStatus::Departed {
                                    owner.departed_at
                                } else {
                                    owner.suspended_at
                                },
                            },
                        ),
                    );
                }
            }
            em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::CredentialOwnerMismatch,
                    adjust(Severity::High),
                    f.credential,
                    t,
                    IncidentOf::Principal(c.owner),
                    Finding::OwnerMismatch { owner: c.owner },
                ),
            );
        }
        if f.signing_key != 0 && c.key != 0 && f.signing_key != c.key {
            em.raise(
                slots,
                ix,
                day_hit(
                    off,
                    Rule::ForgedCredential,
                    adjust(Severity::Critical),
                    f.signing_key,
                    t,
                    key_incident(ix, f.signing_key),
                    Finding::Forged {
                        key: f.signing_key,
                        registered_key: c.key,
                    },
                ),
            );
        }
    } else if f.credential != 0 && f.signing_key != 0 {
        if let Some(k) = ix.keys.get(&f.signing_key) {
            if k.k.issuance == Issuance::Registered {
                em.raise(
                    slots,
                    ix,
                    day_hit(
                        off,
                        Rule::ForgedCredential,
                        adjust(Severity::Critical),
                        f.signing_key,
                        t,
                        key_incident(ix, f.signing_key),
                        Finding::Forged {
                            key: f.signing_key,
                            registered_key: 0,
                        },
                    ),
                );
            }
        }
    }

    // The key that signed the credential: as presented, else as registered.
    let key = if f.signing_key != 0 {
        f.signing_key
    } else {
        cred.map_or(0, |c| c.key)
    };
    if key == 0 {
        return;
    }
    let Some(k) = ix.keys.get(&key) else {
        em.raise(
            slots,
            ix,
            day_hit(
                off,
                Rule::UnknownSigningKey,
                adjust(Severity::High),
                key,
                t,
                IncidentOf::Key(key),
                Finding::UnknownKey { key },
            ),
        );
        return;
    };
    match k.k.status_at(t) {
        KeyStatus::Revoked => em.raise(
            slots,
            ix,
            day_hit(
                off,
                Rule::RevokedSigningKey,
                adjust(Severity::Critical),
                key,
                t,
                key_incident(ix, key),
                Finding::KeyState {
                    key,
                    status: KeyStatus::Revoked,
                    since: k.k.revoked_at,
                },
            ),
        ),
        KeyStatus::Retired => {
            // A credential issued before the key retired may still be used until it expires.
            let issued_before = match (cred.and_then(|c| c.c.issued_at), k.k.retired_at) {
                (Some(i), Some(r)) => i < r,
                _ => false,
            };
            if !issued_before {
                em.raise(
                    slots,
                    ix,
                    day_hit(
                        off,
                        Rule::RetiredSigningKey,
                        adjust(Severity::High),
                        key,
                        t,
                        key_incident(ix, key),
                        Finding::KeyState {
                            key,
                            status: KeyStatus::Retired,
                            since: k.k.retired_at,
                        },
                    ),
                );
            }
        }
        KeyStatus::Active => {}
    }
    if k.owner != 0 && k.owner != f.actor {
        if let Some(owner) = &k.owner_p {
            let st = owner.status_at(t);
            if st != PrincipalStatus::Active {
                let sev = if st == PrincipalStatus::Departed {
                    Severity::Critical
                } else {
                    Severity::High
                };
                em.raise(
                    slots,
                    ix,
                    day_hit(
                        off,
                        Rule::OrphanedSigningKey,
                        adjust(sev),
                        key,
                        t,
                        IncidentOf::Principal(k.owner),
                        Finding::OrphanKey {
                            key,
                            owner: k.owner,
                            status: st,
                            since: if st == PrincipalStatus::Departed {
                                owner.departed_at
                            } else {
                                owner.suspended_at
                            },
                        },
                    ),
                );
            }
        }
    }
}

/// Alerts about a key belong to its owner's incident when it has one.
fn key_incident(ix: &RegIndex, key: u64) -> IncidentOf {
    match ix.keys.get(&key) {
        Some(k) if k.owner_p.is_some() => IncidentOf::Principal(k.owner),
        _ => IncidentOf::Key(key),
    }
}

fn is_login(a: Action) -> bool {
    matches!(a, Action::Login | Action::LoginFailed)
}

fn is_foreign(home: &[[u8; 2]], place: Option<Place>) -> bool {
    place.is_some_and(|p| !home.contains(&p.country))
}

fn prefix_key(p: u128) -> u64 {
    mix2(p as u64, (p >> 64) as u64)
}

/// Counts `actor` on its source network this hour; alerts when too many distinct actors
/// share one network.
#[allow(clippy::too_many_arguments)]
fn shared_source(
    cfg: &DetectConfig,
    home: &[[u8; 2]],
    ix: &RegIndex,
    st: &mut State,
    ip: IpAddr,
    f: &Features,
    place: Option<Place>,
    em: &mut Emit<'_, '_>,
) {
    let off = cfg.offset_ms();
    let prefix = net_prefix(ip);
    let key = prefix_key(prefix);
    let hour = i32::try_from(f.time_ms.div_euclid(HOUR)).unwrap_or(i32::MAX);
    let s = st.sources.entry(key).or_insert_with(|| SourceState {
        hour,
        ..SourceState::default()
    });
    if hour > s.hour {
        let last = u16::try_from(s.actors.estimate()).unwrap_or(u16::MAX);
        let decayed = s.peak - s.peak / 8;
        s.peak = decayed.max(last);
        s.actors = LinearCounter::default();
        s.hour = hour;
    }
    if !s.actors.insert(f.actor) {
        return;
    }
    let n = s.actors.estimate();
    let foreign = is_foreign(home, place);
    let threshold = if foreign {
        u64::from(cfg.shared_source_foreign)
    } else {
        u64::from(cfg.shared_source_home).max(2 * u64::from(s.peak))
    };
    if n < threshold {
        return;
    }
    let sev = if foreign || n >= 5 * threshold {
        Severity::High
    } else {
        Severity::Medium
    };
    em.raise(
        &mut st.slots,
        ix,
        day_hit(
            off,
            Rule::SharedSource,
            sev,
            key,
            f.time_ms,
            IncidentOf::Source(prefix),
            Finding::Shared {
                prefix,
                actors: n,
                threshold,
                foreign,
            },
        ),
    );
}

/// Impossible travel between `prev` and now; returns the finding when it is one.
fn travel_check(cfg: &DetectConfig, prev: &TravelMark, t: i64, place: &Place) -> Option<Finding> {
    if prev.cc == place.country {
        return None;
    }
    let km = prev.place().distance_km(place)?;
    if km < cfg.travel_min_km {
        return None;
    }
    let dt_h = ((t - prev.time).abs().max(60_000)) as f64 / HOUR as f64;
    let kmh = km / dt_h;
    (kmh > cfg.travel_max_kmh).then_some(Finding::Travel {
        from: *prev,
        km,
        kmh,
    })
}

/// A customer credential's last place in 64 bits: 24 bits of the credential's hash, the
/// minute (30 bits, good for two thousand years), and the country (10 bits; 0 = empty).
/// Customers' places are country centroids, which is what a CSV geo database gives anyway.
fn pack_mark(key: u64, t: i64, cc: [u8; 2]) -> u64 {
    let c = |b: u8| u64::from(b.to_ascii_uppercase().wrapping_sub(b'A')).min(25);
    let country = c(cc[0]) * 26 + c(cc[1]) + 1;
    let minute = (t.div_euclid(60_000) as u64) & ((1 << 30) - 1);
    ((key >> 40) << 40) | (minute << 10) | country
}

/// The mark of `key` packed in `v`, if `v` holds one for it.
fn unpack_mark(v: u64, key: u64) -> Option<TravelMark> {
    let country = v & 0x3ff;
    if country == 0 || (v >> 40) != (key >> 40) {
        return None;
    }
    let cc = [
        b'A' + ((country - 1) / 26) as u8,
        b'A' + ((country - 1) % 26) as u8,
    ];
    let (lat, lon) = crate::geo::centroid(cc).unwrap_or((f32::NAN, f32::NAN));
    Some(TravelMark {
        key,
        time: (((v >> 10) & ((1 << 30) - 1)) as i64) * 60_000,
        lat,
        lon,
        cc,
    })
}

fn mark(key: u64, t: i64, p: &Place) -> TravelMark {
    TravelMark {
        key,
        time: t,
        lat: p.lat,
        lon: p.lon,
        cc: p.country,
    }
}

/// Failed logins in a sliding window: the current fixed window plus the part of the previous
/// one that still overlaps it.
fn sliding_failures(win_ms: i64, t: i64, win: &mut i64, count: &mut u32, prev: &mut u32) -> u32 {
    let w = t.div_euclid(win_ms);
    if w > *win {
        *prev = if w == *win + 1 { *count } else { 0 };
        *count = 0;
        *win = w;
    }
    *count += 1;
    let elapsed = t.rem_euclid(win_ms) as f64 / win_ms as f64;
    *count + (f64::from(*prev) * (1.0 - elapsed)).round() as u32
}

/// Customers: no per-actor state, only per-source and per-credential checks.
fn customer_checks(
    cfg: &DetectConfig,
    home: &[[u8; 2]],
    ix: &RegIndex,
    f: &Features,
    place: Option<Place>,
    st: &mut State,
    em: &mut Emit<'_, '_>,
) {
    let off = cfg.offset_ms();
    let Some(ip) = f.src_ip else {
        return;
    };
    shared_source(cfg, home, ix, st, ip, f, place, em);
    // Impossible travel for customers' credentials. Every use is written to a direct-mapped
    // table (a store: it does not wait for memory), but the table is only read back when
    // this use is foreign, or the credential was used abroad this hour or the last (a small
    // filter says so): so home-country records, nearly all of them, never wait on it. The
    // table remembers the latest 2^16 credentials (`customer_travel_slots_log2`).
    if let (Some(p), true) = (place, f.credential != 0) {
        let hour = f.time_ms.div_euclid(HOUR);
        if hour > st.abroad_hour {
            let [cur, prev] = &mut st.abroad;
            std::mem::swap(cur, prev);
            if hour > st.abroad_hour + 1 {
                prev.fill(0);
            }
            cur.fill(0);
            st.abroad_hour = hour;
        }
        let bit = ((f.credential >> 24) as usize) & (ABROAD_WORDS * 64 - 1);
        let (w, m) = (bit / 64, 1u64 << (bit % 64));
        let foreign = !home.contains(&p.country);
        let marked = (st.abroad[0][w] | st.abroad[1][w]) & m != 0;
        let slot = (f.credential as usize) & (st.travel.len() - 1);
        let prev = if marked || foreign {
            unpack_mark(st.travel[slot], f.credential)
        } else {
            None
        };
        st.travel[slot] = pack_mark(f.credential, f.time_ms, p.country);
        if foreign {
            st.abroad[0][w] |= m;
        }
        if let Some(prev) = prev {
            if let Some(finding) = travel_check(cfg, &prev, f.time_ms, &p) {
                em.raise(
                    &mut st.slots,
                    ix,
                    day_hit(
                        off,
                        Rule::ImpossibleTravel,
                        if f.failed {
                            Severity::Low
                        } else {
                            Severity::Medium
                        },
                        f.credential,
                        f.time_ms,
                        IncidentOf::Credential,
                        finding,
                    ),
                );
            }
        }
    }
    if f.failed && is_login(f.action) {
        let key = fmix64(ip_u128(ip) as u64 ^ (ip_u128(ip) >> 64) as u64);
        let win_ms = i64::from(cfg.login_failed_window_minutes) * 60_000;
        let s = st.fails.entry(key).or_default();
        let n = sliding_failures(win_ms, f.time_ms, &mut s.win, &mut s.count, &mut s.prev);
        s.actors.insert(f.actor);
        let actors = s.actors.estimate();
        let burst = cfg.login_failed_burst.saturating_mul(SOURCE_FAIL_FACTOR);
        if n >= burst {
            let sev =
                if actors >= 10 || n >= cfg.login_failed_high.saturating_mul(SOURCE_FAIL_FACTOR) {
                    Severity::High
                } else {
                    Severity::Medium
                };
            em.raise(
                &mut st.slots,
                ix,
                day_hit(
                    off,
                    Rule::LoginFailedBurst,
                    sev,
                    key,
                    f.time_ms,
                    IncidentOf::Ip,
                    Finding::LoginFailed {
                        failures: n,
                        minutes: cfg.login_failed_window_minutes,
                        by_source: true,
                        actors,
                    },
                ),
            );
        }
    }
}

/// Closes `a`'s day: folds it into the own and role baselines, learns working hours, and
/// checks reach. Alerts raised here are attributed to the record that opened the new day.
#[allow(clippy::too_many_arguments)]
fn close_day(
    cfg: &DetectConfig,
    ix: &RegIndex,
    service: bool,
    new_day: i64,
    a: &mut ActorState,
    roles: &mut HashMap64<RoleStats>,
    slots: &mut HashMap64<Slot>,
    f: &Features,
    em: &mut Emit<'_, '_>,
) {
    let off = cfg.offset_ms();
    let d = a.day_subj.estimate() + a.day_unlisted;
    let mh = a.day_max_hour.max(a.hour_subj.estimate() + a.hour_unlisted);
    let d32 = u32::try_from(d).unwrap_or(u32::MAX);
    let mh32 = u32::try_from(mh).unwrap_or(u32::MAX);
    let learn = !a.day_high;
    if learn {
        a.daily.push(d32);
        a.hourly.push(mh32);
    }
    a.active_days += 1;
    let q = cfg.baseline_quantile;
    a.own_day_high = a.daily.quantile(q).map(u64::from);
    a.own_hour_high = a.hourly.quantile(q).map(u64::from);
    if a.enum_walk_today {
        a.enum_days += 1;
    }
    let role = roles.entry(a.group).or_default();
    if learn {
        role.daily.push(f.actor, d32);
        role.hourly.push(f.actor, mh32);
    }

    // Working hours: an hour counts once it is seen unflagged, or flagged on enough days.
    for h in 0..24 {
        if a.hours_mask & (1 << h) == 0 {
            continue;
        }
        role.hour_days[h] = role.hour_days[h].saturating_add(1);
        if a.flagged_hours & (1 << h) != 0 {
            a.hour_probation[h] = a.hour_probation[h].saturating_add(1);
            if u32::from(a.hour_probation[h]) < cfg.off_hours_learn_days {
                continue;
            }
        }
        a.hour_days[h] = a.hour_days[h].saturating_add(1);
    }
    a.hour_total += 1;
    if a.hour_total >= 128 {
        a.hour_days.iter_mut().for_each(|v| *v /= 2);
        a.hour_total /= 2;
    }
    role.total_days += 1;
    role.first_day = Some(role.first_day.map_or(a.day, |d| d.min(a.day)));
    role.last_day = role.last_day.max(a.day);
    if role.total_days >= 100_000 {
        role.hour_days.iter_mut().for_each(|v| *v /= 2);
        role.total_days /= 2;
    }

    // Reach over ~30 and ~90 days.
    if let Some(w) = &a.reach {
        // The 30-day reach is checked every day; the 90-day reach and the own baseline
        // (reach in the 30 days before) once a week, when a week ends: they move slowly.
        let week = a.day.div_euclid(7);
        let week_ends = new_day.div_euclid(7) != week;
        let history = a.day - a.first_day + 1;
        let r30 = w.union(week, 0, 5);
        if week_ends {
            a.prev30 = (history >= 70).then(|| w.union(week, 5, 5));
        }
        let r90 = if week_ends {
            w.union(week, 0, WEEKS)
        } else {
            0
        };
        let prev30 = a.prev30;
        if history >= 35 {
            role.reach30
                .push(f.actor, u32::try_from(r30).unwrap_or(u32::MAX));
        }
        if history >= 91 && week_ends {
            role.reach90
                .push(f.actor, u32::try_from(r90).unwrap_or(u32::MAX));
        }
        // Baselines: the actor's own reach over the 30 days before (with 70 days of history;
        // a shorter own baseline would already contain a slow theft), and the peers' reach
        // (or, until peers have 35 days of history, their normal day times the window).
        // Without any baseline, reach is not judged.
        let min_peers = cfg.min_peers as usize;
        let role_day = role
            .daily
            .quantile_without(f.actor, q, min_peers * 2)
            .map(u64::from);
        let ring30 = role
            .reach30
            .quantile_without(f.actor, q, min_peers)
            .map(u64::from);
        let ring90 = role
            .reach90
            .quantile_without(f.actor, q, min_peers)
            .map(u64::from);
        // A service account is unlike its peers (each does one job): until it has 70 days of
        // history, its own normal day times the window stands in for its own reach.
        let own_day = if service && a.active_days >= cfg.min_history_days {
            a.own_day_high
        } else {
            None
        };
        let own30 = prev30.or(own_day.map(|d| d * 30));
        let own90 = prev30.map(|p| p * 3).or(own_day.map(|d| d * 90));
        let peer30 = ring30.or(role_day.map(|d| d * 30));
        let peer90 = ring90
            .or(ring30.map(|r| r * 3))
            .or(role_day.map(|d| d * 90));
        let purposed: u64 = a
            .purposed_weeks
            .iter()
            .filter(|(wk, _)| *wk > week - 5)
            .map(|(_, n)| n)
            .sum();
        let purposed90: u64 = a.purposed_weeks.iter().map(|(_, n)| n).sum();
        let checks = [
            (
                Rule::Reach30d,
                30u32,
                r30,
                cfg.reach30_min_subjects,
                own30,
                peer30,
                purposed,
            ),
            (
                Rule::Reach90d,
                90,
                r90,
                cfg.reach90_min_subjects,
                own90,
                peer90,
                purposed90,
            ),
        ];
        for (rule, days, r, min, own, peer, purposed) in checks {
            if r <= min {
                continue;
            }
            let mut thr = min as f64;
            if let Some(o) = own {
                thr = thr.max(o as f64 * cfg.reach_own_factor);
            }
            if let Some(p) = peer {
                thr = thr.max(p as f64 * cfg.reach_peer_factor);
            }
            if own.is_none() && peer.is_none() {
                continue;
            }
            if (r as f64) <= thr {
                continue;
            }
            // As for daily volume: subjects under a stated purpose are accounted for. The
            // reach is an estimate (about 6.5% standard error): the rest must stand out by
            // more than twice that.
            let plain = r.saturating_sub(purposed).saturating_sub(r * 13 / 100);
            let sev = if (plain as f64) <= thr {
                Severity::Low
            } else if plain as f64 > 2.0 * thr {
                Severity::High
            } else {
                Severity::Medium
            };
            let threshold = thr.round() as u64;
            em.raise(
                slots,
                ix,
                Hit {
                    rule,
                    sev,
                    entity: f.actor,
                    win_start: week * 7 * DAY - off,
                    win_len: 7 * DAY,
                    incident: IncidentOf::Actor,
                    finding: Finding::Reach {
                        days,
                        subjects: r,
                        own,
                        peer,
                        threshold,
                        purposed,
                    },
                },
            );
        }
    }

    // A new day.
    a.day_subj.clear();
    a.day_unlisted = 0;
    a.day_purposed = 0;
    a.day_high = false;
    a.hour_subj.clear();
    a.hour_unlisted = 0;
    a.hour_purposed = 0;
    a.day_max_hour = 0;
    a.hours_mask = 0;
    a.flagged_hours = 0;
    a.ctx_flags = 0;
    a.ctx_subj.clear();
    a.ctx_unlisted = 0;
    a.foreign_cc = [0; 2];
    a.foreign_several = false;
    a.day_win = VolumeWindow::default();
    a.hour_win = VolumeWindow::default();
    a.enum_steps = 0;
    a.enum_hits = 0;
    a.enum_score = 0.0;
    a.enum_total = 0.0;
    a.enum_walk_today = false;
}

/// Whether `prefix` is a usual network for the actor, learning it as a side effect.
fn network_usual(
    cfg: &DetectConfig,
    a: &mut ActorState,
    p: Option<&PInfo>,
    ip: IpAddr,
    day: i64,
) -> bool {
    if p.is_some_and(|p| p.in_registry_networks(ip_u128(ip))) {
        return true;
    }
    let prefix = net_prefix(ip);
    if a.last_net == prefix && a.last_net_day == day {
        return a.last_net_usual;
    }
    let learning = p.is_none_or(|p| p.nets.is_empty()) && a.active_days < cfg.learning_days;
    let usual = match a.nets.iter_mut().find(|n| n.prefix == prefix) {
        Some(n) => {
            if n.last_day < day {
                n.days = n.days.saturating_add(1);
                n.last_day = day;
            }
            if learning || u32::from(n.days) >= cfg.network_learn_days {
                n.usual = true;
            }
            n.usual
        }
        None => {
            if a.nets.len() >= MAX_NETS {
                // Forget the stalest network, unusual ones first.
                if let Some(i) = a
                    .nets
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, n)| (n.usual, n.last_day))
                    .map(|(i, _)| i)
                {
                    a.nets.swap_remove(i);
                }
            }
            a.nets.push(NetSeen {
                prefix,
                last_day: day,
                days: 1,
                usual: learning,
            });
            learning
        }
    };
    a.last_net = prefix;
    a.last_net_day = day;
    a.last_net_usual = usual;
    usual
}

/// The peers' high for today so far: the `q` quantile over other members of the group that
/// are active today, or `None` with fewer than `min_peers` of them.
fn peers_today(
    actors: &HashMap64<Option<Box<ActorState>>>,
    ix: &RegIndex,
    group: u64,
    day: i64,
    hourly: bool,
    q: f64,
    min_peers: usize,
) -> Option<u64> {
    let members = ix.groups.get(&group)?;
    if members.len() <= min_peers {
        return None;
    }
    let mut vals: Vec<u32> = Vec::new();
    for m in members {
        if let Some(Some(s)) = actors.get(m) {
            if s.day != day {
                continue;
            }
            let v = if hourly {
                s.day_max_hour.max(s.hour_subj.estimate() + s.hour_unlisted)
            } else {
                s.day_subj.estimate() + s.day_unlisted
            };
            if v > 0 {
                vals.push(u32::try_from(v).unwrap_or(u32::MAX));
            }
        }
    }
    if vals.len() < min_peers {
        return None;
    }
    crate::sketch::quantile(&vals, q).map(u64::from)
}

/// Everyone but customers: origin, hours, volume, reach, enumeration, bulk, failed logins.
#[allow(clippy::too_many_arguments)]
fn actor_checks(
    cfg: &DetectConfig,
    home: &[[u8; 2]],
    ix: &RegIndex,
    p: Option<&PInfo>,
    f: &Features,
    place: Option<Place>,
    st: &mut State,
    em: &mut Emit<'_, '_>,
) {
    let off = cfg.offset_ms();
    let t = f.time_ms;
    let day = (t + off).div_euclid(DAY);
    let hour = (t + off).div_euclid(HOUR);
    let group = p.map_or(0, |p| p.group);
    let service = p.is_some_and(PInfo::is_service);
    let foreign = is_foreign(home, place)
        && !p.is_some_and(|p| place.is_some_and(|pl| p.countries.contains(&pl.country)));

    // Take the actor's state out of the map (leaving `None`) so the rest of the state is free
    // to use; it goes back at the end.
    let taken = st.actors.get_mut(&f.actor).and_then(Option::take);
    let mut a = match taken {
        Some(a) => a,
        None if p.is_none() && st.unknown_actors >= cfg.max_unknown_actors => {
            // Over the cap of unregistered actors: origin by country only.
            if foreign {
                em.raise(
                    &mut st.slots,
                    ix,
                    day_hit(
                        off,
                        Rule::ForeignOrigin,
                        if f.failed {
                            Severity::Low
                        } else {
                            Severity::Medium
                        },
                        f.actor,
                        t,
                        IncidentOf::Actor,
                        Finding::Foreign {
                            country: place.map_or([0; 2], |p| p.country),
                            service,
                            bulk: false,
                            several: false,
                            ctx: Context::default(),
                        },
                    ),
                );
            }
            return;
        }
        None => {
            if p.is_none() {
                st.unknown_actors += 1;
            }
            Box::new(ActorState::new(day, hour, group, p.is_none()))
        }
    };
    actor_state_checks(cfg, home, ix, p, f, place, st, em, &mut a, foreign);
    match st.actors.get_mut(&f.actor) {
        Some(slot) => *slot = Some(a),
        None => {
            st.actors.insert(f.actor, Some(a));
        }
    }
}

/// The checks of [`actor_checks`] that use the actor's state `a`.
#[allow(clippy::too_many_arguments)]
fn actor_state_checks(
    cfg: &DetectConfig,
    home: &[[u8; 2]],
    ix: &RegIndex,
    p: Option<&PInfo>,
    f: &Features,
    place: Option<Place>,
    st: &mut State,
    em: &mut Emit<'_, '_>,
    a: &mut ActorState,
    foreign: bool,
) {
    let off = cfg.offset_ms();
    let t = f.time_ms;
    let day = (t + off).div_euclid(DAY);
    let hour = (t + off).div_euclid(HOUR);
    let group = p.map_or(0, |p| p.group);
    let service = p.is_some_and(PInfo::is_service);
    a.group = group;
    a.last_ms = a.last_ms.max(t);
    if day > a.day {
        close_day(
            cfg,
            ix,
            service,
            day,
            a,
            &mut st.roles,
            &mut st.slots,
            f,
            em,
        );
        a.day = day;
        a.hour = hour;
    } else if hour > a.hour {
        a.day_max_hour = a.day_max_hour.max(a.hour_subj.estimate() + a.hour_unlisted);
        a.hour_subj.clear();
        a.hour_unlisted = 0;
        a.hour_purposed = 0;
        a.hour_win = VolumeWindow::default();
        a.hour = hour;
    }
    let hod = (t + off).div_euclid(HOUR).rem_euclid(24) as usize;
    a.hours_mask |= 1 << hod;

    // Context: where from, and when.
    let mut rec_flags = 0u8;
    if foreign {
        rec_flags |= CTX_FOREIGN;
        if let Some(pl) = place {
            if a.foreign_cc == [0; 2] {
                a.foreign_cc = pl.country;
            } else if a.foreign_cc != pl.country {
                a.foreign_several = true;
            }
        }
    }
    let mut unusual_net = None;
    if let Some(ip) = f.src_ip {
        if !network_usual(cfg, a, p, ip, day) {
            rec_flags |= CTX_NETWORK;
            unusual_net = Some(ip);
        }
    }
    // An hour never worked, and not a gap between worked hours (a lunch break is not "off").
    let (before, after) = ((hod + 23) % 24, (hod + 1) % 24);
    let off_hours = if a.active_days >= cfg.off_hours_min_days {
        let worked = |h: usize| a.hour_days[h] > 0;
        let gap = worked(before) && worked(after);
        (!worked(hod) && !gap).then_some(false)
    } else {
        // The role's hours, once they cover at least three days and twenty member-days.
        let known =
            |r: &&RoleStats| r.total_days >= 20 && r.first_day.is_some_and(|d| r.last_day - d >= 2);
        st.roles
            .get(&group)
            .filter(|r| known(r) && p.is_some())
            .and_then(|r| {
                let rare = |h: usize| u64::from(r.hour_days[h]) * 200 < u64::from(r.total_days);
                (rare(hod) && (rare(before) || rare(after))).then_some(true)
            })
    };
    if off_hours.is_some() {
        rec_flags |= CTX_HOURS;
        a.flagged_hours |= 1 << hod;
    }
    a.ctx_flags |= rec_flags;

    // Counting subjects.
    if f.processed > 0 {
        let week = day.div_euclid(7);
        let reach = a
            .reach
            .get_or_insert_with(|| Box::new(WeekReach::new(week)));
        // Hour and day count the subjects processed without a stated purpose (work under a
        // purpose is accounted for: counted apart, wherever and whenever it is done); reach
        // counts everything.
        for &s in f.subjects() {
            reach.insert(week, s);
            if !f.has_purpose {
                a.day_subj.insert(s);
                a.hour_subj.insert(s);
                if rec_flags != 0 {
                    a.ctx_subj.insert(s);
                }
            }
        }
        if !f.has_purpose {
            let unlisted = f.unlisted();
            a.day_unlisted += unlisted;
            a.hour_unlisted += unlisted;
            if rec_flags != 0 {
                a.ctx_unlisted += unlisted;
            }
        }
        if f.has_purpose {
            a.day_purposed += f.processed;
            a.hour_purposed += f.processed;
            match a.purposed_weeks.iter_mut().find(|(w, _)| *w == week) {
                Some((_, n)) => *n += f.processed,
                None => {
                    a.purposed_weeks.retain(|(w, _)| *w > week - WEEKS as i64);
                    a.purposed_weeks.push((week, f.processed));
                }
            }
        }
    }

    // The context escalation threshold: a multiple of a normal day.
    let ctx = if a.ctx_flags != 0 {
        let normal = if a.active_days >= cfg.min_history_days {
            a.own_day_high
        } else {
            st.roles
                .get(&group)
                .and_then(|r| {
                    r.daily
                        .quantile_without(f.actor, cfg.baseline_quantile, cfg.min_peers as usize)
                })
                .map(u64::from)
        };
        let threshold = normal
            .map_or(2 * cfg.context_min_subjects, |n| {
                (n as f64 * cfg.context_own_factor).round() as u64
            })
            .max(cfg.context_min_subjects);
        Context {
            flags: a.ctx_flags,
            subjects: a.ctx_subj.estimate() + a.ctx_unlisted,
            threshold,
        }
    } else {
        Context::default()
    };
    let ctx_hot = ctx.flags != 0 && ctx.subjects > ctx.threshold;
    // Half of the escalation threshold: a normal day's worth of subjects in an unusual context.
    let ctx_warm = ctx.flags != 0 && 2 * ctx.subjects > ctx.threshold;
    let bulk_now = f.processed >= cfg.bulk_min_subjects && !f.has_purpose;
    let adjust = |s: Severity| if f.failed { s.lower() } else { s };

    if foreign {
        let sev = if service || a.foreign_several || ctx_hot || (bulk_now && f.is_bulk_action()) {
            Severity::High
        } else {
            Severity::Medium
        };
        em.raise(
            &mut st.slots,
            ix,
            day_hit(
                off,
                Rule::ForeignOrigin,
                adjust(sev),
                f.actor,
                t,
                IncidentOf::Actor,
                Finding::Foreign {
                    country: place.map_or([0; 2], |p| p.country),
                    service,
                    bulk: bulk_now,
                    several: a.foreign_several,
                    ctx,
                },
            ),
        );
    } else if let Some(ip) = unusual_net {
        let sev = if ctx_hot {
            Severity::High
        } else if service || ctx_warm {
            Severity::Medium
        } else {
            Severity::Low
        };
        em.raise(
            &mut st.slots,
            ix,
            day_hit(
                off,
                Rule::UnusualNetwork,
                adjust(sev),
                f.actor,
                t,
                IncidentOf::Actor,
                Finding::Network {
                    prefix: net_prefix(ip),
                    usual: a.nets.iter().filter(|n| n.usual).count(),
                    registry: p.map_or(0, |p| p.nets.len()),
                    service,
                    ctx,
                },
            ),
        );
    }
    if let Some(by_peers) = off_hours {
        let sev = if ctx_hot {
            Severity::High
        } else if ctx_warm {
            Severity::Medium
        } else {
            Severity::Low
        };
        em.raise(
            &mut st.slots,
            ix,
            day_hit(
                off,
                Rule::OffHours,
                adjust(sev),
                f.actor,
                t,
                IncidentOf::Actor,
                Finding::OffHours {
                    hour: hod as u8,
                    active_days: a.active_days,
                    by_peers,
                    ctx,
                },
            ),
        );
    }
    // A principal from a network it does not normally use counts towards that network's
    // distinct actors, like a customer does.
    if let Some(ip) = unusual_net {
        shared_source(cfg, home, ix, st, ip, f, place, em);
    }

    // Impossible travel: per credential (or per actor when there is none).
    if let Some(pl) = place {
        if let Some(prev) = a.travel {
            if prev.key == f.credential {
                if let Some(finding) = travel_check(cfg, &prev, t, &pl) {
                    em.raise(
                        &mut st.slots,
                        ix,
                        day_hit(
                            off,
                            Rule::ImpossibleTravel,
                            adjust(Severity::High),
                            if f.credential != 0 {
                                f.credential
                            } else {
                                f.actor
                            },
                            t,
                            IncidentOf::Actor,
                            finding,
                        ),
                    );
                }
            }
        }
        if a.travel
            .is_none_or(|m| m.key != f.credential || t >= m.time)
        {
            a.travel = Some(mark(f.credential, t, &pl));
        }
    }

    if f.processed > 0 {
        volume_checks(cfg, ix, a, &st.actors, &st.roles, &mut st.slots, f, ctx, em);
        enumeration(cfg, ix, a, &mut st.slots, f, em);
        if f.is_bulk_action() && !f.has_purpose && !f.failed {
            bulk_without_purpose(cfg, ix, a, &mut st.roles, &mut st.slots, f, rec_flags, em);
        }
    }

    if f.failed && is_login(f.action) {
        let win_ms = i64::from(cfg.login_failed_window_minutes) * 60_000;
        let n = sliding_failures(
            win_ms,
            t,
            &mut a.fail_win,
            &mut a.fail_count,
            &mut a.fail_prev,
        );
        if n >= cfg.login_failed_burst {
            let sev = if n >= cfg.login_failed_high {
                Severity::High
            } else {
                Severity::Medium
            };
            em.raise(
                &mut st.slots,
                ix,
                day_hit(
                    off,
                    Rule::LoginFailedBurst,
                    sev,
                    f.actor,
                    t,
                    IncidentOf::Actor,
                    Finding::LoginFailed {
                        failures: n,
                        minutes: cfg.login_failed_window_minutes,
                        by_source: false,
                        actors: 1,
                    },
                ),
            );
        }
    }
}

/// `subjects_per_hour` and `subjects_per_day`.
#[allow(clippy::too_many_arguments)]
fn volume_checks(
    cfg: &DetectConfig,
    ix: &RegIndex,
    a: &mut ActorState,
    actors: &HashMap64<Option<Box<ActorState>>>,
    roles: &HashMap64<RoleStats>,
    slots: &mut HashMap64<Slot>,
    f: &Features,
    ctx: Context,
    em: &mut Emit<'_, '_>,
) {
    let off = cfg.offset_ms();
    let q = cfg.baseline_quantile;
    let min_peers = cfg.min_peers as usize;
    let own_known = a.active_days >= cfg.min_history_days;
    let ctx_hot = ctx.flags != 0 && ctx.subjects > ctx.threshold;
    for hourly in [true, false] {
        // `v`: distinct subjects without a purpose; `purposed`: processed under one.
        let (v, purposed, min, own_f, peer_f, cold) = if hourly {
            (
                a.hour_subj.estimate() + a.hour_unlisted,
                a.hour_purposed,
                cfg.hourly_min_subjects,
                cfg.hourly_own_factor,
                cfg.hourly_peer_factor,
                cfg.hourly_cold_subjects,
            )
        } else {
            (
                a.day_subj.estimate() + a.day_unlisted,
                a.day_purposed,
                cfg.daily_min_subjects,
                cfg.daily_own_factor,
                cfg.daily_peer_factor,
                cfg.daily_cold_subjects,
            )
        };
        let total = v + purposed;
        if total < min {
            continue;
        }
        let own = match (own_known, hourly) {
            (false, _) => None,
            (true, true) => a.own_hour_high,
            (true, false) => a.own_day_high,
        };
        let w = if hourly {
            &mut a.hour_win
        } else {
            &mut a.day_win
        };
        if total >= w.next_check {
            let ring_peer = roles
                .get(&a.group)
                .map(|r| if hourly { &r.hourly } else { &r.daily })
                .and_then(|r| r.quantile_without(f.actor, q, min_peers * 2))
                .map(u64::from);
            let today = peers_today(actors, ix, a.group, a.day, hourly, q, min_peers);
            let peer = match (ring_peer, today) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
            let mut t = min as f64;
            if let Some(o) = own {
                t = t.max(o as f64 * own_f);
            }
            if let Some(p) = peer {
                t = t.max(p as f64 * peer_f);
            }
            if own.is_none() && peer.is_none() {
                t = t.max(cold as f64);
            }
            w.threshold = t.round() as u64;
            w.peer = peer;
            w.next_check = total + (total / 4).max(1);
        }
        if total <= w.threshold {
            continue;
        }
        let (threshold, peer) = (w.threshold, w.peer);
        // When the subjects without a purpose stay under the threshold, the alert is low
        // (check the purpose), never higher.
        let plain = v;
        // Without its own history (a new hire, a new service) an actor's volume alone is at
        // most medium: its peers may do other work. With an unusual context it is high.
        let strong = own.is_some() && plain as f64 > cfg.high_factor * threshold as f64;
        let sev = if plain <= threshold {
            Severity::Low
        } else if strong || ctx_hot {
            Severity::High
        } else {
            Severity::Medium
        };
        // A day judged high against the actor's own history is not learned as normal (so a
        // thief does not teach the baseline); a cold-start actor learns every day.
        if sev == Severity::High && own.is_some() {
            a.day_high = true;
        }
        em.raise(
            slots,
            ix,
            day_hit(
                off,
                if hourly {
                    Rule::SubjectsPerHour
                } else {
                    Rule::SubjectsPerDay
                },
                sev,
                f.actor,
                f.time_ms,
                IncidentOf::Actor,
                Finding::Volume {
                    hourly,
                    subjects: total,
                    own,
                    peer,
                    threshold,
                    purposed,
                    ctx,
                },
            ),
        );
    }
}

/// Walking subject ids in sequence.
fn enumeration(
    cfg: &DetectConfig,
    ix: &RegIndex,
    a: &mut ActorState,
    slots: &mut HashMap64<Slot>,
    f: &Features,
    em: &mut Emit<'_, '_>,
) {
    let off = cfg.offset_ms();
    let first = f.seq_first;
    if !first.is_some() {
        return;
    }
    let len = usize::from(a.recent_len);
    let recent = |a: &ActorState, s: SeqId| {
        a.recent_seq[..len]
            .iter()
            .map(|&(p, n)| SeqId { prefix: p, num: n })
            .any(|r| r.steps_to(s))
    };
    let repeat = a.recent_seq[..len]
        .iter()
        .any(|&(p, n)| p == first.prefix && n == first.num);
    let mut changed = false;
    if !repeat {
        let hit = recent(a, first);
        a.enum_steps += 1;
        a.enum_hits += u32::from(hit);
        a.enum_score = a.enum_score * 0.95 + f32::from(u8::from(hit));
        a.enum_total = a.enum_total * 0.95 + 1.0;
        changed = true;
    }
    if !f.is_bulk_action() && f.inner_steps > 0 {
        a.enum_steps += f.inner_steps;
        a.enum_hits += f.inner_seq;
        let share = f.inner_seq as f32 / f.inner_steps as f32;
        let w = (f.inner_steps as f32).min(20.0);
        let keep = 0.95f32.powf(w);
        a.enum_score = a.enum_score * keep + share * (1.0 - keep) / 0.05;
        a.enum_total = a.enum_total * keep + (1.0 - keep) / 0.05;
        changed = true;
    }
    for s in [first, f.seq_last] {
        let len = usize::from(a.recent_len);
        if s.is_some()
            && !a.recent_seq[..len]
                .iter()
                .any(|&(p, n)| p == s.prefix && n == s.num)
        {
            let at = usize::from(a.recent_next) % RECENT_SEQ;
            a.recent_seq[at] = (s.prefix, s.num);
            a.recent_next = ((at + 1) % RECENT_SEQ) as u8;
            a.recent_len = (len + 1).min(RECENT_SEQ) as u8;
        }
    }
    if !changed || a.enum_hits < cfg.enumeration_min_steps || a.enum_total <= 0.0 {
        return;
    }
    if f64::from(a.enum_score / a.enum_total) < cfg.enumeration_min_ratio {
        return;
    }
    a.enum_walk_today = true;
    let sev = match a.enum_days {
        0 => Severity::High,
        1 => Severity::Medium,
        _ => return, // it walks ids most days: that is its normal work
    };
    em.raise(
        slots,
        ix,
        day_hit(
            off,
            Rule::Enumeration,
            sev,
            f.actor,
            f.time_ms,
            IncidentOf::Actor,
            Finding::Enumeration {
                hits: a.enum_hits,
                steps: a.enum_steps,
                days_before: a.enum_days,
            },
        ),
    );
}

/// An export, download or print without a purpose, judged against the sizes the actor and
/// its peers normally move that way (a daily route print is work; a first customer list
/// download is not).
#[allow(clippy::too_many_arguments)]
fn bulk_without_purpose(
    cfg: &DetectConfig,
    ix: &RegIndex,
    a: &mut ActorState,
    roles: &mut HashMap64<RoleStats>,
    slots: &mut HashMap64<Slot>,
    f: &Features,
    rec_flags: u8,
    em: &mut Emit<'_, '_>,
) {
    let off = cfg.offset_ms();
    let q = cfg.baseline_quantile;
    let role = roles.entry(a.group).or_default();
    let own = (a.bulk_sizes.len() >= 5)
        .then(|| a.bulk_sizes.quantile(q))
        .flatten()
        .map(u64::from);
    let peer = role.bulk.quantile_without(f.actor, q, 10).map(u64::from);
    let normal = own.max(peer);
    let n = f.processed;
    let size = u32::try_from(n).unwrap_or(u32::MAX);
    if normal.is_some_and(|m| n <= 3 * m.max(1)) {
        a.bulk_sizes.push(size);
        role.bulk.push(f.actor, size);
        return;
    }
    let high_at = cfg.bulk_high_subjects.max(normal.map_or(0, |m| 10 * m));
    let sev = if n >= high_at
        || (n >= cfg.bulk_min_subjects && rec_flags & (CTX_FOREIGN | CTX_NETWORK) != 0)
    {
        Severity::High
    } else if n >= cfg.bulk_min_subjects {
        Severity::Medium
    } else {
        Severity::Low
    };
    if sev < Severity::High {
        a.bulk_sizes.push(size);
        role.bulk.push(f.actor, size);
    }
    em.raise(
        slots,
        ix,
        day_hit(
            off,
            Rule::BulkWithoutPurpose,
            sev,
            f.actor,
            f.time_ms,
            IncidentOf::Actor,
            Finding::Bulk {
                subjects: n,
                normal,
            },
        ),
    );
}
