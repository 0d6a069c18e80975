//! Shell: the runtime's services as the rest of the crate uses them: bindings (D1, KV, Durable
//! Object namespaces), the configuration read once per isolate, the clock and randomness, D1
//! reads, KV puts as JSON text, and the typed calls between the fetch handler and the Durable Objects (`rpc`).
//!
//! Thin by design: every decision these helpers need is made by a pure module.

pub mod bindings;
pub mod clock;
pub mod d1;
pub mod decompress;
pub mod error;
pub mod kv;
pub mod rpc;
pub mod usage;
pub mod usage_meter;

pub use bindings::{
    batchers, dead_letters, flush_db, health_checkers, load_config, metered_db, tail_hubs,
};
pub use clock::{alarm_at, now_ms, random_bytes};
pub use d1::{d1_read, d1_rows};
pub use error::PlatformError;
