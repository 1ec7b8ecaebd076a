//! Custom detections in Sigma: a team's own detection and correlation rules over the access
//! record's fields (contract section 1), loaded from a directory without rebuilding
//! (`[detect] sigma_rules = "rules/"`), run in the same pass as the built-in detectors, and
//! raising contract alerts (`rule` = `sigma:<id or title>`, severity from the rule's `level`).
//!
//! Evaluation is rsigma's (`rsigma-eval`, pinned); suho adds three things around it:
//! * [`RecordEvent`]: rsigma's event trait over suho's own parsed record, so no JSON value is
//!   built per record.
//! * Dispatch ([`RuleSet::match_record`]): every rule is filed under a field value every
//!   record it can match must carry (an exact `action`, `resource`, `purpose`, field category,
//!   `actor`, `outcome` or `role`); a record is checked only against the rules filed under its
//!   own values and the few residual ones. Rules that do not read `role` run on the ingest's
//!   parse workers, on the record they just parsed.
//! * [`Stage`]: on the detection stage, in ledger order, the rules that read `role` (from the
//!   registry), the correlation rules (rsigma's correlation engine, event time, bounded
//!   state), and the alerts, folded per rule, actor (or group) and day.

#![forbid(unsafe_code)]

mod event;
mod index;
mod stage;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use rsigma_eval::CompiledRule;
use rsigma_parser::{CorrelationType, Level, SigmaCollection, Status};
use suho_detect::Severity;
use suho_record::AccessRecord;

pub use event::{RecordEvent, FIELDS};
pub use stage::Stage;

use index::{Dispatch, Key};

/// Why a rules directory cannot be used. Every message names the file and says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigmaError {
    /// The directory or a file in it cannot be read.
    #[error("Sigma rules {}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A rule file is not a Sigma rule suho can run.
    #[error("Sigma rule file {}: {reason}", path.display())]
    Rule {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Whether a loaded rule matches single records or correlates matches across records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// A detection rule.
    Detection,
    /// A correlation rule (`event_count`, `value_count`, ...).
    Correlation,
}

/// One loaded rule, as `suho rules` lists it.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    /// The rule's name in alerts: `sigma:<id or title>`.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Its `id`, if it has one.
    pub id: Option<String>,
    /// Its `title`.
    pub title: String,
    /// Its `level` as written (`informational` .. `critical`), if any.
    pub level: Option<String>,
    /// The alert severity that level gives.
    pub severity: Severity,
    /// Its `status` (`stable`, `test`, ...), if any.
    pub status: Option<String>,
    /// Detection or correlation (with its type, e.g. `value_count`).
    pub kind: RuleKind,
    /// For a correlation, its type (`event_count`, ...).
    pub correlation_type: Option<String>,
    /// How a record reaches it: `action=export`, `fields=health,...`, `residual`, or for a
    /// correlation, the rules it counts.
    pub dispatch: String,
    /// Whether it raises alerts of its own (a detection rule only counted by a correlation
    /// does not, unless that correlation says `generate: true`).
    pub alerts: bool,
}

/// The alert severity of a Sigma `level`: `informational` (and no level) is low.
pub fn severity_of(level: Option<Level>) -> Severity {
    match level {
        Some(Level::Critical) => Severity::Critical,
        Some(Level::High) => Severity::High,
        Some(Level::Medium) => Severity::Medium,
        Some(Level::Low | Level::Informational) | None => Severity::Low,
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Stable => "stable",
        Status::Test => "test",
        Status::Experimental => "experimental",
        Status::Deprecated => "deprecated",
        Status::Unsupported => "unsupported",
    }
}

fn correlation_type_name(t: CorrelationType) -> &'static str {
    match t {
        CorrelationType::EventCount => "event_count",
        CorrelationType::ValueCount => "value_count",
        CorrelationType::Temporal => "temporal",
        CorrelationType::TemporalOrdered => "temporal_ordered",
        CorrelationType::ValueSum => "value_sum",
        CorrelationType::ValueAvg => "value_avg",
        CorrelationType::ValuePercentile => "value_percentile",
        CorrelationType::ValueMedian => "value_median",
    }
}

