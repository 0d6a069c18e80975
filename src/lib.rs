//! d1-logger: a log pipeline for Cloudflare Workers, in Rust.
//!
//! Workers send logs fire-and-forget, either by forwarding their own `Request` over a service
//! binding (with `X-Log-Key`) or by posting JSON to `POST /logs` with an API key. Each entry is
//! enriched, routed to a `LogBatcher` Durable Object sharded by colo and time bucket, buffered
//! durably there, and flushed to D1 in bulk when the batch is full or its alarm fires.
//!
//! # Layout
//! A folder per stage of a log's path. Pure modules never touch the runtime and are unit-tested
//! on the host; shell modules (first doc line `Shell:`) do, thinly, and are covered end to end.
//! `scripts/check-repo` holds the line between them.
//! - `model`: what every stage shares: the log `entry` and its row encoding, the firehose
//!   `columns` table, `level`, `id`s, `time`stamps, `app` ids and keys, `sql` identifiers,
//!   `json` nesting, `secret`s and their forms.
//! - `ingest`: raw input becomes entries: `rest` bodies, `enrich`ed forwarded requests, the shared
//!   `prepare` step (id, redaction, shard), `shard` ids and parts, `debug` fault flags, and
//!   `deliver` (shell) to the LogBatchers.
//! - `batch`: the `log_batcher` Durable Object (shell: object, `buffer`, `flush`,
//!   `tail_publisher`, and its typed calls in `protocol`), its `policy`, `part`s, `poison`
//!   isolation, the `settle` decision after a flush, `dead_letter` records and their `replay`
//!   (shell).
//! - `store`: D1 and KV: `schema`, `route`s and their `filter`s, `insert` SQL, `retention`, the
//!   `space` policy under `MAX_DB_BYTES`, D1 `usage`; shell: `tables` (the D1 adapter:
//!   migrations, retention runs, prunes, room), the row `writer`, app `deletion`, `cron`, the app
//!   `registry`, and the `usage_meter` Durable Object (what every statement besides flushes cost).
//! - `read`: `query`, `stats`, `tail` (and the `tail_hub` Durable Object), `health` (and the
//!   `health_checker` Durable Object), each object with its `protocol`.
//! - `http`: the `router` (shell), the `error` type with its codes, the `envelope` (shell), and
//!   `api::*`, one shell module per resource.
//! - `platform` (shell): bindings and the configuration cache, the clock, D1 reads and the
//!   `Metered` tally of every statement, and `rpc`,
//!   the wire form of every call between the fetch handler and a Durable Object.
//! - `config`: typed configuration from vars and secrets, with every default.
//!
//! # The path of a log
//! `http::router` → `http::api::forwarded` or `http::api::logs` (authenticate with
//! `store::registry`, build entries with `ingest::enrich`/`ingest::rest`, then
//! `ingest::prepare`) → `ingest::deliver` → `BatcherStub::ingest` → `LogBatcher` (SQLite
//! `buffer`, alarm per `batch::policy`) → `batch::log_batcher::flush` → D1's firehose and the
//! matching route tables via `store::route` and `store::insert` (failing rows: `batch::poison` →
//! `batch::settle` → retries → `batch::dead_letter` in KV → `http::api::admin` replay). Later,
//! `store::cron` → `store::tables::run_retention` prunes by `store::retention`; the read side
//! (`read::*`) serves queries, stats, live tails and health checks.

pub mod batch;
pub mod config;
pub mod http;
pub mod ingest;
pub mod model;
pub mod platform;
pub mod read;
pub mod store;

use worker::{event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    http::router::handle(req, env, ctx).await
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    store::cron::run(&env).await;
}
