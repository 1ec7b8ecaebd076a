//! Bounded-memory counting: distinct-count sketches and small rings of recent values.
//!
//! * [`Distinct`]: exact while small (a list of 32-bit fingerprints), then a HyperLogLog
//!   with 1,024 one-byte registers (standard error about 3%). Its estimate is kept up to date
//!   as registers change, so reading it costs nothing on the per-record path.
//! * [`WeekReach`]: 13 weekly HyperLogLogs of 256 four-bit registers (about 6.5% error),
//!   1,664 bytes per actor, whose unions give the distinct subjects of the last 30 and 90
//!   days.
//! * [`LinearCounter`]: a 512-bit bitmap that counts up to a few thousand distinct items
//!   within a few percent, 64 bytes: distinct actors per source network per hour.
//! * [`Ring`]: the last N values of something, for baselines (a high quantile of them).

use serde::{Deserialize, Serialize};

/// Fingerprints kept exactly before a [`Distinct`] turns into a HyperLogLog.
const SPARSE_MAX: usize = 64;
/// log2 of the number of HyperLogLog registers in a [`Distinct`].
const P: u32 = 10;
const M: usize = 1 << P;

/// Distinct count of 64-bit hashes: exact up to 64, then a HyperLogLog (p = 10).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Distinct {
    sparse: Vec<u32>,
    dense: Option<Box<Dense>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Dense {
    regs: Vec<u8>,
    /// Registers still 0.
    zeros: u32,
    /// Sum of 2^-reg over all registers, in units of 2^-64 (exact).
    sum: u128,
    /// The estimate, recomputed when a register changes.
    cached: u64,
}

#[inline]
fn hll_index_rank(h: u64, p: u32, max_rank: u8) -> (usize, u8) {
    let idx = (h >> (64 - p)) as usize;
    let w = (h << p) | (1u64 << (p - 1));
    let rank = (w.leading_zeros() + 1).min(u32::from(max_rank)) as u8;
    (idx, rank)
}

/// The HyperLogLog estimate from the harmonic sum and the count of empty registers, with
/// the linear-counting correction for small cardinalities.
fn hll_estimate(m: usize, sum_inv: f64, zeros: u32) -> f64 {
    let mf = m as f64;
    let alpha = match m {
        16 => 0.673,
        32 => 0.697,
        64 => 0.709,
        _ => 0.7213 / (1.0 + 1.079 / mf),
    };
    let raw = alpha * mf * mf / sum_inv;
    if raw <= 2.5 * mf && zeros > 0 {
        if m == M {
            linear_counting(zeros)
        } else {
            mf * (mf / f64::from(zeros)).ln()
        }
    } else {
        raw
    }
}

/// `M * ln(M / zeros)` for every possible count of empty registers of a [`Dense`]: a
/// table instead of a logarithm on every register change.
fn linear_counting(zeros: u32) -> f64 {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let m = M as f64;
        (0..=M)
            .map(|z| if z == 0 { 0.0 } else { m * (m / z as f64).ln() })
            .collect()
    });
    t.get(zeros as usize).copied().unwrap_or(0.0)
}

impl Dense {
    fn new() -> Dense {
        Dense {
            regs: vec![0; M],
            zeros: M as u32,
            sum: (M as u128) << 64,
            cached: 0,
        }
    }

    #[inline]
    fn insert(&mut self, h: u64) {
        let (i, r) = hll_index_rank(h, P, 64);
        let old = self.regs[i];
        if r > old {
            self.regs[i] = r;
            if old == 0 {
                self.zeros -= 1;
            }
            self.sum = self.sum - (1u128 << (64 - u32::from(old))) + (1u128 << (64 - u32::from(r)));
            self.cached = self.compute().round() as u64;
        }
    }

    fn compute(&self) -> f64 {
        let sum_inv = ((self.sum >> 32) as u64) as f64 / 4_294_967_296.0;
        hll_estimate(M, sum_inv, self.zeros)
    }
}

impl Distinct {
    /// Counts `h` (a well-mixed 64-bit hash).
    #[inline]
    pub(crate) fn insert(&mut self, h: u64) {
        if let Some(d) = &mut self.dense {
            d.insert(h);
            return;
        }
        let fp = (h >> 32) as u32;
        if self.sparse.contains(&fp) {
            return;
        }
        if self.sparse.len() < SPARSE_MAX {
            self.sparse.push(fp);
            return;
        }
        // Promote: replay the fingerprints as hashes (their high 32 bits are all the
        // register index and most of the rank need), then the new one.
        let mut d = Dense::new();
        for &f in &self.sparse {
            d.insert((u64::from(f) << 32) | u64::from(f.rotate_left(7)));
        }
        d.insert(h);
        self.sparse = Vec::new();
        self.dense = Some(Box::new(d));
    }

