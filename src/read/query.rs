//! `GET /logs` queries: the query string in, one SQL statement with bound parameters out.
//!
//! Owns the filters (level, time range, request id, full-text search, context values, route),
//! page size, and the keyset cursor. Results are newest first, ordered by `(timestamp, id)`; a
//! page's cursor is the position of its last row, and the next page continues strictly after it,
//! so rows that arrive meanwhile never shift a page (no OFFSET, no duplicates, no gaps). Every
//! value reaches SQL as a bound parameter; only checked identifiers (tables) and the validated
//! page size are spliced into the text. The app is never a query parameter here: the shell takes
//! it from the caller's key, so a key can only ever read its own app.
//!
//! Does not run SQL or authenticate (`api::query` does).

use crate::model::columns::{CF_COLUMNS, COLUMNS};
use crate::model::id::is_request_id;
use crate::model::id::is_uuid;
use crate::model::id::ID_ELSEWHERE_SQL;
use crate::model::level::Level;
use crate::model::request_url::restore;
use crate::model::sql::quoted;
use crate::model::time::parse_timestamp;
use crate::platform::error::PlatformError;
use crate::read::error::ReadError;
use crate::store::schema::{cf_table, fts_table, CF_COLUMN};
use serde_json::Value;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
/// `context.<path>=value` filters per query, and the depth of a path.
pub const MAX_CONTEXT_FILTERS: usize = 8;
pub const MAX_PATH_SEGMENTS: usize = 8;
/// `search`: characters and terms (each term is one FTS5 phrase).
pub const MAX_SEARCH_CHARS: usize = 256;
pub const MAX_SEARCH_TERMS: usize = 16;

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
}

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

/// Hits up to which a search looks its rows up by key rather than walking the app's rows.
pub const FEW_HITS: u32 = 1_000;

/// A search's page by whichever plan its hits call for, in one statement: the search index's
/// hits for `m` (a bound [`match_expression`]) are counted, up to one past `few_hits` (reading
/// that many from the index costs little; they are every app's, as the index does not hold the
/// app), and `plan(few, limit)`'s two statements are joined, each limited to `limit` rows when
/// it is the one the count picks and to none otherwise. SQLite skips a statement limited to no
/// rows before reading any, so only the picked plan runs, and the count is made once (a
/// materialized CTE): the choice costs no round trip to D1 of its own.
fn one_of_two_plans(
    fts: &str,
    m: &str,
    few_hits: u32,
    limit: u32,
    plan: impl Fn(bool, &str) -> String,
) -> String {
    let pick = |few: bool| {
        let cmp = if few { "<=" } else { ">" };
        let limit =
            format!("CASE WHEN (SELECT n FROM hits) {cmp} {few_hits} THEN {limit} ELSE 0 END");
        format!("SELECT * FROM ({})", plan(few, &limit))
    };
    format!(
        "WITH hits AS MATERIALIZED (SELECT count(*) AS n FROM (SELECT 1 FROM {fts} \
         WHERE {fts} MATCH {m} LIMIT {})) {} UNION ALL {}",
        few_hits + 1,
        pick(true),
        pick(false)
    )
}

/// The statement for one page of `q` over `table` (the firehose) for `app_id`; `route_table` is
/// the table of `q.route`, resolved by the caller; `search`: the firehose has its search index.
/// Selects one row more than the page: if it comes back, there is a next page.
///
/// The table is clustered on `(app_id, timestamp, id)`, so a page is a walk down the app's
/// part of the key; a search and a request id use the search index (see below).
pub fn page_sql(
    table: &str,
    app_id: &str,
    q: &LogQuery,
    route_table: Option<&str>,
    search: bool,
) -> (String, Vec<Param>) {
    page_sql_at(table, app_id, q, route_table, search, FEW_HITS)
}

/// The statement's bound values, numbered as they are added (`?1` is the app).
struct Binds(Vec<Param>);

impl Binds {
    fn bind(&mut self, p: Param) -> String {
        self.0.push(p);
        format!("?{}", self.0.len())
    }
}

