//! A stable 64-bit string hash and a pass-through hasher for maps keyed by such hashes.
//!
//! Detector state is keyed by hashes of actor, credential, key and subject ids, and that
//! state is saved to disk, so the hash must never change between runs, builds or Rust
//! versions: `std`'s `DefaultHasher` promises none of that. This one reads 8 bytes at a time
//! (multiply, rotate) and ends with the MurmurHash3 64-bit finaliser, so every output bit
//! depends on every input bit, which the HyperLogLog sketches need.
//!
//! It is not keyed: someone who controls ids could craft collisions. The consequence is
//! bounded (two ids share a baseline or count as one subject), never a missed registry fact:
//! a credential or signing key found by its hash is confirmed with [`id_check`], a keyed hash.

use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// The MurmurHash3 64-bit finaliser: a bijection that spreads every input bit.
#[inline]
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// A second hash of an id, keyed with a secret drawn once per process (SipHash, as `std`'s
/// `RandomState`). [`hash_id`] is stable and unkeyed, so someone who knows a registered
/// credential's id could craft another id with the same [`hash_id`]; registry lookups by
/// [`hash_id`] confirm the hit with this one, which nobody outside the process can predict.
/// Never saved: it changes from one run to the next.
pub(crate) fn id_check(s: &str) -> u64 {
    use std::hash::BuildHasher;
    static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
    KEY.get_or_init(std::hash::RandomState::new).hash_one(s)
}

/// Stable hash of an id. Never returns 0 (0 is free to mean "none" in packed state).
#[inline]
pub fn hash_id(s: &str) -> u64 {
    hash_bytes(s.as_bytes())
}

/// Stable hash of bytes. Never returns 0.
#[inline]
pub(crate) fn hash_bytes(s: &[u8]) -> u64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ (s.len() as u64).wrapping_mul(K);
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(K).rotate_left(29);
    }
    let out = fmix64(h);
    if out == 0 {
        1
    } else {
        out
    }
}

/// Combines two hashes (order matters).
#[inline]
pub(crate) fn mix2(a: u64, b: u64) -> u64 {
    fmix64(a.rotate_left(17) ^ b.wrapping_mul(K))
}

/// Hasher for keys that are already well-mixed 64-bit hashes: one multiply, no SipHash.
#[derive(Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys that are not u64 (none in this crate); still correct.
        self.0 = mix2(self.0, hash_bytes(bytes));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(K);
    }
}

/// `HashMap` keyed by 64-bit hashes.
pub(crate) type HashMap64<V> = std::collections::HashMap<u64, V, BuildHasherDefault<PassThrough>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_stable_across_builds() {
        // Pinned values: saved detector state depends on them never changing.
        assert_eq!(hash_id(""), hash_bytes(b""));
        let a = hash_id("emp-0131");
        let b = hash_id("emp-0132");
        assert_ne!(a, b);
        assert_eq!(hash_id("c-0000417"), hash_id("c-0000417"));
        assert_eq!(format!("{:016x}", hash_id("emp-0131")), PINNED_EMP_0131);
    }

    const PINNED_EMP_0131: &str = "e8d2f2bf69ca896e";

    #[test]
    fn low_bits_are_spread_for_sequential_ids() {
        // Sequential customer ids must land in different HyperLogLog registers.
        let mut seen = std::collections::HashSet::new();
        for i in 0..1024 {
            seen.insert(hash_id(&format!("c-{i:07}")) >> 54);
        }
        assert!(seen.len() > 600, "{} of 1024 registers hit", seen.len());
    }
}
