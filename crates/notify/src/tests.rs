//! Behaviour of the drafts as a company relies on it.

use std::collections::BTreeMap;

use super::*;

const AWARE: &str = "2025-11-18T09:00:00Z";

fn ms(t: &str) -> i64 {
    suho_record::parse_rfc3339(t).unwrap()
}

fn company() -> Company {
    Company {
        name: Some("Example Commerce Inc.".into()),
        name_ko: Some("예시커머스 주식회사".into()),
        contact_phone: Some("1588-0000".into()),
        contact_email: Some("privacy@example.com".into()),
        website: Some("https://www.example.com".into()),
        dpo_name: Some("홍길동".into()),
        dpo_email: Some("dpo@example.com".into()),
        address: Some("서울특별시 송파구 예시로 1".into()),
        annual_revenue_krw: Some(1_000_000_000),
        countermeasures: vec!["서명키 kid-2024-10 폐기".into()],
        remedy: Some("피해 확인 시 보상".into()),
        countermeasures_en: vec!["Revoked signing key kid-2024-10".into()],
        remedy_en: Some("Confirmed damage is compensated".into()),
        customers: None,
    }
}

fn facts(subjects: u64, fields: &[(&str, u64)]) -> Facts {
    Facts {
        incident: "inc-00000000000000a1".into(),
        rules: vec!["forged_credential".into(), "orphaned_signing_key".into()],
        severity: "critical".into(),
        selector: "signing key kid-2024-10, 2025-06-06T12:49:21.380Z .. 2025-09-27T00:24:59.874Z"
            .into(),
        aware_at_ms: ms(AWARE),
        now_ms: ms(AWARE) + 10 * 3_600_000,
        stage: Stage::First,
        subjects,
        unlisted_subjects: 0,
        records: subjects * 3,
        fields: fields.iter().map(|&(k, n)| (k.to_string(), n)).collect(),
        first_access: Some("2025-06-06T12:49:21.380Z".into()),
        last_access: Some("2025-09-27T00:24:59.874Z".into()),
        countries: vec!["KR".into(), "CN".into()],
        credentials: 12,
        signing_keys: vec!["kid-2024-10".into()],
        actors: vec!["c-1".into()],
        actor_count: 1,
        external: false,
        contacts_missing: false,
        california_residents: None,
        company: company(),
        previous: None,
    }
}

/// Every category of the vocabulary, plus one suho does not know.
fn all_fields() -> Vec<(&'static str, u64)> {
    let mut v: Vec<(&str, u64)> = VOCABULARY.iter().map(|c| (c.key, 7)).collect();
    v.push(("loyalty_tier", 3));
    v
}

fn drafts(f: &Facts) -> BTreeMap<String, String> {
    draft_all(f, &Templates::embedded())
        .unwrap()
        .into_iter()
        .map(|d| (d.file, d.text))
        .collect()
}

fn all_stages() -> [Stage; 4] {
    [Stage::Possible, Stage::First, Stage::Update, Stage::Final]
}

#[test]
fn korean_drafts_say_leak_and_no_draft_says_exposure() {
    for stage in all_stages() {
        for co in [company(), Company::default()] {
            let mut f = facts(33_700_000, &all_fields());
            f.stage = stage;
            f.company = co;
            if stage == Stage::Update {
                f.previous = Some(facts(4_500, &[("name", 4_500)]).as_previous());
            }
            let d = drafts(&f);
            for (file, text) in &d {
                assert!(
                    !text.contains("노출"),
                    "{stage} {file} says 노출 (exposure) where it must say 유출:\n{text}"
                );
                if file.contains(".ko.") {
                    assert!(text.contains("유출"), "{stage} {file} lacks 유출:\n{text}");
                }
            }
            let ko = d.keys().filter(|k| k.contains(".ko.")).count();
            assert!(ko >= 4, "{stage}: {:?}", d.keys());
        }
    }
}

