//! `MAX_DB_BYTES`: with a small cap, ingest goes on, no flush fails for size, the database D1
//! reports stays under the cap, and the room comes from the largest app's oldest rows.

use crate::harness::{Logger, Options, ADMIN_KEY, LAND};
use serde_json::{json, Value};
use std::time::Duration;

fn status(logger: &Logger) -> Value {
    let r = logger.call("GET", "/admin/status", &[("x-admin-key", ADMIN_KEY)], None);
    assert_eq!(r.status, 200, "{r:?}");
    r.body["data"].clone()
}

#[test]
fn a_small_cap_keeps_the_database_under_it_trimming_the_largest_app_first() {
    const CAP: u64 = 3_000_000;
    let (logger, noisy, key) = Logger::with_app(
        Options::default()
            .var("BATCH_INTERVAL_MS", 300)
            .var("SHARDING_BUCKET_MS", 86_400_000)
            .var("MAX_DB_BYTES", CAP),
        "noisy",
    );
    let quiet = crate::harness::unique("quiet");
    let quiet_key = logger.create_app(&quiet);
    let quiet_logs: Vec<Value> = (0..200)
        .map(|i| json!({"message": format!("quiet {i}")}))
        .collect();
    assert_eq!(
        logger
            .post_logs(&quiet_key, &json!({ "logs": quiet_logs }))
            .status,
        200
    );
    logger.wait_for_rows(&quiet, 200, LAND);
    let mut sent = 0;
    for round in 0..20 {
        let logs: Vec<Value> = (0..1_000)
            .map(|i| json!({"message": format!("noisy {round}-{i} with some padding text"), "context": {"i": i}}))
            .collect();
        let r = logger.post_logs(&key, &json!({ "logs": logs }));
        assert_eq!(r.status, 200, "ingest goes on: {r:?}");
        sent += 1_000;
    }
    // Everything accepted was flushed (nothing waits, nothing failed).
    let s = logger.wait_until("the buffer to drain", Duration::from_secs(60), || {
        let s = status(&logger);
        if s["pending"] == 0 && s["d1"]["deleted_for_space"].as_u64().unwrap_or(0) > 0 {
            Ok(s)
        } else {
            Err(format!("{s:#}"))
        }
    });
    let size = s["d1"]["size_after"].as_u64().unwrap();
    assert!(
        size <= CAP,
        "the database is {size} bytes, over {CAP}: {s:#}"
    );
    assert_eq!(s["d1"]["max_db_bytes"], CAP);
    assert_eq!(s["dead_letters"]["rows"], 0, "{s:#}");
    assert_eq!(s["outages"], json!([]), "no flush failed: {s:#}");
    let kept = logger.app_rows(&noisy).len();
    assert!(kept > 0 && kept < sent, "{kept} of {sent} kept");
    assert_eq!(
        logger.app_rows(&quiet).len(),
        200,
        "the quiet app keeps its history"
    );
    // The oldest went: what is left of the noisy app is its newest.
    let oldest_kept = logger.app_rows(&noisy)[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!oldest_kept.starts_with("noisy 0-"), "{oldest_kept}");
}
