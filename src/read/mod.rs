//! The read side: queries, stats, live tail and health checks.
pub mod health;
pub mod health_checker;
pub mod query;
pub mod stats;
pub mod tail;
pub mod tail_hub;
