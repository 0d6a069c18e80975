//! Shell: `GET /stats/:app_id?days=N`: entries per day and level, with the app's key or the admin key.

use crate::http::api::access::named_app;
use crate::http::envelope::{ok, query_pairs, Ctx};
use crate::http::error::ApiError;
use crate::model::app::AppId;
use crate::platform::{d1_read, metered_db, now_ms};
use crate::read::stats::{first_day, parse_days, per_day, stats_sql};
use crate::store::schema::{DAY_MS, STATS_TABLE};
use crate::store::usage::Work;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{Request, Response};

#[derive(Deserialize)]
struct Count {
    day: f64,
    level: String,
    count: f64,
}

pub async fn get(req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = named_app(&req, ctx, app_id).await?;
    let days = parse_days(&query_pairs(&req)?)?;
    Ok(ok(200, counts(ctx, &id, days).await?, &ctx.request_id)?)
}

/// `days` of `id`'s counts per day and level: `{app_id, days, d1: {rows_read}}` (also the RPC
/// `stats`'s answer).
pub async fn counts(ctx: &Ctx, id: &AppId, days: i64) -> Result<Value, ApiError> {
    let now = now_ms();
    let first = first_day(now, days);
    let params = [
        JsValue::from_str(id.as_str()),
        JsValue::from_f64(first as f64),
    ];
    let db = metered_db(&ctx.env)?;
    let (counts, rows_read) = d1_read::<Count>(&db, STATS_TABLE, &stats_sql(), &params).await?;
    ctx.meter_later(Work::Stats, &db);
    let rows: Vec<(i64, String, i64)> = counts
        .into_iter()
        .map(|c| (c.day as i64, c.level, c.count as i64))
        .collect();
    let per_day = per_day(&rows, first, now.div_euclid(DAY_MS));
    Ok(json!({ "app_id": id, "days": per_day, "d1": { "rows_read": rows_read } }))
}
