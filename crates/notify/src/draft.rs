//! From facts to drafts: the template context (everything a template may print, with marked
//! placeholders for what is missing) and the rendering of every draft the stage needs.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::categories::{self, class_of, Class};
use crate::facts::{
    Clock, Facts, Stage, Triggers, AGGRAVATED_SUBJECTS, CALIFORNIA_AG_RESIDENTS, POSTING_DAYS,
    REPORT_SUBJECTS,
};
use crate::text::{date_kst, date_utc, kst, rule_text, thousands, utc};
use crate::{NotifyError, Templates};

/// One drafted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// File name inside the output directory, e.g. `notice.ko.txt`.
    pub file: String,
    /// Its text.
    pub text: String,
}

/// The day the PIPA amendment with the 10 % surcharge and the possible-leak notice takes
/// effect: 2026-09-11 00:00 KST.
const AMENDMENT_IN_FORCE_MS: i64 = 1_789_052_400_000;
const DAY_MS: i64 = 86_400_000;
/// Statutory damages a subject may claim without proving the amount (PIPA Art. 39-2).
const STATUTORY_DAMAGES_KRW: u128 = 3_000_000;

#[derive(Serialize)]
struct CategoryCtx {
    key: String,
    ko: String,
    en: String,
    subjects: u64,
    subjects_fmt: String,
    class: Class,
}

#[derive(Serialize)]
struct RuleCtx {
    key: String,
    ko: String,
    en: String,
}

#[derive(Serialize)]
struct ClockCtx {
    deadline_kst: String,
    deadline_utc: String,
    deadline_rfc3339: String,
    hours_left: f64,
    overdue: bool,
    remaining_ko: String,
    remaining_en: String,
}

impl ClockCtx {
    fn of(c: &Clock) -> ClockCtx {
        let h = c.hours_left();
        ClockCtx {
            deadline_kst: kst(c.deadline_ms),
            deadline_utc: utc(c.deadline_ms),
            deadline_rfc3339: suho_record::format_rfc3339_ms(c.deadline_ms),
            hours_left: h,
            overdue: c.overdue(),
            remaining_ko: if c.overdue() {
                format!("기한 경과 ({:.1}시간 지남)", -h)
            } else {
                format!("{h:.1}시간 남음")
            },
            remaining_en: if c.overdue() {
                format!("overdue by {:.1} hours", -h)
            } else {
                format!("{h:.1} hours left")
            },
        }
    }
}

#[derive(Serialize)]
struct CompanyText {
    /// The name in brackets for a heading (`[name]`; a placeholder stays `[회사명]`).
    tag: String,
    name: String,
    phone: String,
    email: String,
    website: String,
    dpo_name: String,
    dpo_email: String,
    address: String,
    countermeasures: Vec<String>,
    remedy: String,
}

#[derive(Serialize)]
struct CompanyCtx {
    ko: CompanyText,
    en: CompanyText,
    missing: Vec<&'static str>,
    revenue_known: bool,
}

#[derive(Serialize)]
struct TriggersCtx {
    #[serde(flatten)]
    t: Triggers,
    special_ko: String,
    special_en: String,
    lines_ko: Vec<String>,
    lines_en: Vec<String>,
}

#[derive(Serialize)]
struct PreviousCtx {
    stage: String,
    drafted_at_kst: String,
    drafted_at_utc: String,
    subjects: u64,
    subjects_fmt: String,
    records_fmt: String,
    added_subjects_fmt: String,
    subjects_grew: bool,
    subjects_changed: bool,
    new_categories_ko: String,
    new_categories_en: String,
}

#[derive(Serialize)]
struct PostingCtx {
    required: bool,
    reason_ko: String,
    reason_en: String,
    start_date: String,
    end_date: String,
    days: i64,
}

