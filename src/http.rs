//! Shell helpers shared by the HTTP handlers: the JSON envelope, request ids, the clock,
//! randomness, configuration from `Env`, admin authentication, query strings, D1 reads, and
//! alarm times.
//!
//! Thin by design: every decision these helpers need is made by a pure module.

use crate::apps::constant_time_eq;
use crate::config::Config;
use crate::debug::{self, DebugFlags};
use crate::error::ApiError;
use crate::log_batcher::DB_BINDING;
use crate::rest::is_request_id;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env, Request, Response, ScheduledTime};

/// Header carrying the request id both ways.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler gets besides the request.
pub struct Ctx {
    pub env: Env,
    pub config: Rc<Config>,
    pub request_id: String,
}

impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// Milliseconds since the epoch, from the runtime's clock.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Bytes from the platform's CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| ApiError::Internal(format!("no randomness: {e}")))?;
    Ok(buf)
}

/// The caller's `X-Request-ID` when it is sane, else a fresh time-ordered id.
pub fn request_id(req: &Request) -> String {
    match req.headers().get(REQUEST_ID_HEADER).ok().flatten() {
        Some(id) if is_request_id(&id) => id,
        _ => crate::entry::new_id(now_ms(), random_bytes::<16>().unwrap_or([0; 16])),
    }
}

thread_local! {
    /// The configuration, parsed once per isolate: vars and secrets are fixed for the lifetime of
    /// an isolate (a change is a new deployment, hence new isolates).
    static CONFIG: RefCell<Option<Result<Rc<Config>, ApiError>>> = const { RefCell::new(None) };
}

/// The configuration from wrangler vars and secrets, parsed and checked once per isolate.
pub fn load_config(env: &Env) -> Result<Rc<Config>, ApiError> {
    if let Some(known) = CONFIG.with(|c| c.borrow().clone()) {
        return known;
    }
    let parsed = Config::from_lookup(|name| {
        env.secret(name)
            .or_else(|_| env.var(name))
            .ok()
            .map(|v| v.to_string())
    })
    .map(Rc::new)
    .map_err(|e| ApiError::ConfigInvalid(e.to_string()));
    CONFIG.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    parsed
}

/// The request's query string as decoded pairs, in order.
pub fn query_pairs(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    Ok(req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// The D1 database of the logs; a missing binding is a configuration error.
pub fn logs_db(env: &Env) -> Result<D1Database, ApiError> {
    env.d1(DB_BINDING)
        .map_err(|e| ApiError::ConfigInvalid(format!("D1 binding {DB_BINDING}: {e}")))
}

/// The rows of one D1 statement; a failing D1 is `STORAGE_UNAVAILABLE`.
pub async fn d1_rows<T: DeserializeOwned>(
    db: &D1Database,
    sql: &str,
    params: &[JsValue],
) -> Result<Vec<T>, ApiError> {
    let unavailable = |e: worker::Error| ApiError::StorageUnavailable(format!("D1: {e}"));
    db.prepare(sql)
        .bind(params)
        .map_err(unavailable)?
        .all()
        .await
        .map_err(unavailable)?
        .results()
        .map_err(unavailable)
}

/// An alarm time from ms since the epoch (`worker` reads a bare i64 as an offset from now).
pub fn alarm_at(ms: i64) -> ScheduledTime {
    ScheduledTime::new(js_sys::Date::new(&JsValue::from_f64(ms as f64)))
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
    let mut resp = Response::from_json(&err.body(request_id))?.with_status(err.status());
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
    let Some(raw) = header(req, debug::HEADER) else {
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

fn with_request_id(mut resp: Response, request_id: &str) -> worker::Result<Response> {
    resp.headers_mut().set(REQUEST_ID_HEADER, request_id)?;
    Ok(resp)
}
