//! Ingest path 4: Tail Workers. Producer workers with no logging code of their own, bundled and
//! `no_bundle`, list the logger in `tail_consumers` in the same `wrangler dev` session; each
//! invocation's console calls, exceptions and the invocation itself become entries of the app
//! `TAIL_APPS` maps them to (locally every script is unnamed: `"*"`), sampled after the fact.

use crate::harness::{fast, unique, Logger, LAND};
use serde_json::{json, Map, Value};

fn session(rate: &str) -> (Logger, String) {
    let app = unique("tailw");
    let logger = Logger::start_with(
        fast()
            .var("TAIL_APPS", json!({ "*": app }).to_string())
            .var("TAIL_SAMPLE_RATE", rate)
            .worker("producer.toml")
            .worker("producer-nobundle.toml"),
    );
    logger.create_app(&app);
    (logger, app)
}

/// Calls the producer (`/_producer/…` or `/_producer_nb/…`) and returns its status.
fn invoke(logger: &Logger, prefix: &str, what: &str, run: &str) -> u16 {
    logger
        .parent(
            "GET",
            &format!("{prefix}/shop/{what}?run={run}"),
            &[("x-request-id", &format!("{run}-{what}"))],
            None,
        )
        .status
}

fn entries_of(logger: &Logger, app: &str, run: &str, n: usize) -> Vec<Map<String, Value>> {
    logger.wait_until(&format!("{n} entries of {run}"), LAND, || {
        let mine: Vec<_> = logger
            .app_rows(app)
            .into_iter()
            .filter(|r| {
                r["request_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(run))
            })
            .collect();
        match mine.len() >= n {
            true => Ok(mine),
            false => Err(format!("{} entries: {mine:#?}", mine.len())),
        }
    })
}

#[test]
fn a_producers_invocations_become_entries_with_no_code_in_the_producer() {
    let (logger, app) = session("1");
    for (prefix, run) in [
        ("/_producer", unique("bundled")),
        ("/_producer_nb", unique("nobundle")),
    ] {
        assert_eq!(invoke(&logger, prefix, "ok", &run), 200);
        // console.log, console.warn and the invocation.
        let got = entries_of(&logger, &app, &format!("{run}-ok"), 3);
        let by = |part: &str| {
            got.iter()
                .find(|r| r["message"].as_str().is_some_and(|m| m.contains(part)))
                .cloned()
                .unwrap_or_else(|| panic!("no {part:?} in {got:#?}"))
        };
        let hello = by("ok hello");
        assert_eq!(
            (&hello["level"], &hello["source"]),
            (&json!("INFO"), &json!("tail"))
        );
        assert_eq!(hello["context"], json!({"user": {"id": 42}}), "{hello:#?}");
        assert_eq!(
            hello["path"], "/shop/ok",
            "the invocation's request on every entry"
        );
        assert!(hello["colo"].is_string(), "request.cf facts: {hello:#?}");
        let careful = by("ok careful 7");
        assert_eq!(careful["level"], "WARN");
        let invocation = by("GET /shop/ok 200");
        assert_eq!(invocation["level"], "INFO");
        assert_eq!(
            invocation["context"]["invocation"]["outcome"], "ok",
            "{invocation:#?}"
        );
        assert_eq!(invocation["context"]["invocation"]["status"], 200);

        // A thrown exception: an ERROR entry and a failed invocation.
        let _ = invoke(&logger, prefix, "throw", &run);
        let got = entries_of(&logger, &app, &format!("{run}-throw"), 3);
        let failed = got
            .iter()
            .find(|r| r["context"]["invocation"].is_object())
            .unwrap_or_else(|| panic!("no invocation entry in {got:#?}"));
        assert_eq!(failed["level"], "ERROR", "{failed:#?}");
        if prefix == "/_producer_nb" {
            // Unbundled, the runtime reports the exception itself.
            let thrown = got
                .iter()
                .find(|r| {
                    r["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("TypeError:"))
                })
                .unwrap_or_else(|| panic!("no exception entry in {got:#?}"));
            assert_eq!(thrown["level"], "ERROR");
            assert!(
                thrown["context"]["exception"]["stack"].is_string(),
                "{thrown:#?}"
            );
            assert_eq!(failed["context"]["invocation"]["outcome"], "exception");
        }
    }
}

#[test]
fn sampling_keeps_every_failed_invocation_and_drops_the_others_at_rate_zero() {
    let (logger, app) = session("0");
    let run = unique("sampled");
    assert_eq!(invoke(&logger, "/_producer", "ok", &run), 200);
    assert_eq!(invoke(&logger, "/_producer", "fail", &run), 503);
    let _ = invoke(&logger, "/_producer_nb", "throw", &run);
    entries_of(&logger, &app, &format!("{run}-fail"), 3);
    entries_of(&logger, &app, &format!("{run}-throw"), 3);
    // The plain invocation was sent first and its tail event delivered first: none of it is kept.
    let kept_ok = logger
        .app_rows(&app)
        .iter()
        .filter(|r| r["request_id"] == format!("{run}-ok"))
        .count();
    assert_eq!(kept_ok, 0);
}
