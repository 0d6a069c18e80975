//! Grafana Loki's push API (`POST /loki/api/v1/push`), JSON or protobuf (snappy-compressed, as
//! Promtail and `winston-loki` send it): each line of each stream becomes a [`Draft`].
//!
//! - message: the line, clipped to `MAX_MESSAGE_BYTES` (a pushed line is never refused for its
//!   length: a client drops the whole push on a 4xx);
//! - level: the stream's or line's `level` label (or `severity`, `detected_level`, `lvl`), by
//!   `Level::from_alias`, else INFO;
//! - time: the line's nanoseconds;
//! - context: the stream's labels and the line's structured metadata, as one object;
//! - request id: a `request_id`, `trace_id` or `traceID` label, when it is a valid one.
//!
//! Does not authenticate or deliver (`http::api::loki`).

use crate::ingest::error::IngestError;
use crate::ingest::protobuf::{Fields, WireError};
use crate::ingest::rest::{Draft, Limits};
use crate::model::entry::clip;
use crate::model::id::is_request_id;
use crate::model::level::Level;
use crate::model::time::parse_timestamp;
use serde_json::{Map, Value};

/// One pushed line with its stream's labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub labels: Map<String, Value>,
    /// Nanoseconds since the epoch.
    pub nanos: i128,
    pub line: String,
    pub metadata: Map<String, Value>,
}

const LEVEL_LABELS: [&str; 4] = ["level", "severity", "detected_level", "lvl"];
const ID_LABELS: [&str; 3] = ["request_id", "trace_id", "traceID"];

fn wire(e: WireError) -> IngestError {
    IngestError::InvalidProtobuf(format!("PushRequest: {e}"))
}

/// A stream selector's labels (`{app="shop", level="info"}`), Prometheus' text form.
pub fn parse_labels(text: &str) -> Result<Map<String, Value>, IngestError> {
    let bad = |why: &str| IngestError::InvalidEntry(format!("labels {text:?}: {why}"));
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| bad("must be {name=\"value\", ...}"))?;
    let mut out = Map::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_')).collect();
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if name.is_empty() || chars.next() != Some('=') {
            return Err(bad("a label is name=\"value\""));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('"') {
            return Err(bad("a label's value is quoted"));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return Err(bad("a quoted value is not closed")),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => return Err(bad("a quoted value is not closed")),
                },
                Some(c) => value.push(c),
            }
        }
        out.insert(name, value.into());
    }
}

/// The lines of a protobuf `PushRequest` (already decompressed).
pub fn decode_protobuf(body: &[u8]) -> Result<Vec<Line>, IngestError> {
    let mut out = Vec::new();
    let mut push = Fields::new(body);
    while let Some((n, stream)) = push.next_field().map_err(wire)? {
        if n != 1 {
            continue;
        }
        let (mut labels, mut entries) = (Map::new(), Vec::new());
        let mut s = Fields::new(stream.bytes("streams").map_err(wire)?);
        while let Some((n, v)) = s.next_field().map_err(wire)? {
            match n {
                1 => labels = parse_labels(&v.text("labels").map_err(wire)?)?,
                2 => entries.push(v.bytes("entries").map_err(wire)?),
                _ => {}
            }
        }
        for entry in entries {
            let mut line = Line {
                labels: labels.clone(),
                nanos: 0,
                line: String::new(),
                metadata: Map::new(),
            };
            let mut e = Fields::new(entry);
            while let Some((n, v)) = e.next_field().map_err(wire)? {
                match n {
                    1 => {
                        let mut t = Fields::new(v.bytes("timestamp").map_err(wire)?);
                        while let Some((n, v)) = t.next_field().map_err(wire)? {
                            let x = v.int("timestamp").map_err(wire)? as i64;
                            match n {
                                1 => line.nanos += i128::from(x) * 1_000_000_000,
                                2 => line.nanos += i128::from(x as i32),
                                _ => {}
                            }
                        }
                    }
                    2 => line.line = v.text("line").map_err(wire)?,
                    3 => {
                        let (mut name, mut value) = (String::new(), String::new());
                        let mut p = Fields::new(v.bytes("structuredMetadata").map_err(wire)?);
                        while let Some((n, v)) = p.next_field().map_err(wire)? {
                            match n {
                                1 => name = v.text("name").map_err(wire)?,
                                2 => value = v.text("value").map_err(wire)?,
                                _ => {}
                            }
                        }
                        line.metadata.insert(name, value.into());
                    }
                    _ => {}
                }
            }
            out.push(line);
        }
    }
    Ok(out)
}

