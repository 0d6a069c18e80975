//! The operator's view of the LogBatchers: each object's own account of itself (`Stats`,
//! `BatcherStatus`, what its `status` call answers) and the fold of many into the shard part of
//! `/admin/status` ([`ShardsReport`]). Pure: the edge asks the objects and serialises the report.

use crate::platform::usage::Usage;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The object's counters and fault-injection state (its `stats` table).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Stats {
    pub shard: Option<String>,
    /// Entries buffered and written to D1 over the object's life.
    pub accepted: i64,
    pub flushed: i64,
    pub last_flush_at: Option<i64>,
    pub last_error: Option<String>,
    pub dead_lettered: i64,
    pub flushes: i64,
    pub d1_statements: i64,
    /// An outage under way: when its first failed flush was, why, until when the alarm backs
    /// off, and how many flushes failed in a row.
    pub outage_since: Option<i64>,
    pub outage_error: Option<String>,
    pub backoff_until: Option<i64>,
    pub outage_attempts: i64,
    pub last_error_at: Option<i64>,
    pub registered: i64,
    /// The database size D1 reported after this object's latest flush.
    pub size_after: Option<i64>,
    /// Rows this object deleted, and when last, to keep the database under `MAX_DB_BYTES`.
    pub space_deleted: i64,
    pub last_space_at: Option<i64>,
}

/// A LogBatcher's own account of itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BatcherStatus {
    /// Entries buffered, and their bytes.
    pub pending: i64,
    pub pending_bytes: i64,
    /// Entries that failed alone at least once (a row error) and wait for a retry.
    pub failing: i64,
    /// The most attempts any buffered entry has had.
    pub max_attempts: i64,
    pub oldest_accepted_at: Option<i64>,
    pub alarm_at: Option<i64>,
    pub stats: Stats,
    /// What D1 reported for this object's flushes.
    pub usage: Usage,
}

/// What the shards said, folded: totals, the shards with work or trouble, outages under way,
/// and the shards that did not answer.
#[derive(Debug, Default)]
pub struct ShardsReport {
    pub active: Vec<Value>,
    pub outages: Vec<Value>,
    pub unreachable: Vec<Value>,
    pub checked: usize,
    pub pending: i64,
    pub oldest_accepted_at: Option<i64>,
    pub last_flush_at: Option<i64>,
    /// The newest error of any shard: when, what, which shard.
    pub last_error: Option<(i64, String, String)>,
    pub accepted: i64,
    pub flushed: i64,
    pub dead_lettered: i64,
    pub statements: i64,
    pub usage: Usage,
    pub space_deleted: i64,
    pub last_space_at: Option<i64>,
}

impl ShardsReport {
    /// Folds every shard's answer (or why it gave none) at `now`.
    pub fn fold(answers: Vec<(String, Result<BatcherStatus, String>)>, now: i64) -> ShardsReport {
        let mut r = ShardsReport {
            checked: answers.len(),
            ..ShardsReport::default()
        };
        for (shard, answer) in answers {
            match answer {
                Ok(st) => r.add(&shard, &st, now),
                Err(e) => r.unreachable.push(json!({ "shard": shard, "error": e })),
            }
        }
        r
    }

    fn add(&mut self, shard: &str, st: &BatcherStatus, now: i64) {
        let t = &st.stats;
        self.usage.merge(&st.usage);
        self.space_deleted += t.space_deleted;
        self.last_space_at = self.last_space_at.max(t.last_space_at);
        self.accepted += t.accepted;
        self.flushed += t.flushed;
        self.dead_lettered += t.dead_lettered;
        self.statements += t.d1_statements;
        self.pending += st.pending;
        self.oldest_accepted_at = match (self.oldest_accepted_at, st.oldest_accepted_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_flush_at = self.last_flush_at.max(t.last_flush_at);
        if let (Some(at), Some(e)) = (t.last_error_at, &t.last_error) {
            if self.last_error.as_ref().is_none_or(|(t0, _, _)| at > *t0) {
                self.last_error = Some((at, e.clone(), shard.to_string()));
            }
        }
        if let Some(since) = t.outage_since {
            self.outages.push(json!({
                "shard": shard,
                "since": since,
                "age_ms": now - since,
                "failed_flushes": t.outage_attempts,
                "error": t.outage_error,
                "next_flush_at": st.alarm_at,
            }));
        }
        if st.pending > 0 || st.failing > 0 {
            self.active.push(active_shard(shard, st, now));
        }
    }
}

/// A shard with entries pending or failing, as the report lists it.
fn active_shard(shard: &str, st: &BatcherStatus, now: i64) -> Value {
    let t = &st.stats;
    json!({
        "shard": shard,
        "pending": st.pending,
        "failing": st.failing,
        "max_attempts": st.max_attempts,
        "oldest_pending_age_ms": st.oldest_accepted_at.map(|t| now - t),
        "next_flush_at": st.alarm_at,
        "outage": t.outage_since.map(|since| json!({
            "since": since,
            "failed_flushes": t.outage_attempts,
            "error": t.outage_error,
        })),
        "last_error": t.last_error,
        "last_error_at": t.last_error_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(
        pending: i64,
        outage_since: Option<i64>,
        error: Option<(i64, &str)>,
    ) -> BatcherStatus {
        BatcherStatus {
            pending,
            pending_bytes: 0,
            failing: 0,
            max_attempts: 0,
            oldest_accepted_at: (pending > 0).then_some(1_000),
            alarm_at: None,
            stats: Stats {
                accepted: 10,
                flushed: 10 - pending,
                outage_since,
                last_error_at: error.map(|e| e.0),
                last_error: error.map(|e| e.1.to_string()),
                ..Stats::default()
            },
            usage: Usage::default(),
        }
    }

    #[test]
    fn the_fold_totals_every_shard_and_names_the_newest_error_and_the_silent_ones() {
        let r = ShardsReport::fold(
            vec![
                ("A-1".into(), Ok(status(0, None, Some((5, "old"))))),
                ("B-1".into(), Ok(status(3, Some(2_000), Some((9, "new"))))),
                ("C-1".into(), Err("no answer".into())),
            ],
            10_000,
        );
        assert_eq!(
            (r.checked, r.pending, r.accepted, r.flushed),
            (3, 3, 20, 17)
        );
        assert_eq!(r.last_error, Some((9, "new".into(), "B-1".into())));
        assert_eq!(r.outages.len(), 1);
        assert_eq!(r.outages[0]["age_ms"], 8_000);
        assert_eq!(r.active.len(), 1, "only the shard with pending entries");
        assert_eq!(r.active[0]["shard"], "B-1");
        assert_eq!(
            r.unreachable,
            vec![json!({"shard": "C-1", "error": "no answer"})]
        );
        assert_eq!(r.oldest_accepted_at, Some(1_000));
    }
}
