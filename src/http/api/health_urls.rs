//! Shell: Health checks of an app's URLs: `POST /apps/:app_id/health-urls` `{ "urls": [...] }` sets the
//! URLs the app's `HealthChecker` checks (an empty list stops the checks), and
//! `GET /health/:app_id` shows each URL's latest result and recent history. Both with the app's
//! key (`X-API-Key`) or the admin key.

use crate::http::api::access::named_app;
use crate::http::envelope::{ok, Ctx};
use crate::http::error::ApiError;
use crate::platform::usage::Work;
use crate::platform::{d1_rows, health_checkers, metered_db, now_ms};
use crate::read::health_checker::protocol::{CheckerStub, StartRequest};
use crate::read::url_checks::{
    history_sql, parse_urls, present, urls_sql, StoredResult, CHECKS_TABLE, URLS_TABLE,
};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Request, Response};

fn unavailable(e: worker::Error) -> ApiError {
    ApiError::StorageUnavailable(format!("D1: {e}"))
}

pub async fn register(mut req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = named_app(&req, ctx, app_id).await?;
    let urls = parse_urls(
        &req.bytes().await?,
        ctx.config.max_health_urls,
        ctx.config.health_check_allow_private,
    )?;
    let db = metered_db(&ctx.env, Work::Health)?;
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
    db.batch(URLS_TABLE, statements)
        .await
        .map_err(unavailable)?;
    if !urls.is_empty() {
        let stub = CheckerStub::new(health_checkers(&ctx.env)?.get_by_name(id.as_str())?);
        let request = StartRequest {
            app_id: id.as_str().to_string(),
        };
        stub.start(&request)
            .await
            .map_err(|e| ApiError::StorageUnavailable(format!("HealthChecker: {e}")))?;
    }
    Ok(ok(
        200,
        json!({ "app_id": id, "urls": urls, "interval_ms": ctx.config.health_check_interval_ms }),
        &ctx.request_id,
    )?)
}

pub async fn status(req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = named_app(&req, ctx, app_id).await?;
    let db = metered_db(&ctx.env, Work::Health)?;
    let app = [JsValue::from_str(id.as_str())];
    #[derive(Deserialize)]
    struct Url {
        url: String,
    }
    let urls: Vec<Url> = d1_rows(&db, URLS_TABLE, &urls_sql(), &app).await?;
    let results: Vec<StoredResult> = d1_rows(&db, CHECKS_TABLE, &history_sql(), &app).await?;
    let urls: Vec<String> = urls.into_iter().map(|u| u.url).collect();
    let mut data = present(&urls, &results, ctx.config.health_check_interval_ms);
    data["app_id"] = json!(id);
    Ok(ok(200, data, &ctx.request_id)?)
}
