//! The HTTP API: the router, the error type, and one module per resource.
pub mod api;
pub mod body;
pub mod envelope;
pub mod error;
pub mod router;
