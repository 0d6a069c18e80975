//! Live tail: which entries a tail client gets, in what messages, and how its flow is controlled.
//!
//! A client opens `GET /tail` (a WebSocket) with filters; the app's `TailHub` Durable Object
//! holds the socket (hibernation API) with this module's [`Subscriber`] as its attachment, and
//! receives every entry a LogBatcher acknowledges for the app. Messages to the client:
//! `{"type":"ready","resumed":n,"gap":bool}` once connected, then `{"type":"log","n":k,"entry":{…}}`
//! per matching entry, `n` counting from 1 on each connection. The client acknowledges with
//! `{"type":"ack","n":k}`; a client that leaves more than `max_unacked` messages unacknowledged
//! is closed with code [`SLOW_CONSUMER`] instead of being buffered for without bound. Resuming
//! with `last_id` replays what the hub's recent buffer holds after that entry.
//!
//! Does not hold sockets or storage (`tail_hub`), nor authenticate (`api::tail`).

use crate::model::columns::COLUMNS;

use crate::model::id::is_request_id;
use crate::model::id::is_uuid;
use crate::read::error::ReadError;
use crate::read::query::parse_levels;
use crate::store::route::Routes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Close code for a client too slow to keep up (in the 4000-4999 range for applications).
pub const SLOW_CONSUMER: u16 = 4008;
/// Entries the hub keeps for resuming clients.
pub const RECENT_ENTRIES: i64 = 1_000;
/// Longest a LogBatcher trusts what it last learnt about whether an app has tails.
pub const ACTIVE_CHECK_MS: f64 = 1_000.0;
pub const MAX_SEARCH_WORDS: usize = 8;

/// What one client asked for, and where its flow stands: the socket's attachment (it survives
/// hibernation). Filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    /// Any of these levels, by name (empty: all).
    pub levels: Vec<String>,
    /// Every word must occur in the message, case-insensitively.
    pub words: Vec<String>,
    pub request_id: Option<String>,
    /// Only entries this route matches.
    pub route: Option<String>,
    /// Messages sent on this connection, and the highest the client acknowledged.
    pub sent: u64,
    pub acked: u64,
}

impl Subscriber {
    pub fn unacked(&self) -> u64 {
        self.sent.saturating_sub(self.acked)
    }

    /// Whether a row (in `COLUMNS` order) is for this client.
    pub fn wants(&self, row: &[Value], routes: &Routes) -> bool {
        let text = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or("");
        if !self.levels.is_empty() && !self.levels.iter().any(|l| l == text(4)) {
            return false;
        }
        if let Some(r) = &self.request_id {
            if text(6) != r {
                return false;
            }
        }
        if !self.words.is_empty() {
            let message = text(5).to_lowercase();
            if !self.words.iter().all(|w| message.contains(w.as_str())) {
                return false;
            }
        }
        if let Some(name) = &self.route {
            let Some(route) = routes.routes.iter().find(|r| r.name.as_str() == name) else {
                return false;
            };
            if route.filter.as_ref().is_some_and(|f| !f.matches(row)) {
                return false;
            }
        }
        true
    }
}

/// A `GET /tail` query: the filters and where to resume. `token` is read by the shell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailQuery {
    pub subscriber: Subscriber,
    pub last_id: Option<String>,
}

pub fn parse_query(pairs: &[(String, String)], routes: &Routes) -> Result<TailQuery, ReadError> {
    let mut q = TailQuery::default();
    for (name, value) in pairs {
        let s = &mut q.subscriber;
        match name.as_str() {
            "token" | "app_id" => {}
            "level" => {
                s.levels = parse_levels(value)?
                    .iter()
                    .map(|l| l.as_str().to_string())
                    .collect();
            }
            "search" => {
                s.words = value.split_whitespace().map(str::to_lowercase).collect();
                if s.words.is_empty() || s.words.len() > MAX_SEARCH_WORDS {
                    return Err(ReadError::InvalidFilter(format!(
                        "search: 1 to {MAX_SEARCH_WORDS} words"
                    )));
                }
            }
            "request_id" if is_request_id(value) => s.request_id = Some(value.clone()),
            "route" => {
                if !routes.routes.iter().any(|r| r.name.as_str() == value) {
                    return Err(ReadError::InvalidFilter(format!(
                        "route: no route {value:?}"
                    )));
                }
                s.route = Some(value.clone());
            }
            "last_id" if is_uuid(value) => q.last_id = Some(value.clone()),
            other => {
                return Err(ReadError::InvalidFilter(format!(
                    "{other}: unknown or invalid; expected level, search, request_id, route, \
                     last_id (an entry id) or token"
                )))
            }
        }
    }
    Ok(q)
}

