//! Turning a detector's finding into an alert's one-sentence summary and evidence object.
//! Only runs when an alert is emitted, so it may allocate freely.

use serde_json::{json, Map, Value};
use suho_record::time::Rfc3339;
use suho_record::AccessRecord;
use suho_registry::{KeyStatus, PrincipalStatus, Validity};

use crate::alert::Rule;
use crate::engine::{IdConflict, TravelMark};
use crate::geo::Place;
use crate::index::{prefix_text, RegIndex};

/// Context anomalies of an actor's day, as bits.
pub(crate) const CTX_FOREIGN: u8 = 1;
pub(crate) const CTX_NETWORK: u8 = 2;
pub(crate) const CTX_HOURS: u8 = 4;

/// Subjects touched today in an unusual context, against the threshold that makes it high.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context {
    pub flags: u8,
    pub subjects: u64,
    pub threshold: u64,
}

/// What a detector found, with the numbers the evidence needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Finding {
    Status {
        status: PrincipalStatus,
        since: Option<i64>,
    },
    Unknown,
    OrphanCred {
        owner: u64,
        status: PrincipalStatus,
        since: Option<i64>,
    },
    OrphanKey {
        key: u64,
        owner: u64,
        status: PrincipalStatus,
        since: Option<i64>,
    },
    CredValidity {
        validity: Validity,
        at: Option<i64>,
    },
    Forged {
        key: u64,
        registered_key: u64,
    },
    OwnerMismatch {
        owner: u64,
    },
    KeyState {
        key: u64,
        status: KeyStatus,
        since: Option<i64>,
    },
    UnknownKey {
        key: u64,
    },
    Foreign {
        country: [u8; 2],
        service: bool,
        bulk: bool,
        several: bool,
        ctx: Context,
    },
    Network {
        prefix: u128,
        usual: usize,
        registry: usize,
        service: bool,
        ctx: Context,
    },
    Travel {
        from: TravelMark,
        km: f64,
        kmh: f64,
    },
    Shared {
        prefix: u128,
        actors: u64,
        threshold: u64,
        foreign: bool,
    },
    Volume {
        hourly: bool,
        /// Counted work under a stated purpose (else work without one).
        purposed: bool,
        subjects: u64,
        /// Of which counted from records that give only a count (once per resource).
        unlisted: u64,
        own_median: Option<u64>,
        /// The own normal high compared with, and the peers'.
        own: Option<u64>,
        peer: Option<u64>,
        threshold: u64,
        ctx: Context,
    },
    Shift {
        median: u64,
        scale: f64,
        factor: f64,
        today: u64,
        excess: u64,
        days: u32,
        sum: f64,
        limit: f64,
        /// The peers' typical day (the median of their own medians).
        peers: Option<u64>,
    },
    RoleData {
        fields: u32,
        subjects: u64,
        role_days: u32,
        peer_days: u32,
        weight: u8,
    },
    Enumeration {
        hits: u32,
        steps: u32,
        days_before: u32,
    },
    Reach {
        days: u32,
        subjects: u64,
        own: Option<u64>,
        peer: Option<u64>,
        threshold: u64,
        purposed: u64,
    },
    Bulk {
        subjects: u64,
        normal: Option<u64>,
    },
    OffHours {
        hour: u8,
        active_days: u32,
        by_peers: bool,
        ctx: Context,
    },
    LoginFailed {
        failures: u32,
        minutes: u32,
        by_source: bool,
        actors: u64,
    },
    IdConflict {
        index: u64,
        conflict: IdConflict,
    },
}

/// Strings of the triggering record (or `"?"`-free fallbacks when it cannot be re-read).
pub(crate) struct Rec<'a> {
    pub r: Option<AccessRecord<'a>>,
}

impl Rec<'_> {
    pub fn actor(&self) -> &str {
        self.r.as_ref().map_or("(unknown actor)", |r| &r.actor)
    }
    pub fn credential(&self) -> Option<&str> {
        self.r.as_ref().and_then(|r| r.credential.as_deref())
    }
    pub fn key(&self) -> Option<&str> {
        self.r.as_ref().and_then(|r| r.signing_key.as_deref())
    }
    pub fn ip(&self) -> Option<String> {
        self.r
            .as_ref()
            .and_then(|r| r.src_ip)
            .map(|ip| ip.to_string())
    }
    /// "read GET /x (3 subjects)".
    pub fn what(&self) -> String {
        match &self.r {
            Some(r) => {
                let n = r.subjects_processed();
                let subj = match n {
                    0 => String::new(),
                    1 => " (1 subject)".into(),
                    n => format!(" ({n} subjects)"),
                };
                let failed = if r.outcome == suho_record::Outcome::Failure {
                    ", refused"
                } else {
                    ""
                };
                format!("{} {}{subj}{failed}", r.action, r.resource)
            }
            None => "accessed data".into(),
        }
    }
}

