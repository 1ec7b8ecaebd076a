//! `suho sql`: SQL over the history for threat hunting. SQLite's dialect over the virtual
//! tables `records` and `record_subjects`, which read the Parquet history directly (see
//! `suho_history::SqlSession`). Read-only: anything but a query is refused.

use std::io::{self, BufWriter, Read, Write};
use std::time::Instant;
use suho_app::App;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use suho_history::{History, HistoryError, SqlError, SqlSession, SqlValue, SQL_TABLES_HELP};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    /// Aligned columns for people (long cells are cut).
    Table,
    /// RFC 4180 CSV with a header row; NULL is an empty field.
    Csv,
    /// One JSON object per row, numbers as numbers, NULL as null.
    Ndjson,
}

#[derive(Args, Clone)]
#[command(after_help = SQL_TABLES_HELP)]
pub struct SqlArgs {
    /// The query (SQLite SQL), or `-` to read it from standard input. Example:
    /// "SELECT count(DISTINCT subject) FROM record_subjects WHERE credential = 'tok-1'"
    pub query: String,
    /// Output form.
    #[arg(long, value_enum, default_value = "table")]
    pub format: SqlFormat,
    /// Print at most this many rows.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Print what the scans read (files, row groups, rows) to standard error.
    #[arg(long)]
    pub stats: bool,
    /// Why you run this query (recorded in the ledger with your name and the query).
    #[arg(long, env = "SUHO_REASON", default_value = "no reason given")]
    pub reason: String,
    /// Who runs it (default: SUHO_OPERATOR, else the login name).
    #[arg(long = "as")]
    pub operator: Option<String>,
}

/// Runs `suho sql`; exit status 2 when the statement is bad SQL or not a query.
pub fn sql(app: &App, a: SqlArgs) -> Result<i32> {
    let query = if a.query == "-" {
        let mut q = String::new();
        io::stdin()
            .read_to_string(&mut q)
            .context("reading the query from standard input")?;
        q
    } else {
        a.query.clone()
    };
    let layout = app.dir().layout();
    catch_up(app)?;

    let started = Instant::now();
    let session = SqlSession::open(layout)?;
    let mut q = match session.prepare(&query) {
        Ok(q) => q,
        Err(e @ (SqlError::Sql { .. } | SqlError::NotAQuery { .. })) => {
            eprintln!("error: {e}");
            return Ok(2);
        }
        Err(e) => return Err(e.into()),
    };
    let columns = q.columns().to_vec();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut printer = Printer::new(a.format, &columns);
    let run = q
        .for_each(a.limit, |row| printer.row(&mut out, row))
        .and_then(|n| {
            printer.finish(&mut out).map_err(SqlError::Output)?;
            out.flush().map_err(SqlError::Output)?;
            Ok(n)
        });
    // `suho sql ... | head`: the reader has what it wanted; the query still ran, and is
    // recorded below (its row count unknown).
    let mut reader_left = false;
    let rows = match run {
        Ok(n) => Some(n),
        Err(SqlError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            reader_left = true;
            None
        }
        Err(e @ SqlError::Sql { .. }) => {
            let _ = out.flush();
            eprintln!("error: {e}");
            return Ok(2);
        }
        Err(e) => return Err(e.into()),
    };
    let elapsed = started.elapsed();
    if let (SqlFormat::Table, Some(rows)) = (a.format, rows) {
        eprintln!(
            "({rows} row{}, {:.2} s)",
            if rows == 1 { "" } else { "s" },
            elapsed.as_secs_f64()
        );
    }
    if a.stats {
        let s = session.stats();
        eprintln!(
            "scans {}, files {}, row groups read {} of {}, records decoded {}",
            s.scans, s.files, s.row_groups_read, s.row_groups, s.rows_decoded
        );
    }
    // A query over who-read-whom is itself an access to personal data: record it.
    let who = suho_app::own_use::operator(a.operator.as_deref());
    let recorded = suho_app::own_use::record(
        app,
        suho_app::own_use::OwnUse {
            actor: &who,
            action: "search",
            resource: "suho sql".into(),
            purpose: &a.reason,
            subject_count: None,
            fields: Vec::new(),
            attrs: serde_json::json!({
                "suho_event": "suho.sql",
                "query": query,
                "rows": rows,
                "seconds": elapsed.as_secs_f64(),
            }),
        },
    )?;
    if a.format == SqlFormat::Table && !reader_left {
        eprintln!("this query was {recorded}");
    }
    Ok(0)
}

