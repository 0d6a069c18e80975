//! Ingest from what teams already run: real OpenTelemetry SDKs (JS, JSON and protobuf; Python,
//! protobuf), Loki clients (`winston-loki` in JSON and snappy protobuf, `python-logging-loki`),
//! winston's Http transport (single and batched), pino through `pino-http-send` (NDJSON, HTTP
//! Basic), each configured as its users would (`tests/clients/`), and the JSON shapes they
//! send: pino's levels and `msg`, syslog's level names, extra fields, gzip bodies, Bearer and
//! Basic keys. `scripts/test` installs the clients (`tests/clients/node_modules`, a Python venv
//! in `target/clients-venv`).

use crate::harness::{fast, root, unique, Logger, LAND};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::process::Command;

fn clients() -> PathBuf {
    let dir = root().join("tests/clients");
    assert!(
        dir.join("node_modules").is_dir(),
        "tests/clients/node_modules is missing: scripts/test installs it (npm ci --prefix tests/clients)"
    );
    dir
}

fn python() -> PathBuf {
    let py = root().join("target/clients-venv/bin/python");
    assert!(py.exists(), "{py:?} is missing: scripts/test makes it");
    py
}

/// Runs one client against the logger; panics with its output when it reports a failure.
fn run_client(logger: &Logger, key: &str, run: &str, program: &PathBuf, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(clients())
        // The session serves the parent fixture first; it hands /_logger/* to the logger as is.
        .env("LOGGER_URL", format!("{}/_logger", logger.base()))
        .env("LOGGER_KEY", key)
        .env("RUN", run)
        .output()
        .expect("client runs");
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{}\n--- logger ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        logger.log_text()
    );
}

fn node(logger: &Logger, key: &str, run: &str, client: &str) {
    run_client(
        logger,
        key,
        run,
        &PathBuf::from("node"),
        &["clients.mjs", client],
    );
}

/// The rows whose message starts with `prefix`, once there are `n` of them.
fn rows(logger: &Logger, app: &str, prefix: &str, n: usize) -> Vec<Map<String, Value>> {
    logger.wait_until(&format!("{n} rows {prefix:?}"), LAND, || {
        let mine: Vec<_> = logger
            .app_rows(app)
            .into_iter()
            .filter(|r| r["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
            .collect();
        match mine.len() == n {
            true => Ok(mine),
            false => {
                let all: Vec<Value> = logger
                    .app_rows(app)
                    .iter()
                    .map(|r| r["message"].clone())
                    .collect();
                Err(format!(
                    "{} rows: {mine:#?}; the app has {all:?}",
                    mine.len()
                ))
            }
        }
    })
}

fn by_message<'a>(rows: &'a [Map<String, Value>], part: &str) -> &'a Map<String, Value> {
    rows.iter()
        .find(|r| r["message"].as_str().is_some_and(|m| m.contains(part)))
        .unwrap_or_else(|| panic!("no {part:?} in {rows:#?}"))
}

#[test]
fn opentelemetry_sdks_export_over_otlp_http_in_json_and_protobuf() {
    let (logger, app, key) = Logger::with_app(fast(), "otel");
    let run = unique("otel");
    for mode in ["json", "proto"] {
        node(&logger, &key, &run, &format!("otel-{mode}"));
        let got = rows(&logger, &app, &format!("{run} otel {mode}"), 2);
        let failed = by_message(&got, "payment failed");
        assert_eq!(
            (&failed["level"], &failed["source"]),
            (&json!("ERROR"), &json!("otlp"))
        );
        let data = &failed["context"];
        assert_eq!(data["order_id"], "o-1", "{failed:#?}");
        assert_eq!(data["http"]["status_code"], 502, "dotted names are paths");
        assert_eq!(
            data["resource"]["service"]["name"],
            format!("otel-js-{mode}")
        );
        assert_eq!(
            data["scope"],
            json!({"name": "checkout", "version": "1.2.0"})
        );
        assert_eq!(by_message(&got, "paid")["level"], "INFO");
    }
    run_client(&logger, &key, &run, &python(), &["clients.py", "otel"]);
    let got = rows(&logger, &app, &format!("{run} otel py"), 2);
    let failed = by_message(&got, "payment failed");
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["context"]["order_id"], "o-4", "{failed:#?}");
    assert_eq!(failed["context"]["resource"]["service"]["name"], "otel-py");
    // A service's logs, by its name.
    let q = logger.call(
        "GET",
        "/logs?context.resource.service.name=otel-py",
        &[("x-api-key", &key)],
        None,
    );
    assert_eq!(
        q.body["data"]["logs"].as_array().map(Vec::len),
        Some(2),
        "{q:?}"
    );

    // A bad key is refused (exporters do not retry a 4xx), as an OTLP Status with our code.
    let r = logger.call(
        "POST",
        "/v1/logs",
        &[
            ("content-type", "application/json"),
            ("x-api-key", "lk_nope"),
        ],
        Some(br#"{"resourceLogs":[]}"#),
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.body["code"], 16, "UNAUTHENTICATED: {r:?}");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .starts_with("UNAUTHORIZED:"),
        "{r:?}"
    );
    let r = logger.call(
        "POST",
        "/v1/logs",
        &[
            ("content-type", "application/x-protobuf"),
            ("x-api-key", &key),
        ],
        Some(&[0x0a, 0x09, 0x01]),
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.text.contains("INVALID_PROTOBUF:"),
        "a protobuf Status: {r:?}"
    );
}

