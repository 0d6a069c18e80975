//! Live tail over WebSocket against the real logger: a client gets the entries its filters match
//! and no others, resumes after a disconnect without gaps, is cut off when it does not keep up;
//! tails are per app, capped, and need a token or key.

use crate::harness::{fast, unique, Logger, Options, LAND};
use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub(crate) type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

pub(crate) fn token(logger: &Logger, key: &str) -> String {
    let r = logger.call("POST", "/tail/token", &[("x-api-key", key)], None);
    assert_eq!(r.status, 201, "{r:?}");
    r.body["data"]["token"].as_str().unwrap().to_string()
}

pub(crate) fn connect(logger: &Logger, query: &str) -> Result<Ws, tungstenite::Error> {
    let url = format!("ws://127.0.0.1:{}/_logger/tail?{query}", logger.port);
    let (mut ws, _) = tungstenite::connect(url)?;
    if let MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    Ok(ws)
}

/// What the socket said next: a JSON message, a close (code, reason), or nothing by `deadline`.
#[derive(Debug)]
pub(crate) enum Got {
    Json(Value),
    Closed(u16, String),
    Nothing,
}

pub(crate) fn next(ws: &mut Ws, deadline: Instant) -> Got {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return Got::Json(serde_json::from_str(&t).unwrap()),
            Ok(Message::Close(frame)) => {
                return frame.map_or(Got::Closed(1005, String::new()), |f| {
                    Got::Closed(f.code.into(), f.reason.to_string())
                })
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if Instant::now() > deadline {
                    return Got::Nothing;
                }
            }
            Err(e) => return Got::Closed(1006, e.to_string()),
        }
    }
}

/// The next log message (skipping `ready`), acknowledged; `None` by the deadline.
fn next_log(ws: &mut Ws, deadline: Instant) -> Option<Value> {
    loop {
        match next(ws, deadline) {
            Got::Json(m) if m["type"] == "log" => {
                ws.send(Message::text(
                    json!({"type": "ack", "n": m["n"]}).to_string(),
                ))
                .unwrap();
                return Some(m);
            }
            Got::Json(_) => {}
            other => {
                assert!(matches!(other, Got::Nothing), "unexpected: {other:?}");
                return None;
            }
        }
    }
}

