//! A JSON line read for only the members a mapping names: one pass that validates the whole
//! line as `serde_json` would, skips every member no mapped path starts with, and keeps the
//! others as borrowed slices of the line where no escape forces a copy.
//!
//! Lookups follow [`crate::json::get`] exactly (a whole dotted path as one key first, then
//! the first dot as nesting), and a key given twice means its last value, as it does when the
//! line is parsed into a `serde_json::Value`. The gateway decoder reads every line this way:
//! building a whole `Value` tree per line, then reading five of its members, was a sixth of
//! its time.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A captured JSON value; strings borrow from the line unless they hold an escape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cap<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    Arr(Vec<Cap<'a>>),
    /// Members in line order; a repeated key's last value is the one lookups see.
    Obj(Vec<(Cow<'a, str>, Cap<'a>)>),
}

impl<'a> Cap<'a> {
    /// The member `key` of an object (its last occurrence).
    pub(crate) fn member(&self, key: &str) -> Option<&Cap<'a>> {
        match self {
            Cap::Obj(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a dotted path, as [`crate::json::get`] finds it in a `Value`.
    pub(crate) fn get(&self, path: &str) -> Option<&Cap<'a>> {
        if let Some(found) = self.member(path) {
            return Some(found);
        }
        let (head, rest) = path.split_once('.')?;
        self.member(head)?.get(rest)
    }

    /// A scalar as text: strings as they are, numbers and booleans printed (as `Value`
    /// prints them); None for null, arrays and objects.
    pub(crate) fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Cap::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Cap::Num(n) => Some(Cow::Owned(n.to_string())),
            Cap::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }

    /// A whole number that fits in 64 bits without a sign.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Cap::Num(n) => n.as_u64(),
            _ => None,
        }
    }

    pub(crate) fn is_object(&self) -> bool {
        matches!(self, Cap::Obj(_))
    }
}

impl fmt::Display for Cap<'_> {
    /// JSON text, for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cap::Null => f.write_str("null"),
            Cap::Bool(b) => write!(f, "{b}"),
            Cap::Num(n) => write!(f, "{n}"),
            Cap::Str(s) => write!(f, "{}", serde_json::Value::from(s.as_ref())),
            Cap::Arr(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Cap::Obj(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{v}", serde_json::Value::from(k.as_ref()))?;
                }
                f.write_str("}")
            }
        }
    }
}

struct CapVisitor;

impl<'de> Visitor<'de> for CapVisitor {
    type Value = Cap<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Cap<'de>, E> {
        Ok(Cap::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cap<'de>, E> {
        Ok(Cap::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cap<'de>, E> {
        Ok(Cap::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cap<'de>, E> {
        Ok(Cap::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cap<'de>, E> {
        // serde_json hands only finite numbers here; a `Value` would hold the same.
        Ok(Number::from_f64(v).map_or(Cap::Null, Cap::Num))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cap<'de>, E> {
        Ok(Cap::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cap<'de>, E> {
        Ok(Cap::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Cap<'de>, E> {
        Ok(Cap::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cap<'de>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(CapSeed)? {
            out.push(v);
        }
        Ok(Cap::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cap<'de>, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value_seed(CapSeed)?;
            out.push((k, v));
        }
        Ok(Cap::Obj(out))
    }
}

struct CapSeed;

impl<'de: 'a, 'a> serde::Deserialize<'de> for Cap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cap<'a>, D::Error> {
        d.deserialize_any(CapVisitor)
    }
}

impl<'de> DeserializeSeed<'de> for CapSeed {
    type Value = Cap<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cap<'de>, D::Error> {
        d.deserialize_any(CapVisitor)
    }
}

/// An object key, borrowed where it has no escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
                Ok(Cow::Owned(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The top-level names a mapping's paths can start with: for `a.b.c`, the key `a.b.c` itself
/// and `a` (the only split [`Cap::get`] tries at the top). A line's member of one of these
/// names lands in that name's slot, so reading a mapped path is an index, not a search. A
/// mapping names about ten, so a scan that compares lengths first beats hashing every key of
/// every line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wanted(Vec<Box<str>>);

/// A mapped path, resolved against a [`Wanted`]: the slot of the whole path as one key, and
/// the slot of its first segment with the rest of the path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path {
    whole: Option<usize>,
    head: Option<(usize, Box<str>)>,
}

/// A line's wanted members, by slot (a key given twice: its last value).
#[derive(Debug)]
pub(crate) struct Doc<'a>(Vec<Option<Cap<'a>>>);

impl<'a> Doc<'a> {
    /// The value at `path`, as [`crate::json::get`] finds it in a `Value`.
    pub(crate) fn get(&self, path: &Path) -> Option<&Cap<'a>> {
        if let Some(v) = path.whole.and_then(|i| self.0.get(i)?.as_ref()) {
            return Some(v);
        }
        let (i, rest) = path.head.as_ref()?;
        self.0.get(*i)?.as_ref()?.get(rest)
    }
}

impl Wanted {
    /// The names the paths in `paths` need.
    pub(crate) fn new<'p>(paths: impl IntoIterator<Item = &'p str>) -> Wanted {
        let mut set = BTreeSet::new();
        for p in paths {
            set.insert(p);
            if let Some((head, _)) = p.split_once('.') {
                set.insert(head);
            }
        }
        Wanted(set.into_iter().map(Box::from).collect())
    }

