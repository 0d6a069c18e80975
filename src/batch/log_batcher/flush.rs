//! Shell: one flush of a LogBatcher: read the oldest buffered rows, write them to D1 (the
//! firehose and every route whose filter matches, one D1 batch per range, so one transaction),
//! isolate the rows that fail on their own (`poison`), and apply what `settle` decides: delete
//! what landed, keep the failed rows with their attempt counted, and move those out of attempts
//! to the dead letters, removing them from the buffer only once that write succeeded.
//!
//! Does not decide when to flush (`policy`), route rows (`route`), build SQL (`insert`,
//! `schema`) or format dead letters (`dead_letter`).

use super::LogBatcher;
use crate::batch::dead_letter::{self, FailedRow, MAX_RECORD_BYTES};
use crate::batch::part::{row_id, split_rows};
use crate::batch::poison::{isolate, WRITE_BUDGET};
use crate::batch::policy::BatchPolicy;
use crate::batch::settle::{settle, Failure, Holder};
use crate::config::Config;
use crate::model::columns::COLUMNS;
use crate::platform::{dead_letters, logs_db, now_ms, random_bytes};
use crate::store::insert::{
    chunk_rows, insert_sql, lacks_jsonb, plain_insert_sql, Extract, MAX_PARAM_BYTES,
};
use crate::store::route::Routes;
use crate::store::tables::{ensure_schemas, schemas_hash};
use std::cell::Cell;
use std::ops::Range;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, Delay, Result};

/// Message of the failure `X-Debug-Flags: d1_fail` injects.
pub const INJECTED_FAILURE: &str = "injected D1 failure (X-Debug-Flags d1_fail)";
/// A flush reads at most this many batches' worth of rows into one D1 round trip.
const BATCHES_PER_FLUSH: u32 = 10;

/// What one flush did.
pub struct Flushed {
    /// Entries read.
    pub read: usize,
    /// The highest attempt count among failed entries kept for a retry, if any.
    pub retry_attempts: Option<u32>,
}

/// Most entries one flush reads.
pub fn flush_limit(policy: BatchPolicy) -> usize {
    policy.max_batch_size as usize * BATCHES_PER_FLUSH as usize
}

