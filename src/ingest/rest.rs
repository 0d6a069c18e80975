//! `POST /logs` bodies: raw JSON in, validated [`Draft`]s out, or the precise reason why not.
//!
//! Accepts one entry `{ "level", "message", "context"?, "request_id"?, "timestamp"? }`, a batch
//! `{ "logs": [ ... ] }` or `[ ... ]`, or NDJSON (one entry per line). A batch is all-or-nothing:
//! one bad entry refuses the request, so a client never has to work out which half of its batch
//! was stored. What common JSON loggers write is read too: pino's numeric `level`, `msg` and
//! `time` (or a `ts`); syslog's and other loggers' level names (`Level::from_alias`); and any other
//! top-level field (winston's and pino's metadata, `order_id`) is kept in `context`. Does not
//! authenticate, assign ids or route; the shell does that with the typed drafts.

use crate::ingest::error::IngestError;
use crate::model::entry::{LogEntry, RequestFields, Source};
use crate::model::id::{is_request_id, MAX_REQUEST_ID_LEN};
use crate::model::json::{nesting, text_nesting, MAX_NESTING};
use crate::model::level::{Level, UnknownLevel};
use crate::model::time::parse_timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Size limits of one request, from `Config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_entries: usize,
    pub max_message_bytes: usize,
}

/// One validated entry, before it gets an id and a shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub level: Level,
    pub message: String,
    /// Event time in ms; `None` means "when received".
    pub timestamp: Option<i64>,
    pub request_id: Option<String>,
    pub context: Option<Map<String, Value>>,
    /// The client's own id for this entry (idempotent retries), if it sent one.
    pub client_id: Option<String>,
}

impl Draft {
    /// The stored entry. `header_request_id` (`X-Request-ID`) applies when the entry has none.
    pub fn into_entry(
        self,
        id: String,
        (app_id, source): (&str, Source),
        received_at: i64,
        header_request_id: Option<&str>,
    ) -> LogEntry {
        LogEntry {
            id,
            timestamp: self.timestamp.unwrap_or(received_at),
            received_at,
            app_id: app_id.to_string(),
            level: self.level,
            message: self.message,
            request_id: self
                .request_id
                .or_else(|| header_request_id.map(str::to_string)),
            source,
            shard: String::new(),
            request: RequestFields::default(),
            data: self.context,
        }
    }
}

/// Checks the declared size before the body is read at all.
pub fn check_declared_size(
    content_length: Option<usize>,
    limits: &Limits,
) -> Result<(), IngestError> {
    match content_length {
        Some(size) if size > limits.max_body_bytes => Err(IngestError::PayloadTooLarge {
            size,
            limit: limits.max_body_bytes,
        }),
        _ => Ok(()),
    }
}

/// The size a `Content-Length` header declares; a number too big to represent counts as the
/// largest (so it is refused as too large, never read).
pub fn declared_size(header: Option<&str>) -> Option<usize> {
    let raw = header?.trim();
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(raw.parse().unwrap_or(usize::MAX))
}

/// Parses and validates a whole body.
pub fn parse_body(body: &[u8], limits: &Limits, now_ms: i64) -> Result<Vec<Draft>, IngestError> {
    if body.len() > limits.max_body_bytes {
        return Err(IngestError::PayloadTooLarge {
            size: body.len(),
            limit: limits.max_body_bytes,
        });
    }
    // The envelope (`{"logs":[{"context": ...}]}`) is 3 levels: deeper text is refused before a
    // parser meets its own limit; each context is measured exactly once parsed.
    if text_nesting(body) > MAX_NESTING + 3 {
        return Err(too_deep(""));
    }
    let drafts = match parse_batch_fast(body, limits, now_ms) {
        Some(drafts) => drafts,
        None => parse_general(body, limits, now_ms)?,
    };
    for (i, d) in drafts.iter().enumerate() {
        if let Some(c) = &d.context {
            if c.values().map(nesting).max().unwrap_or(0) + 1 > MAX_NESTING {
                return Err(too_deep(&format!("logs[{i}].")));
            }
        }
    }
    Ok(drafts)
}

fn too_deep(at: &str) -> IngestError {
    IngestError::NestingTooDeep(format!(
        "{at}context: nests deeper than {MAX_NESTING} levels"
    ))
}

/// Any body the fast path declined: a single entry, a bare array, or a batch with a problem.
fn parse_general(body: &[u8], limits: &Limits, now_ms: i64) -> Result<Vec<Draft>, IngestError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => match ndjson(body) {
            Some(lines) => Value::Array(lines?),
            None => return Err(IngestError::InvalidJson(e.to_string())),
        },
    };
    let (items, batch): (Vec<Value>, bool) = match value {
        Value::Object(mut obj) if obj.contains_key("logs") => match obj.remove("logs") {
            Some(Value::Array(items)) => (items, true),
            _ => return Err(IngestError::InvalidEntry("logs: must be an array".into())),
        },
        Value::Array(items) => (items, true),
        single @ Value::Object(_) => (vec![single], false),
        _ => {
            return Err(IngestError::InvalidEntry(
                "body must be a log entry object or { \"logs\": [ ... ] }".into(),
            ))
        }
    };
    if items.is_empty() {
        return Err(IngestError::EmptyBatch);
    }
    if items.len() > limits.max_entries {
        return Err(IngestError::TooManyEntries {
            count: items.len(),
            limit: limits.max_entries,
        });
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = if batch {
                format!("logs[{i}].")
            } else {
                String::new()
            };
            parse_entry(item, &at, limits, now_ms)
        })
        .collect()
}

/// A body of several lines, each a JSON value (NDJSON, as pino and log shippers write it), or
/// `None` when it is not several lines; blank lines are skipped, but still counted: an error
/// names the line as the client's editor numbers it.
fn ndjson(body: &[u8]) -> Option<Result<Vec<Value>, IngestError>> {
    let lines: Vec<(usize, &[u8])> = body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| l.iter().any(|b| !b.is_ascii_whitespace()))
        .collect();
    if lines.len() < 2 {
        return None;
    }
    Some(
        lines
            .iter()
            .map(|(i, l)| {
                serde_json::from_slice(l)
                    .map_err(|e| IngestError::InvalidJson(format!("line {}: {e}", i + 1)))
            })
            .collect(),
    )
}

/// The common case, `{"logs": [...]}` with every entry valid, read straight into typed fields
/// (strings borrowed from the body where they have no escapes) instead of a JSON tree first.
/// `None` for anything else, valid or not: [`parse_body`] then takes the general path, which
/// accepts the same bodies and names the precise problem in the others.
fn parse_batch_fast(body: &[u8], limits: &Limits, now_ms: i64) -> Option<Vec<Draft>> {
    #[derive(Deserialize)]
    struct Batch<'a> {
        #[serde(borrow)]
        logs: Vec<Entry<'a>>,
    }
    // Any other field (pino's `msg`, metadata to keep in `context`) is the general path's.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry<'a> {
        #[serde(borrow, default)]
        level: Option<Cow<'a, str>>,
        #[serde(borrow)]
        message: Cow<'a, str>,
        #[serde(default)]
        timestamp: Option<Value>,
        #[serde(borrow, default)]
        request_id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        id: Option<Cow<'a, str>>,
        #[serde(default)]
        context: Option<Map<String, Value>>,
    }
    let short = |v: Option<Cow<'_, str>>| match v {
        None => Some(None),
        Some(s) if is_request_id(&s) => Some(Some(s.into_owned())),
        Some(_) => None,
    };
    let batch: Batch = serde_json::from_slice(body).ok()?;
    if batch.logs.is_empty() || batch.logs.len() > limits.max_entries {
        return None;
    }
    batch
        .logs
        .into_iter()
        .map(|e| {
            let level = match e.level {
                None => Level::Info,
                Some(l) => Level::from_alias(&l)?,
            };
            if e.message.trim().is_empty() || e.message.len() > limits.max_message_bytes {
                return None;
            }
            let timestamp = match e.timestamp {
                None | Some(Value::Null) => None,
                Some(v) => Some(parse_timestamp(&v, now_ms).ok()?),
            };
            Some(Draft {
                level,
                message: e.message.into_owned(),
                timestamp,
                request_id: short(e.request_id)?,
                context: e.context,
                client_id: short(e.id)?,
            })
        })
        .collect()
}

fn parse_entry(item: Value, at: &str, limits: &Limits, now_ms: i64) -> Result<Draft, IngestError> {
    let Value::Object(mut obj) = item else {
        return Err(IngestError::InvalidEntry(format!(
            "{}: must be an object",
            at.trim_end_matches('.')
        )));
    };
    let level = entry_level(obj.remove("level"), at)?;
    let message = entry_message(&mut obj, at, limits)?;
    let timestamp = entry_time(&mut obj, at, now_ms)?;
    let request_id = short_id(obj.remove("request_id"), at, "request_id")?;
    let client_id = short_id(obj.remove("id"), at, "id")?;
    let mut context = match obj.remove("context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => {
            return Err(IngestError::InvalidEntry(format!(
                "{at}context: must be an object"
            )))
        }
    };
    // Every other field (a logger's metadata) is custom data too; `context`'s own keys win.
    if !obj.is_empty() {
        let c = context.get_or_insert_with(Map::new);
        for (k, v) in obj {
            c.entry(k).or_insert(v);
        }
    }
    Ok(Draft {
        level,
        message,
        timestamp,
        request_id,
        context,
        client_id,
    })
}

/// An entry's `level`: a level's name or another logger's (default INFO), or a pino number.
fn entry_level(v: Option<Value>, at: &str) -> Result<Level, IngestError> {
    match v {
        None | Some(Value::Null) => Ok(Level::Info),
        Some(Value::String(s)) => Level::from_alias(&s).ok_or_else(|| {
            IngestError::InvalidLevel(format!(
                "{at}level: {}, or another logger's name for one (warning, fatal, trace, ...)",
                UnknownLevel(s)
            ))
        }),
        // pino's numbers.
        Some(Value::Number(n)) => n.as_f64().and_then(Level::from_pino).ok_or_else(|| {
            IngestError::InvalidLevel(format!(
                "{at}level: {n} is not a pino level (10 trace to 60 fatal)"
            ))
        }),
        Some(_) => Err(IngestError::InvalidLevel(format!(
            "{at}level: must be a string or a pino number"
        ))),
    }
}

/// An entry's `message` (pino writes it as `msg`, which stays custom data when `message` is
/// there too): a non-empty string within `MAX_MESSAGE_BYTES`.
fn entry_message(
    obj: &mut Map<String, Value>,
    at: &str,
    limits: &Limits,
) -> Result<String, IngestError> {
    let message = match obj.remove("message").or_else(|| obj.remove("msg")) {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) => {
            return Err(IngestError::InvalidEntry(format!(
                "{at}message: must not be empty"
            )))
        }
        None | Some(Value::Null) => {
            return Err(IngestError::InvalidEntry(format!(
                "{at}message: is required"
            )))
        }
        Some(_) => {
            return Err(IngestError::InvalidEntry(format!(
                "{at}message: must be a string"
            )))
        }
    };
    if message.len() > limits.max_message_bytes {
        return Err(IngestError::MessageTooLong(format!(
            "{at}message: is {} bytes; the limit is {}",
            message.len(),
            limits.max_message_bytes
        )));
    }
    Ok(message)
}

/// An entry's own time: `timestamp`, else pino's `time` (milliseconds) or a `ts`; one of those
/// that is no time (a logger's own field) stays custom data.
fn entry_time(
    obj: &mut Map<String, Value>,
    at: &str,
    now_ms: i64,
) -> Result<Option<i64>, IngestError> {
    let timestamp = match obj.remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            parse_timestamp(&v, now_ms)
                .map_err(|e| IngestError::InvalidTimestamp(format!("{at}timestamp: {e}")))?,
        ),
    };
    Ok(timestamp.or_else(|| {
        ["time", "ts"].into_iter().find_map(|k| {
            let t = parse_timestamp(obj.get(k)?, now_ms).ok()?;
            obj.remove(k);
            Some(t)
        })
    }))
}

/// An optional id field (`request_id`, `id`): absent, null, or a string [`is_request_id`] accepts.
fn short_id(v: Option<Value>, at: &str, field: &str) -> Result<Option<String>, IngestError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if is_request_id(&s) => Ok(Some(s)),
        Some(_) => Err(IngestError::InvalidEntry(format!(
            "{at}{field}: must be a string of 1 to {MAX_REQUEST_ID_LEN} printable characters"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::time::MAX_CLOCK_SKEW_MS;
    use serde_json::json;

    const NOW: i64 = 1_750_000_000_000;
    const L: Limits = Limits {
        max_body_bytes: 10_000,
        max_entries: 5,
        max_message_bytes: 100,
    };

    fn parse(v: Value) -> Result<Vec<Draft>, IngestError> {
        parse_body(v.to_string().as_bytes(), &L, NOW)
    }

    /// The general path alone (what `parse_body` does when the fast one declines).
    fn parse_general(v: &Value) -> Result<Vec<Draft>, IngestError> {
        let Some(Value::Array(items)) = v.get("logs").cloned() else {
            panic!("a batch");
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| parse_entry(item, &format!("logs[{i}]."), &L, NOW))
            .collect()
    }

    #[test]
    fn the_fast_path_accepts_exactly_what_the_general_one_does_and_the_same_way() {
        let bodies = [
            json!({"logs": [{"message": "a"}]}),
            json!({"logs": [{"message": "a\u{e9}\"q", "level": "WARN", "context": {"k": [1, {"x": null}]},
                              "request_id": "r-1", "id": "e-1", "timestamp": "2025-06-15T12:00:00Z"}]}),
            json!({"logs": [{"message": "a", "level": "warning"}]}),
            json!({"logs": [{"message": "a", "level": null, "context": null, "timestamp": null,
                              "request_id": null, "id": null}, {"message": "b", "timestamp": 1_700_000_000_000i64}]}),
            json!({"logs": [{"message": "a", "level": "loud"}]}),
            json!({"logs": [{"message": "   "}]}),
            json!({"logs": [{"message": "x".repeat(101)}]}),
            json!({"logs": [{"message": "a", "level": 3}]}),
            json!({"logs": [{"message": "a", "context": [1]}]}),
            json!({"logs": [{"message": "a", "timestamp": 5}]}),
            json!({"logs": [{"message": "a", "request_id": ""}]}),
            json!({"logs": [{"message": "a", "id": "has space"}]}),
            json!({"logs": [{"message": 7}]}),
            json!({"logs": [{"level": "info"}]}),
        ];
        for body in bodies {
            let text = body.to_string();
            let fast = parse_batch_fast(text.as_bytes(), &L, NOW);
            // The fast path may decline a valid body (a pino level, say), never differ.
            match parse_general(&body) {
                Ok(general) => assert!(fast.is_none() || fast == Some(general), "{text}"),
                Err(_) => assert_eq!(fast, None, "{text}"),
            }
            assert_eq!(
                parse_body(text.as_bytes(), &L, NOW).map_err(|e| e.to_string()),
                parse_general(&body).map_err(|e| e.to_string()),
                "{text}"
            );
        }
        // Other fields are the general path's: it keeps them as custom data.
        let extra = json!({"logs": [{"message": "a", "order_id": 7}]});
        assert_eq!(
            parse_batch_fast(extra.to_string().as_bytes(), &L, NOW),
            None
        );
        let d = parse_general(&extra).unwrap();
        assert_eq!(
            Value::Object(d[0].context.clone().unwrap()),
            json!({"order_id": 7})
        );
        let plain = json!({"logs": [{"message": "a", "level": "warn", "context": {"n": 1}}]});
        assert!(parse_batch_fast(plain.to_string().as_bytes(), &L, NOW).is_some());
        let dup = r#"{"logs": [{"message": "a", "message": "b"}]}"#;
        assert_eq!(parse_batch_fast(dup.as_bytes(), &L, NOW), None);
        assert_eq!(parse_body(dup.as_bytes(), &L, NOW).unwrap()[0].message, "b");
    }

    #[test]
    fn a_single_entry_parses_with_defaults() {
        let d = parse(json!({"message": "hello"})).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].level, Level::Info);
        assert_eq!(d[0].message, "hello");
        assert_eq!(d[0].timestamp, None);
        assert_eq!(d[0].context, None);
    }

    #[test]
    fn a_full_entry_keeps_every_field() {
        let d = parse(json!({
            "level": "error", "message": "boom", "context": {"k": [1, 2]},
            "request_id": "r-1", "timestamp": "2025-06-15T12:00:00.250Z"
        }))
        .unwrap();
        assert_eq!(d[0].level, Level::Error);
        assert_eq!(d[0].request_id.as_deref(), Some("r-1"));
        assert_eq!(d[0].timestamp, Some(1_749_988_800_250));
        assert_eq!(
            Value::Object(d[0].context.clone().unwrap()),
            json!({"k": [1, 2]})
        );
    }

    #[test]
    fn a_batch_parses_every_entry_in_order() {
        let d = parse(json!({"logs": [
            {"level": "DEBUG", "message": "a"},
            {"level": "warn", "message": "b", "timestamp": 1_700_000_000_000i64}
        ]}))
        .unwrap();
        assert_eq!(
            d.iter().map(|d| d.message.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(d[1].level, Level::Warn);
        assert_eq!(d[1].timestamp, Some(1_700_000_000_000));
    }

    #[test]
    fn a_client_id_is_kept_for_idempotent_retries() {
        let d =
            parse(json!({"logs": [{"message": "a", "id": "evt-1"}, {"message": "b"}]})).unwrap();
        assert_eq!(d[0].client_id.as_deref(), Some("evt-1"));
        assert_eq!(d[1].client_id, None);
        let e = parse(json!({"message": "a", "id": 7})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "id: must be a string of 1 to 128 printable characters"
        );
    }

    #[test]
    fn malformed_json_is_invalid_json() {
        let e = parse_body(b"{\"message\": ", &L, NOW).unwrap_err();
        assert_eq!(e.code(), "INVALID_JSON");
    }

    #[test]
    fn wrong_types_name_the_field_and_index() {
        let e = parse(json!({"logs": [{"message": "ok"}, {"message": 5}]})).unwrap_err();
        assert_eq!(e.code(), "INVALID_ENTRY");
        assert_eq!(e.to_string(), "logs[1].message: must be a string");
        let e = parse(json!({"message": "x", "context": "str"})).unwrap_err();
        assert_eq!(e.to_string(), "context: must be an object");
        let e = parse(json!({"logs": "nope"})).unwrap_err();
        assert_eq!(e.code(), "INVALID_ENTRY");
        let e = parse(json!(42)).unwrap_err();
        assert_eq!(e.code(), "INVALID_ENTRY");
        let e = parse(json!({"logs": [7]})).unwrap_err();
        assert_eq!(e.to_string(), "logs[0]: must be an object");
        let e = parse(json!({"message": "x", "request_id": "has space"})).unwrap_err();
        assert!(e.to_string().starts_with("request_id:"), "{e}");
    }

    #[test]
    fn missing_or_empty_message_is_refused() {
        assert_eq!(
            parse(json!({"level": "INFO"})).unwrap_err().to_string(),
            "message: is required"
        );
        assert_eq!(
            parse(json!({"message": "  "})).unwrap_err().code(),
            "INVALID_ENTRY"
        );
    }

    #[test]
    fn unknown_level_is_invalid_level() {
        let e = parse(json!({"logs": [{"level": "loud", "message": "x"}]})).unwrap_err();
        assert_eq!(e.code(), "INVALID_LEVEL");
        assert!(
            e.to_string().starts_with("logs[0].level: unknown level"),
            "{e}"
        );
        assert_eq!(
            parse(json!({"level": 3000, "message": "x"}))
                .unwrap_err()
                .code(),
            "INVALID_LEVEL"
        );
        assert_eq!(
            parse(json!({"level": true, "message": "x"}))
                .unwrap_err()
                .code(),
            "INVALID_LEVEL"
        );
    }

    /// What pino, winston and syslog-minded loggers send, read as they meant it.
    #[test]
    fn common_json_loggers_are_read_as_they_meant() {
        let pino = json!({"level": 50, "time": 1_700_000_000_000i64, "pid": 7, "hostname": "h",
                          "msg": "payment failed", "order_id": "o-1"});
        let d = parse(pino).unwrap().remove(0);
        assert_eq!(
            (d.level, d.message.as_str()),
            (Level::Error, "payment failed")
        );
        assert_eq!(d.timestamp, Some(1_700_000_000_000));
        assert_eq!(
            Value::Object(d.context.unwrap()),
            json!({"pid": 7, "hostname": "h", "order_id": "o-1"})
        );
        let ts = parse(json!({"message": "x", "ts": 1_700_000_000_001i64})).unwrap();
        assert_eq!(
            (ts[0].timestamp, &ts[0].context),
            (Some(1_700_000_000_001), &None)
        );
        let winston = json!({"level": "warn", "message": "slow", "service": "api",
                             "context": {"service": "own", "ms": 3}, "time": "noon"});
        let d = parse(winston).unwrap().remove(0);
        assert_eq!(
            Value::Object(d.context.unwrap()),
            json!({"service": "own", "ms": 3, "time": "noon"}),
            "context's own keys win; a `time` that is no time is kept"
        );
        for (name, level) in [
            ("warning", Level::Warn),
            ("err", Level::Error),
            ("notice", Level::Info),
            ("crit", Level::Error),
            ("alert", Level::Error),
            ("emerg", Level::Error),
            ("fatal", Level::Error),
            ("trace", Level::Debug),
        ] {
            assert_eq!(
                parse(json!({"level": name, "message": "x"})).unwrap()[0].level,
                level,
                "{name}"
            );
        }
    }

    #[test]
    fn ndjson_bodies_are_batches_of_one_entry_a_line() {
        let body = b"{\"level\":30,\"msg\":\"a\"}\n\n{\"message\":\"b\",\"level\":\"warn\"}\r\n";
        let d = parse_body(body, &L, NOW).unwrap();
        assert_eq!(
            d.iter().map(|d| d.message.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(d[1].level, Level::Warn);
        let bad = parse_body(b"{\"message\":\"a\"}\n{oops}\n", &L, NOW).unwrap_err();
        assert_eq!(
            (bad.code(), bad.to_string().contains("line 2:")),
            ("INVALID_JSON", true)
        );
        // Blank lines count as the client's editor counts them.
        let gap = parse_body(b"{\"message\":\"a\"}\n\n\n{oops}\n", &L, NOW).unwrap_err();
        assert!(gap.to_string().contains("line 4:"), "{gap}");
        let many = "{\"message\":\"a\"}\n".repeat(6);
        assert_eq!(
            parse_body(many.as_bytes(), &L, NOW).unwrap_err().code(),
            "TOO_MANY_ENTRIES"
        );
    }

    #[test]
    fn limits_give_their_own_codes() {
        let big = vec![b' '; 10_001];
        assert_eq!(
            parse_body(&big, &L, NOW).unwrap_err().code(),
            "PAYLOAD_TOO_LARGE"
        );
        let six: Vec<Value> = (0..6).map(|i| json!({"message": i.to_string()})).collect();
        let e = parse(json!({ "logs": six })).unwrap_err();
        assert_eq!(e, IngestError::TooManyEntries { count: 6, limit: 5 });
        let e = parse(json!({"message": "x".repeat(101)})).unwrap_err();
        assert_eq!(e.code(), "MESSAGE_TOO_LONG");
        assert_eq!(
            parse(json!({"logs": []})).unwrap_err(),
            IngestError::EmptyBatch
        );
    }

    #[test]
    fn declared_size_is_checked_before_reading() {
        assert!(check_declared_size(Some(10_000), &L).is_ok());
        assert!(check_declared_size(None, &L).is_ok());
        assert_eq!(
            check_declared_size(Some(10_001), &L).unwrap_err().code(),
            "PAYLOAD_TOO_LARGE"
        );
    }

    #[test]
    fn an_impossible_content_length_is_too_large() {
        assert_eq!(declared_size(Some("12")), Some(12));
        assert_eq!(
            declared_size(Some("99999999999999999999")),
            Some(usize::MAX)
        );
        assert_eq!(declared_size(Some("x")), None);
        assert_eq!(declared_size(None), None);
        let huge = declared_size(Some("99999999999999999999"));
        assert_eq!(
            check_declared_size(huge, &L).unwrap_err().code(),
            "PAYLOAD_TOO_LARGE"
        );
    }

    #[test]
    fn custom_data_deeper_than_the_limit_gets_its_own_code() {
        let deep = |n: usize| {
            let mut v = json!(1);
            for _ in 0..n {
                v = json!({ "k": v });
            }
            v
        };
        let ok = parse(json!({"message": "x", "context": deep(MAX_NESTING)}));
        assert!(ok.is_ok(), "{ok:?}");
        for n in [MAX_NESTING + 1, 200, 5_000] {
            let body = format!(r#"{{"message":"x","context":{}}}"#, deep_text(n));
            let e = parse_body(body.as_bytes(), &BIG, NOW).unwrap_err();
            assert_eq!(e.code(), "NESTING_TOO_DEEP", "{n}: {e}");
        }
        let batch = json!({"logs": [{"message": "x", "context": deep(MAX_NESTING + 1)}]});
        assert_eq!(parse(batch).unwrap_err().code(), "NESTING_TOO_DEEP");
    }

    fn deep_text(n: usize) -> String {
        format!("{}1{}", r#"{"k":"#.repeat(n), "}".repeat(n))
    }

    const BIG: Limits = Limits {
        max_body_bytes: 1_000_000,
        max_entries: 5,
        max_message_bytes: 100,
    };

    #[test]
    fn timestamps_must_be_plausible_milliseconds_or_rfc3339() {
        assert_eq!(
            parse_timestamp(&json!(1_700_000_000_000i64), NOW),
            Ok(1_700_000_000_000)
        );
        assert_eq!(parse_timestamp(&json!(1.7e12), NOW), Ok(1_700_000_000_000));
        assert!(parse_timestamp(&json!(1_700_000_000), NOW)
            .unwrap_err()
            .0
            .contains("milliseconds"));
        assert!(parse_timestamp(&json!(NOW + 2 * MAX_CLOCK_SKEW_MS), NOW).is_err());
        assert!(parse_timestamp(&json!("yesterday"), NOW).is_err());
        assert!(parse_timestamp(&json!(true), NOW).is_err());
        let e = parse(json!({"message": "x", "timestamp": "2025-13-01T00:00:00Z"})).unwrap_err();
        assert_eq!(e.code(), "INVALID_TIMESTAMP");
    }

    #[test]
    fn drafts_become_rest_entries_with_the_header_request_id_as_fallback() {
        let d = parse(json!({"logs": [{"message": "a"}, {"message": "b", "request_id": "own"}]}))
            .unwrap();
        let a = d[0]
            .clone()
            .into_entry("id-a".into(), ("shop", Source::Rest), NOW, Some("hdr"));
        let b = d[1]
            .clone()
            .into_entry("id-b".into(), ("shop", Source::Rest), NOW, Some("hdr"));
        assert_eq!(a.request_id.as_deref(), Some("hdr"));
        assert_eq!(b.request_id.as_deref(), Some("own"));
        assert_eq!(a.timestamp, NOW);
        assert_eq!(a.received_at, NOW);
        assert_eq!(a.source, Source::Rest);
        assert_eq!(a.app_id, "shop");
    }
}
