//! Tail Worker events: logging with no code in the producer. A worker that lists the logger in
//! `tail_consumers` sends it one trace item per invocation; each becomes entries of the app its
//! script maps to (`app_for`):
//!
//! - every `console.*` call: the level of its method (`log`/`info` INFO, `debug`/`trace` DEBUG,
//!   `warn` WARN, `error` ERROR), the message its string parts joined by spaces, its other parts
//!   kept in `context.args` (one object part: `context` itself);
//! - every uncaught exception: an ERROR entry `Name: message`, with `context.exception`
//!   (`name`, `message`, `stack`);
//! - one invocation entry: `GET /path 200 (ok)` (or the event kind for a cron, queue, alarm ...),
//!   ERROR when the outcome is not `ok`, the status is 5xx or an exception was thrown, WARN on a
//!   4xx, with `context.invocation` (`outcome`, `status`, `wall_ms`, `cpu_ms`, `script`, `event`).
//!
//! All of an invocation's entries carry its request (method, URL, headers, `cf` facts, enriched
//! and redacted as a forwarded request's, `X-Log-*` headers ignored: they are the producer's
//! clients') and one request id: the request's `X-Request-ID`, else its `cf-ray`, else a fresh
//! one. **Sampling is decided after the invocation** (`keep`): an invocation whose outcome is
//! not `ok` (an exception, exceeded CPU or memory, canceled), that threw, or that answered 5xx
//! is always kept; of the others, a `TAIL_SAMPLE_RATE` fraction.
//!
//! Pure: the shell (`ingest::intake::Intake::trace_items`) looks the apps up, names the entries
//! and delivers them.

use crate::ingest::enrich::{CfFacts, ForwardedRequest};
use crate::model::entry::{clip, LogEntry, Source};
use crate::model::json::array;
use crate::model::level::Level;
use serde_json::{json, Map, Value};

/// One trace item as the runtime delivers it (the parts the logger reads). Read from JSON by
/// hand ([`TraceItem::from_json`]): serde's derived readers cost the bundle more than these few
/// fields are worth.
#[derive(Debug, Clone, Default)]
pub struct TraceItem {
    pub script_name: Option<String>,
    pub outcome: Option<String>,
    pub event_timestamp: Option<f64>,
    pub event: Option<Value>,
    pub logs: Vec<TraceLog>,
    pub exceptions: Vec<TraceException>,
    pub cpu_time: Option<f64>,
    pub wall_time: Option<f64>,
    pub truncated: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct TraceLog {
    pub timestamp: Option<f64>,
    pub level: String,
    pub message: Value,
}

#[derive(Debug, Clone, Default)]
pub struct TraceException {
    pub timestamp: Option<f64>,
    pub name: String,
    pub message: String,
    pub stack: Option<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_string)
}

impl TraceItem {
    /// A trace item from its JSON (missing or mistyped parts are absent, never an error).
    pub fn from_json(v: &Value) -> TraceItem {
        TraceItem {
            script_name: text(v, "scriptName"),
            outcome: text(v, "outcome"),
            event_timestamp: v.get("eventTimestamp").and_then(Value::as_f64),
            event: v.get("event").filter(|e| !e.is_null()).cloned(),
            logs: array(v, "logs")
                .iter()
                .map(|l| TraceLog {
                    timestamp: l.get("timestamp").and_then(Value::as_f64),
                    level: text(l, "level").unwrap_or_default(),
                    message: l.get("message").cloned().unwrap_or(Value::Null),
                })
                .collect(),
            exceptions: array(v, "exceptions")
                .iter()
                .map(|e| TraceException {
                    timestamp: e.get("timestamp").and_then(Value::as_f64),
                    name: text(e, "name").unwrap_or_default(),
                    message: text(e, "message").unwrap_or_default(),
                    stack: text(e, "stack"),
                })
                .collect(),
            cpu_time: v.get("cpuTime").and_then(Value::as_f64),
            wall_time: v.get("wallTime").and_then(Value::as_f64),
            truncated: v.get("truncated").and_then(Value::as_bool),
        }
    }
}

