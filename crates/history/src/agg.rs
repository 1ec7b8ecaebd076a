//! Exact aggregation of selected records: distinct subjects (interned into one arena), the
//! field categories each subject's data was processed for, first and last access, and the
//! credentials, IPs, actors and signing keys involved. No sketches: every count is exact.

use std::collections::HashMap;
use std::hash::BuildHasher;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use hashbrown::{DefaultHashBuilder, HashTable};

/// Field categories with an id below this are kept in a per-subject bit mask; the rest (a scope
/// over more than 128 distinct categories) in a side set.
const MASK_BITS: u16 = 128;

/// One distinct subject.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject {
    off: u64,
    len: u32,
    /// Records that listed it.
    pub(crate) count: u32,
    pub(crate) first: i64,
    pub(crate) last: i64,
    /// Field categories (ids below [`MASK_BITS`]).
    pub(crate) fields: u128,
    /// The last record (aggregation sequence number) that counted it.
    seq: u64,
}

/// Distinct subject ids, interned into one byte arena.
#[derive(Default)]
pub(crate) struct Subjects {
    pub(crate) arena: Vec<u8>,
    pub(crate) list: Vec<Subject>,
    table: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Subjects {
    pub(crate) fn bytes(&self, id: u32) -> &[u8] {
        let s = &self.list[id as usize];
        &self.arena[s.off as usize..s.off as usize + s.len as usize]
    }

    pub(crate) fn name(&self, id: u32) -> &str {
        // Only valid UTF-8 (from Arrow string arrays) is ever interned.
        std::str::from_utf8(self.bytes(id)).unwrap_or_default()
    }

    /// The id of subject `s`, interning it (with empty stats) if new.
    fn intern(&mut self, s: &[u8]) -> u32 {
        let Subjects {
            arena,
            list,
            table,
            hasher,
        } = self;
        let hash = hasher.hash_one(s);
        let slice = |id: u32| {
            let e = &list[id as usize];
            &arena[e.off as usize..e.off as usize + e.len as usize]
        };
        if let Some(&id) = table.find(hash, |&id| slice(id) == s) {
            return id;
        }
        let id = list.len() as u32;
        let off = arena.len() as u64;
        arena.extend_from_slice(s);
        list.push(Subject {
            off,
            len: s.len() as u32,
            count: 0,
            first: i64::MAX,
            last: i64::MIN,
            fields: 0,
            seq: 0,
        });
        let (arena, list) = (&*arena, &*list);
        table.insert_unique(hash, id, |&id| {
            let e = &list[id as usize];
            hasher.hash_one(&arena[e.off as usize..e.off as usize + e.len as usize])
        });
        id
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

/// Counts per string (credentials, IPs, ...).
pub(crate) type Counts = HashMap<String, u64>;

/// The aggregate of a set of selected records.
#[derive(Default)]
pub(crate) struct Agg {
    pub(crate) records: u64,
    pub(crate) first: Option<i64>,
    pub(crate) last: Option<i64>,
    /// Sum over records of `subject_count` beyond the listed subjects.
    pub(crate) unlisted: u64,
    pub(crate) subjects: Subjects,
    pub(crate) field_names: Vec<String>,
    field_ids: HashMap<String, u16>,
    /// (subject, field id) for field ids at or above [`MASK_BITS`].
    pub(crate) extra_fields: hashbrown::HashSet<(u32, u16)>,
    pub(crate) credentials: Counts,
    pub(crate) ips: Counts,
    pub(crate) actors: Counts,
    pub(crate) signing_keys: Counts,
    pub(crate) countries: Counts,
    /// (subject, ledger index) of every access, when a per-subject list is wanted.
    pub(crate) hits: Option<Vec<(u32, u64)>>,
    /// Ledger index of every selected record (with or without subjects), when a per-subject
    /// list is wanted: the records an evidence bundle proves.
    pub(crate) record_indexes: Option<Vec<u64>>,
    seq: u64,
}

impl Agg {
    pub(crate) fn new(per_subject: bool) -> Agg {
        Agg {
            hits: per_subject.then(Vec::new),
            record_indexes: per_subject.then(Vec::new),
            ..Agg::default()
        }
    }

    fn field_id(&mut self, name: &str) -> u16 {
        if let Some(&id) = self.field_ids.get(name) {
            return id;
        }
        // At most 64 fields per record and u16::MAX distinct categories: saturate rather than wrap.
        let id = u16::try_from(self.field_names.len()).unwrap_or(u16::MAX);
        self.field_names.push(name.to_string());
        self.field_ids.insert(name.to_string(), id);
        id
    }

    /// Add every row of `batch` (the selected records; columns by name, see `scope`).
    pub(crate) fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("column {name} is missing"))
        };
        let index = col("ledger_index")?
            .as_primitive_opt::<UInt64Type>()
            .ok_or("ledger_index is not UInt64")?
            .clone();
        let time = col("time")?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or("time is not a millisecond timestamp")?
            .clone();
        let subjects = col("subjects")?
            .as_list_opt::<i32>()
            .ok_or("subjects is not a list")?
            .clone();
        let subject_values = subjects
            .values()
            .as_string_opt::<i32>()
            .ok_or("subjects are not strings")?
            .clone();
        let fields = col("fields")?
            .as_list_opt::<i32>()
            .ok_or("fields is not a list")?
            .clone();
        let field_values = fields
            .values()
            .as_string_opt::<i32>()
            .ok_or("fields are not strings")?
            .clone();
        let subject_count = col("subject_count")?
            .as_primitive_opt::<UInt64Type>()
            .ok_or("subject_count is not UInt64")?
            .clone();

        count_strings(col("credential")?, &mut self.credentials);
        count_strings(col("src_ip")?, &mut self.ips);
        count_strings(col("actor")?, &mut self.actors);
        count_strings(col("signing_key")?, &mut self.signing_keys);
        count_strings(col("country")?, &mut self.countries);

        let s_off = subjects.value_offsets();
        let f_off = fields.value_offsets();
        let mut extra: Vec<u16> = Vec::new();
        for i in 0..n {
            self.seq += 1;
            self.records += 1;
            let t = time.value(i);
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
            let mut mask = 0u128;
            extra.clear();
            for j in f_off[i] as usize..f_off[i + 1] as usize {
                let id = self.field_id(field_values.value(j));
                if id < MASK_BITS {
                    mask |= 1u128 << id;
                } else {
                    extra.push(id);
                }
            }
            let listed = (s_off[i + 1] - s_off[i]) as u64;
            if subject_count.is_valid(i) {
                self.unlisted = self
                    .unlisted
                    .saturating_add(subject_count.value(i).saturating_sub(listed));
            }
            let ledger_index = index.value(i);
            if let Some(r) = &mut self.record_indexes {
                r.push(ledger_index);
            }
            for j in s_off[i] as usize..s_off[i + 1] as usize {
                let id = self.subjects.intern(subject_values.value(j).as_bytes());
                let s = &mut self.subjects.list[id as usize];
                s.first = s.first.min(t);
                s.last = s.last.max(t);
                s.fields |= mask;
                if s.seq != self.seq {
                    s.seq = self.seq;
                    s.count = s.count.saturating_add(1);
                    if let Some(h) = &mut self.hits {
                        h.push((id, ledger_index));
                    }
                }
                for &f in &extra {
                    self.extra_fields.insert((id, f));
                }
            }
        }
        Ok(())
    }

