//! What an actor does, against its own history and its peers.
//!
//! Every behaviour detector keeps its own state in [`ActorState`] and implements
//! [`Detector`]: it sees each record of the actor with the actor's context ([`Cx`]: the
//! record's features, the day's counts so far, the unusual context, the role's statistics and
//! where alerts go), and it is told when the actor's day closes, to fold the day into its
//! baselines. A day's counts live in [`Today`], which is replaced whole when the day closes.
//! State is persisted with the engine's (see `Engine::save_state`).
//!
//! The detectors: [`Volume`] (`subjects_per_hour`, `subjects_per_day`), [`Shift`] (a
//! cumulative sum of the daily excess: `reach_30d`), [`Reach`] (`reach_30d`, `reach_90d` over
//! the 13-week reach), [`Enumeration`], [`Bulk`] (`bulk_without_purpose`) and [`RoleData`]
//! (`unusual_data_for_role`). Origin, hours and failed logins are checked first, in
//! [`actor_state_checks`], because they make the context the others read.

use super::origin::{
    is_foreign, is_login, mark, network_usual, shared_source, sliding_failures, travel_check,
};
use super::*;
use crate::features::field_weight;

// ---------------------------------------------------------------------------------------
// The common interface.

/// What a detector sees of one record of an actor.
pub(super) struct Cx<'r, 'e, 'o> {
    pub cfg: &'r DetectConfig,
    pub ix: &'r RegIndex,
    pub f: &'r Features,
    /// The actor's peer group, whether it is a service account, and its history.
    pub group: u64,
    pub service: bool,
    pub active_days: u32,
    pub first_day: i64,
    /// The actor's current (or, in `close_day`, closing) home-time day.
    pub day: i64,
    /// The day's counts, this record included (in `close_day`: the closing day's).
    pub today: &'r Today,
    /// Subjects touched today in an unusual context, and its bits for this record.
    pub ctx: Context,
    pub rec_flags: u8,
    /// The actor's normal high day (purposed or not), once known.
    pub normal_total: Option<u64>,
    /// Everyone else's state (this actor's entry is empty while it is checked).
    pub actors: &'r HashMap64<Option<Box<ActorState>>>,
    pub roles: &'r mut HashMap64<RoleStats>,
    pub slots: &'r mut HashMap64<Slot>,
    pub em: &'r mut Emit<'e, 'o>,
}

impl Cx<'_, '_, '_> {
    fn raise(&mut self, hit: Hit) {
        self.em.raise(self.slots, self.ix, hit);
    }

    fn day_hit(&self, rule: Rule, sev: Severity, finding: Finding) -> Hit {
        day_hit(
            self.cfg.offset_ms(),
            rule,
            sev,
            self.f.actor,
            self.f.time_ms,
            IncidentOf::Actor,
            finding,
        )
    }

    /// Whether the actor has enough days for its own baselines.
    fn own_known(&self) -> bool {
        self.active_days >= self.cfg.min_history_days
    }

    fn role(&mut self) -> &mut RoleStats {
        self.roles.entry(self.group).or_default()
    }
}

/// A behaviour detector with per-actor state.
pub(super) trait Detector {
    /// Checks a record of the actor; `cx.today` already counts it.
    fn observe(&mut self, cx: &mut Cx<'_, '_, '_>);
    /// The actor's day `cx.day` is over (called on its first record of a later day, before
    /// that record is counted): fold it into the baselines. Alerts raised here are
    /// attributed to that record.
    fn close_day(&mut self, _cx: &mut Cx<'_, '_, '_>) {}
}

// ---------------------------------------------------------------------------------------
// The day's counts.

/// Distinct subjects this hour (without a purpose).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct HourCounts {
    subj: Distinct,
    unlisted: Unlisted,
}

/// One actor's current day: distinct subjects with and without a purpose, this hour, in an
/// unusual context, the hours worked and the field categories read. Replaced whole when the
/// day closes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Today {
    plain: Distinct,
    plain_unlisted: Unlisted,
    purposed: Distinct,
    purposed_unlisted: Unlisted,
    hour: HourCounts,
    max_hour: u64,
    hours_mask: u32,
    flagged_hours: u32,
    ctx_flags: u8,
    ctx_subj: Distinct,
    ctx_unlisted: Unlisted,
    foreign_cc: [u8; 2],
    foreign_several: bool,
    /// Field categories read today (bits of [`crate::features::field_bit`]).
    fields: u32,
    /// The peers' normal day, computed once a day (for the context of a cold-start actor).
    peer_day: Option<Option<u64>>,
}

impl Today {
    /// Distinct subjects without a purpose (count-only records once per resource).
    pub(super) fn plain(&self) -> u64 {
        self.plain
            .estimate()
            .saturating_add(self.plain_unlisted.total())
    }
    /// Distinct subjects under a stated purpose.
    pub(super) fn purposed(&self) -> u64 {
        self.purposed
            .estimate()
            .saturating_add(self.purposed_unlisted.total())
    }
    /// Everything: with a purpose or without.
    pub(super) fn total(&self) -> u64 {
        self.plain().saturating_add(self.purposed())
    }
    fn hour(&self) -> u64 {
        self.hour
            .subj
            .estimate()
            .saturating_add(self.hour.unlisted.total())
    }
    /// The busiest hour so far, this one included.
    fn busiest_hour(&self) -> u64 {
        self.max_hour.max(self.hour())
    }
    /// Subjects counted without a list (what the alert says it counted once per resource).
    fn unlisted(&self) -> u64 {
        self.plain_unlisted
            .total()
            .saturating_add(self.purposed_unlisted.total())
    }
    fn ctx_count(&self) -> u64 {
        self.ctx_subj
            .estimate()
            .saturating_add(self.ctx_unlisted.total())
    }
    pub(super) fn is_sound(&self) -> bool {
        [&self.plain, &self.purposed, &self.hour.subj, &self.ctx_subj]
            .iter()
            .all(|d| d.is_sound())
    }
    pub(super) fn heap_bytes(&self) -> usize {
        self.plain.heap_bytes()
            + self.purposed.heap_bytes()
            + self.hour.subj.heap_bytes()
            + self.ctx_subj.heap_bytes()
    }

    /// Counts the record's subjects (purposed work apart) and its context.
    fn count(&mut self, f: &Features, rec_flags: u8) {
        self.fields |= f.fields;
        if f.processed == 0 {
            return;
        }
        let unlisted = f.unlisted();
        if f.has_purpose {
            for &s in f.subjects() {
                self.purposed.insert(s);
            }
            self.purposed_unlisted.add(f.resource, unlisted);
            return;
        }
        for &s in f.subjects() {
            self.plain.insert(s);
            self.hour.subj.insert(s);
            if rec_flags != 0 {
                self.ctx_subj.insert(s);
            }
        }
        self.plain_unlisted.add(f.resource, unlisted);
        self.hour.unlisted.add(f.resource, unlisted);
        if rec_flags != 0 {
            self.ctx_unlisted.add(f.resource, unlisted);
        }
    }
}