#[test]
fn every_category_appears_in_the_subject_notices_in_both_languages() {
    for stage in all_stages() {
        let mut f = facts(2_000, &all_fields());
        f.stage = stage;
        let d = drafts(&f);
        let (ko, en) = if stage == Stage::Possible {
            ("possible.ko.txt", "possible.en.txt")
        } else {
            ("notice.ko.txt", "notice.en.txt")
        };
        for (key, _) in all_fields() {
            let n_ko = name_ko(key);
            let n_en = name_en(key);
            for file in [ko, "sms.ko.txt", "website-posting.ko.txt"] {
                assert!(d[file].contains(n_ko), "{stage} {file} lacks {n_ko}");
            }
            for file in [
                en,
                "sms.en.txt",
                "website-posting.en.txt",
                "gdpr-art34.en.txt",
                "california-1798.82.en.txt",
            ] {
                assert!(d[file].contains(n_en), "{stage} {file} lacks {n_en}");
            }
        }
    }
    // The names the issue asks for, verbatim.
    let d = drafts(&facts(10, &all_fields()));
    for name in [
        "이름",
        "이메일",
        "전화번호",
        "주소",
        "주문내역",
        "결제정보",
        "생년월일",
        "공동현관 출입번호",
        "배송지 연락처(배송지 목록의 타인 정보)",
        "주민등록번호",
        "여권번호",
        "운전면허번호",
        "외국인등록번호",
        "건강",
        "생체",
        "범죄경력",
        "loyalty_tier",
    ] {
        assert!(d["notice.ko.txt"].contains(name), "{name}");
    }
}

#[test]
fn subject_notices_carry_the_article_34_items_and_the_damages_route() {
    let d = drafts(&facts(2_000, &[("phone", 2_000), ("entrance_code", 10)]));
    let ko = &d["notice.ko.txt"];
    for must in [
        "유출된 개인정보 항목",
        "유출된 시점과 그 경위",
        "2025-06-06 21:49 KST",
        "2025-09-27 09:24 KST",
        "스미싱",
        "비밀번호를 변경",
        "출입번호 변경",
        "서명키 kid-2024-10 폐기",
        "피해 확인 시 보상",
        "1588-0000",
        "개인정보 분쟁조정위원회",
        "손해배상",
        "현재까지 확인된 내용",
    ] {
        assert!(ko.contains(must), "notice.ko.txt lacks {must:?}:\n{ko}");
    }
    let en = &d["notice.en.txt"];
    for must in [
        "smishing",
        "phishing",
        "mediation",
        "damages",
        "door code",
        "Revoked signing key kid-2024-10",
        "Confirmed damage is compensated",
    ] {
        assert!(en.contains(must), "notice.en.txt lacks {must:?}:\n{en}");
    }
    for file in [
        "notice.en.txt",
        "gdpr-art33.en.txt",
        "california-1798.82.en.txt",
    ] {
        assert!(
            !d[file].contains("폐기"),
            "{file} carries the Korean countermeasure"
        );
    }
    // Advice follows the categories: no entrance code, no entrance-code advice.
    let d = drafts(&facts(2_000, &[("email", 2_000)]));
    assert!(!d["notice.ko.txt"].contains("출입번호"));
    assert!(d["notice.ko.txt"].contains("피싱"));
}

#[test]
fn report_triggers_at_999_and_1000_subjects() {
    let t = facts(999, &[("name", 999)]);
    let mut t = t;
    t.rules = vec!["subjects_per_day".into()];
    let tr = t.triggers();
    assert!(!tr.large_scale && !tr.report_required, "{tr:?}");
    t.subjects = 1_000;
    let tr = t.triggers();
    assert!(tr.large_scale && tr.report_required, "{tr:?}");
    assert!(!tr.external_access && tr.special_categories.is_empty());
}

#[test]
fn report_triggers_on_unique_identifiers_or_sensitive_data_whatever_the_count() {
    let mut f = facts(3, &[("name", 3)]);
    f.rules = vec!["off_hours".into()];
    assert!(!f.triggers().report_required);
    for (key, _) in [
        ("resident_registration_number", 1),
        ("passport_number", 1),
        ("driver_license_number", 1),
        ("alien_registration_number", 1),
        ("health", 1),
        ("biometric", 1),
        ("criminal_record", 1),
    ] {
        let mut g = f.clone();
        g.fields.insert(key.into(), 1);
        let tr = g.triggers();
        assert!(tr.report_required, "{key}");
        assert_eq!(tr.special_categories, [key]);
    }
    // A category counted for no subject is no trigger.
    let mut g = f.clone();
    g.fields.insert("health".into(), 0);
    assert!(!g.triggers().report_required);
}

