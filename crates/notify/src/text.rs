//! Small text helpers: times in KST and UTC, numbers with thousands separators, and what each
//! detector rule means in a sentence a data subject can read.

use suho_record::time::Rfc3339;

/// Korea Standard Time is UTC+9 all year.
const KST_OFFSET_MS: i64 = 9 * 3_600_000;

/// `2025-06-06 21:49 KST`.
pub(crate) fn kst(ms: i64) -> String {
    let s = Rfc3339(ms.saturating_add(KST_OFFSET_MS)).to_string();
    format!(
        "{} {} KST",
        s.get(..10).unwrap_or(&s),
        s.get(11..16).unwrap_or("")
    )
}

/// `2025-06-06 12:49 UTC`.
pub(crate) fn utc(ms: i64) -> String {
    let s = Rfc3339(ms).to_string();
    format!(
        "{} {} UTC",
        s.get(..10).unwrap_or(&s),
        s.get(11..16).unwrap_or("")
    )
}

/// The calendar date in Korea, `2025-06-06`.
pub(crate) fn date_kst(ms: i64) -> String {
    let s = Rfc3339(ms.saturating_add(KST_OFFSET_MS)).to_string();
    s.get(..10).unwrap_or(&s).to_string()
}

/// The calendar date in UTC, `2025-06-06`.
pub(crate) fn date_utc(ms: i64) -> String {
    let s = Rfc3339(ms).to_string();
    s.get(..10).unwrap_or(&s).to_string()
}

/// `33,700,000`.
pub(crate) fn thousands(n: u128) -> String {
    suho_record::Thousands(n).to_string()
}

/// What a rule's firing says happened, in Korean and English; `None` for a rule suho does not
/// know (the caller prints its name).
pub(crate) fn rule_text(rule: &str) -> Option<(&'static str, &'static str)> {
    Some(match rule {
        "departed_principal" => (
            "퇴사한 직원의 계정을 이용한 접근",
            "access with the account of a person who had left the company",
        ),
        "suspended_principal" => (
            "정지된 계정을 이용한 접근",
            "access with a suspended account",
        ),
        "orphaned_credential" => (
            "퇴사 또는 정지된 직원 명의로 남아 있던 인증정보를 이용한 접근",
            "access with a credential still held in the name of a person who had left or been suspended",
        ),
        "orphaned_signing_key" => (
            "퇴사 또는 정지된 직원 명의로 남아 있던 서명키로 만든 인증 토큰을 이용한 접근",
            "access with tokens signed by a signing key still held in the name of a person who had left or been suspended",
        ),
        "revoked_credential" => (
            "폐기된 인증정보를 이용한 접근",
            "access with a revoked credential",
        ),
        "expired_credential" => (
            "만료된 인증정보를 이용한 접근",
            "access with an expired credential",
        ),
        "forged_credential" => (
            "발급된 적 없는(위조된) 인증 토큰을 이용한 접근",
            "access with forged authentication tokens that were never issued",
        ),
        "credential_owner_mismatch" => (
            "다른 사람 명의의 인증정보를 이용한 접근",
            "access with a credential that belongs to someone else",
        ),
        "revoked_signing_key" => (
            "폐기된 서명키로 서명된 인증 토큰을 이용한 접근",
            "access with tokens signed by a revoked signing key",
        ),
        "retired_signing_key" => (
            "사용이 종료된 서명키로 서명된 인증 토큰을 이용한 접근",
            "access with tokens signed by a retired signing key",
        ),
        "unknown_signing_key" => (
            "등록되지 않은 서명키로 서명된 인증 토큰을 이용한 접근",
            "access with tokens signed by an unregistered signing key",
        ),
        "unknown_principal" => (
            "등록되지 않은 계정을 이용한 접근",
            "access with an account that is not registered",
        ),
        "foreign_origin" => (
            "회사가 운영되지 않는 해외 지역에서의 접근",
            "access from abroad, outside the countries where the company operates",
        ),
        "unusual_network" => (
            "평소 사용하지 않는 네트워크에서의 접근",
            "access from a network the account does not normally use",
        ),
        "impossible_travel" => (
            "같은 인증정보가 시간상 이동할 수 없는 먼 곳에서 잇달아 사용된 접근",
            "one credential used from places too far apart for the time between",
        ),
        "shared_source" => (
            "한 곳에서 여러 계정을 이용한 접근",
            "many accounts used from one source",
        ),
        "subjects_per_hour" | "subjects_per_day" => (
            "평소보다 훨씬 많은 고객 정보의 조회",
            "far more customers' data read than normal",
        ),
        "enumeration" => (
            "고객 식별번호를 차례로 대입한 대량 조회",
            "customer records read one after another in sequence",
        ),
        "reach_30d" | "reach_90d" => (
            "여러 주에 걸친 대량 조회",
            "far more customers read over weeks than normal",
        ),
        "bulk_without_purpose" => (
            "목적 기재 없이 이루어진 대량 내려받기 또는 출력",
            "bulk export, download or print without a stated purpose",
        ),
        "off_hours" => (
            "평소 근무하지 않는 시간대의 접근",
            "access at hours the account never works",
        ),
        "login_failed_burst" => (
            "반복된 로그인 실패",
            "a burst of failed logins",
        ),
        "unusual_data_for_role" => (
            "담당 업무에서 거의 조회하지 않는 민감정보·고유식별정보·결제정보의 조회",
            "sensitive, identifying or payment data that the account's role rarely reads",
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_kst_and_utc() {
        // 2025-06-06T12:49:21.380Z
        let ms = suho_record::parse_rfc3339("2025-06-06T12:49:21.380Z").unwrap();
        assert_eq!(kst(ms), "2025-06-06 21:49 KST");
        assert_eq!(utc(ms), "2025-06-06 12:49 UTC");
        let late = suho_record::parse_rfc3339("2025-06-06T20:00:00Z").unwrap();
        assert_eq!(
            date_kst(late),
            "2025-06-07",
            "the Korean date rolls over at 15:00 UTC"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(33_700_000), "33,700,000");
    }
}
