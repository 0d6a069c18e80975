//! What D1 bills, as it reports it: rows written and rows read per statement (every index entry
//! and full-text or stats row a write touches counts as a row written), and the database's size
//! after it. Summed per table, so `/admin/status` can say what each log table costs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a statement was run for, besides flushes (which each LogBatcher counts itself): the usage
/// meter keeps totals per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// `GET /logs`, `GET /logs/:id`.
    Query,
    /// `GET /stats/:app_id`.
    Stats,
    /// Registering health-check URLs and reading their results.
    Health,
    /// The HealthChecker's runs: storing and trimming results.
    HealthChecks,
    /// Bringing log tables up to their schemas.
    Migration,
    /// Deleting the oldest rows to stay under `MAX_DB_BYTES`.
    Space,
    /// The cron's retention run.
    Retention,
    /// `POST /apps/:app_id/prune`.
    Prune,
    /// Deleting a deleted app's rows.
    Purge,
    /// Dead-letter replays.
    Replay,
    /// `GET /admin/status` and the shard directory.
    Admin,
}

/// Totals per kind of work.
pub type ByWork = BTreeMap<Work, Usage>;

/// One table's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableUsage {
    pub statements: u64,
    pub rows_read: u64,
    pub rows_written: u64,
}

/// Totals per table, and the database size the latest statement reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub tables: BTreeMap<String, TableUsage>,
    pub size_after: Option<u64>,
}

impl Usage {
    /// Counts one statement on `table`.
    pub fn add(&mut self, table: &str, rows_read: u64, rows_written: u64, size_after: Option<u64>) {
        let t = self.tables.entry(table.to_string()).or_default();
        t.statements += 1;
        t.rows_read += rows_read;
        t.rows_written += rows_written;
        if size_after.is_some() {
            self.size_after = size_after;
        }
    }

    /// Adds `other`'s totals to these (another object's); the size is the larger of the two, a
    /// bound on the database's that does not depend on the order of the objects.
    pub fn merge(&mut self, other: &Usage) {
        for (table, u) in &other.tables {
            let t = self.tables.entry(table.clone()).or_default();
            t.statements += u.statements;
            t.rows_read += u.rows_read;
            t.rows_written += u.rows_written;
        }
        self.size_after = self.size_after.max(other.size_after);
    }

    pub fn rows_written(&self) -> u64 {
        self.tables.values().map(|t| t.rows_written).sum()
    }

    pub fn rows_read(&self) -> u64 {
        self.tables.values().map(|t| t.rows_read).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_add_up_per_table_and_the_latest_size_wins() {
        let mut a = Usage::default();
        a.add("logs", 1, 8_000, Some(100));
        a.add("logs", 0, 2, None);
        a.add("errors", 3, 1_000, Some(150));
        assert_eq!(
            a.tables["logs"],
            TableUsage {
                statements: 2,
                rows_read: 1,
                rows_written: 8_002
            }
        );
        assert_eq!(
            (a.rows_written(), a.rows_read(), a.size_after),
            (9_002, 4, Some(150))
        );
        let mut b = Usage::default();
        b.add("logs", 0, 10, Some(200));
        a.merge(&b);
        assert_eq!(a.tables["logs"].rows_written, 8_012);
        assert_eq!(a.size_after, Some(200));
    }
}