/// A compiled detection rule and what alerts need of it.
pub(crate) struct DetRule {
    pub(crate) compiled: CompiledRule,
    pub(crate) info: usize,
    /// Reads `role`: runs on the detection stage, where the registry is.
    pub(crate) on_stage: bool,
    /// Field values every record it matches carries, checked before rsigma runs (`role`
    /// apart).
    pub(crate) needs: Vec<(Key, Vec<String>)>,
    /// Native tests (CIDR, substring) every record it matches passes, checked after `needs`.
    pub(crate) pre: Vec<index::Pre>,
    /// The roles one of which its actor must have, folded, when it needs one.
    pub(crate) role: Option<Vec<String>>,
}

/// Every rule of a rules directory, compiled and filed for dispatch. Shared (read-only)
/// between the parse workers and the detection stage.
pub struct RuleSet {
    dir: PathBuf,
    infos: Vec<RuleInfo>,
    det: Vec<DetRule>,
    /// Every detection rule, filed by the values it needs besides `role`.
    worker: Dispatch,
    /// The parsed rules, for the stage's correlation engines.
    collection: SigmaCollection,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("dir", &self.dir)
            .field("rules", &self.infos.len())
            .finish_non_exhaustive()
    }
}

/// The files of a rules directory: `*.yml` and `*.yaml`, recursively, in name order.
fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, SigmaError> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let io = |source| SigmaError::Io {
            path: d.clone(),
            source,
        };
        for entry in std::fs::read_dir(&d).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