    /// Estimated number of distinct hashes inserted (exact up to 64).
    #[inline]
    pub(crate) fn estimate(&self) -> u64 {
        match &self.dense {
            Some(d) => d.cached,
            None => self.sparse.len() as u64,
        }
    }

    /// Whether a sketch read back from saved state keeps what [`Distinct::insert`] relies on
    /// (the state file's checksum is not a key: someone can rewrite it consistently).
    pub(crate) fn is_sound(&self) -> bool {
        match &self.dense {
            None => self.sparse.len() <= SPARSE_MAX,
            Some(d) => {
                d.regs.len() == M
                    && d.regs.iter().all(|&r| r <= 64)
                    && d.zeros as usize == d.regs.iter().filter(|&&r| r == 0).count()
                    && d.sum
                        == d.regs
                            .iter()
                            .map(|&r| 1u128 << (64 - u32::from(r)))
                            .sum::<u128>()
            }
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.sparse.capacity() * 4
            + self
                .dense
                .as_ref()
                .map_or(0, |d| std::mem::size_of::<Dense>() + d.regs.capacity())
    }
}

/// Weeks kept by [`WeekReach`]: 13 weeks = 91 days.
pub(crate) const WEEKS: usize = 13;
const WP: u32 = 8;
const WM: usize = 1 << WP;
/// Bytes of one week's packed registers (two 4-bit registers per byte).
const WEEK_BYTES: usize = WM / 2;

/// Distinct subjects per week for the last 13 weeks: 256 four-bit registers a week.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct WeekReach {
    /// The week (days since the epoch / 7) of slot `newest`.
    week: i64,
    newest: usize,
    packed: Vec<u8>,
}

impl WeekReach {
    pub(crate) fn new(week: i64) -> WeekReach {
        WeekReach {
            week,
            newest: 0,
            packed: vec![0; WEEKS * WEEK_BYTES],
        }
    }

    /// Moves the window forward to `week`, clearing weeks that fall out. Earlier weeks
    /// (late records) stay in the newest slot.
    fn advance(&mut self, week: i64) {
        if week <= self.week {
            return;
        }
        let steps = (week - self.week).min(WEEKS as i64) as usize;
        for _ in 0..steps {
            self.newest = (self.newest + 1) % WEEKS;
            let s = self.newest * WEEK_BYTES;
            self.packed[s..s + WEEK_BYTES].fill(0);
        }
        self.week = week;
    }

    #[inline]
    pub(crate) fn insert(&mut self, week: i64, h: u64) {
        self.advance(week);
        let (i, r) = hll_index_rank(h, WP, 15);
        let byte = &mut self.packed[self.newest * WEEK_BYTES + i / 2];
        let shift = if i % 2 == 0 { 0 } else { 4 };
        let old = (*byte >> shift) & 0x0f;
        if r > old {
            *byte = (*byte & !(0x0f << shift)) | (r << shift);
        }
    }

    /// Distinct subjects over the `weeks` most recent weeks ending at `week` (which must not
    /// be older than the newest week seen), skipping the `skip` most recent of them.
    pub(crate) fn union(&self, week: i64, skip: usize, weeks: usize) -> u64 {
        let behind = (week - self.week).max(0) as usize;
        let mut regs = [0u8; WM];
        for k in skip..skip + weeks {
            // Week k back from `week` is slot k - behind back from `newest`.
            if k < behind || k - behind >= WEEKS {
                continue;
            }
            let slot = (self.newest + WEEKS - (k - behind)) % WEEKS;
            let bytes = &self.packed[slot * WEEK_BYTES..(slot + 1) * WEEK_BYTES];
            for (j, b) in bytes.iter().enumerate() {
                regs[2 * j] = regs[2 * j].max(b & 0x0f);
                regs[2 * j + 1] = regs[2 * j + 1].max(b >> 4);
            }
        }
        // 2^-r for the 16 possible register values.
        const INV: [f64; 16] = {
            let mut t = [0.0; 16];
            let mut i = 0;
            let mut v = 1.0;
            while i < 16 {
                t[i] = v;
                v /= 2.0;
                i += 1;
            }
            t
        };
        let mut zeros = 0u32;
        let mut sum = 0.0f64;
        for &r in &regs {
            zeros += u32::from(r == 0);
            sum += INV[usize::from(r & 15)];
        }
        if zeros as usize == WM {
            return 0;
        }
        hll_estimate(WM, sum, zeros).round() as u64
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.packed.capacity()
    }

