//! Redaction users can rely on: values under key names that mean secrets (headers, URL query
//! parameters, custom data at any depth) and credential-shaped values anywhere in an entry never
//! reach D1, on the forwarded path and over REST; `REDACT_KEYS` and `REDACT_PATTERNS` extend the
//! defaults.

use crate::harness::{fast, Logger, LAND};
use serde_json::json;

const JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";

fn logger() -> (Logger, String, String) {
    let opts = fast()
        .var("REDACT_KEYS", "+ssn")
        .var("REDACT_PATTERNS", "myco_tok_:16");
    Logger::with_app(opts, "redact")
}

#[test]
fn what_a_new_user_would_assume_is_secret_is_never_stored() {
    let (logger, app, key) = logger();
    let message = format!("login with {JWT} by {AWS}");
    let r = logger.parent(
        "GET",
        "/account?password=hunter2secret&page=2&api_key=k-123456789",
        &[
            ("x-fixture-log-key", &key),
            ("x-fixture-log-message", &message),
            (
                "x-fixture-log-data",
                r#"{"password":"p4ssw0rd!","user":{"id":7,"api_key":"k-abc"},"ssn":"078-05-1120","note":"card 4111 1111 1111 1111"}"#,
            ),
            ("x-password", "hunter2secret"),
            ("x-api-token", "tok-abc-123456"),
            ("x-kept", "plain value"),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let rows = logger.wait_for_rows(&app, 1, LAND);
    let row = &rows[0];
    let stored = serde_json::to_string(row).unwrap();
    for secret in [
        "hunter2secret",
        "k-123456789",
        AWS,
        JWT,
        "p4ssw0rd!",
        "k-abc",
        "078-05-1120",
        "4111",
        "tok-abc",
    ] {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
    }
    assert_eq!(row["message"], "login with [REDACTED] by [REDACTED]");
    let url = row["url"].as_str().unwrap();
    assert!(
        url.ends_with("/account?password=[REDACTED]&page=2&api_key=[REDACTED]"),
        "{url}"
    );
    assert_eq!(row["context"]["password"], "[REDACTED]");
    assert_eq!(
        row["context"]["user"],
        json!({"id": 7, "api_key": "[REDACTED]"})
    );
    assert_eq!(row["context"]["ssn"], "[REDACTED]", "REDACT_KEYS=+ssn");
    assert_eq!(row["context"]["note"], "card [REDACTED]");
    let headers = row["headers"].as_object().unwrap();
    assert!(!headers.contains_key("x-password") && !headers.contains_key("x-api-token"));
    assert_eq!(headers["x-kept"], "plain value");
}

#[test]
fn rest_entries_are_scrubbed_the_same_way() {
    let (logger, app, key) = logger();
    let stripe = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";
    let own = "myco_tok_0123456789abcdef";
    let r = logger.post_logs(
        &key,
        &json!({"logs": [
            {"message": format!("charge with {stripe}"), "context": {"deep": {"client_secret": "cs-1", "list": [{"Authorization": "Bearer x"}]}}},
            {"message": format!("our own token {own}"), "context": {"author": "kept"}}
        ]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let rows = logger.wait_for_rows(&app, 2, LAND);
    let by = |m: &str| {
        rows.iter()
            .find(|r| r["message"].as_str().unwrap().starts_with(m))
            .unwrap()
            .clone()
    };
    let charge = by("charge");
    assert_eq!(charge["message"], "charge with [REDACTED]");
    assert_eq!(
        charge["context"]["deep"],
        json!({"client_secret": "[REDACTED]", "list": [{"Authorization": "[REDACTED]"}]})
    );
    let own_row = by("our own");
    assert_eq!(
        own_row["message"], "our own token [REDACTED]",
        "REDACT_PATTERNS prefix"
    );
    assert_eq!(
        own_row["context"]["author"], "kept",
        "auth is a word, not any part of a key"
    );
}
