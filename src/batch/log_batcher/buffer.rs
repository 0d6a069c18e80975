//! Shell: the LogBatcher's durable buffer, its own SQLite storage: `pending` (the buffered rows
//! and parts, with their attempt history) and `stats` (counters, fault-injection state, the
//! current error). Every statement the object runs against its storage is here.
//!
//! Rows are stored as BLOBs: bytes cross into SQLite and back with one copy, where text is
//! re-encoded one character at a time by the wasm bindings (the largest cost of buffering a big
//! part).

use crate::batch::log_batcher::protocol::Stats;
use crate::batch::settle::{Attempts, Buffered};
use crate::ingest::debug::ShardFaults;
use serde::Deserialize;
use serde_json::json;
use worker::{Result, SqlStorage, SqlStorageValue};

const SCHEMA: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS pending (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        accepted_at INTEGER NOT NULL,
        row BLOB NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        first_failed_at INTEGER,
        n INTEGER NOT NULL DEFAULT 1,
        plain INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE TABLE IF NOT EXISTS stats (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        shard TEXT,
        accepted INTEGER NOT NULL DEFAULT 0,
        flushed INTEGER NOT NULL DEFAULT 0,
        dead_lettered INTEGER NOT NULL DEFAULT 0,
        flushes INTEGER NOT NULL DEFAULT 0,
        d1_statements INTEGER NOT NULL DEFAULT 0,
        fail_next INTEGER NOT NULL DEFAULT 0,
        slow_flush_ms INTEGER NOT NULL DEFAULT 0,
        backoff_until INTEGER,
        last_flush_at INTEGER,
        last_error TEXT,
        last_error_at INTEGER,
        registered INTEGER NOT NULL DEFAULT 0
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
    pub attempts: u32,
    pub first_failed_at: Option<i64>,
}

impl PendingRow {
    /// What the settle step needs to know of it.
    pub fn buffered(&self) -> Buffered {
        Buffered {
            seq: self.seq,
            attempts: self.attempts,
            first_failed_at: self.first_failed_at,
        }
    }
}

/// What the buffer holds, in one read.
#[derive(Deserialize)]
pub struct Summary {
    pub pending: i64,
    pub bytes: i64,
    pub oldest: Option<i64>,
    pub failing: i64,
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

    /// Stores the shard-level fault injection of a request.
    pub fn set_faults(&self, faults: &ShardFaults) -> Result<()> {
        if let Some(n) = faults.d1_fail {
            self.0
                .exec("UPDATE stats SET fail_next = ?1", vec![i64::from(n).into()])?;
        }
        if let Some(ms) = faults.slow_flush_ms {
            self.0.exec(
                "UPDATE stats SET slow_flush_ms = ?1",
                vec![i64::from(ms).into()],
            )?;
        }
        Ok(())
    }

    /// Buffers a part (or a single row) under `key` unless that key is buffered already (a
    /// retried request), and counts what was added: one statement reads what the rest of the
    /// ingest needs (`changes()` is still the INSERT's).
    pub fn insert(
        &self,
        key: String,
        now: i64,
        stored: &[u8],
        rows: usize,
        plain: bool,
        shard: &str,
    ) -> Result<Counted> {
        self.0.exec(
            "INSERT INTO pending (id, accepted_at, row, n, plain) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO NOTHING",
            vec![
                SqlStorageValue::from(key),
                now.into(),
                SqlStorageValue::Blob(stored.to_vec()),
                (rows as i64).into(),
                i64::from(plain).into(),
            ],
        )?;
        self.0
            .exec(
                "UPDATE stats SET accepted = accepted + changes() * ?2,
                     shard = coalesce(shard, ?1)
                 RETURNING changes() * ?2 AS added, registered, backoff_until, shard",
                vec![SqlStorageValue::from(shard), (rows as i64).into()],
            )?
            .one()
    }

    /// Buffers a failed entry of a part as a single row, with the attempt history the settle
    /// step gave it; `None` when an entry with its id is buffered on its own already.
    pub fn rebuffer(
        &self,
        id: String,
        accepted_at: i64,
        row: &str,
        attempts: Attempts,
        plain: bool,
    ) -> Result<Option<i64>> {
        #[derive(Deserialize)]
        struct Seq {
            seq: i64,
        }
        let inserted: Vec<Seq> = self
            .0
            .exec(
                "INSERT INTO pending (id, accepted_at, row, n, attempts, first_failed_at, plain)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)
                 ON CONFLICT(id) DO NOTHING RETURNING seq",
                vec![
                    SqlStorageValue::from(id),
                    accepted_at.into(),
                    SqlStorageValue::Blob(row.as_bytes().to_vec()),
                    i64::from(attempts.count).into(),
                    attempts.first_failed_at.into(),
                    i64::from(plain).into(),
                ],
            )?
            .to_array()?;
        Ok(inserted.first().map(|s| s.seq))
    }

    /// Counts a failed attempt for each of `seqs`.
    pub fn count_failure(&self, seqs: &[i64], now: i64) -> Result<()> {
        if !seqs.is_empty() {
            self.0.exec(
                "UPDATE pending SET attempts = attempts + 1,
                     first_failed_at = coalesce(first_failed_at, ?2)
                 WHERE seq IN (SELECT value FROM json_each(?1))",
                vec![SqlStorageValue::from(json!(seqs).to_string()), now.into()],
            )?;
        }
        Ok(())
    }

    /// The oldest pending rows holding up to `limit` entries (a part counts its entries), and
    /// always at least one row. Read as raw values, so the row's bytes arrive with one copy.
    pub fn oldest(&self, limit: usize) -> Result<Vec<PendingRow>> {
        let cursor = self.0.exec(
            "SELECT seq, accepted_at, row, n, plain, attempts, first_failed_at FROM (
                 SELECT *, sum(n) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS upto
                 FROM pending)
             WHERE upto - n < ?1 ORDER BY seq",
            vec![(limit as i64).into()],
        )?;
        let int = |v: &SqlStorageValue| match v {
            SqlStorageValue::Integer(i) => Some(*i),
            SqlStorageValue::Float(f) => Some(*f as i64),
            _ => None,
        };
        let mut rows = Vec::new();
        for values in cursor.raw() {
            let mut values = values?;
            let [seq, accepted_at, row, n, plain, attempts, first_failed_at] =
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
            rows.push(PendingRow {
                seq: int(seq).unwrap_or_default(),
                accepted_at: int(accepted_at).unwrap_or_default(),
                row,
                n: int(n).unwrap_or(1),
                plain: int(plain).unwrap_or_default() == 1,
                attempts: int(attempts).unwrap_or_default() as u32,
                first_failed_at: int(first_failed_at),
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

    pub fn summary(&self) -> Result<Summary> {
        self.0
            .exec(
                "SELECT coalesce(sum(n), 0) AS pending, coalesce(sum(length(row)), 0) AS bytes,
                        min(accepted_at) AS oldest,
                        coalesce(sum(CASE WHEN first_failed_at IS NULL THEN 0 ELSE n END), 0)
                            AS failing
                 FROM pending",
                None,
            )?
            .one()
    }

    /// Takes one injected flush failure, if any is left (`X-Debug-Flags: d1_fail`).
    pub fn take_injected_failure(&self, stats: &Stats) -> Result<bool> {
        if stats.fail_next > 0 {
            self.0
                .exec("UPDATE stats SET fail_next = fail_next - 1", None)?;
            return Ok(true);
        }
        Ok(false)
    }

    pub fn set_backoff(&self, until: Option<i64>) -> Result<()> {
        self.0.exec(
            "UPDATE stats SET backoff_until = ?1",
            vec![until.map_or(SqlStorageValue::Null, SqlStorageValue::from)],
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
                error.map_or(SqlStorageValue::Null, SqlStorageValue::from),
            ],
        )?;
        Ok(())
    }

    /// The shard is in D1's `shards` directory.
    pub fn mark_registered(&self) -> Result<()> {
        self.0.exec("UPDATE stats SET registered = 1", None)?;
        Ok(())
    }
}
