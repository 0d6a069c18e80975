//! Shell: `LogBatcher`, the Durable Object that buffers one shard's entries and flushes them to
//! D1.
//!
//! Entries are written to the object's own SQLite storage (`buffer`) before the ingest call is
//! answered, so an acknowledged entry survives eviction, restarts and crashes. The alarm does
//! every flush (`flush`); the batching policy (`policy`) only moves it. A flush deletes exactly
//! the rows it wrote, so entries that arrive meanwhile stay for the next one. A shard over
//! `MAX_BUFFERED_ENTRIES`/`_BYTES` refuses new entries (`BACKPRESSURE`). Acknowledged rows go to
//! the app's live tail (`tail_publisher`). Its calls are defined in `protocol`.

pub mod buffer;
pub mod flush;
pub mod protocol;
pub mod tail_publisher;

use crate::batch::part::{first_row, part_key, row_id};
use crate::batch::policy::{BatchPolicy, Load};
use crate::config::Config;
use crate::platform::error::PlatformError;
use crate::platform::rpc::{parse_request, reply};
use crate::platform::usage::Work;
use crate::platform::usage_meter::protocol::hand_over;
use crate::platform::{alarm_at, metered_db, now_ms};
use buffer::{Buffer, NewPart};
use flush::flush_limit;
use protocol::{BatcherError, BatcherStatus, IngestAnswer, IngestRequest};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tail_publisher::TailPublisher;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{console_error, durable_object, DurableObject, Env, Request, Response, Result, State};

/// Most flushes one alarm run makes before yielding to a fresh alarm.
const MAX_FLUSHES_PER_ALARM: u32 = 10;
/// While the configuration is invalid, the alarm looks again this often (the retry settings are
/// part of what cannot be read).
const CONFIG_RETRY_MS: i64 = 10_000;

/// One shard's durable buffer and its flushes to D1.
#[durable_object]
pub struct LogBatcher {
    state: State,
    env: Env,
    /// The armed alarm as this instance last set or read it. `None`: not known yet (a fresh
    /// instance reads it from storage once).
    alarm: Cell<Option<Option<i64>>>,
    /// What the buffer holds, kept up to date by ingest and recounted after each flush, so
    /// admission does not scan the buffer on every request.
    load: Cell<Option<Load>>,
    /// A registration in the `shards` directory is under way: ingests meanwhile start no other.
    registering: Rc<Cell<bool>>,
    /// `tables::schemas_hash` of the configuration whose tables this instance has checked (and
    /// migrated if needed); flushes skip the check while it matches.
    schemas_checked: RefCell<Option<String>>,
    /// D1 lacked the JSONB functions once: flushes use `insert::Extract::Text` from then on.
    text_extract: Cell<bool>,
    tail: Rc<TailPublisher>,
}

/// JS RPC methods (the runtime exposes them through `src/worker.mjs`, whose class extends
/// `DurableObject`). A call costs a fraction of a `fetch` to the object: no Request, Response or
/// headers on either side. Requests and replies are `protocol`'s types as JSON.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl LogBatcher {
    #[wasm_bindgen(js_name = ingest)]
    pub async fn ingest_rpc(&self, body: js_sys::Uint8Array, request: String) -> String {
        let answer = match parse_request::<IngestRequest, BatcherError>(&request) {
            Ok(q) => match String::from_utf8(body.to_vec()) {
                Ok(body) => self.ingest(&body, q).await,
                Err(_) => Err(BatcherError::RowsRefused("not UTF-8".into())),
            },
            Err(e) => Err(e),
        };
        reply(&answer)
    }

    #[wasm_bindgen(js_name = status)]
    pub async fn status_rpc(&self) -> String {
        reply(&self.status().await)
    }
}

impl DurableObject for LogBatcher {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = Buffer::open(state.storage().sql()) {
            console_error!("LogBatcher: creating its tables failed: {e}");
        }
        LogBatcher {
            state,
            env,
            alarm: Cell::new(None),
            load: Cell::new(None),
            registering: Rc::new(Cell::new(false)),
            schemas_checked: RefCell::new(None),
            text_extract: Cell::new(false),
            tail: Rc::new(TailPublisher::default()),
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error("LogBatcher is called over RPC (ingest, status)", 404)
    }

