//! What the firehose costs in D1's terms, and the layouts it can be in: rows written per entry
//! as D1 reports them (with the search index and with `SEARCH_INDEX=none`), every read feature on
//! both, and a firehose of the earlier layout rebuilt in place with its rows.

use crate::harness::{fast, now_ms, Logger, ADMIN_KEY, LAND};
use serde_json::{json, Value};

fn status(logger: &Logger) -> Value {
    let r = logger.call("GET", "/admin/status", &[("x-admin-key", ADMIN_KEY)], None);
    assert_eq!(r.status, 200, "{r:?}");
    r.body["data"].clone()
}

fn get(logger: &Logger, key: &str, path: &str) -> crate::harness::Resp {
    logger.call("GET", path, &[("x-api-key", key)], None)
}

fn stats_total(logger: &Logger, key: &str, app: &str) -> i64 {
    let r = get(logger, key, &format!("/stats/{app}?days=7"));
    assert_eq!(r.status, 200, "{r:?}");
    r.body["data"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["total"].as_i64().unwrap())
        .sum()
}

/// 1,000 REST entries through one logger; returns D1's rows written for their flushes and for
/// a prune of them all, after checking that every read feature answers on what landed.
fn ingest_and_read(search: &str) -> (u64, u64) {
    let (logger, app, key) = Logger::with_app(fast().var("SEARCH_INDEX", search), "cost");
    const N: usize = 1_000;
    let logs: Vec<Value> = (0..N)
        .map(|i| {
            let level = ["info", "warn", "error", "debug"][i % 4];
            json!({
                "level": level,
                "message": format!("order {i} {}", if i % 10 == 0 { "payment declined" } else { "shipped" }),
                "request_id": format!("req-{}", i % 50),
                "context": {"user": {"id": i % 7}},
            })
        })
        .collect();
    let r = logger.post_logs(&key, &json!({ "logs": logs }));
    assert_eq!(r.status, 200, "{r:?}");
    logger.wait_for_rows(&app, N, LAND);
    let s = logger.wait_until("every buffer flushed", LAND, || {
        let s = status(&logger);
        if s["pending"] == 0 {
            Ok(s)
        } else {
            Err(format!("{s:#}"))
        }
    });
    let written = s["d1"]["flush_rows_written"].as_u64().unwrap();

    let count = |query: &str| -> usize {
        let r = get(&logger, &key, &format!("/logs?limit=1000&{query}"));
        assert_eq!(r.status, 200, "{query}: {r:?}");
        r.body["data"]["logs"].as_array().unwrap().len()
    };
    assert_eq!(count("request_id=req-7"), N / 50);
    assert_eq!(count("level=error"), N / 4);
    assert_eq!(count("context.user.id=3"), 143);
    assert_eq!(stats_total(&logger, &key, &app), N as i64);
    let r = get(&logger, &key, "/logs?search=declined");
    if search == "fts" {
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["data"]["logs"].as_array().unwrap().len(), 100);
    } else {
        assert_eq!(r.status, 400, "{r:?}");
        assert_eq!(r.code(), "SEARCH_DISABLED");
        let left = logger.query(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'logs'",
            &[],
        );
        assert!(
            left.is_empty(),
            "nothing writes to the search index: {left:?}"
        );
    }
    // One entry by its id: the id carries the entry's time, so the key finds it.
    let id = r.body["data"]["logs"][0]["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| logger.app_rows(&app)[0]["id"].as_str().unwrap().to_string());
    let one = get(&logger, &key, &format!("/logs/{id}"));
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.body["data"]["id"], id.as_str());
    assert!(one.body["data"].get("seq").is_none(), "{one:?}");
    // What the reads and the migration cost is counted too, per kind of work.
    let other = logger.wait_until("the reads counted", LAND, || {
        let s = status(&logger);
        let other = s["d1"]["other"].clone();
        let read = |work: &str| {
            other[work]["tables"]["logs"]["rows_read"]
                .as_u64()
                .unwrap_or(0)
        };
        if read("query") > 0
            && other["stats"]["tables"]["log_stats"]["statements"].as_u64() > Some(0)
        {
            Ok(s["d1"].clone())
        } else {
            Err(format!("{s:#}"))
        }
    });
    assert!(
        other["other"]["migration"]["tables"]["logs"]["statements"].as_u64() > Some(0),
        "{other:#}"
    );
    assert!(
        other["rows_written"].as_u64().unwrap() >= written,
        "the total holds the flushes and the rest: {other:#}"
    );
    // Deleting costs D1 rows too: what a prune of all 1,000 wrote.
    let r = logger.call(
        "POST",
        &format!("/apps/{app}/prune"),
        &[("x-api-key", &key)],
        Some(json!({"before": now_ms() + 60_000}).to_string().as_bytes()),
    );
    assert_eq!(r.body["data"]["deleted"], N, "{r:?}");
    assert_eq!(
        stats_total(&logger, &key, &app),
        0,
        "the counts follow the deletes"
    );
    let pruned = logger.wait_until("the prune counted", LAND, || {
        let s = status(&logger);
        match s["d1"]["other"]["prune"]["tables"]["logs"]["rows_written"].as_u64() {
            Some(n) if n > 0 => Ok(n),
            _ => Err(format!("{s:#}")),
        }
    });
    (written, pruned)
}