    fn slot(&self, key: &[u8]) -> Option<usize> {
        self.0
            .iter()
            .position(|w| w.len() == key.len() && w.as_bytes() == key)
    }

    /// `path` resolved to slots; a path given to [`Wanted::new`] always resolves.
    pub(crate) fn path(&self, path: &str) -> Path {
        Path {
            whole: self.slot(path.as_bytes()),
            head: path
                .split_once('.')
                .and_then(|(h, rest)| Some((self.slot(h.as_bytes())?, Box::from(rest)))),
        }
    }

    /// Read `line` as one JSON object, keeping the members this set names. An error says why
    /// the line is not JSON, or that it is JSON but no object.
    ///
    /// The strings of skipped members (keys included) are checked for their JSON syntax but
    /// not decoded: bytes that are no UTF-8 there (nginx's `escape=json` passes a client's raw
    /// bytes through) do not cost the line the members that are read, which must be valid.
    pub(crate) fn read<'a>(&self, line: &'a [u8]) -> Result<Doc<'a>, ReadError> {
        let mut de = serde_json::Deserializer::from_slice(line);
        let doc = de
            .deserialize_any(TopVisitor { wanted: self })
            .map_err(ReadError::Json)?;
        de.end().map_err(ReadError::Json)?;
        doc.ok_or(ReadError::NotObject)
    }
}

/// Why [`Wanted::read`] refused a line.
#[derive(Debug)]
pub(crate) enum ReadError {
    Json(serde_json::Error),
    NotObject,
}

/// An object key as its raw bytes (escapes decoded, UTF-8 not checked).
struct RawKey;

impl<'de> DeserializeSeed<'de> for RawKey {
    type Value = Cow<'de, [u8]>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, [u8]>, D::Error> {
        struct RawKeyVisitor;
        impl<'de> Visitor<'de> for RawKeyVisitor {
            type Value = Cow<'de, [u8]>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Cow<'de, [u8]>, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Cow<'de, [u8]>, E> {
                Ok(Cow::Owned(v.to_vec()))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, [u8]>, E> {
                Ok(Cow::Borrowed(v.as_bytes()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cow<'de, [u8]>, E> {
                Ok(Cow::Owned(v.as_bytes().to_vec()))
            }
        }
        d.deserialize_bytes(RawKeyVisitor)
    }
}

/// The top level: an object keeps its wanted members; any other value is read (so the line is
/// still validated) and reported as no object.
struct TopVisitor<'w> {
    wanted: &'w Wanted,
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Option<Doc<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut slots: Vec<Option<Cap<'de>>> = vec![None; self.wanted.0.len()];
        while let Some(k) = map.next_key_seed(RawKey)? {
            match self.wanted.slot(&k) {
                Some(i) => slots[i] = Some(map.next_value_seed(CapSeed)?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(Doc(slots)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What `crate::json::get` + `text` say of a full `Value` parse.
    fn by_value(line: &str, path: &str) -> Option<String> {
        let v: Value = serde_json::from_str(line).expect("json");
        crate::json::get(&v, path).and_then(crate::json::text)
    }

    #[test]
    fn reads_what_a_full_parse_reads_and_skips_the_rest() {
        let lines = [
            r#"{"a":{"b":{"c":7}},"jwt.sub":"emp-1","x":"-","n":null,"skip":[1,{"q":2}]}"#,
            r#"{"a":1,"a":"last","e":"tab\there","f":1.5e3,"g":true,"h":-4}"#,
            r#"{"a.b":"flat","a":{"b":"nested"},"u":"\u00e9\ud83d\ude00"}"#,
        ];
        let paths = [
            "a.b.c", "jwt.sub", "x", "n", "a", "e", "f", "g", "h", "a.b", "u",
        ];
        let wanted = Wanted::new(paths);
        for line in lines {
            let doc = wanted.read(line.as_bytes()).expect("object");
            for p in paths {
                assert_eq!(
                    doc.get(&wanted.path(p))
                        .and_then(|c| c.text())
                        .map(Cow::into_owned),
                    by_value(line, p),
                    "{p} in {line}"
                );
            }
        }
        let doc = wanted.read(lines[0].as_bytes()).expect("object");
        assert_eq!(
            doc.get(&wanted.path("skip")),
            None,
            "an unnamed member is not kept"
        );
    }

    #[test]
    fn refuses_what_a_full_parse_refuses() {
        let wanted = Wanted::new(["a"]);
        for bad in [
            &br#"{"a":1"#[..],
            br#"{"a":1} x"#,
            br#"{"b":[1,}"#,
            b"{\"a\":\"\xff\"}",
            br#"{"a":"\ud800"}"#,
        ] {
            assert!(
                matches!(wanted.read(bad), Err(ReadError::Json(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            assert!(serde_json::from_slice::<Value>(bad).is_err());
        }
        // A skipped member's string is not decoded, so a lone surrogate or a byte that is no
        // UTF-8 there (which a full parse refuses) does not cost the line; it is never read.
        assert!(wanted.read(br#"{"a":1,"b":"\ud800"}"#).is_ok());
        assert!(wanted.read(b"{\"a\":1,\"ua\":\"caf\xe9\"}").is_ok());
        assert!(wanted.read(b"{\"a\":1,\"caf\xe9\":2}").is_ok());
        for not_object in [&b"[1,2]"[..], b"\"s\"", b"3", b"null"] {
            assert!(matches!(wanted.read(not_object), Err(ReadError::NotObject)));
        }
    }
}
