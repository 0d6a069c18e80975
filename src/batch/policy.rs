//! Batching policy of a LogBatcher: when its alarm should fire.
//!
//! Pure decisions over (pending count, oldest pending entry, current alarm, now). The Durable
//! Object applies them; it never decides on its own. The rules:
//! - the first pending entry arms the alarm at `now + BATCH_INTERVAL_MS`;
//! - new entries never move an armed alarm later (re-arming on every log would let steady
//!   traffic postpone the flush forever);
//! - reaching `MAX_BATCH_SIZE` pulls the alarm to now, so the flush runs at once but outside the
//!   request that tipped it over;
//! - after a flush, entries that remain re-arm it relative to the oldest of them.

/// A shard that may not take more: which limit it reached, with the figures.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct Full(pub String);

/// Policy knobs, taken from `Config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    pub max_batch_size: u32,
    pub interval_ms: u64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub max_buffered_entries: u64,
    pub max_buffered_bytes: u64,
}

/// What a shard holds, or is asked to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    pub entries: u64,
    pub bytes: u64,
}

impl BatchPolicy {
    /// Where the alarm should be after entries were added: `Some(t)` means set it to `t`,
    /// `None` means leave it as it is. While a failed flush waits out its backoff
    /// (`backing_off`), a full batch does not pull the retry earlier.
    pub fn after_ingest(
        &self,
        pending: u64,
        alarm: Option<i64>,
        now_ms: i64,
        backing_off: bool,
    ) -> Option<i64> {
        if pending == 0 || (backing_off && alarm.is_some()) {
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

    /// Delay before retrying a flush whose rows have failed `attempts` times: exponential from
    /// `retry_base_ms`, capped at `retry_max_ms`.
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let doublings = attempts.saturating_sub(1).min(30);
        self.retry_base_ms
            .saturating_mul(1 << doublings)
            .min(self.retry_max_ms)
    }

    /// Whether a shard holding `held` may take `incoming` more. `Err` says which limit; the
    /// shard answers 503 `BACKPRESSURE` rather than accept what it may not be able to keep.
    pub fn admit(&self, held: Load, incoming: Load) -> Result<(), Full> {
        if held.entries + incoming.entries > self.max_buffered_entries {
            return Err(Full(format!(
                "{} entries buffered, {} more offered, limit {}",
                held.entries, incoming.entries, self.max_buffered_entries
            )));
        }
        if held.bytes + incoming.bytes > self.max_buffered_bytes {
            return Err(Full(format!(
                "{} bytes buffered, {} more offered, limit {}",
                held.bytes, incoming.bytes, self.max_buffered_bytes
            )));
        }
        Ok(())
    }

    /// Whole seconds until `alarm` (at least 1): the `Retry-After` of a refused ingest.
    pub fn retry_after_secs(alarm: Option<i64>, now_ms: i64) -> u64 {
        let ms = alarm.map_or(1_000, |at| (at - now_ms).max(0));
        ((ms + 999) / 1_000).max(1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: BatchPolicy = BatchPolicy {
        max_batch_size: 10,
        interval_ms: 1_000,
        retry_base_ms: 1_000,
        retry_max_ms: 8_000,
        max_buffered_entries: 100,
        max_buffered_bytes: 10_000,
    };

    #[test]
    fn first_entry_arms_the_alarm_one_interval_ahead() {
        assert_eq!(P.after_ingest(1, None, 5_000, false), Some(6_000));
    }

    #[test]
    fn alarm_is_not_postponed_by_new_logs() {
        let mut alarm = P.after_ingest(1, None, 5_000, false);
        for (i, now) in (5_001..5_900).step_by(100).enumerate() {
            if let Some(at) = P.after_ingest(2 + i as u64 % 7, alarm, now, false) {
                alarm = Some(at);
            }
        }
        assert_eq!(alarm, Some(6_000));
    }

    #[test]
    fn a_full_batch_pulls_the_alarm_to_now() {
        assert_eq!(P.after_ingest(10, Some(6_000), 5_500, false), Some(5_500));
        assert_eq!(P.after_ingest(25, None, 5_500, false), Some(5_500));
        // Already due earlier: leave it.
        assert_eq!(P.after_ingest(10, Some(5_400), 5_500, false), None);
    }

    #[test]
    fn nothing_pending_needs_no_alarm() {
        assert_eq!(P.after_ingest(0, None, 1, false), None);
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

    #[test]
    fn a_full_batch_does_not_cut_a_retry_backoff_short() {
        assert_eq!(P.after_ingest(50, Some(9_000), 5_000, true), None);
        // ... but an object with no alarm at all always gets one.
        assert_eq!(P.after_ingest(50, None, 5_000, true), Some(5_000));
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let delays: Vec<u64> = (1..=6).map(|a| P.backoff_ms(a)).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
        assert_eq!(P.backoff_ms(0), 1_000);
        assert_eq!(P.backoff_ms(u32::MAX), 8_000);
    }

    #[test]
    fn admission_stops_at_either_limit() {
        let l = |entries, bytes| Load { entries, bytes };
        assert!(P.admit(l(90, 100), l(10, 100)).is_ok());
        assert!(P
            .admit(l(91, 100), l(10, 100))
            .unwrap_err()
            .0
            .contains("entries"));
        assert!(P
            .admit(l(1, 9_000), l(1, 1_001))
            .unwrap_err()
            .0
            .contains("bytes"));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(BatchPolicy::retry_after_secs(Some(12_500), 10_000), 3);
        assert_eq!(BatchPolicy::retry_after_secs(Some(9_000), 10_000), 1);
        assert_eq!(BatchPolicy::retry_after_secs(None, 10_000), 1);
    }
}
