//! Settling a flush: after a write attempt (`poison::isolate`), what happens to each buffered
//! row: done (delete it), left as it is (deferred: an outage, or the isolation budget ran out),
//! kept with one more attempt counted, or dead-lettered.
//!
//! A buffered row is a single entry or a *part* (a request's rows kept as one text). A part whose
//! entries all landed is done; one whose entries were all deferred stays whole, untouched. A part
//! with a failed entry, or one that landed partly, is replaced by its entries that did not land,
//! as single rows, so attempts, retries and dead letters work per entry from then on. Only an
//! entry that failed *alone* with a row error counts an attempt; one whose attempts reach
//! `max_retries` is dead-lettered. Pure: the LogBatcher's shell reads the rows, runs the write,
//! and applies the [`Settlement`] this returns to its SQLite buffer and to KV.

/// What to do after a flush attempt.
#[derive(Debug, Default)]
pub struct Settlement {
    /// Rows to delete: every entry landed, or the part is replaced by `rebuffer`.
    pub delete: Vec<i64>,
    /// Entries of replaced parts that did not land, to buffer as single rows (before `delete`).
    pub rebuffer: Vec<Rebuffer>,
    /// Every entry that failed alone, in entry order.
    pub failures: Vec<Failure>,
}

impl Settlement {
    /// The failed entries that stay buffered for another try.
    pub fn retry(&self) -> impl Iterator<Item = &Failure> {
        self.failures.iter().filter(|f| !f.dead)
    }

    /// The failed entries to dead-letter.
    pub fn dead(&self) -> impl Iterator<Item = &Failure> {
        self.failures.iter().filter(|f| f.dead)
    }
}

/// A buffered row as a flush read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffered {
    /// Its key in the buffer.
    pub seq: i64,
    pub attempts: Attempts,
}

/// Failed flush attempts of an entry, and when the first one was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempts {
    pub count: u32,
    pub first_failed_at: Option<i64>,
}

impl Attempts {
    /// One more failure, at `now`.
    fn failed(self, now: i64) -> Attempts {
        Attempts {
            count: self.count + 1,
            first_failed_at: self.first_failed_at.or(Some(now)),
        }
    }
}

/// Where a failed entry is buffered once the settlement is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The single row it was read from.
    Row(i64),
    /// A new single row: `Settlement::rebuffer[i]`.
    Rebuffered(usize),
}

/// An entry of a replaced part, to buffer on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuffer {
    /// The part it came from, and its index among the entries the flush read.
    pub part: i64,
    pub entry: usize,
    /// Its attempts from now on (one more than the part's when it failed).
    pub attempts: Attempts,
}

/// An entry that failed alone this flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Index among the entries the flush read.
    pub entry: usize,
    pub holder: Holder,
    /// Its attempts, this one included.
    pub attempts: Attempts,
    pub error: String,
    /// Out of attempts: to the dead letters, then out of the buffer.
    pub dead: bool,
}

/// What happened to one entry in the flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate<'a> {
    Written,
    Deferred,
    Failed(&'a str),
}

