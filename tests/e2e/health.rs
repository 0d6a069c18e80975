//! Health checks: URLs registered per app are checked by the app's HealthChecker alarm (a short
//! interval here), results land in D1 and in `GET /health/:app_id`, and every failure becomes a
//! WARN or ERROR log entry of the app. The URLs are on the local dev server itself: the parent
//! fixture answers `/_status/NNN` with that status; one URL has nothing listening.

use crate::harness::{fast, unique, Logger, ADMIN_KEY, LAND};
use serde_json::{json, Value};

fn register(logger: &Logger, key: &str, app: &str, urls: Value) -> crate::harness::Resp {
    logger.call(
        "POST",
        &format!("/apps/{app}/health-urls"),
        &[("x-api-key", key), ("content-type", "application/json")],
        Some(json!({ "urls": urls }).to_string().as_bytes()),
    )
}

#[test]
fn the_alarm_checks_each_url_records_results_and_logs_failures() {
    let (logger, app, key) = Logger::with_app(
        fast()
            .var("HEALTH_CHECK_INTERVAL_MS", 1_000)
            .var("HEALTH_CHECK_TIMEOUT_MS", 3_000)
            // The URLs are on this machine's loopback: allowed for this test only.
            .var("HEALTH_CHECK_ALLOW_PRIVATE", "true"),
        "health",
    );
    let up = format!("{}/_status/200", logger.base());
    // A redirect is the answer: the check does not follow it to /_status/200.
    let moved = format!("{}/_status/302", logger.base());
    let down = format!("{}/_status/500", logger.base());
    let gone = format!("{}/_status/404", logger.base());
    // Nothing listens on port 1.
    let nowhere = "http://127.0.0.1:1/health".to_string();
    let r = register(&logger, &key, &app, json!([up, down, gone, nowhere, moved]));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["urls"].as_array().unwrap().len(), 5);

    // Two rounds of checks at least, seen through the API.
    let status = logger.wait_until("two rounds of checks", LAND, || {
        let r = logger.call(
            "GET",
            &format!("/health/{app}"),
            &[("x-api-key", &key)],
            None,
        );
        let urls = r.body["data"]["urls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if urls.len() == 5
            && urls
                .iter()
                .all(|u| u["history"].as_array().is_some_and(|h| h.len() >= 2))
        {
            Ok(r.body["data"].clone())
        } else {
            Err(format!("{r:?}"))
        }
    });
    let of = |url: &str| -> Value {
        status["urls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["url"] == url)
            .unwrap_or_else(|| panic!("{url} in {status}"))["latest"]
            .clone()
    };
    assert_eq!(of(&up)["status"], 200);
    assert_eq!(of(&up)["ok"], true);
    assert!(of(&up)["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(of(&down)["status"], 500);
    assert_eq!(of(&down)["ok"], false);
    assert_eq!(of(&gone)["status"], 404);
    assert_eq!(of(&moved)["status"], 302, "the redirect is not followed");
    assert_eq!(of(&nowhere)["status"], Value::Null);
    assert!(
        of(&nowhere)["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{status}"
    );
    assert_eq!(status["interval_ms"], 1_000);

    // The results are rows in D1.
    let rows = logger.query(
        "SELECT url, status, ok FROM health_checks WHERE app_id = ?1",
        &[&app],
    );
    assert!(rows.len() >= 8, "{rows:?}");
    assert!(rows.iter().any(|r| r["url"] == up.as_str() && r["ok"] == 1));

    // Each failure is a log entry of the app: ERROR for 500 and no answer, WARN for 404; the
    // healthy URL logs nothing.
    let logs = logger.wait_until("failures logged", LAND, || {
        let r = logger.call(
            "GET",
            "/logs?search=%22health+check+failed%22&limit=1000",
            &[("x-api-key", &key)],
            None,
        );
        let logs = r.body["data"]["logs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let has = |url: &str| {
            logs.iter()
                .any(|l| l["context"]["health_check"]["url"] == url)
        };
        if has(&down) && has(&gone) && has(&nowhere) {
            Ok(logs)
        } else {
            Err(format!("{r:?}"))
        }
    });
    for l in &logs {
        let url = l["context"]["health_check"]["url"].as_str().unwrap();
        let want = if url == gone { "WARN" } else { "ERROR" };
        assert_eq!(l["level"], want, "{l}");
        assert_ne!(url, up, "a healthy URL logs nothing");
        assert_eq!(l["app_id"], app.as_str());
    }
    let r = logger.call(
        "GET",
        "/logs?context.health_check.status=500&level=ERROR",
        &[("x-api-key", &key)],
        None,
    );
    assert!(
        !r.body["data"]["logs"].as_array().unwrap().is_empty(),
        "{r:?}"
    );

    // An empty list stops the checks and the status lists no URL.
    let r = register(&logger, &key, &app, json!([]));
    assert_eq!(r.status, 200);
    let r = logger.call(
        "GET",
        &format!("/health/{app}"),
        &[("x-api-key", &key)],
        None,
    );
    assert_eq!(r.body["data"]["urls"], json!([]));
}

#[test]
fn registration_is_validated_and_per_app() {
    let logger = Logger::start_with(fast().var("MAX_HEALTH_URLS", 2));
    let (a, b) = (unique("hc-a"), unique("hc-b"));
    let (key_a, key_b) = (logger.create_app(&a), logger.create_app(&b));
    for urls in [
        json!(["ftp://example.com/"]),
        json!(["not a url"]),
        json!(["https://user:secret@example.com/"]),
        json!([
            "https://a.example/",
            "https://b.example/",
            "https://c.example/"
        ]),
        json!("https://a.example/"),
        // Without HEALTH_CHECK_ALLOW_PRIVATE, nothing internal, however it is written.
        json!(["http://127.0.0.1:8787/"]),
        json!(["http://2130706433/"]),
        json!(["http://0x7f.1/"]),
        json!(["http://[::1]/"]),
        json!(["http://10.0.0.1/"]),
        json!(["http://192.168.0.1/"]),
        json!(["http://169.254.169.254/"]),
        json!(["http://[::ffff:169.254.169.254]/"]),
        json!(["http://[fd00::1]/"]),
        json!(["http://100.100.100.200/"]),
        json!(["http://0/"]),
        json!(["http://0.0.0.0/"]),
        json!(["http://localhost/"]),
        json!(["http://metadata.google.internal/"]),
    ] {
        let r = register(&logger, &key_a, &a, urls.clone());
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_HEALTH_URLS"),
            "{urls}: {r:?}"
        );
    }
    let r = register(&logger, &key_b, &a, json!(["https://a.example/"]));
    assert_eq!((r.status, r.code()), (403, "APP_MISMATCH"));
    let r = logger.call(
        "GET",
        &format!("/health/{a}"),
        &[("x-api-key", &key_b)],
        None,
    );
    assert_eq!((r.status, r.code()), (403, "APP_MISMATCH"));
    let r = logger.call(
        "GET",
        &format!("/health/{a}"),
        &[("x-admin-key", ADMIN_KEY)],
        None,
    );
    assert_eq!(r.status, 200, "the admin key reads any app");
    assert_eq!(r.body["data"]["urls"], json!([]));
}
