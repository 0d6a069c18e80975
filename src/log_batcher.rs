//! `LogBatcher`: the Durable Object that buffers one shard's entries and flushes them to D1.
//!
//! Entries are written to the object's own SQLite storage before the ingest request is answered,
//! so an acknowledged entry survives eviction, restarts and crashes (the seed's "flush in a
//! destructor" does not exist on the platform; this durable buffer replaces it). The alarm does
//! every flush: the batching policy (`batch`) only moves it. A flush deletes exactly the rows it
//! wrote, so entries that arrive meanwhile stay for the next one.
//!
//! A flush writes each row to the firehose and to every route whose filter matches it (`route`),
//! in one D1 batch per range (one transaction), after bringing the log tables' schemas up to date
//! once per configuration (`tables::ensure_schemas`).
//!
//! When a write fails, the failed range is bisected (`poison`) so good rows still land; rows that
//! fail keep an attempt count and are retried with exponential backoff; after `MAX_RETRIES` they
//! move to the dead-letter KV namespace, and leave the buffer only once that write succeeded.
//! A shard over `MAX_BUFFERED_ENTRIES`/`_BYTES` refuses new entries (503 `BACKPRESSURE`).
//!
//! Does not decide when to flush (`batch`), route rows (`route`), build SQL (`flush`, `schema`)
//! or format dead letters (`dead_letter`).

use crate::batch::{BatchPolicy, Load};
use crate::config::Config;
use crate::dead_letter::{self, FailedRow, DEAD_LETTER_BINDING, MAX_RECORD_BYTES};
use crate::entry::COLUMNS;
use crate::flush::{
    chunk_rows, first_row, insert_sql, lacks_jsonb, part_key, plain_insert_sql, row_id, split_rows,
    Extract, MAX_PARAM_BYTES,
};
use crate::http::{alarm_at, now_ms, random_bytes};
use crate::poison::{isolate, WRITE_BUDGET};
use crate::route::Routes;
use crate::tables::{ensure_schemas, schemas_hash};
use crate::tail::ACTIVE_CHECK_MS;
use crate::tail_hub::TAIL_BINDING;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::rc::Rc;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{
    console_error, console_log, durable_object, Delay, DurableObject, Env, Method, Request,
    Response, Result, SqlStorage, SqlStorageValue, State,
};

/// Binding of the D1 database that holds the logs.
pub const DB_BINDING: &str = "LOGS_DB";
/// Most flushes one alarm run makes before yielding to a fresh alarm.
const MAX_FLUSHES_PER_ALARM: u32 = 10;
/// A flush reads at most this many batches' worth of rows into one D1 round trip.
const BATCHES_PER_FLUSH: u32 = 10;
/// While the configuration is invalid, the alarm looks again this often (the retry settings are
/// part of what cannot be read).
const CONFIG_RETRY_MS: i64 = 10_000;
/// Message of the failure `X-Debug-Flags: d1_fail` injects.
pub const INJECTED_FAILURE: &str = "injected D1 failure (X-Debug-Flags d1_fail)";

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS pending (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        accepted_at INTEGER NOT NULL,
        row TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        first_failed_at INTEGER,
        n INTEGER NOT NULL DEFAULT 1,
        plain INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS stats (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        shard TEXT,
        accepted INTEGER NOT NULL DEFAULT 0,
        flushed INTEGER NOT NULL DEFAULT 0,
        dead_lettered INTEGER NOT NULL DEFAULT 0,
        flushes INTEGER NOT NULL DEFAULT 0,
        d1_statements INTEGER NOT NULL DEFAULT 0,
        fail_next INTEGER NOT NULL DEFAULT 0,
        slow_flush_ms INTEGER NOT NULL DEFAULT 0,
        backoff_until INTEGER,
        last_flush_at INTEGER,
        last_error TEXT,
        last_error_at INTEGER,
        registered INTEGER NOT NULL DEFAULT 0
    )",
    "INSERT OR IGNORE INTO stats (id) VALUES (1)",
];

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
    /// D1 lacked the JSONB functions once: flushes use `flush::Extract::Text` from then on.
    text_extract: Cell<bool>,
    /// Live tail: what this object acknowledged, for its app's `TailHub`, in order.
    tail: Rc<TailPublisher>,
}

