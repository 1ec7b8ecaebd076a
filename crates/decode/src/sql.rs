//! Just enough SQL to read an audited statement: which tables it names (with their aliases),
//! which literal keys it compares columns with (`WHERE id = 123`, `c.id IN (1,2)`,
//! `customer_id = $1`, `= ANY('{1,2}')`), which columns it returns, sets or inserts, and the
//! values an `INSERT ... VALUES` writes. It never fails: what it does not understand it skips.

use std::borrow::Cow;

/// One SQL token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    /// An identifier or keyword, lowercased (a quoted identifier keeps its case).
    Word(Cow<'a, str>),
    /// A string literal's value.
    Str(Cow<'a, str>),
    /// A number as written.
    Num(&'a str),
    /// `$n`.
    Param(usize),
    /// Punctuation and operators.
    Sym(&'a str),
}

impl Tok<'_> {
    fn is_word(&self, w: &str) -> bool {
        matches!(self, Tok::Word(x) if x == w)
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self, Tok::Sym(x) if *x == s)
    }
}

/// The tokens of `sql` (comments dropped).
pub(crate) fn tokens(sql: &str) -> Vec<Tok<'_>> {
    let b = sql.as_bytes();
    let mut out = Vec::with_capacity(sql.len() / 4);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'\'' => {
                let (s, n) = quoted(sql, i, b'\'', false);
                out.push(Tok::Str(s));
                i = n;
            }
            b'e' | b'E' if b.get(i + 1) == Some(&b'\'') => {
                let (s, n) = quoted(sql, i + 1, b'\'', true);
                out.push(Tok::Str(s));
                i = n;
            }
            b'"' => {
                let (s, n) = quoted(sql, i, b'"', false);
                out.push(Tok::Word(s));
                i = n;
            }
            b'$' => {
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 {
                    let n = sql[i + 1..i + 1 + digits].parse().unwrap_or(0);
                    out.push(Tok::Param(n));
                    i += 1 + digits;
                } else {
                    // Dollar quoting: $tag$ ... $tag$.
                    let tag_len = b[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                        .count();
                    if b.get(i + 1 + tag_len) == Some(&b'$') {
                        let tag = &sql[i..i + tag_len + 2];
                        let body = i + tag.len();
                        match sql[body..].find(tag) {
                            Some(e) => {
                                out.push(Tok::Str(Cow::Borrowed(&sql[body..body + e])));
                                i = body + e + tag.len();
                            }
                            None => {
                                out.push(Tok::Str(Cow::Borrowed(&sql[body..])));
                                i = b.len();
                            }
                        }
                    } else {
                        out.push(Tok::Sym(&sql[i..i + 1]));
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                let w = &sql[start..i];
                out.push(Tok::Word(if w.bytes().any(|c| c.is_ascii_uppercase()) {
                    Cow::Owned(w.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(w)
                }));
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let start = i;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    let mut j = i + 1;
                    if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                        j += 1;
                    }
                    if j < b.len() && b[j].is_ascii_digit() {
                        i = j;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Num(&sql[start..i]));
            }
            _ => {
                let two = sql.get(i..i + 2).unwrap_or("");
                let n = if ["::", "<>", "!=", "<=", ">=", "||"].contains(&two) {
                    2
                } else {
                    // One character, however many bytes it takes.
                    sql[i..].chars().next().map_or(1, char::len_utf8)
                };
                out.push(Tok::Sym(&sql[i..i + n]));
                i += n;
            }
        }
    }
    out
}

/// A quoted literal or identifier starting at `open` (the quote), with the quote doubled as
/// its escape (and backslash escapes for `E'...'`); returns its value and the index after it.
fn quoted(sql: &str, open: usize, q: u8, backslash: bool) -> (Cow<'_, str>, usize) {
    let b = sql.as_bytes();
    let mut i = open + 1;
    let mut owned: Option<String> = None;
    let mut seg = i;
    while i < b.len() {
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                let s = owned.get_or_insert_with(String::new);
                s.push_str(&sql[seg..=i]);
                i += 2;
                seg = i;
                continue;
            }
            let value = match owned {
                Some(mut s) => {
                    s.push_str(&sql[seg..i]);
                    Cow::Owned(s)
                }
                None => Cow::Borrowed(&sql[seg..i]),
            };
            return (value, i + 1);
        }
        if backslash && b[i] == b'\\' && i + 1 < b.len() {
            let s = owned.get_or_insert_with(String::new);
            s.push_str(&sql[seg..i]);
            let next = sql[i + 1..].chars().next().unwrap_or('\\');
            s.push(match next {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                c => c,
            });
            i += 1 + next.len_utf8();
            seg = i;
            continue;
        }
        i += 1;
    }
    let value = match owned {
        Some(mut s) => {
            s.push_str(&sql[seg..]);
            Cow::Owned(s)
        }
        None => Cow::Borrowed(&sql[seg..]),
    };
    (value, b.len())
}

