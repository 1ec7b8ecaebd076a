//! Labelled scenarios: attacks (and benign surprises) mixed into the normal traffic, each with
//! a ground-truth label so a detector's output can be scored.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::engine::DayCtx;
use crate::event::{field, res, Action, ActorRef, CredRef, Event, Producer, NO_KEY};
use crate::net::{self, NetClass};
use crate::time::{MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN, MS_PER_SEC};
use crate::world::{rng_for, stream, Change, Ramp, RegCred, Role, SigningKey, Travel, World};
use crate::{SimConfig, SimError};

/// Fewest days a scenario run may have: the attacks need room to unfold.
pub const MIN_SCENARIO_DAYS: u32 = 14;

/// A named scenario to mix into the normal traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScenarioName {
    /// A departed engineer's never-revoked signing key mints unregistered tokens that read
    /// customer data in bulk from hosting abroad, for months, ramping up.
    Coupang,
    /// An active employee with valid credentials reads a few hundred extra customers a day
    /// from a home address, growing.
    SlowTheft,
    /// A stolen service-account API key walks customer ids in sequence from a new address.
    StolenApiKey,
    /// An insider exports and downloads customer lists without a purpose.
    InsiderDownload,
    /// Surprises that must not raise high-severity alerts: a planned export with a ticket, a
    /// week abroad, a new hire, the month-end peak.
    Benign,
    /// A cs-agent with a quiet history reads four, then five and six times their normal day
    /// from their desk, in working hours: only the volume gives it away.
    QuietInsider,
    /// A cs-agent reads about 45% more customers a day than their normal, under ticket-like
    /// purposes, same desk and hours, for the rest of the run: no day stands out.
    SteadyExcess,
    /// A logistics agent reads customers' payment data, which logistics never reads.
    RoleData,
    /// Every scenario above at once.
    All,
}

impl ScenarioName {
    /// Every scenario, in documentation order.
    pub const ALL: [ScenarioName; 9] = [
        ScenarioName::Coupang,
        ScenarioName::SlowTheft,
        ScenarioName::StolenApiKey,
        ScenarioName::InsiderDownload,
        ScenarioName::Benign,
        ScenarioName::QuietInsider,
        ScenarioName::SteadyExcess,
        ScenarioName::RoleData,
        ScenarioName::All,
    ];

    /// The command-line spelling (`coupang`, `slow-theft`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::Coupang => "coupang",
            ScenarioName::SlowTheft => "slow-theft",
            ScenarioName::StolenApiKey => "stolen-api-key",
            ScenarioName::InsiderDownload => "insider-download",
            ScenarioName::Benign => "benign",
            ScenarioName::QuietInsider => "quiet-insider",
            ScenarioName::SteadyExcess => "steady-excess",
            ScenarioName::RoleData => "role-data",
            ScenarioName::All => "all",
        }
    }

    fn includes(self, part: ScenarioName) -> bool {
        self == part || self == ScenarioName::All
    }
}

impl fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScenarioName {
    type Err = SimError;

    fn from_str(s: &str) -> Result<ScenarioName, SimError> {
        ScenarioName::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| SimError::UnknownScenario(s.to_string()))
    }
}

/// Whether a label marks an attack or a benign surprise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LabelKind {
    Attack,
    Benign,
}

/// One ground-truth label.
#[derive(Clone, Debug)]
pub(crate) struct Label {
    pub name: &'static str,
    pub scenario: &'static str,
    pub kind: LabelKind,
    pub description: String,
    /// The registry principal behind it.
    pub principal: Option<String>,
    /// Attacks: the least severity a detector should raise. Benign: the most it may raise.
    pub severity: &'static str,
    /// Time windows for labels that are a period rather than a set of records.
    pub windows: Vec<(i64, i64)>,
}

/// A permutation of `0..n` (affine, `a` coprime to `n`): a random-looking visiting order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Perm {
    n: u64,
    a: u64,
    b: u64,
}

impl Perm {
    fn new<R: Rng>(n: u32, rng: &mut R) -> Perm {
        let n = u64::from(n.max(1));
        let mut a = rng.gen_range(1..=n.max(2)) | 1;
        while gcd(a, n) != 1 {
            a += 2;
        }
        Perm {
            n,
            a: a % n.max(1),
            b: rng.gen_range(0..n),
        }
    }

