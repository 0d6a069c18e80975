//! Shell: The runtime's ways in besides `fetch` and `scheduled`: Tail Worker events (`tail`, see
//! `ingest::tail`) and RPC for parent workers.
//!
//! RPC: the `LoggerRpc` class of
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

/// The Tail Worker handler: a producer's trace items (one per invocation) become entries of the
/// apps their scripts map to, sampled after the fact (`ingest::tail`), durably buffered before
/// this returns. An item that cannot be stored (no app for its script, an unknown app) is
/// reported in the logger's own log; it never fails the others.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
pub async fn tail(events: JsValue, env: Env) -> Result<(), JsValue> {
    match store_tail(&env, &events).await {
        Ok(()) => Ok(()),
        Err(e) => {
            worker::console_error!("tail: {}: {e}", e.code());
            Err(js_sys::Error::new(&format!("{}: {e}", e.code())).into())
        }
    }
}

async fn store_tail(env: &Env, events: &JsValue) -> Result<(), ApiError> {
    use crate::ingest::deliver::deliver_entries;
    use crate::ingest::enrich::{enrich, EnrichOptions};
    use crate::ingest::prepare::{Identity, Prepare};
    use crate::ingest::tail::{app_for, entries, keep, TraceItem};
    use crate::model::app::AppId;
    use crate::model::entry::{LogEntry, RequestFields};
    use crate::store::registry::Registry;

    let text = js_sys::JSON::stringify(events)
        .map(String::from)
        .map_err(|_| ApiError::InvalidEntry("tail events are not JSON".into()))?;
    let events: Value = serde_json::from_str(&text)
        .map_err(|e| ApiError::InvalidEntry(format!("tail events: {e}")))?;
    let items: Vec<TraceItem> = events
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(TraceItem::from_json)
        .collect();
    let config = load_config(env)?;
    let registry = Registry::new(env)?;
    let secrets: Vec<&str> = config.admin_api_key.as_deref().into_iter().collect();
    let mut out: Vec<LogEntry> = Vec::new();
    // An app's record is read once per delivery, however many of its invocations it holds.
    let mut known: Vec<(AppId, bool)> = Vec::new();
    for item in &items {
        let draw = u64::from_le_bytes(random_bytes::<8>()?) as f64 / u64::MAX as f64;
        if !keep(item, config.tail_sample_rate, draw) {
            continue;
        }
        let script = item.script_name.as_deref();
        let Some(app) = app_for(&config.tail_apps, script) else {
            worker::console_error!(
                "tail: no app for script {script:?}: set TAIL_APPS (\"*\" for any script)"
            );
            continue;
        };
        let live = match AppId::parse(app) {
            Ok(id) => match known.iter().find(|(k, _)| *k == id) {
                Some((_, live)) => live.then_some(id),
                None => {
                    let record = registry.get(&id).await?;
                    let live = record.is_some_and(|r| r.deleting_since.is_none());
                    known.push((id.clone(), live));
                    live.then_some(id)
                }
            },
            Err(_) => None,
        };
        let app = match live {
            Some(id) => id,
            None => {
                worker::console_error!("tail: script {script:?} maps to {app:?}, which is no app");
                continue;
            }
        };
        let now = now_ms();
        let request = item.forwarded();
        let colo = request.as_ref().and_then(|r| r.cf.colo.clone());
        let prepare = Prepare::new(&config, app.as_str(), now, colo.as_deref(), &secrets);
        let options = |id: String| EnrichOptions {
            id,
            now_ms: now,
            app_id: app.as_str(),
            log_client_ip: config.log_client_ip,
            max_message_bytes: config.max_message_bytes,
            max_log_data_bytes: config.max_log_data_bytes,
        };
        // What every entry of the invocation shares: its request, enriched as a forwarded one.
        let base = request
            .as_ref()
            .and_then(|r| enrich(r, &options(String::new())).ok());
        let request_id = base
            .as_ref()
            .and_then(|b| b.request_id.clone().or_else(|| b.request.ray_id.clone()))
            .unwrap_or_else(|| new_id(now, random_bytes::<16>().unwrap_or([0; 16])));
        let path = base.as_ref().and_then(|b| b.request.path.clone());
        for e in entries(
            item,
            path.as_deref(),
            config.max_message_bytes,
            config.max_log_data_bytes,
        ) {
            let at = e.timestamp.unwrap_or(now);
            let mut entry = LogEntry {
                id: prepare.id(Identity::Random(random_bytes::<16>()?), at),
                timestamp: at,
                received_at: now,
                app_id: app.as_str().to_string(),
                level: e.level,
                message: e.message,
                request_id: Some(request_id.clone()),
                source: Source::Tail,
                shard: String::new(),
                request: base
                    .as_ref()
                    .map(|b| b.request.clone())
                    .unwrap_or_else(RequestFields::default),
                data: e.context,
            };
            prepare.apply(&mut entry);
            out.push(entry);
        }
    }
    if out.is_empty() {
        return Ok(());
    }
    deliver_entries(env, &out, &DebugFlags::default()).await
}
