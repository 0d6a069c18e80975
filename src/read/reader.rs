//! Shell: the read use cases over D1: a page of an app's entries, one entry by id, and the app's
//! counts per day. Each runs its statement on a metered database the caller hands in (the edge
//! meters it once the answer is out) and returns a typed result that HTTP and RPC both
//! serialise. The filters, the SQL and the rows are `query`'s and `stats`'s.

use crate::apps::app::AppId;
use crate::config::Config;
use crate::model::columns::COLUMNS;
use crate::model::id::id_time;
use crate::platform::d1::Metered;
use crate::platform::{d1_read, d1_rows, now_ms};
use crate::read::error::ReadError;
use crate::read::query::{
    one_sql, page_sql, paginate, present, rows_from_json, LogQuery, Param, PAGE_COLUMNS,
};
use crate::read::stats::{first_day, per_day, stats_sql};
use crate::store::schema::{DAY_MS, STATS_TABLE};
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

/// A page of entries, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub logs: Vec<Value>,
    pub next_cursor: Option<String>,
    /// D1's rows read for the page: what a query shape costs.
    pub rows_read: u64,
}

impl Page {
    /// The page as the API answers it; `with_cost` adds `d1.rows_read` (HTTP does, RPC does not).
    pub fn to_json(&self, with_cost: bool) -> Value {
        let mut v = json!({ "logs": self.logs, "next_cursor": self.next_cursor });
        if with_cost {
            v["d1"] = json!({ "rows_read": self.rows_read });
        }
        v
    }
}

/// An app's entries per day and level.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub app_id: AppId,
    /// Every day of the range, oldest first (`stats::per_day`).
    pub days: Vec<Value>,
    pub rows_read: u64,
}

impl Counts {
    /// The counts as the API answers them; `with_cost` adds `d1.rows_read`.
    pub fn to_json(&self, with_cost: bool) -> Value {
        let mut v = json!({ "app_id": self.app_id, "days": self.days });
        if with_cost {
            v["d1"] = json!({ "rows_read": self.rows_read });
        }
        v
    }
}

fn js(params: &[Param]) -> Vec<JsValue> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(t) => JsValue::from_str(t),
            // Exact for every ms timestamp (below 2^53); D1 compares it numerically.
            Param::Int(i) => JsValue::from_f64(*i as f64),
        })
        .collect()
}

/// One page of `app`'s entries by `q`.
pub async fn page(
    db: &Metered,
    config: &Config,
    app: &AppId,
    q: &LogQuery,
) -> Result<Page, ReadError> {
    let routes = &config.routes;
    let route_table = match &q.route {
        None => None,
        Some(name) => Some(
            routes
                .routes
                .iter()
                .find(|r| r.name.as_str() == name)
                .map(|r| r.table.as_str())
                .ok_or_else(|| {
                    let known: Vec<&str> = routes.routes.iter().map(|r| r.name.as_str()).collect();
                    ReadError::InvalidFilter(format!(
                        "route: no route {name:?}; configured: {known:?}"
                    ))
                })?,
        ),
    };
    if q.search.is_some() && !routes.search {
        return Err(ReadError::SearchDisabled);
    }
    let table = routes.firehose_table.as_str();
    let (sql, params) = page_sql(table, app.as_str(), q, route_table, routes.search);
    let (found, rows_read) = d1_read(db, table, &sql, &js(&params)).await?;
    let found = rows_from_json(found, &PAGE_COLUMNS)?;
    let (page, next_cursor) = paginate(found, q.limit);
    Ok(Page {
        logs: page.into_iter().map(present).collect(),
        next_cursor,
        rows_read,
    })
}

/// One entry of `app` by its id, if it has one so named.
pub async fn entry(
    db: &Metered,
    config: &Config,
    app: &AppId,
    id: &str,
) -> Result<Option<Value>, ReadError> {
    let table = config.routes.firehose_table.as_str();
    let carried = id_time(id).map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64));
    let params = [
        JsValue::from_str(id),
        JsValue::from_str(app.as_str()),
        carried,
    ];
    let found = d1_rows(db, table, &one_sql(table), &params).await?;
    let found = rows_from_json(found, &COLUMNS)?;
    Ok(found.into_iter().next().map(present))
}

#[derive(Deserialize)]
struct Count {
    day: f64,
    level: String,
    count: f64,
}

/// `days` of `app`'s counts per day and level, ending today.
pub async fn counts(db: &Metered, app: &AppId, days: i64) -> Result<Counts, ReadError> {
    let now = now_ms();
    let first = first_day(now, days);
    let params = [
        JsValue::from_str(app.as_str()),
        JsValue::from_f64(first as f64),
    ];
    let (counts, rows_read) = d1_read::<Count>(db, STATS_TABLE, &stats_sql(), &params).await?;
    let rows: Vec<(i64, String, i64)> = counts
        .into_iter()
        .map(|c| (c.day as i64, c.level, c.count as i64))
        .collect();
    Ok(Counts {
        app_id: app.clone(),
        days: per_day(&rows, first, now.div_euclid(DAY_MS)),
        rows_read,
    })
}
