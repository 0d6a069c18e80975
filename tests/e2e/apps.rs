//! Apps and keys: the admin API, and what a missing, wrong or revoked key gets.

use crate::harness::{unique, Logger, Options, ADMIN_KEY, LAND};
use serde_json::json;
use std::time::Duration;

#[test]
fn health_answers_without_auth() {
    let logger = Logger::start();
    let r = logger.call("GET", "/health", &[], None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["status"], "ok");
    assert_eq!(r.body["data"]["checks"]["d1"], "ok");
    assert_eq!(r.body["data"]["checks"]["kv"], "ok");
}

#[test]
fn the_admin_api_creates_lists_shows_and_revokes_apps() {
    let logger = Logger::start();
    let app = unique("adm");
    let admin = [("x-admin-key", ADMIN_KEY)];
    let body = json!({"app_id": app, "name": "Admin test"}).to_string();

    let created = logger.call("POST", "/apps", &admin, Some(body.as_bytes()));
    assert_eq!(created.status, 201, "{created:?}");
    let key = created.body["data"]["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.starts_with("lk_") && key.len() == 67, "{key}");

    let again = logger.call("POST", "/apps", &admin, Some(body.as_bytes()));
    assert_eq!((again.status, again.code()), (409, "APP_EXISTS"));

    let listed = logger.call("GET", "/apps", &admin, None);
    assert_eq!(listed.status, 200);
    let apps = listed.body["data"]["apps"].as_array().unwrap();
    let mine = apps
        .iter()
        .find(|a| a["app_id"] == app.as_str())
        .expect("listed");
    assert_eq!(mine["name"], "Admin test");
    // The key is shown once: never in listings, nor its hash.
    assert!(!listed.text.contains(&key));
    assert!(!listed.text.contains("key_hash"));

    let shown = logger.call("GET", &format!("/apps/{app}"), &admin, None);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["data"]["app_id"], app.as_str());
    assert!(!shown.text.contains(&key));

    let r = logger.call("GET", "/apps/no-such-app", &admin, None);
    assert_eq!((r.status, r.code()), (404, "APP_NOT_FOUND"));
    let r = logger.call("GET", "/apps/Bad%20Id", &admin, None);
    assert_eq!((r.status, r.code()), (400, "INVALID_APP"));
    let r = logger.call("POST", "/apps", &admin, Some(br#"{"app_id": "UPPER"}"#));
    assert_eq!((r.status, r.code()), (400, "INVALID_APP"));

    let deleted = logger.call("DELETE", &format!("/apps/{app}"), &admin, None);
    assert_eq!(deleted.status, 200, "{deleted:?}");
    // Deleted, and its id reserved while its logs are deleted (APP_ID_RESERVE_MS).
    let r = logger.call("GET", &format!("/apps/{app}"), &admin, None);
    assert_eq!(r.status, 200);
    assert!(r.body["data"]["deleting_since"].is_i64(), "{r:?}");
    let status = logger.call("GET", "/admin/status", &admin, None);
    let deleting = status.body["data"]["deleting_apps"].as_array().unwrap();
    let entry = deleting
        .iter()
        .find(|d| d["app_id"] == app.as_str())
        .unwrap_or_else(|| panic!("{status:?}"));
    // Its progress: it had no rows, so nothing is left to delete.
    assert_eq!(entry["deleted_rows"], 0, "{entry}");
    assert_eq!(entry["purged"], true, "{entry}");
}

#[test]
fn admin_endpoints_refuse_missing_or_wrong_admin_keys() {
    let logger = Logger::start();
    for headers in [vec![], vec![("x-admin-key", "wrong-admin-key-000000")]] {
        for (method, path) in [
            ("GET", "/apps"),
            ("POST", "/apps"),
            ("GET", "/apps/x"),
            ("DELETE", "/apps/x"),
        ] {
            let r = logger.call(method, path, &headers, Some(br#"{"app_id":"x"}"#));
            assert_eq!(
                (r.status, r.code()),
                (401, "UNAUTHORIZED"),
                "{method} {path}"
            );
        }
    }
}

#[test]
fn missing_wrong_and_revoked_keys_get_401_and_store_nothing() {
    let (logger, app, key) =
        Logger::with_app(Options::default().var("BATCH_INTERVAL_MS", 300), "auth");
    let entry = json!({"message": "should not be stored"}).to_string();

    let r = logger.call("POST", "/logs", &[], Some(entry.as_bytes()));
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    let r = logger.call(
        "POST",
        "/logs",
        &[("x-api-key", "lk_0000")],
        Some(entry.as_bytes()),
    );
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    // A key one character off.
    let mut near = key.clone();
    near.pop();
    near.push(if key.ends_with('0') { '1' } else { '0' });
    let r = logger.call(
        "POST",
        "/logs",
        &[("x-api-key", &near)],
        Some(entry.as_bytes()),
    );
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    // Through the binding path too.
    let r = logger.call("GET", "/x", &[("x-log-key", &near)], None);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));

    // Works before revocation...
    let ok = logger.post_logs(&key, &json!({"message": "before revoke"}));
    assert_eq!(ok.status, 200);
    logger.wait_for_rows(&app, 1, Duration::from_secs(30));
    // ...and not after.
    let del = logger.call(
        "DELETE",
        &format!("/apps/{app}"),
        &[("x-admin-key", ADMIN_KEY)],
        None,
    );
    assert_eq!(del.status, 200);
    let r = logger.post_logs(&key, &json!({"message": "after revoke"}));
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    let r = logger.call("GET", "/x", &[("x-log-key", &key)], None);
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));

    // Deleting the app deleted its logs too; nothing after the revocation was stored.
    let rows = logger.app_rows(&app);
    assert!(rows.is_empty(), "{rows:#?}");
    assert_eq!(del.body["data"]["deleted_rows"], 1);
}

