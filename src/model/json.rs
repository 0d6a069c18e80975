//! How deep a JSON value nests. Custom data (`context`, `X-Log-Data`) is refused past
//! [`MAX_NESTING`] levels at the edge, so every row the logger buffers parses again everywhere
//! it goes (serde_json stops at 128 levels; a row adds levels of its own around the data).

use serde_json::Value;

/// Most levels of objects and arrays custom data may nest (`{"a":{"b":1}}` is 2).
pub const MAX_NESTING: usize = 32;

/// The deepest nesting of objects and arrays in JSON text, read without parsing it (strings
/// are skipped), so text too deep for a parser is measured too.
pub fn text_nesting(text: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The array under `key` of an object, borrowed; empty when there is none.
pub fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The nesting of a parsed value (a scalar is 0).
pub fn nesting(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deep(n: usize) -> String {
        format!("{}1{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn text_and_values_measure_the_same() {
        for v in [
            json!(1),
            json!({}),
            json!({"a": [1, {"b": null}]}),
            json!([[[]]]),
        ] {
            assert_eq!(text_nesting(v.to_string().as_bytes()), nesting(&v), "{v}");
        }
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert_eq!(text_nesting(br#"{"a":"[[[{{{\"]]]"}"#), 1);
    }

    #[test]
    fn text_too_deep_for_a_parser_is_measured() {
        assert_eq!(text_nesting(deep(1_000).as_bytes()), 1_000);
        assert!(serde_json::from_str::<Value>(&deep(200)).is_err());
    }
}
