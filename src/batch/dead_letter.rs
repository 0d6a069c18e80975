//! Dead letters: rows that kept failing, kept in KV (`LOGDO_DEAD_LETTER`) for an operator to
//! inspect and replay, instead of being dropped.
//!
//! Owns the record format, its sortable key, how a failure is split into records within KV's
//! value limit, and what is left of a record after a replay. Does not touch KV or D1 (the
//! LogBatcher writes records, `batch::replay` replays them, `api::admin` lists and reads them).

use crate::model::entry::clip;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// KV key prefix of every record.
pub const KEY_PREFIX: &str = "dl:";
/// Largest record written. KV takes 25 MiB per value; smaller records replay in one request.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;
/// Longest error kept in list metadata (KV caps metadata at 1,024 bytes).
const MAX_META_ERROR: usize = 300;

/// One dead-letter record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The rows, in the firehose row encoding (JSON arrays in `COLUMNS` order).
    pub rows: Vec<Value>,
    pub error: String,
    pub attempts: u32,
    pub first_failed_at: i64,
    pub last_failed_at: i64,
    pub shard: String,
    pub table: String,
}

/// What a listing shows of a record without reading it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterMeta {
    pub rows: usize,
    pub error: String,
    pub attempts: u32,
    pub shard: String,
    pub last_failed_at: i64,
}

impl DeadLetter {
    pub fn meta(&self) -> DeadLetterMeta {
        DeadLetterMeta {
            rows: self.rows.len(),
            error: clipped(&self.error),
            attempts: self.attempts,
            shard: self.shard.clone(),
            last_failed_at: self.last_failed_at,
        }
    }
}

fn clipped(error: &str) -> String {
    let short = clip(error, MAX_META_ERROR);
    if short.len() == error.len() {
        short.to_string()
    } else {
        format!("{short}…")
    }
}

/// A key that sorts by failure time: `dl:{ms, 13 digits}:{shard}:{random hex}`.
pub fn record_key(last_failed_at: i64, shard: &str, random: [u8; 6]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{KEY_PREFIX}{:013}:{shard}:{hex}", last_failed_at.max(0))
}

/// Whether a path segment names a record (so a key from a URL can be used as a KV key).
pub fn is_record_key(key: &str) -> bool {
    key.starts_with(KEY_PREFIX)
        && key.len() <= 200
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'-' || b == b'_')
}

/// One failed row as the LogBatcher holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRow {
    pub row: String,
    pub attempts: u32,
    pub first_failed_at: i64,
    pub error: String,
}

/// Groups failed rows into records of at most `max_bytes` of rows each, in order.
pub fn records(
    rows: &[FailedRow],
    shard: &str,
    table: &str,
    now_ms: i64,
    max_bytes: usize,
) -> Vec<DeadLetter> {
    let mut out = Vec::new();
    let mut group: Vec<&FailedRow> = Vec::new();
    let mut bytes = 0;
    for r in rows {
        if !group.is_empty() && bytes + r.row.len() > max_bytes {
            out.push(record(&group, shard, table, now_ms));
            group.clear();
            bytes = 0;
        }
        bytes += r.row.len();
        group.push(r);
    }
    if !group.is_empty() {
        out.push(record(&group, shard, table, now_ms));
    }
    out
}

fn record(group: &[&FailedRow], shard: &str, table: &str, now_ms: i64) -> DeadLetter {
    let mut errors: Vec<&str> = Vec::new();
    for r in group {
        if !errors.contains(&r.error.as_str()) {
            errors.push(&r.error);
        }
    }
    DeadLetter {
        rows: group
            .iter()
            .map(|r| serde_json::from_str(&r.row).unwrap_or_else(|_| Value::String(r.row.clone())))
            .collect(),
        error: errors.join("; "),
        attempts: group.iter().map(|r| r.attempts).max().unwrap_or(0),
        first_failed_at: group
            .iter()
            .map(|r| r.first_failed_at)
            .min()
            .unwrap_or(now_ms),
        last_failed_at: now_ms,
        shard: shard.to_string(),
        table: table.to_string(),
    }
}

