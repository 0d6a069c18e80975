//! The query's filters: the query string (or RPC's filter object) in, a typed [`LogQuery`] out:
//! levels, the time range, a request id, full-text search (as an FTS5 expression that is never
//! FTS5 syntax), context values, a route, the page size and the keyset cursor. Pure.

use crate::model::id::is_request_id;
use crate::model::id::is_uuid;
use crate::model::level::Level;
use crate::model::time::parse_timestamp;
use crate::read::error::ReadError;
use serde_json::Value;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
/// `context.<path>=value` filters per query, and the depth of a path.
pub const MAX_CONTEXT_FILTERS: usize = 8;
pub const MAX_PATH_SEGMENTS: usize = 8;
/// `search`: characters and terms (each term is one FTS5 phrase).
pub const MAX_SEARCH_CHARS: usize = 256;
pub const MAX_SEARCH_TERMS: usize = 16;

/// Where a page ended: the last row's `(timestamp, id)`. Opaque to clients (hex of
/// `timestamp:id`), so its form can change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}:{}", self.timestamp, self.id)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn decode(s: &str) -> Result<Cursor, ReadError> {
        let bad = || ReadError::InvalidCursor(format!("cursor {s:?} is not one this API returned"));
        if !s.len().is_multiple_of(2) || s.len() > 200 {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (ts, id) = text.split_once(':').ok_or_else(bad)?;
        let timestamp = ts.parse().map_err(|_| bad())?;
        if !is_uuid(id) {
            return Err(bad());
        }
        Ok(Cursor {
            timestamp,
            id: id.to_string(),
        })
    }
}

/// A parsed `GET /logs` query, without the app (which comes from the key).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogQuery {
    /// Any of these levels (empty: all).
    pub levels: Vec<Level>,
    /// `since <= timestamp < until`, ms.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub request_id: Option<String>,
    /// The FTS5 expression made from `search` (see [`fts_expression`]).
    pub search: Option<String>,
    /// `(JSON path, value)`: the entry's custom data at the path, as text, equals the value.
    pub context: Vec<(String, String)>,
    /// Only entries that route matched (its name; the shell maps it to its table).
    pub route: Option<String>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
    /// `app_id` (admin key only; an app key reads its own app).
    pub app_id: Option<String>,
}

/// Parses the query string's pairs. Unknown parameters are refused, so a typo never silently
/// widens a query.
/// The filters of an RPC `query({...})` as the query string's pairs: strings and numbers as
/// they are, a list (`level: ["WARN", "ERROR"]`) joined by commas, and `context: {user: {id: 42}}`
/// as `context.user.id=42` (a `"context.user.id"` key works too).
pub fn filter_pairs(filters: &Value) -> Result<Vec<(String, String)>, ReadError> {
    fn scalar(name: &str, v: &Value) -> Result<String, ReadError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Array(items) => items
                .iter()
                .map(|i| scalar(name, i))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.join(",")),
            _ => Err(ReadError::InvalidFilter(format!(
                "{name}: a string, a number or a list of them"
            ))),
        }
    }
    fn context(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) -> Result<(), ReadError> {
        match v {
            Value::Object(m) => m
                .iter()
                .try_for_each(|(k, v)| context(&format!("{prefix}.{k}"), v, out)),
            other => {
                out.push((prefix.to_string(), scalar(prefix, other)?));
                Ok(())
            }
        }
    }
    let mut out = Vec::new();
    match filters {
        Value::Null => {}
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    (_, Value::Null) => {}
                    ("context", Value::Object(_)) => context("context", v, &mut out)?,
                    _ => out.push((k.clone(), scalar(k, v)?)),
                }
            }
        }
        _ => {
            return Err(ReadError::InvalidFilter(
                "filters: an object such as {level: \"ERROR\", search: \"timeout\"}".into(),
            ))
        }
    }
    Ok(out)
}

pub fn parse_query(pairs: &[(String, String)], now_ms: i64) -> Result<LogQuery, ReadError> {
    let mut q = LogQuery {
        limit: DEFAULT_LIMIT,
        ..LogQuery::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        if let Some(path) = name.strip_prefix("context.") {
            if q.context.len() >= MAX_CONTEXT_FILTERS {
                return Err(ReadError::InvalidFilter(format!(
                    "at most {MAX_CONTEXT_FILTERS} context filters"
                )));
            }
            q.context.push((json_path(path)?, value.clone()));
            continue;
        }
        if seen.contains(&name.as_str()) {
            return Err(ReadError::InvalidFilter(format!(
                "{name}: given more than once"
            )));
        }
        seen.push(name);
        match name.as_str() {
            "level" => q.levels = parse_levels(value)?,
            "since" | "until" => {
                let ms = time_param(value, now_ms)
                    .map_err(|e| ReadError::InvalidTimestamp(format!("{name}: {e}")))?;
                if name == "since" {
                    q.since = Some(ms);
                } else {
                    q.until = Some(ms);
                }
            }
            "request_id" => {
                if !is_request_id(value) {
                    return Err(ReadError::InvalidFilter(
                        "request_id: 1 to 128 printable characters".into(),
                    ));
                }
                q.request_id = Some(value.clone());
            }
            "search" => q.search = Some(fts_expression(value)?),
            "route" => q.route = Some(value.clone()),
            "app_id" => q.app_id = Some(value.clone()),
            "limit" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        ReadError::InvalidLimit(format!(
                            "limit: {value:?} is not a number from 1 to {MAX_LIMIT}"
                        ))
                    })?;
            }
            "cursor" => q.cursor = Some(Cursor::decode(value)?),
            other => {
                return Err(ReadError::InvalidFilter(format!(
                    "unknown parameter {other:?}; expected level, since, until, request_id, \
                     search, context.<path>, route, limit, cursor or app_id"
                )))
            }
        }
    }
    if let (Some(s), Some(u)) = (q.since, q.until) {
        if s >= u {
            return Err(ReadError::InvalidTimestamp(
                "since must be before until".into(),
            ));
        }
    }
    Ok(q)
}

