//! Settling a flush: after a write attempt (`poison::isolate`), what happens to each buffered
//! row: done (delete it), kept for another try (with its attempt counted), or dead-lettered.
//!
//! A buffered row is a single entry or a *part* (a request's rows kept as one text). A part
//! whose entries all landed is done; one whose entries all failed stays whole and counts one
//! attempt; one that landed partly is replaced by its failed entries as single rows, so
//! retries, isolation and dead letters work per entry from then on. An entry whose attempts
//! reach `max_retries` is dead-lettered. Pure: the LogBatcher's shell reads the rows, runs the
//! write, and applies the [`Settlement`] this returns to its SQLite buffer and to KV.

/// What to do after a flush attempt.
#[derive(Debug, Default)]
pub struct Settlement {
    /// Rows to delete: every entry landed, or the part's failed entries are rebuffered.
    pub delete: Vec<i64>,
    /// Failed entries of partly written parts, to buffer as single rows (before `delete`).
    pub rebuffer: Vec<Rebuffer>,
    /// Rows that failed whole: their attempt count rises by one (each seq once).
    pub failed_rows: Vec<i64>,
    /// Every entry that failed, in entry order.
    pub failures: Vec<Failure>,
}

impl Settlement {
    /// The highest attempt count among the entries kept for a retry: what the backoff waits for.
    pub fn retry_attempts(&self) -> Option<u32> {
        self.retry().map(|f| f.attempts.count).max()
    }

    /// The failed entries that stay buffered.
    pub fn retry(&self) -> impl Iterator<Item = &Failure> {
        self.failures.iter().filter(|f| !f.dead)
    }

    /// The failed entries to dead-letter.
    pub fn dead(&self) -> impl Iterator<Item = &Failure> {
        self.failures.iter().filter(|f| f.dead)
    }
}

/// A buffered row as a flush read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buffered {
    /// Its key in the buffer.
    pub seq: i64,
    /// Failed flush attempts so far, and when the first one was.
    pub attempts: u32,
    pub first_failed_at: Option<i64>,
}

/// Where a failed entry is buffered once the settlement is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The row it was read from (a single entry, or a part none of whose entries landed).
    Row(i64),
    /// A new single row: `Settlement::rebuffer[i]`.
    Rebuffered(usize),
}

/// A failed entry's attempts, this one included, and when the first failure was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    pub first_failed_at: i64,
}

/// An entry of a partly written part, to buffer on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuffer {
    /// The part it came from, and its index among the entries the flush read.
    pub part: i64,
    pub entry: usize,
    pub attempts: Attempts,
}

/// An entry that failed this flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Index among the entries the flush read.
    pub entry: usize,
    pub holder: Holder,
    pub attempts: Attempts,
    pub error: String,
    /// Out of attempts: to the dead letters, then out of the buffer. Otherwise it stays
    /// buffered for another try.
    pub dead: bool,
}

