//! The simulated organisation: principals (employees, contractors, service accounts), their
//! offices and habits, signing keys, API keys, and the traffic rates that size a day.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::event::CredRef;
use crate::fmt::{decimal_width, mix64};
use crate::net::{
    self, Cidr, NetClass, DAEGU_CS, DATACENTER, INCHEON_FC, OFFICES, PANGYO_TECH, SEOUL_HQ,
};
use crate::scenario::{self, Plan};
use crate::time::{civil_from_days, weekday, MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN};
use crate::{SimConfig, SimError};

/// Independent random streams: each part of the simulation draws from its own, so adding a
/// scenario does not change the normal traffic around it.
pub(crate) mod stream {
    pub(crate) const POPULATION: u64 = 1;
    pub(crate) const PLAN: u64 = 2;
    pub(crate) const CUSTOMERS: u64 = 3;
    pub(crate) const SERVICES: u64 = 4;
    pub(crate) const EMPLOYEE: u64 = 5;
    pub(crate) const COUPANG: u64 = 10;
    pub(crate) const SLOW_THEFT: u64 = 11;
    pub(crate) const STOLEN_KEY: u64 = 12;
    pub(crate) const INSIDER: u64 = 13;
    pub(crate) const BENIGN: u64 = 14;
    pub(crate) const QUIET_INSIDER: u64 = 15;
    pub(crate) const STEADY_EXCESS: u64 = 16;
    pub(crate) const ROLE_DATA: u64 = 17;
}

/// A random generator for one (stream, a, b) triple of a run.
pub(crate) fn rng_for(seed: u64, stream: u64, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix64(seed ^ mix64(stream ^ mix64(a ^ mix64(b)))))
}

/// Peer group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    CsAgent,
    Logistics,
    Marketing,
    BackendEngineer,
    Service,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::CsAgent => "cs-agent",
            Role::Logistics => "logistics",
            Role::Marketing => "marketing",
            Role::BackendEngineer => "backend-engineer",
            Role::Service => "service",
        }
    }
}

/// The registry's principal `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrincipalKind {
    Employee,
    Contractor,
    Service,
}

impl PrincipalKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PrincipalKind::Employee => "employee",
            PrincipalKind::Contractor => "contractor",
            PrincipalKind::Service => "service",
        }
    }
}

/// A status change at a known instant; `day` is the simulation day it falls on (negative:
/// before the window).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Change {
    pub day: i64,
    pub at_ms: i64,
}

/// A week abroad.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Travel {
    pub first_day: u32,
    pub last_day: u32,
    pub ip: u32,
    pub tag: u8,
}

/// A new hire's first weeks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ramp {
    pub until_day: u32,
    pub tag: u8,
}

/// A registered account.
#[derive(Clone, Debug)]
pub(crate) struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    pub role: Role,
    /// Workstation address on the office's internal network.
    pub ws_ip: u32,
    /// Office egress address the identity provider sees.
    pub egress_ip: u32,
    /// Home broadband address.
    pub home_ip: u32,
    pub networks: Vec<Cidr>,
    /// First day this person works (0 for everyone present at the start).
    pub join_day: u32,
    pub depart: Option<Change>,
    pub suspend: Option<Change>,
    /// Works some weekends.
    pub weekend_worker: bool,
    /// How busy this person is relative to the role's average.
    pub pace: f64,
    pub travel: Option<Travel>,
    pub ramp: Option<Ramp>,
    /// Index into `World::services` for service accounts.
    pub service: Option<usize>,
}

impl Principal {
    /// Whether the principal still works on `day` (joined, not departed or suspended).
    pub(crate) fn present_on(&self, day: u32) -> bool {
        let d = i64::from(day);
        day >= self.join_day
            && self.depart.is_none_or(|c| d < c.day)
            && self.suspend.is_none_or(|c| d < c.day)
    }

    /// Present for the whole window with no status change: safe to cast in a scenario.
    pub(crate) fn steady(&self) -> bool {
        self.join_day == 0
            && self.depart.is_none()
            && self.suspend.is_none()
            && self.travel.is_none()
    }
}

/// What a service account does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServiceKind {
    Order,
    Delivery,
    Notify,
    Payment,
    Search,
    Recommend,
    CsBot,
    Fraud,
    Returns,
    Review,
    Batch,
}

