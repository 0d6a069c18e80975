//! The read side: queries, stats, live tail and health checks.
pub mod error;
pub mod health_checker;
pub mod live_tail;
pub mod query;
pub mod reader;
pub mod stats;
pub mod tail_hub;
pub mod url_checks;