/// A count's threshold in one window (an hour or a day), recomputed as the count grows by a
/// quarter (peers' counts move during the day). `at` names the window; a window of another
/// number is stale.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(super) struct Window {
    at: i64,
    threshold: u64,
    peer: Option<u64>,
    next_check: u64,
}

impl Window {
    /// The window for `at`, reset when it was another's.
    fn at(&mut self, at: i64) -> &mut Window {
        if self.at != at {
            *self = Window {
                at,
                ..Window::default()
            };
        }
        self
    }

    /// Whether the count `v` is due for a recomputation; moves the next one a quarter on.
    fn due(&mut self, v: u64) -> bool {
        if v < self.next_check {
            return false;
        }
        self.next_check = v.saturating_add((v / 4).max(1));
        true
    }
}

/// A quantile over the peers of `group` active on `day` (other than the actor), of the value
/// `val` gives, or `None` with fewer than `min_peers` of them. The first 256 members active
/// today are a large enough sample.
fn peers_on(
    actors: &HashMap64<Option<Box<ActorState>>>,
    ix: &RegIndex,
    group: u64,
    min_peers: usize,
    q: f64,
    val: impl Fn(&ActorState) -> Option<u64>,
) -> Option<u64> {
    let members = ix.groups.get(&group)?;
    if members.len() <= min_peers {
        return None;
    }
    let mut vals = [0u32; 256];
    let mut n = 0;
    for m in members {
        if n == vals.len() {
            break;
        }
        if let Some(Some(s)) = actors.get(m) {
            if let Some(v) = val(s).filter(|v| *v > 0) {
                vals[n] = u32::try_from(v).unwrap_or(u32::MAX);
                n += 1;
            }
        }
    }
    if n < min_peers.max(1) {
        return None;
    }
    crate::sketch::quantile(&vals[..n], q).map(u64::from)
}

/// A robust normal of the actor's own days, once it has enough of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Baseline {
    ring: Ring,
    normal: Option<Normal>,
}

impl Baseline {
    fn new() -> Baseline {
        Baseline {
            ring: Ring::new(OWN_DAYS),
            normal: None,
        }
    }
    fn learn(&mut self, v: u64, q: f64) {
        self.ring.push(u32::try_from(v).unwrap_or(u32::MAX));
        self.normal = self.ring.normal(q);
    }
    /// The normal, when at least `min_days` days are in it.
    fn known(&self, min_days: u32) -> Option<Normal> {
        (self.ring.len() >= min_days as usize)
            .then_some(self.normal)
            .flatten()
    }
}

// ---------------------------------------------------------------------------------------
// Volume: subjects_per_hour and subjects_per_day, work without a purpose and work under one
// each against its own normal.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Hour,
    Plain,
    Purposed,
}

/// Volume: the actor's own days (busiest hour, distinct subjects without and with a purpose)
/// and the current windows' thresholds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Volume {
    hourly: Baseline,
    plain: Baseline,
    purposed: Baseline,
    hour_win: Window,
    plain_win: Window,
    purposed_win: Window,
    /// A high alert against the actor's own history today: the day is not learned.
    high_day: i64,
}

impl Volume {
    pub(super) fn new() -> Volume {
        Volume {
            hourly: Baseline::new(),
            plain: Baseline::new(),
            purposed: Baseline::new(),
            high_day: i64::MIN,
            ..Volume::default()
        }
    }
    pub(super) fn heap_bytes(&self) -> usize {
        self.hourly.ring.heap_bytes()
            + self.plain.ring.heap_bytes()
            + self.purposed.ring.heap_bytes()
    }
    /// The actor's normal high day without a purpose (context escalation reads it).
    fn normal_day(&self, min_days: u32) -> Option<u64> {
        self.plain.known(min_days).map(|n| u64::from(n.high))
    }

