//! Shell: `/admin`: the operator's view of the pipeline (`X-Admin-Key`).
//!
//! - `GET /admin/status`: per-shard pending count and oldest pending age, dead-letter count,
//!   last flush error and time, totals of accepted/flushed/dead-lettered, and every log table
//!   (schema hash configured and recorded, retention, last prune and rows pruned).
//! - `GET /admin/dead-letters?limit=&cursor=`: records, oldest first, paged.
//! - `GET /admin/dead-letters/:key`, `DELETE /admin/dead-letters/:key`.
//! - `POST /admin/dead-letters/:key/replay`, `POST /admin/dead-letters/replay` (a page at a time):
//!   the rows are written to D1 again; a record is deleted only after all its rows are stored.

use crate::apps::registry::Registry;
use crate::batch::dead_letter::{is_record_key, DeadLetter, DeadLetterMeta, KEY_PREFIX};
use crate::batch::log_batcher::protocol::BatcherStub;
use crate::batch::replay::{self, Replayed};
use crate::batch::status::{BatcherStatus, ShardsReport};
use crate::http::envelope::{ok, require_admin, Ctx};
use crate::http::error::ApiError;
use crate::platform::now_ms;
use crate::platform::usage::{ByWork, Work};
use crate::platform::usage_meter::protocol::meter_stub;
use crate::platform::{batchers, dead_letters, metered_db};
use futures::future::join_all;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::kv::{KvError, KvStore};
use worker::{console_error, Request, Response};

/// Most shards `GET /admin/status` asks (each is a subrequest): the most recent ones.
pub const MAX_STATUS_SHARDS: u32 = 100;
/// Records per page of the dead-letter list and of a replay-all call.
pub const PAGE: u64 = 100;

fn store(ctx: &Ctx) -> Result<KvStore, ApiError> {
    Ok(dead_letters(&ctx.env)?)
}

fn unavailable(e: KvError) -> ApiError {
    ApiError::StorageUnavailable(format!("dead-letter store: {e}"))
}

fn record_key(key: &str) -> Result<&str, ApiError> {
    if is_record_key(key) {
        Ok(key)
    } else {
        Err(ApiError::InvalidDeadLetter(format!(
            "{key:?} is not a dead-letter key (they start with {KEY_PREFIX:?})"
        )))
    }
}

async fn read(kv: &KvStore, key: &str) -> Result<DeadLetter, ApiError> {
    kv.get(key)
        .json::<DeadLetter>()
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::DeadLetterNotFound(key.to_string()))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    limit: Option<u64>,
    cursor: Option<String>,
}

pub async fn list(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let q: ListQuery = req
        .query()
        .map_err(|e| ApiError::InvalidDeadLetter(format!("query: {e}")))?;
    let limit = q.limit.unwrap_or(PAGE);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::InvalidDeadLetter(
            "limit: must be between 1 and 1000".into(),
        ));
    }
    let kv = store(ctx)?;
    let mut list = kv.list().prefix(KEY_PREFIX.into()).limit(limit);
    if let Some(c) = q.cursor {
        list = list.cursor(c);
    }
    let page = list.execute().await.map_err(unavailable)?;
    let records: Vec<Value> = page
        .keys
        .into_iter()
        .map(|k| json!({ "key": k.name, "meta": k.metadata }))
        .collect();
    let next = if page.list_complete {
        None
    } else {
        page.cursor
    };
    Ok(ok(
        200,
        json!({ "dead_letters": records, "next_cursor": next }),
        &ctx.request_id,
    )?)
}

pub async fn get(req: Request, ctx: &Ctx, key: &str) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let record = read(&store(ctx)?, record_key(key)?).await?;
    Ok(ok(
        200,
        // The rows are arrays in the firehose's column order: the names let a reader (the
        // dashboard) show them as objects.
        json!({ "key": key, "record": record, "columns": crate::model::columns::COLUMNS }),
        &ctx.request_id,
    )?)
}

pub async fn delete(req: Request, ctx: &Ctx, key: &str) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let kv = store(ctx)?;
    let key = record_key(key)?;
    read(&kv, key).await?;
    kv.delete(key).await.map_err(unavailable)?;
    Ok(ok(
        200,
        json!({ "key": key, "deleted": true }),
        &ctx.request_id,
    )?)
}

/// Replays one record (`batch::replay`): its rows are written to D1 and the record is deleted
/// only once all of them are stored; rows that fail again stay in it with their new error.
async fn replay_one(ctx: &Ctx, kv: &KvStore, key: &str) -> Result<Replayed, ApiError> {
    let record = read(kv, key).await?;
    Ok(replay::replay(&ctx.env, &ctx.config, kv, key, &record).await?)
}

pub async fn replay(req: Request, ctx: &Ctx, key: &str) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let kv = store(ctx)?;
    let r = replay_one(ctx, &kv, record_key(key)?).await?;
    Ok(ok(
        200,
        json!({ "key": key, "replayed_rows": r.stored, "progress": r }),
        &ctx.request_id,
    )?)
}

/// Replays up to a page of records, oldest first, each with its progress; call again while
/// `more` is true. A record whose rows failed again is listed in `failed` (and kept).
pub async fn replay_all(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let kv = store(ctx)?;
    let page = kv
        .list()
        .prefix(KEY_PREFIX.into())
        .limit(PAGE)
        .execute()
        .await
        .map_err(unavailable)?;
    let mut records = 0;
    let mut rows = 0;
    let mut failures = Vec::new();
    let mut progress = Vec::new();
    for k in &page.keys {
        match replay_one(ctx, &kv, &k.name).await {
            Ok(r) => {
                rows += r.stored;
                if r.deleted {
                    records += 1;
                } else {
                    failures.push(json!({ "key": k.name, "left": r.left, "message": r.error }));
                }
                progress.push(json!(r));
            }
            Err(e) => {
                failures.push(json!({ "key": k.name, "code": e.code(), "message": e.to_string() }))
            }
        }
    }
    Ok(ok(
        200,
        json!({
            "replayed_records": records,
            "replayed_rows": rows,
            "failed": failures,
            "records": progress,
            "more": !page.list_complete,
        }),
        &ctx.request_id,
    )?)
}

