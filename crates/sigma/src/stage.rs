//! The detection-stage half: in ledger order, the rules that read `role`, rsigma's
//! correlation engine over every match, and the alerts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rsigma_eval::{CorrelationConfig, CorrelationEngine, EvaluationResult, TimestampFallback};
use rsigma_parser::{CorrelationCondition, CorrelationRule, CorrelationType, SigmaCollection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use suho_detect::{hash_id, Alert, Mark};
use suho_record::AccessRecord;
use suho_registry::Registry;

use crate::event::RecordEvent;
use crate::{RuleKind, RuleSet, SigmaError};

const DAY: i64 = 86_400_000;
/// Correlation groups (per correlation and group-by value) kept at most, across all
/// correlations; the stalest go first (rsigma's hard cap).
pub const MAX_GROUPS: usize = 8_192;
/// Entries (matches, or values for `value_count`) kept per group; the oldest go first, which
/// can only under-count. A threshold above this could never be reached and is refused.
pub const MAX_GROUP_ENTRIES: usize = 5_000;
/// Listed subjects of one record fed to a `value_count` over `subjects`.
pub const MAX_SUBJECTS_PER_RECORD: usize = MAX_GROUP_ENTRIES;
/// Open (foldable) Sigma alerts remembered at most.
const MAX_OPEN: usize = 50_000;

/// A `value_count` over `subjects`: fed once per listed subject.
pub(crate) fn per_subject(c: &CorrelationRule) -> bool {
    c.correlation_type == CorrelationType::ValueCount
        && matches!(&c.condition, CorrelationCondition::Threshold { field: Some(f), .. } if f.iter().any(|f| f == "subjects"))
}

/// What suho cannot run of a correlation that rsigma compiles.
pub(crate) fn check_supported(c: &CorrelationRule) -> Result<(), String> {
    if let Some(g) = c
        .group_by
        .iter()
        .find(|g| *g == "subjects" || *g == "fields")
    {
        return Err(format!(
            "group-by {g:?} is a list; group by a single-valued field (actor, resource, src_ip, role, ...)"
        ));
    }
    if let CorrelationCondition::Threshold {
        predicates, field, ..
    } = &c.condition
    {
        if per_subject(c) && field.as_ref().is_some_and(|f| f.len() != 1) {
            return Err(
                "a value_count over subjects counts subjects alone (no other field)".into(),
            );
        }
        if let Some((_, v)) = predicates
            .iter()
            .find(|(_, v)| usize::try_from(*v).unwrap_or(usize::MAX) >= MAX_GROUP_ENTRIES)
        {
            return Err(format!(
                "threshold {v} is at or above the {MAX_GROUP_ENTRIES} entries a group keeps, so it could never be reached"
            ));
        }
    }
    Ok(())
}

/// One open alert: its last emitted form and when to emit again.
#[derive(Clone, Serialize, Deserialize)]
struct Open {
    alert: Alert,
    count: u64,
    next_emit: u64,
    last_ms: i64,
    end_ms: i64,
}

/// What the stage saves beside the detector state.
#[derive(Serialize, Deserialize)]
struct Saved {
    position: u64,
    rules: String,
    main: rsigma_eval::CorrelationSnapshot,
    per_subject: Option<rsigma_eval::CorrelationSnapshot>,
    open: Vec<(String, Open)>,
}

fn engine(rules: &RuleSet, keep: impl Fn(&CorrelationRule) -> bool) -> Option<CorrelationEngine> {
    let correlations: Vec<CorrelationRule> = rules
        .collection
        .correlations
        .iter()
        .filter(|c| keep(c))
        .cloned()
        .collect();
    if correlations.is_empty() {
        return None;
    }
    let mut e = CorrelationEngine::new(CorrelationConfig {
        timestamp_fallback: TimestampFallback::Skip,
        max_state_entries: MAX_GROUPS,
        max_group_entries: Some(MAX_GROUP_ENTRIES),
        emit_detections: true,
        ..CorrelationConfig::default()
    });
    let c = SigmaCollection {
        rules: rules.collection.rules.clone(),
        correlations,
        filters: Vec::new(),
        errors: Vec::new(),
    };
    // The rule set was checked whole at load; a failure here leaves correlations off
    // rather than detection down.
    e.add_collection(&c).ok()?;
    Some(e)
}

/// The Sigma rules' detection-stage state: correlation windows, open alerts, roles.
pub struct Stage {
    rules: Arc<RuleSet>,
    main: Option<CorrelationEngine>,
    per_subject: Option<CorrelationEngine>,
    /// Info index of each correlation, by its id (or title).
    corr_info: HashMap<String, usize>,
    registry: Arc<Registry>,
    /// Folded role by actor hash, for dispatching the rules that read `role`.
    roles: HashMap<u64, String>,
    offset_ms: i64,
    open: HashMap<String, Open>,
    swept_day: i64,
    swept_hour: i64,
    dets: Vec<(u32, EvaluationResult)>,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage")
            .field("rules", &self.rules)
            .field("open", &self.open.len())
            .finish_non_exhaustive()
    }
}

