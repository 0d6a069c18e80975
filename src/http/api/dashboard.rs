//! Shell: the dashboard's files (`dashboard/`, README "Dashboard"), served by the worker from the
//! static-assets binding `ASSETS`: `GET /` and `GET /ui/*`. The worker runs first for every
//! request (`run_worker_first`), because a parent forwards its own requests with their own paths
//! (`GET /` of its homepage, say): the platform must never answer one of those with a dashboard
//! file instead of logging it. The answers carry the dashboard's security headers
//! ([`SECURITY_HEADERS`]).

use crate::http::envelope::Ctx;
use crate::http::error::ApiError;
use worker::{Headers, Request, Response};

/// Every dashboard file's headers: no inline script or style, nothing from another origin, never
/// framed; `connect-src 'self'` also covers the live tail's same-origin WebSocket.
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

pub async fn file(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let assets = ctx
        .env
        .assets("ASSETS")
        .map_err(|e| ApiError::ConfigInvalid(format!("ASSETS: the dashboard's binding: {e}")))?;
    let served = assets.fetch_request(req).await?;
    // The binding's headers are immutable: the answer is rebuilt around its body.
    let headers = Headers::new();
    for (name, value) in served.headers().entries() {
        headers.set(&name, &value)?;
    }
    for (name, value) in SECURITY_HEADERS {
        headers.set(name, value)?;
    }
    let status = served.status_code();
    Ok(Response::from_body(served.body().clone())?
        .with_status(status)
        .with_headers(headers))
}