fn t(ms: i64) -> String {
    Rfc3339(ms).to_string()
}

fn opt_t(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |m| Value::String(t(m)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn cc(c: [u8; 2]) -> String {
    String::from_utf8_lossy(&c).into_owned()
}

fn status_word(s: PrincipalStatus) -> &'static str {
    match s {
        PrincipalStatus::Active => "active",
        PrincipalStatus::Suspended => "suspended",
        PrincipalStatus::Departed => "departed",
    }
}

fn since_text(since: Option<i64>) -> String {
    since.map_or_else(String::new, |s| format!(" on {}", t(s)))
}

fn ctx_json(c: &Context) -> Value {
    let mut why = Vec::new();
    if c.flags & CTX_FOREIGN != 0 {
        why.push("foreign_country");
    }
    if c.flags & CTX_NETWORK != 0 {
        why.push("unusual_network");
    }
    if c.flags & CTX_HOURS != 0 {
        why.push("off_hours");
    }
    json!({"unusual": why, "subjects_today": c.subjects, "high_above": c.threshold})
}

fn ctx_sentence(c: &Context) -> String {
    if c.subjects > c.threshold {
        format!(
            ", and it has touched {} subjects this way today (more than {})",
            c.subjects, c.threshold
        )
    } else {
        String::new()
    }
}

/// Summary sentence and evidence object for a finding.
pub(crate) fn render(
    rule: Rule,
    finding: &Finding,
    rec: &Rec<'_>,
    ix: &RegIndex,
    place: Option<Place>,
    time_ms: i64,
) -> (String, Value) {
    let actor = rec.actor();
    let when = t(time_ms);
    let from = match (rec.ip(), place) {
        (Some(ip), Some(p)) => format!(" from {ip} ({})", p.country_str()),
        (Some(ip), None) => format!(" from {ip}"),
        _ => String::new(),
    };
    let what = rec.what();
    let name = |h: u64| ix.principal_name(h).unwrap_or("(unregistered)").to_string();
    let key_name = |h: u64| {
        ix.keys.get(&h).map_or_else(
            || rec.key().unwrap_or("(unknown key)").to_string(),
            |k| k.k.id.clone(),
        )
    };
    let cred = rec.credential().unwrap_or("(none)");
    let mut ev = Map::new();
    let summary = match *finding {
        Finding::Status { status, since } => {
            ev.insert(
                "registry".into(),
                json!({"principal": actor, "status": status_word(status), "since": opt_t(since)}),
            );
            let act = if status == PrincipalStatus::Departed {
                "disable the account and revoke every credential and key it holds"
            } else {
                "confirm the suspension is enforced and find who is using the account"
            };
            format!(
                "{actor} was {}{} but {what}{from} at {when}: {act}.",
                status_word(status),
                since_text(since)
            )
        }
        Finding::Unknown => {
            ev.insert(
                "registry".into(),
                json!({"principal": actor, "registered": false, "self_access": false}),
            );
            format!(
                "{actor} is not in the registry and is not a customer acting on their own data, yet {what}{from} at {when}: find out whose account this is and register or disable it."
            )
        }
        Finding::OrphanCred {
            owner,
            status,
            since,
        } => {
            let o = name(owner);
            ev.insert(
                "registry".into(),
                json!({"credential": cred, "owner": o, "owner_status": status_word(status), "since": opt_t(since)}),
            );
            format!(
                "Credential {cred} belongs to {o}, who was {}{}, yet {actor} used it to {what}{from} at {when}: revoke {cred} and everything else {o} held.",
                status_word(status),
                since_text(since)
            )
        }
        Finding::OrphanKey {
            key,
            owner,
            status,
            since,
        } => {
            let k = key_name(key);
            let o = name(owner);
            ev.insert(
                "registry".into(),
                json!({"signing_key": k, "owner": o, "owner_status": status_word(status), "since": opt_t(since), "credential": cred}),
            );
            format!(
                "Signing key {k} belongs to {o}, who was {}{}, yet it signed credential {cred} that {actor} used to {what}{from} at {when}: revoke {k} now and review everything it signed.",
                status_word(status),
                since_text(since)
            )
        }
        Finding::CredValidity { validity, at } => {
            let (word, fix) = match validity {
                Validity::Revoked => (
                    "after it was revoked",
                    "find who still holds it and why the revocation was not enforced",
                ),
                Validity::NotYetIssued => {
                    ("before it was issued", "treat it as forged or replayed")
                }
                _ => (
                    "after it expired",
                    "find out why an expired credential was accepted",
                ),
            };
            ev.insert(
                "registry".into(),
                json!({"credential": cred, "validity": format!("{validity:?}").to_lowercase(), "at": opt_t(at)}),
            );
            format!(
                "{actor} used credential {cred} {word}{} to {what}{from} at {when}: {fix}.",
                since_text(at)
            )
        }
        Finding::Forged {
            key,
            registered_key,
        } => {
            let k = key_name(key);
            if registered_key == 0 && rec.credential().is_none() {
                ev.insert(
                    "registry".into(),
                    json!({"credential": null, "registered": false, "signing_key": k, "issuance": "registered"}),
                );
                format!(
                    "A token signed by {k}, whose credentials are all registered, named no credential id, so it cannot be one {k} issued: treat it as forged, revoke {k} and find who holds the key ({actor} used it to {what}{from} at {when})."
                )
            } else if registered_key == 0 {
                ev.insert(
                    "registry".into(),
                    json!({"credential": cred, "registered": false, "signing_key": k, "issuance": "registered"}),
                );
                format!(
                    "Credential {cred} was signed by {k}, whose credentials are all registered, but was never issued: treat it as forged, revoke {k} and find who holds the key ({actor} used it to {what}{from} at {when})."
                )
            } else {
                let rk = key_name(registered_key);
                ev.insert("registry".into(), json!({"credential": cred, "registered_signing_key": rk, "presented_signing_key": k}));
                format!(
                    "Credential {cred} was issued under signing key {rk} but arrived signed by {k}: treat it as forged and revoke {k} ({actor} used it to {what}{from} at {when})."
                )
            }
        }
        Finding::OwnerMismatch { owner } => {
            let o = name(owner);
            ev.insert(
                "registry".into(),
                json!({"credential": cred, "owner": o, "presented_by": actor}),
            );
            format!(
                "Credential {cred} was issued to {o} but {actor} presented it to {what}{from} at {when}: the credential may be stolen or shared; revoke it."
            )
        }
        Finding::KeyState { key, status, since } => {
            let k = key_name(key);
            let word = if status == KeyStatus::Revoked {
                "revoked"
            } else {
                "retired"
            };
            ev.insert("registry".into(), json!({"signing_key": k, "status": word, "since": opt_t(since), "credential": cred}));
            format!(
                "Credential {cred} was signed by {k}, {word}{}, and {actor} used it to {what}{from} at {when}: anything {k} signs now is suspect; find who still signs with it.",
                since_text(since)
            )
        }
        Finding::UnknownKey { key } => {
            let k = key_name(key);
            ev.insert(
                "registry".into(),
                json!({"signing_key": k, "registered": false, "credential": cred}),
            );
            format!(
                "Credential {cred} was signed by {k}, a key the registry does not know, and {actor} used it to {what}{from} at {when}: register the key if it is legitimate, otherwise treat its tokens as forged."
            )
        }
        Finding::Foreign {
            country,
            service,
            bulk,
            several,
            ctx,
        } => {
            let p = ix.principal_at(crate::hash::hash_id(actor), time_ms);
            let own: Vec<String> = p
                .map(|p| p.countries.iter().map(|c| cc(*c)).collect())
                .unwrap_or_default();
            ev.insert(
                "origin".into(),
                json!({"country": cc(country), "principal_countries": own, "service_account": service, "bulk": bulk, "several_foreign_countries_today": several, "context": ctx_json(&ctx)}),
            );
            let why = if service {
                " (a service account, which does not travel)".to_string()
            } else if several {
                " (one of several foreign countries today)".to_string()
            } else {
                String::new()
            };
            format!(
                "{actor} accessed personal data from {}{why}, outside the home countries and its own, and {what}{from} at {when}{}: confirm the person is travelling, otherwise disable the credential.",
                cc(country),
                ctx_sentence(&ctx)
            )
        }
        Finding::Network {
            prefix,
            usual,
            registry,
            service,
            ctx,
        } => {
            ev.insert(
                "origin".into(),
                json!({"network": prefix_text(prefix), "usual_networks_learned": usual, "registry_networks": registry, "service_account": service, "context": ctx_json(&ctx)}),
            );
            format!(
                "{actor} came from {}, a network it does not normally use, and {what}{from} at {when}{}: check that this is the person (or system) it should be.",
                prefix_text(prefix),
                ctx_sentence(&ctx)
            )
        }
        Finding::Travel {
            from: prev,
            km,
            kmh,
        } => {
            ev.insert(
                "origin".into(),
                json!({"previous_country": cc(prev.cc), "previous_time": t(prev.time), "country": place.map(|p| p.country_str().to_string()), "distance_km": km.round(), "speed_kmh": kmh.round()}),
            );
            format!(
                "Credential {cred} was used in {} at {} and{from} at {when}, {:.0} km apart ({:.0} km/h): one of them is not its owner; revoke the credential.",
                cc(prev.cc),
                t(prev.time),
                km,
                kmh
            )
        }
        Finding::Shared {
            prefix,
            actors,
            threshold,
            foreign,
        } => {
            ev.insert(
                "origin".into(),
                json!({"network": prefix_text(prefix), "distinct_actors_this_hour": actors, "threshold": threshold, "foreign": foreign}),
            );
            format!(
                "About {actors} different accounts acted from {} within an hour (normal is below {threshold}), the latest {actor}{from} at {when}: one party is driving many accounts; check for stolen or forged customer tokens and block the network.",
                prefix_text(prefix)
            )
        }
        Finding::Volume {
            hourly,
            purposed,
            subjects,
            unlisted,
            own_median,
            own,
            peer,
            threshold,
            ctx,
        } => {
            let per = if hourly { "hour" } else { "day" };
            let work = if purposed {
                "under a stated purpose"
            } else {
                "without a stated purpose"
            };
            ev.insert(
                "behaviour".into(),
                json!({"window": per, "work": if purposed {"purposed"} else {"without_purpose"}, "distinct_subjects": subjects, "subjects_counted_from_counts": unlisted, "own_median": own_median, "own_normal": own, "peer_normal": peer, "threshold": threshold, "context": ctx_json(&ctx)}),
            );
            let base = match (own, peer) {
                (Some(o), Some(p)) => format!("its normal high {o} and its peers' {p}"),
                (Some(o), None) => format!("its normal high {o}"),
                (None, Some(p)) => {
                    format!("its peers' normal high {p} (no history of its own yet)")
                }
                (None, None) => "a cold-start default (no history for it or its peers)".to_string(),
            };
            let counts = if unlisted > 0 {
                format!(" ({unlisted} of them from records that give only a count, each resource counted once at its largest)")
            } else {
                String::new()
            };
            let ask = if purposed {
                "check the tickets it names"
            } else {
                "ask what the work was and stop the account if nobody can say"
            };
            format!(
                "{actor} touched {subjects} distinct subjects {work} in one {per}{counts}, against {base} for such work (threshold {threshold}); latest: {what}{from} at {when}{}: {ask}.",
                ctx_sentence(&ctx)
            )
        }
        Finding::Shift {
            median,
            scale,
            factor,
            today,
            excess,
            days,
            sum,
            limit,
            peers,
        } => {
            ev.insert(
                "behaviour".into(),
                json!({"method": "cusum", "peers_daily_median": peers, "daily_median": median, "daily_scale": (scale * 10.0).round() / 10.0, "peers_day_factor": (factor * 100.0).round() / 100.0, "subjects_today": today, "excess_subjects": excess, "days": days, "cusum": (sum * 10.0).round() / 10.0, "limit": limit}),
            );
            format!(
                "{actor} has read about {excess} distinct subjects more than its normal {median} a day over the last {days} days ({today} so far today): the cumulative excess, {sum:.1} standard deviations, is past the limit of {limit}; a slow, steady harvest looks like this; review what it read (latest: {what}{from} at {when})."
            )
        }
        Finding::RoleData {
            fields,
            subjects,
            role_days,
            peer_days,
            weight,
        } => {
            let names: Vec<&str> = crate::features::FIELD_NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| fields & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            let class = match weight {
                3 => "sensitive information or a unique identifier",
                2 => "financial data",
                _ => "personal data",
            };
            ev.insert(
                "behaviour".into(),
                json!({"fields": names, "distinct_subjects_today": subjects, "role_member_days": role_days, "role_member_days_with_field": peer_days, "sensitivity": class}),
            );
            format!(
                "{actor} read {} ({class}) of {subjects} subjects today, data its role's peers read on {peer_days} of {role_days} member-days; latest: {what}{from} at {when}: ask why this work needs it.",
                names.join(", ")
            )
        }
        Finding::Enumeration {
            hits,
            steps,
            days_before,
        } => {
            ev.insert(
                "behaviour".into(),
                json!({"sequential_steps_today": hits, "steps_today": steps, "earlier_days_with_walks": days_before}),
            );
            format!(
                "{actor} is walking subject ids in sequence ({hits} of its {steps} moves today went to the next id), latest: {what}{from} at {when}: this is how scrapers and stolen keys harvest data; revoke the credential."
            )
        }
        Finding::Reach {
            days,
            subjects,
            own,
            peer,
            threshold,
            purposed,
        } => {
            ev.insert(
                "behaviour".into(),
                json!({"window_days": days, "distinct_subjects": subjects, "own_previous": own, "peer_normal": peer, "threshold": threshold, "subjects_with_purpose": purposed}),
            );
            let base = match (own, peer) {
                (Some(o), Some(p)) => format!("its own {o} before and its peers' {p}"),
                (Some(o), None) => format!("its own {o} before"),
                (None, Some(p)) => format!("its peers' {p}"),
                (None, None) => "the default".into(),
            };
            format!(
                "{actor} has touched about {subjects} distinct subjects over the last {days} days, against {base} (threshold {threshold}): a slow, steady harvest looks like this; review what it read."
            )
        }
        Finding::Bulk { subjects, normal } => {
            ev.insert("behaviour".into(), json!({"subjects": subjects, "purpose": Value::Null, "normal_size_without_purpose": normal}));
            format!(
                "{actor} did {what}{from} at {when} with no purpose recorded (PIPA safety standard Art. 8(2) requires the reason for downloads): ask for the ticket, and recover the file if there is none."
            )
        }
        Finding::OffHours {
            hour,
            active_days,
            by_peers,
            ctx,
        } => {
            ev.insert(
                "behaviour".into(),
                json!({"hour_home_time": hour, "active_days_observed": active_days, "judged_by": if by_peers {"peers"} else {"own history"}, "context": ctx_json(&ctx)}),
            );
            let whose = if by_peers {
                "its role never works"
            } else {
                "it has never worked in"
            };
            format!(
                "{actor} was active at {hour:02}:00 home time, an hour {whose} (over {active_days} active days), and {what}{from} at {when}{}: check that it was really them.",
                ctx_sentence(&ctx)
            )
        }
        Finding::LoginFailed {
            failures,
            minutes,
            by_source,
            actors,
        } => {
            ev.insert(
                "behaviour".into(),
                json!({"failures": failures, "window_minutes": minutes, "per": if by_source {"source_ip"} else {"actor"}, "distinct_accounts": actors}),
            );
            if by_source {
                format!(
                    "{failures} failed logins against about {actors} accounts came{from} within {minutes} minutes (latest {actor} at {when}): password guessing or credential stuffing; block the source."
                )
            } else {
                format!(
                    "{actor} failed to log in {failures} times within {minutes} minutes (latest{from} at {when}): someone may be guessing its password; lock the account and check with its owner."
                )
            }
        }
        Finding::IdConflict { index, conflict } => {
            let id = rec
                .r
                .as_ref()
                .and_then(|r| r.id.as_deref())
                .unwrap_or("(unknown)");
            let first = conflict.first;
            ev.insert(
                "ledger".into(),
                json!({"id": id, "ledger_index": index, "body_sha256": hex(&conflict.sha256), "first_ledger_index": first, "first_body_sha256_prefix": hex(&conflict.first_sha256)}),
            );
            format!(
                "Record {index} ({actor}: {what}{from} at {when}) reuses id \"{id}\" of record {first}, whose content differs; both are stored: compare them (`suho ledger show {first}`, `suho ledger show {index}`) to tell a producer that reuses ids from a record sent first under a predicted id to have the real one dropped."
            )
        }
    };
    ev.insert("rule".into(), Value::String(rule.as_str().into()));
    (summary, Value::Object(ev))
}