fn hex16(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now_text() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    suho_record::format_rfc3339_ms(ms)
}

/// What an alert about one match says.
struct Raise<'x> {
    info: usize,
    /// What the alert is folded by besides rule and day: the actor, or the group.
    entity: String,
    incident_of: String,
    summary: String,
    evidence: serde_json::Value,
    rec: &'x AccessRecord<'x>,
}

impl Stage {
    /// The stage for `rules`, checking `registry`'s roles; days run from midnight at UTC
    /// offset `offset_ms` (the detectors' home time).
    pub fn new(rules: Arc<RuleSet>, registry: Arc<Registry>, offset_ms: i64) -> Stage {
        let main = engine(&rules, |c| !per_subject(c));
        let per = engine(&rules, per_subject);
        let corr_info = rules
            .infos
            .iter()
            .enumerate()
            .filter(|(_, i)| i.kind == RuleKind::Correlation)
            .map(|(n, i)| (i.id.clone().unwrap_or_else(|| i.title.clone()), n))
            .collect();
        let mut s = Stage {
            rules,
            main,
            per_subject: per,
            corr_info,
            registry: Arc::new(Registry::default()),
            roles: HashMap::new(),
            offset_ms,
            open: HashMap::new(),
            swept_day: i64::MIN,
            swept_hour: i64::MIN,
            dets: Vec::new(),
        };
        s.set_registry(registry);
        s
    }

    /// The rules it runs.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Replaces the registry (its roles feed the rules that read `role`).
    pub fn set_registry(&mut self, registry: Arc<Registry>) {
        self.roles.clear();
        if self.rules.det.iter().any(|d| d.role.is_some()) {
            for p in registry.principals.values() {
                if let Some(role) = &p.role {
                    self.roles.insert(hash_id(&p.id), role.to_lowercase());
                }
            }
        }
        self.registry = registry;
    }

