//! The logger's HTTP API, one module per resource. Each handler returns `Result<Response,
//! ApiError>`; `router` turns errors into the JSON envelope.

pub mod access;
pub mod admin;
pub mod apps;
pub mod dashboard;
pub mod forwarded;
pub mod health_urls;
pub mod live_tail;
pub mod logs;
pub mod loki;
pub mod me;
pub mod otlp;
pub mod prune;
pub mod query;
pub mod service_health;
pub mod stats;
