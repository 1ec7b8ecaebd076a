//! Normal traffic for one day: customers in the app, service accounts around the clock, and
//! staff at work in Seoul business hours.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::engine::DayCtx;
use crate::event::{field, res, Action, ActorRef, CredRef, Event, Producer, NO_KEY};
use crate::fmt::mix64;
use crate::net::{ranges, Cidr, NetClass};
use crate::time::{MS_PER_HOUR, MS_PER_MIN, MS_PER_SEC};
use crate::world::{rng_for, stream, Principal, PrincipalKind, RegCred, Role, ServiceKind, World};

/// Customer app activity by hour of the day in Seoul: evening peak, quiet before dawn.
const CUSTOMER_HOURS: [f64; 24] = [
    3.0, 2.0, 1.0, 0.6, 0.5, 0.7, 1.5, 3.0, 4.0, 4.5, 5.0, 5.0, 6.0, 5.0, 4.5, 4.5, 4.5, 5.0, 5.5,
    6.0, 7.0, 8.0, 7.5, 5.0,
];

/// Service traffic follows the customers, with a floor of batch and background work.
const SERVICE_HOURS: [f64; 24] = [
    5.0, 4.5, 4.0, 3.6, 3.5, 3.7, 4.5, 6.0, 7.0, 7.5, 8.0, 8.0, 9.0, 8.0, 7.5, 7.5, 7.5, 8.0, 8.5,
    9.0, 10.0, 11.0, 10.5, 8.0,
];

/// Cumulative hour weights for fast sampling.
struct Hours {
    cum: [f64; 24],
}

impl Hours {
    fn new(weights: &[f64; 24]) -> Hours {
        let mut cum = [0.0; 24];
        let mut acc = 0.0;
        for (c, w) in cum.iter_mut().zip(weights) {
            acc += w;
            *c = acc;
        }
        Hours { cum }
    }

    /// A random instant of the day, as ms after midnight.
    fn sample(&self, rng: &mut ChaCha8Rng) -> i64 {
        let x = rng.gen_range(0.0..self.cum[23]);
        let h = self.cum.iter().position(|&c| x < c).unwrap_or(23) as i64;
        h * MS_PER_HOUR + rng.gen_range(0..MS_PER_HOUR)
    }
}

fn pool(class: NetClass) -> Vec<Cidr> {
    ranges(class).map(|n| n.cidr).collect()
}

fn pick_net(pool: &[Cidr], rng: &mut ChaCha8Rng) -> u32 {
    pool[rng.gen_range(0..pool.len())].random_host(rng)
}

/// Weekend traffic relative to a weekday, normalised so the weekly mean is 1.
fn weekly(weekday: u32, weekend: f64) -> f64 {
    let w = if weekday == 0 || weekday == 6 {
        weekend
    } else {
        1.0
    };
    w * 7.0 / (5.0 + 2.0 * weekend)
}

