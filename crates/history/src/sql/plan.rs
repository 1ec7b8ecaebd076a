//! From SQLite's constraints to what the scan can prune by.
//!
//! `xBestIndex` ([`choose`]) picks the constraints the scan uses: equality on a string column
//! (BINARY collation only), and `=`, `<`, `<=`, `>`, `>=` on `ledger_index`, `time_ms` and
//! `time`. It hands them to `xFilter` in the plan string ([`Plan::encode`]) together with the
//! columns the statement uses. `xFilter` turns the values into [`Bounds`].
//!
//! Pruning is always conservative (it never drops a row SQLite would keep). A constraint is
//! also marked "omit" (SQLite does not check it again) only when the scan's own row filter is
//! exactly SQLite's comparison: an INTEGER constant against `ledger_index`/`time_ms`, a TEXT
//! constant against a string column or against `time` (every time a record can have, 1970 to
//! 9999, formats to the same width, so text order is time order and the text bound is an exact
//! millisecond bound). Everything else SQLite re-checks on the rows returned.
//!
//! An `ORDER BY` (or `GROUP BY`) of columns of the table is consumed (the scan returns the rows
//! sorted, and SQLite does not sort them again) when the columns it needs fit in
//! [`SORT_MEMORY`]: sorting dictionary keys in Rust is many times faster than SQLite's sorter.

use rusqlite::types::ValueRef;
use rusqlite::vtab::{IndexConstraintOp, IndexFlags, IndexInfo};
use suho_record::{MAX_TIME_MS, MIN_TIME_MS};

use super::columns::{used_leaves, Kind, Out};
use super::scan::{self, Shared};

/// Most memory an ordered scan may hold (its decoded columns and sort keys), by estimate.
pub(super) const SORT_MEMORY: u64 = 1 << 30;

/// A comparison the scan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn from_sqlite(op: &IndexConstraintOp) -> Option<Op> {
        Some(match op {
            IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ => Op::Eq,
            IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GT => Op::Gt,
            IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_GE => Op::Ge,
            IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_LT => Op::Lt,
            IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_LE => Op::Le,
            _ => return None,
        })
    }

    fn code(self) -> char {
        match self {
            Op::Eq => '=',
            Op::Gt => '>',
            Op::Ge => 'g',
            Op::Lt => '<',
            Op::Le => 'l',
        }
    }

    fn from_code(c: char) -> Option<Op> {
        Some(match c {
            '=' => Op::Eq,
            '>' => Op::Gt,
            'g' => Op::Ge,
            '<' => Op::Lt,
            'l' => Op::Le,
            _ => return None,
        })
    }
}

/// What `xBestIndex` chose: the columns used, and the constraints handed to `xFilter`, in
/// argument order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    /// SQLite's `colUsed`: bit i for column i.
    pub(super) col_used: u64,
    /// (column, comparison), one per `xFilter` argument.
    pub(super) args: Vec<(usize, Op)>,
    /// The order the scan returns rows in: (column, descending); empty for file order.
    pub(super) order: Vec<(usize, bool)>,
}

impl Plan {
    /// The plan as `idxStr`: `<col_used hex>`, `;<column><op>` per argument, then
    /// `|<column><a or d>` per ORDER BY term.
    pub(super) fn encode(&self) -> String {
        let mut s = format!("{:x}", self.col_used);
        for (col, op) in &self.args {
            s.push(';');
            s.push_str(&col.to_string());
            s.push(op.code());
        }
        for (col, desc) in &self.order {
            s.push('|');
            s.push_str(&col.to_string());
            s.push(if *desc { 'd' } else { 'a' });
        }
        s
    }

    /// The plan back from `idxStr`.
    pub(super) fn decode(s: &str) -> Option<Plan> {
        let mut sections = s.split('|');
        let mut parts = sections.next()?.split(';');
        let col_used = u64::from_str_radix(parts.next()?, 16).ok()?;
        let mut args = Vec::new();
        for p in parts {
            let op = Op::from_code(p.chars().last()?)?;
            let col = p[..p.len() - 1].parse().ok()?;
            args.push((col, op));
        }
        let mut order = Vec::new();
        for p in sections {
            let desc = match p.chars().last()? {
                'a' => false,
                'd' => true,
                _ => return None,
            };
            order.push((p[..p.len() - 1].parse().ok()?, desc));
        }
        Some(Plan {
            col_used,
            args,
            order,
        })
    }
}

/// Rows a full scan is assumed to return (the planner only compares costs).
const FULL_SCAN_ROWS: f64 = 10_000_000.0;

