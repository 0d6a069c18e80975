//! `GET /logs` queries: the query string in, one SQL statement with bound parameters out, and
//! the rows back as a page.
//!
//! Owns the filters (level, time range, request id, full-text search, context values, route),
//! page size, and the keyset cursor. Results are newest first, ordered by `(timestamp, id)`; a
//! page's cursor is the position of its last row, and the next page continues strictly after it,
//! so rows that arrive meanwhile never shift a page (no OFFSET, no duplicates, no gaps). The app
//! is never a query parameter here: the shell takes it from the caller's key, so a key can only
//! ever read its own app. Split by concern: `filters` (parsing), `sql` (statements), `rows`
//! (decoding, pages, presentation).
//!
//! Does not run SQL or authenticate (`read::reader` and the edge do).

mod filters;
mod rows;
mod sql;

pub use filters::*;
pub use rows::*;
pub use sql::*;

#[cfg(test)]
mod tests {
    use super::sql::{page_sql_at, MAX_FUNCTION_ARGS};
    use super::*;
    use crate::model::level::Level;
    use crate::read::error::ReadError;
    use serde_json::Value;

    #[test]
    fn rpc_filters_read_as_the_query_string_would() {
        let pairs = filter_pairs(&serde_json::json!({
            "level": ["WARN", "ERROR"], "limit": 5, "search": "timeout",
            "context": {"user": {"id": 42}}, "context.order": "o-1", "cursor": null
        }))
        .unwrap();
        let mut pairs = pairs;
        pairs.sort();
        let want: Vec<(String, String)> = [
            ("context.order", "o-1"),
            ("context.user.id", "42"),
            ("level", "WARN,ERROR"),
            ("limit", "5"),
            ("search", "timeout"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, want);
        assert!(filter_pairs(&serde_json::json!("level=ERROR")).is_err());
        assert!(filter_pairs(&serde_json::json!({"level": {"x": 1}})).is_err());
        assert_eq!(filter_pairs(&Value::Null).unwrap(), vec![]);
    }
    use rusqlite::Connection;

    const NOW: i64 = 1_750_000_000_000;
    const T0: i64 = 1_740_000_000_000;

    fn q(pairs: &[(&str, &str)]) -> Result<LogQuery, ReadError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        parse_query(&pairs, NOW)
    }