fn post(logger: &Logger, key: &str, logs: Value) -> Vec<String> {
    let r = logger.post_logs(key, &json!({ "logs": logs }));
    assert_eq!(r.status, 200, "{r:?}");
    r.body["data"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Entries posted after a tail connects reach it once LogBatchers have learnt the app has one
/// (within `tail::ACTIVE_CHECK_MS`): probe until one arrives, and return its id.
fn until_live(logger: &Logger, key: &str, ws: &mut Ws, probe: Value) -> String {
    let deadline = Instant::now() + LAND;
    loop {
        assert!(Instant::now() < deadline, "the tail never got a probe");
        let ids = post(logger, key, json!([probe.clone()]));
        if let Some(m) = next_log(ws, Instant::now() + Duration::from_millis(1_500)) {
            // Earlier probes may arrive too; any probe proves the path is live.
            let _ = ids;
            return m["entry"]["id"].as_str().unwrap().to_string();
        }
    }
}

#[test]
fn a_tail_gets_exactly_the_matching_entries_in_order() {
    let (logger, _app, key) = Logger::with_app(fast(), "tail");
    let t = token(&logger, &key);
    let mut ws = connect(&logger, &format!("token={t}&level=ERROR&search=boom")).unwrap();
    match next(&mut ws, Instant::now() + LAND) {
        Got::Json(m) => assert_eq!(m["type"], "ready", "{m}"),
        other => panic!("{other:?}"),
    }
    until_live(
        &logger,
        &key,
        &mut ws,
        json!({"level": "error", "message": "boom probe"}),
    );
    // Drain probes still in flight.
    while next_log(&mut ws, Instant::now() + Duration::from_millis(300)).is_some() {}

    let logs: Vec<Value> = (0..30)
        .map(|i| match i % 3 {
            0 => json!({"level": "error", "message": format!("boom {i}")}),
            1 => json!({"level": "info", "message": format!("boom {i}")}),
            _ => json!({"level": "error", "message": format!("quiet {i}")}),
        })
        .collect();
    let sent_at = Instant::now();
    let ids = post(&logger, &key, Value::Array(logs));
    let want: Vec<&String> = ids.iter().step_by(3).collect();
    let sentinel = post(
        &logger,
        &key,
        json!([{"level": "error", "message": "boom sentinel"}]),
    );
    let mut got = Vec::new();
    let mut last_arrival = Duration::ZERO;
    loop {
        let m = next_log(&mut ws, Instant::now() + LAND).expect("entries within the deadline");
        let id = m["entry"]["id"].as_str().unwrap().to_string();
        if id == sentinel[0] {
            break;
        }
        assert_eq!(m["entry"]["level"], "ERROR");
        assert!(m["entry"]["message"].as_str().unwrap().contains("boom"));
        got.push(id);
        last_arrival = sent_at.elapsed();
    }
    assert_eq!(
        got.iter().collect::<Vec<_>>(),
        want,
        "all matching, in acknowledgement order, no others"
    );
    println!(
        "tail: 10 matching entries of a 30-entry batch arrived within {last_arrival:?} of sending"
    );
}

#[test]
fn a_tail_resumes_after_a_disconnect_without_gaps() {
    let (logger, _app, key) = Logger::with_app(fast(), "resume");
    let mut ws = connect(&logger, &format!("token={}", token(&logger, &key))).unwrap();
    let seen = until_live(&logger, &key, &mut ws, json!({"message": "probe"}));
    let mut last = seen;
    while let Some(m) = next_log(&mut ws, Instant::now() + Duration::from_millis(300)) {
        last = m["entry"]["id"].as_str().unwrap().to_string();
    }
    ws.close(None).unwrap();
    let _ = next(&mut ws, Instant::now() + Duration::from_secs(2));

    // Sent while nobody is connected.
    let missed = post(
        &logger,
        &key,
        json!((0..5)
            .map(|i| json!({"message": format!("missed {i}")}))
            .collect::<Vec<_>>()),
    );
    let mut ws = connect(
        &logger,
        &format!("token={}&last_id={last}", token(&logger, &key)),
    )
    .unwrap();
    let mut resumed = Vec::new();
    let ready = loop {
        match next(&mut ws, Instant::now() + LAND) {
            Got::Json(m) if m["type"] == "log" => {
                resumed.push(m["entry"]["id"].as_str().unwrap().to_string());
                ws.send(Message::text(
                    json!({"type": "ack", "n": m["n"]}).to_string(),
                ))
                .unwrap();
            }
            Got::Json(m) if m["type"] == "ready" => break m,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ready["gap"], false, "{ready}");
    assert_eq!(resumed, missed, "the missed entries, in order, once");
    // Then live entries again.
    let live = post(&logger, &key, json!([{"message": "after"}]));
    let m = next_log(&mut ws, Instant::now() + LAND).expect("live after resuming");
    assert_eq!(m["entry"]["id"], live[0].as_str());
}

#[test]
fn a_client_that_does_not_acknowledge_is_cut_off() {
    let (logger, _app, key) = Logger::with_app(fast().var("TAIL_MAX_UNACKED", 10), "slow");
    let mut ws = connect(&logger, &format!("token={}", token(&logger, &key))).unwrap();
    until_live(&logger, &key, &mut ws, json!({"message": "probe"}));
    while next_log(&mut ws, Instant::now() + Duration::from_millis(300)).is_some() {}
    post(
        &logger,
        &key,
        json!((0..40)
            .map(|i| json!({"message": format!("flood {i}")}))
            .collect::<Vec<_>>()),
    );
    // Read without acknowledging.
    let mut logs = 0;
    let deadline = Instant::now() + LAND;
    let (code, reason) = loop {
        match next(&mut ws, deadline) {
            Got::Json(m) if m["type"] == "log" => logs += 1,
            Got::Json(_) => {}
            Got::Closed(code, reason) => break (code, reason),
            Got::Nothing => panic!("not cut off; {logs} messages"),
        }
    };
    assert_eq!(code, 4008, "{reason}");
    assert!(reason.contains("slow consumer"), "{reason}");
    assert!(
        logs <= 10,
        "at most TAIL_MAX_UNACKED messages before the cut: {logs}"
    );
}

#[test]
fn tails_are_per_app_capped_and_authenticated() {
    let logger = Logger::start_with(
        Options::default()
            .var("BATCH_INTERVAL_MS", 300)
            .var("TAIL_MAX_CONNECTIONS", 2),
    );
    let (a, b) = (unique("tail-a"), unique("tail-b"));
    let (key_a, key_b) = (logger.create_app(&a), logger.create_app(&b));
    let mut ws_b = connect(&logger, &format!("token={}", token(&logger, &key_b))).unwrap();
    until_live(&logger, &key_b, &mut ws_b, json!({"message": "probe b"}));
    while next_log(&mut ws_b, Instant::now() + Duration::from_millis(300)).is_some() {}
    // Entries of app a never reach app b's tail.
    post(&logger, &key_a, json!([{"message": "of app a"}]));
    let sentinel = post(&logger, &key_b, json!([{"message": "of app b"}]));
    let m = next_log(&mut ws_b, Instant::now() + LAND).expect("b's own entry");
    assert_eq!(m["entry"]["id"], sentinel[0].as_str(), "{m}");
    assert_eq!(m["entry"]["app_id"], b.as_str());

    // Two tails for b are the limit here; a third is refused before the upgrade.
    let _second = connect(&logger, &format!("token={}", token(&logger, &key_b))).unwrap();
    match connect(&logger, &format!("token={}", token(&logger, &key_b))) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 429),
        other => panic!("{:?}", other.map(|_| "connected")),
    }
    match connect(&logger, "token=0000") {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("{:?}", other.map(|_| "connected")),
    }
    let r = logger.call("GET", "/tail", &[("x-api-key", &key_a)], None);
    assert_eq!((r.status, r.code()), (426, "UPGRADE_REQUIRED"));
    let r = logger.call("POST", "/tail/token", &[], None);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    match connect(
        &logger,
        &format!("token={}&level=LOUD", token(&logger, &key_a)),
    ) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400),
        other => panic!("{:?}", other.map(|_| "connected")),
    }
}
