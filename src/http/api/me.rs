//! Shell: `GET /me`: who the caller's key acts as, and what the logger offers them to read. The
//! dashboard signs in with it (a key it does not know the kind of is tried as an app key, then as
//! the admin key) and builds its controls from the answer, so it never offers a route, a search
//! box or a page the logger would refuse.
//!
//! Authorised like every read: the app's key, or `X-Admin-Key`.

use crate::http::api::access::client;
use crate::http::envelope::{header, ok, require_admin, Ctx};
use crate::http::error::ApiError;
use serde_json::{json, Value};
use worker::{Request, Response};

pub async fn get(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let who = if header(&req, "x-admin-key").is_some() {
        require_admin(&req, &ctx.config)?;
        json!({ "kind": "admin" })
    } else {
        let (app, _) = client(&req, ctx).await?;
        json!({ "kind": "app", "app": app.public() })
    };
    Ok(ok(200, offer(ctx, who), &ctx.request_id)?)
}

/// What reading offers: the route names `route=` takes, whether `search` is on, the firehose's
/// retention, the live tail's unacknowledged limit and the health checks' interval.
fn offer(ctx: &Ctx, mut who: Value) -> Value {
    let c = &ctx.config;
    let routes: Vec<&str> = c.routes.routes.iter().map(|r| r.name.as_str()).collect();
    who["routes"] = json!(routes);
    who["search"] = json!(c.routes.search);
    who["firehose_retention_days"] = json!(c.routes.firehose_retention_days);
    who["tail_max_unacked"] = json!(c.tail_max_unacked);
    who["health_check_interval_ms"] = json!(c.health_check_interval_ms);
    who
}