/// Customer self-access: app sessions with their own session tokens.
pub(crate) fn customers(world: &World, ctx: &mut DayCtx) {
    let mut rng = rng_for(world.seed, stream::CUSTOMERS, u64::from(ctx.day), 0);
    let hours = Hours::new(&CUSTOMER_HOURS);
    let mobile = pool(NetClass::KrMobile);
    let home = pool(NetClass::KrConsumer);
    let mean = world.rates.sessions_per_day * weekly(ctx.weekday, 1.15) * ctx.peak;
    let sessions = (mean * rng.gen_range(0.92..1.08)).round() as u64;
    let key = world.cust_key;
    for s in 0..sessions {
        // Long-standing customers (low numbers) use the app more. Integer arithmetic only:
        // floating-point library functions may round differently across platforms.
        let cust = rng
            .gen_range(0..world.customers)
            .min(rng.gen_range(0..world.customers));
        let on_mobile = rng.gen_bool(0.6);
        let ip = if on_mobile {
            pick_net(&mobile, &mut rng)
        } else {
            let h = mix64(u64::from(cust) ^ world.session_salt);
            home[(h % home.len() as u64) as usize].host(h >> 8)
        };
        let ua: u8 = if on_mobile {
            rng.gen_range(1..4)
        } else {
            rng.gen_range(1..6)
        };
        let cred = CredRef::Session((u64::from(ctx.day) << 32) | s);
        let actor = ActorRef::Customer(cust);
        let mut t = ctx.start_ms + hours.sample(&mut rng);
        let base = |t: i64, action: Action, resource: u16| {
            Event::new(t, Producer::Gateway, actor, action, resource)
                .ip(ip)
                .cred(cred, key)
                .ua(ua)
        };
        if rng.gen_bool(0.3) {
            if rng.gen_bool(0.02) {
                // A mistyped password: no session is issued.
                ctx.push(
                    Event::new(
                        t,
                        Producer::Gateway,
                        actor,
                        Action::LoginFailed,
                        res::ME_LOGIN,
                    )
                    .ip(ip)
                    .ua(ua)
                    .failed(),
                );
                t += rng.gen_range(5 * MS_PER_SEC..40 * MS_PER_SEC);
            }
            ctx.push(base(t, Action::Login, res::ME_LOGIN));
        }
        for _ in 0..rng.gen_range(1..=4) {
            t += rng.gen_range(3 * MS_PER_SEC..120 * MS_PER_SEC);
            let x: f64 = rng.gen();
            let (action, resource, fields) = if x < 0.30 {
                (
                    Action::Read,
                    res::ME_PROFILE,
                    field::NAME | field::EMAIL | field::PHONE,
                )
            } else if x < 0.60 {
                (Action::Read, res::ME_ORDERS, field::ORDER_HISTORY)
            } else if x < 0.70 {
                (
                    Action::Read,
                    res::ME_ORDER,
                    field::ORDER_HISTORY | field::ADDRESS,
                )
            } else if x < 0.84 {
                (
                    Action::Read,
                    res::ME_ADDRESSES,
                    field::ADDRESS | field::ENTRANCE_CODE | field::DELIVERY_CONTACTS,
                )
            } else if x < 0.88 {
                (
                    Action::Update,
                    res::ME_ADDRESS_UPDATE,
                    field::ADDRESS | field::DELIVERY_CONTACTS,
                )
            } else if x < 0.89 {
                (Action::Delete, res::ME_ADDRESS_DELETE, field::ADDRESS)
            } else {
                (Action::Read, res::ME_PAYMENT, field::PAYMENT)
            };
            let span = ctx.one(cust);
            let e = base(t, action, resource).subjects(span).fields(fields);
            ctx.push(if rng.gen_bool(0.005) { e.failed() } else { e });
        }
        if rng.gen_bool(0.1) {
            t += rng.gen_range(3 * MS_PER_SEC..60 * MS_PER_SEC);
            ctx.push(base(t, Action::Logout, res::ME_LOGOUT));
        }
    }
}

/// What one service reads: (resource, action, fields) choices with weights.
fn service_reads(kind: ServiceKind) -> &'static [(u16, Action, u16, f64)] {
    use field::*;
    match kind {
        ServiceKind::Order => &[
            (res::SVC_PROFILE, Action::Read, NAME | PHONE | ADDRESS, 0.6),
            (res::SVC_ORDERS, Action::Read, ORDER_HISTORY, 0.4),
        ],
        ServiceKind::Delivery => &[(
            res::SVC_DELIVERY_ADDRESS,
            Action::Read,
            NAME | PHONE | ADDRESS | ENTRANCE_CODE | DELIVERY_CONTACTS,
            1.0,
        )],
        ServiceKind::Notify => &[(res::SVC_CONTACT, Action::Read, PHONE | EMAIL, 1.0)],
        ServiceKind::Payment => &[(res::SVC_PAYMENT, Action::Read, NAME | PAYMENT, 1.0)],
        ServiceKind::Search => &[(res::SVC_SEARCH, Action::Search, NAME | PHONE, 1.0)],
        ServiceKind::Recommend => &[
            (res::SVC_ORDERS, Action::Read, ORDER_HISTORY, 0.8),
            (res::SVC_SEGMENTS, Action::Read, 0, 0.2),
        ],
        ServiceKind::CsBot => &[
            (res::SVC_PROFILE, Action::Read, NAME | PHONE, 0.5),
            (res::SVC_ORDERS, Action::Read, ORDER_HISTORY, 0.5),
        ],
        ServiceKind::Fraud => &[(
            res::SVC_RISK,
            Action::Read,
            NAME | PHONE | ADDRESS | PAYMENT,
            1.0,
        )],
        ServiceKind::Returns => &[(res::SVC_RETURN, Action::Read, ORDER_HISTORY | ADDRESS, 1.0)],
        ServiceKind::Review => &[(res::SVC_REVIEW_AUTHOR, Action::Read, NAME, 1.0)],
        ServiceKind::Batch => &[(res::SVC_PROFILE, Action::Read, NAME, 1.0)],
    }
}

