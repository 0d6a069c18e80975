//! Shell: the LogBatcher's durable buffer, its own SQLite storage: `pending` (the buffered rows
//! and parts, with their attempt history and when they may be tried again), `faults` (fault
//! injection per app) and `stats` (counters, the outage under way, the last error). Every
//! statement the object runs against its storage is here.
//!
//! Rows are stored as BLOBs: bytes cross into SQLite and back with one copy, where text is
//! re-encoded one character at a time by the wasm bindings (the largest cost of buffering a big
//! part).

use crate::batch::fault_injection::Faults;
use crate::batch::log_batcher::protocol::Stats;
use crate::batch::settle::{Attempts, Buffered};
use crate::platform::usage::{TableUsage, Usage};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use worker::{Result, SqlStorage, SqlStorageValue};

const SCHEMA: [&str; 5] = [
    // What D1 reported for this object's flushes, per table (`store::usage`).
    "CREATE TABLE IF NOT EXISTS usage (
        tbl TEXT PRIMARY KEY,
        statements INTEGER NOT NULL DEFAULT 0,
        rows_read INTEGER NOT NULL DEFAULT 0,
        rows_written INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS pending (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        accepted_at INTEGER NOT NULL,
        row BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        first_failed_at INTEGER,
        retry_at INTEGER,
        n INTEGER NOT NULL DEFAULT 1,
        plain INTEGER NOT NULL DEFAULT 0,
        app TEXT,
        dead_letter INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS faults (
        app TEXT PRIMARY KEY,
        fail_next INTEGER NOT NULL DEFAULT 0,
        down_until INTEGER NOT NULL DEFAULT 0,
        slow_flush_ms INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS stats (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        shard TEXT,
        accepted INTEGER NOT NULL DEFAULT 0,
        flushed INTEGER NOT NULL DEFAULT 0,
        dead_lettered INTEGER NOT NULL DEFAULT 0,
        flushes INTEGER NOT NULL DEFAULT 0,
        d1_statements INTEGER NOT NULL DEFAULT 0,
        outage_since INTEGER,
        outage_attempts INTEGER NOT NULL DEFAULT 0,
        outage_error TEXT,
        backoff_until INTEGER,
        last_flush_at INTEGER,
        last_error TEXT,
        last_error_at INTEGER,
        registered INTEGER NOT NULL DEFAULT 0,
        size_after INTEGER,
        space_deleted INTEGER NOT NULL DEFAULT 0,
        last_space_at INTEGER
    )",
    "INSERT OR IGNORE INTO stats (id) VALUES (1)",
];

/// A buffered row: one entry, or a part (a JSON array of `n` rows).
pub struct PendingRow {
    pub seq: i64,
    pub accepted_at: i64,
    pub row: String,
    /// Entries in `row`: 1 for a single row, more for a part.
    pub n: i64,
    /// Every row in it is plain (`shard::Part::plain`): flushed with the narrow insert.
    pub plain: bool,
    pub attempts: Attempts,
    /// The app of every row in it, when they share one.
    pub app: Option<String>,
    /// `X-Debug-Flags: dead_letter`: dead-letter it unwritten.
    pub dead_letter: bool,
}

impl PendingRow {
    /// What the settle step needs to know of it.
    pub fn buffered(&self) -> Buffered {
        Buffered {
            seq: self.seq,
            attempts: self.attempts,
        }
    }
}

/// One app's injected faults as they stand.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct AppFaults {
    pub fail_next: i64,
    pub down_until: i64,
    pub slow_flush_ms: i64,
}

/// What the buffer holds, in one read.
#[derive(Deserialize)]
pub struct Summary {
    /// Entries, their bytes and the oldest's acceptance time; entries that failed alone and the
    /// most attempts of any.
    pub pending: i64,
    pub bytes: i64,
    pub oldest: Option<i64>,
    pub failing: i64,
    pub max_attempts: i64,
    /// Entries that may be flushed now (not waiting for a retry), the oldest of them, and the
    /// soonest a waiting row may be tried again.
    pub ready: i64,
    pub next_retry_at: Option<i64>,
    pub oldest_ready: Option<i64>,
}

/// What an ingest's bookkeeping statement reads back.
#[derive(Deserialize)]
pub struct Counted {
    /// Entries the insert added (0 for a part buffered before).
    pub added: i64,
    pub registered: i64,
    pub backoff_until: Option<i64>,
    pub shard: Option<String>,
}

/// A part (or single row) to buffer.
pub struct NewPart<'a> {
    pub key: String,
    pub stored: &'a [u8],
    pub rows: usize,
    pub plain: bool,
    pub app: Option<&'a str>,
    pub dead_letter: bool,
}

