//! The virtual tables `records` and `record_subjects`: SQLite asks, the scan answers.
//!
//! This file holds the only two `unsafe impl` blocks of the crate: rusqlite's `VTab` and
//! `VTabCursor` are `unsafe trait`s whose one obligation is a layout rule (see the SAFETY
//! comments). Everything else here is safe Rust.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{c_int, CStr, CString};
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow_array::Array;
use rusqlite::types::{Null, ValueRef};
use rusqlite::vtab::{
    sqlite3_vtab, sqlite3_vtab_cursor, Context, Filters, IndexInfo, Module, VTab, VTabConnection,
    VTabCursor,
};
use rusqlite::Connection;

use super::batch::{distinct_in_row, Data, Decoded};
use super::columns::{used_leaves, Kind, Out, LEAVES};
use super::order::{self, Gathered, Item};
use super::plan::{self, Bounds, Plan};
use super::scan::{self, Reading, Shared, Source};
use crate::schema::{LEDGER_INDEX, SUBJECTS, SUBJECT_COUNT, TIME};
use crate::HistoryError;

/// Bits of a `record_subjects` rowid taken by the subject's position in its record (the
/// contract allows at most 100,000 subjects per record, below 2^17); the ledger index is above.
const SUBJECT_BITS: u32 = 17;

/// Register both tables on `conn`, as eponymous tables (usable without `CREATE VIRTUAL TABLE`).
pub(super) fn register(conn: &Connection, shared: &Arc<Shared>) -> rusqlite::Result<()> {
    const MODULE: Module<'static, Table> = Module::eponymous_only_module();
    for kind in [Kind::Records, Kind::Subjects] {
        conn.create_module(kind.name(), &MODULE, Some(shared.clone()))?;
    }
    Ok(())
}

/// One virtual table of one connection.
#[repr(C)]
pub(super) struct Table {
    /// SQLite's part; must come first.
    base: sqlite3_vtab,
    kind: Kind,
    shared: Arc<Shared>,
}

// SAFETY: rusqlite casts the `*mut sqlite3_vtab` SQLite hands back to `*mut Table`, which is
// sound because `Table` is `#[repr(C)]` and its first field is the ffi base struct
// `sqlite3_vtab`, as the trait requires. No other unsafe code is involved.
#[allow(unsafe_code)]
unsafe impl<'vtab> VTab<'vtab> for Table {
    type Aux = Arc<Shared>;
    type Cursor = Cursor<'vtab>;

