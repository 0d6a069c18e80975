//! Ingest path 2: `POST /logs` with an API key, single entries and batches, and every way a
//! request can be refused.

use crate::harness::{fast, unique, Logger, LAND};
use serde_json::{json, Value};

#[test]
fn a_single_entry_lands_with_its_fields() {
    let (logger, app, key) = Logger::with_app(fast(), "rest-one");
    let r = logger.call(
        "POST",
        "/logs",
        &[
            ("x-api-key", &key),
            ("x-app-id", &app),
            ("x-request-id", "hdr-req-7"),
        ],
        Some(
            json!({
                "level": "error", "message": "db timeout",
                "context": {"query": "SELECT 1", "ms": 5012},
                "timestamp": "2026-01-02T03:04:05.678Z"
            })
            .to_string()
            .as_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["accepted"], 1);
    assert_eq!(r.request_id.as_deref(), Some("hdr-req-7"));
    let id = r.body["data"]["ids"][0].as_str().unwrap().to_string();

    let rows = logger.wait_for_rows(&app, 1, LAND);
    let row = &rows[0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["level"], "ERROR");
    assert_eq!(row["message"], "db timeout");
    assert_eq!(row["source"], "rest");
    assert_eq!(row["request_id"], "hdr-req-7");
    assert_eq!(row["timestamp"], 1_767_323_045_678i64);
    assert!(row["received_at"].as_i64().unwrap() > row["timestamp"].as_i64().unwrap());
    let data = row["context"].clone();
    assert_eq!(data, json!({"query": "SELECT 1", "ms": 5012}));
    assert!(row["method"].is_null());
}

#[test]
fn a_batch_lands_entry_for_entry() {
    let (logger, app, key) = Logger::with_app(fast(), "rest-batch");
    let logs: Vec<Value> = (0..250)
        .map(|i| {
            let level = ["debug", "INFO", "Warn", "error"][i % 4];
            json!({"level": level, "message": format!("m{i}"), "request_id": format!("r{i}")})
        })
        .collect();
    let r = logger.post_logs(&key, &json!({ "logs": logs }));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["accepted"], 250);
    let mut ids: Vec<String> = r.body["data"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let rows = logger.wait_for_rows(&app, 250, LAND);
    assert_eq!(rows.len(), 250);
    let mut stored: Vec<String> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    stored.sort();
    assert_eq!(ids, stored);
    let levels: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["level"].as_str().unwrap()).collect();
    assert_eq!(
        levels.into_iter().collect::<Vec<_>>(),
        ["DEBUG", "ERROR", "INFO", "WARN"]
    );
}

