//! Input at the edges of what ingest takes, each refused (or taken) as the docs say: an encoding a
//! path does not read is 415 and stores nothing, media types are case-insensitive, NDJSON errors
//! name the line as the client counts it, an RPC key of any type is `UNAUTHORIZED`, and a
//! refusal does not echo what the caller sent.

use crate::harness::{fast, now_ms, Logger, LAND};
use serde_json::{json, Value};

fn post(
    logger: &Logger,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> crate::harness::Resp {
    let mut all = vec![("x-api-key", key)];
    all.extend_from_slice(headers);
    logger.call("POST", path, &all, Some(body))
}

#[test]
fn snappy_is_refused_where_nothing_reads_it_and_stores_nothing() {
    let (logger, app, key) = Logger::with_app(fast(), "snappy");
    let entry = br#"{"message":"sent as snappy"}"#;
    for path in ["/logs", "/v1/logs"] {
        let r = post(
            &logger,
            path,
            &key,
            &[
                ("content-type", "application/json"),
                ("content-encoding", "snappy"),
            ],
            entry,
        );
        // OTLP answers in its own form, a `google.rpc.Status` with the code first.
        let code = match path {
            "/logs" => r.code().to_string(),
            _ => r.body["message"]
                .as_str()
                .and_then(|m| m.split(':').next())
                .unwrap_or_default()
                .to_string(),
        };
        assert_eq!(
            (r.status, code.as_str()),
            (415, "UNSUPPORTED_ENCODING"),
            "{path}: {r:?}"
        );
    }
    // A good entry after them lands, and only it.
    let ok = logger.post_logs(&key, &json!({"message": "plain"}));
    assert_eq!(ok.status, 200, "{ok:?}");
    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["message"], "plain");
}

#[test]
fn media_types_are_read_case_insensitively() {
    let (logger, app, key) = Logger::with_app(fast(), "mediatype");
    let otlp = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": {"stringValue": "otlp upper-case type"}}
    ]}]}]});
    let r = post(
        &logger,
        "/v1/logs",
        &key,
        &[("content-type", "Application/JSON")],
        otlp.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let ns = format!("{}", now_ms() as i128 * 1_000_000);
    let loki =
        json!({"streams": [{"stream": {"job": "j"}, "values": [[ns, "loki upper-case type"]]}]});
    let r = post(
        &logger,
        "/loki/api/v1/push",
        &key,
        &[("content-type", "Application/Json; Charset=UTF-8")],
        loki.to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "{r:?}");
    let rows = logger.wait_for_rows(&app, 2, LAND);
    let mut got: Vec<&str> = rows.iter().filter_map(|r| r["message"].as_str()).collect();
    got.sort();
    assert_eq!(got, ["loki upper-case type", "otlp upper-case type"]);
}

#[test]
fn ndjson_errors_name_the_line_as_the_client_counts_it() {
    let (logger, _app, key) = Logger::with_app(fast(), "ndjsonline");
    let body = b"{\"message\":\"a\"}\n\n\n{oops}\n";
    let r = post(
        &logger,
        "/logs",
        &key,
        &[("content-type", "application/x-ndjson")],
        body,
    );
    assert_eq!(r.code(), "INVALID_JSON", "{r:?}");
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("line 4:"), "{message}");
}

#[test]
fn rpc_keys_of_any_type_are_unauthorized() {
    let (logger, _app, _key) = Logger::with_app(fast(), "rpckeys");
    for key in [
        json!(42),
        json!({"key": "x"}),
        json!(["lk_"]),
        json!(true),
        json!(""),
    ] {
        let call = json!({"key": key, "method": "log", "args": ["info", "x"]});
        let error = logger.fixture_call("/_rpc", &call).unwrap_err();
        assert!(error.starts_with("UNAUTHORIZED:"), "{key}: {error}");
    }
}

#[test]
fn a_refusal_does_not_echo_what_the_caller_sent() {
    let (logger, _app, key) = Logger::with_app(fast(), "noecho");
    let sent = "<script>alert(1)</script>";
    let r = post(
        &logger,
        "/logs",
        &key,
        &[("content-type", "application/json"), ("x-app-id", sent)],
        br#"{"message":"m"}"#,
    );
    assert_eq!(r.code(), "APP_MISMATCH", "{r:?}");
    assert!(!r.text.contains("script"), "{}", r.text);
    let r = post(
        &logger,
        "/logs",
        &key,
        &[
            ("content-type", "application/json"),
            ("content-encoding", sent),
        ],
        br#"{"message":"m"}"#,
    );
    assert_eq!(r.code(), "UNSUPPORTED_ENCODING", "{r:?}");
    assert!(!r.text.contains("script"), "{}", r.text);
    // OTLP answers in its own form (a `google.rpc.Status`), with the code first in its message.
    let r = post(&logger, "/v1/logs", &key, &[("content-type", sent)], b"{}");
    assert_eq!(r.status, 415, "{r:?}");
    let message: &Value = &r.body["message"];
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.starts_with("UNSUPPORTED_ENCODING")),
        "{r:?}"
    );
    assert!(!r.text.contains("script"), "{}", r.text);
}

#[test]
fn an_otlp_item_that_is_no_record_is_refused_alone() {
    let (logger, app, key) = Logger::with_app(fast(), "otlpnorecord");
    let export = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        "not a record", {"body": {"stringValue": "the real record"}}
    ]}]}]});
    let r = post(
        &logger,
        "/v1/logs",
        &key,
        &[("content-type", "application/json")],
        export.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["partialSuccess"]["rejectedLogRecords"], "1", "{r:?}");
    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["message"], "the real record");
}
