//! The query's rows: decoding what the statement returns (rows as JSON text SQLite builds),
//! cutting a page with its cursor, and presenting an entry as the API answers it. Pure.

use super::*;
use crate::model::request_url::restore;
use crate::platform::error::PlatformError;
use serde_json::Value;

/// The rows of `as_json_rows` as objects of `names`; a row that is not what it made is an
/// internal error.
pub fn rows_from_json(
    rows: Vec<serde_json::Map<String, Value>>,
    names: &[&str],
) -> Result<Vec<Value>, PlatformError> {
    let bug = |what: String| PlatformError::Internal(what);
    rows.into_iter()
        .map(|row| {
            let mut out = serde_json::Map::with_capacity(names.len());
            let mut names = names.iter();
            for i in 0..row.len() {
                let text = row
                    .get(&format!("j{i}"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| bug(format!("a row without its part j{i}")))?;
                let values: Vec<Value> = serde_json::from_str(text)
                    .map_err(|e| bug(format!("a row's part j{i}: {e}")))?;
                for v in values {
                    let name = names
                        .next()
                        .ok_or_else(|| bug("a row with more values than columns".into()))?;
                    out.insert((*name).to_string(), v);
                }
            }
            if names.next().is_some() {
                return Err(bug("a row with fewer values than columns".into()));
            }
            Ok(Value::Object(out))
        })
        .collect()
}

/// A stored row as the API returns it: `headers` and `context` as JSON objects, not text, and
/// given back what the firehose left out: `received_at` where it was the entry's time, what the
/// URL says (`model::request_url`). The custom data is stored in the `data` column (routes and
/// your own SQL name it so) and answered as `context`, the name it is sent and filtered by.
pub fn present(mut row: Value) -> Value {
    if let Some(obj) = row.as_object_mut() {
        // Not stored when it is the entry's own time (`store::insert`).
        if obj.get("received_at").is_some_and(Value::is_null) {
            if let Some(t) = obj.get("timestamp").cloned() {
                obj.insert("received_at".into(), t);
            }
        }
        for key in ["headers", "data"] {
            if let Some(Value::String(text)) = obj.get(key) {
                if let Ok(parsed) = serde_json::from_str::<Value>(text) {
                    obj.insert(key.into(), parsed);
                }
            }
        }
        restore(obj);
        if let Some(context) = obj.remove("data") {
            obj.insert(CONTEXT_FIELD.into(), context);
        }
    }
    row
}

/// The name an entry's custom data has in every answer (query pages, single entries, the live
/// tail, RPC): the one ingest takes (`context`) and filters use (`context.<path>`).
pub const CONTEXT_FIELD: &str = "context";

/// Splits the rows of `page_sql` (at most `limit + 1`, fewer when cut by bytes) into the page,
/// newest first, and the cursor of the next one. A page cut by bytes always has a cursor (the
/// page after it may turn out empty).
pub fn paginate(mut rows: Vec<Value>, limit: u32) -> (Vec<Value>, Option<String>) {
    let key = |r: &Value| {
        (
            r["timestamp"].as_f64().unwrap_or(0.0) as i64,
            r["id"].as_str().unwrap_or_default().to_string(),
        )
    };
    rows.sort_by_key(|r| std::cmp::Reverse(key(r)));
    let cut = rows
        .last()
        .and_then(|r| r["page_bytes"].as_f64())
        .is_some_and(|b| b >= MAX_PAGE_BYTES as f64);
    for r in &mut rows {
        if let Some(obj) = r.as_object_mut() {
            obj.remove("page_bytes");
        }
    }
    let more = rows.len() > limit as usize || cut;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().and_then(|r| {
            Some(
                Cursor {
                    timestamp: r["timestamp"].as_f64()? as i64,
                    id: r["id"].as_str()?.to_string(),
                }
                .encode(),
            )
        })
    } else {
        None
    };
    (rows, next)
}

/// The rows of an `as_json_rows` statement run on SQLite, as `rows_from_json` reads them (what
/// the tests of the SQL read back).
#[cfg(test)]
pub fn sqlite_rows(
    db: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    names: &[&str],
) -> Vec<Value> {
    let mut st = db.prepare(sql).unwrap();
    let parts = st.column_count();
    let rows = st
        .query_map(params, |r| {
            (0..parts)
                .map(|i| Ok((format!("j{i}"), Value::String(r.get(i)?))))
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows_from_json(rows, names).unwrap()
}