/// Publishes acknowledged rows to the apps' `TailHub`s: one queue, drained by one task at a time,
/// so rows reach a hub in the order this shard acknowledged them. Whether an app has tails is
/// asked of its hub at most once per `tail::ACTIVE_CHECK_MS`; while the answer is no, an ingest
/// does nothing more than one map look-up.
#[derive(Default)]
struct TailPublisher {
    queue: RefCell<VecDeque<(String, String)>>,
    draining: Cell<bool>,
    /// app → (has tails, when asked).
    active: RefCell<HashMap<String, (bool, f64)>>,
}

#[wasm_bindgen]
extern "C" {
    /// A TailHub stub seen through JS RPC (`tail_hub::TailHub`).
    type HubRpc;
    #[wasm_bindgen(method, catch)]
    fn active(this: &HubRpc) -> std::result::Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn publish(this: &HubRpc, rows: &str) -> std::result::Result<js_sys::Promise, JsValue>;
}

impl TailPublisher {
    /// Whether `app` is known, recently, to have no tail.
    fn known_idle(&self, app: &str, now: f64) -> bool {
        self.active
            .borrow()
            .get(app)
            .is_some_and(|(active, at)| !active && now - at < ACTIVE_CHECK_MS)
    }

    async fn drain(self: Rc<Self>, env: Env) {
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some((app, rows)) = next else { break };
            let hub = match env
                .durable_object(TAIL_BINDING)
                .and_then(|ns| ns.get_by_name(&app))
            {
                Ok(stub) => stub.into_rpc::<HubRpc>(),
                Err(_) => continue,
            };
            let now = js_sys::Date::now();
            let known = self.active.borrow().get(&app).copied();
            let active = match known {
                Some((active, at)) if now - at < ACTIVE_CHECK_MS => active,
                _ => {
                    let answer = match hub.active() {
                        Ok(p) => JsFuture::from(p).await.ok(),
                        Err(_) => None,
                    };
                    let active = answer.and_then(|v| v.as_bool()).unwrap_or(false);
                    self.active
                        .borrow_mut()
                        .insert(app.clone(), (active, js_sys::Date::now()));
                    active
                }
            };
            if active {
                if let Ok(p) = hub.publish(&rows) {
                    if let Err(e) = JsFuture::from(p).await {
                        console_error!("LogBatcher: publishing to the tail of {app} failed: {e:?}");
                    }
                }
            }
        }
        self.draining.set(false);
    }
}

struct PendingRow {
    seq: i64,
    accepted_at: i64,
    row: String,
    /// Entries in `row`: 1 for a single row, more for a part (a JSON array of rows).
    n: i64,
    /// 1: every row in it is plain (`shard::Part::plain`), flushed with the narrow insert.
    plain: i64,
    attempts: u32,
    first_failed_at: Option<i64>,
}

/// An entry that failed this flush, as a single buffered row.
struct FailedEntry {
    seq: i64,
    row: String,
    attempts: u32,
    first_failed_at: Option<i64>,
    error: String,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

#[derive(Deserialize)]
struct PendingSummary {
    pending: i64,
    bytes: i64,
    oldest: Option<i64>,
    failing: i64,
}

/// The object's counters and fault-injection state (`stats` table).
#[derive(Debug, Deserialize, Serialize)]
pub struct Stats {
    pub shard: Option<String>,
    pub accepted: i64,
    pub flushed: i64,
    pub dead_lettered: i64,
    pub flushes: i64,
    pub d1_statements: i64,
    pub fail_next: i64,
    pub slow_flush_ms: i64,
    pub backoff_until: Option<i64>,
    pub last_flush_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub registered: i64,
}

/// What one flush did.
struct Flushed {
    read: usize,
    /// Failed rows that stay for a retry, and the highest attempt count among them.
    kept: usize,
    max_attempts: u32,
}

/// What an ingest call answers: an HTTP status and its text (JSON for 200 and for 503
/// `BACKPRESSURE`), read by `ingest::send`.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn new(status: u16, body: impl Into<String>) -> Self {
        Answer {
            status,
            body: body.into(),
        }
    }
}

