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
//! `scripts/check-repo` holds the line between them, and fails when a module below the edge
//! imports it.
//! - `http`: the edge. The `router` and one module per resource in `api`, the `rpc` entrypoints
//!   (`LoggerRpc`, `LoggerService`), the `tail_worker` handler, the `error` type with its codes
//!   (the only place that knows it), the `envelope` and request bodies. Adapters only: each
//!   turns its wire form into a use case's input and the result back.
//! - `ingest`: raw input becomes entries. `intake` is the one ingest use case; `rest`, `otlp`,
//!   `loki` (with `protobuf`, `snappy`) and `tail_worker` parse their forms, `enrich` reads a
//!   forwarded request, `prepare` names, redacts and shards, `deliver` hands parts to the
//!   LogBatchers; `error` is the stage's error.
//! - `batch`: the `log_batcher` Durable Object (`buffer`, `flush`, `tail_publisher`, and its
//!   typed calls in `protocol`), its `policy`, `part`s, `poison` isolation, the `settle`
//!   decision after a flush, `dead_letter` records and their `replay`, the operator's `status`
//!   report, and `fault_injection`.
//! - `store`: D1's log tables. `schema`, `route`s and their `filter`s, `insert` SQL,
//!   `retention`, the `space` policy; shell: `tables` (migrations, retention runs, prunes, room)
//!   and the row `writer`; `error` is the stage's error.
//! - `apps`: apps and their keys: ids, keys and records (`app`), a request's `credential`, the
//!   `registry` in KV, and app `deletion`.
//! - `read`: `query` (filters, SQL, pages) and `stats`, run by the `reader` use cases (typed
//!   `Page`, `Counts`); the `live_tail` and its `tail_hub` Durable Object; `url_checks` of apps'
//!   URLs and their `health_checker` Durable Object; `error`.
//! - `model`: what every stage shares: the log `entry` and its `columns`, `level`, `id`s,
//!   `time`stamps, `sql` identifiers, `json` nesting, `secret`s; `error`.
//! - `platform` (shell): bindings and the configuration cache, the one clock, D1 reads and the
//!   `Metered` tally with what D1 bills (`usage`, pure) and the `usage_meter` Durable Object that
//!   keeps it, KV, decompression, and `rpc`, the wire form of every call between the fetch
//!   handler and a Durable Object; `error` (pure).
//! - `cron`: the scheduled handler: retention, and the next step of every app deletion.
//! - `config`: typed configuration from vars and secrets, with every default; `cors` origins.
//!
//! # The path of a log
//! `http::router` → an adapter (`http::api::logs`, `otlp`, `loki`, `forwarded`; `http::rpc`;
//! `http::tail_worker`) authenticates (`apps::registry`) and parses → `ingest::intake`
//! (`prepare`) → `ingest::deliver` → `BatcherStub::ingest` → `LogBatcher` (SQLite `buffer`,
//! alarm per `batch::policy`) → `batch::log_batcher::flush` → D1's firehose and the matching
//! route tables via `store::writer`, `store::route` and `store::insert` (failing rows:
//! `batch::poison` → `batch::settle` → retries → `batch::dead_letter` in KV → replay). Later,
//! `cron` → `store::tables::run_retention` prunes by `store::retention`; the read side
//! (`read::reader`, `read::live_tail`, `read::url_checks`) serves queries, stats, live tails and
//! health checks.

pub mod apps;
pub mod batch;
pub mod config;
pub mod cron;
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
    cron::run(&env).await;
}
