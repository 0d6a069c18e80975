//! The end-to-end suite: the real worker in `wrangler dev` (workerd with local D1, KV and
//! Durable Objects), driven over HTTP and through the parent fixture's service binding, rows
//! read back from the D1 file. One binary, so it compiles once and the migrated template
//! database (`harness`) is made once; one module per feature.

mod harness;

mod apps;
mod batching;
mod clients;
mod cost;
mod dashboard;
mod design_api;
mod failures;
mod forwarded;
mod health;
mod load;
mod query;
mod redaction;
mod refusals;
mod rest_ingest;
mod routes;
mod rpc;
mod space;
mod stats;
pub(crate) mod tail;
mod tail_workers;
