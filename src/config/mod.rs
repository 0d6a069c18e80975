//! Typed configuration, parsed and checked once from wrangler `[vars]` and secrets.
//!
//! Owns every tunable's name, default and valid range. Does not read `Env` itself: the shell
//! hands in a lookup function, so parsing is pure and unit-tested on the host.

pub mod cors;

use crate::model::entry::clip;
use crate::model::scrub::Scrub;
use crate::store::route::Routes;
use cors::CorsOrigins;
use thiserror::Error;

/// Every knob the logger reads. Defaults live in [`Config::default`] and nowhere else.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Pending entries in one shard that trigger a flush without waiting for the alarm.
    pub max_batch_size: u32,
    /// How long after the first pending entry the alarm flushes, at the latest.
    pub batch_interval_ms: u64,
    /// Width of the time bucket in a shard id (`{colo}-{now / bucket}`).
    pub sharding_bucket_ms: u64,
    /// How many LogBatcher objects one colo and bucket spread over.
    pub shard_fanout: u32,
    /// Store the client IP (`CF-Connecting-IP`) of forwarded requests.
    pub log_client_ip: bool,
    /// Largest accepted `POST /logs` body.
    pub max_body_bytes: usize,
    /// Most entries in one `POST /logs` request.
    pub max_entries_per_request: usize,
    /// Longest message of one entry, in bytes.
    pub max_message_bytes: usize,
    /// Largest `X-Log-Data` header on a forwarded request.
    pub max_log_data_bytes: usize,
    /// Failed flush attempts of a row before it moves to the dead-letter store.
    pub max_retries: u32,
    /// First retry delay after a failed flush; doubles per attempt.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// Entries one shard may hold before ingest answers 503 `BACKPRESSURE`.
    pub max_buffered_entries: u64,
    /// Bytes of rows one shard may hold before ingest answers 503 `BACKPRESSURE`.
    pub max_buffered_bytes: u64,
    /// Honour `X-Debug-Flags` fault injection (tests and demos only).
    pub debug_flags: bool,
    /// Secret guarding the admin API; `None` disables it.
    pub admin_api_key: Option<String>,
    /// The firehose table and the log routes (`LOG_ROUTES`, `LOG_FIREHOSE_TABLE`,
    /// `LOG_FIREHOSE_RETENTION_DAYS`).
    pub routes: Routes,
    /// The database size at which the oldest rows are deleted to make room (`store::space`).
    pub max_db_bytes: u64,
    /// Rows one pruning statement deletes at most.
    pub prune_chunk_rows: u64,
    /// Delete statements one retention run or manual prune makes at most.
    pub prune_max_statements: u32,
    /// How often an app's registered URLs are checked.
    pub health_check_interval_ms: u64,
    /// How long a check waits for an answer.
    pub health_check_timeout_ms: u64,
    /// URLs one app may register.
    pub max_health_urls: usize,
    /// Health checks may reach loopback and private addresses (local testing only).
    pub health_check_allow_private: bool,
    /// How long a deleted app's id stays reserved at least (entries accepted just before the
    /// deletion may still be buffered; they are purged when they land).
    pub app_id_reserve_ms: u64,
    /// Live tails open at once per app.
    pub tail_max_connections: usize,
    /// Messages a tail client may leave unacknowledged before it is cut off.
    pub tail_max_unacked: u64,
    /// Which app a Tail Worker producer's events go to (`TAIL_APPS`, a JSON object of script
    /// name to app id; `"*"` for any other script). Empty: each script logs to the app named
    /// like it (`ingest::tail_worker::app_for`).
    pub tail_apps: Vec<(String, String)>,
    /// The fraction of a producer's plain invocations kept (`TAIL_SAMPLE_RATE`); failed ones
    /// are always kept (`ingest::tail_worker::keep`).
    pub tail_sample_rate: f64,
    /// Browser origins that may call the API (`CORS_ORIGINS`); none by default.
    pub cors_origins: CorsOrigins,
    /// What is scrubbed besides the keys (`REDACT_KEYS`, `REDACT_PATTERNS`): key names that mean
    /// secrets and credential-shaped values (`model::scrub`).
    pub scrub: std::rc::Rc<Scrub>,
    /// Serve the trusted `LoggerService` RPC entrypoint (`RPC_SERVICE_ENABLED`): any worker
    /// bound to it writes and reads any app without a key, so it is off unless asked for.
    pub rpc_service_enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_batch_size: 1_000,
            batch_interval_ms: 10_000,
            sharding_bucket_ms: 60_000,
            shard_fanout: 1,
            log_client_ip: true,
            max_body_bytes: 1024 * 1024,
            max_entries_per_request: 1_000,
            max_message_bytes: 32 * 1024,
            max_log_data_bytes: 8 * 1024,
            max_retries: 3,
            retry_base_ms: 1_000,
            retry_max_ms: 60_000,
            max_buffered_entries: 100_000,
            max_buffered_bytes: 64 * 1024 * 1024,
            debug_flags: false,
            admin_api_key: None,
            routes: Routes::default(),
            // D1 holds 10 GB on Workers Paid: a tenth is left for what lands between two checks
            // (route tables, a flush's worth, index growth). On Free (500 MB) set 450000000.
            max_db_bytes: 9_000_000_000,
            prune_chunk_rows: 5_000,
            prune_max_statements: 40,
            health_check_interval_ms: 300_000,
            health_check_timeout_ms: 10_000,
            max_health_urls: 10,
            health_check_allow_private: false,
            app_id_reserve_ms: 3_600_000,
            tail_max_connections: 100,
            tail_max_unacked: 10_000,
            tail_apps: Vec::new(),
            tail_sample_rate: 1.0,
            cors_origins: CorsOrigins::Off,
            scrub: std::rc::Rc::new(Scrub::default()),
            rpc_service_enabled: false,
        }
    }
}

