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

/// Upper bound of one statement's JSON parameter. D1 fails at about 2 MB; one REST body is at most
/// `MAX_BODY_BYTES` (1 MiB by default), so even a single maximal row fits.
pub const MAX_PARAM_BYTES: usize = 1_500_000;

/// Whether `name` is safe to splice into SQL as a table or column name.
pub fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b == b'_')
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

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

/// `name` as a quoted SQL identifier. Panics unless it is a checked identifier: configuration
/// is validated when parsed, so reaching SQL with anything else is a bug, never input.
pub fn quoted(name: &str) -> String {
    assert!(is_identifier(name), "{name:?} is not an identifier");
    format!("\"{name}\"")
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
/// cheaper to write this way (see `entry::plain_positions`).
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

/// The firehose insert for plain rows (see `entry::plain_positions`): the 10 columns they fill.
pub fn plain_insert_sql(table: &str, extract: Extract) -> String {
    let positions = crate::entry::plain_positions();
    let names: Vec<&str> = positions
        .iter()
        .map(|i| crate::entry::COLUMNS[*i])
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

/// The rows of a JSON array of rows (`[[...],[...]]`), as slices of `body`, without parsing the
/// rows themselves: a scan that tracks nesting and strings. `None` unless `body` is an array whose
/// elements are all arrays. The LogBatcher buffers a request's rows as one text and splits it only
/// when it flushes.
pub fn split_rows(body: &str) -> Option<Vec<&str>> {
    scan_rows(body, usize::MAX)
}

/// The first row of a JSON array of rows, found without scanning the others (they are checked
/// when the part is split at flush time).
pub fn first_row(body: &str) -> Option<&str> {
    scan_rows(body, 1)?.into_iter().next()
}

/// The first `limit` rows of a JSON array of rows; all of them, and the whole text checked, when
/// there are no more than that.
fn scan_rows(body: &str, limit: usize) -> Option<Vec<&str>> {
    let bytes = body.as_bytes();
    let trimmed_start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let trimmed_end = bytes.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if bytes[trimmed_start] != b'[' || bytes[trimmed_end] != b']' || trimmed_end == trimmed_start {
        return None;
    }
    let mut rows = Vec::new();
    let mut depth = 0u32;
    let mut start = None;
    // Between rows: a comma must come after a row and before the next one.
    let mut need_row = false;
    let mut i = trimmed_start + 1;
    while i < trimmed_end {
        let b = bytes[i];
        i += 1;
        match b {
            b'"' if depth > 0 => {
                // Skip the string's contents: only a quote or a backslash matters in there.
                loop {
                    let rest = bytes.get(i..trimmed_end)?;
                    let at = rest.iter().position(|&c| c == b'"' || c == b'\\')?;
                    i += at + 1;
                    if rest[at] == b'"' {
                        break;
                    }
                    i += 1; // the escaped character
                }
            }
            b'[' | b'{' => {
                if depth == 0 {
                    if b != b'[' || !(rows.is_empty() || need_row) {
                        return None;
                    }
                    start = Some(i - 1);
                    need_row = false;
                }
                depth += 1;
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    rows.push(&body[start.take()?..i]);
                    if rows.len() >= limit {
                        return Some(rows);
                    }
                }
            }
            b',' if depth == 0 => {
                if rows.is_empty() || need_row {
                    return None;
                }
                need_row = true;
            }
            c if depth == 0 && !c.is_ascii_whitespace() => return None,
            _ => {}
        }
    }
    (depth == 0 && !need_row).then_some(rows)
}

/// The id (first value) of a row, when it is a string.
pub fn row_id(row: &str) -> Option<String> {
    let values: Vec<serde_json::Value> = serde_json::from_str(row).ok()?;
    values.first()?.as_str().map(str::to_string)
}

/// The buffer key of several rows kept as one text: their first id, their count and a hash of the
/// text, so a retried request is buffered once while a different request that happens to start
/// with the same entry is not mistaken for it.
pub fn part_key(first_id: &str, rows: usize, body: &str) -> String {
    format!("{first_id}/{rows}/{:016x}", text_hash(body))
}

/// A 64-bit hash of `text`, eight bytes per step (a multiply-rotate mix in the manner of FxHash):
/// it only has to tell apart bodies with the same first id and count, and it runs over every
/// buffered byte, so it is built for speed (a byte-at-a-time FNV cost more than the SQLite
/// insert of the same part).
pub fn text_hash(text: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let bytes = text.as_bytes();
    let mut h = mix(0, bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = mix(h, u64::from_le_bytes(w));
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    mix(h, u64::from_le_bytes(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::COLUMNS;
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
    fn identifiers_are_lowercase_words() {
        assert!(is_identifier("logs"));
        assert!(is_identifier("_errors_2024"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("2logs"));
        assert!(!is_identifier("Logs"));
        assert!(!is_identifier("logs-x"));
        assert!(!is_identifier("a\"b"));
        assert!(!is_identifier(&"a".repeat(65)));
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
        db.execute_batch(include_str!("../migrations/0001_logs.sql"))
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
        let rows = vec![crate::entry::tests::sample().to_row_json()];
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
        let mut e = crate::entry::tests::sample();
        e.request = Default::default();
        assert!(e.request.is_empty());
        let row = e.to_row_json();
        let values: Vec<Value> = serde_json::from_str(&row).unwrap();
        for i in crate::entry::REQUEST_COLUMNS {
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
        use crate::level::Level;
        for extract in [Extract::Jsonb, Extract::Text] {
            let db = logs_db();
            db.execute_batch(include_str!("../migrations/0005_log_stats.sql"))
                .unwrap();
            const DAY_MS: i64 = crate::schema::DAY_MS;
            let row = |id: &str, day: i64, level: Level, app: &str| {
                let mut e = crate::entry::tests::sample();
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
        let mut a = crate::entry::tests::sample();
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
        let good = crate::entry::tests::sample().to_row_json();
        let bad = good.replacen("\"WARN\"", "\"POISON\"", 1).replacen(
            &crate::entry::tests::sample().id,
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

    #[test]
    fn rows_are_split_without_being_parsed() {
        let body = r#"[["a",1,"x,]\"[",{"k":[1,2]}], ["b",null] ,["c"]]"#;
        assert_eq!(
            split_rows(body).unwrap(),
            vec![
                r#"["a",1,"x,]\"[",{"k":[1,2]}]"#,
                r#"["b",null]"#,
                r#"["c"]"#
            ]
        );
        let rows = vec![crate::entry::tests::sample().to_row_json(); 3];
        let chunk = chunk_rows(&rows, MAX_PARAM_BYTES, usize::MAX).remove(0);
        assert_eq!(split_rows(&chunk).unwrap(), rows);
        assert_eq!(split_rows("[]").unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn anything_but_an_array_of_arrays_is_refused() {
        for bad in [
            "",
            "{}",
            "[1]",
            r#"["a"]"#,
            "[[1],2]",
            "[[1]",
            "[[1]]]",
            "[[1],,[2]]",
            "[,[1]]",
            "[[1][2]]",
            r#"[["a]]"#,
            "[{}]",
            "x[[1]]",
            "[[1],]",
        ] {
            assert_eq!(split_rows(bad), None, "{bad}");
        }
    }

    #[test]
    fn rows_have_an_id_and_parts_a_key_that_tells_them_apart() {
        assert_eq!(row_id(r#"["id-1",2]"#).as_deref(), Some("id-1"));
        assert_eq!(row_id("[1]"), None);
        assert_eq!(row_id("nope"), None);
        assert_eq!(
            first_row(r#" [["a",1,"]"],["b"]] "#),
            Some(r#"["a",1,"]"]"#)
        );
        assert_eq!(first_row("[]"), None);
        assert_eq!(first_row(r#"{"a":1}"#), None);
        let body = "[[\"id-1\"],[\"id-2\"]] and some more bytes";
        for i in 0..body.len() {
            let mut other = body.as_bytes().to_vec();
            other[i] ^= 1;
            let other = String::from_utf8(other).unwrap();
            assert_ne!(
                text_hash(body),
                text_hash(&other),
                "a change at byte {i} is seen"
            );
        }
        assert_ne!(text_hash("abc"), text_hash("abc\0"), "the length counts");
        let a = part_key("id-1", 2, r#"[["id-1"],["id-2"]]"#);
        assert_eq!(a, part_key("id-1", 2, r#"[["id-1"],["id-2"]]"#));
        assert_ne!(a, part_key("id-1", 2, r#"[["id-1"],["id-3"]]"#));
        assert!(a.starts_with("id-1/2/"));
    }
}
