//! Dispatch before evaluation: each rule is filed under one field value that every record it
//! can match must carry (an exact, case-insensitive `action`, `resource`, `purpose`, field
//! category, `actor`, `outcome` or `role`), found by reading its compiled condition; a record
//! is then checked only against the rules filed under its own values, plus the residual rules
//! that have no such value.
//!
//! Soundness: the analysis may only weaken. A field is "needed" by a condition only when no
//! record lacking one of its values can satisfy it: every item of an AND selection is needed;
//! an OR needs a field only when each of its branches does (values unioned); NOT and keyword
//! searches need nothing. When in doubt a rule is residual, which costs time, never an alert.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rsigma_eval::{CompiledDetection, CompiledMatcher, CompiledRule};
use rsigma_parser::{ConditionExpr, Quantifier, SelectorPattern};
use suho_record::{AccessRecord, Action, Outcome};

/// A field a rule can be filed under, most selective first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Key {
    Resource,
    Actor,
    Purpose,
    Field,
    Role,
    Action,
    Outcome,
}

impl Key {
    fn of(field: &str) -> Option<Key> {
        Some(match field {
            "resource" => Key::Resource,
            "actor" => Key::Actor,
            "purpose" => Key::Purpose,
            "fields" => Key::Field,
            "role" => Key::Role,
            "action" => Key::Action,
            "outcome" => Key::Outcome,
            _ => return None,
        })
    }

    /// How `suho rules` names the key.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::Resource => "resource",
            Key::Actor => "actor",
            Key::Purpose => "purpose",
            Key::Field => "fields",
            Key::Role => "role",
            Key::Action => "action",
            Key::Outcome => "outcome",
        }
    }
}

/// What a condition needs: for each key, the values one of which the record must carry.
type Need = BTreeMap<Key, BTreeSet<String>>;

fn and(mut a: Need, b: Need) -> Need {
    for (k, v) in b {
        match a.get_mut(&k) {
            // A record carries many field categories: each set is needed, and either alone
            // is a sound need (their intersection is not: `health` and `payment` both
            // needed is no need for a category in both sets).
            Some(_) if k == Key::Field => {}
            // Both are needed: the record's one value is in both sets.
            Some(have) => {
                let both: BTreeSet<String> = have.intersection(&v).cloned().collect();
                *have = both;
            }
            None => {
                a.insert(k, v);
            }
        }
    }
    a
}

fn or(a: Need, b: Need) -> Need {
    let mut out = Need::new();
    for (k, mut v) in a {
        if let Some(w) = b.get(&k) {
            v.extend(w.iter().cloned());
            out.insert(k, v);
        }
    }
    out
}

fn or_all(mut it: impl Iterator<Item = Need>) -> Need {
    let Some(first) = it.next() else {
        return Need::new();
    };
    it.fold(first, or)
}

/// The values an exact, case-insensitive matcher (or an OR of them) accepts, folded.
fn exact_values(m: &CompiledMatcher) -> Option<BTreeSet<String>> {
    match m {
        CompiledMatcher::Exact {
            value,
            case_insensitive: true,
        } => Some(BTreeSet::from([value.clone()])),
        CompiledMatcher::AnyOf(children) => {
            let mut out = BTreeSet::new();
            for c in children {
                out.extend(exact_values(c)?);
            }
            Some(out)
        }
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => match mode {
            rsigma_eval::matcher::GroupMode::Any => {
                let mut out = BTreeSet::new();
                for c in children {
                    out.extend(exact_values(c)?);
                }
                Some(out)
            }
            // Every child must hold: the first one alone is needed.
            rsigma_eval::matcher::GroupMode::All => children.first().and_then(exact_values),
        },
        CompiledMatcher::AllOf(children) => children.first().and_then(exact_values),
        _ => None,
    }
}

fn detection_need(d: &CompiledDetection, allowed: &dyn Fn(Key) -> bool) -> Need {
    match d {
        CompiledDetection::AllOf(items) => {
            let mut need = Need::new();
            for item in items {
                if item.exists == Some(false) {
                    continue;
                }
                let Some(key) = item.field.as_deref().and_then(Key::of) else {
                    continue;
                };
                if !allowed(key) {
                    continue;
                }
                if let Some(values) = exact_values(&item.matcher) {
                    need = and(need, Need::from([(key, values)]));
                }
            }
            need
        }
        CompiledDetection::AnyOf(ds) => or_all(ds.iter().map(|d| detection_need(d, allowed))),
        CompiledDetection::And(ds) => ds
            .iter()
            .map(|d| detection_need(d, allowed))
            .fold(Need::new(), and),
        _ => Need::new(),
    }
}

