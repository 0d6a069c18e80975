//! Hands accepted entries to their LogBatcher Durable Objects.
//!
//! Owns the fetch handler's side of the handshake: one request per shard, all shards at once,
//! and success only when every shard has durably buffered its part. Does not decide shards
//! (`shard`) or what a LogBatcher does with the rows (`log_batcher`).

use crate::entry::LogEntry;
use crate::error::ApiError;
use crate::shard::group_by_shard;
use futures::future::join_all;
use wasm_bindgen::JsValue;
use worker::{Env, Method, ObjectNamespace, Request, RequestInit};

pub const BATCHER_BINDING: &str = "LOG_BATCHER";

/// Path of the LogBatcher's ingest endpoint (the host part is ignored by the runtime).
pub const INGEST_URL: &str = "https://log-batcher/ingest";

/// Sends every entry to its shard. `Ok` means all of them are in a durable buffer.
pub async fn deliver(env: &Env, entries: &[LogEntry]) -> Result<(), ApiError> {
    let ns = env
        .durable_object(BATCHER_BINDING)
        .map_err(|e| ApiError::ConfigInvalid(format!("binding {BATCHER_BINDING}: {e}")))?;
    let parts = group_by_shard(entries);
    let total = parts.len();
    let results = join_all(parts.iter().map(|(shard, body)| send(&ns, shard, body))).await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ApiError::StorageUnavailable(format!(
            "{} of {total} shard(s) did not accept their entries: {}",
            failures.len(),
            failures.join("; ")
        )))
    }
}

async fn send(ns: &ObjectNamespace, shard: &str, body: &str) -> Result<(), String> {
    let attempt = async {
        let stub = ns.get_by_name(shard)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(JsValue::from_str(body)));
        let req = Request::new_with_init(INGEST_URL, &init)?;
        let mut resp = stub.fetch_with_request(req).await?;
        if resp.status_code() == 200 {
            Ok(None)
        } else {
            Ok(Some(format!(
                "HTTP {}: {}",
                resp.status_code(),
                resp.text().await?
            )))
        }
    };
    match attempt.await {
        Ok(None) => Ok(()),
        Ok(Some(refusal)) => Err(format!("shard {shard}: {refusal}")),
        Err(e) => Err(format!("shard {shard}: {}", worker::Error::to_string(&e))),
    }
}
