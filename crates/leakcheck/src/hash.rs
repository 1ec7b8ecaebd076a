//! Identifier hashes, range prefixes, and the client's side of a lookup.
//!
//! The hash of an identifier is SHA-256 over the UTF-8 bytes of
//!
//! ```text
//! "suho-leak-check/v1" 0x00 kind 0x00 normalised
//! ```
//!
//! where `kind` is `email` or `phone` and `normalised` is the output of
//! [`normalise_email`] or [`normalise_phone`]. The kind is part of the hashed text, so an email
//! and a phone number never share a hash, and the version tag lets a later scheme coexist.
//!
//! Hashes are written as 64 upper-case hexadecimal digits, like Have I Been Pwned's range API;
//! every parser here accepts either case. A range prefix is the first 5 hex digits (20 bits) of
//! a hash; a range response has one line per stored hash with that prefix, holding the other
//! 59 hex digits (the suffix), each line ended by `\n`.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::{normalise_email, normalise_phone, Error};

/// The domain-separation tag that starts every hashed identifier text.
pub const DOMAIN_TAG: &str = "suho-leak-check/v1";
/// Number of hexadecimal digits in a range prefix.
pub const PREFIX_DIGITS: usize = 5;
/// Number of hexadecimal digits in a range response line (a hash without its prefix).
pub const SUFFIX_DIGITS: usize = 64 - PREFIX_DIGITS;
/// Number of distinct range prefixes (2^20).
pub const PREFIX_COUNT: usize = 1 << (4 * PREFIX_DIGITS);

/// What a contact identifier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
}

impl Kind {
    /// The kind's name as hashed: `email` or `phone`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised contact identifier. Its `Debug` form hides the value, so it cannot end up in a
/// log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Identifier {
    kind: Kind,
    normalised: String,
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identifier")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Identifier {
    /// An email address, normalised.
    pub fn email(raw: &str) -> Result<Identifier, Error> {
        Ok(Identifier {
            kind: Kind::Email,
            normalised: normalise_email(raw)?,
        })
    }

    /// A phone number, normalised to E.164.
    pub fn phone(raw: &str) -> Result<Identifier, Error> {
        Ok(Identifier {
            kind: Kind::Phone,
            normalised: normalise_phone(raw)?,
        })
    }

    /// An identifier of `kind`, normalised.
    pub fn new(kind: Kind, raw: &str) -> Result<Identifier, Error> {
        match kind {
            Kind::Email => Identifier::email(raw),
            Kind::Phone => Identifier::phone(raw),
        }
    }

    /// What it is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The normalised text that is hashed.
    pub fn normalised(&self) -> &str {
        &self.normalised
    }

    /// SHA-256 of `DOMAIN_TAG 0x00 kind 0x00 normalised`.
    pub fn hash(&self) -> IdHash {
        let mut h = Sha256::new();
        h.update(DOMAIN_TAG.as_bytes());
        h.update([0]);
        h.update(self.kind.as_str().as_bytes());
        h.update([0]);
        h.update(self.normalised.as_bytes());
        IdHash(h.finalize().into())
    }
}

/// The hash of one identifier: 32 bytes, ordered as bytes (which is the order of its hex text).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdHash(pub [u8; 32]);

impl IdHash {
    /// The range prefix this hash falls in: its first 20 bits.
    pub fn prefix(&self) -> Prefix {
        let b = &self.0;
        Prefix((u32::from(b[0]) << 12) | (u32::from(b[1]) << 4) | (u32::from(b[2]) >> 4))
    }

    /// The 59 upper-case hex digits after the prefix: one line of a range response.
    pub fn suffix(&self) -> String {
        let mut s = self.to_string();
        s.drain(..PREFIX_DIGITS);
        s
    }
}

impl fmt::Display for IdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for IdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdHash({self})")
    }
}

impl FromStr for IdHash {
    type Err = Error;

