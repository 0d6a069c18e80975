//! Ingest path 1: a parent worker forwards its own request over a service binding.

use crate::harness::{fast, Logger, ADMIN_KEY, LAND};
use serde_json::json;

#[test]
fn a_forwarded_request_becomes_one_enriched_row_without_secrets() {
    let (logger, app, key) = Logger::with_app(fast(), "fwd");

    let r = logger.parent(
        "POST",
        "/checkout/pay?order=77&coupon=SPRING",
        &[
            ("x-fixture-log-key", &key),
            ("x-fixture-log-data", r#"{"user":{"id":42},"cart":[1,2]}"#),
            ("x-fixture-log-level", "warn"),
            ("x-fixture-log-message", "payment started"),
            ("user-agent", "e2e-agent/1.0"),
            ("referer", "https://shop.example/cart"),
            ("content-type", "application/json"),
            ("x-request-id", "req-fwd-1"),
            ("cookie", "session=very-secret-cookie"),
            ("authorization", "Bearer secret-bearer-token"),
            ("proxy-authorization", "Basic secret-proxy"),
            ("x-api-key", "secret-x-api-key"),
            ("x-custom-header", "kept-value"),
            ("cf-connecting-ip", "203.0.113.50"),
        ],
        Some(br#"{"amount": 10}"#),
    );
    // The parent answers its client at once; logging happens in its waitUntil.
    assert_eq!(r.status, 200, "{r:?}");

    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["source"], "binding");
    assert_eq!(row["level"], "WARN");
    assert_eq!(row["message"], "payment started");
    assert_eq!(row["method"], "POST");
    assert_eq!(row["path"], "/checkout/pay");
    assert_eq!(row["query"], "order=77&coupon=SPRING");
    assert_eq!(row["host"], "127.0.0.1");
    assert!(row["url"]
        .as_str()
        .unwrap()
        .ends_with("/checkout/pay?order=77&coupon=SPRING"));
    assert_eq!(row["user_agent"], "e2e-agent/1.0");
    assert_eq!(row["referer"], "https://shop.example/cart");
    assert_eq!(row["content_type"], "application/json");
    assert_eq!(row["request_id"], "req-fwd-1");
    assert_eq!(row["client_ip"], "203.0.113.50");
    // `request.cf` as the local runtime supplies it (a fixed placeholder).
    let colo = row["colo"].as_str().expect("colo from request.cf");
    assert!(row["shard"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{colo}-")));
    for field in ["country", "asn", "tls_version", "http_protocol"] {
        assert!(!row[field].is_null(), "{field} missing from {row:#?}");
    }
    let data = row["context"].clone();
    assert_eq!(data, json!({"user": {"id": 42}, "cart": [1, 2]}));
    let headers = row["headers"].clone();
    assert_eq!(headers["x-custom-header"], "kept-value");
    let authority = row["url"].as_str().unwrap().split('/').nth(2).unwrap();
    assert_eq!(headers["host"], authority, "the Host header, given back");
    // Stored, the row leaves out what its URL says and refers to its set of request.cf facts.
    let stored = logger.query(
        "SELECT l.host, l.path, l.query, l.headers ->> '$.host' AS host_header, c.colo \
         FROM logs AS l JOIN logs_cf AS c ON c.id = l.cf WHERE l.id = ?1",
        &[&row["id"].as_str().unwrap()],
    );
    assert_eq!(
        serde_json::Value::Object(stored[0].clone()),
        json!({"host": null, "path": null, "query": null, "host_header": null, "colo": colo}),
    );
    let id = row["id"].as_str().unwrap();
    assert_eq!(uuid_version(id), 7, "{id}");
    assert!(row["timestamp"].as_i64().unwrap() > 1_700_000_000_000);

    let stored = serde_json::to_string(row).unwrap();
    for secret in [
        "very-secret-cookie",
        "secret-bearer-token",
        "secret-proxy",
        "secret-x-api-key",
        key.as_str(),
        ADMIN_KEY,
    ] {
        assert!(!stored.contains(secret), "{secret} was stored: {stored}");
    }
    for header in [
        "cookie",
        "authorization",
        "x-log-key",
        "x-log-data",
        "x-fixture-log-key",
    ] {
        assert!(headers.get(header).is_none(), "{header} was stored");
    }
}

#[test]
fn the_logger_answers_202_with_the_id_of_the_stored_row() {
    let (logger, app, key) = Logger::with_app(fast(), "fwd-id");
    // A request that carries X-Log-Key, straight to the logger: what the parent's fetch sees.
    let r = logger.call("GET", "/any/path?q=1", &[("x-log-key", &key)], None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["ok"], true);
    let id = r.body["data"]["id"].as_str().unwrap().to_string();
    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["message"], "GET /any/path");
    assert_eq!(rows[0]["level"], "INFO");
}

#[test]
fn client_ip_is_not_stored_when_disabled() {
    let (logger, app, key) = Logger::with_app(fast().var("LOG_CLIENT_IP", "false"), "fwd-noip");
    logger.parent(
        "GET",
        "/",
        &[
            ("x-fixture-log-key", &key),
            ("cf-connecting-ip", "198.51.100.99"),
            ("x-forwarded-for", "198.51.100.99"),
        ],
        None,
    );
    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert!(rows[0]["client_ip"].is_null());
    assert!(!serde_json::to_string(&rows[0])
        .unwrap()
        .contains("198.51.100.99"));
}

#[test]
fn bad_log_headers_get_4xx_codes_and_store_nothing() {
    let (logger, app, key) = Logger::with_app(fast(), "fwd-bad");
    let deep = format!("{}1{}", r#"{"k":"#.repeat(127), "}".repeat(127));
    let cases: [(&str, &str, u16, &str); 6] = [
        ("x-log-data", "{not json", 400, "INVALID_LOG_DATA"),
        ("x-log-data", &deep, 400, "NESTING_TOO_DEEP"),
        ("x-log-data", "[1,2,3]", 400, "INVALID_LOG_DATA"),
        ("x-log-level", "LOUD", 400, "INVALID_LEVEL"),
        (
            "x-log-message",
            &"m".repeat(40_000),
            400,
            "MESSAGE_TOO_LONG",
        ),
        (
            "x-log-data",
            &format!(r#"{{"pad":"{}"}}"#, "x".repeat(9_000)),
            400,
            "INVALID_LOG_DATA",
        ),
    ];
    for (header, value, status, code) in cases {
        let r = logger.call("GET", "/x", &[("x-log-key", &key), (header, value)], None);
        assert_eq!((r.status, r.code()), (status, code), "{header}: {r:?}");
        assert_eq!(r.body["ok"], false);
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-Log-"));
        assert!(r.body["error"]["request_id"].is_string());
    }
    let r = logger.call("GET", "/x", &[("x-log-key", "lk_wrong")], None);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));

    // A good entry after the bad ones lands alone: nothing from above was stored.
    let ok = logger.call("GET", "/sentinel", &[("x-log-key", &key)], None);
    assert_eq!(ok.status, 200);
    // It shares the shard (and so the flush) with anything accepted before it.
    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["path"], "/sentinel");
}

fn uuid_version(id: &str) -> u32 {
    id.chars().nth(14).and_then(|c| c.to_digit(16)).unwrap_or(0)
}

#[test]
fn secrets_in_any_common_form_and_token_headers_are_never_stored() {
    let (logger, app, key) = Logger::with_app(fast(), "fwd-secrets");
    let other_key = logger.create_app(&crate::harness::unique("fwd-other"));
    let encoded: String = ADMIN_KEY.bytes().map(|b| format!("%{b:02X}")).collect();
    let r = logger.parent(
        "GET",
        &format!("/search?q={encoded}&own={}", key.replace('_', "%5f")),
        &[
            ("x-fixture-log-key", &key),
            ("x-fixture-log-message", &format!("see {other_key}")),
            ("x-auth-token", "auth-token-value-1"),
            ("x-csrf-token", "csrf-token-value-2"),
            ("x-amz-security-token", "amz-token-value-3"),
            ("x-forwarded-credential", &other_key),
            ("x-kept", "kept-value"),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let rows = logger.wait_for_rows(&app, 1, LAND);
    let text = serde_json::to_string(&rows[0]).unwrap();
    for secret in [
        ADMIN_KEY,
        encoded.as_str(),
        &key,
        &other_key,
        "auth-token-value-1",
        "csrf-token-value-2",
        "amz-token-value-3",
    ] {
        assert!(!text.contains(secret), "{secret} stored: {text}");
    }
    assert!(text.contains("kept-value"), "{text}");
    assert!(
        rows[0]["query"].as_str().unwrap().contains("[REDACTED]"),
        "{text}"
    );
}
