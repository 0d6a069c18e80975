//! Batching policy of a LogBatcher: when its alarm should fire.
//!
//! Pure decisions over (pending count, oldest pending entry, current alarm, now). The Durable
//! Object applies them; it never decides on its own. The rules:
//! - the first pending entry arms the alarm at `now + BATCH_INTERVAL_MS`;
//! - new entries never move an armed alarm later (the JS original re-armed it on every log, so
//!   steady traffic postponed the flush forever);
//! - reaching `MAX_BATCH_SIZE` pulls the alarm to now, so the flush runs at once but outside the
//!   request that tipped it over;
//! - after a flush, entries that remain re-arm it relative to the oldest of them.

/// Policy knobs, taken from `Config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    pub max_batch_size: u32,
    pub interval_ms: u64,
}

impl BatchPolicy {
    /// Where the alarm should be after entries were added: `Some(t)` means set it to `t`,
    /// `None` means leave it as it is.
    pub fn after_ingest(&self, pending: u64, alarm: Option<i64>, now_ms: i64) -> Option<i64> {
        if pending == 0 {
            return None;
        }
        let wanted = if pending >= u64::from(self.max_batch_size) {
            now_ms
        } else {
            now_ms + self.interval_ms as i64
        };
        match alarm {
            Some(at) if at <= wanted => None,
            _ => Some(wanted),
        }
    }

    /// Where the alarm should be after a flush left `remaining` entries, the oldest accepted at
    /// `oldest_ms`. `None`: nothing is pending, no alarm is needed.
    pub fn after_flush(&self, remaining: u64, oldest_ms: Option<i64>, now_ms: i64) -> Option<i64> {
        if remaining == 0 {
            return None;
        }
        if remaining >= u64::from(self.max_batch_size) {
            return Some(now_ms);
        }
        let due = oldest_ms.unwrap_or(now_ms) + self.interval_ms as i64;
        Some(due.max(now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: BatchPolicy = BatchPolicy {
        max_batch_size: 10,
        interval_ms: 1_000,
    };

    #[test]
    fn first_entry_arms_the_alarm_one_interval_ahead() {
        assert_eq!(P.after_ingest(1, None, 5_000), Some(6_000));
    }

    #[test]
    fn alarm_is_not_postponed_by_new_logs() {
        let mut alarm = P.after_ingest(1, None, 5_000);
        for (i, now) in (5_001..5_900).step_by(100).enumerate() {
            if let Some(at) = P.after_ingest(2 + i as u64 % 7, alarm, now) {
                alarm = Some(at);
            }
        }
        assert_eq!(alarm, Some(6_000));
    }

    #[test]
    fn a_full_batch_pulls_the_alarm_to_now() {
        assert_eq!(P.after_ingest(10, Some(6_000), 5_500), Some(5_500));
        assert_eq!(P.after_ingest(25, None, 5_500), Some(5_500));
        // Already due earlier: leave it.
        assert_eq!(P.after_ingest(10, Some(5_400), 5_500), None);
    }

    #[test]
    fn nothing_pending_needs_no_alarm() {
        assert_eq!(P.after_ingest(0, None, 1), None);
        assert_eq!(P.after_flush(0, None, 1), None);
    }

    #[test]
    fn leftovers_after_a_flush_rearm_from_the_oldest_entry() {
        assert_eq!(P.after_flush(3, Some(9_500), 10_000), Some(10_500));
        // Oldest is already overdue: flush again now.
        assert_eq!(P.after_flush(3, Some(8_000), 10_000), Some(10_000));
        // A full batch is waiting: now.
        assert_eq!(P.after_flush(10, Some(9_900), 10_000), Some(10_000));
    }
}