const SERVICE_TABLE: [(&str, ServiceKind, f64); 10] = [
    ("svc-order", ServiceKind::Order, 30.0),
    ("svc-delivery", ServiceKind::Delivery, 20.0),
    ("svc-notify", ServiceKind::Notify, 12.0),
    ("svc-payment", ServiceKind::Payment, 12.0),
    ("svc-search", ServiceKind::Search, 8.0),
    ("svc-recommend", ServiceKind::Recommend, 8.0),
    ("svc-csbot", ServiceKind::CsBot, 4.0),
    ("svc-fraud", ServiceKind::Fraud, 3.0),
    ("svc-returns", ServiceKind::Returns, 2.0),
    ("svc-review", ServiceKind::Review, 1.0),
];

/// A service account and its API key.
#[derive(Clone, Debug)]
pub(crate) struct Service {
    pub principal: u32,
    pub kind: ServiceKind,
    pub weight: f64,
    pub subnet: Cidr,
    pub api_key: String,
    pub key_issued_ms: i64,
    pub key_expires_ms: i64,
}

/// A signing key in the registry.
#[derive(Clone, Debug)]
pub(crate) struct SigningKey {
    pub id: String,
    pub owner: String,
    pub issuance: &'static str,
    pub created_ms: i64,
    pub retired_ms: Option<i64>,
}

/// A registered credential issued during the run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RegCred {
    /// `CredRef::Token` number.
    pub token: u64,
    pub principal: u32,
    pub key: u8,
    pub issued_ms: i64,
    pub expires_ms: i64,
}

/// Per-day volume knobs derived from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rates {
    /// Customer app sessions on an average day.
    pub sessions_per_day: f64,
    /// Service-account records on an average day.
    pub service_records_per_day: f64,
    /// Multiplier on staff workload (1.0 unless the volume target is below the staff's own).
    pub staff_factor: f64,
}

/// Records in an average customer session (login 0.3 + 2.5 actions + logout 0.1).
pub(crate) const RECORDS_PER_SESSION: f64 = 2.9;

/// The whole simulated organisation.
#[derive(Debug)]
pub(crate) struct World {
    pub seed: u64,
    pub days: u32,
    /// Seoul midnight starting day 0.
    pub day0_ms: i64,
    pub customers: u32,
    /// Digits in a customer number (`c-0000417` has 7).
    pub cust_width: usize,
    pub principals: Vec<Principal>,
    pub services: Vec<Service>,
    pub keys: Vec<SigningKey>,
    /// Index of the customer-token key.
    pub cust_key: u8,
    /// Employee-token keys before and after the mid-window rotation.
    pub staff_key_before: u8,
    pub staff_key_after: u8,
    pub rotation_day: u32,
    pub rates: Rates,
    pub plan: Plan,
    pub token_salt: u64,
    pub session_salt: u64,
    pub id_salt: u64,
}

impl World {
    /// Builds the organisation for a validated configuration.
    pub(crate) fn build(cfg: &SimConfig) -> Result<World, SimError> {
        let mut rng = rng_for(cfg.seed, stream::POPULATION, 0, 0);
        let day0_ms = (cfg.start.kst_day_number()) * MS_PER_DAY - crate::time::KST_OFFSET_MS;
        let mut world = World {
            seed: cfg.seed,
            days: cfg.days,
            day0_ms,
            customers: cfg.customers,
            cust_width: decimal_width(u64::from(cfg.customers)).max(7),
            principals: Vec::new(),
            services: Vec::new(),
            keys: Vec::new(),
            cust_key: 0,
            staff_key_before: 0,
            staff_key_after: 0,
            rotation_day: cfg.days / 2,
            rates: Rates {
                sessions_per_day: 0.0,
                service_records_per_day: 0.0,
                staff_factor: 1.0,
            },
            plan: Plan::default(),
            token_salt: mix64(cfg.seed ^ 0x746f_6b65_6e5f_7361),
            session_salt: mix64(cfg.seed ^ 0x7365_7373),
            id_salt: mix64(cfg.seed ^ 0x6964_735f_7361_6c74),
        };
        world.build_staff(cfg, &mut rng);
        world.build_services(cfg, &mut rng);
        world.build_keys();
        let mut plan_rng = rng_for(cfg.seed, stream::PLAN, 0, 0);
        world.plan = scenario::plan(cfg, &mut world, &mut plan_rng)?;
        world.rates = world.compute_rates(cfg);
        Ok(world)
    }