#[test]
fn loki_clients_push_in_json_and_snappy_protobuf() {
    let (logger, app, key) = Logger::with_app(fast(), "loki");
    let run = unique("loki");
    for mode in ["json", "proto"] {
        node(&logger, &key, &run, &format!("winston-loki-{mode}"));
        let got = rows(&logger, &app, &format!("{run} loki {mode}"), 2);
        let failed = by_message(&got, "failed");
        assert_eq!(
            (&failed["level"], &failed["source"]),
            (&json!("ERROR"), &json!("loki"))
        );
        assert_eq!(
            failed["context"]["job"],
            format!("winston-loki-{mode}"),
            "{failed:#?}"
        );
    }
    run_client(&logger, &key, &run, &python(), &["clients.py", "loki"]);
    let got = rows(&logger, &app, &format!("{run} loki py"), 2);
    let full = by_message(&got, "disk almost full");
    assert_eq!(full["level"], "WARN", "{full:#?}");
    assert_eq!(
        (&full["context"]["job"], &full["context"]["volume"]),
        (&json!("py-loki"), &json!("data"))
    );
}

#[test]
fn winston_and_pino_log_over_http_as_configured() {
    let (logger, app, key) = Logger::with_app(fast(), "jsonlog");
    let run = unique("jsonlog");
    for (client, mode) in [("winston", "single"), ("winston-batch", "batch")] {
        node(&logger, &key, &run, client);
        let got = rows(&logger, &app, &format!("{run} winston {mode}"), 3);
        assert_eq!(by_message(&got, "started")["context"]["order_id"], "o-2");
        assert_eq!(by_message(&got, "slow")["level"], "WARN");
        assert_eq!(by_message(&got, "failed")["level"], "ERROR");
    }
    node(&logger, &key, &run, "pino");
    let got = rows(&logger, &app, &format!("{run} pino"), 3);
    let started = by_message(&got, "started");
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["context"]["order_id"], "o-3", "{started:#?}");
    assert_eq!(started["context"]["service"], "pino-app");
    assert_eq!(by_message(&got, "down")["level"], "ERROR", "pino's fatal");
}

