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

/// How long an isolate gathers what its reads cost before handing it to the usage meter: a call
/// to the meter per read would cost more than most reads do.
pub const HAND_OVER_MS: i64 = 10_000;

/// What an isolate has gathered and not handed over yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gathered {
    totals: ByWork,
    /// When it last handed over (`None`: never, so the first piece goes at once).
    last: Option<i64>,
}

impl Gathered {
    /// Adds one piece of work at `now`; the totals to hand over when it is time.
    #[cfg(test)]
    pub fn add(&mut self, work: Work, usage: &Usage, now: i64) -> Option<ByWork> {
        self.push(work, usage);
        self.due(now)
    }

    /// Adds one piece of work, to hand over later.
    pub fn push(&mut self, work: Work, usage: &Usage) {
        if !usage.tables.is_empty() {
            self.totals.entry(work).or_default().merge(usage);
        }
    }

    /// The totals to hand over at `now`, if it is time: at once when they hold work other than
    /// reads (a migration, a prune, a purge: rare, and worth seeing at once), else at most every
    /// `HAND_OVER_MS` (the first piece at once).
    pub fn due(&mut self, now: i64) -> Option<ByWork> {
        if self.totals.is_empty() {
            return None;
        }
        let urgent = self.totals.keys().any(|w| !w.is_read());
        let due = urgent || self.last.is_none_or(|t| now - t >= HAND_OVER_MS);
        due.then(|| {
            self.last = Some(now);
            std::mem::take(&mut self.totals)
        })
    }
}

impl Work {
    /// Reads (and the admin's status), whose cost is gathered before it is handed over.
    pub fn is_read(self) -> bool {
        matches!(self, Work::Query | Work::Stats | Work::Health | Work::Admin)
    }
}

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
    fn gathered_work_is_handed_over_at_first_and_then_every_interval() {
        let u = |n| {
            let mut u = Usage::default();
            u.add("logs", n, 0, None);
            u
        };
        let mut g = Gathered::default();
        let first = g
            .add(Work::Query, &u(5), 1_000)
            .expect("the first piece goes at once");
        assert_eq!(first[&Work::Query].rows_read(), 5);
        assert_eq!(g.add(Work::Query, &u(7), 2_000), None);
        assert_eq!(g.add(Work::Stats, &u(1), 10_999), None);
        let next = g.add(Work::Query, &u(3), 11_000).unwrap();
        assert_eq!(next[&Work::Query].rows_read(), 10);
        assert_eq!(next[&Work::Stats].rows_read(), 1);
        assert_eq!(
            g.add(Work::Query, &u(1), 11_001),
            None,
            "nothing is lost: it waits"
        );
    }

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

    #[test]
    fn work_other_than_reads_is_handed_over_at_once() {
        let mut u = Usage::default();
        u.add("logs", 0, 10, None);
        let mut g = Gathered::default();
        assert!(
            g.add(Work::Query, &u, 1_000).is_some(),
            "the first piece goes at once"
        );
        g.push(Work::Query, &u);
        assert_eq!(g.due(2_000), None, "reads wait for HAND_OVER_MS");
        g.push(Work::Prune, &u);
        let totals = g
            .due(2_001)
            .expect("a prune goes at once, with the reads gathered");
        assert_eq!(
            totals.keys().copied().collect::<Vec<_>>(),
            [Work::Query, Work::Prune]
        );
        assert_eq!(g.due(2_002), None, "nothing left");
        g.push(Work::Query, &Usage::default());
        assert_eq!(
            g.due(20_000),
            None,
            "an empty tally is nothing to hand over"
        );
    }
}