    fn build_staff(&mut self, cfg: &SimConfig, rng: &mut ChaCha8Rng) {
        let n = cfg.employees as usize;
        let marketing = ((n as f64 * 0.10).round() as usize).max(2);
        let engineers = ((n as f64 * 0.20).round() as usize).max(2);
        let logistics = ((n as f64 * 0.25).round() as usize).max(1);
        let cs = n.saturating_sub(marketing + engineers + logistics).max(1);
        let mut roles = Vec::with_capacity(n);
        roles.extend(std::iter::repeat_n(Role::CsAgent, cs));
        roles.extend(std::iter::repeat_n(Role::Logistics, logistics));
        roles.extend(std::iter::repeat_n(Role::Marketing, marketing));
        roles.extend(std::iter::repeat_n(Role::BackendEngineer, engineers));
        roles.truncate(n.max(4));
        roles.shuffle(rng);
        let mut emp_no = rng.gen_range(1..40u64);
        let mut ctr_no = rng.gen_range(1..20u64);
        for role in roles {
            let contractor = matches!(role, Role::CsAgent | Role::Logistics) && rng.gen_bool(0.3);
            let id = if contractor {
                ctr_no += rng.gen_range(1..4);
                staff_id("ctr", ctr_no)
            } else {
                emp_no += rng.gen_range(1..4);
                staff_id("emp", emp_no)
            };
            let kind = if contractor {
                PrincipalKind::Contractor
            } else {
                PrincipalKind::Employee
            };
            let p = new_staff(id, kind, role, rng);
            self.principals.push(p);
        }
        // A few people leave or are suspended during the window; their traffic stops.
        let leavers = n / 50;
        if cfg.days >= 10 {
            for _ in 0..leavers {
                let i = rng.gen_range(0..self.principals.len());
                let day = rng.gen_range(cfg.days / 5..cfg.days * 9 / 10);
                let p = &mut self.principals[i];
                if p.depart.is_none() {
                    p.depart = Some(Change {
                        day: i64::from(day),
                        at_ms: self_day_ms(cfg, day) + 18 * MS_PER_HOUR,
                    });
                }
            }
            if n >= 30 {
                let contractors: Vec<usize> = (0..self.principals.len())
                    .filter(|&i| {
                        self.principals[i].kind == PrincipalKind::Contractor
                            && self.principals[i].depart.is_none()
                    })
                    .collect();
                if let Some(&i) = contractors.choose(rng) {
                    let day = rng.gen_range(cfg.days / 5..cfg.days * 9 / 10);
                    self.principals[i].suspend = Some(Change {
                        day: i64::from(day),
                        at_ms: self_day_ms(cfg, day) + 10 * MS_PER_HOUR + 30 * MS_PER_MIN,
                    });
                }
            }
        }
        // People who left before the window: in the registry, never in the traffic.
        for _ in 0..3 {
            emp_no += rng.gen_range(1..4);
            let role = [
                Role::CsAgent,
                Role::Logistics,
                Role::Marketing,
                Role::BackendEngineer,
            ][rng.gen_range(0..4)];
            let mut p = new_staff(staff_id("emp", emp_no), PrincipalKind::Employee, role, rng);
            let before = rng.gen_range(10..200i64);
            p.depart = Some(Change {
                day: -before,
                at_ms: self_day_ms(cfg, 0) - before * MS_PER_DAY + 18 * MS_PER_HOUR,
            });
            self.principals.push(p);
        }
    }

    fn build_services(&mut self, cfg: &SimConfig, rng: &mut ChaCha8Rng) {
        let start = self_day_ms(cfg, 0);
        for i in 0..cfg.service_accounts as usize {
            let (name, kind, weight) = match SERVICE_TABLE.get(i) {
                Some(&(name, kind, weight)) => (name.to_string(), kind, weight),
                None => (format!("svc-batch-{:02}", i + 1), ServiceKind::Batch, 1.0),
            };
            let subnet = DATACENTER.subnet(24, i as u32 + 1);
            let issued =
                start - rng.gen_range(30..400i64) * MS_PER_DAY + rng.gen_range(0..MS_PER_DAY);
            let api_key = format!(
                "ak-{}-{:06x}",
                name.trim_start_matches("svc-"),
                mix64(self_seed(cfg) ^ i as u64) & 0xff_ffff
            );
            let principal = Principal {
                id: name,
                kind: PrincipalKind::Service,
                role: Role::Service,
                ws_ip: subnet.host(10),
                egress_ip: subnet.host(1),
                home_ip: subnet.host(1),
                networks: vec![subnet],
                join_day: 0,
                depart: None,
                suspend: None,
                weekend_worker: true,
                pace: 1.0,
                travel: None,
                ramp: None,
                service: Some(self.services.len()),
            };
            self.services.push(Service {
                principal: self.principals.len() as u32,
                kind,
                weight,
                subnet,
                api_key,
                key_issued_ms: issued,
                key_expires_ms: issued + 730 * MS_PER_DAY,
            });
            self.principals.push(principal);
        }
    }

