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

use crate::alert::{Alert, Mark, Rule, Severity};
use crate::config::DetectConfig;
use crate::features::{Features, SeqId, FIELD_NAMES};
use crate::geo::{GeoDb, Place};
use crate::hash::{fmix64, mix2, HashMap64};
use crate::index::{ip_u128, net_prefix, prefix_text, PInfo, RegIndex};
use crate::render::{render, Context, Finding, Rec, CTX_FOREIGN, CTX_HOURS, CTX_NETWORK};
use crate::sketch::{Distinct, LinearCounter, Normal, PeerRing, Ring, Unlisted, WeekReach, WEEKS};
use crate::suppress::{Matcher, Subject};
use crate::DetectError;

mod behaviour;
mod origin;
mod registry;

use behaviour::{actor_checks, Bulk, Enumeration, Hours, Reach, RoleData, Shift, Today, Volume};
use origin::customer_checks;
use registry::registry_checks;

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

/// The networks an actor has been seen on (for `unusual_network`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Nets {
    seen: Vec<NetSeen>,
    last: u128,
    last_day: i64,
    last_usual: bool,
}

/// Failed logins of one actor in a sliding window (for `login_failed_burst`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Fails {
    win: i64,
    count: u32,
    prev: u32,
}

/// Everything kept about one principal (or unregistered non-customer actor): who it is,
/// its current day's counts ([`Today`], replaced whole when a day closes), and each
/// detector's own state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ActorState {
    unknown: bool,
    group: u64,
    last_ms: i64,
    first_day: i64,
    active_days: u32,
    day: i64,
    hour: i64,
    /// The last closed day and its distinct subjects (purposed or not), for peers comparing
    /// the same day after this actor has moved on.
    prev_day: i64,
    prev_total: u32,
    today: Today,
    hours: Hours,
    nets: Nets,
    fails: Fails,
    travel: Option<TravelMark>,
    volume: Volume,
    shift: Shift,
    reach: Reach,
    enumeration: Enumeration,
    bulk: Bulk,
    data: RoleData,
}

impl ActorState {
    fn new(day: i64, hour: i64, group: u64, unknown: bool) -> ActorState {
        ActorState {
            unknown,
            group,
            first_day: day,
            day,
            hour,
            volume: Volume::new(),
            shift: Shift::new(),
            bulk: Bulk::new(),
            ..ActorState::default()
        }
    }

    fn heap_bytes(&self) -> usize {
        self.today.heap_bytes()
            + self.volume.heap_bytes()
            + self.shift.heap_bytes()
            + self.reach.heap_bytes()
            + self.bulk.heap_bytes()
            + self.data.heap_bytes()
            + self.nets.seen.capacity() * std::mem::size_of::<NetSeen>()
    }
}

/// What a peer group (role) normally does.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RoleStats {
    /// Members' days: distinct subjects without a purpose, under one, and the busiest hour
    /// (without a purpose).
    daily: PeerRing,
    purposed: PeerRing,
    hourly: PeerRing,
    /// Members' days: distinct subjects, purposed or not.
    totals: PeerRing,
    reach30: PeerRing,
    reach90: PeerRing,
    bulk: PeerRing,
    hour_days: Vec<u32>,
    total_days: u32,
    /// First and latest day any member's day was folded in (home-time day numbers).
    first_day: Option<i64>,
    last_day: i64,
    /// Member-days on which each field category ([`crate::features::FIELD_NAMES`]) was
    /// read, out of `field_total` member-days.
    field_days: Vec<u32>,
    field_total: u32,
}

