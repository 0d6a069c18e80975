//! Retention and pruning: when a table is due, the cut-off, and the bounded delete statements.
//!
//! The cron trigger asks every log table with `retention_days` whether it is due (at most once per
//! `pruning_interval_days`, or right away when the last run stopped at its budget), then, app by
//! app (tables are clustered by app, then time), deletes rows whose `timestamp` (event time, ms)
//! is below the cut-off in chunks of `PRUNE_CHUNK_ROWS`:
//! no single statement deletes so much that it could hit D1's per-query time limit, and a run
//! makes at most `PRUNE_MAX_STATEMENTS` (a Worker invocation has a subrequest budget). The manual
//! prune (`POST /apps/:app_id/prune`) uses the same chunking for one app's rows. Does not run SQL
//! (`tables`).

use crate::model::sql::quoted;
use crate::model::time::parse_timestamp;
use crate::store::error::StoreError;
use crate::store::schema::STATS_TABLE;
use serde_json::Value;

pub const DAY_MS: i64 = 86_400_000;
/// A run that comes this much early still counts as due: cron times jitter, and a table pruned
/// at 03:17 yesterday should be pruned again at 03:17 today, not at 04:17.
pub const SLACK_MS: i64 = 30 * 60_000;

/// What `log_tables` remembers of a table's pruning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneState {
    /// Start of the last run that finished the table.
    pub last_pruned_at: Option<i64>,
    /// The last run stopped at its statement budget with rows left.
    pub pending: bool,
}

/// The cut-off (delete rows with `timestamp` below it) if the table is due at `now`, else `None`.
pub fn due(
    retention_days: Option<u32>,
    pruning_interval_days: u32,
    state: PruneState,
    now: i64,
) -> Option<i64> {
    let days = retention_days?;
    let cutoff = now - days as i64 * DAY_MS;
    let interval = pruning_interval_days.max(1) as i64 * DAY_MS;
    match state.last_pruned_at {
        _ if state.pending => Some(cutoff),
        None => Some(cutoff),
        Some(last) if now - last >= interval - SLACK_MS => Some(cutoff),
        Some(_) => None,
    }
}

/// The apps of `table` with rows older than `?1`. Each step seeks the next app along the key
/// (`app_id` leads it), so this reads about one row per app, whatever the table holds.
pub fn apps_with_older_sql(table: &str) -> String {
    let t = quoted(table);
    format!(
        "WITH RECURSIVE a(app) AS (SELECT min(app_id) FROM {t} \
         UNION ALL SELECT (SELECT min(app_id) FROM {t} WHERE app_id > a.app) FROM a \
         WHERE a.app IS NOT NULL) \
         SELECT app AS app_id FROM a WHERE app IS NOT NULL \
         AND EXISTS (SELECT 1 FROM {t} WHERE app_id = a.app AND timestamp < ?1)"
    )
}

/// The statements, run in one transaction, that delete at most `?3` rows of app `?1` in
/// `table` older than `?2`, oldest first along the key: for the firehose, first the grouped
/// decrement of the daily counts for exactly those rows (a row written per app, day and level,
/// not per row deleted), then the delete. The delete returns each row (`RETURNING 1`), counted
/// by the caller: D1's `changes` also counts what triggers write (the search index), so it is no
/// row count. Every statement is scoped by the app: no other app's row can ever go.
pub fn delete_chunk_sql(table: &str, firehose: bool) -> Vec<String> {
    let t = quoted(table);
    let chunk = format!(
        "(timestamp, id) IN (SELECT timestamp, id FROM {t} WHERE app_id = ?1 AND timestamp < ?2 \
         ORDER BY timestamp, id LIMIT ?3)"
    );
    let mut out = Vec::new();
    if firehose {
        out.push(format!(
            "UPDATE {stats} SET count = {stats}.count - d.n FROM (SELECT app_id, \
             timestamp / {DAY_MS} AS day, level, count(*) AS n FROM {t} WHERE app_id = ?1 \
             AND {chunk} GROUP BY 1, 2, 3) AS d WHERE {stats}.app_id = d.app_id \
             AND {stats}.day = d.day AND {stats}.level = d.level",
            stats = quoted(STATS_TABLE)
        ));
    }
    out.push(format!(
        "DELETE FROM {t} WHERE app_id = ?1 AND {chunk} RETURNING 1 AS deleted"
    ));
    out
}

