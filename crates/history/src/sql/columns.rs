//! The SQL columns of `records` and `record_subjects`, and which Parquet leaf each is made of.

use crate::schema::{
    ACTOR, COUNTRY, CREDENTIAL, FIELDS, LEDGER_INDEX, SIGNING_KEY, SRC_IP, SUBJECTS, SUBJECT_COUNT,
    TIME,
};

/// Leaf of `action` (see [`crate::schema::COLUMNS`]).
pub(super) const ACTION: usize = 3;
/// Leaf of `resource`.
pub(super) const RESOURCE: usize = 4;
/// Leaf of `purpose`.
pub(super) const PURPOSE: usize = 12;
/// Leaf of `outcome`.
pub(super) const OUTCOME: usize = 13;
/// Leaf of `id`.
pub(super) const ID: usize = 14;
/// Number of leaves in a history file.
pub(super) const LEAVES: usize = 15;

/// Which virtual table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `records`: one row per record.
    Records,
    /// `record_subjects`: one row per (record, distinct subject).
    Subjects,
}

impl Kind {
    /// The table (and module) name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Records => "records",
            Kind::Subjects => "record_subjects",
        }
    }

    /// Its columns, in declaration order.
    pub(super) fn columns(self) -> &'static [Col] {
        match self {
            Kind::Records => RECORDS,
            Kind::Subjects => RECORD_SUBJECTS,
        }
    }

    /// The `CREATE TABLE` statement declared to SQLite.
    pub(super) fn declaration(self) -> String {
        let cols: Vec<String> = self
            .columns()
            .iter()
            .map(|c| format!("{} {}", c.name, c.decl))
            .collect();
        format!("CREATE TABLE x({})", cols.join(", "))
    }
}

/// The leaves a scan decodes for the columns in `col_used` (SQLite's mask: bit i for column i,
/// bit 63 for every column from 63 on): always `ledger_index` (rowids), and for
/// `record_subjects` always `subjects` (the rows themselves).
pub(super) fn used_leaves(kind: Kind, col_used: u64) -> [bool; LEAVES] {
    let mut used = [false; LEAVES];
    used[LEDGER_INDEX] = true;
    if kind == Kind::Subjects {
        used[SUBJECTS] = true;
    }
    for (i, c) in kind.columns().iter().enumerate() {
        if col_used & (1 << i.min(63)) != 0 {
            used[c.out.leaf()] = true;
        }
    }
    used
}

/// How a column's values are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Out {
    /// `ledger_index`, an INTEGER.
    Index,
    /// `time` as RFC 3339 UTC text with milliseconds (fixed width, so text order is time order).
    TimeText,
    /// `time` as epoch milliseconds.
    TimeMs,
    /// A string leaf, TEXT or NULL.
    Str(usize),
    /// A list-of-strings leaf as a JSON array (TEXT).
    Json(usize),
    /// `subject_count`, INTEGER or NULL.
    Count,
    /// One subject of `subjects` (record_subjects only).
    Subject,
}

impl Out {
    /// The Parquet leaf the values come from.
    pub(super) fn leaf(self) -> usize {
        match self {
            Out::Index => LEDGER_INDEX,
            Out::TimeText | Out::TimeMs => TIME,
            Out::Str(l) | Out::Json(l) => l,
            Out::Count => SUBJECT_COUNT,
            Out::Subject => SUBJECTS,
        }
    }
}

/// One SQL column.
#[derive(Debug, Clone, Copy)]
pub(super) struct Col {
    /// Its name.
    pub(super) name: &'static str,
    /// Its declared type (the SQLite affinity).
    pub(super) decl: &'static str,
    /// What it is made of.
    pub(super) out: Out,
}

const fn col(name: &'static str, decl: &'static str, out: Out) -> Col {
    Col { name, decl, out }
}

/// The columns of `records`.
pub(super) const RECORDS: &[Col] = &[
    col("ledger_index", "INTEGER", Out::Index),
    col("time", "TEXT", Out::TimeText),
    col("time_ms", "INTEGER", Out::TimeMs),
    col("actor", "TEXT", Out::Str(ACTOR)),
    col("action", "TEXT", Out::Str(ACTION)),
    col("resource", "TEXT", Out::Str(RESOURCE)),
    col("src_ip", "TEXT", Out::Str(SRC_IP)),
    col("country", "TEXT", Out::Str(COUNTRY)),
    col("credential", "TEXT", Out::Str(CREDENTIAL)),
    col("signing_key", "TEXT", Out::Str(SIGNING_KEY)),
    col("subjects", "TEXT", Out::Json(SUBJECTS)),
    col("subject_count", "INTEGER", Out::Count),
    col("fields", "TEXT", Out::Json(FIELDS)),
    col("purpose", "TEXT", Out::Str(PURPOSE)),
    col("outcome", "TEXT", Out::Str(OUTCOME)),
    col("id", "TEXT", Out::Str(ID)),
];

/// The columns of `record_subjects`.
pub(super) const RECORD_SUBJECTS: &[Col] = &[
    col("ledger_index", "INTEGER", Out::Index),
    col("time", "TEXT", Out::TimeText),
    col("time_ms", "INTEGER", Out::TimeMs),
    col("actor", "TEXT", Out::Str(ACTOR)),
    col("action", "TEXT", Out::Str(ACTION)),
    col("resource", "TEXT", Out::Str(RESOURCE)),
    col("src_ip", "TEXT", Out::Str(SRC_IP)),
    col("country", "TEXT", Out::Str(COUNTRY)),
    col("credential", "TEXT", Out::Str(CREDENTIAL)),
    col("signing_key", "TEXT", Out::Str(SIGNING_KEY)),
    col("subject", "TEXT", Out::Subject),
    col("fields", "TEXT", Out::Json(FIELDS)),
    col("purpose", "TEXT", Out::Str(PURPOSE)),
    col("outcome", "TEXT", Out::Str(OUTCOME)),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::COLUMNS;

    #[test]
    fn leaves_name_the_history_columns() {
        for (leaf, name) in [
            (ACTION, "action"),
            (RESOURCE, "resource"),
            (PURPOSE, "purpose"),
            (OUTCOME, "outcome"),
            (ID, "id"),
        ] {
            assert_eq!(COLUMNS[leaf], name);
        }
        assert_eq!(COLUMNS.len(), LEAVES);
        // Every string column is named after its leaf.
        for kind in [Kind::Records, Kind::Subjects] {
            for c in kind.columns() {
                if let Out::Str(l) | Out::Json(l) = c.out {
                    assert_eq!(COLUMNS[l], c.name);
                }
            }
            assert!(kind.columns().len() < 63, "col_used has 63 column bits");
        }
    }
}
