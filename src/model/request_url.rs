//! What a request's URL already says, so the firehose need not store it twice: its host, path
//! and query, and the `Host` header (the URL's authority). A forwarded entry carries them all
//! (routes and filters read them from the row), but the firehose stores them only where they
//! differ from the URL, and the read side gives them back (`read::query::present`). About 60
//! bytes of every forwarded row.
//!
//! The row says what was left out in one number after its columns (`columns::FLAGS_POSITION`),
//! decided here from the entry's own values, so a value that differs (a redacted one, say) is
//! always stored as it is. A row without the number (buffered by an earlier release) is stored
//! whole.

use serde_json::{Map, Value};

/// The host, path and query equal [`UrlParts`] of the URL: stored NULL.
pub const DERIVED_PARTS: u8 = 1;
/// The `Host` header equals the URL's authority: not stored.
pub const DERIVED_HOST_HEADER: u8 = 2;
/// There was no `Host` header though the URL has an authority: stored as `"host": null`, so the
/// read side does not give one back.
pub const NO_HOST_HEADER: u8 = 4;

/// The parts of a URL the firehose has columns for, as enrichment takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    pub host: Option<String>,
    pub path: String,
    pub query: Option<String>,
    /// `host[:port]` as a `Host` header says it (the port only when the URL names one).
    pub authority: Option<String>,
}

/// The parts of `url`, or `None` when it does not parse.
pub fn url_parts(url: &str) -> Option<UrlParts> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str().map(str::to_string);
    let authority = host.as_ref().map(|h| match u.port() {
        Some(p) => format!("{h}:{p}"),
        None => h.clone(),
    });
    Some(UrlParts {
        host,
        path: u.path().to_string(),
        query: u.query().map(str::to_string),
        authority,
    })
}

/// Which of the entry's values the firehose may leave out (the `DERIVED_*` and `NO_HOST_HEADER`
/// bits): only what the stored URL gives back exactly.
pub fn derived_flags(
    url: Option<&str>,
    (host, path, query): (Option<&str>, Option<&str>, Option<&str>),
    headers: Option<&Map<String, Value>>,
) -> u8 {
    let Some(parts) = url.and_then(url_parts) else {
        return 0;
    };
    let mut flags = 0;
    if (host, path, query)
        == (
            parts.host.as_deref(),
            Some(parts.path.as_str()),
            parts.query.as_deref(),
        )
    {
        flags |= DERIVED_PARTS;
    }
    if let (Some(h), Some(authority)) = (headers, &parts.authority) {
        match h.get("host") {
            Some(Value::String(v)) if v == authority => flags |= DERIVED_HOST_HEADER,
            None => flags |= NO_HOST_HEADER,
            Some(_) => {}
        }
    }
    flags
}

/// Gives a stored firehose row (a JSON object, `headers` already parsed) back what the firehose
/// left out: host, path and query when `path` is NULL and the URL parses (a stored path is never
/// NULL otherwise: every parsed URL has one), and the `Host` header unless it is stored as null
/// (there was none).
pub fn restore(row: &mut Map<String, Value>) {
    let parts = row.get("url").and_then(Value::as_str).and_then(url_parts);
    if let Some(Value::Object(h)) = row.get_mut("headers") {
        match (
            h.get("host"),
            parts.as_ref().and_then(|p| p.authority.as_ref()),
        ) {
            (Some(Value::Null), _) => {
                h.remove("host");
            }
            (None, Some(a)) => {
                h.insert("host".into(), a.clone().into());
            }
            _ => {}
        }
    }
    if let Some(parts) = parts.filter(|_| row.get("path").is_some_and(Value::is_null)) {
        row.insert("host".into(), parts.host.into());
        row.insert("path".into(), parts.path.into());
        row.insert("query".into(), parts.query.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parts_are_what_a_host_header_and_the_columns_say() {
        let p = url_parts("http://127.0.0.1:8787/a/b?x=1&y").unwrap();
        assert_eq!(p.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(p.path, "/a/b");
        assert_eq!(p.query.as_deref(), Some("x=1&y"));
        assert_eq!(p.authority.as_deref(), Some("127.0.0.1:8787"));
        let p = url_parts("https://shop.example/").unwrap();
        assert_eq!(
            (p.query, p.authority.as_deref()),
            (None, Some("shop.example"))
        );
        assert_eq!(url_parts("not a url"), None);
    }

    #[test]
    fn only_values_the_url_gives_back_exactly_are_left_out() {
        let url = Some("https://shop.example:8443/cart?x=1");
        let same = (Some("shop.example"), Some("/cart"), Some("x=1"));
        let h = headers(json!({"host": "shop.example:8443", "accept": "*/*"}));
        assert_eq!(
            derived_flags(url, same, Some(&h)),
            DERIVED_PARTS | DERIVED_HOST_HEADER
        );
        // A redacted query, another Host header, no Host header, no URL.
        let redacted = (Some("shop.example"), Some("/cart"), Some("x=[REDACTED]"));
        assert_eq!(derived_flags(url, redacted, None), 0);
        let other = headers(json!({"host": "other.example"}));
        assert_eq!(derived_flags(url, same, Some(&other)), DERIVED_PARTS);
        let none = headers(json!({"accept": "*/*"}));
        assert_eq!(
            derived_flags(url, same, Some(&none)),
            DERIVED_PARTS | NO_HOST_HEADER
        );
        assert_eq!(derived_flags(None, same, Some(&h)), 0);
        assert_eq!(derived_flags(Some("::"), same, Some(&h)), 0);
    }

    #[test]
    fn a_row_stored_without_them_reads_as_the_entry_was() {
        let url = "https://shop.example:8443/cart?x=1";
        let entry = json!({
            "url": url, "host": "shop.example", "path": "/cart", "query": "x=1",
            "headers": {"host": "shop.example:8443", "accept": "*/*"}
        });
        let mut stored = json!({
            "url": url, "host": null, "path": null, "query": null,
            "headers": {"accept": "*/*"}
        });
        restore(stored.as_object_mut().unwrap());
        assert_eq!(stored, entry);
        // Stored whole (an earlier row, a redacted value): left as it is; no Host header stays so.
        let mut whole = json!({
            "url": url, "host": "shop.example", "path": "/cart", "query": "x=[REDACTED]",
            "headers": {"host": null, "accept": "*/*"}
        });
        restore(whole.as_object_mut().unwrap());
        assert_eq!(whole["query"], "x=[REDACTED]");
        assert_eq!(whole["headers"], json!({"accept": "*/*"}));
        // A REST entry has no URL: nothing to give back.
        let mut rest = json!({"url": null, "path": null, "headers": null});
        restore(rest.as_object_mut().unwrap());
        assert_eq!(rest, json!({"url": null, "path": null, "headers": null}));
    }
}