/// Why the configuration is invalid: the var and what is wrong with it.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{name}: {reason} (got {value:?})")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

/// An admin key shorter than this is refused: it would be guessable.
pub const MIN_ADMIN_KEY_LEN: usize = 16;

impl Config {
    /// Builds the configuration from a variable lookup (`None` = not set, so the default holds).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = Config {
            admin_api_key: admin_api_key(&lookup)?,
            ..Config::default()
        };
        batching(&lookup, &mut c)?;
        ingest_limits(&lookup, &mut c)?;
        storage(&lookup, &mut c)?;
        health_checks(&lookup, &mut c)?;
        tails(&lookup, &mut c)?;
        edge(&lookup, &mut c)?;
        let (keys, patterns) = (lookup("REDACT_KEYS"), lookup("REDACT_PATTERNS"));
        c.scrub = Scrub::parse(keys.as_deref(), patterns.as_deref())
            .map(std::rc::Rc::new)
            .map_err(|e| {
                let name = if e.0.starts_with("REDACT_KEYS") {
                    "REDACT_KEYS"
                } else {
                    "REDACT_PATTERNS"
                };
                let value = if name == "REDACT_KEYS" {
                    keys.clone()
                } else {
                    patterns.clone()
                };
                ConfigError {
                    name,
                    value: clip(value.as_deref().unwrap_or(""), 120).to_string(),
                    reason: e.0,
                }
            })?;
        Ok(c)
    }
}

/// `ADMIN_API_KEY`: none (the admin API is off) or a key long enough not to be guessed.
fn admin_api_key(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    match lookup("ADMIN_API_KEY") {
        None => Ok(None),
        Some(k) if k.is_empty() => Ok(None),
        Some(k) if k.len() < MIN_ADMIN_KEY_LEN => Err(ConfigError {
            name: "ADMIN_API_KEY",
            value: "<redacted>".into(),
            reason: format!("must be at least {MIN_ADMIN_KEY_LEN} characters"),
        }),
        Some(k) => Ok(Some(k)),
    }
}

