//! Apps: their ids, keys and records (`app`), the credentials a request carries (`credential`),
//! the registry in KV (`registry`: create, authenticate, list, tail tokens) and deletion
//! (`deletion`: the key revoked, tails closed, checks stopped, logs purged in chunks).
pub mod app;
pub mod credential;
pub mod deletion;
pub mod registry;
