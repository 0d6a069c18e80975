//! Fault injection for tests, demos and the benchmark, asked for with an `X-Debug-Flags` header
//! such as `d1_fail=3, poison, slow_flush=500`: the one place that knows the flags. Ingest reads
//! them off a request and marks poisoned rows; the LogBatcher applies the rest to the app's rows
//! as it takes them (`Faults`, carried by its typed ingest call).
//!
//! Honoured only when the var `DEBUG_FLAGS=true` (never in the shipped config); otherwise the
//! answer says they were ignored. Every flag acts on the requesting app's entries only, never on
//! another app's that share its shard:
//! - `d1_fail=N`: the next N flushes of the app's entries in their shard fail as an outage would
//!   (no attempt counted; `d1_fail=0` clears it);
//! - `d1_down=MS`: the app's entries in the shard fail to write, as an outage would, for MS from
//!   now (at most 10 minutes; `d1_down=0` ends it);
//! - `poison`: the entries of this request fail on insert (a CHECK constraint), as a malformed
//!   row would;
//! - `dead_letter`: the entries of this request go to the dead letters at their first flush,
//!   unwritten (to try replays);
//! - `slow_flush=MS`: a flush that holds the app's entries waits MS before writing (at most 30 s).

use crate::model::columns::COLUMNS;
use serde::{Deserialize, Serialize};

pub const HEADER: &str = "x-debug-flags";
const MAX_SLOW_FLUSH_MS: u32 = 30_000;
const MAX_DOWN_MS: u32 = 600_000;
/// A level the `logs` table's CHECK constraint refuses.
pub const POISON_LEVEL: &str = "POISON";

/// A malformed `X-Debug-Flags` header: which flag, and what was expected.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("X-Debug-Flags: {0}")]
pub struct InvalidFlags(pub String);

/// The fault injection one request asked for (`X-Debug-Flags`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DebugFlags {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d1_fail: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d1_down_ms: Option<u32>,
    pub poison: bool,
    pub dead_letter: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_flush_ms: Option<u32>,
}

impl DebugFlags {
    pub fn parse(raw: &str) -> Result<DebugFlags, InvalidFlags> {
        let mut flags = DebugFlags::default();
        let bad = InvalidFlags;
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (part, None),
            };
            let number = |v: Option<&str>| -> Result<u32, InvalidFlags> {
                v.and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad(format!("{name}: needs a whole number, as in {name}=3")))
            };
            match name {
                "d1_fail" => flags.d1_fail = Some(number(value)?),
                "d1_down" => flags.d1_down_ms = Some(number(value)?.min(MAX_DOWN_MS)),
                "slow_flush" => flags.slow_flush_ms = Some(number(value)?.min(MAX_SLOW_FLUSH_MS)),
                "poison" if value.is_none() => flags.poison = true,
                "dead_letter" if value.is_none() => flags.dead_letter = true,
                other => {
                    return Err(bad(format!(
                        "unknown flag {other:?}; known: d1_fail=N, d1_down=MS, poison, \
                         dead_letter, slow_flush=MS"
                    )))
                }
            }
        }
        Ok(flags)
    }

    /// The flags the LogBatcher applies to the app's entries, as it takes them.
    pub fn faults(&self) -> Faults {
        Faults {
            d1_fail: self.d1_fail,
            d1_down_ms: self.d1_down_ms,
            slow_flush_ms: self.slow_flush_ms,
            dead_letter: self.dead_letter,
        }
    }
}

/// Fault injection a LogBatcher applies to one app's entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// The app's next N flushes fail as an outage (`Some(0)` clears it).
    pub d1_fail: Option<u32>,
    /// The app's entries fail to write, as an outage, for this long from now.
    pub d1_down_ms: Option<u32>,
    /// A flush holding the app's entries waits this long before writing.
    pub slow_flush_ms: Option<u32>,
    /// This request's entries are dead-lettered at their first flush, unwritten.
    pub dead_letter: bool,
}

impl Faults {
    /// Whether the flags change the app's standing fault state (the rest act on the part).
    pub fn any_standing(&self) -> bool {
        self.d1_fail.is_some() || self.d1_down_ms.is_some() || self.slow_flush_ms.is_some()
    }
}

/// The row with a level the table refuses, so inserting it fails.
pub fn poison_row(row_json: &str) -> String {
    let level = COLUMNS.iter().position(|c| *c == "level").unwrap_or(4);
    match serde_json::from_str::<Vec<serde_json::Value>>(row_json) {
        Ok(mut row) if row.len() > level => {
            row[level] = POISON_LEVEL.into();
            serde_json::to_string(&row).unwrap_or_else(|_| row_json.to_string())
        }
        _ => row_json.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_from_a_comma_list() {
        let f = DebugFlags::parse("d1_fail=3, poison ,slow_flush=250").unwrap();
        assert_eq!(
            f,
            DebugFlags {
                d1_fail: Some(3),
                poison: true,
                slow_flush_ms: Some(250),
                ..DebugFlags::default()
            }
        );
        assert_eq!(
            f.faults(),
            Faults {
                d1_fail: Some(3),
                slow_flush_ms: Some(250),
                ..Faults::default()
            }
        );
        let g = DebugFlags::parse("d1_down=5000, dead_letter").unwrap();
        assert_eq!((g.d1_down_ms, g.dead_letter), (Some(5_000), true));
        assert_eq!(DebugFlags::parse("").unwrap(), DebugFlags::default());
        assert_eq!(DebugFlags::default().faults(), Faults::default());
        assert_eq!(
            DebugFlags::parse("slow_flush=99999").unwrap().slow_flush_ms,
            Some(30_000)
        );
    }

    #[test]
    fn unknown_or_malformed_flags_are_refused() {
        for bad in [
            "explode",
            "d1_fail",
            "d1_fail=x",
            "poison=1",
            "slow_flush=-1",
            "dead_letter=1",
        ] {
            let e = DebugFlags::parse(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_DEBUG_FLAGS", "{bad}");
        }
    }

    #[test]
    fn a_poisoned_row_differs_only_in_its_level() {
        let row = crate::model::entry::tests::sample().to_row_json();
        let poisoned: Vec<serde_json::Value> = serde_json::from_str(&poison_row(&row)).unwrap();
        let original: Vec<serde_json::Value> = serde_json::from_str(&row).unwrap();
        assert_eq!(poisoned[4], "POISON");
        assert_eq!(poisoned[..4], original[..4]);
        assert_eq!(poisoned[5..], original[5..]);
    }
}
