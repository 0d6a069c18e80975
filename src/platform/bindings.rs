//! Shell: the worker's bindings by name, and the configuration parsed once per isolate.
//!
//! A missing or mistyped binding is a deployment mistake, so it answers `CONFIG_INVALID`
//! (503) rather than a storage failure.

use crate::config::Config;
use crate::platform::error::PlatformError;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{D1Database, Env, KvStore, ObjectNamespace};

/// The D1 database that holds every log table, the app registry's mirror tables and stats.
pub const DB_BINDING: &str = "LOGS_DB";
/// The app registry: app records and API key hashes.
pub const REGISTRY_BINDING: &str = "LOGS_KV";
/// Dead letters: rows that kept failing, for an operator to inspect and replay.
pub const DEAD_LETTER_BINDING: &str = "LOGDO_DEAD_LETTER";
/// `LogBatcher` objects, one per shard.
pub const BATCHER_BINDING: &str = "LOG_BATCHER";
/// `TailHub` objects, one per app.
pub const TAIL_BINDING: &str = "TAIL_HUB";
/// `HealthChecker` objects, one per app.
pub const HEALTH_BINDING: &str = "HEALTH_CHECKER";
pub const METER_BINDING: &str = "USAGE_METER";

thread_local! {
    /// The configuration, parsed once per isolate: vars and secrets are fixed for the lifetime of
    /// an isolate (a change is a new deployment, hence new isolates).
    static CONFIG: RefCell<Option<Result<Rc<Config>, PlatformError>>> = const { RefCell::new(None) };
}

/// The configuration from wrangler vars and secrets, parsed and checked once per isolate.
pub fn load_config(env: &Env) -> Result<Rc<Config>, PlatformError> {
    if let Some(known) = CONFIG.with(|c| c.borrow().clone()) {
        return known;
    }
    let parsed = Config::from_lookup(|name| {
        env.secret(name)
            .or_else(|_| env.var(name))
            .ok()
            .map(|v| v.to_string())
    })
    .map(Rc::new)
    .map_err(|e| PlatformError::ConfigInvalid(e.to_string()));
    CONFIG.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    parsed
}

fn missing(kind: &str, name: &str, e: worker::Error) -> PlatformError {
    PlatformError::ConfigInvalid(format!("{kind} binding {name}: {e}"))
}

/// The D1 database of the logs.
/// The D1 database with a tally of its statements (see `d1::Metered`).
/// The logs database, for `work`: what its statements cost is counted for the usage meter.
pub fn metered_db(
    env: &Env,
    work: crate::platform::usage::Work,
) -> Result<super::d1::Metered, PlatformError> {
    Ok(super::d1::Metered::new(logs_db(env)?, Some(work)))
}

/// The logs database for a LogBatcher's flush: its tally goes to the object's own stats.
pub fn flush_db(env: &Env) -> Result<super::d1::Metered, PlatformError> {
    Ok(super::d1::Metered::new(logs_db(env)?, None))
}

fn logs_db(env: &Env) -> Result<D1Database, PlatformError> {
    env.d1(DB_BINDING).map_err(|e| missing("D1", DB_BINDING, e))
}

/// The dead-letter namespace.
pub fn dead_letters(env: &Env) -> Result<KvStore, PlatformError> {
    env.kv(DEAD_LETTER_BINDING)
        .map_err(|e| missing("KV", DEAD_LETTER_BINDING, e))
}

fn objects(env: &Env, binding: &str) -> Result<ObjectNamespace, PlatformError> {
    env.durable_object(binding)
        .map_err(|e| missing("Durable Object", binding, e))
}

/// The LogBatcher namespace.
pub fn batchers(env: &Env) -> Result<ObjectNamespace, PlatformError> {
    objects(env, BATCHER_BINDING)
}

/// The TailHub namespace.
pub fn tail_hubs(env: &Env) -> Result<ObjectNamespace, PlatformError> {
    objects(env, TAIL_BINDING)
}

/// The HealthChecker namespace.
pub fn health_checkers(env: &Env) -> Result<ObjectNamespace, PlatformError> {
    objects(env, HEALTH_BINDING)
}

/// A runtime failure. What fails at run time is D1, KV, a Durable Object or the network: storage
/// the caller may retry against (`Unavailable`). Only our own (de)serialization failing is a bug.
impl From<worker::Error> for PlatformError {
    fn from(e: worker::Error) -> Self {
        match e {
            worker::Error::SerdeJsonError(_)
            | worker::Error::SerdeWasmBindgenError(_)
            | worker::Error::Json(_)
            | worker::Error::BadEncoding
            | worker::Error::Utf8Error(_) => PlatformError::Internal(e.to_string()),
            other => PlatformError::Unavailable(other.to_string()),
        }
    }
}