/// Deleting an app ends what acts as it at once (its key, live tails, tail tokens, health
/// checks) and keeps its id reserved until its logs are gone, so the app made again with the
/// same id reads none of them.
#[test]
fn deleting_an_app_revokes_everything_at_once_and_a_new_app_of_its_id_reads_nothing_old() {
    use crate::tail::{connect, next, token, Got};
    use std::time::Instant;
    let (logger, app, key) = Logger::with_app(
        Options::default()
            .var("BATCH_INTERVAL_MS", 300)
            .var("HEALTH_CHECK_INTERVAL_MS", 1_000)
            .var("HEALTH_CHECK_ALLOW_PRIVATE", "true")
            .var("APP_ID_RESERVE_MS", 3_000),
        "gone",
    );
    let admin = |method: &str, path: &str, body: Option<&[u8]>| {
        logger.call(method, path, &[("x-admin-key", ADMIN_KEY)], body)
    };
    assert_eq!(
        logger.post_logs(&key, &json!({"message": "old"})).status,
        200
    );
    logger.wait_for_rows(&app, 1, LAND);
    let up = format!("{}/_status/200", logger.base());
    let r = logger.call(
        "POST",
        &format!("/apps/{app}/health-urls"),
        &[("x-api-key", &key), ("content-type", "application/json")],
        Some(json!({ "urls": [up] }).to_string().as_bytes()),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let checks = |a: &str| {
        logger.query(
            "SELECT count(*) AS n FROM health_checks WHERE app_id = ?1",
            &[&a],
        )[0]["n"]
            .as_i64()
            .unwrap()
    };
    logger.wait_until("a first health check", LAND, || {
        (checks(&app) > 0)
            .then_some(())
            .ok_or_else(|| "none".to_string())
    });
    let mut ws = connect(&logger, &format!("token={}", token(&logger, &key))).unwrap();
    let spare = token(&logger, &key);

    let r = admin("DELETE", &format!("/apps/{app}"), None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["data"]["revoked"], true);
    assert_eq!(r.body["data"]["tails_closed"], 1);
    assert_eq!(r.body["data"]["purged"], true);
    assert_eq!(
        r.body["data"]["id_free"], false,
        "reserved for APP_ID_RESERVE_MS"
    );

    // The open tail is ended with its own close code; the spare token connects nowhere.
    let closed = loop {
        match next(&mut ws, Instant::now() + LAND) {
            Got::Json(_) => continue,
            other => break other,
        }
    };
    assert!(matches!(closed, Got::Closed(4001, _)), "{closed:?}");
    match connect(&logger, &format!("token={spare}")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
        other => panic!("the spare token still connects: {:?}", other.map(|_| ())),
    }
    assert_eq!(logger.post_logs(&key, &json!({"message": "x"})).status, 401);
    // Health checks stopped: another app's checks run on while this one's stay gone.
    let other = unique("clock");
    let other_key = logger.create_app(&other);
    let r = logger.call(
        "POST",
        &format!("/apps/{other}/health-urls"),
        &[
            ("x-api-key", &other_key),
            ("content-type", "application/json"),
        ],
        Some(
            json!({ "urls": [format!("{}/_status/200", logger.base())] })
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "{r:?}");
    logger.wait_until("three checks of another app", LAND, || {
        (checks(&other) >= 3)
            .then_some(())
            .ok_or_else(|| "fewer".to_string())
    });
    assert_eq!(checks(&app), 0, "the deleted app is checked no more");

    // The id is reserved, then free once its rows are gone and the reserve passed.
    let again = json!({ "app_id": app, "name": "again" }).to_string();
    let r = admin("POST", "/apps", Some(again.as_bytes()));
    assert_eq!((r.status, r.code()), (409, "APP_EXISTS"), "{r:?}");
    let deadline = Instant::now() + LAND;
    loop {
        let r = admin("DELETE", &format!("/apps/{app}"), None);
        if r.status == 404 || r.body["data"]["id_free"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "the id was never freed: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = admin("POST", "/apps", Some(again.as_bytes()));
    assert_eq!(r.status, 201, "{r:?}");
    let new_key = r.body["data"]["api_key"].as_str().unwrap().to_string();
    let page = logger.call("GET", "/logs", &[("x-api-key", &new_key)], None);
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.body["data"]["logs"],
        json!([]),
        "none of the old app's logs"
    );
    assert!(logger.app_rows(&app).is_empty());
}
