//! Apps and their API keys: ids, key generation, hashing and comparison.
//!
//! A key is shown once, at creation; the registry stores only its SHA-256. Keys carry 256 random
//! bits, so a fast hash is enough (there is nothing to brute-force), and lookups stay one hash and
//! one KV read. Comparison is constant-time. Does not touch KV; `registry` does.

use crate::model::error::ModelError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Prefix of every API key, so a leaked key is recognisable (and greppable) as ours.
pub const KEY_PREFIX: &str = "lk_";
/// Longest app name.
pub const MAX_APP_NAME_LEN: usize = 100;

/// A validated app id: 1 to 64 of `a-z 0-9 _ -`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppId(String);

impl AppId {
    pub fn parse(raw: &str) -> Result<AppId, ModelError> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(AppId(raw.to_string()))
        } else {
            Err(ModelError::InvalidApp(format!(
                "app_id {raw:?}: must be 1 to 64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the registry stores per app. Never contains the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub app_id: AppId,
    pub name: String,
    /// Hex SHA-256 of the API key.
    pub key_hash: String,
    /// The first characters of the key, to tell keys apart in listings.
    pub key_hint: String,
    pub created_at: String,
    /// The app was deleted at this time (ms) and its id stays reserved until its rows are gone
    /// (`app_id_free`): a new app of the same id never sees an old one's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleting_since: Option<i64>,
    /// While being deleted: its rows deleted so far, and whether none is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionProgress>,
}

/// How far the deletion of an app's rows has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionProgress {
    pub deleted_rows: u64,
    pub purged: bool,
}

impl AppRecord {
    /// The record as the admin API shows it: everything but the hash.
    pub fn public(&self) -> Value {
        serde_json::json!({
            "app_id": self.app_id,
            "name": self.name,
            "key_hint": self.key_hint,
            "created_at": self.created_at,
            "deleting_since": self.deleting_since,
            "deletion": self.deletion,
        })
    }
}

/// Whether a deleted app's id may be taken again: its rows are all gone (`purged`), and long
/// enough has passed since the deletion (`reserve_ms`) for entries accepted before it, still
/// buffered in a LogBatcher, to have landed and been purged too.
pub fn app_id_free(deleting_since: i64, purged: bool, reserve_ms: i64, now_ms: i64) -> bool {
    purged && now_ms - deleting_since >= reserve_ms
}

/// A live-tail token's record: the app it connects to and the hash of the key it was issued
/// under, so a token dies with its key (revoked, or the app deleted and made again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailToken {
    pub app_id: AppId,
    pub key_hash: String,
}

impl TailToken {
    /// Whether the token still stands for `record` (the app as it is now).
    pub fn valid_for(&self, record: Option<&AppRecord>) -> bool {
        record.is_some_and(|r| {
            r.deleting_since.is_none()
                && r.app_id == self.app_id
                && constant_time_eq(r.key_hash.as_bytes(), self.key_hash.as_bytes())
        })
    }
}

/// `POST /apps` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApp {
    pub app_id: AppId,
    pub name: String,
}

impl NewApp {
    pub fn parse(body: &[u8]) -> Result<NewApp, ModelError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| ModelError::InvalidJson(e.to_string()))?;
        let app_id = match v.get("app_id") {
            Some(Value::String(s)) => AppId::parse(s)?,
            _ => {
                return Err(ModelError::InvalidApp(
                    "app_id: is required (a string)".into(),
                ))
            }
        };
        let name = match v.get("name") {
            None | Some(Value::Null) => app_id.as_str().to_string(),
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_APP_NAME_LEN => {
                s.trim().to_string()
            }
            Some(_) => {
                return Err(ModelError::InvalidApp(format!(
                    "name: must be a non-empty string of at most {MAX_APP_NAME_LEN} bytes"
                )))
            }
        };
        Ok(NewApp { app_id, name })
    }

    /// The record to store for a freshly generated `key`.
    pub fn record(&self, key: &str, created_at: String) -> AppRecord {
        AppRecord {
            app_id: self.app_id.clone(),
            name: self.name.clone(),
            key_hash: hash_key(key),
            key_hint: key.chars().take(KEY_PREFIX.len() + 6).collect(),
            created_at,
            deleting_since: None,
            deletion: None,
        }
    }
}

/// A new API key from 32 random bytes.
pub fn generate_key(random: [u8; 32]) -> String {
    let mut key = String::with_capacity(KEY_PREFIX.len() + 64);
    key.push_str(KEY_PREFIX);
    key.push_str(&hex(&random));
    key
}

/// Hex SHA-256 of a key: what the registry stores and indexes by.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Equality whose running time depends only on the lengths, not on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// KV key of an app's record.
pub fn app_kv_key(app_id: &AppId) -> String {
    format!("app:{}", app_id.as_str())
}

/// KV key of the index from a key hash to its app record.
pub fn key_kv_key(key_hash: &str) -> String {
    format!("key:{key_hash}")
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// How long an isolate trusts a key it looked up: KV itself takes up to about a minute to show
/// a revocation at other locations, so the cache adds no staleness a client could not see anyway.
pub const KEY_CACHE_TTL_MS: i64 = 60_000;
/// Most keys one isolate remembers; past it the cache starts over (no unbounded growth).
pub const KEY_CACHE_MAX: usize = 1_024;

/// Authenticated keys, by key hash, with the time each entry expires. Lives in one isolate and
/// saves the KV read on the hot path; never holds an unknown key (those always ask KV).
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: std::collections::HashMap<String, (AppRecord, i64)>,
}

