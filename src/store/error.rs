//! The store's error: the app registry's refusals (a key that is not valid, an id that is
//! taken), a prune that is malformed, or the platform failing under D1 or KV. The edge maps each
//! kind to its stable code and status (`http::error`).

use crate::model::error::ModelError;
use crate::platform::error::PlatformError;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A missing, wrong or revoked key.
    #[error("{0}")]
    Unauthorized(String),
    #[error("app {0:?} already exists")]
    AppExists(String),
    #[error("{0}")]
    InvalidPrune(String),
    #[error("{0}")]
    InvalidTimestamp(String),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

/// D1's refusal of a write, in D1's words: poison isolation tells a row's own error from an
/// outage by them (`batch::poison::is_row_error`), and the words are what an operator sees.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct WriteError(pub String);
