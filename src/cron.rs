//! Shell: The cron trigger: one retention run over every log table (see `retention` and `tables`),
//! then the next step of every app deletion under way (`deletion`).
//!
//! Runs hourly (`[triggers]` in wrangler.toml); each table is pruned at most once per its
//! `pruning_interval_days`. Outcomes go to `log_tables` and the worker's log.

use crate::platform::usage::Work;
use crate::platform::usage_meter::protocol::hand_over;
use crate::platform::{load_config, metered_db, now_ms};
use crate::store::tables::run_retention;
use worker::{console_error, console_log, Env};

pub async fn run(env: &Env) {
    let config = match load_config(env) {
        Ok(c) => c,
        Err(e) => {
            console_error!("retention: not run: {e}");
            return;
        }
    };
    let db = match metered_db(env, Work::Retention) {
        Ok(db) => db,
        Err(e) => {
            console_error!("retention: not run: {e}");
            return;
        }
    };
    let tables = config.routes.tables();
    match run_retention(
        &db,
        &tables,
        now_ms(),
        config.prune_chunk_rows,
        config.prune_max_statements,
    )
    .await
    {
        Ok(report) => {
            for p in report.iter().filter(|p| p.cutoff.is_some()) {
                console_log!(
                    "retention: {} deleted {} rows older than {} ms{}",
                    p.table,
                    p.deleted,
                    p.cutoff.unwrap_or_default(),
                    if p.complete {
                        ""
                    } else {
                        " (continues next run)"
                    }
                );
            }
        }
        Err(e) => console_error!("retention: failed: {e}"),
    }
    drop(db);
    crate::apps::deletion::continue_all(env, &config, now_ms()).await;
    hand_over(env).await;
}
