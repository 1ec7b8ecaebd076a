//! Normalisation of contact identifiers, so that every spelling of one email address or phone
//! number hashes to the same value, on the company's side and in the subject's browser alike.
//!
//! # Email
//!
//! 1. Trim: remove leading and trailing characters that have the Unicode `White_Space` property
//!    or are U+FEFF (a byte-order mark some spreadsheets leave). In JavaScript:
//!    `s.replace(/^[\s\u0085]+|[\s\u0085]+$/g, "")`.
//! 2. Lower-case the whole address, local part included, with Unicode default case mapping
//!    (`String.prototype.toLowerCase()` in JavaScript, `str::to_lowercase` in Rust). No Unicode
//!    normalisation and no provider rules: dots and `+tags` are kept as written.
//! 3. Check: at most 320 bytes of UTF-8, no whitespace or control character left, and an `@`
//!    with at least one character on both sides of the last `@`.
//!
//! `  Kim.MinJi@Example.COM ` becomes `kim.minji@example.com`.
//!
//! # Phone
//!
//! The result is E.164: `+`, the country code, the national significant number, digits only.
//!
//! 1. Trim as for email.
//! 2. Drop the separators space, tab, `-`, `.`, `(` and `)`. Any other character than ASCII
//!    digits and one leading `+` is an error (letters, extensions, full-width digits).
//! 3. With a leading `+`: the digits are country code and number. For `+82` (Korea), one
//!    trunk `0` right after the country code is dropped (`+82 (0)10...` and `+82 010...`) and the
//!    national significant number must have 8 to 10 digits and not start with `0`. Other
//!    country codes are kept as written: 7 to 15 digits in all, not starting with `0`.
//! 4. Without `+`: the number must be a Korean national number: a trunk `0`, then 8 to 10 digits
//!    not starting with `0`; the trunk `0` is replaced by `+82`. Numbers starting with `00` (an
//!    international call prefix) or with another digit than `0` are refused: write them as
//!    `+<country code>...`.
//!
//! `010-1234-5678`, `010 1234 5678`, `01012345678`, `+82 10-1234-5678` and `+82 (0)10 1234 5678`
//! all become `+821012345678`; `02-312-3456` becomes `+8223123456`; `+1 (415) 555-0100` becomes
//! `+14155550100`.

use crate::Error;

/// Longest accepted email address, in bytes (RFC 5321 allows 64 + 1 + 255).
const MAX_EMAIL_BYTES: usize = 320;

fn is_trimmed(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

fn trim(raw: &str) -> &str {
    raw.trim_matches(is_trimmed)
}

fn email_err(reason: impl Into<String>) -> Error {
    Error::Identifier {
        kind: "email",
        reason: reason.into(),
    }
}

fn phone_err(reason: impl Into<String>) -> Error {
    Error::Identifier {
        kind: "phone",
        reason: reason.into(),
    }
}

/// The normalised form of an email address (see the module documentation). The error never
/// repeats the address.
pub fn normalise_email(raw: &str) -> Result<String, Error> {
    let s = trim(raw);
    if s.is_empty() {
        return Err(email_err("empty"));
    }
    let lower = s.to_lowercase();
    if lower.len() > MAX_EMAIL_BYTES {
        return Err(email_err(format!(
            "longer than {MAX_EMAIL_BYTES} bytes ({})",
            lower.len()
        )));
    }
    if let Some(pos) = lower.chars().position(|c| is_trimmed(c) || c.is_control()) {
        return Err(email_err(format!(
            "character {} is whitespace or a control character",
            pos + 1
        )));
    }
    match lower.rsplit_once('@') {
        None => Err(email_err("no '@'")),
        Some(("", _)) => Err(email_err("nothing before the '@'")),
        Some((_, "")) => Err(email_err("nothing after the '@'")),
        Some(_) => Ok(lower),
    }
}

/// The E.164 form of a phone number (see the module documentation). The error never repeats
/// the number.
pub fn normalise_phone(raw: &str) -> Result<String, Error> {
    let s = trim(raw);
    if s.is_empty() {
        return Err(phone_err("empty"));
    }
    let mut plus = false;
    let mut digits = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '\t' | '-' | '.' | '(' | ')' => {}
            '+' if !plus && digits.is_empty() => plus = true,
            '+' => {
                return Err(phone_err(format!(
                    "character {}: '+' may only start the number",
                    i + 1
                )))
            }
            _ => {
                return Err(phone_err(format!(
                    "character {} is not a digit, a leading '+' or a separator (space - . ( ))",
                    i + 1
                )))
            }
        }
    }
    if digits.is_empty() {
        return Err(phone_err("no digits"));
    }
    if plus {
        if let Some(national) = digits.strip_prefix("82") {
            let nsn = national.strip_prefix('0').unwrap_or(national);
            return korean(nsn);
        }
        if digits.starts_with('0') {
            return Err(phone_err("a country code never starts with 0"));
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(phone_err(format!(
                "an international number has 7 to 15 digits, not {}",
                digits.len()
            )));
        }
        return Ok(format!("+{digits}"));
    }
    if digits.starts_with("00") {
        return Err(phone_err(
            "starts with an international call prefix (00); write it as +<country code>...",
        ));
    }
    match digits.strip_prefix('0') {
        Some(nsn) => korean(nsn),
        None => Err(phone_err(
            "a number without '+' must be a Korean number starting with 0 (010-1234-5678); \
             write others as +<country code>...",
        )),
    }
}