#[derive(Serialize)]
struct ExposureCtx {
    revenue_krw_fmt: Option<String>,
    cap_3pct_krw_fmt: Option<String>,
    cap_10pct_krw_fmt: Option<String>,
    aggravated_by_count: bool,
    aggravated_threshold_fmt: String,
    amendment_in_force: bool,
    statutory_damages_krw_fmt: String,
}

#[derive(Serialize)]
struct CaliforniaCtx {
    covered_en: Vec<String>,
    residents: Option<u64>,
    ag_required: Option<bool>,
    ag_threshold: u64,
    deadline_date: String,
    identity_theft_services: bool,
}

#[derive(Serialize)]
struct Ctx {
    incident: String,
    stage: Stage,
    severity: String,
    selector: String,
    rules: Vec<RuleCtx>,
    subjects: u64,
    subjects_fmt: String,
    unlisted_subjects: u64,
    unlisted_subjects_fmt: String,
    records: u64,
    records_fmt: String,
    categories: Vec<CategoryCtx>,
    categories_ko: String,
    categories_en: String,
    has: BTreeMap<String, bool>,
    has_unique_identifier: bool,
    has_sensitive: bool,
    first_access_kst: String,
    last_access_kst: String,
    first_access_utc: String,
    last_access_utc: String,
    first_access_date: String,
    last_access_date: String,
    period_days: Option<i64>,
    aware_at_kst: String,
    aware_at_utc: String,
    now_kst: String,
    now_utc: String,
    today: String,
    countries: Vec<String>,
    countries_text: String,
    credentials: u64,
    credentials_fmt: String,
    signing_keys: Vec<String>,
    actors: Vec<String>,
    actor_count: u64,
    actor_count_fmt: String,
    external: bool,
    report_threshold: u64,
    triggers: TriggersCtx,
    clocks: BTreeMap<&'static str, ClockCtx>,
    company: CompanyCtx,
    previous: Option<PreviousCtx>,
    posting: PostingCtx,
    exposure: ExposureCtx,
    california: CaliforniaCtx,
    amendment_in_force: bool,
}

fn or_placeholder(v: &Option<String>, placeholder: &str) -> String {
    v.clone().unwrap_or_else(|| placeholder.to_string())
}

fn company_ctx(f: &Facts) -> CompanyCtx {
    let c = &f.company;
    let name_ko = c.name_ko.clone().or_else(|| c.name.clone());
    let name_en = c.name.clone().or_else(|| c.name_ko.clone());
    let keys = f.signing_keys.join(", ");
    let first_non_empty = |a: &Vec<String>, b: &Vec<String>| -> Option<Vec<String>> {
        [a, b].into_iter().find(|v| !v.is_empty()).cloned()
    };
    let cm_ko = first_non_empty(&c.countermeasures, &c.countermeasures_en).unwrap_or_else(|| {
        let example = if keys.is_empty() {
            String::new()
        } else {
            format!(": 예) 서명키 {keys} 폐기 및 그 키로 서명된 모든 토큰 무효화")
        };
        vec![format!("[대응조치를 기재하십시오{example}]")]
    });
    let cm_en = first_non_empty(&c.countermeasures_en, &c.countermeasures).unwrap_or_else(|| {
        let example = if keys.is_empty() {
            String::new()
        } else {
            format!(", e.g. revoked signing key {keys} and invalidated every token it signed")
        };
        vec![format!("[state the countermeasures{example}]")]
    });
    let ko_name = name_ko.unwrap_or_else(|| "[회사명]".into());
    let en_name = name_en.unwrap_or_else(|| "[company name]".into());
    let tag = |n: &str| {
        if n.starts_with('[') {
            n.to_string()
        } else {
            format!("[{n}]")
        }
    };
    CompanyCtx {
        ko: CompanyText {
            tag: tag(&ko_name),
            name: ko_name,
            phone: or_placeholder(&c.contact_phone, "[피해 신고 전화번호]"),
            email: or_placeholder(&c.contact_email, "[피해 신고 이메일]"),
            website: or_placeholder(&c.website, "[홈페이지 주소]"),
            dpo_name: or_placeholder(&c.dpo_name, "[개인정보 보호책임자 성명]"),
            dpo_email: or_placeholder(&c.dpo_email, "[개인정보 보호책임자 이메일]"),
            address: or_placeholder(&c.address, "[회사 주소]"),
            countermeasures: cm_ko,
            remedy: or_placeholder(
                &c.remedy.clone().or_else(|| c.remedy_en.clone()),
                "[피해 구제절차를 기재하십시오]",
            ),
        },
        en: CompanyText {
            tag: tag(&en_name),
            name: en_name,
            phone: or_placeholder(&c.contact_phone, "[contact phone]"),
            email: or_placeholder(&c.contact_email, "[contact email]"),
            website: or_placeholder(&c.website, "[website]"),
            dpo_name: or_placeholder(&c.dpo_name, "[DPO name]"),
            dpo_email: or_placeholder(&c.dpo_email, "[DPO email]"),
            address: or_placeholder(&c.address, "[company address]"),
            countermeasures: cm_en,
            remedy: or_placeholder(
                &c.remedy_en.clone().or_else(|| c.remedy.clone()),
                "[state how damage is remedied]",
            ),
        },
        missing: c.missing(),
        revenue_known: c.annual_revenue_krw.is_some(),
    }
}