#[test]
fn bad_requests_get_their_codes_and_store_nothing() {
    let logger = Logger::start_with(
        fast()
            .var("MAX_ENTRIES_PER_REQUEST", 10)
            .var("MAX_BODY_BYTES", 20_000)
            .var("MAX_MESSAGE_BYTES", 100),
    );
    let app = unique("rest-bad");
    let other = unique("rest-other");
    let key = logger.create_app(&app);
    logger.create_app(&other);
    let post = |body: &[u8], extra: &[(&str, &str)]| {
        let mut headers = vec![("x-api-key", key.as_str())];
        headers.extend_from_slice(extra);
        logger.call("POST", "/logs", &headers, Some(body))
    };
    let eleven: Vec<Value> = (0..11).map(|i| json!({"message": i.to_string()})).collect();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{\"message\": ".to_vec(), 400, "INVALID_JSON"),
        (b"not json at all".to_vec(), 400, "INVALID_JSON"),
        (
            json!({"message": 12}).to_string().into_bytes(),
            400,
            "INVALID_ENTRY",
        ),
        (
            json!({"level": "INFO"}).to_string().into_bytes(),
            400,
            "INVALID_ENTRY",
        ),
        (
            json!({"message": "x", "context": [1]})
                .to_string()
                .into_bytes(),
            400,
            "INVALID_ENTRY",
        ),
        (
            json!({"logs": {"message": "x"}}).to_string().into_bytes(),
            400,
            "INVALID_ENTRY",
        ),
        (
            json!({"logs": [{"message": "ok"}, {"message": "x", "level": "loud"}]})
                .to_string()
                .into_bytes(),
            400,
            "INVALID_LEVEL",
        ),
        (
            json!({"message": "x", "timestamp": "last tuesday"})
                .to_string()
                .into_bytes(),
            400,
            "INVALID_TIMESTAMP",
        ),
        (
            json!({"message": "x".repeat(101)}).to_string().into_bytes(),
            400,
            "MESSAGE_TOO_LONG",
        ),
        (
            json!({"logs": []}).to_string().into_bytes(),
            400,
            "EMPTY_BATCH",
        ),
        (
            format!(
                r#"{{"message":"x","context":{}1{}}}"#,
                r#"{"k":"#.repeat(33),
                "}".repeat(33)
            )
            .into_bytes(),
            400,
            "NESTING_TOO_DEEP",
        ),
        (
            format!(
                r#"{{"logs":[{{"message":"x","context":{{"a":{}1{}}}}}]}}"#,
                "[".repeat(600),
                "]".repeat(600)
            )
            .into_bytes(),
            400,
            "NESTING_TOO_DEEP",
        ),
        (
            json!({ "logs": eleven }).to_string().into_bytes(),
            413,
            "TOO_MANY_ENTRIES",
        ),
        (
            json!({"message": "y".repeat(30_000)})
                .to_string()
                .into_bytes(),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (body, status, code) in &cases {
        let r = post(body, &[]);
        assert_eq!(
            (r.status, r.code()),
            (*status, *code),
            "{}: {r:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        assert_eq!(r.body["ok"], false);
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(
            r.body["error"]["request_id"].as_str(),
            r.request_id.as_deref()
        );
    }
    // X-App-ID must name the key's own app.
    let r = post(
        json!({"message": "x"}).to_string().as_bytes(),
        &[("x-app-id", &other)],
    );
    assert_eq!((r.status, r.code()), (403, "APP_MISMATCH"));

    let ok = post(json!({"message": "sentinel"}).to_string().as_bytes(), &[]);
    assert_eq!(ok.status, 200, "{ok:?}");
    // The sentinel shares the shard (and so the flush) with anything accepted before it.
    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["message"], "sentinel");
    assert!(logger.app_rows(&other).is_empty());
}

#[test]
fn unknown_routes_and_methods_get_json_errors() {
    let logger = Logger::start();
    let r = logger.call("GET", "/nope", &[], None);
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = logger.call("DELETE", "/logs", &[], None);
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("GET, POST"));
    let r = logger.call("PUT", "/apps", &[], None);
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    // Methods the runtime passes through but the API does not know are never served as GET.
    // (Sent as raw HTTP/1.1: the test's HTTP client refuses such methods.)
    for m in ["PROPFIND", "SEARCH", "QUERY"] {
        let (status, text) = raw(&logger, m, "/_logger/logs");
        assert_eq!(status, 405, "{m}: {text}");
        assert!(
            text.contains("METHOD_NOT_ALLOWED") && text.contains(m),
            "{text}"
        );
        let (status, text) = raw(&logger, m, "/_logger/health");
        assert_eq!(status, 405, "{m}: {text}");
    }
}

/// One request as raw HTTP/1.1, any method: its status and the whole answer as text.
fn raw(logger: &Logger, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", logger.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .unwrap();
    // Read the head, then exactly the body it announces (the server may keep the connection).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = s.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break buf.len();
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let out = String::from_utf8_lossy(&buf).into_owned();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

#[test]
fn an_impossible_content_length_is_payload_too_large() {
    let (logger, _app, key) = Logger::with_app(fast(), "clen");
    let r = logger.call(
        "POST",
        "/logs",
        &[
            ("x-api-key", &key),
            ("content-type", "application/json"),
            ("x-fixture-content-length", "99999999999999999999"),
        ],
        Some(br#"{"message":"x"}"#),
    );
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"), "{r:?}");
}
