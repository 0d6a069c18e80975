//! `GET /stats/:app_id`: daily counts per level, equal to a COUNT over the stored rows through
//! REST and forwarded entries, an idempotent resend, and a prune; per app, with stable errors.

use crate::harness::{fast, now_ms, unique, Logger, ADMIN_KEY, LAND};
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

/// `(date, level, count)` from the stats answer, zero counts left out.
fn from_stats(body: &Value) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for day in body["data"]["days"].as_array().unwrap() {
        let date = day["date"].as_str().unwrap();
        let mut total = 0;
        for (level, n) in day["levels"].as_object().unwrap() {
            let n = n.as_i64().unwrap();
            total += n;
            if n > 0 {
                out.push((date.to_string(), level.clone(), n));
            }
        }
        assert_eq!(day["total"].as_i64().unwrap(), total, "{day}");
    }
    out.sort();
    out
}

/// The same, counted over the rows stored in D1.
fn from_rows(logger: &Logger, app: &str) -> Vec<(String, String, i64)> {
    let mut out: Vec<(String, String, i64)> = logger
        .query(
            "SELECT date(timestamp / 1000, 'unixepoch') AS d, level, count(*) AS n FROM logs \
             WHERE app_id = ?1 GROUP BY 1, 2",
            &[&app],
        )
        .iter()
        .map(|r| {
            (
                r["d"].as_str().unwrap().to_string(),
                r["level"].as_str().unwrap().to_string(),
                r["n"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn stats(logger: &Logger, key: &str, app: &str, days: u32) -> crate::harness::Resp {
    logger.call(
        "GET",
        &format!("/stats/{app}?days={days}"),
        &[("x-api-key", key)],
        None,
    )
}

/// Waits until no LogBatcher holds an entry, so every accepted entry was flushed.
fn drained(logger: &Logger) {
    logger.wait_until("every buffer flushed", LAND, || {
        let r = logger.call("GET", "/admin/status", &[("x-admin-key", ADMIN_KEY)], None);
        match r.body["data"]["pending"].as_i64() {
            Some(0) => Ok(()),
            _ => Err(format!("{r:?}")),
        }
    });
}

#[test]
fn daily_counts_equal_the_stored_rows() {
    let (logger, app, key) = Logger::with_app(fast(), "stats");
    let now = now_ms();
    let levels = ["debug", "info", "warn", "error"];
    let body: Vec<Value> = (0..40)
        .map(|i| {
            json!({ "level": levels[i % 4], "message": format!("entry {i}"),
                    "timestamp": now - (i as i64 % 3) * DAY - 1_000 })
        })
        .collect();
    let batch = json!({ "logs": body });
    let post_idempotent = |batch: &Value| {
        logger.call(
            "POST",
            "/logs",
            &[
                ("x-api-key", &key),
                ("content-type", "application/json"),
                ("idempotency-key", "batch-1"),
            ],
            Some(batch.to_string().as_bytes()),
        )
    };
    let r = post_idempotent(&batch);
    assert_eq!(r.status, 200, "{r:?}");
    for i in 0..5 {
        let r = logger.parent(
            "GET",
            &format!("/shop/{i}"),
            &[
                ("x-fixture-log-key", &key),
                ("x-fixture-log-level", "error"),
            ],
            None,
        );
        assert_eq!(r.status, 200);
    }
    logger.wait_for_rows(&app, 45, LAND);
    // Four days: an entry two days and a second old may fall on the third day back.
    let r = stats(&logger, &key, &app, 4);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["days"].as_array().unwrap().len(), 4, "{r:?}");
    let counted = from_rows(&logger, &app);
    assert_eq!(from_stats(&r.body), counted);
    assert_eq!(counted.iter().map(|c| c.2).sum::<i64>(), 45);

    // The same request again (same Idempotency-Key): accepted, stored once, counted once.
    let r = post_idempotent(&batch);
    assert_eq!(r.status, 200);
    drained(&logger);
    assert_eq!(logger.app_rows(&app).len(), 45);
    assert_eq!(from_stats(&stats(&logger, &key, &app, 4).body), counted);

    // A prune takes its rows out of the counts too.
    let r = logger.call(
        "POST",
        &format!("/apps/{app}/prune"),
        &[("x-api-key", &key)],
        Some(json!({ "before": now - DAY / 2 }).to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body["data"]["deleted"].as_i64().unwrap() > 0);
    let after = from_rows(&logger, &app);
    assert!(after.iter().map(|c| c.2).sum::<i64>() < 45);
    assert_eq!(from_stats(&stats(&logger, &key, &app, 4).body), after);

    // A longer range lists the empty days too; one day is today alone.
    let r = stats(&logger, &key, &app, 10);
    assert_eq!(r.body["data"]["days"].as_array().unwrap().len(), 10);
    assert_eq!(from_stats(&r.body), after);
    let today = stats(&logger, &key, &app, 1);
    assert_eq!(today.body["data"]["days"].as_array().unwrap().len(), 1);
}

#[test]
fn stats_are_per_app_and_refuse_bad_requests() {
    let logger = Logger::start_with(fast());
    let (a, b) = (unique("stats-a"), unique("stats-b"));
    let (key_a, key_b) = (logger.create_app(&a), logger.create_app(&b));
    logger.post_logs(&key_a, &json!({ "message": "one" }));
    logger.wait_for_rows(&a, 1, LAND);
    let r = stats(&logger, &key_b, &a, 7);
    assert_eq!((r.status, r.code()), (403, "APP_MISMATCH"));
    let r = stats(&logger, &key_b, &b, 7);
    assert_eq!(r.status, 200);
    assert_eq!(from_stats(&r.body), vec![]);
    let r = logger.call(
        "GET",
        &format!("/stats/{a}"),
        &[("x-admin-key", ADMIN_KEY)],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["data"]["days"].as_array().unwrap().len(),
        7,
        "a week by default"
    );
    assert_eq!(from_stats(&r.body).iter().map(|c| c.2).sum::<i64>(), 1);
    for (q, status, code) in [
        ("days=0", 400, "INVALID_FILTER"),
        ("days=400", 400, "INVALID_FILTER"),
        ("weeks=1", 400, "INVALID_FILTER"),
    ] {
        let r = logger.call(
            "GET",
            &format!("/stats/{a}?{q}"),
            &[("x-api-key", &key_a)],
            None,
        );
        assert_eq!((r.status, r.code()), (status, code), "{q}");
    }
    let r = logger.call(
        "GET",
        "/stats/Not_An_App",
        &[("x-admin-key", ADMIN_KEY)],
        None,
    );
    assert_eq!((r.status, r.code()), (400, "INVALID_APP"));
    let r = logger.call("GET", &format!("/stats/{a}"), &[], None);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
}
