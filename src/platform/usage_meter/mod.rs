//! Shell: `UsageMeter`, the Durable Object (one per deployment) that keeps what D1 reported for
//! every statement the logger runs besides flushes, per kind of work (`usage::Work`): the fetch
//! handler's reads, migrations, retention, prunes, purges, space trims, health checks. Flushes,
//! the hot path, are counted by each LogBatcher itself; `GET /admin/status` adds the two up.
//! Totals are kept in memory and written to the object's storage at most every
//! `PERSIST_EVERY_MS` (by an alarm), so they survive restarts and deployments, and metering a
//! query costs no storage write of its own (a write per record would cost more than most reads
//! it counts); a restart loses at most that last stretch.

pub mod protocol;

use crate::platform::rpc::{parse_request, reply};
use crate::platform::usage::ByWork;
use crate::platform::{alarm_at, now_ms};
use protocol::{MeterError, RecordRequest};
use std::cell::{Cell, RefCell};
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

const TOTALS_KEY: &str = "totals";
/// How long recorded counts may wait in memory before they are written.
const PERSIST_EVERY_MS: i64 = 10_000;

#[durable_object]
pub struct UsageMeter {
    state: State,
    /// The totals, once read from storage.
    totals: RefCell<Option<ByWork>>,
    /// An alarm is set to write them.
    armed: Cell<bool>,
}

impl DurableObject for UsageMeter {
    fn new(state: State, _env: Env) -> Self {
        UsageMeter {
            state,
            totals: RefCell::new(None),
            armed: Cell::new(false),
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("UsageMeter is called over RPC (record, totals)", 404)
    }

    async fn alarm(&self) -> Result<Response> {
        self.armed.set(false);
        let totals = self.totals.borrow().clone();
        if let Some(totals) = totals {
            self.state.storage().put(TOTALS_KEY, &totals).await?;
        }
        Response::ok("written")
    }
}

/// JS RPC methods (exposed through `src/worker.mjs`); requests and replies are `protocol`'s
/// types as JSON.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl UsageMeter {
    #[wasm_bindgen(js_name = record)]
    pub async fn record_rpc(&self, request: String) -> String {
        let answer = match parse_request::<RecordRequest, MeterError>(&request) {
            Ok(q) => self.record(q).await,
            Err(e) => Err(e),
        };
        reply(&answer)
    }

    #[wasm_bindgen(js_name = totals)]
    pub async fn totals_rpc(&self) -> String {
        reply(&self.totals().await)
    }
}

impl UsageMeter {
    async fn totals(&self) -> std::result::Result<ByWork, MeterError> {
        if self.totals.borrow().is_none() {
            let stored = self.state.storage().get::<ByWork>(TOTALS_KEY).await?;
            // Another call may have loaded them meanwhile: the first load wins.
            self.totals
                .borrow_mut()
                .get_or_insert_with(|| stored.unwrap_or_default());
        }
        Ok(self.totals.borrow().clone().unwrap_or_default())
    }

    /// Adds one piece of work in memory, and arms the alarm that writes the totals.
    async fn record(&self, q: RecordRequest) -> std::result::Result<(), MeterError> {
        self.totals().await?;
        if let Some(totals) = self.totals.borrow_mut().as_mut() {
            for (work, usage) in &q.totals {
                totals.entry(*work).or_default().merge(usage);
            }
        }
        if !self.armed.get() {
            self.armed.set(true);
            self.state
                .storage()
                .set_alarm(alarm_at(now_ms() + PERSIST_EVERY_MS))
                .await?;
        }
        Ok(())
    }
}
