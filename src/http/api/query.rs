//! Shell: `GET /logs` (a page of an app's entries, newest first, filtered) and `GET /logs/:id`.
//!
//! Authorised by the app's key (`X-API-Key`), which reads its own app only, or by the admin key
//! with `app_id=` naming any app. The filters and the SQL are `read::query`'s, the reads
//! `read::reader`'s; this module authenticates, meters and shapes the answer.

use crate::http::api::access::caller_app;
use crate::http::envelope::{ok, query_pairs, Ctx};
use crate::http::error::ApiError;
use crate::platform::usage::Work;
use crate::platform::{metered_db, now_ms};
use crate::read::query::parse_query;
use crate::read::reader;
use worker::{Request, Response};

pub async fn list(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let q = parse_query(&query_pairs(&req)?, now_ms())?;
    let app = caller_app(&req, ctx, q.app_id.as_deref()).await?;
    let db = metered_db(&ctx.env, Work::Query)?;
    let page = reader::page(&db, &ctx.config, &app, &q).await;
    Ok(ok(200, page?.to_json(true), &ctx.request_id)?)
}

pub async fn get(req: Request, ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let named = query_pairs(&req)?
        .into_iter()
        .find(|(k, _)| k == "app_id")
        .map(|(_, v)| v);
    let app = caller_app(&req, ctx, named.as_deref()).await?;
    let db = metered_db(&ctx.env, Work::Query)?;
    let found = reader::entry(&db, &ctx.config, &app, id).await;
    match found? {
        Some(entry) => Ok(ok(200, entry, &ctx.request_id)?),
        None => Err(ApiError::LogNotFound(id.to_string())),
    }
}