/// A value a statement compares or writes: a literal, or a `$n` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Lit(String),
    Param(usize),
}

/// A column reference: `col`, `q.col` or `schema.table.col` (the qualifier is what precedes
/// the column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColRef {
    pub qualifier: Option<String>,
    pub column: String,
}

/// An INSERT: its table (an index into [`Statement::tables`]), its column list (empty: all, in
/// table order), and the rows of VALUES (None for an item that is an expression).
pub(crate) type Insert = (usize, Vec<String>, Vec<Vec<Option<Val>>>);

/// What a statement says, as far as the decoders need.
#[derive(Debug, Default)]
pub(crate) struct Statement {
    /// The first keyword (`select`, `update`, `copy`, ...).
    pub verb: String,
    /// Tables named after FROM, JOIN, UPDATE, INTO, COPY, TABLE: (name as written, lowercased).
    pub tables: Vec<String>,
    /// alias -> index into `tables`.
    pub aliases: Vec<(String, usize)>,
    /// Column compared with literal values (`=`, `IN`, `= ANY`).
    pub comparisons: Vec<(ColRef, Vec<Val>)>,
    /// The first SELECT list: whether it has a `*`, and the columns it names.
    pub select_star: bool,
    pub select_columns: Vec<ColRef>,
    pub has_select: bool,
    /// Columns an UPDATE sets.
    pub set_columns: Vec<String>,
    /// What an INSERT writes.
    pub insert: Option<Insert>,
    /// COPY: the column list of `COPY t (a, b)`, and whether it copies TO (else FROM).
    pub copy_columns: Vec<String>,
    pub copy_to: Option<bool>,
}

const NOT_ALIAS: &[&str] = &[
    "where",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "natural",
    "on",
    "using",
    "set",
    "group",
    "order",
    "limit",
    "offset",
    "having",
    "union",
    "except",
    "intersect",
    "values",
    "returning",
    "for",
    "fetch",
    "window",
    "select",
    "from",
    "into",
    "default",
    "outer",
    "tablesample",
    "to",
    "with",
    "as",
    "lateral",
    "only",
    "and",
    "or",
    "not",
];

impl Statement {
    /// Read `sql`.
    pub(crate) fn parse(sql: &str) -> Statement {
        let t = tokens(sql);
        let mut s = Statement {
            verb: match t.first() {
                Some(Tok::Word(w)) => w.to_string(),
                _ => String::new(),
            },
            ..Statement::default()
        };
        s.table_refs(&t);
        s.comparisons(&t);
        s.select_list(&t);
        s.update_set(&t);
        s.insert_values(&t);
        s.copy(&t);
        s
    }

    /// The table index an alias or table name (as written) refers to.
    pub(crate) fn resolve(&self, qualifier: &str) -> Option<usize> {
        self.aliases
            .iter()
            .find(|(a, _)| a == qualifier)
            .map(|(_, i)| *i)
            .or_else(|| {
                self.tables
                    .iter()
                    .position(|t| t == qualifier || t.rsplit('.').next() == Some(qualifier))
            })
    }

