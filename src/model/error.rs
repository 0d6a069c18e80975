//! The model's error: a value that is not what the model's types allow (an app id, an app's
//! name, its JSON body). Each stage's error carries it; the edge maps it to its code.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// A malformed app id or app name (the message names which and why).
    #[error("{0}")]
    InvalidApp(String),
    /// A body that should be JSON and is not.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
}
