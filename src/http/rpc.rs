//! Shell: RPC for parent workers, the adapters of the `LoggerRpc` and `LoggerService`
//! entrypoints (`src/worker.mjs`).
//!
//! `LoggerRpc.forApp(key)` gives a stub whose every call comes here with that key, the method and
//! its arguments; the key is checked on every call (a cached lookup, as for REST) and decides the
//! app: a call reads and writes that app only. `LoggerService` (the worker-logs design's, off
//! unless `RPC_SERVICE_ENABLED`) takes the app id as its first argument and trusts its binding.
//!
//! Methods, each validated, limited, durable and refused as its REST twin is:
//! - `log(level, message, context?)` → `{id}`, `logBatch(entries)` → `{accepted, ids}`: `POST
//!   /logs` (entries as REST takes them);
//! - `logRequest(request, {level?, message?, context?}?)` → `{id}`: the forwarded-request path
//!   with the parent's own `Request` (no new Request to build, nothing to clone);
//! - `query(filters?)` → `{logs, next_cursor}`: `GET /logs` (`read::query::filter_pairs`);
//! - `stats(days?)` → `{app_id, days}`: `GET /stats/:app_id`.
//!
//! A call is parsed once into a typed [`Call`] and applied through the same use cases as HTTP. A
//! refusal rejects the call with an `Error` whose message starts with the REST code
//! (`"INVALID_LEVEL: ..."`): RPC carries an error's message and type, not its other properties.

use crate::apps::app::AppId;
use crate::batch::fault_injection::DebugFlags;
use crate::http::api::access::Caller;
use crate::http::api::forwarded::forwarded;
use crate::http::api::logs::limits;
use crate::http::envelope::Ctx;
use crate::http::error::ApiError;
use crate::ingest::enrich::{LOG_DATA_HEADER, LOG_LEVEL_HEADER, LOG_MESSAGE_HEADER};
use crate::ingest::intake::{Naming, Origin};
use crate::ingest::rest::parse_body;
use crate::model::entry::Source;
use crate::model::id::new_id;
use crate::platform::usage::Work;
use crate::platform::{load_config, metered_db, now_ms, random_bytes};
use crate::read::query::{filter_pairs, parse_query};
use crate::read::reader;
use crate::read::stats::parse_days;
use serde_json::{json, Value};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::Env;

/// One call on a `LoggerRpc.forApp(key)` stub: `args` is the method's argument list as the
/// parent passed it.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
pub async fn rpc(
    env: Env,
    ctx: JsValue,
    key: JsValue,
    method: String,
    args: js_sys::Array,
) -> Result<JsValue, JsValue> {
    answer(app_call(env, ctx, key, &method, args).await)
}

/// One call on the trusted `LoggerService` entrypoint: the app id comes first in `args`.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
pub async fn rpc_service(
    env: Env,
    ctx: JsValue,
    method: String,
    args: js_sys::Array,
) -> Result<JsValue, JsValue> {
    answer(service_call(env, ctx, &method, args).await)
}

/// A call's answer as the parent receives it: a plain object, or an `Error` whose message starts
/// with the REST code.
fn answer(result: Result<Value, ApiError>) -> Result<JsValue, JsValue> {
    match result {
        // Through JSON text: serde_wasm_bindgen would make objects JS `Map`s, which a parent
        // sees as `{}`.
        Ok(v) => js_sys::JSON::parse(&v.to_string()),
        Err(e) => Err(js_sys::Error::new(&format!("{}: {e}", e.code())).into()),
    }
}

fn arg(args: &js_sys::Array, i: u32) -> Result<Value, ApiError> {
    let v = args.get(i);
    if v.is_undefined() || v.is_null() {
        return Ok(Value::Null);
    }
    serde_wasm_bindgen::from_value(v)
        .map_err(|e| ApiError::InvalidEntry(format!("argument {}: {e}", i + 1)))
}

/// One RPC method with its arguments, parsed once from the method's name and argument list.
enum Call {
    Log {
        level: Value,
        message: Value,
        context: Value,
    },
    LogBatch(Value),
    LogRequest {
        request: worker::Request,
        options: Value,
    },
    Query(Value),
    Stats(Value),
}

impl Call {
    /// The call `method` with `args` from argument `first` on (the service's first is the app).
    fn parse(method: &str, args: &js_sys::Array, first: u32) -> Result<Call, ApiError> {
        Ok(match method {
            "log" => Call::Log {
                level: arg(args, first)?,
                message: arg(args, first + 1)?,
                context: arg(args, first + 2)?,
            },
            "logBatch" => Call::LogBatch(arg(args, first)?),
            "logRequest" => Call::LogRequest {
                request: args
                    .get(first)
                    .dyn_into::<worker::web_sys::Request>()
                    .map_err(|_| {
                        ApiError::InvalidEntry(format!("argument {}: a Request", first + 1))
                    })?
                    .into(),
                options: arg(args, first + 1)?,
            },
            "query" => Call::Query(arg(args, first)?),
            "stats" => Call::Stats(arg(args, first)?),
            other => {
                return Err(ApiError::NotFound {
                    method: "RPC".into(),
                    path: other.chars().take(64).collect(),
                })
            }
        })
    }

    /// What the trusted `LoggerService` offers: the design's `log`, `logBatch` and `query`.
    fn on_service(&self) -> bool {
        matches!(self, Call::Log { .. } | Call::LogBatch(_) | Call::Query(_))
    }
}

