//! Live tail: `POST /tail/token` (with the app's key, or the admin key and `app_id`) gives a
//! short-lived token, and `GET /tail?token=…&<filters>` upgrades to a WebSocket held by the app's
//! `TailHub`. The token exists because browsers cannot set headers on a WebSocket; other clients
//! may send `X-API-Key` on the upgrade instead. Filters and messages are `tail`'s.

use crate::api::access::{caller_app, key_app};
use crate::apps::hash_key;
use crate::error::ApiError;
use crate::http::{header, ok, query_pairs, random_bytes, Ctx};
use crate::registry::Registry;
use crate::tail::{hub_query, parse_query};
use crate::tail_hub::TAIL_BINDING;
use serde_json::json;
use worker::{Headers, Method, Request, RequestInit, Response};

/// How long a tail token may be used to connect (KV's shortest expiry).
pub const TOKEN_TTL_SECS: u64 = 60;

pub async fn token(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let named = query_pairs(&req)?
        .into_iter()
        .find(|(k, _)| k == "app_id")
        .map(|(_, v)| v);
    let app = caller_app(&req, ctx, named.as_deref()).await?;
    let token: String = random_bytes::<24>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Registry::new(&ctx.env)?
        .put_tail_token(&hash_key(&token), &app, TOKEN_TTL_SECS)
        .await?;
    Ok(ok(
        201,
        json!({ "token": token, "app_id": app, "expires_in": TOKEN_TTL_SECS,
                "url": format!("/tail?token={token}") }),
        &ctx.request_id,
    )?)
}

pub async fn connect(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    let upgrade = header(&req, "upgrade").unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::UpgradeRequired(
            "GET /tail is a WebSocket: send Upgrade: websocket".into(),
        ));
    }
    let pairs = query_pairs(&req)?;
    let q = parse_query(&pairs, &ctx.config.routes)?;
    let token = pairs.iter().find(|(k, _)| k == "token").map(|(_, v)| v);
    let app = match token {
        Some(t) => {
            Registry::new(&ctx.env)?
                .tail_token_app(&hash_key(t))
                .await?
        }
        None => key_app(&req, ctx).await?,
    };
    let stub = ctx
        .env
        .durable_object(TAIL_BINDING)
        .and_then(|ns| ns.get_by_name(app.as_str()))
        .map_err(|e| ApiError::StorageUnavailable(format!("TailHub: {e}")))?;
    let headers = Headers::new();
    headers.set("Upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let hub_req = Request::new_with_init(
        &format!("https://tail-hub/connect?{}", hub_query(app.as_str(), &q)),
        &init,
    )?;
    let resp = stub
        .fetch_with_request(hub_req)
        .await
        .map_err(|e| ApiError::StorageUnavailable(format!("TailHub: {e}")))?;
    match resp.status_code() {
        101 => Ok(resp),
        429 => Err(ApiError::TooManyTails(
            "too many live tails for this app (TAIL_MAX_CONNECTIONS)".into(),
        )),
        s => Err(ApiError::StorageUnavailable(format!(
            "TailHub answered {s}"
        ))),
    }
}
