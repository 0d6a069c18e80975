//! Shell: the Tail Worker handler, the adapter of `tail()` (`src/worker.mjs`): a producer's trace
//! items (one per invocation) are read from the runtime's events and handed to the ingest use
//! case (`ingest::intake::Intake::trace_items`), which samples them, maps scripts to apps and
//! stores them durably before this returns.

use crate::http::error::ApiError;
use crate::ingest::intake::Intake;
use crate::ingest::tail_worker::TraceItem;
use crate::platform::load_config;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use worker::Env;

/// The Tail Worker handler: a producer's trace items (one per invocation) become entries of the
/// apps their scripts map to, sampled after the fact (`ingest::tail_worker`), durably buffered before
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
    Intake {
        env,
        config: &config,
    }
    .trace_items(&items)
    .await?;
    crate::platform::usage_meter::protocol::hand_over(env).await;
    Ok(())
}