fn context(env: Env, exec: JsValue) -> Result<Ctx, ApiError> {
    Ok(Ctx {
        config: load_config(&env)?,
        env,
        request_id: new_id(now_ms(), random_bytes::<16>()?),
        exec: Rc::new(worker::Context::new(exec.unchecked_into())),
    })
}

async fn app_call(
    env: Env,
    exec: JsValue,
    key: JsValue,
    method: &str,
    args: js_sys::Array,
) -> Result<Value, ApiError> {
    let ctx = context(env, exec)?;
    // Any value a parent passes as the key: only a non-empty string can be one.
    let key = key.as_string().filter(|k| !k.is_empty()).ok_or_else(|| {
        ApiError::Unauthorized("no app key: call forApp(key) with the app's key".into())
    })?;
    let caller = Caller::by_header(&ctx, &key, "the RPC key").await?;
    let call = Call::parse(method, &args, 0)?;
    let answer = apply(&ctx, &caller, call).await;
    ctx.hand_over_usage();
    answer
}

async fn service_call(
    env: Env,
    exec: JsValue,
    method: &str,
    args: js_sys::Array,
) -> Result<Value, ApiError> {
    let ctx = context(env, exec)?;
    if !ctx.config.rpc_service_enabled {
        return Err(ApiError::Unauthorized(
            "LoggerService is off: set RPC_SERVICE_ENABLED=true to trust every worker bound to it"
                .into(),
        ));
    }
    let app = match arg(&args, 0)? {
        Value::String(id) => AppId::parse(&id)?,
        _ => {
            return Err(ApiError::InvalidApp(
                "argument 1: the app id, a string".into(),
            ))
        }
    };
    let caller = Caller::trusted(&ctx, &app).await?;
    let call = Call::parse(method, &args, 1)?;
    if !call.on_service() {
        return Err(ApiError::NotFound {
            method: "RPC".into(),
            path: format!("LoggerService.{method}"),
        });
    }
    let answer = apply(&ctx, &caller, call).await;
    ctx.hand_over_usage();
    answer
}

/// Carries out `call` for `caller`'s app, exactly as its REST twin would.
async fn apply(ctx: &Ctx, caller: &Caller, call: Call) -> Result<Value, ApiError> {
    let sender = caller.sender(ctx, Source::Rpc, Origin::default(), DebugFlags::default());
    let store = |body: Value| {
        let sender = &sender;
        async move {
            let drafts = parse_body(body.to_string().as_bytes(), &limits(ctx), now_ms())?;
            ctx.intake().drafts(sender, drafts, Naming::Key(None)).await
        }
    };
    match call {
        Call::Log {
            level,
            message,
            context,
        } => {
            let mut entry = json!({ "level": level, "message": message });
            if let c @ Value::Object(_) = context {
                entry["context"] = c;
            }
            let entries = store(entry).await?;
            Ok(json!({ "id": entries.first().map(|e| e.id.as_str()) }))
        }
        Call::LogBatch(logs) => {
            let entries = store(json!({ "logs": logs })).await?;
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            Ok(json!({ "accepted": entries.len(), "ids": ids }))
        }
        Call::LogRequest { request, options } => {
            let request = with_log_fields(forwarded(&request)?, &options)?;
            let entry = ctx.intake().request(&sender, request).await?;
            Ok(json!({ "id": entry.id }))
        }
        Call::Query(filters) => {
            let q = parse_query(&filter_pairs(&filters)?, now_ms())?;
            if q.app_id
                .as_deref()
                .is_some_and(|a| a != caller.app.app_id.as_str())
            {
                return Err(ApiError::AppMismatch(
                    "app_id: this key acts for its own app only".into(),
                ));
            }
            let db = metered_db(&ctx.env, Work::Query)?;
            let page = reader::page(&db, &ctx.config, &caller.app.app_id, &q).await;
            Ok(page?.to_json(false))
        }
        Call::Stats(days) => {
            let days = match days {
                Value::Null => Vec::new(),
                d => vec![(
                    "days".to_string(),
                    d.to_string().trim_matches('"').to_string(),
                )],
            };
            let db = metered_db(&ctx.env, Work::Stats)?;
            let counts = reader::counts(&db, &caller.app.app_id, parse_days(&days)?).await;
            Ok(counts?.to_json(false))
        }
    }
}

/// `logRequest`'s options as the forwarded path's `X-Log-*` headers, validated alike: `level`
/// and `message` strings, `context` (or `data`, its earlier name) an object.
fn with_log_fields(
    mut request: crate::ingest::enrich::ForwardedRequest,
    options: &Value,
) -> Result<crate::ingest::enrich::ForwardedRequest, ApiError> {
    let context = match (&options["context"], &options["data"]) {
        (Value::Null, data) => data,
        (context, _) => context,
    };
    for (field, value, header) in [
        ("level", &options["level"], LOG_LEVEL_HEADER),
        ("message", &options["message"], LOG_MESSAGE_HEADER),
        ("context", context, LOG_DATA_HEADER),
    ] {
        request.headers.retain(|(n, _)| n != header);
        match value {
            Value::Null => {}
            Value::String(s) if field != "context" => {
                request.headers.push((header.into(), s.clone()))
            }
            v @ Value::Object(_) if field == "context" => {
                request.headers.push((header.into(), v.to_string()))
            }
            _ => {
                return Err(ApiError::InvalidEntry(format!(
                    "argument 2: {field}: must be {}",
                    if field == "context" {
                        "an object"
                    } else {
                        "a string"
                    }
                )))
            }
        }
    }
    Ok(request)
}
