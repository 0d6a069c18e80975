//! SQL for flushing buffered rows into D1, as few statements as D1's limits allow.
//!
//! Each statement is one `INSERT ... SELECT ... FROM json_each(?1)` whose single bound
//! parameter is a JSON array of rows. That sidesteps D1's 100-bound-parameters-per-statement limit
//! (a firehose row has 32 columns), keeps the SQL text far below D1's 100 KB statement limit, and carries
//! millisecond timestamps inside JSON, because `worker`'s `D1Type::Integer` is only 32-bit.
//! D1 refuses a bound string of about 2 MB (`SQLITE_TOOBIG`), so rows are chunked by bytes.
//! `ON CONFLICT(id) DO NOTHING` makes a retried flush harmless: a row is never duplicated. (Not
//! `INSERT OR IGNORE`: that would also skip rows that break a NOT NULL or CHECK constraint,
//! silently losing them; here such a row fails the statement and is isolated as poison.)
//!
//! Does not talk to D1; the LogBatcher runs what this builds.

use crate::model::sql::quoted;

/// Upper bound of one statement's JSON parameter. D1 fails at about 2 MB; one REST body is at most
/// `MAX_BODY_BYTES` (1 MiB by default), so even a single maximal row fits.
pub const MAX_PARAM_BYTES: usize = 1_500_000;

/// How a statement reads the values of each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extract {
    /// Each row is converted to JSONB once (a materialized CTE) and its values read from that:
    /// about 3x faster, because `value ->> i` on JSON text parses the row again for every column.
    Jsonb,
    /// `value ->> i` on the JSON text: for a SQLite without JSONB (before 3.45).
    Text,
}

/// Whether a D1 error means the database lacks the JSONB functions (use [`Extract::Text`]).
pub fn lacks_jsonb(error: &str) -> bool {
    error.contains("no such function: jsonb")
}

/// The insert statement for `table`, expanding a JSON array of rows whose values are in
/// `columns` order. Names are checked identifiers, and quoted (a route column may be a keyword).
pub fn insert_sql(table: &str, columns: &[&str], extract: Extract) -> String {
    let positions: Vec<usize> = (0..columns.len()).collect();
    insert_sql_at(table, columns, &positions, extract)
}

/// The insert statement for `table` that fills each of `columns` from the row value at the
/// same index of `positions`; every other column keeps its default (NULL). Each value read costs
/// D1 a function call and a walk along the row, so a row whose other values are all null is
/// cheaper to write this way (see `columns::plain_positions`).
pub fn insert_sql_at(
    table: &str,
    columns: &[&str],
    positions: &[usize],
    extract: Extract,
) -> String {
    assert_eq!(columns.len(), positions.len(), "one position per column");
    let cols: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
    let source = match extract {
        Extract::Jsonb => "v",
        Extract::Text => "value",
    };
    let values: Vec<String> = positions
        .iter()
        .map(|i| format!("{source} ->> {i}"))
        .collect();
    let (with, from) = match extract {
        Extract::Jsonb => (
            "WITH r AS MATERIALIZED (SELECT jsonb(value) AS v FROM json_each(?1)) ",
            "r",
        ),
        Extract::Text => ("", "json_each(?1)"),
    };
    // `WHERE true`: SQLite needs a WHERE before an upsert clause on INSERT ... SELECT.
    format!(
        "{with}INSERT INTO {} ({}) SELECT {} FROM {from} WHERE true \
         ON CONFLICT(id) DO NOTHING",
        quoted(table),
        cols.join(", "),
        values.join(", ")
    )
}

/// The firehose insert for plain rows (see `columns::plain_positions`): the 10 columns they fill.
pub fn plain_insert_sql(table: &str, extract: Extract) -> String {
    let positions = crate::model::columns::plain_positions();
    let names: Vec<&str> = positions
        .iter()
        .map(|i| crate::model::columns::COLUMNS[*i])
        .collect();
    insert_sql_at(table, &names, &positions, extract)
}

