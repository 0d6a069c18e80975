//! Shell: The logger's RPC entrypoint for parent workers: the `LoggerRpc` class of
//! `src/worker.mjs` (a `WorkerEntrypoint` a parent binds with `entrypoint = "LoggerRpc"`) gives
//! `forApp(key)` a stub whose every call comes here with that key, the method and its arguments.
//! The key is the parent's secret, passed once per stub; it is checked on every call (a cached
//! lookup, as for REST).
//!
//! Methods, each validated, limited, durable and refused as its REST twin is:
//! - `log(level, message, context?)` → `{id}`, `logBatch(entries)` → `{accepted, ids}`: `POST
//!   /logs` (entries as REST takes them);
//! - `logRequest(request, {level?, message?, data?}?)` → `{id}`: the forwarded-request path with
//!   the parent's own `Request` (no new Request to build, nothing to clone);
//! - `query(filters?)` → `{logs, next_cursor}`: `GET /logs` (`read::query::filter_pairs`);
//! - `stats(days?)` → `{app_id, days}`: `GET /stats/:app_id`.
//!
//! The key decides the app: a call reads and writes that app only. A refusal rejects the call with
//! an `Error` whose message starts with the REST code (`"INVALID_LEVEL: ..."`): RPC carries an
//! error's message and type, not its other properties.

use crate::http::api::forwarded::{forwarded, store_request};
use crate::http::api::logs::{limits, Caller, Naming, Origin};
use crate::http::api::query::page;
use crate::http::api::stats::counts;
use crate::http::envelope::Ctx;
use crate::http::error::ApiError;
use crate::ingest::debug::DebugFlags;
use crate::ingest::enrich::{LOG_DATA_HEADER, LOG_LEVEL_HEADER, LOG_MESSAGE_HEADER};
use crate::ingest::rest::parse_body;
use crate::model::entry::Source;
use crate::model::id::new_id;
use crate::platform::{load_config, now_ms, random_bytes};
use crate::read::query::{filter_pairs, parse_query};
use crate::read::stats::parse_days;
use serde_json::{json, Value};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::Env;

/// One RPC call: `args` is the method's argument list as the parent passed it.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
pub async fn rpc(
    env: Env,
    ctx: JsValue,
    key: Option<String>,
    method: String,
    args: js_sys::Array,
) -> Result<JsValue, JsValue> {
    match call(env, ctx, key, &method, args).await {
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

async fn call(
    env: Env,
    exec: JsValue,
    key: Option<String>,
    method: &str,
    args: js_sys::Array,
) -> Result<Value, ApiError> {
    let config = load_config(&env)?;
    let ctx = Ctx {
        env,
        config,
        request_id: new_id(now_ms(), random_bytes::<16>()?),
        exec: Rc::new(worker::Context::new(exec.unchecked_into())),
    };
    let key = key.filter(|k| !k.is_empty()).ok_or_else(|| {
        ApiError::Unauthorized("no app key: call forApp(key) with the app's key".into())
    })?;
    let caller = Caller::by_header(&ctx, &key, "the RPC key").await?;
    let flags = DebugFlags::default();
    let limits = limits(&ctx);
    let (ctx, caller, flags) = (&ctx, &caller, &flags);
    let store = |body: Value| async move {
        let drafts = parse_body(body.to_string().as_bytes(), &limits, now_ms())?;
        caller
            .store(
                ctx,
                &Origin::default(),
                drafts,
                (Source::Rpc, Naming::Key(None)),
                flags,
            )
            .await
    };
    match method {
        "log" => {
            let mut entry = json!({ "level": arg(&args, 0)?, "message": arg(&args, 1)? });
            if let c @ Value::Object(_) = arg(&args, 2)? {
                entry["context"] = c;
            }
            let entries = store(entry).await?;
            Ok(json!({ "id": entries.first().map(|e| e.id.as_str()) }))
        }
        "logBatch" => {
            let entries = store(json!({ "logs": arg(&args, 0)? })).await?;
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            Ok(json!({ "accepted": entries.len(), "ids": ids }))
        }
        "logRequest" => {
            let request: worker::Request = args
                .get(0)
                .dyn_into::<worker::web_sys::Request>()
                .map_err(|_| ApiError::InvalidEntry("argument 1: a Request".into()))?
                .into();
            let mut request = forwarded(&request)?;
            // The same fields the forwarded path takes from X-Log-* headers, validated alike.
            let data = arg(&args, 1)?;
            for (field, header) in [
                ("level", LOG_LEVEL_HEADER),
                ("message", LOG_MESSAGE_HEADER),
                ("data", LOG_DATA_HEADER),
            ] {
                request.headers.retain(|(n, _)| n != header);
                match &data[field] {
                    Value::Null => {}
                    Value::String(s) if field != "data" => {
                        request.headers.push((header.into(), s.clone()))
                    }
                    v @ Value::Object(_) if field == "data" => {
                        request.headers.push((header.into(), v.to_string()))
                    }
                    _ => {
                        return Err(ApiError::InvalidEntry(format!(
                            "argument 2: {field}: must be {}",
                            if field == "data" {
                                "an object"
                            } else {
                                "a string"
                            }
                        )))
                    }
                }
            }
            let entry = store_request(ctx, caller, request, Source::Rpc, flags).await?;
            Ok(json!({ "id": entry.id }))
        }
        "query" => {
            let q = parse_query(&filter_pairs(&arg(&args, 0)?)?, now_ms())?;
            if q.app_id
                .as_deref()
                .is_some_and(|a| a != caller.app.app_id.as_str())
            {
                return Err(ApiError::AppMismatch(
                    "app_id: this key acts for its own app only".into(),
                ));
            }
            let mut page = page(ctx, &caller.app.app_id, &q).await?;
            page.as_object_mut().map(|p| p.remove("d1"));
            Ok(page)
        }
        "stats" => {
            let days = match arg(&args, 0)? {
                Value::Null => Vec::new(),
                d => vec![(
                    "days".to_string(),
                    d.to_string().trim_matches('"').to_string(),
                )],
            };
            let mut counts = counts(ctx, &caller.app.app_id, parse_days(&days)?).await?;
            counts.as_object_mut().map(|c| c.remove("d1"));
            Ok(counts)
        }
        other => Err(ApiError::NotFound {
            method: "RPC".into(),
            path: other.to_string(),
        }),
    }
}