fn storage(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

impl LogBatcher {
    /// Brings the log tables up to date with the configured routes, once per configuration per
    /// instance (`schemas_checked`).
    async fn ensure_schemas(
        &self,
        db: &worker::D1Database,
        routes: &Routes,
    ) -> std::result::Result<(), String> {
        let tables = routes.tables();
        let hash = schemas_hash(&tables);
        if self.schemas_checked.borrow().as_deref() == Some(hash.as_str()) {
            return Ok(());
        }
        let migrated = ensure_schemas(db, &tables, now_ms())
            .await
            .map_err(|e| e.to_string())?;
        if !migrated.is_empty() {
            console_log!("LogBatcher: migrated log tables {migrated:?}");
        }
        *self.schemas_checked.borrow_mut() = Some(hash);
        Ok(())
    }

    /// Writes the oldest pending rows to D1, isolating rows that fail, and settles the result.
    pub(super) async fn flush_once(&self, config: &Config, policy: BatchPolicy) -> Result<Flushed> {
        let buffer = self.buffer();
        let rows = buffer.oldest(flush_limit(policy))?;
        if rows.is_empty() {
            return Ok(Flushed {
                read: 0,
                retry_attempts: None,
            });
        }
        let stats = buffer.stats()?;
        let injected = buffer.take_injected_failure(&stats)?;
        if stats.slow_flush_ms > 0 {
            Delay::from(std::time::Duration::from_millis(stats.slow_flush_ms as u64)).await;
        }

        let db = logs_db(&self.env).map_err(storage)?;
        let db = &db;
        let routes = &config.routes;
        // A schema that cannot be brought up to date fails the flush like a failed write: the
        // rows count an attempt and stay (or reach dead letters), never a table that lacks them.
        let schema_error = if injected {
            None
        } else {
            self.ensure_schemas(db, routes).await.err()
        };
        let statements_for = |extract: Extract| {
            let firehose = insert_sql(&routes.firehose_table, &COLUMNS, extract);
            let plain = plain_insert_sql(&routes.firehose_table, extract);
            let per_route: Vec<String> = routes
                .routes
                .iter()
                .map(|r| {
                    let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
                    insert_sql(&r.table, &names, extract)
                })
                .collect();
            (firehose, plain, per_route)
        };
        let jsonb_sql = statements_for(Extract::Jsonb);
        let text_sql = statements_for(Extract::Text);
        // Every entry's row text, and the buffered row it belongs to.
        let mut texts: Vec<&str> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (k, r) in rows.iter().enumerate() {
            match (r.n, split_rows(&r.row)) {
                (n, Some(parts)) if n > 1 => texts.extend(parts),
                // A single row, or (never written by `ingest`) a part that does not split: it
                // travels as it is and fails on its own.
                _ => texts.push(&r.row),
            }
            owner.resize(texts.len(), k);
        }
        // For each route, the rows it receives (index into `texts`, route row), in row order.
        let projected = routes.project(&texts);
        let statements = Cell::new(0i64);
        let use_text = &self.text_extract;
        let per_statement = policy.max_batch_size as usize;
        // The statements that write `range`: the firehose's (plain rows with the narrow insert,
        // the others with the full one), then each route's for its rows.
        let prepare = |range: &Range<usize>, extract: Extract| -> Result<Vec<_>> {
            let (firehose_sql, plain_sql, route_sqls) = match extract {
                Extract::Jsonb => &jsonb_sql,
                Extract::Text => &text_sql,
            };
            let (plain, full): (Vec<usize>, Vec<usize>) =
                range.clone().partition(|i| rows[owner[*i]].plain);
            let mut prepared = Vec::new();
            for (sql, group) in [(firehose_sql, full), (plain_sql, plain)] {
                let group: Vec<&str> = group.iter().map(|i| texts[*i]).collect();
                for chunk in chunk_rows(&group, MAX_PARAM_BYTES, per_statement) {
                    prepared.push(db.prepare(sql).bind(&[JsValue::from_str(&chunk)])?);
                }
            }
            for (sql, rows) in route_sqls.iter().zip(&projected) {
                let lo = rows.partition_point(|(i, _)| *i < range.start);
                let hi = rows.partition_point(|(i, _)| *i < range.end);
                let route_rows: Vec<&str> = rows[lo..hi].iter().map(|(_, r)| r.as_str()).collect();
                for chunk in chunk_rows(&route_rows, MAX_PARAM_BYTES, per_statement) {
                    prepared.push(db.prepare(sql).bind(&[JsValue::from_str(&chunk)])?);
                }
            }
            Ok(prepared)
        };
        let write = |range: Range<usize>| {
            let (statements, schema_error, prepare) = (&statements, schema_error.clone(), &prepare);
            async move {
                if injected {
                    return Err(INJECTED_FAILURE.to_string());
                }
                if let Some(e) = schema_error {
                    return Err(e);
                }
                loop {
                    let extract = if use_text.get() {
                        Extract::Text
                    } else {
                        Extract::Jsonb
                    };
                    let prepared = prepare(&range, extract).map_err(|e| e.to_string())?;
                    statements.set(statements.get() + prepared.len() as i64);
                    // One D1 batch is one transaction: an entry lands in the firehose and in all
                    // of its routes, or nowhere.
                    let failure = match db.batch(prepared).await {
                        Err(e) => Some(format!("D1: {e}")),
                        Ok(results) => results
                            .iter()
                            .find_map(|r| r.error())
                            .map(|e| format!("D1: {e}")),
                    };
                    match failure {
                        None => return Ok(()),
                        // A database without JSONB: the same write in the text form, at once
                        // and from now on (no attempt is counted for it).
                        Some(e) if extract == Extract::Jsonb && lacks_jsonb(&e) => {
                            console_error!("LogBatcher: {e}; writing without JSONB from now on");
                            use_text.set(true);
                        }
                        Some(e) => return Err(e),
                    }
                }
            }
        };
        let outcome = isolate(texts.len(), WRITE_BUDGET, write).await;
        let now = now_ms();
        let buffered: Vec<_> = rows.iter().map(|r| r.buffered()).collect();
        let plan = settle(&buffered, &owner, &outcome.failed, config.max_retries, now);

        // Apply it: new single rows first, so no failed entry is ever out of the buffer.
        let mut rebuffered = Vec::with_capacity(plan.rebuffer.len());
        for r in &plan.rebuffer {
            let part = rows.iter().find(|p| p.seq == r.part);
            let (accepted_at, plain) = part.map_or((now, false), |p| (p.accepted_at, p.plain));
            let row = texts[r.entry];
            // An entry whose id is already buffered on its own stays there.
            let id = row_id(row).unwrap_or_else(|| format!("{}#{}", r.part, r.entry));
            rebuffered.push(buffer.rebuffer(id, accepted_at, row, r.attempts, plain)?);
        }
        buffer.delete(&plan.delete)?;
        buffer.count_failure(&plan.failed_rows, now)?;
        let seq_of = |f: &Failure| match f.holder {
            Holder::Row(seq) => Some(seq),
            Holder::Rebuffered(i) => rebuffered[i],
        };
        let mut retry_attempts = plan
            .retry()
            .filter(|f| seq_of(f).is_some())
            .map(|f| f.attempts.count)
            .max();
        let dead: Vec<(i64, FailedRow)> = plan
            .dead()
            .filter_map(|f| {
                let seq = seq_of(f)?;
                Some((
                    seq,
                    FailedRow {
                        row: texts[f.entry].to_string(),
                        attempts: f.attempts.count,
                        first_failed_at: f.attempts.first_failed_at,
                        error: f.error.clone(),
                    },
                ))
            })
            .collect();
        let dead_lettered = match self
            .dead_letter(&dead, stats.shard.as_deref(), &routes.firehose_table, now)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                // The rows stay (out of attempts): the next flush writes them again, and
                // tries the dead-letter store again if that fails too.
                console_error!("LogBatcher: dead-lettering {} rows failed: {e}", dead.len());
                retry_attempts = retry_attempts.max(Some(config.max_retries));
                0
            }
        };
        let first_error = outcome.failed.first().map(|(_, e)| e.clone());
        buffer.record_flush(
            outcome.written_count(),
            dead_lettered,
            statements.get(),
            first_error,
            now,
        )?;
        Ok(Flushed {
            read: texts.len(),
            retry_attempts,
        })
    }

    /// Moves rows to the dead-letter namespace; they leave the buffer only after every record
    /// was written. Returns how many rows moved.
    async fn dead_letter(
        &self,
        dead: &[(i64, FailedRow)],
        shard: Option<&str>,
        table: &str,
        now: i64,
    ) -> Result<usize> {
        if dead.is_empty() {
            return Ok(0);
        }
        let kv = dead_letters(&self.env).map_err(storage)?;
        let shard = shard.unwrap_or("unknown");
        let failed: Vec<FailedRow> = dead.iter().map(|(_, r)| r.clone()).collect();
        for record in dead_letter::records(&failed, shard, table, now, MAX_RECORD_BYTES) {
            let random = random_bytes::<6>().map_err(storage)?;
            let key = dead_letter::record_key(now, shard, random);
            kv.put(&key, &record)?
                .metadata(record.meta())?
                .execute()
                .await?;
        }
        let seqs: Vec<i64> = dead.iter().map(|(seq, _)| *seq).collect();
        self.buffer().delete(&seqs)?;
        Ok(seqs.len())
    }
}
