//! Shell: `GET /stats/:app_id?days=N`: entries per day and level, with the app's key or the admin key.

use crate::http::api::access::named_app;
use crate::http::envelope::{ok, query_pairs, Ctx};
use crate::http::error::ApiError;
use crate::platform::metered_db;
use crate::platform::usage::Work;
use crate::read::reader;
use crate::read::stats::parse_days;
use worker::{Request, Response};

pub async fn get(req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = named_app(&req, ctx, app_id).await?;
    let days = parse_days(&query_pairs(&req)?)?;
    let db = metered_db(&ctx.env, Work::Stats)?;
    let counts = reader::counts(&db, &id, days).await;
    Ok(ok(200, counts?.to_json(true), &ctx.request_id)?)
}
