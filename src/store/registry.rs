//! Shell: The app registry in KV (`LOGS_KV`): create, look up by key, list and revoke apps.
//!
//! Layout: `app:{app_id}` holds the [`AppRecord`] (also as list metadata, so listing needs no
//! per-app reads) and `key:{sha256(api key)}` holds the same record, so authenticating a request is
//! one hash and one KV read. Revoking deletes both. KV is eventually consistent across
//! locations (up to about 60 s); a revoked key can keep working that long at the edge.
//!
//! Authenticated keys are cached in the isolate for as long (`apps::KeyCache`), so the hot path
//! makes no KV read per log; revoking an app clears it from the cache of the isolate that revoked.

use crate::http::error::ApiError;
use crate::model::app::{
    app_kv_key, constant_time_eq, hash_key, key_kv_key, AppId, AppRecord, KeyCache,
};
use crate::platform::bindings::REGISTRY_BINDING;
use crate::platform::now_ms;
use std::cell::RefCell;
use worker::kv::{KvError, KvStore};
use worker::Env;

thread_local! {
    /// Keys this isolate authenticated recently (a cache of KV, never the source of truth).
    static KEYS: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// The app registry: app records by id and key hashes by key, in KV, with an isolate cache of
/// authenticated keys.
pub struct Registry {
    kv: KvStore,
}

fn unavailable(e: KvError) -> ApiError {
    ApiError::StorageUnavailable(format!("app registry: {e}"))
}

impl Registry {
    pub fn new(env: &Env) -> Result<Registry, ApiError> {
        let kv = env
            .kv(REGISTRY_BINDING)
            .map_err(|e| ApiError::ConfigInvalid(format!("KV binding {REGISTRY_BINDING}: {e}")))?;
        Ok(Registry { kv })
    }

    /// Stores a live-tail token (by its hash) for `app` for `ttl_secs` (KV's shortest is 60 s).
    pub async fn put_tail_token(
        &self,
        token_hash: &str,
        app: &AppId,
        ttl_secs: u64,
    ) -> Result<(), ApiError> {
        self.kv
            .put(&format!("tail-token:{token_hash}"), app.as_str())
            .map_err(unavailable)?
            .expiration_ttl(ttl_secs)
            .execute()
            .await
            .map_err(unavailable)
    }

    /// The app of a live-tail token; `UNAUTHORIZED` when it is unknown or expired.
    pub async fn tail_token_app(&self, token_hash: &str) -> Result<AppId, ApiError> {
        let app = self
            .kv
            .get(&format!("tail-token:{token_hash}"))
            .text()
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "the tail token is unknown or expired; get a new one from POST /tail/token"
                        .into(),
                )
            })?;
        AppId::parse(&app)
    }

    /// The app an API key belongs to; `UNAUTHORIZED` for a missing, unknown or revoked key.
    pub async fn authenticate(
        &self,
        key: Option<&str>,
        header: &str,
    ) -> Result<AppRecord, ApiError> {
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::Unauthorized(format!("{header} header is required")))?;
        let hash = hash_key(key);
        let now = now_ms();
        if let Some(r) = KEYS.with(|c| c.borrow().get(&hash, now).cloned()) {
            return Ok(r);
        }
        let record: Option<AppRecord> = self
            .kv
            .get(&key_kv_key(&hash))
            .json()
            .await
            .map_err(unavailable)?;
        match record {
            Some(r) if constant_time_eq(r.key_hash.as_bytes(), hash.as_bytes()) => {
                KEYS.with(|c| c.borrow_mut().put(r.clone(), now));
                Ok(r)
            }
            _ => Err(ApiError::Unauthorized(format!(
                "{header} is not a valid API key"
            ))),
        }
    }

    pub async fn get(&self, app_id: &AppId) -> Result<Option<AppRecord>, ApiError> {
        self.kv
            .get(&app_kv_key(app_id))
            .json()
            .await
            .map_err(unavailable)
    }

    /// Stores a new app; `APP_EXISTS` if the id is taken.
    pub async fn create(&self, record: &AppRecord) -> Result<(), ApiError> {
        if self.get(&record.app_id).await?.is_some() {
            return Err(ApiError::AppExists(record.app_id.as_str().to_string()));
        }
        // As JSON text, like every value the logger puts in KV: a JS value made from serde
        // would turn any map into a JS `Map`, which KV stores as `{}`.
        let text = serde_json::to_string(record).map_err(|e| ApiError::Internal(e.to_string()))?;
        // The key index first: if the second write fails the app is not listed, and a retry
        // with a new key leaves only an unreachable index entry behind.
        self.kv
            .put(&key_kv_key(&record.key_hash), text.clone())
            .map_err(unavailable)?
            .execute()
            .await
            .map_err(unavailable)?;
        self.kv
            .put(&app_kv_key(&record.app_id), text)
            .map_err(unavailable)?
            .metadata(record)
            .map_err(unavailable)?
            .execute()
            .await
            .map_err(unavailable)
    }

    /// Every registered app, in id order.
    pub async fn list(&self) -> Result<Vec<AppRecord>, ApiError> {
        let mut apps = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self.kv.list().prefix("app:".into());
            if let Some(c) = cursor.take() {
                req = req.cursor(c);
            }
            let page = req.execute().await.map_err(unavailable)?;
            apps.extend(
                page.keys
                    .into_iter()
                    .filter_map(|k| k.metadata)
                    .filter_map(|m| serde_json::from_value::<AppRecord>(m).ok()),
            );
            match page.cursor {
                Some(c) if !page.list_complete => cursor = Some(c),
                _ => break,
            }
        }
        Ok(apps)
    }

    /// Revokes the app's key and removes the app; `false` if there was no such app.
    pub async fn delete(&self, app_id: &AppId) -> Result<bool, ApiError> {
        KEYS.with(|c| c.borrow_mut().forget_app(app_id));
        let Some(record) = self.get(app_id).await? else {
            return Ok(false);
        };
        // The key first: once it is gone nothing can log as this app, even if the second
        // delete fails and the app stays listed.
        self.kv
            .delete(&key_kv_key(&record.key_hash))
            .await
            .map_err(unavailable)?;
        self.kv
            .delete(&app_kv_key(app_id))
            .await
            .map_err(unavailable)?;
        Ok(true)
    }
}