/// `xBestIndex`: use every constraint the scan can prune by, consume the ORDER BY when it can,
/// and say how cheap that makes it.
pub(super) fn choose(kind: Kind, info: &mut IndexInfo, shared: &Shared) -> rusqlite::Result<()> {
    let cols = kind.columns();
    let mut used: Vec<(usize, usize, Op, bool)> = Vec::new(); // (constraint, column, op, omit)
    let constraints: Vec<(usize, i32, Option<Op>, bool)> = info
        .constraints()
        .enumerate()
        .map(|(i, c)| (i, c.column(), Op::from_sqlite(&c.operator()), c.is_usable()))
        .collect();
    for (i, column, op, usable) in constraints {
        let (Some(op), true) = (op, usable) else {
            continue;
        };
        let Some(col) = usize::try_from(column).ok().and_then(|c| cols.get(c)) else {
            continue; // the rowid
        };
        let binary = info
            .collation(i)
            .is_ok_and(|c| c.eq_ignore_ascii_case("BINARY"));
        let rhs = info.rhs_value(i).ok().flatten();
        let omit = match col.out {
            Out::Index | Out::TimeMs => matches!(rhs, Some(ValueRef::Integer(_))),
            Out::Str(_) if op == Op::Eq && binary => {
                matches!(rhs, Some(ValueRef::Text(t)) if std::str::from_utf8(t).is_ok())
            }
            Out::TimeText if binary => matches!(rhs, Some(ValueRef::Text(_))),
            _ => continue,
        };
        used.push((i, column as usize, op, omit));
    }
    let mut rows = FULL_SCAN_ROWS;
    let mut unique = false;
    for (_, column, op, _) in &used {
        match (cols[*column].out, op) {
            (Out::Index, Op::Eq) => {
                rows = rows.min(1.0);
                unique = kind == Kind::Records;
            }
            (Out::Str(_), _) => rows /= 200.0,
            (_, Op::Eq) => rows /= 1000.0,
            _ => rows /= 4.0,
        }
    }
    let mut plan = Plan {
        col_used: info.col_used(),
        args: used.iter().map(|&(_, c, op, _)| (c, op)).collect(),
        order: Vec::new(),
    };
    if let Some(order) = consumable_order(kind, info) {
        let leaves = used_leaves(kind, plan.col_used);
        let fits =
            scan::sort_bytes(shared, kind, &leaves, &order).is_ok_and(|bytes| bytes <= SORT_MEMORY);
        if fits {
            plan.order = order;
            info.set_order_by_consumed(true);
        }
    }
    for (n, &(i, _, _, omit)) in used.iter().enumerate() {
        let mut u = info.constraint_usage(i);
        u.set_argv_index(n as i32 + 1);
        u.set_omit(omit);
    }
    info.set_idx_str(&plan.encode());
    let rows = rows.max(1.0);
    info.set_estimated_rows(rows as i64);
    // Opening the files costs something even when nothing matches.
    info.set_estimated_cost(100.0 + rows);
    if unique {
        info.set_idx_flags(IndexFlags::SQLITE_INDEX_SCAN_UNIQUE);
    }
    Ok(())
}

/// The ORDER BY terms when the scan can return rows in that order: every term a column of this
/// table that sorts by its value (not a JSON array), for a plain ORDER BY or a GROUP BY.
fn consumable_order(kind: Kind, info: &IndexInfo) -> Option<Vec<(usize, bool)>> {
    use rusqlite::vtab::DistinctMode;
    if info.num_of_order_by() == 0
        || !matches!(
            info.distinct(),
            DistinctMode::Ordered | DistinctMode::Grouped | DistinctMode::DistinctOrdered
        )
    {
        return None;
    }
    let cols = kind.columns();
    info.order_bys()
        .map(|o| {
            let col = usize::try_from(o.column()).ok()?;
            match cols.get(col)?.out {
                Out::Index | Out::TimeMs | Out::TimeText | Out::Str(_) | Out::Subject => {
                    Some((col, o.is_order_by_desc()))
                }
                Out::Json(_) | Out::Count => None,
            }
        })
        .collect()
}

/// What a scan may skip: only rows inside every bound can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bounds {
    /// Event time, epoch ms, inclusive.
    pub(super) time: (i64, i64),
    /// Ledger index, inclusive.
    pub(super) index: (u64, u64),
    /// Exact string equalities: (leaf, value). At most one per leaf.
    pub(super) eq: Vec<(usize, String)>,
    /// Nothing can match (e.g. `credential = NULL`, or `time_ms > 5 AND time_ms < 3`).
    pub(super) empty: bool,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            time: (i64::MIN, i64::MAX),
            index: (0, u64::MAX),
            eq: Vec::new(),
            empty: false,
        }
    }
}

