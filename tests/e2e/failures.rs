//! No accepted log is ever lost: retries, dead letters and replay, poison isolation, crashes,
//! backpressure and idempotent ingest, against the real runtime with fault injection
//! (`DEBUG_FLAGS=true`, `X-Debug-Flags`).

use crate::harness::{Logger, Options, Resp, ADMIN_KEY, LAND};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Fault injection on, quick flushes and retries, and a one-day bucket so every entry of a test
/// meets in one shard.
fn faulty() -> Options {
    Options::default()
        .var("DEBUG_FLAGS", "true")
        .var("BATCH_INTERVAL_MS", 300)
        .var("RETRY_BASE_MS", 200)
        .var("RETRY_MAX_MS", 1_000)
        .var("SHARDING_BUCKET_MS", 86_400_000)
}

fn post(logger: &Logger, key: &str, body: &Value, flags: Option<&str>) -> Resp {
    let mut headers = vec![("x-api-key", key), ("content-type", "application/json")];
    if let Some(f) = flags {
        headers.push(("x-debug-flags", f));
    }
    logger.call("POST", "/logs", &headers, Some(body.to_string().as_bytes()))
}

fn admin(logger: &Logger, method: &str, path: &str) -> Resp {
    logger.call(method, path, &[("x-admin-key", ADMIN_KEY)], None)
}

fn batch(prefix: &str, n: usize) -> Value {
    let logs: Vec<Value> = (0..n)
        .map(|i| json!({"level": "info", "message": format!("{prefix}-{i}")}))
        .collect();
    json!({ "logs": logs })
}

