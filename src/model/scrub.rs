//! What a log must not keep although nobody named it a secret: values under key names that mean
//! secrets (`password`, `api_key`, `authorization`, … in headers, URL query parameters and custom
//! data at any depth), and values shaped like common credentials wherever they stand (JWTs, AWS
//! access key ids, GitHub, Slack and Stripe tokens, PEM private keys, card numbers that pass the
//! Luhn check). Both lists have defaults, like the common error trackers' scrubbers, that a team
//! extends or trims with `REDACT_KEYS` and `REDACT_PATTERNS`. Pure; `secret::Secrets` applies it
//! with the request's own keys.

use std::ops::Range;

/// Key names that mean secrets, compared without case, `-`, `_` or `.`: a key holding one of
/// these is sensitive (`X-Api-Token`, `db_password`, `sessionToken`, `client-secret`).
pub const DEFAULT_KEY_TERMS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "session",
    "privatekey",
    "credential",
    "bearer",
    "signature",
    "cardnumber",
    "cvv",
];

/// The shortest built-in token: a Slack token's `xoxb-` and 10 more (the others are longer).
const SHORTEST_TOKEN: usize = 15;

/// The credential shapes found in values by default (`REDACT_PATTERNS` names them).
pub const DEFAULT_SHAPES: &[&str] = &["jwt", "aws", "github", "slack", "stripe", "pem", "card"];

/// Terms shorter than this must be a whole word of the key (`auth`, `X-Auth`, `user_ssn`), not
/// any part of one: as a part they would catch ordinary names (`author`).
const WHOLE_WORD_BELOW: usize = 5;

/// What to scrub: the key terms, the built-in shapes, and token prefixes of a team's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrub {
    terms: Vec<String>,
    /// Which of [`DEFAULT_SHAPES`] are on, in its order (looked up per text, so not by name).
    shapes: [bool; 7],
    /// `(prefix, shortest length of what follows)`: a token of a team's own.
    prefixes: Vec<(String, usize)>,
}

impl Default for Scrub {
    fn default() -> Self {
        Scrub {
            terms: DEFAULT_KEY_TERMS.iter().map(|t| t.to_string()).collect(),
            shapes: [true; 7],
            prefixes: Vec::new(),
        }
    }
}

/// Why `REDACT_KEYS` or `REDACT_PATTERNS` is refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct ScrubError(pub String);

fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

impl Scrub {
    /// `REDACT_KEYS`: a comma list; `+term` adds to the defaults, `-term` takes one away, and a
    /// list of plain terms replaces them. `REDACT_PATTERNS`: `-shape` turns a built-in shape off,
    /// `prefix:N` adds tokens that start with `prefix` and go on for at least N characters of
    /// letters, digits, `_` or `-`.
    pub fn parse(keys: Option<&str>, patterns: Option<&str>) -> Result<Scrub, ScrubError> {
        let mut s = Scrub::default();
        if let Some(keys) = keys.filter(|k| !k.trim().is_empty()) {
            let items: Vec<&str> = keys
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .collect();
            if items.iter().all(|i| !i.starts_with(['+', '-'])) {
                s.terms.clear();
            }
            for item in items {
                let (op, term) = match item.split_at(item.starts_with(['+', '-']) as usize) {
                    ("-", t) => ('-', normalized(t)),
                    (_, t) => ('+', normalized(t)),
                };
                if term.is_empty() || !term.chars().all(|c| c.is_alphanumeric()) {
                    return Err(ScrubError(format!(
                        "REDACT_KEYS: {item:?} is not a key name"
                    )));
                }
                s.terms.retain(|t| *t != term);
                if op == '+' {
                    s.terms.push(term);
                }
            }
        }
        for item in patterns
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            if let Some(shape) = item.strip_prefix('-') {
                let Some(i) = DEFAULT_SHAPES.iter().position(|x| *x == shape) else {
                    return Err(ScrubError(format!(
                        "REDACT_PATTERNS: no built-in shape {shape:?}; known: {}",
                        DEFAULT_SHAPES.join(", ")
                    )));
                };
                s.shapes[i] = false;
                continue;
            }
            let bad = || {
                ScrubError(format!(
                    "REDACT_PATTERNS: {item:?} is not prefix:N (a prefix of at least 3 \
                     characters, and the shortest length of the rest) or -shape"
                ))
            };
            let (prefix, n) = item.rsplit_once(':').ok_or_else(bad)?;
            let n: usize = n.parse().map_err(|_| bad())?;
            if prefix.len() < 3 || !(8..=512).contains(&n) {
                return Err(bad());
            }
            s.prefixes.push((prefix.to_string(), n));
        }
        Ok(s)
    }

    /// Whether a key (a header, a query parameter, a custom data field) names a secret.
    pub fn sensitive_key(&self, name: &str) -> bool {
        let n = normalized(name);
        self.terms.iter().any(|t| {
            if t.len() < WHOLE_WORD_BELOW {
                // The words are made only for a key that holds the term at all (rare).
                n == *t || (n.contains(t.as_str()) && key_words(name).any(|w| w == *t))
            } else {
                n.contains(t.as_str())
            }
        })
    }

    /// Where credential-shaped values stand in `s`, in order, not overlapping.
    pub fn spans(&self, s: &str) -> Vec<Range<usize>> {
        // Run on every text of every entry: the shapes are looked up once, and what cannot be
        // a token (a word shorter than the shortest), a card (fewer than 13 digits in all) or a
        // key block (no `-----BEGIN`) is passed over without a closer look.
        let [jwt, aws, github, slack, stripe, pem, card] = self.shapes;
        let shortest = self
            .prefixes
            .iter()
            .map(|(p, n)| p.len() + n)
            .chain((jwt || aws || github || slack || stripe).then_some(SHORTEST_TOKEN))
            .min();
        let mut out: Vec<Range<usize>> = Vec::new();
        if pem && s.contains("-----BEGIN ") {
            out.extend(pem_blocks(s));
        }
        if let Some(shortest) = shortest.filter(|n| s.len() >= *n) {
            for w in words(s).filter(|w| w.len() >= shortest) {
                let t = &s[w.clone()];
                let hit = (jwt && is_jwt(t))
                    || (aws && is_aws_key_id(t))
                    || (github && is_github_token(t))
                    || (slack && is_slack_token(t))
                    || (stripe && is_stripe_key(t))
                    || self
                        .prefixes
                        .iter()
                        .any(|(p, n)| t.starts_with(p.as_str()) && t.len() >= p.len() + n);
                if hit {
                    out.push(w);
                }
            }
        }
        if card && s.bytes().filter(u8::is_ascii_digit).count() >= 13 {
            out.extend(card_numbers(s));
        }
        out.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::new();
        for r in out {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }
}