/// Whether a chunked delete is finished: a chunk that deleted fewer rows than it may left none.
pub fn finished(deleted_by_chunk: u64, chunk: u64) -> bool {
    deleted_by_chunk < chunk
}

/// The `before` of a manual prune body `{ "before": "<ISO time>" }` (or ms since the epoch), in ms.
pub fn parse_prune_body(body: &[u8], now_ms: i64) -> Result<i64, StoreError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        StoreError::Model(crate::model::error::ModelError::InvalidJson(e.to_string()))
    })?;
    let Value::Object(obj) = v else {
        return Err(StoreError::InvalidPrune(
            "the body is an object { \"before\": \"<ISO time>\" }".into(),
        ));
    };
    if let Some(k) = obj.keys().find(|k| *k != "before") {
        return Err(StoreError::InvalidPrune(format!(
            "unknown key {k:?}; the body is {{ \"before\": \"<ISO time>\" }}"
        )));
    }
    let before = obj
        .get("before")
        .ok_or_else(|| StoreError::InvalidPrune("before: required, an ISO 8601 time".into()))?;
    parse_timestamp(before, now_ms)
        .map_err(|e| StoreError::InvalidTimestamp(format!("before: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn a_prune_body_names_a_time() {
        assert_eq!(
            parse_prune_body(br#"{"before": "2025-06-15T12:00:00Z"}"#, NOW),
            Ok(1_749_988_800_000)
        );
        assert_eq!(
            parse_prune_body(br#"{"before": 1749988800000}"#, NOW),
            Ok(1_749_988_800_000)
        );
        let code = |b: &[u8]| parse_prune_body(b, NOW).unwrap_err().code();
        assert_eq!(code(b"{}"), "INVALID_PRUNE");
        assert_eq!(code(br#"{"before": "yesterday"}"#), "INVALID_TIMESTAMP");
        assert_eq!(
            code(br#"{"before": "2025-01-01T00:00:00Z", "app": "x"}"#),
            "INVALID_PRUNE"
        );
        assert_eq!(code(b"[]"), "INVALID_PRUNE");
        assert_eq!(code(b"nope"), "INVALID_JSON");
    }

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn a_table_without_retention_is_never_due() {
        assert_eq!(due(None, 1, PruneState::default(), NOW), None);
    }

    #[test]
    fn the_cutoff_is_retention_days_before_now() {
        assert_eq!(
            due(Some(30), 1, PruneState::default(), NOW),
            Some(NOW - 30 * DAY_MS)
        );
    }

    #[test]
    fn a_table_is_pruned_at_most_once_per_interval() {
        let pruned = |ago: i64| PruneState {
            last_pruned_at: Some(NOW - ago),
            pending: false,
        };
        assert_eq!(due(Some(7), 1, pruned(3_600_000), NOW), None);
        assert_eq!(due(Some(7), 1, pruned(DAY_MS), NOW), Some(NOW - 7 * DAY_MS));
        assert!(
            due(Some(7), 1, pruned(DAY_MS - 60_000), NOW).is_some(),
            "cron jitter"
        );
        assert_eq!(due(Some(7), 3, pruned(2 * DAY_MS), NOW), None);
        assert!(due(Some(7), 3, pruned(3 * DAY_MS), NOW).is_some());
    }

    #[test]
    fn an_unfinished_run_continues_at_the_next_trigger() {
        let state = PruneState {
            last_pruned_at: Some(NOW - 60_000),
            pending: true,
        };
        assert!(due(Some(7), 1, state, NOW).is_some());
    }

    fn db() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE t (id TEXT NOT NULL, timestamp INTEGER NOT NULL, app_id TEXT NOT NULL,
                             level TEXT NOT NULL,
                             PRIMARY KEY (app_id, timestamp, id)) WITHOUT ROWID;
             CREATE TABLE log_stats (app_id TEXT NOT NULL, day INTEGER NOT NULL,
                 level TEXT NOT NULL, count INTEGER NOT NULL,
                 PRIMARY KEY (app_id, day, level)) WITHOUT ROWID;",
        )
        .unwrap();
        for i in 0..25 {
            let app = if i % 2 == 0 { "a" } else { "b" };
            db.execute(
                "INSERT INTO t VALUES (?1, ?2, ?3, 'INFO')",
                rusqlite::params![format!("id{i}"), i, app],
            )
            .unwrap();
        }
        db.execute_batch(
            "INSERT INTO log_stats SELECT app_id, timestamp / 86400000, level, count(*)
             FROM t GROUP BY 1, 2, 3",
        )
        .unwrap();
        db
    }

    fn count(db: &Connection, sql: &str) -> i64 {
        db.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Runs a chunk's statements and counts the rows the delete returns, as `tables` does.
    fn deleted(db: &Connection, firehose: bool, params: (&str, i64, i64)) -> u64 {
        let sql = delete_chunk_sql("t", firehose);
        let (last, before) = sql.split_last().unwrap();
        let p = rusqlite::params![params.0, params.1, params.2];
        for s in before {
            db.execute(s, p).unwrap();
        }
        let mut st = db.prepare(last).unwrap();
        st.query_map(p, |_| Ok(())).unwrap().count() as u64
    }

    fn apps(db: &Connection, before: i64) -> Vec<String> {
        let mut st = db.prepare(&apps_with_older_sql("t")).unwrap();
        st.query_map([before], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn chunks_delete_exactly_the_old_rows_app_by_app_and_the_counts_follow() {
        let db = db();
        assert_eq!(apps(&db, 10), ["a", "b"]);
        assert_eq!(apps(&db, 1), ["a"]);
        assert!(apps(&db, 0).is_empty());
        let mut chunks = 0;
        for app in apps(&db, 10) {
            loop {
                let n = deleted(&db, true, (&app, 10, 2));
                chunks += 1;
                assert!(n <= 2);
                if finished(n, 2) {
                    break;
                }
            }
        }
        assert_eq!(chunks, 3 + 3, "5 rows of each app in chunks of 2");
        assert_eq!(count(&db, "SELECT count(*) FROM t WHERE timestamp < 10"), 0);
        assert_eq!(count(&db, "SELECT count(*) FROM t"), 15);
        assert_eq!(count(&db, "SELECT sum(count) FROM log_stats"), 15);
        assert!(apps(&db, 10).is_empty());
    }

    #[test]
    fn the_delete_walks_the_key() {
        let db = db();
        let sql = delete_chunk_sql("t", false).pop().unwrap();
        let plan: Vec<String> = db
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(rusqlite::params!["a", 10, 2], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter().all(|p| !p.starts_with("SCAN")),
            "no scan: {plan:?}"
        );
    }

    #[test]
    fn an_app_prune_leaves_other_apps_alone() {
        let db = db();
        let n = deleted(&db, true, ("a", 10, 100));
        assert_eq!(n, 5);
        assert_eq!(count(&db, "SELECT count(*) FROM t WHERE app_id = 'b'"), 12);
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM t WHERE app_id = 'a' AND timestamp < 10"
            ),
            0
        );
        assert_eq!(count(&db, "SELECT count(*) FROM t WHERE app_id = 'a'"), 8);
        assert_eq!(
            count(&db, "SELECT count FROM log_stats WHERE app_id = 'b'"),
            12
        );
        assert_eq!(
            count(&db, "SELECT count FROM log_stats WHERE app_id = 'a'"),
            8
        );
    }

    #[test]
    #[should_panic(expected = "not an identifier")]
    fn delete_statements_refuse_unchecked_names() {
        delete_chunk_sql("t WHERE 1; --", true);
    }
}
