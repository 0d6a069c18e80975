//! Shell: Requests forwarded by a parent worker over a service binding: any request that carries
//! `X-Log-Key` is a request to be logged, whatever its method, host and path.
//!
//! The answer (200 with the entry id) comes only after the LogBatcher has durably buffered the
//! entry, so a parent's `ctx.waitUntil(env.LOGGER.fetch(fwd))` covers the whole trip while the
//! parent's own response goes out at once.

use crate::http::api::access::Caller;
use crate::http::envelope::{cf_facts, debug_flags, header, ok, Ctx};
use crate::http::error::ApiError;
use crate::ingest::enrich::{ForwardedRequest, LOG_KEY_HEADER};
use crate::ingest::intake::Origin;
use crate::model::entry::Source;
use serde_json::json;
use worker::{Request, Response};

pub async fn ingest(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let key = header(&req, LOG_KEY_HEADER).unwrap_or_default();
    let caller = Caller::by_header(ctx, &key, "X-Log-Key").await?;
    let (flags, flags_note) = debug_flags(&req, &ctx.config)?;
    let sender = caller.sender(ctx, Source::Binding, Origin::default(), flags);
    let entry = ctx.intake().request(&sender, forwarded(&req)?).await?;
    let mut data = json!({ "id": entry.id });
    if let Some(note) = flags_note {
        data["debug_flags"] = note;
    }
    Ok(ok(200, data, &ctx.request_id)?)
}

/// What the logger reads of a request to log.
pub fn forwarded(req: &Request) -> Result<ForwardedRequest, ApiError> {
    Ok(ForwardedRequest {
        // As sent: `worker` reads methods it does not know as GET.
        method: req.inner().method(),
        url: req.url()?.to_string(),
        headers: req
            .headers()
            .entries()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect(),
        cf: cf_facts(req),
    })
}
