//! [`Features`]: what the detectors need of one access record, extracted where records are
//! parsed (the ingest worker threads, in parallel) so the sequencing thread only compares
//! numbers.

use std::net::IpAddr;

use suho_record::{AccessRecord, Action, Outcome};

use crate::geo::{GeoDb, Place};
use crate::hash::{hash_bytes, hash_id};

/// Two subject ids are "in sequence" when their numeric suffixes differ by 1 to this many
/// and the rest of the id is the same (`c-0000417`, `c-0000418`).
pub const SEQ_MAX_STRIDE: u64 = 3;

/// A subject id split into a hash of its non-numeric prefix and its numeric suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SeqId {
    /// Hash of the prefix; 0 when the id has no numeric suffix.
    pub prefix: u32,
    pub num: u64,
}

impl SeqId {
    fn of(s: &str) -> SeqId {
        let b = s.as_bytes();
        let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 19 {
            return SeqId::default();
        }
        let (prefix, num) = b.split_at(b.len() - digits);
        let n = num.iter().fold(0u64, |acc, &d| {
            acc.wrapping_mul(10).wrapping_add(u64::from(d - b'0'))
        });
        SeqId {
            prefix: (hash_bytes(prefix) >> 32) as u32 | 1,
            num: n,
        }
    }

    pub(crate) fn is_some(self) -> bool {
        self.prefix != 0
    }

    /// Whether `next` follows `self` in a walk (same prefix, 1..=SEQ_MAX_STRIDE apart).
    #[inline]
    pub(crate) fn steps_to(self, next: SeqId) -> bool {
        self.prefix != 0 && self.prefix == next.prefix && {
            let d = self.num.abs_diff(next.num);
            (1..=SEQ_MAX_STRIDE).contains(&d)
        }
    }
}

/// What detectors need of one access record: ids hashed to 64 bits, the subjects' hashes,
/// and the numeric suffixes that enumeration needs. Owned, `Send + 'static`, and free of
/// heap allocation for records with at most two listed subjects.
#[derive(Debug, Clone)]
pub struct Features {
    pub(crate) time_ms: i64,
    pub(crate) actor: u64,
    pub(crate) action: Action,
    pub(crate) failed: bool,
    pub(crate) src_ip: Option<IpAddr>,
    /// Hash of `credential`, 0 when absent.
    pub(crate) credential: u64,
    /// [`crate::hash::id_check`] of `credential`, 0 when absent.
    pub(crate) credential_check: u64,
    /// Hash of `signing_key`, 0 when absent.
    pub(crate) signing_key: u64,
    /// [`crate::hash::id_check`] of `signing_key`, 0 when absent.
    pub(crate) signing_key_check: u64,
    pub(crate) has_purpose: bool,
    /// `subjects` is exactly `[actor]` (contract section 1: self-access).
    pub(crate) self_access: bool,
    /// Subjects processed: the larger of `subject_count` and the listed subjects.
    pub(crate) processed: u64,
    listed: u32,
    inline: [u64; 2],
    more: Vec<u64>,
    pub(crate) seq_first: SeqId,
    pub(crate) seq_last: SeqId,
    /// Adjacent listed subjects with different numbers, and how many of those are in sequence.
    pub(crate) inner_steps: u32,
    pub(crate) inner_seq: u32,
    /// Geo lookup done by [`Features::from_record_geo`] (`None` inside when unknown).
    pub(crate) place: Option<Option<Place>>,
    /// Hash of `resource` (the table, route or report).
    pub(crate) resource: u64,
    /// The record's `fields`, as bits of [`field_bit`] (vocabulary words only).
    pub(crate) fields: u32,
}

/// Field categories the detectors know (contract section 1's vocabulary, and the words
/// producers use for financial data), one bit each, with how sensitive they are.
pub(crate) const FIELD_NAMES: [&str; 17] = [
    "name",
    "email",
    "phone",
    "address",
    "order_history",
    "payment",
    "birth_date",
    "entrance_code",
    "delivery_contacts",
    "resident_registration_number",
    "passport_number",
    "driver_license_number",
    "alien_registration_number",
    "health",
    "biometric",
    "criminal_record",
    "financial",
];

/// The bit of a field category in [`Features::fields`], if it is one suho weighs.
/// Financial words other than `payment` (bank accounts, card numbers) share one bit.
pub(crate) fn field_bit(word: &str) -> Option<u32> {
    let i = match word {
        "bank_account" | "account_number" | "card_number" | "credit_card" | "financial" => 16,
        w => FIELD_NAMES.iter().position(|n| *n == w)?,
    };
    Some(1 << i)
}

/// How sensitive a field category is, by PIPA: 3 for sensitive information (Art. 23:
/// health, biometric, criminal record) and unique identifiers (Art. 24: resident
/// registration, passport, driver's licence, alien registration numbers); 2 for payment and
/// financial data; 1 for the rest (contact details, orders).
pub(crate) fn field_weight(bit: u32) -> u8 {
    match bit.trailing_zeros() {
        9..=15 => 3,
        5 | 16 => 2,
        _ => 1,
    }
}

