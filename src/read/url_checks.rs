//! Health checks of an app's URLs: which URLs may be registered, what a check's outcome means,
//! how results are kept, and how `GET /health/:app_id` presents them.
//!
//! A per-app `HealthChecker` Durable Object (`health_checker`) checks the registered URLs on its
//! alarm every `HEALTH_CHECK_INTERVAL_MS`, keeps each result in D1 (`health_checks`, the last
//! [`KEEP_RESULTS`] per URL), and logs each failure as an entry of the app, so failures show in
//! queries and stats like any other log. Does not fetch or touch storage itself.

use crate::model::level::Level;
use crate::read::error::ReadError;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Results kept per URL.
pub const KEEP_RESULTS: u32 = 1_000;
/// Results per URL in `GET /health/:app_id`'s history.
pub const HISTORY: usize = 20;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2_048;

pub const URLS_TABLE: &str = "health_urls";
pub const CHECKS_TABLE: &str = "health_checks";

/// Why a health check may not reach `url`'s host, if it may not: a check runs inside
/// Cloudflare's network on the logger's behalf, so only the public internet is fair game.
/// Loopback, private, link-local, unique-local, CGNAT, multicast, broadcast and unspecified
/// addresses are refused in every notation the URL parser reads as an address (decimal, hex,
/// octal and short IPv4 forms, IPv4-mapped and NAT64 IPv6), and so are `localhost`,
/// `*.localhost`, `*.local` and `*.internal` (cloud metadata names).
pub fn unreachable_host(url: &url::Url) -> Option<String> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    fn v4(a: Ipv4Addr) -> Option<&'static str> {
        let o = a.octets();
        if a.is_loopback() {
            Some("a loopback address")
        } else if a.is_private() {
            Some("a private address")
        } else if a.is_link_local() {
            Some("a link-local address")
        } else if a.is_unspecified() || o[0] == 0 {
            Some("an unspecified address")
        } else if o[0] == 100 && (64..128).contains(&o[1]) {
            Some("a carrier-grade NAT address")
        } else if a.is_multicast() || a.is_broadcast() || o[0] >= 240 {
            Some("a multicast, broadcast or reserved address")
        } else {
            None
        }
    }
    fn v6(a: Ipv6Addr) -> Option<&'static str> {
        let s = a.segments();
        if let Some(mapped) = a.to_ipv4_mapped() {
            return v4(mapped);
        }
        // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
        if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
            return v4(Ipv4Addr::new(
                (s[6] >> 8) as u8,
                s[6] as u8,
                (s[7] >> 8) as u8,
                s[7] as u8,
            ));
        }
        if a.is_loopback() {
            Some("a loopback address")
        } else if a.is_unspecified() {
            Some("an unspecified address")
        } else if s[0] & 0xfe00 == 0xfc00 {
            Some("a unique-local address")
        } else if s[0] & 0xffc0 == 0xfe80 {
            Some("a link-local address")
        } else if a.is_multicast() {
            Some("a multicast address")
        } else {
            None
        }
    }
    let why = match url.host()? {
        url::Host::Ipv4(a) => v4(a),
        url::Host::Ipv6(a) => v6(a),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let internal = name == "localhost"
                || [".localhost", ".local", ".internal"]
                    .iter()
                    .any(|s| name.ends_with(s));
            internal.then_some("an internal name")
        }
    };
    why.map(|w| {
        format!(
            "{} is {w}; health checks reach only the public internet",
            url.host_str().unwrap_or_default()
        )
    })
}