fn sorted_categories(fields: &BTreeMap<String, u64>) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = fields
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(k, &n)| (k.as_str(), n))
        .collect();
    v.sort_by(|a, b| categories::order(a.0).cmp(&categories::order(b.0)));
    v
}

fn time_or(t: &Option<String>, f: fn(i64) -> String, placeholder: &str) -> (String, Option<i64>) {
    match t.as_deref().map(suho_record::parse_rfc3339) {
        Some(Ok(ms)) => (f(ms), Some(ms)),
        Some(Err(_)) => (t.clone().unwrap_or_default(), None),
        None => (placeholder.to_string(), None),
    }
}

fn build(f: &Facts) -> Ctx {
    let cats = sorted_categories(&f.fields);
    let categories: Vec<CategoryCtx> = cats
        .iter()
        .map(|&(k, n)| CategoryCtx {
            key: k.to_string(),
            ko: categories::name_ko(k).to_string(),
            en: categories::name_en(k).to_string(),
            subjects: n,
            subjects_fmt: thousands(u128::from(n)),
            class: class_of(k),
        })
        .collect();
    let mut has: BTreeMap<String, bool> = categories::VOCABULARY
        .iter()
        .map(|c| (c.key.to_string(), false))
        .collect();
    for c in &categories {
        has.insert(c.key.clone(), true);
    }
    let triggers = f.triggers();
    let clocks = f.clocks();
    let (first_kst, first_ms) = time_or(&f.first_access, kst, "[확인 중]");
    let (last_kst, last_ms) = time_or(&f.last_access, kst, "[확인 중]");
    let (first_utc, _) = time_or(&f.first_access, utc, "[under investigation]");
    let (first_date, _) = time_or(&f.first_access, date_kst, "[확인 중]");
    let (last_date, _) = time_or(&f.last_access, date_kst, "[확인 중]");
    let (last_utc, _) = time_or(&f.last_access, utc, "[under investigation]");
    let period_days = match (first_ms, last_ms) {
        (Some(a), Some(b)) if b >= a => Some((b - a) / DAY_MS + 1),
        _ => None,
    };

    let special_ko = triggers
        .special_categories
        .iter()
        .map(|k| categories::name_ko(k))
        .collect::<Vec<_>>()
        .join(", ");
    let special_en = triggers
        .special_categories
        .iter()
        .map(|k| categories::name_en(k))
        .collect::<Vec<_>>()
        .join(", ");
    let mut lines_ko = Vec::new();
    let mut lines_en = Vec::new();
    if triggers.large_scale {
        lines_ko.push(format!(
            "1천명 이상의 정보주체에 관한 개인정보 유출 ({}명)",
            thousands(u128::from(f.subjects))
        ));
        lines_en.push(format!(
            "personal information of 1,000 or more data subjects leaked ({})",
            thousands(u128::from(f.subjects))
        ));
    }
    if !triggers.special_categories.is_empty() {
        lines_ko.push(format!("고유식별정보 또는 민감정보 유출 ({special_ko})"));
        lines_en.push(format!(
            "unique identifiers or sensitive information leaked ({special_en})"
        ));
    }
    if triggers.external_access {
        let why = triggers.external_reasons.join(", ");
        lines_ko.push(format!(
            "외부로부터의 불법적인 접근에 의한 개인정보 유출 (근거: {why})"
        ));
        lines_en.push(format!(
            "personal information leaked through unlawful access from outside (shown by: {why})"
        ));
    }

    let previous = f.previous.as_ref().map(|p| {
        let new_cats: Vec<&str> = sorted_categories(&f.fields)
            .into_iter()
            .filter(|(k, _)| p.fields.get(*k).is_none_or(|&n| n == 0))
            .map(|(k, _)| k)
            .collect();
        PreviousCtx {
            stage: p.stage.to_string(),
            drafted_at_kst: kst(p.drafted_at_ms),
            drafted_at_utc: utc(p.drafted_at_ms),
            subjects: p.subjects,
            subjects_fmt: thousands(u128::from(p.subjects)),
            records_fmt: thousands(u128::from(p.records)),
            added_subjects_fmt: thousands(u128::from(f.subjects.saturating_sub(p.subjects))),
            subjects_grew: f.subjects > p.subjects,
            subjects_changed: f.subjects != p.subjects,
            new_categories_ko: new_cats
                .iter()
                .map(|k| categories::name_ko(k))
                .collect::<Vec<_>>()
                .join(", "),
            new_categories_en: new_cats
                .iter()
                .map(|k| categories::name_en(k))
                .collect::<Vec<_>>()
                .join(", "),
        }
    });

    let large = f.subjects >= REPORT_SUBJECTS;
    let posting_start = f.now_ms.max(f.aware_at_ms);
    let (reason_ko, reason_en) = match (large, f.contacts_missing) {
        (true, true) => (
            "1천명 이상 유출이며 일부 정보주체의 연락처를 알 수 없음",
            "1,000 or more subjects, and some subjects' contact details are missing",
        ),
        (true, false) => ("1천명 이상 유출", "1,000 or more subjects"),
        (false, true) => (
            "일부 정보주체의 연락처를 알 수 없음",
            "some subjects' contact details are missing",
        ),
        (false, false) => (
            "현재 게시 의무 사유 없음: 연락처를 알 수 없는 정보주체가 있으면 게시로 통지를 갈음",
            "not required now: post it if any subject's contact details are missing",
        ),
    };

    let revenue = f.company.annual_revenue_krw.map(u128::from);
    let in_force = f.now_ms >= AMENDMENT_IN_FORCE_MS;

    let covered_en: Vec<String> = cats
        .iter()
        .filter(|(k, _)| categories::california_covered(k))
        .map(|(k, _)| categories::name_en(k).to_string())
        .collect();
    // 1798.82(d)(2)(G) and (d)(2)(H): driver's licence (or Social Security, California ID)
    // numbers call for the credit agencies' contacts and an identity-theft service offer.
    let identity_theft_services = cats.iter().any(|(k, _)| *k == "driver_license_number");

    Ctx {
        incident: f.incident.clone(),
        stage: f.stage,
        severity: f.severity.clone(),
        selector: f.selector.clone(),
        rules: f
            .rules
            .iter()
            .map(|r| {
                let (ko, en) = rule_text(r).unwrap_or((r.as_str(), r.as_str()));
                RuleCtx {
                    key: r.clone(),
                    ko: ko.to_string(),
                    en: en.to_string(),
                }
            })
            .collect(),
        subjects: f.subjects,
        subjects_fmt: thousands(u128::from(f.subjects)),
        unlisted_subjects: f.unlisted_subjects,
        unlisted_subjects_fmt: thousands(u128::from(f.unlisted_subjects)),
        records: f.records,
        records_fmt: thousands(u128::from(f.records)),
        categories_ko: categories
            .iter()
            .map(|c| c.ko.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        categories_en: categories
            .iter()
            .map(|c| c.en.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        has_unique_identifier: categories
            .iter()
            .any(|c| c.class == Class::UniqueIdentifier),
        has_sensitive: categories.iter().any(|c| c.class == Class::Sensitive),
        categories,
        has,
        first_access_kst: first_kst,
        last_access_kst: last_kst,
        first_access_utc: first_utc,
        last_access_utc: last_utc,
        first_access_date: first_date,
        last_access_date: last_date,
        period_days,
        aware_at_kst: kst(f.aware_at_ms),
        aware_at_utc: utc(f.aware_at_ms),
        now_kst: kst(f.now_ms),
        now_utc: utc(f.now_ms),
        today: date_kst(f.now_ms),
        countries_text: if f.countries.is_empty() {
            "-".to_string()
        } else {
            f.countries.join(", ")
        },
        countries: f.countries.clone(),
        credentials: f.credentials,
        credentials_fmt: thousands(u128::from(f.credentials)),
        signing_keys: f.signing_keys.clone(),
        actors: f.actors.clone(),
        actor_count: f.actor_count,
        actor_count_fmt: thousands(u128::from(f.actor_count)),
        external: triggers.external_access,
        report_threshold: REPORT_SUBJECTS,
        triggers: TriggersCtx {
            t: triggers,
            special_ko,
            special_en,
            lines_ko,
            lines_en,
        },
        clocks: BTreeMap::from([
            ("notify_subjects", ClockCtx::of(&clocks.notify_subjects)),
            ("report_pipc", ClockCtx::of(&clocks.report_pipc)),
        ]),
        company: company_ctx(f),
        previous,
        posting: PostingCtx {
            required: large || f.contacts_missing,
            reason_ko: reason_ko.to_string(),
            reason_en: reason_en.to_string(),
            start_date: date_kst(posting_start),
            end_date: date_kst(posting_start.saturating_add(POSTING_DAYS * DAY_MS)),
            days: POSTING_DAYS,
        },
        exposure: ExposureCtx {
            revenue_krw_fmt: revenue.map(thousands),
            cap_3pct_krw_fmt: revenue.map(|r| thousands(r * 3 / 100)),
            cap_10pct_krw_fmt: revenue.map(|r| thousands(r / 10)),
            aggravated_by_count: f.subjects >= AGGRAVATED_SUBJECTS,
            aggravated_threshold_fmt: thousands(u128::from(AGGRAVATED_SUBJECTS)),
            amendment_in_force: in_force,
            statutory_damages_krw_fmt: thousands(u128::from(f.subjects) * STATUTORY_DAMAGES_KRW),
        },
        california: CaliforniaCtx {
            covered_en,
            residents: f.california_residents,
            ag_required: f.california_residents.map(|n| n > CALIFORNIA_AG_RESIDENTS),
            ag_threshold: CALIFORNIA_AG_RESIDENTS,
            deadline_date: date_utc(f.aware_at_ms.saturating_add(30 * DAY_MS)),
            identity_theft_services,
        },
        amendment_in_force: in_force,
    }
}

/// The templates a stage drafts, in the order they are written.
fn wanted(stage: Stage) -> Vec<&'static str> {
    let mut v = match stage {
        Stage::Possible => vec!["possible.ko.txt.j2", "possible.en.txt.j2"],
        _ => vec!["notice.ko.txt.j2", "notice.en.txt.j2"],
    };
    v.extend([
        "sms.ko.txt.j2",
        "sms.en.txt.j2",
        "pipc-report.ko.txt.j2",
        "website-posting.ko.txt.j2",
        "website-posting.en.txt.j2",
        "gdpr-art33.en.txt.j2",
        "gdpr-art34.en.txt.j2",
        "california-1798.82.en.txt.j2",
        "exposure.txt.j2",
        "summary.txt.j2",
    ]);
    v
}

fn template_error(templates: &Templates, fallback: &str, e: &minijinja::Error) -> NotifyError {
    let file = e
        .name()
        .and_then(|n| templates.get(n))
        .map_or(fallback, |t| t.origin.as_str())
        .to_string();
    let reason = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    NotifyError::Template {
        file,
        line: e.line(),
        reason,
    }
}

fn environment(templates: &Templates) -> Result<Environment<'_>, NotifyError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| template_error(templates, "syntax", &e))?;
    env.set_syntax(syntax);
    for t in templates.iter() {
        env.add_template(t.name, &t.source)
            .map_err(|e| template_error(templates, &t.origin, &e))?;
    }
    Ok(env)
}

