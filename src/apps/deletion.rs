//! Shell: deleting an app, which is immediate for everything that acts as the app and bounded
//! work for its stored logs. `begin` revokes the key (the registry), ends its live tails and
//! makes its tokens useless (`TailHub::revoke`, and tokens are checked against the app's key),
//! and stops its health checks (`HealthChecker::stop`, its URLs deleted). Its rows are then
//! deleted in chunks (`tables::purge_app`), a budget per call: by `DELETE /apps/:app_id` (call it
//! again to continue) and by every cron run. The app id stays reserved (`APP_EXISTS`) until they
//! are gone and `APP_ID_RESERVE_MS` has passed (`model::app::app_id_free`), so a new app of the
//! same id never reads an old app's logs.

use crate::apps::app::{app_id_free, AppId, AppRecord, DeletionProgress};
use crate::apps::registry::Registry;
use crate::config::Config;
use crate::platform::error::PlatformError;
use crate::platform::usage::Work;

use crate::platform::{health_checkers, metered_db, tail_hubs};
use crate::read::health_checker::protocol::CheckerStub;
use crate::read::tail_hub::protocol::{CloseRequest, HubStub};
use crate::store::error::StoreError;
use crate::store::tables::purge_app;
use serde::Serialize;
use worker::{console_error, Env};

/// Where a deletion stands after one call.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub app_id: AppId,
    pub deleting_since: i64,
    /// Live tails ended by this call.
    pub tails_closed: usize,
    /// Rows deleted by this call.
    pub deleted_rows: u64,
    /// No row of the app is left.
    pub purged: bool,
    /// The id may be taken again (and the app's record is gone).
    pub id_free: bool,
}

/// Revokes everything that acts as the app, then purges what one call may.
pub async fn begin(
    env: &Env,
    config: &Config,
    registry: &Registry,
    app_id: &AppId,
    now: i64,
) -> Result<Option<Progress>, StoreError> {
    let Some(record) = registry.begin_delete(app_id, now).await? else {
        return Ok(None);
    };
    let hub = HubStub::new(tail_hubs(env)?, app_id.as_str());
    let reason = "the app was deleted or its key revoked".to_string();
    let tails_closed = match hub.revoke(&CloseRequest { reason }).await {
        Ok(c) => c.tails,
        Err(e) => {
            return Err(StoreError::Platform(
                crate::platform::error::PlatformError::Unavailable(format!(
                    "ending the app's live tails: {e}"
                )),
            ))
        }
    };
    let checker = CheckerStub::new(
        health_checkers(env)?
            .get_by_name(app_id.as_str())
            .map_err(PlatformError::from)?,
    );
    checker.stop().await.map_err(|e| {
        StoreError::Platform(crate::platform::error::PlatformError::Unavailable(format!(
            "stopping health checks: {e}"
        )))
    })?;
    let mut p = purge(env, config, registry, &record, now).await?;
    p.tails_closed = tails_closed;
    Ok(Some(p))
}

/// Deletes what one call may of a deleted app's rows, and frees its id when it is done.
pub async fn purge(
    env: &Env,
    config: &Config,
    registry: &Registry,
    record: &AppRecord,
    now: i64,
) -> Result<Progress, StoreError> {
    let since = record.deleting_since.unwrap_or(now);
    let db = metered_db(env, Work::Purge)?;
    let purging = purge_app(
        &db,
        &config.routes.tables(),
        record.app_id.as_str(),
        config.prune_chunk_rows,
        config.prune_max_statements,
    )
    .await
    .map_err(|e| {
        StoreError::Platform(crate::platform::error::PlatformError::Unavailable(
            e.to_string(),
        ))
    });
    let (deleted_rows, purged) = purging?;
    let id_free = app_id_free(since, purged, config.app_id_reserve_ms as i64, now);
    if id_free {
        registry.finish_delete(&record.app_id).await?;
    } else {
        let before = record.deletion.unwrap_or_default();
        let progress = DeletionProgress {
            deleted_rows: before.deleted_rows + deleted_rows,
            purged,
        };
        if progress != before {
            let mut noted = record.clone();
            noted.deletion = Some(progress);
            registry.update(&noted).await?;
        }
    }
    Ok(Progress {
        app_id: record.app_id.clone(),
        deleting_since: since,
        tails_closed: 0,
        deleted_rows,
        purged,
        id_free,
    })
}

/// The cron's part: continues every deletion under way.
pub async fn continue_all(env: &Env, config: &Config, now: i64) {
    let registry = match Registry::new(env) {
        Ok(r) => r,
        Err(e) => return console_error!("app deletions: {e}"),
    };
    let apps = match registry.list().await {
        Ok(a) => a,
        Err(e) => return console_error!("app deletions: {e}"),
    };
    for record in apps.iter().filter(|r| r.deleting_since.is_some()) {
        if let Err(e) = purge(env, config, &registry, record, now).await {
            console_error!("deleting app {}: {e}", record.app_id.as_str());
        }
    }
}
