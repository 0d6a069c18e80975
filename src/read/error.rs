//! The read side's error: a query, a filter, a cursor or a set of health-check URLs that is
//! refused (with the message a client reads), or the platform failing under a read. The edge maps
//! each kind to its stable code and status (`http::error`).

use crate::model::error::ModelError;
use crate::platform::error::PlatformError;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReadError {
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidLevel(String),
    #[error("{0}")]
    InvalidTimestamp(String),
    #[error("{0}")]
    InvalidLimit(String),
    #[error("{0}")]
    InvalidCursor(String),
    #[error("{0}")]
    InvalidHealthUrls(String),
    #[error("search: this logger keeps no search index (SEARCH_INDEX=none)")]
    SearchDisabled,
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}