#[test]
fn report_triggers_on_unlawful_access_from_outside() {
    let mut f = facts(3, &[("name", 3)]);
    f.rules = vec!["off_hours".into()];
    assert!(!f.triggers().external_access);
    for rule in [
        "forged_credential",
        "orphaned_signing_key",
        "departed_principal",
        "foreign_origin",
        "shared_source",
    ] {
        let mut g = f.clone();
        g.rules.push(rule.into());
        let tr = g.triggers();
        assert!(tr.external_access && tr.report_required, "{rule}");
        assert_eq!(tr.external_reasons, [rule]);
    }
    let mut g = f.clone();
    g.external = true;
    let tr = g.triggers();
    assert!(tr.external_access && tr.report_required);
    assert_eq!(tr.external_reasons, ["caller"]);
}

#[test]
fn the_pipc_report_states_which_triggers_apply() {
    let d = drafts(&facts(1_000, &[("name", 1_000), ("passport_number", 2)]));
    let r = &d["pipc-report.ko.txt"];
    assert!(r.contains("신고 의무: 있음"), "{r}");
    assert!(r.contains("1천명 이상"), "{r}");
    assert!(
        r.contains("고유식별정보 또는 민감정보 유출 (여권번호)"),
        "{r}"
    );
    assert!(r.contains("외부로부터의 불법적인 접근"), "{r}");
    assert!(r.contains("여권번호: 2명 (고유식별정보)"), "{r}");
    let mut f = facts(999, &[("name", 999)]);
    f.rules = vec!["off_hours".into()];
    let r = drafts(&f).remove("pipc-report.ko.txt").unwrap();
    assert!(r.contains("요건에 해당하지 않습니다"), "{r}");
    assert!(!r.contains("해당 요건:"), "{r}");
}

#[test]
fn deadlines_are_exactly_72_hours_after_awareness() {
    let f = facts(10, &[("name", 10)]);
    let c = f.clocks();
    let aware = ms(AWARE);
    assert_eq!(c.notify_subjects.deadline_ms, aware + 72 * 3_600_000);
    assert_eq!(c.report_pipc.deadline_ms, aware + 72 * 3_600_000);
    assert_eq!(c.report_pipc.remaining_ms, 62 * 3_600_000);
    assert_eq!(c.report_pipc.hours_left(), 62.0);
    assert!(!c.report_pipc.overdue());
    let d = drafts(&f);
    // 2025-11-21T09:00Z is 18:00 KST.
    assert!(d["pipc-report.ko.txt"].contains("2025-11-21 18:00 KST (62.0시간 남음)"));
    assert!(d["summary.txt"].contains("62.0 hours left"));
    assert!(d["gdpr-art33.en.txt"].contains("2025-11-21 09:00 UTC"));

    let late = Clocks::of(aware, aware + 80 * 3_600_000);
    assert!(late.notify_subjects.overdue());
    assert_eq!(late.notify_subjects.hours_left(), -8.0);
    let mut f = f;
    f.now_ms = aware + 80 * 3_600_000;
    let d = drafts(&f);
    assert!(d["summary.txt"].contains("overdue by 8.0 hours"));
    assert!(d["gdpr-art33.en.txt"].contains("reasons for the delay"));
}

#[test]
fn an_update_says_previously_n_now_m() {
    let first = facts(4_500, &[("name", 4_500)]);
    let mut f = facts(
        33_700_000,
        &[("name", 33_700_000), ("entrance_code", 10_000)],
    );
    f.stage = Stage::Update;
    f.previous = Some(first.as_previous());
    let d = drafts(&f);
    assert!(
        d["summary.txt"].contains("previously 4,500, now 33,700,000 subjects"),
        "{}",
        d["summary.txt"]
    );
    assert!(d["notice.en.txt"].contains("previously 4,500, now 33,700,000 subjects"));
    let ko = &d["notice.ko.txt"];
    assert!(ko.contains("4,500명 → 현재 33,700,000명"), "{ko}");
    assert!(
        ko.contains("새로 확인된 유출 항목: 공동현관 출입번호"),
        "{ko}"
    );
    assert!(ko.contains("추가 안내"));
    assert!(d["pipc-report.ko.txt"].contains("4,500명 → 현재 33,700,000명"));
}

