//! Shell: `POST /logs`: REST ingest with an app's key (a JSON entry, a batch, or NDJSON), and
//! the limits every ingest of a body shares (`/v1/logs`, `/loki/api/v1/push`). The entries are
//! stored by the one ingest use case (`ingest::intake`).

use crate::http::api::access::Caller;
use crate::http::body::read_body;
use crate::http::envelope::{debug_flags, header, ok, origin, Ctx};
use crate::http::error::ApiError;
use crate::ingest::intake::Naming;
use crate::ingest::rest::{parse_body, Limits};
use crate::model::entry::Source;
use crate::model::id::is_request_id;
use crate::platform::now_ms;
use serde_json::json;
use worker::{Request, Response};

pub async fn post(mut req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let caller = Caller::of(&req, ctx).await?;
    if let Some(claimed) = header(&req, "x-app-id") {
        if claimed != caller.app.app_id.as_str() {
            return Err(ApiError::AppMismatch(
                "X-App-ID does not match the app of this API key".into(),
            ));
        }
    }
    let limits = limits(ctx);
    let (flags, flags_note) = debug_flags(&req, &ctx.config)?;
    let idempotency_key = header(&req, "idempotency-key");
    if idempotency_key
        .as_deref()
        .is_some_and(|k| !is_request_id(k))
    {
        return Err(ApiError::InvalidEntry(
            "Idempotency-Key: must be 1 to 128 printable characters".into(),
        ));
    }
    let body = read_body(&mut req, &limits, false).await?;
    let drafts = parse_body(&body.bytes, &limits, now_ms())?;
    let sender = caller.sender(ctx, Source::Rest, origin(&req), flags);
    let naming = Naming::Key(idempotency_key.as_deref());
    let entries = ctx.intake().drafts(&sender, drafts, naming).await?;
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let mut data = json!({ "accepted": entries.len(), "ids": ids });
    if let Some(note) = flags_note {
        data["debug_flags"] = note;
    }
    Ok(ok(200, data, &ctx.request_id)?)
}

/// The size limits of one ingest request.
pub fn limits(ctx: &Ctx) -> Limits {
    let c = &ctx.config;
    Limits {
        max_body_bytes: c.max_body_bytes,
        max_entries: c.max_entries_per_request,
        max_message_bytes: c.max_message_bytes,
    }
}
