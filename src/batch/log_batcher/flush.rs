//! Shell: one flush of a LogBatcher: read the oldest buffered rows that may be tried now, write
//! them to D1 (`store::writer`), isolate the rows that fail on their own (`poison`), and apply
//! what `settle` decides: delete what landed, leave what was deferred, keep the rows that failed
//! alone with their attempt counted and a retry time, and move those out of attempts to the dead
//! letters, removing them from the buffer only once that write succeeded.
//!
//! An outage (every write failed with an error that is not the rows') counts no attempt: the
//! rows stay, and the alarm backs off (`RETRY_BASE_MS` doubling up to `RETRY_MAX_MS`) for as
//! long as it lasts. Fault injection (`X-Debug-Flags`) acts on its own app's rows only: they are
//! held back or dead-lettered apart from the others.
//!
//! Does not decide when to flush (`policy`), route rows (`route`), build SQL (`insert`,
//! `schema`) or format dead letters (`dead_letter`).

use super::buffer::{AppFaults, PendingRow};
use super::LogBatcher;
use crate::batch::dead_letter::{self, FailedRow, MAX_RECORD_BYTES};
use crate::batch::part::{row_id, split_rows};
use crate::batch::poison::WRITE_BUDGET;
use crate::batch::policy::BatchPolicy;
use crate::batch::settle::{settle, Failure, Holder};
use crate::config::Config;
use crate::platform::kv::put_json;
use crate::platform::usage::Work;

use crate::platform::{dead_letters, flush_db, metered_db, now_ms, random_bytes};
use crate::store::route::Routes;
use crate::store::tables::{ensure_schemas, make_room, schemas_hash, DbError};
use crate::store::writer::Writer;
use std::collections::HashMap;
use worker::{console_error, console_log, Delay, Result};

/// Message of the failure `X-Debug-Flags: d1_fail` / `d1_down` injects.
pub const INJECTED_FAILURE: &str = "injected D1 failure (X-Debug-Flags d1_fail or d1_down)";
/// Error recorded for rows dead-lettered on request.
pub const DEAD_LETTERED_ON_REQUEST: &str = "dead-lettered on request (X-Debug-Flags dead_letter)";
/// A flush reads at most this many batches' worth of rows into one D1 round trip.
const BATCHES_PER_FLUSH: u32 = 10;

/// What one flush did.
#[derive(Debug, Default)]
pub struct Flushed {
    /// Entries read.
    pub read: usize,
    /// Entries that were neither written nor proven bad, and left for the next flush.
    pub deferred: usize,
    /// The outage that stopped it, if one did.
    pub outage: Option<String>,
}

/// Most entries one flush reads.
pub fn flush_limit(policy: BatchPolicy) -> usize {
    policy.max_batch_size as usize * BATCHES_PER_FLUSH as usize
}

fn storage(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

/// The rows a flush read, split by what injected faults say about their app.
struct Split {
    write: Vec<PendingRow>,
    /// Held back by their app's injected outage: with the time it ends (`d1_down`), or `None`
    /// for a count of failures (`d1_fail`).
    held: Vec<(PendingRow, Option<i64>)>,
    /// `X-Debug-Flags: dead_letter`.
    dead: Vec<PendingRow>,
}

fn split(rows: Vec<PendingRow>, faults: &HashMap<String, AppFaults>, now: i64) -> Split {
    let mut out = Split {
        write: Vec::new(),
        held: Vec::new(),
        dead: Vec::new(),
    };
    for r in rows {
        let f = r.app.as_ref().and_then(|a| faults.get(a)).copied();
        if r.dead_letter {
            out.dead.push(r);
        } else if let Some(f) = f.filter(|f| f.down_until > now) {
            out.held.push((r, Some(f.down_until)));
        } else if f.is_some_and(|f| f.fail_next > 0) {
            out.held.push((r, None));
        } else {
            out.write.push(r);
        }
    }
    out
}

/// What a flush works with besides its rows.
struct FlushContext<'a> {
    config: &'a Config,
    policy: BatchPolicy,
    /// The database's size after the last statement D1 reported, if any.
    size_before: Option<i64>,
}

/// What the writes of a flush did.
#[derive(Debug, Default)]
struct Written {
    rows: usize,
    deferred: usize,
    outage: Option<String>,
    first_error: Option<String>,
}