#[test]
fn the_possible_stage_drafts_the_possible_leak_notice() {
    let mut f = facts(500, &[("phone", 500)]);
    f.stage = Stage::Possible;
    let d = drafts(&f);
    assert!(!d.contains_key("notice.ko.txt"));
    assert!(d["possible.ko.txt"].contains("유출 가능성 안내"));
    assert!(d["possible.en.txt"].contains("may have been leaked"));
    assert!(d["sms.ko.txt"].contains("유출 가능성"));
    assert!(d["website-posting.ko.txt"].contains("유출 가능성 안내"));
    // After the amendment takes effect the notice cites it.
    f.now_ms = ms("2026-09-12T00:00:00Z");
    assert!(drafts(&f)["possible.ko.txt"].contains("2026. 9. 11. 시행"));
}

#[test]
fn missing_company_facts_print_as_marked_placeholders() {
    let mut f = facts(10, &[("name", 10)]);
    f.company = Company::default();
    let d = drafts(&f);
    assert!(d["notice.ko.txt"].starts_with("[회사명] 개인정보 유출 사실 안내"));
    assert!(d["notice.ko.txt"].contains("[피해 신고 전화번호]"));
    assert!(d["notice.ko.txt"].contains("[대응조치를 기재하십시오: 예) 서명키 kid-2024-10 폐기"));
    assert!(d["notice.en.txt"].contains("[company name]"));
    assert!(d["gdpr-art33.en.txt"].contains("[DPO name]"));
    assert!(d["summary.txt"].contains("Missing company facts"));
    assert!(d["summary.txt"].contains("contact_phone"));
    // With every fact set there is no placeholder left in the subject notices.
    let d = drafts(&facts(10, &[("name", 10)]));
    for file in ["notice.ko.txt", "sms.ko.txt"] {
        assert!(!d[file].contains("[회사명]"), "{file}");
        assert!(!d[file].contains("[피해"), "{file}");
    }
    assert!(!d["summary.txt"].contains("Missing company facts"));
}

