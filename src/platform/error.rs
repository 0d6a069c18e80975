//! The platform's error: a binding or the configuration missing, a runtime service (D1, KV, a
//! Durable Object, the network) failing, a body the runtime could not decompress. Pure, so every
//! stage's error can carry it; the shell sorts what the runtime throws into it
//! (`From<worker::Error>` in `platform::bindings`).

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlatformError {
    /// A var, a route or a binding is missing or malformed (the message names it).
    #[error("the logger's configuration is invalid: {0}")]
    ConfigInvalid(String),
    /// D1, KV, a Durable Object or the runtime failed or did not answer: retry later.
    #[error("log storage is unavailable: {0}")]
    Unavailable(String),
    /// A bug: the logger's own (de)serialization failed, or there was no randomness.
    #[error("internal error: {0}")]
    Internal(String),
    /// A compressed body the runtime could not decompress.
    #[error("{0}")]
    BadBody(String),
    /// A body past its limit once decompressed.
    #[error("request body is {size} bytes; the limit is {limit}")]
    BodyTooLarge { size: usize, limit: usize },
}
