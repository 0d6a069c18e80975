//! The dashboard (`dashboard/`, served by the logger itself) in a real browser: Debian's
//! `chromium` driven by `playwright-core` (`tests/clients/dashboard.mjs`; `scripts/test` installs
//! both). This seeds the logs the browser looks for — levels, searchable words, a hostile message
//! and a forwarded request with hostile header values, and an app with 1,000 entries — then runs
//! the browser script, which fails on any step it could not see. Screenshots land in
//! `target/dashboard/`.

use crate::harness::{fast, root, unique, Logger, ADMIN_KEY, LAND};
use serde_json::{json, Value};
use std::process::Command;

const HOSTILE: &str = "<img src=x onerror=\"window.__pwned=1;alert(1)\"> checkout";

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: scripts/test installs Debian's chromium (apt-get install chromium)"
    );
    path
}

#[test]
fn the_dashboard_signs_in_explores_tails_and_renders_hostile_logs_as_text() {
    let browser = chromium();
    let clients = root().join("tests/clients");
    assert!(
        clients.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: scripts/test installs it (npm ci --prefix tests/clients)"
    );
    let logger = Logger::start_with(fast().var("DEBUG_FLAGS", "true"));
    let app = unique("dash");
    let key = logger.create_app(&app);
    let big = unique("dash-big");
    let big_key = logger.create_app(&big);

    let now = crate::harness::now_ms();
    let mut logs: Vec<Value> = (0..40)
        .map(|i| {
            let level = ["DEBUG", "INFO", "WARN", "ERROR"][i % 4];
            let what = if i % 3 == 0 { "checkout" } else { "browse" };
            json!({ "level": level, "message": format!("{what} step {i}"),
                    "timestamp": now - 60_000 + i as i64 * 1000,
                    "request_id": format!("req-dash-{i}"), "context": { "user": { "id": i } } })
        })
        .collect();
    logs.push(json!({ "level": "ERROR", "message": HOSTILE, "timestamp": now - 500 }));
    assert_eq!(logger.post_logs(&key, &json!({ "logs": logs })).status, 200);
    // A forwarded request whose header values are markup.
    let r = logger.parent(
        "GET",
        "/cart?x=%3Cscript%3E",
        &[
            ("x-fixture-log-key", &key),
            ("x-fixture-log-level", "error"),
            ("x-fixture-log-message", "forwarded checkout failure"),
            ("x-custom-header", "<script>window.__pwned=2</script>"),
            ("user-agent", "<svg onload=alert(3)>"),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let thousand: Vec<Value> = (0..1000)
        .map(|i| {
            json!({ "level": if i % 10 == 0 { "ERROR" } else { "INFO" },
                         "message": format!("bulk entry {i} of the render test"),
                         "timestamp": now - 3_600_000 + i * 1000, "context": { "i": i } })
        })
        .collect();
    assert_eq!(
        logger
            .post_logs(&big_key, &json!({ "logs": thousand }))
            .status,
        200
    );
    // Two dead letters for the admin page to inspect, replay and delete: one flush each.
    let dlq = unique("dash-dlq");
    let dlq_key = logger.create_app(&dlq);
    for (n, message) in [(1, "dead letter to replay"), (2, "dead letter to delete")] {
        let r = logger.call(
            "POST",
            "/logs",
            &[("x-api-key", &dlq_key), ("x-debug-flags", "dead_letter")],
            Some(
                json!({ "level": "ERROR", "message": message })
                    .to_string()
                    .as_bytes(),
            ),
        );
        assert_eq!(r.status, 200, "{r:?}");
        logger.wait_until(&format!("{n} dead letters"), LAND, || {
            match dead_letters(&logger).len() {
                seen if seen >= n => Ok(()),
                seen => Err(format!("{seen} records")),
            }
        });
    }
    logger.wait_for_rows(&app, 42, LAND);
    logger.wait_for_rows(&big, 1000, LAND);

    let shots = root().join("target/dashboard");
    // Only this run's screenshots (a failure.png of an earlier run would mislead).
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&clients)
        // The session serves the parent fixture first; it hands /_logger/* to the logger as is
        // (its static files too), and the dashboard's requests are relative to its page.
        .env("DASHBOARD_URL", format!("{}/_logger/", logger.base()))
        .env("APP", &app)
        .env("APP_KEY", &key)
        .env("BIG_APP", &big)
        .env("ADMIN_KEY", ADMIN_KEY)
        .env("HOSTILE", HOSTILE)
        .env("SHOTS", &shots)
        .env("CHROMIUM", &browser)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    println!("dashboard figures: {}", report["figures"]);
    assert!(
        out.status.success(),
        "the browser test failed: {:#}\n{}\n--- logger ---\n{}",
        report["problems"],
        String::from_utf8_lossy(&out.stderr),
        logger.log_text()
    );
    // The admin replayed one dead letter (its row is stored now) and deleted the other.
    let rows = logger.wait_for_rows(&dlq, 1, LAND);
    assert_eq!(rows[0]["message"], "dead letter to replay", "{rows:#?}");
    assert_eq!(dead_letters(&logger), Vec::<Value>::new());
    // The first load (page, stylesheet, every module) stays small.
    let gzip = report["figures"]["first_load_gzip_bytes"].as_u64().unwrap();
    assert!(gzip < 100_000, "first load is {gzip} bytes gzipped");
    assert!(shots.join("explorer.png").exists());
}

fn dead_letters(logger: &Logger) -> Vec<Value> {
    let r = logger.call(
        "GET",
        "/admin/dead-letters",
        &[("x-admin-key", ADMIN_KEY)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.body["data"]["dead_letters"].as_array().unwrap().clone()
}

#[test]
fn the_dashboard_is_served_with_a_strict_policy_and_the_api_stays_json() {
    let logger = Logger::start();
    let page = logger.call("GET", "/", &[], None);
    assert_eq!(page.status, 200, "{page:?}");
    let csp = page.header("content-security-policy").unwrap_or_default();
    for want in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(want), "CSP {csp:?} lacks {want}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    // An unknown path is still the API's JSON 404, and the API sends no CORS headers.
    let missing = logger.call(
        "GET",
        "/no-such-page",
        &[("origin", "https://evil.example")],
        None,
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "NOT_FOUND");
    let me = logger.call(
        "GET",
        "/me",
        &[
            ("x-admin-key", ADMIN_KEY),
            ("origin", "https://evil.example"),
        ],
        None,
    );
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["data"]["kind"], "admin");
    assert!(me.header("access-control-allow-origin").is_none());
    let nobody = logger.call("GET", "/me", &[("x-api-key", "wrong")], None);
    assert_eq!(nobody.status, 401);

    // A parent forwards its own paths: the dashboard's among them are logged like any other,
    // never answered with a dashboard file.
    let app = unique("dash-fwd");
    let key = logger.create_app(&app);
    for path in ["/", "/ui/app.js"] {
        let r = logger.parent("GET", path, &[("x-fixture-log-key", &key)], None);
        assert_eq!(r.status, 200, "{r:?}");
    }
    let rows = logger.wait_for_rows(&app, 2, LAND);
    let mut paths: Vec<&str> = rows.iter().map(|r| r["path"].as_str().unwrap()).collect();
    paths.sort();
    assert_eq!(paths, ["/", "/ui/app.js"], "{rows:#?}");
}
