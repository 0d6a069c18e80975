//! Health checks of an app's URLs: `POST /apps/:app_id/health-urls` `{ "urls": [...] }` sets the
//! URLs the app's `HealthChecker` checks (an empty list stops the checks), and
//! `GET /health/:app_id` shows each URL's latest result and recent history. Both with the app's
//! key (`X-API-Key`) or the admin key.

use crate::api::access::named_app;
use crate::error::ApiError;
use crate::health::{history_sql, parse_urls, present, urls_sql, StoredResult, URLS_TABLE};
use crate::health_checker::HEALTH_BINDING;
use crate::http::{d1_rows, logs_db, now_ms, ok, Ctx};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Request, Response};

#[wasm_bindgen]
extern "C" {
    /// A HealthChecker stub seen through JS RPC.
    type CheckerRpc;
    #[wasm_bindgen(method, catch)]
    fn start(this: &CheckerRpc, app_id: &str) -> Result<js_sys::Promise, JsValue>;
}

fn unavailable(e: worker::Error) -> ApiError {
    ApiError::StorageUnavailable(format!("D1: {e}"))
}

pub async fn register(mut req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = named_app(&req, ctx, app_id).await?;
    let urls = parse_urls(&req.bytes().await?, ctx.config.max_health_urls)?;
    let db = logs_db(&ctx.env)?;
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
    let id = named_app(&req, ctx, app_id).await?;
    let db = logs_db(&ctx.env)?;
    let app = [JsValue::from_str(id.as_str())];
    #[derive(Deserialize)]
    struct Url {
        url: String,
    }
    let urls: Vec<Url> = d1_rows(&db, &urls_sql(), &app).await?;
    let results: Vec<StoredResult> = d1_rows(&db, &history_sql(), &app).await?;
    let urls: Vec<String> = urls.into_iter().map(|u| u.url).collect();
    let mut data = present(&urls, &results, ctx.config.health_check_interval_ms);
    data["app_id"] = json!(id);
    Ok(ok(200, data, &ctx.request_id)?)
}