/// Polls the dead-letter list until it holds `rows` rows in all, or fails with what it saw.
fn wait_for_dead_letters(logger: &Logger, rows: usize) -> Vec<Value> {
    let deadline = Instant::now() + LAND;
    loop {
        let r = admin(logger, "GET", "/admin/dead-letters");
        assert_eq!(r.status, 200, "{r:?}");
        let list = r.body["data"]["dead_letters"].as_array().unwrap().clone();
        let seen: usize = list
            .iter()
            .map(|d| d["meta"]["rows"].as_u64().unwrap() as usize)
            .sum();
        if seen >= rows {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "wanted {rows} dead-lettered rows, saw {seen}: {list:#?}\n{}",
            logger.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn distinct_ids(rows: &[serde_json::Map<String, Value>]) -> usize {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect::<BTreeSet<_>>()
        .len()
}

#[test]
fn a_transient_d1_failure_is_retried_and_every_row_lands_once() {
    let (logger, app, key) = Logger::with_app(faulty().var("MAX_RETRIES", 5), "transient");
    let r = post(&logger, &key, &batch("t", 50), Some("d1_fail=2"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["debug_flags"]["d1_fail"], 2);

    let rows = logger.wait_for_rows(&app, 50, LAND);
    assert_eq!(rows.len(), 50);
    assert_eq!(distinct_ids(&rows), 50);

    let status = admin(&logger, "GET", "/admin/status");
    assert_eq!(status.status, 200, "{status:?}");
    let s = &status.body["data"];
    assert_eq!(s["dead_letters"]["records"], 0);
    assert!(s["totals"]["flushed"].as_i64().unwrap() >= 50, "{s:#}");
    let err = s["last_flush_error"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("injected D1 failure"), "{s:#}");
    // What D1 counted for the flushes: every stored row is at least one row written.
    let d1 = &s["d1"];
    assert!(d1["flush_rows_written"].as_u64().unwrap() >= 50, "{s:#}");
    assert!(
        d1["tables"]["logs"]["rows_written"].as_u64().unwrap() >= 50,
        "{s:#}"
    );
    assert!(d1["size_after"].as_u64().unwrap() > 0, "{s:#}");
}

#[test]
fn an_outage_is_waited_out_and_dead_letters_nothing() {
    let (logger, app, key) = Logger::with_app(faulty().var("MAX_RETRIES", 3), "outage");
    let r = post(&logger, &key, &batch("p", 20), Some("d1_fail=1000"));
    assert_eq!(r.status, 200, "{r:?}");

    // Many more failed flushes than MAX_RETRIES: the operator sees the outage, nothing moves.
    let status = logger.wait_until("an outage of 5 failed flushes", LAND, || {
        let s = admin(&logger, "GET", "/admin/status");
        let outages = s.body["data"]["outages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match outages.first() {
            Some(o) if o["failed_flushes"].as_i64().unwrap_or(0) >= 5 => Ok(s.body["data"].clone()),
            _ => Err(format!("{:#}", s.body)),
        }
    });
    let outage = &status["outages"][0];
    assert!(
        outage["error"]
            .as_str()
            .unwrap()
            .contains("injected D1 failure"),
        "{status:#}"
    );
    assert!(outage["age_ms"].as_i64().unwrap() >= 0);
    assert_eq!(status["dead_letters"]["records"], 0, "{status:#}");
    assert_eq!(status["pending"], 20);
    assert!(status["oldest_pending_age_ms"].as_i64().unwrap() > 0);
    assert_eq!(status["shards"][0]["max_attempts"], 0, "no row was blamed");
    assert!(logger.app_rows(&app).is_empty());

    // D1 recovers: every row lands once, and the outage is over.
    assert_eq!(
        post(
            &logger,
            &key,
            &json!({"message": "after"}),
            Some("d1_fail=0")
        )
        .status,
        200
    );
    let rows = logger.wait_for_rows(&app, 21, LAND);
    assert_eq!(distinct_ids(&rows), 21);
    let after = admin(&logger, "GET", "/admin/status");
    assert_eq!(after.body["data"]["outages"], json!([]), "{after:?}");
    assert_eq!(after.body["data"]["dead_letters"]["records"], 0);
}

#[test]
fn rows_dead_lettered_on_purpose_replay_into_d1_once() {
    let (logger, app, key) = Logger::with_app(faulty().var("MAX_RETRIES", 3), "persistent");
    let r = post(&logger, &key, &batch("p", 20), Some("dead_letter"));
    assert_eq!(r.status, 200, "{r:?}");

    let list = wait_for_dead_letters(&logger, 20);
    assert!(
        logger.app_rows(&app).is_empty(),
        "nothing reached D1 before the replay"
    );
    let key0 = list[0]["key"].as_str().unwrap().to_string();
    let one = admin(&logger, "GET", &format!("/admin/dead-letters/{key0}"));
    assert_eq!(one.status, 200, "{one:?}");
    let rec = &one.body["data"]["record"];
    assert!(
        rec["error"]
            .as_str()
            .unwrap()
            .contains("dead-lettered on request"),
        "{rec:#}"
    );
    assert_eq!(rec["table"], "logs");
    assert!(rec["shard"].as_str().unwrap().contains('-'));
    assert!(rec["first_failed_at"].as_i64().unwrap() <= rec["last_failed_at"].as_i64().unwrap());
    assert_eq!(
        rec["rows"][0].as_array().unwrap().len(),
        33,
        "rows keep their full encoding: 32 columns and the firehose's flags"
    );

    assert_eq!(
        post(&logger, &key, &json!({"message": "meanwhile"}), None).status,
        200
    );
    logger.wait_for_rows(&app, 1, LAND);
    // The operator replays everything; a second replay finds nothing and stores nothing twice.
    let replay = admin(&logger, "POST", "/admin/dead-letters/replay");
    assert_eq!(replay.status, 200, "{replay:?}");
    assert_eq!(replay.body["data"]["replayed_rows"], 20);
    assert_eq!(replay.body["data"]["failed"], json!([]));
    assert_eq!(replay.body["data"]["records"][0]["deleted"], true);

    let rows = logger.wait_for_rows(&app, 21, LAND);
    assert_eq!(rows.len(), 21);
    assert_eq!(distinct_ids(&rows), 21);
    let empty = admin(&logger, "GET", "/admin/dead-letters");
    assert_eq!(empty.body["data"]["dead_letters"], json!([]));
    let gone = admin(&logger, "GET", &format!("/admin/dead-letters/{key0}"));
    assert_eq!((gone.status, gone.code()), (404, "DEAD_LETTER_NOT_FOUND"));
    let bad = admin(&logger, "GET", "/admin/dead-letters/not-a-key");
    assert_eq!((bad.status, bad.code()), (400, "INVALID_DEAD_LETTER"));
}

#[test]
fn one_poison_entry_is_dead_lettered_and_the_other_ninety_nine_land() {
    let (logger, app, key) = Logger::with_app(
        faulty()
            .var("MAX_RETRIES", 3)
            .var("BATCH_INTERVAL_MS", 1_000),
        "poison",
    );
    assert_eq!(post(&logger, &key, &batch("good", 60), None).status, 200);
    let bad = post(
        &logger,
        &key,
        &json!({"message": "poison pill"}),
        Some("poison"),
    );
    assert_eq!(bad.status, 200, "{bad:?}");
    let poison_id = bad.body["data"]["ids"][0].as_str().unwrap().to_string();
    assert_eq!(post(&logger, &key, &batch("more", 39), None).status, 200);

    let list = wait_for_dead_letters(&logger, 1);
    let rows = logger.wait_for_rows(&app, 99, LAND);
    assert_eq!(rows.len(), 99);
    assert!(rows.iter().all(|r| r["id"] != poison_id.as_str()));
    assert_eq!(list.len(), 1);
    let key0 = list[0]["key"].as_str().unwrap();
    let rec = admin(&logger, "GET", &format!("/admin/dead-letters/{key0}"));
    let rec = &rec.body["data"]["record"];
    assert_eq!(rec["rows"].as_array().unwrap().len(), 1);
    assert_eq!(rec["rows"][0][0], poison_id.as_str());
    assert!(
        rec["error"].as_str().unwrap().contains("CHECK constraint"),
        "{rec:#}"
    );
    // Deleting it is the operator's call.
    let del = admin(&logger, "DELETE", &format!("/admin/dead-letters/{key0}"));
    assert_eq!(del.status, 200, "{del:?}");
}

#[test]
fn a_crash_in_the_middle_of_a_flush_loses_and_duplicates_nothing() {
    let (mut logger, app, key) = Logger::with_app(faulty(), "midflush");
    // Each flush of this shard waits 1.5 s before writing: the kill lands inside it.
    let r = post(&logger, &key, &batch("c", 40), Some("slow_flush=1500"));
    assert_eq!(r.status, 200, "{r:?}");
    std::thread::sleep(Duration::from_millis(800));
    logger.stop("KILL");
    logger.restart();
    let rows = logger.wait_for_rows(&app, 40, LAND);
    assert_eq!(rows.len(), 40);
    assert_eq!(distinct_ids(&rows), 40);
}

#[test]
fn a_full_buffer_answers_backpressure_and_keeps_what_it_acknowledged() {
    let (logger, app, key) = Logger::with_app(
        faulty()
            .var("MAX_BUFFERED_ENTRIES", 100)
            .var("MAX_RETRIES", 100),
        "full",
    );
    // D1 is down for this shard: the buffer fills and stays full.
    let r = post(&logger, &key, &batch("held", 100), Some("d1_fail=1000"));
    assert_eq!(r.status, 200, "{r:?}");

    let refused = post(&logger, &key, &json!({"message": "one too many"}), None);
    assert_eq!(
        (refused.status, refused.code()),
        (503, "BACKPRESSURE"),
        "{refused:?}"
    );
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("limit 100"));
    let retry_after = refused.retry_after.as_deref().expect("Retry-After header");
    assert!(retry_after.parse::<u64>().unwrap() >= 1);
    let fwd = logger.call("GET", "/x", &[("x-log-key", &key)], None);
    assert_eq!((fwd.status, fwd.code()), (503, "BACKPRESSURE"));

    // D1 recovers; everything acknowledged lands, and the shard takes entries again.
    let clear = post(&logger, &key, &json!({"message": "x"}), Some("d1_fail=0"));
    assert_eq!(clear.status, 503, "still full when it asks: {clear:?}");
    let rows = logger.wait_for_rows(&app, 100, LAND);
    assert_eq!(rows.len(), 100);
    assert!(rows
        .iter()
        .all(|r| r["message"].as_str().unwrap().starts_with("held-")));
    assert_eq!(
        post(&logger, &key, &json!({"message": "room again"}), None).status,
        200
    );
}

#[test]
fn the_same_entry_sent_twice_is_stored_once() {
    let (logger, app, key) = Logger::with_app(crate::harness::fast(), "idem");
    let own_ids =
        json!({"logs": [{"message": "a", "id": "evt-1"}, {"message": "b", "id": "evt-2"}]});
    let first = logger.post_logs(&key, &own_ids);
    let second = logger.post_logs(&key, &own_ids);
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.body["data"]["ids"], second.body["data"]["ids"]);

    let keyed = |k: &str| {
        logger.call(
            "POST",
            "/logs",
            &[("x-api-key", &key), ("idempotency-key", k)],
            Some(batch("k", 3).to_string().as_bytes()),
        )
    };
    let a = keyed("req-42");
    let b = keyed("req-42");
    assert_eq!(a.body["data"]["ids"], b.body["data"]["ids"]);
    // A forwarded request retried with its Idempotency-Key.
    for _ in 0..2 {
        let r = logger.call(
            "GET",
            "/retried",
            &[("x-log-key", &key), ("idempotency-key", "fwd-9")],
            None,
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    let sentinel = logger.post_logs(&key, &json!({"message": "sentinel"}));
    assert_eq!(sentinel.status, 200);
    let rows = logger.wait_for_rows(&app, 7, LAND);
    assert_eq!(
        rows.len(),
        7,
        "2 own ids + 3 keyed + 1 forwarded + sentinel: {rows:#?}"
    );
}

#[test]
fn debug_flags_are_ignored_unless_enabled() {
    let (logger, app, key) = Logger::with_app(crate::harness::fast(), "noflags");
    let r = post(
        &logger,
        &key,
        &json!({"message": "m"}),
        Some("d1_fail=99, poison"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body["data"]["debug_flags"]
        .as_str()
        .unwrap()
        .starts_with("ignored"));
    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert_eq!(rows[0]["level"], "INFO");

    let on = Logger::start_with(faulty());
    let key = on.create_app(&app);
    let r = post(&on, &key, &json!({"message": "m"}), Some("explode"));
    assert_eq!((r.status, r.code()), (400, "INVALID_DEBUG_FLAGS"));
}

/// Every id in the dead-letter store, read record by record.
fn dead_letter_rows(logger: &Logger) -> Vec<Value> {
    let list = admin(logger, "GET", "/admin/dead-letters?limit=100");
    let mut rows = Vec::new();
    for d in list.body["data"]["dead_letters"].as_array().unwrap() {
        let key = d["key"].as_str().unwrap();
        let rec = admin(logger, "GET", &format!("/admin/dead-letters/{key}"));
        rows.extend(
            rec.body["data"]["record"]["rows"]
                .as_array()
                .unwrap()
                .clone(),
        );
    }
    rows
}

#[test]
fn poison_among_ten_thousand_entries_dead_letters_exactly_the_poison() {
    let (logger, app, key) = Logger::with_app(faulty().var("MAX_RETRIES", 3), "poison113");
    let mut poison = BTreeSet::new();
    for round in 0..10 {
        assert_eq!(
            post(&logger, &key, &batch(&format!("good{round}"), 1_000), None).status,
            200
        );
        for i in 0..if round < 3 { 12 } else { 11 } {
            let msg = json!({ "message": format!("poison {round}-{i}") });
            let r = post(&logger, &key, &msg, Some("poison"));
            assert_eq!(r.status, 200, "{r:?}");
            poison.insert(r.body["data"]["ids"][0].as_str().unwrap().to_string());
        }
    }
    assert_eq!(poison.len(), 113);
    let rows = logger.wait_for_rows(&app, 10_000, Duration::from_secs(120));
    assert_eq!(distinct_ids(&rows), 10_000);
    wait_for_dead_letters(&logger, 113);
    let dead: BTreeSet<String> = dead_letter_rows(&logger)
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dead, poison, "exactly the poison is dead-lettered");
    assert!(rows
        .iter()
        .all(|r| !poison.contains(r["id"].as_str().unwrap())));

    // A replay of rows that fail again stores none of them and keeps them, with the new error.
    let replay = admin(&logger, "POST", "/admin/dead-letters/replay");
    assert_eq!(replay.status, 200, "{replay:?}");
    assert_eq!(replay.body["data"]["replayed_rows"], 0);
    let records = replay.body["data"]["records"].as_array().unwrap();
    let left: u64 = records.iter().map(|r| r["left"].as_u64().unwrap()).sum();
    assert_eq!(left, 113);
    assert!(records.iter().all(
        |r| r["deleted"] == false && r["error"].as_str().unwrap().contains("CHECK constraint")
    ));
    let still: BTreeSet<String> = dead_letter_rows(&logger)
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(still, poison, "nothing deleted before it was stored");
    assert_eq!(logger.app_rows(&app).len(), 10_000);
}

#[test]
fn dead_letters_keep_every_field_and_replay_them_as_sent() {
    let (logger, app, key) = Logger::with_app(faulty(), "fields");
    let context = json!({
        "user": {"id": 42, "tags": ["a", "b"], "deep": {"x": 1.5, "y": null, "z": {"w": "é"}}},
        "ok": true
    });
    let r = post(
        &logger,
        &key,
        &json!({"logs": [{"level": "warn", "message": "rest one", "context": context,
                          "request_id": "r-1"}]}),
        Some("dead_letter"),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let f = logger.parent(
        "POST",
        "/pay?order=9",
        &[
            ("x-fixture-log-key", &key),
            ("x-fixture-log-data", &context.to_string()),
            ("x-fixture-log-message", "forwarded one"),
            ("x-debug-flags", "dead_letter"),
            ("x-custom-header", "kept-value"),
            ("user-agent", "agent/1.0"),
        ],
        Some(b"{}"),
    );
    assert_eq!(f.status, 200, "{f:?}");
    wait_for_dead_letters(&logger, 2);
    let sent = dead_letter_rows(&logger);
    assert_eq!(sent.len(), 2);
    let by_message =
        |rows: &[Value], m: &str| -> Value { rows.iter().find(|r| r[5] == m).cloned().unwrap() };
    let (rest, fwd) = (
        by_message(&sent, "rest one"),
        by_message(&sent, "forwarded one"),
    );
    assert_eq!(rest[31], context, "custom data kept in the record");
    assert_eq!(fwd[31], context);
    assert_eq!(
        fwd[30]["x-custom-header"], "kept-value",
        "headers kept: {fwd}"
    );
    assert!(!fwd[18].is_null(), "cf facts kept: {fwd}");

    let replay = admin(&logger, "POST", "/admin/dead-letters/replay");
    assert_eq!(replay.body["data"]["replayed_rows"], 2, "{replay:?}");
    let rows = logger.wait_for_rows(&app, 2, LAND);
    for row in &rows {
        let sent = by_message(&sent, row["message"].as_str().unwrap());
        let data = row["context"].clone();
        assert_eq!(data, context);
        assert_eq!(row["id"], sent[0]);
        assert_eq!(row["timestamp"], sent[1]);
        assert_eq!(row["request_id"], sent[6]);
        for (i, name) in [
            (18, "colo"),
            (19, "country"),
            (14, "user_agent"),
            (13, "query"),
        ] {
            assert_eq!(row[name], sent[i], "{name}");
        }
        if row["message"] == "forwarded one" {
            assert_eq!(row["headers"], sent[30]);
        }
    }
}

#[test]
fn a_record_of_ten_thousand_rows_replays_whole_and_stores_each_row_once() {
    let (logger, app, key) = Logger::with_app(
        faulty()
            .var("MAX_BATCH_SIZE", 10_000)
            .var("BATCH_INTERVAL_MS", 5_000),
        "bigdl",
    );
    for round in 0..10 {
        let r = post(
            &logger,
            &key,
            &batch(&format!("b{round}"), 1_000),
            Some("dead_letter"),
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    let list = wait_for_dead_letters(&logger, 10_000);
    assert_eq!(list.len(), 1, "one record: {list:#?}");
    assert_eq!(list[0]["meta"]["rows"], 10_000);
    let key0 = list[0]["key"].as_str().unwrap().to_string();

    // Two replays of the same record at once, as a retried or repeated operator call would be.
    let path = format!("/admin/dead-letters/{key0}/replay");
    let (a, b) = std::thread::scope(|s| {
        let t = s.spawn(|| admin(&logger, "POST", &path));
        let b = admin(&logger, "POST", &path);
        (t.join().unwrap(), b)
    });
    let stored: Vec<u64> = [&a, &b]
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.body["data"]["progress"]["stored"].as_u64().unwrap())
        .collect();
    assert!(stored.contains(&10_000), "{a:?}\n{b:?}");
    for r in [&a, &b] {
        assert!(
            r.status == 200 || r.code() == "DEAD_LETTER_NOT_FOUND",
            "{r:?}"
        );
    }
    let rows = logger.wait_for_rows(&app, 10_000, LAND);
    assert_eq!(rows.len(), 10_000);
    assert_eq!(distinct_ids(&rows), 10_000);
    // The daily counts saw each row once, however many times it was written.
    let counted = logger.query(
        "SELECT coalesce(sum(count), 0) AS n FROM log_stats WHERE app_id = ?1",
        &[&app],
    );
    assert_eq!(counted[0]["n"], 10_000);
    let empty = admin(&logger, "GET", "/admin/dead-letters");
    assert_eq!(empty.body["data"]["dead_letters"], json!([]));
}

#[test]
fn debug_flags_act_on_the_requesting_apps_entries_only() {
    let (logger, a, key_a) = Logger::with_app(faulty(), "flags-a");
    let b = crate::harness::unique("flags-b");
    let key_b = logger.create_app(&b);
    // Both apps' entries meet in one shard (one colo, a one-day bucket).
    let r = post(&logger, &key_a, &batch("a", 10), Some("d1_fail=1000"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(post(&logger, &key_b, &batch("b", 10), None).status, 200);
    let rows = logger.wait_for_rows(&b, 10, LAND);
    assert_eq!(rows.len(), 10, "the other app's entries land");
    assert!(
        logger.app_rows(&a).is_empty(),
        "the flagged app's entries wait"
    );
    assert_eq!(
        post(
            &logger,
            &key_a,
            &json!({"message": "a-after"}),
            Some("d1_fail=0")
        )
        .status,
        200
    );
    logger.wait_for_rows(&a, 11, LAND);
}