    /// Checks the stored record at ledger `index` (raw JSON `body`, actor hash `actor`): `pre` are the rules the parse worker found matching, or for rules
    /// that read `role`, worth evaluating here (the second of each pair); every match feeds
    /// the correlations; alerts go to `out`. A record with nothing in `pre` costs nothing.
    pub fn observe(
        &mut self,
        index: u64,
        actor: u64,
        body: &[u8],
        pre: &[(u32, u32)],
        out: &mut Vec<Alert>,
    ) {
        if pre.is_empty() {
            return;
        }
        // A rule on `role` comes as a candidate: its actor's role must fit before the record
        // is parsed again.
        let rules = Arc::clone(&self.rules);
        let role_fits = |n: u32| match rules.det.get(n as usize) {
            Some(d) if d.on_stage => match &d.role {
                Some(want) => self.roles.get(&actor).is_some_and(|r| want.contains(r)),
                None => true,
            },
            Some(_) => true,
            None => false,
        };
        let cand: Vec<u32> = pre.iter().map(|p| p.1).filter(|&n| role_fits(n)).collect();
        if cand.is_empty() {
            return;
        }
        let Ok(rec) = suho_record::parse_record(body) else {
            return;
        };
        let registry = Arc::clone(&self.registry);
        let role = registry
            .principal(&rec.actor)
            .and_then(|p| p.role.as_deref());
        let ev = RecordEvent {
            rec: &rec,
            role,
            one_subject: None,
        };
        let mut dets = std::mem::take(&mut self.dets);
        dets.clear();
        for &n in &cand {
            if let Some(r) = self.rules.det.get(n as usize) {
                if let Some(m) = rsigma_eval::evaluate_rule(&r.compiled, &ev) {
                    dets.push((n, m));
                }
            }
        }
        if !dets.is_empty() {
            self.matched(index, &rec, &ev, &dets, out);
        }
        self.dets = dets;
    }

