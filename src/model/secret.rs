//! Secrets that must never be stored, and finding them in any text an entry would store: the
//! admin key and the caller's own key as they are, base64-encoded (as in a Basic credential),
//! percent-encoded in any mix of escapes and cases (as in a URL or form body), and anything
//! shaped like an app key (`lk_` and 64 hex digits), whichever app it belongs to.

use crate::apps::app::KEY_PREFIX;
use crate::model::scrub::Scrub;
use std::rc::Rc;

/// Replacement for a secret found inside a logged value.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets shorter than this are not searched for: they would match ordinary text.
pub const MIN_SECRET_LEN: usize = 8;

/// Hex digits after the prefix of an app key.
const KEY_HEX: usize = 64;

/// The forms of the secrets of one request, made once, and what else is scrubbed (`scrub`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    forms: Vec<String>,
    /// Shared with the configuration: a request's secrets are made per request, its scrub list
    /// once per isolate.
    scrub: Rc<Scrub>,
}

impl Secrets {
    /// `secrets` with the default scrubbing (`model::scrub`).
    pub fn new(secrets: &[&str]) -> Secrets {
        Secrets::with_scrub(secrets, Rc::new(Scrub::default()))
    }

    /// `secrets` with `scrub` (the configured key names and credential shapes).
    pub fn with_scrub(secrets: &[&str], scrub: Rc<Scrub>) -> Secrets {
        let mut forms = Vec::new();
        for s in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
            let b = s.as_bytes();
            for form in [
                s.to_string(),
                base64(b, STANDARD, true),
                base64(b, STANDARD, false),
                base64(b, URL_SAFE, false),
            ] {
                if !forms.contains(&form) {
                    forms.push(form);
                }
            }
        }
        // Longest first: a form that contains another is replaced whole.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        Secrets { forms, scrub }
    }

    /// Whether `s` holds a secret in any form, or a credential-shaped value.
    pub fn found_in(&self, s: &str) -> bool {
        self.raw_in(s)
            || has_key_shape(s)
            || !self.scrub.spans(s).is_empty()
            || percent_decoded(s).is_some_and(|d| {
                self.raw_in(&d) || has_key_shape(&d) || !self.scrub.spans(&d).is_empty()
            })
    }

    /// Whether a key (a header, a query parameter, a custom data field) names a secret.
    pub fn sensitive_key(&self, name: &str) -> bool {
        self.scrub.sensitive_key(name)
    }

    /// A query string (`a=1&password=x`) with the values of sensitive parameters replaced by
    /// [`REDACTED`], or `None` when it has none.
    pub fn redact_query(&self, query: &str) -> Option<String> {
        let mut changed = false;
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if !v.is_empty() && self.sensitive_name(k) => {
                    changed = true;
                    format!("{k}={REDACTED}")
                }
                _ => pair.to_string(),
            })
            .collect();
        changed.then(|| parts.join("&"))
    }

    /// A URL with the values of its sensitive query parameters replaced, or `None`.
    pub fn redact_url_query(&self, url: &str) -> Option<String> {
        let (head, rest) = url.split_once('?')?;
        let (query, fragment) = match rest.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (rest, None),
        };
        let query = self.redact_query(query)?;
        Some(match fragment {
            Some(f) => format!("{head}?{query}#{f}"),
            None => format!("{head}?{query}"),
        })
    }

    /// A parameter name as sent (percent-encoded maybe) names a secret.
    fn sensitive_name(&self, raw: &str) -> bool {
        self.sensitive_key(raw) || percent_decoded(raw).is_some_and(|d| self.sensitive_key(&d))
    }

    fn raw_in(&self, s: &str) -> bool {
        self.forms.iter().any(|f| s.contains(f.as_str()))
    }

    /// `s` with every secret replaced by [`REDACTED`], or `None` when it holds none. Text that
    /// holds a secret only once percent-decoded is stored decoded, with the secret replaced.
    pub fn redact(&self, s: &str) -> Option<String> {
        if self.raw_in(s) || has_key_shape(s) || !self.scrub.spans(s).is_empty() {
            return Some(self.replace(s));
        }
        let decoded = percent_decoded(s)?;
        (self.raw_in(&decoded) || has_key_shape(&decoded) || !self.scrub.spans(&decoded).is_empty())
            .then(|| self.replace(&decoded))
    }

    fn replace(&self, s: &str) -> String {
        let mut out = s.to_string();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), REDACTED);
            }
        }
        let out = redact_key_shapes(&out);
        let spans = self.scrub.spans(&out);
        if spans.is_empty() {
            return out;
        }
        let mut scrubbed = String::with_capacity(out.len());
        let mut at = 0;
        for r in spans {
            scrubbed.push_str(&out[at..r.start]);
            scrubbed.push_str(REDACTED);
            at = r.end;
        }
        scrubbed.push_str(&out[at..]);
        scrubbed
    }
}