/// The registered URLs of a `POST /apps/:app_id/health-urls` body `{ "urls": [...] }`: http or
/// https, with a host on the public internet (unless `allow_private`, for local tests), no
/// credentials, at most `max`; duplicates are dropped, order kept.
pub fn parse_urls(body: &[u8], max: usize, allow_private: bool) -> Result<Vec<String>, ReadError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        urls: Vec<String>,
    }
    let body: Body = serde_json::from_slice(body).map_err(|e| {
        ReadError::InvalidHealthUrls(format!(
            "body must be {{ \"urls\": [\"https://…\", …] }}: {e}"
        ))
    })?;
    let mut out: Vec<String> = Vec::new();
    for (i, raw) in body.urls.iter().enumerate() {
        let bad = |why: &str| ReadError::InvalidHealthUrls(format!("urls[{i}]: {why}"));
        if raw.len() > MAX_URL_LEN {
            return Err(bad(&format!("longer than {MAX_URL_LEN} characters")));
        }
        let url = url::Url::parse(raw.trim()).map_err(|e| match e {
            // The URL parser reads ASCII host names only (`idna_adapter` 1.0, Cargo.toml): an
            // internationalized name is checked by its punycode form, which is what it is on
            // the wire anyway.
            url::ParseError::IdnaError => {
                bad("a host name outside ASCII; give its punycode form (xn--...)")
            }
            e => bad(&format!("not a URL ({e})")),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(&format!(
                "scheme {:?}; only http and https are checked",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("credentials in a URL would be stored and logged"));
        }
        if let (false, Some(why)) = (allow_private, unreachable_host(&url)) {
            return Err(bad(&format!("{raw}: {why}")));
        }
        let url = url.to_string();
        if !out.contains(&url) {
            out.push(url);
        }
    }
    if out.len() > max {
        return Err(ReadError::InvalidHealthUrls(format!(
            "{} URLs; at most {max} per app (MAX_HEALTH_URLS)",
            out.len()
        )));
    }
    Ok(out)
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub url: String,
    pub checked_at: i64,
    /// The HTTP status, if the URL answered in time.
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// Why there is no status (unreachable, timeout).
    pub error: Option<String>,
}

impl CheckResult {
    /// Healthy: answered with 2xx or 3xx.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..400).contains(&s))
    }

    /// The level a failure is logged at: WARN for a 4xx answer (the URL is there but refuses),
    /// ERROR for a 5xx answer or no answer at all; `None` when healthy.
    pub fn level(&self) -> Option<Level> {
        match self.status {
            _ if self.ok() => None,
            Some(s) if (400..500).contains(&s) => Some(Level::Warn),
            _ => Some(Level::Error),
        }
    }

    /// The message of the failure's log entry.
    pub fn message(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => format!(
                "health check failed: {} answered {s} in {} ms",
                self.url, self.latency_ms
            ),
            (None, Some(e)) => format!("health check failed: {} did not answer: {e}", self.url),
            (None, None) => format!("health check failed: {} did not answer", self.url),
        }
    }

    /// The failure's custom data (`context.health_check.*` in queries).
    pub fn context(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "health_check".into(),
            json!({ "url": self.url, "status": self.status, "latency_ms": self.latency_ms,
                    "error": self.error, "checked_at": self.checked_at }),
        );
        m
    }
}