    /// The `i`-th element (wrapping past `n`).
    pub(crate) fn at(self, i: u64) -> u32 {
        let i = i % self.n;
        ((u128::from(self.a) * u128::from(i) + u128::from(self.b)) % u128::from(self.n)) as u32
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The departed engineer's forged-token campaign.
#[derive(Clone, Debug)]
pub(crate) struct Coupang {
    pub tag: u8,
    pub key: u8,
    pub first_day: u32,
    /// New customers read each day (index: day).
    pub daily: Vec<u32>,
    /// Position in `perm` where each day starts.
    pub cursor: Vec<u64>,
    pub perm: Perm,
    pub ips: Vec<u32>,
    /// Service accounts the forged service tokens name.
    pub svc_actors: Vec<u32>,
    /// Days before departure when he legitimately signed test tokens for a service.
    pub pre_days: Vec<u32>,
    pub engineer_ip: u32,
}

/// An employee reading extra customers from home.
#[derive(Clone, Debug)]
pub(crate) struct SlowTheft {
    pub tag: u8,
    pub actor: u32,
    pub first_day: u32,
    pub daily: Vec<u32>,
    pub cursor: Vec<u64>,
    pub perm: Perm,
}

/// A stolen API key walking ids in order.
#[derive(Clone, Debug)]
pub(crate) struct StolenKey {
    pub tag: u8,
    pub service: u32,
    pub first_day: u32,
    pub nights: u32,
    pub total: u32,
    pub ip: u32,
}

/// Customer-list exports, with or without a purpose.
#[derive(Clone, Debug)]
pub(crate) struct Exports {
    pub tag: u8,
    pub actor: u32,
    pub days: Vec<u32>,
    pub size: u32,
    pub perm: Perm,
    pub purpose: Option<String>,
    pub fields: u16,
}

/// An insider's extra back-office reads: `per_day[d]` customers on day `d`, in working hours
/// from their desk, optionally under ticket-like purposes and with the given fields.
#[derive(Clone, Debug)]
pub(crate) struct ExtraReads {
    pub tag: u8,
    pub actor: u32,
    pub per_day: Vec<u32>,
    pub perm: Perm,
    pub purposed: bool,
    pub resource: u16,
    pub fields: u16,
    pub stream: u64,
}

/// Everything the chosen scenario adds to the run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    pub labels: Vec<Label>,
    pub coupang: Option<Coupang>,
    pub slow: Option<SlowTheft>,
    pub stolen: Option<StolenKey>,
    pub insider: Option<Exports>,
    pub planned_export: Option<Exports>,
    /// Extra back-office reads by an insider (quiet insider, steady excess, role data).
    pub extra: Vec<ExtraReads>,
    /// Days with the month-end peak (index: day).
    pub peak_days: Vec<bool>,
    /// Label index of the month-end peak.
    pub month_end_label: Option<usize>,
}

impl Plan {
    /// How much busier everyone is on `day`.
    pub(crate) fn peak(&self, day: u32) -> f64 {
        if self.peak_days.get(day as usize).copied().unwrap_or(false) {
            1.5
        } else {
            1.0
        }
    }