/// The shapes those loggers send, posted as they would: syslog level names, extra fields, NDJSON,
/// gzip, and the key as Bearer or Basic.
#[test]
fn json_logger_shapes_encodings_and_keys_are_accepted() {
    let (logger, app, key) = Logger::with_app(fast(), "shapes");
    let run = unique("shapes");
    let post =
        |headers: &[(&str, &str)], body: &[u8]| logger.call("POST", "/logs", headers, Some(body));
    let body = json!([
        {"level": "warning", "message": format!("{run} warning"), "order_id": 7},
        {"level": "crit", "message": format!("{run} crit")},
        {"level": "notice", "message": format!("{run} notice")}
    ])
    .to_string();
    let bearer = format!("Bearer {key}");
    let r = post(
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let ndjson = format!(
        "{{\"level\":40,\"msg\":\"{run} pino warn\",\"time\":{}}}\n{{\"level\":\"emerg\",\"message\":\"{run} emerg\"}}\n",
        crate::harness::now_ms()
    );
    let gzipped = gzip(ndjson.as_bytes());
    let basic = format!("Basic {}", base64(&format!("{app}:{key}")));
    let r = post(
        &[
            ("authorization", &basic),
            ("content-encoding", "gzip"),
            ("content-type", "application/x-ndjson"),
        ],
        &gzipped,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let got = rows(&logger, &app, &run, 5);
    for (suffix, level) in [
        ("warning", "WARN"),
        ("crit", "ERROR"),
        ("notice", "INFO"),
        ("pino warn", "WARN"),
        ("emerg", "ERROR"),
    ] {
        assert_eq!(by_message(&got, suffix)["level"], level, "{suffix}");
    }
    assert_eq!(
        by_message(&got, "warning")["context"]["order_id"],
        7,
        "extra fields are kept"
    );

    // What is refused is refused clearly.
    let r = post(&[("x-api-key", &key), ("content-encoding", "br")], b"{}");
    assert_eq!((r.status, r.code()), (415, "UNSUPPORTED_ENCODING"), "{r:?}");
    let r = post(
        &[("x-api-key", &key), ("content-encoding", "gzip")],
        b"not gzip at all",
    );
    assert_eq!((r.status, r.code()), (400, "INVALID_ENTRY"), "{r:?}");
    // A small body that inflates past MAX_BODY_BYTES (1 MiB): refused, not inflated.
    let bomb = gzip(&vec![b' '; 3 << 20]);
    assert!(bomb.len() < 10_000);
    let r = post(&[("x-api-key", &key), ("content-encoding", "gzip")], &bomb);
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"), "{r:?}");
    let r = post(&[("authorization", "Basic Og==")], b"{\"message\":\"x\"}");
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"), "{r:?}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait_with_output().unwrap().stdout
}

fn base64(text: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let v = chunk
            .iter()
            .enumerate()
            .fold(0u32, |v, (i, b)| v | u32::from(*b) << (16 - 8 * i));
        for k in 0..4 {
            out.push(if k <= chunk.len() {
                A[(v >> (18 - 6 * k) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// Bad input on the new endpoints gets a 4xx with its code and stores nothing: a good entry sent
/// after them is the app's only one.
#[test]
fn bad_input_on_the_otlp_and_loki_endpoints_is_refused_and_stores_nothing() {
    let (logger, app, key) = Logger::with_app(fast(), "badin");
    let call = |path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut h = vec![("x-api-key", key.as_str())];
        h.extend_from_slice(headers);
        logger.call("POST", path, &h, Some(body))
    };
    let json = ("content-type", "application/json");
    let proto = ("content-type", "application/x-protobuf");
    // Path, headers, body, and the status and code it gets.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "/v1/logs",
            vec![("content-type", "text/plain")],
            b"x".to_vec(),
            415,
            "UNSUPPORTED_ENCODING",
        ),
        (
            "/v1/logs",
            vec![json],
            b"{\"resourceLogs\": [".to_vec(),
            400,
            "INVALID_JSON",
        ),
        (
            "/v1/logs",
            vec![json],
            b"{\"logs\": []}".to_vec(),
            400,
            "INVALID_ENTRY",
        ),
        (
            "/v1/logs",
            vec![proto],
            vec![0x0a, 0x7f, 0x01],
            400,
            "INVALID_PROTOBUF",
        ),
        (
            "/v1/logs",
            vec![proto, ("content-encoding", "gzip")],
            b"not gzip".to_vec(),
            400,
            "INVALID_ENTRY",
        ),
        (
            "/loki/api/v1/push",
            vec![json],
            b"{\"streams\": 7}".to_vec(),
            400,
            "INVALID_ENTRY",
        ),
        (
            "/loki/api/v1/push",
            vec![json],
            b"{\"streams\": [{\"stream\": {}, \"values\": [[\"soon\", \"x\"]]}]}".to_vec(),
            400,
            "INVALID_TIMESTAMP",
        ),
        (
            "/loki/api/v1/push",
            vec![proto, ("content-encoding", "snappy")],
            vec![0x05, 0x09, 0x01],
            400,
            "INVALID_PROTOBUF",
        ),
        (
            "/loki/api/v1/push",
            vec![proto],
            vec![0x0a, 0x7f],
            400,
            "INVALID_PROTOBUF",
        ),
        (
            "/loki/api/v1/push",
            vec![json],
            b"{\"streams\": []}".to_vec(),
            400,
            "EMPTY_BATCH",
        ),
    ];
    // Each in its protocol's form: an OTLP Status (JSON or protobuf), Loki's plain text; our
    // code first in its message either way.
    for (path, headers, body, status, code) in &cases {
        let r = call(path, headers, body);
        assert_eq!(r.status, *status, "{path} {headers:?}: {r:?}");
        assert!(
            r.text.contains(&format!("{code}:")),
            "{path} {headers:?}: {r:?}"
        );
    }
    let r = logger.call("POST", "/loki/api/v1/push", &[json], Some(b"{}"));
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.text.starts_with("UNAUTHORIZED:"),
        "Loki's plain text: {r:?}"
    );
    let good = format!(
        r#"{{"streams": [{{"stream": {{"job": "x"}}, "values": [["{}", "the good one"]]}}]}}"#,
        crate::harness::now_ms() * 1_000_000
    );
    assert_eq!(
        call("/loki/api/v1/push", &[json], good.as_bytes()).status,
        204
    );
    let rows = logger.wait_for_rows(&app, 1, LAND);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["message"], "the good one");
}
