//! Shell: the wire form of every call between the fetch handler and a Durable Object.
//!
//! Each object's calls are defined once, in its `protocol` module, as a serde request type and an
//! answer type per method, an error enum, and one stub with a typed method per call. What crosses
//! the JS RPC boundary is JSON text (plus raw bytes where a call carries rows): the request as
//! JSON, the reply as the JSON of `Result<Answer, Error>`. JSON text rather than
//! `serde_wasm_bindgen` values because a `serde_json::Map` becomes a JS `Map` there, which
//! `JSON.stringify` (and so KV and structured clone into another isolate) does not keep.
//!
//! A request that does not parse is an error answer, never a call run with defaults.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;

/// How any call can fail, whatever the object: every object's error enum holds one of these
/// (`#[from]`), so the caller can tell the call's trouble from the object's own answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CallError {
    /// The object's storage (or a runtime API it called) failed.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The call failed before the object answered (the stub threw, the object was reset).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The request or the reply is not what the protocol defines (a bug on one side).
    #[error("malformed call: {0}")]
    Malformed(String),
}

impl From<worker::Error> for CallError {
    fn from(e: worker::Error) -> Self {
        CallError::Storage(e.to_string())
    }
}

/// `From<worker::Error>` for an object's error enum (one with a `Call(CallError)` variant), so
/// the object's own code can use `?` on its storage calls.
macro_rules! runtime_errors_are_calls {
    ($error:ty) => {
        impl From<worker::Error> for $error {
            fn from(e: worker::Error) -> Self {
                Self::Call(e.into())
            }
        }
    };
}
pub(crate) use runtime_errors_are_calls;

/// A typed stub around a JS RPC stub type (`$rpc`, declared with `#[wasm_bindgen] extern`),
/// made from a Durable Object stub; the typed methods are the object's `protocol`'s.
macro_rules! typed_stub {
    ($(#[$doc:meta])* $stub:ident($rpc:ident)) => {
        $(#[$doc])*
        pub struct $stub($rpc);

        impl $stub {
            pub fn new(stub: worker::Stub) -> Self {
                $stub(stub.into_rpc())
            }
        }
    };
}
pub(crate) use typed_stub;

/// An object's error as the wire carries it.
pub trait WireError: Serialize + DeserializeOwned + From<CallError> {}

impl<T: Serialize + DeserializeOwned + From<CallError>> WireError for T {}

fn malformed<E: WireError>(why: String) -> E {
    CallError::Malformed(why).into()
}

fn unreachable<E: WireError>(e: &JsValue) -> E {
    CallError::Unreachable(describe(e)).into()
}

/// The object side: parses a request, or answers why not.
pub fn parse_request<T: DeserializeOwned, E: WireError>(text: &str) -> Result<T, E> {
    serde_json::from_str(text).map_err(|e| malformed::<E>(format!("request: {e}")))
}

/// The object side: the reply text of an answer or an error.
pub fn reply<A: Serialize, E: WireError>(result: &Result<A, E>) -> String {
    serde_json::to_string(result).unwrap_or_else(|e| {
        let err: Result<A, E> = Err(malformed(format!("reply: {e}")));
        serde_json::to_string(&err).unwrap_or_default()
    })
}

/// The caller side: the request text.
pub fn request_text<T: Serialize, E: WireError>(request: &T) -> Result<String, E> {
    serde_json::to_string(request).map_err(|e| malformed::<E>(format!("request: {e}")))
}

/// The caller side: awaits a stub method's promise and decodes its reply.
pub async fn await_reply<A: DeserializeOwned, E: WireError>(
    call: Result<js_sys::Promise, JsValue>,
) -> Result<A, E> {
    let promise = call.map_err(|e| unreachable::<E>(&e))?;
    let value = JsFuture::from(promise)
        .await
        .map_err(|e| unreachable::<E>(&e))?;
    let text = value
        .as_string()
        .ok_or_else(|| malformed::<E>("reply: not text".into()))?;
    serde_json::from_str::<Result<A, E>>(&text)
        .map_err(|e| malformed::<E>(format!("reply: {e}")))?
}

/// A thrown JS value as text (an `Error`'s message where it is one).
pub fn describe(e: &JsValue) -> String {
    worker::Error::from(e.clone()).to_string()
}