/// JS RPC methods (the runtime exposes them through `src/entry.mjs`, whose class extends
/// `DurableObject`). A call costs a fraction of a `fetch` to the object: no Request, Response or
/// headers on either side.
#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl LogBatcher {
    /// Buffers a JSON array of rows (UTF-8 bytes: they cross into wasm with one copy, where a
    /// string is re-encoded character by character); `query` holds the `IngestQuery` fields,
    /// URL-encoded. Resolves to `[status, text]`.
    #[wasm_bindgen(js_name = ingest)]
    pub async fn ingest_rpc(
        &self,
        body: js_sys::Uint8Array,
        query: String,
    ) -> std::result::Result<JsValue, JsValue> {
        let q: IngestQuery = serde_urlencoded::from_str(&query).unwrap_or_default();
        let Ok(body) = String::from_utf8(body.to_vec()) else {
            return Ok(js_sys::Array::of2(&400.into(), &"rows refused: not UTF-8".into()).into());
        };
        let a = self.ingest(&body, q).await.map_err(JsValue::from)?;
        Ok(js_sys::Array::of2(&a.status.into(), &a.body.into()).into())
    }
}

/// Parameters of an ingest call, set by `ingest::deliver`.
#[derive(Deserialize, Default)]
struct IngestQuery {
    shard: Option<String>,
    n: Option<u64>,
    d1_fail: Option<i64>,
    slow_flush: Option<i64>,
    /// 1 when every row is plain (`shard::Part::plain`).
    plain: Option<u8>,
    /// The app of every row, for its live tail (`shard::Part::app`).
    app: Option<String>,
}

