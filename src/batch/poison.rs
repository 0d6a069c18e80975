//! Poison isolation: when a multi-row write fails, find the rows that fail on their own.
//!
//! Bisects the failed range (left half first) until the failing rows stand alone, so one bad row
//! never blocks its shard: everything that can be written is written in the same flush. A write
//! budget bounds the work when nothing can be written at all (D1 down): once spent, the rows not
//! yet tried count as failed with the last error, and the caller retries them later.
//! Generic over the write, so it is tested on the host with a fake one.

use std::future::Future;
use std::ops::Range;

/// Most writes one flush may spend isolating poison: enough to corner one bad row among
/// 2^15 (one whole write plus two per halving).
pub const WRITE_BUDGET: u32 = 32;

/// What an isolation run wrote and what failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Isolation {
    /// Ranges that were written, in order.
    pub written: Vec<Range<usize>>,
    /// Rows that were not written, each with its error.
    pub failed: Vec<(usize, String)>,
    /// Writes spent.
    pub writes: u32,
}

impl Isolation {
    pub fn written_count(&self) -> usize {
        self.written.iter().map(|r| r.len()).sum()
    }
}

/// Writes rows `0..len` through `write`, isolating the rows that fail alone.
pub async fn isolate<F, Fut>(len: usize, budget: u32, mut write: F) -> Isolation
where
    F: FnMut(Range<usize>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut out = Isolation::default();
    let mut stack: Vec<Range<usize>> = Vec::new();
    stack.push(0..len);
    let mut last_error = String::new();
    while let Some(range) = stack.pop() {
        if range.is_empty() {
            continue;
        }
        if out.writes >= budget {
            let why = format!("not tried: this flush's write budget was spent ({last_error})");
            out.failed.extend(range.map(|i| (i, why.clone())));
            continue;
        }
        out.writes += 1;
        match write(range.clone()).await {
            Ok(()) => out.written.push(range),
            Err(e) if range.len() == 1 => out.failed.push((range.start, e)),
            Err(e) => {
                last_error = e;
                let mid = range.start + range.len() / 2;
                stack.push(mid..range.end);
                stack.push(range.start..mid);
            }
        }
    }
    out.failed.sort_by_key(|(i, _)| *i);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn run(len: usize, budget: u32, poison: &[usize], down: bool) -> Isolation {
        block_on(isolate(len, budget, |r: Range<usize>| {
            let bad = down || poison.iter().any(|p| r.contains(p));
            async move {
                if bad {
                    Err(format!("fails in {r:?}"))
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
        assert_eq!(out.failed, vec![(37, "fails in 37..38".to_string())]);
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
    fn when_nothing_can_be_written_the_budget_bounds_the_work() {
        let out = run(2_000, 8, &[], true);
        assert_eq!(out.writes, 8);
        assert!(out.written.is_empty());
        assert_eq!(out.failed.len(), 2_000);
        assert!(out.failed.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn nothing_to_write_spends_nothing() {
        assert_eq!(run(0, WRITE_BUDGET, &[], true), Isolation::default());
    }
}
