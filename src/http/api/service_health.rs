//! Shell: `GET /health`: service status without authentication, checking each binding it depends on.

use crate::http::envelope::{ok, Ctx};
use crate::http::error::ApiError;
use crate::platform::bindings::{BATCHER_BINDING, DB_BINDING, REGISTRY_BINDING};
use serde_json::json;
use worker::Response;

pub async fn get(ctx: &Ctx) -> Result<Response, ApiError> {
    let d1 = match ctx.env.d1(DB_BINDING) {
        Ok(db) => match db
            .prepare("SELECT 1")
            .first::<serde_json::Value>(None)
            .await
        {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error: {e}"),
        },
        Err(e) => format!("missing: {e}"),
    };
    let kv = match ctx.env.kv(REGISTRY_BINDING) {
        Ok(kv) => match kv.get("health:probe").text().await {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error: {e}"),
        },
        Err(e) => format!("missing: {e}"),
    };
    let batcher = match ctx.env.durable_object(BATCHER_BINDING) {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("missing: {e}"),
    };
    let healthy = [&d1, &kv, &batcher].iter().all(|s| *s == "ok");
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "service": "d1-logger",
        "version": env!("CARGO_PKG_VERSION"),
        "checks": { "d1": d1, "kv": kv, "log_batcher": batcher },
    });
    Ok(ok(if healthy { 200 } else { 503 }, body, &ctx.request_id)?)
}