    fn build_keys(&mut self) {
        let start = self.day0_ms;
        let rotation = self.day0_ms + i64::from(self.rotation_day) * MS_PER_DAY;
        let cust_old_created = start - 700 * MS_PER_DAY;
        let cust_created = start - 300 * MS_PER_DAY;
        let staff_old_created = start - 400 * MS_PER_DAY;
        let staff_a_created = start - 90 * MS_PER_DAY;
        self.keys.push(SigningKey {
            id: key_name("kid-cust-", cust_old_created),
            owner: "svc-auth".into(),
            issuance: "unregistered",
            created_ms: cust_old_created,
            retired_ms: Some(cust_created + 30 * MS_PER_DAY),
        });
        self.cust_key = self.push_key(SigningKey {
            id: key_name("kid-cust-", cust_created),
            owner: "svc-auth".into(),
            issuance: "unregistered",
            created_ms: cust_created,
            retired_ms: None,
        });
        self.push_key(SigningKey {
            id: key_name("kid-", staff_old_created),
            owner: "svc-auth".into(),
            issuance: "registered",
            created_ms: staff_old_created,
            retired_ms: Some(staff_a_created + MS_PER_DAY),
        });
        self.staff_key_before = self.push_key(SigningKey {
            id: key_name("kid-", staff_a_created),
            owner: "svc-auth".into(),
            issuance: "registered",
            created_ms: staff_a_created,
            retired_ms: Some(rotation + MS_PER_DAY),
        });
        self.staff_key_after = self.push_key(SigningKey {
            id: key_name("kid-", rotation),
            owner: "svc-auth".into(),
            issuance: "registered",
            created_ms: rotation,
            retired_ms: None,
        });
    }

    /// Adds a key; returns its index.
    pub(crate) fn push_key(&mut self, key: SigningKey) -> u8 {
        self.keys.push(key);
        (self.keys.len() - 1) as u8
    }

