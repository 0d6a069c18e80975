//! Shell: replaying a dead-letter record: its rows are written straight to D1, the same way a
//! flush writes them (`store::writer`, with poison isolation), and the record changes only after
//! that: it is deleted once every row is stored, or rewritten with just the rows that failed
//! again and their new error. Rows keep their ids and every insert skips an id already stored,
//! so a replay that is interrupted and repeated stores each row once. Writing from here rather
//! than through a LogBatcher keeps a record of any size within every limit on the way: the
//! writer splits it into statements that fit D1's 2 MB value and rows-per-statement limits.

use crate::batch::dead_letter::{after_replay, DeadLetter};
use crate::config::Config;
use crate::platform::error::PlatformError;
use crate::platform::kv::put_json;
use crate::platform::usage::Work;

use crate::platform::{metered_db, now_ms};
use crate::store::tables::ensure_schemas;
use crate::store::writer::Writer;
use serde::Serialize;
use std::cell::Cell;
use worker::kv::KvStore;
use worker::Env;

/// Writes a replay may spend on one record, as a flush does: each is a subrequest of the admin's
/// request (Workers Free allows 50 in all), and rows it does not reach stay in the record, for
/// the next replay to continue.
const REPLAY_BUDGET: u32 = 32;

/// What a replay did with one record.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub key: String,
    /// Rows the record held, rows now stored, rows still in it.
    pub rows: usize,
    pub stored: usize,
    pub left: usize,
    /// Why rows were left, when some were.
    pub error: Option<String>,
    /// The record is gone (every row stored).
    pub deleted: bool,
}

/// Replays the record `key` (read as `record`) into D1 and updates the store.
pub async fn replay(
    env: &Env,
    config: &Config,
    kv: &KvStore,
    key: &str,
    record: &DeadLetter,
) -> Result<Replayed, PlatformError> {
    let db = metered_db(env, Work::Replay)?;
    let blocked = ensure_schemas(&db, &config.routes.tables(), now_ms())
        .await
        .err()
        .map(|e| e.to_string());
    let texts: Vec<String> = record.rows.iter().map(|r| r.to_string()).collect();
    let use_text = Cell::new(false);
    let writer = Writer::new(
        &db,
        &config.routes,
        config.max_batch_size as usize,
        &use_text,
    );
    let rows = writer.rows(
        texts.iter().map(String::as_str).collect(),
        vec![false; texts.len()],
    );
    let outcome = writer.write_all(&rows, &[], REPLAY_BUDGET, blocked).await;
    let mut left: Vec<usize> = outcome.failed.iter().map(|(i, _)| *i).collect();
    left.extend(&outcome.deferred);
    left.sort_unstable();
    let error = outcome
        .failed
        .first()
        .map(|(_, e)| e.clone())
        .or(outcome.outage.clone());
    let unavailable =
        |e: worker::kv::KvError| PlatformError::Unavailable(format!("dead-letter store: {e}"));
    match after_replay(
        record,
        &left,
        error.as_deref().unwrap_or_default(),
        now_ms(),
    ) {
        None => kv.delete(key).await.map_err(unavailable)?,
        Some(rest) => put_json(kv, key, &rest, Some(&rest.meta()), None)
            .await
            .map_err(unavailable)?,
    }
    Ok(Replayed {
        key: key.to_string(),
        rows: record.rows.len(),
        stored: outcome.written_count(),
        left: left.len(),
        error: if left.is_empty() { None } else { error },
        deleted: left.is_empty(),
    })
}