impl Default for RoleStats {
    fn default() -> RoleStats {
        RoleStats {
            daily: PeerRing::new(ROLE_DAYS),
            purposed: PeerRing::new(ROLE_DAYS),
            hourly: PeerRing::new(ROLE_DAYS),
            totals: PeerRing::new(ROLE_DAYS),
            reach30: PeerRing::new(128),
            reach90: PeerRing::new(128),
            bulk: PeerRing::new(ROLE_DAYS),
            hour_days: vec![0; 24],
            total_days: 0,
            first_day: None,
            last_day: 0,
            field_days: vec![0; FIELD_NAMES.len()],
            field_total: 0,
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

/// The windows (home-time days; weeks for week-long windows) in which one rule raised a low
/// alert about one entity: bit `i` of `mask` is window `last_day - i` (32 windows).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
struct LowDays {
    last_day: i64,
    mask: u32,
    /// The windows are weeks (numbered from the epoch), not days.
    weeks: bool,
}

/// A low alert is routine (folded into the daily digest) when its rule raised a low alert
/// about the same entity in at least this many of the 7 windows (days) before its own...
const ROUTINE_OF_7: u32 = 4;
/// ...or on at least this many of the 28 days before it.
const ROUTINE_OF_28: u32 = 10;

impl LowDays {
    /// Days with a low alert among the `n` days before `day`.
    fn before(&self, day: i64, n: u32) -> u32 {
        let mut count = 0;
        for back in 1..=i64::from(n) {
            let i = self.last_day - (day - back);
            if (0..32).contains(&i) && self.mask & (1 << i) != 0 {
                count += 1;
            }
        }
        count
    }

    /// Whether a low alert on `day` is routine.
    fn routine(&self, day: i64) -> bool {
        self.before(day, 7) >= ROUTINE_OF_7 || self.before(day, 28) >= ROUTINE_OF_28
    }

    /// Records a low alert on `day` (an earlier day than the last is marked in place).
    fn mark(&mut self, day: i64) {
        let gap = day - self.last_day;
        if gap > 0 {
            self.mask = if gap >= 32 { 0 } else { self.mask << gap };
            self.last_day = day;
            self.mask |= 1;
        } else if gap > -32 {
            self.mask |= 1 << (-gap);
        }
    }
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

impl State {
    /// What in a decoded state breaks an invariant the detectors index or count by, if
    /// anything. The state file's checksum catches damage, not a consistent rewrite.
    fn unsound(&self) -> Option<String> {
        for (id, a) in &self.actors {
            let Some(a) = a else { continue };
            if usize::from(a.enumeration.recent_len) > RECENT_SEQ {
                return Some(format!(
                    "actor {id:016x} remembers {} recent subjects, at most {RECENT_SEQ} fit",
                    a.enumeration.recent_len
                ));
            }
            if !a.today.is_sound() || !a.data.is_sound() {
                return Some(format!(
                    "a distinct-subject sketch of actor {id:016x} is inconsistent"
                ));
            }
            if a.reach.weeks.as_ref().is_some_and(|r| !r.is_sound()) {
                return Some(format!("the 13-week reach of actor {id:016x} is malformed"));
            }
        }
        if let Some((id, _)) = self.roles.iter().find(|(_, r)| r.hour_days.len() != 24) {
            return Some(format!("role {id:016x} does not have 24 hours of the day"));
        }
        if let Some((id, _)) = self
            .roles
            .iter()
            .find(|(_, r)| r.field_days.len() != FIELD_NAMES.len())
        {
            return Some(format!(
                "role {id:016x} does not count {} field categories",
                FIELD_NAMES.len()
            ));
        }
        if self.sources.values().any(|s| !s.actors.is_sound())
            || self.fails.values().any(|f| !f.actors.is_sound())
        {
            return Some("a per-source counter does not match its bits".into());
        }
        None
    }
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
    /// Approximate bytes of all detector state.
    pub approx_bytes: usize,
    /// Of which the actors' behaviour state.
    pub actor_bytes: usize,
}

#[derive(Clone, Copy, Default)]
struct GeoCacheEntry {
    ip: u128,
    valid: bool,
    place: Option<Place>,
}

const GEO_CACHE: usize = 4096;

/// A stored record whose producer `id` an earlier record of the same event hour already
/// carries with other content: what the ledger's id index says about it (suho-ledger's
/// `Appended::Conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdConflict {
    /// Ledger index of the first record stored under the id.
    pub first: u64,
    /// The first 16 bytes of the SHA-256 of that record's body.
    pub first_sha256: [u8; 16],
    /// The SHA-256 of this record's body.
    pub sha256: [u8; 32],
}

/// The detectors, run over records one at a time in ledger order.
pub struct Engine {
    cfg: DetectConfig,
    home: Vec<[u8; 2]>,
    registry: Arc<Registry>,
    idx: RegIndex,
    geo: Option<GeoDb>,
    geo_cache: Vec<GeoCacheEntry>,
    st: State,
    /// Which rule drew low alerts about which entity on which recent days (the digest rule);
    /// saved after `st` in the state file (format 3).
    lows: HashMap64<LowDays>,
    /// The analysts' active suppressions.
    quiet: Matcher,
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
    /// The home UTC offset (ms): digest days are home-time days.
    off: i64,
    lows: &'o mut HashMap64<LowDays>,
    quiet: &'a Matcher,
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

    /// The suppression that hides an emission of `rule` at `severity` caused by this record.
    fn suppressed_by(&mut self, rule: Rule, severity: Severity) -> Option<String> {
        if self.quiet.is_empty() {
            return None;
        }
        let time_ms = self.f.time_ms;
        let quiet = self.quiet;
        let r = self.rec().r.as_ref();
        quiet
            .hides(
                rule,
                severity,
                Subject {
                    actor: r.map(|r| r.actor.as_ref()),
                    src_ip: r.and_then(|r| r.src_ip),
                    resource: r.map(|r| r.resource.as_ref()),
                    time_ms,
                },
            )
            .map(str::to_string)
    }

    /// Raises `hit`: a new alert, or an update of the open alert of its rule, entity and
    /// window. An emitted form carries `updated` (this record, the severity reached), keeps
    /// `time`/`ledger_index` of the first record and `raised` (when each severity was
    /// reached), and says whether a suppression hides it or the daily digest holds it.
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
            let severity = slot.alert.severity.max(hit.sev);
            let suppressed_by = self.suppressed_by(hit.rule, severity);
            let a = &mut slot.alert;
            let at = Mark {
                severity,
                time: suho_record::format_rfc3339_ms(t),
                ledger_index: index,
            };
            if escalate {
                a.raised.push(at.clone());
            }
            a.updated = Some(at);
            a.severity = severity;
            if severity > Severity::Low {
                // Never fold anything medium or higher: it leaves the digest.
                a.digest = None;
            }
            a.suppressed_by = suppressed_by;
            a.summary = summary;
            a.evidence = evidence;
            a.count = slot.count;
            a.last_time = suho_record::format_rfc3339_ms(slot.last_ms);
            a.detected_at = now_text();
            self.out.push(a.clone());
            return;
        }
        let digest = (hit.sev == Severity::Low)
            .then(|| {
                let day = (t + self.off).div_euclid(DAY);
                // "Most recent days" for a daily (or hourly) rule, "most recent weeks" for a
                // rule whose windows are weeks (reach).
                let unit = if hit.win_len > DAY {
                    hit.win_start.div_euclid(hit.win_len)
                } else {
                    day
                };
                let lows = self
                    .lows
                    .entry(mix2(hit.rule as u64 + 1, hit.entity))
                    .or_default();
                lows.weeks = hit.win_len > DAY;
                let routine = lows.routine(unit);
                lows.mark(unit);
                routine.then(|| {
                    suho_record::format_rfc3339_ms(day * DAY)
                        .get(..10)
                        .unwrap_or_default()
                        .to_string()
                })
            })
            .flatten();
        let suppressed_by = self.suppressed_by(hit.rule, hit.sev);
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
            raised: vec![Mark {
                severity: hit.sev,
                time: suho_record::format_rfc3339_ms(t),
                ledger_index: index,
            }],
            updated: Some(Mark {
                severity: hit.sev,
                time: suho_record::format_rfc3339_ms(t),
                ledger_index: index,
            }),
            suppressed_by,
            digest,
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
            lows: HashMap64::default(),
            quiet: Matcher::default(),
        }
    }