    fn label(&mut self, label: Label) -> u8 {
        self.labels.push(label);
        self.labels.len() as u8
    }
}

/// Picks a steady principal of `role` not yet cast, or hires one when none is left.
fn cast<R: Rng>(world: &mut World, role: Role, used: &mut Vec<u32>, rng: &mut R) -> u32 {
    let candidates: Vec<u32> = (0..world.principals.len() as u32)
        .filter(|&i| {
            let p = &world.principals[i as usize];
            p.role == role && p.steady() && !used.contains(&i)
        })
        .collect();
    let pick = match candidates.choose(rng) {
        Some(&i) => i,
        None => world.push_staff(role, rng),
    };
    used.push(pick);
    pick
}

/// First working day at or after `day`, within the window.
fn workday_from(world: &World, day: u32) -> u32 {
    (day..world.days)
        .find(|&d| world.is_workday(d))
        .unwrap_or(day.min(world.days.saturating_sub(1)))
}

/// Daily counts and start cursors for a campaign over `first..days`.
fn schedule<R: Rng>(
    days: u32,
    first: u32,
    cap: u64,
    skip: f64,
    rng: &mut R,
    mut count: impl FnMut(u32, u32, &mut R) -> f64,
) -> (Vec<u32>, Vec<u64>) {
    let mut daily = vec![0u32; days as usize];
    let mut cursor = vec![0u64; days as usize];
    let span = days.saturating_sub(first).max(1);
    let mut total = 0u64;
    for d in first..days {
        cursor[d as usize] = total;
        let k = d - first;
        if k > 0 && rng.gen_bool(skip) {
            continue;
        }
        let n = (count(k, span, rng).round().max(1.0) as u64).min(cap.saturating_sub(total));
        daily[d as usize] = n as u32;
        total += n;
    }
    (daily, cursor)
}

/// Chooses the actors and timeline of the configured scenario, adjusting `world` (a departure,
/// a trip, a new hire, an extra signing key).
pub(crate) fn plan<R: Rng>(
    cfg: &SimConfig,
    world: &mut World,
    rng: &mut R,
) -> Result<Plan, SimError> {
    let mut plan = Plan {
        peak_days: vec![false; cfg.days as usize],
        ..Plan::default()
    };
    let Some(name) = cfg.scenario else {
        return Ok(plan);
    };
    if cfg.days < MIN_SCENARIO_DAYS {
        return Err(SimError::Config {
            field: "days",
            reason: format!(
                "scenario {name} needs at least {MIN_SCENARIO_DAYS} days, got {}",
                cfg.days
            ),
        });
    }
    let days = cfg.days;
    let customers = u64::from(cfg.customers);
    let mut used: Vec<u32> = Vec::new();

    if name.includes(ScenarioName::Coupang) {
        let engineer = cast(world, Role::BackendEngineer, &mut used, rng);
        let departure_day = (days / 10).max(2);
        let departed_at = world.day_ms(departure_day) + 18 * MS_PER_HOUR;
        world.principals[engineer as usize].depart = Some(Change {
            day: i64::from(departure_day),
            at_ms: departed_at,
        });
        let created = world.day0_ms - 200 * MS_PER_DAY + rng.gen_range(0..MS_PER_DAY);
        let mut key_id = crate::world::key_name("kid-", created);
        if world.keys.iter().any(|k| k.id == key_id) {
            key_id.push_str("-b");
        }
        let engineer_id = world.principals[engineer as usize].id.clone();
        let key = world.push_key(SigningKey {
            id: key_id.clone(),
            owner: engineer_id.clone(),
            issuance: "registered",
            created_ms: created,
            retired_ms: None,
        });
        let gap = if departure_day + 21 + 7 <= days {
            21
        } else {
            ((days - departure_day) / 3).max(1)
        };
        let first_day = departure_day + gap;
        let base = (customers as f64 / 4000.0).max(5.0);
        let span = f64::from(days - first_day);
        let peak = (customers as f64 / span - base).max(base);
        let (daily, cursor) = schedule(days, first_day, customers, 0.12, rng, |k, span, rng| {
            let ramp = if span > 1 {
                f64::from(k) / f64::from(span - 1)
            } else {
                1.0
            };
            (base + (peak - base) * ramp) * rng.gen_range(0.8..1.2)
        });
        let mut ips = Vec::new();
        for _ in 0..8 {
            ips.push(net::random_in_class(rng, NetClass::ForeignHosting));
        }
        let svc_actors = ["svc-order", "svc-delivery"]
            .iter()
            .filter_map(|n| world.service_named(n))
            .map(|i| world.services[i].principal)
            .collect();
        let pre_days = [
            departure_day.saturating_sub(6),
            departure_day.saturating_sub(2),
        ]
        .into_iter()
        .map(|d| workday_from(world, d).min(departure_day.saturating_sub(1)))
        .collect();
        let tag = plan.label(Label {
            name: "coupang-departed-key",
            scenario: "coupang",
            kind: LabelKind::Attack,
            description: format!(
                "{engineer_id} left on day {departure_day} but his signing key {key_id} was never revoked; \
                 from day {first_day} tokens it signed, never registered, read customer profiles from \
                 hosting abroad, some naming a service account, others the customers themselves"
            ),
            principal: Some(engineer_id),
            severity: "critical",
            windows: Vec::new(),
        });
        let engineer_ip = world.principals[engineer as usize].ws_ip;
        plan.coupang = Some(Coupang {
            tag,
            key,
            first_day,
            daily,
            cursor,
            perm: Perm::new(cfg.customers, rng),
            ips,
            svc_actors,
            pre_days,
            engineer_ip,
        });
    }

    if name.includes(ScenarioName::SlowTheft) {
        let actor = cast(world, Role::CsAgent, &mut used, rng);
        let first_day = (days * 35 / 100).max(3);
        let base = (customers as f64 / 500.0).clamp(20.0, 300.0);
        let (daily, cursor) = schedule(days, first_day, customers / 2, 0.2, rng, |k, span, rng| {
            base * (1.0 + 2.0 * f64::from(k) / f64::from(span)) * rng.gen_range(0.85..1.15)
        });
        let id = world.principals[actor as usize].id.clone();
        let tag = plan.label(Label {
            name: "slow-theft",
            scenario: "slow-theft",
            kind: LabelKind::Attack,
            description: format!(
                "{id}, an active cs-agent with valid registered tokens, logs in from a home broadband \
                 address in the evenings from day {first_day} and reads a few hundred extra customers \
                 a day, growing"
            ),
            principal: Some(id),
            severity: "high",
            windows: Vec::new(),
        });
        plan.slow = Some(SlowTheft {
            tag,
            actor,
            first_day,
            daily,
            cursor,
            perm: Perm::new(cfg.customers, rng),
        });
    }

    if name.includes(ScenarioName::StolenApiKey) {
        let service = world
            .service_named("svc-notify")
            .unwrap_or(world.services.len().saturating_sub(1)) as u32;
        let first_day = days / 2;
        let nights = 3.min(days - first_day);
        let total = cfg.customers.min(30_000);
        let svc_id = world.principals[world.services[service as usize].principal as usize]
            .id
            .clone();
        let key_id = world.services[service as usize].api_key.clone();
        let tag = plan.label(Label {
            name: "stolen-api-key",
            scenario: "stolen-api-key",
            kind: LabelKind::Attack,
            description: format!(
                "the registered API key {key_id} of {svc_id} is used from a hosting address it never \
                 came from, at night from day {first_day}, walking customer ids c-{:0w$} upward",
                1,
                w = world.cust_width
            ),
            principal: Some(svc_id),
            severity: "high",
            windows: Vec::new(),
        });
        plan.stolen = Some(StolenKey {
            tag,
            service,
            first_day,
            nights,
            total,
            ip: net::random_in_class(rng, NetClass::KrHosting),
        });
    }

    if name.includes(ScenarioName::InsiderDownload) {
        let actor = cast(world, Role::Marketing, &mut used, rng);
        let start = days * 60 / 100;
        let mut export_days = Vec::new();
        let mut d = start;
        while export_days.len() < 4 && d < days {
            let w = workday_from(world, d);
            if !export_days.contains(&w) && world.is_workday(w) {
                export_days.push(w);
            }
            d = w + 3;
        }
        let size = (cfg.customers / 20).clamp(200.min(cfg.customers), 20_000);
        let id = world.principals[actor as usize].id.clone();
        let tag = plan.label(Label {
            name: "insider-download",
            scenario: "insider-download",
            kind: LabelKind::Attack,
            description: format!(
                "{id} (marketing) exports customer lists of {size} without a purpose on {} days from \
                 day {start}, and downloads each file",
                export_days.len()
            ),
            principal: Some(id),
            severity: "high",
            windows: Vec::new(),
        });
        plan.insider = Some(Exports {
            tag,
            actor,
            days: export_days,
            size,
            perm: Perm::new(cfg.customers, rng),
            purpose: None,
            fields: field::NAME
                | field::EMAIL
                | field::PHONE
                | field::ADDRESS
                | field::ORDER_HISTORY,
        });
    }

    // The normal day of a cs-agent (see `normal::person_day`): 12-28 customers at pace 1.
    let cs_normal = |world: &World, actor: u32| {
        20.0 * world.principals[actor as usize].pace * world.rates.staff_factor
    };
    if name.includes(ScenarioName::QuietInsider) {
        let actor = cast(world, Role::CsAgent, &mut used, rng);
        let first = workday_from(world, days * 55 / 100);
        let normal = cs_normal(world, actor);
        let mut per_day = vec![0u32; days as usize];
        let mut k = 0;
        for d in first..days {
            if world.is_workday(d) && k < 3 {
                // Four, five, six times the normal day: the extra on top of it.
                per_day[d as usize] = (normal * f64::from(3 + k)).round() as u32;
                k += 1;
            }
        }
        let id = world.principals[actor as usize].id.clone();
        let tag = plan.label(Label {
            name: "quiet-insider",
            scenario: "quiet-insider",
            kind: LabelKind::Attack,
            description: format!(
                "{id}, a cs-agent with a quiet history, reads four, five and six times their \
                 normal day of customers on three working days from day {first}, from their desk \
                 in working hours, without a purpose"
            ),
            principal: Some(id),
            severity: "medium",
            windows: Vec::new(),
        });
        plan.extra.push(ExtraReads {
            tag,
            actor,
            per_day,
            perm: Perm::new(cfg.customers, rng),
            purposed: false,
            resource: res::CUST_PROFILE,
            fields: field::NAME | field::PHONE | field::ADDRESS,
            stream: stream::QUIET_INSIDER,
        });
    }

    if name.includes(ScenarioName::SteadyExcess) {
        let actor = cast(world, Role::CsAgent, &mut used, rng);
        let first = workday_from(world, days * 40 / 100);
        let extra = (cs_normal(world, actor) * 0.45).round().max(5.0) as u32;
        let mut per_day = vec![0u32; days as usize];
        for d in first..days {
            if world.is_workday(d) {
                per_day[d as usize] = extra;
            }
        }
        let id = world.principals[actor as usize].id.clone();
        let tag = plan.label(Label {
            name: "steady-excess",
            scenario: "steady-excess",
            kind: LabelKind::Attack,
            description: format!(
                "{id}, a cs-agent, reads about {extra} customers a day beyond their normal from \
                 day {first} to the end, each under a ticket-like purpose, from their desk in \
                 working hours"
            ),
            principal: Some(id),
            severity: "medium",
            windows: Vec::new(),
        });
        plan.extra.push(ExtraReads {
            tag,
            actor,
            per_day,
            perm: Perm::new(cfg.customers, rng),
            purposed: true,
            resource: res::CUST_PROFILE,
            fields: field::NAME | field::PHONE | field::ADDRESS,
            stream: stream::STEADY_EXCESS,
        });
    }

    if name.includes(ScenarioName::RoleData) {
        let actor = cast(world, Role::Logistics, &mut used, rng);
        let first = workday_from(world, days * 50 / 100);
        let mut per_day = vec![0u32; days as usize];
        let mut k = 0;
        for d in first..days {
            if world.is_workday(d) && k < 5 {
                per_day[d as usize] = 60;
                k += 1;
            }
        }
        let id = world.principals[actor as usize].id.clone();
        let tag = plan.label(Label {
            name: "role-data",
            scenario: "role-data",
            kind: LabelKind::Attack,
            description: format!(
                "{id}, a logistics agent, reads the payment data of about 60 customers a day on \
                 five working days from day {first}: data logistics never reads"
            ),
            principal: Some(id),
            severity: "medium",
            windows: Vec::new(),
        });
        plan.extra.push(ExtraReads {
            tag,
            actor,
            per_day,
            perm: Perm::new(cfg.customers, rng),
            purposed: false,
            resource: res::CUST_PROFILE,
            fields: field::NAME | field::PAYMENT,
            stream: stream::ROLE_DATA,
        });
    }

    if name.includes(ScenarioName::Benign) {
        // A planned, approved export.
        let actor = cast(world, Role::Marketing, &mut used, rng);
        let day = workday_from(world, days * 45 / 100);
        let size = (cfg.customers / 4).clamp(500.min(cfg.customers), 100_000);
        let id = world.principals[actor as usize].id.clone();
        let purpose =
            "MKT-2291 Chuseok gift campaign (privacy review PRIV-0417 approved)".to_string();
        let tag = plan.label(Label {
            name: "planned-marketing-export",
            scenario: "benign",
            kind: LabelKind::Benign,
            description: format!(
                "{id} runs a planned export of {size} customers on day {day} with purpose \"{purpose}\""
            ),
            principal: Some(id),
            severity: "medium",
            windows: Vec::new(),
        });
        plan.planned_export = Some(Exports {
            tag,
            actor,
            days: vec![day],
            size,
            perm: Perm::new(cfg.customers, rng),
            purpose: Some(purpose),
            fields: field::NAME | field::EMAIL | field::PHONE,
        });

        // A week in Japan, working normally (a cs team lead visiting the Tokyo office).
        let traveller = cast(world, Role::CsAgent, &mut used, rng);
        let first_day = days * 25 / 100;
        let last_day = (first_day + 6).min(days - 1);
        let ip = net::random_in_class(rng, NetClass::ForeignConsumer);
        let id = world.principals[traveller as usize].id.clone();
        let tag = plan.label(Label {
            name: "travel-japan",
            scenario: "benign",
            kind: LabelKind::Benign,
            description: format!(
                "{id} works from Japan (one hotel address, {}) on days {first_day}..={last_day}, \
                 with the usual hours and workload",
                crate::fmt::ipv4_string(ip)
            ),
            principal: Some(id),
            severity: "medium",
            windows: Vec::new(),
        });
        world.principals[traveller as usize].travel = Some(Travel {
            first_day,
            last_day,
            ip,
            tag,
        });

        // A new hire with no history, ramping up.
        let hire = world.push_staff(Role::CsAgent, rng);
        used.push(hire);
        let join_day = (days * 40 / 100).max(1);
        let id = world.principals[hire as usize].id.clone();
        let tag = plan.label(Label {
            name: "new-hire-ramp",
            scenario: "benign",
            kind: LabelKind::Benign,
            description: format!(
                "{id} joins as a cs-agent on day {join_day} with no history and ramps up to a full \
                 workload over two weeks"
            ),
            principal: Some(id),
            severity: "medium",
            windows: Vec::new(),
        });
        let p = &mut world.principals[hire as usize];
        p.join_day = join_day;
        p.ramp = Some(Ramp {
            until_day: join_day + 14,
            tag,
        });

        // Month-end peak: the last two days of every month.
        let mut windows: Vec<(i64, i64)> = Vec::new();
        for d in 0..days {
            let ((y, m, dd), _) = world.civil(d);
            if dd + 1 >= crate::time::days_in_month(y, m) {
                plan.peak_days[d as usize] = true;
                let (s, e) = (world.day_ms(d), world.day_ms(d) + MS_PER_DAY);
                match windows.last_mut() {
                    Some(w) if w.1 == s => w.1 = e,
                    _ => windows.push((s, e)),
                }
            }
        }
        plan.labels.push(Label {
            name: "month-end-peak",
            scenario: "benign",
            kind: LabelKind::Benign,
            description:
                "on the last two days of each month customers, services and staff are all \
                          about 50% busier"
                    .into(),
            principal: None,
            severity: "medium",
            windows,
        });
        plan.month_end_label = Some(plan.labels.len() - 1);
    }
    Ok(plan)
}

/// Adds the scenario's records for the day in `ctx`.
pub(crate) fn day(world: &World, ctx: &mut DayCtx) {
    let plan = &world.plan;
    if let Some(c) = &plan.coupang {
        coupang_day(world, c, ctx);
    }
    if let Some(s) = &plan.slow {
        slow_theft_day(world, s, ctx);
    }
    if let Some(s) = &plan.stolen {
        stolen_key_day(world, s, ctx);
    }
    if let Some(x) = &plan.insider {
        exports_day(world, x, ctx, stream::INSIDER);
    }
    if let Some(x) = &plan.planned_export {
        exports_day(world, x, ctx, stream::BENIGN);
    }
    for x in &plan.extra {
        extra_reads_day(world, x, ctx);
    }
}

/// An insider's extra reads for the day in `ctx`, spread over working hours from their desk.
fn extra_reads_day(world: &World, x: &ExtraReads, ctx: &mut DayCtx) {
    let day = ctx.day;
    let n = x.per_day.get(day as usize).copied().unwrap_or(0);
    let p = &world.principals[x.actor as usize];
    if n == 0 || !crate::normal::works_on(world, x.actor, day) {
        return;
    }
    let mut rng = rng_for(world.seed, x.stream, u64::from(day), 0);
    let key = world.staff_key(day);
    // The day's token is the one normal work uses (slot 0) when they work today; a separate
    // sign-in otherwise.
    let token = World::token_number(day, x.actor, 3);
    let actor = ActorRef::Principal(x.actor);
    let login = ctx.start_ms + 9 * MS_PER_HOUR + rng.gen_range(0..20 * MS_PER_MIN);
    ctx.creds.push(RegCred {
        token,
        principal: x.actor,
        key,
        issued_ms: login,
        expires_ms: login + 12 * MS_PER_HOUR,
    });
    let from: u64 = x.per_day[..day as usize]
        .iter()
        .map(|&v| u64::from(v))
        .sum();
    let span_ms = 8 * MS_PER_HOUR;
    for i in 0..u64::from(n) {
        let t = login + (i as i64 * span_ms) / i64::from(n) + rng.gen_range(0..MS_PER_MIN);
        let cust = x.perm.at(from + i);
        let span = ctx.one(cust);
        let purpose = if x.purposed {
            let text = format!("CS-{} customer callback", rng.gen_range(10_000..99_999));
            ctx.purpose(&text)
        } else {
            0
        };
        ctx.push(
            Event::new(t, Producer::Backoffice, actor, Action::Read, x.resource)
                .ip(p.ws_ip)
                .cred(CredRef::Token(token), key)
                .subjects(span)
                .fields(x.fields)
                .purpose(purpose)
                .tag(x.tag),
        );
    }
}

/// Hour weights (Seoul time) for the overseas attacker: busiest while Seoul sleeps.
const NIGHT_OWL: [f64; 24] = [
    6.0, 7.0, 8.0, 8.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0,
    3.0, 4.0, 4.0, 5.0, 5.0,
];

fn coupang_day(world: &World, c: &Coupang, ctx: &mut DayCtx) {
    let day = ctx.day;
    let mut rng = rng_for(world.seed, stream::COUPANG, u64::from(day), 0);
    if c.pre_days.contains(&day) {
        // Before he left: a test token for a service, signed with his key, registered.
        if let Some(&svc) = c.svc_actors.first() {
            let token = World::token_number(day, svc, 15);
            let t0 = ctx.start_ms + 10 * MS_PER_HOUR + rng.gen_range(0..MS_PER_HOUR);
            ctx.creds.push(RegCred {
                token,
                principal: svc,
                key: c.key,
                issued_ms: t0 - 2 * MS_PER_MIN,
                expires_ms: t0 - 2 * MS_PER_MIN + 12 * MS_PER_HOUR,
            });
            let mut t = t0;
            for _ in 0..rng.gen_range(3..6) {
                let cust = rng.gen_range(0..world.customers);
                let span = ctx.one(cust);
                ctx.push(
                    Event::new(
                        t,
                        Producer::Mesh,
                        ActorRef::Principal(svc),
                        Action::Read,
                        res::SVC_PROFILE,
                    )
                    .ip(c.engineer_ip)
                    .cred(CredRef::Token(token), c.key)
                    .subjects(span)
                    .fields(field::NAME | field::PHONE),
                );
                t += rng.gen_range(20 * MS_PER_SEC..5 * MS_PER_MIN);
            }
        }
    }
    let n = c.daily.get(day as usize).copied().unwrap_or(0);
    if day < c.first_day || n == 0 {
        return;
    }
    let from = c.cursor[day as usize];
    let sessions = 1 + u64::from(n > 200) + u64::from(n > 1000);
    let per_session = u64::from(n).div_ceil(sessions);
    let mut seq = 0u64;
    let week = ((day - c.first_day) / 4) as usize;
    let mut done = 0u64;
    for s in 0..sessions {
        let count = per_session.min(u64::from(n) - done);
        let ip = c.ips[(week + s as usize) % c.ips.len()];
        let hour = pick_hour(&mut rng, &NIGHT_OWL);
        let mut t = ctx.start_ms + hour * MS_PER_HOUR + rng.gen_range(0..MS_PER_HOUR);
        let svc_token = CredRef::Token(World::forged_number(day, seq));
        seq += 1;
        let svc_actor = c
            .svc_actors
            .get(s as usize % c.svc_actors.len().max(1))
            .copied();
        for i in 0..count {
            let cust = c.perm.at(from + done + i);
            let span = ctx.one(cust);
            let orders = rng.gen_bool(0.7);
            let as_service = svc_actor.is_some() && rng.gen_bool(0.5);
            let (actor, cred, ua, reads): (ActorRef, CredRef, u8, [u16; 3]) = match svc_actor {
                Some(svc) if as_service => (
                    ActorRef::Principal(svc),
                    svc_token,
                    0,
                    [res::SVC_PROFILE, res::SVC_DELIVERY_ADDRESS, res::SVC_ORDERS],
                ),
                _ => {
                    let tok = CredRef::Token(World::forged_number(day, seq));
                    seq += 1;
                    (
                        ActorRef::Customer(cust),
                        tok,
                        rng.gen_range(1..4),
                        [res::ME_PROFILE, res::ME_ADDRESSES, res::ME_ORDERS],
                    )
                }
            };
            let fields = [
                field::NAME | field::EMAIL | field::PHONE,
                field::ADDRESS | field::ENTRANCE_CODE | field::DELIVERY_CONTACTS,
                field::ORDER_HISTORY,
            ];
            let reads_today = if orders { 3 } else { 2 };
            for r in 0..reads_today {
                ctx.push(
                    Event::new(t, Producer::Gateway, actor, Action::Read, reads[r])
                        .ip(ip)
                        .cred(cred, c.key)
                        .subjects(span)
                        .fields(fields[r])
                        .ua(ua)
                        .tag(c.tag),
                );
                t += rng.gen_range(300..4 * MS_PER_SEC);
            }
        }
        done += count;
    }
}

fn slow_theft_day(world: &World, s: &SlowTheft, ctx: &mut DayCtx) {
    let day = ctx.day;
    let n = s.daily.get(day as usize).copied().unwrap_or(0);
    if day < s.first_day || n == 0 || !world.principals[s.actor as usize].present_on(day) {
        return;
    }
    let mut rng = rng_for(world.seed, stream::SLOW_THEFT, u64::from(day), 0);
    let p = &world.principals[s.actor as usize];
    let key = world.staff_key(day);
    let token = World::token_number(day, s.actor, 2);
    let actor = ActorRef::Principal(s.actor);
    let mut t = ctx.start_ms + 20 * MS_PER_HOUR + rng.gen_range(0..90 * MS_PER_MIN);
    ctx.creds.push(RegCred {
        token,
        principal: s.actor,
        key,
        issued_ms: t,
        expires_ms: t + 12 * MS_PER_HOUR,
    });
    ctx.push(
        Event::new(t, Producer::Idp, actor, Action::Login, res::IDP_LOGIN)
            .ip(p.home_ip)
            .cred(CredRef::Token(token), key)
            .tag(s.tag),
    );
    let from = s.cursor[day as usize];
    for i in 0..u64::from(n) {
        t += rng.gen_range(4 * MS_PER_SEC..30 * MS_PER_SEC);
        let cust = s.perm.at(from + i);
        let span = ctx.one(cust);
        let base = |t: i64, action: Action, resource: u16| {
            Event::new(t, Producer::Backoffice, actor, action, resource)
                .ip(p.home_ip)
                .cred(CredRef::Token(token), key)
                .subjects(span)
                .tag(s.tag)
        };
        ctx.push(base(t, Action::Search, res::CUST_SEARCH).fields(field::NAME | field::PHONE));
        t += rng.gen_range(2 * MS_PER_SEC..15 * MS_PER_SEC);
        ctx.push(
            base(t, Action::Read, res::CUST_PROFILE)
                .fields(field::NAME | field::PHONE | field::ADDRESS),
        );
        if rng.gen_bool(0.6) {
            t += rng.gen_range(2 * MS_PER_SEC..15 * MS_PER_SEC);
            ctx.push(base(t, Action::Read, res::CUST_ORDERS).fields(field::ORDER_HISTORY));
        }
    }
}

fn stolen_key_day(world: &World, s: &StolenKey, ctx: &mut DayCtx) {
    let day = ctx.day;
    if day < s.first_day || day >= s.first_day + s.nights {
        return;
    }
    let mut rng = rng_for(world.seed, stream::STOLEN_KEY, u64::from(day), 0);
    let night = day - s.first_day;
    let per_night = s.total.div_ceil(s.nights.max(1));
    let from = night * per_night;
    let to = (from + per_night).min(s.total);
    if from >= to {
        return;
    }
    let svc = &world.services[s.service as usize];
    let window = 4 * MS_PER_HOUR;
    let mean_gap = (window / i64::from(to - from)).max(20);
    let mut t = ctx.start_ms + MS_PER_HOUR + rng.gen_range(0..30 * MS_PER_MIN);
    for cust in from..to {
        let span = ctx.one(cust);
        ctx.push(
            Event::new(
                t,
                Producer::Gateway,
                ActorRef::Principal(svc.principal),
                Action::Read,
                res::SVC_PROFILE,
            )
            .ip(s.ip)
            .cred(CredRef::ApiKey(s.service), NO_KEY)
            .subjects(span)
            .fields(field::NAME | field::EMAIL | field::PHONE | field::ADDRESS)
            .tag(s.tag),
        );
        t += rng.gen_range(mean_gap / 2..mean_gap * 3 / 2 + 1);
    }
}

fn exports_day(world: &World, x: &Exports, ctx: &mut DayCtx, which: u64) {
    let day = ctx.day;
    let Some(k) = x.days.iter().position(|&d| d == day) else {
        return;
    };
    let p = &world.principals[x.actor as usize];
    if !p.present_on(day) {
        return;
    }
    let mut rng = rng_for(world.seed, which, u64::from(day), 0);
    let key = world.staff_key(day);
    let token = World::token_number(day, x.actor, 1);
    let actor = ActorRef::Principal(x.actor);
    let mut t = ctx.start_ms + 11 * MS_PER_HOUR + rng.gen_range(0..4 * MS_PER_HOUR);
    // A fresh sign-in just before (screen lock): an ordinary, unlabelled login.
    let login = t - rng.gen_range(2 * MS_PER_MIN..20 * MS_PER_MIN);
    ctx.creds.push(RegCred {
        token,
        principal: x.actor,
        key,
        issued_ms: login,
        expires_ms: login + 12 * MS_PER_HOUR,
    });
    ctx.push(
        Event::new(login, Producer::Idp, actor, Action::Login, res::IDP_LOGIN)
            .ip(p.egress_ip)
            .cred(CredRef::Token(token), key),
    );
    let n = x.size.min(world.customers);
    let start = k as u64 * u64::from(n);
    let span = ctx.subjects_from((0..u64::from(n)).map(|i| x.perm.at(start + i)));
    let purpose = match &x.purpose {
        Some(s) => ctx.purpose(s),
        None => 0,
    };
    ctx.push(
        Event::new(
            t,
            Producer::Backoffice,
            actor,
            Action::Export,
            res::EXPORT_CUSTOMERS,
        )
        .ip(p.ws_ip)
        .cred(CredRef::Token(token), key)
        .subjects(span)
        .count(n)
        .fields(x.fields)
        .purpose(purpose)
        .tag(x.tag),
    );
    t += rng.gen_range(3 * MS_PER_MIN..20 * MS_PER_MIN);
    ctx.push(
        Event::new(
            t,
            Producer::Backoffice,
            actor,
            Action::Download,
            res::EXPORT_DOWNLOAD,
        )
        .ip(p.ws_ip)
        .cred(CredRef::Token(token), key)
        .count(n)
        .fields(x.fields)
        .purpose(purpose)
        .tag(x.tag),
    );
}

/// An hour of the day drawn from 24 weights.
pub(crate) fn pick_hour<R: Rng>(rng: &mut R, weights: &[f64; 24]) -> i64 {
    let total: f64 = weights.iter().sum();
    let mut x = rng.gen_range(0.0..total);
    for (h, w) in weights.iter().enumerate() {
        if x < *w {
            return h as i64;
        }
        x -= w;
    }
    23
}
