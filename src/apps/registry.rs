//! Shell: The app registry in KV (`LOGS_KV`): create, look up by key, list and revoke apps.
//!
//! Layout: `app:{app_id}` holds the [`AppRecord`] (also as list metadata, so listing needs no
//! per-app reads) and `key:{sha256(api key)}` holds the same record, so authenticating a request is
//! one hash and one KV read. Deleting an app deletes the key index at once and keeps the app
//! record, marked `deleting_since`, until its logs are gone (`api::apps::delete`). KV is
//! eventually consistent across locations (up to about 60 s); a revoked key can keep working
//! that long at the edge for ingest (tails and tokens are checked against the record).
//!
//! Authenticated keys are cached in the isolate for as long (`apps::KeyCache`), so the hot path
//! makes no KV read per log; revoking an app clears it from the cache of the isolate that revoked.

use crate::apps::app::{
    app_kv_key, constant_time_eq, hash_key, key_kv_key, AppId, AppRecord, KeyCache, TailToken,
};
use crate::platform::bindings::REGISTRY_BINDING;
use crate::platform::kv::put_json;
use crate::platform::now_ms;
use crate::store::error::StoreError;
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

fn unavailable(e: KvError) -> StoreError {
    StoreError::Platform(crate::platform::error::PlatformError::Unavailable(format!(
        "app registry: {e}"
    )))
}

impl Registry {
    pub fn new(env: &Env) -> Result<Registry, StoreError> {
        let kv = env.kv(REGISTRY_BINDING).map_err(|e| {
            StoreError::Platform(crate::platform::error::PlatformError::ConfigInvalid(
                format!("KV binding {REGISTRY_BINDING}: {e}"),
            ))
        })?;
        Ok(Registry { kv })
    }

    /// Stores a live-tail token (by its hash) for `record`'s app and key, for `ttl_secs` (KV's
    /// shortest is 60 s).
    pub async fn put_tail_token(
        &self,
        token_hash: &str,
        record: &AppRecord,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        let token = TailToken {
            app_id: record.app_id.clone(),
            key_hash: record.key_hash.clone(),
        };
        let key = format!("tail-token:{token_hash}");
        put_json(&self.kv, &key, &token, None::<&()>, Some(ttl_secs))
            .await
            .map_err(unavailable)
    }

    /// The app of a live-tail token; `UNAUTHORIZED` when it is unknown, expired, or no longer
    /// stands for the app (its key was revoked, the app deleted or made again).
    pub async fn tail_token_app(&self, token_hash: &str) -> Result<AppId, StoreError> {
        let token: TailToken = self
            .kv
            .get(&format!("tail-token:{token_hash}"))
            .json()
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                StoreError::Unauthorized(
                    "the tail token is unknown or expired; get a new one from POST /tail/token"
                        .into(),
                )
            })?;
        let record = self.get(&token.app_id).await?;
        if !token.valid_for(record.as_ref()) {
            return Err(StoreError::Unauthorized(
                "the tail token's key was revoked or its app deleted".into(),
            ));
        }
        Ok(token.app_id)
    }

    /// The app an API key belongs to; `UNAUTHORIZED` for a missing, unknown or revoked key.
    pub async fn authenticate(
        &self,
        key: Option<&str>,
        header: &str,
    ) -> Result<AppRecord, StoreError> {
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| StoreError::Unauthorized(format!("{header} header is required")))?;
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
            _ => Err(StoreError::Unauthorized(format!(
                "{header} is not a valid API key"
            ))),
        }
    }

    pub async fn get(&self, app_id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        self.kv
            .get(&app_kv_key(app_id))
            .json()
            .await
            .map_err(unavailable)
    }

    /// Stores a new app; `APP_EXISTS` if the id is taken.
    pub async fn create(&self, record: &AppRecord) -> Result<(), StoreError> {
        if let Some(existing) = self.get(&record.app_id).await? {
            return Err(StoreError::AppExists(match existing.deleting_since {
                Some(_) => format!(
                    "{} (deleted, its id reserved until its logs are gone)",
                    record.app_id.as_str()
                ),
                None => record.app_id.as_str().to_string(),
            }));
        }
        // The key index first: if the second write fails the app is not listed, and a retry
        // with a new key leaves only an unreachable index entry behind.
        put_json(
            &self.kv,
            &key_kv_key(&record.key_hash),
            record,
            None::<&()>,
            None,
        )
        .await
        .map_err(unavailable)?;
        self.update(record).await
    }

    /// Every registered app, in id order.
    pub async fn list(&self) -> Result<Vec<AppRecord>, StoreError> {
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

    /// Revokes the app's key at once and marks the app as being deleted (its id stays
    /// reserved until `finish_delete`); the record as it now stands, `None` if there was no app.
    pub async fn begin_delete(
        &self,
        app_id: &AppId,
        now: i64,
    ) -> Result<Option<AppRecord>, StoreError> {
        KEYS.with(|c| c.borrow_mut().forget_app(app_id));
        let Some(mut record) = self.get(app_id).await? else {
            return Ok(None);
        };
        // The key first: once it is gone nothing can log as this app.
        self.kv
            .delete(&key_kv_key(&record.key_hash))
            .await
            .map_err(unavailable)?;
        if record.deleting_since.is_none() {
            record.deleting_since = Some(now);
            self.update(&record).await?;
        }
        Ok(Some(record))
    }

    /// Stores an app's record as it now stands (also as list metadata, so listing needs no
    /// per-app reads): a new app, one being deleted, how far its deletion has come.
    pub async fn update(&self, record: &AppRecord) -> Result<(), StoreError> {
        let key = app_kv_key(&record.app_id);
        put_json(&self.kv, &key, record, Some(record), None)
            .await
            .map_err(unavailable)
    }

    /// Frees a deleted app's id: its record goes.
    pub async fn finish_delete(&self, app_id: &AppId) -> Result<(), StoreError> {
        self.kv
            .delete(&app_kv_key(app_id))
            .await
            .map_err(unavailable)
    }
}