    /// Fold `other` (records disjoint from ours) into this aggregate.
    pub(crate) fn merge(&mut self, mut other: Agg) {
        if other.subjects.len() > self.subjects.len() {
            std::mem::swap(self, &mut other);
        }
        self.records += other.records;
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, other.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.unlisted = self.unlisted.saturating_add(other.unlisted);
        let field_map: Vec<u16> = other.field_names.iter().map(|n| self.field_id(n)).collect();
        let remap_field = |f: u16| field_map.get(f as usize).copied().unwrap_or(f);
        let mut subject_map = Vec::with_capacity(other.subjects.len());
        for (oid, os) in other.subjects.list.iter().enumerate() {
            let id = self.subjects.intern(other.subjects.bytes(oid as u32));
            subject_map.push(id);
            let s = &mut self.subjects.list[id as usize];
            s.first = s.first.min(os.first);
            s.last = s.last.max(os.last);
            s.count = s.count.saturating_add(os.count);
            let mut bits = os.fields;
            while bits != 0 {
                let b = bits.trailing_zeros() as u16;
                bits &= bits - 1;
                let f = remap_field(b);
                if f < MASK_BITS {
                    s.fields |= 1u128 << f;
                } else {
                    self.extra_fields.insert((id, f));
                }
            }
        }
        for (oid, f) in other.extra_fields {
            let id = subject_map[oid as usize];
            let f = remap_field(f);
            if f < MASK_BITS {
                self.subjects.list[id as usize].fields |= 1u128 << f;
            } else {
                self.extra_fields.insert((id, f));
            }
        }
        if let (Some(r), Some(or)) = (&mut self.record_indexes, other.record_indexes) {
            r.extend(or);
        }
        if let (Some(h), Some(oh)) = (&mut self.hits, other.hits) {
            h.extend(
                oh.into_iter()
                    .map(|(oid, idx)| (subject_map[oid as usize], idx)),
            );
        }
        for (mine, theirs) in [
            (&mut self.credentials, other.credentials),
            (&mut self.ips, other.ips),
            (&mut self.actors, other.actors),
            (&mut self.signing_keys, other.signing_keys),
            (&mut self.countries, other.countries),
        ] {
            for (k, v) in theirs {
                *mine.entry(k).or_default() += v;
            }
        }
    }

