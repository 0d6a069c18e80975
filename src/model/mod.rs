//! The data model every stage shares: the log entry, levels, app ids and keys.
pub mod columns;
pub mod entry;
pub mod error;
pub mod id;
pub mod json;
pub mod level;
pub mod request_url;
pub mod scrub;
pub mod secret;
pub mod sql;
pub mod time;
