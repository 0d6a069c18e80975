//! Storage in D1 and KV: schemas, routes and filters, insert SQL, retention.
pub mod error;
pub mod filter;
pub mod insert;
pub mod retention;
pub mod route;
pub mod schema;
pub mod space;
pub mod tables;
pub mod writer;