    fn matched(
        &mut self,
        index: u64,
        rec: &AccessRecord<'_>,
        ev: &RecordEvent<'_, '_>,
        dets: &[(u32, EvaluationResult)],
        out: &mut Vec<Alert>,
    ) {
        let t = rec.time_ms;
        self.sweep(t);
        for (n, m) in dets {
            let Some(info) = self.rules.det.get(*n as usize).map(|r| r.info) else {
                continue;
            };
            let i = &self.rules.infos[info];
            if !i.alerts {
                continue;
            }
            let matched: Vec<serde_json::Value> = m
                .as_detection()
                .map(|d| {
                    d.matched_fields
                        .iter()
                        .map(|f| serde_json::json!({ "field": f.field, "value": f.value }))
                        .collect()
                })
                .unwrap_or_default();
            let summary = format!(
                "{} matched the team's Sigma rule {:?} ({} {}); see the rule in {}",
                rec.actor,
                i.title,
                rec.action,
                rec.resource,
                i.file.display()
            );
            let evidence = serde_json::json!({
                "sigma": {
                    "rule": i.name, "title": i.title, "id": i.id, "file": i.file,
                    "level": i.level, "matched": matched,
                }
            });
            self.raise(
                index,
                Raise {
                    info,
                    entity: format!("actor:{}", rec.actor),
                    incident_of: format!("actor:{}", rec.actor),
                    summary,
                    evidence,
                    rec,
                },
                out,
            );
        }
        if self.main.is_none() && self.per_subject.is_none() {
            return;
        }
        let ts = t.div_euclid(1000);
        let only: Vec<EvaluationResult> = dets.iter().map(|(_, m)| m.clone()).collect();
        let mut fired = Vec::new();
        if let Some(e) = self.main.as_mut() {
            fired.extend(
                e.process_with_detections(ev, only.clone(), ts)
                    .into_iter()
                    .filter(EvaluationResult::is_correlation),
            );
        }
        if let Some(e) = self.per_subject.as_mut() {
            for i in 0..rec.subjects.len().min(MAX_SUBJECTS_PER_RECORD) {
                let one = RecordEvent {
                    one_subject: Some(i),
                    ..*ev
                };
                fired.extend(
                    e.process_with_detections(&one, only.clone(), ts)
                        .into_iter()
                        .filter(EvaluationResult::is_correlation),
                );
            }
        }
        for f in fired {
            let key = f
                .header
                .rule_id
                .clone()
                .unwrap_or_else(|| f.header.rule_title.clone());
            let (Some(&info), Some(body)) = (self.corr_info.get(&key), f.as_correlation()) else {
                continue;
            };
            let i = &self.rules.infos[info];
            let group: serde_json::Map<String, serde_json::Value> = body
                .group_key
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            let group_text = if body.group_key.is_empty() {
                "all records".to_string()
            } else {
                body.group_key
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let incident_of = body
                .group_key
                .iter()
                .find_map(|(k, v)| match k.as_str() {
                    "actor" => Some(format!("actor:{v}")),
                    "credential" => Some(format!("credential:{v}")),
                    "signing_key" => Some(format!("signing_key:{v}")),
                    "src_ip" => Some(format!("source:{v}")),
                    _ => None,
                })
                .unwrap_or_else(|| format!("actor:{}", rec.actor));
            let summary = format!(
                "{group_text}: the team's Sigma correlation {:?} ({}) reached {} within {} s; see the rule in {}",
                i.title,
                i.correlation_type.as_deref().unwrap_or("correlation"),
                body.aggregated_value,
                body.timespan_secs,
                i.file.display()
            );
            let evidence = serde_json::json!({
                "sigma": {
                    "rule": i.name, "title": i.title, "id": i.id, "file": i.file,
                    "level": i.level, "type": i.correlation_type, "group": group,
                    "value": body.aggregated_value, "timespan_secs": body.timespan_secs,
                }
            });
            self.raise(
                index,
                Raise {
                    info,
                    entity: format!("group:{group_text}"),
                    incident_of,
                    summary,
                    evidence,
                    rec,
                },
                out,
            );
        }
    }

    /// Drops what event time has left behind: once per event hour (correlation windows) and
    /// day (open alerts).
    fn sweep(&mut self, t: i64) {
        let hour = t.div_euclid(3_600_000);
        if hour > self.swept_hour {
            self.swept_hour = hour;
            for e in [self.main.as_mut(), self.per_subject.as_mut()]
                .into_iter()
                .flatten()
            {
                e.evict_expired(t.div_euclid(1000));
            }
        }
        let day = t.div_euclid(DAY);
        if day > self.swept_day {
            self.swept_day = day;
            self.open.retain(|_, o| o.end_ms + DAY >= t);
        }
    }

    /// Raises (or folds into the open alert of the same rule, entity and day) one match.
    fn raise(&mut self, index: u64, x: Raise<'_>, out: &mut Vec<Alert>) {
        let t = x.rec.time_ms;
        let off = self.offset_ms;
        let win_start = (t + off).div_euclid(DAY) * DAY - off;
        let i = &self.rules.infos[x.info];
        let id = format!(
            "al-{}",
            hex16(format!("{}\0{}\0{}", i.name, x.entity, win_start).as_bytes())
        );
        if let Some(o) = self.open.get_mut(&id) {
            o.count += 1;
            if t >= o.last_ms {
                o.last_ms = t;
                o.alert.last_ledger_index = index;
            }
            if o.count < o.next_emit {
                return;
            }
            o.next_emit = o.count.saturating_mul(2);
            o.alert.summary = x.summary;
            o.alert.evidence = x.evidence;
            o.alert.count = o.count;
            o.alert.last_time = suho_record::format_rfc3339_ms(o.last_ms);
            o.alert.detected_at = now_text();
            // A Sigma rule's severity is its level: `raised` keeps its one entry.
            o.alert.updated = Some(Mark {
                severity: o.alert.severity,
                time: suho_record::format_rfc3339_ms(t),
                ledger_index: index,
            });
            out.push(o.alert.clone());
            return;
        }
        let alert = new_alert(id.clone(), i, index, &x, win_start);
        out.push(alert.clone());
        if self.open.len() < MAX_OPEN {
            self.open.insert(
                id,
                Open {
                    alert,
                    count: 1,
                    next_emit: 2,
                    last_ms: t,
                    end_ms: win_start + DAY,
                },
            );
        }
    }

    /// Emits the open alerts that absorbed matches since they were last emitted, so stored
    /// counts are exact (call before saving). Ordered by alert id.
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        let mut pending: Vec<&mut Open> = self
            .open
            .values_mut()
            .filter(|o| o.count > o.alert.count)
            .collect();
        pending.sort_by(|a, b| a.alert.id.cmp(&b.alert.id));
        let now = now_text();
        for o in pending {
            o.alert.count = o.count;
            o.alert.last_time = suho_record::format_rfc3339_ms(o.last_ms);
            o.alert.detected_at = now.clone();
            // A count-only update: the latest record folded in.
            o.alert.updated = Some(Mark {
                severity: o.alert.severity,
                time: o.alert.last_time.clone(),
                ledger_index: o.alert.last_ledger_index,
            });
            out.push(o.alert.clone());
        }
    }

