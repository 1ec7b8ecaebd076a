//! What an actor does, against its own history and its peers: the day's bookkeeping,
//! origin and hours context, volume, enumeration, reach, bulk without purpose, failed logins.

use super::origin::{
    is_foreign, is_login, mark, network_usual, shared_source, sliding_failures, travel_check,
};
use super::*;

/// Closes `a`'s day: folds it into the own and role baselines, learns working hours, and
/// checks reach. Alerts raised here are attributed to the record that opened the new day.
#[allow(clippy::too_many_arguments)]
pub(super) fn close_day(
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
    let d = a.day_subj.estimate().saturating_add(a.day_unlisted);
    let mh = a
        .day_max_hour
        .max(a.hour_subj.estimate().saturating_add(a.hour_unlisted));
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
        let own30 = prev30.or(own_day.map(|d| d.saturating_mul(30)));
        let own90 = prev30
            .map(|p| p.saturating_mul(3))
            .or(own_day.map(|d| d.saturating_mul(90)));
        let peer30 = ring30.or(role_day.map(|d| d.saturating_mul(30)));
        let peer90 = ring90
            .or(ring30.map(|r| r.saturating_mul(3)))
            .or(role_day.map(|d| d.saturating_mul(90)));
        let purposed: u64 = a
            .purposed_weeks
            .iter()
            .filter(|(wk, _)| *wk > week - 5)
            .fold(0u64, |acc, (_, n)| acc.saturating_add(*n));
        let purposed90: u64 = a
            .purposed_weeks
            .iter()
            .fold(0u64, |acc, (_, n)| acc.saturating_add(*n));
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

/// The peers' high for today so far: the `q` quantile over other members of the group that
/// are active today, or `None` with fewer than `min_peers` of them.
pub(super) fn peers_today(
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
    // The first 256 members active today are a large enough sample.
    let mut vals = [0u32; 256];
    let mut n = 0;
    for m in members {
        if n == vals.len() {
            break;
        }
        if let Some(Some(s)) = actors.get(m) {
            if s.day != day {
                continue;
            }
            let v = if hourly {
                s.day_max_hour
                    .max(s.hour_subj.estimate().saturating_add(s.hour_unlisted))
            } else {
                s.day_subj.estimate().saturating_add(s.day_unlisted)
            };
            if v > 0 {
                vals[n] = u32::try_from(v).unwrap_or(u32::MAX);
                n += 1;
            }
        }
    }
    if n < min_peers {
        return None;
    }
    crate::sketch::quantile(&vals[..n], q).map(u64::from)
}

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
pub(super) fn actor_state_checks(
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
        a.day_max_hour = a
            .day_max_hour
            .max(a.hour_subj.estimate().saturating_add(a.hour_unlisted));
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
            a.day_unlisted = a.day_unlisted.saturating_add(unlisted);
            a.hour_unlisted = a.hour_unlisted.saturating_add(unlisted);
            if rec_flags != 0 {
                a.ctx_unlisted = a.ctx_unlisted.saturating_add(unlisted);
            }
        }
        if f.has_purpose {
            a.day_purposed = a.day_purposed.saturating_add(f.processed);
            a.hour_purposed = a.hour_purposed.saturating_add(f.processed);
            match a.purposed_weeks.iter_mut().find(|(w, _)| *w == week) {
                Some((_, n)) => *n = n.saturating_add(f.processed),
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
            // Cold start: the peers' normal day, computed once a day.
            if a.peer_day_at != a.day {
                a.peer_day = st
                    .roles
                    .get(&group)
                    .and_then(|r| {
                        r.daily.quantile_without(
                            f.actor,
                            cfg.baseline_quantile,
                            cfg.min_peers as usize,
                        )
                    })
                    .map(u64::from);
                a.peer_day_at = a.day;
            }
            a.peer_day
        };
        let threshold = normal
            .map_or(2 * cfg.context_min_subjects, |n| {
                (n as f64 * cfg.context_own_factor).round() as u64
            })
            .max(cfg.context_min_subjects);
        Context {
            flags: a.ctx_flags,
            subjects: a.ctx_subj.estimate().saturating_add(a.ctx_unlisted),
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
pub(super) fn volume_checks(
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
                a.hour_subj.estimate().saturating_add(a.hour_unlisted),
                a.hour_purposed,
                cfg.hourly_min_subjects,
                cfg.hourly_own_factor,
                cfg.hourly_peer_factor,
                cfg.hourly_cold_subjects,
            )
        } else {
            (
                a.day_subj.estimate().saturating_add(a.day_unlisted),
                a.day_purposed,
                cfg.daily_min_subjects,
                cfg.daily_own_factor,
                cfg.daily_peer_factor,
                cfg.daily_cold_subjects,
            )
        };
        let total = v.saturating_add(purposed);
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
        // The actor's own threshold is known without work; only a count above it needs the
        // peers (and only every quarter of growth after that).
        let own_threshold = own.map_or(min as f64, |o| (o as f64 * own_f).max(min as f64));
        if total as f64 <= own_threshold {
            continue;
        }
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
            w.next_check = total.saturating_add((total / 4).max(1));
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
pub(super) fn enumeration(
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
        a.enum_steps = a.enum_steps.saturating_add(f.inner_steps);
        a.enum_hits = a.enum_hits.saturating_add(f.inner_seq);
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
pub(super) fn bulk_without_purpose(
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
    // The normal size is recomputed once a day (quantiles are not free), or while unknown.
    if a.bulk_normal_day != a.day || a.bulk_normal.is_none() {
        let own = (a.bulk_sizes.len() >= 5)
            .then(|| a.bulk_sizes.quantile(q))
            .flatten()
            .map(u64::from);
        let peer = role.bulk.quantile_without(f.actor, q, 10).map(u64::from);
        a.bulk_normal = own.max(peer);
        a.bulk_normal_day = a.day;
    }
    let normal = a.bulk_normal;
    let n = f.processed;
    let size = u32::try_from(n).unwrap_or(u32::MAX);
    if normal.is_some_and(|m| n <= m.max(1).saturating_mul(3)) {
        a.bulk_sizes.push(size);
        role.bulk.push(f.actor, size);
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