impl Features {
    /// Extracts the features of a parsed record.
    pub fn from_record(r: &AccessRecord<'_>) -> Features {
        let actor = hash_id(&r.actor);
        let listed = r.subjects.len();
        let mut inline = [0u64; 2];
        let mut more = Vec::new();
        if listed <= 2 {
            for (slot, s) in inline.iter_mut().zip(&r.subjects) {
                *slot = hash_id(s);
            }
        } else {
            more = r.subjects.iter().map(|s| hash_id(s)).collect();
        }
        let mut inner_steps = 0u32;
        let mut inner_seq = 0u32;
        let mut seq_first = SeqId::default();
        let mut seq_last = SeqId::default();
        let mut prev = SeqId::default();
        for (i, s) in r.subjects.iter().enumerate() {
            let id = SeqId::of(s);
            if i == 0 {
                seq_first = id;
            } else if prev.is_some() && id.is_some() && prev.num != id.num {
                inner_steps += 1;
                if prev.steps_to(id) {
                    inner_seq += 1;
                }
            }
            prev = id;
            seq_last = id;
        }
        let self_access =
            listed == 1 && r.subjects[0] == r.actor && r.subject_count.unwrap_or(1) <= 1;
        Features {
            time_ms: r.time_ms,
            actor,
            action: r.action,
            failed: r.outcome == Outcome::Failure || r.action == Action::LoginFailed,
            src_ip: r.src_ip.map(crate::geo::canonical),
            credential: r.credential.as_deref().map_or(0, hash_id),
            credential_check: r.credential.as_deref().map_or(0, crate::hash::id_check),
            signing_key: r.signing_key.as_deref().map_or(0, hash_id),
            signing_key_check: r.signing_key.as_deref().map_or(0, crate::hash::id_check),
            has_purpose: r.purpose.as_deref().is_some_and(|p| !p.trim().is_empty()),
            self_access,
            processed: r.subjects_processed(),
            listed: u32::try_from(listed).unwrap_or(u32::MAX),
            inline,
            more,
            seq_first,
            seq_last,
            inner_steps,
            inner_seq,
            place: None,
            resource: hash_id(&r.resource),
            fields: r
                .fields
                .iter()
                .filter_map(|w| field_bit(w))
                .fold(0, |m, b| m | b),
        }
    }

    /// Like [`Features::from_record`], and also looks up `src_ip` in `geo`, so that the
    /// lookup runs on the parallel worker threads instead of the sequencing thread.
    pub fn from_record_geo(r: &AccessRecord<'_>, geo: Option<&GeoDb>) -> Features {
        let mut f = Features::from_record(r);
        if let (Some(geo), Some(ip)) = (geo, f.src_ip) {
            f.place = Some(geo.place(ip));
        }
        f
    }

    /// Event time, epoch milliseconds.
    pub fn time_ms(&self) -> i64 {
        self.time_ms
    }

    /// Stable 64-bit hash of the actor id.
    pub fn actor_hash(&self) -> u64 {
        self.actor
    }

    /// Hashes of the listed subjects.
    #[inline]
    pub(crate) fn subjects(&self) -> &[u64] {
        if self.listed <= 2 {
            &self.inline[..self.listed as usize]
        } else {
            &self.more
        }
    }

    /// Subjects processed beyond those listed (a `subject_count` larger than the list).
    #[inline]
    pub(crate) fn unlisted(&self) -> u64 {
        self.processed.saturating_sub(u64::from(self.listed))
    }

    /// Whether the action moves data out in bulk (export, download, print).
    #[inline]
    pub(crate) fn is_bulk_action(&self) -> bool {
        matches!(
            self.action,
            Action::Export | Action::Download | Action::Print
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feat(line: &str) -> Features {
        Features::from_record(&suho_record::parse_record(line.as_bytes()).expect("record"))
    }

    #[test]
    fn self_access_is_exactly_the_actor_as_the_only_subject() {
        assert!(
            feat(r#"{"time":0,"actor":"c-1","action":"read","resource":"r","subjects":["c-1"]}"#)
                .self_access
        );
        assert!(
            !feat(r#"{"time":0,"actor":"c-1","action":"read","resource":"r","subjects":["c-2"]}"#)
                .self_access
        );
        assert!(!feat(r#"{"time":0,"actor":"c-1","action":"read","resource":"r","subjects":["c-1","c-2"]}"#).self_access);
        assert!(!feat(r#"{"time":0,"actor":"c-1","action":"read","resource":"r","subjects":["c-1"],"subject_count":5}"#).self_access);
        assert!(!feat(r#"{"time":0,"actor":"c-1","action":"login","resource":"r"}"#).self_access);
    }

    #[test]
    fn sequential_ids_are_counted_inside_a_record() {
        let f = feat(
            r#"{"time":0,"actor":"e","action":"read","resource":"r","subjects":["c-0009","c-0010","c-0011","c-0011","c-0500","x-0501"],"subject_count":10}"#,
        );
        assert_eq!(f.subjects().len(), 6);
        assert_eq!(f.processed, 10);
        assert_eq!(f.unlisted(), 4);
        // 9->10, 10->11 in sequence; 11->11 same id (not a step); 11->500 a step out of
        // sequence; c-0500 -> x-0501 a step to another prefix, not in sequence.
        assert_eq!((f.inner_steps, f.inner_seq), (4, 2));
        assert_eq!(f.seq_first.num, 9);
        assert_eq!(f.seq_last.num, 501);
        assert!(!f.seq_first.steps_to(f.seq_last));
    }

    #[test]
    fn failures_and_purpose_are_read() {
        let f = feat(r#"{"time":0,"actor":"e","action":"login_failed","resource":"r"}"#);
        assert!(f.failed);
        let f = feat(
            r#"{"time":0,"actor":"e","action":"read","resource":"r","outcome":"failure","purpose":"  "}"#,
        );
        assert!(f.failed && !f.has_purpose);
        let f =
            feat(r#"{"time":0,"actor":"e","action":"export","resource":"r","purpose":"MKT-1"}"#);
        assert!(f.has_purpose && f.is_bulk_action() && !f.failed);
    }
}
