//! The ledger entry: the fixed 53-byte leaf that the Merkle tree commits to.
//!
//! An entry carries no personal data: only times, a length and the SHA-256 of the record as
//! the producer sent it. The tiles, which hold entries and hashes only, can therefore be
//! published to auditors while the records themselves stay in the private write-ahead log.
//! FORMAT.md documents this layout for third parties.

use sha2::{Digest, Sha256};

/// Entry format version written by this build.
pub const ENTRY_VERSION: u8 = 1;
/// Encoded size of a version-1 entry.
pub const ENTRY_LEN: usize = 53;
/// Where the body's SHA-256 begins in an encoded entry.
pub(crate) const ENTRY_SHA256_AT: usize = 21;

/// A decoded ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Event time of the access (the record's `time`), epoch milliseconds UTC.
    pub event_time_ms: i64,
    /// Wall-clock time suho sequenced the record, epoch milliseconds UTC.
    pub sequenced_ms: i64,
    /// Length of the record body in bytes.
    pub body_len: u32,
    /// SHA-256 of the record body.
    pub body_sha256: [u8; 32],
}

impl Entry {
    /// Build the entry for a record body.
    pub fn for_body(body: &[u8], event_time_ms: i64, sequenced_ms: i64) -> Entry {
        Entry {
            event_time_ms,
            sequenced_ms,
            // Bodies are bounded by suho_record::MAX_LINE_BYTES (16 MiB), far below u32::MAX.
            body_len: body.len() as u32,
            body_sha256: Sha256::digest(body).into(),
        }
    }

    /// The canonical 53-byte encoding.
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[0] = ENTRY_VERSION;
        out[1..9].copy_from_slice(&self.event_time_ms.to_be_bytes());
        out[9..17].copy_from_slice(&self.sequenced_ms.to_be_bytes());
        out[17..21].copy_from_slice(&self.body_len.to_be_bytes());
        out[ENTRY_SHA256_AT..].copy_from_slice(&self.body_sha256);
        out
    }

    /// Decode an entry; `None` when the bytes are not a version-1 entry.
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        if bytes.len() != ENTRY_LEN || bytes[0] != ENTRY_VERSION {
            return None;
        }
        let i64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            i64::from_be_bytes(b)
        };
        let mut len = [0u8; 4];
        len.copy_from_slice(&bytes[17..21]);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&bytes[ENTRY_SHA256_AT..]);
        Some(Entry {
            event_time_ms: i64_at(1),
            sequenced_ms: i64_at(9),
            body_len: u32::from_be_bytes(len),
            body_sha256: digest,
        })
    }

    /// Whether `body` is the record this entry commits to.
    pub fn matches_body(&self, body: &[u8]) -> bool {
        body.len() == self.body_len as usize && Sha256::digest(body).as_slice() == self.body_sha256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips_and_rejects_other_versions() {
        let e = Entry::for_body(b"{\"a\":1}", 1_750_000_000_000, 1_750_000_000_123);
        let bytes = e.encode();
        assert_eq!(Entry::decode(&bytes), Some(e));
        assert!(e.matches_body(b"{\"a\":1}"));
        assert!(!e.matches_body(b"{\"a\":2}"));
        let mut v2 = bytes;
        v2[0] = 2;
        assert_eq!(Entry::decode(&v2), None);
        assert_eq!(Entry::decode(&bytes[..52]), None);
    }
}