#[derive(Deserialize)]
struct ShardRow {
    shard: String,
}

/// The most recent shards (`MAX_STATUS_SHARDS`) and what each answered of itself.
async fn ask_shards(
    ctx: &Ctx,
    db: &crate::platform::d1::Metered,
) -> Result<Vec<(String, Result<BatcherStatus, String>)>, ApiError> {
    let listing = db
        .prepare("SELECT shard FROM shards ORDER BY first_seen DESC LIMIT ?1")
        .bind(&[MAX_STATUS_SHARDS.into()])?;
    let shards: Vec<ShardRow> = db
        .all("shards", listing)
        .await
        .map_err(|e| ApiError::StorageUnavailable(format!("D1: {e}")))?
        .results()?;
    let ns = batchers(&ctx.env)?;
    let answers = join_all(
        shards
            .iter()
            .map(|s| async { BatcherStub::new(ns.get_by_name(&s.shard)?).status().await }),
    )
    .await;
    Ok(shards
        .into_iter()
        .zip(answers)
        .map(|(s, a)| (s.shard, a.map_err(|e| e.to_string())))
        .collect())
}

/// Apps being deleted, with their progress.
async fn deleting_apps(ctx: &Ctx, now: i64) -> Result<Vec<Value>, ApiError> {
    Ok(Registry::new(&ctx.env)?
        .list()
        .await?
        .iter()
        .filter_map(|a| {
            let since = a.deleting_since?;
            let progress = a.deletion.unwrap_or_default();
            Some(json!({
                "app_id": a.app_id,
                "since": since,
                "age_ms": now - since,
                "deleted_rows": progress.deleted_rows,
                "purged": progress.purged,
            }))
        })
        .collect())
}

/// Everything else the logger ran on D1, per kind of work (`UsageMeter`). Reads, this status's
/// own among them, reach it with their isolate's next hand-over (`usage::HAND_OVER_MS`).
async fn other_usage(ctx: &Ctx) -> ByWork {
    match meter_stub(&ctx.env) {
        Ok(stub) => stub.totals().await.unwrap_or_else(|e| {
            console_error!("usage meter: {e}");
            ByWork::default()
        }),
        Err(_) => ByWork::default(),
    }
}

pub async fn status(req: Request, ctx: &Ctx) -> Result<Response, ApiError> {
    require_admin(&req, &ctx.config)?;
    let now = now_ms();
    let db = metered_db(&ctx.env, Work::Admin)?;
    let report = ShardsReport::fold(ask_shards(ctx, &db).await?, now);
    let (dl_records, dl_rows) = dead_letter_count(&store(ctx)?).await?;
    let deleting = deleting_apps(ctx, now).await?;
    let tables = crate::store::tables::status(&db, &ctx.config.routes.tables())
        .await
        .map_err(|e| ApiError::StorageUnavailable(e.to_string()))?;
    let other = other_usage(ctx).await;
    let other_written: u64 = other.values().map(|u| u.rows_written()).sum();
    let other_read: u64 = other.values().map(|u| u.rows_read()).sum();
    let usage = &report.usage;
    Ok(ok(
        200,
        json!({
            "shards": report.active,
            "outages": report.outages,
            "shards_checked": report.checked,
            "unreachable": report.unreachable,
            "pending": report.pending,
            "oldest_pending_age_ms": report.oldest_accepted_at.map(|t| now - t),
            "dead_letters": { "records": dl_records, "rows": dl_rows },
            "deleting_apps": deleting,
            "d1": {
                "rows_written": usage.rows_written() + other_written,
                "rows_read": usage.rows_read() + other_read,
                "flush_rows_written": usage.rows_written(),
                "flush_rows_read": usage.rows_read(),
                "other": other,
                "size_after": usage.size_after,
                "max_db_bytes": ctx.config.max_db_bytes,
                "deleted_for_space": report.space_deleted,
                "last_deleted_for_space_at": report.last_space_at,
                "tables": usage.tables,
            },
            "last_flush_at": report.last_flush_at,
            "last_flush_error": report.last_error.map(|(at, e, shard)| json!({ "at": at, "error": e, "shard": shard })),
            "tables": tables,
            "totals": {
                "accepted": report.accepted,
                "flushed": report.flushed,
                "dead_lettered": report.dead_lettered,
                "d1_statements": report.statements,
            },
        }),
        &ctx.request_id,
    )?)
}

/// Records and rows in the dead-letter store, from list metadata (no value reads).
async fn dead_letter_count(kv: &KvStore) -> Result<(usize, usize), ApiError> {
    let (mut records, mut rows) = (0, 0);
    let mut cursor: Option<String> = None;
    loop {
        let mut list = kv.list().prefix(KEY_PREFIX.into());
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await.map_err(unavailable)?;
        for k in &page.keys {
            records += 1;
            rows += k
                .metadata
                .clone()
                .and_then(|m| serde_json::from_value::<DeadLetterMeta>(m).ok())
                .map_or(0, |m| m.rows);
        }
        match page.cursor {
            Some(c) if !page.list_complete => cursor = Some(c),
            _ => return Ok((records, rows)),
        }
    }
}
