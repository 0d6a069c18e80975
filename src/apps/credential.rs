//! Where a client puts its app key: `X-API-Key`, or the `Authorization` header that logging
//! libraries already know how to send: `Bearer <key>` (OpenTelemetry exporters' headers,
//! pino/winston transports) or HTTP Basic (`python-logging-loki`, `winston-loki`, Promtail), whose
//! password is the key (the user name is free: an app id, say; a key given as the user name with
//! no password works too). Pure: the registry checks the key.

/// A key a request presents, and where it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub key: String,
    pub from: &'static str,
}

/// The key a request presents: `X-API-Key` first, then `Authorization`.
pub fn credential(api_key: Option<&str>, authorization: Option<&str>) -> Option<Credential> {
    if let Some(k) = api_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Some(Credential {
            key: k.to_string(),
            from: "X-API-Key",
        });
    }
    let auth = authorization?.trim();
    let (scheme, rest) = auth.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Some(Credential {
            key: rest.to_string(),
            from: "Authorization: Bearer",
        });
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let text = String::from_utf8(decode_base64(rest)?).ok()?;
        let (user, password) = text.split_once(':').unwrap_or((&text, ""));
        let key = if password.is_empty() { user } else { password };
        return (!key.is_empty()).then(|| Credential {
            key: key.to_string(),
            from: "Authorization: Basic",
        });
    }
    None
}

/// Standard base64 (padding optional); `None` for anything else.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits = text.trim_end_matches('=').as_bytes();
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut v = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            v |= u32::from(value(*c)?) << (18 - 6 * i);
        }
        let bytes = v.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(api: Option<&str>, auth: Option<&str>) -> Option<(String, &'static str)> {
        credential(api, auth).map(|c| (c.key, c.from))
    }

    #[test]
    fn a_key_is_taken_from_each_place_clients_put_it() {
        assert_eq!(
            key(Some("k1"), Some("Bearer k2")),
            Some(("k1".into(), "X-API-Key"))
        );
        assert_eq!(
            key(None, Some("Bearer k2")),
            Some(("k2".into(), "Authorization: Bearer"))
        );
        assert_eq!(
            key(None, Some("bearer  k2 ")),
            Some(("k2".into(), "Authorization: Bearer"))
        );
        // "shop:k3" and "k4:" in base64.
        assert_eq!(
            key(None, Some("Basic c2hvcDprMw==")),
            Some(("k3".into(), "Authorization: Basic"))
        );
        assert_eq!(
            key(None, Some("Basic azQ6")),
            Some(("k4".into(), "Authorization: Basic"))
        );
        assert_eq!(
            key(None, Some("Basic azQ")),
            Some(("k4".into(), "Authorization: Basic")),
            "unpadded"
        );
    }

    #[test]
    fn anything_else_presents_no_key() {
        for auth in [
            "",
            "Bearer",
            "Bearer  ",
            "Basic !!!",
            "Basic Og==",
            "Digest x",
            "k",
        ] {
            assert_eq!(key(None, Some(auth)), None, "{auth:?}");
        }
        assert_eq!(key(Some("  "), None), None);
        assert_eq!(decode_base64("YWJj"), Some(b"abc".to_vec()));
        assert_eq!(decode_base64("YQ"), Some(b"a".to_vec()));
        assert_eq!(decode_base64("Y"), None);
    }
}
