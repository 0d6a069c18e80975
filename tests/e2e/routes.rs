//! Log routes: filtered per-route tables next to the firehose, automatic schema migration,
//! retention by the cron trigger, manual prune per app, and refusal of an invalid configuration.

use crate::harness::{fast, now_ms, unique, Logger, Options, ADMIN_KEY, LAND};
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

fn routes(v: Value) -> Options {
    fast().var("LOG_ROUTES", v.to_string())
}

fn messages(rows: &[serde_json::Map<String, Value>]) -> Vec<&str> {
    let mut m: Vec<&str> = rows
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    m.sort();
    m
}

fn log_table(logger: &Logger, table: &str) -> serde_json::Map<String, Value> {
    logger
        .query("SELECT * FROM log_tables WHERE table_name = ?1", &[&table])
        .pop()
        .unwrap_or_else(|| panic!("no log_tables row for {table}"))
}

fn column_names(logger: &Logger, table: &str) -> Vec<String> {
    logger
        .query(
            &format!("SELECT name FROM pragma_table_info('{table}')"),
            &[],
        )
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn routes_receive_only_matching_logs_while_the_firehose_receives_all() {
    let (logger, app, key) = Logger::with_app(
        routes(json!([
            {
                "name": "errors",
                "filter": {"field": "level", "op": "gte", "value": "WARN"},
                "columns": ["level", "message", "path",
                    {"name": "user_id", "from": "data.user.id", "type": "TEXT"},
                    {"name": "ms", "from": "data.ms", "type": "INTEGER"}],
                "indexes": [["user_id"]]
            },
            {
                "name": "api",
                "filter": {"all": [
                    {"field": "method", "op": "in", "value": ["GET", "POST"]},
                    {"field": "path", "op": "prefix", "value": "/api/"}
                ]},
                "columns": ["method", "path", "colo", "message"]
            }
        ])),
        "routes",
    );

    let r = logger.post_logs(
        &key,
        &json!({"logs": [
            {"level": "info", "message": "rest-info", "context": {"user": {"id": 7}}},
            {"level": "warn", "message": "rest-warn", "context": {"user": {"id": "u9"}, "ms": "12"}},
            {"level": "error", "message": "rest-error", "context": {"ms": 30.0}}
        ]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    for (path, level, message) in [
        ("/api/items", "error", "fwd-api-error"),
        ("/home", "info", "fwd-home-info"),
        ("/api/list", "debug", "fwd-api-debug"),
    ] {
        let r = logger.parent(
            "GET",
            path,
            &[
                ("x-fixture-log-key", &key),
                ("x-fixture-log-level", level),
                ("x-fixture-log-message", message),
            ],
            None,
        );
        assert_eq!(r.status, 200, "{r:?}");
    }

    let firehose = logger.wait_for_table("logs", &app, 6, LAND);
    let errors = logger.wait_for_table("errors", &app, 3, LAND);
    let api = logger.wait_for_table("api", &app, 2, LAND);
    assert_eq!(
        messages(&firehose),
        [
            "fwd-api-debug",
            "fwd-api-error",
            "fwd-home-info",
            "rest-error",
            "rest-info",
            "rest-warn"
        ]
    );
    assert_eq!(
        messages(&errors),
        ["fwd-api-error", "rest-error", "rest-warn"]
    );
    assert_eq!(messages(&api), ["fwd-api-debug", "fwd-api-error"]);

    // Route rows carry the entry's id and timestamp, and their own typed columns.
    let by_message = |rows: &[serde_json::Map<String, Value>], m: &str| {
        rows.iter().find(|r| r["message"] == m).cloned().unwrap()
    };
    let warn = by_message(&errors, "rest-warn");
    assert_eq!(warn["user_id"], "u9");
    assert_eq!(warn["ms"], 12, "\"12\" becomes an INTEGER");
    assert_eq!(by_message(&errors, "rest-error")["ms"], 30);
    assert_eq!(by_message(&errors, "rest-error")["user_id"], Value::Null);
    let fh = by_message(&firehose, "rest-warn");
    assert_eq!(warn["id"], fh["id"]);
    assert_eq!(warn["timestamp"], fh["timestamp"]);
    assert_eq!(warn["level"], "WARN");
    assert_eq!(
        column_names(&logger, "errors"),
        [
            "id",
            "timestamp",
            "app_id",
            "level",
            "message",
            "path",
            "user_id",
            "ms"
        ]
    );

    // One log matched by two routes is in both.
    let both = by_message(&firehose, "fwd-api-error");
    assert_eq!(by_message(&errors, "fwd-api-error")["id"], both["id"]);
    let api_row = by_message(&api, "fwd-api-error");
    assert_eq!(api_row["id"], both["id"]);
    assert_eq!(
        (api_row["method"].as_str(), api_row["path"].as_str()),
        (Some("GET"), Some("/api/items"))
    );
    assert_eq!(api_row["colo"], both["colo"]);

    // What each route costs in D1: a row written per entry it receives, and one more per index
    // it asks for (errors has one, on user_id).
    let r = logger.call("GET", "/admin/status", &[("x-admin-key", ADMIN_KEY)], None);
    let tables = &r.body["data"]["d1"]["tables"];
    assert_eq!(tables["api"]["rows_written"], api.len(), "{tables:#}");
    assert_eq!(
        tables["errors"]["rows_written"],
        2 * errors.len(),
        "{tables:#}"
    );

    // The schema of every table is recorded with its hash.
    for table in ["logs", "errors", "api"] {
        let meta = log_table(&logger, table);
        assert_eq!(
            meta["schema_hash"].as_str().map(str::len),
            Some(16),
            "{meta:?}"
        );
    }
    assert_eq!(log_table(&logger, "errors")["route"], "errors");
    assert_eq!(log_table(&logger, "logs")["route"], "firehose");
    let indexes = logger.query(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'errors' AND sql IS NOT NULL ORDER BY name",
        &[],
    );
    let names: Vec<&str> = indexes
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // The table is clustered on its key; besides it, the client-named rows' index and the
    // route's own.
    assert_eq!(names, ["idx_errors_named", "idx_errors_user_id"]);
}

#[test]
fn adding_a_column_migrates_the_table_with_old_rows_intact_and_new_rows_filled() {
    let v1 = json!([{"name": "audit", "columns": ["level", "message"]}]);
    let (mut logger, app, key) = Logger::with_app(routes(v1), "migrate");
    let r = logger.post_logs(
        &key,
        &json!({"logs": [
            {"message": "old-1", "context": {"user": {"id": "a"}}},
            {"message": "old-2", "context": {"user": {"id": "b"}}}
        ]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    logger.wait_for_table("audit", &app, 2, LAND);
    let hash_v1 = log_table(&logger, "audit")["schema_hash"].clone();
    assert_eq!(
        column_names(&logger, "audit"),
        ["id", "timestamp", "app_id", "level", "message"]
    );

    // A new deployment adds two columns to the route.
    let v2 = json!([{"name": "audit", "columns": ["level", "message",
        {"name": "user_id", "from": "data.user.id"}, "source"], "indexes": [["user_id"]]}]);
    // Eight shards per colo: several LogBatchers see the new schema at once and migrate
    // concurrently.
    logger.restart_with(routes(v2).var("SHARD_FANOUT", 8));
    let mut logs = vec![
        json!({"message": "new-1", "context": {"user": {"id": "c"}}}),
        json!({"message": "new-2", "context": {"user": {"id": "d"}}}),
    ];
    logs.extend(
        (0..38).map(|i| json!({"message": format!("bulk-{i}"), "context": {"user": {"id": i}}})),
    );
    let r = logger.post_logs(&key, &json!({ "logs": logs }));
    assert_eq!(r.status, 200, "{r:?}");
    let rows = logger.wait_for_table("audit", &app, 42, LAND);
    let shards = logger.query(
        "SELECT count(DISTINCT shard) AS n FROM logs WHERE app_id = ?1",
        &[&app],
    );
    assert!(shards[0]["n"].as_i64().unwrap() > 1, "{shards:?}");

    let v2_columns = [
        "id",
        "timestamp",
        "app_id",
        "level",
        "message",
        "user_id",
        "source",
    ];
    assert_eq!(column_names(&logger, "audit"), v2_columns);
    for row in &rows {
        let m = row["message"].as_str().unwrap();
        match m {
            "old-1" | "old-2" => {
                assert_eq!(row["user_id"], Value::Null, "{row:?}");
                assert_eq!(row["level"], "INFO");
            }
            "new-1" => assert_eq!(
                (row["user_id"].as_str(), row["source"].as_str()),
                (Some("c"), Some("rest"))
            ),
            "new-2" => assert_eq!(row["user_id"], "d"),
            m if m.starts_with("bulk-") => {
                assert_eq!(
                    row["user_id"].as_str(),
                    Some(&m["bulk-".len()..]),
                    "{row:?}"
                )
            }
            other => panic!("unexpected row {other}"),
        }
    }
    let meta = log_table(&logger, "audit");
    assert_ne!(meta["schema_hash"], hash_v1, "the new schema is recorded");
    assert_eq!(meta["columns"], json!(v2_columns).to_string());
    // The firehose kept every entry.
    assert_eq!(logger.wait_for_table("logs", &app, 42, LAND).len(), 42);
}

#[test]
fn the_cron_deletes_exactly_the_rows_past_retention_in_bounded_chunks() {
    // Chunks of 100 rows and 4 statements per run (a table's listing of apps with old rows, then
    // its chunks), so one run cannot finish both tables.
    let opts = routes(json!([{"name": "short", "columns": ["message"], "retention_days": 1}]))
        .without_assets()
        .var("LOG_FIREHOSE_RETENTION_DAYS", 30)
        .var("PRUNE_CHUNK_ROWS", 100)
        .var("PRUNE_MAX_STATEMENTS", 4);
    let (logger, app, key) = Logger::with_app(opts, "retain");
    let now = now_ms();
    let mut logs = vec![
        json!({"message": "fresh", "timestamp": now - 60_000}),
        json!({"message": "2-days", "timestamp": now - 2 * DAY}),
        json!({"message": "100-days", "timestamp": now - 100 * DAY}),
    ];
    logs.extend(
        (0..250)
            .map(|i| json!({"message": format!("40-days-{i}"), "timestamp": now - 40 * DAY - i})),
    );
    let r = logger.post_logs(&key, &json!({ "logs": logs }));
    assert_eq!(r.status, 200, "{r:?}");
    logger.wait_for_table("logs", &app, 253, LAND);
    logger.wait_for_table("short", &app, 253, LAND);

    // Run 1: the firehose (30 days) loses its 251 older rows in 3 chunks (100, 100, 51);
    // the budget is spent, so the route waits for the next run.
    logger.cron();
    assert_eq!(
        messages(&logger.table_rows("logs", &app)),
        ["2-days", "fresh"]
    );
    assert_eq!(logger.table_rows("short", &app).len(), 253);
    let logs_meta = log_table(&logger, "logs");
    assert_eq!(logs_meta["last_prune_deleted"], 251);
    assert_eq!(logs_meta["prune_pending"], 0);
    let pruned_at = logs_meta["last_pruned_at"].as_i64().expect("pruned");
    assert!(pruned_at >= now, "{logs_meta:?}");
    assert_eq!(
        logs_meta["last_prune_cutoff"].as_i64().unwrap(),
        pruned_at - 30 * DAY
    );
    assert_eq!(log_table(&logger, "short")["prune_pending"], 1);

    // Run 2: the firehose is not due again (once a day); the route finishes.
    logger.cron();
    assert_eq!(messages(&logger.table_rows("short", &app)), ["fresh"]);
    let short = log_table(&logger, "short");
    assert_eq!(short["last_prune_deleted"], 252);
    assert_eq!(short["pruned_total"], 252);
    assert_eq!(short["prune_pending"], 0);
    assert_eq!(
        log_table(&logger, "logs")["last_pruned_at"],
        json!(pruned_at)
    );

    // A row past retention that arrives now stays until the next day's run.
    let r = logger.post_logs(
        &key,
        &json!({"message": "late-old", "timestamp": now - 50 * DAY}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    logger.wait_for_table("logs", &app, 3, LAND);
    logger.cron();
    assert_eq!(
        messages(&logger.table_rows("logs", &app)),
        ["2-days", "fresh", "late-old"]
    );
    assert_eq!(log_table(&logger, "logs")["pruned_total"], 251);
}

#[test]
fn a_manual_prune_deletes_only_that_apps_older_rows_from_every_table() {
    let logger = Logger::start_with(routes(json!([{"name": "copy", "columns": ["message"]}])));
    let (a, b) = (unique("prune-a"), unique("prune-b"));
    let (key_a, key_b) = (logger.create_app(&a), logger.create_app(&b));
    let now = now_ms();
    for key in [&key_a, &key_b] {
        let r = logger.post_logs(
            key,
            &json!({"logs": [
                {"message": "old-1", "timestamp": now - 10 * DAY},
                {"message": "old-2", "timestamp": now - 5 * DAY},
                {"message": "new", "timestamp": now - 60_000}
            ]}),
        );
        assert_eq!(r.status, 200, "{r:?}");
    }
    for app in [&a, &b] {
        logger.wait_for_table("logs", app, 3, LAND);
        logger.wait_for_table("copy", app, 3, LAND);
    }
    let before = chrono_iso(now - DAY);
    let body = json!({ "before": before }).to_string();
    let prune = |app: &str, headers: &[(&str, &str)], body: &str| {
        let mut h = vec![("content-type", "application/json")];
        h.extend_from_slice(headers);
        logger.call(
            "POST",
            &format!("/apps/{app}/prune"),
            &h,
            Some(body.as_bytes()),
        )
    };

    let r = prune(&a, &[("x-api-key", &key_b)], &body);
    assert_eq!((r.status, r.code()), (403, "APP_MISMATCH"), "{r:?}");
    let r = prune(&a, &[], &body);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"), "{r:?}");
    let r = prune(
        &a,
        &[("x-api-key", &key_a)],
        r#"{"before": "last tuesday"}"#,
    );
    assert_eq!((r.status, r.code()), (400, "INVALID_TIMESTAMP"), "{r:?}");
    let r = prune(&a, &[("x-api-key", &key_a)], "{}");
    assert_eq!((r.status, r.code()), (400, "INVALID_PRUNE"), "{r:?}");

    let r = prune(&a, &[("x-api-key", &key_a)], &body);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body["data"]["deleted"], 4,
        "2 old rows in 2 tables: {r:?}"
    );
    assert_eq!(r.body["data"]["complete"], true);
    assert!(r.request_id.is_some());
    for table in ["logs", "copy"] {
        assert_eq!(messages(&logger.table_rows(table, &a)), ["new"], "{table}");
        assert_eq!(
            messages(&logger.table_rows(table, &b)),
            ["new", "old-1", "old-2"],
            "{table}"
        );
    }

    // The admin key may prune any app; a second prune finds nothing more.
    let r = prune(
        &b,
        &[("x-admin-key", ADMIN_KEY)],
        &json!({"before": chrono_iso(now - 7 * DAY)}).to_string(),
    );
    assert_eq!(r.body["data"]["deleted"], 2, "{r:?}");
    assert_eq!(messages(&logger.table_rows("logs", &b)), ["new", "old-2"]);
    let r = prune(&a, &[("x-api-key", &key_a)], &body);
    assert_eq!(r.body["data"]["deleted"], 0, "{r:?}");
}

fn chrono_iso(ms: i64) -> String {
    // RFC 3339 in UTC from ms, without a date crate.
    let rem = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        crate::harness::utc_date(ms),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

#[test]
fn an_invalid_route_configuration_refuses_logs_with_config_invalid() {
    let logger = Logger::start_with(routes(json!([
        {"name": "errors", "columns": ["level"],
         "filter": {"field": "level", "op": "startswith", "value": "W"}}
    ])));
    let r = logger.post_logs("lk_any", &json!({"message": "not accepted"}));
    assert_eq!((r.status, r.code()), (503, "CONFIG_INVALID"), "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("LOG_ROUTES"), "{message}");
    assert!(message.contains("route \"errors\""), "{message}");
    assert!(
        message.contains("filter.op: unknown operator \"startswith\""),
        "{message}"
    );
    assert!(r.request_id.is_some());

    // A forwarded request is refused the same way (the logger answers the parent 503).
    let r = logger.call("GET", "/page", &[("x-log-key", "lk_any")], None);
    assert_eq!((r.status, r.code()), (503, "CONFIG_INVALID"), "{r:?}");

    let rows = logger.query("SELECT count(*) AS n FROM logs", &[]);
    assert_eq!(rows[0]["n"], 0, "nothing was accepted");
}

#[test]
fn route_tables_and_columns_that_collide_with_sqlite_or_the_search_index_are_config_invalid() {
    let mut logger = Logger::start_with(routes(json!([
        {"name": "shadow", "table": "logs_fts_data", "columns": ["level"]}
    ])));
    let r = logger.post_logs("lk_any", &json!({"message": "not accepted"}));
    assert_eq!((r.status, r.code()), (503, "CONFIG_INVALID"), "{r:?}");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("reserved"));
    logger.restart_with(routes(json!([
        {"name": "byrow", "columns": [{"name": "rowid", "from": "level"}, "message"]}
    ])));
    let r = logger.post_logs("lk_any", &json!({"message": "not accepted"}));
    assert_eq!((r.status, r.code()), (503, "CONFIG_INVALID"), "{r:?}");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("row id"));
}

#[test]
fn entries_buffered_when_an_invalid_configuration_is_deployed_land_once_it_is_fixed() {
    let good = json!([{"name": "copy", "columns": ["message"]}]);
    let (mut logger, app, key) = Logger::with_app(
        routes(good.clone()).var("BATCH_INTERVAL_MS", 8_000),
        "fixcfg",
    );
    let r = logger.post_logs(&key, &json!({"logs": [{"message": "a"}, {"message": "b"}]}));
    assert_eq!(r.status, 200, "{r:?}");

    // Deployed before the alarm flushed: the LogBatcher keeps the rows rather than flushing them
    // without the routes it cannot read.
    logger.restart_with(routes(
        json!([{"name": "copy", "columns": ["message"], "retention_days": "30"}]),
    ));
    logger.wait_until("the LogBatcher refused to flush", LAND, || {
        let log = logger.log_text();
        if log.contains("LogBatcher: not flushing") && log.contains("retention_days") {
            Ok(())
        } else {
            Err("no refusal in the log yet".to_string())
        }
    });
    assert!(logger.table_rows("logs", &app).is_empty());

    logger.restart_with(routes(good));
    let rows = logger.wait_for_table("copy", &app, 2, LAND);
    assert_eq!(messages(&rows), ["a", "b"]);
    assert_eq!(logger.table_rows("logs", &app).len(), 2);
}
