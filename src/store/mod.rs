//! Storage in D1 and KV: schemas, routes and filters, insert SQL, retention.
pub mod cron;
pub mod deletion;
pub mod error;
pub mod filter;
pub mod insert;
pub mod registry;
pub mod retention;
pub mod route;
pub mod schema;
pub mod space;
pub mod tables;
pub mod usage;
pub mod usage_meter;
pub mod writer;
