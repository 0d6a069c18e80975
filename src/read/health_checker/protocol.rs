//! Shell: the HealthChecker's calls, defined once for both sides: `start` (remember the app and
//! check its URLs now), `stop` (forget it), its error type, and [`CheckerStub`].

use crate::platform::rpc::{
    await_reply, request_text, runtime_errors_are_calls, typed_stub, CallError,
};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

/// Start (or restart) checking an app's registered URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRequest {
    pub app_id: String,
}

/// Every way a HealthChecker call fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CheckerError {
    #[error(transparent)]
    Call(#[from] CallError),
}

runtime_errors_are_calls!(CheckerError);

#[wasm_bindgen]
extern "C" {
    /// A HealthChecker stub seen through JS RPC (`HealthChecker` in `src/worker.mjs`).
    type CheckerRpc;
    #[wasm_bindgen(method, catch)]
    fn start(this: &CheckerRpc, request: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn stop(this: &CheckerRpc) -> Result<js_sys::Promise, JsValue>;
}

typed_stub!(
    /// The typed stub of one app's HealthChecker.
    CheckerStub(CheckerRpc)
);

impl CheckerStub {
    pub async fn start(&self, request: &StartRequest) -> Result<(), CheckerError> {
        let text = request_text::<_, CheckerError>(request)?;
        await_reply(self.0.start(&text)).await
    }

    /// Stops checking (the app was deleted): the object forgets its app and its alarm.
    pub async fn stop(&self) -> Result<(), CheckerError> {
        await_reply(self.0.stop()).await
    }
}