/// Stores one result: `?1` app, `?2` url, `?3` checked_at, `?4` ok, `?5` status, `?6` latency,
/// `?7` error.
pub fn insert_result_sql() -> String {
    format!(
        "INSERT INTO {CHECKS_TABLE} (app_id, url, checked_at, ok, status, latency_ms, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    )
}

/// Keeps the newest [`KEEP_RESULTS`] results of URL `?2` of app `?1`.
pub fn trim_results_sql() -> String {
    format!(
        "DELETE FROM {CHECKS_TABLE} WHERE app_id = ?1 AND url = ?2 AND id NOT IN \
         (SELECT id FROM {CHECKS_TABLE} WHERE app_id = ?1 AND url = ?2 \
          ORDER BY checked_at DESC, id DESC LIMIT {KEEP_RESULTS})"
    )
}

/// The registered URLs of app `?1`, oldest first.
pub fn urls_sql() -> String {
    format!("SELECT url, added_at FROM {URLS_TABLE} WHERE app_id = ?1 ORDER BY added_at, url")
}

/// The newest [`HISTORY`] results of each URL of app `?1`.
pub fn history_sql() -> String {
    format!(
        "SELECT url, checked_at, ok, status, latency_ms, error FROM ( \
           SELECT *, row_number() OVER (PARTITION BY url ORDER BY checked_at DESC, id DESC) AS n \
           FROM {CHECKS_TABLE} WHERE app_id = ?1) \
         WHERE n <= {HISTORY} ORDER BY url, checked_at DESC, id DESC"
    )
}

/// A stored result, as read back.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredResult {
    pub url: String,
    pub checked_at: f64,
    pub ok: f64,
    pub status: Option<f64>,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// `GET /health/:app_id`: each registered URL with its latest result (`null` before the first
/// check) and its recent history, newest first.
pub fn present(urls: &[String], results: &[StoredResult], interval_ms: u64) -> Value {
    let checks: Vec<Value> = urls
        .iter()
        .map(|url| {
            let history: Vec<Value> = results
                .iter()
                .filter(|r| &r.url == url)
                .map(|r| {
                    json!({
                        "checked_at": r.checked_at as i64,
                        "ok": r.ok != 0.0,
                        "status": r.status.map(|s| s as u16),
                        "latency_ms": r.latency_ms as i64,
                        "error": r.error,
                    })
                })
                .collect();
            json!({ "url": url, "latest": history.first(), "history": history })
        })
        .collect();
    json!({ "interval_ms": interval_ms, "urls": checks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Vec<String>, ReadError> {
        parse_urls(v.to_string().as_bytes(), 3, false)
    }

    #[test]
    fn urls_are_http_or_https_with_a_host_and_capped() {
        assert_eq!(
            parse(
                json!({"urls": ["https://shop.example/health", "http://203.0.113.9:8787/x",
                                  "https://shop.example/health"]})
            )
            .unwrap(),
            ["https://shop.example/health", "http://203.0.113.9:8787/x"]
        );
        assert_eq!(parse(json!({"urls": []})).unwrap(), Vec::<String>::new());
        for bad in [
            json!({"urls": ["ftp://x.example/"]}),
            json!({"urls": ["not a url"]}),
            json!({"urls": ["https://user:pw@x.example/"]}),
            json!({"urls": ["file:///etc/passwd"]}),
            json!({"urls": ["https://a.example/", "https://b.example/", "https://c.example/",
                            "https://d.example/"]}),
            json!({"urls": "https://a.example/"}),
            json!({"url": ["https://a.example/"]}),
            json!({"urls": [format!("https://a.example/{}", "x".repeat(MAX_URL_LEN))]}),
        ] {
            assert_eq!(
                parse(bad.clone()).unwrap_err().code(),
                "INVALID_HEALTH_URLS",
                "{bad}"
            );
        }
        assert_eq!(
            parse_urls(b"{", 3, false).unwrap_err().code(),
            "INVALID_HEALTH_URLS"
        );
    }

    #[test]
    fn an_internationalized_host_is_given_by_its_punycode_form() {
        let e = parse(json!({"urls": ["https://b\u{fc}cher.example/health"]})).unwrap_err();
        assert_eq!(e.code(), "INVALID_HEALTH_URLS");
        assert!(e.to_string().contains("punycode"), "{e}");
        assert_eq!(
            parse(json!({"urls": ["https://xn--bcher-kva.example/health"]})).unwrap(),
            ["https://xn--bcher-kva.example/health"]
        );
    }

    #[test]
    fn failures_are_warn_for_4xx_and_error_for_5xx_or_no_answer() {
        let r = |status: Option<u16>, error: Option<&str>| CheckResult {
            url: "https://x.example/".into(),
            checked_at: 1,
            status,
            latency_ms: 12,
            error: error.map(str::to_string),
        };
        assert_eq!(r(Some(200), None).level(), None);
        assert_eq!(r(Some(301), None).level(), None);
        assert_eq!(r(Some(404), None).level(), Some(Level::Warn));
        assert_eq!(r(Some(500), None).level(), Some(Level::Error));
        assert_eq!(
            r(None, Some("timed out after 10000 ms")).level(),
            Some(Level::Error)
        );
        assert_eq!(
            r(Some(503), None).message(),
            "health check failed: https://x.example/ answered 503 in 12 ms"
        );
        assert!(r(None, Some("refused"))
            .message()
            .ends_with("did not answer: refused"));
        assert_eq!(r(Some(500), None).context()["health_check"]["status"], 500);
    }

    #[test]
    fn results_are_kept_per_url_and_trimmed_to_the_newest() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(include_str!("../../migrations/0006_health.sql"))
            .unwrap();
        for i in 0..(KEEP_RESULTS as i64 + 5) {
            for url in ["a", "b"] {
                db.execute(
                    &insert_result_sql(),
                    rusqlite::params!["app", url, i, 1, 200, 5, None::<String>],
                )
                .unwrap();
            }
        }
        db.execute(&trim_results_sql(), ["app", "a"]).unwrap();
        let count = |url: &str| -> i64 {
            db.query_row(
                "SELECT count(*) FROM health_checks WHERE url = ?1",
                [url],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(count("a"), KEEP_RESULTS as i64);
        assert_eq!(count("b"), KEEP_RESULTS as i64 + 5, "other URLs untouched");
        let oldest: i64 = db
            .query_row(
                "SELECT min(checked_at) FROM health_checks WHERE url = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(oldest, 5, "the oldest went");
        let n: i64 = db
            .query_row(
                &format!("SELECT count(*) FROM ({})", history_sql()),
                ["app"],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 2 * HISTORY as i64);
    }

    #[test]
    fn internal_addresses_are_refused_in_every_notation() {
        let refused = [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:7f00:1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://100.100.100.200/",
            "http://0/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://metadata.google.internal/",
            "http://printer.local/",
        ];
        for raw in refused {
            let body = json!({ "urls": [raw] }).to_string();
            let e = parse_urls(body.as_bytes(), 3, false).unwrap_err();
            assert_eq!(e.code(), "INVALID_HEALTH_URLS", "{raw}");
            assert!(e.to_string().contains(raw), "names the URL: {e}");
            assert!(
                parse_urls(body.as_bytes(), 3, true).is_ok(),
                "{raw} allowed locally"
            );
        }
        for ok in [
            "https://example.com/health",
            "http://93.184.216.34/",
            "http://[2606:4700::1]/",
            "https://localhost.example.com/",
            "http://100.128.0.1/",
        ] {
            let body = json!({ "urls": [ok] }).to_string();
            assert!(parse_urls(body.as_bytes(), 3, false).is_ok(), "{ok}");
        }
    }
}