    fn check(&mut self, cx: &mut Cx<'_, '_, '_>, ch: Channel) {
        let cfg = cx.cfg;
        let (v, min, own_f, peer_f, cold) = match ch {
            Channel::Hour => (
                cx.today.hour(),
                cfg.hourly_min_subjects,
                cfg.hourly_own_factor,
                cfg.hourly_peer_factor,
                cfg.hourly_cold_subjects,
            ),
            Channel::Plain => (
                cx.today.plain(),
                cfg.daily_min_subjects,
                cfg.daily_own_factor,
                cfg.daily_peer_factor,
                cfg.daily_cold_subjects,
            ),
            Channel::Purposed => (
                cx.today.purposed(),
                cfg.daily_min_subjects,
                cfg.daily_own_factor,
                cfg.daily_peer_factor,
                cfg.daily_cold_subjects,
            ),
        };
        if v <= min {
            return;
        }
        let base = match ch {
            Channel::Hour => &self.hourly,
            Channel::Plain => &self.plain,
            Channel::Purposed => &self.purposed,
        };
        let own = if cx.own_known() {
            base.known(cfg.min_history_days)
        } else {
            None
        };
        // Work under a purpose that the actor does on most days (a ticket queue) is judged
        // like work without one, against its normal high. Occasional ticketed jobs (a planned
        // export) are judged against the largest such day of the actor and of its peers:
        // a job no bigger than those is routine.
        let routine = ch != Channel::Purposed || own.is_some_and(|o| o.median > 0);
        let q = if routine { cfg.baseline_quantile } else { 1.0 };
        let own = match own {
            Some(o) if !routine => base.ring.quantile(1.0).map(|m| Normal { high: m, ..o }),
            o => o,
        };
        // The actor's own threshold is known without work; only a count above it needs the
        // peers (and only every quarter of growth after that).
        if own.is_some_and(|o| v as f64 <= f64::from(o.high) * own_f) {
            return;
        }
        let w = match ch {
            Channel::Hour => self.hour_win.at(cx.f.time_ms.div_euclid(HOUR)),
            Channel::Plain => self.plain_win.at(cx.day),
            Channel::Purposed => self.purposed_win.at(cx.day),
        };
        if w.due(v) {
            let min_peers = cfg.min_peers as usize;
            let (actor, day) = (cx.f.actor, cx.day);
            let ring = cx.roles.get(&cx.group).and_then(|r| {
                let ring = match ch {
                    Channel::Hour => &r.hourly,
                    Channel::Plain => &r.daily,
                    Channel::Purposed => &r.purposed,
                };
                ring.quantile_without(actor, q, min_peers * 2)
                    .map(u64::from)
            });
            // The peers' counts so far today absorb a peak everyone shares (month-end).
            let today = peers_on(cx.actors, cx.ix, cx.group, min_peers, q, |s| {
                (s.day == day).then(|| match ch {
                    Channel::Hour => s.today.busiest_hour(),
                    Channel::Plain => s.today.plain(),
                    Channel::Purposed => s.today.purposed(),
                })
            });
            // A service account is unlike its peers (each does one job): only its own history
            // judges its volume.
            let peer = match (ring, today) {
                _ if cx.service => None,
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
            let mut t = min as f64;
            match (own, peer) {
                (Some(o), p) => {
                    t = t.max(f64::from(o.high) * own_f);
                    if let Some(p) = p {
                        t = t.max(p as f64 * peer_f);
                    }
                }
                // Cold start (a new hire, a mover into a new kind of work): the peers alone,
                // with a wider margin, since its work may differ from theirs.
                (None, Some(p)) => {
                    t = t.max(p as f64 * cfg.cold_peer_factor.max(1.5 * peer_f));
                }
                // Nothing to compare with: a service account's volume is its job (its own
                // history judges it after a few days); a person's is judged by a floor.
                (None, None) if cx.service => t = f64::INFINITY,
                (None, None) => t = t.max(cold as f64),
            }
            w.threshold = if t.is_finite() {
                t.round() as u64
            } else {
                u64::MAX
            };
            w.peer = peer;
        }
        if v <= w.threshold {
            return;
        }
        let (threshold, peer) = (w.threshold, w.peer);
        let ctx_hot =
            ch != Channel::Purposed && cx.ctx.flags != 0 && cx.ctx.subjects > cx.ctx.threshold;
        // Without its own history (a new hire, a new service) volume alone is at most medium:
        // its peers may do other work. Work under a stated purpose is at most medium: check
        // the tickets.
        let strong = own.is_some() && v as f64 > cfg.high_factor * threshold as f64;
        // Purposed work is judged against the actor's own purposed work: an actor that
        // normally works under tickets and reads several times its normal through them is
        // medium; a one-off job under a ticket by someone who rarely has one (a planned
        // export) is low, for the ticket to be checked.
        let sev = if ch == Channel::Purposed {
            if routine {
                Severity::Medium
            } else {
                Severity::Low
            }
        } else if strong || ctx_hot {
            Severity::High
        } else {
            Severity::Medium
        };
        if sev == Severity::High && own.is_some() {
            self.high_day = cx.day;
        }
        let finding = Finding::Volume {
            hourly: ch == Channel::Hour,
            purposed: ch == Channel::Purposed,
            subjects: v,
            unlisted: cx.today.unlisted(),
            own_median: own.map(|o| u64::from(o.median)),
            own: own.map(|o| u64::from(o.high)),
            peer,
            threshold,
            ctx: cx.ctx,
        };
        let rule = if ch == Channel::Hour {
            Rule::SubjectsPerHour
        } else {
            Rule::SubjectsPerDay
        };
        let hit = cx.day_hit(rule, sev, finding);
        cx.raise(hit);
    }
}

impl Detector for Volume {
    fn observe(&mut self, cx: &mut Cx<'_, '_, '_>) {
        if cx.f.processed == 0 {
            return;
        }
        if cx.f.has_purpose {
            self.check(cx, Channel::Purposed);
        } else {
            self.check(cx, Channel::Hour);
            self.check(cx, Channel::Plain);
        }
    }

    fn close_day(&mut self, cx: &mut Cx<'_, '_, '_>) {
        // A day judged high against the actor's own history is not learned as normal (so a
        // thief does not teach the baseline); a cold-start actor learns every day.
        if self.high_day == cx.day {
            return;
        }
        let q = cx.cfg.baseline_quantile;
        let (plain, purposed, hour) = (
            cx.today.plain(),
            cx.today.purposed(),
            cx.today.busiest_hour(),
        );
        self.plain.learn(plain, q);
        self.purposed.learn(purposed, q);
        self.hourly.learn(hour, q);
        let actor = cx.f.actor;
        let role = cx.role();
        let c = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        role.daily.push(actor, c(plain));
        role.purposed.push(actor, c(purposed));
        role.hourly.push(actor, c(hour));
    }
}

// ---------------------------------------------------------------------------------------
// Shift: a cumulative sum (CUSUM) of the daily excess over the actor's robust normal.

/// Days of own history before the cumulative sum runs.
const SHIFT_MIN_DAYS: u32 = 10;
/// The typical day (median distinct subjects) below which the cumulative sum does not run.
const SHIFT_MIN_MEDIAN: u32 = 10;
/// Consecutive alarmed days not learned; after them a new level is accepted as normal.
const SHIFT_HOLD_DAYS: u16 = 10;

/// The cumulative sum of daily excess (Page's CUSUM): each closed day adds
/// `(subjects - normal x peers' factor) / scale - slack`, floored at zero; crossing `limit`
/// is a persistent shift. A small daily excess that no single day's threshold sees (40 over a
/// normal of 90) adds up within days.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Shift {
    totals: Baseline,
    /// The sum, in scales, after the last closed day.
    sum: f32,
    /// Subjects above the normal (less those below it) and days since the sum last left
    /// zero.
    excess: u64,
    days: u16,
    alarmed: u16,
    frozen: Option<Normal>,
    win: Window,
}

impl Shift {
    pub(super) fn new() -> Shift {
        Shift {
            totals: Baseline::new(),
            ..Shift::default()
        }
    }
    pub(super) fn heap_bytes(&self) -> usize {
        self.totals.ring.heap_bytes()
    }
    /// The normal a day is measured against: the one frozen when the current run began, or
    /// the current one.
    fn normal(&self) -> Option<Normal> {
        self.frozen.or_else(|| self.totals.known(SHIFT_MIN_DAYS))
    }

    /// The actor's normal high day, purposed or not, once known.
    fn normal_high(&self, min_days: u32) -> Option<u64> {
        self.totals.known(min_days).map(|n| u64::from(n.high))
    }
    /// The scale used: the robust scale, at least a tenth of the median and 3 subjects (a
    /// very regular actor's MAD can be 0).
    fn scale(n: &Normal) -> f64 {
        f64::from(n.scale).max(f64::from(n.median) / 10.0).max(3.0)
    }

    /// One day's step: its excess in scales less the slack, capped at half the limit so that
    /// one day alone (a spike, which the volume rules judge) never crosses: a shift is what
    /// lasts at least three days.
    fn step(cfg: &DetectConfig, z: f64) -> f64 {
        (z - cfg.shift_slack).min(cfg.shift_limit / 2.0)
    }

