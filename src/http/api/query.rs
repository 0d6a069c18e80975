//! Shell: `GET /logs` (a page of an app's entries, newest first, filtered) and `GET /logs/:id`.
//!
//! Authorised by the app's key (`X-API-Key`), which reads its own app only, or by the admin key
//! with `app_id=` naming any app. The filters, the SQL and the pages are `query`'s; this module
//! authenticates, resolves `route=` to its table, runs the statement and shapes the answer.

use crate::http::api::access::caller_app;
use crate::http::envelope::{ok, query_pairs, Ctx};
use crate::http::error::ApiError;
use crate::model::app::AppId;
use crate::model::columns::COLUMNS;
use crate::model::id::id_time;
use crate::platform::{d1_read, d1_rows, metered_db, now_ms};
use crate::read::query::{
    one_sql, page_sql, paginate, parse_query, present, rows_from_json, LogQuery, Param,
    PAGE_COLUMNS,
};
use crate::store::usage::Work;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{Request, Response};

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

pub async fn list(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let q = parse_query(&query_pairs(&req)?, now_ms())?;
    let app = caller_app(&req, ctx, q.app_id.as_deref()).await?;
    Ok(ok(200, page(ctx, &app, &q).await?, &ctx.request_id)?)
}

/// One page of `app`'s entries by `q`: `{logs, next_cursor, d1: {rows_read}}` (also the RPC
/// `query`'s answer).
pub async fn page(ctx: &Ctx, app: &AppId, q: &LogQuery) -> Result<Value, ApiError> {
    let routes = &ctx.config.routes;
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
                    ApiError::InvalidFilter(format!(
                        "route: no route {name:?}; configured: {known:?}"
                    ))
                })?,
        ),
    };
    if q.search.is_some() && !routes.search {
        return Err(ApiError::SearchDisabled);
    }
    let db = metered_db(&ctx.env)?;
    let table = routes.firehose_table.as_str();
    let (sql, params) = page_sql(table, app.as_str(), q, route_table, routes.search);
    let (found, rows_read) = d1_read(&db, table, &sql, &js(&params)).await?;
    ctx.meter_later(Work::Query, &db);
    let found = rows_from_json(found, &PAGE_COLUMNS).map_err(ApiError::Internal)?;
    let (page, next) = paginate(found, q.limit);
    let logs: Vec<Value> = page.into_iter().map(present).collect();
    // What the page cost in D1's terms, so a user can see what a query shape costs.
    Ok(json!({ "logs": logs, "next_cursor": next, "d1": { "rows_read": rows_read } }))
}

pub async fn get(req: Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let named = query_pairs(&req)?
        .into_iter()
        .find(|(k, _)| k == "app_id")
        .map(|(_, v)| v);
    let app = caller_app(&req, ctx, named.as_deref()).await?;
    let sql = one_sql(&ctx.config.routes.firehose_table);
    let carried = id_time(id).map_or(JsValue::NULL, |t| JsValue::from_f64(t as f64));
    let params = [
        JsValue::from_str(id),
        JsValue::from_str(app.as_str()),
        carried,
    ];
    let db = metered_db(&ctx.env)?;
    let table = ctx.config.routes.firehose_table.as_str();
    let found = d1_rows(&db, table, &sql, &params).await?;
    ctx.meter_later(Work::Query, &db);
    let found = rows_from_json(found, &COLUMNS).map_err(ApiError::Internal)?;
    match found.into_iter().next() {
        Some(row) => Ok(ok(200, present(row), &ctx.request_id)?),
        None => Err(ApiError::LogNotFound(id.to_string())),
    }
}
