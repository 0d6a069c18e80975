//! Poison isolation: when a multi-row write fails, find the rows that fail on their own.
//!
//! Bisects the failed range (left half first) until the failing rows stand alone, so one bad row
//! never blocks its shard: everything that can be written is written in the same flush. Only an
//! error that belongs to the rows ([`is_row_error`]: a constraint, a value too big, a type
//! mismatch, malformed JSON) is bisected; any other failure (D1 unavailable, a timeout, an
//! overloaded or reset database, a schema that cannot be migrated) is an *outage*: isolation
//! stops at once and every row not yet written is deferred, with no attempt counted, for the
//! next flush. A write budget bounds the work of one flush; rows it did not reach are deferred
//! too, so a good row is never blamed for a bad neighbour. Generic over the write, so it is
//! tested on the host with a fake one.

use std::future::Future;
use std::ops::Range;

/// Most writes one flush may spend isolating poison: enough to corner one bad row among
/// 2^15 (one whole write plus two per halving). Rows not reached wait for the next flush.
pub const WRITE_BUDGET: u32 = 32;

/// Whether a failed write's error belongs to its rows (it would fail again with the same rows,
/// whatever the database's state), as opposed to an outage. SQLite's and D1's wording.
pub fn is_row_error(error: &str) -> bool {
    const ROW_ERRORS: [&str; 8] = [
        "constraint failed",
        "SQLITE_CONSTRAINT",
        "SQLITE_TOOBIG",
        "too big",
        "datatype mismatch",
        "SQLITE_MISMATCH",
        "malformed JSON",
        "JSON cannot hold BLOB",
    ];
    ROW_ERRORS.iter().any(|p| error.contains(p))
}

/// What an isolation run wrote, what failed, and what it left for later.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Isolation {
    /// Ranges that were written, in order.
    pub written: Vec<Range<usize>>,
    /// Rows that failed alone with a row error, each with its error.
    pub failed: Vec<(usize, String)>,
    /// Rows neither written nor proven bad (an outage, or the budget was spent), ascending.
    pub deferred: Vec<usize>,
    /// The outage's error, when one stopped the run.
    pub outage: Option<String>,
    /// Writes spent.
    pub writes: u32,
}

impl Isolation {
    pub fn written_count(&self) -> usize {
        self.written.iter().map(|r| r.len()).sum()
    }
}