/// Service accounts: high-volume single-customer reads around the clock from the data centre,
/// plus the notification service's campaign batches.
pub(crate) fn services(world: &World, ctx: &mut DayCtx) {
    let hours = Hours::new(&SERVICE_HOURS);
    let total = world.rates.service_records_per_day * weekly(ctx.weekday, 1.1) * ctx.peak;
    let wsum: f64 = world.services.iter().map(|s| s.weight).sum();
    for (i, svc) in world.services.iter().enumerate() {
        let mut rng = rng_for(world.seed, stream::SERVICES, u64::from(ctx.day), i as u64);
        let mut n = (total * svc.weight / wsum.max(1.0) * rng.gen_range(0.95..1.05)).round() as u64;
        let actor = ActorRef::Principal(svc.principal);
        let cred = CredRef::ApiKey(i as u32);
        if svc.kind == ServiceKind::Notify {
            for batch_hour in [10, 20] {
                let mut t =
                    ctx.start_ms + batch_hour * MS_PER_HOUR + rng.gen_range(0..5 * MS_PER_MIN);
                for _ in 0..rng.gen_range(4..10) {
                    if n == 0 {
                        break;
                    }
                    n -= 1;
                    let size = rng.gen_range(200..500u32).min(world.customers);
                    let span =
                        ctx.subjects_from((0..size).map(|_| rng.gen_range(0..world.customers)));
                    ctx.push(
                        Event::new(t, Producer::Mesh, actor, Action::Read, res::SVC_AUDIENCE)
                            .ip(svc.subnet.host(rng.gen_range(1..24)))
                            .cred(cred, NO_KEY)
                            .subjects(span)
                            .fields(field::PHONE | field::EMAIL),
                    );
                    t += rng.gen_range(2 * MS_PER_SEC..20 * MS_PER_SEC);
                }
            }
        }
        let reads = service_reads(svc.kind);
        let rsum: f64 = reads.iter().map(|r| r.3).sum();
        for _ in 0..n {
            let t = ctx.start_ms + hours.sample(&mut rng);
            let mut x = rng.gen_range(0.0..rsum);
            let mut pick = reads[0];
            for r in reads {
                if x < r.3 {
                    pick = *r;
                    break;
                }
                x -= r.3;
            }
            let (resource, action, fields, _) = pick;
            let cust = rng.gen_range(0..world.customers);
            let span = ctx.one(cust);
            ctx.push(
                Event::new(t, Producer::Mesh, actor, action, resource)
                    .ip(svc.subnet.host(rng.gen_range(1..24)))
                    .cred(cred, NO_KEY)
                    .subjects(span)
                    .fields(fields),
            );
        }
    }
}

/// A working day: sign-in, the hours in which tasks fall, sign-out.
struct Shift {
    login: i64,
    noon: i64,
    one_pm: i64,
    end: i64,
}

