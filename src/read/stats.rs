//! `GET /stats/:app_id?days=N`: an app's entries per day and level, from the daily counts the
//! firehose's triggers keep (`schema::STATS_TABLE`), so the answer costs O(days), never a scan of
//! the logs, and always equals the rows stored.
//!
//! Owns the `days` parameter, the statement, and the answer's shape (every day of the range, in
//! order, zeros included). Does not authenticate or run SQL (`api::stats`).

use crate::model::level::Level;
use crate::model::sql::quoted;
use crate::read::error::ReadError;
use crate::store::schema::{DAY_MS, STATS_TABLE};
use serde_json::{json, Map, Value};

pub const DEFAULT_DAYS: i64 = 7;
pub const MAX_DAYS: i64 = 366;

/// The number of days asked for (today and the days before it).
pub fn parse_days(pairs: &[(String, String)]) -> Result<i64, ReadError> {
    let mut days = DEFAULT_DAYS;
    for (name, value) in pairs {
        match name.as_str() {
            "days" => {
                days = value
                    .parse()
                    .ok()
                    .filter(|d| (1..=MAX_DAYS).contains(d))
                    .ok_or_else(|| {
                        ReadError::InvalidFilter(format!(
                            "days: {value:?} is not a number from 1 to {MAX_DAYS}"
                        ))
                    })?
            }
            other => {
                return Err(ReadError::InvalidFilter(format!(
                    "unknown parameter {other:?}; expected days"
                )))
            }
        }
    }
    Ok(days)
}

/// The first day (days since the epoch) of a range of `days` ending today.
pub fn first_day(now_ms: i64, days: i64) -> i64 {
    now_ms.div_euclid(DAY_MS) - (days - 1)
}

/// The counts of app `?1` from day `?2` on (entries may be up to a day ahead of the clock).
pub fn stats_sql() -> String {
    format!(
        "SELECT day, level, count FROM {} WHERE app_id = ?1 AND day >= ?2 AND count > 0",
        quoted(STATS_TABLE)
    )
}

/// `YYYY-MM-DD` of a day number.
pub fn date_of(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Every day from `first` to today (or the last day with counts, if later), oldest first, each
/// with its count per level and total.
pub fn per_day(rows: &[(i64, String, i64)], first: i64, today: i64) -> Vec<Value> {
    let last = rows.iter().map(|r| r.0).max().unwrap_or(today).max(today);
    (first..=last)
        .map(|day| {
            let mut levels = Map::new();
            let mut total = 0;
            for level in Level::ALL {
                let n: i64 = rows
                    .iter()
                    .filter(|(d, l, _)| *d == day && l == level.as_str())
                    .map(|r| r.2)
                    .sum();
                total += n;
                levels.insert(level.as_str().into(), n.into());
            }
            json!({ "date": date_of(day), "total": total, "levels": levels })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_default_to_a_week_and_stay_in_range() {
        assert_eq!(parse_days(&[]).unwrap(), 7);
        let one = |v: &str| parse_days(&[("days".into(), v.into())]);
        assert_eq!(one("30").unwrap(), 30);
        for bad in ["0", "367", "-1", "x", ""] {
            assert_eq!(one(bad).unwrap_err().code(), "INVALID_FILTER", "{bad}");
        }
        assert_eq!(
            parse_days(&[("dayz".into(), "1".into())])
                .unwrap_err()
                .code(),
            "INVALID_FILTER"
        );
    }

    #[test]
    fn every_day_of_the_range_is_listed_with_zeros_oldest_first() {
        let today = 20_000;
        let rows = vec![
            (today - 2, "INFO".to_string(), 5),
            (today - 2, "ERROR".to_string(), 1),
            (today, "WARN".to_string(), 2),
        ];
        let days = per_day(&rows, today - 2, today);
        assert_eq!(days.len(), 3);
        assert_eq!(days[0]["date"], date_of(today - 2));
        assert_eq!(days[0]["total"], 6);
        assert_eq!(days[0]["levels"]["ERROR"], 1);
        assert_eq!(days[0]["levels"]["DEBUG"], 0);
        assert_eq!(days[1]["total"], 0);
        assert_eq!(days[2]["levels"]["WARN"], 2);
        assert_eq!(date_of(20_000), "2024-10-04");
        // An entry dated tomorrow extends the range.
        let ahead = per_day(&[(today + 1, "INFO".into(), 1)], today, today);
        assert_eq!(ahead.len(), 2);
        assert_eq!(first_day(20_000 * DAY_MS + 5, 7), 19_994);
    }
}
