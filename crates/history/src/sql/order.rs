//! The rows of an ordered scan, sorted by the ORDER BY (or GROUP BY) terms SQLite handed over.
//!
//! Each term becomes a 64-bit key per row: a string column's key is the rank of its value among
//! the distinct values (NULL first, as SQLite orders it), found once per dictionary entry and
//! not once per row; an integer column's key is its value. A single string term is then sorted
//! by counting (linear time); anything else by comparison. Ties keep no particular order, which
//! neither ORDER BY nor GROUP BY asks for.

use std::collections::HashMap;

use arrow_array::{Array, StringArray};

use super::batch::{Data, Decoded};
use super::columns::{Kind, Out};
use crate::schema::{LEDGER_INDEX, SUBJECTS, TIME};
use crate::HistoryError;

/// One row of an ordered scan: its batch, its row, and for `record_subjects` the offset of its
/// subject in the batch's `subjects` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Item {
    pub(super) batch: u32,
    pub(super) row: u32,
    pub(super) k: u32,
}

/// Sort `items` by the `order` terms: (column of `kind`, descending). A string column that an
/// equality fixes (`fixed`: (leaf, value)) is not decoded and sorts as a constant.
///
/// When the first term is a string column, its values in the new order come back with it
/// (read off the sort keys, so SQLite need not look each one up in its batch).
pub(super) fn sort(
    kind: Kind,
    batches: &[Decoded],
    items: &mut Vec<Item>,
    order: &[(usize, bool)],
    fixed: &[(usize, String)],
) -> Result<Option<(usize, Gathered)>, HistoryError> {
    let n = items.len();
    let mut terms: Vec<(Vec<u64>, u64)> = Vec::with_capacity(order.len()); // (keys, max key)
                                                                           // The first term's names by rank, when it is a string column.
    let mut first_names: Option<Vec<String>> = None;
    for (t, &(col, desc)) in order.iter().enumerate() {
        let out = kind
            .columns()
            .get(col)
            .map(|c| c.out)
            .ok_or_else(|| HistoryError::Invalid(format!("no column {col} to order by")))?;
        let mut names = None;
        let (mut keys, max) = match out {
            Out::Str(leaf) if fixed.iter().any(|(l, _)| *l == leaf) => (vec![0; n], 0),
            Out::Str(leaf) => {
                string_keys(&mut names, batches, items, |d, it| match &d.cols[leaf] {
                    Data::Dict(a, values) => Ok(Text::Dict(a.key(it.row as usize), values)),
                    Data::Str(a) => Ok(Text::Plain(
                        a.is_valid(it.row as usize)
                            .then(|| a.value(it.row as usize)),
                    )),
                    _ => Err(missing(col)),
                })?
            }
            Out::Subject => string_keys(&mut names, batches, items, |d, it| {
                match &d.cols[SUBJECTS] {
                    Data::List(_, values) => Ok(Text::Plain(Some(values.value(it.k as usize)))),
                    _ => Err(missing(col)),
                }
            })?,
            Out::Index => int_keys(batches, items, |d, r| match &d.cols[LEDGER_INDEX] {
                Data::U64(a) => Ok(a.value(r)),
                _ => Err(missing(col)),
            })?,
            Out::TimeMs | Out::TimeText => int_keys(batches, items, |d, r| match &d.cols[TIME] {
                // Flipping the sign bit orders i64 as u64.
                Data::Time(a) => Ok((a.value(r) as u64) ^ (1 << 63)),
                _ => Err(missing(col)),
            })?,
            Out::Json(_) | Out::Count => {
                return Err(HistoryError::Invalid(format!(
                    "column {col} cannot be ordered by the scan"
                )))
            }
        };
        if t == 0 {
            first_names = names;
        }
        if desc {
            for k in &mut keys {
                *k = max - *k;
            }
        }
        terms.push((keys, max));
    }

    let mut perm: Vec<u32> = (0..n as u32).collect();
    match terms.as_slice() {
        [] => return Ok(None),
        [(keys, max)] if *max <= (n as u64).saturating_mul(4).max(1 << 16) => {
            perm = counting_sort(keys, *max);
        }
        [(keys, _)] => perm.sort_unstable_by_key(|&i| keys[i as usize]),
        _ => perm.sort_unstable_by(|&a, &b| {
            terms
                .iter()
                .map(|(k, _)| k[a as usize].cmp(&k[b as usize]))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        }),
    }
    *items = perm.iter().map(|&i| items[i as usize]).collect();
    let (Some(names), Some(&(col, desc)), Some((keys, max))) =
        (first_names, order.first(), terms.first())
    else {
        return Ok(None);
    };
    // Key 0 is NULL, key r the name of rank r (keys reversed when descending).
    let ids = perm
        .iter()
        .map(|&i| {
            let k = keys[i as usize];
            let rank = if desc { max - k } else { k };
            if rank == 0 {
                NULL
            } else {
                (rank - 1) as u32
            }
        })
        .collect();
    Ok(Some((col, Gathered { ids, names })))
}

fn missing(col: usize) -> HistoryError {
    HistoryError::Invalid(format!("column {col} was not decoded for ordering"))
}