/// The `request.cf` facts of a trace item's request.
fn cf_facts(cf: &Value) -> CfFacts {
    CfFacts {
        colo: text(cf, "colo"),
        country: text(cf, "country"),
        city: text(cf, "city"),
        region: text(cf, "region"),
        continent: text(cf, "continent"),
        asn: cf
            .get("asn")
            .and_then(Value::as_u64)
            .and_then(|a| u32::try_from(a).ok()),
        as_organization: text(cf, "asOrganization"),
        timezone: text(cf, "timezone"),
        http_protocol: text(cf, "httpProtocol"),
        tls_version: text(cf, "tlsVersion"),
        tls_cipher: text(cf, "tlsCipher"),
    }
}

/// The app a script's events go to: its own mapping, else `"*"`'s, else (no mapping at all) the
/// app named like the script; `None` when nothing applies (a script with no name, as `wrangler
/// dev` reports them, and no `"*"`).
pub fn app_for<'a>(mapping: &'a [(String, String)], script: Option<&'a str>) -> Option<&'a str> {
    let find = |name: &str| {
        mapping
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, a)| a.as_str())
    };
    script
        .and_then(find)
        .or_else(|| find("*"))
        .or(if mapping.is_empty() { script } else { None })
}

impl TraceItem {
    fn response_status(&self) -> Option<u64> {
        self.event
            .as_ref()?
            .get("response")?
            .get("status")?
            .as_u64()
    }

    fn request(&self) -> Option<&Value> {
        self.event
            .as_ref()?
            .get("request")
            .filter(|r| r.is_object())
    }

    /// Whether the invocation failed: an outcome other than `ok`, a thrown exception, a 5xx.
    pub fn failed(&self) -> bool {
        self.outcome.as_deref().is_some_and(|o| o != "ok")
            || !self.exceptions.is_empty()
            || self.response_status().is_some_and(|s| s >= 500)
    }