    async fn alarm(&self) -> Result<Response> {
        // The alarm that woke us is spent; whatever is set from here on is a new one.
        self.alarm.set(Some(None));
        let buffer = self.buffer();
        let config = match self.config() {
            Ok(c) => c,
            Err(e) => {
                // Flushing with some other configuration could skip routes; keep every row
                // (no attempt counted) until a deployment fixes it.
                console_error!("LogBatcher: not flushing: {e}");
                buffer.record_error(e.to_string(), now_ms())?;
                self.set_alarm(now_ms() + CONFIG_RETRY_MS).await?;
                return Response::ok("configuration invalid; not flushed");
            }
        };
        let policy = policy(&config);
        let mut outage = None;
        for _ in 0..MAX_FLUSHES_PER_ALARM {
            let f = self.flush_once(&config, policy).await?;
            if f.outage.is_some() {
                outage = f.outage;
                break;
            }
            // Rows the isolation budget left for later are taken up at once; otherwise a flush
            // that read less than it could has emptied what is ready.
            if f.read == 0 || (f.deferred == 0 && f.read < flush_limit(policy)) {
                break;
            }
        }
        self.load.set(None);
        let now = now_ms();
        let next = match outage {
            // An outage counts no attempt of any row: the alarm backs off for as long as it
            // lasts, and the buffer limits (BACKPRESSURE) protect memory meanwhile.
            Some(e) => {
                let attempts = buffer.outage_attempts()? as u32 + 1;
                let at = now + policy.backoff_ms(attempts) as i64;
                buffer.record_outage(&e, now, at)?;
                console_error!("LogBatcher: D1 outage (flush {attempts} in a row): {e}");
                Some(at)
            }
            None => {
                buffer.end_outage()?;
                let s = buffer.summary(now)?;
                let due = policy.after_flush(s.ready as u64, s.oldest_ready, now);
                match (due, s.next_retry_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        };
        if let Some(at) = next {
            self.set_alarm(at).await?;
        }
        // What the flushes' migrations and trims cost D1 (their own writes are in the stats).
        hand_over(&self.env).await;
        Response::ok("flushed")
    }
}

fn policy(c: &Config) -> BatchPolicy {
    BatchPolicy {
        max_batch_size: c.max_batch_size,
        interval_ms: c.batch_interval_ms,
        retry_base_ms: c.retry_base_ms,
        retry_max_ms: c.retry_max_ms,
        max_buffered_entries: c.max_buffered_entries,
        max_buffered_bytes: c.max_buffered_bytes,
    }
}

/// The part a request's rows are buffered as, and its first row. The rows stay one text:
/// buffering costs no JSON work per entry. The flush splits it; a part whose entries fail is
/// split into single rows then. The sender says how many rows it holds, so only the first one
/// (for the key) is read here.
fn new_part<'a>(
    body: &'a str,
    q: &'a IngestRequest,
) -> std::result::Result<(NewPart<'a>, &'a str), BatcherError> {
    let rows = q.entries as usize;
    let Some(first) = first_row(body).filter(|_| rows > 0) else {
        return Err(BatcherError::RowsRefused(
            "not a non-empty JSON array of rows".into(),
        ));
    };
    let (key, stored) = if rows == 1 {
        (row_id(first), first.as_bytes())
    } else {
        (
            row_id(first).map(|id| part_key(&id, rows, body)),
            body.as_bytes(),
        )
    };
    let Some(key) = key else {
        return Err(BatcherError::RowsRefused("a row has no text id".into()));
    };
    let part = NewPart {
        key,
        stored,
        rows,
        plain: q.plain,
        app: q.app.as_deref(),
        dead_letter: q.faults.dead_letter,
    };
    Ok((part, first))
}

impl LogBatcher {
    fn buffer(&self) -> Buffer {
        Buffer::of(self.state.storage().sql())
    }

    fn config(&self) -> std::result::Result<Rc<Config>, PlatformError> {
        crate::platform::load_config(&self.env)
    }