    #[test]
    fn every_filter_parses_into_its_field() {
        let parsed = q(&[
            ("level", "warn,ERROR"),
            ("since", "2025-06-01T00:00:00Z"),
            ("until", "1749000000000"),
            ("request_id", "r-1"),
            ("search", "db timeout*"),
            ("context.user.id", "42"),
            ("context.items.0", "x"),
            ("route", "errors"),
            ("limit", "10"),
        ])
        .unwrap();
        assert_eq!(parsed.levels, [Level::Warn, Level::Error]);
        assert_eq!(parsed.since, Some(1_748_736_000_000));
        assert_eq!(parsed.until, Some(1_749_000_000_000));
        assert_eq!(parsed.request_id.as_deref(), Some("r-1"));
        assert_eq!(parsed.search.as_deref(), Some("\"db\" \"timeout\"*"));
        assert_eq!(
            parsed.context,
            [
                ("$.user.id".to_string(), "42".to_string()),
                ("$.items[0]".to_string(), "x".to_string())
            ]
        );
        assert_eq!(parsed.route.as_deref(), Some("errors"));
        assert_eq!(parsed.limit, 10);
        assert_eq!(q(&[]).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn a_date_alone_is_its_midnight_utc() {
        let parsed = q(&[("since", "2025-06-01"), ("until", "2025-06-02")]).unwrap();
        assert_eq!(parsed.since, Some(1_748_736_000_000));
        assert_eq!(parsed.until, Some(1_748_736_000_000 + 86_400_000));
        for bad in ["2025-6-1", "2025-06-31", "2025-06-01T", "20250601"] {
            assert_eq!(
                q(&[("since", bad)]).unwrap_err().code(),
                "INVALID_TIMESTAMP",
                "{bad}"
            );
        }
    }

    #[test]
    fn invalid_filters_are_refused_with_their_own_codes() {
        let code = |pairs: &[(&str, &str)]| q(pairs).unwrap_err().code();
        assert_eq!(code(&[("level", "loud")]), "INVALID_LEVEL");
        assert_eq!(code(&[("since", "yesterday")]), "INVALID_TIMESTAMP");
        assert_eq!(code(&[("until", "12")]), "INVALID_TIMESTAMP");
        assert_eq!(
            code(&[("since", "1749000000000"), ("until", "1748000000000")]),
            "INVALID_TIMESTAMP"
        );
        for l in ["0", "1001", "-1", "ten", ""] {
            assert_eq!(code(&[("limit", l)]), "INVALID_LIMIT", "{l}");
        }
        for c in [
            "zz",
            "abc",
            "00",
            &Cursor {
                timestamp: 1,
                id: "x".into(),
            }
            .encode(),
        ] {
            assert_eq!(code(&[("cursor", c)]), "INVALID_CURSOR", "{c}");
        }
        assert_eq!(code(&[("levle", "INFO")]), "INVALID_FILTER");
        assert_eq!(code(&[("limit", "1"), ("limit", "2")]), "INVALID_FILTER");
        assert_eq!(code(&[("context.a b", "1")]), "INVALID_FILTER");
        assert_eq!(code(&[("context.", "1")]), "INVALID_FILTER");
        assert_eq!(code(&[("context.a'); DROP", "1")]), "INVALID_FILTER");
        assert_eq!(code(&[("search", "  -- ")]), "INVALID_FILTER");
        assert_eq!(code(&[("request_id", "")]), "INVALID_FILTER");
    }

    #[test]
    fn a_cursor_round_trips_and_is_opaque() {
        let c = Cursor {
            timestamp: 1_750_000_000_123,
            id: "01890000-0000-7000-8000-000000000001".into(),
        };
        let text = c.encode();
        assert!(text.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(Cursor::decode(&text).unwrap(), c);
    }

    #[test]
    fn search_text_never_reaches_fts5_as_syntax() {
        assert_eq!(fts_expression("Timeout").unwrap(), "\"Timeout\"");
        assert_eq!(
            fts_expression("a OR b NEAR(c) -d col:e").unwrap(),
            "\"a\" \"OR\" \"b\" \"NEAR(c)\" \"-d\" \"col:e\""
        );
        assert_eq!(
            fts_expression("\"connection reset\" db*").unwrap(),
            "\"connection reset\" \"db\"*"
        );
        assert_eq!(fts_expression("\"open quote").unwrap(), "\"open quote\"");
        assert_eq!(fts_expression("a\u{0}b\tc").unwrap(), "\"a\" \"b\" \"c\"");
        assert_eq!(
            fts_expression("\u{0}\u{1}").unwrap_err().code(),
            "INVALID_FILTER"
        );
        assert!(fts_expression(&"a ".repeat(17)).is_err());
    }

    /// Bound parameters as SQLite values.
    fn sql_values(params: Vec<Param>) -> Vec<rusqlite::types::Value> {
        params
            .into_iter()
            .map(|p| match p {
                Param::Text(t) => t.into(),
                Param::Int(i) => i.into(),
            })
            .collect()
    }

    /// A row comes back from its JSON parts as its columns held it: text (quotes, newlines and
    /// all), integers, NULLs, in order; no SQL function is given more arguments than D1 allows.
    #[test]
    fn rows_read_as_json_are_their_columns() {
        let db = Connection::open_in_memory().unwrap();
        let names: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let row = names
            .iter()
            .enumerate()
            .map(|(i, n)| match i % 3 {
                0 => format!("{i} AS {n}"),
                1 => format!("NULL AS {n}"),
                _ => format!("'say \"{i}\"\n\u{e9}' AS {n}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = as_json_rows(&format!("SELECT {row}"), &names, "c0 = 0");
        for call in sql.split("json_array(").skip(1) {
            let args = call[..call.find(')').unwrap()].split(", ").count();
            assert!(args <= MAX_FUNCTION_ARGS, "{args} arguments");
        }
        let rows = sqlite_rows(&db, &sql, [], &names);
        let want: serde_json::Map<String, Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let v = match i % 3 {
                    0 => Value::from(i),
                    1 => Value::Null,
                    _ => Value::from(format!("say \"{i}\"\n\u{e9}")),
                };
                (n.to_string(), v)
            })
            .collect();
        assert_eq!(rows, vec![Value::Object(want)]);
        let kept = as_json_rows(&format!("SELECT {row}"), &names, "c0 = 1");
        assert!(sqlite_rows(&db, &kept, [], &names).is_empty());
        // Parts that are not what `as_json_rows` made are an error, not a wrong row.
        let part = |t: &str| serde_json::Map::from_iter([("j0".to_string(), Value::from(t))]);
        assert!(rows_from_json(vec![part("[1, 2]")], &["a"]).is_err());
        assert!(rows_from_json(vec![part("[1]")], &["a", "b"]).is_err());
        assert!(rows_from_json(vec![part("{")], &["a"]).is_err());
    }

    /// One page of app `a` from `page_sql` on SQLite: the fields paging needs.
    fn page_rows(
        db: &Connection,
        q: &LogQuery,
        route: Option<&str>,
        (search, few_hits): (bool, u32),
    ) -> Vec<Value> {
        let (sql, params) = page_sql_at("logs", "a", q, route, search, few_hits);
        let params = rusqlite::params_from_iter(sql_values(params));
        sqlite_rows(db, &sql, params, &PAGE_COLUMNS)
            .into_iter()
            .map(|r| {
                let pick = |k: &str| r[k].clone();
                serde_json::json!({
                    "id": pick("id"), "timestamp": pick("timestamp"),
                    "app_id": pick("app_id"), "page_bytes": pick("page_bytes"),
                })
            })
            .collect()
    }

    /// The plan SQLite picks: a request id is found through the search index and key lookups,
    /// never by walking the app's rows; a page and a search walk the key, never sort a scan.
    #[test]
    fn a_request_id_is_key_lookups_and_a_page_walks_the_key() {
        let db = Connection::open_in_memory().unwrap();
        for sql in crate::store::schema::TableSchema::firehose("logs", true).migration(&[]) {
            db.execute(&sql, []).unwrap();
        }
        let plan = |pairs: &[(&str, &str)]| -> String {
            let (sql, params) = page_sql("logs", "a", &q(pairs).unwrap(), None, true);
            let params = sql_values(params);
            let mut st = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            st.query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
        };
        let by_request = plan(&[("request_id", "req-1")]);
        assert!(
            by_request.contains("SEARCH l USING PRIMARY KEY (app_id=? AND timestamp=?)"),
            "{by_request}"
        );
        for pairs in [&[][..], &[("level", "ERROR")][..]] {
            let p = plan(pairs);
            assert!(p.contains("SEARCH l USING PRIMARY KEY (app_id=?)"), "{p}");
            assert!(!p.contains("TEMP B-TREE FOR ORDER BY"), "{p}");
        }
        // A search holds both plans, key lookups of its hits and a walk of the key (which one
        // runs: `a_rare_word_is_looked_up_and_a_common_one_walked`).
        let p = plan(&[("search", "timeout")]);
        assert!(
            p.contains("SEARCH l USING PRIMARY KEY (app_id=? AND timestamp=?)")
                && p.contains("SEARCH l USING PRIMARY KEY (app_id=?)"),
            "{p}"
        );
    }

    /// Of a search's two plans only the one its hits call for runs, and it is the cheaper one:
    /// a rare word's rows are looked up, a common word's page walks the key and stops.
    #[test]
    fn a_rare_word_is_looked_up_and_a_common_one_walked() {
        let db = Connection::open_in_memory().unwrap();
        let schema = crate::store::schema::TableSchema::firehose("logs", true);
        for sql in schema.migration(&[]) {
            db.execute(&sql, []).unwrap();
        }
        let n = 3 * FEW_HITS as i64;
        for i in 0..n {
            let message = if i == n / 2 {
                "zebracorn seen"
            } else {
                "order served"
            };
            db.execute(
                "INSERT INTO logs (id, timestamp, received_at, app_id, level, message, source, \
                 shard, seq) VALUES (?1, ?2, ?2, 'a', 'INFO', ?3, 'rest', 's', ?4)",
                rusqlite::params![
                    format!("01890000-0000-7000-8000-{i:012}"),
                    T0 + i,
                    message,
                    i
                ],
            )
            .unwrap();
        }
        // SQLite's virtual machine steps for one page of `pairs` when a search of at most
        // `few` hits is looked up, and the page's rows.
        let steps = |pairs: &[(&str, &str)], few: u32| -> (i32, usize) {
            let (sql, params) = page_sql_at("logs", "a", &q(pairs).unwrap(), None, true, few);
            let mut st = db.prepare(&sql).unwrap();
            let rows = st
                .query_map(rusqlite::params_from_iter(sql_values(params)), |_| Ok(()))
                .unwrap()
                .count();
            (st.get_status(rusqlite::StatementStatus::VmStep), rows)
        };
        let rare = [("search", "zebracorn")];
        let (looked_up, one) = steps(&rare, FEW_HITS);
        let (walked, also_one) = steps(&rare, 0);
        assert_eq!((one, also_one), (1, 1));
        assert!(
            looked_up * 4 < walked,
            "rare: {looked_up} steps, walking {walked}"
        );
        let common = [("search", "served"), ("limit", "10")];
        let (walked, page) = steps(&common, FEW_HITS);
        let (looked_up, also_page) = steps(&common, u32::MAX - 1);
        assert_eq!((page, also_page), (11, 11), "a page and the row after it");
        assert!(
            walked * 2 < looked_up,
            "common: {walked} steps, looking up {looked_up}"
        );
    }

    /// A page stops at MAX_PAGE_BYTES however many rows the limit allows, always holds one
    /// row, and the cursor goes on from where it stopped.
    #[test]
    fn pages_are_bounded_in_bytes_and_continue() {
        let db = Connection::open_in_memory().unwrap();
        for sql in crate::store::schema::TableSchema::firehose("logs", true).migration(&[]) {
            db.execute(&sql, []).unwrap();
        }
        let big = "x".repeat(1024 * 1024);
        for i in 0..10i64 {
            db.execute(
                "INSERT INTO logs (id, timestamp, received_at, app_id, level, message, source, \
                 shard) VALUES (?1, ?2, ?2, 'a', 'INFO', ?3, 'rest', 's')",
                rusqlite::params![format!("01890000-0000-7000-8000-{i:012}"), T0 + i, big],
            )
            .unwrap();
        }
        let mut query = q(&[("limit", "1000")]).unwrap();
        let mut pages = Vec::new();
        loop {
            let (page, next) =
                paginate(page_rows(&db, &query, None, (true, FEW_HITS)), query.limit);
            pages.push(page.len());
            match next {
                Some(c) => query.cursor = Some(Cursor::decode(&c).unwrap()),
                None => break,
            }
        }
        assert_eq!(pages, vec![4, 4, 2]);
    }

    /// The statements on SQLite with the real schema: filters, search, pages; the same rows
    /// whether a request id is looked up in the search index or not.
    #[test]
    fn pages_cover_every_matching_row_once_newest_first() {
        // A search walks the app's rows when it has more hits than FEW_HITS (none here but with
        // a threshold of 0), and looks them up otherwise; a request id without the index walks.
        for plan in [(true, 0), (true, FEW_HITS), (false, FEW_HITS)] {
            pages_cover_every_matching_row(plan);
        }
    }

    fn pages_cover_every_matching_row(plan: (bool, u32)) {
        let db = Connection::open_in_memory().unwrap();
        let schema = crate::store::schema::TableSchema::firehose("logs", true);
        for sql in schema.migration(&[]) {
            db.execute(&sql, []).unwrap();
        }
        db.execute(
            "CREATE TABLE errors (id TEXT NOT NULL, app_id TEXT NOT NULL, timestamp INTEGER NOT NULL, \
             PRIMARY KEY (app_id, timestamp, id)) WITHOUT ROWID",
            [],
        )
        .unwrap();
        let mut n = 0;
        for app in ["a", "b"] {
            for i in 0..25i64 {
                n += 1;
                let level = if i % 5 == 0 { "ERROR" } else { "INFO" };
                let id = format!("01890000-0000-7000-8000-{n:012}");
                // Some rows share a timestamp: the id breaks the tie.
                db.execute(
                    "INSERT INTO logs (id, timestamp, received_at, app_id, level, message, \
                     request_id, source, shard, data, seq) \
                     VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, 'rest', 's', ?7, ?8)",
                    rusqlite::params![
                        id,
                        T0 + i / 3,
                        app,
                        level,
                        format!(
                            "request {i} {}",
                            if i % 2 == 0 { "db timeout" } else { "served" }
                        ),
                        format!("r-{}", i % 4),
                        format!("{{\"user\":{{\"id\":{}}}}}", i % 3),
                        n
                    ],
                )
                .unwrap();
                if level == "ERROR" {
                    db.execute(
                        "INSERT INTO errors VALUES (?1, ?2, ?3)",
                        rusqlite::params![id, app, T0 + i / 3],
                    )
                    .unwrap();
                }
            }
        }
        let run = |q: &LogQuery, route: Option<&str>| page_rows(&db, q, route, plan);
        let all_pages = |mut query: LogQuery, route: Option<&str>| -> Vec<Value> {
            let mut out = Vec::new();
            loop {
                let (page, next) = paginate(run(&query, route), query.limit);
                out.extend(page);
                match next {
                    Some(c) => query.cursor = Some(Cursor::decode(&c).unwrap()),
                    None => return out,
                }
            }
        };
        let count =
            |pairs: &[(&str, &str)], route: Option<&str>| all_pages(q(pairs).unwrap(), route).len();
        // Every row of app a, in pages of 4, newest first, none twice, none of app b.
        let rows = all_pages(q(&[("limit", "4")]).unwrap(), None);
        assert_eq!(rows.len(), 25);
        assert!(rows.iter().all(|r| r["app_id"] == "a"));
        let keys: Vec<(i64, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["timestamp"].as_i64().unwrap(),
                    r["id"].as_str().unwrap().into(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.reverse();
        sorted.dedup();
        assert_eq!(keys, sorted, "newest first, no duplicates");
        assert_eq!(count(&[("level", "ERROR")], None), 5);
        assert_eq!(count(&[("level", "ERROR,INFO")], None), 25);
        assert_eq!(count(&[("search", "timeout")], None), 13);
        assert_eq!(count(&[("search", "time*")], None), 13);
        assert_eq!(count(&[("search", "\"db timeout\"")], None), 13);
        assert_eq!(count(&[("search", "\"timeout db\"")], None), 0);
        assert_eq!(count(&[("request_id", "r-1")], None), 6);
        assert_eq!(count(&[("context.user.id", "0")], None), 9);
        let (since, until) = ((T0 + 3).to_string(), (T0 + 5).to_string());
        assert_eq!(count(&[("since", &since), ("until", &until)], None), 6);
        assert_eq!(count(&[], Some("errors")), 5);
        assert_eq!(
            count(
                &[
                    ("level", "ERROR"),
                    ("search", "timeout"),
                    ("context.user.id", "0")
                ],
                None
            ),
            1,
            "only request 0 is an ERROR with a timeout and user 0"
        );
    }
}
