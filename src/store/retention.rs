//! Retention and pruning: when a table is due, the cut-off, and the bounded delete statements.
//!
//! The cron trigger asks every log table with `retention_days` whether it is due (at most once per
//! `pruning_interval_days`, or right away when the last run stopped at its budget), then deletes
//! rows whose `timestamp` (event time, ms) is below the cut-off in chunks of `PRUNE_CHUNK_ROWS`:
//! no single statement deletes so much that it could hit D1's per-query time limit, and a run
//! makes at most `PRUNE_MAX_STATEMENTS` (a Worker invocation has a subrequest budget). The manual
//! prune (`POST /apps/:app_id/prune`) uses the same chunking for one app's rows. Does not run SQL
//! (`tables`).

use crate::http::error::ApiError;
use crate::model::sql::quoted;
use crate::model::time::parse_timestamp;
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

/// Deletes at most `?2` rows of `table` older than `?1`. D1 has no `DELETE ... LIMIT`, so the
/// rows are chosen by rowid in a subquery (the time index finds them).
///
/// Each deleted row is returned (`RETURNING 1`) and counted by the caller: D1's `changes` also
/// counts what triggers write (the firehose's full-text index), so it is no row count.
pub fn delete_older_sql(table: &str) -> String {
    let t = quoted(table);
    format!(
        "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE timestamp < ?1 LIMIT ?2) \
         RETURNING 1 AS deleted"
    )
}

/// Deletes at most `?3` rows of app `?1` in `table` older than `?2` (the app/time index). The
/// outer statement is scoped by the app too: whatever the subquery's ids turn out to mean, it
/// can never delete another app's rows.
pub fn delete_app_older_sql(table: &str) -> String {
    let t = quoted(table);
    format!(
        "DELETE FROM {t} WHERE app_id = ?1 AND rowid IN \
         (SELECT rowid FROM {t} WHERE app_id = ?1 AND timestamp < ?2 LIMIT ?3) RETURNING 1 AS deleted"
    )
}

/// Whether a chunked delete is finished: a chunk that deleted fewer rows than it may left none.
pub fn finished(deleted_by_chunk: u64, chunk: u64) -> bool {
    deleted_by_chunk < chunk
}

/// The `before` of a manual prune body `{ "before": "<ISO time>" }` (or ms since the epoch), in ms.
pub fn parse_prune_body(body: &[u8], now_ms: i64) -> Result<i64, ApiError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let Value::Object(obj) = v else {
        return Err(ApiError::InvalidPrune(
            "the body is an object { \"before\": \"<ISO time>\" }".into(),
        ));
    };
    if let Some(k) = obj.keys().find(|k| *k != "before") {
        return Err(ApiError::InvalidPrune(format!(
            "unknown key {k:?}; the body is {{ \"before\": \"<ISO time>\" }}"
        )));
    }
    let before = obj
        .get("before")
        .ok_or_else(|| ApiError::InvalidPrune("before: required, an ISO 8601 time".into()))?;
    parse_timestamp(before, now_ms).map_err(|e| ApiError::InvalidTimestamp(format!("before: {e}")))
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
            "CREATE TABLE t (id TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, app_id TEXT NOT NULL);
             CREATE INDEX idx_t_time ON t (timestamp);",
        )
        .unwrap();
        for i in 0..25 {
            let app = if i % 2 == 0 { "a" } else { "b" };
            db.execute(
                "INSERT INTO t VALUES (?1, ?2, ?3)",
                rusqlite::params![format!("id{i}"), i, app],
            )
            .unwrap();
        }
        db
    }

    fn count(db: &Connection, sql: &str) -> i64 {
        db.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Runs a delete statement and counts the rows it returns, as `tables` does.
    fn deleted(db: &Connection, sql: &str, params: impl rusqlite::Params) -> u64 {
        let mut st = db.prepare(sql).unwrap();
        st.query_map(params, |_| Ok(())).unwrap().count() as u64
    }

    #[test]
    fn chunks_delete_exactly_the_old_rows() {
        let db = db();
        let mut chunks = 0;
        loop {
            let n = deleted(&db, &delete_older_sql("t"), rusqlite::params![10, 4]);
            chunks += 1;
            assert!(n <= 4);
            if finished(n, 4) {
                break;
            }
        }
        assert_eq!(chunks, 3, "10 rows in chunks of 4");
        assert_eq!(count(&db, "SELECT count(*) FROM t WHERE timestamp < 10"), 0);
        assert_eq!(count(&db, "SELECT count(*) FROM t"), 15);
    }

    /// A table whose own column is called `rowid` (refused in routes now, but a table made
    /// before would have one): the subquery's ids are that column's values, and still no other
    /// app's row goes.
    #[test]
    fn an_app_prune_never_deletes_another_apps_rows_even_through_a_rowid_column() {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE r (id TEXT PRIMARY KEY, timestamp INTEGER NOT NULL,
                             app_id TEXT NOT NULL, rowid TEXT)",
        )
        .unwrap();
        for (i, app, ts) in [(0, "b", 5_000), (1, "b", 5_001), (2, "a", 10)] {
            db.execute(
                "INSERT INTO r (id, timestamp, app_id, rowid) VALUES (?1, ?2, ?3, '1')",
                rusqlite::params![format!("id{i}"), ts, app],
            )
            .unwrap();
        }
        let sql = delete_app_older_sql("r");
        let n = deleted(&db, &sql, rusqlite::params!["a", 2_000, 100]);
        let left = count(&db, "SELECT count(*) FROM r WHERE app_id = 'b'");
        assert_eq!(
            (n, left),
            (1, 2),
            "one row of app a deleted, both of app b kept"
        );
    }

    #[test]
    fn an_app_prune_leaves_other_apps_alone() {
        let db = db();
        let n = deleted(
            &db,
            &delete_app_older_sql("t"),
            rusqlite::params!["a", 10, 100],
        );
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
    }

    #[test]
    #[should_panic(expected = "not an identifier")]
    fn delete_statements_refuse_unchecked_names() {
        delete_older_sql("t WHERE 1; --");
    }
}
