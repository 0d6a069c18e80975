//! Enrichment: a forwarded request, described as plain data, becomes a [`LogEntry`].
//!
//! Owns what is kept from a request and what is never stored: cookies, credentials, the
//! `X-Log-*` control headers, API keys, and (with `LOG_CLIENT_IP=false`) every header that carries
//! the client's address. Does not read the runtime's request itself; the shell copies its method,
//! URL, headers and `cf` object into a [`ForwardedRequest`].

use crate::ingest::error::IngestError;
pub use crate::model::entry::CfFacts;
use crate::model::entry::{clip, LogEntry, RequestFields, Source};
use crate::model::id::is_request_id;
use crate::model::json::{text_nesting, MAX_NESTING};
use crate::model::level::Level;
use crate::model::request_url::url_parts;
use serde_json::{Map, Value};

/// The control headers a parent worker sets on the request it forwards.
pub const LOG_KEY_HEADER: &str = "x-log-key";
pub const LOG_DATA_HEADER: &str = "x-log-data";
pub const LOG_LEVEL_HEADER: &str = "x-log-level";
pub const LOG_MESSAGE_HEADER: &str = "x-log-message";

/// Most headers kept per entry, and longest kept value: a request cannot bloat its own row.
pub const MAX_KEPT_HEADERS: usize = 64;
pub const MAX_HEADER_VALUE_BYTES: usize = 1_024;

/// Headers never stored: credentials and session state.
const SECRET_HEADERS: [&str; 16] = [
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-admin-key",
    "x-auth-token",
    "x-access-token",
    "x-session-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amz-security-token",
    "cf-access-jwt-assertion",
    "cf-access-client-id",
    "cf-access-client-secret",
    "cf-authorization",
];

/// Headers that carry the client's address, dropped with `LOG_CLIENT_IP=false`.
const CLIENT_ADDRESS_HEADERS: [&str; 7] = [
    "cf-connecting-ip",
    "cf-connecting-ipv6",
    "cf-pseudo-ipv4",
    "true-client-ip",
    "x-real-ip",
    "x-forwarded-for",
    "forwarded",
];

/// Headers stored in their own columns rather than in `headers`.
const COLUMN_HEADERS: [&str; 6] = [
    "cf-connecting-ip",
    "user-agent",
    "referer",
    "content-type",
    "cf-ray",
    "x-request-id",
];

/// A forwarded request as plain data. Header names are lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub cf: CfFacts,
}

impl ForwardedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What enrichment needs besides the request.
#[derive(Debug, Clone)]
pub struct EnrichOptions<'a> {
    pub id: String,
    pub now_ms: i64,
    pub app_id: &'a str,
    pub log_client_ip: bool,
    pub max_message_bytes: usize,
    pub max_log_data_bytes: usize,
}

/// Builds the entry for a forwarded request, or says which control header is wrong.
pub fn enrich(req: &ForwardedRequest, opts: &EnrichOptions<'_>) -> Result<LogEntry, IngestError> {
    // The firehose relies on these being the URL's own (`model::request_url`).
    let url = url_parts(&req.url);
    let path = url.as_ref().map(|u| u.path.clone());
    let level = match req.header(LOG_LEVEL_HEADER) {
        None => Level::Info,
        Some(raw) => raw
            .parse()
            .map_err(|e| IngestError::InvalidLevel(format!("X-Log-Level: {e}")))?,
    };
    let message = match req.header(LOG_MESSAGE_HEADER) {
        Some(m) if !m.trim().is_empty() => m.to_string(),
        _ => format!("{} {}", req.method, path.as_deref().unwrap_or("/")),
    };
    if message.len() > opts.max_message_bytes {
        return Err(IngestError::MessageTooLong(format!(
            "X-Log-Message: is {} bytes; the limit is {}",
            message.len(),
            opts.max_message_bytes
        )));
    }
    let data = match req.header(LOG_DATA_HEADER) {
        None => None,
        Some(raw) => Some(parse_log_data(raw, opts.max_log_data_bytes)?),
    };
    Ok(LogEntry {
        id: opts.id.clone(),
        timestamp: opts.now_ms,
        received_at: opts.now_ms,
        app_id: opts.app_id.to_string(),
        level,
        message,
        request_id: req
            .header("x-request-id")
            .filter(|r| is_request_id(r))
            .map(str::to_string),
        source: Source::Binding,
        shard: String::new(),
        request: RequestFields {
            method: Some(req.method.clone()),
            url: Some(req.url.clone()),
            host: url.as_ref().and_then(|u| u.host.clone()),
            path,
            query: url.and_then(|u| u.query),
            user_agent: req.header("user-agent").map(str::to_string),
            referer: req.header("referer").map(str::to_string),
            content_type: req.header("content-type").map(str::to_string),
            ray_id: req.header("cf-ray").map(str::to_string),
            cf: req.cf.clone(),
            client_ip: if opts.log_client_ip {
                req.header("cf-connecting-ip").map(str::to_string)
            } else {
                None
            },
            headers: Some(kept_headers(&req.headers, opts.log_client_ip)),
        },
        data,
    })
}