    /// How much busier than their own normal the peers are on `day` (the median of their
    /// ratios), at least 1: a peak everyone shares (month-end) is nobody's excess.
    fn peers_factor(cx: &Cx<'_, '_, '_>, day: i64, closed: bool) -> f64 {
        let min_peers = cx.cfg.min_peers as usize;
        let r = peers_on(cx.actors, cx.ix, cx.group, min_peers, 0.5, |s| {
            let n = s.shift.totals.known(SHIFT_MIN_DAYS)?;
            let v = if s.day == day {
                s.today.total()
            } else if closed && s.prev_day == day {
                u64::from(s.prev_total)
            } else {
                return None;
            };
            // Per mille of their own median.
            Some(v.saturating_mul(1000) / u64::from(n.median.max(1)))
        });
        r.map_or(1.0, |pm| (pm as f64 / 1000.0).max(1.0))
    }

    #[allow(clippy::too_many_arguments)]
    fn raise(
        &self,
        cx: &mut Cx<'_, '_, '_>,
        n: &Normal,
        sum: f64,
        excess: u64,
        today: u64,
        factor: f64,
        peers: Option<u64>,
    ) {
        let limit = cx.cfg.shift_limit;
        // A shift in volume alone is "look today": busy seasons and new duties shift too.
        // What makes it urgent (an unusual place or hour, a walk, a bulk export) raises its
        // own high alert.
        let sev = Severity::Medium;
        let finding = Finding::Shift {
            median: u64::from(n.median),
            scale: Shift::scale(n),
            factor,
            today,
            excess,
            days: u32::from(self.days) + 1,
            sum,
            limit,
            peers,
        };
        let off = cx.cfg.offset_ms();
        let week = cx.day.div_euclid(7);
        let hit = Hit {
            rule: Rule::Reach30d,
            sev,
            entity: cx.f.actor,
            win_start: week * 7 * DAY - off,
            win_len: 7 * DAY,
            incident: IncidentOf::Actor,
            finding,
        };
        cx.raise(hit);
    }
}

impl Detector for Shift {
    fn observe(&mut self, cx: &mut Cx<'_, '_, '_>) {
        if cx.f.processed == 0 {
            return;
        }
        let Some(n) = self.normal() else {
            return;
        };
        // An actor that reads fewer than a handful of customers on a typical day has no daily
        // level to shift from (its occasional bursts are for volume and bulk).
        if n.median < SHIFT_MIN_MEDIAN {
            return;
        }
        let cfg = cx.cfg;
        let x = cx.today.total();
        let scale = Shift::scale(&n);
        let median = f64::from(n.median);
        // Today crosses when sum + (x - median x factor) / scale - slack > limit; with a
        // factor of at least 1 it cannot below this count (nor when one day's step, capped,
        // cannot reach the limit).
        let gap = cfg.shift_limit - f64::from(self.sum);
        if gap >= cfg.shift_limit / 2.0 || (x as f64) <= median + scale * (cfg.shift_slack + gap) {
            return;
        }
        let day = cx.day;
        if !self.win.at(day).due(x) {
            return;
        }
        let factor = Shift::peers_factor(cx, day, false);
        let over = x as f64 - median * factor;
        let excess = (self.excess as f64 + over).max(0.0) as u64;
        let sum = f64::from(self.sum) + Shift::step(cfg, over / scale);
        // At least `shift_min_excess` subjects, or two normal days' worth for an actor whose
        // normal day is smaller: a shift is subjects read, not a statistic alone.
        let min_excess = cfg
            .shift_min_excess
            .min(u64::from(n.median).saturating_mul(2));
        if sum <= cfg.shift_limit || excess < min_excess {
            return;
        }
        // Like the quiet insider, the shifted actor must stand out from its peers too: its
        // level now (its normal plus the excess per day of the run) above the peers' typical
        // day. A small actor drifting up towards what its peers normally do is not a harvest.
        let days = f64::from(self.days) + 1.0;
        let level = median * factor + excess as f64 / days;
        let peers = peers_on(
            cx.actors,
            cx.ix,
            cx.group,
            cfg.min_peers as usize,
            0.5,
            |s| {
                s.shift
                    .totals
                    .known(SHIFT_MIN_DAYS)
                    .map(|n| u64::from(n.median))
            },
        );
        if peers.is_some_and(|p| level <= p as f64 * factor) {
            return;
        }
        self.raise(cx, &n, sum, excess, x, factor, peers);
    }

    fn close_day(&mut self, cx: &mut Cx<'_, '_, '_>) {
        let x = cx.today.total();
        let q = cx.cfg.baseline_quantile;
        let actor = cx.f.actor;
        cx.role()
            .totals
            .push(actor, u32::try_from(x).unwrap_or(u32::MAX));
        let Some(n) = self.normal() else {
            self.totals.learn(x, q);
            return;
        };
        let factor = Shift::peers_factor(cx, cx.day, true);
        let over = x as f64 - f64::from(n.median) * factor;
        let sum = (f64::from(self.sum) + Shift::step(cx.cfg, over / Shift::scale(&n))).max(0.0);
        if sum <= 0.0 {
            self.excess = 0;
            self.days = 0;
            self.frozen = None;
        } else {
            // Once a run is half-way to the limit, the normal it is measured against stays as
            // it was: the days of a shift must not become the normal they are compared with.
            if sum >= cx.cfg.shift_limit / 2.0 {
                self.frozen.get_or_insert(n);
            } else {
                self.frozen = None;
            }
            self.excess = (self.excess as f64 + over).max(0.0) as u64;
            self.days = self.days.saturating_add(1);
        }
        self.sum = sum as f32;
        // An alarmed day is not learned (a thief does not teach the baseline), for at most
        // SHIFT_HOLD_DAYS days in a row: a lasting new level of work becomes the normal.
        if sum > cx.cfg.shift_limit && self.alarmed < SHIFT_HOLD_DAYS {
            self.alarmed += 1;
        } else {
            if self.alarmed >= SHIFT_HOLD_DAYS {
                self.sum = 0.0;
                self.excess = 0;
                self.days = 0;
                self.frozen = None;
            }
            self.alarmed = 0;
            self.totals.learn(x, q);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reach: distinct subjects over ~30 and ~90 days.

/// The thresholds of the reach checks, computed when a day closes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(super) struct ReachBar {
    threshold: u64,
    own: Option<u64>,
    peer: Option<u64>,
}

/// Reach: 13 weekly sketches of distinct subjects, the actor's reach in the 30 days before
/// the last 30, purposed subjects per week, and the thresholds for the current day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Reach {
    pub(super) weeks: Option<Box<WeekReach>>,
    prev30: Option<u64>,
    purposed_weeks: Vec<(i64, u64)>,
    bar30: Option<ReachBar>,
    bar90: Option<ReachBar>,
    win: Window,
}

impl Reach {
    pub(super) fn heap_bytes(&self) -> usize {
        self.weeks
            .as_ref()
            .map_or(0, |r| r.heap_bytes() + std::mem::size_of::<WeekReach>())
            + self.purposed_weeks.capacity() * 16
    }