/// Groups row JSON texts into JSON-array parameters of at most `max_bytes` and `max_rows` rows
/// each (a row larger than `max_bytes` travels alone). Order is kept. `max_rows` is
/// `MAX_BATCH_SIZE`: rows per insert statement, so `MAX_BATCH_SIZE=1` writes row by row.
pub fn chunk_rows<S: AsRef<str>>(rows: &[S], max_bytes: usize, max_rows: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::from("[");
    let mut in_current = 0;
    for row in rows {
        let row = row.as_ref();
        let full = in_current >= max_rows.max(1) || current.len() + row.len() + 2 > max_bytes;
        if current.len() > 1 && full {
            in_current = 0;
            current.push(']');
            chunks.push(std::mem::replace(&mut current, String::from("[")));
        }
        if current.len() > 1 {
            current.push(',');
        }
        current.push_str(row);
        in_current += 1;
    }
    if current.len() > 1 {
        current.push(']');
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::columns::COLUMNS;
    use serde_json::Value;

    #[test]
    fn insert_names_every_column_once_and_binds_one_parameter() {
        for (extract, v) in [(Extract::Text, "value"), (Extract::Jsonb, "v")] {
            let sql = insert_sql("logs", &COLUMNS, extract);
            assert!(sql.contains("INSERT INTO \"logs\" (\"id\", \"timestamp\","));
            assert!(sql.ends_with("ON CONFLICT(id) DO NOTHING"), "{sql}");
            for (i, c) in COLUMNS.iter().enumerate() {
                assert!(sql.contains(&format!("{v} ->> {i}")), "{c}");
            }
            assert!(!sql.contains(&format!("{v} ->> {}", COLUMNS.len())));
            assert_eq!(sql.matches('?').count(), 1);
            assert!(sql.len() < 100_000, "D1 caps SQL text at 100 KB");
        }
    }

    #[test]
    #[should_panic(expected = "not an identifier")]
    fn insert_refuses_a_table_name_that_is_not_an_identifier() {
        insert_sql("logs; DROP TABLE logs", &COLUMNS, Extract::Jsonb);
    }

    #[test]
    fn chunks_are_valid_json_arrays_under_the_limit_and_keep_order() {
        let rows: Vec<String> = (0..1000).map(|i| format!("[\"id-{i}\",{i}]")).collect();
        let chunks = chunk_rows(&rows, 1_000, usize::MAX);
        assert!(chunks.len() > 10);
        let mut seen = Vec::new();
        for c in &chunks {
            assert!(c.len() <= 1_000, "{}", c.len());
            let arr: Vec<Value> = serde_json::from_str(c).unwrap();
            seen.extend(arr.into_iter().map(|r| r[1].as_i64().unwrap()));
        }
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn chunks_hold_at_most_max_rows() {
        let rows: Vec<String> = (0..10).map(|i| format!("[\"id-{i}\",{i}]")).collect();
        let sizes = |max_rows| -> Vec<usize> {
            chunk_rows(&rows, MAX_PARAM_BYTES, max_rows)
                .iter()
                .map(|c| serde_json::from_str::<Vec<Value>>(c).unwrap().len())
                .collect()
        };
        assert_eq!(sizes(1), vec![1; 10]);
        assert_eq!(sizes(4), vec![4, 4, 2]);
        assert_eq!(sizes(10), vec![10]);
        assert_eq!(sizes(0), vec![1; 10], "0 means 1");
    }

    /// The real schema and statement on SQLite (the engine behind D1).
    fn logs_db() -> rusqlite::Connection {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(include_str!("../../migrations/0001_logs.sql"))
            .unwrap();
        db
    }

    fn insert(db: &rusqlite::Connection, rows: &[String]) -> rusqlite::Result<usize> {
        let chunk = chunk_rows(rows, MAX_PARAM_BYTES, usize::MAX).remove(0);
        let jsonb = db.execute(&insert_sql("logs", &COLUMNS, Extract::Jsonb), [&chunk])?;
        // Both forms store the same values (the second finds every row already there).
        let text = db.execute(&insert_sql("logs", &COLUMNS, Extract::Text), [&chunk])?;
        assert_eq!(text, 0);
        Ok(jsonb)
    }

    #[test]
    fn both_forms_store_identical_rows() {
        let rows = vec![crate::model::entry::tests::sample().to_row_json()];
        let chunk = chunk_rows(&rows, MAX_PARAM_BYTES, usize::MAX).remove(0);
        let mut seen = Vec::new();
        for extract in [Extract::Jsonb, Extract::Text] {
            let db = logs_db();
            db.execute(&insert_sql("logs", &COLUMNS, extract), [&chunk])
                .unwrap();
            let row: Vec<String> = db
                .query_row("SELECT * FROM logs", [], |r| {
                    (0..COLUMNS.len())
                        .map(|i| r.get_ref(i).map(|v| format!("{v:?}")))
                        .collect()
                })
                .unwrap();
            seen.push(row);
        }
        assert_eq!(seen[0], seen[1]);
        assert!(lacks_jsonb(
            "D1_ERROR: no such function: jsonb: SQLITE_ERROR"
        ));
    }

    #[test]
    fn a_plain_row_is_stored_the_same_by_the_narrow_insert_as_by_the_full_one() {
        let mut e = crate::model::entry::tests::sample();
        e.request = Default::default();
        assert!(e.request.is_empty());
        let row = e.to_row_json();
        let values: Vec<Value> = serde_json::from_str(&row).unwrap();
        for i in crate::model::columns::REQUEST_COLUMNS {
            assert_eq!(
                values[i],
                Value::Null,
                "{} is null in a plain row",
                COLUMNS[i]
            );
        }
        let chunk = chunk_rows(&[row], MAX_PARAM_BYTES, usize::MAX).remove(0);
        let stored = |sql: &str| -> Vec<String> {
            let db = logs_db();
            assert_eq!(db.execute(sql, [&chunk]).unwrap(), 1);
            assert_eq!(db.execute(sql, [&chunk]).unwrap(), 0, "idempotent too");
            db.query_row("SELECT * FROM logs", [], |r| {
                (0..COLUMNS.len())
                    .map(|i| r.get_ref(i).map(|v| format!("{v:?}")))
                    .collect()
            })
            .unwrap()
        };
        for extract in [Extract::Jsonb, Extract::Text] {
            let narrow = plain_insert_sql("logs", extract);
            assert_eq!(narrow.matches("->>").count(), 10, "{narrow}");
            assert!(narrow.contains("\"data\"") && !narrow.contains("\"method\""));
            assert_eq!(
                stored(&narrow),
                stored(&insert_sql("logs", &COLUMNS, extract))
            );
        }
    }

    #[test]
    fn daily_counts_equal_the_stored_rows_through_retries_duplicates_and_deletes() {
        use crate::model::level::Level;
        for extract in [Extract::Jsonb, Extract::Text] {
            let db = logs_db();
            db.execute_batch(include_str!("../../migrations/0005_log_stats.sql"))
                .unwrap();
            const DAY_MS: i64 = crate::store::schema::DAY_MS;
            let row = |id: &str, day: i64, level: Level, app: &str| {
                let mut e = crate::model::entry::tests::sample();
                e.id = format!("00000000-0000-7000-8000-{id:0>12}");
                e.timestamp = day * DAY_MS + 1_000;
                e.level = level;
                e.app_id = app.into();
                e.to_row_json()
            };
            let flush = |rows: &[String]| {
                for chunk in chunk_rows(rows, MAX_PARAM_BYTES, 2) {
                    db.execute(&insert_sql("logs", &COLUMNS, extract), [&chunk])
                        .unwrap();
                }
            };
            let agree = |what: &str| {
                let stats: Vec<(String, i64, String, i64)> = db
                    .prepare("SELECT * FROM log_stats WHERE count > 0 ORDER BY 1, 2, 3")
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let counted: Vec<(String, i64, String, i64)> = db
                    .prepare(
                        "SELECT app_id, timestamp / 86400000, level, count(*) FROM logs \
                         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                    )
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(stats, counted, "{what} ({extract:?})");
                stats
            };
            let first = vec![
                row("1", 20_000, Level::Info, "a"),
                row("2", 20_000, Level::Info, "a"),
                row("3", 20_000, Level::Warn, "a"),
                row("4", 20_001, Level::Error, "a"),
                row("5", 20_001, Level::Error, "b"),
            ];
            flush(&first);
            assert_eq!(agree("first flush").len(), 4);
            flush(&first);
            agree("the same flush retried");
            // One id twice in a chunk, and one already stored.
            flush(&[
                row("6", 20_000, Level::Debug, "a"),
                row("6", 20_000, Level::Debug, "a"),
                row("1", 20_000, Level::Info, "a"),
            ]);
            let stats = agree("duplicates");
            assert!(stats.contains(&("a".into(), 20_000, "DEBUG".into(), 1)));
            db.execute("DELETE FROM logs WHERE level = 'INFO'", [])
                .unwrap();
            agree("after deletes");
        }
    }

    #[test]
    fn the_statement_stores_every_column_and_a_retry_duplicates_nothing() {
        let db = logs_db();
        let mut a = crate::model::entry::tests::sample();
        let mut b = a.clone();
        a.id = "00000000-0000-7000-8000-00000000000a".into();
        b.id = "00000000-0000-7000-8000-00000000000b".into();
        b.request = Default::default();
        b.data = None;
        let rows = vec![a.to_row_json(), b.to_row_json()];
        assert_eq!(insert(&db, &rows).unwrap(), 2);
        assert_eq!(
            insert(&db, &rows).unwrap(),
            0,
            "a retried flush inserts nothing"
        );
        let (ts, asn, data, headers, country): (i64, i64, String, String, String) = db
            .query_row(
                "SELECT timestamp, asn, data, headers, country FROM logs WHERE id = ?1",
                [&a.id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(ts, a.timestamp, "millisecond timestamps survive");
        assert_eq!(asn, 13335);
        assert_eq!(
            serde_json::from_str::<Value>(&data).unwrap(),
            serde_json::json!({"user": {"id": 42}})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&headers).unwrap()["accept"],
            "*/*"
        );
        assert_eq!(country, "US");
        let nulls: i64 = db
            .query_row(
                "SELECT count(*) FROM logs WHERE id = ?1 AND method IS NULL AND data IS NULL",
                [&b.id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(nulls, 1);
    }

    #[test]
    fn a_row_that_breaks_a_constraint_fails_the_statement_instead_of_vanishing() {
        let db = logs_db();
        let good = crate::model::entry::tests::sample().to_row_json();
        let bad = good.replacen("\"WARN\"", "\"POISON\"", 1).replacen(
            &crate::model::entry::tests::sample().id,
            "00000000-0000-7000-8000-0000000000ff",
            1,
        );
        assert!(insert(&db, &[good, bad]).is_err());
        let n: i64 = db
            .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "the statement is atomic");
    }

    #[test]
    fn few_rows_make_one_statement() {
        let rows = vec!["[1]", "[2]", "[3]"];
        assert_eq!(
            chunk_rows(&rows, MAX_PARAM_BYTES, usize::MAX),
            vec!["[[1],[2],[3]]".to_string()]
        );
        assert!(chunk_rows::<&str>(&[], 10, usize::MAX).is_empty());
    }

    #[test]
    fn an_oversized_row_travels_alone() {
        let big = format!("[\"{}\"]", "x".repeat(50));
        let rows = vec!["[1]".to_string(), big.clone(), "[2]".to_string()];
        let chunks = chunk_rows(&rows, 20, usize::MAX);
        assert_eq!(
            chunks,
            vec!["[[1]]".to_string(), format!("[{big}]"), "[[2]]".to_string()]
        );
    }
}
