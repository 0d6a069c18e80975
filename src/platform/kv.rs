//! Shell: values put in KV as JSON text. A value handed to KV as a JS value would go through
//! `serde_wasm_bindgen`, which turns every map (a row's custom data, its headers) into a JS
//! `Map`, and KV stores a `Map` as `{}`: every put of a serde value goes through here instead.
//! (List metadata stays a JS value, as KV wants it: the types put there hold no maps.)

use serde::Serialize;
use worker::kv::{KvError, KvStore};

/// Puts `value` under `key` as JSON text, with list `metadata` and an expiry when given.
pub async fn put_json<T: Serialize, M: Serialize>(
    kv: &KvStore,
    key: &str,
    value: &T,
    metadata: Option<&M>,
    ttl_secs: Option<u64>,
) -> Result<(), KvError> {
    let text = serde_json::to_string(value).map_err(KvError::Serialization)?;
    let mut put = kv.put(key, text)?;
    if let Some(m) = metadata {
        put = put.metadata(m)?;
    }
    if let Some(ttl) = ttl_secs {
        put = put.expiration_ttl(ttl);
    }
    put.execute().await
}
