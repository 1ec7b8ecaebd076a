//! A decoded batch: its columns by Parquet leaf, typed once, read row by row.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType, UInt64Type};
use arrow_array::{
    Array, DictionaryArray, ListArray, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt64Array,
};
use arrow_schema::DataType;

use super::columns::LEAVES;
use crate::schema::COLUMNS;
use crate::HistoryError;

/// One decoded column.
pub(super) enum Data {
    Absent,
    U64(UInt64Array),
    Time(TimestampMillisecondArray),
    Dict(DictionaryArray<Int32Type>, StringArray),
    Str(StringArray),
    List(ListArray, StringArray),
}

/// A batch with its columns by leaf.
pub(super) struct Decoded {
    pub(super) rows: usize,
    pub(super) cols: [Data; LEAVES],
}

impl Decoded {
    pub(super) fn new(
        batch: &RecordBatch,
        history: &std::path::Path,
    ) -> Result<Decoded, HistoryError> {
        let bad = |what: String| HistoryError::Corrupt {
            path: history.to_path_buf(),
            detail: what,
        };
        let mut cols: [Data; LEAVES] = std::array::from_fn(|_| Data::Absent);
        let schema = batch.schema();
        for (field, array) in schema.fields().iter().zip(batch.columns()) {
            let Some(leaf) = COLUMNS.iter().position(|c| c == field.name()) else {
                continue;
            };
            let strings = |a: &dyn Array| {
                a.as_string_opt::<i32>().cloned().ok_or_else(|| {
                    bad(format!(
                        "{} holds something else than strings",
                        field.name()
                    ))
                })
            };
            cols[leaf] = match array.data_type() {
                DataType::UInt64 => Data::U64(array.as_primitive::<UInt64Type>().clone()),
                DataType::Timestamp(..) => Data::Time(
                    array
                        .as_primitive_opt::<TimestampMillisecondType>()
                        .cloned()
                        .ok_or_else(|| bad("time is not in milliseconds".into()))?,
                ),
                DataType::Dictionary(..) => {
                    let d = array
                        .as_dictionary_opt::<Int32Type>()
                        .cloned()
                        .ok_or_else(|| bad(format!("{} has unexpected keys", field.name())))?;
                    let values = strings(d.values().as_ref())?;
                    Data::Dict(d, values)
                }
                DataType::Utf8 => Data::Str(strings(array.as_ref())?),
                DataType::List(_) => {
                    let l = array.as_list::<i32>().clone();
                    let values = strings(l.values().as_ref())?;
                    Data::List(l, values)
                }
                other => return Err(bad(format!("{} has type {other}", field.name()))),
            };
        }
        Ok(Decoded {
            rows: batch.num_rows(),
            cols,
        })
    }
}

/// The offsets (into the list's values) of the distinct strings of row `r` of `list`, in order
/// of first appearance, into `out` (cleared first).
pub(super) fn distinct_in_row(
    list: &ListArray,
    values: &StringArray,
    r: usize,
    out: &mut Vec<usize>,
) {
    out.clear();
    if !list.is_valid(r) {
        return;
    }
    let offs = list.value_offsets();
    let (s, e) = (offs[r] as usize, offs[r + 1] as usize);
    if e - s <= 16 {
        for k in s..e {
            let v = values.value(k);
            if !out.iter().any(|&j| values.value(j) == v) {
                out.push(k);
            }
        }
    } else {
        let mut seen = HashSet::with_capacity(e - s);
        for k in s..e {
            if seen.insert(values.value(k)) {
                out.push(k);
            }
        }
    }
}
