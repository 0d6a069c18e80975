//! Apps and keys: the admin API, and what a missing, wrong or revoked key gets.

use crate::harness::{unique, Logger, Options, ADMIN_KEY};
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
    let r = logger.call("GET", &format!("/apps/{app}"), &admin, None);
    assert_eq!(r.status, 404);
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
    assert_eq!(ok.status, 202);
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

    let rows = logger.app_rows(&app);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["message"], "before revoke");
}
