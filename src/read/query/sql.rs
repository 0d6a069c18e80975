//! The query's SQL: one statement with bound parameters for a page, and one for an entry by id.
//! Every value reaches SQL as a bound parameter; only checked identifiers (tables) and the
//! validated page size are spliced into the text. Pure.

use super::*;
use crate::model::columns::{CF_COLUMNS, COLUMNS};
use crate::model::id::ID_ELSEWHERE_SQL;
use crate::model::sql::quoted;
use crate::store::schema::{cf_table, fts_table, CF_COLUMN};

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
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
pub(super) fn page_sql_at(
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
pub(super) const MAX_FUNCTION_ARGS: usize = 32;

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
