//! OpenTelemetry logs over OTLP/HTTP (`POST /v1/logs`), JSON or protobuf: an
//! `ExportLogsServiceRequest` becomes [`Draft`]s. The protobuf form is read into the same shape
//! the JSON form has (OTLP's own JSON mapping), so one mapping turns either into entries:
//!
//! - level from `severityNumber` (TRACE and DEBUG are DEBUG, FATAL is ERROR), else from
//!   `severityText` (`level::Level::from_alias`), else INFO;
//! - message from `body` (a string as it is, any other value as JSON text; none: the event name,
//!   or `(no body)`), clipped to `MAX_MESSAGE_BYTES`: a record is never refused for its length,
//!   since an exporter drops a whole batch on a 4xx;
//! - time from `timeUnixNano`, else `observedTimeUnixNano`, else when received;
//! - `traceId` as the request id, so a trace's logs are one `request_id=` away;
//! - context: the record's attributes, and `resource` (the resource's attributes), `scope` (name,
//!   version), `span_id`, `event_name` where present. A dotted attribute name is a path, as
//!   OpenTelemetry's conventions mean it (`service.name` is `{"service": {"name": …}}`), so
//!   `context.resource.service.name=shop` finds a service's logs.
//!
//! A record that cannot be stored (a time out of range, attributes nested too deep) is rejected
//! alone and counted in the answer's `partialSuccess`, as OTLP asks; a malformed request is refused
//! whole.
//!
//! Does not authenticate or deliver (`http::api::otlp`).

use crate::ingest::error::IngestError;
use crate::ingest::protobuf::{Fields, Wire, WireError};
use crate::ingest::rest::{Draft, Limits};
use crate::model::entry::clip;
use crate::model::id::is_request_id;
use crate::model::json::{array, nesting, MAX_NESTING};
use crate::model::level::Level;
use crate::model::time::parse_timestamp;
use serde_json::{json, Map, Value};

/// Nesting of `AnyValue`s the protobuf reader follows: past it a body is refused (custom data
/// is refused past `MAX_NESTING` anyway; this also bounds the reader's recursion).
const MAX_VALUE_DEPTH: usize = MAX_NESTING + 2;

fn wire(e: WireError) -> IngestError {
    IngestError::InvalidProtobuf(format!("ExportLogsServiceRequest: {e}"))
}

/// Protobuf `ExportLogsServiceRequest` as OTLP's JSON mapping writes it.
pub fn decode_protobuf(body: &[u8]) -> Result<Value, IngestError> {
    let resource_logs = repeated(body, 1, resource_logs)?;
    Ok(json!({ "resourceLogs": resource_logs }))
}

/// Every field `number` of `message`, each read by `read`.
fn repeated(
    message: &[u8],
    number: u64,
    read: fn(&[u8]) -> Result<Value, IngestError>,
) -> Result<Vec<Value>, IngestError> {
    let mut out = Vec::new();
    let mut f = Fields::new(message);
    while let Some((n, v)) = f.next_field().map_err(wire)? {
        if n == number {
            out.push(read(v.bytes("field").map_err(wire)?)?);
        }
    }
    Ok(out)
}

fn resource_logs(m: &[u8]) -> Result<Value, IngestError> {
    let mut out = Map::new();
    let mut scopes = Vec::new();
    let mut f = Fields::new(m);
    while let Some((n, v)) = f.next_field().map_err(wire)? {
        match n {
            1 => {
                let attributes = repeated(v.bytes("resource").map_err(wire)?, 1, key_value)?;
                out.insert("resource".into(), json!({ "attributes": attributes }));
            }
            2 => scopes.push(scope_logs(v.bytes("scopeLogs").map_err(wire)?)?),
            _ => {}
        }
    }
    out.insert("scopeLogs".into(), Value::Array(scopes));
    Ok(Value::Object(out))
}

