//! A client written against the worker-logs design's own API (`../shared/seeds/003`): REST with
//! `X-API-Key`, entries with `context`, `GET /logs?app_id=…&level=…&since=<a date>`, the trusted
//! `LoggerService` RPC entrypoint (`log(app_id, …)`, `logBatch`, `query`), and CORS for browser
//! callers. Where the design is explicit, the logger answers as it says.

use crate::harness::{fast, now_ms, utc_date as date, Logger, Resp, LAND};
use serde_json::{json, Value};

fn get(logger: &Logger, key: &str, path: &str) -> Resp {
    logger.call("GET", path, &[("x-api-key", key)], None)
}

/// `/_service` on the parent fixture: a call on its `LoggerService` binding.
fn service(logger: &Logger, method: &str, args: Value) -> Result<Value, String> {
    logger.fixture_call("/_service", &json!({ "method": method, "args": args }))
}

#[test]
fn the_designs_rest_client_reads_context_and_date_bounds() {
    let (logger, app, key) = Logger::with_app(fast(), "design");
    let r = logger.post_logs(
        &key,
        &json!({"level": "INFO", "message": "User logged in", "context": {"userId": "123", "ip": "1.2.3.4"}}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = logger.post_logs(
        &key,
        &json!({"logs": [
            {"level": "INFO", "message": "step 1"},
            {"level": "ERROR", "message": "step 2 failed", "context": {"order": {"id": 7}}}
        ]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let today = date(now_ms());
    let path = format!("/logs?app_id={app}&level=ERROR&since={today}&limit=100");
    let logs = logger.wait_until("the ERROR entry readable", LAND, || {
        let r = get(&logger, &key, &path);
        match r.body["data"]["logs"].as_array() {
            Some(l) if l.len() == 1 => Ok(l.clone()),
            _ => Err(format!("{r:?}")),
        }
    });
    assert_eq!(logs[0]["message"], "step 2 failed");
    assert_eq!(logs[0]["context"], json!({"order": {"id": 7}}));
    assert!(
        logs[0].get("data").is_none(),
        "context, not data: {:?}",
        logs[0]
    );

    let all = get(&logger, &key, &format!("/logs?since={today}"));
    assert_eq!(
        all.body["data"]["logs"].as_array().unwrap().len(),
        3,
        "{all:?}"
    );
    let login = &all.body["data"]["logs"].as_array().unwrap()[2];
    assert_eq!(login["context"], json!({"userId": "123", "ip": "1.2.3.4"}));
    // A date bound is that day's midnight UTC: nothing of today is before today.
    let before = get(&logger, &key, &format!("/logs?until={today}"));
    assert_eq!(before.body["data"]["logs"], json!([]), "{before:?}");
    let bad = get(&logger, &key, "/logs?since=2026-13-01");
    assert_eq!(
        (bad.status, bad.code()),
        (400, "INVALID_TIMESTAMP"),
        "{bad:?}"
    );

    // The design's other reads answer in its envelope.
    let stats = get(&logger, &key, &format!("/stats/{app}"));
    assert_eq!(stats.body["ok"], true, "{stats:?}");
    let health = logger.call("GET", "/health", &[], None);
    assert_eq!(health.body["ok"], true, "{health:?}");
}

#[test]
fn cors_and_logger_service_are_off_by_default() {
    let (logger, app, key) = Logger::with_app(fast(), "design-off");
    let pre = logger.call(
        "OPTIONS",
        "/logs",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(
        (pre.status, pre.code()),
        (403, "ORIGIN_NOT_ALLOWED"),
        "{pre:?}"
    );
    let r = logger.call(
        "GET",
        "/logs",
        &[("x-api-key", &key), ("origin", "https://app.example")],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

    let off = service(&logger, "log", json!([app, "INFO", "trusted?"])).unwrap_err();
    assert!(off.starts_with("UNAUTHORIZED:"), "{off}");
    assert!(off.contains("RPC_SERVICE_ENABLED"), "{off}");
}

#[test]
fn listed_origins_and_the_enabled_logger_service_work_as_the_design_says() {
    let opts = fast()
        .var("CORS_ORIGINS", "https://app.example")
        .var("RPC_SERVICE_ENABLED", "true");
    let (logger, app, key) = Logger::with_app(opts, "design-on");

    // A browser page on a listed origin: its preflight, then the call it allowed.
    let pre = logger.call(
        "OPTIONS",
        "/logs",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type, x-api-key"),
        ],
        None,
    );
    assert_eq!(pre.status, 204, "{pre:?}");
    assert_eq!(
        pre.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    let allowed = pre
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(allowed.contains("X-API-Key"), "{allowed}");
    assert!(pre
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let sent = logger.call(
        "POST",
        "/logs",
        &[
            ("x-api-key", &key),
            ("content-type", "application/json"),
            ("origin", "https://app.example"),
        ],
        Some(br#"{"message":"from a page"}"#),
    );
    assert_eq!(sent.status, 200, "{sent:?}");
    assert_eq!(
        sent.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    assert!(sent
        .header("access-control-expose-headers")
        .unwrap()
        .contains("X-Request-ID"));
    // An error answer carries them too, so the page can read why.
    let refused = logger.call(
        "GET",
        "/logs?limit=0",
        &[("x-api-key", &key), ("origin", "https://app.example")],
        None,
    );
    assert_eq!(refused.code(), "INVALID_LIMIT");
    assert!(refused.header("access-control-allow-origin").is_some());
    let other = logger.call(
        "OPTIONS",
        "/logs",
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "GET"),
        ],
        None,
    );
    assert_eq!(other.code(), "ORIGIN_NOT_ALLOWED", "{other:?}");

    // The design's RPC interface: the app id first, no key.
    let one = service(
        &logger,
        "log",
        json!([app, "ERROR", "payment failed", {"order_id": "o-1"}]),
    )
    .unwrap();
    assert!(one["id"].is_string(), "{one}");
    let batch = service(
        &logger,
        "logBatch",
        json!([app, [{"level": "INFO", "message": "Step 1"}, {"level": "INFO", "message": "Step 2"}]]),
    )
    .unwrap();
    assert_eq!(batch["accepted"], 2, "{batch}");
    let found = logger.wait_until("the service's ERROR entry", LAND, || {
        let page = service(&logger, "query", json!([app, {"level": "ERROR"}]))?;
        match page["logs"].as_array() {
            Some(l) if l.len() == 1 => Ok(l[0].clone()),
            _ => Err(page.to_string()),
        }
    });
    assert_eq!(found["context"], json!({"order_id": "o-1"}));
    assert_eq!(found["source"], "rpc");

    let unknown = service(&logger, "log", json!(["no-such-app", "INFO", "x"])).unwrap_err();
    assert!(unknown.starts_with("APP_NOT_FOUND:"), "{unknown}");
    let bad_level = service(&logger, "log", json!([app, "LOUD", "x"])).unwrap_err();
    assert!(bad_level.starts_with("INVALID_LEVEL:"), "{bad_level}");
    let not_an_id = service(&logger, "log", json!([42, "INFO", "x"])).unwrap_err();
    assert!(not_an_id.starts_with("INVALID_APP:"), "{not_an_id}");
}
