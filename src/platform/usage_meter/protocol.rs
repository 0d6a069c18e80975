//! Shell: the UsageMeter's calls, defined once for both sides: `record` (add what some work cost
//! in D1) and `totals`, its error type, [`MeterStub`], and how an isolate gathers what its
//! databases counted ([`gather`], from `Metered`'s drop) and hands it over ([`due`], [`hand_over`]).

use crate::platform::rpc::{
    await_reply, request_text, runtime_errors_are_calls, typed_stub, CallError,
};
use crate::platform::usage::{ByWork, Gathered, Usage, Work};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{console_error, Env};

/// The one meter of a deployment (its totals are the logger's).
pub const METER_NAME: &str = "global";

/// What some work cost, per kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRequest {
    pub totals: ByWork,
}

/// Every way a UsageMeter call fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MeterError {
    #[error(transparent)]
    Call(#[from] CallError),
}

runtime_errors_are_calls!(MeterError);

#[wasm_bindgen]
extern "C" {
    /// A UsageMeter stub seen through JS RPC (`UsageMeter` in `src/worker.mjs`).
    type MeterRpc;
    #[wasm_bindgen(method, catch)]
    fn record(this: &MeterRpc, request: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn totals(this: &MeterRpc) -> Result<js_sys::Promise, JsValue>;
}

typed_stub!(
    /// The typed stub of the usage meter.
    MeterStub(MeterRpc)
);

impl MeterStub {
    pub async fn record(&self, request: &RecordRequest) -> Result<(), MeterError> {
        let text = request_text::<_, MeterError>(request)?;
        await_reply(self.0.record(&text)).await
    }

    pub async fn totals(&self) -> Result<ByWork, MeterError> {
        await_reply(self.0.totals()).await
    }
}

/// The deployment's meter.
pub fn meter_stub(env: &Env) -> worker::Result<MeterStub> {
    let namespace = env.durable_object(crate::platform::bindings::METER_BINDING)?;
    Ok(MeterStub::new(namespace.get_by_name(METER_NAME)?))
}

/// Hands `totals` to the meter (best effort, as [`meter`]).
pub async fn record_all(env: &Env, mut totals: ByWork) {
    totals.retain(|_, u| !u.tables.is_empty());
    if totals.is_empty() {
        return;
    }
    let request = RecordRequest { totals };
    let outcome = match meter_stub(env) {
        Ok(stub) => stub.record(&request).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = outcome {
        console_error!("usage meter: {e}");
    }
}

thread_local! {
    /// What this isolate's reads cost and has not handed over yet.
    static GATHERED: RefCell<Gathered> = RefCell::new(Gathered::default());
}

/// Gathers what a `Metered` database counted as `work` in this isolate (when it is dropped).
pub fn gather(work: Work, usage: Usage) {
    GATHERED.with(|g| g.borrow_mut().push(work, &usage));
}

/// What this isolate gathered, if it is time to hand it over (`Gathered::due`). An isolate that
/// goes away loses what it gathered since.
pub fn due(now: i64) -> Option<ByWork> {
    GATHERED.with(|g| g.borrow_mut().due(now))
}

/// Hands over what is due, for entry points that can wait for it (an alarm, the cron).
pub async fn hand_over(env: &Env) {
    if let Some(totals) = due(crate::platform::now_ms()) {
        record_all(env, totals).await;
    }
}