    fn purposed(&self, week: i64, weeks: i64) -> u64 {
        self.purposed_weeks
            .iter()
            .filter(|(wk, _)| *wk > week - weeks)
            .fold(0u64, |acc, (_, n)| acc.saturating_add(*n))
    }
}

impl Detector for Reach {
    fn observe(&mut self, cx: &mut Cx<'_, '_, '_>) {
        let f = cx.f;
        if f.processed == 0 {
            return;
        }
        let week = cx.day.div_euclid(7);
        let weeks = self
            .weeks
            .get_or_insert_with(|| Box::new(WeekReach::new(week)));
        for &s in f.subjects() {
            weeks.insert(week, s);
        }
        if f.has_purpose {
            match self.purposed_weeks.iter_mut().find(|(w, _)| *w == week) {
                Some((_, n)) => *n = n.saturating_add(f.processed),
                None => {
                    self.purposed_weeks
                        .retain(|(w, _)| *w > week - WEEKS as i64);
                    self.purposed_weeks.push((week, f.processed));
                }
            }
        }
        // Checked as the day's count grows by a quarter, at the record that crosses: the
        // alert carries that record's time.
        if self.bar30.is_none() && self.bar90.is_none() {
            return;
        }
        if !self.win.at(cx.day).due(cx.today.total()) {
            return;
        }
        let Some(w) = self.weeks.as_deref() else {
            return;
        };
        let checks = [
            (
                Rule::Reach30d,
                30u32,
                self.bar30,
                5usize,
                cx.cfg.reach30_min_subjects,
            ),
            (
                Rule::Reach90d,
                90,
                self.bar90,
                WEEKS,
                cx.cfg.reach90_min_subjects,
            ),
        ];
        for (rule, days, bar, span, min) in checks {
            let Some(bar) = bar else { continue };
            let r = w.union(week, 0, span);
            if r <= min || r <= bar.threshold {
                continue;
            }
            // Reach counts everything, purposed or not, against baselines that do too; the
            // subjects under a purpose are named so the tickets can be checked. The reach is
            // an estimate (about 6.5% standard error): what stands out by more than twice
            // that without a purpose, twice over, is high.
            let purposed = self.purposed(week, span as i64);
            let plain = r.saturating_sub(purposed).saturating_sub(r * 13 / 100);
            let sev = if plain > bar.threshold.saturating_mul(2) {
                Severity::High
            } else {
                Severity::Medium
            };
            let off = cx.cfg.offset_ms();
            let hit = Hit {
                rule,
                sev,
                entity: f.actor,
                win_start: week * 7 * DAY - off,
                win_len: 7 * DAY,
                incident: IncidentOf::Actor,
                finding: Finding::Reach {
                    days,
                    subjects: r,
                    own: bar.own,
                    peer: bar.peer,
                    threshold: bar.threshold,
                    purposed,
                },
            };
            cx.raise(hit);
        }
    }

    fn close_day(&mut self, cx: &mut Cx<'_, '_, '_>) {
        let Some(w) = self.weeks.as_deref() else {
            return;
        };
        let cfg = cx.cfg;
        let q = cfg.baseline_quantile;
        let day = cx.day;
        // The 90-day reach and the own baseline (reach in the 30 days before) move slowly:
        // recomputed when a week ends.
        let week = day.div_euclid(7);
        let week_ends = (day + 1).div_euclid(7) != week;
        let history = day - cx.first_day + 1;
        let r30 = w.union(week, 0, 5);
        if week_ends {
            self.prev30 = (history >= 70).then(|| w.union(week, 5, 5));
        }
        let actor = cx.f.actor;
        let min_peers = cfg.min_peers as usize;
        let own_day = if cx.service && cx.active_days >= cfg.min_history_days {
            cx.normal_total
        } else {
            None
        };
        let role = cx.roles.entry(cx.group).or_default();
        if history >= 35 {
            role.reach30
                .push(actor, u32::try_from(r30).unwrap_or(u32::MAX));
        }
        if history >= 91 && week_ends {
            let r90 = w.union(week, 0, WEEKS);
            role.reach90
                .push(actor, u32::try_from(r90).unwrap_or(u32::MAX));
        }
        // Baselines: the actor's own reach over the 30 days before (with 70 days of history;
        // a shorter own baseline would already contain a slow theft), and the peers' reach
        // (or, until peers have 35 days of history, their normal day times the window).
        // A service account is unlike its peers (each does one job): until it has 70 days,
        // its own normal day times the window stands in for its own reach.
        let role_day = role
            .totals
            .quantile_without(actor, q, min_peers * 2)
            .map(u64::from);
        let ring30 = role
            .reach30
            .quantile_without(actor, q, min_peers)
            .map(u64::from);
        let ring90 = role
            .reach90
            .quantile_without(actor, q, min_peers)
            .map(u64::from);
        let own30 = self.prev30.or(own_day.map(|d| d.saturating_mul(30)));
        let own90 = self
            .prev30
            .map(|p| p.saturating_mul(3))
            .or(own_day.map(|d| d.saturating_mul(90)));
        let peer30 = ring30.or(role_day.map(|d| d.saturating_mul(30)));
        let peer90 = ring90
            .or(ring30.map(|r| r.saturating_mul(3)))
            .or(role_day.map(|d| d.saturating_mul(90)));
        let bar = |min: u64, own: Option<u64>, peer: Option<u64>| {
            if own.is_none() && peer.is_none() {
                return None;
            }
            let mut thr = min as f64;
            if let Some(o) = own {
                thr = thr.max(o as f64 * cfg.reach_own_factor);
            }
            if let Some(p) = peer {
                thr = thr.max(p as f64 * cfg.reach_peer_factor);
            }
            Some(ReachBar {
                threshold: thr.round() as u64,
                own,
                peer,
            })
        };
        self.bar30 = bar(cfg.reach30_min_subjects, own30, peer30);
        self.bar90 = bar(cfg.reach90_min_subjects, own90, peer90);
    }
}

// ---------------------------------------------------------------------------------------
// Enumeration.

/// Today's steps between subject ids.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(super) struct EnumDay {
    steps: u32,
    hits: u32,
    score: f32,
    total: f32,
    walked: bool,
}

/// Enumeration: the last subject ids seen, today's steps, and the days it walked before.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Enumeration {
    /// The last subject ids seen (prefix hash, number), a ring of `RECENT_SEQ`.
    recent_seq: [(u32, u64); RECENT_SEQ],
    pub(super) recent_len: u8,
    recent_next: u8,
    today: EnumDay,
    days: u32,
}

