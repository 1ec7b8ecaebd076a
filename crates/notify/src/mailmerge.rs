//! The mail-merge list: one CSV row per data subject with that subject's own leaked
//! categories, which the company joins with its contact database to send each notice.

use std::io::{self, Write};
use std::path::Path;

use suho_record::time::Rfc3339;

use crate::categories;
use crate::draft::write_atomic;
use crate::text::kst;
use crate::NotifyError;

/// The file name of the mail-merge list in the output directory.
pub const MAIL_MERGE_FILE: &str = "mail-merge.csv";

/// The header row.
pub const MAIL_MERGE_HEADER: &str = "subject_id,categories_ko,categories_en,first_access,\
last_access,accesses,first_access_kst,last_access_kst";

/// One subject of the scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRow<'a> {
    /// The subject id, as the access records name it.
    pub subject: &'a str,
    /// The categories of this subject's data that were accessed.
    pub fields: Vec<&'a str>,
    /// First access (epoch ms).
    pub first_ms: i64,
    /// Last access (epoch ms).
    pub last_ms: i64,
    /// Number of accesses.
    pub accesses: u64,
}

/// Append `s` to `out` as one CSV field (RFC 4180: quoted when it holds a comma, quote or
/// line break; quotes doubled).
pub(crate) fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        for c in s.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn row(out: &mut String, r: &SubjectRow<'_>) {
    use std::fmt::Write as _;
    let mut fields = r.fields.clone();
    fields.sort_by(|a, b| categories::order(a).cmp(&categories::order(b)));
    fields.dedup();
    let ko: Vec<&str> = fields.iter().map(|f| categories::name_ko(f)).collect();
    let en: Vec<&str> = fields.iter().map(|f| categories::name_en(f)).collect();
    csv_field(out, r.subject);
    out.push(',');
    csv_field(out, &ko.join(", "));
    out.push(',');
    csv_field(out, &en.join(", "));
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        ",{},{},{},{},{}\r\n",
        Rfc3339(r.first_ms),
        Rfc3339(r.last_ms),
        r.accesses,
        kst(r.first_ms),
        kst(r.last_ms)
    );
}

/// Write the mail-merge CSV (header, then one row per subject, CRLF line ends as RFC 4180
/// has them) to `w`. Returns the number of subjects written.
pub fn write_mail_merge<'a, W: Write>(
    mut w: W,
    rows: impl IntoIterator<Item = SubjectRow<'a>>,
) -> io::Result<u64> {
    w.write_all(MAIL_MERGE_HEADER.as_bytes())?;
    w.write_all(b"\r\n")?;
    let mut line = String::with_capacity(256);
    let mut n = 0u64;
    for r in rows {
        line.clear();
        row(&mut line, &r);
        w.write_all(line.as_bytes())?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// [`write_mail_merge`] into the file `path`, atomically.
pub fn write_mail_merge_file<'a>(
    path: &Path,
    rows: impl IntoIterator<Item = SubjectRow<'a>>,
) -> Result<u64, NotifyError> {
    let mut n = 0;
    write_atomic(path, |w| {
        n = write_mail_merge(w, rows)?;
        Ok(())
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        // A minimal RFC 4180 reader, enough to check the writer round-trips.
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if quoted {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                } else {
                    field.push(c);
                }
            } else {
                match c {
                    '"' => quoted = true,
                    ',' => row.push(std::mem::take(&mut field)),
                    '\r' => {}
                    '\n' => {
                        row.push(std::mem::take(&mut field));
                        rows.push(std::mem::take(&mut row));
                    }
                    _ => field.push(c),
                }
            }
        }
        rows
    }

    #[test]
    fn awkward_subject_ids_are_quoted_and_round_trip() {
        let ids = [
            "c-00417",
            "kim, minsu",
            "say \"hi\"",
            "line\nbreak",
            "\"",
            "",
        ];
        let rows = ids.iter().map(|&s| SubjectRow {
            subject: s,
            fields: vec!["phone", "name", "shoe_size"],
            first_ms: 1_749_214_161_380,
            last_ms: 1_758_932_699_874,
            accesses: 3,
        });
        let mut buf = Vec::new();
        assert_eq!(write_mail_merge(&mut buf, rows).unwrap(), ids.len() as u64);
        let text = String::from_utf8(buf).unwrap();
        assert!(text.contains("\"kim, minsu\""));
        assert!(text.contains("\"say \"\"hi\"\"\""));
        let parsed = parse_csv(&text);
        assert_eq!(parsed.len(), ids.len() + 1);
        assert_eq!(parsed[0].join(","), MAIL_MERGE_HEADER);
        for (row, id) in parsed[1..].iter().zip(ids) {
            assert_eq!(row.len(), 8, "{row:?}");
            assert_eq!(row[0], id);
            assert_eq!(row[1], "이름, 전화번호, shoe_size");
            assert_eq!(row[2], "Name, Phone number, shoe_size");
            assert_eq!(row[3], "2025-06-06T12:49:21.380Z");
            assert_eq!(row[4], "2025-09-27T00:24:59.874Z");
            assert_eq!(row[5], "3");
            assert_eq!(row[6], "2025-06-06 21:49 KST");
        }
    }

    #[test]
    fn each_row_holds_only_that_subjects_categories() {
        let rows = vec![
            SubjectRow {
                subject: "a",
                fields: vec!["entrance_code"],
                first_ms: 0,
                last_ms: 0,
                accesses: 1,
            },
            SubjectRow {
                subject: "b",
                fields: vec!["resident_registration_number", "email"],
                first_ms: 0,
                last_ms: 0,
                accesses: 2,
            },
        ];
        let mut buf = Vec::new();
        write_mail_merge(&mut buf, rows).unwrap();
        let parsed = parse_csv(std::str::from_utf8(&buf).unwrap());
        assert_eq!(parsed[1][1], "공동현관 출입번호");
        assert_eq!(parsed[2][1], "이메일, 주민등록번호");
        assert_eq!(parsed[2][2], "Email address, Resident registration number");
    }
}
