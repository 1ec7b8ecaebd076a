//! Reading what a company hands over: a file of hex hashes, or a CSV of plain contacts that is
//! hashed as it is read. Either is read whole before anything is stored, so a bad line stops
//! the load with its line number and leaves the store as it was.
//!
//! Plain contact values live only in the reading buffer of one line: they are never kept,
//! stored or put into an error message.

use std::io::BufRead;

use crate::{Error, IdHash, Identifier, Kind};

/// Reads hex hashes, one per line: 64 hexadecimal digits (either case), surrounding whitespace
/// ignored. Blank lines and lines starting with `#` are skipped. The first bad line is an
/// error naming it.
pub fn read_hex_hashes(reader: impl BufRead) -> Result<Vec<IdHash>, Error> {
    let mut out = Vec::new();
    for_each_line(reader, |n, line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        let hash = line.parse::<IdHash>().map_err(|e| Error::Line {
            line: n,
            reason: match e {
                Error::Hash { reason } => reason,
                other => other.to_string(),
            },
        })?;
        out.push(hash);
        Ok(())
    })?;
    Ok(out)
}

/// What hashing a contacts CSV gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashedContacts {
    /// One hash per email and per phone number, in file order (not deduplicated).
    pub hashes: Vec<IdHash>,
    /// Data rows read (the header not counted).
    pub rows: usize,
    /// Emails hashed.
    pub emails: usize,
    /// Phone numbers hashed.
    pub phones: usize,
    /// Rows with neither an email nor a phone number (nothing to hash).
    pub without_contact: usize,
}

/// Reads a CSV of contacts and hashes each email and phone number.
///
/// The first non-blank line is the header; it names the columns, in any order and any case:
/// `email` and `phone` (at least one of them), `subject_id` and any other column are read past.
/// Fields may be quoted as in RFC 4180 (`"..."`, with `""` for a quote), but a field may not
/// span lines. An empty field means "none". A UTF-8 byte-order mark at the start is ignored.
/// The first bad row is an error naming its line and column, never its values.
pub fn hash_contacts_csv(reader: impl BufRead) -> Result<HashedContacts, Error> {
    let mut columns: Option<(Option<usize>, Option<usize>, usize)> = None;
    let mut out = HashedContacts::default();
    for_each_line(reader, |n, line| {
        let line = if n == 1 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Ok(());
        }
        let fields = split_csv(line).map_err(|reason| Error::Line {
            line: n,
            reason: reason.to_owned(),
        })?;
        let Some((email_col, phone_col, width)) = columns else {
            columns = Some(header(&fields).map_err(|reason| Error::Line { line: n, reason })?);
            return Ok(());
        };
        if fields.len() != width {
            return Err(Error::Line {
                line: n,
                reason: format!("{} fields, but the header has {width}", fields.len()),
            });
        }
        out.rows += 1;
        let mut any = false;
        for (kind, col) in [(Kind::Email, email_col), (Kind::Phone, phone_col)] {
            let Some(col) = col else { continue };
            let value = &fields[col];
            if value.trim().is_empty() {
                continue;
            }
            let id = Identifier::new(kind, value).map_err(|e| Error::Line {
                line: n,
                reason: format!("column {}: {e}", col + 1),
            })?;
            out.hashes.push(id.hash());
            match kind {
                Kind::Email => out.emails += 1,
                Kind::Phone => out.phones += 1,
            }
            any = true;
        }
        if !any {
            out.without_contact += 1;
        }
        Ok(())
    })?;
    if columns.is_none() {
        return Err(Error::Line {
            line: 1,
            reason: "the file is empty: expected a header line such as subject_id,email,phone"
                .to_owned(),
        });
    }
    Ok(out)
}

/// The positions of the `email` and `phone` columns, and the number of columns.
type Columns = (Option<usize>, Option<usize>, usize);

fn header(fields: &[String]) -> Result<Columns, String> {
    let find = |name: &str| -> Result<Option<usize>, String> {
        let mut found = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.trim().eq_ignore_ascii_case(name))
            .map(|(i, _)| i);
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("the header names the column `{name}` twice"));
        }
        Ok(first)
    };
    let email = find("email")?;
    let phone = find("phone")?;
    if email.is_none() && phone.is_none() {
        return Err(
            "the header names neither an `email` nor a `phone` column (expected e.g. subject_id,email,phone)"
                .to_owned(),
        );
    }
    Ok((email, phone, fields.len()))
}

/// Splits one CSV line into fields (RFC 4180 quoting, no line breaks inside a field).
fn split_csv(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut at_field_start = true;
    loop {
        if at_field_start && chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(
                        "a quoted field is not closed (fields spanning lines are not supported)",
                    ),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    return Ok(fields);
                }
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    continue;
                }
                Some(_) => return Err("text after a closing quote; quote the whole field"),
            }
        }
        at_field_start = false;
        match chars.next() {
            None => {
                fields.push(field);
                return Ok(fields);
            }
            Some(',') => {
                fields.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            Some('"') => return Err("a quote inside an unquoted field; quote the whole field"),
            Some(c) => field.push(c),
        }
    }
}

/// Calls `f` with each line (1-based number, text without the line end). A line that is not
/// UTF-8 is an error naming it.
fn for_each_line(
    mut reader: impl BufRead,
    mut f: impl FnMut(usize, &str) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(Error::Read)? == 0 {
            return Ok(());
        }
        n += 1;
        let text = std::str::from_utf8(&buf).map_err(|e| Error::Line {
            line: n,
            reason: format!("not UTF-8 (byte {})", e.valid_up_to() + 1),
        })?;
        f(n, text.trim_end_matches(['\n', '\r']))?;
    }
}

