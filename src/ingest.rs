//! Hands accepted entries to their LogBatcher Durable Objects.
//!
//! Owns the fetch handler's side of the handshake: one request per shard, all shards at once,
//! and success only when every shard has durably buffered its part. A shard that is full answers
//! `BACKPRESSURE`, passed on to the client with its `Retry-After`. Does not decide shards
//! (`shard`) or what a LogBatcher does with the rows (`log_batcher`).

use crate::debug::{poison_row, DebugFlags};
use crate::entry::LogEntry;
use crate::error::ApiError;
use crate::shard::{group_by_shard, Part};
use futures::future::join_all;
use serde::Deserialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, ObjectNamespace};

pub const BATCHER_BINDING: &str = "LOG_BATCHER";

/// The LogBatcher namespace.
pub fn batchers(env: &Env) -> Result<ObjectNamespace, ApiError> {
    env.durable_object(BATCHER_BINDING)
        .map_err(|e| ApiError::ConfigInvalid(format!("binding {BATCHER_BINDING}: {e}")))
}

/// Sends entries to their shards (split by `shard::group_by_shard`), applying the request's
/// debug flags: `poison` rows are made to fail on insert, the rest travel to the shard.
pub async fn deliver_entries(
    env: &Env,
    entries: &[LogEntry],
    flags: &DebugFlags,
) -> Result<(), ApiError> {
    let parts = if flags.poison {
        group_by_shard(entries, |e| poison_row(&e.to_row_json()))
    } else {
        group_by_shard(entries, LogEntry::to_row_json)
    };
    deliver(env, &parts, &flags.shard_query()).await
}

/// Sends every part to its shard. `Ok` means all of them are in a durable buffer.
/// `shard_query` carries the shard-level debug flags, URL-encoded (`""` for none).
pub async fn deliver(env: &Env, parts: &[Part], shard_query: &str) -> Result<(), ApiError> {
    let ns = batchers(env)?;
    let results = join_all(parts.iter().map(|p| send(&ns, p, shard_query))).await;
    let mut refusals = Vec::new();
    let mut backpressure: Option<(String, u64)> = None;
    for r in results {
        match r {
            Ok(()) => {}
            Err(Refusal::Full(why, secs)) => {
                let secs = backpressure.as_ref().map_or(secs, |(_, s)| secs.max(*s));
                backpressure = Some((why, secs));
            }
            Err(Refusal::Other(why)) => refusals.push(why),
        }
    }
    if !refusals.is_empty() {
        return Err(ApiError::StorageUnavailable(format!(
            "{} of {} shard(s) did not accept their entries: {}",
            refusals.len(),
            parts.len(),
            refusals.join("; ")
        )));
    }
    match backpressure {
        Some((why, secs)) => Err(ApiError::Backpressure(why, secs)),
        None => Ok(()),
    }
}

#[wasm_bindgen]
extern "C" {
    /// A LogBatcher stub seen through JS RPC. (Not `Function::call`: on an RPC stub, `call` would
    /// be one more remote method.)
    type BatcherRpc;
    #[wasm_bindgen(method, catch)]
    fn ingest(
        this: &BatcherRpc,
        body: &js_sys::Uint8Array,
        query: &str,
    ) -> Result<js_sys::Promise, JsValue>;
}

enum Refusal {
    Full(String, u64),
    Other(String),
}

#[derive(Deserialize)]
struct FullAnswer {
    code: String,
    message: String,
    retry_after: u64,
}

async fn send(ns: &ObjectNamespace, part: &Part, shard_query: &str) -> Result<(), Refusal> {
    let attempt = async {
        // JS RPC (`LogBatcher::ingest_rpc`): locally a third of the cost of a `fetch` to the
        // object, which is most of a forwarded log's cost.
        let stub: BatcherRpc = ns.get_by_name(&part.shard)?.into_rpc();
        let sep = if shard_query.is_empty() { "" } else { "&" };
        let plain = if part.plain { "&plain=1" } else { "" };
        // App ids are `[a-z0-9_-]`: nothing to escape.
        let app = part
            .app
            .as_deref()
            .map_or(String::new(), |a| format!("&app={a}"));
        let query = format!(
            "{shard_query}{sep}n={}&shard={}{plain}{app}",
            part.entries, part.shard
        );
        let answer: js_sys::Array =
            JsFuture::from(stub.ingest(&js_sys::Uint8Array::from(part.body.as_bytes()), &query)?)
                .await?
                .dyn_into()?;
        let status = answer.get(0).as_f64().unwrap_or(0.0) as u16;
        Ok::<_, worker::Error>((status, answer.get(1).as_string().unwrap_or_default()))
    };
    match attempt.await {
        Ok((200, _)) => Ok(()),
        Ok((503, text)) => match serde_json::from_str::<FullAnswer>(&text) {
            Ok(a) if a.code == "BACKPRESSURE" => Err(Refusal::Full(a.message, a.retry_after)),
            _ => Err(Refusal::Other(format!(
                "shard {}: HTTP 503: {text}",
                part.shard
            ))),
        },
        Ok((status, text)) => Err(Refusal::Other(format!(
            "shard {}: HTTP {status}: {text}",
            part.shard
        ))),
        Err(e) => Err(Refusal::Other(format!("shard {}: {e}", part.shard))),
    }
}