    fn table_refs(&mut self, t: &[Tok<'_>]) {
        let mut i = 0;
        while i < t.len() {
            let kw = match &t[i] {
                Tok::Word(w) => w.as_ref(),
                _ => {
                    i += 1;
                    continue;
                }
            };
            let list = kw == "from";
            if !matches!(kw, "from" | "join" | "update" | "into" | "copy" | "table") {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            loop {
                while j < t.len() && (t[j].is_word("only") || t[j].is_word("lateral")) {
                    j += 1;
                }
                let Some((name, after)) = qualified_name(t, j) else {
                    break;
                };
                if list && t.get(after).is_some_and(|x| x.is_sym("(")) {
                    break; // a function in FROM
                }
                let idx = self.tables.len();
                self.tables.push(name);
                j = after;
                if t.get(j).is_some_and(|x| x.is_word("as")) {
                    j += 1;
                }
                if let Some(Tok::Word(a)) = t.get(j) {
                    if !NOT_ALIAS.contains(&a.as_ref()) {
                        self.aliases.push((a.to_string(), idx));
                        j += 1;
                    }
                }
                if list && t.get(j).is_some_and(|x| x.is_sym(",")) {
                    j += 1;
                    continue;
                }
                break;
            }
            i = j.max(i + 1);
        }
    }

    fn comparisons(&mut self, t: &[Tok<'_>]) {
        let mut i = 0;
        while i < t.len() {
            // colref = value | colref IN (values) | colref = ANY(...)
            if let Some((col, after)) = col_ref(t, i) {
                if t.get(after).is_some_and(|x| x.is_sym("=")) {
                    if t.get(after + 1).is_some_and(|x| x.is_word("any")) {
                        if let Some((vals, n)) = any_values(t, after + 2) {
                            self.comparisons.push((col, vals));
                            i = n;
                            continue;
                        }
                    } else if let Some((v, n)) = value(t, after + 1) {
                        self.comparisons.push((col, vec![v]));
                        i = n;
                        continue;
                    }
                } else if t.get(after).is_some_and(|x| x.is_word("in"))
                    && t.get(after + 1).is_some_and(|x| x.is_sym("("))
                {
                    if let Some((vals, n)) = value_list(t, after + 2, ")") {
                        self.comparisons.push((col, vals));
                        i = n;
                        continue;
                    }
                }
                i = after;
                continue;
            }
            // value = colref
            if let Some((v, n)) = value(t, i) {
                if t.get(n).is_some_and(|x| x.is_sym("=")) {
                    if let Some((col, after)) = col_ref(t, n + 1) {
                        self.comparisons.push((col, vec![v]));
                        i = after;
                        continue;
                    }
                }
                i = n;
                continue;
            }
            i += 1;
        }
    }

    fn select_list(&mut self, t: &[Tok<'_>]) {
        let Some(start) = t.iter().position(|x| x.is_word("select")) else {
            return;
        };
        self.has_select = true;
        let mut depth = 0i32;
        let mut i = start + 1;
        while i < t.len() {
            match &t[i] {
                Tok::Sym("(") => depth += 1,
                Tok::Sym(")") => {
                    depth -= 1;
                    if depth < 0 {
                        break;
                    }
                }
                Tok::Word(w) if depth == 0 && w == "from" => break,
                Tok::Sym("*") if depth == 0 => self.select_star = true,
                Tok::Word(_) => {
                    if let Some((c, n)) = col_ref(t, i) {
                        self.select_columns.push(c);
                        i = n;
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn update_set(&mut self, t: &[Tok<'_>]) {
        if self.verb != "update" {
            return;
        }
        let Some(start) = t.iter().position(|x| x.is_word("set")) else {
            return;
        };
        let mut depth = 0;
        for i in start + 1..t.len() {
            match &t[i] {
                Tok::Sym("(") => depth += 1,
                Tok::Sym(")") => depth -= 1,
                Tok::Word(w)
                    if depth == 0 && matches!(w.as_ref(), "where" | "from" | "returning") =>
                {
                    break
                }
                Tok::Word(w) if depth == 0 && t.get(i + 1).is_some_and(|x| x.is_sym("=")) => {
                    self.set_columns.push(w.to_string());
                }
                _ => {}
            }
        }
    }

    fn insert_values(&mut self, t: &[Tok<'_>]) {
        if self.verb != "insert" || self.tables.is_empty() {
            return;
        }
        let Some(into) = t.iter().position(|x| x.is_word("into")) else {
            return;
        };
        let Some((_, mut i)) = qualified_name(t, into + 1) else {
            return;
        };
        if t.get(i).is_some_and(|x| x.is_word("as")) {
            i += 2;
        }
        let mut columns = Vec::new();
        if t.get(i).is_some_and(|x| x.is_sym("(")) {
            i += 1;
            while let Some(tok) = t.get(i) {
                match tok {
                    Tok::Word(w) => columns.push(w.to_string()),
                    Tok::Sym(")") => break,
                    _ => {}
                }
                i += 1;
            }
            i += 1;
        }
        let mut rows = Vec::new();
        if t.get(i).is_some_and(|x| x.is_word("values")) {
            i += 1;
            while t.get(i).is_some_and(|x| x.is_sym("(")) {
                let (row, n) = row_values(t, i + 1);
                rows.push(row);
                i = n;
                if t.get(i).is_some_and(|x| x.is_sym(",")) {
                    i += 1;
                } else {
                    break;
                }
            }
        }
        // The INSERT's own table is the first named after INTO.
        let target = self.resolve(&self.tables[0].clone()).unwrap_or(0);
        self.insert = Some((target, columns, rows));
    }

    fn copy(&mut self, t: &[Tok<'_>]) {
        if self.verb != "copy" {
            return;
        }
        let mut i = 1;
        if t.get(i).is_some_and(|x| x.is_sym("(")) {
            // COPY (query) TO: skip the query.
            let mut depth = 0;
            while let Some(tok) = t.get(i) {
                match tok {
                    Tok::Sym("(") => depth += 1,
                    Tok::Sym(")") => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        } else if let Some((_, n)) = qualified_name(t, i) {
            i = n;
            if t.get(i).is_some_and(|x| x.is_sym("(")) {
                i += 1;
                while let Some(tok) = t.get(i) {
                    match tok {
                        Tok::Word(w) => self.copy_columns.push(w.to_string()),
                        Tok::Sym(")") => break,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
        }
        self.copy_to = match t.get(i) {
            Some(x) if x.is_word("to") => Some(true),
            Some(x) if x.is_word("from") => Some(false),
            _ => None,
        };
    }
}

/// `a`, `a.b` or `a.b.c` at `i`, lowercased, and the index after it.
fn qualified_name(t: &[Tok<'_>], i: usize) -> Option<(String, usize)> {
    let Some(Tok::Word(first)) = t.get(i) else {
        return None;
    };
    if NOT_ALIAS.contains(&first.as_ref()) {
        return None;
    }
    let mut name = first.to_string();
    let mut j = i + 1;
    while t.get(j).is_some_and(|x| x.is_sym(".")) {
        match t.get(j + 1) {
            Some(Tok::Word(w)) => {
                name.push('.');
                name.push_str(w);
                j += 2;
            }
            _ => break,
        }
    }
    Some((name, j))
}

/// A column reference at `i`: `col`, `q.col`, `s.t.col` (not a keyword, not a function call).
fn col_ref(t: &[Tok<'_>], i: usize) -> Option<(ColRef, usize)> {
    let Some(Tok::Word(first)) = t.get(i) else {
        return None;
    };
    if NOT_ALIAS.contains(&first.as_ref()) {
        return None;
    }
    let mut parts = vec![first.as_ref()];
    let mut j = i + 1;
    while t.get(j).is_some_and(|x| x.is_sym(".")) {
        match t.get(j + 1) {
            Some(Tok::Word(w)) => {
                parts.push(w.as_ref());
                j += 2;
            }
            _ => break,
        }
    }
    if t.get(j).is_some_and(|x| x.is_sym("(")) {
        return None;
    }
    let column = parts.pop()?.to_string();
    let qualifier = (!parts.is_empty()).then(|| parts.join("."));
    Some((ColRef { qualifier, column }, j))
}

/// A literal or parameter at `i` (a negative number, a cast after it skipped).
fn value(t: &[Tok<'_>], i: usize) -> Option<(Val, usize)> {
    let (v, mut n) = match (t.get(i), t.get(i + 1)) {
        (Some(Tok::Str(s)), _) => (Val::Lit(s.to_string()), i + 1),
        (Some(Tok::Num(s)), _) => (Val::Lit(s.to_string()), i + 1),
        (Some(Tok::Param(p)), _) => (Val::Param(*p), i + 1),
        (Some(Tok::Sym("-")), Some(Tok::Num(s))) => (Val::Lit(format!("-{s}")), i + 2),
        _ => return None,
    };
    while t.get(n).is_some_and(|x| x.is_sym("::")) {
        n += 2;
    }
    Some((v, n))
}

/// Values separated by commas up to `close`; None when something else is in the list.
fn value_list(t: &[Tok<'_>], mut i: usize, close: &str) -> Option<(Vec<Val>, usize)> {
    let mut vals = Vec::new();
    loop {
        let (v, n) = value(t, i)?;
        vals.push(v);
        match t.get(n) {
            Some(x) if x.is_sym(",") => i = n + 1,
            Some(x) if x.is_sym(close) => return Some((vals, n + 1)),
            _ => return None,
        }
    }
}

/// The inside of `ANY(...)` at `i` (its `(`): `ARRAY[values]`, or one value holding an array
/// literal (`'{1,2}'`, `$1`), returned as is for the caller to split.
fn any_values(t: &[Tok<'_>], i: usize) -> Option<(Vec<Val>, usize)> {
    if !t.get(i)?.is_sym("(") {
        return None;
    }
    if t.get(i + 1)?.is_word("array") && t.get(i + 2)?.is_sym("[") {
        let (vals, n) = value_list(t, i + 3, "]")?;
        return t.get(n)?.is_sym(")").then_some((vals, n + 1));
    }
    let (v, n) = value(t, i + 1)?;
    t.get(n)?.is_sym(")").then_some((vec![v], n + 1))
}

/// One `( ... )` row of VALUES starting after its `(`: each item a value, or None for an
/// expression; the index after its `)`.
fn row_values(t: &[Tok<'_>], mut i: usize) -> (Vec<Option<Val>>, usize) {
    let mut row = Vec::new();
    loop {
        let item_start = i;
        let mut depth = 0;
        while let Some(tok) = t.get(i) {
            match tok {
                Tok::Sym("(") => depth += 1,
                Tok::Sym(")") if depth == 0 => break,
                Tok::Sym(")") => depth -= 1,
                Tok::Sym(",") if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let item = value(t, item_start).and_then(|(v, n)| (n == i).then_some(v));
        row.push(item);
        match t.get(i) {
            Some(x) if x.is_sym(",") => i += 1,
            _ => return (row, i + 1),
        }
    }
}

/// The elements of a PostgreSQL array literal (`{1,2,"a b"}`); None when `s` is not one.
pub(crate) fn array_literal(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => cur.extend(chars.next()),
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !inner.trim().is_empty() {
        out.push(cur);
    }
    Some(out.into_iter().map(|s| s.trim().to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Val {
        Val::Lit(s.into())
    }

    #[test]
    fn tokens_handle_quotes_comments_and_dollar_strings() {
        let t = tokens("SELECT \"Name\", 'it''s' -- c\n/* x /* y */ */ $1 E'a\\'b' $$q$$ 1.5e3 ::");
        assert_eq!(
            t,
            vec![
                Tok::Word("select".into()),
                Tok::Word("Name".into()),
                Tok::Sym(","),
                Tok::Str("it's".into()),
                Tok::Param(1),
                Tok::Str("a'b".into()),
                Tok::Str("q".into()),
                Tok::Num("1.5e3"),
                Tok::Sym("::"),
            ]
        );
        // Unterminated quotes end the statement without a panic.
        assert_eq!(tokens("'abc").len(), 1);
        assert_eq!(tokens("\"abc").len(), 1);
        assert_eq!(tokens("/* open").len(), 0);
        assert_eq!(tokens("é = 'ü'").len(), 3);
    }

    #[test]
    fn comparisons_with_aliases_in_lists_params_and_any() {
        let s = Statement::parse(
            "select c.name, lower(email) from public.customers as c join orders o on o.customer_id = c.id \
             where c.id IN (1, 2,3) and o.customer_id = $2 or 'x9' = c.ref and id = ANY('{4,5}') and id = any(array[6, -7])",
        );
        assert_eq!(s.tables, vec!["public.customers", "orders"]);
        assert_eq!(s.resolve("c"), Some(0));
        assert_eq!(s.resolve("o"), Some(1));
        assert_eq!(s.resolve("customers"), Some(0));
        let got: Vec<_> = s
            .comparisons
            .iter()
            .map(|(c, v)| (c.qualifier.clone(), c.column.clone(), v.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Some("c".into()),
                    "id".into(),
                    vec![lit("1"), lit("2"), lit("3")]
                ),
                (Some("o".into()), "customer_id".into(), vec![Val::Param(2)]),
                (Some("c".into()), "ref".into(), vec![lit("x9")]),
                (None, "id".into(), vec![lit("{4,5}")]),
                (None, "id".into(), vec![lit("6"), lit("-7")]),
            ]
        );
        assert!(!s.select_star);
        let cols: Vec<_> = s.select_columns.iter().map(|c| c.column.as_str()).collect();
        assert_eq!(cols, vec!["name", "email"]);
    }

    #[test]
    fn update_insert_and_copy() {
        let s =
            Statement::parse("UPDATE customers SET phone = '555', email = lower($1) WHERE id = 2");
        assert_eq!(s.set_columns, vec!["phone", "email"]);
        assert_eq!(
            s.comparisons.last().map(|c| c.1.clone()),
            Some(vec![lit("2")])
        );
        let s = Statement::parse(
            "insert into customers (id, name) values (1,'a'),(2, upper('b')), (now(), 'c')",
        );
        let (t, cols, rows) = s.insert.expect("insert");
        assert_eq!((t, cols), (0, vec!["id".to_string(), "name".to_string()]));
        assert_eq!(
            rows,
            vec![
                vec![Some(lit("1")), Some(lit("a"))],
                vec![Some(lit("2")), None],
                vec![None, Some(lit("c"))]
            ]
        );
        let s =
            Statement::parse("COPY  ( select id, email from customers where id = 1 ) TO STDOUT");
        assert_eq!(s.copy_to, Some(true));
        assert_eq!(s.tables, vec!["customers"]);
        let s = Statement::parse("copy public.customers (id, email) from stdin");
        assert_eq!(s.copy_to, Some(false));
        assert_eq!(s.copy_columns, vec!["id", "email"]);
        let s = Statement::parse("select * from customers, orders o where o.id = 5");
        assert!(s.select_star);
        assert_eq!(s.tables, vec!["customers", "orders"]);
    }

    #[test]
    fn array_literals() {
        assert_eq!(
            array_literal("{1, 2,\"a,b\"}"),
            Some(vec!["1".into(), "2".into(), "a,b".into()])
        );
        assert_eq!(array_literal("{}"), Some(vec![]));
        assert_eq!(array_literal("12"), None);
    }
}