    /// Replaces the analysts' suppressions (`suho suppress`): they apply to alerts emitted from
    /// now on. An entry that does not compile is refused (nothing changes).
    pub fn set_suppressions(&mut self, list: &[crate::Suppression]) -> Result<(), String> {
        self.quiet = Matcher::build(list)?;
        Ok(())
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
        let mut actor_bytes = 0;
        for a in self.st.actors.values().flatten() {
            actor_bytes += entry + std::mem::size_of::<ActorState>() + a.heap_bytes();
        }
        bytes += actor_bytes;
        for r in self.st.roles.values() {
            bytes += entry
                + std::mem::size_of::<RoleStats>()
                + r.daily.heap_bytes()
                + r.purposed.heap_bytes()
                + r.totals.heap_bytes()
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
        bytes += self.lows.capacity() * (entry + std::mem::size_of::<LowDays>());
        EngineStats {
            actors: self.st.actors.len(),
            unknown_actors: self.st.unknown_actors,
            sources: self.st.sources.len(),
            open_alerts: self.st.slots.len(),
            approx_bytes: bytes,
            actor_bytes,
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
            cfg,
            home,
            idx,
            st,
            lows,
            quiet,
            ..
        } = self;
        if f.time_ms > st.clock {
            st.clock = f.time_ms;
        }
        let clock_hour = st.clock.div_euclid(HOUR);
        if clock_hour != st.maint_hour {
            st.maint_hour = clock_hour;
            maintain(st, cfg);
            // Low windows older than the digest rule looks back are forgotten (a week-long
            // window's memory lasts 32 weeks: its units are weeks).
            let today = st.clock.div_euclid(DAY);
            let week = st.clock.div_euclid(7 * DAY);
            lows.retain(|_, l| l.last_day + 32 >= if l.weeks { week } else { today });
        }
        let mut em = Emit {
            index,
            f,
            body,
            place,
            out,
            rec: None,
            off: cfg.offset_ms(),
            lows,
            quiet,
        };
        // As the registry stood at the record's time (a mover's role, a moved network).
        let principal = if idx.maybe_principal(f.actor) {
            idx.principal_at(f.actor, f.time_ms)
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

    /// Checks that the stored record at `index` (features `f`, raw JSON `body`) reuses the
    /// producer `id` of an earlier record with other content, as the ledger found when it
    /// stored it: raises `id_conflict`, high, folded per actor and day. Call it after
    /// [`Engine::observe`] for that record, which checks it like any other.
    pub fn id_conflict(
        &mut self,
        index: u64,
        f: &Features,
        body: &[u8],
        conflict: &IdConflict,
        out: &mut Vec<Alert>,
    ) {
        let place = self.place_of(f);
        let Engine {
            cfg,
            idx,
            st,
            lows,
            quiet,
            ..
        } = self;
        let mut em = Emit {
            index,
            f,
            body,
            place,
            out,
            rec: None,
            off: cfg.offset_ms(),
            lows,
            quiet,
        };
        em.raise(
            &mut st.slots,
            idx,
            day_hit(
                cfg.offset_ms(),
                Rule::IdConflict,
                Severity::High,
                f.actor,
                f.time_ms,
                IncidentOf::Actor,
                Finding::IdConflict {
                    index,
                    conflict: *conflict,
                },
            ),
        );
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
            // No record caused this emission but the counts: it stands at the latest one.
            s.alert.updated = Some(Mark {
                severity: s.alert.severity,
                time: s.alert.last_time.clone(),
                ledger_index: s.alert.last_ledger_index,
            });
            out.push(s.alert.clone());
        }
    }

    /// Writes the detector state to `path` atomically (temporary file, fsync, rename), together
    /// with `observed`: the number of ledger records it has seen. One file holds both, so a
    /// crash can never leave a state that counts records its position says it has not seen
    /// (they would be replayed into it and counted twice), nor the reverse.
    ///
    /// Format 3: `SUHODET1`, a little-endian u32 format version (3), the u64 position, a u64
    /// payload length, the payload, and the SHA-256 of position and payload. The payload is
    /// the postcard encoding of the state (each behaviour detector's own), then that of the
    /// digest rule's low days. Formats 1 and 2 (one flat actor state, no digest) are refused
    /// on load with the remedy.
    pub fn save_state(&self, path: &Path, observed: u64) -> Result<(), DetectError> {
        let encode = |e: postcard::Error| DetectError::State {
            path: path.to_path_buf(),
            reason: format!("cannot encode the detector state: {e}"),
        };
        let mut payload = postcard::to_stdvec(&self.st).map_err(encode)?;
        payload.extend_from_slice(&postcard::to_stdvec(&self.lows).map_err(encode)?);
        let mut buf = Vec::with_capacity(payload.len() + STATE_OVERHEAD);
        buf.extend_from_slice(STATE_MAGIC);
        buf.extend_from_slice(&STATE_VERSION.to_le_bytes());
        buf.extend_from_slice(&observed.to_le_bytes());
        buf.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        buf.extend_from_slice(&payload);
        let digest = Sha256::new()
            .chain_update(observed.to_le_bytes())
            .chain_update(&payload)
            .finalize();
        buf.extend_from_slice(&digest);
        suho_durable::write_atomic(path, &buf).map_err(|e| DetectError::Io {
            path: e.path,
            what: "writing the state file",
            source: e.source,
        })
    }

    /// The ledger position of the state saved at `path`, read from its header alone (for a
    /// status report; [`Engine::load_state`] checks the whole file).
    pub fn saved_position(path: &Path) -> Result<SavedAt, DetectError> {
        use std::io::Read;
        let mut head = [0u8; 20];
        let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
        match read {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SavedAt::Nothing),
            Err(e) => {
                return Err(DetectError::Io {
                    path: path.to_path_buf(),
                    what: "reading the state file",
                    source: e,
                })
            }
            Ok(()) => {}
        }
        if &head[..8] != STATE_MAGIC {
            return Err(DetectError::State {
                path: path.to_path_buf(),
                reason: "not a suho detector state file (bad magic)".into(),
            });
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(&head[12..20]);
        Ok(if head[8..12] == 1u32.to_le_bytes() {
            SavedAt::Unrecorded
        } else {
            SavedAt::Position(u64::from_le_bytes(w))
        })
    }

    /// Restores state written by [`Engine::save_state`] and says which ledger position it
    /// holds. A missing file leaves the engine fresh ([`SavedAt::Nothing`]); a damaged one is
    /// an error (the engine is left unchanged).
    pub fn load_state(&mut self, path: &Path) -> Result<SavedAt, DetectError> {
        let buf = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SavedAt::Nothing),
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
        if buf.len() < 12 || &buf[..8] != STATE_MAGIC {
            return Err(bad(
                "not a suho detector state file (bad magic or too short)".into(),
            ));
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&buf[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let mut v = [0u8; 4];
        v.copy_from_slice(&buf[8..12]);
        let version = u32::from_le_bytes(v);
        // Format 1 had no position (it lived in a file of its own); format 2 leads with it;
        // format 3 keeps the layout of 2 with each behaviour detector's own state (robust
        // baselines per channel, change detection, field categories per role), which the
        // flat actor state of formats 1 and 2 cannot be turned into.
        let (observed, head) = match version {
            1 | 2 => {
                return Err(bad(format!(
                    "state format version {version} was written by an earlier suho whose \
                     behaviour baselines had another shape (this build reads format \
                     {STATE_VERSION}): remove the file and suho rebuilds the detector state \
                     by replaying the ledger through the detectors (alerts keep their ids)"
                )))
            }
            STATE_VERSION => (Some(0), 28),
            _ => {
                return Err(bad(format!(
                    "state format version {version}, this build reads {STATE_VERSION}"
                )))
            }
        };
        if buf.len() < head + 32 {
            return Err(bad("too short for its header and checksum".into()));
        }
        let observed = observed.map(|_| word(12));
        let len = word(head - 8);
        if len != (buf.len() - head - 32) as u64 {
            return Err(bad(format!(
                "payload length {len} does not match the file size {}",
                buf.len()
            )));
        }
        let payload = &buf[head..buf.len() - 32];
        let mut digest = Sha256::new();
        if let Some(n) = observed {
            digest.update(n.to_le_bytes());
        }
        digest.update(payload);
        if digest.finalize().as_slice() != &buf[buf.len() - 32..] {
            return Err(bad("checksum mismatch: the file is damaged".into()));
        }
        let (mut st, rest): (State, &[u8]) =
            postcard::take_from_bytes(payload).map_err(|e| bad(format!("cannot decode: {e}")))?;
        // The digest rule's low days follow the state.
        let lows: HashMap64<LowDays> = postcard::from_bytes(rest)
            .map_err(|e| bad(format!("cannot decode the digest's low days: {e}")))?;
        if let Some(what) = st.unsound() {
            return Err(bad(format!(
                "decodes, but {what}: the file was rewritten by something other than suho \
                 (remove it to rebuild the detectors from the ledger)"
            )));
        }
        let want = 1usize << self.cfg.customer_travel_slots_log2;
        if st.abroad.iter().any(|b| b.len() != ABROAD_WORDS) {
            st.abroad = [vec![0; ABROAD_WORDS], vec![0; ABROAD_WORDS]];
        }
        if st.travel.len() != want {
            st.travel = vec![0; want];
        }
        self.st = st;
        self.lows = lows;
        Ok(match observed {
            Some(n) => SavedAt::Position(n),
            None => SavedAt::Unrecorded,
        })
    }
}

/// Which ledger position a loaded detector state holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavedAt {
    /// There was no state file: the engine starts fresh, at position 0.
    Nothing,
    /// The state has seen the first this many ledger records.
    Position(u64),
    /// A state of format 1, whose position was kept in a file of its own (`detect/observed`).
    Unrecorded,
}

const STATE_MAGIC: &[u8; 8] = b"SUHODET1";
const STATE_VERSION: u32 = 3;
/// Header (magic, version, position, payload length) and checksum.
const STATE_OVERHEAD: usize = 28 + 32;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(Arc::new(Registry::default()), None, DetectConfig::default())
    }