/// The lines of a JSON push: `{"streams": [{"stream": {...}, "values": [["<ns>", "line",
/// {metadata}?], ...]}]}`.
pub fn decode_json(body: &Value) -> Result<Vec<Line>, IngestError> {
    let streams = body
        .get("streams")
        .and_then(Value::as_array)
        .ok_or_else(|| IngestError::InvalidEntry("a push is {\"streams\": [...]}".into()))?;
    let mut out = Vec::new();
    for (s, stream) in streams.iter().enumerate() {
        // The labels as an object, or as Loki's selector string (also the older push's
        // `labels`).
        let labels = match (&stream["stream"], &stream["labels"]) {
            (Value::Object(m), _) => m.clone(),
            (Value::String(t), _) | (Value::Null, Value::String(t)) => parse_labels(t)?,
            (Value::Null, Value::Null) => Map::new(),
            _ => {
                return Err(IngestError::InvalidEntry(format!(
                    "streams[{s}].stream: an object of labels, or {{name=\"value\"}}"
                )))
            }
        };
        // Loki's older push: `entries: [{"ts": "<RFC 3339>", "line": "..."}]`.
        if let Some(entries) = stream["entries"].as_array() {
            for (i, e) in entries.iter().enumerate() {
                let at = format!("streams[{s}].entries[{i}]");
                let ms = crate::model::time::parse_timestamp(&e["ts"], i64::MAX / 2)
                    .map_err(|why| IngestError::InvalidTimestamp(format!("{at}.ts: {why}")))?;
                let line = e["line"].as_str().ok_or_else(|| {
                    IngestError::InvalidEntry(format!("{at}.line: the line, a string"))
                })?;
                out.push(Line {
                    labels: labels.clone(),
                    nanos: i128::from(ms) * 1_000_000,
                    line: line.to_string(),
                    metadata: Map::new(),
                });
            }
            continue;
        }
        let values = stream["values"].as_array().ok_or_else(|| {
            IngestError::InvalidEntry(format!("streams[{s}].values: must be an array"))
        })?;
        for (i, v) in values.iter().enumerate() {
            let at = format!("streams[{s}].values[{i}]");
            let nanos = match &v[0] {
                Value::String(t) => t.parse::<i128>().ok(),
                Value::Number(n) => n.as_i64().map(i128::from),
                _ => None,
            }
            .ok_or_else(|| {
                IngestError::InvalidTimestamp(format!(
                    "{at}[0]: nanoseconds since the epoch, as a string"
                ))
            })?;
            let line = v[1]
                .as_str()
                .ok_or_else(|| IngestError::InvalidEntry(format!("{at}[1]: the line, a string")))?;
            let metadata = v[2].as_object().cloned().unwrap_or_default();
            out.push(Line {
                labels: labels.clone(),
                nanos,
                line: line.to_string(),
                metadata,
            });
        }
    }
    Ok(out)
}

