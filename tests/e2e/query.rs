//! The read side, `GET /logs` and `GET /logs/:id`, against the real logger: a seeded data set
//! with known answers for every filter alone and combined, full-text search, pages while new rows
//! arrive, isolation between apps, and the errors of bad filters.

use crate::harness::{fast, now_ms, unique, Logger, ADMIN_KEY, LAND};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// One seeded entry; the expected answers are computed from these same values.
struct Seed {
    level: &'static str,
    message: String,
    request_id: String,
    user: i64,
    timestamp: i64,
}

fn seeds(base: i64) -> Vec<Seed> {
    (0..60)
        .map(|i| Seed {
            level: ["DEBUG", "INFO", "WARN", "ERROR"][i % 4],
            message: if i % 3 == 0 {
                format!("checkout {i} failed: database timeout")
            } else {
                format!("checkout {i} served from cache")
            },
            request_id: format!("req-{}", i % 5),
            user: (i % 7) as i64,
            // Pairs of entries share a millisecond: the id orders them.
            timestamp: base + (i as i64 / 2) * 1_000,
        })
        .collect()
}

fn get(logger: &Logger, key: &str, query: &str) -> crate::harness::Resp {
    logger.call(
        "GET",
        &format!("/logs?{query}"),
        &[("x-api-key", key)],
        None,
    )
}

/// Every page of a query (pages of `limit`), the ids in the order returned.
fn all_ids(logger: &Logger, key: &str, query: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let q = match &cursor {
            Some(c) => format!("{query}&limit={limit}&cursor={c}"),
            None => format!("{query}&limit={limit}"),
        };
        let r = get(logger, key, &q);
        assert_eq!(r.status, 200, "{q}: {r:?}");
        let logs = r.body["data"]["logs"].as_array().unwrap();
        assert!(logs.len() <= limit);
        ids.extend(logs.iter().map(|l| l["id"].as_str().unwrap().to_string()));
        match r.body["data"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return ids,
        }
    }
    panic!("more than 1,000 pages");
}

