//! The categories of personal information (the contract's `fields` vocabulary) as a notice
//! names them, in Korean and in English, and which of them the law treats specially.

use serde::Serialize;

/// How the law classes a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Ordinary personal information.
    Ordinary,
    /// A unique identifier (고유식별정보, PIPA Art. 24; Enforcement Decree Art. 19).
    UniqueIdentifier,
    /// Sensitive information (민감정보, PIPA Art. 23).
    Sensitive,
    /// Not in the vocabulary: printed verbatim, treated as ordinary.
    Unknown,
}

/// One category of the vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    /// The wire name in access records (`fields`).
    pub key: &'static str,
    /// The Korean name a notice prints.
    pub ko: &'static str,
    /// The English name a notice prints.
    pub en: &'static str,
    /// How the law classes it.
    pub class: Class,
}

const fn cat(key: &'static str, ko: &'static str, en: &'static str, class: Class) -> Category {
    Category { key, ko, en, class }
}

/// The vocabulary of contract section 1, in the order a notice lists it.
pub const VOCABULARY: &[Category] = &[
    cat("name", "이름", "Name", Class::Ordinary),
    cat("email", "이메일", "Email address", Class::Ordinary),
    cat("phone", "전화번호", "Phone number", Class::Ordinary),
    cat("address", "주소", "Address", Class::Ordinary),
    cat(
        "order_history",
        "주문내역",
        "Order history",
        Class::Ordinary,
    ),
    cat(
        "payment",
        "결제정보",
        "Payment information",
        Class::Ordinary,
    ),
    cat("birth_date", "생년월일", "Date of birth", Class::Ordinary),
    cat(
        "entrance_code",
        "공동현관 출입번호",
        "Shared-entrance door code",
        Class::Ordinary,
    ),
    cat(
        "delivery_contacts",
        "배송지 연락처(배송지 목록의 타인 정보)",
        "Delivery contacts (other people on your address list)",
        Class::Ordinary,
    ),
    cat(
        "resident_registration_number",
        "주민등록번호",
        "Resident registration number",
        Class::UniqueIdentifier,
    ),
    cat(
        "passport_number",
        "여권번호",
        "Passport number",
        Class::UniqueIdentifier,
    ),
    cat(
        "driver_license_number",
        "운전면허번호",
        "Driver's licence number",
        Class::UniqueIdentifier,
    ),
    cat(
        "alien_registration_number",
        "외국인등록번호",
        "Alien registration number",
        Class::UniqueIdentifier,
    ),
    cat("health", "건강", "Health information", Class::Sensitive),
    cat(
        "biometric",
        "생체",
        "Biometric information",
        Class::Sensitive,
    ),
    cat(
        "criminal_record",
        "범죄경력",
        "Criminal record",
        Class::Sensitive,
    ),
];

/// The vocabulary entry for `key`, if it is one.
pub fn lookup(key: &str) -> Option<&'static Category> {
    VOCABULARY.iter().find(|c| c.key == key)
}

/// The Korean name of `key` (the key itself, verbatim, when it is not in the vocabulary).
pub fn name_ko(key: &str) -> &str {
    lookup(key).map_or(key, |c| c.ko)
}

/// The English name of `key` (the key itself, verbatim, when it is not in the vocabulary).
pub fn name_en(key: &str) -> &str {
    lookup(key).map_or(key, |c| c.en)
}

/// How the law classes `key`.
pub fn class_of(key: &str) -> Class {
    lookup(key).map_or(Class::Unknown, |c| c.class)
}

/// Sort key: vocabulary order first, then unknown categories by name.
pub(crate) fn order(key: &str) -> (usize, &str) {
    (
        VOCABULARY
            .iter()
            .position(|c| c.key == key)
            .unwrap_or(VOCABULARY.len()),
        key,
    )
}

/// Categories of California Civ. Code 1798.82(h) "personal information" (with the person's
/// name): government identity numbers, account or card numbers (with any code needed to use
/// them), medical information and unique biometric data.
pub(crate) fn california_covered(key: &str) -> bool {
    matches!(
        key,
        "resident_registration_number"
            | "passport_number"
            | "driver_license_number"
            | "alien_registration_number"
            | "payment"
            | "health"
            | "biometric"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_categories_are_printed_verbatim_and_sort_last() {
        assert_eq!(name_ko("shoe_size"), "shoe_size");
        assert_eq!(name_en("shoe_size"), "shoe_size");
        assert_eq!(class_of("shoe_size"), Class::Unknown);
        assert!(order("shoe_size") > order("criminal_record"));
        assert!(order("name") < order("email"));
    }

    #[test]
    fn the_four_unique_identifiers_and_three_sensitive_categories() {
        let unique: Vec<_> = VOCABULARY
            .iter()
            .filter(|c| c.class == Class::UniqueIdentifier)
            .map(|c| c.ko)
            .collect();
        assert_eq!(
            unique,
            ["주민등록번호", "여권번호", "운전면허번호", "외국인등록번호"]
        );
        let sensitive: Vec<_> = VOCABULARY
            .iter()
            .filter(|c| c.class == Class::Sensitive)
            .map(|c| c.key)
            .collect();
        assert_eq!(sensitive, ["health", "biometric", "criminal_record"]);
    }
}