/// `+82` and a Korean national significant number (without the trunk `0`).
fn korean(nsn: &str) -> Result<String, Error> {
    if nsn.starts_with('0') {
        return Err(phone_err(
            "a Korean number has one trunk 0 (010-..., +82 10-...), not two",
        ));
    }
    if !(8..=10).contains(&nsn.len()) {
        return Err(phone_err(format!(
            "a Korean number has 8 to 10 digits after the trunk 0 or +82, not {}",
            nsn.len()
        )));
    }
    Ok(format!("+82{nsn}"))
}

#[cfg(test)]
mod tests {
    // A failed unwrap in a test is a failed test with a backtrace: what we want here.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn phone(s: &str) -> String {
        normalise_phone(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn email(s: &str) -> String {
        normalise_email(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn every_spelling_of_a_korean_mobile_number_is_one_e164() {
        for s in [
            "010-1234-5678",
            "010 1234 5678",
            "01012345678",
            "010.1234.5678",
            "(010) 1234-5678",
            "+82 10-1234-5678",
            "+82-10-1234-5678",
            "+821012345678",
            "+82 (0)10 1234 5678",
            "+82 010 1234 5678",
            "  010-1234-5678\t",
            "\u{3000}010-1234-5678\u{3000}",
            "\u{feff}010-1234-5678",
        ] {
            assert_eq!(phone(s), "+821012345678", "{s:?}");
        }
    }

    #[test]
    fn korean_landlines_and_foreign_numbers() {
        assert_eq!(phone("02-312-3456"), "+8223123456");
        assert_eq!(phone("02-3123-4567"), "+82231234567");
        assert_eq!(phone("031-123-4567"), "+82311234567");
        assert_eq!(phone("+1 (415) 555-0100"), "+14155550100");
        assert_eq!(phone("+81 3-1234-5678"), "+81312345678");
        assert_eq!(phone("+44 20 7946 0958"), "+442079460958");
    }

    #[test]
    fn phone_errors_say_why_without_the_number() {
        let cases = [
            ("", "empty"),
            ("   ", "empty"),
            ("010-1234-567x", "character 13 is not a digit"),
            ("010-1234-5678 ext 9", "character 15 is not a digit"),
            ("０１０-1234-5678", "character 1 is not a digit"),
            ("010+1234", "'+' may only start"),
            ("++82101234567", "'+' may only start"),
            ("00821012345678", "international call prefix"),
            ("821012345678", "must be a Korean number starting with 0"),
            ("010-123", "8 to 10 digits"),
            ("010-1234-5678-9", "8 to 10 digits"),
            ("+82 00 1234 5678", "not two"),
            ("+0 123 4567", "never starts with 0"),
            ("+1 234", "7 to 15 digits"),
            ("+1 2345 6789 0123 456", "7 to 15 digits"),
            ("-", "no digits"),
        ];
        for (input, want) in cases {
            let err = normalise_phone(input).expect_err(input).to_string();
            assert!(err.starts_with("phone: "), "{input:?}: {err}");
            assert!(err.contains(want), "{input:?}: {err}");
            let digits: String = input.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 4 {
                assert!(!err.contains(&digits), "{input:?} leaked into {err}");
            }
        }
    }

    #[test]
    fn email_is_trimmed_and_lower_cased_whole() {
        for s in [
            "kim.minji@example.com",
            "Kim.MinJi@Example.COM",
            "  KIM.MINJI@EXAMPLE.COM  ",
            "\tkim.minji@example.com\r\n",
            "\u{3000}Kim.Minji@example.com",
        ] {
            assert_eq!(email(s), "kim.minji@example.com", "{s:?}");
        }
        // Provider rules are not applied: these are different addresses.
        assert_eq!(
            email("Kim.Minji+shop@Gmail.com"),
            "kim.minji+shop@gmail.com"
        );
        assert_ne!(email("kimminji@gmail.com"), email("kim.minji@gmail.com"));
        // Unicode default lower-casing, as JavaScript's toLowerCase does.
        assert_eq!(email("ÀÉ@Bücher.DE"), "àé@bücher.de");
        // An '@' in a quoted local part: the last '@' separates the domain.
        assert_eq!(email("\"a@b\"@Example.com"), "\"a@b\"@example.com");
    }

    #[test]
    fn email_errors_say_why_without_the_address() {
        let long = format!("{}@example.com", "a".repeat(320));
        let cases = [
            ("", "empty"),
            (" \t", "empty"),
            ("kim.example.com", "no '@'"),
            ("@example.com", "nothing before"),
            ("kim@", "nothing after"),
            ("kim min@example.com", "character 4 is whitespace"),
            ("kim\u{0}@example.com", "control character"),
            (long.as_str(), "longer than 320 bytes"),
        ];
        for (input, want) in cases {
            let err = normalise_email(input).expect_err(input).to_string();
            assert!(err.starts_with("email: "), "{input:?}: {err}");
            assert!(err.contains(want), "{input:?}: {err}");
            assert!(input.len() < 4 || !err.contains(input), "{err}");
        }
    }
}