impl Shift {
    /// A task time: mostly 09-12 and 13-18, a little over lunch.
    fn at(&self, rng: &mut ChaCha8Rng) -> i64 {
        let morning = (self.noon - self.login).max(1) as f64;
        let lunch = (self.one_pm - self.noon) as f64 * 0.12;
        let afternoon = (self.end - self.one_pm).max(1) as f64;
        let x = rng.gen_range(0.0..morning + lunch + afternoon);
        if x < morning {
            self.login + x as i64
        } else if x < morning + lunch {
            self.noon + ((x - morning) / 0.12) as i64
        } else {
            self.one_pm + (x - morning - lunch) as i64
        }
    }
}

const CAMPAIGNS: [&str; 8] = [
    "summer sale push",
    "Rocket Fresh promo",
    "WOW membership renewal",
    "new-user coupon",
    "dormant-customer win-back",
    "Coupang Eats cross-sell",
    "back-to-school campaign",
    "payday deals",
];

const INCIDENTS: [&str; 8] = [
    "order sync bug",
    "address normalisation fix",
    "payment retry investigation",
    "duplicate delivery report",
    "refund stuck in pending",
    "customer merge request",
    "push opt-out not honoured",
    "invoice total mismatch",
];

/// Staff: each person works (or not) with their own random stream, so one person's change
/// does not shift anyone else's day.
pub(crate) fn staff(world: &World, ctx: &mut DayCtx) {
    for (i, p) in world.principals.iter().enumerate() {
        if p.kind == PrincipalKind::Service || !p.present_on(ctx.day) {
            continue;
        }
        let mut rng = rng_for(world.seed, stream::EMPLOYEE, u64::from(ctx.day), i as u64);
        if works(&mut rng, ctx.workday, p.weekend_worker) {
            person_day(world, ctx, i as u32, p, &mut rng);
        }
    }
}

/// Whether a person works on a day, drawn first from their stream for the day.
fn works(rng: &mut ChaCha8Rng, workday: bool, weekend_worker: bool) -> bool {
    if workday {
        rng.gen_bool(0.93)
    } else if weekend_worker {
        rng.gen_bool(0.5)
    } else {
        rng.gen_bool(0.02)
    }
}

/// Whether staff member `idx` does their normal work on `day` (the draw [`staff`] makes), so
/// that an insider's extra work happens on days they are at their desk anyway.
pub(crate) fn works_on(world: &World, idx: u32, day: u32) -> bool {
    let p = &world.principals[idx as usize];
    let mut rng = rng_for(world.seed, stream::EMPLOYEE, u64::from(day), u64::from(idx));
    p.present_on(day) && works(&mut rng, world.is_workday(day), p.weekend_worker)
}