impl Templates {
    /// Compile every template, so a syntax error is reported (with its file and line) before
    /// any expensive work. Errors of rendering (a misspelt variable) show in [`draft_all`].
    pub fn check(&self) -> Result<(), NotifyError> {
        environment(self).map(|_| ())
    }
}

/// Draft every notice the facts' stage needs, plus `facts.json` (these facts, kept for the
/// next run's comparison). Every template is compiled, used or not, so a broken one is found
/// at once; an error names the template's file and line.
pub fn draft_all(facts: &Facts, templates: &Templates) -> Result<Vec<Draft>, NotifyError> {
    let env = environment(templates)?;
    let ctx = Value::from(Serde(build(facts)));
    let mut drafts = Vec::new();
    for name in wanted(facts.stage) {
        let origin = templates.get(name).map_or(name, |t| t.origin.as_str());
        let tmpl = env
            .get_template(name)
            .map_err(|e| template_error(templates, origin, &e))?;
        let text = tmpl
            .render(&ctx)
            .map_err(|e| template_error(templates, origin, &e))?;
        drafts.push(Draft {
            file: name.trim_end_matches(".j2").to_string(),
            text,
        });
    }
    let json = serde_json::to_string_pretty(facts).map_err(|e| NotifyError::Facts {
        path: "facts.json".into(),
        reason: e.to_string(),
    })?;
    drafts.push(Draft {
        file: FACTS_FILE.to_string(),
        text: json + "\n",
    });
    Ok(drafts)
}