#[test]
fn every_filter_alone_and_combined_gives_the_known_answer() {
    let routes = json!([{ "name": "problems", "filter": { "field": "level", "op": "gte", "value": "WARN" },
                          "columns": ["level", "message"] }]);
    let (logger, app, key) =
        Logger::with_app(fast().var("LOG_ROUTES", routes.to_string()), "query");
    let base = now_ms() - 3_600_000;
    let seeds = seeds(base);
    let body: Vec<Value> = seeds
        .iter()
        .map(|s| {
            json!({ "level": s.level, "message": s.message, "request_id": s.request_id,
                    "context": { "user": { "id": s.user } }, "timestamp": s.timestamp })
        })
        .collect();
    let r = logger.post_logs(&key, &json!({ "logs": body }));
    assert_eq!(r.status, 200, "{r:?}");
    let ids: Vec<String> = r.body["data"]["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    logger.wait_for_rows(&app, seeds.len(), LAND);

    // The expected ids of a predicate, newest first (timestamp, then id, descending).
    let expect = |keep: &dyn Fn(&Seed) -> bool| -> Vec<String> {
        let mut v: Vec<(i64, String)> = seeds
            .iter()
            .zip(&ids)
            .filter(|(s, _)| keep(s))
            .map(|(s, id)| (s.timestamp, id.clone()))
            .collect();
        v.sort();
        v.reverse();
        v.into_iter().map(|(_, id)| id).collect()
    };
    let since = base + 10_000;
    let until = base + 20_000;
    let cases: Vec<(String, Vec<String>)> = vec![
        ("app_id=".to_string() + &app, expect(&|_| true)),
        ("level=error".into(), expect(&|s| s.level == "ERROR")),
        (
            "level=WARN,ERROR".into(),
            expect(&|s| s.level == "WARN" || s.level == "ERROR"),
        ),
        (format!("since={since}"), expect(&|s| s.timestamp >= since)),
        (format!("until={until}"), expect(&|s| s.timestamp < until)),
        (
            format!("since={since}&until={until}"),
            expect(&|s| s.timestamp >= since && s.timestamp < until),
        ),
        (
            "request_id=req-3".into(),
            expect(&|s| s.request_id == "req-3"),
        ),
        (
            "search=timeout".into(),
            expect(&|s| s.message.contains("timeout")),
        ),
        (
            "search=TIME*".into(),
            expect(&|s| s.message.contains("timeout")),
        ),
        (
            "search=%22database+timeout%22".into(),
            expect(&|s| s.message.contains("database timeout")),
        ),
        ("search=%22timeout+database%22".into(), expect(&|_| false)),
        (
            "search=cache+served".into(),
            expect(&|s| s.message.contains("served from cache")),
        ),
        ("context.user.id=3".into(), expect(&|s| s.user == 3)),
        (
            "route=problems".into(),
            expect(&|s| s.level == "WARN" || s.level == "ERROR"),
        ),
        (
            format!("level=ERROR&search=timeout&context.user.id=4&since={since}"),
            expect(&|s| {
                s.level == "ERROR"
                    && s.message.contains("timeout")
                    && s.user == 4
                    && s.timestamp >= since
            }),
        ),
        (
            "route=problems&request_id=req-1&search=cache".into(),
            expect(&|s| {
                (s.level == "WARN" || s.level == "ERROR")
                    && s.request_id == "req-1"
                    && s.message.contains("cache")
            }),
        ),
    ];
    for (query, want) in cases {
        assert!(
            !want.is_empty() || query.contains("timeout+database"),
            "{query} tests something"
        );
        let got = all_ids(&logger, &key, &query, 7);
        assert_eq!(got, want, "{query}");
    }

    // One entry by id, with its custom data as an object.
    let r = logger.call(
        "GET",
        &format!("/logs/{}", ids[5]),
        &[("x-api-key", &key)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["message"], seeds[5].message);
    assert_eq!(r.body["data"]["context"]["user"]["id"], seeds[5].user);
    assert_eq!(r.body["data"]["timestamp"], seeds[5].timestamp);
    let r = logger.call("GET", "/logs/no-such-id", &[("x-api-key", &key)], None);
    assert_eq!((r.status, r.code()), (404, "LOG_NOT_FOUND"));
}

#[test]
fn pages_stay_complete_and_unique_while_new_entries_arrive() {
    let (logger, app, key) = Logger::with_app(fast(), "pages");
    let base = now_ms() - 600_000;
    let mut seeded = BTreeSet::new();
    for chunk in 0..3 {
        let body: Vec<Value> = (0..100)
            .map(|i| json!({ "message": format!("seeded {chunk}-{i}"), "timestamp": base + chunk * 1_000 + i }))
            .collect();
        let r = logger.post_logs(&key, &json!({ "logs": body }));
        assert_eq!(r.status, 200, "{r:?}");
        seeded.extend(
            r.body["data"]["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
    }
    logger.wait_for_rows(&app, 300, LAND);

    // Page through while a writer adds entries: newer ones (before the first page) and older ones
    // (behind every cursor, so later pages may include them).
    let mut added = BTreeSet::new();
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut page = 0;
    loop {
        let r = logger.post_logs(
            &key,
            &json!({ "logs": [ { "message": format!("new {page}") },
                               { "message": format!("old {page}"), "timestamp": base - 10_000 + page } ] }),
        );
        assert_eq!(r.status, 200);
        added.extend(
            r.body["data"]["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string()),
        );
        let q = match &cursor {
            Some(c) => format!("limit=40&cursor={c}"),
            None => "limit=40".to_string(),
        };
        let r = get(&logger, &key, &q);
        assert_eq!(r.status, 200, "{r:?}");
        ids.extend(
            r.body["data"]["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_string()),
        );
        page += 1;
        match r.body["data"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        // Let some of the new entries land between pages.
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    assert!(page >= 8, "300 rows in pages of 40: {page} pages");
    let unique_ids: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique_ids.len(), ids.len(), "no entry twice");
    let missing: Vec<&String> = seeded.difference(&unique_ids).collect();
    assert!(
        missing.is_empty(),
        "no gaps: {} seeded entries missing",
        missing.len()
    );
    assert!(
        unique_ids
            .iter()
            .all(|id| seeded.contains(id) || added.contains(id)),
        "nothing but this app's entries"
    );
}

#[test]
fn an_app_key_reads_its_own_app_only() {
    let logger = Logger::start_with(fast());
    let (a, b) = (unique("iso-a"), unique("iso-b"));
    let (key_a, key_b) = (logger.create_app(&a), logger.create_app(&b));
    let r = logger.post_logs(
        &key_a,
        &json!({ "message": "secret-word of app a", "request_id": "shared-req" }),
    );
    let id_a = r.body["data"]["ids"][0].as_str().unwrap().to_string();
    logger.post_logs(
        &key_b,
        &json!({ "message": "ordinary entry of app b", "request_id": "shared-req" }),
    );
    logger.wait_for_rows(&a, 1, LAND);
    logger.wait_for_rows(&b, 1, LAND);

    for q in ["search=secret", "request_id=shared-req", "", "level=INFO"] {
        let r = get(&logger, &key_b, q);
        assert_eq!(r.status, 200);
        // Each page says what it cost in D1 rows read.
        assert!(r.body["data"]["d1"]["rows_read"].is_u64(), "{r:?}");
        let logs = r.body["data"]["logs"].as_array().unwrap();
        assert!(
            logs.iter().all(|l| l["app_id"] == b.as_str()),
            "{q}: {logs:?}"
        );
    }
    assert_eq!(
        get(&logger, &key_b, "search=secret").body["data"]["logs"],
        json!([])
    );
    let r = get(&logger, &key_b, &format!("app_id={a}"));
    assert_eq!((r.status, r.code()), (403, "APP_MISMATCH"));
    let r = logger.call(
        "GET",
        &format!("/logs/{id_a}"),
        &[("x-api-key", &key_b)],
        None,
    );
    assert_eq!((r.status, r.code()), (404, "LOG_NOT_FOUND"));
    let r = logger.call(
        "GET",
        &format!("/logs/{id_a}?app_id={a}"),
        &[("x-api-key", &key_b)],
        None,
    );
    assert_eq!((r.status, r.code()), (403, "APP_MISMATCH"));

    // The admin key reads any app it names, and must name one.
    let admin = |q: &str| {
        logger.call(
            "GET",
            &format!("/logs?{q}"),
            &[("x-admin-key", ADMIN_KEY)],
            None,
        )
    };
    let r = admin(&format!("app_id={a}&search=secret"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["logs"][0]["id"], id_a.as_str());
    assert_eq!(admin("search=secret").code(), "INVALID_FILTER");
    let r = logger.call("GET", "/logs", &[], None);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
}

#[test]
fn bad_filters_are_refused_with_stable_codes() {
    let (logger, _app, key) = Logger::with_app(fast(), "bad");
    for (q, code) in [
        ("level=LOUD", "INVALID_LEVEL"),
        ("since=yesterday", "INVALID_TIMESTAMP"),
        (
            "since=1700000000000&until=1600000000000",
            "INVALID_TIMESTAMP",
        ),
        ("limit=0", "INVALID_LIMIT"),
        ("limit=1001", "INVALID_LIMIT"),
        ("cursor=not-a-cursor", "INVALID_CURSOR"),
        ("cursor=3a", "INVALID_CURSOR"),
        ("colour=red", "INVALID_FILTER"),
        ("route=nope", "INVALID_FILTER"),
        ("context.a%20b=1", "INVALID_FILTER"),
        ("search=%20--%20", "INVALID_FILTER"),
        ("search=%00%01%1F", "INVALID_FILTER"),
    ] {
        let r = get(&logger, &key, q);
        assert_eq!((r.status, r.code()), (400, code), "{q}: {r:?}");
        assert_eq!(r.body["ok"], false);
        assert!(r.body["error"]["request_id"].is_string());
    }
    // The search text is never FTS5 syntax: operators and quotes are words to look for.
    let r = get(&logger, &key, "search=a+OR+b+NEAR(c)+%22");
    assert_eq!(r.status, 200, "{r:?}");
    // Control characters, NUL among them, separate words; quotes and stars are plain text.
    for q in [
        "search=db%00timeout",
        "search=%22a%00b%22",
        "search=x%0A%09y*",
        "search=%27%3B%20DROP%20TABLE%20logs%3B--",
        "search=col%3Aa%20%5Eb%20%2Bc",
    ] {
        let r = get(&logger, &key, q);
        assert_eq!(r.status, 200, "{q}: {r:?}");
    }
}
