//! The HTTP API's error type: every way a request can fail, with its stable code and status.
//!
//! Pure: the shell (`http::envelope`) turns an [`ApiError`] into the JSON envelope
//! `{ "ok": false, "error": { "code", "message", "request_id" } }`. Codes are part of the API
//! contract; clients match on them, so they never change meaning.

use crate::batch::fault_injection::InvalidFlags;
use crate::ingest::error::IngestError;
use crate::model::error::ModelError;
use crate::platform::error::PlatformError;
use crate::read::error::ReadError;
use crate::store::error::StoreError;
use serde_json::{json, Value};
use thiserror::Error;

/// Every way an HTTP request can fail: the one error type of the HTTP boundary.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ApiError {
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidEntry(String),
    #[error("request body is not a valid protobuf message: {0}")]
    InvalidProtobuf(String),
    #[error("{0}")]
    UnsupportedEncoding(String),
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
    #[error("X-Debug-Flags: {0}")]
    InvalidDebugFlags(String),
    #[error("{0}")]
    InvalidDeadLetter(String),
    #[error("{0}")]
    InvalidPrune(String),
    #[error("no dead letter {0:?}")]
    DeadLetterNotFound(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("search: this logger keeps no search index (SEARCH_INDEX=none)")]
    SearchDisabled,
    #[error("{0}")]
    InvalidLimit(String),
    #[error("{0}")]
    InvalidCursor(String),
    #[error("no log entry {0:?} in this app")]
    LogNotFound(String),
    #[error("{0}")]
    InvalidHealthUrls(String),
    #[error("{0}")]
    UpgradeRequired(String),
    #[error("{0}")]
    TooManyTails(String),
    #[error("the shard's buffer is full ({0}); retry after {1} s")]
    Backpressure(String, u64),
    #[error("request body is {size} bytes; the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("the batch has {count} entries; the limit is {limit}")]
    TooManyEntries { count: usize, limit: usize },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    AppMismatch(String),
    #[error("{0}")]
    OriginNotAllowed(String),
    #[error("{0}")]
    InvalidApp(String),
    #[error("app {0:?} already exists")]
    AppExists(String),
    #[error("no app {0:?}")]
    AppNotFound(String),
    #[error("no route for {method} {path}")]
    NotFound { method: String, path: String },
    #[error("{method} is not allowed on {path}; allowed: {allowed}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: &'static str,
    },
    #[error("the logger's configuration is invalid: {0}")]
    ConfigInvalid(String),
    #[error("the admin API is disabled: set the ADMIN_API_KEY secret")]
    AdminDisabled,
    #[error("log storage is unavailable: {0}")]
    StorageUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "INVALID_JSON",
            ApiError::InvalidEntry(_) => "INVALID_ENTRY",
            ApiError::InvalidProtobuf(_) => "INVALID_PROTOBUF",
            ApiError::UnsupportedEncoding(_) => "UNSUPPORTED_ENCODING",
            ApiError::InvalidLevel(_) => "INVALID_LEVEL",
            ApiError::InvalidTimestamp(_) => "INVALID_TIMESTAMP",
            ApiError::MessageTooLong(_) => "MESSAGE_TOO_LONG",
            ApiError::InvalidLogData(_) => "INVALID_LOG_DATA",
            ApiError::EmptyBatch => "EMPTY_BATCH",
            ApiError::NestingTooDeep(_) => "NESTING_TOO_DEEP",
            ApiError::InvalidDebugFlags(_) => "INVALID_DEBUG_FLAGS",
            ApiError::InvalidDeadLetter(_) => "INVALID_DEAD_LETTER",
            ApiError::InvalidPrune(_) => "INVALID_PRUNE",
            ApiError::InvalidFilter(_) => "INVALID_FILTER",
            ApiError::SearchDisabled => "SEARCH_DISABLED",
            ApiError::InvalidLimit(_) => "INVALID_LIMIT",
            ApiError::InvalidCursor(_) => "INVALID_CURSOR",
            ApiError::LogNotFound(_) => "LOG_NOT_FOUND",
            ApiError::InvalidHealthUrls(_) => "INVALID_HEALTH_URLS",
            ApiError::UpgradeRequired(_) => "UPGRADE_REQUIRED",
            ApiError::TooManyTails(_) => "TOO_MANY_TAILS",
            ApiError::DeadLetterNotFound(_) => "DEAD_LETTER_NOT_FOUND",
            ApiError::Backpressure(..) => "BACKPRESSURE",
            ApiError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            ApiError::TooManyEntries { .. } => "TOO_MANY_ENTRIES",
            ApiError::Unauthorized(_) => "UNAUTHORIZED",
            ApiError::AppMismatch(_) => "APP_MISMATCH",
            ApiError::OriginNotAllowed(_) => "ORIGIN_NOT_ALLOWED",
            ApiError::InvalidApp(_) => "INVALID_APP",
            ApiError::AppExists(_) => "APP_EXISTS",
            ApiError::AppNotFound(_) => "APP_NOT_FOUND",
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            ApiError::ConfigInvalid(_) => "CONFIG_INVALID",
            ApiError::AdminDisabled => "ADMIN_DISABLED",
            ApiError::StorageUnavailable(_) => "STORAGE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidEntry(_)
            | ApiError::InvalidProtobuf(_)
            | ApiError::InvalidLevel(_)
            | ApiError::InvalidTimestamp(_)
            | ApiError::MessageTooLong(_)
            | ApiError::InvalidLogData(_)
            | ApiError::EmptyBatch
            | ApiError::NestingTooDeep(_)
            | ApiError::InvalidDebugFlags(_)
            | ApiError::InvalidDeadLetter(_)
            | ApiError::InvalidPrune(_)
            | ApiError::InvalidFilter(_)
            | ApiError::SearchDisabled
            | ApiError::InvalidLimit(_)
            | ApiError::InvalidCursor(_)
            | ApiError::InvalidHealthUrls(_)
            | ApiError::InvalidApp(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::AppMismatch(_) | ApiError::OriginNotAllowed(_) => 403,
            ApiError::AppNotFound(_)
            | ApiError::DeadLetterNotFound(_)
            | ApiError::LogNotFound(_)
            | ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::UnsupportedEncoding(_) => 415,
            ApiError::AppExists(_) => 409,
            ApiError::UpgradeRequired(_) => 426,
            ApiError::TooManyTails(_) => 429,
            ApiError::PayloadTooLarge { .. } | ApiError::TooManyEntries { .. } => 413,
            ApiError::Internal(_) => 500,
            ApiError::ConfigInvalid(_)
            | ApiError::AdminDisabled
            | ApiError::Backpressure(..)
            | ApiError::StorageUnavailable(_) => 503,
        }
    }

    /// Seconds a client should wait before retrying (`Retry-After`), where that is known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Backpressure(_, secs) => Some(*secs),
            _ => None,
        }
    }

    /// The JSON error envelope.
    pub fn body(&self, request_id: &str) -> Value {
        json!({
            "ok": false,
            "error": {
                "code": self.code(),
                "message": self.to_string(),
                "request_id": request_id,
            }
        })
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::InvalidJson(m) => ApiError::InvalidJson(m),
            IngestError::InvalidEntry(m) => ApiError::InvalidEntry(m),
            IngestError::InvalidProtobuf(m) => ApiError::InvalidProtobuf(m),
            IngestError::InvalidLevel(m) => ApiError::InvalidLevel(m),
            IngestError::InvalidTimestamp(m) => ApiError::InvalidTimestamp(m),
            IngestError::MessageTooLong(m) => ApiError::MessageTooLong(m),
            IngestError::InvalidLogData(m) => ApiError::InvalidLogData(m),
            IngestError::EmptyBatch => ApiError::EmptyBatch,
            IngestError::NestingTooDeep(m) => ApiError::NestingTooDeep(m),
            IngestError::PayloadTooLarge { size, limit } => {
                ApiError::PayloadTooLarge { size, limit }
            }
            IngestError::TooManyEntries { count, limit } => {
                ApiError::TooManyEntries { count, limit }
            }
            IngestError::Backpressure(m, secs) => ApiError::Backpressure(m, secs),
            IngestError::Model(e) => e.into(),
            IngestError::Platform(e) => e.into(),
            IngestError::Store(e) => e.into(),
        }
    }
}