fn opt<T: Into<SqlStorageValue>>(v: Option<T>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, Into::into)
}

/// The object's SQLite storage, seen as the buffer.
#[derive(Clone)]
pub struct Buffer(SqlStorage);

impl Buffer {
    /// The buffer in `sql`, its tables created when missing (once per object instance: every
    /// other statement may assume them).
    pub fn open(sql: SqlStorage) -> Result<Buffer> {
        for statement in SCHEMA {
            sql.exec(statement, None)?;
        }
        Ok(Buffer(sql))
    }

    /// The buffer in `sql`, whose tables `open` created.
    pub fn of(sql: SqlStorage) -> Buffer {
        Buffer(sql)
    }

    /// Stores the standing fault injection an ingest asked for, for its app.
    pub fn set_faults(&self, app: &str, faults: &Faults, now: i64) -> Result<()> {
        if !faults.any_standing() {
            return Ok(());
        }
        self.0.exec(
            "INSERT INTO faults (app, fail_next, down_until, slow_flush_ms)
             VALUES (?1, coalesce(?2, 0), coalesce(?3, 0), coalesce(?4, 0))
             ON CONFLICT(app) DO UPDATE SET
                 fail_next = coalesce(?2, fail_next),
                 down_until = coalesce(?3, down_until),
                 slow_flush_ms = coalesce(?4, slow_flush_ms)",
            vec![
                SqlStorageValue::from(app),
                opt(faults.d1_fail.map(i64::from)),
                opt(faults.d1_down_ms.map(|ms| now + i64::from(ms))),
                opt(faults.slow_flush_ms.map(i64::from)),
            ],
        )?;
        Ok(())
    }