/// Settles a flush of `rows`, whose entries were read in order (`owner[i]` is the index in
/// `rows` of entry `i`), given the entries that failed (`failed`, by entry index, ascending).
pub fn settle(
    rows: &[Buffered],
    owner: &[usize],
    failed: &[(usize, String)],
    max_retries: u32,
    now: i64,
) -> Settlement {
    let mut entries_of = vec![0usize; rows.len()];
    for k in owner {
        entries_of[*k] += 1;
    }
    let mut failed_of: Vec<Vec<&(usize, String)>> = vec![Vec::new(); rows.len()];
    for f in failed {
        failed_of[owner[f.0]].push(f);
    }
    let mut out = Settlement::default();
    for (k, row) in rows.iter().enumerate() {
        let fails = &failed_of[k];
        let attempts = Attempts {
            count: row.attempts + 1,
            first_failed_at: row.first_failed_at.unwrap_or(now),
        };
        if fails.is_empty() {
            out.delete.push(row.seq);
            continue;
        }
        let whole = fails.len() == entries_of[k];
        if whole {
            out.failed_rows.push(row.seq);
        } else {
            out.delete.push(row.seq);
        }
        for (entry, error) in fails.iter().map(|f| (f.0, &f.1)) {
            let holder = if whole {
                Holder::Row(row.seq)
            } else {
                out.rebuffer.push(Rebuffer {
                    part: row.seq,
                    entry,
                    attempts,
                });
                Holder::Rebuffered(out.rebuffer.len() - 1)
            };
            out.failures.push(Failure {
                entry,
                holder,
                attempts,
                error: error.clone(),
                dead: attempts.count >= max_retries,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::poison::{isolate, WRITE_BUDGET};
    use futures::executor::block_on;
    use std::ops::Range;

    const NOW: i64 = 1_000;

    fn row(seq: i64, attempts: u32) -> Buffered {
        Buffered {
            seq,
            attempts,
            first_failed_at: (attempts > 0).then_some(500),
        }
    }

    /// Runs the poison isolation over a fake writer that refuses `poison` entries (or every
    /// write, when `down`), then settles the result.
    fn flush(
        rows: &[Buffered],
        owner: &[usize],
        poison: &[usize],
        down: bool,
        max_retries: u32,
    ) -> Settlement {
        let outcome = block_on(isolate(owner.len(), WRITE_BUDGET, |r: Range<usize>| {
            let bad = down || poison.iter().any(|p| r.contains(p));
            async move {
                if bad {
                    Err("constraint failed".to_string())
                } else {
                    Ok(())
                }
            }
        }));
        settle(rows, owner, &outcome.failed, max_retries, NOW)
    }

    #[test]
    fn a_clean_flush_deletes_every_row_it_read() {
        let rows = [row(1, 0), row(2, 0)];
        let s = flush(&rows, &[0, 0, 0, 1], &[], false, 3);
        assert_eq!(s.delete, vec![1, 2]);
        assert!(s.failures.is_empty() && s.rebuffer.is_empty());
        assert_eq!(s.retry_attempts(), None);
    }

    #[test]
    fn a_part_that_fails_whole_stays_whole_and_counts_one_attempt() {
        let rows = [row(7, 0)];
        let s = flush(&rows, &[0, 0, 0], &[], true, 3);
        assert!(s.delete.is_empty());
        assert_eq!(s.failed_rows, vec![7]);
        assert_eq!(s.retry().count(), 3);
        assert!(s.retry().all(|f| f.holder == Holder::Row(7)
            && f.attempts
                == Attempts {
                    count: 1,
                    first_failed_at: NOW
                }));
        assert_eq!(s.retry_attempts(), Some(1));
    }

    #[test]
    fn a_partly_written_part_is_replaced_by_its_failed_entries() {
        let rows = [row(3, 1), row(4, 0)];
        // Entries 0..4 are part 3, entry 4 is row 4; entry 2 is poison.
        let s = flush(&rows, &[0, 0, 0, 0, 1], &[2], false, 3);
        assert_eq!(s.delete, vec![3, 4]);
        assert_eq!(
            s.rebuffer,
            vec![Rebuffer {
                part: 3,
                entry: 2,
                attempts: Attempts {
                    count: 2,
                    first_failed_at: 500
                }
            }]
        );
        let retry: Vec<_> = s.retry().collect();
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].holder, Holder::Rebuffered(0));
        assert!(s.failed_rows.is_empty());
    }

    #[test]
    fn entries_out_of_attempts_are_dead_lettered_and_the_rest_kept() {
        let rows = [row(1, 2), row(2, 0)];
        let s = flush(&rows, &[0, 1], &[], true, 3);
        let (dead, retry): (Vec<_>, Vec<_>) = s.failures.iter().partition(|f| f.dead);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].holder, Holder::Row(1));
        assert_eq!(
            dead[0].attempts,
            Attempts {
                count: 3,
                first_failed_at: 500
            }
        );
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].holder, Holder::Row(2));
        assert_eq!(s.failed_rows, vec![1, 2]);
    }

    #[test]
    fn poison_among_good_rows_leaves_only_the_poison_behind() {
        let rows: Vec<Buffered> = (0..10).map(|i| row(i, 0)).collect();
        let owner: Vec<usize> = (0..10).flat_map(|k| [k; 10]).collect();
        let s = flush(&rows, &owner, &[5, 55], false, 1);
        let dead: Vec<usize> = s.dead().map(|f| f.entry).collect();
        assert_eq!(dead, vec![5, 55]);
        assert_eq!(s.retry().count(), 0);
        // Parts 0 and 5 held the poison: each is replaced by its one failed entry.
        assert_eq!(s.rebuffer.len(), 2);
        assert_eq!(s.delete.len(), 10);
    }
}