/// What is left of a record after a replay stored every row but `left` (indexes into
/// `record.rows`, ascending): `None` when nothing is left (the record can go), else the record
/// with only those rows, one more attempt and `error`.
pub fn after_replay(
    record: &DeadLetter,
    left: &[usize],
    error: &str,
    now_ms: i64,
) -> Option<DeadLetter> {
    if left.is_empty() {
        return None;
    }
    Some(DeadLetter {
        rows: left.iter().map(|i| record.rows[*i].clone()).collect(),
        error: error.to_string(),
        attempts: record.attempts + 1,
        last_failed_at: now_ms,
        ..record.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(i: usize, error: &str) -> FailedRow {
        FailedRow {
            row: format!("[\"id-{i}\",{i}]"),
            attempts: 3,
            first_failed_at: 1_000 + i as i64,
            error: error.to_string(),
        }
    }

    #[test]
    fn keys_sort_by_failure_time_and_are_safe_in_urls() {
        let a = record_key(999, "EWR-1", [1; 6]);
        let b = record_key(1_000, "EWR-1", [0; 6]);
        assert!(a < b, "{a} < {b}");
        assert_eq!(b, "dl:0000000001000:EWR-1:000000000000");
        assert!(is_record_key(&a));
        assert!(!is_record_key("app:shop"));
        assert!(!is_record_key("dl:../../x"));
        assert!(!is_record_key("dl:a b"));
    }

    #[test]
    fn a_failure_becomes_one_record_with_its_rows_and_history() {
        let rows = vec![
            failed(1, "CHECK constraint failed"),
            failed(2, "CHECK constraint failed"),
        ];
        let recs = records(&rows, "EWR-1", "logs", 5_000, MAX_RECORD_BYTES);
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(
            r.rows,
            vec![
                serde_json::json!(["id-1", 1]),
                serde_json::json!(["id-2", 2])
            ]
        );
        assert_eq!(r.error, "CHECK constraint failed");
        assert_eq!(
            (r.attempts, r.first_failed_at, r.last_failed_at),
            (3, 1_001, 5_000)
        );
        assert_eq!((r.shard.as_str(), r.table.as_str()), ("EWR-1", "logs"));
        assert_eq!(r.meta().rows, 2);
    }

    #[test]
    fn large_failures_are_split_under_the_record_limit() {
        let rows: Vec<FailedRow> = (0..100).map(|i| failed(i, "x")).collect();
        let recs = records(&rows, "s", "logs", 0, 100);
        assert!(recs.len() > 10);
        assert_eq!(recs.iter().map(|r| r.rows.len()).sum::<usize>(), 100);
        for r in &recs {
            assert!(serde_json::to_string(&r.rows).unwrap().len() <= 100 + r.rows.len() + 1);
        }
    }

    #[test]
    fn distinct_errors_are_all_kept_and_metadata_stays_small() {
        let rows = vec![failed(1, "a"), failed(2, "b"), failed(3, "a")];
        assert_eq!(
            records(&rows, "s", "logs", 0, MAX_RECORD_BYTES)[0].error,
            "a; b"
        );
        let long = vec![failed(1, &"e".repeat(5_000))];
        let meta = records(&long, "s", "logs", 0, MAX_RECORD_BYTES)[0].meta();
        assert!(serde_json::to_string(&meta).unwrap().len() < 1_024);
    }

    #[test]
    fn a_replay_leaves_only_the_rows_that_failed_again() {
        let rows: Vec<FailedRow> = (0..5).map(|i| failed(i, "x")).collect();
        let rec = records(&rows, "s", "logs", 10, MAX_RECORD_BYTES).remove(0);
        assert_eq!(after_replay(&rec, &[], "", 20), None);
        let left = after_replay(&rec, &[1, 3], "CHECK constraint failed", 20).unwrap();
        assert_eq!(
            left.rows,
            vec![
                serde_json::json!(["id-1", 1]),
                serde_json::json!(["id-3", 3])
            ]
        );
        assert_eq!(
            (left.attempts, left.last_failed_at, left.first_failed_at),
            (4, 20, 1_000)
        );
        assert_eq!(left.error, "CHECK constraint failed");
    }
}