/// `X-Log-Data`: a JSON object of at most `max_bytes`.
pub fn parse_log_data(raw: &str, max_bytes: usize) -> Result<Map<String, Value>, IngestError> {
    if raw.len() > max_bytes {
        return Err(IngestError::InvalidLogData(format!(
            "X-Log-Data: is {} bytes; the limit is {max_bytes}",
            raw.len()
        )));
    }
    if text_nesting(raw.as_bytes()) > MAX_NESTING {
        return Err(IngestError::NestingTooDeep(format!(
            "X-Log-Data: nests deeper than {MAX_NESTING} levels"
        )));
    }
    match serde_json::from_str(raw) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(IngestError::InvalidLogData(
            "X-Log-Data: must be a JSON object".into(),
        )),
        Err(e) => Err(IngestError::InvalidLogData(format!(
            "X-Log-Data: is not valid JSON ({e})"
        ))),
    }
}

/// Whether a header may be stored at all.
pub fn is_storable_header(name: &str, log_client_ip: bool) -> bool {
    !(SECRET_HEADERS.contains(&name)
        || name.starts_with("x-log-")
        || (!log_client_ip && CLIENT_ADDRESS_HEADERS.contains(&name)))
}

fn kept_headers(headers: &[(String, String)], log_client_ip: bool) -> Map<String, Value> {
    headers
        .iter()
        .filter(|(n, _)| {
            is_storable_header(n, log_client_ip) && !COLUMN_HEADERS.contains(&n.as_str())
        })
        .take(MAX_KEPT_HEADERS)
        .map(|(n, v)| {
            (
                n.clone(),
                Value::String(clip(v, MAX_HEADER_VALUE_BYTES).to_string()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::prepare::Prepare;
    use serde_json::json;

    const ADMIN: &str = "admin-secret-0123456789";
    const KEY: &str = "lk_secretkey_abcdef0123";

    fn request() -> ForwardedRequest {
        let h = |n: &str, v: &str| (n.to_string(), v.to_string());
        ForwardedRequest {
            method: "POST".into(),
            url: "https://shop.example/cart/add?item=7&ref=mail".into(),
            headers: vec![
                h("accept", "application/json"),
                h("user-agent", "Mozilla/5.0"),
                h("referer", "https://shop.example/"),
                h("content-type", "application/json"),
                h("cf-ray", "8f00aa-EWR"),
                h("cf-connecting-ip", "198.51.100.7"),
                h("x-forwarded-for", "198.51.100.7"),
                h("cookie", "session=abc"),
                h("authorization", "Bearer t0k3n"),
                h("proxy-authorization", "Basic xyz"),
                h("x-api-key", "whatever"),
                h("x-log-key", KEY),
                h("x-log-data", r#"{"user":{"id":42},"plan":"pro"}"#),
                h("x-log-level", "warn"),
                h("x-log-message", "added to cart"),
                h("x-request-id", "req-123"),
                h("x-custom", "kept"),
            ],
            cf: crate::model::entry::tests::sample().request.cf,
        }
    }

    fn opts(log_client_ip: bool) -> EnrichOptions<'static> {
        EnrichOptions {
            id: "0190b5c5-a0f0-7000-8000-000000000001".into(),
            now_ms: 1_750_000_000_000,
            app_id: "shop",
            log_client_ip,
            max_message_bytes: 1_000,
            max_log_data_bytes: 8_192,
        }
    }

    /// Enrichment followed by the prepare step every forwarded entry takes (redaction).
    fn enrich(req: &ForwardedRequest, opts: &EnrichOptions<'_>) -> Result<LogEntry, IngestError> {
        let config = crate::config::Config::from_lookup(|_| None).unwrap();
        let mut e = super::enrich(req, opts)?;
        Prepare::new(&config, opts.app_id, opts.now_ms, None, &[ADMIN, KEY]).apply(&mut e);
        Ok(e)
    }

    #[test]
    fn a_forwarded_request_becomes_a_fully_enriched_entry() {
        let e = enrich(&request(), &opts(true)).unwrap();
        assert_eq!(e.app_id, "shop");
        assert_eq!(e.level, Level::Warn);
        assert_eq!(e.message, "added to cart");
        assert_eq!(e.source, Source::Binding);
        assert_eq!(e.timestamp, 1_750_000_000_000);
        assert_eq!(e.request_id.as_deref(), Some("req-123"));
        let r = &e.request;
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.host.as_deref(), Some("shop.example"));
        assert_eq!(r.path.as_deref(), Some("/cart/add"));
        assert_eq!(r.query.as_deref(), Some("item=7&ref=mail"));
        assert_eq!(r.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(r.referer.as_deref(), Some("https://shop.example/"));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert_eq!(r.ray_id.as_deref(), Some("8f00aa-EWR"));
        assert_eq!(r.cf, request().cf);
        assert_eq!(r.client_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(
            Value::Object(e.data.clone().unwrap()),
            json!({"user": {"id": 42}, "plan": "pro"})
        );
    }

    #[test]
    fn secrets_cookies_and_control_headers_are_never_kept() {
        let e = enrich(&request(), &opts(true)).unwrap();
        let headers = e.request.headers.clone().unwrap();
        for gone in [
            "cookie",
            "authorization",
            "proxy-authorization",
            "x-api-key",
            "x-log-key",
            "x-log-data",
            "x-log-level",
            "x-log-message",
        ] {
            assert!(!headers.contains_key(gone), "{gone} was kept");
        }
        assert_eq!(headers["x-custom"], json!("kept"));
        assert_eq!(headers["accept"], json!("application/json"));
        let row = e.to_row_json();
        for secret in ["session=abc", "t0k3n", "Basic xyz", KEY] {
            assert!(!row.contains(secret), "{secret} leaked into {row}");
        }
    }

    #[test]
    fn client_address_is_dropped_everywhere_when_disabled() {
        let e = enrich(&request(), &opts(false)).unwrap();
        assert_eq!(e.request.client_ip, None);
        assert!(!e.to_row_json().contains("198.51.100.7"));
    }

    #[test]
    fn env_secrets_in_the_url_or_data_are_redacted() {
        let mut req = request();
        req.url = format!("https://shop.example/?admin={ADMIN}");
        req.headers.retain(|(n, _)| n != "x-log-data");
        req.headers
            .push(("x-log-data".into(), format!(r#"{{"leak":"{ADMIN}"}}"#)));
        let e = enrich(&req, &opts(true)).unwrap();
        assert!(!e.to_row_json().contains(ADMIN));
        assert_eq!(e.data.unwrap()["leak"], json!("[REDACTED]"));
    }

    #[test]
    fn defaults_are_info_and_method_path() {
        let req = ForwardedRequest {
            method: "GET".into(),
            url: "http://localhost:8787/a/b".into(),
            ..Default::default()
        };
        let e = enrich(&req, &opts(true)).unwrap();
        assert_eq!(e.level, Level::Info);
        assert_eq!(e.message, "GET /a/b");
        assert_eq!(e.data, None);
        assert_eq!(e.request.cf, CfFacts::default());
        assert_eq!(e.request.query, None);
        assert_eq!(e.request_id, None);
    }

    #[test]
    fn bad_control_headers_get_their_own_codes() {
        let with = |name: &str, value: &str| {
            let mut r = request();
            r.headers.retain(|(n, _)| n != name);
            r.headers.push((name.into(), value.into()));
            enrich(&r, &opts(true)).unwrap_err().code()
        };
        assert_eq!(with("x-log-level", "loud"), "INVALID_LEVEL");
        assert_eq!(with("x-log-data", "{not json"), "INVALID_LOG_DATA");
        assert_eq!(with("x-log-data", "[1,2]"), "INVALID_LOG_DATA");
        let deep = format!("{}1{}", r#"{"k":"#.repeat(127), "}".repeat(127));
        assert_eq!(with("x-log-data", &deep), "NESTING_TOO_DEEP");
        assert_eq!(
            with("x-log-data", &format!(r#"{{"a":"{}"}}"#, "x".repeat(9_000))),
            "INVALID_LOG_DATA"
        );
        assert_eq!(
            with("x-log-message", &"m".repeat(1_001)),
            "MESSAGE_TOO_LONG"
        );
    }

    #[test]
    fn header_values_and_counts_are_capped() {
        let mut req = request();
        req.headers = (0..100)
            .map(|i| (format!("x-h{i}"), "é".repeat(600)))
            .collect();
        let e = enrich(&req, &opts(true)).unwrap();
        let h = e.request.headers.unwrap();
        assert_eq!(h.len(), MAX_KEPT_HEADERS);
        assert!(h
            .values()
            .all(|v| v.as_str().unwrap().len() <= MAX_HEADER_VALUE_BYTES));
    }

    #[test]
    fn cf_facts_read_cloudflare_property_names() {
        let cf: CfFacts = serde_json::from_value(json!({
            "colo": "AMS", "asn": 1136, "asOrganization": "KPN", "httpProtocol": "HTTP/3",
            "tlsVersion": "TLSv1.3", "tlsCipher": "X", "botManagement": {"score": 1}
        }))
        .unwrap();
        assert_eq!(cf.colo.as_deref(), Some("AMS"));
        assert_eq!(cf.as_organization.as_deref(), Some("KPN"));
        assert_eq!(cf.http_protocol.as_deref(), Some("HTTP/3"));
        assert_eq!(cf.country, None);
    }
}