/// The words of a key, lower case: split at `-`, `_`, `.`, spaces and camelCase humps.
fn key_words(name: &str) -> impl Iterator<Item = String> + '_ {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let boundary = !c.is_alphanumeric() || (c.is_uppercase() && prev_lower);
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words.into_iter()
}

/// Runs of token characters (letters, digits, `_`, `-`, `.`), where tokens live.
fn words(s: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let b = s.as_bytes();
    let token = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.');
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && !token(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        while i < b.len() && token(b[i]) {
            i += 1;
        }
        Some(start..i)
    })
}

fn base64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// A JWT: three base64url parts, the first two JSON objects (`eyJ` is `{"` encoded).
fn is_jwt(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[1].starts_with("eyJ")
        && parts.iter().all(|p| base64url(p))
        && parts[2].len() >= 8
}

/// An AWS access key id: `AKIA` (long-term) or `ASIA` (temporary) and 16 of A-Z, 2-7.
fn is_aws_key_id(t: &str) -> bool {
    t.len() == 20
        && (t.starts_with("AKIA") || t.starts_with("ASIA"))
        && t[4..]
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
}

/// A GitHub token: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and 36 or more alphanumerics, or a
/// fine-grained `github_pat_…`.
fn is_github_token(t: &str) -> bool {
    let classic = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"].iter().any(|p| {
        t.starts_with(p) && t.len() >= 40 && t[4..].bytes().all(|c| c.is_ascii_alphanumeric())
    });
    classic || (t.starts_with("github_pat_") && t.len() >= 40)
}

/// A Slack token: `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xapp-` and at least 10 more.
fn is_slack_token(t: &str) -> bool {
    ["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"]
        .iter()
        .any(|p| t.starts_with(p) && t.len() >= p.len() + 10)
}

