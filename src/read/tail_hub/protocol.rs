//! Shell: the TailHub's calls, defined once for both sides: `connect` (a WebSocket upgrade, so a
//! `fetch` carrying a [`ConnectRequest`]), `active` and `publish` (JS RPC from LogBatchers),
//! `revoke` (when the app's key is revoked), its
//! error type, and [`HubStub`], the only way the rest of the crate calls a TailHub.

use crate::platform::rpc::{await_reply, request_text, runtime_errors_are_calls, CallError};
use crate::read::live_tail::TailQuery;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{Headers, Method, ObjectNamespace, Request, RequestInit, Response};

/// Header of the connect request that carries the [`ConnectRequest`] as JSON.
pub const CONNECT_HEADER: &str = "x-tail-connect";

/// A client to attach: its app (authenticated by `api::tail`) and its checked filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRequest {
    pub app: String,
    pub query: TailQuery,
}

/// Every way a TailHub call fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum HubError {
    /// `TAIL_MAX_CONNECTIONS` tails are open for the app.
    #[error("{0}")]
    TooManyTails(String),
    /// The object cannot read its configuration.
    #[error("{0}")]
    ConfigInvalid(String),
    #[error(transparent)]
    Call(#[from] CallError),
}

runtime_errors_are_calls!(HubError);

impl HubError {
    /// The connect answer for this error: its status, and itself as the JSON body.
    pub fn response(&self) -> worker::Result<Response> {
        let status = match self {
            HubError::TooManyTails(_) => 429,
            HubError::Call(CallError::Malformed(_)) => 400,
            _ => 503,
        };
        Ok(Response::from_json(self)?.with_status(status))
    }
}

#[wasm_bindgen]
extern "C" {
    /// A TailHub stub seen through JS RPC (the methods of `TailHub` in `src/worker.mjs`).
    type HubRpc;
    #[wasm_bindgen(method, catch)]
    fn active(this: &HubRpc) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn publish(this: &HubRpc, rows: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn revoke(this: &HubRpc, request: &str) -> Result<js_sys::Promise, JsValue>;
}

/// Close code of a tail whose app's key was revoked or whose app was deleted.
pub const REVOKED: u16 = 4001;

/// Ends every tail of the app (its key was revoked or it was deleted) and forgets the entries
/// kept for resuming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRequest {
    pub reason: String,
}

/// What `close` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    pub tails: usize,
}

/// The typed stub of one app's TailHub.
pub struct HubStub {
    ns: ObjectNamespace,
    app: String,
}

impl HubStub {
    pub fn new(ns: ObjectNamespace, app: &str) -> Self {
        HubStub {
            ns,
            app: app.to_string(),
        }
    }

    fn rpc(&self) -> Result<HubRpc, HubError> {
        Ok(self.ns.get_by_name(&self.app)?.into_rpc())
    }

    /// Whether entries are wanted (a client is connected, or may resume).
    pub async fn active(&self) -> Result<bool, HubError> {
        await_reply(self.rpc()?.active()).await
    }

    /// Hands the hub a JSON array of rows just acknowledged, in acknowledgement order.
    pub async fn publish(&self, rows: &str) -> Result<(), HubError> {
        await_reply(self.rpc()?.publish(rows)).await
    }

    /// Closes every tail of the app with [`REVOKED`] and `reason`.
    pub async fn revoke(&self, request: &CloseRequest) -> Result<Closed, HubError> {
        let text = request_text::<_, HubError>(request)?;
        await_reply(self.rpc()?.revoke(&text)).await
    }

    /// Attaches a client: the WebSocket upgrade answer (101), or why not.
    pub async fn connect(&self, query: &TailQuery) -> Result<Response, HubError> {
        let request = ConnectRequest {
            app: self.app.clone(),
            query: query.clone(),
        };
        let text =
            serde_json::to_string(&request).map_err(|e| CallError::Malformed(e.to_string()))?;
        let headers = Headers::new();
        headers.set("Upgrade", "websocket")?;
        headers.set(CONNECT_HEADER, &text)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let req = Request::new_with_init("https://tail-hub/connect", &init)?;
        let mut resp = self
            .ns
            .get_by_name(&self.app)?
            .fetch_with_request(req)
            .await
            .map_err(|e| HubError::from(CallError::Unreachable(e.to_string())))?;
        if resp.status_code() == 101 {
            return Ok(resp);
        }
        let status = resp.status_code();
        match resp.json::<HubError>().await {
            Ok(e) => Err(e),
            Err(e) => Err(CallError::Malformed(format!(
                "connect answered {status} without a HubError: {e}"
            ))
            .into()),
        }
    }
}
