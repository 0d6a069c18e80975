//! Health checks of an app's URLs: `POST /apps/:app_id/health-urls` `{ "urls": [...] }` sets the
//! URLs the app's `HealthChecker` checks (an empty list stops the checks), and
//! `GET /health/:app_id` shows each URL's latest result and recent history. Both with the app's
//! key (`X-API-Key`) or the admin key.

use crate::apps::AppId;
use crate::error::ApiError;
use crate::health::{history_sql, parse_urls, present, urls_sql, StoredResult, URLS_TABLE};
use crate::health_checker::HEALTH_BINDING;
use crate::http::{header, now_ms, ok, require_admin, Ctx};
use crate::log_batcher::DB_BINDING;
use crate::registry::Registry;
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, Request, Response};

#[wasm_bindgen]
extern "C" {
    /// A HealthChecker stub seen through JS RPC.
    type CheckerRpc;
    #[wasm_bindgen(method, catch)]
    fn start(this: &CheckerRpc, app_id: &str) -> Result<js_sys::Promise, JsValue>;
}

/// The app of `/…/:app_id`, if the caller may act for it.
async fn authorized(req: &Request, ctx: &Ctx, app_id: &str) -> Result<AppId, ApiError> {
    let id = AppId::parse(app_id)?;
    if header(req, "x-admin-key").is_some() {
        require_admin(req, &ctx.config)?;
    } else {
        let app = Registry::new(&ctx.env)?
            .authenticate(header(req, "x-api-key").as_deref(), "X-API-Key")
            .await?;
        if app.app_id != id {
            return Err(ApiError::AppMismatch(format!(
                "this API key belongs to another app than {app_id:?}"
            )));
        }
    }
    Ok(id)
}

fn db(ctx: &Ctx) -> Result<D1Database, ApiError> {
    ctx.env
        .d1(DB_BINDING)
        .map_err(|e| ApiError::ConfigInvalid(format!("D1 binding {DB_BINDING}: {e}")))
}

fn unavailable(e: worker::Error) -> ApiError {
    ApiError::StorageUnavailable(format!("D1: {e}"))
}

pub async fn register(mut req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = authorized(&req, ctx, app_id).await?;
    let urls = parse_urls(&req.bytes().await?, ctx.config.max_health_urls)?;
    let db = db(ctx)?;
    let app = JsValue::from_str(id.as_str());
    let now = JsValue::from_f64(now_ms() as f64);
    // The list replaces the previous one, in one transaction.
    let mut statements = vec![db
        .prepare(format!("DELETE FROM {URLS_TABLE} WHERE app_id = ?1"))
        .bind(std::slice::from_ref(&app))
        .map_err(unavailable)?];
    for url in &urls {
        statements.push(
            db.prepare(format!(
                "INSERT INTO {URLS_TABLE} (app_id, url, added_at) VALUES (?1, ?2, ?3)"
            ))
            .bind(&[app.clone(), JsValue::from_str(url), now.clone()])
            .map_err(unavailable)?,
        );
    }
    db.batch(statements).await.map_err(unavailable)?;
    if !urls.is_empty() {
        let stub: CheckerRpc = ctx
            .env
            .durable_object(HEALTH_BINDING)
            .and_then(|ns| ns.get_by_name(id.as_str()))
            .map_err(|e| ApiError::StorageUnavailable(format!("HealthChecker: {e}")))?
            .into_rpc();
        let started = stub
            .start(id.as_str())
            .map_err(|e| ApiError::StorageUnavailable(format!("HealthChecker: {e:?}")))?;
        JsFuture::from(started)
            .await
            .map_err(|e| ApiError::StorageUnavailable(format!("HealthChecker: {e:?}")))?;
    }
    Ok(ok(
        200,
        json!({ "app_id": id, "urls": urls, "interval_ms": ctx.config.health_check_interval_ms }),
        &ctx.request_id,
    )?)
}

pub async fn status(req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = authorized(&req, ctx, app_id).await?;
    let db = db(ctx)?;
    let app = [JsValue::from_str(id.as_str())];
    #[derive(Deserialize)]
    struct Url {
        url: String,
    }
    let urls: Vec<Url> = db
        .prepare(urls_sql())
        .bind(&app)
        .map_err(unavailable)?
        .all()
        .await
        .map_err(unavailable)?
        .results()
        .map_err(unavailable)?;
    let results: Vec<StoredResult> = db
        .prepare(history_sql())
        .bind(&app)
        .map_err(unavailable)?
        .all()
        .await
        .map_err(unavailable)?
        .results()
        .map_err(unavailable)?;
    let urls: Vec<String> = urls.into_iter().map(|u| u.url).collect();
    let mut data = present(&urls, &results, ctx.config.health_check_interval_ms);
    data["app_id"] = json!(id);
    Ok(ok(200, data, &ctx.request_id)?)
}