    /// 64 hexadecimal digits, either case.
    fn from_str(s: &str) -> Result<IdHash, Error> {
        if s.len() != 64 {
            return Err(Error::Hash {
                reason: format!(
                    "expected 64 hexadecimal digits (a SHA-256), found {} characters",
                    s.chars().count()
                ),
            });
        }
        if let Some(pos) = s.bytes().position(|b| !b.is_ascii_hexdigit()) {
            return Err(Error::Hash {
                reason: format!("character {} is not a hexadecimal digit", pos + 1),
            });
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|e| Error::Hash {
            reason: e.to_string(),
        })?;
        Ok(IdHash(out))
    }
}

/// A range prefix: the first 20 bits (5 hex digits) of a hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix(u32);

impl Prefix {
    /// The prefix with this 20-bit value; `None` when `value` has more than 20 bits.
    pub fn new(value: u32) -> Option<Prefix> {
        (value < PREFIX_COUNT as u32).then_some(Prefix(value))
    }

    /// The 20-bit value, `0..2^20`.
    pub fn value(self) -> u32 {
        self.0
    }

    /// Whether `hash` starts with this prefix.
    pub fn contains(self, hash: &IdHash) -> bool {
        hash.prefix() == self
    }

    /// Sets the first 20 bits of `bytes` to this prefix, keeping the rest.
    pub(crate) fn stamp(self, bytes: &mut [u8; 32]) {
        bytes[0] = (self.0 >> 12) as u8;
        bytes[1] = (self.0 >> 4) as u8;
        bytes[2] = ((self.0 as u8 & 0x0f) << 4) | (bytes[2] & 0x0f);
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:05X}", self.0)
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prefix({self})")
    }
}

impl FromStr for Prefix {
    type Err = Error;

    /// Exactly 5 hexadecimal digits, either case.
    fn from_str(s: &str) -> Result<Prefix, Error> {
        let n = s.chars().count();
        if n != PREFIX_DIGITS {
            return Err(Error::Prefix {
                reason: format!(
                    "a range prefix is exactly {PREFIX_DIGITS} hexadecimal digits (0-9, A-F); got {n} characters"
                ),
            });
        }
        if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(Error::Prefix {
                reason: format!(
                    "a range prefix is exactly {PREFIX_DIGITS} hexadecimal digits (0-9, A-F); character {} ({c:?}) is not one",
                    i + 1
                ),
            });
        }
        u32::from_str_radix(s, 16)
            .map(Prefix)
            .map_err(|e| Error::Prefix {
                reason: e.to_string(),
            })
    }
}

/// The client's first step: the identifier's full hash, and the prefix to send. Only the prefix
/// leaves the machine; the hash stays for [`matches`].
pub fn check(id: &Identifier) -> (Prefix, IdHash) {
    let hash = id.hash();
    (hash.prefix(), hash)
}

/// The client's last step: whether a range response (one suffix per line, either case,
/// surrounding whitespace ignored) holds `hash`. Padding lines never match (a random suffix
/// equals a given one with probability 2^-236).
pub fn matches(response: &str, hash: &IdHash) -> bool {
    let want = hash.suffix();
    response
        .lines()
        .any(|line| line.trim().eq_ignore_ascii_case(&want))
}

