//! Shell: what every handler shares: its context, request ids, headers and query strings, admin
//! authentication, debug flags, and the JSON envelope of every answer.

use crate::apps::app::constant_time_eq;
use crate::batch::fault_injection::{self, DebugFlags};
use crate::config::Config;
use crate::http::error::ApiError;
use crate::model::id::{is_request_id, new_id};
use crate::platform::{now_ms, random_bytes};
use serde_json::{json, Value};
use std::rc::Rc;
use worker::{Env, Request, Response};

/// Header carrying the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler gets besides the request.
pub struct Ctx {
    pub env: Env,
    pub config: Rc<Config>,
    pub request_id: String,
    /// The invocation, for work that goes on after the answer (`waitUntil`).
    pub exec: Rc<worker::Context>,
}

impl Ctx {
    /// The ingest use case over this invocation's bindings and configuration.
    pub fn intake(&self) -> crate::ingest::intake::Intake<'_> {
        crate::ingest::intake::Intake {
            env: &self.env,
            config: &self.config,
        }
    }

    /// Hands what this isolate's databases counted to the usage meter when it is due, after
    /// the answer is sent: metering never makes a request wait, nor calls the meter per read.
    pub fn hand_over_usage(&self) {
        use crate::platform::usage_meter::protocol::{due, record_all};
        if let Some(totals) = due(crate::platform::now_ms()) {
            let env = self.env.clone();
            self.exec
                .wait_until(async move { record_all(&env, totals).await });
        }
    }
}

/// A runtime failure that reaches a handler unmapped, sorted as the platform sorts it
/// (`PlatformError`'s `From<worker::Error>`).
impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        crate::platform::PlatformError::from(e).into()
    }
}

/// The caller's `X-Request-ID` when it is sane, else a fresh time-ordered id.
pub fn request_id(req: &Request) -> String {
    match req.headers().get(REQUEST_ID_HEADER).ok().flatten() {
        Some(id) if is_request_id(&id) => id,
        _ => new_id(now_ms(), random_bytes::<16>().unwrap_or([0; 16])),
    }
}

/// The request's query string as decoded pairs, in order.
pub fn query_pairs(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    Ok(req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// A header value, or `None` when absent or unreadable.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Refuses the request unless `X-Admin-Key` matches the `ADMIN_API_KEY` secret.
pub fn require_admin(req: &Request, config: &Config) -> Result<(), ApiError> {
    let Some(expected) = config.admin_api_key.as_deref() else {
        return Err(ApiError::AdminDisabled);
    };
    match header(req, "x-admin-key") {
        Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized("X-Admin-Key is not valid".into())),
        None => Err(ApiError::Unauthorized(
            "X-Admin-Key header is required".into(),
        )),
    }
}

/// `{ "ok": true, "data": ... }` with `status`.
pub fn ok(status: u16, data: Value, request_id: &str) -> worker::Result<Response> {
    with_request_id(
        Response::from_json(&json!({ "ok": true, "data": data }))?.with_status(status),
        request_id,
    )
}

/// The error envelope with the error's status (and `Retry-After` where the error knows it).
pub fn error(err: &ApiError, request_id: &str) -> worker::Result<Response> {
    let body = err.body(request_id).to_string().into_bytes();
    refusal(err, body, "application/json", request_id)
}

/// A refusal in any protocol's form (`body` of `content_type`): the error's status, its
/// `Retry-After` where it knows one, and the request id.
pub fn refusal(
    err: &ApiError,
    body: Vec<u8>,
    content_type: &str,
    request_id: &str,
) -> worker::Result<Response> {
    let mut resp = Response::from_bytes(body)?.with_status(err.status());
    resp.headers_mut().set("content-type", content_type)?;
    if let Some(secs) = err.retry_after() {
        resp.headers_mut().set("retry-after", &secs.to_string())?;
    }
    with_request_id(resp, request_id)
}

/// The debug flags of a request: `Ok(None)` when it asks for none, and what the answer should
/// say about them. Flags are honoured only with `DEBUG_FLAGS=true`.
pub fn debug_flags(
    req: &Request,
    config: &Config,
) -> Result<(DebugFlags, Option<Value>), ApiError> {
    let Some(raw) = header(req, fault_injection::HEADER) else {
        return Ok((DebugFlags::default(), None));
    };
    if !config.debug_flags {
        return Ok((
            DebugFlags::default(),
            Some(json!("ignored: DEBUG_FLAGS is not enabled on this logger")),
        ));
    }
    let flags = DebugFlags::parse(&raw)?;
    Ok((flags, Some(json!(flags))))
}

pub fn with_request_id(mut resp: Response, request_id: &str) -> worker::Result<Response> {
    resp.headers_mut().set(REQUEST_ID_HEADER, request_id)?;
    Ok(resp)
}

/// What a request says about the entries it carries: its `X-Request-ID` (for entries without a
/// request id of their own) and the colo that received it (their shard's).
pub fn origin(req: &Request) -> crate::ingest::intake::Origin {
    crate::ingest::intake::Origin {
        request_id: header(req, REQUEST_ID_HEADER).filter(|r| is_request_id(r)),
        colo: cf_facts(req).colo,
    }
}

/// The logged parts of `request.cf`; empty when the runtime supplies none.
pub fn cf_facts(req: &Request) -> crate::ingest::enrich::CfFacts {
    js_sys::Reflect::get(req.inner(), &"cf".into())
        .ok()
        .filter(|v| v.is_object())
        .and_then(|v| serde_wasm_bindgen::from_value(v).ok())
        .unwrap_or_default()
}
