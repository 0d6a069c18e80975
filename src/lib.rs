//! d1-logger: a log pipeline for Cloudflare Workers, in Rust.
//!
//! Workers send logs fire-and-forget, either by forwarding their own `Request` over a service
//! binding (with `X-Log-Key`) or by posting JSON to `POST /logs` with an API key. Each entry is
//! enriched, routed to a `LogBatcher` Durable Object sharded by colo and time bucket, buffered
//! durably there, and flushed to D1 in bulk when the batch is full or its alarm fires.
//!
//! # Layout
//! Pure core (no `worker` types, unit-tested on the host):
//! - `config`: typed configuration from vars and secrets, with every default.
//! - `level`: log levels.
//! - `entry`: the log entry, its row encoding, ids and secret redaction.
//! - `enrich`: a forwarded request (as plain data) becomes an entry; what is never stored.
//! - `rest`: `POST /logs` bodies become validated drafts.
//! - `apps`: app ids, API key generation, hashing and constant-time comparison.
//! - `shard`: shard ids and splitting a batch by shard.
//! - `batch`: when a LogBatcher's alarm fires (size and interval policy).
//! - `flush`: the bulk-insert SQL and its chunking within D1's limits.
//! - `poison`: isolating the rows of a failed write that fail on their own (bisection).
//! - `dead_letter`: dead-letter records, their keys and size split.
//! - `debug`: `X-Debug-Flags` fault injection (only with `DEBUG_FLAGS=true`).
//! - `error`: the API error type, its codes and statuses.
//! - `filter`: declarative route filters (fields, operators, all/any/not) and their evaluation.
//! - `route`: the firehose and `LOG_ROUTES`: parsing, route tables' columns, typed route rows.
//! - `schema`: log table DDL, schema hashes, migrations that only add.
//! - `retention`: when a table is due for pruning, cut-offs, chunked delete statements.
//! - `query`: `GET /logs` filters, full-text search terms, keyset pages, their SQL.
//! - `stats`: `GET /stats/:app_id`: the day range, its statement, every day with its counts.
//! - `health`: health-check URLs, what an outcome means, result retention, the status answer.
//! - `tail`: live tail filters, messages and flow control (acknowledgements, slow consumers).
//!
//! Imperative shell:
//! - `router`: dispatch; `api::*`: one module per HTTP resource, `api::access` who may act for an
//!   app; `http`: envelope and helpers (query strings, D1 reads, alarm times).
//! - `registry`: the app registry in KV. `ingest`: delivery to LogBatchers.
//! - `log_batcher`: the Durable Object (durable buffer, alarm, flush to D1, retries, dead letters,
//!   backpressure). `api::admin`: status and the dead-letter operator API.
//! - `tables`: schema migration, retention runs and app prunes against D1. `cron`: the
//!   scheduled handler (retention). `api::prune`: `POST /apps/:app_id/prune`.
//! - `api::query`, `api::stats`: the read side. `health_checker`: the Durable Object that checks
//!   an app's URLs on its alarm; `api::health_urls` registers them and shows the results.
//! - `tail_hub`: the Durable Object that holds an app's live-tail WebSockets; `api::tail` hands
//!   out tokens and connects clients to it; LogBatchers publish to it what they acknowledge.
//!
//! # The path of a log
//! `router` → `api::forwarded` or `api::logs` (authenticate with `registry`, build entries with
//! `enrich`/`rest`, pick shards with `shard`) → `ingest::deliver` → `LogBatcher::ingest` (SQLite
//! buffer, alarm per `batch`) → `LogBatcher::alarm` → D1 `logs` and the matching route tables
//! via `route` and `flush` (failing rows: `poison` → retries → `dead_letter` in KV →
//! `api::admin` replay). Later, `cron` → `tables::run_retention` prunes by `retention`.

pub mod apps;
pub mod batch;
pub mod config;
pub mod dead_letter;
pub mod debug;
pub mod enrich;
pub mod entry;
pub mod error;
pub mod filter;
pub mod flush;
pub mod health;
pub mod level;
pub mod poison;
pub mod query;
pub mod rest;
pub mod retention;
pub mod route;
pub mod schema;
pub mod shard;
pub mod stats;
pub mod tail;

pub mod api;
pub mod cron;
pub mod health_checker;
pub mod http;
pub mod ingest;
pub mod log_batcher;
pub mod registry;
pub mod router;
pub mod tables;
pub mod tail_hub;

use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    router::handle(req, env).await
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    cron::run(&env).await;
}