/// A flush's entries: each one's row text, and the buffered row (part) it belongs to.
struct Entries<'a> {
    texts: Vec<&'a str>,
    owner: Vec<usize>,
}

fn entries_of(write: &[PendingRow]) -> Entries<'_> {
    let mut out = Entries {
        texts: Vec::new(),
        owner: Vec::new(),
    };
    for (k, r) in write.iter().enumerate() {
        match (r.n, split_rows(&r.row)) {
            (n, Some(parts)) if n > 1 => out.texts.extend(parts),
            // A single row, or (never written by `ingest`) a part that does not split: it
            // travels as it is and fails on its own.
            _ => out.texts.push(&r.row),
        }
        out.owner.resize(out.texts.len(), k);
    }
    out
}

/// `X-Debug-Flags: slow_flush`: the flush waits as long as the slowest app among its rows asked.
async fn slow_down(rows: &[PendingRow], faults: &HashMap<String, AppFaults>) {
    let slow = rows
        .iter()
        .filter_map(|r| faults.get(r.app.as_deref()?))
        .map(|f| f.slow_flush_ms)
        .max()
        .unwrap_or(0);
    if slow > 0 {
        Delay::from(std::time::Duration::from_millis(slow as u64)).await;
    }
}

/// Rows held back by their app's injected outage: an outage of theirs alone, retried on the
/// outage's backoff, as in a real outage, whose end nobody knows. With nothing else to write
/// (`only_held`), the shard is as good as in an outage, and shows it.
fn hold_back(
    buffer: &super::buffer::Buffer,
    held: &[(PendingRow, Option<i64>)],
    outage_attempts: i64,
    policy: BatchPolicy,
    now: i64,
    only_held: bool,
    out: &mut Flushed,
) -> Result<()> {
    if held.is_empty() {
        return Ok(());
    }
    let mut spent = Vec::new();
    for (r, until) in held {
        out.deferred += r.n as usize;
        if let (None, Some(app)) = (until, &r.app) {
            if !spent.contains(app) {
                buffer.spend_injected_failure(app)?;
                spent.push(app.clone());
            }
        }
    }
    let retry_at = now + policy.backoff_ms(outage_attempts as u32 + 1) as i64;
    let seqs: Vec<i64> = held.iter().map(|(r, _)| r.seq).collect();
    buffer.hold(&seqs, retry_at)?;
    buffer.record_error(INJECTED_FAILURE.to_string(), now)?;
    if only_held {
        out.outage = Some(INJECTED_FAILURE.to_string());
    }
    Ok(())
}

/// `X-Debug-Flags: dead_letter`: every entry of these rows, to the dead letters unwritten.
fn dead_on_request(dead: &[PendingRow], now: i64) -> Vec<(i64, FailedRow)> {
    let mut out = Vec::new();
    for r in dead {
        let texts = match (r.n, split_rows(&r.row)) {
            (n, Some(texts)) if n > 1 => texts,
            _ => vec![r.row.as_str()],
        };
        for t in texts {
            out.push((
                r.seq,
                FailedRow {
                    row: t.to_string(),
                    attempts: 0,
                    first_failed_at: now,
                    error: DEAD_LETTERED_ON_REQUEST.to_string(),
                },
            ));
        }
    }
    out
}

/// Applies a settlement to the buffer: failed entries of a part become rows of their own first
/// (so no entry is ever out of the buffer), then what landed is deleted, retries get their
/// attempt and time, and rows out of attempts join `dead_rows`.
fn apply(
    buffer: &super::buffer::Buffer,
    plan: &crate::batch::settle::Settlement,
    write: &[PendingRow],
    entries: &Entries<'_>,
    policy: BatchPolicy,
    now: i64,
    dead_rows: &mut Vec<(i64, FailedRow)>,
) -> Result<()> {
    let retry_at = |f: &Failure| now + policy.backoff_ms(f.attempts.count) as i64;
    let failed_at: HashMap<usize, i64> = plan.retry().map(|f| (f.entry, retry_at(f))).collect();
    let mut rebuffered = Vec::with_capacity(plan.rebuffer.len());
    for r in &plan.rebuffer {
        let part = &write[entries.owner[r.entry]];
        let row = entries.texts[r.entry];
        // An entry whose id is already buffered on its own stays there.
        let id = row_id(row).unwrap_or_else(|| format!("{}#{}", r.part, r.entry));
        let at = failed_at.get(&r.entry).copied();
        rebuffered.push(buffer.rebuffer(id, part, row, r.attempts, at)?);
    }
    buffer.delete(&plan.delete)?;
    for f in plan.retry() {
        if let Holder::Row(seq) = f.holder {
            buffer.count_failure(seq, f.attempts, retry_at(f))?;
        }
    }
    for f in plan.dead() {
        let seq = match f.holder {
            Holder::Row(seq) => Some(seq),
            Holder::Rebuffered(i) => rebuffered[i],
        };
        if let Some(seq) = seq {
            dead_rows.push((
                seq,
                FailedRow {
                    row: entries.texts[f.entry].to_string(),
                    attempts: f.attempts.count,
                    first_failed_at: f.attempts.first_failed_at.unwrap_or(now),
                    error: f.error.clone(),
                },
            ));
        }
    }
    Ok(())
}