/// A `level` parameter: one level or a comma list, case-insensitive, each once (also the live
/// tail's filter).
pub fn parse_levels(value: &str) -> Result<Vec<Level>, ReadError> {
    let mut levels = Vec::new();
    for l in value.split(',').map(str::trim) {
        let level: Level = l
            .parse()
            .map_err(|e| ReadError::InvalidLevel(format!("level: {e}")))?;
        if !levels.contains(&level) {
            levels.push(level);
        }
    }
    Ok(levels)
}

/// A time bound: RFC 3339, ms since the epoch (the same forms entries are accepted in, without
/// the "one day ahead" limit of an entry's own time), or a date (`2026-12-08`, its midnight UTC,
/// as the worker-logs design's clients send it: `until=2026-12-08` ends before that day).
fn time_param(value: &str, now_ms: i64) -> Result<i64, crate::model::time::TimeError> {
    let v = match value.parse::<i64>() {
        Ok(ms) => Value::from(ms),
        Err(_) => match chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(day) if value.len() == 10 => Value::from(
                day.and_time(chrono::NaiveTime::MIN)
                    .and_utc()
                    .timestamp_millis(),
            ),
            _ => Value::from(value),
        },
    };
    // Far-future bounds are fine for a query: check against a clock a century ahead.
    parse_timestamp(&v, now_ms.saturating_add(100 * 365 * 86_400_000))
}

/// `user.id` → `$.user.id`; numeric segments index arrays (`items.0` → `$.items[0]`). Segments
/// are letters, digits, `_` and `-`, so the path needs no quoting (it is bound, never spliced).
fn json_path(path: &str) -> Result<String, ReadError> {
    let bad = || {
        ReadError::InvalidFilter(format!(
            "context.{path}: a path of 1 to {MAX_PATH_SEGMENTS} segments of letters, digits, '_' or '-'"
        ))
    };
    let segments: Vec<&str> = path.split('.').collect();
    if segments.len() > MAX_PATH_SEGMENTS {
        return Err(bad());
    }
    let mut out = String::from("$");
    for s in segments {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(bad());
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{s}]"));
        } else {
            out.push('.');
            out.push_str(s);
        }
    }
    Ok(out)
}

/// The FTS5 expression for a `search` text: every word must occur (AND); `word*` matches words
/// that start with it; `"a few words"` matches them in a row. Each term becomes a quoted FTS5
/// string, so no input is read as FTS5 syntax (`OR`, `NEAR`, `-`, columns ...). Words are
/// matched as SQLite's unicode61 tokenizer splits them: case-insensitive, split at punctuation.
pub fn fts_expression(search: &str) -> Result<String, ReadError> {
    if search.chars().count() > MAX_SEARCH_CHARS {
        return Err(ReadError::InvalidFilter(format!(
            "search: at most {MAX_SEARCH_CHARS} characters"
        )));
    }
    // Control characters (NUL among them) end an FTS5 string early: they separate words here,
    // as the tokenizer would treat them anyway.
    let search: String = search
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut terms = Vec::new();
    for (i, piece) in search.split('"').enumerate() {
        if i % 2 == 1 {
            // Inside quotes: a phrase.
            if piece.chars().any(char::is_alphanumeric) {
                terms.push(format!("\"{}\"", piece.trim()));
            }
            continue;
        }
        for word in piece.split_whitespace() {
            let (stem, prefix) = match word.strip_suffix('*') {
                Some(stem) => (stem, true),
                None => (word, false),
            };
            if !stem.chars().any(char::is_alphanumeric) {
                continue;
            }
            terms.push(format!("\"{stem}\"{}", if prefix { "*" } else { "" }));
        }
    }
    if terms.is_empty() {
        return Err(ReadError::InvalidFilter(
            "search: no word to search for".into(),
        ));
    }
    if terms.len() > MAX_SEARCH_TERMS {
        return Err(ReadError::InvalidFilter(format!(
            "search: at most {MAX_SEARCH_TERMS} terms"
        )));
    }
    Ok(terms.join(" "))
}

/// The FTS5 phrase that finds a request id in the search index's `request_id` column: its words
/// in a row, as the tokenizer splits them (the row's own `request_id` is then compared exactly).
/// `None` when it has no word to find (`"---"`): the id is then matched by scanning.
pub fn request_id_phrase(request_id: &str) -> Option<String> {
    request_id
        .chars()
        .any(char::is_alphanumeric)
        .then(|| format!("request_id : \"{}\"", request_id.replace('"', "\"\"")))
}

/// The search index expression of `q`'s search (and its request id, when both are given).
pub fn match_expression(q: &LogQuery) -> Option<String> {
    let expr = q.search.as_ref()?;
    let mut m = format!("message : ({expr})");
    if let Some(phrase) = q.request_id.as_deref().and_then(request_id_phrase) {
        m = format!("{m} AND {phrase}");
    }
    Some(m)
}
