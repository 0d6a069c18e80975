//! CORS for browser senders and readers on other origins: which origins may call the API
//! (`CORS_ORIGINS`), what a preflight is answered, and the headers an answer carries. Pure: the
//! router asks and applies. Off by default (no origin listed), so a browser page elsewhere can
//! neither send logs nor read them until a team lists its origin.
//!
//! Only app keys cross origins: `X-Admin-Key` is not an allowed request header, so the admin API
//! stays usable from servers, scripts and the dashboard the worker serves itself (same origin).

use thiserror::Error;

/// Why a `CORS_ORIGINS` value, or a preflight's origin, is refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct CorsError(pub String);

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// None: no CORS headers, preflights refused (the default).
    #[default]
    Off,
    /// Every origin (`*`): for public ingest from pages anywhere.
    Any,
    /// These origins exactly (scheme, host and port, as browsers send `Origin`).
    List(Vec<String>),
}

/// The request headers a cross-origin caller may send: the body's type and encoding, an app
/// key, and what ingest reads besides (`X-Request-ID`, `X-App-ID`, `Idempotency-Key`).
pub const ALLOW_HEADERS: &str =
    "Content-Type, Content-Encoding, X-API-Key, Authorization, X-Request-ID, X-App-ID, Idempotency-Key";
/// Methods a cross-origin caller may use: ingest and reads (`DELETE` is the admin's only).
pub const ALLOW_METHODS: &str = "GET, POST";
/// What a page may read of an answer besides the simple headers.
pub const EXPOSE_HEADERS: &str = "X-Request-ID, Retry-After";
/// How long a browser may cache a preflight answer (seconds): ten minutes, so a change to
/// `CORS_ORIGINS` reaches browsers soon.
pub const MAX_AGE_SECS: u32 = 600;

impl CorsOrigins {
    /// `CORS_ORIGINS`: empty (off), `*`, or a comma list of origins such as
    /// `https://app.example, http://localhost:5173`.
    pub fn parse(raw: &str) -> Result<CorsOrigins, CorsError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(CorsOrigins::Off);
        }
        if raw == "*" {
            return Ok(CorsOrigins::Any);
        }
        let mut list = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            list.push(origin(part)?);
        }
        Ok(CorsOrigins::List(list))
    }

    /// Whether a browser page at `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            CorsOrigins::Off => false,
            CorsOrigins::Any => true,
            CorsOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// The headers every answer to `origin` carries, or none when it may not call.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        match origin {
            Some(o) if self.allows(o) => vec![
                ("access-control-allow-origin", o.to_string()),
                ("access-control-expose-headers", EXPOSE_HEADERS.into()),
                ("vary", "Origin".into()),
            ],
            _ => Vec::new(),
        }
    }

    /// The answer to a preflight from `origin`: its headers, or why it is refused.
    pub fn preflight(&self, origin: &str) -> Result<Vec<(&'static str, String)>, CorsError> {
        if !self.allows(origin) {
            return Err(CorsError(match self {
                CorsOrigins::Off => "cross-origin requests are off: set CORS_ORIGINS".into(),
                _ => "this origin is not in CORS_ORIGINS".into(),
            }));
        }
        let mut headers = self.response_headers(Some(origin));
        headers.push(("access-control-allow-methods", ALLOW_METHODS.into()));
        headers.push(("access-control-allow-headers", ALLOW_HEADERS.into()));
        headers.push(("access-control-max-age", MAX_AGE_SECS.to_string()));
        Ok(headers)
    }
}

/// One origin as browsers send it: `http` or `https`, a host, an optional port, no path.
fn origin(text: &str) -> Result<String, CorsError> {
    let bad = || {
        CorsError(format!(
            "{text:?} is not an origin like https://app.example (scheme, host, port)"
        ))
    };
    let lower = text.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    if !host_ok || !port_ok {
        return Err(bad());
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_is_off_until_origins_are_listed() {
        let off = CorsOrigins::parse("").unwrap();
        assert_eq!(off, CorsOrigins::Off);
        assert!(!off.allows("https://app.example"));
        assert!(off.response_headers(Some("https://app.example")).is_empty());
        assert!(off.preflight("https://app.example").is_err());
    }

    #[test]
    fn listed_origins_get_headers_and_others_none() {
        let c = CorsOrigins::parse("https://app.example, http://localhost:5173").unwrap();
        assert!(c.allows("https://app.example"));
        assert!(c.allows("http://localhost:5173"));
        assert!(!c.allows("https://evil.example"));
        assert!(
            !c.allows("http://app.example"),
            "the scheme is part of the origin"
        );
        let h = c.response_headers(Some("https://app.example"));
        assert!(h.contains(&("access-control-allow-origin", "https://app.example".into())));
        assert!(h.contains(&("vary", "Origin".into())));
        assert!(c.response_headers(Some("https://evil.example")).is_empty());
        assert!(c.response_headers(None).is_empty());
    }

    #[test]
    fn a_preflight_allows_app_keys_and_never_the_admin_key() {
        let c = CorsOrigins::parse("*").unwrap();
        let h = c.preflight("https://anywhere.example").unwrap();
        let allowed = &h
            .iter()
            .find(|(n, _)| *n == "access-control-allow-headers")
            .unwrap()
            .1;
        assert!(allowed.contains("X-API-Key") && allowed.contains("Authorization"));
        assert!(!allowed.to_ascii_lowercase().contains("x-admin-key"));
        assert!(h.contains(&("access-control-max-age", "600".into())));
    }

    #[test]
    fn malformed_origins_are_refused_with_the_value() {
        for bad in [
            "app.example",
            "https://",
            "https://app.example/path",
            "ftp://app.example",
            "https://app.example:99999",
            "https://a b",
        ] {
            let e = CorsOrigins::parse(bad).unwrap_err();
            assert!(e.0.contains("not an origin"), "{bad}: {e}");
        }
        assert_eq!(
            CorsOrigins::parse("HTTPS://App.Example:8443").unwrap(),
            CorsOrigins::List(vec!["https://app.example:8443".into()])
        );
    }
}
