//! Batching in the LogBatcher: size-triggered flushes, the alarm under steady traffic, sharding
//! of a batch, and the durable buffer across a crash.

use crate::harness::{Logger, Options};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn a_full_batch_flushes_without_waiting_for_the_alarm() {
    // The alarm is ten minutes away: rows can only appear through the size trigger. A one-day
    // bucket keeps all ten entries in one shard even if a minute ends mid-test.
    let (logger, app, key) = Logger::with_app(
        Options::default()
            .var("MAX_BATCH_SIZE", 5)
            .var("BATCH_INTERVAL_MS", 600_000)
            .var("SHARDING_BUCKET_MS", 86_400_000),
        "size",
    );
    // One entry per request, as a stream of small logs arrives.
    for i in 0..5 {
        let r = logger.post_logs(&key, &json!({"message": format!("e{i}")}));
        assert_eq!(r.status, 200, "{r:?}");
    }
    let rows = logger.wait_for_rows(&app, 5, Duration::from_secs(30));
    assert_eq!(rows.len(), 5);
    // Forwarded requests count the same way.
    for i in 0..5 {
        let r = logger.call("GET", &format!("/f{i}"), &[("x-log-key", &key)], None);
        assert_eq!(r.status, 200, "{r:?}");
    }
    logger.wait_for_rows(&app, 10, Duration::from_secs(30));
}

#[test]
fn steady_traffic_does_not_postpone_the_alarm_flush() {
    let interval = Duration::from_millis(2_000);
    // One time bucket for the whole test: at a minute's turn the entries after it would go to
    // the next shard, and the first flush would carry only those before it (a flaky count).
    let (logger, app, key) = Logger::with_app(
        Options::default()
            .var("MAX_BATCH_SIZE", 10_000)
            .var("BATCH_INTERVAL_MS", interval.as_millis())
            .var("SHARDING_BUCKET_MS", 86_400_000),
        "steady",
    );
    let start = Instant::now();
    let deadline = start + Duration::from_secs(20);
    let mut sent = 0;
    // Keep logging every 100 ms until the first flush is visible. Re-arming the alarm on every
    // log (the JS original) would never flush while this loop runs.
    let visible_after = loop {
        let r = logger.post_logs(&key, &json!({"message": format!("tick {sent}")}));
        assert_eq!(r.status, 200, "{r:?}");
        sent += 1;
        if !logger.app_rows(&app).is_empty() {
            break start.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "no flush within {:?} of steady traffic ({sent} entries sent)",
            deadline - start
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("first flush visible {visible_after:?} after the first entry ({sent} sent)");
    assert!(
        visible_after >= interval,
        "flushed after {visible_after:?}, before the {interval:?} interval"
    );
    let rows = logger.app_rows(&app);
    assert!(
        rows.len() > 1,
        "the flush should carry the entries buffered so far"
    );
}

#[test]
fn a_rest_batch_is_split_over_the_fanout_shards_and_all_of_it_lands() {
    let (logger, app, key) = Logger::with_app(
        Options::default()
            .var("SHARD_FANOUT", 4)
            .var("BATCH_INTERVAL_MS", 300),
        "fanout",
    );
    let logs: Vec<Value> = (0..200)
        .map(|i| json!({"message": format!("m{i}")}))
        .collect();
    let r = logger.post_logs(&key, &json!({ "logs": logs }));
    assert_eq!(r.status, 200, "{r:?}");
    let rows = logger.wait_for_rows(&app, 200, Duration::from_secs(30));
    assert_eq!(rows.len(), 200);
    let shards: BTreeSet<String> = rows
        .iter()
        .map(|r| r["shard"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shards.len(), 4, "{shards:?}");
    for s in &shards {
        let k = s.rsplit('-').next().unwrap();
        assert!(["0", "1", "2", "3"].contains(&k), "{s}");
    }
}

#[test]
fn acknowledged_entries_survive_a_crash_before_the_flush() {
    let logger_opts = Options::default()
        .var("MAX_BATCH_SIZE", 10_000)
        .var("BATCH_INTERVAL_MS", 5_000);
    let (mut logger, app, key) = Logger::with_app(logger_opts, "crash");
    let logs: Vec<Value> = (0..50)
        .map(|i| json!({"message": format!("m{i}")}))
        .collect();
    let r = logger.post_logs(&key, &json!({ "logs": logs }));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        logger.app_rows(&app).is_empty(),
        "flushed before the interval"
    );
    // SIGKILL the whole runtime with the entries only in the LogBatcher's buffer.
    logger.stop("KILL");
    logger.restart();
    let rows = logger.wait_for_rows(&app, 50, Duration::from_secs(30));
    assert_eq!(rows.len(), 50);
}