impl From<InvalidFlags> for ApiError {
    fn from(e: InvalidFlags) -> Self {
        ApiError::InvalidDebugFlags(e.0)
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::InvalidFilter(m) => ApiError::InvalidFilter(m),
            ReadError::InvalidLevel(m) => ApiError::InvalidLevel(m),
            ReadError::InvalidTimestamp(m) => ApiError::InvalidTimestamp(m),
            ReadError::InvalidLimit(m) => ApiError::InvalidLimit(m),
            ReadError::InvalidCursor(m) => ApiError::InvalidCursor(m),
            ReadError::InvalidHealthUrls(m) => ApiError::InvalidHealthUrls(m),
            ReadError::SearchDisabled => ApiError::SearchDisabled,
            ReadError::Model(e) => e.into(),
            ReadError::Platform(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unauthorized(m) => ApiError::Unauthorized(m),
            StoreError::AppExists(m) => ApiError::AppExists(m),
            StoreError::InvalidPrune(m) => ApiError::InvalidPrune(m),
            StoreError::InvalidTimestamp(m) => ApiError::InvalidTimestamp(m),
            StoreError::Model(e) => e.into(),
            StoreError::Platform(e) => e.into(),
        }
    }
}

/// The stable code a stage's error is answered with, for the stages' own unit tests (the
/// mapping lives here, at the edge, once).
#[cfg(test)]
macro_rules! code_in_tests {
    ($($stage:ty),*) => {$(
        impl $stage {
            pub fn code(&self) -> &'static str {
                ApiError::from(self.clone()).code()
            }
        }
    )*};
}
#[cfg(test)]
code_in_tests!(
    IngestError,
    ReadError,
    StoreError,
    ModelError,
    PlatformError,
    InvalidFlags
);

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::InvalidApp(m) => ApiError::InvalidApp(m),
            ModelError::InvalidJson(m) => ApiError::InvalidJson(m),
        }
    }
}