    /// Field category name -> exact number of distinct subjects whose data of it was processed.
    pub(crate) fn field_subject_counts(&self) -> Vec<(String, u64)> {
        let mut counts = vec![0u64; self.field_names.len()];
        for s in &self.subjects.list {
            let mut bits = s.fields;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(c) = counts.get_mut(b) {
                    *c += 1;
                }
            }
        }
        for &(_, f) in &self.extra_fields {
            if let Some(c) = counts.get_mut(f as usize) {
                *c += 1;
            }
        }
        self.field_names.iter().cloned().zip(counts).collect()
    }

    /// The field ids of subject `id`, ascending.
    pub(crate) fn subject_field_ids(
        &self,
        id: u32,
        extra_by_subject: &HashMap<u32, Vec<u16>>,
    ) -> Vec<u16> {
        let mut out = Vec::new();
        let mut bits = self.subjects.list[id as usize].fields;
        while bits != 0 {
            out.push(bits.trailing_zeros() as u16);
            bits &= bits - 1;
        }
        if let Some(extra) = extra_by_subject.get(&id) {
            out.extend_from_slice(extra);
        }
        out
    }
}

/// Add `n` to the count of `key` (allocating only for a new key).
fn bump(into: &mut Counts, key: &str, n: u64) {
    match into.get_mut(key) {
        Some(c) => *c += n,
        None => {
            into.insert(key.to_string(), n);
        }
    }
}

/// Add the non-null values of a string or dictionary-of-string column to `into`.
fn count_strings(col: &ArrayRef, into: &mut Counts) {
    if let Some(d) = col.as_dictionary_opt::<Int32Type>() {
        let Some(values) = d.values().as_string_opt::<i32>() else {
            return;
        };
        if d.len() * 4 < values.len() {
            // Few rows, a big dictionary: count the rows' strings directly.
            for k in d.keys().iter().flatten() {
                if let Ok(k) = usize::try_from(k) {
                    if k < values.len() {
                        bump(into, values.value(k), 1);
                    }
                }
            }
            return;
        }
        let mut counts = vec![0u64; values.len()];
        for k in d.keys().iter().flatten() {
            if let Some(c) = usize::try_from(k).ok().and_then(|k| counts.get_mut(k)) {
                *c += 1;
            }
        }
        for (k, c) in counts.into_iter().enumerate().filter(|(_, c)| *c > 0) {
            bump(into, values.value(k), c);
        }
    } else if let Some(s) = col.as_string_opt::<i32>() {
        for v in s.iter().flatten() {
            bump(into, v, 1);
        }
    }
}
