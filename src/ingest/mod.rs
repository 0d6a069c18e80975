//! Ingest: raw input becomes log entries, stamped with their shard and handed to LogBatchers.
pub mod debug;
pub mod deliver;
pub mod enrich;
pub mod prepare;
pub mod rest;
pub mod shard;