/// Whether `name` matches a selector pattern (`*` is the only wildcard).
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

fn condition_need(rule: &CompiledRule, c: &ConditionExpr, allowed: &dyn Fn(Key) -> bool) -> Need {
    match c {
        ConditionExpr::Identifier(name) => rule
            .detections
            .get(name)
            .map(|d| detection_need(d, allowed))
            .unwrap_or_default(),
        ConditionExpr::And(cs) => cs
            .iter()
            .map(|c| condition_need(rule, c, allowed))
            .fold(Need::new(), and),
        ConditionExpr::Or(cs) => or_all(cs.iter().map(|c| condition_need(rule, c, allowed))),
        ConditionExpr::Not(_) => Need::new(),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            // `them` is every name not starting with `_` (rsigma's rule; filters are injected
            // under such names). A pattern may also reach `_` names: an OR over them all is a
            // superset (sound), an AND leaves them out (a subset, sound).
            let any = matches!(quantifier, Quantifier::Any | Quantifier::Count(1..));
            let needs = rule
                .detections
                .iter()
                .filter(|(n, _)| match pattern {
                    SelectorPattern::Them => !n.starts_with('_'),
                    SelectorPattern::Pattern(p) => glob(p, n) && (any || !n.starts_with('_')),
                })
                .map(|(_, d)| detection_need(d, allowed));
            match quantifier {
                Quantifier::All => needs.fold(Need::new(), and),
                Quantifier::Any | Quantifier::Count(1..) => or_all(needs),
                Quantifier::Count(_) => Need::new(),
            }
        }
    }
}

/// Every field value a record must carry to match `rule`, among the keys `allowed`: the
/// rule is filed under the first (the most selective kind of key) and a record is checked
/// against all of them, without rsigma, before the rule is evaluated.
pub(crate) fn needs(rule: &CompiledRule, allowed: &dyn Fn(Key) -> bool) -> Vec<(Key, Vec<String>)> {
    or_all(
        rule.conditions
            .iter()
            .map(|c| condition_need(rule, c, allowed)),
    )
    .into_iter()
    .map(|(k, v)| (k, v.into_iter().collect()))
    .collect()
}