fn person_day(world: &World, ctx: &mut DayCtx, idx: u32, p: &Principal, rng: &mut ChaCha8Rng) {
    let day = ctx.day;
    let travel = p
        .travel
        .filter(|t| (t.first_day..=t.last_day).contains(&day));
    let ramp = p.ramp.filter(|r| day < r.until_day);
    let tag = travel.map(|t| t.tag).or(ramp.map(|r| r.tag)).unwrap_or(0);
    let ws_ip = travel.map_or(p.ws_ip, |t| t.ip);
    let egress_ip = travel.map_or(p.egress_ip, |t| t.ip);
    let mut load = p.pace * world.rates.staff_factor * ctx.peak;
    if ramp.is_some() {
        load *= (0.25 + 0.75 * f64::from(day - p.join_day) / 14.0).min(1.0);
    }
    let h = ctx.start_ms;
    let login =
        h + 9 * MS_PER_HOUR - rng.gen_range(0..25 * MS_PER_MIN) + rng.gen_range(0..20 * MS_PER_MIN);
    let end = if rng.gen_bool(0.08) {
        h + 18 * MS_PER_HOUR + rng.gen_range(60 * MS_PER_MIN..150 * MS_PER_MIN)
    } else {
        h + 18 * MS_PER_HOUR - 10 * MS_PER_MIN + rng.gen_range(0..35 * MS_PER_MIN)
    };
    let shift = Shift {
        login,
        noon: h + 12 * MS_PER_HOUR,
        one_pm: h + 13 * MS_PER_HOUR,
        end,
    };
    let key = world.staff_key(day);
    let token = World::token_number(day, idx, 0);
    let cred = CredRef::Token(token);
    let actor = ActorRef::Principal(idx);
    if rng.gen_bool(0.03) {
        let t = login - rng.gen_range(20 * MS_PER_SEC..3 * MS_PER_MIN);
        ctx.push(
            Event::new(t, Producer::Idp, actor, Action::LoginFailed, res::IDP_LOGIN)
                .ip(egress_ip)
                .failed()
                .tag(tag),
        );
    }
    ctx.creds.push(RegCred {
        token,
        principal: idx,
        key,
        issued_ms: login,
        expires_ms: login + 12 * MS_PER_HOUR,
    });
    ctx.push(
        Event::new(login, Producer::Idp, actor, Action::Login, res::IDP_LOGIN)
            .ip(egress_ip)
            .cred(cred, key)
            .tag(tag),
    );
    let bo = |t: i64, action: Action, resource: u16| {
        Event::new(t, Producer::Backoffice, actor, action, resource)
            .ip(ws_ip)
            .cred(cred, key)
            .tag(tag)
    };
    let n = world.customers;
    let times =
        |lo: f64, hi: f64, rng: &mut ChaCha8Rng| (rng.gen_range(lo..hi) * load).round() as u32;
    match p.role {
        Role::CsAgent => {
            for _ in 0..times(12.0, 28.0, rng) {
                let mut t = shift.at(rng);
                let cust = rng.gen_range(0..n);
                let span = ctx.one(cust);
                ctx.push(
                    bo(t, Action::Search, res::CUST_SEARCH)
                        .subjects(span)
                        .fields(field::NAME | field::PHONE),
                );
                t += rng.gen_range(5 * MS_PER_SEC..60 * MS_PER_SEC);
                ctx.push(
                    bo(t, Action::Read, res::CUST_PROFILE)
                        .subjects(span)
                        .fields(field::NAME | field::PHONE | field::ADDRESS),
                );
                if rng.gen_bool(0.5) {
                    t += rng.gen_range(5 * MS_PER_SEC..90 * MS_PER_SEC);
                    ctx.push(
                        bo(t, Action::Read, res::CUST_ORDERS)
                            .subjects(span)
                            .fields(field::ORDER_HISTORY),
                    );
                }
                if rng.gen_bool(0.15) {
                    t += rng.gen_range(5 * MS_PER_SEC..60 * MS_PER_SEC);
                    ctx.push(
                        bo(t, Action::Read, res::CUST_ADDRESSES)
                            .subjects(span)
                            .fields(field::ADDRESS | field::DELIVERY_CONTACTS),
                    );
                }
                if rng.gen_bool(0.05) {
                    t += rng.gen_range(30 * MS_PER_SEC..3 * MS_PER_MIN);
                    ctx.push(
                        bo(t, Action::Update, res::CUST_ADDRESS_UPDATE)
                            .subjects(span)
                            .fields(field::ADDRESS),
                    );
                }
                if rng.gen_bool(0.1) {
                    t += rng.gen_range(30 * MS_PER_SEC..3 * MS_PER_MIN);
                    ctx.push(bo(t, Action::Create, res::CUST_NOTE).subjects(span));
                }
            }
        }
        Role::Logistics => {
            for _ in 0..times(3.0, 6.0, rng) {
                let t = shift.at(rng);
                let stops = rng.gen_range(40..150u32).min(n);
                let span = ctx.subjects_from((0..stops).map(|_| rng.gen_range(0..n)));
                ctx.push(
                    bo(t, Action::Read, res::ROUTE_STOPS)
                        .subjects(span)
                        .fields(field::ADDRESS | field::ENTRANCE_CODE | field::DELIVERY_CONTACTS),
                );
                if rng.gen_bool(0.5) {
                    let t = t + rng.gen_range(MS_PER_MIN..10 * MS_PER_MIN);
                    ctx.push(
                        bo(t, Action::Print, res::ROUTE_PRINT)
                            .subjects(span)
                            .fields(field::NAME | field::ADDRESS),
                    );
                }
            }
            for _ in 0..times(5.0, 15.0, rng) {
                let t = shift.at(rng);
                let span = ctx.one(rng.gen_range(0..n));
                ctx.push(
                    bo(t, Action::Read, res::DELIVERY_ADDRESS)
                        .subjects(span)
                        .fields(field::ADDRESS | field::ENTRANCE_CODE),
                );
            }
        }
        Role::Marketing => {
            for _ in 0..times(2.0, 5.0, rng) {
                ctx.push(bo(shift.at(rng), Action::Read, res::REPORT_CAMPAIGN));
            }
            for _ in 0..rng.gen_range(0..=2) {
                let size = 20.min(n);
                let span = ctx.subjects_from((0..size).map(|_| rng.gen_range(0..n)));
                ctx.push(
                    bo(shift.at(rng), Action::Read, res::SEGMENT_PREVIEW)
                        .subjects(span)
                        .fields(field::NAME | field::EMAIL),
                );
            }
            if rng.gen_bool((0.05 * load).min(1.0)) {
                let mut t = shift.at(rng);
                let size = rng.gen_range(1000..5000u32).min(n);
                let span = ctx.subjects_from((0..size).map(|_| rng.gen_range(0..n)));
                let purpose = format!(
                    "MKT-{} {}",
                    rng.gen_range(1000..9999),
                    CAMPAIGNS[rng.gen_range(0..CAMPAIGNS.len())]
                );
                let purpose = ctx.purpose(&purpose);
                let fields = field::NAME | field::EMAIL | field::PHONE;
                ctx.push(
                    bo(t, Action::Export, res::EXPORT_CUSTOMERS)
                        .subjects(span)
                        .count(size)
                        .fields(fields)
                        .purpose(purpose),
                );
                t += rng.gen_range(2 * MS_PER_MIN..30 * MS_PER_MIN);
                ctx.push(
                    bo(t, Action::Download, res::EXPORT_DOWNLOAD)
                        .count(size)
                        .fields(fields)
                        .purpose(purpose),
                );
            }
        }
        Role::BackendEngineer => {
            if rng.gen_bool((0.12 * load).min(1.0)) {
                let purpose = format!(
                    "INC-{} {}",
                    rng.gen_range(1000..9999),
                    INCIDENTS[rng.gen_range(0..INCIDENTS.len())]
                );
                let purpose = ctx.purpose(&purpose);
                let mut t = shift.at(rng);
                for _ in 0..rng.gen_range(1..=3) {
                    let size = rng.gen_range(1..=3u32).min(n);
                    let span = ctx.subjects_from((0..size).map(|_| rng.gen_range(0..n)));
                    let (resource, fields) = if rng.gen_bool(0.6) {
                        (
                            res::PROD_CUSTOMERS,
                            field::NAME | field::PHONE | field::ADDRESS,
                        )
                    } else {
                        (res::PROD_ORDERS, field::ORDER_HISTORY | field::ADDRESS)
                    };
                    ctx.push(
                        Event::new(t, Producer::DbProxy, actor, Action::Read, resource)
                            .ip(ws_ip)
                            .cred(cred, key)
                            .subjects(span)
                            .fields(fields)
                            .purpose(purpose)
                            .tag(tag),
                    );
                    t += rng.gen_range(20 * MS_PER_SEC..10 * MS_PER_MIN);
                }
            }
        }
        Role::Service => {}
    }
    if rng.gen_bool(0.7) {
        ctx.push(
            Event::new(end, Producer::Idp, actor, Action::Logout, res::IDP_LOGOUT)
                .ip(egress_ip)
                .cred(cred, key)
                .tag(tag),
        );
    }
}
