//! Ingest: raw input becomes log entries, stamped with their shard and handed to LogBatchers.
pub mod deliver;
pub mod enrich;
pub mod error;
pub mod intake;
pub mod loki;
pub mod otlp;
pub mod prepare;
pub mod protobuf;
pub mod rest;
pub mod shard;
pub mod snappy;
pub mod tail_worker;
