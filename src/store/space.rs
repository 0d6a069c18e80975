//! Keeping the database under `MAX_DB_BYTES`, so D1 never refuses a write for size: when the
//! size D1 reports, plus what a flush is about to add, would pass the cap, the oldest rows are
//! deleted first, down to [`TARGET_PERCENT`] of the cap.
//!
//! Fair across apps: the app that holds the most rows gives up its oldest first, then the next
//! largest, and so on; a quiet app keeps its history while a noisy one is trimmed. (Oldest-first
//! across all apps would let one noisy app push every other app's logs out.) Pure: the shell
//! (`space_run`) reads the counts and runs the deletes.

/// Where a reclaim brings the database, in percent of the cap: room for several flushes before
/// the next one is needed.
pub const TARGET_PERCENT: u64 = 90;

/// How many rows to delete so that `size` plus `incoming` bytes fits under `TARGET_PERCENT` of
/// `cap`, given the database holds `rows` rows (its average row size stands for the ones to
/// delete); 0 when it fits under the cap as it is.
pub fn rows_to_free(size: u64, incoming: u64, cap: u64, rows: u64) -> u64 {
    if size + incoming <= cap || rows == 0 {
        return 0;
    }
    let target = cap / 100 * TARGET_PERCENT;
    let excess = (size + incoming).saturating_sub(target);
    let per_row = (size / rows).max(1);
    excess.div_ceil(per_row).min(rows)
}

/// Which apps give up how many of their oldest rows to free `wanted` rows: the largest app
/// first, down to the size of the next largest, and so on (`counts` is (app, rows), any order).
pub fn plan(counts: &[(String, u64)], wanted: u64) -> Vec<(String, u64)> {
    let mut apps: Vec<(String, u64)> = counts.iter().filter(|(_, n)| *n > 0).cloned().collect();
    apps.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut take = vec![0u64; apps.len()];
    let mut left = wanted.min(apps.iter().map(|(_, n)| n).sum());
    while left > 0 {
        // The apps at the current top level share the cut down to the next level.
        let level = apps
            .iter()
            .zip(&take)
            .map(|((_, n), t)| n - t)
            .max()
            .unwrap_or(0);
        let top: Vec<usize> = (0..apps.len())
            .filter(|&i| apps[i].1 - take[i] == level)
            .collect();
        let next = apps
            .iter()
            .zip(&take)
            .map(|((_, n), t)| n - t)
            .filter(|r| *r < level)
            .max()
            .unwrap_or(0);
        let room = (level - next) * top.len() as u64;
        let cut = left.min(room);
        for (k, &i) in top.iter().enumerate() {
            // An even share, the remainder to the first.
            let share = cut / top.len() as u64 + u64::from((k as u64) < cut % top.len() as u64);
            take[i] += share;
        }
        left -= cut;
    }
    apps.into_iter()
        .zip(take)
        .filter(|(_, t)| *t > 0)
        .map(|((app, _), t)| (app, t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[(&str, u64)]) -> Vec<(String, u64)> {
        v.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    #[test]
    fn nothing_is_freed_while_it_fits() {
        assert_eq!(rows_to_free(900, 100, 1_000, 10), 0);
        assert_eq!(rows_to_free(0, 0, 1_000, 0), 0);
    }

    #[test]
    fn an_overflow_frees_down_to_the_target() {
        // 1,000 rows of 1,000 bytes, 100,000 more to come, a cap of 1,000,000: down to 900,000.
        assert_eq!(rows_to_free(1_000_000, 100_000, 1_000_000, 1_000), 200);
        assert_eq!(
            rows_to_free(5_000, 0, 1_000, 5),
            5,
            "never more than there are"
        );
    }

    #[test]
    fn the_largest_app_gives_up_its_oldest_first() {
        let c = counts(&[("quiet", 10), ("noisy", 1_000), ("mid", 300)]);
        assert_eq!(plan(&c, 500), vec![("noisy".to_string(), 500)]);
        // Down to the next largest, then both share the cut.
        assert_eq!(
            plan(&c, 800),
            vec![("noisy".to_string(), 750), ("mid".to_string(), 50)]
        );
        let all: u64 = plan(&c, 10_000).iter().map(|(_, n)| n).sum();
        assert_eq!(all, 1_310, "at most every row");
        assert_eq!(plan(&c, 0), vec![]);
    }
}