/// The entries of pushed lines.
pub fn drafts(lines: Vec<Line>, limits: &Limits, now_ms: i64) -> Result<Vec<Draft>, IngestError> {
    if lines.is_empty() {
        return Err(IngestError::EmptyBatch);
    }
    if lines.len() > limits.max_entries {
        return Err(IngestError::TooManyEntries {
            count: lines.len(),
            limit: limits.max_entries,
        });
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let mut context = l.labels;
            context.extend(l.metadata);
            let text = |keys: &[&str]| {
                keys.iter()
                    .find_map(|k| context.get(*k)?.as_str().map(str::to_string))
            };
            let level = text(&LEVEL_LABELS)
                .and_then(|l| Level::from_alias(&l))
                .unwrap_or(Level::Info);
            let request_id = text(&ID_LABELS).filter(|r| is_request_id(r));
            let ms = i64::try_from(l.nanos / 1_000_000).unwrap_or(i64::MAX);
            let timestamp = parse_timestamp(&ms.into(), now_ms)
                .map_err(|e| IngestError::InvalidTimestamp(format!("line {i}: {e}")))?;
            let message = match l.line.trim() {
                "" => "(empty line)".to_string(),
                _ => clip(&l.line, limits.max_message_bytes).to_string(),
            };
            Ok(Draft {
                level,
                message,
                timestamp: Some(timestamp),
                request_id,
                context: (!context.is_empty()).then_some(context),
                client_id: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::protobuf::tests::Writer;
    use serde_json::json;

    const NOW: i64 = 1_750_000_000_000;
    const L: Limits = Limits {
        max_body_bytes: 100_000,
        max_entries: 3,
        max_message_bytes: 20,
    };

    #[test]
    fn labels_parse_with_quotes_and_escapes() {
        let l = parse_labels(r#"{app="shop", level="warn",msg="say \"hi\"\n"}"#).unwrap();
        assert_eq!(
            Value::Object(l),
            json!({"app": "shop", "level": "warn", "msg": "say \"hi\"\n"})
        );
        assert!(parse_labels("{}").unwrap().is_empty());
        for bad in ["app=\"x\"", "{app=x}", "{app=\"x}", "{=\"x\"}"] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_protobuf_push_reads_as_the_json_push_would() {
        let ns = (NOW as u64 - 7) * 1_000_000 + 123;
        let entry = Writer::default()
            .message(
                1,
                Writer::default()
                    .uint(1, ns / 1_000_000_000)
                    .uint(2, ns % 1_000_000_000),
            )
            .text(2, "disk almost full")
            .message(3, Writer::default().text(1, "trace_id").text(2, "t-1"));
        let stream = Writer::default()
            .text(1, r#"{job="api", level="warning"}"#)
            .message(2, entry);
        let proto = decode_protobuf(&Writer::default().message(1, stream).0).unwrap();
        let as_json = decode_json(
            &json!({"streams": [{"stream": {"job": "api", "level": "warning"},
            "values": [[ns.to_string(), "disk almost full", {"trace_id": "t-1"}]]}]}),
        )
        .unwrap();
        assert_eq!(proto, as_json);
        let d = drafts(proto, &L, NOW).unwrap().remove(0);
        assert_eq!(
            (d.level, d.message.as_str(), d.timestamp),
            (Level::Warn, "disk almost full", Some(NOW - 7))
        );
        assert_eq!(d.request_id.as_deref(), Some("t-1"));
        assert_eq!(
            Value::Object(d.context.unwrap()),
            json!({"job": "api", "level": "warning", "trace_id": "t-1"})
        );
    }

    #[test]
    fn labels_may_be_a_selector_string_and_the_older_push_form_reads_too() {
        let lines = decode_json(&json!({"streams": [
            {"stream": "{job=\"api\"}", "values": [["1750000000000000000", "a"]]},
            {"labels": "{job=\"old\"}", "entries": [{"ts": "2025-06-15T12:00:00Z", "line": "b"}]}
        ]}))
        .unwrap();
        assert_eq!(lines[0].labels["job"], "api");
        assert_eq!(
            (lines[1].labels["job"].as_str(), lines[1].line.as_str()),
            (Some("old"), "b")
        );
        assert_eq!(lines[1].nanos, 1_749_988_800_000i128 * 1_000_000);
        assert!(decode_json(&json!({"streams": [{"stream": 7, "values": []}]})).is_err());
    }

    #[test]
    fn bad_pushes_are_refused_with_their_reason() {
        assert!(matches!(
            decode_json(&json!({"stream": []})),
            Err(IngestError::InvalidEntry(_))
        ));
        let bad_time = json!({"streams": [{"stream": {}, "values": [["soon", "x"]]}]});
        assert!(matches!(
            decode_json(&bad_time),
            Err(IngestError::InvalidTimestamp(_))
        ));
        assert!(matches!(
            drafts(Vec::new(), &L, NOW),
            Err(IngestError::EmptyBatch)
        ));
        let line = |n: i128| Line {
            labels: Map::new(),
            nanos: n,
            line: "x".repeat(30),
            metadata: Map::new(),
        };
        assert!(matches!(
            drafts(vec![line(0); 4], &L, NOW),
            Err(IngestError::TooManyEntries { .. })
        ));
        assert!(matches!(
            drafts(vec![line(5)], &L, NOW),
            Err(IngestError::InvalidTimestamp(_))
        ));
        let d = drafts(vec![line(i128::from(NOW) * 1_000_000)], &L, NOW).unwrap();
        assert_eq!(d[0].message.len(), 20, "clipped, not refused");
        assert!(matches!(
            decode_protobuf(&[0x0a, 0x03, 0x0a, 0x05]),
            Err(IngestError::InvalidProtobuf(_))
        ));
    }
}
