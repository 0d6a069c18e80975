//! The edge: the HTTP API (the router, the error type, one module per resource), the RPC
//! entrypoints for parent workers and the Tail Worker handler. Only the edge knows `ApiError`.
pub mod api;
pub mod body;
pub mod envelope;
pub mod error;
pub mod router;
pub mod rpc;
pub mod tail_worker;
