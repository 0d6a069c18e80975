//! What D1 bills, as it reports it: rows written and rows read per statement (every index entry
//! and full-text or stats row a write touches counts as a row written), and the database's size
//! after it. Summed per table, so `/admin/status` can say what each log table costs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