/// Index what the ledger stored since the last sync; print nothing when nothing is new.
fn catch_up(app: &App) -> Result<()> {
    if let suho_app::recovery::Recovered::Live { writer, checkpoint } =
        suho_app::recovery::recover(app).context("recovering the ledger before answering")?
    {
        eprintln!(
            "note: a running suho process ({writer}) holds the ledger; the history covers the \
             {checkpoint} records of its newest checkpoint"
        );
    }
    match History::sync_with(
        app.dir().layout(),
        &crate::scope_cmd::sync_options(app)?,
        |_| {},
    ) {
        Ok(r) => {
            if r.records > 0 {
                eprintln!(
                    "history: indexed {} new record{} (through ledger index {})",
                    r.records,
                    if r.records == 1 { "" } else { "s" },
                    r.to.saturating_sub(1)
                );
            }
            if let Some(first) = &r.first_unreadable {
                eprintln!(
                    "warning: {} stored record(s) could not be indexed; the first: {first}",
                    r.unreadable
                );
            }
            Ok(())
        }
        Err(HistoryError::Busy { .. }) => {
            eprintln!(
                "note: another process is syncing the history; querying what is indexed so far"
            );
            Ok(())
        }
        Err(e) => Err(e).context("catching the history up with the ledger"),
    }
}

/// Rows the table form looks at to size its columns; later rows are cut to those widths.
const TABLE_SAMPLE: usize = 1000;
/// Widest column of the table form, in terminal cells.
const MAX_CELL: usize = 48;

struct Printer<'a> {
    format: SqlFormat,
    columns: &'a [String],
    started: bool,
    /// Table: rows held back to size the columns, and the widths once known.
    held: Vec<Vec<SqlValue>>,
    widths: Option<Vec<usize>>,
}

impl<'a> Printer<'a> {
    fn new(format: SqlFormat, columns: &'a [String]) -> Printer<'a> {
        Printer {
            format,
            columns,
            started: false,
            held: Vec::new(),
            widths: None,
        }
    }

    fn row(&mut self, out: &mut impl Write, row: &[SqlValue]) -> io::Result<()> {
        match self.format {
            SqlFormat::Csv => {
                if !self.started {
                    self.started = true;
                    let header: Vec<String> = self.columns.iter().map(|c| csv_field(c)).collect();
                    writeln!(out, "{}", header.join(","))?;
                }
                let cells: Vec<String> = row
                    .iter()
                    .map(|v| match v {
                        SqlValue::Null => String::new(),
                        v => csv_field(&v.to_text()),
                    })
                    .collect();
                writeln!(out, "{}", cells.join(","))
            }
            SqlFormat::Ndjson => {
                let mut line = String::from("{");
                for (i, (c, v)) in self.columns.iter().zip(row).enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str(&serde_json::Value::from(c.as_str()).to_string());
                    line.push(':');
                    line.push_str(&v.to_json().to_string());
                }
                line.push('}');
                writeln!(out, "{line}")
            }
            SqlFormat::Table => {
                if self.widths.is_some() {
                    return self.table_row(out, row);
                }
                self.held.push(row.to_vec());
                if self.held.len() >= TABLE_SAMPLE {
                    self.flush_held(out)?;
                }
                Ok(())
            }
        }
    }

    fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        match self.format {
            SqlFormat::Table if self.widths.is_none() => self.flush_held(out),
            SqlFormat::Csv if !self.started => {
                let header: Vec<String> = self.columns.iter().map(|c| csv_field(c)).collect();
                writeln!(out, "{}", header.join(","))
            }
            _ => Ok(()),
        }
    }

    /// Size the columns from the held rows, print the header and them.
    fn flush_held(&mut self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.columns.iter().map(|c| width(c)).collect();
        for row in &self.held {
            for (w, v) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(&one_line(&v.to_text())));
            }
        }
        for w in &mut widths {
            *w = (*w).min(MAX_CELL);
        }
        let header: Vec<String> = self
            .columns
            .iter()
            .zip(&widths)
            .map(|(c, &w)| pad(&cut(c, w), w, false))
            .collect();
        writeln!(out, "{}", header.join("  ").trim_end())?;
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        writeln!(out, "{}", rule.join("  "))?;
        self.widths = Some(widths);
        for row in std::mem::take(&mut self.held) {
            self.table_row(out, &row)?;
        }
        Ok(())
    }

    fn table_row(&self, out: &mut impl Write, row: &[SqlValue]) -> io::Result<()> {
        let Some(widths) = &self.widths else {
            return Ok(());
        };
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(v, &w)| {
                let numeric = matches!(v, SqlValue::Integer(_) | SqlValue::Real(_));
                let text = match v {
                    SqlValue::Null => "NULL".into(),
                    v => one_line(&v.to_text()),
                };
                pad(&cut(&text, w), w, numeric)
            })
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Line breaks and tabs shown as escapes, so a table row stays on one line.
fn one_line(s: &str) -> String {
    if !s.contains(['\n', '\r', '\t']) {
        return s.to_string();
    }
    s.replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\t', "\\t")
}

/// Terminal cells a character takes: two for Hangul and other wide East Asian characters.
fn char_width(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA960..=0xA97F
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 => 2,
        _ => 1,
    }
}

fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `s` cut to `w` cells, ending in `…` when cut.
fn cut(s: &str, w: usize) -> String {
    if width(s) <= w {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if used + cw + 1 > w {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: SqlFormat, columns: &[&str], rows: &[Vec<SqlValue>]) -> String {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let mut p = Printer::new(format, &columns);
        let mut out = Vec::new();
        for r in rows {
            p.row(&mut out, r).expect("row");
        }
        p.finish(&mut out).expect("finish");
        String::from_utf8(out).expect("utf-8")
    }

    fn rows() -> Vec<Vec<SqlValue>> {
        vec![
            vec![
                SqlValue::Text("emp-001".into()),
                SqlValue::Integer(12),
                SqlValue::Null,
            ],
            vec![
                SqlValue::Text("a, \"quoted\"\nline".into()),
                SqlValue::Real(0.5),
                SqlValue::Text("x".repeat(100)),
            ],
        ]
    }

    #[test]
    fn csv_quotes_what_it_must() {
        let s = render(SqlFormat::Csv, &["actor", "n", "note"], &rows());
        let lines: Vec<&str> = s.split_inclusive('\n').collect();
        assert_eq!(lines[0], "actor,n,note\n");
        assert_eq!(lines[1], "emp-001,12,\n");
        assert!(s.contains("\"a, \"\"quoted\"\"\nline\",0.5,"), "{s}");
        // A header even without rows.
        assert_eq!(render(SqlFormat::Csv, &["a"], &[]), "a\n");
    }

    #[test]
    fn ndjson_keeps_types() {
        let s = render(SqlFormat::Ndjson, &["actor", "n", "note"], &rows());
        let first: serde_json::Value =
            serde_json::from_str(s.lines().next().expect("a line")).expect("json");
        assert_eq!(
            first,
            serde_json::json!({"actor": "emp-001", "n": 12, "note": null})
        );
        assert_eq!(s.lines().count(), 2);
    }

    #[test]
    fn tables_align_and_cut_long_cells() {
        let s = render(SqlFormat::Table, &["actor", "n", "note"], &rows());
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 4, "{s}");
        assert!(lines[0].starts_with("actor"), "{s}");
        assert!(lines[1].starts_with("---"), "{s}");
        // Numbers are right-aligned under their header, NULL is spelled out.
        assert!(lines[2].contains(" 12  NULL"), "{s}");
        // The newline is escaped and the 100-character cell is cut to the widest column.
        assert!(lines[3].contains("quoted\"\\nline"), "{s}");
        assert!(lines[3].ends_with('…'), "{s}");
        assert!(width(lines[3]) <= 25 + 2 + 3 + 2 + MAX_CELL, "{s}");
        assert_eq!(width("수호"), 4);
        assert_eq!(cut("수호수호", 5), "수호…");
    }
}