    fn connect(
        _db: &mut VTabConnection,
        aux: Option<&Arc<Shared>>,
        module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> rusqlite::Result<(Cow<'static, CStr>, Table)> {
        let kind = [Kind::Records, Kind::Subjects]
            .into_iter()
            .find(|k| k.name().as_bytes() == module_name)
            .ok_or_else(|| {
                rusqlite::Error::ModuleError(format!(
                    "unknown history table {}",
                    String::from_utf8_lossy(module_name)
                ))
            })?;
        let shared = aux
            .cloned()
            .ok_or_else(|| rusqlite::Error::ModuleError("history table without state".into()))?;
        let decl = CString::new(kind.declaration())
            .map_err(|e| rusqlite::Error::ModuleError(e.to_string()))?;
        Ok((
            Cow::Owned(decl),
            Table {
                base: sqlite3_vtab::default(),
                kind,
                shared,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> rusqlite::Result<bool> {
        guard(|| {
            plan::choose(self.kind, info, &self.shared)?;
            Ok(true)
        })
    }

    fn open(&'vtab mut self) -> rusqlite::Result<Cursor<'vtab>> {
        let tab: &'vtab Table = self;
        Ok(Cursor {
            base: sqlite3_vtab_cursor::default(),
            tab,
            source: Source::Empty,
            cur: None,
            row: 0,
            subs: Vec::new(),
            sub: 0,
            sorted: None,
            fixed: Vec::new(),
            eof: true,
            text: RefCell::new(String::new()),
        })
    }
}

/// A scan in progress.
#[repr(C)]
pub(super) struct Cursor<'vtab> {
    /// SQLite's part; must come first.
    base: sqlite3_vtab_cursor,
    tab: &'vtab Table,
    /// File order: the batches still to come, the batch being returned and the row in it.
    source: Source,
    cur: Option<Decoded>,
    row: usize,
    /// record_subjects in file order: offsets (into the subjects values) of the current row's
    /// distinct subjects, and the current one.
    subs: Vec<usize>,
    sub: usize,
    /// An ordered scan: every batch, and the rows in order.
    sorted: Option<Sorted>,
    /// String columns an equality fixes: (leaf, value), returned without decoding.
    fixed: Vec<(usize, String)>,
    eof: bool,
    /// Scratch for JSON arrays.
    text: RefCell<String>,
}

/// The whole result of an ordered scan.
struct Sorted {
    batches: Vec<Decoded>,
    items: Vec<Item>,
    at: usize,
    /// The used string columns by leaf, and `subject`, laid out in item order.
    strings: Vec<Option<Gathered>>,
    subject: Option<Gathered>,
}

// SAFETY: rusqlite casts the `*mut sqlite3_vtab_cursor` SQLite hands back to `*mut Cursor`,
// which is sound because `Cursor` is `#[repr(C)]` and its first field is the ffi base struct
// `sqlite3_vtab_cursor`, as the trait requires. No other unsafe code is involved.
#[allow(unsafe_code)]
unsafe impl VTabCursor for Cursor<'_> {
    fn filter(
        &mut self,
        idx_num: c_int,
        idx_str: Option<&str>,
        args: &Filters<'_>,
    ) -> rusqlite::Result<()> {
        guard(|| self.do_filter(idx_num, idx_str, args))
    }

    fn next(&mut self) -> rusqlite::Result<()> {
        guard(|| self.do_next())
    }

    fn eof(&self) -> bool {
        self.eof
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> rusqlite::Result<()> {
        guard(|| self.do_column(ctx, i))
    }

    fn rowid(&self) -> rusqlite::Result<i64> {
        guard(|| self.do_rowid())
    }
}

/// Run a cursor method, turning a panic (a bug, or a decoder meeting a corrupt file) into an
/// error for SQLite: a panic must not unwind into SQLite's C frames, where it would abort.
fn guard<T>(f: impl FnOnce() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(rusqlite::Error::ModuleError(format!(
            "internal error while reading the history: {what}"
        )))
    })
}

impl Cursor<'_> {
    fn do_filter(
        &mut self,
        _idx_num: c_int,
        idx_str: Option<&str>,
        args: &Filters<'_>,
    ) -> rusqlite::Result<()> {
        let plan = Plan::decode(idx_str.unwrap_or("0"))
            .ok_or_else(|| rusqlite::Error::ModuleError(format!("bad scan plan {idx_str:?}")))?;
        let values: Vec<_> = args.iter().collect();
        let shared = &self.tab.shared;
        self.start(&plan, &values).map_err(|e| shared.fail(e))
    }

    fn do_next(&mut self) -> rusqlite::Result<()> {
        if let Some(s) = &mut self.sorted {
            s.at += 1;
            self.eof = s.at >= s.items.len();
            return Ok(());
        }
        if self.tab.kind == Kind::Subjects {
            self.sub += 1;
            if self.sub < self.subs.len() {
                return Ok(());
            }
        }
        self.row += 1;
        self.settle().map_err(|e| self.tab.shared.fail(e))
    }

    fn do_column(&self, ctx: &mut Context, i: c_int) -> rusqlite::Result<()> {
        let col = usize::try_from(i)
            .ok()
            .and_then(|i| self.tab.kind.columns().get(i))
            .ok_or_else(|| rusqlite::Error::ModuleError(format!("no column {i}")))?;
        let (d, r, k) = self.position()?;
        let missing =
            || rusqlite::Error::ModuleError(format!("column {} was not decoded", col.name));
        match col.out {
            Out::Str(leaf) => {
                if let Some((_, v)) = self.fixed.iter().find(|(l, _)| *l == leaf) {
                    return ctx.set_result(v.as_str());
                }
                if let Some((g, at)) = self.gathered(leaf) {
                    return match g.get(at) {
                        Some(v) => ctx.set_result(v),
                        None => ctx.set_result(Null),
                    };
                }
                match &d.cols[leaf] {
                    Data::Dict(a, values) => match a.key(r) {
                        Some(k) => ctx.set_result(values.value(k)),
                        None => ctx.set_result(Null),
                    },
                    Data::Str(a) if a.is_valid(r) => ctx.set_result(a.value(r)),
                    Data::Str(_) => ctx.set_result(Null),
                    _ => Err(missing()),
                }
            }
            Out::Index => match &d.cols[LEDGER_INDEX] {
                Data::U64(a) => ctx.set_result(a.value(r) as i64),
                _ => Err(missing()),
            },
            Out::TimeMs | Out::TimeText => {
                let Data::Time(a) = &d.cols[TIME] else {
                    return Err(missing());
                };
                let t = a.value(r);
                if col.out == Out::TimeMs {
                    return ctx.set_result(t);
                }
                let mut buf = [0u8; 40];
                let n = {
                    let mut w = &mut buf[..];
                    write!(w, "{}", suho_record::time::Rfc3339(t))
                        .map_err(|e| rusqlite::Error::ModuleError(e.to_string()))?;
                    40 - w.len()
                };
                ctx.set_result(std::str::from_utf8(&buf[..n]).unwrap_or(""))
            }
            Out::Count => match &d.cols[SUBJECT_COUNT] {
                Data::U64(a) if a.is_valid(r) => {
                    ctx.set_result(i64::try_from(a.value(r)).unwrap_or(i64::MAX))
                }
                Data::U64(_) => ctx.set_result(Null),
                _ => Err(missing()),
            },
            Out::Json(leaf) => {
                let Data::List(a, values) = &d.cols[leaf] else {
                    return Err(missing());
                };
                if !a.is_valid(r) {
                    return ctx.set_result(Null);
                }
                let offs = a.value_offsets();
                let (s, e) = (offs[r] as usize, offs[r + 1] as usize);
                let mut t = self.text.borrow_mut();
                t.clear();
                t.push('[');
                for j in s..e {
                    if j > s {
                        t.push(',');
                    }
                    push_json_string(&mut t, values.value(j));
                }
                t.push(']');
                ctx.set_result(t.as_str())
            }
            Out::Subject => match (self.gathered(usize::MAX), &d.cols[SUBJECTS]) {
                (Some((g, at)), _) => match g.get(at) {
                    Some(v) => ctx.set_result(v),
                    None => Err(missing()),
                },
                (None, Data::List(_, values)) => ctx.set_result(values.value(k)),
                (None, _) => Err(missing()),
            },
        }
    }

    fn do_rowid(&self) -> rusqlite::Result<i64> {
        let (d, r, k) = self.position()?;
        let Data::U64(a) = &d.cols[LEDGER_INDEX] else {
            return Err(rusqlite::Error::ModuleError(
                "ledger_index was not decoded".into(),
            ));
        };
        let index = a.value(r) as i64;
        Ok(match (self.tab.kind, &d.cols[SUBJECTS]) {
            (Kind::Subjects, Data::List(l, _)) => {
                let start = l.value_offsets()[r] as usize;
                (index << SUBJECT_BITS) | k.saturating_sub(start) as i64
            }
            _ => index,
        })
    }

    /// Start the scan the plan describes, for the values `xFilter` received.
    fn start(&mut self, plan: &Plan, values: &[ValueRef<'_>]) -> Result<(), HistoryError> {
        let kind = self.tab.kind;
        let shared = &self.tab.shared;
        let bounds = Bounds::new(kind, plan, values);
        let mut used = used_leaves(kind, plan.col_used);
        // An equality fixes the value of its string column: it is returned without decoding
        // (only that column is made of that leaf; the row filter reads it on its own).
        for (leaf, _) in &bounds.eq {
            used[*leaf] = false;
        }
        let tasks = scan::plan(shared, &bounds)?;
        self.fixed = bounds.eq.clone();
        let reading = Reading {
            leaves: (0..LEAVES).filter(|&l| used[l]).collect(),
            bounds,
        };
        // Stop the previous scan's workers before starting new ones.
        self.source = Source::Empty;
        self.sorted = None;
        self.source = Source::new(tasks, reading, shared.threads);
        self.cur = None;
        self.row = 0;
        self.eof = false;
        if plan.order.is_empty() {
            return self.settle();
        }
        // Ordered: read everything, then sort the rows.
        let mut batches = Vec::new();
        let mut items = Vec::new();
        while let Some(b) = self.source.next_batch()? {
            let d = Decoded::new(&b, &shared.history)?;
            shared
                .stats
                .rows
                .fetch_add(d.rows as u64, Ordering::Relaxed);
            let batch = u32::try_from(batches.len())
                .map_err(|_| HistoryError::Invalid("too many batches to order".into()))?;
            match (kind, &d.cols[SUBJECTS]) {
                (Kind::Subjects, Data::List(list, values)) => {
                    for r in 0..d.rows {
                        distinct_in_row(list, values, r, &mut self.subs);
                        items.extend(self.subs.iter().map(|&k| Item {
                            batch,
                            row: r as u32,
                            k: k as u32,
                        }));
                    }
                }
                _ => items.extend((0..d.rows as u32).map(|row| Item { batch, row, k: 0 })),
            }
            batches.push(d);
        }
        self.source = Source::Empty;
        let mut first = order::sort(kind, &batches, &mut items, &plan.order, &self.fixed)?;
        // The first ORDER BY column comes back in order with the sort; the other used string
        // columns are laid out in order here.
        let mut take_first = |out: Out| match &first {
            Some((col, _)) if kind.columns()[*col].out == out => first.take().map(|(_, g)| g),
            _ => None,
        };
        let strings = (0..LEAVES)
            .map(|leaf| {
                let string = kind.columns().iter().any(|c| c.out == Out::Str(leaf));
                if !string || !used[leaf] {
                    return None;
                }
                take_first(Out::Str(leaf)).or_else(|| order::gather(&batches, &items, leaf, false))
            })
            .collect();
        let subject = (kind == Kind::Subjects)
            .then(|| {
                take_first(Out::Subject).or_else(|| order::gather(&batches, &items, SUBJECTS, true))
            })
            .flatten();
        self.eof = items.is_empty();
        self.sorted = Some(Sorted {
            batches,
            items,
            at: 0,
            strings,
            subject,
        });
        Ok(())
    }

    /// In an ordered scan, the gathered string column `leaf` (`usize::MAX`: the subject) and
    /// the current item.
    fn gathered(&self, leaf: usize) -> Option<(&Gathered, usize)> {
        let s = self.sorted.as_ref()?;
        let g = if leaf == usize::MAX {
            s.subject.as_ref()
        } else {
            s.strings.get(leaf)?.as_ref()
        };
        g.map(|g| (g, s.at))
    }

    /// The current row: its batch, its row in the batch, and for `record_subjects` the offset
    /// of its subject.
    fn position(&self) -> rusqlite::Result<(&Decoded, usize, usize)> {
        let none = || rusqlite::Error::ModuleError("no current row".into());
        if let Some(s) = &self.sorted {
            let it = s.items.get(s.at).ok_or_else(none)?;
            let d = s.batches.get(it.batch as usize).ok_or_else(none)?;
            return Ok((d, it.row as usize, it.k as usize));
        }
        let d = self.cur.as_ref().ok_or_else(none)?;
        Ok((d, self.row, self.subs.get(self.sub).copied().unwrap_or(0)))
    }

    /// Move to the first row at or after `self.row` that has something to return, reading the
    /// next batch when this one is done; set `eof` at the end.
    fn settle(&mut self) -> Result<(), HistoryError> {
        loop {
            let rows = self.cur.as_ref().map_or(0, |d| d.rows);
            if self.row < rows {
                if self.tab.kind == Kind::Records {
                    return Ok(());
                }
                if let Some(Data::List(list, values)) = self.cur.as_ref().map(|d| &d.cols[SUBJECTS])
                {
                    distinct_in_row(list, values, self.row, &mut self.subs);
                }
                self.sub = 0;
                if !self.subs.is_empty() {
                    return Ok(());
                }
                self.row += 1;
                continue;
            }
            match self.source.next_batch()? {
                Some(b) => {
                    let rows = b.num_rows() as u64;
                    self.cur = Some(Decoded::new(&b, &self.tab.shared.history)?);
                    self.tab
                        .shared
                        .stats
                        .rows
                        .fetch_add(rows, Ordering::Relaxed);
                    self.row = 0;
                }
                None => {
                    self.cur = None;
                    self.source = Source::Empty;
                    self.eof = true;
                    return Ok(());
                }
            }
        }
    }
}

/// Append `s` as a JSON string (RFC 8259).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_string(&mut s, "c,\"q\"\\\n\u{1}é");
        assert_eq!(s, r#""c,\"q\"\\\n\u0001é""#);
        let v: String = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v, "c,\"q\"\\\n\u{1}é");
    }
}