    /// Buffers a JSON array of rows. The insert is synchronous SQLite; the runtime holds our
    /// answer until it is durable, so answering `Ok` means "kept".
    async fn ingest(
        &self,
        body: &str,
        q: IngestRequest,
    ) -> std::result::Result<IngestAnswer, BatcherError> {
        let now = now_ms();
        let config = self
            .config()
            .map_err(|e| BatcherError::ConfigInvalid(e.to_string()))?;
        let policy = policy(&config);
        let buffer = self.buffer();
        // Fault injection first, so a request refused below can still change it.
        if let Some(app) = &q.app {
            buffer.set_faults(app, &q.faults, now)?;
        }
        let held = self.load()?;
        let incoming = Load {
            entries: q.entries,
            bytes: body.len() as u64,
        };
        if let Err(reason) = policy.admit(held, incoming) {
            return Err(BatcherError::Backpressure {
                message: reason.0,
                retry_after: BatchPolicy::retry_after_secs(self.alarm_at().await?, now),
            });
        }
        let rows = q.entries as usize;
        let (part, first) = new_part(body, &q)?;
        let counted = buffer.insert(part, now, &q.shard)?;
        let added = counted.added.max(0) as u64;
        let load = Load {
            entries: held.entries + added,
            bytes: held.bytes + body.len() as u64,
        };
        self.load.set(Some(load));
        if counted.registered == 0 && !self.registering.get() {
            self.register(counted.shard);
        }
        let backing_off = counted.backoff_until.is_some_and(|t| t > now);
        if let Some(at) =
            policy.after_ingest(load.entries, self.alarm_at().await?, now, backing_off)
        {
            self.set_alarm(at).await?;
        }
        if let (Some(app), true) = (q.app.clone(), added > 0) {
            self.tail.publish(&self.state, &self.env, app, || {
                if rows == 1 {
                    format!("[{first}]")
                } else {
                    body.to_string()
                }
            });
        }
        Ok(IngestAnswer {
            accepted: added,
            pending: load.entries,
        })
    }

    async fn status(&self) -> std::result::Result<BatcherStatus, BatcherError> {
        let buffer = self.buffer();
        let s = buffer.summary(now_ms())?;
        Ok(BatcherStatus {
            pending: s.pending,
            pending_bytes: s.bytes,
            failing: s.failing,
            max_attempts: s.max_attempts,
            oldest_accepted_at: s.oldest,
            alarm_at: self.alarm_at().await?,
            stats: buffer.stats()?,
            usage: buffer.usage()?,
        })
    }

    /// Records the shard in D1's `shards` directory (read by `GET /admin/status`), in the
    /// background: the ingest answer does not wait for it, and a failure is retried on the next
    /// ingest.
    fn register(&self, shard: Option<String>) {
        let Some(shard) = shard else { return };
        let Ok(db) = metered_db(&self.env, Work::Admin) else {
            return;
        };
        let env = self.env.clone();
        let buffer = self.buffer();
        let registering = self.registering.clone();
        registering.set(true);
        self.state.wait_until(async move {
            let now = JsValue::from_f64(now_ms() as f64);
            let stmt = db.prepare(
                "INSERT INTO shards (shard, first_seen) VALUES (?1, ?2) ON CONFLICT(shard) DO NOTHING",
            );
            let done = match stmt.bind(&[JsValue::from_str(&shard), now]) {
                Ok(s) => db.run("shards", s).await.is_ok(),
                Err(_) => false,
            };
            drop(db);
            hand_over(&env).await;
            if done {
                let _ = buffer.mark_registered();
            }
            registering.set(false);
        });
    }

    fn load(&self) -> Result<Load> {
        if let Some(load) = self.load.get() {
            return Ok(load);
        }
        let s = self.buffer().summary(now_ms())?;
        let load = Load {
            entries: s.pending as u64,
            bytes: s.bytes as u64,
        };
        self.load.set(Some(load));
        Ok(load)
    }

    async fn alarm_at(&self) -> Result<Option<i64>> {
        if let Some(known) = self.alarm.get() {
            return Ok(known);
        }
        let stored = self.state.storage().get_alarm().await?;
        self.alarm.set(Some(stored));
        Ok(stored)
    }

    async fn set_alarm(&self, at: i64) -> Result<()> {
        self.state.storage().set_alarm(alarm_at(at)).await?;
        self.alarm.set(Some(Some(at)));
        Ok(())
    }
}