/// The clauses a search and a request id add, and the search's MATCH parameter if any.
///
/// A search: the matching rowids are read from the index once. With many hits (a common word)
/// the app's rows are walked newest first along the key, each kept when its `seq` is among them,
/// until the page is full, which ends early; with few (at most FEW_HITS, a rare word) their
/// times are key lookups instead, as for a request id. Which way is told by counting the hits,
/// in the statement itself (`one_of_two_plans`).
fn text_clauses(
    q: &LogQuery,
    fts: &str,
    search: bool,
    binds: &mut Binds,
    clauses: &mut Vec<String>,
) -> Option<String> {
    let mut searched = None;
    if let Some(m) = match_expression(q) {
        let m = binds.bind(Param::Text(m));
        clauses.push(format!(
            "l.seq IN (SELECT rowid FROM {fts} WHERE {fts} MATCH {m})"
        ));
        searched = Some(m);
    }
    if let Some(r) = &q.request_id {
        clauses.push(format!(
            "l.request_id = {}",
            binds.bind(Param::Text(r.clone()))
        ));
        // A request id has few entries: the index gives their times, and each time is a key
        // lookup (`app_id = ?1 AND timestamp IN (...)`), so the lookup reads a few rows however
        // many the app has. `seq` then tells the entry from others of the same millisecond.
        // (With a search too, the search's expression holds the request id as well.)
        if let Some(phrase) = request_id_phrase(r).filter(|_| search && q.search.is_none()) {
            let m = binds.bind(Param::Text(phrase));
            clauses.push(format!(
                "l.timestamp IN (SELECT ts FROM {fts} WHERE {fts} MATCH {m}) \
                 AND l.seq IN (SELECT rowid FROM {fts} WHERE {fts} MATCH {m})"
            ));
        }
    }
    searched
}

/// The clauses of the other filters: levels, the time range, context values, a route, and the
/// cursor (strictly after the previous page's last entry).
fn value_clauses(
    q: &LogQuery,
    route_table: Option<&str>,
    binds: &mut Binds,
    clauses: &mut Vec<String>,
) {
    if !q.levels.is_empty() {
        let marks: Vec<String> = q
            .levels
            .iter()
            .map(|l| binds.bind(Param::Text(l.as_str().into())))
            .collect();
        clauses.push(format!("l.level IN ({})", marks.join(", ")));
    }
    if let Some(s) = q.since {
        clauses.push(format!("l.timestamp >= {}", binds.bind(Param::Int(s))));
    }
    if let Some(u) = q.until {
        clauses.push(format!("l.timestamp < {}", binds.bind(Param::Int(u))));
    }
    for (path, value) in &q.context {
        let p = binds.bind(Param::Text(path.clone()));
        let v = binds.bind(Param::Text(value.clone()));
        clauses.push(format!("CAST(l.data ->> {p} AS TEXT) = {v}"));
    }
    if let Some(rt) = route_table {
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM {} AS r WHERE r.app_id = ?1 AND r.timestamp = l.timestamp \
             AND r.id = l.id)",
            quoted(rt)
        ));
    }
    if let Some(c) = &q.cursor {
        let t = binds.bind(Param::Int(c.timestamp));
        let id = binds.bind(Param::Text(c.id.clone()));
        clauses.push(format!(
            "(l.timestamp < {t} OR (l.timestamp = {t} AND l.id < {id}))"
        ));
    }
}

/// [`page_sql`] with a search's rows looked up when it has at most `few_hits` hits.
fn page_sql_at(
    table: &str,
    app_id: &str,
    q: &LogQuery,
    route_table: Option<&str>,
    search: bool,
    few_hits: u32,
) -> (String, Vec<Param>) {
    let mut binds = Binds(vec![Param::Text(app_id.to_string())]);
    let mut clauses = vec!["l.app_id = ?1".to_string()];
    let fts = quoted(&fts_table(table));
    let searched = text_clauses(q, &fts, search, &mut binds, &mut clauses);
    value_clauses(q, route_table, &mut binds, &mut clauses);
    let from = format!("{} AS l", quoted(table));
    let rows = |clauses: &[String], limit: &str| {
        format!(
            "SELECT l.* FROM {from} WHERE {} ORDER BY l.timestamp DESC, l.id DESC LIMIT {limit}",
            clauses.join(" AND ")
        )
    };
    let page = match searched {
        None => rows(&clauses, &(q.limit + 1).to_string()),
        Some(m) => {
            let mut lookups = clauses.clone();
            lookups.push(format!(
                "l.timestamp IN (SELECT ts FROM {fts} WHERE {fts} MATCH {m})"
            ));
            one_of_two_plans(&fts, &m, few_hits, q.limit + 1, |few, limit| {
                rows(if few { &lookups } else { &clauses }, limit)
            })
        }
    };
    // The page is bounded in bytes too: rows are kept, newest first, while the ones before them
    // hold less than MAX_PAGE_BYTES (so the first row always comes, however big). The running
    // sum over the page's rows costs D1 three reads a row where the plain page costs one (a
    // count or an outer ORDER BY would cost more still: `paginate` orders the rows instead).
    let cap = binds.bind(Param::Int(MAX_PAGE_BYTES as i64));
    let rows = format!(
        "SELECT *, sum({ROW_BYTES}) OVER (ORDER BY timestamp DESC, id DESC \
         ROWS UNBOUNDED PRECEDING) AS page_bytes FROM ({})",
        with_cf_facts(table, &page)
    );
    let sql = as_json_rows(
        &rows,
        &PAGE_COLUMNS,
        &format!("page_bytes - {ROW_BYTES} < {cap}"),
    );
    (sql, binds.0)
}

