//! Shell: `/apps`: the admin API for apps and their keys (`X-Admin-Key`).
//!
//! `POST /apps` returns the new API key once; afterwards only its hash exists.

use crate::apps::app::{generate_key, AppId, NewApp};
use crate::apps::deletion;
use crate::apps::registry::Registry;
use crate::http::envelope::{ok, require_admin, Ctx};
use crate::http::error::ApiError;
use crate::platform::{now_ms, random_bytes};
use serde_json::json;
use worker::{Request, Response};

pub async fn create(mut req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let app = NewApp::parse(&req.bytes().await?)?;
    let key = generate_key(random_bytes::<32>()?);
    let created_at = chrono::DateTime::from_timestamp_millis(now_ms())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let record = app.record(&key, created_at);
    Registry::new(&ctx.env)?.create(&record).await?;
    let mut data = record.public();
    data["api_key"] = json!(key);
    Ok(ok(201, data, &ctx.request_id)?)
}

pub async fn list(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let apps: Vec<_> = Registry::new(&ctx.env)?
        .list()
        .await?
        .iter()
        .map(|a| a.public())
        .collect();
    Ok(ok(200, json!({ "apps": apps }), &ctx.request_id)?)
}

pub async fn get(req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let id = AppId::parse(app_id)?;
    match Registry::new(&ctx.env)?.get(&id).await? {
        Some(app) => Ok(ok(200, app.public(), &ctx.request_id)?),
        None => Err(ApiError::AppNotFound(app_id.to_string())),
    }
}

/// Deletes an app (`store::deletion`): its key, tails, tokens and health checks stop at once;
/// its rows are deleted in bounded chunks, and its id stays reserved until they are gone. Call
/// again while `purged` is false to continue (the cron continues too).
pub async fn delete(req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let id = AppId::parse(app_id)?;
    let registry = Registry::new(&ctx.env)?;
    match deletion::begin(&ctx.env, &ctx.config, &registry, &id, now_ms()).await? {
        Some(p) => {
            let mut data = json!(p);
            data["revoked"] = json!(true);
            Ok(ok(200, data, &ctx.request_id)?)
        }
        None => Err(ApiError::AppNotFound(app_id.to_string())),
    }
}