/// The file in the output directory that keeps a run's facts for the next run.
pub const FACTS_FILE: &str = "facts.json";

/// Write `drafts` into `dir` (created when missing), each atomically (a temporary file renamed
/// into place). Returns the paths written.
pub fn write_drafts(dir: &Path, drafts: &[Draft]) -> Result<Vec<PathBuf>, NotifyError> {
    fs::create_dir_all(dir).map_err(|e| NotifyError::io(dir, e))?;
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        let path = dir.join(&d.file);
        write_atomic(&path, |w| w.write_all(d.text.as_bytes()))?;
        out.push(path);
    }
    Ok(out)
}

/// Write a file through `fill` into a temporary sibling, then rename it into place.
pub(crate) fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut suho_durable::AtomicFile) -> std::io::Result<()>,
) -> Result<(), NotifyError> {
    let durable = |e: suho_durable::Error| NotifyError::io(&e.path, e.source);
    let mut file = suho_durable::AtomicFile::create(path).map_err(durable)?;
    fill(&mut file).map_err(|e| NotifyError::io(path, e))?;
    file.commit().map_err(durable)
}

/// Whether `now_ms` falls on or after the 2026 PIPA amendment's entry into force.
pub fn amendment_in_force(now_ms: i64) -> bool {
    now_ms >= AMENDMENT_IN_FORCE_MS
}
