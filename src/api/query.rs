//! `GET /logs` (a page of an app's entries, newest first, filtered) and `GET /logs/:id`.
//!
//! Authorised by the app's key (`X-API-Key`), which reads its own app only, or by the admin key
//! with `app_id=` naming any app. The filters, the SQL and the pages are `query`'s; this module
//! authenticates, resolves `route=` to its table, runs the statement and shapes the answer.

use crate::apps::AppId;
use crate::error::ApiError;
use crate::http::{header, now_ms, ok, require_admin, Ctx};
use crate::log_batcher::DB_BINDING;
use crate::query::{one_sql, page_sql, paginate, parse_query, present, Param};
use crate::registry::Registry;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{D1Database, Request, Response};

/// The app a read request may see: the key's own app, or with the admin key the app it names.
async fn reader_app(req: &Request, ctx: &Ctx, named: Option<&str>) -> Result<AppId, ApiError> {
    if header(req, "x-admin-key").is_some() {
        require_admin(req, &ctx.config)?;
        let Some(named) = named else {
            return Err(ApiError::InvalidFilter(
                "app_id: required with the admin key (which app to read)".into(),
            ));
        };
        return AppId::parse(named);
    }
    let app = Registry::new(&ctx.env)?
        .authenticate(header(req, "x-api-key").as_deref(), "X-API-Key")
        .await?;
    if named.is_some_and(|n| n != app.app_id.as_str()) {
        return Err(ApiError::AppMismatch(
            "app_id: this API key reads its own app only".into(),
        ));
    }
    Ok(app.app_id)
}

fn db(ctx: &Ctx) -> Result<D1Database, ApiError> {
    ctx.env
        .d1(DB_BINDING)
        .map_err(|e| ApiError::ConfigInvalid(format!("D1 binding {DB_BINDING}: {e}")))
}

async fn rows(db: &D1Database, sql: &str, params: &[Param]) -> Result<Vec<Value>, ApiError> {
    let params: Vec<JsValue> = params
        .iter()
        .map(|p| match p {
            Param::Text(t) => JsValue::from_str(t),
            // Exact for every ms timestamp (below 2^53); D1 compares it numerically.
            Param::Int(i) => JsValue::from_f64(*i as f64),
        })
        .collect();
    let unavailable = |e: worker::Error| ApiError::StorageUnavailable(format!("D1: {e}"));
    db.prepare(sql)
        .bind(&params)
        .map_err(unavailable)?
        .all()
        .await
        .map_err(unavailable)?
        .results::<Value>()
        .map_err(unavailable)
}

pub async fn list(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let q = parse_query(&pairs, now_ms())?;
    let app = reader_app(&req, ctx, q.app_id.as_deref()).await?;
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
    let (sql, params) = page_sql(&routes.firehose_table, app.as_str(), &q, route_table);
    let found = rows(&db(ctx)?, &sql, &params).await?;
    let (page, next) = paginate(found, q.limit);
    let logs: Vec<Value> = page.into_iter().map(present).collect();
    Ok(ok(
        200,
        json!({ "logs": logs, "next_cursor": next }),
        &ctx.request_id,
    )?)
}

pub async fn get(req: Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let named = req
        .url()?
        .query_pairs()
        .find(|(k, _)| k == "app_id")
        .map(|(_, v)| v.into_owned());
    let app = reader_app(&req, ctx, named.as_deref()).await?;
    let sql = one_sql(&ctx.config.routes.firehose_table);
    let params = [
        Param::Text(id.to_string()),
        Param::Text(app.as_str().into()),
    ];
    let found = rows(&db(ctx)?, &sql, &params).await?;
    match found.into_iter().next() {
        Some(row) => Ok(ok(200, present(row), &ctx.request_id)?),
        None => Err(ApiError::LogNotFound(id.to_string())),
    }
}