/// LogBatchers: when they flush, how they retry, what they may hold, fault injection.
fn batching(lookup: &impl Fn(&str) -> Option<String>, c: &mut Config) -> Result<(), ConfigError> {
    c.max_batch_size = int(&lookup, "MAX_BATCH_SIZE", c.max_batch_size, 1, 10_000)?;
    c.batch_interval_ms = int(
        &lookup,
        "BATCH_INTERVAL_MS",
        c.batch_interval_ms,
        10,
        3_600_000,
    )?;
    c.sharding_bucket_ms = int(
        &lookup,
        "SHARDING_BUCKET_MS",
        c.sharding_bucket_ms,
        1_000,
        86_400_000,
    )?;
    c.shard_fanout = int(&lookup, "SHARD_FANOUT", c.shard_fanout, 1, 64)?;
    c.max_retries = int(&lookup, "MAX_RETRIES", c.max_retries, 1, 100)?;
    c.retry_base_ms = int(&lookup, "RETRY_BASE_MS", c.retry_base_ms, 10, 600_000)?;
    c.retry_max_ms = int(&lookup, "RETRY_MAX_MS", c.retry_max_ms, 10, 3_600_000)?;
    c.max_buffered_entries = int(
        &lookup,
        "MAX_BUFFERED_ENTRIES",
        c.max_buffered_entries,
        1,
        10_000_000,
    )?;
    // A SQLite-backed Durable Object holds up to 10 GB; stay far below it.
    c.max_buffered_bytes = int(
        &lookup,
        "MAX_BUFFERED_BYTES",
        c.max_buffered_bytes,
        1_024,
        1_000_000_000,
    )?;
    c.debug_flags = boolean(&lookup, "DEBUG_FLAGS", c.debug_flags)?;
    Ok(())
}

/// What one ingest request may carry, and what a forwarded one keeps.
fn ingest_limits(
    lookup: &impl Fn(&str) -> Option<String>,
    c: &mut Config,
) -> Result<(), ConfigError> {
    c.log_client_ip = boolean(&lookup, "LOG_CLIENT_IP", c.log_client_ip)?;
    // 100 MB is Cloudflare's own request body ceiling on the free and pro plans.
    c.max_body_bytes = int(
        &lookup,
        "MAX_BODY_BYTES",
        c.max_body_bytes,
        1_024,
        100_000_000,
    )?;
    c.max_entries_per_request = int(
        &lookup,
        "MAX_ENTRIES_PER_REQUEST",
        c.max_entries_per_request,
        1,
        10_000,
    )?;
    c.max_message_bytes = int(
        &lookup,
        "MAX_MESSAGE_BYTES",
        c.max_message_bytes,
        64,
        1_000_000,
    )?;
    c.max_log_data_bytes = int(
        &lookup,
        "MAX_LOG_DATA_BYTES",
        c.max_log_data_bytes,
        64,
        65_536,
    )?;
    Ok(())
}

/// D1: the log tables and their retention, the space cap, pruning, deleted apps' ids.
fn storage(lookup: &impl Fn(&str) -> Option<String>, c: &mut Config) -> Result<(), ConfigError> {
    c.routes = routes(&lookup)?;
    c.max_db_bytes = int(
        &lookup,
        "MAX_DB_BYTES",
        c.max_db_bytes,
        100_000,
        10_000_000_000,
    )?;
    c.prune_chunk_rows = int(
        &lookup,
        "PRUNE_CHUNK_ROWS",
        c.prune_chunk_rows,
        100,
        100_000,
    )?;
    // A Worker invocation may make 1,000 subrequests (50 on the free plan).
    c.prune_max_statements = int(
        &lookup,
        "PRUNE_MAX_STATEMENTS",
        c.prune_max_statements,
        1,
        900,
    )?;
    c.app_id_reserve_ms = int(
        &lookup,
        "APP_ID_RESERVE_MS",
        c.app_id_reserve_ms,
        0,
        30 * 86_400_000,
    )?;
    Ok(())
}