    /// Whether a window read back from saved state has the shape the methods index by.
    pub(crate) fn is_sound(&self) -> bool {
        self.newest < WEEKS && self.packed.len() == WEEKS * WEEK_BYTES
    }
}

/// Bits in a [`LinearCounter`].
const LC_BITS: u32 = 512;

/// Distinct count by linear counting over 512 bits: within a few percent up to 500 items
/// (small counts may come out one or two low when two items share a bit), saturating
/// (reported as 4,000) near 3,000. 66 bytes, no heap.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct LinearCounter {
    bits: [u64; 8],
    set: u16,
}

impl LinearCounter {
    /// Counts `h`; returns whether it was (probably) new.
    #[inline]
    pub(crate) fn insert(&mut self, h: u64) -> bool {
        let i = (h >> 55) as usize; // 9 bits: 0..512
        let (w, b) = (i / 64, i % 64);
        let mask = 1u64 << b;
        if self.bits[w] & mask == 0 {
            self.bits[w] |= mask;
            self.set += 1;
            true
        } else {
            false
        }
    }

    /// Whether a counter read back from saved state counts exactly its set bits.
    pub(crate) fn is_sound(&self) -> bool {
        u32::from(self.set) == self.bits.iter().map(|w| w.count_ones()).sum::<u32>()
    }

    /// Estimated distinct items.
    #[inline]
    pub(crate) fn estimate(&self) -> u64 {
        let zeros = LC_BITS - u32::from(self.set);
        if zeros == 0 {
            return 4000;
        }
        let m = f64::from(LC_BITS);
        (m * (m / f64::from(zeros)).ln()).round() as u64
    }
}

/// Resources a window remembers the largest count-only record of.
const UNLISTED_RESOURCES: usize = 4;

/// Subjects of records that give only a `subject_count` (no ids), in one window: such
/// counts cannot be told apart, so the same 1.5M-row table read twice must not count as 3M
/// distinct subjects. Each resource counts once, at its largest count in the window (a lower
/// bound on the distinct subjects it holds); beyond four resources a window adds the counts
/// of the others. 72 bytes, no heap.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Unlisted {
    res: [(u64, u64); UNLISTED_RESOURCES],
    n: u8,
    extra: u64,
}

impl Unlisted {
    /// Counts `count` unlisted subjects of `resource`.
    #[inline]
    pub(crate) fn add(&mut self, resource: u64, count: u64) {
        if count == 0 {
            return;
        }
        let n = usize::from(self.n).min(UNLISTED_RESOURCES);
        if let Some(e) = self.res[..n].iter_mut().find(|e| e.0 == resource) {
            e.1 = e.1.max(count);
        } else if n < UNLISTED_RESOURCES {
            self.res[n] = (resource, count);
            self.n += 1;
        } else {
            self.extra = self.extra.saturating_add(count);
        }
    }

    /// The subjects counted: each remembered resource's largest count, plus the rest.
    #[inline]
    pub(crate) fn total(&self) -> u64 {
        let n = usize::from(self.n).min(UNLISTED_RESOURCES);
        self.res[..n]
            .iter()
            .fold(self.extra, |acc, e| acc.saturating_add(e.1))
    }
}

/// A robust normal of recent values: the median, a scale (1.4826 x the median absolute
/// deviation, the normal-consistent MAD), and a "normal high" (the larger of the
/// `baseline_quantile` and the median plus three scales). One outlier moves none of them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Normal {
    pub median: u32,
    pub scale: f32,
    pub high: u32,
}

/// The robust normal of `vals` (see [`Normal`]), or `None` when empty.
pub(crate) fn normal_of(vals: &[u32], q: f64) -> Option<Normal> {
    let median = quantile(vals, 0.5)?;
    let mut dev = [0u32; 64];
    let n = vals.len().min(dev.len());
    for (d, v) in dev.iter_mut().zip(vals) {
        *d = v.abs_diff(median);
    }
    let mad = quantile(&dev[..n], 0.5).unwrap_or(0);
    let scale = 1.4826 * mad as f32;
    let qv = quantile(vals, q).unwrap_or(median);
    let high = (median as f32 + 3.0 * scale).round() as u32;
    Some(Normal {
        median,
        scale,
        high: high.max(qv),
    })
}

/// The last `cap` values pushed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Ring {
    vals: Vec<u32>,
    next: u32,
    cap: u32,
}

impl Ring {
    pub(crate) fn new(cap: u32) -> Ring {
        Ring {
            vals: Vec::new(),
            next: 0,
            cap: cap.max(1),
        }
    }

