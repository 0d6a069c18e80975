//! Ingest path 3: a parent worker calls the logger's RPC entrypoint (`LoggerRpc`, bound with
//! `entrypoint = "LoggerRpc"` in the parent fixture) through `forApp(key)`: log, logBatch,
//! logRequest, query and stats, each validated and refused as its REST twin, for the key's app
//! only.

use crate::harness::{fast, Logger, ADMIN_KEY, LAND};
use serde_json::{json, Value};

/// One RPC call through the fixture's `/_rpc`: the result, or the error's message.
fn rpc(logger: &Logger, key: &str, method: &str, args: Value) -> Result<Value, String> {
    logger.fixture_call(
        "/_rpc",
        &json!({ "key": key, "method": method, "args": args }),
    )
}

#[test]
fn a_parent_logs_queries_and_counts_over_rpc_for_its_own_app() {
    let (logger, app, key) = Logger::with_app(fast(), "rpc");
    let one = rpc(
        &logger,
        &key,
        "log",
        json!(["warning", "rpc disk low", {"volume": "data"}]),
    )
    .unwrap();
    assert!(one["id"].is_string(), "{one}");
    let batch = rpc(
        &logger,
        &key,
        "logBatch",
        json!([[{"message": "rpc a", "level": "error", "request_id": "req-rpc"}, {"message": "rpc b"}]]),
    )
    .unwrap();
    assert_eq!(batch["accepted"], 2, "{batch}");
    let rows = logger.wait_for_rows(&app, 3, LAND);
    let low = rows
        .iter()
        .find(|r| r["message"] == "rpc disk low")
        .unwrap();
    assert_eq!(
        (&low["level"], &low["source"]),
        (&json!("WARN"), &json!("rpc"))
    );
    assert_eq!(low["context"], json!({"volume": "data"}));

    let page = rpc(
        &logger,
        &key,
        "query",
        json!([{"level": ["ERROR"], "limit": 10}]),
    )
    .unwrap();
    let messages: Vec<&str> = page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["rpc a"], "{page}");
    let by_id = rpc(&logger, &key, "query", json!([{"request_id": "req-rpc"}])).unwrap();
    assert_eq!(by_id["logs"].as_array().unwrap().len(), 1);
    let stats = rpc(&logger, &key, "stats", json!([7])).unwrap();
    let today = stats["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["total"], 3, "{stats}");
    assert_eq!(today["levels"]["ERROR"], 1);

    // Refusals carry the REST code first.
    let e = rpc(&logger, &key, "log", json!(["loud", "x"])).unwrap_err();
    assert!(e.starts_with("INVALID_LEVEL:"), "{e}");
    let e = rpc(&logger, &key, "log", json!(["info", ""])).unwrap_err();
    assert!(e.starts_with("INVALID_ENTRY:"), "{e}");
    let e = rpc(&logger, "lk_not_a_key", "log", json!(["info", "x"])).unwrap_err();
    assert!(e.starts_with("UNAUTHORIZED:"), "{e}");
    let e = rpc(&logger, &key, "query", json!([{"level": "LOUD"}])).unwrap_err();
    assert!(
        e.starts_with("INVALID_FILTER:") || e.starts_with("INVALID_LEVEL:"),
        "{e}"
    );

    // Another app's key neither reads this app nor writes to it.
    let other = crate::harness::unique("rpc-other");
    let other_key = logger.create_app(&other);
    let e = rpc(&logger, &other_key, "query", json!([{"app_id": app}])).unwrap_err();
    assert!(e.starts_with("APP_MISMATCH:"), "{e}");
    let theirs = rpc(&logger, &other_key, "query", json!([{}])).unwrap();
    assert_eq!(theirs["logs"], json!([]));
    rpc(&logger, &other_key, "log", json!(["info", "rpc theirs"])).unwrap();
    logger.wait_for_rows(&other, 1, LAND);
    assert_eq!(
        logger.app_rows(&app).len(),
        3,
        "nothing of the other app's here"
    );
    assert!(!logger.log_text().contains(&key), "the key is never logged");
    let _ = ADMIN_KEY;
}

#[test]
fn log_request_stores_the_parents_own_request_enriched_like_the_fetch_path() {
    let (logger, app, key) = Logger::with_app(fast(), "rpcreq");
    let r = logger.parent(
        "POST",
        "/shop/cart?item=7",
        &[
            ("x-fixture-rpc", "1"),
            ("x-fixture-log-key", &key),
            ("x-fixture-log-level", "warn"),
            ("x-fixture-log-message", "cart over rpc"),
            ("x-fixture-log-data", r#"{"cart":{"items":2}}"#),
            ("user-agent", "rpc-agent/1.0"),
            ("authorization", "Bearer secret-token"),
            ("x-request-id", "req-rpc-7"),
        ],
        Some(b"{}"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let rows = logger.wait_for_rows(&app, 1, LAND);
    let row = &rows[0];
    assert_eq!(
        (&row["source"], &row["level"], &row["message"]),
        (&json!("rpc"), &json!("WARN"), &json!("cart over rpc"))
    );
    assert_eq!(
        (&row["method"], &row["path"], &row["query"]),
        (&json!("POST"), &json!("/shop/cart"), &json!("item=7"))
    );
    assert_eq!(row["user_agent"], "rpc-agent/1.0");
    assert_eq!(row["request_id"], "req-rpc-7");
    assert_eq!(row["context"], json!({"cart": {"items": 2}}));
    assert!(row["colo"].is_string(), "request.cf came along: {row:#?}");
    let stored = serde_json::to_string(row).unwrap();
    assert!(
        !stored.contains("secret-token") && !stored.contains(&key),
        "{stored}"
    );
    // A bad field is refused as the X-Log-* header would be.
    let bad = rpc(&logger, &key, "logRequest", json!([null, {}])).unwrap_err();
    assert!(bad.starts_with("INVALID_ENTRY:"), "{bad}");
}
