//! SQL identifiers: which names may be spliced into SQL, and how they are quoted. Every table and
//! column name the logger builds SQL from (routes, columns, indexes) passes through here.

/// Whether `name` is safe to splice into SQL as a table or column name.
pub fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b == b'_')
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `name` as a quoted SQL identifier. Panics unless it is a checked identifier: configuration
/// is validated when parsed, so reaching SQL with anything else is a bug, never input.
pub fn quoted(name: &str) -> String {
    assert!(is_identifier(name), "{name:?} is not an identifier");
    format!("\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_lowercase_words() {
        assert!(is_identifier("logs"));
        assert!(is_identifier("_errors_2024"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("2logs"));
        assert!(!is_identifier("Logs"));
        assert!(!is_identifier("logs-x"));
        assert!(!is_identifier("a\"b"));
        assert!(!is_identifier(&"a".repeat(65)));
    }
}