    /// Adds a staff member created by a scenario; returns the index.
    pub(crate) fn push_staff<R: Rng>(&mut self, role: Role, rng: &mut R) -> u32 {
        let next = self
            .principals
            .iter()
            .filter_map(|p| p.id.strip_prefix("emp-"))
            .filter_map(|n| n.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + rng.gen_range(1..4);
        let p = new_staff(staff_id("emp", next), PrincipalKind::Employee, role, rng);
        self.principals.push(p);
        (self.principals.len() - 1) as u32
    }

    /// Start of day `day` (Seoul midnight), Unix ms.
    pub(crate) fn day_ms(&self, day: u32) -> i64 {
        self.day0_ms + i64::from(day) * MS_PER_DAY
    }

    /// The staff-token key in use on `day`.
    pub(crate) fn staff_key(&self, day: u32) -> u8 {
        if day < self.rotation_day {
            self.staff_key_before
        } else {
            self.staff_key_after
        }
    }

    /// The `(year, month, day)` and weekday (0 = Sunday) of simulation day `day` in Seoul.
    pub(crate) fn civil(&self, day: u32) -> ((i64, u32, u32), u32) {
        let n = (self.day_ms(day) + crate::time::KST_OFFSET_MS).div_euclid(MS_PER_DAY);
        (civil_from_days(n), weekday(n))
    }

    /// Whether `day` is a working day in Korea (Mon-Fri, not a fixed-date public holiday).
    pub(crate) fn is_workday(&self, day: u32) -> bool {
        let ((_, m, d), wd) = self.civil(day);
        let holiday = matches!(
            (m, d),
            (1, 1) | (3, 1) | (5, 5) | (6, 6) | (8, 15) | (10, 3) | (10, 9) | (12, 25)
        );
        (1..=5).contains(&wd) && !holiday
    }

    /// Index of a service by name.
    pub(crate) fn service_named(&self, name: &str) -> Option<usize> {
        self.services
            .iter()
            .position(|s| self.principals[s.principal as usize].id == name)
    }

    /// Registered token `num` as issued on `day` to principal `p`: a credential number that
    /// no other (day, principal, slot) shares.
    pub(crate) fn token_number(day: u32, principal: u32, slot: u32) -> u64 {
        (u64::from(day) << 36) | (u64::from(principal) << 4) | u64::from(slot & 0xf)
    }

    /// A forged token number: disjoint from every registered one (top bit set).
    pub(crate) fn forged_number(day: u32, seq: u64) -> u64 {
        (1u64 << 63) | (u64::from(day) << 36) | (seq & ((1 << 36) - 1))
    }

    /// Records the staff would produce on an average day at `staff_factor` 1.
    fn staff_records_per_day(&self) -> f64 {
        self.principals
            .iter()
            .filter(|p| p.kind != PrincipalKind::Service && p.depart.is_none_or(|c| c.day > 0))
            .map(|p| {
                let per_workday = match p.role {
                    Role::CsAgent => 57.7,
                    Role::Logistics => 18.5,
                    Role::Marketing => 6.3,
                    Role::BackendEngineer => 2.0,
                    Role::Service => 0.0,
                };
                let weekend = if p.weekend_worker { 0.5 } else { 0.02 };
                per_workday * p.pace * (5.0 * 0.93 + 2.0 * weekend) / 7.0
            })
            .sum()
    }

    fn compute_rates(&self, cfg: &SimConfig) -> Rates {
        let staff = self.staff_records_per_day();
        let natural_sessions = f64::from(cfg.customers) * 0.03;
        let natural_services = 1500.0 * self.services.len() as f64;
        match cfg.records_per_day {
            None => Rates {
                sessions_per_day: natural_sessions,
                service_records_per_day: natural_services,
                staff_factor: 1.0,
            },
            Some(target) => {
                let target = target as f64;
                let (rest, staff_factor) = if target - staff >= 0.2 * target {
                    (target - staff, 1.0)
                } else {
                    (0.2 * target, (0.8 * target / staff.max(1.0)).min(1.0))
                };
                Rates {
                    sessions_per_day: rest * 0.55 / RECORDS_PER_SESSION,
                    service_records_per_day: rest * 0.45,
                    staff_factor,
                }
            }
        }
    }
}

fn self_day_ms(cfg: &SimConfig, day: u32) -> i64 {
    (cfg.start.kst_day_number() + i64::from(day)) * MS_PER_DAY - crate::time::KST_OFFSET_MS
}

fn self_seed(cfg: &SimConfig) -> u64 {
    mix64(cfg.seed ^ 0x6170_695f_6b65_795f)
}

fn staff_id(prefix: &str, n: u64) -> String {
    format!("{prefix}-{n:04}")
}

/// `kid-2025-03` style names from the creation month.
pub(crate) fn key_name(prefix: &str, created_ms: i64) -> String {
    let (y, m, _) =
        civil_from_days((created_ms + crate::time::KST_OFFSET_MS).div_euclid(MS_PER_DAY));
    format!("{prefix}{y}-{m:02}")
}

/// A staff member with an office, addresses and habits drawn from `rng`.
fn new_staff<R: Rng>(id: String, kind: PrincipalKind, role: Role, rng: &mut R) -> Principal {
    let office = match role {
        Role::CsAgent => {
            if rng.gen_bool(0.7) {
                DAEGU_CS
            } else {
                SEOUL_HQ
            }
        }
        Role::Logistics => INCHEON_FC,
        Role::Marketing => SEOUL_HQ,
        Role::BackendEngineer => PANGYO_TECH,
        Role::Service => SEOUL_HQ,
    };
    let o = OFFICES[office];
    let weekend_worker = match role {
        Role::CsAgent | Role::Logistics => rng.gen_bool(0.2),
        _ => rng.gen_bool(0.03),
    };
    Principal {
        id,
        kind,
        role,
        ws_ip: o.internal.random_host(rng),
        egress_ip: o.public.host(rng.gen_range(0..6)),
        home_ip: net::random_in_class(rng, NetClass::KrConsumer),
        networks: vec![o.internal, o.public],
        join_day: 0,
        depart: None,
        suspend: None,
        weekend_worker,
        pace: rng.gen_range(0.75..1.25),
        travel: None,
        ramp: None,
        service: None,
    }
}

/// Text of a credential reference as it appears in records and the registry.
pub(crate) fn push_cred(buf: &mut Vec<u8>, world: &World, cred: CredRef) {
    match cred {
        CredRef::None => {}
        CredRef::Session(n) => {
            buf.extend_from_slice(b"sess-");
            crate::fmt::push_hex(buf, mix64(n ^ world.session_salt), 16);
        }
        CredRef::Token(n) => {
            buf.extend_from_slice(b"tok-");
            crate::fmt::push_hex(buf, mix64(n ^ world.token_salt), 16);
        }
        CredRef::ApiKey(i) => {
            if let Some(s) = world.services.get(i as usize) {
                buf.extend_from_slice(s.api_key.as_bytes());
            }
        }
    }
}

/// [`push_cred`] as a `String`.
pub(crate) fn cred_string(world: &World, cred: CredRef) -> String {
    let mut buf = Vec::with_capacity(24);
    push_cred(&mut buf, world, cred);
    String::from_utf8_lossy(&buf).into_owned()
}