    pub(crate) fn push(&mut self, v: u32) {
        let cap = self.cap.max(1);
        if self.vals.len() < cap as usize {
            self.vals.push(v);
        } else if let Some(slot) = self.vals.get_mut(self.next as usize % cap as usize) {
            *slot = v;
        }
        self.next = (self.next + 1) % cap;
    }

    pub(crate) fn len(&self) -> usize {
        self.vals.len()
    }

    /// The robust normal of the values (see [`normal_of`]).
    pub(crate) fn normal(&self, q: f64) -> Option<Normal> {
        normal_of(&self.vals, q)
    }

    /// The `q` quantile (0..=1, nearest rank) of the values, or `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<u32> {
        quantile(&self.vals, q)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.vals.capacity() * 4
    }
}

/// The `q` quantile (nearest rank) of `vals`, or `None` when empty.
pub(crate) fn quantile(vals: &[u32], q: f64) -> Option<u32> {
    quantile_of(vals.iter().copied(), vals.len(), q)
}

/// The `q` quantile of at most `hint` values from `it`, using a stack buffer when it fits.
fn quantile_of(it: impl Iterator<Item = u32>, hint: usize, q: f64) -> Option<u32> {
    let mut stack = [0u32; 256];
    let mut heap = Vec::new();
    let v: &mut [u32] = if hint <= stack.len() {
        let mut n = 0;
        for x in it.take(stack.len()) {
            stack[n] = x;
            n += 1;
        }
        &mut stack[..n]
    } else {
        heap.extend(it);
        &mut heap
    };
    if v.is_empty() {
        return None;
    }
    let k = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    let (_, x, _) = v.select_nth_unstable(k);
    Some(*x)
}

/// The last `cap` values pushed by the members of a peer group, each tagged with who pushed
/// it, so that an actor is compared with its peers and never with itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct PeerRing {
    vals: Vec<(u32, u32)>,
    next: u32,
    cap: u32,
}

/// The tag of an actor in a [`PeerRing`].
pub(crate) fn tag(actor: u64) -> u32 {
    (actor >> 32) as u32
}

impl PeerRing {
    pub(crate) fn new(cap: u32) -> PeerRing {
        PeerRing {
            vals: Vec::new(),
            next: 0,
            cap: cap.max(1),
        }
    }

    pub(crate) fn push(&mut self, actor: u64, v: u32) {
        let cap = self.cap.max(1);
        let e = (tag(actor), v);
        if self.vals.len() < cap as usize {
            self.vals.push(e);
        } else if let Some(slot) = self.vals.get_mut(self.next as usize % cap as usize) {
            *slot = e;
        }
        self.next = (self.next + 1) % cap;
    }

    /// Values pushed by others than `actor`.
    pub(crate) fn len_without(&self, actor: u64) -> usize {
        let t = tag(actor);
        self.vals.iter().filter(|(a, _)| *a != t).count()
    }