    /// A state file rewritten consistently (right checksum) but breaking an invariant the
    /// detectors index by is refused with a reason, never loaded to panic later.
    fn refused_after(tamper: impl FnOnce(&mut State)) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let mut e = engine();
        e.st.actors
            .insert(7, Some(Box::new(ActorState::new(0, 0, 0, false))));
        e.st.roles.insert(9, RoleStats::default());
        e.save_state(&path, 1).expect("save");
        engine()
            .load_state(&path)
            .expect("a state suho wrote loads");
        tamper(&mut e.st);
        e.save_state(&path, 1).expect("save");
        let mut fresh = engine();
        let err = fresh.load_state(&path).expect_err("refused").to_string();
        assert!(
            err.contains("rewritten by something other than suho"),
            "{err}"
        );
        assert!(fresh.st.actors.is_empty(), "the engine is left unchanged");
        err
    }

    #[test]
    fn a_credential_id_crafted_to_collide_with_a_registered_ones_hash_is_not_that_credential() {
        let mut reg = Registry::default();
        for line in [
            r#"{"type":"principal","id":"svc-order","kind":"service","status":"active"}"#,
            r#"{"type":"signing_key","id":"kid-staff","owner":"svc-auth","status":"active","issuance":"registered"}"#,
            r#"{"type":"credential","id":"tok-42","principal":"svc-order","kind":"access_token","signing_key":"kid-staff"}"#,
        ] {
            reg.upsert(suho_registry::parse_registry_line(line.as_bytes()).expect("line"));
        }
        let mut e = Engine::new(Arc::new(reg), None, DetectConfig::default());
        let line = |cred: &str| {
            format!(
                r#"{{"time":1750000000000,"actor":"svc-order","credential":"{cred}","signing_key":"kid-staff","action":"read","resource":"r","subjects":["c-1"]}}"#
            )
        };
        let run = |e: &mut Engine, body: &str, collide: bool| {
            let rec = suho_record::parse_record(body.as_bytes()).expect("record");
            let mut f = Features::from_record(&rec);
            if collide {
                // As if "tok-evil" had been crafted to share tok-42's stable hash.
                f.credential = crate::hash::hash_id("tok-42");
            }
            let mut out = Vec::new();
            e.observe(0, &f, body.as_bytes(), &mut out);
            out.iter().any(|a| a.rule == "forged_credential")
        };
        assert!(
            !run(&mut e, &line("tok-42"), false),
            "the registered token is fine"
        );
        assert!(
            run(&mut e, &line("tok-evil"), true),
            "a colliding id is still forged"
        );
        // The same for a signing key: a `kid` colliding with a registered key's hash is unknown.
        let body = r#"{"time":1750000000000,"actor":"svc-order","signing_key":"kid-evil","action":"read","resource":"r","subjects":["c-1"]}"#;
        let rec = suho_record::parse_record(body.as_bytes()).expect("record");
        let mut f = Features::from_record(&rec);
        f.signing_key = crate::hash::hash_id("kid-staff");
        let mut out = Vec::new();
        e.observe(1, &f, body.as_bytes(), &mut out);
        assert!(
            out.iter().any(|a| a.rule == "unknown_signing_key"),
            "{:?}",
            out.iter().map(|a| &a.rule).collect::<Vec<_>>()
        );
    }

    /// The detector state changed shape with issue 13 (each detector's own state): a state
    /// file of format 2 is refused with what to do, never misread.
    #[test]
    fn a_state_of_the_previous_format_is_refused_with_the_remedy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        engine().save_state(&path, 5).expect("save");
        let mut buf = std::fs::read(&path).expect("read");
        buf[8..12].copy_from_slice(&2u32.to_le_bytes());
        std::fs::write(&path, &buf).expect("write");
        let err = engine().load_state(&path).expect_err("refused").to_string();
        assert!(
            err.contains("format version 2") && err.contains("remove the file"),
            "{err}"
        );
    }

    #[test]
    fn low_days_count_the_days_before_and_mark_late_days_in_place() {
        let mut l = LowDays::default();
        for d in [100, 101, 102] {
            l.mark(d);
        }
        assert!(!l.routine(103), "3 of 7");
        l.mark(99); // a replayed, earlier day
        assert_eq!(l.before(103, 7), 4);
        assert!(l.routine(103));
        assert!(!l.routine(100 + 11), "4 days, all more than 7 days before");
        assert_eq!(
            l.before(102, 7),
            3,
            "today is not counted, only days before"
        );
        l.mark(140);
        assert_eq!(
            l.before(141, 28),
            1,
            "older days fell out of the 32-day mask"
        );
        // 10 low days scattered over 4 weeks (2-3 a week) are routine too.
        let mut w = LowDays::default();
        for d in [0, 2, 4, 7, 9, 11, 14, 16, 21, 23] {
            w.mark(d);
        }
        assert!(w.before(28, 7) < ROUTINE_OF_7 && w.routine(28));
    }

    #[test]
    fn the_digest_days_survive_a_save_and_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let mut e = engine();
        e.st.clock = 42;
        let low = LowDays {
            last_day: 20_000,
            mask: 0b1011,
            weeks: false,
        };
        e.lows.insert(5, low);
        e.save_state(&path, 7).expect("save");
        let mut back = engine();
        assert_eq!(back.load_state(&path).expect("load"), SavedAt::Position(7));
        assert_eq!(
            back.lows.get(&5),
            Some(&low),
            "the digest's memory survives"
        );
        assert_eq!(back.st.clock, 42);
    }

    #[test]
    fn a_consistently_rewritten_state_that_breaks_an_invariant_is_refused() {
        let err = refused_after(|st| {
            if let Some(Some(a)) = st.actors.get_mut(&7) {
                a.enumeration.recent_len = 200;
            }
        });
        assert!(err.contains("recent subjects"), "{err}");
        let err = refused_after(|st| {
            if let Some(r) = st.roles.get_mut(&9) {
                r.hour_days.clear();
            }
        });
        assert!(err.contains("24 hours"), "{err}");
    }
}