#[test]
fn a_logged_entry_costs_two_d1_rows_with_search_and_one_without() {
    let (with_search, deleted) = ingest_and_read("fts");
    eprintln!("cost: SEARCH_INDEX=fts: {with_search} rows written to store 1,000 entries, {deleted} to delete them");
    // The row, its search entry, and a row per (app, day, level) for the daily counts; the
    // same to delete them.
    assert!(
        with_search <= 2_010,
        "{with_search} rows written for 1,000 entries"
    );
    assert!(
        deleted <= 2_010,
        "{deleted} rows written to delete 1,000 entries"
    );
    let (without, deleted) = ingest_and_read("none");
    eprintln!("cost: SEARCH_INDEX=none: {without} rows written to store 1,000 entries, {deleted} to delete them");
    assert!(without <= 1_010, "{without} rows written for 1,000 entries");
    assert!(
        deleted <= 1_010,
        "{deleted} rows written to delete 1,000 entries"
    );
}

#[test]
fn a_firehose_of_the_earlier_layout_is_rebuilt_in_place_with_its_rows() {
    let (mut logger, app, key) =
        Logger::with_app(fast().var("LOG_FIREHOSE_TABLE", "legacy"), "old");
    logger.stop("TERM");
    // The layout of migrations 0001, 0004 and 0005, under another name, with rows stored the
    // way the earlier release stored them: ids that carry the time they came in, not their own.
    let layout: String = [
        include_str!("../../migrations/0001_logs.sql"),
        include_str!("../../migrations/0004_query.sql"),
        include_str!("../../migrations/0005_log_stats.sql"),
    ]
    .concat()
    .replace("logs", "legacy");
    let old = now_ms() - 3_600_000;
    let mut seed = layout.clone();
    for (i, message) in ["legacy payment declined", "legacy shipped", "legacy retry"]
        .iter()
        .enumerate()
    {
        seed.push_str(&format!(
            "INSERT INTO legacy (id, timestamp, received_at, app_id, level, message, request_id, \
             source, shard) VALUES ('018bcfe5-6800-7000-8000-00000000000{i}', {ts}, {ts}, '{app}', \
             'WARN', '{message}', 'legacy-req', 'rest', 'old');\n",
            ts = old + i as i64,
        ));
    }
    logger.write_d1_stopped(&seed);
    logger.restart();

    let r = logger.post_logs(&key, &json!({"message": "new payment declined"}));
    assert_eq!(r.status, 200, "{r:?}");
    let rows = logger.wait_for_table("legacy", &app, 4, LAND);
    assert_eq!(rows.len(), 4);
    let ddl = logger.query(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'legacy'",
        &[],
    );
    assert!(
        ddl[0]["sql"].as_str().unwrap().contains("WITHOUT ROWID"),
        "{ddl:?}"
    );
    let r = get(&logger, &key, "/logs?search=declined");
    assert_eq!(r.status, 200, "{r:?}");
    let found: Vec<&str> = r.body["data"]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["new payment declined", "legacy payment declined"]);
    let r = get(&logger, &key, "/logs?request_id=legacy-req");
    assert_eq!(r.body["data"]["logs"].as_array().unwrap().len(), 3, "{r:?}");
    // An old id does not carry its row's time: the lookup goes through the named index.
    let one = get(&logger, &key, "/logs/018bcfe5-6800-7000-8000-000000000001");
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.body["data"]["message"], "legacy shipped");
    assert_eq!(stats_total(&logger, &key, &app), 4);
}