/// Bytes in EUC-KR: one for ASCII, two for a Hangul syllable or other character.
fn euc_kr_len(s: &str) -> usize {
    s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

#[test]
fn the_sms_fits_an_lms() {
    for stage in all_stages() {
        for co in [company(), Company::default()] {
            let mut f = facts(33_700_000, &all_fields());
            f.stage = stage;
            f.company = co;
            let d = drafts(&f);
            let ko = &d["sms.ko.txt"];
            assert!(euc_kr_len(ko) <= 1000, "{} bytes:\n{ko}", euc_kr_len(ko));
            assert!(ko.lines().count() <= 12, "{ko}");
            let en = &d["sms.en.txt"];
            assert!(en.len() <= 1000, "{} bytes:\n{en}", en.len());
        }
    }
}

#[test]
fn website_posting_runs_thirty_days_and_is_required_from_1000_subjects() {
    let d = drafts(&facts(1_000, &[("name", 1_000)]));
    let p = &d["website-posting.ko.txt"];
    // Drafted 2025-11-18T19:00Z, 04:00 KST the next day: posted from that day for 30 days.
    assert!(
        p.contains("게시 기간: 2025-11-19 ~ 2025-12-19 (30일 이상 게시)"),
        "{p}"
    );
    assert!(p.contains("1천명 이상"), "{p}");
    assert!(
        p.contains("유출된 개인정보 항목"),
        "the posting carries the notice"
    );
    let small = drafts(&facts(999, &[("name", 999)]));
    assert!(small["summary.txt"].contains("not required now"));
    let mut f = facts(3, &[("name", 3)]);
    f.contacts_missing = true;
    assert!(drafts(&f)["website-posting.en.txt"].contains("contact details are missing"));
}

#[test]
fn exposure_in_krw_when_revenue_is_known_else_as_a_percentage() {
    let d = drafts(&facts(33_700_000, &[("name", 33_700_000)]));
    let e = &d["exposure.txt"];
    assert!(e.contains("추정치이며 법률 자문이 아닙니다"));
    assert!(e.contains("not legal advice"));
    assert!(e.contains("상한 약 30,000,000원"), "{e}");
    assert!(e.contains("가중 시 상한 약 100,000,000원"), "{e}");
    assert!(e.contains("규모 요건(10,000,000명 이상)에 해당"), "{e}");
    assert!(e.contains("101,100,000,000,000원"), "33.7M x 3M KRW: {e}");
    let mut f = facts(10, &[("name", 10)]);
    f.company.annual_revenue_krw = None;
    let e = drafts(&f).remove("exposure.txt").unwrap();
    assert!(
        e.contains("전체 매출액의 3%") && e.contains("전체 매출액의 10%"),
        "{e}"
    );
    assert!(e.contains("3% of total revenue"));
    assert!(!e.contains("상한 약"));
}

#[test]
fn gdpr_and_california_variants_carry_their_required_parts() {
    let mut f = facts(
        600,
        &[("name", 600), ("payment", 20), ("driver_license_number", 4)],
    );
    f.california_residents = Some(501);
    let d = drafts(&f);
    let a33 = &d["gdpr-art33.en.txt"];
    for must in [
        "(a) Nature",
        "Number of data subjects concerned: 600",
        "Number of personal data records concerned: 1,800",
        "(b) Contact point",
        "dpo@example.com",
        "(c) Likely consequences",
        "(d) Measures taken or proposed",
        "72 hours",
    ] {
        assert!(a33.contains(must), "{must}:\n{a33}");
    }
    assert!(d["gdpr-art34.en.txt"].contains("What you can do"));
    let ca = &d["california-1798.82.en.txt"];
    let mut at = 0;
    for heading in [
        "NOTICE OF DATA BREACH",
        "What Happened",
        "What Information Was Involved",
        "What We Are Doing",
        "What You Can Do",
        "For More Information",
    ] {
        let i = ca[at..]
            .find(heading)
            .unwrap_or_else(|| panic!("{heading} missing or out of order:\n{ca}"));
        at += i + heading.len();
    }
    assert!(ca.contains("501 (submission required)"), "{ca}");
    assert!(
        ca.contains("Payment information, Driver's licence number"),
        "{ca}"
    );
    f.california_residents = Some(500);
    assert!(drafts(&f)["california-1798.82.en.txt"].contains("500 (no submission required)"));
    f.california_residents = None;
    assert!(drafts(&f)["california-1798.82.en.txt"].contains("[not known to suho"));
}

#[test]
fn an_overridden_template_is_used() {
    let mut t = Templates::embedded();
    t.set(
        "notice.ko.txt.j2",
        "우리 회사 양식: {{ company.ko.name }} 개인정보 유출 {{ subjects_fmt }}명\n",
        "/tmp/override/notice.ko.txt.j2",
    )
    .unwrap();
    let d = draft_all(&facts(1_234, &[("name", 1_234)]), &t).unwrap();
    let n = d.iter().find(|d| d.file == "notice.ko.txt").unwrap();
    assert_eq!(
        n.text,
        "우리 회사 양식: 예시커머스 주식회사 개인정보 유출 1,234명\n"
    );
    // The posting includes the notice, so it follows the override too.
    let p = d
        .iter()
        .find(|d| d.file == "website-posting.ko.txt")
        .unwrap();
    assert!(p.text.contains("우리 회사 양식"));
    assert!(matches!(
        t.set("nope.j2", "", "x"),
        Err(NotifyError::UnknownTemplate(_))
    ));
}

#[test]
fn override_files_replace_embedded_templates_and_init_keeps_edits() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("templates/notify");
    let written = write_default_templates(&tdir).unwrap();
    assert_eq!(written.len(), Templates::names().count());
    assert!(written.iter().all(|w| matches!(w, Written::Created(_))));
    // An unedited copy drafts exactly what the embedded one does.
    let f = facts(1_000, &all_fields());
    let loaded = Templates::load(&tdir).unwrap();
    assert_eq!(
        draft_all(&f, &loaded).unwrap(),
        draft_all(&f, &Templates::embedded()).unwrap()
    );
    // Edit one; init again keeps the edit.
    let path = tdir.join("sms.en.txt.j2");
    std::fs::write(&path, "EDITED {{ subjects }}\n").unwrap();
    std::fs::write(tdir.join("sms.en.txt"), "misnamed\n").unwrap();
    let again = write_default_templates(&tdir).unwrap();
    assert!(again.iter().all(|w| matches!(w, Written::Kept(_))));
    let loaded = Templates::load(&tdir).unwrap();
    assert_eq!(loaded.overridden().len(), Templates::names().count());
    assert_eq!(loaded.ignored(), [tdir.join("sms.en.txt")]);
    let d = draft_all(&f, &loaded).unwrap();
    let sms = d.iter().find(|d| d.file == "sms.en.txt").unwrap();
    assert_eq!(sms.text, "EDITED 1000\n");
    // No directory, no overrides.
    assert!(Templates::load(&dir.path().join("absent"))
        .unwrap()
        .overridden()
        .is_empty());
}