fn scope_logs(m: &[u8]) -> Result<Value, IngestError> {
    let mut out = Map::new();
    let mut records = Vec::new();
    let mut f = Fields::new(m);
    while let Some((n, v)) = f.next_field().map_err(wire)? {
        match n {
            1 => {
                let mut scope = Map::new();
                let mut s = Fields::new(v.bytes("scope").map_err(wire)?);
                while let Some((n, v)) = s.next_field().map_err(wire)? {
                    match n {
                        1 => scope.insert("name".into(), v.text("name").map_err(wire)?.into()),
                        2 => {
                            scope.insert("version".into(), v.text("version").map_err(wire)?.into())
                        }
                        _ => None,
                    };
                }
                out.insert("scope".into(), Value::Object(scope));
            }
            2 => records.push(log_record(v.bytes("logRecords").map_err(wire)?)?),
            _ => {}
        }
    }
    out.insert("logRecords".into(), Value::Array(records));
    Ok(Value::Object(out))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn log_record(m: &[u8]) -> Result<Value, IngestError> {
    let mut out = Map::new();
    let mut attributes = Vec::new();
    let mut f = Fields::new(m);
    while let Some((n, v)) = f.next_field().map_err(wire)? {
        let int = |v: Wire<'_>| v.int("number").map_err(wire);
        match n {
            1 => {
                out.insert("timeUnixNano".into(), int(v)?.to_string().into());
            }
            11 => {
                out.insert("observedTimeUnixNano".into(), int(v)?.to_string().into());
            }
            2 => {
                out.insert("severityNumber".into(), int(v)?.into());
            }
            3 => {
                out.insert(
                    "severityText".into(),
                    v.text("severityText").map_err(wire)?.into(),
                );
            }
            5 => {
                out.insert("body".into(), any_value(v.bytes("body").map_err(wire)?, 0)?);
            }
            6 => attributes.push(key_value(v.bytes("attributes").map_err(wire)?)?),
            9 => {
                out.insert(
                    "traceId".into(),
                    hex(v.bytes("traceId").map_err(wire)?).into(),
                );
            }
            10 => {
                out.insert(
                    "spanId".into(),
                    hex(v.bytes("spanId").map_err(wire)?).into(),
                );
            }
            12 => {
                out.insert(
                    "eventName".into(),
                    v.text("eventName").map_err(wire)?.into(),
                );
            }
            _ => {}
        }
    }
    out.insert("attributes".into(), Value::Array(attributes));
    Ok(Value::Object(out))
}

fn key_value(m: &[u8]) -> Result<Value, IngestError> {
    key_value_at(m, 0)
}

fn key_value_at(m: &[u8], depth: usize) -> Result<Value, IngestError> {
    let (mut key, mut value) = (String::new(), Value::Null);
    let mut f = Fields::new(m);
    while let Some((n, v)) = f.next_field().map_err(wire)? {
        match n {
            1 => key = v.text("key").map_err(wire)?,
            2 => value = any_value(v.bytes("value").map_err(wire)?, depth + 1)?,
            _ => {}
        }
    }
    Ok(json!({ "key": key, "value": value }))
}

fn any_value(m: &[u8], depth: usize) -> Result<Value, IngestError> {
    if depth > MAX_VALUE_DEPTH {
        return Err(IngestError::NestingTooDeep(format!(
            "an attribute or body nests deeper than {MAX_NESTING} levels"
        )));
    }
    let mut out = json!({});
    let mut f = Fields::new(m);
    while let Some((n, v)) = f.next_field().map_err(wire)? {
        let int = |v: Wire<'_>| v.int("value").map_err(wire);
        out = match n {
            1 => json!({ "stringValue": v.text("stringValue").map_err(wire)? }),
            2 => json!({ "boolValue": int(v)? != 0 }),
            3 => json!({ "intValue": (int(v)? as i64).to_string() }),
            4 => json!({ "doubleValue": f64::from_bits(int(v)?) }),
            5 | 6 => {
                let mut items = Vec::new();
                let mut list = Fields::new(v.bytes("values").map_err(wire)?);
                while let Some((k, item)) = list.next_field().map_err(wire)? {
                    if k == 1 {
                        let item = item.bytes("value").map_err(wire)?;
                        items.push(match n {
                            5 => any_value(item, depth + 1)?,
                            _ => key_value_at(item, depth + 1)?,
                        });
                    }
                }
                match n {
                    5 => json!({ "arrayValue": { "values": items } }),
                    _ => json!({ "kvlistValue": { "values": items } }),
                }
            }
            7 => json!({ "bytesValue": hex(v.bytes("bytesValue").map_err(wire)?) }),
            _ => out,
        };
    }
    Ok(out)
}

/// An `AnyValue` (JSON mapping) as a plain JSON value.
fn plain(v: &Value) -> Value {
    let Some(obj) = v.as_object() else {
        return Value::Null;
    };
    if let Some(s) = obj.get("stringValue") {
        return s.clone();
    }
    if let Some(b) = obj.get("boolValue") {
        return b.clone();
    }
    if let Some(i) = obj.get("intValue") {
        // int64 is a string in OTLP's JSON mapping; a number is accepted too.
        return match i {
            Value::String(s) => s.parse::<i64>().map_or_else(|_| i.clone(), Value::from),
            other => other.clone(),
        };
    }
    if let Some(d) = obj.get("doubleValue") {
        return d.clone();
    }
    if let Some(a) = obj.get("arrayValue") {
        let values = a["values"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        return Value::Array(values.iter().map(plain).collect());
    }
    if let Some(kv) = obj.get("kvlistValue") {
        return Value::Object(attributes(&kv["values"]));
    }
    if let Some(b) = obj.get("bytesValue") {
        return b.clone();
    }
    Value::Null
}

/// A list of `KeyValue`s as a JSON object, each dotted name a path (`http.status_code` →
/// `{"http": {"status_code": …}}`); a name whose path is taken by a value stays as it is.
fn attributes(list: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for kv in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        let Some(key) = kv["key"].as_str() else {
            continue;
        };
        let value = plain(&kv["value"]);
        if !insert_path(&mut out, key, value.clone()) {
            out.insert(key.to_string(), value);
        }
    }
    out
}

/// Inserts `value` at the dotted `path` of `map`; `false` (nothing changed) when a part of the
/// path already holds something else.
fn insert_path(map: &mut Map<String, Value>, path: &str, value: Value) -> bool {
    match path.split_once('.') {
        Some((head, rest)) if !head.is_empty() && !rest.is_empty() => {
            match map.entry(head).or_insert_with(|| Value::Object(Map::new())) {
                Value::Object(inner) => insert_path(inner, rest, value),
                _ => false,
            }
        }
        _ if map.contains_key(path) => false,
        _ => {
            map.insert(path.to_string(), value);
            true
        }
    }
}

/// The level of an OTLP severity number (1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20
/// ERROR, 21-24 FATAL); `None` for 0 (unspecified) and anything else.
pub fn severity_level(n: u64) -> Option<Level> {
    match n {
        1..=8 => Some(Level::Debug),
        9..=12 => Some(Level::Info),
        13..=16 => Some(Level::Warn),
        17..=24 => Some(Level::Error),
        _ => None,
    }
}

/// Nanoseconds since the epoch (a decimal string or a number) as milliseconds; `None` for 0.
fn nanos_ms(v: &Value) -> Option<i64> {
    let n = match v {
        Value::String(s) => s.parse::<u64>().ok()?,
        Value::Number(n) => n.as_u64()?,
        _ => return None,
    };
    (n > 0).then_some((n / 1_000_000) as i64)
}

/// The entries of an export, and the records rejected alone (with why).
#[derive(Debug, Default)]
pub struct Export {
    pub drafts: Vec<Draft>,
    pub rejected: Vec<String>,
}

/// OTLP's answer for an export: `ExportLogsServiceResponse` with `partial_success` set only when
/// records were rejected, as protobuf (`protobuf`) or in the JSON mapping.
pub fn response(export: &Export, protobuf: bool) -> Vec<u8> {
    let rejected = export.rejected.len() as u64;
    let message = export.rejected.first().cloned().unwrap_or_default();
    match (rejected, protobuf) {
        (0, true) => Vec::new(),
        (0, false) => b"{}".to_vec(),
        (n, false) => json!({"partialSuccess": {"rejectedLogRecords": n.to_string(), "errorMessage": message}})
            .to_string()
            .into_bytes(),
        (n, true) => {
            let mut partial = vec![0x08];
            varint(&mut partial, n);
            partial.push(0x12);
            varint(&mut partial, message.len() as u64);
            partial.extend(message.as_bytes());
            let mut out = vec![0x0a];
            varint(&mut out, partial.len() as u64);
            out.extend(partial);
            out
        }
    }
}

/// OTLP's error body for a refused request: a `google.rpc.Status` (protobuf, or its JSON
/// mapping) with the gRPC code of the HTTP status and the logger's own code first in the message
/// (`"INVALID_JSON: ..."`).
pub fn status_body(http_status: u16, message: &str, protobuf: bool) -> Vec<u8> {
    let code: u64 = match http_status {
        401 => 16,      // UNAUTHENTICATED
        403 => 7,       // PERMISSION_DENIED
        404 => 5,       // NOT_FOUND
        413 | 429 => 8, // RESOURCE_EXHAUSTED
        400..=499 => 3, // INVALID_ARGUMENT
        503 => 14,      // UNAVAILABLE
        _ => 13,        // INTERNAL
    };
    if !protobuf {
        return json!({ "code": code, "message": message })
            .to_string()
            .into_bytes();
    }
    let mut out = vec![0x08];
    varint(&mut out, code);
    out.push(0x12);
    varint(&mut out, message.len() as u64);
    out.extend(message.as_bytes());
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The entries of an `ExportLogsServiceRequest` (JSON mapping).
pub fn drafts(request: &Value, limits: &Limits, now_ms: i64) -> Result<Export, IngestError> {
    let Some(resources) = request.get("resourceLogs").and_then(Value::as_array) else {
        return Err(IngestError::InvalidEntry(
            "an ExportLogsServiceRequest has resourceLogs: [...]".into(),
        ));
    };
    let mut out = Vec::new();
    let mut rejected = Vec::new();
    for (r, resource) in resources.iter().enumerate() {
        let resource_attrs = attributes(&resource["resource"]["attributes"]);
        for (s, scope) in array(resource, "scopeLogs").iter().enumerate() {
            for (i, record) in array(scope, "logRecords").iter().enumerate() {
                if out.len() == limits.max_entries {
                    return Err(IngestError::TooManyEntries {
                        count: count_records(resources),
                        limit: limits.max_entries,
                    });
                }
                let at = format!("resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]");
                let shared = Shared {
                    resource: &resource_attrs,
                    scope,
                };
                match record_draft(record, &shared, limits, now_ms) {
                    Ok(d) => out.push(d),
                    Err(Rejected(why)) => rejected.push(format!("{at}{why}")),
                }
            }
        }
    }
    Ok(Export {
        drafts: out,
        rejected,
    })
}

/// What a record shares with the others of its resource and scope.
struct Shared<'a> {
    resource: &'a Map<String, Value>,
    scope: &'a Value,
}

/// Why one record is refused alone (counted in `partialSuccess`): the rest of its place, such
/// as `.timeUnixNano: …`.
struct Rejected(String);

/// One record's entry: its level, message, time, trace id as the request id, and its
/// attributes with the resource's, the scope, the span and the event name as context.
fn record_draft(
    record: &Value,
    shared: &Shared<'_>,
    limits: &Limits,
    now_ms: i64,
) -> Result<Draft, Rejected> {
    // A record is an object; anything else in `logRecords` is no record, refused alone.
    if !record.is_object() {
        return Err(Rejected(": not a log record (an object)".into()));
    }
    let level = record["severityNumber"]
        .as_u64()
        .and_then(severity_level)
        .or_else(|| record["severityText"].as_str().and_then(Level::from_alias))
        .unwrap_or(Level::Info);
    let event = record["eventName"].as_str().filter(|e| !e.is_empty());
    let message = match plain(&record["body"]) {
        Value::String(s) if !s.trim().is_empty() => s,
        Value::Null | Value::String(_) => event.unwrap_or("(no body)").to_string(),
        other => other.to_string(),
    };
    let message = clip(&message, limits.max_message_bytes).to_string();
    let timestamp = match nanos_ms(&record["timeUnixNano"])
        .or_else(|| nanos_ms(&record["observedTimeUnixNano"]))
        .map(|ms| parse_timestamp(&ms.into(), now_ms))
    {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => return Err(Rejected(format!(".timeUnixNano: {e}"))),
    };
    let id = |key: &str| {
        record[key]
            .as_str()
            .filter(|t| !t.is_empty() && t.bytes().any(|b| b != b'0'))
    };
    let mut context = attributes(&record["attributes"]);
    if !shared.resource.is_empty() {
        context.insert("resource".into(), Value::Object(shared.resource.clone()));
    }
    let scope = &shared.scope["scope"];
    if let Some(name) = scope["name"].as_str().filter(|n| !n.is_empty()) {
        let mut scope_info = json!({ "name": name });
        if let Some(v) = scope["version"].as_str().filter(|v| !v.is_empty()) {
            scope_info["version"] = v.into();
        }
        context.insert("scope".into(), scope_info);
    }
    if let Some(span) = id("spanId") {
        context.insert("span_id".into(), span.into());
    }
    if let Some(e) = event {
        context.insert("event_name".into(), e.into());
    }
    if context.values().map(nesting).max().unwrap_or(0) + 1 > MAX_NESTING {
        return Err(Rejected(format!(
            ": attributes nest deeper than {MAX_NESTING} levels"
        )));
    }
    Ok(Draft {
        level,
        message,
        timestamp,
        request_id: id("traceId")
            .filter(|t| is_request_id(t))
            .map(str::to_string),
        context: (!context.is_empty()).then_some(context),
        client_id: None,
    })
}

fn count_records(resources: &[Value]) -> usize {
    resources
        .iter()
        .flat_map(|r| array(r, "scopeLogs"))
        .map(|s| array(s, "logRecords").len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::protobuf::tests::Writer;

    const NOW: i64 = 1_750_000_000_000;
    const L: Limits = Limits {
        max_body_bytes: 100_000,
        max_entries: 3,
        max_message_bytes: 20,
    };

    fn kv(key: &str, value: Writer) -> Writer {
        Writer::default().text(1, key).message(2, value)
    }

    fn string(s: &str) -> Writer {
        Writer::default().text(1, s)
    }

    /// What the OpenTelemetry SDKs' protobuf exporters send for one record.
    fn request() -> Vec<u8> {
        let record = Writer::default()
            .fixed64(1, (NOW as u64 - 5) * 1_000_000)
            .uint(2, 17)
            .text(3, "ERROR")
            .message(5, string("payment failed"))
            .message(6, kv("order_id", Writer::default().uint(3, 77)))
            .message(
                6,
                kv(
                    "cart",
                    Writer::default().message(
                        6,
                        Writer::default().message(1, kv("items", Writer::default().uint(3, 2))),
                    ),
                ),
            )
            .bytes(9, &[0xab; 16])
            .bytes(10, &[0xcd; 8]);
        let scope = Writer::default()
            .message(1, Writer::default().text(1, "checkout").text(2, "1.2"))
            .message(2, record);
        let resource = Writer::default().message(1, kv("service.name", string("shop")));
        let resource_logs = Writer::default().message(1, resource).message(2, scope);
        Writer::default().message(1, resource_logs).0
    }

    #[test]
    fn a_protobuf_record_becomes_the_entry_the_json_form_would() {
        let decoded = decode_protobuf(&request()).unwrap();
        let d = drafts(&decoded, &L, NOW).unwrap().drafts;
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert_eq!(d.level, Level::Error);
        assert_eq!(d.message, "payment failed");
        assert_eq!(d.timestamp, Some(NOW - 5));
        assert_eq!(
            d.request_id.as_deref(),
            Some("abababababababababababababababab")
        );
        assert_eq!(
            Value::Object(d.context.clone().unwrap()),
            json!({
                "order_id": 77, "cart": {"items": 2},
                "resource": {"service": {"name": "shop"}},
                "scope": {"name": "checkout", "version": "1.2"},
                "span_id": "cdcdcdcdcdcdcdcd"
            })
        );
        // The same request in OTLP's JSON mapping.
        let as_json = json!({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
            "scopeLogs": [{"scope": {"name": "checkout", "version": "1.2"}, "logRecords": [{
                "timeUnixNano": ((NOW as u64 - 5) * 1_000_000).to_string(),
                "severityNumber": 17, "severityText": "ERROR",
                "body": {"stringValue": "payment failed"},
                "attributes": [
                    {"key": "order_id", "value": {"intValue": "77"}},
                    {"key": "cart", "value": {"kvlistValue": {"values": [
                        {"key": "items", "value": {"intValue": 2}}]}}}
                ],
                "traceId": "abababababababababababababababab", "spanId": "cdcdcdcdcdcdcdcd"
            }]}]
        }]});
        assert_eq!(drafts(&as_json, &L, NOW).unwrap().drafts[0], *d);
    }

    #[test]
    fn severities_bodies_and_times_map_onto_entries() {
        let record = |r: Value| json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [r]}]}]});
        let one = |r: Value| drafts(&record(r), &L, NOW).unwrap().drafts.remove(0);
        assert_eq!(
            one(json!({"severityNumber": 1, "body": {"stringValue": "t"}})).level,
            Level::Debug
        );
        assert_eq!(
            one(json!({"severityNumber": 21, "body": {"stringValue": "f"}})).level,
            Level::Error
        );
        assert_eq!(
            one(json!({"severityText": "warning", "body": {"stringValue": "w"}})).level,
            Level::Warn
        );
        assert_eq!(
            one(json!({"body": {"stringValue": "x"}})).level,
            Level::Info
        );
        assert_eq!(one(json!({})).message, "(no body)");
        assert_eq!(
            one(json!({"eventName": "checkout.done"})).message,
            "checkout.done"
        );
        assert_eq!(one(json!({"body": {"kvlistValue": {"values": [{"key": "a", "value": {"boolValue": true}}]}}})).message, r#"{"a":true}"#);
        let long = one(json!({"body": {"stringValue": "x".repeat(50)}}));
        assert_eq!(long.message.len(), 20, "clipped, not refused");
        let observed = one(json!({"observedTimeUnixNano": (NOW as u64 * 1_000_000).to_string()}));
        assert_eq!(observed.timestamp, Some(NOW));
        assert_eq!(
            one(json!({"timeUnixNano": "0"})).timestamp,
            None,
            "0 is unset: now"
        );
        assert_eq!(
            one(json!({"traceId": "00000000000000000000000000000000"})).request_id,
            None
        );
    }

    #[test]
    fn what_is_not_a_record_is_refused_alone_and_its_siblings_kept() {
        let request = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            "a string", {"body": {"stringValue": "kept"}}, 7, null, ["x"]
        ]}]}]});
        let export = drafts(&request, &L, NOW).unwrap();
        assert_eq!(export.drafts.len(), 1);
        assert_eq!(export.drafts[0].message, "kept");
        assert_eq!(export.rejected.len(), 4, "{:?}", export.rejected);
        assert!(export.rejected[0].ends_with("logRecords[0]: not a log record (an object)"));
    }

    #[test]
    fn a_refusal_is_a_status_in_the_requests_encoding() {
        let j: Value = serde_json::from_slice(&status_body(400, "INVALID_JSON: x", false)).unwrap();
        assert_eq!(j, json!({"code": 3, "message": "INVALID_JSON: x"}));
        let p = status_body(503, "BACKPRESSURE: full", true);
        let mut f = crate::ingest::protobuf::Fields::new(&p);
        assert_eq!(f.next_field().unwrap(), Some((1, Wire::Varint(14))));
        let (_, m) = f.next_field().unwrap().unwrap();
        assert_eq!(m.text("m").unwrap(), "BACKPRESSURE: full");
        let u: Value = serde_json::from_slice(&status_body(401, "UNAUTHORIZED: k", false)).unwrap();
        assert_eq!(u["code"], 16);
    }

    #[test]
    fn bad_requests_are_refused_with_their_reason() {
        assert!(matches!(
            decode_protobuf(&[0x0a, 0x09, 0x01]),
            Err(IngestError::InvalidProtobuf(_))
        ));
        let empty = drafts(&json!({"resourceLogs": []}), &L, NOW).unwrap();
        assert!(
            empty.drafts.is_empty() && empty.rejected.is_empty(),
            "an empty export is fine"
        );
        assert!(matches!(
            drafts(&json!({"logs": []}), &L, NOW),
            Err(IngestError::InvalidEntry(_))
        ));
        let many = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{}, {}, {}, {}]}]}]});
        assert!(matches!(
            drafts(&many, &L, NOW),
            Err(IngestError::TooManyEntries { count: 4, limit: 3 })
        ));
        // A record that cannot be stored is rejected alone, and the answer says so.
        let mixed = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
            {"timeUnixNano": ((NOW as u64 + 2 * 86_400_000) * 1_000_000).to_string()},
            {"body": {"stringValue": "fine"}}]}]}]});
        let e = drafts(&mixed, &L, NOW).unwrap();
        assert_eq!((e.drafts.len(), e.rejected.len()), (1, 1));
        assert!(
            e.rejected[0].contains("logRecords[0].timeUnixNano"),
            "{:?}",
            e.rejected
        );
        let as_json: Value = serde_json::from_slice(&response(&e, false)).unwrap();
        assert_eq!(as_json["partialSuccess"]["rejectedLogRecords"], "1");
        let proto = response(&e, true);
        let mut f = crate::ingest::protobuf::Fields::new(&proto);
        let (n, partial) = f.next_field().unwrap().unwrap();
        let mut p = crate::ingest::protobuf::Fields::new(partial.bytes("p").unwrap());
        assert_eq!(n, 1);
        assert_eq!(p.next_field().unwrap(), Some((1, Wire::Varint(1))));
        let ok = Export {
            drafts: e.drafts,
            rejected: Vec::new(),
        };
        assert!(response(&ok, true).is_empty() && response(&ok, false) == b"{}");

        // A body nested far deeper than any entry may be: refused before the reader recurses.
        let mut deep = string("x");
        for _ in 0..200 {
            deep = Writer::default().message(5, Writer::default().message(1, deep));
        }
        let record = Writer::default().message(5, deep);
        let body = Writer::default()
            .message(
                1,
                Writer::default().message(2, Writer::default().message(2, record)),
            )
            .0;
        assert!(matches!(
            decode_protobuf(&body),
            Err(IngestError::NestingTooDeep(_))
        ));
    }
}