/// The columns of a page's rows (`page_sql`): an entry's, and the page's running weight.
pub const PAGE_COLUMNS: [&str; COLUMNS.len() + 1] = {
    let mut out = ["page_bytes"; COLUMNS.len() + 1];
    let mut i = 0;
    while i < COLUMNS.len() {
        out[i] = COLUMNS[i];
        i += 1;
    }
    out
};

/// Most arguments D1 lets one SQL function take.
const MAX_FUNCTION_ARGS: usize = 32;

/// The rows of `rows` (whose columns include `names`) kept by `filter`, each as JSON text:
/// `names`' values in order, as arrays of at most `MAX_FUNCTION_ARGS` in columns `j0`, `j1`, ….
/// A row then crosses from D1 into wasm as two strings, parsed there at once, rather than as 33
/// values each converted on its own (`rows_from_json` reads them back).
pub fn as_json_rows(rows: &str, names: &[&str], filter: &str) -> String {
    let parts: Vec<String> = names
        .chunks(MAX_FUNCTION_ARGS)
        .enumerate()
        .map(|(i, chunk)| {
            let values: Vec<String> = chunk.iter().map(|n| quoted(n)).collect();
            format!("json_array({}) AS j{i}", values.join(", "))
        })
        .collect();
    format!("SELECT {} FROM ({rows}) WHERE {filter}", parts.join(", "))
}

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

/// Most bytes of stored text one page returns (about what its JSON weighs): a page of 1,000
/// entries of 1 MB each would otherwise be a gigabyte in one answer.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// A row's weight in a page: its texts that can be large, and a little for the rest.
const ROW_BYTES: &str = "(coalesce(length(message), 0) + coalesce(length(data), 0) \
     + coalesce(length(headers), 0) + coalesce(length(url), 0) + 256)";

/// The statement for one entry of app `?2` by id `?1`; `?3` is the time the id carries
/// (`model::id::id_time`, NULL when it carries none). A fresh entry's id carries its time, so
/// the key finds it; any other (a client-named id) is in the `named` index: either way a lookup,
/// never a scan.
pub fn one_sql(table: &str) -> String {
    let t = quoted(table);
    let found = format!(
        "SELECT * FROM {t} WHERE app_id = ?2 AND timestamp = ?3 AND id = ?1 \
         UNION ALL SELECT * FROM {t} WHERE app_id = ?2 AND id = ?1 AND {ID_ELSEWHERE_SQL}"
    );
    as_json_rows(&with_cf_facts(table, &found), &COLUMNS, "1")
}

/// The firehose rows `rows` selects, with the columns of an entry in `columns::COLUMNS` order:
/// the `request.cf` facts from their set (`store::schema::cf_table`), one lookup a row, made
/// after the page is cut so only the rows returned pay for it.
pub fn with_cf_facts(table: &str, rows: &str) -> String {
    let list: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| match CF_COLUMNS.contains(&i) {
            true => format!("c.{}", quoted(c)),
            false => format!("l.{}", quoted(c)),
        })
        .collect();
    format!(
        "SELECT {} FROM ({rows}) AS l LEFT JOIN {} AS c ON c.id = l.{}",
        list.join(", "),
        quoted(&cf_table(table)),
        quoted(CF_COLUMN)
    )
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

#[cfg(test)]
mod tests {
    use super::*;

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