    /// A fingerprint of the rule set, so saved windows are used only with the same rules.
    fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for i in &self.rules.infos {
            h.update(i.name.as_bytes());
            h.update([0]);
            h.update(i.dispatch.as_bytes());
            h.update([0]);
        }
        hex16(&h.finalize())
    }

    /// Saves correlation windows and open alerts to `path` (atomically), as of ledger
    /// position `position`.
    pub fn save_state(&self, path: &Path, position: u64) -> Result<(), SigmaError> {
        let saved = Saved {
            position,
            rules: self.fingerprint(),
            main: self
                .main
                .as_ref()
                .map(CorrelationEngine::export_state)
                .unwrap_or_else(|| CorrelationEngine::new(Default::default()).export_state()),
            per_subject: self
                .per_subject
                .as_ref()
                .map(CorrelationEngine::export_state),
            open: self
                .open
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let bytes = serde_json::to_vec(&saved).map_err(|e| SigmaError::Rule {
            path: path.to_path_buf(),
            reason: format!("cannot encode the Sigma state: {e}"),
        })?;
        suho_durable::write_atomic(path, &bytes).map_err(|e| SigmaError::Io {
            path: e.path,
            source: e.source,
        })
    }

    /// Restores what [`Stage::save_state`] wrote, but only if it was saved at ledger
    /// `position` (the position the detector state was loaded at) with the same rules:
    /// otherwise the windows start empty, which can only delay a correlation, never count a
    /// replayed record twice. Says whether it restored.
    pub fn load_state(&mut self, path: &Path, position: u64) -> bool {
        let Ok(bytes) = std::fs::read(path) else {
            return false;
        };
        let Ok(saved) = serde_json::from_slice::<Saved>(&bytes) else {
            return false;
        };
        if saved.position != position || saved.rules != self.fingerprint() {
            return false;
        }
        if let Some(e) = self.main.as_mut() {
            e.import_state(saved.main);
        }
        if let (Some(e), Some(s)) = (self.per_subject.as_mut(), saved.per_subject) {
            e.import_state(s);
        }
        self.open = saved.open.into_iter().take(MAX_OPEN).collect();
        true
    }
}

fn new_alert(id: String, i: &crate::RuleInfo, index: u64, x: &Raise<'_>, win_start: i64) -> Alert {
    let r = x.rec;
    let t = suho_record::format_rfc3339_ms(r.time_ms);
    Alert {
        id,
        rule: i.name.clone(),
        severity: i.severity,
        time: t.clone(),
        detected_at: now_text(),
        actor: Some(r.actor.to_string()),
        credential: r.credential.as_deref().map(str::to_string),
        signing_key: r.signing_key.as_deref().map(str::to_string),
        src_ip: r.src_ip.map(|ip| ip.to_string()),
        country: None,
        ledger_index: index,
        summary: x.summary.clone(),
        evidence: x.evidence.clone(),
        record_id: r.id.as_deref().map(str::to_string),
        incident: format!("inc-{}", hex16(x.incident_of.as_bytes())),
        incident_of: x.incident_of.clone(),
        count: 1,
        last_time: t.clone(),
        last_ledger_index: index,
        window: format!(
            "{}/{}",
            suho_record::format_rfc3339_ms(win_start),
            suho_record::format_rfc3339_ms(win_start + DAY)
        ),
        raised: vec![Mark {
            severity: i.severity,
            time: t.clone(),
            ledger_index: index,
        }],
        updated: Some(Mark {
            severity: i.severity,
            time: t,
            ledger_index: index,
        }),
        suppressed_by: None,
        digest: None,
    }
}