#[cfg(test)]
mod tests {
    // A failed unwrap in a test is a failed test with a backtrace: what we want here.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn line_err(r: Result<impl std::fmt::Debug, Error>) -> (usize, String) {
        match r {
            Err(Error::Line { line, reason }) => (line, reason),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn hex_lines_in_either_case_with_comments_and_blanks() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let text = format!("# hashes\n{a}\r\n\n  {b}  \n");
        let got = read_hex_hashes(text.as_bytes()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].to_string(), "A".repeat(64));
        assert_eq!(got[1].to_string(), b);
    }

    #[test]
    fn a_bad_hex_line_is_named() {
        let good = "c".repeat(64);
        let text = format!("{good}\n{good}\n{}\n{good}\n", "c".repeat(63));
        assert_eq!(
            line_err(read_hex_hashes(text.as_bytes())),
            (
                3,
                "expected 64 hexadecimal digits (a SHA-256), found 63 characters".to_owned()
            )
        );
        let text = format!("{good}\n{}x\n", "c".repeat(63));
        let (line, reason) = line_err(read_hex_hashes(text.as_bytes()));
        assert_eq!(line, 2);
        assert!(reason.contains("character 64"), "{reason}");
        let mut bytes = format!("{good}\n").into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        let (line, reason) = line_err(read_hex_hashes(&bytes[..]));
        assert_eq!(line, 2);
        assert!(reason.contains("not UTF-8"), "{reason}");
    }

    #[test]
    fn csv_hashes_emails_and_phones_as_identifiers_do() {
        let text = "\u{feff}subject_id,email,phone\r\n\
                    c-1,Kim@Example.com,010-1234-5678\r\n\
                    c-2,,+82 10 9999 0000\r\n\
                    \"c-3, the third\",\"lee@example.com\",\r\n\
                    c-4,,\r\n";
        let got = hash_contacts_csv(text.as_bytes()).unwrap();
        assert_eq!(got.rows, 4);
        assert_eq!(got.emails, 2);
        assert_eq!(got.phones, 2);
        assert_eq!(got.without_contact, 1);
        let want = vec![
            Identifier::email("kim@example.com").unwrap().hash(),
            Identifier::phone("01012345678").unwrap().hash(),
            Identifier::phone("01099990000").unwrap().hash(),
            Identifier::email("lee@example.com").unwrap().hash(),
        ];
        assert_eq!(got.hashes, want);
    }

    #[test]
    fn csv_columns_in_any_order_and_case() {
        let text = "Phone,Subject_ID,extra\n010-1234-5678,c-1,x\n";
        let got = hash_contacts_csv(text.as_bytes()).unwrap();
        assert_eq!(
            got.hashes,
            vec![Identifier::phone("010-1234-5678").unwrap().hash()]
        );
    }

    #[test]
    fn a_bad_csv_line_is_named_without_its_values() {
        let text = "subject_id,email,phone\nc-1,kim@example.com,010-1234-5678\nc-2,park.example.com,010-2222-3333\n";
        let (line, reason) = line_err(hash_contacts_csv(text.as_bytes()));
        assert_eq!(line, 3);
        assert_eq!(reason, "column 2: email: no '@'");

        let text =
            "subject_id,email,phone\nc-1,kim@example.com,010-1234-5678\nc-2,,010-12345678-99\n";
        let (line, reason) = line_err(hash_contacts_csv(text.as_bytes()));
        assert_eq!(line, 3);
        assert!(reason.starts_with("column 3: phone: "), "{reason}");
        assert!(!reason.contains("12345678"), "{reason}");

        let text = "subject_id,email,phone\nc-1,kim@example.com\n";
        let (line, reason) = line_err(hash_contacts_csv(text.as_bytes()));
        assert_eq!(
            (line, reason.as_str()),
            (2, "2 fields, but the header has 3")
        );

        let text = "subject_id,email,phone\n\nc-1,\"kim@example.com,010\n";
        let (line, reason) = line_err(hash_contacts_csv(text.as_bytes()));
        assert_eq!(line, 3);
        assert!(reason.contains("not closed"), "{reason}");
    }

    #[test]
    fn csv_header_must_name_a_contact_column() {
        let (line, reason) = line_err(hash_contacts_csv("id,name\nc-1,Kim\n".as_bytes()));
        assert_eq!(line, 1);
        assert!(
            reason.contains("neither an `email` nor a `phone`"),
            "{reason}"
        );
        let (_, reason) = line_err(hash_contacts_csv("email,EMAIL\n".as_bytes()));
        assert!(reason.contains("twice"), "{reason}");
        let (line, reason) = line_err(hash_contacts_csv("".as_bytes()));
        assert_eq!(line, 1);
        assert!(reason.contains("empty"), "{reason}");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(split_csv("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            split_csv("\"a,1\",\"b\"\"q\"\"\",").unwrap(),
            ["a,1", "b\"q\"", ""]
        );
        assert_eq!(split_csv("").unwrap(), [""]);
        assert_eq!(split_csv(",").unwrap(), ["", ""]);
        assert!(split_csv("\"a\"b,c").is_err());
        assert!(split_csv("a\"b,c").is_err());
    }
}