impl KeyCache {
    pub fn get(&self, key_hash: &str, now_ms: i64) -> Option<&AppRecord> {
        self.entries
            .get(key_hash)
            .filter(|(_, expires)| now_ms < *expires)
            .map(|(r, _)| r)
    }

    pub fn put(&mut self, record: AppRecord, now_ms: i64) {
        if self.entries.len() >= KEY_CACHE_MAX {
            self.entries.clear();
        }
        self.entries
            .insert(record.key_hash.clone(), (record, now_ms + KEY_CACHE_TTL_MS));
    }

    /// Forgets an app's key (revoked in this isolate: it stops working here at once).
    pub fn forget_app(&mut self, app_id: &AppId) {
        self.entries.retain(|_, (r, _)| &r.app_id != app_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_are_short_lowercase_slugs() {
        for ok in ["shop", "a", "my-app_2", "0x"] {
            assert!(AppId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Shop", "-x", "_x", "a b", "a/b", "ä", &"a".repeat(65)] {
            assert_eq!(
                AppId::parse(bad).unwrap_err().code(),
                "INVALID_APP",
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_are_prefixed_hex_of_the_random_bytes() {
        let k = generate_key([0xab; 32]);
        assert_eq!(k.len(), 3 + 64);
        assert_eq!(k, format!("lk_{}", "ab".repeat(32)));
        assert_ne!(generate_key([1; 32]), generate_key([2; 32]));
    }

    #[test]
    fn hashing_is_sha256_hex() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_compares_whole_inputs() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"samE"));
        assert!(!constant_time_eq(b"same", b"same!"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn records_never_hold_the_key_and_the_public_view_hides_the_hash() {
        let key = generate_key([9; 32]);
        let app = NewApp::parse(br#"{"app_id":"shop","name":" Shop "}"#).unwrap();
        let rec = app.record(&key, "2026-01-01T00:00:00Z".into());
        assert_eq!(rec.name, "Shop");
        assert_eq!(rec.key_hash, hash_key(&key));
        assert!(!serde_json::to_string(&rec).unwrap().contains(&key));
        assert_eq!(rec.key_hint, key[..9]);
        let public = rec.public().to_string();
        assert!(!public.contains(&rec.key_hash));
        assert!(public.contains("\"app_id\":\"shop\""));
    }

    #[test]
    fn new_app_bodies_are_validated() {
        assert_eq!(NewApp::parse(b"{").unwrap_err().code(), "INVALID_JSON");
        assert_eq!(NewApp::parse(b"{}").unwrap_err().code(), "INVALID_APP");
        assert_eq!(
            NewApp::parse(br#"{"app_id":"x","name":5}"#)
                .unwrap_err()
                .code(),
            "INVALID_APP"
        );
        assert_eq!(NewApp::parse(br#"{"app_id":"x"}"#).unwrap().name, "x");
    }

    #[test]
    fn kv_keys_are_namespaced() {
        let id = AppId::parse("shop").unwrap();
        assert_eq!(app_kv_key(&id), "app:shop");
        assert_eq!(key_kv_key("ff"), "key:ff");
    }

    fn record(app: &str, hash: &str) -> AppRecord {
        let mut r = NewApp::parse(format!(r#"{{"app_id": "{app}"}}"#).as_bytes())
            .unwrap()
            .record("lk_x", "2026-01-01T00:00:00Z".into());
        r.key_hash = hash.into();
        r
    }

    #[test]
    fn cached_keys_expire_after_the_ttl() {
        let mut c = KeyCache::default();
        c.put(record("shop", "h1"), 1_000);
        assert_eq!(c.get("h1", 1_000).unwrap().app_id.as_str(), "shop");
        assert!(c.get("h1", 1_000 + KEY_CACHE_TTL_MS - 1).is_some());
        assert!(c.get("h1", 1_000 + KEY_CACHE_TTL_MS).is_none());
        assert!(c.get("h2", 1_000).is_none());
    }

    #[test]
    fn a_revoked_app_is_forgotten_and_the_cache_is_bounded() {
        let mut c = KeyCache::default();
        c.put(record("shop", "h1"), 0);
        c.put(record("blog", "h2"), 0);
        c.forget_app(&AppId::parse("shop").unwrap());
        assert!(c.get("h1", 1).is_none());
        assert!(c.get("h2", 1).is_some());
        for i in 0..KEY_CACHE_MAX + 5 {
            c.put(record("many", &format!("k{i}")), 0);
        }
        assert!(c.entries.len() <= KEY_CACHE_MAX);
    }

    #[test]
    fn a_tail_token_dies_with_its_key_and_its_app() {
        let app = record("shop", "h1");
        let token = TailToken {
            app_id: app.app_id.clone(),
            key_hash: "h1".into(),
        };
        assert!(token.valid_for(Some(&app)));
        assert!(!token.valid_for(None), "the app is gone");
        assert!(
            !token.valid_for(Some(&record("shop", "h2"))),
            "made again, new key"
        );
        let mut deleting = app.clone();
        deleting.deleting_since = Some(5);
        assert!(!token.valid_for(Some(&deleting)));
    }

    #[test]
    fn a_deleted_id_is_free_only_once_its_rows_are_gone_and_the_reserve_passed() {
        assert!(!app_id_free(1_000, false, 0, 10_000));
        assert!(!app_id_free(1_000, true, 60_000, 10_000));
        assert!(app_id_free(1_000, true, 9_000, 10_000));
    }
}