    /// The `q` quantile of the values pushed by others than `actor`, when there are at least
    /// `min` of them.
    pub(crate) fn quantile_without(&self, actor: u64, q: f64, min: usize) -> Option<u32> {
        let t = tag(actor);
        let n = self.len_without(actor);
        if n < min.max(1) {
            return None;
        }
        quantile_of(
            self.vals.iter().filter(|(a, _)| *a != t).map(|(_, v)| *v),
            n,
            q,
        )
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.vals.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_id;

    fn err(est: u64, n: u64) -> f64 {
        (est as f64 - n as f64).abs() / n as f64
    }

    #[test]
    fn sketches_as_inserted_are_sound_and_altered_ones_are_not() {
        let mut d = Distinct::default();
        for i in 0..1000 {
            d.insert(hash_id(&format!("c-{i}")));
        }
        assert!(d.is_sound());
        let mut bad = d.clone();
        if let Some(dense) = bad.dense.as_mut() {
            dense.zeros += 1; // one more empty register than there are
        }
        assert!(!bad.is_sound());
        let mut bad = d.clone();
        if let Some(dense) = bad.dense.as_mut() {
            dense.regs.truncate(10);
        }
        assert!(!bad.is_sound());

        let mut w = WeekReach::new(0);
        w.insert(0, 42);
        assert!(w.is_sound());
        assert!(!WeekReach {
            newest: WEEKS,
            ..w.clone()
        }
        .is_sound());
        assert!(!WeekReach {
            packed: vec![0; 3],
            ..w
        }
        .is_sound());

        let mut c = LinearCounter::default();
        c.insert(1 << 60);
        assert!(c.is_sound());
        assert!(!LinearCounter { set: 600, ..c }.is_sound());
    }

    #[test]
    fn distinct_is_exact_when_small_and_close_when_large() {
        let mut d = Distinct::default();
        for i in 0..50 {
            d.insert(hash_id(&format!("c-{i}")));
            d.insert(hash_id(&format!("c-{i}")));
        }
        assert_eq!(d.estimate(), 50);
        for n in [100u64, 1_000, 10_000, 100_000] {
            let mut d = Distinct::default();
            for i in 0..n {
                d.insert(hash_id(&format!("c-{i:08}")));
            }
            assert!(err(d.estimate(), n) < 0.08, "n={n} est={}", d.estimate());
        }
    }

    #[test]
    fn week_reach_unions_the_right_weeks() {
        let mut w = WeekReach::new(100);
        for i in 0..1000 {
            w.insert(100, hash_id(&format!("a-{i}")));
        }
        for i in 0..2000 {
            w.insert(101, hash_id(&format!("b-{i}")));
        }
        // The 1,000 of week 100 also come back in week 101: no growth in the union.
        for i in 0..1000 {
            w.insert(101, hash_id(&format!("a-{i}")));
        }
        assert!(
            err(w.union(101, 0, 1), 3000) < 0.15,
            "{}",
            w.union(101, 0, 1)
        );
        assert!(
            err(w.union(101, 0, 2), 3000) < 0.15,
            "{}",
            w.union(101, 0, 2)
        );
        assert!(
            err(w.union(101, 1, 1), 1000) < 0.15,
            "{}",
            w.union(101, 1, 1)
        );
        // Thirteen weeks later, week 100 has fallen out; week 101 is 13 weeks back.
        assert_eq!(w.union(114, 0, 13), 0);
        assert!(w.union(113, 0, 13) > 2000);
        w.insert(120, hash_id("late"));
        assert_eq!(w.union(120, 0, 13), 1);
    }

    #[test]
    fn linear_counter_counts_actors_per_source() {
        let mut c = LinearCounter::default();
        for i in 0..20 {
            c.insert(hash_id(&format!("c-{i}")));
        }
        assert!((19..=21).contains(&c.estimate()), "{}", c.estimate());
        assert!(!c.insert(hash_id("c-3")), "a repeat is not new");
        for i in 0..300 {
            c.insert(hash_id(&format!("d-{i}")));
        }
        assert!(err(c.estimate(), 320) < 0.1, "{}", c.estimate());
    }

    #[test]
    fn peer_ring_leaves_the_actor_out() {
        let mut r = PeerRing::new(8);
        let (me, you) = (1u64 << 40, 2u64 << 40);
        for v in [10, 20, 30] {
            r.push(you, v);
        }
        r.push(me, 1000);
        assert_eq!(r.quantile_without(me, 1.0, 1), Some(30));
        assert_eq!(r.quantile_without(you, 1.0, 1), Some(1000));
        assert_eq!(r.quantile_without(me, 1.0, 4), None);
        assert_eq!(r.len_without(me), 3);
    }

    #[test]
    fn a_table_read_twice_by_count_only_is_counted_once() {
        let mut u = Unlisted::default();
        u.add(1, 1_500_000);
        u.add(1, 1_500_000);
        assert_eq!(u.total(), 1_500_000, "the same table twice is one table");
        u.add(2, 300);
        u.add(1, 1_000);
        assert_eq!(
            u.total(),
            1_500_300,
            "another table adds, a smaller read does not"
        );
        for r in 3..10 {
            u.add(r, 10);
        }
        assert_eq!(
            u.total(),
            1_500_300 + 20 + 50,
            "beyond four resources counts add"
        );
    }

    #[test]
    fn a_robust_normal_ignores_one_outlier() {
        let mut vals: Vec<u32> = (0..27).map(|i| 80 + (i % 7) * 5).collect();
        let calm = normal_of(&vals, 0.9).expect("normal");
        vals.push(5_000);
        let n = normal_of(&vals, 0.9).expect("normal");
        assert_eq!(n.median, calm.median);
        assert!(n.high < 200, "{n:?}");
        assert!(n.high >= 110, "at least the 0.9 quantile: {n:?}");
    }

    #[test]
    fn ring_keeps_the_last_values_and_its_quantiles() {
        let mut r = Ring::new(4);
        assert_eq!(r.quantile(0.9), None);
        for v in [10, 20, 30, 40, 50, 60] {
            r.push(v);
        }
        assert_eq!(r.len(), 4);
        assert_eq!(r.quantile(1.0), Some(60));
        assert_eq!(r.quantile(0.0), Some(30));
        assert_eq!(r.quantile(0.5), Some(40));
    }
}