impl RuleSet {
    /// Loads every `*.yml` / `*.yaml` file under `dir` (recursively). A file that is not
    /// valid Sigma, a rule that cannot compile, a duplicate id, or a correlation that names
    /// an unknown rule is an error naming the file; nothing is loaded then.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, SigmaError> {
        let mut texts = Vec::new();
        for path in rule_files(dir)? {
            let text = std::fs::read_to_string(&path).map_err(|source| SigmaError::Io {
                path: path.clone(),
                source,
            })?;
            texts.push((path, text));
        }
        RuleSet::from_texts(dir, &texts)
    }

    /// Like [`RuleSet::load_dir`] over `(file, text)` pairs (for tools and tests).
    pub fn from_texts(dir: &Path, texts: &[(PathBuf, String)]) -> Result<RuleSet, SigmaError> {
        let mut all = SigmaCollection::new();
        let mut rule_file = Vec::new();
        let mut corr_file = Vec::new();
        for (path, text) in texts {
            let bad = |reason: String| SigmaError::Rule {
                path: path.clone(),
                reason,
            };
            let c = rsigma_parser::parse_sigma_yaml(text).map_err(|e| bad(e.to_string()))?;
            if let Some(e) = c.errors.first() {
                return Err(bad(e.clone()));
            }
            if c.rules.is_empty() && c.correlations.is_empty() && c.filters.is_empty() {
                return Err(bad(
                    "holds no Sigma rule (no detection or correlation)".into()
                ));
            }
            for mut r in c.rules {
                // rsigma finds a matched rule's correlations by its `id` alone: a rule
                // with only a `name` is given its name as id.
                if r.id.is_none() {
                    r.id = r.name.clone();
                }
                rule_file.push(path.clone());
                all.rules.push(r);
            }
            for mut corr in c.correlations {
                if corr.id.is_none() {
                    corr.id = corr.name.clone();
                }
                corr_file.push(path.clone());
                all.correlations.push(corr);
            }
            all.filters.extend(c.filters);
        }
        RuleSet::build(dir, all, rule_file, corr_file)
    }

    fn build(
        dir: &Path,
        all: SigmaCollection,
        rule_file: Vec<PathBuf>,
        corr_file: Vec<PathBuf>,
    ) -> Result<RuleSet, SigmaError> {
        // Ids and names must be unique: alerts and correlations refer to rules by them.
        let mut seen: HashMap<String, &PathBuf> = HashMap::new();
        let idents = all
            .rules
            .iter()
            .map(|r| (r.id.as_deref(), r.name.as_deref()))
            .zip(&rule_file)
            .chain(
                all.correlations
                    .iter()
                    .map(|c| (c.id.as_deref(), c.name.as_deref()))
                    .zip(&corr_file),
            );
        for ((id, name), file) in idents {
            let names: BTreeSet<&str> = id.into_iter().chain(name).collect();
            for n in names {
                if let Some(first) = seen.insert(n.to_string(), file) {
                    return Err(SigmaError::Rule {
                        path: file.clone(),
                        reason: format!(
                            "the rule id or name {n:?} is already used in {}",
                            first.display()
                        ),
                    });
                }
            }
        }
        for (corr, file) in all.correlations.iter().zip(&corr_file) {
            if let Some(r) = corr.rules.iter().find(|r| !seen.contains_key(r.as_str())) {
                return Err(SigmaError::Rule {
                    path: file.clone(),
                    reason: format!(
                        "correlation {:?} counts rule {r:?}, which no loaded rule has as id or name",
                        corr.title
                    ),
                });
            }
        }
        // Each rule compiles on its own first, so an error names its file.
        for (r, file) in all.rules.iter().zip(&rule_file) {
            rsigma_eval::compile_rule(r).map_err(|e| SigmaError::Rule {
                path: file.clone(),
                reason: format!("rule {:?}: {e}", r.title),
            })?;
        }
        // Then all together: filters apply across files; correlations compile against the
        // rules (rsigma checks references and cycles).
        let whole = |e: rsigma_eval::EvalError| SigmaError::Rule {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        };
        let mut engine = rsigma_eval::Engine::new();
        engine.add_collection(&all).map_err(whole)?;
        for (corr, file) in all.correlations.iter().zip(&corr_file) {
            let bad = |reason: String| SigmaError::Rule {
                path: file.clone(),
                reason: format!("correlation {:?}: {reason}", corr.title),
            };
            rsigma_eval::correlation::compile_correlation(corr).map_err(|e| bad(e.to_string()))?;
            stage::check_supported(corr).map_err(bad)?;
        }
        // A value_count over subjects runs in an engine of its own (fed once per subject), so
        // nothing can count it in turn.
        let per: BTreeSet<&str> = all
            .correlations
            .iter()
            .filter(|c| stage::per_subject(c))
            .flat_map(|c| c.id.iter().chain(&c.name))
            .map(String::as_str)
            .collect();
        for (c, file) in all.correlations.iter().zip(&corr_file) {
            if let Some(r) = c.rules.iter().find(|r| per.contains(r.as_str())) {
                return Err(SigmaError::Rule {
                    path: file.clone(),
                    reason: format!(
                        "correlation {:?} counts {r:?}, a value_count over subjects, which cannot be chained",
                        c.title
                    ),
                });
            }
        }
        // References and cycles, across files.
        rsigma_eval::CorrelationEngine::new(Default::default())
            .add_collection(&all)
            .map_err(whole)?;

        // Which rules only feed correlations (Sigma's `generate: false`, the default).
        let mut counted_only: BTreeSet<&str> = BTreeSet::new();
        let mut generated: BTreeSet<&str> = BTreeSet::new();
        for c in &all.correlations {
            for r in &c.rules {
                if c.generate {
                    generated.insert(r);
                } else {
                    counted_only.insert(r);
                }
            }
        }

        let mut infos = Vec::new();
        let mut det = Vec::new();
        let mut worker = Dispatch::default();
        for ((compiled, r), file) in engine.rules().iter().zip(&all.rules).zip(&rule_file) {
            let n = u32::try_from(det.len()).unwrap_or(u32::MAX);
            let on_stage = index::reads_field(compiled, "role");
            let mut needs = index::needs(compiled, &|_| true);
            let role = needs
                .iter()
                .position(|(k, _)| *k == Key::Role)
                .map(|i| needs.remove(i).1);
            let key = needs.first().cloned();
            let mut dispatch = describe(key.as_ref());
            worker.add(n, key);
            if on_stage {
                dispatch = match &role {
                    Some(r) => format!("{dispatch}, then role={} (detection stage)", r.join(",")),
                    None => format!("{dispatch}, then role (detection stage)"),
                };
            }
            let ident = |s: &Option<String>| s.as_deref().is_some_and(|s| counted_only.contains(s));
            let only_counted = (ident(&r.id) || ident(&r.name))
                && !r
                    .id
                    .iter()
                    .chain(&r.name)
                    .any(|s| generated.contains(s.as_str()));
            infos.push(RuleInfo {
                name: format!("sigma:{}", r.id.as_deref().unwrap_or(&r.title)),
                file: file.clone(),
                id: r.id.clone(),
                title: r.title.clone(),
                level: r.level.map(|l| l.as_str().to_string()),
                severity: severity_of(r.level),
                status: r.status.map(|s| status_name(s).to_string()),
                kind: RuleKind::Detection,
                correlation_type: None,
                dispatch,
                alerts: !only_counted,
            });
            det.push(DetRule {
                compiled: compiled.clone(),
                info: infos.len() - 1,
                on_stage,
                needs,
                pre: index::pre_checks(compiled),
                role,
            });
        }
        for (c, file) in all.correlations.iter().zip(&corr_file) {
            infos.push(RuleInfo {
                name: format!("sigma:{}", c.id.as_deref().unwrap_or(&c.title)),
                file: file.clone(),
                id: c.id.clone(),
                title: c.title.clone(),
                level: c.level.map(|l| l.as_str().to_string()),
                severity: severity_of(c.level),
                status: c.status.map(|s| status_name(s).to_string()),
                kind: RuleKind::Correlation,
                correlation_type: Some(correlation_type_name(c.correlation_type).to_string()),
                dispatch: format!(
                    "counts {} by {}",
                    c.rules.join(", "),
                    if c.group_by.is_empty() {
                        "(everything)".to_string()
                    } else {
                        c.group_by.join(", ")
                    }
                ),
                alerts: true,
            });
        }
        Ok(RuleSet {
            dir: dir.to_path_buf(),
            infos,
            det,
            worker,
            collection: all,
        })
    }

    /// The directory the rules came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every loaded rule, detection rules first, in file order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.infos
    }

    /// Whether no rule is loaded.
    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// Whether any rule runs on the parse workers.
    pub fn has_worker_rules(&self) -> bool {
        !self.worker.is_empty()
    }

    /// The stateless part, on a parse worker: pushes onto `out` the number of every rule
    /// that does not read `role` and matches `r`, and of every rule that reads `role` and
    /// whose other needed values `r` carries (the detection stage checks the role and
    /// evaluates it), each once. Only the rules filed under `r`'s own values (and the
    /// residual ones) are looked at, and rsigma runs only on those whose needed values `r`
    /// carries. Allocates nothing unless a rule matches.
    pub fn match_record(&self, r: &AccessRecord<'_>, out: &mut Vec<u32>) {
        if self.worker.is_empty() {
            return;
        }
        let ev = RecordEvent::new(r);
        let start = out.len();
        self.worker.candidates(r, |n| {
            if let Some(rule) = self.det.get(n as usize) {
                if !out[start..].contains(&n)
                    && index::admits(&rule.needs, r)
                    && index::pre_admits(&rule.pre, r)
                    && (rule.on_stage || rsigma_eval::evaluate_rule(&rule.compiled, &ev).is_some())
                {
                    out.push(n);
                }
            }
        });
    }

    /// [`RuleSet::match_record`] without dispatch: every rule is looked at (the reference
    /// the dispatch is tested against).
    pub fn match_record_unindexed(&self, r: &AccessRecord<'_>, out: &mut Vec<u32>) {
        let ev = RecordEvent::new(r);
        for (n, rule) in self.det.iter().enumerate() {
            let hit = if rule.on_stage {
                index::admits(&rule.needs, r)
            } else {
                rsigma_eval::evaluate_rule(&rule.compiled, &ev).is_some()
            };
            if hit {
                out.push(n as u32);
            }
        }
    }
}

/// `action=export,download` for a dispatch key, `residual` for none.
fn describe(key: Option<&(Key, Vec<String>)>) -> String {
    match key {
        None => "residual (every record)".into(),
        Some((k, values)) => format!("{}={}", k.name(), values.join(",")),
    }
}