/// Settles a flush of `rows`, whose entries were read in order (`owner[i]` is the index in
/// `rows` of entry `i`), given the entries that failed alone (`failed`) and those neither
/// written nor proven bad (`deferred`); every other entry was written.
pub fn settle(
    rows: &[Buffered],
    owner: &[usize],
    failed: &[(usize, String)],
    deferred: &[usize],
    max_retries: u32,
    now: i64,
) -> Settlement {
    let mut fate = vec![Fate::Written; owner.len()];
    for i in deferred {
        fate[*i] = Fate::Deferred;
    }
    for (i, e) in failed {
        fate[*i] = Fate::Failed(e);
    }
    let mut out = Settlement::default();
    let mut start = 0;
    for (k, row) in rows.iter().enumerate() {
        let end = start + owner[start..].iter().take_while(|o| **o == k).count();
        let entries = start..end;
        start = end;
        let fates = &fate[entries.clone()];
        if fates.iter().all(|f| *f == Fate::Written) {
            out.delete.push(row.seq);
            continue;
        }
        if fates.iter().all(|f| *f == Fate::Deferred) {
            continue;
        }
        let single = fates.len() == 1;
        if !single {
            out.delete.push(row.seq);
        }
        for (i, f) in entries.zip(fates) {
            let attempts = match f {
                Fate::Written => continue,
                Fate::Deferred => row.attempts,
                Fate::Failed(_) => row.attempts.failed(now),
            };
            let holder = if single {
                Holder::Row(row.seq)
            } else {
                out.rebuffer.push(Rebuffer {
                    part: row.seq,
                    entry: i,
                    attempts,
                });
                Holder::Rebuffered(out.rebuffer.len() - 1)
            };
            if let Fate::Failed(error) = f {
                out.failures.push(Failure {
                    entry: i,
                    holder,
                    attempts,
                    error: error.to_string(),
                    dead: attempts.count >= max_retries,
                });
            }
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
            attempts: Attempts {
                count: attempts,
                first_failed_at: (attempts > 0).then_some(500),
            },
        }
    }

    /// Runs the poison isolation over a fake writer that refuses `poison` entries with a row
    /// error (or every write with an outage, when `down`), then settles the result.
    fn flush(
        rows: &[Buffered],
        owner: &[usize],
        poison: &[usize],
        down: bool,
        max_retries: u32,
    ) -> Settlement {
        let outcome = block_on(isolate(
            owner.len(),
            &[],
            WRITE_BUDGET,
            |r: Range<usize>| {
                let bad = poison.iter().any(|p| r.contains(p));
                async move {
                    if down {
                        Err("D1: Network connection lost".to_string())
                    } else if bad {
                        Err("CHECK constraint failed".to_string())
                    } else {
                        Ok(())
                    }
                }
            },
        ));
        settle(
            rows,
            owner,
            &outcome.failed,
            &outcome.deferred,
            max_retries,
            NOW,
        )
    }

    #[test]
    fn a_clean_flush_deletes_every_row_it_read() {
        let rows = [row(1, 0), row(2, 0)];
        let s = flush(&rows, &[0, 0, 0, 1], &[], false, 3);
        assert_eq!(s.delete, vec![1, 2]);
        assert!(s.failures.is_empty() && s.rebuffer.is_empty());
    }

    #[test]
    fn an_outage_leaves_every_row_as_it_was_with_no_attempt_counted() {
        let rows = [row(7, 0), row(8, 2)];
        let s = flush(&rows, &[0, 0, 0, 1], &[], true, 3);
        assert!(s.delete.is_empty() && s.rebuffer.is_empty() && s.failures.is_empty());
    }

    #[test]
    fn a_partly_written_part_is_replaced_by_its_failed_entries() {
        let rows = [row(3, 1), row(4, 0)];
        // Entries 0..4 are part 3, entry 4 is row 4; entry 2 is poison.
        let s = flush(&rows, &[0, 0, 0, 0, 1], &[2], false, 3);
        assert_eq!(s.delete, vec![3, 4]);
        let twice = Attempts {
            count: 2,
            first_failed_at: Some(500),
        };
        assert_eq!(
            s.rebuffer,
            vec![Rebuffer {
                part: 3,
                entry: 2,
                attempts: twice
            }]
        );
        let retry: Vec<_> = s.retry().collect();
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].holder, Holder::Rebuffered(0));
        assert_eq!(retry[0].attempts, twice);
    }

    #[test]
    fn entries_out_of_attempts_are_dead_lettered_and_the_rest_kept() {
        let rows = [row(1, 2), row(2, 0)];
        let s = flush(&rows, &[0, 1], &[0, 1], false, 3);
        let (dead, retry): (Vec<_>, Vec<_>) = s.failures.iter().partition(|f| f.dead);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].holder, Holder::Row(1));
        assert_eq!(
            dead[0].attempts,
            Attempts {
                count: 3,
                first_failed_at: Some(500)
            }
        );
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].holder, Holder::Row(2));
        assert_eq!(retry[0].attempts.first_failed_at, Some(NOW));
        assert!(s.delete.is_empty());
    }

    #[test]
    fn deferred_entries_of_a_replaced_part_keep_their_attempts() {
        let rows = [row(5, 0)];
        // 50 entries, two poison: the budget of the fake corners both, so use a real split.
        let owner = vec![0; 50];
        let s = settle(
            &rows,
            &owner,
            &[(3, "CHECK constraint failed".into())],
            &(40..50).collect::<Vec<_>>(),
            3,
            NOW,
        );
        assert_eq!(s.delete, vec![5]);
        assert_eq!(s.rebuffer.len(), 11);
        assert!(s.rebuffer[1..]
            .iter()
            .all(|r| r.attempts == Attempts::default()));
        assert_eq!(s.failures.len(), 1);
    }

    /// 113 poison entries among 10,000 good ones, in parts of 100, flushed until nothing is
    /// left: exactly the poison is dead-lettered and every good entry lands, whatever the
    /// isolation budget leaves for later.
    #[test]
    fn poison_among_good_rows_leaves_only_the_poison_behind() {
        #[derive(Clone)]
        struct Held {
            seq: i64,
            entries: Vec<usize>,
            attempts: Attempts,
        }
        let total = 10_113;
        let poison: Vec<usize> = (0..113).map(|i| i * 89 + 7).collect();
        let mut buffer: Vec<Held> = (0..total)
            .collect::<Vec<_>>()
            .chunks(100)
            .enumerate()
            .map(|(k, c)| Held {
                seq: k as i64,
                entries: c.to_vec(),
                attempts: Attempts::default(),
            })
            .collect();
        let mut next_seq = buffer.len() as i64;
        let (mut landed, mut dead) = (Vec::new(), Vec::new());
        for _flush in 0..500 {
            if buffer.is_empty() {
                break;
            }
            let rows: Vec<Buffered> = buffer
                .iter()
                .map(|h| Buffered {
                    seq: h.seq,
                    attempts: h.attempts,
                })
                .collect();
            let mut owner = Vec::new();
            let mut ids = Vec::new();
            for (k, h) in buffer.iter().enumerate() {
                owner.extend(std::iter::repeat_n(k, h.entries.len()));
                ids.extend(&h.entries);
            }
            let singles: Vec<usize> = (0..ids.len())
                .filter(|i| buffer[owner[*i]].attempts.count > 0)
                .collect();
            let outcome = block_on(isolate(ids.len(), &singles, WRITE_BUDGET, |r| {
                let bad = ids[r.clone()].iter().any(|id| poison.contains(id));
                async move {
                    if bad {
                        Err("CHECK constraint failed".to_string())
                    } else {
                        Ok(())
                    }
                }
            }));
            for r in &outcome.written {
                landed.extend(r.clone().map(|i| ids[i]));
            }
            let s = settle(&rows, &owner, &outcome.failed, &outcome.deferred, 3, NOW);
            let mut rebuffered = Vec::new();
            for r in &s.rebuffer {
                rebuffered.push(next_seq);
                buffer.push(Held {
                    seq: next_seq,
                    entries: vec![ids[r.entry]],
                    attempts: r.attempts,
                });
                next_seq += 1;
            }
            for f in s.retry() {
                if let Holder::Row(seq) = f.holder {
                    buffer.iter_mut().find(|h| h.seq == seq).unwrap().attempts = f.attempts;
                }
            }
            let mut gone = s.delete.clone();
            for f in s.dead() {
                dead.push(ids[f.entry]);
                gone.push(match f.holder {
                    Holder::Row(seq) => seq,
                    Holder::Rebuffered(i) => rebuffered[i],
                });
            }
            buffer.retain(|h| !gone.contains(&h.seq));
        }
        assert!(buffer.is_empty(), "{} rows left", buffer.len());
        dead.sort_unstable();
        assert_eq!(dead, poison);
        landed.sort_unstable();
        assert_eq!(landed.len(), total - poison.len());
        assert!(landed.iter().all(|i| !poison.contains(i)));
    }
}