/// Writes rows `0..len` through `write`, isolating the rows that fail alone. `singles` are
/// written one by one first (rows that failed before: cornering them again by bisection would
/// cost two writes per halving, on their own it costs one).
pub async fn isolate<F, Fut, E>(
    len: usize,
    singles: &[usize],
    budget: u32,
    mut write: F,
) -> Isolation
where
    F: FnMut(Range<usize>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    // The write's error as D1 words it: whether it is the rows' own is read from the words.
    E: std::fmt::Display,
{
    let mut out = Isolation::default();
    // Ranges still to write, the last one first: the bulk (everything but the singles, in
    // maximal runs), then each single.
    let mut stack: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    for &i in singles.iter().filter(|i| **i < len) {
        if start < i {
            stack.push(start..i);
        }
        start = i + 1;
    }
    if start < len {
        stack.push(start..len);
    }
    stack.reverse();
    for &i in singles.iter().rev().filter(|i| **i < len) {
        stack.push(i..i + 1);
    }
    while let Some(range) = stack.pop() {
        if range.is_empty() {
            continue;
        }
        if out.writes >= budget || out.outage.is_some() {
            out.deferred.extend(range);
            continue;
        }
        out.writes += 1;
        match write(range.clone()).await.map_err(|e| e.to_string()) {
            Ok(()) => out.written.push(range),
            Err(e) if !is_row_error(&e) => {
                out.deferred.extend(range);
                out.outage = Some(e);
            }
            Err(e) if range.len() == 1 => out.failed.push((range.start, e)),
            Err(_) => {
                let mid = range.start + range.len() / 2;
                stack.push(mid..range.end);
                stack.push(range.start..mid);
            }
        }
    }
    out.failed.sort_by_key(|(i, _)| *i);
    out.deferred.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn run(len: usize, budget: u32, poison: &[usize], down: bool) -> Isolation {
        run_with(len, &[], budget, poison, down)
    }

    fn run_with(
        len: usize,
        singles: &[usize],
        budget: u32,
        poison: &[usize],
        down: bool,
    ) -> Isolation {
        block_on(isolate(len, singles, budget, |r: Range<usize>| {
            let poisoned = poison.iter().any(|p| r.contains(p));
            async move {
                if down {
                    Err("D1: Network connection lost".to_string())
                } else if poisoned {
                    Err(format!("CHECK constraint failed in {r:?}"))
                } else {
                    Ok(())
                }
            }
        }))
    }

    #[test]
    fn a_clean_batch_is_one_write() {
        let out = run(200, WRITE_BUDGET, &[], false);
        assert_eq!(out.written, vec![0..200]);
        assert!(out.failed.is_empty());
        assert_eq!(out.writes, 1);
    }

    #[test]
    fn one_poison_row_among_a_hundred_is_cornered_and_the_rest_written() {
        let out = run(101, WRITE_BUDGET, &[37], false);
        assert_eq!(out.written_count(), 100);
        assert_eq!(
            out.failed,
            vec![(37, "CHECK constraint failed in 37..38".to_string())]
        );
        assert!(out.writes <= 1 + 2 * 7, "{}", out.writes);
    }

    #[test]
    fn several_poison_rows_are_all_found() {
        let out = run(64, WRITE_BUDGET, &[0, 31, 63], false);
        assert_eq!(
            out.failed.iter().map(|f| f.0).collect::<Vec<_>>(),
            [0, 31, 63]
        );
        assert_eq!(out.written_count(), 61);
    }

    #[test]
    fn an_outage_stops_at_the_first_write_and_blames_no_row() {
        let out = run(2_000, WRITE_BUDGET, &[], true);
        assert_eq!(out.writes, 1);
        assert!(out.written.is_empty() && out.failed.is_empty());
        assert_eq!(out.deferred, (0..2_000).collect::<Vec<_>>());
        assert_eq!(out.outage.as_deref(), Some("D1: Network connection lost"));
    }

    #[test]
    fn rows_the_budget_did_not_reach_are_deferred_not_failed() {
        let poison: Vec<usize> = (0..100).map(|i| i * 97).collect();
        let out = run(10_000, 8, &poison, false);
        assert_eq!(out.writes, 8);
        assert!(out.outage.is_none());
        assert!(out.failed.iter().all(|(i, _)| poison.contains(i)));
        assert_eq!(
            out.written_count() + out.failed.len() + out.deferred.len(),
            10_000
        );
        assert!(!out.deferred.is_empty());
    }

    #[test]
    fn known_suspects_are_written_alone_first() {
        let out = run_with(100, &[10, 20], WRITE_BUDGET, &[10, 20], false);
        assert_eq!(out.failed.iter().map(|f| f.0).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(out.written_count(), 98);
        // Two singles, then the three runs around them.
        assert_eq!(out.writes, 5);
    }

    #[test]
    fn row_errors_are_told_from_outages() {
        for row in [
            "D1_ERROR: CHECK constraint failed: level IN ('DEBUG'): SQLITE_CONSTRAINT",
            "NOT NULL constraint failed: logs.message",
            "string or blob too big: SQLITE_TOOBIG",
            "datatype mismatch",
            "malformed JSON",
        ] {
            assert!(is_row_error(row), "{row}");
        }
        for outage in [
            "D1: Network connection lost.",
            "D1_ERROR: storage operation exceeded timeout which caused object to be reset",
            "D1 DB is overloaded. Requests queued for too long.",
            "no such table: logs",
            "injected D1 failure (X-Debug-Flags d1_fail)",
        ] {
            assert!(!is_row_error(outage), "{outage}");
        }
    }

    #[test]
    fn nothing_to_write_spends_nothing() {
        assert_eq!(run(0, WRITE_BUDGET, &[], true), Isolation::default());
    }
}