/// Where an app key (`lk_` + 64 hex digits) starts in `s`, from `from` on.
fn key_at(s: &str, from: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = from;
    while let Some(at) = s.get(i..)?.find(KEY_PREFIX) {
        let start = i + at;
        let hex = &bytes[start + KEY_PREFIX.len()..];
        if hex.len() >= KEY_HEX && hex[..KEY_HEX].iter().all(u8::is_ascii_hexdigit) {
            return Some(start);
        }
        i = start + KEY_PREFIX.len();
    }
    None
}

fn has_key_shape(s: &str) -> bool {
    key_at(s, 0).is_some()
}

fn redact_key_shapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(start) = key_at(s, i) {
        out.push_str(&s[i..start]);
        out.push_str(REDACTED);
        i = start + KEY_PREFIX.len() + KEY_HEX;
    }
    out.push_str(&s[i..]);
    out
}

/// `s` percent-decoded (and `+` read as a space, as in a form), when it has anything to decode
/// and decodes to UTF-8.
fn percent_decoded(s: &str) -> Option<String> {
    if !s.contains('%') && !s.contains('+') {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let v = u32::from(chunk[0]) << 16
            | u32::from(*chunk.get(1).unwrap_or(&0)) << 8
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= n {
                out.push(alphabet[(v >> (18 - 6 * k) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-secret/0123+456";

    #[test]
    fn base64_is_the_standard_encoding() {
        assert_eq!(base64(b"Man", STANDARD, true), "TWFu");
        assert_eq!(base64(b"Ma", STANDARD, true), "TWE=");
        assert_eq!(base64(b"M", STANDARD, true), "TQ==");
        assert_eq!(base64(b"M", STANDARD, false), "TQ");
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE, false), "-_8");
    }

    #[test]
    fn every_common_form_of_a_secret_is_found_and_replaced() {
        let s = Secrets::new(&[ADMIN]);
        let encoded = "admin-secret%2F0123%2B456";
        let all = ADMIN
            .bytes()
            .map(|b| format!("%{b:02x}"))
            .collect::<String>();
        let basic = base64(format!("user:{ADMIN}").as_bytes(), STANDARD, true);
        for text in [
            format!("key={ADMIN}"),
            format!("/x?key={encoded}"),
            format!("/x?key={}", encoded.to_lowercase()),
            format!("/x?key={all}"),
            format!("token {}", base64(ADMIN.as_bytes(), STANDARD, true)),
        ] {
            assert!(s.found_in(&text), "{text}");
            let r = s.redact(&text).unwrap();
            assert!(r.contains(REDACTED) && !r.contains(ADMIN), "{text} -> {r}");
        }
        // Inside a Basic credential the secret's base64 is not aligned: the header itself is
        // never stored (`enrich`), so only its own forms are searched for here.
        let _ = basic;
        assert_eq!(s.redact("nothing here, 100% sure + ok"), None);
    }

    #[test]
    fn any_app_keys_shape_is_redacted_whoever_it_belongs_to() {
        let other = format!("lk_{}", "ab12".repeat(16));
        let s = Secrets::new(&[]);
        assert!(s.found_in(&format!("Bearer {other}")));
        assert_eq!(
            s.redact(&format!("a {other} b {other}")).unwrap(),
            format!("a {REDACTED} b {REDACTED}")
        );
        assert_eq!(s.redact("lk_short and lk_"), None);
    }

    #[test]
    fn short_secrets_are_not_searched_for() {
        let s = Secrets::new(&["abc"]);
        assert_eq!(s.redact("abcabc"), None);
    }
}
