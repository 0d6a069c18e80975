//! Shell: `POST /apps/:app_id/prune` `{ "before": "<ISO time>" }`: deletes the app's stored rows older
//! than `before` from every log table, with the app's own key (`X-API-Key`) or the admin key.
//!
//! Answers `{ "deleted": n, "complete": bool, "tables": [...] }`. Deletes run in chunks within a
//! statement budget (`PRUNE_MAX_STATEMENTS`); `complete: false` means rows are left and the same
//! call continues. Entries still buffered in a LogBatcher are not stored yet and land afterwards.

use crate::http::api::access::named_app;
use crate::http::envelope::{ok, Ctx};
use crate::http::error::ApiError;
use crate::platform::usage::Work;
use crate::platform::{metered_db, now_ms};
use crate::store::retention::parse_prune_body;
use crate::store::tables::prune_app;
use serde_json::json;
use worker::{Request, Response};

pub async fn post(mut req: Request, ctx: &Ctx, app_id: &str) -> Result<Response, ApiError> {
    let id = named_app(&req, ctx, app_id).await?;
    let before = parse_prune_body(&req.bytes().await?, now_ms())?;
    let db = metered_db(&ctx.env, Work::Prune)?;
    let c = &ctx.config;
    let pruned = prune_app(
        &db,
        &c.routes.tables(),
        id.as_str(),
        before,
        c.prune_chunk_rows,
        c.prune_max_statements,
    )
    .await
    .map_err(|e| ApiError::StorageUnavailable(e.to_string()));
    let pruned = pruned?;
    let deleted: u64 = pruned.iter().map(|p| p.deleted).sum();
    let complete = pruned.iter().all(|p| p.complete);
    let tables: Vec<_> = pruned
        .iter()
        .map(|p| json!({ "table": p.table, "deleted": p.deleted, "complete": p.complete }))
        .collect();
    Ok(ok(
        200,
        json!({
            "app_id": id,
            "before": before,
            "deleted": deleted,
            "complete": complete,
            "tables": tables,
        }),
        &ctx.request_id,
    )?)
}
