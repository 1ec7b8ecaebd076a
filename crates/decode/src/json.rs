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
}