/// Health checks of apps' URLs.
fn health_checks(
    lookup: &impl Fn(&str) -> Option<String>,
    c: &mut Config,
) -> Result<(), ConfigError> {
    c.health_check_allow_private = boolean(
        &lookup,
        "HEALTH_CHECK_ALLOW_PRIVATE",
        c.health_check_allow_private,
    )?;
    c.health_check_interval_ms = int(
        &lookup,
        "HEALTH_CHECK_INTERVAL_MS",
        c.health_check_interval_ms,
        1_000,
        86_400_000,
    )?;
    // A round checks every URL at once, so it lasts about one timeout at most.
    c.health_check_timeout_ms = int(
        &lookup,
        "HEALTH_CHECK_TIMEOUT_MS",
        c.health_check_timeout_ms,
        100,
        25_000,
    )?;
    c.max_health_urls = int(&lookup, "MAX_HEALTH_URLS", c.max_health_urls, 1, 50)?;
    Ok(())
}

/// Live tails and Tail Worker producers.
fn tails(lookup: &impl Fn(&str) -> Option<String>, c: &mut Config) -> Result<(), ConfigError> {
    // A hub holds its sockets with the hibernation API; 100 is ten times what Cloudflare's
    // and Loki's own tails allow.
    c.tail_max_connections = int(
        &lookup,
        "TAIL_MAX_CONNECTIONS",
        c.tail_max_connections,
        1,
        10_000,
    )?;
    // A LogBatcher publishes a request's entries at once (up to MAX_ENTRIES_PER_REQUEST),
    // faster than any acknowledgement can come back: the window holds several of those.
    c.tail_max_unacked = int(&lookup, "TAIL_MAX_UNACKED", c.tail_max_unacked, 1, 100_000)?;
    c.tail_apps = tail_apps(&lookup)?;
    c.tail_sample_rate = fraction(&lookup, "TAIL_SAMPLE_RATE", c.tail_sample_rate)?;
    Ok(())
}

/// Who may call from where: CORS and the trusted RPC entrypoint.
fn edge(lookup: &impl Fn(&str) -> Option<String>, c: &mut Config) -> Result<(), ConfigError> {
    c.cors_origins = match lookup("CORS_ORIGINS") {
        None => c.cors_origins.clone(),
        Some(raw) => CorsOrigins::parse(&raw).map_err(|e| ConfigError {
            name: "CORS_ORIGINS",
            value: clip(&raw, 120).to_string(),
            reason: e.0,
        })?,
    };
    c.rpc_service_enabled = boolean(&lookup, "RPC_SERVICE_ENABLED", c.rpc_service_enabled)?;
    Ok(())
}

fn tail_apps(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(raw) = lookup("TAIL_APPS").filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let err = |reason: String| ConfigError {
        name: "TAIL_APPS",
        value: clip(&raw, 120).to_string(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_str(&raw).map_err(|e| err(format!("not JSON: {e}")))?;
    let Some(map) = v.as_object() else {
        return Err(err(
            "a JSON object of script name to app id, \"*\" for any other".into(),
        ));
    };
    map.iter()
        .map(
            |(script, app)| match app.as_str().map(crate::apps::app::AppId::parse) {
                Some(Ok(id)) => Ok((script.clone(), id.as_str().to_string())),
                _ => Err(err(format!("{script:?}: not an app id: {app}"))),
            },
        )
        .collect()
}

fn fraction(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
) -> Result<f64, ConfigError> {
    let Some(raw) = lookup(name) else {
        return Ok(default);
    };
    match raw.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(ConfigError {
            name,
            value: raw,
            reason: "a fraction from 0 to 1".into(),
        }),
    }
}

fn routes(lookup: &impl Fn(&str) -> Option<String>) -> Result<Routes, ConfigError> {
    let (routes, table, days) = (
        lookup("LOG_ROUTES"),
        lookup("LOG_FIREHOSE_TABLE"),
        lookup("LOG_FIREHOSE_RETENTION_DAYS"),
    );
    let mut parsed =
        Routes::parse(routes.as_deref(), table.as_deref(), days.as_deref()).map_err(|e| {
            let value = match e.var {
                "LOG_ROUTES" => routes,
                "LOG_FIREHOSE_TABLE" => table,
                _ => days,
            };
            ConfigError {
                name: e.var,
                value: clip(value.as_deref().unwrap_or(""), 120).to_string(),
                reason: e.message,
            }
        })?;
    parsed.search = match lookup("SEARCH_INDEX").as_deref().map(str::trim) {
        None | Some("fts") => true,
        Some("none") => false,
        Some(other) => {
            return Err(ConfigError {
                name: "SEARCH_INDEX",
                value: clip(other, 120).to_string(),
                reason: "fts (full-text search, the default) or none".into(),
            })
        }
    };
    Ok(parsed)
}

fn int<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = lookup(name) else {
        return Ok(default);
    };
    let err = |reason: String| ConfigError {
        name,
        value: raw.clone(),
        reason,
    };
    let v: T = raw
        .trim()
        .parse()
        .map_err(|_| err("not a whole number".into()))?;
    if v < min || v > max {
        return Err(err(format!("must be between {min} and {max}")));
    }
    Ok(v)
}

