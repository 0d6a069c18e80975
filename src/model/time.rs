//! Timestamps as clients send them: milliseconds or RFC 3339, within a plausible range.

use serde_json::Value;
use thiserror::Error;

/// Why a value is not a timestamp the logger takes (the message says what it got).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct TimeError(pub String);

/// 2000-01-01T00:00:00Z: earlier timestamps are almost always seconds sent as milliseconds.
pub const MIN_TIMESTAMP_MS: i64 = 946_684_800_000;

/// How far in the future a client clock may be.
pub const MAX_CLOCK_SKEW_MS: i64 = 24 * 3_600_000;

/// Milliseconds since the epoch, or an RFC 3339 time; within [2000, now + 1 day].
pub fn parse_timestamp(v: &Value, now_ms: i64) -> Result<i64, TimeError> {
    let ms = match v {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            (None, Some(f)) if f.is_finite() && f.abs() < 9.0e15 => f.trunc() as i64,
            _ => return Err(TimeError("must be milliseconds since the epoch".into())),
        },
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map_err(|e| TimeError(format!("{s:?} is not an RFC 3339 time ({e})")))?
            .timestamp_millis(),
        _ => {
            return Err(TimeError(
                "must be an RFC 3339 string or milliseconds since the epoch".into(),
            ))
        }
    };
    if ms < MIN_TIMESTAMP_MS {
        return Err(TimeError(format!(
            "{ms} is before 2000-01-01; timestamps are in milliseconds"
        )));
    }
    if ms > now_ms + MAX_CLOCK_SKEW_MS {
        return Err(TimeError(format!("{ms} is more than a day in the future")));
    }
    Ok(ms)
}
