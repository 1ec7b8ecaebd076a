//! Where a record came from: many actors from one network, impossible travel, usual
//! networks, and failed logins per source.

use super::*;

pub(super) fn is_login(a: Action) -> bool {
    matches!(a, Action::Login | Action::LoginFailed)
}

pub(super) fn is_foreign(home: &[[u8; 2]], place: Option<Place>) -> bool {
    place.is_some_and(|p| !home.contains(&p.country))
}

pub(super) fn prefix_key(p: u128) -> u64 {
    mix2(p as u64, (p >> 64) as u64)
}

/// Counts `actor` on its source network this hour; alerts when too many distinct actors
/// share one network.
#[allow(clippy::too_many_arguments)]
pub(super) fn shared_source(
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
    let sev = if foreign || n >= threshold.saturating_mul(5) {
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
pub(super) fn travel_check(
    cfg: &DetectConfig,
    prev: &TravelMark,
    t: i64,
    place: &Place,
) -> Option<Finding> {
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
pub(super) fn pack_mark(key: u64, t: i64, cc: [u8; 2]) -> u64 {
    let c = |b: u8| u64::from(b.to_ascii_uppercase().wrapping_sub(b'A')).min(25);
    let country = c(cc[0]) * 26 + c(cc[1]) + 1;
    let minute = (t.div_euclid(60_000) as u64) & ((1 << 30) - 1);
    ((key >> 40) << 40) | (minute << 10) | country
}

/// The mark of `key` packed in `v`, if `v` holds one for it.
pub(super) fn unpack_mark(v: u64, key: u64) -> Option<TravelMark> {
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

pub(super) fn mark(key: u64, t: i64, p: &Place) -> TravelMark {
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
pub(super) fn sliding_failures(
    win_ms: i64,
    t: i64,
    win: &mut i64,
    count: &mut u32,
    prev: &mut u32,
) -> u32 {
    let w = t.div_euclid(win_ms);
    if w > *win {
        *prev = if w == *win + 1 { *count } else { 0 };
        *count = 0;
        *win = w;
    }
    *count = count.saturating_add(1);
    let elapsed = t.rem_euclid(win_ms) as f64 / win_ms as f64;
    count.saturating_add((f64::from(*prev) * (1.0 - elapsed)).round() as u32)
}

/// Customers: no per-actor state, only per-source and per-credential checks.
pub(super) fn customer_checks(
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

/// Whether `prefix` is a usual network for the actor, learning it as a side effect.
pub(super) fn network_usual(
    cfg: &DetectConfig,
    a: &mut Nets,
    active_days: u32,
    p: Option<&PInfo>,
    ip: IpAddr,
    day: i64,
) -> bool {
    if p.is_some_and(|p| p.in_registry_networks(ip_u128(ip))) {
        return true;
    }
    let prefix = net_prefix(ip);
    if a.last == prefix && a.last_day == day {
        return a.last_usual;
    }
    let learning = p.is_none_or(|p| p.nets.is_empty()) && active_days < cfg.learning_days;
    let usual = match a.seen.iter_mut().find(|n| n.prefix == prefix) {
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
            if a.seen.len() >= MAX_NETS {
                // Forget the stalest network, unusual ones first.
                if let Some(i) = a
                    .seen
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, n)| (n.usual, n.last_day))
                    .map(|(i, _)| i)
                {
                    a.seen.swap_remove(i);
                }
            }
            a.seen.push(NetSeen {
                prefix,
                last_day: day,
                days: 1,
                usual: learning,
            });
            learning
        }
    };
    a.last = prefix;
    a.last_day = day;
    a.last_usual = usual;
    usual
}
