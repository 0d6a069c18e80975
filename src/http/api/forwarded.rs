//! Shell: Requests forwarded by a parent worker over a service binding: any request that carries
//! `X-Log-Key` is a request to be logged, whatever its method, host and path.
//!
//! The answer (200 with the entry id) comes only after the LogBatcher has durably buffered the
//! entry, so a parent's `ctx.waitUntil(env.LOGGER.fetch(fwd))` covers the whole trip while the
//! parent's own response goes out at once.

use crate::http::api::logs::Caller;
use crate::http::envelope::{debug_flags, header, ok, Ctx};
use crate::http::error::ApiError;
use crate::ingest::debug::DebugFlags;
use crate::ingest::deliver::deliver_entries;
use crate::ingest::enrich::{enrich, CfFacts, EnrichOptions, ForwardedRequest, LOG_KEY_HEADER};
use crate::ingest::prepare::{Identity, Prepare};
use crate::model::entry::{LogEntry, Source};
use crate::model::id::is_request_id;
use crate::platform::{now_ms, random_bytes};
use serde_json::json;
use worker::{Request, Response};

pub async fn ingest(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let key = header(&req, LOG_KEY_HEADER).unwrap_or_default();
    let caller = Caller::by_header(ctx, &key, "X-Log-Key").await?;
    let (flags, flags_note) = debug_flags(&req, &ctx.config)?;
    let entry = store_request(ctx, &caller, forwarded(&req)?, Source::Binding, &flags).await?;
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

/// Stores one entry for `request` (the forwarded path and RPC's `logRequest`): enriched from the
/// request and its `X-Log-*` headers, named by its `Idempotency-Key` if it has one, durably
/// buffered before this returns.
pub async fn store_request(
    ctx: &Ctx,
    caller: &Caller,
    request: ForwardedRequest,
    source: Source,
    flags: &DebugFlags,
) -> Result<LogEntry, ApiError> {
    let c = &ctx.config;
    let now = now_ms();
    let secrets = caller.secrets(ctx);
    let app_id = caller.app.app_id.as_str();
    let colo = request.cf.colo.clone();
    let prepare = Prepare::new(c, app_id, now, colo.as_deref(), &secrets);
    // A parent that retries with the same Idempotency-Key stores the entry once.
    let id = match request.header("idempotency-key") {
        Some(k) if is_request_id(k) => prepare.id(Identity::Client(k), now),
        Some(_) => {
            return Err(ApiError::InvalidEntry(
                "Idempotency-Key: must be 1 to 128 printable characters".into(),
            ))
        }
        None => prepare.id(Identity::Random(random_bytes::<16>()?), now),
    };
    let mut entry = enrich(
        &request,
        &EnrichOptions {
            id,
            now_ms: now,
            app_id,
            log_client_ip: c.log_client_ip,
            max_message_bytes: c.max_message_bytes,
            max_log_data_bytes: c.max_log_data_bytes,
        },
    )?;
    entry.source = source;
    prepare.apply(&mut entry);
    deliver_entries(&ctx.env, std::slice::from_ref(&entry), flags).await?;
    Ok(entry)
}

/// The logged parts of `request.cf`; empty when the runtime supplies none.
pub fn cf_facts(req: &Request) -> CfFacts {
    js_sys::Reflect::get(req.inner(), &"cf".into())
        .ok()
        .filter(|v| v.is_object())
        .and_then(|v| serde_wasm_bindgen::from_value(v).ok())
        .unwrap_or_default()
}