/// `s` equals the folded value `v` as rsigma compares case-insensitively (`to_lowercase`),
/// without allocating for ASCII.
fn eq_folded(s: &str, v: &str) -> bool {
    if s.is_ascii() {
        s.len() == v.len()
            && s.bytes()
                .zip(v.bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        s.to_lowercase() == v
    }
}

/// Whether `r` carries one of the values of every need (`Role` needs are the stage's).
pub(crate) fn admits(needs: &[(Key, Vec<String>)], r: &AccessRecord<'_>) -> bool {
    let any = |s: &str, values: &[String]| values.iter().any(|v| eq_folded(s, v));
    needs.iter().all(|(k, values)| match k {
        Key::Action => any(r.action.as_str(), values),
        Key::Outcome => any(r.outcome.as_str(), values),
        Key::Resource => any(&r.resource, values),
        Key::Actor => any(&r.actor, values),
        Key::Purpose => r.purpose.as_deref().is_some_and(|p| any(p, values)),
        Key::Field => r.fields.iter().any(|f| any(f, values)),
        Key::Role => true,
    })
}

/// A test of a record's value that a rule needs besides exact values, checked natively before
/// rsigma runs: a `src_ip|cidr` (rsigma would print the address for each such rule), or a
/// `contains`, `startswith` or `endswith` on `resource`, `actor` or `purpose` (rsigma would
/// lower-case the value for each).
#[derive(Debug, Clone)]
pub(crate) enum Pre {
    /// The source address is in one of these networks.
    Cidr(Vec<ipnet::IpNet>),
    /// The field's text passes one of these tests.
    Text(TextField, Vec<TextTest>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextField {
    Resource,
    Actor,
    Purpose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// One text test; a case-insensitive needle is stored lower-cased, as rsigma stores it.
#[derive(Debug, Clone)]
pub(crate) struct TextTest {
    op: TextOp,
    needle: String,
    case_insensitive: bool,
}

impl TextTest {
    /// None when the test cannot be decided here (a non-ASCII value folded differently):
    /// the rule is then left to rsigma.
    fn passes(&self, s: &str) -> Option<bool> {
        let hit = |h: &str| match self.op {
            TextOp::Contains => h.contains(self.needle.as_str()),
            TextOp::StartsWith => h.starts_with(self.needle.as_str()),
            TextOp::EndsWith => h.ends_with(self.needle.as_str()),
        };
        if !self.case_insensitive {
            return Some(hit(s));
        }
        if !s.is_ascii() {
            return None;
        }
        if !s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Some(hit(s));
        }
        Some(hit(&s.to_ascii_lowercase()))
    }
}

/// The tests of `m`, one of which must pass, when it is only such tests.
fn text_tests(m: &CompiledMatcher) -> Option<Vec<TextTest>> {
    let one = |op, value: &String, ci: bool| {
        // A case-insensitive needle is lower-cased by rsigma; outside ASCII its folding is
        // not ours to repeat.
        (!ci || value.is_ascii()).then(|| {
            vec![TextTest {
                op,
                needle: value.clone(),
                case_insensitive: ci,
            }]
        })
    };
    match m {
        CompiledMatcher::Contains {
            value,
            case_insensitive,
        } => one(TextOp::Contains, value, *case_insensitive),
        CompiledMatcher::StartsWith {
            value,
            case_insensitive,
        } => one(TextOp::StartsWith, value, *case_insensitive),
        CompiledMatcher::EndsWith {
            value,
            case_insensitive,
        } => one(TextOp::EndsWith, value, *case_insensitive),
        CompiledMatcher::AnyOf(children) => {
            let mut out = Vec::new();
            for c in children {
                out.extend(text_tests(c)?);
            }
            Some(out)
        }
        _ => None,
    }
}

/// The networks of `m`, one of which must hold the address, when it is only CIDRs.
fn cidrs(m: &CompiledMatcher) -> Option<Vec<ipnet::IpNet>> {
    match m {
        CompiledMatcher::Cidr(net) => Some(vec![*net]),
        CompiledMatcher::AnyOf(children) => {
            let mut out = Vec::new();
            for c in children {
                out.extend(cidrs(c)?);
            }
            Some(out)
        }
        _ => None,
    }
}

/// The native pre-checks of a rule: only for a rule of one condition that is a selection or
/// an AND of selections (and NOTs, which add nothing), where every listed item is needed;
/// anything else gets none, which costs time, never an alert.
pub(crate) fn pre_checks(rule: &CompiledRule) -> Vec<Pre> {
    fn collect(rule: &CompiledRule, c: &ConditionExpr, out: &mut Vec<Pre>) {
        match c {
            ConditionExpr::Identifier(name) => {
                if let Some(CompiledDetection::AllOf(items)) = rule.detections.get(name) {
                    for item in items.iter().filter(|i| i.exists.is_none()) {
                        let pre =
                            match item.field.as_deref() {
                                Some("src_ip") => cidrs(&item.matcher).map(Pre::Cidr),
                                Some("resource") => text_tests(&item.matcher)
                                    .map(|t| Pre::Text(TextField::Resource, t)),
                                Some("actor") => text_tests(&item.matcher)
                                    .map(|t| Pre::Text(TextField::Actor, t)),
                                Some("purpose") => text_tests(&item.matcher)
                                    .map(|t| Pre::Text(TextField::Purpose, t)),
                                _ => None,
                            };
                        out.extend(pre);
                    }
                }
            }
            ConditionExpr::And(cs) => cs.iter().for_each(|c| collect(rule, c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let [only] = rule.conditions.as_slice() {
        collect(rule, only, &mut out);
    }
    out
}

/// Whether `r` passes every pre-check (a value it lacks, or one the check cannot decide,
/// passes: rsigma decides).
pub(crate) fn pre_admits(pre: &[Pre], r: &AccessRecord<'_>) -> bool {
    pre.iter().all(|p| match p {
        Pre::Cidr(nets) => r
            .src_ip
            .is_none_or(|ip| nets.iter().any(|n| n.contains(&ip))),
        Pre::Text(field, tests) => {
            let value = match field {
                TextField::Resource => Some(&*r.resource),
                TextField::Actor => Some(&*r.actor),
                TextField::Purpose => r.purpose.as_deref(),
            };
            value.is_none_or(|v| tests.iter().any(|t| t.passes(v) != Some(false)))
        }
    })
}

/// Whether any item of the rule reads field `name`.
pub(crate) fn reads_field(rule: &CompiledRule, name: &str) -> bool {
    fn walk(d: &CompiledDetection, name: &str) -> bool {
        match d {
            CompiledDetection::AllOf(items) => items.iter().any(|i| {
                i.field.as_deref() == Some(name)
                    || matches!(&i.matcher, CompiledMatcher::FieldRef { field, .. } if field == name)
            }),
            CompiledDetection::AnyOf(ds) | CompiledDetection::And(ds) => {
                ds.iter().any(|d| walk(d, name))
            }
            CompiledDetection::ArrayMatch { field, body, .. } => field == name || walk(body, name),
            CompiledDetection::Conditional { named, .. } => named.values().any(|d| walk(d, name)),
            CompiledDetection::Keywords(_) => false,
        }
    }
    rule.detections.values().any(|d| walk(d, name))
}

/// Rule numbers by the record values they are filed under.
#[derive(Debug, Default)]
pub(crate) struct Dispatch {
    by_action: [Vec<u32>; 11],
    by_outcome: [Vec<u32>; 2],
    by_resource: HashMap<String, Vec<u32>>,
    by_actor: HashMap<String, Vec<u32>>,
    by_purpose: HashMap<String, Vec<u32>>,
    by_field: HashMap<String, Vec<u32>>,
    pub(crate) by_role: HashMap<String, Vec<u32>>,
    pub(crate) residual: Vec<u32>,
    rules: usize,
}

pub(crate) fn action_slot(a: Action) -> usize {
    match a {
        Action::Read => 0,
        Action::Search => 1,
        Action::Export => 2,
        Action::Download => 3,
        Action::Print => 4,
        Action::Create => 5,
        Action::Update => 6,
        Action::Delete => 7,
        Action::Login => 8,
        Action::Logout => 9,
        Action::LoginFailed => 10,
    }
}

/// `s` folded as rsigma folds a case-insensitive value (`to_lowercase`), borrowed when it has
/// no upper-case letter (nearly always), so the lookup allocates nothing.
fn folded<'s>(s: &'s str, buf: &'s mut String) -> &'s str {
    if s.is_ascii() {
        if !s.bytes().any(|b| b.is_ascii_uppercase()) {
            return s;
        }
        buf.clear();
        buf.extend(s.chars().map(|c| c.to_ascii_lowercase()));
        return buf;
    }
    *buf = s.to_lowercase();
    buf
}

impl Dispatch {
    /// File rule number `n` under `key` (none: residual).
    pub(crate) fn add(&mut self, n: u32, key: Option<(Key, Vec<String>)>) {
        self.rules += 1;
        let Some((key, values)) = key else {
            self.residual.push(n);
            return;
        };
        for v in values {
            match key {
                Key::Action => {
                    // A value that is no action can never match: filed nowhere.
                    if let Some(a) = Action::from_wire(&v) {
                        self.by_action[action_slot(a)].push(n);
                    }
                }
                Key::Outcome => {
                    if let Some(o) = Outcome::from_wire(&v) {
                        self.by_outcome[usize::from(o == Outcome::Failure)].push(n);
                    }
                }
                Key::Resource => self.by_resource.entry(v).or_default().push(n),
                Key::Actor => self.by_actor.entry(v).or_default().push(n),
                Key::Purpose => self.by_purpose.entry(v).or_default().push(n),
                Key::Field => self.by_field.entry(v).or_default().push(n),
                Key::Role => self.by_role.entry(v).or_default().push(n),
            }
        }
    }

    /// Whether no rule is filed here.
    pub(crate) fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Calls `each` with every rule number filed under one of `r`'s values, then the
    /// residual ones. A rule filed under several field categories the record carries comes
    /// once per category (the caller keeps a match once).
    pub(crate) fn candidates(&self, r: &AccessRecord<'_>, mut each: impl FnMut(u32)) {
        thread_local! {
            static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        BUF.with(|b| {
            let mut buf = b.borrow_mut();
            self.candidates_with(r, &mut buf, &mut each);
        });
    }

    fn candidates_with(&self, r: &AccessRecord<'_>, buf: &mut String, each: &mut dyn FnMut(u32)) {
        for &n in &self.by_action[action_slot(r.action)] {
            each(n);
        }
        for &n in &self.by_outcome[usize::from(r.outcome == Outcome::Failure)] {
            each(n);
        }
        let mut look = |map: &HashMap<String, Vec<u32>>, v: &str| {
            if map.is_empty() {
                return;
            }
            if let Some(list) = map.get(folded(v, buf)) {
                for &n in list {
                    each(n);
                }
            }
        };
        look(&self.by_resource, &r.resource);
        look(&self.by_actor, &r.actor);
        if let Some(p) = r.purpose.as_deref() {
            look(&self.by_purpose, p);
        }
        if !self.by_field.is_empty() {
            for f in &r.fields {
                look(&self.by_field, f);
            }
        }
        for &n in &self.residual {
            each(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn selector_globs() {
        assert!(glob("selection_*", "selection_a"));
        assert!(glob("*", "x"));
        assert!(glob("*_filter", "a_filter"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("selection_*", "filter"));
        assert!(!glob("sel", "selection"));
    }
}