    /// Every app's standing faults.
    pub fn faults(&self) -> Result<HashMap<String, AppFaults>> {
        #[derive(Deserialize)]
        struct Row {
            app: String,
            fail_next: i64,
            down_until: i64,
            slow_flush_ms: i64,
        }
        let rows: Vec<Row> = self.0.exec("SELECT * FROM faults", None)?.to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let f = AppFaults {
                    fail_next: r.fail_next,
                    down_until: r.down_until,
                    slow_flush_ms: r.slow_flush_ms,
                };
                (r.app, f)
            })
            .collect())
    }

    /// Spends one injected failure of `app` (`d1_fail`).
    pub fn spend_injected_failure(&self, app: &str) -> Result<()> {
        self.0.exec(
            "UPDATE faults SET fail_next = max(fail_next - 1, 0) WHERE app = ?1",
            vec![SqlStorageValue::from(app)],
        )?;
        Ok(())
    }

    /// Buffers a part (or a single row) unless its key is buffered already (a retried
    /// request), and counts what was added: one statement reads what the rest of the ingest
    /// needs (`changes()` is still the INSERT's).
    pub fn insert(&self, part: NewPart<'_>, now: i64, shard: &str) -> Result<Counted> {
        self.0.exec(
            "INSERT INTO pending (id, accepted_at, row, n, plain, app, dead_letter)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO NOTHING",
            vec![
                SqlStorageValue::from(part.key),
                now.into(),
                SqlStorageValue::Blob(part.stored.to_vec()),
                (part.rows as i64).into(),
                i64::from(part.plain).into(),
                opt(part.app),
                i64::from(part.dead_letter).into(),
            ],
        )?;
        self.0
            .exec(
                "UPDATE stats SET accepted = accepted + changes() * ?2,
                     shard = coalesce(shard, ?1)
                 RETURNING changes() * ?2 AS added, registered, backoff_until, shard",
                vec![SqlStorageValue::from(shard), (part.rows as i64).into()],
            )?
            .one()
    }

    /// Buffers an entry of a replaced part as a single row, with the attempt history the settle
    /// step gave it; `None` when an entry with its id is buffered on its own already.
    pub fn rebuffer(
        &self,
        id: String,
        part: &PendingRow,
        row: &str,
        attempts: Attempts,
        retry_at: Option<i64>,
    ) -> Result<Option<i64>> {
        #[derive(Deserialize)]
        struct Seq {
            seq: i64,
        }
        let inserted: Vec<Seq> = self
            .0
            .exec(
                "INSERT INTO pending
                     (id, accepted_at, row, n, attempts, first_failed_at, retry_at, plain, app)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO NOTHING RETURNING seq",
                vec![
                    SqlStorageValue::from(id),
                    part.accepted_at.into(),
                    SqlStorageValue::Blob(row.as_bytes().to_vec()),
                    i64::from(attempts.count).into(),
                    opt(attempts.first_failed_at),
                    opt(retry_at),
                    i64::from(part.plain).into(),
                    opt(part.app.as_deref()),
                ],
            )?
            .to_array()?;
        Ok(inserted.first().map(|s| s.seq))
    }

    /// Records a failed attempt of the single row `seq`, and when it may be tried again.
    pub fn count_failure(&self, seq: i64, attempts: Attempts, retry_at: i64) -> Result<()> {
        self.0.exec(
            "UPDATE pending SET attempts = ?2, first_failed_at = ?3, retry_at = ?4 WHERE seq = ?1",
            vec![
                seq.into(),
                i64::from(attempts.count).into(),
                opt(attempts.first_failed_at),
                retry_at.into(),
            ],
        )?;
        Ok(())
    }

    /// Holds `seqs` back until `retry_at` (an app's injected outage).
    pub fn hold(&self, seqs: &[i64], retry_at: i64) -> Result<()> {
        if !seqs.is_empty() {
            self.0.exec(
                "UPDATE pending SET retry_at = ?2 WHERE seq IN (SELECT value FROM json_each(?1))",
                vec![
                    SqlStorageValue::from(json!(seqs).to_string()),
                    retry_at.into(),
                ],
            )?;
        }
        Ok(())
    }

    /// The oldest rows that may be flushed at `now`, holding up to `limit` entries (a part
    /// counts its entries), and always at least one row when any is ready. Read as raw values,
    /// so the row's bytes arrive with one copy.
    pub fn ready(&self, limit: usize, now: i64) -> Result<Vec<PendingRow>> {
        let cursor = self.0.exec(
            "SELECT seq, accepted_at, row, n, plain, attempts, first_failed_at, app, dead_letter
             FROM (SELECT *, sum(n) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS upto
                   FROM pending WHERE retry_at IS NULL OR retry_at <= ?2)
             WHERE upto - n < ?1 ORDER BY seq",
            vec![(limit as i64).into(), now.into()],
        )?;
        let int = |v: &SqlStorageValue| match v {
            SqlStorageValue::Integer(i) => Some(*i),
            SqlStorageValue::Float(f) => Some(*f as i64),
            _ => None,
        };
        let mut rows = Vec::new();
        for values in cursor.raw() {
            let mut values = values?;
            let [seq, accepted_at, row, n, plain, attempts, first_failed_at, app, dead_letter] =
                values.as_mut_slice()
            else {
                return Err(worker::Error::RustError(
                    "pending: unexpected columns".into(),
                ));
            };
            let SqlStorageValue::Blob(bytes) = std::mem::replace(row, SqlStorageValue::Null) else {
                return Err(worker::Error::RustError(
                    "pending: a row is not a BLOB".into(),
                ));
            };
            // Never invalid (ingest refuses non-UTF-8); kept lossily so the row still reaches D1
            // or the dead letters rather than blocking the shard.
            let row = String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            let app = match std::mem::replace(app, SqlStorageValue::Null) {
                SqlStorageValue::String(s) => Some(s),
                _ => None,
            };
            rows.push(PendingRow {
                seq: int(seq).unwrap_or_default(),
                accepted_at: int(accepted_at).unwrap_or_default(),
                row,
                n: int(n).unwrap_or(1),
                plain: int(plain).unwrap_or_default() == 1,
                attempts: Attempts {
                    count: int(attempts).unwrap_or_default() as u32,
                    first_failed_at: int(first_failed_at),
                },
                app,
                dead_letter: int(dead_letter).unwrap_or_default() == 1,
            });
        }
        Ok(rows)
    }

    pub fn delete(&self, seqs: &[i64]) -> Result<()> {
        if !seqs.is_empty() {
            self.0.exec(
                "DELETE FROM pending WHERE seq IN (SELECT value FROM json_each(?1))",
                vec![SqlStorageValue::from(json!(seqs).to_string())],
            )?;
        }
        Ok(())
    }

    pub fn stats(&self) -> Result<Stats> {
        self.0.exec("SELECT * FROM stats WHERE id = 1", None)?.one()
    }

    pub fn summary(&self, now: i64) -> Result<Summary> {
        self.0
            .exec(
                "SELECT coalesce(sum(n), 0) AS pending, coalesce(sum(length(row)), 0) AS bytes,
                        min(accepted_at) AS oldest,
                        coalesce(sum(CASE WHEN attempts = 0 THEN 0 ELSE n END), 0) AS failing,
                        coalesce(max(attempts), 0) AS max_attempts,
                        coalesce(sum(CASE WHEN retry_at > ?1 THEN 0 ELSE n END), 0) AS ready,
                        min(CASE WHEN retry_at > ?1 THEN NULL ELSE accepted_at END)
                            AS oldest_ready,
                        min(CASE WHEN retry_at > ?1 THEN retry_at END) AS next_retry_at
                 FROM pending",
                vec![now.into()],
            )?
            .one()
    }

    /// A flush failed as an outage: count it and keep its error as the current one.
    pub fn record_outage(&self, error: &str, now: i64, backoff_until: i64) -> Result<()> {
        self.0.exec(
            "UPDATE stats SET outage_since = coalesce(outage_since, ?2),
                 outage_attempts = outage_attempts + 1, outage_error = ?1,
                 last_error = ?1, last_error_at = ?2, backoff_until = ?3",
            vec![
                SqlStorageValue::from(error),
                now.into(),
                backoff_until.into(),
            ],
        )?;
        Ok(())
    }

    /// Flushes in a row that failed as an outage, so far.
    pub fn outage_attempts(&self) -> Result<i64> {
        Ok(self.stats()?.outage_attempts)
    }

    /// A flush reached D1: no outage is under way.
    pub fn end_outage(&self) -> Result<()> {
        self.0.exec(
            "UPDATE stats SET outage_since = NULL, outage_attempts = 0, outage_error = NULL,
                 backoff_until = NULL
             WHERE outage_since IS NOT NULL OR backoff_until IS NOT NULL",
            None,
        )?;
        Ok(())
    }

    pub fn record_error(&self, error: String, now: i64) -> Result<()> {
        self.0.exec(
            "UPDATE stats SET last_error = ?1, last_error_at = ?2",
            vec![SqlStorageValue::from(error), now.into()],
        )?;
        Ok(())
    }

    /// Counts one flush: entries written and dead-lettered, D1 statements, and its first error.
    pub fn record_flush(
        &self,
        written: usize,
        dead_lettered: usize,
        statements: i64,
        error: Option<String>,
        now: i64,
    ) -> Result<()> {
        self.0.exec(
            "UPDATE stats SET flushed = flushed + ?1, dead_lettered = dead_lettered + ?2,
                 flushes = flushes + 1, d1_statements = d1_statements + ?3,
                 last_flush_at = CASE WHEN ?1 > 0 THEN ?4 ELSE last_flush_at END,
                 last_error = coalesce(?5, last_error),
                 last_error_at = CASE WHEN ?5 IS NULL THEN last_error_at ELSE ?4 END",
            vec![
                (written as i64).into(),
                (dead_lettered as i64).into(),
                statements.into(),
                now.into(),
                opt(error),
            ],
        )?;
        Ok(())
    }

    /// Adds a flush's D1 usage to the object's totals.
    pub fn record_usage(&self, usage: &Usage) -> Result<()> {
        for (table, u) in &usage.tables {
            self.0.exec(
                "INSERT INTO usage (tbl, statements, rows_read, rows_written) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(tbl) DO UPDATE SET statements = statements + ?2,
                     rows_read = rows_read + ?3, rows_written = rows_written + ?4",
                vec![
                    SqlStorageValue::from(table.as_str()),
                    (u.statements as i64).into(),
                    (u.rows_read as i64).into(),
                    (u.rows_written as i64).into(),
                ],
            )?;
        }
        if let Some(size) = usage.size_after {
            self.0.exec(
                "UPDATE stats SET size_after = ?1",
                vec![(size as i64).into()],
            )?;
        }
        Ok(())
    }

    /// Counts rows this object deleted to keep the database under `MAX_DB_BYTES`.
    pub fn record_space(&self, deleted: u64, now: i64) -> Result<()> {
        self.0.exec(
            "UPDATE stats SET space_deleted = space_deleted + ?1, last_space_at = ?2",
            vec![(deleted as i64).into(), now.into()],
        )?;
        Ok(())
    }

    /// The object's D1 usage so far.
    pub fn usage(&self) -> Result<Usage> {
        #[derive(Deserialize)]
        struct Row {
            tbl: String,
            statements: i64,
            rows_read: i64,
            rows_written: i64,
        }
        let rows: Vec<Row> = self.0.exec("SELECT * FROM usage", None)?.to_array()?;
        let mut usage = Usage {
            size_after: self.stats()?.size_after.map(|s| s as u64),
            ..Usage::default()
        };
        for r in rows {
            usage.tables.insert(
                r.tbl,
                TableUsage {
                    statements: r.statements as u64,
                    rows_read: r.rows_read as u64,
                    rows_written: r.rows_written as u64,
                },
            );
        }
        Ok(usage)
    }

    /// The shard is in D1's `shards` directory.
    pub fn mark_registered(&self) -> Result<()> {
        self.0.exec("UPDATE stats SET registered = 1", None)?;
        Ok(())
    }
}