impl From<PlatformError> for ApiError {
    fn from(e: PlatformError) -> Self {
        match e {
            PlatformError::ConfigInvalid(m) => ApiError::ConfigInvalid(m),
            PlatformError::Unavailable(m) => ApiError::StorageUnavailable(m),
            PlatformError::Internal(m) => ApiError::Internal(m),
            PlatformError::BadBody(m) => ApiError::InvalidEntry(m),
            PlatformError::BodyTooLarge { size, limit } => {
                ApiError::PayloadTooLarge { size, limit }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every kind.
    fn every() -> Vec<ApiError> {
        let s = || String::from("x");
        vec![
            ApiError::InvalidJson(s()),
            ApiError::InvalidEntry(s()),
            ApiError::InvalidProtobuf(s()),
            ApiError::UnsupportedEncoding(s()),
            ApiError::InvalidLevel(s()),
            ApiError::InvalidTimestamp(s()),
            ApiError::MessageTooLong(s()),
            ApiError::InvalidLogData(s()),
            ApiError::EmptyBatch,
            ApiError::NestingTooDeep(s()),
            ApiError::InvalidDebugFlags(s()),
            ApiError::InvalidDeadLetter(s()),
            ApiError::InvalidPrune(s()),
            ApiError::DeadLetterNotFound(s()),
            ApiError::InvalidFilter(s()),
            ApiError::SearchDisabled,
            ApiError::InvalidLimit(s()),
            ApiError::InvalidCursor(s()),
            ApiError::LogNotFound(s()),
            ApiError::InvalidHealthUrls(s()),
            ApiError::UpgradeRequired(s()),
            ApiError::TooManyTails(s()),
            ApiError::Backpressure(s(), 1),
            ApiError::PayloadTooLarge { size: 2, limit: 1 },
            ApiError::TooManyEntries { count: 2, limit: 1 },
            ApiError::Unauthorized(s()),
            ApiError::AppMismatch(s()),
            ApiError::OriginNotAllowed(s()),
            ApiError::InvalidApp(s()),
            ApiError::AppExists(s()),
            ApiError::AppNotFound(s()),
            ApiError::NotFound {
                method: s(),
                path: s(),
            },
            ApiError::MethodNotAllowed {
                method: s(),
                path: s(),
                allowed: "GET",
            },
            ApiError::ConfigInvalid(s()),
            ApiError::AdminDisabled,
            ApiError::StorageUnavailable(s()),
            ApiError::Internal(s()),
        ]
    }

    /// The `(status, code)` pairs of a document's error tables: rows whose first cell is a status.
    fn documented(doc: &str) -> Vec<(u16, String)> {
        let mut out = Vec::new();
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let Some(status) = cells.get(1).and_then(|c| c.parse::<u16>().ok()) else {
                continue;
            };
            let codes = cells.get(2).copied().unwrap_or_default();
            for code in codes.split('`').skip(1).step_by(2) {
                out.push((status, code.to_string()));
            }
        }
        out
    }

    #[test]
    fn every_error_code_is_documented_with_its_status() {
        let errors = every();
        // `every` lists each kind once: as many as `code` has arms.
        let source = include_str!("error.rs");
        let code_fn = &source[source.find("fn code(").unwrap()..source.find("fn status(").unwrap()];
        assert_eq!(
            errors.len(),
            code_fn.matches("=> \"").count(),
            "every() misses a kind"
        );
        let docs = [(
            "docs/reference/errors.md",
            include_str!("../../docs/reference/errors.md"),
        )];
        for (name, doc) in docs {
            let table = documented(doc);
            for e in &errors {
                let want = (e.status(), e.code().to_string());
                assert!(table.contains(&want), "{name} lacks {want:?}");
            }
            for (status, code) in &table {
                assert!(
                    errors
                        .iter()
                        .any(|e| e.code() == code && e.status() == *status),
                    "{name} documents {status} {code}, which the API never answers"
                );
            }
        }
    }

    #[test]
    fn client_mistakes_are_4xx_and_server_trouble_is_5xx() {
        let client = [
            ApiError::InvalidJson("x".into()),
            ApiError::EmptyBatch,
            ApiError::PayloadTooLarge { size: 2, limit: 1 },
            ApiError::TooManyEntries { count: 2, limit: 1 },
            ApiError::Unauthorized("x".into()),
            ApiError::AppMismatch("x".into()),
            ApiError::AppExists("x".into()),
        ];
        assert!(client.iter().all(|e| (400..500).contains(&e.status())));
        let server = [
            ApiError::ConfigInvalid("x".into()),
            ApiError::StorageUnavailable("x".into()),
            ApiError::Internal("x".into()),
        ];
        assert!(server.iter().all(|e| e.status() >= 500));
    }

    #[test]
    fn the_envelope_carries_code_message_and_request_id() {
        let body = ApiError::PayloadTooLarge { size: 10, limit: 5 }.body("req-9");
        assert_eq!(body["ok"], false);
        assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
        assert_eq!(
            body["error"]["message"],
            "request body is 10 bytes; the limit is 5"
        );
        assert_eq!(body["error"]["request_id"], "req-9");
    }
}
