//! Shard ids: which LogBatcher Durable Object buffers an entry.
//!
//! `{colo}-{floor(now_ms / bucket_ms)}`, plus `-{k}` when one colo spreads over `fanout` objects.
//! Entries that arrive in the same colo and time bucket meet in one object and share its
//! flushes; a new bucket starts a new object, so no object lives hot forever.

use crate::model::entry::LogEntry;
use std::collections::BTreeMap;

/// Colo used when the request carries none (local runs, or a client outside Cloudflare's edge).
pub const UNKNOWN_COLO: &str = "UNKNOWN";

/// The shard an entry belongs to. `spread` is any per-entry number (the entry id's random bits)
/// used to pick one of `fanout` objects deterministically.
pub fn shard_id(
    colo: Option<&str>,
    now_ms: i64,
    bucket_ms: u64,
    fanout: u32,
    spread: u64,
) -> String {
    let colo = colo.filter(|c| is_colo(c)).unwrap_or(UNKNOWN_COLO);
    let bucket = now_ms.max(0) as u64 / bucket_ms.max(1);
    if fanout <= 1 {
        format!("{colo}-{bucket}")
    } else {
        format!("{colo}-{bucket}-{}", spread % u64::from(fanout))
    }
}

/// Colos are IATA-style codes; anything else (spoofed or garbled) would let a caller invent
/// arbitrary object names, so it falls back to [`UNKNOWN_COLO`].
fn is_colo(c: &str) -> bool {
    (2..=8).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The per-entry spread value: the last 8 bytes of the id's hex, which are random in a UUIDv7.
pub fn spread_of(id: &str) -> u64 {
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
    let tail = &hex[hex.len().saturating_sub(16)..];
    u64::from_str_radix(tail, 16).unwrap_or(0)
}

/// The entries bound for one LogBatcher: a JSON array of rows, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub shard: String,
    pub body: String,
    pub entries: usize,
    /// Every row is plain (no request fields: REST entries), so the LogBatcher may flush it with
    /// the narrow firehose insert (`store::insert::plain_insert_sql`). `false` is always safe.
    pub plain: bool,
    /// The app of every row, when they share one (the LogBatcher publishes them to that app's
    /// live tail); `None` for rows of several apps (dead-letter replays).
    pub app: Option<String>,
}

/// Splits entries by their `shard` into one part per shard, each row encoded by `encode`
/// (normally [`LogEntry::to_row_json`]). Each part is sent to its LogBatcher once.
pub fn group_by_shard(entries: &[LogEntry], encode: impl Fn(&LogEntry) -> String) -> Vec<Part> {
    let mut parts: BTreeMap<&str, Part> = BTreeMap::new();
    for e in entries {
        let part = parts.entry(e.shard.as_str()).or_insert_with(|| Part {
            shard: e.shard.clone(),
            body: String::from("["),
            entries: 0,
            plain: true,
            app: Some(e.app_id.clone()),
        });
        part.plain &= e.request.is_empty();
        if part.app.as_deref() != Some(e.app_id.as_str()) {
            part.app = None;
        }
        if part.entries > 0 {
            part.body.push(',');
        }
        part.body.push_str(&encode(e));
        part.entries += 1;
    }
    parts
        .into_values()
        .map(|mut p| {
            p.body.push(']');
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::tests::sample;

    #[test]
    fn a_part_is_plain_only_when_no_entry_has_request_fields() {
        let forwarded = sample();
        let mut rest = sample();
        rest.request = Default::default();
        let plain = |entries: &[LogEntry]| -> Vec<bool> {
            group_by_shard(entries, LogEntry::to_row_json)
                .iter()
                .map(|p| p.plain)
                .collect()
        };
        assert_eq!(plain(&[rest.clone(), rest.clone()]), [true]);
        assert_eq!(plain(&[rest.clone(), forwarded.clone()]), [false]);
        assert_eq!(plain(&[forwarded]), [false]);
        let mut elsewhere = rest.clone();
        elsewhere.shard = "LHR-1".into();
        let mut other = sample();
        other.shard = "LHR-1".into();
        assert_eq!(plain(&[rest, elsewhere, other]), [true, false], "per part");
    }

    #[test]
    fn shard_id_is_colo_and_minute_bucket() {
        // 1_724_966_700_000 ms / 60_000 = 28_749_445.
        assert_eq!(
            shard_id(Some("EWR"), 1_724_966_700_000, 60_000, 1, 99),
            "EWR-28749445"
        );
        assert_eq!(
            shard_id(Some("EWR"), 1_724_966_759_999, 60_000, 1, 0),
            "EWR-28749445"
        );
        assert_eq!(
            shard_id(Some("EWR"), 1_724_966_760_000, 60_000, 1, 0),
            "EWR-28749446"
        );
    }

    #[test]
    fn missing_or_odd_colos_become_unknown() {
        assert_eq!(shard_id(None, 60_000, 60_000, 1, 0), "UNKNOWN-1");
        assert_eq!(shard_id(Some(""), 60_000, 60_000, 1, 0), "UNKNOWN-1");
        assert_eq!(shard_id(Some("ewr"), 60_000, 60_000, 1, 0), "UNKNOWN-1");
        assert_eq!(
            shard_id(Some("EWR/../x"), 60_000, 60_000, 1, 0),
            "UNKNOWN-1"
        );
    }

    #[test]
    fn fanout_appends_a_stable_index_below_fanout() {
        let ids: Vec<String> = (0..50)
            .map(|s| shard_id(Some("AMS"), 0, 60_000, 4, s))
            .collect();
        for id in &ids {
            let k: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
            assert!(k < 4, "{id}");
            assert!(id.starts_with("AMS-0-"));
        }
        assert_eq!(ids[5], shard_id(Some("AMS"), 0, 60_000, 4, 5));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 4);
    }

    #[test]
    fn spread_comes_from_the_random_tail_of_the_id() {
        let a = spread_of("0190b5c5-a0f0-7000-8000-000000000005");
        let b = spread_of("0190b5c5-a0f0-7000-8000-000000000006");
        assert_eq!(a + 1, b);
        assert_eq!(spread_of("x"), 0);
    }

    #[test]
    fn a_batch_is_split_by_shard_and_each_part_holds_its_rows_in_order() {
        let mut entries = Vec::new();
        for (i, shard) in ["A-1", "B-1", "A-1", "A-1", "B-1"].iter().enumerate() {
            let mut e = sample();
            e.id = format!("id-{i}");
            e.shard = shard.to_string();
            entries.push(e);
        }
        let parts = group_by_shard(&entries, LogEntry::to_row_json);
        assert_eq!(parts.len(), 2);
        let ids = |body: &str| -> Vec<String> {
            let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(body).unwrap();
            rows.iter()
                .map(|r| r[0].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!((parts[0].shard.as_str(), parts[0].entries), ("A-1", 3));
        assert_eq!(ids(&parts[0].body), ["id-0", "id-2", "id-3"]);
        assert_eq!((parts[1].shard.as_str(), parts[1].entries), ("B-1", 2));
        assert_eq!(ids(&parts[1].body), ["id-1", "id-4"]);
        assert!(group_by_shard(&[], LogEntry::to_row_json).is_empty());
    }
}