/// A row as the entry object clients get (the same fields as `GET /logs`).
pub fn entry_object(row: &[Value]) -> Value {
    let mut m = Map::new();
    for (name, v) in COLUMNS.iter().zip(row) {
        let v = match (*name, v) {
            ("headers" | "data", Value::String(text)) => {
                serde_json::from_str(text).unwrap_or_else(|_| v.clone())
            }
            _ => v.clone(),
        };
        let name = match *name {
            "data" => crate::read::query::CONTEXT_FIELD,
            other => other,
        };
        m.insert(name.to_string(), v);
    }
    Value::Object(m)
}

pub fn log_message(n: u64, row: &[Value]) -> String {
    json!({ "type": "log", "n": n, "entry": entry_object(row) }).to_string()
}

pub fn ready_message(resumed: usize, gap: bool) -> String {
    json!({ "type": "ready", "resumed": resumed, "gap": gap }).to_string()
}

/// A client's message: `Some(n)` for an acknowledgement of the first `n` log messages.
pub fn parse_ack(text: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Ack {
        #[serde(rename = "type")]
        kind: String,
        n: u64,
    }
    serde_json::from_str::<Ack>(text)
        .ok()
        .filter(|a| a.kind == "ack")
        .map(|a| a.n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::tests::sample;
    use crate::model::level::Level;

    fn routes() -> Routes {
        Routes::parse(
            Some(
                r#"[{"name":"problems","filter":{"field":"level","op":"gte","value":"WARN"},
                     "columns":["message"]}]"#,
            ),
            None,
            None,
        )
        .unwrap()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn filters_pick_exactly_the_matching_rows() {
        let r = routes();
        let q = parse_query(
            &pairs(&[
                ("level", "warn,error"),
                ("search", "Cart  FAILED"),
                ("route", "problems"),
            ]),
            &r,
        )
        .unwrap();
        let mut e = sample();
        e.message = "cart checkout failed".into();
        let row = |e: &crate::model::entry::LogEntry| -> Vec<Value> {
            serde_json::from_str(&e.to_row_json()).unwrap()
        };
        assert!(q.subscriber.wants(&row(&e), &r));
        e.level = Level::Info;
        assert!(!q.subscriber.wants(&row(&e), &r), "level");
        e.level = Level::Error;
        e.message = "cart served".into();
        assert!(!q.subscriber.wants(&row(&e), &r), "a word is missing");
        let by_id = parse_query(&pairs(&[("request_id", "req-1")]), &r).unwrap();
        e.request_id = Some("req-1".into());
        assert!(by_id.subscriber.wants(&row(&e), &r));
        e.request_id = Some("req-2".into());
        assert!(!by_id.subscriber.wants(&row(&e), &r));
        assert!(
            TailQuery::default().subscriber.wants(&row(&e), &r),
            "no filter: all"
        );
    }

    #[test]
    fn a_query_round_trips_to_the_hub_and_bad_ones_are_refused() {
        let r = routes();
        let q = parse_query(
            &pairs(&[
                ("level", "ERROR"),
                ("search", "db timeout"),
                ("request_id", "r-1"),
                ("route", "problems"),
                ("last_id", "01890000-0000-7000-8000-000000000001"),
                ("token", "x"),
            ]),
            &r,
        )
        .unwrap();
        let text = serde_json::to_string(&q).unwrap();
        assert_eq!(serde_json::from_str::<TailQuery>(&text).unwrap(), q);
        for (p, code) in [
            (("level", "LOUD"), "INVALID_LEVEL"),
            (("route", "nope"), "INVALID_FILTER"),
            (("last_id", "x"), "INVALID_FILTER"),
            (("search", " "), "INVALID_FILTER"),
            (("colour", "red"), "INVALID_FILTER"),
        ] {
            assert_eq!(
                parse_query(&pairs(&[p]), &r).unwrap_err().code(),
                code,
                "{p:?}"
            );
        }
    }

    #[test]
    fn messages_carry_the_entry_and_acks_parse() {
        let row: Vec<Value> = serde_json::from_str(&sample().to_row_json()).unwrap();
        let m: Value = serde_json::from_str(&log_message(3, &row)).unwrap();
        assert_eq!(m["type"], "log");
        assert_eq!(m["n"], 3);
        assert_eq!(m["entry"]["app_id"], "shop");
        assert!(
            m["entry"]["context"].is_object(),
            "custom data as an object"
        );
        assert_eq!(parse_ack(r#"{"type":"ack","n":7}"#), Some(7));
        assert_eq!(parse_ack(r#"{"type":"hello"}"#), None);
        assert_eq!(parse_ack("nonsense"), None);
        let s = Subscriber {
            sent: 10,
            acked: 4,
            ..Subscriber::default()
        };
        assert_eq!(s.unacked(), 6);
    }
}