/// Positions 0..keys.len() sorted by key, for keys at most `max`.
fn counting_sort(keys: &[u64], max: u64) -> Vec<u32> {
    let mut starts = vec![0u32; max as usize + 2];
    for &k in keys {
        starts[k as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut out = vec![0u32; keys.len()];
    for (i, &k) in keys.iter().enumerate() {
        let at = &mut starts[k as usize];
        out[*at as usize] = i as u32;
        *at += 1;
    }
    out
}

/// Keys of an integer column; the largest one.
fn int_keys(
    batches: &[Decoded],
    items: &[Item],
    value: impl Fn(&Decoded, usize) -> Result<u64, HistoryError>,
) -> Result<(Vec<u64>, u64), HistoryError> {
    let mut keys = Vec::with_capacity(items.len());
    let mut max = 0;
    for it in items {
        let k = value(&batches[it.batch as usize], it.row as usize)?;
        max = max.max(k);
        keys.push(k);
    }
    Ok((keys, max))
}

/// A string value of an item: by dictionary key (None: NULL) or itself (None: NULL).
enum Text<'a> {
    Dict(Option<usize>, &'a StringArray),
    Plain(Option<&'a str>),
}

/// Ids of a string column's values, per item ([`NULL`] for NULL), and the distinct values in
/// id order. Dictionary values are interned once per dictionary entry met, not once per row.
fn string_ids<'a>(
    batches: &'a [Decoded],
    items: &[Item],
    value: impl Fn(&'a Decoded, &Item) -> Result<Text<'a>, HistoryError>,
) -> Result<(Vec<u32>, Vec<&'a str>), HistoryError> {
    let mut ids: HashMap<&'a str, u32> = HashMap::new();
    let mut names: Vec<&'a str> = Vec::new();
    let mut intern = |s: &'a str| -> u32 {
        *ids.entry(s).or_insert_with(|| {
            names.push(s);
            (names.len() - 1) as u32
        })
    };
    // Per dictionary (told apart by the address of its offsets: the batches of a row group
    // share one), the id of each key met so far; per batch, its dictionary's table.
    let mut tables: Vec<Vec<u32>> = Vec::new();
    let mut table_of: HashMap<(*const i32, usize), usize> = HashMap::new();
    let mut batch_table: Vec<usize> = vec![usize::MAX; batches.len()];
    let mut item_ids = Vec::with_capacity(items.len());
    for it in items {
        let b = it.batch as usize;
        let id = match value(&batches[b], it)? {
            Text::Plain(None) | Text::Dict(None, _) => NULL,
            Text::Plain(Some(s)) => intern(s),
            Text::Dict(Some(key), values) => {
                if batch_table[b] == usize::MAX {
                    let this = (values.value_offsets().as_ptr(), values.len());
                    batch_table[b] = *table_of.entry(this).or_insert_with(|| {
                        tables.push(vec![NULL; values.len()]);
                        tables.len() - 1
                    });
                }
                let table = &mut tables[batch_table[b]];
                match table.get(key).copied() {
                    Some(NULL) => {
                        let id = intern(values.value(key));
                        table[key] = id;
                        id
                    }
                    Some(id) => id,
                    None => {
                        return Err(HistoryError::Invalid(
                            "a dictionary key is out of range".into(),
                        ))
                    }
                }
            }
        };
        item_ids.push(id);
    }
    Ok((item_ids, names))
}

/// The id of NULL in [`string_ids`].
const NULL: u32 = u32::MAX;

/// Keys of a string column: 0 for NULL, else 1 + the rank of the value among the distinct
/// values (byte order, as SQLite's BINARY collation); the largest one.
/// `sorted` receives the distinct values in rank order.
fn string_keys<'a>(
    sorted: &mut Option<Vec<String>>,
    batches: &'a [Decoded],
    items: &[Item],
    value: impl Fn(&'a Decoded, &Item) -> Result<Text<'a>, HistoryError>,
) -> Result<(Vec<u64>, u64), HistoryError> {
    let (item_ids, names) = string_ids(batches, items, value)?;
    let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
    by_name.sort_unstable_by_key(|&id| names[id as usize]);
    let mut rank = vec![0u64; names.len()];
    for (r, &id) in by_name.iter().enumerate() {
        rank[id as usize] = r as u64 + 1;
    }
    *sorted = Some(
        by_name
            .iter()
            .map(|&id| names[id as usize].to_string())
            .collect(),
    );
    let keys = item_ids
        .iter()
        .map(|&id| if id == NULL { 0 } else { rank[id as usize] })
        .collect();
    Ok((keys, names.len() as u64))
}

/// A string column laid out in the order of the sorted items: SQLite then reads it front to
/// back instead of jumping between batches for every row.
pub(super) struct Gathered {
    ids: Vec<u32>,
    names: Vec<String>,
}

impl Gathered {
    /// The value of item `at`, None for NULL.
    pub(super) fn get(&self, at: usize) -> Option<&str> {
        let id = *self.ids.get(at)?;
        self.names.get(id as usize).map(String::as_str)
    }
}

/// The string column `leaf` (or, with `subject`, the subjects of `record_subjects`) of the
/// items, gathered; None when the column was not decoded.
pub(super) fn gather(
    batches: &[Decoded],
    items: &[Item],
    leaf: usize,
    subject: bool,
) -> Option<Gathered> {
    let (ids, names) = string_ids(batches, items, |d, it| {
        let r = it.row as usize;
        match (&d.cols[leaf], subject) {
            (Data::List(_, values), true) => Ok(Text::Plain(Some(values.value(it.k as usize)))),
            (Data::Dict(a, values), false) => Ok(Text::Dict(a.key(r), values)),
            (Data::Str(a), false) => Ok(Text::Plain(a.is_valid(r).then(|| a.value(r)))),
            _ => Err(HistoryError::Invalid(String::new())),
        }
    })
    .ok()?;
    Some(Gathered {
        ids,
        names: names.into_iter().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_sort_orders_positions_by_key() {
        let keys = [3, 0, 2, 3, 1, 0];
        let p = counting_sort(&keys, 3);
        let sorted: Vec<u64> = p.iter().map(|&i| keys[i as usize]).collect();
        assert_eq!(sorted, vec![0, 0, 1, 2, 3, 3]);
        let mut seen = p.clone();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5]);
    }
}
