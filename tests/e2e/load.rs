//! A concurrent load of REST batches and forwarded requests: every acknowledged entry reaches D1
//! exactly once. Prints its figures (run with `--nocapture` to see them).

use crate::harness::{Logger, Options, ADMIN_KEY};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const REST_THREADS: usize = 6;
const BATCHES_PER_THREAD: usize = 10;
const BATCH: usize = 250;
const FORWARD_THREADS: usize = 6;
const FORWARDS_PER_THREAD: usize = 850;

#[test]
fn twenty_thousand_mixed_entries_all_land_exactly_once() {
    let (logger, app, key) =
        Logger::with_app(Options::default().var("BATCH_INTERVAL_MS", 1_000), "load");
    let acked = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..REST_THREADS {
            let (logger, key, acked, refused) = (&logger, &key, &acked, &refused);
            s.spawn(move || {
                for b in 0..BATCHES_PER_THREAD {
                    let logs: Vec<Value> = (0..BATCH)
                        .map(|i| json!({"level": "info", "message": format!("rest-{t}-{b}-{i}")}))
                        .collect();
                    let r = logger.post_logs(key, &json!({ "logs": logs }));
                    if r.status == 200 {
                        acked.fetch_add(
                            r.body["data"]["accepted"].as_u64().unwrap() as usize,
                            Ordering::SeqCst,
                        );
                    } else {
                        refused.fetch_add(BATCH, Ordering::SeqCst);
                        eprintln!("refused batch: {r:?}");
                    }
                }
            });
        }
        for t in 0..FORWARD_THREADS {
            let (logger, key, acked, refused) = (&logger, &key, &acked, &refused);
            s.spawn(move || {
                for i in 0..FORWARDS_PER_THREAD {
                    let msg = format!("fwd-{t}-{i}");
                    let r = logger.call(
                        "GET",
                        &format!("/page/{i}"),
                        &[("x-log-key", key), ("x-log-message", &msg)],
                        None,
                    );
                    if r.status == 200 {
                        acked.fetch_add(1, Ordering::SeqCst);
                    } else {
                        refused.fetch_add(1, Ordering::SeqCst);
                        eprintln!("refused forward: {r:?}");
                    }
                }
            });
        }
    });
    let sent_in = start.elapsed();
    let acked = acked.into_inner();
    let expected =
        REST_THREADS * BATCHES_PER_THREAD * BATCH + FORWARD_THREADS * FORWARDS_PER_THREAD;
    assert!(expected >= 20_000);
    assert_eq!(
        refused.into_inner(),
        0,
        "every entry should be acknowledged"
    );
    assert_eq!(acked, expected);

    let count = |sql: &str| -> i64 { logger.query(sql, &[&app])[0]["n"].as_i64().unwrap() };
    let deadline = Instant::now() + Duration::from_secs(180);
    let rows = loop {
        let n = count("SELECT count(*) AS n FROM logs WHERE app_id = ?1");
        if n as usize >= acked || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let landed_in = start.elapsed();
    let distinct = count("SELECT count(DISTINCT message) AS n FROM logs WHERE app_id = ?1");
    let status = logger.call("GET", "/admin/status", &[("x-admin-key", ADMIN_KEY)], None);
    let totals = &status.body["data"]["totals"];
    println!(
        "load: acknowledged {acked}, rows in D1 {rows}, duplicates {}, dead-lettered {}, \
         D1 statements {}, sent in {:.1} s ({:.0} entries/s acknowledged), all landed after {:.1} s",
        rows - distinct,
        totals["dead_lettered"],
        totals["d1_statements"],
        sent_in.as_secs_f64(),
        acked as f64 / sent_in.as_secs_f64(),
        landed_in.as_secs_f64(),
    );
    assert_eq!(
        rows as usize, acked,
        "rows in D1 must equal entries acknowledged"
    );
    assert_eq!(distinct, rows, "no duplicates");
    assert_eq!(totals["dead_lettered"], 0);
}
