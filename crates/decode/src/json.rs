//! Small helpers over parsed JSON log lines.

use serde_json::Value;

/// The value at a dotted path (`request.headers.authorization`); a key that itself holds dots
/// is found too, since loggers flatten names that way (`jwt.sub`).
pub(crate) fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(found) = v.get(path) {
        return Some(found);
    }
    let (head, rest) = path.split_once('.')?;
    get(v.get(head)?, rest)
}

/// A scalar as text: strings as they are, numbers and booleans printed; None for null, arrays
/// and objects.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-empty string at `path`, if the mapping names one.
pub(crate) fn text_at(v: &Value, path: Option<&str>) -> Option<String> {
    path.and_then(|p| get(v, p))
        .and_then(text)
        .filter(|s| !s.is_empty() && s != "-")
}

/// Every value at `path`, where a segment ending in `[]` walks the elements of an array
/// (`resources[].uid`); dotted paths as [`get`] reads them otherwise.
pub(crate) fn all_at<'a>(v: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    match path.split_once("[]") {
        None => out.extend(get(v, path)),
        Some((head, rest)) => {
            let arr = if head.is_empty() {
                Some(v)
            } else {
                get(v, head)
            };
            if let Some(Value::Array(items)) = arr {
                let rest = rest.strip_prefix('.').unwrap_or(rest);
                for item in items {
                    if rest.is_empty() {
                        out.push(item);
                    } else {
                        all_at(item, rest, out);
                    }
                }
            }
        }
    }
}

/// The first non-empty text at any of `paths`.
pub(crate) fn first_text(v: &Value, paths: &[String]) -> Option<String> {
    paths.iter().find_map(|p| text_at(v, Some(p)))
}

/// A mapping key that takes one path or a list of them (the first present wins).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum Paths {
    One(String),
    Many(Vec<String>),
}

impl Paths {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Paths::One(p) => vec![p],
            Paths::Many(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_paths_reach_nested_and_flattened_keys() {
        let v: Value =
            serde_json::from_str(r#"{"a":{"b":{"c":7}},"jwt.sub":"emp-1","x":"-","n":null}"#)
                .expect("json");
        assert_eq!(get(&v, "a.b.c"), Some(&Value::from(7)));
        assert_eq!(text_at(&v, Some("jwt.sub")).as_deref(), Some("emp-1"));
        assert_eq!(text_at(&v, Some("a.b.c")).as_deref(), Some("7"));
        assert_eq!(text_at(&v, Some("x")), None, "nginx writes - for empty");
        assert_eq!(text_at(&v, Some("n")), None);
        assert_eq!(text_at(&v, Some("a.z")), None);
    }

    #[test]
    fn array_paths_walk_every_element() {
        let v: Value = serde_json::from_str(
            r#"{"resources":[{"uid":"c-1"},{"uid":"c-2"},{"name":"x"}],"n":{"l":[{"k":[1,2]}]}}"#,
        )
        .expect("json");
        let mut out = Vec::new();
        all_at(&v, "resources[].uid", &mut out);
        assert_eq!(out, vec![&Value::from("c-1"), &Value::from("c-2")]);
        out.clear();
        all_at(&v, "n.l[].k[]", &mut out);
        assert_eq!(out, vec![&Value::from(1), &Value::from(2)]);
        out.clear();
        all_at(&v, "resources.uid[]", &mut out);
        assert!(out.is_empty());
    }
}
