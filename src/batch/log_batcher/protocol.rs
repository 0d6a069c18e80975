//! Shell: the LogBatcher's calls, defined once for both sides: `ingest` (buffer a part) and
//! `status` (its own account, for `/admin/status`), their request and answer types, its error
//! type, and [`BatcherStub`], the only way the rest of the crate calls a LogBatcher.

use crate::batch::fault_injection::Faults;
use crate::platform::rpc::{
    await_reply, request_text, runtime_errors_are_calls, typed_stub, CallError,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

/// What travels with a part's bytes to `ingest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRequest {
    /// The shard id the part was stamped with (recorded once, for `/admin/status`).
    pub shard: String,
    /// Rows in the part, counted by the sender so the object need not scan them.
    pub entries: u64,
    /// Every row is plain (no request fields): flushed with the narrow insert.
    pub plain: bool,
    /// The app of every row, when there is one, for its live tail.
    pub app: Option<String>,
    /// Fault injection asked for by the request (`X-Debug-Flags`).
    pub faults: Faults,
}

/// A part is durably buffered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestAnswer {
    /// Entries newly buffered: 0 when the same part was buffered before (a retried request).
    pub accepted: u64,
    /// Entries the shard holds now.
    pub pending: u64,
}

pub use crate::batch::status::{BatcherStatus, Stats};

/// Every way a LogBatcher call fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BatcherError {
    /// The shard holds `MAX_BUFFERED_ENTRIES`/`_BYTES` already; retry after `retry_after` s.
    #[error("{message}")]
    Backpressure { message: String, retry_after: u64 },
    /// The part is not a JSON array of rows with text ids.
    #[error("rows refused: {0}")]
    RowsRefused(String),
    /// The object cannot read its configuration.
    #[error("{0}")]
    ConfigInvalid(String),
    #[error(transparent)]
    Call(#[from] CallError),
}

runtime_errors_are_calls!(BatcherError);

#[wasm_bindgen]
extern "C" {
    /// A LogBatcher stub seen through JS RPC (the methods of `LogBatcher` in `src/worker.mjs`).
    /// Not `Function::call`: on an RPC stub, `call` would be one more remote method.
    type BatcherRpc;
    #[wasm_bindgen(method, catch)]
    fn ingest(
        this: &BatcherRpc,
        body: &js_sys::Uint8Array,
        request: &str,
    ) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn status(this: &BatcherRpc) -> Result<js_sys::Promise, JsValue>;
}

typed_stub!(
    /// The typed stub of one LogBatcher.
    BatcherStub(BatcherRpc)
);

impl BatcherStub {
    /// Buffers a part (a JSON array of rows, as UTF-8 bytes: they cross into wasm with one
    /// copy, where a string is re-encoded character by character). `Ok` means durably kept.
    pub async fn ingest(
        &self,
        body: &[u8],
        request: &IngestRequest,
    ) -> Result<IngestAnswer, BatcherError> {
        let text = request_text::<_, BatcherError>(request)?;
        await_reply(self.0.ingest(&js_sys::Uint8Array::from(body), &text)).await
    }

    pub async fn status(&self) -> Result<BatcherStatus, BatcherError> {
        await_reply(self.0.status()).await
    }
}
