//! Shell: the UsageMeter's calls, defined once for both sides: `record` (add what some work cost
//! in D1) and `totals`, its error type, [`MeterStub`], and [`meter`], how every caller hands its
//! tally over.

use crate::platform::d1::Metered;
use crate::platform::rpc::{
    await_reply, request_text, runtime_errors_are_calls, typed_stub, CallError,
};
use crate::platform::usage::{ByWork, Gathered, Work};
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

/// Hands what `db` counted to the meter as `work`, leaving the tally empty. Best effort: the
/// work is done, and a meter that cannot be reached is logged, never the caller's failure.
pub async fn meter(env: &Env, work: Work, db: &Metered) {
    record_all(env, ByWork::from([(work, db.take())])).await;
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

/// Gathers what `db` counted as `work` in this isolate; the totals to hand over when it is time
/// (`usage::HAND_OVER_MS`). An isolate that goes away loses what it gathered since.
pub fn gather(work: Work, db: &Metered, now: i64) -> Option<ByWork> {
    let usage = db.take();
    GATHERED.with(|g| g.borrow_mut().add(work, &usage, now))
}