fn boolean(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match lookup(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(ConfigError {
            name,
            value: other.to_string(),
            reason: "must be true or false".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn nothing_set_gives_the_documented_defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.max_batch_size, 1_000);
        assert_eq!(c.batch_interval_ms, 10_000);
        assert_eq!(c.sharding_bucket_ms, 60_000);
        assert_eq!(c.shard_fanout, 1);
        assert!(c.log_client_ip);
        assert_eq!(c.max_retries, 3);
        assert!(!c.debug_flags, "fault injection is off unless asked for");
        assert_eq!(c.admin_api_key, None);
    }

    #[test]
    fn set_values_override_defaults() {
        let c = parse(&[
            ("MAX_BATCH_SIZE", "5"),
            ("BATCH_INTERVAL_MS", " 2500 "),
            ("LOG_CLIENT_IP", "false"),
            ("ADMIN_API_KEY", "0123456789abcdef"),
        ])
        .unwrap();
        assert_eq!(c.max_batch_size, 5);
        assert_eq!(c.batch_interval_ms, 2500);
        assert!(!c.log_client_ip);
        assert_eq!(c.admin_api_key.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn errors_name_the_variable_and_the_reason() {
        let e = parse(&[("MAX_BATCH_SIZE", "lots")]).unwrap_err();
        assert_eq!(e.name, "MAX_BATCH_SIZE");
        assert!(e.to_string().contains("not a whole number"), "{e}");
        let e = parse(&[("SHARD_FANOUT", "0")]).unwrap_err();
        assert!(e.to_string().contains("between 1 and 64"), "{e}");
        let e = parse(&[("LOG_CLIENT_IP", "maybe")]).unwrap_err();
        assert_eq!(e.name, "LOG_CLIENT_IP");
    }

    #[test]
    fn route_errors_name_the_variable_route_and_field() {
        let e = parse(&[(
            "LOG_ROUTES",
            r#"[{"name": "errors", "columns": ["level"], "filter": {"field": "lvl", "op": "eq", "value": 1}}]"#,
        )])
        .unwrap_err();
        assert_eq!(e.name, "LOG_ROUTES");
        let text = e.to_string();
        assert!(
            text.starts_with(
                "LOG_ROUTES: route \"errors\" (routes[0]): filter.field: unknown field \"lvl\""
            ),
            "{text}"
        );
        let c = parse(&[(
            "LOG_ROUTES",
            r#"[{"name": "errors", "columns": ["level"]}]"#,
        )])
        .unwrap();
        assert_eq!(c.routes.routes.len(), 1);
    }

    #[test]
    fn a_short_admin_key_is_refused_without_echoing_it() {
        let e = parse(&[("ADMIN_API_KEY", "short")]).unwrap_err();
        assert_eq!(e.name, "ADMIN_API_KEY");
        assert!(!e.to_string().contains("short\""), "{e}");
    }

    #[test]
    fn an_empty_admin_key_disables_the_admin_api() {
        assert_eq!(parse(&[("ADMIN_API_KEY", "")]).unwrap().admin_api_key, None);
    }
}