impl DurableObject for LogBatcher {
    fn new(state: State, env: Env) -> Self {
        for statement in SCHEMA {
            if let Err(e) = state.storage().sql().exec(statement, None) {
                console_error!("LogBatcher: creating its tables failed: {e}");
            }
        }
        // A buffer made before the `plain` column: add it (its rows take the full insert).
        let sql = state.storage().sql();
        let has_plain = sql
            .exec(
                "SELECT count(*) AS n FROM pragma_table_info('pending') WHERE name = 'plain'",
                None,
            )
            .and_then(|c| c.one::<Count>())
            .map(|c| c.n > 0)
            .unwrap_or(true);
        if !has_plain {
            if let Err(e) = sql.exec(
                "ALTER TABLE pending ADD COLUMN plain INTEGER NOT NULL DEFAULT 0",
                None,
            ) {
                console_error!("LogBatcher: adding pending.plain failed: {e}");
            }
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

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Get, "/status") => {
                let s = self.summary()?;
                Response::from_json(&json!({
                    "pending": s.pending,
                    "pending_bytes": s.bytes,
                    "failing": s.failing,
                    "oldest_accepted_at": s.oldest,
                    "alarm_at": self.alarm_at().await?,
                    "stats": self.stats()?,
                }))
            }
            _ => Response::error(format!("no LogBatcher route {path}"), 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // The alarm that woke us is spent; whatever is set from here on is a new one.
        self.alarm.set(Some(None));
        let config = match self.config() {
            Ok(c) => c,
            Err(e) => {
                // Flushing with some other configuration could skip routes; keep every row
                // (no attempt counted) until a deployment fixes it.
                console_error!("LogBatcher: not flushing: {e}");
                let later = now_ms() + CONFIG_RETRY_MS;
                self.sql().exec(
                    "UPDATE stats SET last_error = ?1, last_error_at = ?2",
                    vec![SqlStorageValue::from(e), now_ms().into()],
                )?;
                self.set_alarm(later).await?;
                return Response::ok("configuration invalid; not flushed");
            }
        };
        let policy = policy(&config);
        let mut retry_at = None;
        for _ in 0..MAX_FLUSHES_PER_ALARM {
            let f = self.flush_once(&config, policy).await?;
            if f.kept > 0 {
                retry_at = Some(now_ms() + policy.backoff_ms(f.max_attempts) as i64);
                break;
            }
            if f.read < flush_limit(policy) {
                break;
            }
        }
        self.load.set(None);
        self.sql().exec(
            "UPDATE stats SET backoff_until = ?1",
            vec![retry_at.map_or(SqlStorageValue::Null, SqlStorageValue::from)],
        )?;
        let s = self.summary()?;
        let next = retry_at.or_else(|| policy.after_flush(s.pending as u64, s.oldest, now_ms()));
        if let Some(at) = next {
            self.set_alarm(at).await?;
        }
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

fn flush_limit(policy: BatchPolicy) -> usize {
    policy.max_batch_size as usize * BATCHES_PER_FLUSH as usize
}

impl LogBatcher {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn config(&self) -> std::result::Result<Rc<Config>, String> {
        crate::http::load_config(&self.env).map_err(|e| e.to_string())
    }

    /// Brings the log tables up to date with the configured routes, once per configuration per
    /// instance (`schemas_checked`).
    async fn ensure_schemas(
        &self,
        db: &worker::D1Database,
        routes: &Routes,
    ) -> std::result::Result<(), String> {
        let tables = routes.tables();
        let hash = schemas_hash(&tables);
        if self.schemas_checked.borrow().as_deref() == Some(hash.as_str()) {
            return Ok(());
        }
        let migrated = ensure_schemas(db, &tables, now_ms())
            .await
            .map_err(|e| e.to_string())?;
        if !migrated.is_empty() {
            console_log!("LogBatcher: migrated log tables {migrated:?}");
        }
        *self.schemas_checked.borrow_mut() = Some(hash);
        Ok(())
    }

    /// Buffers a JSON array of rows. The insert is synchronous SQLite; the runtime holds our
    /// response until it is durable, so answering 200 means "kept".
    async fn ingest(&self, body: &str, q: IngestQuery) -> Result<Answer> {
        let now = now_ms();
        let config = match self.config() {
            Ok(c) => c,
            Err(e) => return Ok(Answer::new(503, e)),
        };
        let policy = policy(&config);
        // Fault injection first, so a request refused below can still change it.
        if let Some(n) = q.d1_fail {
            self.sql()
                .exec("UPDATE stats SET fail_next = ?1", vec![n.max(0).into()])?;
        }
        if let Some(ms) = q.slow_flush {
            self.sql().exec(
                "UPDATE stats SET slow_flush_ms = ?1",
                vec![ms.max(0).into()],
            )?;
        }
        let held = self.load()?;
        let incoming = Load {
            entries: q.n.unwrap_or(1),
            bytes: body.len() as u64,
        };
        if let Err(reason) = policy.admit(held, incoming) {
            let retry_after = BatchPolicy::retry_after_secs(self.alarm_at().await?, now);
            let full = json!({
                "code": "BACKPRESSURE",
                "message": reason,
                "retry_after": retry_after,
            });
            return Ok(Answer::new(503, full.to_string()));
        }
        // The request's rows stay one text (a "part"): buffering costs no JSON work per entry.
        // The flush splits it; a part whose entries fail is split into single rows then. The
        // sender says how many rows it holds, so only the first one (for the key) is looked at
        // here; without a count, the whole text is split.
        let (rows, first) = match q.n {
            Some(n) if n > 0 => (n as usize, first_row(body)),
            _ => match split_rows(body) {
                Some(all) => (all.len(), all.first().copied()),
                None => (0, None),
            },
        };
        let Some(first) = first else {
            if rows == 0 && body.trim() == "[]" {
                let none = json!({ "accepted": 0, "pending": held.entries });
                return Ok(Answer::new(200, none.to_string()));
            }
            return Ok(Answer::new(400, "rows refused: not a JSON array of rows"));
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
            return Ok(Answer::new(400, "rows refused: a row has no text id"));
        };
        // A part already buffered (a retried request) is skipped. Stored as a BLOB: bytes cross
        // into SQLite and back with a copy, where text is re-encoded one character at a time by
        // the wasm bindings (the largest cost of buffering a big part).
        self.sql().exec(
            "INSERT INTO pending (id, accepted_at, row, n, plain) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO NOTHING",
            vec![
                SqlStorageValue::from(key),
                now.into(),
                SqlStorageValue::Blob(stored.to_vec()),
                (rows as i64).into(),
                i64::from(q.plain == Some(1)).into(),
            ],
        )?;
        // One statement counts what the insert added (`changes()` is still the INSERT's) and
        // reads what the rest of this request needs.
        #[derive(Deserialize)]
        struct Counted {
            added: i64,
            registered: i64,
            backoff_until: Option<i64>,
            shard: Option<String>,
        }
        let counted: Counted = self
            .sql()
            .exec(
                "UPDATE stats SET accepted = accepted + changes() * ?2,
                     shard = coalesce(shard, ?1)
                 RETURNING changes() * ?2 AS added, registered, backoff_until, shard",
                vec![
                    q.shard
                        .clone()
                        .map_or(SqlStorageValue::Null, SqlStorageValue::from),
                    (rows as i64).into(),
                ],
            )?
            .one()?;
        let added = counted.added;
        let load = Load {
            entries: held.entries + added.max(0) as u64,
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
        if let (Some(app), true) = (q.app, added > 0) {
            self.publish_to_tail(app, || {
                if rows == 1 {
                    format!("[{first}]")
                } else {
                    body.to_string()
                }
            });
        }
        let done = json!({ "accepted": added, "pending": load.entries });
        Ok(Answer::new(200, done.to_string()))
    }

    /// Hands acknowledged rows to the app's live tail, unless the app is known to have none (then
    /// not even the rows' text is copied).
    fn publish_to_tail(&self, app: String, rows: impl FnOnce() -> String) {
        let tail = &self.tail;
        if tail.queue.borrow().is_empty() && tail.known_idle(&app, js_sys::Date::now()) {
            return;
        }
        tail.queue.borrow_mut().push_back((app, rows()));
        if !tail.draining.replace(true) {
            self.state
                .wait_until(self.tail.clone().drain(self.env.clone()));
        }
    }

    /// Records the shard in D1's `shards` directory (read by `GET /admin/status`), in the
    /// background: the ingest answer does not wait for it, and a failure is retried on the next
    /// ingest.
    fn register(&self, shard: Option<String>) {
        let Some(shard) = shard else { return };
        let Ok(db) = self.env.d1(DB_BINDING) else {
            return;
        };
        let sql = self.sql();
        let registering = self.registering.clone();
        registering.set(true);
        self.state.wait_until(async move {
            let now = JsValue::from_f64(now_ms() as f64);
            let stmt = db.prepare(
                "INSERT INTO shards (shard, first_seen) VALUES (?1, ?2) ON CONFLICT(shard) DO NOTHING",
            );
            let done = match stmt.bind(&[JsValue::from_str(&shard), now]) {
                Ok(s) => s.run().await.is_ok(),
                Err(_) => false,
            };
            if done {
                let _ = sql.exec("UPDATE stats SET registered = 1", None);
            }
            registering.set(false);
        });
    }

    /// Writes the oldest pending rows to D1, isolating rows that fail, and forgets exactly the
    /// rows written. Failed rows count an attempt; those out of attempts go to dead letters.
    async fn flush_once(&self, config: &Config, policy: BatchPolicy) -> Result<Flushed> {
        let rows = self.pending_rows(flush_limit(policy))?;
        if rows.is_empty() {
            return Ok(Flushed {
                read: 0,
                kept: 0,
                max_attempts: 0,
            });
        }
        let stats = self.stats()?;
        let injected = stats.fail_next > 0;
        if injected {
            self.sql()
                .exec("UPDATE stats SET fail_next = fail_next - 1", None)?;
        }
        if stats.slow_flush_ms > 0 {
            Delay::from(std::time::Duration::from_millis(stats.slow_flush_ms as u64)).await;
        }

        let db = self.env.d1(DB_BINDING)?;
        let db = &db;
        let routes = &config.routes;
        // A schema that cannot be brought up to date fails the flush like a failed write: the
        // rows count an attempt and stay (or reach dead letters), never a table that lacks them.
        let schema_error = if injected {
            None
        } else {
            self.ensure_schemas(db, routes).await.err()
        };
        let statements_for = |extract: Extract| {
            let firehose = insert_sql(&routes.firehose_table, &COLUMNS, extract);
            let plain = plain_insert_sql(&routes.firehose_table, extract);
            let per_route: Vec<String> = routes
                .routes
                .iter()
                .map(|r| {
                    let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
                    insert_sql(&r.table, &names, extract)
                })
                .collect();
            (firehose, plain, per_route)
        };
        let jsonb_sql = statements_for(Extract::Jsonb);
        let text_sql = statements_for(Extract::Text);
        // Every entry's row text, and the buffered row it belongs to.
        let mut texts: Vec<&str> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (k, r) in rows.iter().enumerate() {
            match (r.n, split_rows(&r.row)) {
                (n, Some(parts)) if n > 1 => texts.extend(parts),
                // A single row, or (never written by `ingest`) a part that does not split: it
                // travels as it is and fails on its own.
                _ => texts.push(&r.row),
            }
            owner.resize(texts.len(), k);
        }
        // For each route, the rows it receives (index into `texts`, route row), in row order.
        let projected = routes.project(&texts);
        let statements = Cell::new(0i64);
        let use_text = &self.text_extract;
        let per_statement = policy.max_batch_size as usize;
        // The statements that write `range`: the firehose's (plain rows with the narrow insert,
        // the others with the full one), then each route's for its rows.
        let prepare = |range: &Range<usize>, extract: Extract| -> Result<Vec<_>> {
            let (firehose_sql, plain_sql, route_sqls) = match extract {
                Extract::Jsonb => &jsonb_sql,
                Extract::Text => &text_sql,
            };
            let (plain, full): (Vec<usize>, Vec<usize>) =
                range.clone().partition(|i| rows[owner[*i]].plain == 1);
            let mut prepared = Vec::new();
            for (sql, group) in [(firehose_sql, full), (plain_sql, plain)] {
                let group: Vec<&str> = group.iter().map(|i| texts[*i]).collect();
                for chunk in chunk_rows(&group, MAX_PARAM_BYTES, per_statement) {
                    prepared.push(db.prepare(sql).bind(&[JsValue::from_str(&chunk)])?);
                }
            }
            for (sql, rows) in route_sqls.iter().zip(&projected) {
                let lo = rows.partition_point(|(i, _)| *i < range.start);
                let hi = rows.partition_point(|(i, _)| *i < range.end);
                let route_rows: Vec<&str> = rows[lo..hi].iter().map(|(_, r)| r.as_str()).collect();
                for chunk in chunk_rows(&route_rows, MAX_PARAM_BYTES, per_statement) {
                    prepared.push(db.prepare(sql).bind(&[JsValue::from_str(&chunk)])?);
                }
            }
            Ok(prepared)
        };
        let write = |range: Range<usize>| {
            let (statements, schema_error, prepare) = (&statements, schema_error.clone(), &prepare);
            async move {
                if injected {
                    return Err(INJECTED_FAILURE.to_string());
                }
                if let Some(e) = schema_error {
                    return Err(e);
                }
                loop {
                    let extract = if use_text.get() {
                        Extract::Text
                    } else {
                        Extract::Jsonb
                    };
                    let prepared = prepare(&range, extract).map_err(|e| e.to_string())?;
                    statements.set(statements.get() + prepared.len() as i64);
                    // One D1 batch is one transaction: an entry lands in the firehose and in all
                    // of its routes, or nowhere.
                    let failure = match db.batch(prepared).await {
                        Err(e) => Some(format!("D1: {e}")),
                        Ok(results) => results
                            .iter()
                            .find_map(|r| r.error())
                            .map(|e| format!("D1: {e}")),
                    };
                    match failure {
                        None => return Ok(()),
                        // A database without JSONB: the same write in the text form, at once
                        // and from now on (no attempt is counted for it).
                        Some(e) if extract == Extract::Jsonb && lacks_jsonb(&e) => {
                            console_error!("LogBatcher: {e}; writing without JSONB from now on");
                            use_text.set(true);
                        }
                        Some(e) => return Err(e),
                    }
                }
            }
        };
        let outcome = isolate(texts.len(), WRITE_BUDGET, write).await;
        let now = now_ms();

        // Buffered rows with no failed entry are done. A part with failed entries is replaced
        // by those entries as single rows, so retries, isolation and dead letters work per entry.
        let mut failed_in: Vec<Vec<(usize, &String)>> = vec![Vec::new(); rows.len()];
        for (i, error) in &outcome.failed {
            failed_in[owner[*i]].push((*i, error));
        }
        let mut entries_of = vec![0usize; rows.len()];
        for k in &owner {
            entries_of[*k] += 1;
        }
        let mut done = Vec::new();
        let mut failures: Vec<FailedEntry> = Vec::new();
        for (k, r) in rows.iter().enumerate() {
            let failed = &failed_in[k];
            let entries = entries_of[k];
            if failed.is_empty() {
                done.push(r.seq);
            } else if failed.len() < entries {
                failures.extend(self.explode(r, failed, &texts)?);
                done.push(r.seq);
            } else {
                // Nothing of it was written (D1 down, say): it stays whole and counts an
                // attempt as one.
                failures.extend(failed.iter().map(|(i, error)| FailedEntry {
                    seq: r.seq,
                    row: texts[*i].to_string(),
                    attempts: r.attempts,
                    first_failed_at: r.first_failed_at,
                    error: (*error).clone(),
                }));
            }
        }
        self.delete_seqs(&done)?;
        let written = outcome.written_count();

        let mut dead = Vec::new();
        let mut kept = 0;
        let mut max_attempts = 0;
        let mut failed_seqs = Vec::with_capacity(failures.len());
        for f in failures {
            let attempts = f.attempts + 1;
            failed_seqs.push(f.seq);
            if attempts >= config.max_retries {
                dead.push((
                    f.seq,
                    FailedRow {
                        row: f.row,
                        attempts,
                        first_failed_at: f.first_failed_at.unwrap_or(now),
                        error: f.error,
                    },
                ));
            } else {
                kept += 1;
                max_attempts = max_attempts.max(attempts);
            }
        }
        if !failed_seqs.is_empty() {
            self.sql().exec(
                "UPDATE pending SET attempts = attempts + 1,
                     first_failed_at = coalesce(first_failed_at, ?2)
                 WHERE seq IN (SELECT value FROM json_each(?1))",
                vec![
                    SqlStorageValue::from(json!(failed_seqs).to_string()),
                    now.into(),
                ],
            )?;
        }
        let dead_lettered = match self
            .dead_letter(&dead, stats.shard.as_deref(), &routes.firehose_table, now)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                // The rows stay (out of attempts): the next flush writes them again, and
                // tries the dead-letter store again if that fails too.
                console_error!("LogBatcher: dead-lettering {} rows failed: {e}", dead.len());
                kept += dead.len();
                max_attempts = max_attempts.max(config.max_retries);
                0
            }
        };

        let first_error = outcome.failed.first().map(|(_, e)| e.clone());
        self.sql().exec(
            "UPDATE stats SET flushed = flushed + ?1, dead_lettered = dead_lettered + ?2,
                 flushes = flushes + 1, d1_statements = d1_statements + ?3,
                 last_flush_at = CASE WHEN ?1 > 0 THEN ?4 ELSE last_flush_at END,
                 last_error = coalesce(?5, last_error),
                 last_error_at = CASE WHEN ?5 IS NULL THEN last_error_at ELSE ?4 END",
            vec![
                (written as i64).into(),
                (dead_lettered as i64).into(),
                statements.get().into(),
                now.into(),
                first_error.map_or(SqlStorageValue::Null, SqlStorageValue::from),
            ],
        )?;
        Ok(Flushed {
            read: texts.len(),
            kept,
            max_attempts,
        })
    }

    /// Moves rows to the dead-letter namespace; they leave the buffer only after every record
    /// was written. Returns how many rows moved.
    async fn dead_letter(
        &self,
        dead: &[(i64, FailedRow)],
        shard: Option<&str>,
        table: &str,
        now: i64,
    ) -> Result<usize> {
        if dead.is_empty() {
            return Ok(0);
        }
        let kv = self.env.kv(DEAD_LETTER_BINDING)?;
        let shard = shard.unwrap_or("unknown");
        let failed: Vec<FailedRow> = dead.iter().map(|(_, r)| r.clone()).collect();
        for record in dead_letter::records(&failed, shard, table, now, MAX_RECORD_BYTES) {
            let random =
                random_bytes::<6>().map_err(|e| worker::Error::RustError(e.to_string()))?;
            let key = dead_letter::record_key(now, shard, random);
            kv.put(&key, &record)?
                .metadata(record.meta())?
                .execute()
                .await?;
        }
        let seqs: Vec<i64> = dead.iter().map(|(seq, _)| *seq).collect();
        self.delete_seqs(&seqs)?;
        Ok(seqs.len())
    }

    /// Buffers the failed entries of a part as single rows (keeping its acceptance time and
    /// attempt history) and returns them with their new sequence numbers. The caller deletes the
    /// part; its other entries were written.
    fn explode(
        &self,
        part: &PendingRow,
        failed: &[(usize, &String)],
        texts: &[&str],
    ) -> Result<Vec<FailedEntry>> {
        let mut out = Vec::with_capacity(failed.len());
        for (i, error) in failed {
            let row = texts[*i];
            // An entry whose id is already buffered on its own stays there.
            let id = row_id(row).unwrap_or_else(|| format!("{}#{i}", part.seq));
            #[derive(Deserialize)]
            struct Seq {
                seq: i64,
            }
            let inserted: Vec<Seq> = self
                .sql()
                .exec(
                    "INSERT INTO pending (id, accepted_at, row, n, attempts, first_failed_at, plain)
                     VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)
                     ON CONFLICT(id) DO NOTHING RETURNING seq",
                    vec![
                        SqlStorageValue::from(id),
                        part.accepted_at.into(),
                        SqlStorageValue::from(row.to_string()),
                        (part.attempts as i64).into(),
                        part.first_failed_at
                            .map_or(SqlStorageValue::Null, SqlStorageValue::from),
                        part.plain.into(),
                    ],
                )?
                .to_array()?;
            if let Some(s) = inserted.first() {
                out.push(FailedEntry {
                    seq: s.seq,
                    row: row.to_string(),
                    attempts: part.attempts,
                    first_failed_at: part.first_failed_at,
                    error: (*error).clone(),
                });
            }
        }
        Ok(out)
    }

    /// The oldest pending rows holding up to `limit` entries (a part counts its entries), and
    /// always at least one row. Read as raw values: the row text arrives as bytes (BLOB) with one
    /// copy; rows buffered as TEXT by earlier versions are read too.
    fn pending_rows(&self, limit: usize) -> Result<Vec<PendingRow>> {
        let cursor = self.sql().exec(
            "SELECT seq, accepted_at, row, n, plain, attempts, first_failed_at FROM (
                 SELECT *, sum(n) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS upto
                 FROM pending)
             WHERE upto - n < ?1 ORDER BY seq",
            vec![(limit as i64).into()],
        )?;
        let int = |v: &SqlStorageValue| match v {
            SqlStorageValue::Integer(i) => Some(*i),
            SqlStorageValue::Float(f) => Some(*f as i64),
            _ => None,
        };
        let mut rows = Vec::new();
        for values in cursor.raw() {
            let mut values = values?;
            let [seq, accepted_at, row, n, plain, attempts, first_failed_at] =
                values.as_mut_slice()
            else {
                return Err(worker::Error::RustError(
                    "pending: unexpected columns".into(),
                ));
            };
            let row = match std::mem::replace(row, SqlStorageValue::Null) {
                SqlStorageValue::String(s) => s,
                SqlStorageValue::Blob(b) => String::from_utf8(b).unwrap_or_else(|e| {
                    // Never written by `ingest` (it refuses non-UTF-8); kept lossily so the row
                    // still reaches D1 or the dead letters rather than blocking the shard.
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }),
                _ => String::new(),
            };
            rows.push(PendingRow {
                seq: int(seq).unwrap_or_default(),
                accepted_at: int(accepted_at).unwrap_or_default(),
                row,
                n: int(n).unwrap_or(1),
                plain: int(plain).unwrap_or_default(),
                attempts: int(attempts).unwrap_or_default() as u32,
                first_failed_at: int(first_failed_at),
            });
        }
        Ok(rows)
    }

    fn delete_seqs(&self, seqs: &[i64]) -> Result<()> {
        if !seqs.is_empty() {
            self.sql().exec(
                "DELETE FROM pending WHERE seq IN (SELECT value FROM json_each(?1))",
                vec![SqlStorageValue::from(json!(seqs).to_string())],
            )?;
        }
        Ok(())
    }

    fn stats(&self) -> Result<Stats> {
        self.sql()
            .exec("SELECT * FROM stats WHERE id = 1", None)?
            .one()
    }

    fn summary(&self) -> Result<PendingSummary> {
        self.sql()
            .exec(
                "SELECT coalesce(sum(n), 0) AS pending, coalesce(sum(length(row)), 0) AS bytes,
                        min(accepted_at) AS oldest,
                        coalesce(sum(CASE WHEN first_failed_at IS NULL THEN 0 ELSE n END), 0)
                            AS failing
                 FROM pending",
                None,
            )?
            .one()
    }

    fn load(&self) -> Result<Load> {
        if let Some(load) = self.load.get() {
            return Ok(load);
        }
        let s = self.summary()?;
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
