//! Shell: Live tail: `POST /tail/token` (with the app's key, or the admin key and `app_id`) gives a
//! short-lived token, and `GET /tail?token=…&<filters>` upgrades to a WebSocket held by the app's
//! `TailHub`. The token exists because browsers cannot set headers on a WebSocket; other clients
//! may send `X-API-Key` on the upgrade instead. Filters and messages are `tail`'s.

use crate::apps::app::hash_key;
use crate::apps::registry::Registry;
use crate::http::api::access::{caller_app, key_app};
use crate::http::envelope::{header, ok, query_pairs, Ctx};
use crate::http::error::ApiError;
use crate::platform::random_bytes;
use crate::platform::rpc::CallError;
use crate::platform::tail_hubs;
use crate::read::live_tail::parse_query;
use crate::read::tail_hub::protocol::{HubError, HubStub};
use serde_json::json;
use worker::{Request, Response};

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
    let registry = Registry::new(&ctx.env)?;
    // The token is bound to the app's current key: it dies with it.
    let record = registry
        .get(&app)
        .await?
        .filter(|r| r.deleting_since.is_none())
        .ok_or_else(|| ApiError::AppNotFound(app.as_str().to_string()))?;
    registry
        .put_tail_token(&hash_key(&token), &record, TOKEN_TTL_SECS)
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
    let hub = HubStub::new(tail_hubs(&ctx.env)?, app.as_str());
    hub.connect(&q).await.map_err(ApiError::from)
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::TooManyTails(why) => ApiError::TooManyTails(why),
            HubError::ConfigInvalid(why) => ApiError::ConfigInvalid(why),
            HubError::Call(CallError::Malformed(why)) => {
                ApiError::Internal(format!("TailHub: {why}"))
            }
            other => ApiError::StorageUnavailable(format!("TailHub: {other}")),
        }
    }
}