impl Detector for Enumeration {
    fn observe(&mut self, cx: &mut Cx<'_, '_, '_>) {
        let f = cx.f;
        let first = f.seq_first;
        if f.processed == 0 || !first.is_some() {
            return;
        }
        let len = usize::from(self.recent_len).min(RECENT_SEQ);
        let recent = &self.recent_seq[..len];
        let repeat = recent
            .iter()
            .any(|&(p, n)| p == first.prefix && n == first.num);
        let d = &mut self.today;
        let mut changed = false;
        if !repeat {
            let hit = recent
                .iter()
                .any(|&(p, n)| SeqId { prefix: p, num: n }.steps_to(first));
            d.steps += 1;
            d.hits += u32::from(hit);
            d.score = d.score * 0.95 + f32::from(u8::from(hit));
            d.total = d.total * 0.95 + 1.0;
            changed = true;
        }
        if !f.is_bulk_action() && f.inner_steps > 0 {
            d.steps = d.steps.saturating_add(f.inner_steps);
            d.hits = d.hits.saturating_add(f.inner_seq);
            let share = f.inner_seq as f32 / f.inner_steps as f32;
            let w = (f.inner_steps as f32).min(20.0);
            let keep = 0.95f32.powf(w);
            d.score = d.score * keep + share * (1.0 - keep) / 0.05;
            d.total = d.total * keep + (1.0 - keep) / 0.05;
            changed = true;
        }
        for s in [first, f.seq_last] {
            let len = usize::from(self.recent_len).min(RECENT_SEQ);
            if s.is_some()
                && !self.recent_seq[..len]
                    .iter()
                    .any(|&(p, n)| p == s.prefix && n == s.num)
            {
                let at = usize::from(self.recent_next) % RECENT_SEQ;
                self.recent_seq[at] = (s.prefix, s.num);
                self.recent_next = ((at + 1) % RECENT_SEQ) as u8;
                self.recent_len = (len + 1).min(RECENT_SEQ) as u8;
            }
        }
        let d = &mut self.today;
        if !changed || d.hits < cx.cfg.enumeration_min_steps || d.total <= 0.0 {
            return;
        }
        if f64::from(d.score / d.total) < cx.cfg.enumeration_min_ratio {
            return;
        }
        d.walked = true;
        let sev = match self.days {
            0 => Severity::High,
            1 => Severity::Medium,
            _ => return, // it walks ids most days: that is its normal work
        };
        let finding = Finding::Enumeration {
            hits: d.hits,
            steps: d.steps,
            days_before: self.days,
        };
        let hit = cx.day_hit(Rule::Enumeration, sev, finding);
        cx.raise(hit);
    }

    fn close_day(&mut self, _cx: &mut Cx<'_, '_, '_>) {
        if std::mem::take(&mut self.today).walked {
            self.days += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Bulk without purpose.

/// Sizes of the actor's exports, downloads and prints without a purpose that did not alert
/// high, and the normal size as computed on `normal_day`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Bulk {
    sizes: Ring,
    normal: Option<u64>,
    normal_day: i64,
}

impl Bulk {
    pub(super) fn new() -> Bulk {
        Bulk {
            sizes: Ring::new(32),
            ..Bulk::default()
        }
    }
    pub(super) fn heap_bytes(&self) -> usize {
        self.sizes.heap_bytes()
    }
}

impl Detector for Bulk {
    /// An export, download or print without a purpose, judged against the sizes the actor
    /// and its peers normally move that way (a daily route print is work; a first customer
    /// list download is not).
    fn observe(&mut self, cx: &mut Cx<'_, '_, '_>) {
        let f = cx.f;
        if f.processed == 0 || !f.is_bulk_action() || f.has_purpose || f.failed {
            return;
        }
        let cfg = cx.cfg;
        let q = cfg.baseline_quantile;
        let (actor, day, rec_flags) = (f.actor, cx.day, cx.rec_flags);
        let role = cx.roles.entry(cx.group).or_default();
        // The normal size is recomputed once a day (quantiles are not free), or while unknown.
        if self.normal_day != day || self.normal.is_none() {
            let own = (self.sizes.len() >= 5)
                .then(|| self.sizes.quantile(q))
                .flatten()
                .map(u64::from);
            let peer = role.bulk.quantile_without(actor, q, 10).map(u64::from);
            self.normal = own.max(peer);
            self.normal_day = day;
        }
        let normal = self.normal;
        let n = f.processed;
        let size = u32::try_from(n).unwrap_or(u32::MAX);
        if normal.is_some_and(|m| n <= m.max(1).saturating_mul(3)) {
            self.sizes.push(size);
            role.bulk.push(actor, size);
            return;
        }
        let high_at = cfg
            .bulk_high_subjects
            .max(normal.map_or(0, |m| m.saturating_mul(10)));
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
            self.sizes.push(size);
            role.bulk.push(actor, size);
        }
        let hit = cx.day_hit(
            Rule::BulkWithoutPurpose,
            sev,
            Finding::Bulk {
                subjects: n,
                normal,
            },
        );
        cx.raise(hit);
    }
}

// ---------------------------------------------------------------------------------------
// Unusual data for the role.

/// Days with a field before it is the actor's own routine (a new duty), alerted or not.
const DATA_OWN_DAYS: u8 = 5;
/// A field read on fewer than this per mille of the role's member-days is rare for the role.
const DATA_RARE_PER_MILLE: u64 = 10;
/// Member-days (over at least `DATA_ROLE_SPAN` days) before a role's fields are known.
const DATA_ROLE_DAYS: u32 = 50;
const DATA_ROLE_SPAN: i64 = 5;

/// Today's reads of field categories rare for the role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct DataDay {
    /// Which bits are rare for the role today (computed on the first record that reads any).
    rare: Option<u32>,
    /// Rare fields read today, and the distinct subjects whose data they were.
    read: u32,
    subj: Distinct,
    unlisted: Unlisted,
    /// A high alert today: the day's fields are not learned as the actor's routine.
    high: bool,
}

/// Unusual data for the role: the days the actor has read each field category, and today.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct RoleData {
    own_days: [u8; FIELD_NAMES.len()],
    today: DataDay,
}

impl RoleData {
    pub(super) fn heap_bytes(&self) -> usize {
        self.today.subj.heap_bytes()
    }
    pub(super) fn is_sound(&self) -> bool {
        self.today.subj.is_sound()
    }

    /// Subjects for a medium and a high alert by a field's weight (see RULES.md): sensitive
    /// information and unique identifiers from the first subject, payment from 10. Contact
    /// details and orders (weight 1) are every role's daily bread and are not judged.
    fn bars(weight: u8) -> (u64, Option<u64>) {
        match weight {
            3 => (1, Some(20)),
            2 => (10, Some(100)),
            _ => (100, None),
        }
    }
}

