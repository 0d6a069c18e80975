//! `LogBatcher`: the Durable Object that buffers one shard's entries and flushes them to D1.
//!
//! Entries are written to the object's own SQLite storage before the ingest request is answered,
//! so an acknowledged entry survives eviction, restarts and crashes (the seed's "flush in a
//! destructor" does not exist on the platform; this durable buffer replaces it). The alarm does
//! every flush: the batching policy (`batch`) only moves it. A flush deletes exactly the rows it
//! wrote, so entries that arrive meanwhile stay for the next one.
//!
//! Does not decide when to flush (`batch`) nor build SQL for D1 (`flush`).

use crate::batch::BatchPolicy;
use crate::config::Config;
use crate::flush::{chunk_rows, insert_sql, MAX_PARAM_BYTES};
use crate::http::now_ms;
use serde::Deserialize;
use serde_json::json;
use std::cell::Cell;
use wasm_bindgen::JsValue;
use worker::{
    console_error, durable_object, DurableObject, Env, Method, Request, Response, Result,
    ScheduledTime, SqlStorage, SqlStorageValue, State,
};

/// Binding of the D1 database that holds the logs.
pub const DB_BINDING: &str = "LOGS_DB";
/// The firehose table.
pub const LOGS_TABLE: &str = "logs";
/// Most batches one alarm run flushes before yielding to a fresh alarm.
const MAX_BATCHES_PER_ALARM: u32 = 10;
/// A flush reads at most this many batches' worth of rows into one D1 round trip.
const BATCHES_PER_FLUSH: u32 = 10;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    accepted_at INTEGER NOT NULL,
    row TEXT NOT NULL
)";

#[durable_object]
pub struct LogBatcher {
    state: State,
    env: Env,
    /// The armed alarm as this instance last set or read it. `None`: not known yet (a fresh
    /// instance reads it from storage once).
    alarm: Cell<Option<Option<i64>>>,
}

#[derive(Deserialize)]
struct PendingRow {
    seq: i64,
    row: String,
}

#[derive(Deserialize)]
struct PendingSummary {
    pending: i64,
    oldest: Option<i64>,
}

impl DurableObject for LogBatcher {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = state.storage().sql().exec(SCHEMA, None) {
            console_error!("LogBatcher: creating the buffer table failed: {e}");
        }
        LogBatcher {
            state,
            env,
            alarm: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/ingest") => {
                let body = req.text().await?;
                self.ingest(&body).await
            }
            (Method::Get, "/status") => {
                let s = self.summary()?;
                Response::from_json(&json!({
                    "pending": s.pending,
                    "oldest_accepted_at": s.oldest,
                    "alarm_at": self.alarm_at().await?,
                }))
            }
            _ => Response::error(format!("no LogBatcher route {path}"), 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // The alarm that woke us is spent; whatever is set from here on is a new one.
        self.alarm.set(Some(None));
        let policy = self.policy();
        let mut flushed = 0usize;
        let mut outcome = Ok(());
        for _ in 0..MAX_BATCHES_PER_ALARM {
            match self.flush_once(policy).await {
                Ok(0) => break,
                Ok(n) => flushed += n,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        let s = self.summary()?;
        let now = now_ms();
        let next = match &outcome {
            Ok(()) => policy.after_flush(s.pending as u64, s.oldest, now),
            // Keep the rows and try again one interval later.
            Err(_) => Some(now + policy.interval_ms as i64),
        };
        if let Some(at) = next {
            self.set_alarm(at).await?;
        }
        match outcome {
            Ok(()) => Response::ok(format!("flushed {flushed}")),
            Err(e) => {
                console_error!("LogBatcher: flush failed, {} rows kept: {e}", s.pending);
                Response::error(format!("flush failed: {e}"), 500)
            }
        }
    }
}

impl LogBatcher {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn config(&self) -> Config {
        crate::http::load_config(&self.env).unwrap_or_default()
    }

    fn policy(&self) -> BatchPolicy {
        let c = self.config();
        BatchPolicy {
            max_batch_size: c.max_batch_size,
            interval_ms: c.batch_interval_ms,
        }
    }

    /// Buffers a JSON array of rows. The insert is synchronous SQLite; the runtime holds our
    /// response until it is durable, so answering 200 means "kept".
    async fn ingest(&self, body: &str) -> Result<Response> {
        let now = now_ms();
        let inserted = self.sql().exec(
            "INSERT OR IGNORE INTO pending (id, accepted_at, row)
             SELECT value ->> 0, ?2, value FROM json_each(?1)
             WHERE json_type(value) = 'array' AND json_type(value, '$[0]') = 'text'",
            vec![SqlStorageValue::from(body.to_string()), now.into()],
        );
        if let Err(e) = inserted {
            return Response::error(format!("rows refused: {e}"), 400);
        }
        let s = self.summary()?;
        if let Some(at) = self
            .policy()
            .after_ingest(s.pending as u64, self.alarm_at().await?, now)
        {
            self.set_alarm(at).await?;
        }
        Response::from_json(&json!({ "pending": s.pending }))
    }

    /// Writes the oldest pending rows to D1 in one batch and forgets exactly those.
    /// Returns how many rows were flushed (0: nothing pending).
    async fn flush_once(&self, policy: BatchPolicy) -> Result<usize> {
        let limit = i64::from(policy.max_batch_size) * i64::from(BATCHES_PER_FLUSH);
        let rows: Vec<PendingRow> = self
            .sql()
            .exec(
                "SELECT seq, row FROM pending ORDER BY seq LIMIT ?1",
                vec![limit.into()],
            )?
            .to_array()?;
        let Some(last_seq) = rows.last().map(|r| r.seq) else {
            return Ok(0);
        };
        let texts: Vec<&str> = rows.iter().map(|r| r.row.as_str()).collect();
        let db = self.env.d1(DB_BINDING)?;
        let sql = insert_sql(LOGS_TABLE);
        let statements = chunk_rows(&texts, MAX_PARAM_BYTES)
            .into_iter()
            .map(|chunk| db.prepare(&sql).bind(&[JsValue::from_str(&chunk)]))
            .collect::<Result<Vec<_>>>()?;
        for result in db.batch(statements).await? {
            if let Some(e) = result.error() {
                return Err(worker::Error::RustError(format!("D1: {e}")));
            }
        }
        // Rows that arrived during the D1 call have higher seqs and stay.
        self.sql()
            .exec("DELETE FROM pending WHERE seq <= ?1", vec![last_seq.into()])?;
        Ok(rows.len())
    }

    fn summary(&self) -> Result<PendingSummary> {
        self.sql()
            .exec(
                "SELECT count(*) AS pending, min(accepted_at) AS oldest FROM pending",
                None,
            )?
            .one()
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
        // An absolute time: `worker` reads a bare i64 as an offset from now.
        let when = ScheduledTime::new(js_sys::Date::new(&JsValue::from_f64(at as f64)));
        self.state.storage().set_alarm(when).await?;
        self.alarm.set(Some(Some(at)));
        Ok(())
    }
}
