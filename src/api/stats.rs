//! `GET /stats/:app_id?days=N`: entries per day and level, with the app's key or the admin key.

use crate::apps::AppId;
use crate::error::ApiError;
use crate::http::{header, now_ms, ok, require_admin, Ctx};
use crate::log_batcher::DB_BINDING;
use crate::registry::Registry;
use crate::schema::DAY_MS;
use crate::stats::{first_day, parse_days, per_day, stats_sql};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Request, Response};

#[derive(Deserialize)]
struct Count {
    day: f64,
    level: String,
    count: f64,
}

pub async fn get(req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = AppId::parse(app_id)?;
    if header(&req, "x-admin-key").is_some() {
        require_admin(&req, &ctx.config)?;
    } else {
        let app = Registry::new(&ctx.env)?
            .authenticate(header(&req, "x-api-key").as_deref(), "X-API-Key")
            .await?;
        if app.app_id != id {
            return Err(ApiError::AppMismatch(format!(
                "this API key belongs to another app than {app_id:?}"
            )));
        }
    }
    let pairs: Vec<(String, String)> = req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let days = parse_days(&pairs)?;
    let now = now_ms();
    let first = first_day(now, days);
    let db = ctx
        .env
        .d1(DB_BINDING)
        .map_err(|e| ApiError::ConfigInvalid(format!("D1 binding {DB_BINDING}: {e}")))?;
    let unavailable = |e: worker::Error| ApiError::StorageUnavailable(format!("D1: {e}"));
    let counts: Vec<Count> = db
        .prepare(stats_sql())
        .bind(&[
            JsValue::from_str(id.as_str()),
            JsValue::from_f64(first as f64),
        ])
        .map_err(unavailable)?
        .all()
        .await
        .map_err(unavailable)?
        .results()
        .map_err(unavailable)?;
    let rows: Vec<(i64, String, i64)> = counts
        .into_iter()
        .map(|c| (c.day as i64, c.level, c.count as i64))
        .collect();
    let per_day = per_day(&rows, first, now.div_euclid(DAY_MS));
    Ok(ok(
        200,
        json!({ "app_id": id, "days": per_day }),
        &ctx.request_id,
    )?)
}