#[test]
fn a_broken_template_names_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notice.en.txt.j2");
    std::fs::write(&path, "line one\nline two\n{% if subjects %}\nno end\n").unwrap();
    let t = Templates::load(dir.path()).unwrap();
    let early = t.check().unwrap_err().to_string();
    let e = draft_all(&facts(10, &[("name", 10)]), &t).unwrap_err();
    assert_eq!(early, e.to_string(), "check finds what drafting finds");
    assert!(Templates::embedded().check().is_ok());
    let s = e.to_string();
    match &e {
        NotifyError::Template { file, line, .. } => {
            assert_eq!(file, &path.display().to_string());
            assert!(line.is_some_and(|l| (3..=5).contains(&l)), "{s}");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.starts_with(&format!("{}:", path.display())), "{s}");

    // A misspelt variable is caught at render time, with its line.
    let mut t = Templates::embedded();
    t.set(
        "sms.ko.txt.j2",
        "첫 줄\n둘째 줄 {{ subjcts }}\n",
        "/etc/suho/sms.ko.txt.j2",
    )
    .unwrap();
    let e = draft_all(&facts(10, &[("name", 10)]), &t).unwrap_err();
    assert!(
        e.to_string().starts_with("/etc/suho/sms.ko.txt.j2:2:"),
        "{e}"
    );
}

#[test]
fn facts_json_round_trips_for_the_next_run() {
    let mut f = facts(4_500, &[("name", 4_500)]);
    f.previous = Some(facts(10, &[("name", 10)]).as_previous());
    let d = draft_all(&f, &Templates::embedded()).unwrap();
    let json = d.iter().find(|d| d.file == FACTS_FILE).unwrap();
    let back = Facts::from_json(&json.text, "facts.json").unwrap();
    assert_eq!(back, f);
    assert_eq!(back.as_previous().subjects, 4_500);
    assert!(Facts::from_json("{", "x/facts.json")
        .unwrap_err()
        .to_string()
        .starts_with("x/facts.json"));
}

#[test]
fn drafts_are_written_into_the_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("notices/inc-1");
    let d = draft_all(&facts(10, &[("name", 10)]), &Templates::embedded()).unwrap();
    let paths = write_drafts(&out, &d).unwrap();
    assert_eq!(paths.len(), d.len());
    for (p, draft) in paths.iter().zip(&d) {
        assert_eq!(std::fs::read_to_string(p).unwrap(), draft.text);
    }
    let n = write_mail_merge_file(
        &out.join(MAIL_MERGE_FILE),
        [SubjectRow {
            subject: "c-1",
            fields: vec!["name"],
            first_ms: 0,
            last_ms: 0,
            accesses: 1,
        }],
    )
    .unwrap();
    assert_eq!(n, 1);
    let csv = std::fs::read_to_string(out.join(MAIL_MERGE_FILE)).unwrap();
    assert!(csv.starts_with(MAIL_MERGE_HEADER));
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
