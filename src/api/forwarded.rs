//! Requests forwarded by a parent worker over a service binding: any request that carries
//! `X-Log-Key` is a request to be logged, whatever its method, host and path.
//!
//! The answer (202 with the entry id) comes only after the LogBatcher has durably buffered the
//! entry, so a parent's `ctx.waitUntil(env.LOGGER.fetch(fwd))` covers the whole trip while the
//! parent's own response goes out at once.

use crate::enrich::{enrich, CfFacts, EnrichOptions, ForwardedRequest, LOG_KEY_HEADER};
use crate::entry::new_id;
use crate::error::ApiError;
use crate::http::{header, now_ms, ok, random_bytes, Ctx};
use crate::ingest::deliver;
use crate::registry::Registry;
use crate::shard::{shard_id, spread_of};
use serde_json::json;
use worker::{Request, Response};

pub async fn ingest(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let key = header(&req, LOG_KEY_HEADER);
    let app = Registry::new(&ctx.env)?
        .authenticate(key.as_deref(), "X-Log-Key")
        .await?;
    let forwarded = ForwardedRequest {
        method: req.method().to_string(),
        url: req.url()?.to_string(),
        headers: req
            .headers()
            .entries()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect(),
        cf: cf_facts(&req),
    };
    let c = &ctx.config;
    let now = now_ms();
    let mut secrets: Vec<&str> = key.as_deref().into_iter().collect();
    secrets.extend(c.admin_api_key.as_deref());
    let mut entry = enrich(
        &forwarded,
        &EnrichOptions {
            id: new_id(now, random_bytes::<16>()?),
            now_ms: now,
            app_id: app.app_id.as_str(),
            log_client_ip: c.log_client_ip,
            max_message_bytes: c.max_message_bytes,
            max_log_data_bytes: c.max_log_data_bytes,
            secrets: &secrets,
        },
    )?;
    entry.shard = shard_id(
        entry.request.cf.colo.as_deref(),
        now,
        c.sharding_bucket_ms,
        c.shard_fanout,
        spread_of(&entry.id),
    );
    deliver(&ctx.env, std::slice::from_ref(&entry)).await?;
    Ok(ok(202, json!({ "id": entry.id }), &ctx.request_id)?)
}

/// The logged parts of `request.cf`; empty when the runtime supplies none.
pub fn cf_facts(req: &Request) -> CfFacts {
    js_sys::Reflect::get(req.inner(), &"cf".into())
        .ok()
        .filter(|v| v.is_object())
        .and_then(|v| serde_wasm_bindgen::from_value(v).ok())
        .unwrap_or_default()
}