/// A range response: the suffix of each hash, one per line, each ended by `\n`, in the order
/// given.
pub fn render_range(hashes: &[IdHash]) -> String {
    let mut out = String::with_capacity(hashes.len() * (SUFFIX_DIGITS + 1));
    for h in hashes {
        out.push_str(&h.suffix());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    // A failed unwrap in a test is a failed test with a backtrace: what we want here.
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn hash_is_sha256_of_the_documented_text() {
        let id = Identifier::phone("010-1234-5678").unwrap();
        let text = b"suho-leak-check/v1\x00phone\x00+821012345678";
        let want: [u8; 32] = Sha256::digest(text).into();
        assert_eq!(id.hash(), IdHash(want));
        // Pinned so that a web client can test its implementation against it.
        assert_eq!(
            id.hash().to_string(),
            hex::encode_upper(Sha256::digest(text))
        );
    }

    #[test]
    fn kinds_are_separated() {
        // The same text as an email and as a phone number hashes differently.
        let e = Identifier {
            kind: Kind::Email,
            normalised: "+821012345678".into(),
        };
        let p = Identifier::phone("+821012345678").unwrap();
        assert_ne!(e.hash(), p.hash());
    }

    #[test]
    fn spellings_hash_alike() {
        let a = Identifier::email(" Kim@Example.com").unwrap().hash();
        let b = Identifier::email("kim@example.COM\n").unwrap().hash();
        assert_eq!(a, b);
        let a = Identifier::phone("+82 10 1234 5678").unwrap().hash();
        let b = Identifier::phone("010.1234.5678").unwrap().hash();
        assert_eq!(a, b);
    }

    #[test]
    fn identifier_debug_hides_the_value() {
        let id = Identifier::email("secret.person@example.com").unwrap();
        let dbg = format!("{id:?}");
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("Email"), "{dbg}");
    }

    #[test]
    fn prefix_and_suffix_split_the_hex_text() {
        let h: IdHash = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789ABCDEF"
            .parse()
            .unwrap();
        assert_eq!(h.prefix().to_string(), "01234");
        assert_eq!(h.prefix().value(), 0x01234);
        assert_eq!(
            h.suffix(),
            "56789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
        );
        assert_eq!(h.suffix().len(), SUFFIX_DIGITS);
        assert_eq!(format!("{}{}", h.prefix(), h.suffix()), h.to_string());
        let (prefix, full) = check(&Identifier::email("a@b").unwrap());
        assert_eq!(prefix, full.prefix());
        assert!(full.to_string().starts_with(&prefix.to_string()));
    }

    #[test]
    fn stamp_sets_exactly_the_prefix_bits() {
        let mut bytes = [0xffu8; 32];
        Prefix(0xA0B0C).stamp(&mut bytes);
        assert_eq!(&bytes[..3], &[0xA0, 0xB0, 0xCF]);
        assert_eq!(IdHash(bytes).prefix(), Prefix(0xA0B0C));
        let mut bytes = [0u8; 32];
        Prefix(0xFFFFF).stamp(&mut bytes);
        assert_eq!(&bytes[..3], &[0xFF, 0xFF, 0xF0]);
    }

    #[test]
    fn bad_prefixes_say_what_a_prefix_is() {
        for (input, want) in [
            ("1234", "got 4 characters"),
            ("123456", "got 6 characters"),
            ("", "got 0 characters"),
            ("12G45", "character 3 ('G') is not one"),
            ("-1234", "character 1 ('-') is not one"),
            ("+1234", "character 1 ('+') is not one"),
            ("1234é", "character 5 ('é') is not one"),
        ] {
            let err = input.parse::<Prefix>().expect_err(input).to_string();
            assert!(
                err.contains("exactly 5 hexadecimal digits"),
                "{input:?}: {err}"
            );
            assert!(err.contains(want), "{input:?}: {err}");
        }
        assert_eq!("abcde".parse::<Prefix>().unwrap(), Prefix(0xABCDE));
        assert_eq!("00000".parse::<Prefix>().unwrap(), Prefix(0));
        assert!(Prefix::new(1 << 20).is_none());
    }

    #[test]
    fn bad_hashes_say_why() {
        let short = "A".repeat(63);
        let err = short.parse::<IdHash>().unwrap_err().to_string();
        assert!(err.contains("found 63 characters"), "{err}");
        let mut bad = "A".repeat(64);
        bad.replace_range(9..10, "Z");
        let err = bad.parse::<IdHash>().unwrap_err().to_string();
        assert!(
            err.contains("character 10 is not a hexadecimal digit"),
            "{err}"
        );
    }

    #[test]
    fn matches_finds_only_the_exact_suffix() {
        let a = Identifier::email("a@example.com").unwrap().hash();
        let b = Identifier::email("b@example.com").unwrap().hash();
        let response = render_range(&[a]);
        assert!(matches(&response, &a));
        assert!(!matches(&response, &b));
        // Case and CRLF line ends do not matter.
        let lower = format!("{}\r\n", a.suffix().to_lowercase());
        assert!(matches(&lower, &a));
        // A line holding more than the suffix is not the suffix.
        assert!(!matches(&format!("{}0\n", a.suffix()), &a));
        assert!(!matches(&a.suffix()[1..], &a));
        assert!(!matches("", &a));
    }
}