impl Bounds {
    /// The bounds the plan's constraints put, for the values `xFilter` received.
    pub(super) fn new(kind: Kind, plan: &Plan, values: &[ValueRef<'_>]) -> Bounds {
        let mut b = Bounds::default();
        let cols = kind.columns();
        for (&(column, op), v) in plan.args.iter().zip(values) {
            let Some(col) = cols.get(column) else {
                continue;
            };
            if matches!(v, ValueRef::Null) {
                // A comparison with NULL is never true.
                b.empty = true;
                continue;
            }
            match col.out {
                Out::Index => {
                    if let Some((lo, hi)) = int_range(op, v) {
                        let lo = u64::try_from(lo.max(0)).unwrap_or(u64::MAX);
                        let hi = if hi < 0 {
                            b.empty = true;
                            0
                        } else {
                            u64::try_from(hi).unwrap_or(u64::MAX)
                        };
                        b.index = (b.index.0.max(lo), b.index.1.min(hi));
                    }
                }
                Out::TimeMs => {
                    if let Some((lo, hi)) = int_range(op, v) {
                        let clamp = |x: i128| x.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
                        b.time = (b.time.0.max(clamp(lo)), b.time.1.min(clamp(hi)));
                    }
                }
                Out::TimeText => {
                    if let ValueRef::Text(t) = v {
                        let (lo, hi) = text_time_range(op, t);
                        b.time = (b.time.0.max(lo), b.time.1.min(hi));
                    }
                }
                Out::Str(leaf) if op == Op::Eq => {
                    // A number or blob against a TEXT column prunes nothing: SQLite decides,
                    // on every row.
                    if let ValueRef::Text(t) = v {
                        match std::str::from_utf8(t) {
                            Ok(s) => match b.eq.iter().find(|(l, _)| *l == leaf) {
                                Some((_, prev)) if prev != s => b.empty = true,
                                Some(_) => {}
                                None => b.eq.push((leaf, s.to_string())),
                            },
                            // Every stored string is valid UTF-8.
                            Err(_) => b.empty = true,
                        }
                    }
                }
                _ => {}
            }
        }
        if b.time.0 > b.time.1 || b.index.0 > b.index.1 {
            b.empty = true;
        }
        b
    }

    /// Whether the time is bounded at all.
    pub(super) fn has_time(&self) -> bool {
        self.time != (i64::MIN, i64::MAX)
    }

    /// Whether the ledger index is bounded at all.
    pub(super) fn has_index(&self) -> bool {
        self.index != (0, u64::MAX)
    }
}

/// The integers x (inclusive range, as i128) for which `x op v` can hold, for an INTEGER column;
/// None when the value gives no usable bound.
fn int_range(op: Op, v: &ValueRef<'_>) -> Option<(i128, i128)> {
    const MIN: i128 = i128::MIN / 2;
    const MAX: i128 = i128::MAX / 2;
    // [ceil(v), floor(v)]: equal for an integer.
    let (ceil, floor) = match *v {
        ValueRef::Integer(i) => (i128::from(i), i128::from(i)),
        ValueRef::Real(f) if f.is_finite() && f.abs() < 1e30 => {
            (f.ceil() as i128, f.floor() as i128)
        }
        // SQLite applies numeric affinity to a text operand compared with an INTEGER column;
        // only a plain integer is trusted here (SQLite re-checks text constraints).
        ValueRef::Text(t) => {
            let i: i64 = std::str::from_utf8(t).ok()?.parse().ok()?;
            (i128::from(i), i128::from(i))
        }
        _ => return None,
    };
    Some(match op {
        Op::Eq => (ceil, floor),
        Op::Ge => (ceil, MAX),
        Op::Gt => (floor + 1, MAX),
        Op::Le => (MIN, floor),
        Op::Lt => (MIN, ceil - 1),
    })
}

/// The epoch-ms range of times t (inclusive) whose RFC 3339 text `fmt(t)` can satisfy
/// `fmt(t) op s` under BINARY collation. Every time a record can have (1970 to 9999) formats
/// to the same width, so text order is time order and a binary search finds the bounds.
fn text_time_range(op: Op, s: &[u8]) -> (i64, i64) {
    let fmt = |t: i64| suho_record::format_rfc3339_ms(t).into_bytes();
    // Smallest t in [MIN_TIME_MS, MAX_TIME_MS + 1] with `keep(t)` true, for a monotone keep.
    let first = |keep: &dyn Fn(&[u8]) -> bool| {
        let (mut lo, mut hi) = (MIN_TIME_MS, MAX_TIME_MS + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if keep(&fmt(mid)) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    };
    let at_or_after = || first(&|f| f >= s);
    let after = || first(&|f| f > s);
    match op {
        Op::Ge => (at_or_after(), i64::MAX),
        Op::Gt => (after(), i64::MAX),
        Op::Le => (i64::MIN, after() - 1),
        Op::Lt => (i64::MIN, at_or_after() - 1),
        Op::Eq => (at_or_after(), after() - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_round_trip_through_their_text() {
        let p = Plan {
            col_used: 0x1f3,
            args: vec![
                (8, Op::Eq),
                (2, Op::Ge),
                (2, Op::Lt),
                (0, Op::Le),
                (1, Op::Gt),
            ],
            order: vec![(3, false), (10, true)],
        };
        assert_eq!(Plan::decode(&p.encode()), Some(p));
        let p = Plan {
            col_used: 0,
            args: vec![],
            order: vec![],
        };
        assert_eq!(Plan::decode(&p.encode()), Some(p));
        assert_eq!(Plan::decode("1|3x"), None);
        assert_eq!(Plan::decode("zz"), None);
        assert_eq!(Plan::decode("1;3x"), None);
    }

    #[test]
    fn integer_bounds_are_exact_for_integer_columns() {
        let r = |op, v| int_range(op, &v);
        assert_eq!(r(Op::Ge, ValueRef::Integer(5)).map(|x| x.0), Some(5));
        assert_eq!(r(Op::Gt, ValueRef::Integer(5)).map(|x| x.0), Some(6));
        assert_eq!(r(Op::Lt, ValueRef::Integer(5)).map(|x| x.1), Some(4));
        assert_eq!(r(Op::Le, ValueRef::Real(5.5)).map(|x| x.1), Some(5));
        assert_eq!(r(Op::Gt, ValueRef::Real(5.5)).map(|x| x.0), Some(6));
        // x = 5.5 holds for no integer.
        let (lo, hi) = r(Op::Eq, ValueRef::Real(5.5)).expect("a range");
        assert!(lo > hi);
        assert_eq!(r(Op::Ge, ValueRef::Text(b"12")).map(|x| x.0), Some(12));
        assert_eq!(r(Op::Ge, ValueRef::Text(b"abc")), None);
    }

    #[test]
    fn text_time_bounds_match_text_comparison() {
        let t = suho_record::parse_rfc3339("2025-06-20T00:00:00Z").expect("time");
        // A date alone sorts before every time of that day.
        assert_eq!(text_time_range(Op::Ge, b"2025-06-20").0, t);
        assert_eq!(text_time_range(Op::Lt, b"2025-06-21").1, t + 86_400_000 - 1);
        let exact = suho_record::format_rfc3339_ms(t + 1234);
        assert_eq!(
            text_time_range(Op::Eq, exact.as_bytes()),
            (t + 1234, t + 1234)
        );
        assert_eq!(text_time_range(Op::Gt, exact.as_bytes()).0, t + 1235);
        assert_eq!(text_time_range(Op::Le, exact.as_bytes()).1, t + 1234);
        // Not a time at all: the bounds still agree with text order.
        let (lo, hi) = text_time_range(Op::Eq, b"yesterday");
        assert!(lo > hi);
        assert_eq!(text_time_range(Op::Ge, b"0").0, MIN_TIME_MS);
    }

    #[test]
    fn null_and_conflicting_equalities_match_nothing() {
        let plan = Plan {
            col_used: 0,
            args: vec![(8, Op::Eq), (8, Op::Eq)],
            order: vec![],
        };
        let b = Bounds::new(
            Kind::Records,
            &plan,
            &[ValueRef::Text(b"tok-1"), ValueRef::Text(b"tok-2")],
        );
        assert!(b.empty);
        let b = Bounds::new(
            Kind::Records,
            &plan,
            &[ValueRef::Text(b"tok-1"), ValueRef::Text(b"tok-1")],
        );
        assert!(!b.empty);
        assert_eq!(b.eq, vec![(crate::schema::CREDENTIAL, "tok-1".to_string())]);
        let b = Bounds::new(Kind::Records, &plan, &[ValueRef::Null, ValueRef::Null]);
        assert!(b.empty);
        // A number against a TEXT column prunes nothing (SQLite compares on each row).
        let b = Bounds::new(
            Kind::Records,
            &plan,
            &[ValueRef::Integer(1), ValueRef::Integer(1)],
        );
        assert_eq!(b, Bounds::default());
    }
}