/// A Stripe secret or restricted key: `sk_live_`, `sk_test_`, `rk_live_`, `rk_test_` and at
/// least 16 alphanumerics.
fn is_stripe_key(t: &str) -> bool {
    ["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
        .iter()
        .any(|p| {
            t.starts_with(p)
                && t.len() >= p.len() + 16
                && t[p.len()..].bytes().all(|c| c.is_ascii_alphanumeric())
        })
}

/// PEM private keys, from `-----BEGIN … PRIVATE KEY-----` to its `END` line (to the end of the
/// text when it is cut off).
fn pem_blocks(s: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = s[from..].find("-----BEGIN ") {
        let start = from + at;
        let Some(line_end) = s[start..]
            .find("-----\n")
            .or_else(|| s[start + 11..].find("-----").map(|e| e + 11))
        else {
            break;
        };
        let header = &s[start..start + line_end];
        if !header.contains("PRIVATE KEY") {
            from = start + 11;
            continue;
        }
        let end = match s[start..].find("-----END ") {
            Some(e) => {
                let tail = start + e + 9;
                s[tail..].find("-----").map_or(s.len(), |x| tail + x + 5)
            }
            None => s.len(),
        };
        out.push(start..end);
        from = end;
    }
    out
}

/// Card numbers: 13 to 19 digits, in groups split by single spaces or dashes, that pass the
/// Luhn check (a random run of digits passes one time in ten; a card number always does).
fn card_numbers(s: &str) -> Vec<Range<usize>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || (i > 0 && (b[i - 1].is_ascii_alphanumeric())) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits: Vec<u8> = Vec::new();
        let mut end = i;
        while i < b.len() {
            if b[i].is_ascii_digit() {
                digits.push(b[i] - b'0');
                i += 1;
                end = i;
            } else if matches!(b[i], b' ' | b'-') && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                i += 1;
            } else {
                break;
            }
        }
        let standalone = end >= b.len() || !b[end].is_ascii_alphanumeric();
        if standalone && (13..=19).contains(&digits.len()) && luhn(&digits) {
            out.push(start..end);
        }
        i = end.max(start + 1);
    }
    out
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = *d as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(s: &str) -> Vec<String> {
        Scrub::default()
            .spans(s)
            .into_iter()
            .map(|r| s[r].to_string())
            .collect()
    }

    #[test]
    fn key_names_that_mean_secrets_are_found_in_any_spelling() {
        let s = Scrub::default();
        for name in [
            "password",
            "X-Password",
            "db_password",
            "passwd",
            "PWD",
            "X-Api-Token",
            "api_key",
            "apiKey",
            "API-KEY",
            "authorization",
            "Cookie",
            "set-cookie",
            "session_token",
            "sessionId",
            "private_key",
            "client-secret",
            "refresh_token",
            "auth",
            "credentials",
            "card_number",
            "cvv",
        ] {
            assert!(s.sensitive_key(name), "{name}");
        }
        assert!(
            s.sensitive_key("X-Auth") && s.sensitive_key("userPwd"),
            "short terms as words"
        );
        for name in [
            "author",
            "user",
            "path",
            "tokenizer_version_x",
            "message",
            "level",
            "cv",
        ] {
            let hit = s.sensitive_key(name);
            // "tokenizer…" holds the term token: a part of a key is enough for long terms.
            assert_eq!(hit, name.starts_with("tokenizer"), "{name}");
        }
    }

    #[test]
    fn every_default_credential_shape_is_found() {
        let jwt =
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(found(&format!("auth failed for {jwt} today")), [jwt]);
        assert_eq!(
            found("key AKIAIOSFODNN7EXAMPLE used"),
            ["AKIAIOSFODNN7EXAMPLE"]
        );
        assert_eq!(found("ASIAY34FZKBOKMUTVV7A"), ["ASIAY34FZKBOKMUTVV7A"]);
        let gh = format!("ghp_{}", "a1B2".repeat(9));
        assert_eq!(found(&format!("token={gh}")), [gh.as_str()]);
        let pat = format!("github_pat_{}", "x".repeat(40));
        assert_eq!(found(&pat), [pat.as_str()]);
        assert_eq!(found("xoxb-1234567890-abcdef"), ["xoxb-1234567890-abcdef"]);
        let stripe = format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc");
        assert_eq!(found(&stripe), [stripe.as_str()]);
        let pem =
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
        assert_eq!(found(&format!("key:\n{pem}\nend")), [pem]);
        assert_eq!(
            found("paid with 4111 1111 1111 1111."),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(found("card 4111-1111-1111-1111"), ["4111-1111-1111-1111"]);
        assert_eq!(found("5500005555555559"), ["5500005555555559"]);
    }

    #[test]
    fn look_alikes_are_left_alone() {
        for text in [
            "order 4111111111111112 shipped",             // fails Luhn
            "trace 01a25330-3278-72cd-8aef-87058571870b", // a UUID
            "AKIAIOSFODNN7EXAMPL",                        // 19 characters
            "eyJhbGciOiJIUzI1NiJ9 only one part",
            "ghp_short",
            "sk_live_short",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "timestamp 1767323045678", // 13 digits, fails Luhn
            "x4111111111111111",       // glued to a letter
        ] {
            assert_eq!(found(text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn teams_extend_and_trim_both_lists() {
        let s = Scrub::parse(Some("+ssn, -session"), Some("-card, myco_tok_:16")).unwrap();
        assert!(s.sensitive_key("user_ssn"));
        assert!(!s.sensitive_key("session_id"));
        assert!(s.sensitive_key("password"), "the other defaults stay");
        assert!(s.spans("4111 1111 1111 1111").is_empty(), "card turned off");
        let tok = "myco_tok_0123456789abcdef";
        assert_eq!(s.spans(tok), vec![(0..tok.len())]);
        assert!(s.spans("myco_tok_short").is_empty());
        let only = Scrub::parse(Some("pin, ssn"), None).unwrap();
        assert!(
            only.sensitive_key("pin") && !only.sensitive_key("password"),
            "a plain list replaces"
        );
        for (keys, patterns) in [
            (Some("+a!b"), None),
            (None, Some("-nosuch")),
            (None, Some("ab:16")),
            (None, Some("prefix:3")),
            (None, Some("prefix")),
        ] {
            assert!(
                Scrub::parse(keys, patterns).is_err(),
                "{keys:?} {patterns:?}"
            );
        }
    }
}