impl LogBatcher {
    /// Brings the log tables up to date with the configured routes, once per configuration per
    /// instance (`schemas_checked`).
    async fn ensure_schemas(&self, routes: &Routes) -> std::result::Result<(), DbError> {
        let tables = routes.tables();
        let hash = schemas_hash(&tables);
        if self.schemas_checked.borrow().as_deref() == Some(hash.as_str()) {
            return Ok(());
        }
        let db = metered_db(&self.env, Work::Migration).map_err(|e| DbError(e.to_string()))?;
        let migrated = ensure_schemas(&db, &tables, now_ms()).await;
        let migrated = migrated?;
        if !migrated.is_empty() {
            console_log!("LogBatcher: migrated log tables {migrated:?}");
        }
        *self.schemas_checked.borrow_mut() = Some(hash);
        Ok(())
    }

    /// One flush, as a sequence of steps: read the oldest ready rows, apply injected faults
    /// (slowness, an app's outage, dead letters on request), write the rest and settle what
    /// the writes decided, dead-letter the rows out of attempts, and record what happened.
    pub(super) async fn flush_once(&self, config: &Config, policy: BatchPolicy) -> Result<Flushed> {
        let buffer = self.buffer();
        let now = now_ms();
        let rows = buffer.ready(flush_limit(policy), now)?;
        if rows.is_empty() {
            return Ok(Flushed::default());
        }
        let stats = buffer.stats()?;
        let faults = buffer.faults()?;
        slow_down(&rows, &faults).await;
        let Split { write, held, dead } = split(rows, &faults, now);
        let mut out = Flushed {
            read: write.len() + held.len() + dead.len(),
            ..Flushed::default()
        };
        let only_held = write.is_empty() && dead.is_empty();
        hold_back(
            &buffer,
            &held,
            stats.outage_attempts,
            policy,
            now,
            only_held,
            &mut out,
        )?;
        let mut dead_rows = dead_on_request(&dead, now);
        // The flush's own tally: it goes to the buffer's stats, not to the usage meter.
        let db = flush_db(&self.env).map_err(storage)?;
        let writer = Writer::new(
            &db,
            &config.routes,
            policy.max_batch_size as usize,
            &self.text_extract,
        );
        let mut written = Written::default();
        if !write.is_empty() {
            let ctx = FlushContext {
                config,
                policy,
                size_before: stats.size_after,
            };
            written = self
                .write_and_settle(&ctx, &writer, &write, &mut dead_rows)
                .await?;
            out.deferred += written.deferred;
            out.outage = written.outage.clone();
        }
        let shard = stats.shard.as_deref();
        let dead_lettered = self
            .dead_letter_or_keep(&dead_rows, shard, &config.routes.firehose_table, now)
            .await;
        let usage = db.take();
        buffer.record_usage(&usage)?;
        if let Some(size) = usage.size_after.filter(|s| *s > config.max_db_bytes) {
            self.make_room(config, size, 0).await;
        }
        let statements = writer.statements.get();
        buffer.record_flush(
            written.rows,
            dead_lettered,
            statements,
            written.first_error,
            now_ms(),
        )?;
        Ok(out)
    }