impl Detector for RoleData {
    fn observe(&mut self, cx: &mut Cx<'_, '_, '_>) {
        let f = cx.f;
        if f.fields == 0 || f.processed == 0 || f.failed {
            return;
        }
        let rare = match self.today.rare {
            Some(r) => r,
            None => {
                let own = &self.own_days;
                let members = cx.ix.groups.get(&cx.group).map_or(0, Vec::len);
                let r = match cx.roles.get(&cx.group) {
                    Some(role)
                        if members > cx.cfg.min_peers as usize
                            && role.field_total >= DATA_ROLE_DAYS
                            && role
                                .first_day
                                .is_some_and(|d| role.last_day - d >= DATA_ROLE_SPAN) =>
                    {
                        let total = u64::from(role.field_total);
                        (0..FIELD_NAMES.len())
                            .filter(|&i| {
                                field_weight(1 << i) >= 2
                                    && u64::from(role.field_days[i]) * 1000
                                        < total * DATA_RARE_PER_MILLE
                                    && own[i] < DATA_OWN_DAYS
                            })
                            .fold(0u32, |m, i| m | 1 << i)
                    }
                    _ => 0,
                };
                self.today.rare = Some(r);
                r
            }
        };
        let hit_bits = f.fields & rare;
        if hit_bits == 0 {
            return;
        }
        let d = &mut self.today;
        d.read |= hit_bits;
        for &s in f.subjects() {
            d.subj.insert(s);
        }
        d.unlisted.add(f.resource, f.unlisted());
        let n = d.subj.estimate().saturating_add(d.unlisted.total());
        let weight = (0..32)
            .filter(|i| d.read & (1 << i) != 0)
            .map(|i| field_weight(1 << i))
            .max()
            .unwrap_or(1);
        let (medium, high) = RoleData::bars(weight);
        if n < medium {
            return;
        }
        let sev = if high.is_some_and(|h| n >= h) {
            Severity::High
        } else {
            Severity::Medium
        };
        if sev == Severity::High {
            d.high = true;
        }
        let role = cx.roles.get(&cx.group);
        let finding = Finding::RoleData {
            fields: d.read,
            subjects: n,
            role_days: role.map_or(0, |r| r.field_total),
            peer_days: role.map_or(0, |r| {
                (0..FIELD_NAMES.len())
                    .filter(|i| d.read & (1 << i) != 0)
                    .map(|i| r.field_days[i])
                    .max()
                    .unwrap_or(0)
            }),
            weight,
        };
        let hit = cx.day_hit(Rule::UnusualDataForRole, sev, finding);
        cx.raise(hit);
    }

