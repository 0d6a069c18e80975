//! Ingest's error: why input was refused (each kind with the message a client reads), or why
//! accepted entries could not be handed to their LogBatchers. The edge maps each kind to its
//! stable code and status (`http::error`), so the texts here are the API's texts.

use crate::model::error::ModelError;
use crate::platform::error::PlatformError;
use crate::store::error::StoreError;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IngestError {
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidEntry(String),
    #[error("request body is not a valid protobuf message: {0}")]
    InvalidProtobuf(String),
    #[error("{0}")]
    InvalidLevel(String),
    #[error("{0}")]
    InvalidTimestamp(String),
    #[error("{0}")]
    MessageTooLong(String),
    #[error("{0}")]
    InvalidLogData(String),
    #[error("the batch has no entries")]
    EmptyBatch,
    #[error("{0}")]
    NestingTooDeep(String),
    #[error("request body is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("the batch has {count} entries; the limit is {limit}")]
    TooManyEntries { count: usize, limit: usize },
    /// A shard's buffer is full: retry after the seconds given.
    #[error("the shard's buffer is full ({0}); retry after {1} s")]
    Backpressure(String, u64),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The app registry failed under a lookup (Tail Worker deliveries name their apps).
    #[error(transparent)]
    Store(#[from] StoreError),
}