    /// Writes `write`'s entries (the schema brought up to date and room made first) and applies
    /// what `settle` decides; rows out of attempts join `dead_rows`.
    async fn write_and_settle(
        &self,
        ctx: &FlushContext<'_>,
        writer: &Writer<'_>,
        write: &[PendingRow],
        dead_rows: &mut Vec<(i64, FailedRow)>,
    ) -> Result<Written> {
        let config = ctx.config;
        // A schema that cannot be brought up to date is an outage: no table lacks a row.
        let schema_error = self.ensure_schemas(&config.routes).await.err().map(|e| e.0);
        // Room first, when what this flush adds would take the database past its cap. A stored
        // row takes about three times its text (indexes, search, route copies).
        if let Some(size) = ctx.size_before {
            let incoming: u64 = write.iter().map(|r| r.row.len() as u64 * 3).sum();
            self.make_room(config, size as u64, incoming).await;
        }
        let entries = entries_of(write);
        let plain: Vec<bool> = entries.owner.iter().map(|k| write[*k].plain).collect();
        // Entries that failed before are tried alone first.
        let singles: Vec<usize> = (0..entries.owner.len())
            .filter(|i| write[entries.owner[*i]].attempts.count > 0)
            .collect();
        let rows = writer.rows(entries.texts.clone(), plain);
        let outcome = writer
            .write_all(&rows, &singles, WRITE_BUDGET, schema_error)
            .await;
        let now = now_ms();
        let buffered: Vec<_> = write.iter().map(|r| r.buffered()).collect();
        let plan = settle(
            &buffered,
            &entries.owner,
            &outcome.failed,
            &outcome.deferred,
            config.max_retries,
            now,
        );
        apply(
            &self.buffer(),
            &plan,
            write,
            &entries,
            ctx.policy,
            now,
            dead_rows,
        )?;
        Ok(Written {
            rows: outcome.written_count(),
            deferred: outcome.deferred.len(),
            first_error: outcome
                .failed
                .first()
                .map(|(_, e)| e.clone())
                .or(outcome.outage.clone()),
            outage: outcome.outage,
        })
    }

    /// Dead-letters `dead_rows`, answering how many moved. A failure keeps the rows (out of
    /// attempts): the next flush writes them again, and tries the dead-letter store again if
    /// that fails too.
    async fn dead_letter_or_keep(
        &self,
        dead_rows: &[(i64, FailedRow)],
        shard: Option<&str>,
        table: &str,
        now: i64,
    ) -> usize {
        match self.dead_letter(dead_rows, shard, table, now).await {
            Ok(n) => n,
            Err(e) => {
                console_error!(
                    "LogBatcher: dead-lettering {} rows failed: {e}",
                    dead_rows.len()
                );
                0
            }
        }
    }

    /// Deletes the oldest rows, fairly across apps (`store::space`), when the database at `size`
    /// with `incoming` bytes more would pass `MAX_DB_BYTES`. A failure is logged and left for the
    /// next flush: the write itself goes on.
    async fn make_room(&self, config: &Config, size: u64, incoming: u64) {
        if size + incoming <= config.max_db_bytes {
            return;
        }
        let db = match metered_db(&self.env, Work::Space) {
            Ok(db) => db,
            Err(e) => return console_error!("LogBatcher: making room: {e}"),
        };
        let tables = config.routes.tables();
        let sizes = (size, incoming, config.max_db_bytes);
        let made = make_room(
            &db,
            &tables,
            &config.routes.firehose_table,
            sizes,
            config.prune_chunk_rows,
            config.prune_max_statements,
        )
        .await;
        match made {
            Ok(r) if r.deleted > 0 => {
                console_log!(
                    "WARN d1-logger: the database is at {size} bytes (+{incoming} to come), \
                     MAX_DB_BYTES is {}: deleted the {} oldest rows {:?}",
                    config.max_db_bytes,
                    r.deleted,
                    r.apps
                );
                if let Err(e) = self.buffer().record_space(r.deleted, now_ms()) {
                    console_error!("LogBatcher: recording space reclaimed: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => console_error!("LogBatcher: making room under MAX_DB_BYTES failed: {e}"),
        }
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
            put_json(&kv, &key, &record, Some(&record.meta()), None).await?;
        }
        let mut seqs: Vec<i64> = dead.iter().map(|(seq, _)| *seq).collect();
        seqs.dedup();
        self.buffer().delete(&seqs)?;
        Ok(dead.len())
    }
}