    fn close_day(&mut self, cx: &mut Cx<'_, '_, '_>) {
        let day = std::mem::take(&mut self.today);
        let fields = cx.today.fields;
        // The actor's own days with each field (a new duty becomes routine after a few days;
        // a day raised high is not learned). The role learns every member's day: one member's
        // reads are a small share of the role's member-days.
        for i in 0..FIELD_NAMES.len() {
            if fields & (1 << i) != 0 && !(day.high && day.read & (1 << i) != 0) {
                self.own_days[i] = self.own_days[i].saturating_add(1);
            }
        }
        let role = cx.role();
        for i in 0..FIELD_NAMES.len() {
            if fields & (1 << i) != 0 {
                role.field_days[i] = role.field_days[i].saturating_add(1);
            }
        }
        role.field_total = role.field_total.saturating_add(1);
        if role.field_total >= 100_000 {
            role.field_days.iter_mut().for_each(|v| *v /= 2);
            role.field_total /= 2;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Working hours (context for the other detectors and `off_hours`).

/// Working hours (home-time hour of day): days seen, and days flagged while learning.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Hours {
    days: [u8; 24],
    probation: [u8; 24],
    total: u16,
}

impl Hours {
    /// Learns the closed day's hours: an hour counts once it is seen unflagged, or flagged on
    /// enough days; the role counts every hour worked.
    fn close_day(&mut self, cfg: &DetectConfig, today: &Today, role: &mut RoleStats, day: i64) {
        for h in 0..24 {
            if today.hours_mask & (1 << h) == 0 {
                continue;
            }
            role.hour_days[h] = role.hour_days[h].saturating_add(1);
            if today.flagged_hours & (1 << h) != 0 {
                self.probation[h] = self.probation[h].saturating_add(1);
                if u32::from(self.probation[h]) < cfg.off_hours_learn_days {
                    continue;
                }
            }
            self.days[h] = self.days[h].saturating_add(1);
        }
        self.total += 1;
        if self.total >= 128 {
            self.days.iter_mut().for_each(|v| *v /= 2);
            self.total /= 2;
        }
        role.total_days += 1;
        role.first_day = Some(role.first_day.map_or(day, |d| d.min(day)));
        role.last_day = role.last_day.max(day);
        if role.total_days >= 100_000 {
            role.hour_days.iter_mut().for_each(|v| *v /= 2);
            role.total_days /= 2;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The actor's record.

/// Everyone but customers: origin, hours, volume, reach, enumeration, bulk, failed logins.
#[allow(clippy::too_many_arguments)]
pub(super) fn actor_checks(
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
    let actor = Actor {
        p,
        place,
        foreign,
        group,
        service,
        day,
        hour,
    };
    actor_state_checks(cfg, home, ix, &actor, f, st, em, &mut a);
    match st.actors.get_mut(&f.actor) {
        Some(slot) => *slot = Some(a),
        None => {
            st.actors.insert(f.actor, Some(a));
        }
    }
}

/// Who the actor is for this record, and when and where the record is.
pub(super) struct Actor<'r> {
    p: Option<&'r PInfo>,
    place: Option<Place>,
    foreign: bool,
    group: u64,
    service: bool,
    /// Home-time day and hour numbers of the record.
    day: i64,
    hour: i64,
}

/// Closes `a`'s day: the detectors fold it into their baselines, the working hours are
/// learned, and the day's counts start afresh.
fn close_day(
    cfg: &DetectConfig,
    ix: &RegIndex,
    who: &Actor<'_>,
    a: &mut ActorState,
    st: &mut State,
    f: &Features,
    em: &mut Emit<'_, '_>,
) {
    let today = std::mem::take(&mut a.today);
    a.active_days += 1;
    let normal_total = a.shift.normal_high(cfg.min_history_days);
    let mut cx = Cx {
        cfg,
        ix,
        f,
        group: who.group,
        service: who.service,
        active_days: a.active_days,
        first_day: a.first_day,
        day: a.day,
        today: &today,
        ctx: Context::default(),
        rec_flags: 0,
        normal_total,
        actors: &st.actors,
        roles: &mut st.roles,
        slots: &mut st.slots,
        em,
    };
    let detectors: [&mut dyn Detector; 6] = [
        &mut a.volume,
        &mut a.shift,
        &mut a.reach,
        &mut a.enumeration,
        &mut a.bulk,
        &mut a.data,
    ];
    for d in detectors {
        d.close_day(&mut cx);
    }
    let role = st.roles.entry(who.group).or_default();
    a.hours.close_day(cfg, &today, role, a.day);
    a.prev_day = a.day;
    a.prev_total = u32::try_from(today.total()).unwrap_or(u32::MAX);
}

/// The checks of [`actor_checks`] that use the actor's state `a`.
#[allow(clippy::too_many_arguments)]
fn actor_state_checks(
    cfg: &DetectConfig,
    home: &[[u8; 2]],
    ix: &RegIndex,
    who: &Actor<'_>,
    f: &Features,
    st: &mut State,
    em: &mut Emit<'_, '_>,
    a: &mut ActorState,
) {
    let off = cfg.offset_ms();
    let t = f.time_ms;
    let (p, place, foreign, service, day) = (who.p, who.place, who.foreign, who.service, who.day);
    a.group = who.group;
    a.last_ms = a.last_ms.max(t);
    if day > a.day {
        close_day(cfg, ix, who, a, st, f, em);
        a.day = day;
        a.hour = who.hour;
    } else if who.hour > a.hour {
        a.today.max_hour = a.today.busiest_hour();
        a.today.hour = HourCounts::default();
        a.hour = who.hour;
    }
    let hod = (t + off).div_euclid(HOUR).rem_euclid(24) as usize;
    a.today.hours_mask |= 1 << hod;

    // Context: where from, and when.
    let mut rec_flags = 0u8;
    if foreign {
        rec_flags |= CTX_FOREIGN;
        if let Some(pl) = place {
            if a.today.foreign_cc == [0; 2] {
                a.today.foreign_cc = pl.country;
            } else if a.today.foreign_cc != pl.country {
                a.today.foreign_several = true;
            }
        }
    }
    let mut unusual_net = None;
    if let Some(ip) = f.src_ip {
        if !network_usual(cfg, &mut a.nets, a.active_days, p, ip, day) {
            rec_flags |= CTX_NETWORK;
            unusual_net = Some(ip);
        }
    }
    // An hour never worked, and not a gap between worked hours (a lunch break is not "off").
    let (before, after) = ((hod + 23) % 24, (hod + 1) % 24);
    let off_hours = if a.active_days >= cfg.off_hours_min_days {
        let worked = |h: usize| a.hours.days[h] > 0;
        let gap = worked(before) && worked(after);
        (!worked(hod) && !gap).then_some(false)
    } else {
        // The role's hours, once they cover at least three days and twenty member-days.
        let known =
            |r: &&RoleStats| r.total_days >= 20 && r.first_day.is_some_and(|d| r.last_day - d >= 2);
        st.roles
            .get(&who.group)
            .filter(|r| known(r) && p.is_some())
            .and_then(|r| {
                let rare = |h: usize| u64::from(r.hour_days[h]) * 200 < u64::from(r.total_days);
                (rare(hod) && (rare(before) || rare(after))).then_some(true)
            })
    };
    if off_hours.is_some() {
        rec_flags |= CTX_HOURS;
        a.today.flagged_hours |= 1 << hod;
    }
    a.today.ctx_flags |= rec_flags;
    a.today.count(f, rec_flags);

    // The context escalation threshold: a multiple of a normal day.
    let ctx = if a.today.ctx_flags != 0 {
        let normal = if a.active_days >= cfg.min_history_days {
            a.volume.normal_day(cfg.min_history_days)
        } else {
            // Cold start: the peers' normal day, computed once a day.
            *a.today.peer_day.get_or_insert_with(|| {
                st.roles
                    .get(&who.group)
                    .and_then(|r| {
                        r.daily.quantile_without(
                            f.actor,
                            cfg.baseline_quantile,
                            cfg.min_peers as usize,
                        )
                    })
                    .map(u64::from)
            })
        };
        let threshold = normal
            .map_or(2 * cfg.context_min_subjects, |n| {
                (n as f64 * cfg.context_own_factor).round() as u64
            })
            .max(cfg.context_min_subjects);
        Context {
            flags: a.today.ctx_flags,
            subjects: a.today.ctx_count(),
            threshold,
        }
    } else {
        Context::default()
    };
    let ctx_hot = ctx.flags != 0 && ctx.subjects > ctx.threshold;
    // Half of the escalation threshold: a normal day's worth of subjects in an unusual context.
    let ctx_warm = ctx.flags != 0 && ctx.subjects.saturating_mul(2) > ctx.threshold;
    let bulk_now = f.processed >= cfg.bulk_min_subjects && !f.has_purpose;
    let adjust = |s: Severity| if f.failed { s.lower() } else { s };

    if foreign {
        let sev =
            if service || a.today.foreign_several || ctx_hot || (bulk_now && f.is_bulk_action()) {
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
                    several: a.today.foreign_several,
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
                    usual: a.nets.seen.iter().filter(|n| n.usual).count(),
                    registry: p.map_or(0, |p| p.nets.len()),
                    service,
                    ctx,
                },
            ),
        );
    }
    // By its own history, an hour the actor never worked is news only when its role hardly
    // works it either (03:00, not 20:00 for a team whose members sometimes stay late), or
    // when it touched subjects at that hour beyond half the context threshold.
    let role_rare_hour = || {
        st.roles.get(&who.group).is_none_or(|r| {
            r.total_days < 20 || u64::from(r.hour_days[hod]) * 200 < u64::from(r.total_days)
        })
    };
    let off_hours = off_hours.filter(|&by_peers| by_peers || ctx_warm || role_rare_hour());
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

    // The behaviour detectors.
    let normal_total = a.shift.normal_high(cfg.min_history_days);
    {
        let ActorState {
            today,
            volume,
            shift,
            reach,
            enumeration,
            bulk,
            data,
            active_days,
            first_day,
            ..
        } = a;
        let mut cx = Cx {
            cfg,
            ix,
            f,
            group: who.group,
            service,
            active_days: *active_days,
            first_day: *first_day,
            day,
            today,
            ctx,
            rec_flags,
            normal_total,
            actors: &st.actors,
            roles: &mut st.roles,
            slots: &mut st.slots,
            em,
        };
        let detectors: [&mut dyn Detector; 6] = [volume, shift, reach, enumeration, bulk, data];
        for d in detectors {
            d.observe(&mut cx);
        }
    }

    if f.failed && is_login(f.action) {
        let win_ms = i64::from(cfg.login_failed_window_minutes) * 60_000;
        let fl = &mut a.fails;
        let n = sliding_failures(win_ms, t, &mut fl.win, &mut fl.count, &mut fl.prev);
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