    /// The invocation's request as the forwarded path reads one, without its `X-Log-*`
    /// headers (the producer's clients sent those); `None` for an event with no request.
    pub fn forwarded(&self) -> Option<ForwardedRequest> {
        let r = self.request()?;
        let headers = r["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter(|(n, _)| !n.to_ascii_lowercase().starts_with("x-log-"))
                    .filter_map(|(n, v)| Some((n.to_ascii_lowercase(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        Some(ForwardedRequest {
            method: r["method"].as_str().unwrap_or("GET").to_string(),
            url: r["url"].as_str().unwrap_or_default().to_string(),
            headers,
            cf: cf_facts(&r["cf"]),
        })
    }

    /// What kind of event it was, for one without a request (`scheduled`, `queue` ...).
    fn kind(&self) -> String {
        let Some(e) = self.event.as_ref().and_then(Value::as_object) else {
            return "invocation".into();
        };
        if e.contains_key("cron") {
            return format!("scheduled {}", e["cron"].as_str().unwrap_or_default());
        }
        if e.contains_key("queue") {
            return format!("queue {}", e["queue"].as_str().unwrap_or_default());
        }
        if e.contains_key("scheduledTime") {
            return "alarm".into();
        }
        if let Some(rpc) = e.get("rpcMethod").and_then(Value::as_str) {
            return format!("rpc {rpc}");
        }
        "invocation".into()
    }
}

/// Whether to keep an invocation, decided after it ran: always when it failed (`failed`), else
/// when `draw` (uniform in [0, 1)) falls under `rate`.
pub fn keep(item: &TraceItem, rate: f64, draw: f64) -> bool {
    item.failed() || draw < rate
}

/// One entry of an invocation before it is stamped with the invocation's request.
#[derive(Debug, Clone, PartialEq)]
pub struct TailEntry {
    pub level: Level,
    pub message: String,
    /// ms since the epoch; `None`: when received (the local runtime reports 0).
    pub timestamp: Option<i64>,
    pub context: Option<Map<String, Value>>,
}

fn time(t: Option<f64>) -> Option<i64> {
    t.filter(|t| *t > 0.0).map(|t| t as i64)
}

/// Custom data no larger than `max` bytes of JSON: larger is kept as its clipped text.
fn bounded(context: Map<String, Value>, max: usize) -> Map<String, Value> {
    let text = Value::Object(context.clone()).to_string();
    if text.len() <= max {
        return context;
    }
    let mut m = Map::new();
    m.insert("clipped".into(), clip(&text, max).into());
    m
}

/// What one invocation's entries share besides the trace item.
pub struct Invocation<'a> {
    pub app_id: &'a str,
    /// The invocation's request, enriched as a forwarded one (none for a cron, queue, alarm).
    pub base: Option<&'a LogEntry>,
    /// The request id when the request carries neither `X-Request-ID` nor `cf-ray`.
    pub fallback_request_id: &'a str,
    pub now_ms: i64,
    pub max_message_bytes: usize,
    pub max_data_bytes: usize,
}

/// The stored entries of one invocation, without ids or shards yet: every one with the
/// invocation's request and one request id (its `X-Request-ID`, else its `cf-ray`, else the
/// fallback), at its own time or when received.
pub fn invocation_entries(item: &TraceItem, inv: &Invocation<'_>) -> Vec<LogEntry> {
    let base = inv.base;
    let request_id = base
        .and_then(|b| b.request_id.clone().or_else(|| b.request.ray_id.clone()))
        .unwrap_or_else(|| inv.fallback_request_id.to_string());
    let path = base.and_then(|b| b.request.path.clone());
    entries(
        item,
        path.as_deref(),
        inv.max_message_bytes,
        inv.max_data_bytes,
    )
    .into_iter()
    .map(|e| LogEntry {
        id: String::new(),
        timestamp: e.timestamp.unwrap_or(inv.now_ms),
        received_at: inv.now_ms,
        app_id: inv.app_id.to_string(),
        level: e.level,
        message: e.message,
        request_id: Some(request_id.clone()),
        source: Source::Tail,
        shard: String::new(),
        request: base.map(|b| b.request.clone()).unwrap_or_default(),
        data: e.context,
    })
    .collect()
}

/// The entries of one invocation, in order: its `console.*` calls, its exceptions, and the
/// invocation itself. `path` is the request's path (for the invocation's message).
pub fn entries(
    item: &TraceItem,
    path: Option<&str>,
    max_message_bytes: usize,
    max_data_bytes: usize,
) -> Vec<TailEntry> {
    let mut out: Vec<TailEntry> = item
        .logs
        .iter()
        .map(|log| console_entry(log, max_message_bytes, max_data_bytes))
        .collect();
    for e in &item.exceptions {
        let message = format!("{}: {}", e.name, e.message);
        let exception = json!({ "name": e.name, "message": e.message, "stack": e.stack });
        out.push(TailEntry {
            level: Level::Error,
            message: clip(&message, max_message_bytes).to_string(),
            timestamp: time(e.timestamp),
            context: Some(bounded(
                Map::from_iter([("exception".to_string(), exception)]),
                max_data_bytes,
            )),
        });
    }
    out.push(invocation_entry(item, path, max_message_bytes));
    out
}

/// A `console.*` call: its string parts joined as the message, its other parts as context (one
/// object part: the context itself; more: `context.args`).
fn console_entry(log: &TraceLog, max_message_bytes: usize, max_data_bytes: usize) -> TailEntry {
    let parts: &[Value] = match &log.message {
        Value::Array(a) => a,
        other => std::slice::from_ref(other),
    };
    let mut words = Vec::new();
    let mut others = Vec::new();
    for p in parts {
        match p {
            Value::String(s) => words.push(s.clone()),
            Value::Object(_) | Value::Array(_) => others.push(p.clone()),
            other => words.push(other.to_string()),
        }
    }
    let message = match words.join(" ") {
        m if m.trim().is_empty() => "(console call with no text)".to_string(),
        m => m,
    };
    let context = match others.as_slice() {
        [] => None,
        [Value::Object(m)] => Some(m.clone()),
        _ => Some(Map::from_iter([("args".to_string(), Value::Array(others))])),
    };
    TailEntry {
        level: Level::from_alias(&log.level).unwrap_or(Level::Info),
        message: clip(&message, max_message_bytes).to_string(),
        timestamp: time(log.timestamp),
        context: context.map(|c| bounded(c, max_data_bytes)),
    }
}

/// The invocation itself: `GET /path 200 (ok)` (or its event kind), ERROR when it failed, WARN on
/// a 4xx, with `context.invocation`.
fn invocation_entry(item: &TraceItem, path: Option<&str>, max_message_bytes: usize) -> TailEntry {
    let status = item.response_status();
    let outcome = item.outcome.clone().unwrap_or_else(|| "unknown".into());
    let what = match (item.request(), path) {
        (Some(r), Some(p)) => format!("{} {p}", r["method"].as_str().unwrap_or("GET")),
        _ => item.kind(),
    };
    let message = match status {
        Some(s) => format!("{what} {s} ({outcome})"),
        None => format!("{what} ({outcome})"),
    };
    let level = match status {
        _ if item.failed() => Level::Error,
        Some(s) if s >= 400 => Level::Warn,
        _ => Level::Info,
    };
    let invocation = json!({
        "outcome": outcome,
        "status": status,
        "wall_ms": item.wall_time,
        "cpu_ms": item.cpu_time,
        "script": item.script_name,
        "event": item.kind(),
        "truncated": item.truncated.unwrap_or(false),
    });
    TailEntry {
        level,
        message: clip(&message, max_message_bytes).to_string(),
        timestamp: time(item.event_timestamp),
        context: Some(Map::from_iter([("invocation".to_string(), invocation)])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace item as `wrangler dev` delivered one for a producer's fetch that logged three
    /// times and threw.
    fn item() -> TraceItem {
        TraceItem::from_json(&json!({
            "scriptName": null,
            "outcome": "exception",
            "eventTimestamp": 1_750_000_000_000u64,
            "event": {
                "request": {
                    "url": "http://producer.example/cart?x=1", "method": "POST",
                    "headers": {"user-agent": "curl/8", "x-log-level": "debug", "cf-ray": "8abc"},
                    "cf": {"colo": "DFW", "country": "US"}
                },
                "response": {"status": 500}
            },
            "logs": [
                {"timestamp": 1_750_000_000_001u64, "level": "log", "message": ["hello", {"user": {"id": 42}}]},
                {"timestamp": 0, "level": "warn", "message": ["careful", 7, true]},
                {"timestamp": 0, "level": "error", "message": ["a", [1], {"b": 2}]}
            ],
            "exceptions": [{"timestamp": 0, "name": "TypeError", "message": "boom", "stack": "at x"}],
            "cpuTime": 3, "wallTime": 12
        }))
    }

    #[test]
    fn an_invocation_becomes_its_console_calls_exceptions_and_itself() {
        let e = entries(&item(), Some("/cart"), 100, 1_000);
        assert_eq!(e.len(), 5);
        assert_eq!((e[0].level, e[0].message.as_str()), (Level::Info, "hello"));
        assert_eq!(
            e[0].context,
            json!({"user": {"id": 42}}).as_object().cloned()
        );
        assert_eq!(e[0].timestamp, Some(1_750_000_000_001));
        assert_eq!(
            (e[1].level, e[1].message.as_str()),
            (Level::Warn, "careful 7 true")
        );
        assert_eq!((e[1].timestamp, &e[1].context), (None, &None));
        assert_eq!(
            e[2].context,
            json!({"args": [[1], {"b": 2}]}).as_object().cloned()
        );
        assert_eq!(
            (e[3].level, e[3].message.as_str()),
            (Level::Error, "TypeError: boom")
        );
        assert_eq!(e[3].context.as_ref().unwrap()["exception"]["stack"], "at x");
        let inv = &e[4];
        assert_eq!(
            (inv.level, inv.message.as_str()),
            (Level::Error, "POST /cart 500 (exception)")
        );
        let i = &inv.context.as_ref().unwrap()["invocation"];
        assert_eq!(
            (&i["status"], &i["wall_ms"], &i["cpu_ms"]),
            (&json!(500), &json!(12.0), &json!(3.0))
        );
    }

    #[test]
    fn the_request_is_read_as_a_forwarded_one_without_its_log_headers() {
        let f = item().forwarded().unwrap();
        assert_eq!(
            (f.method.as_str(), f.url.as_str()),
            ("POST", "http://producer.example/cart?x=1")
        );
        assert_eq!(f.header("user-agent"), Some("curl/8"));
        assert_eq!(
            f.header("x-log-level"),
            None,
            "a client's X-Log-* is not the producer's"
        );
        assert_eq!(f.cf.colo.as_deref(), Some("DFW"));
        let cron =
            TraceItem::from_json(&json!({"outcome": "ok", "event": {"cron": "*/5 * * * *"}}));
        assert!(cron.forwarded().is_none());
        let e = entries(&cron, None, 100, 1_000);
        assert_eq!(
            (e[0].level, e[0].message.as_str()),
            (Level::Info, "scheduled */5 * * * * (ok)")
        );
    }

    #[test]
    fn failures_are_always_kept_and_the_rest_sampled() {
        let ok =
            TraceItem::from_json(&json!({"outcome": "ok", "event": {"response": {"status": 200}}}));
        assert!(!ok.failed());
        assert!(keep(&ok, 0.1, 0.05) && !keep(&ok, 0.1, 0.5) && !keep(&ok, 0.0, 0.0));
        for failed in [
            json!({"outcome": "exceededCpu"}),
            json!({"outcome": "exceededMemory"}),
            json!({"outcome": "ok", "event": {"response": {"status": 503}}}),
            json!({"outcome": "ok", "exceptions": [{"name": "E", "message": "m"}]}),
        ] {
            let item = TraceItem::from_json(&failed);
            assert!(keep(&item, 0.0, 0.99), "{failed}");
        }
        let not_found = TraceItem::from_json(
            &json!({"outcome": "ok", "event": {"request": {"method": "GET"}, "response": {"status": 404}}}),
        );
        assert_eq!(
            entries(&not_found, Some("/x"), 100, 1_000)[0].level,
            Level::Warn
        );
    }

    #[test]
    fn scripts_map_to_apps_with_a_default() {
        let m = vec![
            ("shop".to_string(), "shop-app".to_string()),
            ("*".to_string(), "other".to_string()),
        ];
        assert_eq!(app_for(&m, Some("shop")), Some("shop-app"));
        assert_eq!(app_for(&m, Some("blog")), Some("other"));
        assert_eq!(app_for(&m, None), Some("other"));
        assert_eq!(
            app_for(&[], Some("blog")),
            Some("blog"),
            "no mapping: the app named like it"
        );
        assert_eq!(app_for(&[], None), None);
        let only = vec![("shop".to_string(), "shop-app".to_string())];
        assert_eq!(app_for(&only, Some("blog")), None);
    }

    #[test]
    fn large_console_data_is_clipped_not_dropped() {
        let big = TraceItem::from_json(
            &json!({"logs": [{"level": "log", "message": ["m", {"blob": "x".repeat(500)}]}]}),
        );
        let e = entries(&big, None, 100, 100);
        assert_eq!(
            e[0].context.as_ref().unwrap()["clipped"]
                .as_str()
                .unwrap()
                .len(),
            100
        );
    }
}
