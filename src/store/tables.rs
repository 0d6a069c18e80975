//! Shell: D1 side of log tables: bringing schemas up to date, retention runs and app prunes.
//!
//! Thin: what to run comes from `schema` (DDL, hashes) and `retention` (due, cut-off, chunked
//! deletes); this module runs it against D1 and records the outcome in `log_tables`. Used by the
//! LogBatcher before it flushes (schemas), the cron trigger (retention) and
//! `POST /apps/:app_id/prune`.

use crate::model::sql::{is_identifier, quoted};
use crate::platform::d1::Metered;
use crate::read::url_checks::{CHECKS_TABLE, URLS_TABLE};
use crate::store::retention::{apps_with_older_sql, delete_chunk_sql, due, finished, PruneState};
use crate::store::route::LogTable;
use crate::store::schema::{cf_table, is_benign, META_TABLE, STATS_TABLE};
use crate::store::space::{plan, rows_to_free};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use wasm_bindgen::JsValue;

/// A D1 failure while migrating, pruning or reading table state: the error of this adapter.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct DbError(pub String);

impl From<worker::Error> for DbError {
    fn from(e: worker::Error) -> Self {
        DbError(format!("D1: {e}"))
    }
}

fn num(n: i64) -> JsValue {
    // D1 binds JS numbers; ms timestamps are exact in an f64 (below 2^53).
    JsValue::from_f64(n as f64)
}

#[derive(Deserialize)]
struct Recorded {
    table_name: String,
    schema_hash: Option<String>,
    last_pruned_at: Option<i64>,
    prune_pending: Option<i64>,
}

async fn recorded(db: &Metered) -> Result<Vec<Recorded>, DbError> {
    let sql =
        format!("SELECT table_name, schema_hash, last_pruned_at, prune_pending FROM {META_TABLE}");
    Ok(db.all(META_TABLE, db.prepare(sql)).await?.results()?)
}

/// The combined identity of all tables' schemas: a LogBatcher that checked it once skips the
/// check until the configuration changes.
pub fn schemas_hash(tables: &[LogTable]) -> String {
    tables
        .iter()
        .map(|t| t.schema.hash())
        .collect::<Vec<_>>()
        .join(",")
}

/// Creates or alters every table whose recorded schema hash differs from the configured one.
/// Safe to run concurrently from many shards and more than once. Returns the tables migrated.
pub async fn ensure_schemas(
    db: &Metered,
    tables: &[LogTable],
    now: i64,
) -> Result<Vec<String>, DbError> {
    let recorded = recorded(db).await?;
    let mut migrated = Vec::new();
    for t in tables {
        let hash = t.schema.hash();
        let current = recorded
            .iter()
            .any(|r| r.table_name == t.schema.table && r.schema_hash.as_deref() == Some(&hash));
        if !current {
            migrate(db, t, &hash, now).await?;
            migrated.push(t.schema.table.clone());
        }
    }
    Ok(migrated)
}

async fn migrate(db: &Metered, t: &LogTable, hash: &str, now: i64) -> Result<(), DbError> {
    #[derive(Deserialize)]
    struct Column {
        name: String,
    }
    let table = t.schema.table.as_str();
    let existing: Vec<String> = db
        .all(table, db.prepare(t.schema.columns_sql()))
        .await?
        .results::<Column>()?
        .into_iter()
        .map(|c| c.name)
        .collect();
    #[derive(Deserialize)]
    struct Ddl {
        sql: String,
    }
    let ddl: Vec<Ddl> = db
        .all(table, db.prepare(t.schema.ddl_sql()))
        .await?
        .results()?;
    if ddl
        .first()
        .is_some_and(|d| t.schema.needs_rebuild(&d.sql, &existing))
    {
        // A table of an earlier layout: rebuilt in one transaction, so a shard that migrates
        // at the same time either sees the old table or the new one. (The batch is all or
        // nothing: a second rebuild after the first fails on nothing, it finds the new layout.)
        let statements = t
            .schema
            .rebuild(&existing)
            .iter()
            .map(|sql| db.prepare(sql))
            .collect();
        db.batch(table, statements)
            .await
            .map_err(|e| DbError(format!("rebuilding {table}: {e}")))?;
    }
    for sql in t.schema.migration(&existing) {
        if let Err(e) = db.run(table, db.prepare(&sql)).await {
            let message = e.to_string();
            if !is_benign(&message) {
                return Err(DbError(format!(
                    "migrating {}: {sql}: {message}",
                    t.schema.table
                )));
            }
        }
    }
    let columns = serde_json::to_string(&t.schema.column_names()).unwrap_or_default();
    let record = db
        .prepare(format!(
            "INSERT INTO {META_TABLE} (table_name, route, schema_hash, columns, migrated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(table_name) DO UPDATE SET route = excluded.route,
             schema_hash = excluded.schema_hash, columns = excluded.columns,
             migrated_at = excluded.migrated_at"
        ))
        .bind(&[
            t.schema.table.as_str().into(),
            t.route.as_str().into(),
            hash.into(),
            columns.into(),
            num(now),
        ])?;
    db.run(META_TABLE, record).await?;
    Ok(())
}

/// What a pruning run did to one table.
#[derive(Debug, Serialize)]
pub struct Pruned {
    pub table: String,
    pub route: String,
    /// `None`: the table was not due (pruned within its interval) or has no retention.
    pub cutoff: Option<i64>,
    pub deleted: u64,
    /// `false`: the run stopped at its statement budget; the next trigger continues.
    pub complete: bool,
}

/// Deletes `app`'s rows of `table` older than `before` in chunks (`retention::delete_chunk_sql`,
/// each chunk one transaction) until a chunk comes back short or `budget` runs out. A table that
/// does not exist (yet) has nothing to delete.
async fn delete_chunks(
    db: &Metered,
    (table, firehose): (&str, bool),
    app: &str,
    before: i64,
    chunk: u64,
    budget: &mut u32,
) -> Result<(u64, bool), DbError> {
    let sql = delete_chunk_sql(table, firehose);
    let binds = [JsValue::from_str(app), num(before), num(chunk as i64)];
    let mut deleted = 0;
    loop {
        if *budget == 0 {
            return Ok((deleted, false));
        }
        *budget -= 1;
        let statements = sql
            .iter()
            .map(|s| db.prepare(s).bind(&binds))
            .collect::<Result<Vec<_>, _>>()?;
        // Counted from the rows the delete returns (see `retention::delete_chunk_sql`).
        let n = match db.batch(table, statements).await {
            Ok(results) => match results.last() {
                Some(r) => r.results::<serde_json::Value>()?.len() as u64,
                None => 0,
            },
            Err(e) if e.to_string().contains("no such table") => return Ok((deleted, true)),
            Err(e) => return Err(e.into()),
        };
        deleted += n;
        if finished(n, chunk) {
            return Ok((deleted, true));
        }
    }
}

/// Deletes every app's rows of `table` older than `cutoff`, app by app, within `budget`.
async fn delete_older(
    db: &Metered,
    table: (&str, bool),
    cutoff: i64,
    chunk: u64,
    budget: &mut u32,
) -> Result<(u64, bool), DbError> {
    #[derive(Deserialize)]
    struct App {
        app_id: String,
    }
    if *budget == 0 {
        return Ok((0, false));
    }
    *budget -= 1;
    let listing = db
        .prepare(apps_with_older_sql(table.0))
        .bind(&[num(cutoff)])?;
    let apps: Vec<App> = match db.all(table.0, listing).await {
        Ok(r) => r.results()?,
        Err(e) if e.to_string().contains("no such table") => return Ok((0, true)),
        Err(e) => return Err(e.into()),
    };
    let mut deleted = 0;
    for app in apps {
        let (n, complete) = delete_chunks(db, table, &app.app_id, cutoff, chunk, budget).await?;
        deleted += n;
        if !complete {
            return Ok((deleted, false));
        }
    }
    Ok((deleted, true))
}

/// The cron's retention run: every table with a retention that is due loses its rows older than
/// the cut-off, within `budget` delete statements in all; `log_tables` records each outcome.
pub async fn run_retention(
    db: &Metered,
    tables: &[LogTable],
    now: i64,
    chunk: u64,
    mut budget: u32,
) -> Result<Vec<Pruned>, DbError> {
    let recorded = recorded(db).await?;
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let table = &t.schema.table;
        let state = recorded
            .iter()
            .find(|r| &r.table_name == table)
            .map(|r| PruneState {
                last_pruned_at: r.last_pruned_at,
                pending: r.prune_pending.is_some_and(|p| p > 0),
            })
            .unwrap_or_default();
        let Some(cutoff) = due(t.retention_days, t.pruning_interval_days, state, now) else {
            out.push(Pruned {
                table: table.clone(),
                route: t.route.clone(),
                cutoff: None,
                deleted: 0,
                complete: true,
            });
            continue;
        };
        let firehose = t.schema.firehose;
        let (deleted, complete) =
            delete_older(db, (table, firehose), cutoff, chunk, &mut budget).await?;
        if firehose && complete {
            // The `request.cf` sets no row refers to any more (`schema::cf_table`).
            let sets = cf_table(table);
            db.run(&sets, db.prepare(t.schema.cf_prune_sql())).await?;
        }
        let record = db
            .prepare(format!(
                "INSERT INTO {META_TABLE} (table_name, route, last_pruned_at, last_prune_cutoff,
                 last_prune_deleted, pruned_total, prune_pending)
             VALUES (?1, ?2, CASE WHEN ?6 THEN ?3 END, ?4, ?5, ?5, 1 - ?6)
             ON CONFLICT(table_name) DO UPDATE SET
                 last_pruned_at = CASE WHEN ?6 THEN ?3 ELSE last_pruned_at END,
                 last_prune_cutoff = ?4, last_prune_deleted = ?5,
                 pruned_total = pruned_total + ?5, prune_pending = 1 - ?6"
            ))
            .bind(&[
                table.as_str().into(),
                t.route.as_str().into(),
                num(now),
                num(cutoff),
                num(deleted as i64),
                num(complete as i64),
            ])?;
        db.run(META_TABLE, record).await?;
        out.push(Pruned {
            table: table.clone(),
            route: t.route.clone(),
            cutoff: Some(cutoff),
            deleted,
            complete,
        });
    }
    Ok(out)
}

/// Deletes one app's rows older than `before` from every log table: the configured ones and any
/// recorded in `log_tables` (a route removed from the configuration keeps its table and rows).
pub async fn prune_app(
    db: &Metered,
    tables: &[LogTable],
    app_id: &str,
    before: i64,
    chunk: u64,
    mut budget: u32,
) -> Result<Vec<Pruned>, DbError> {
    let mut names: Vec<(String, String, bool)> = tables
        .iter()
        .map(|t| (t.schema.table.clone(), t.route.clone(), t.schema.firehose))
        .collect();
    for r in recorded(db).await? {
        if is_identifier(&r.table_name) && !names.iter().any(|(t, _, _)| *t == r.table_name) {
            names.push((r.table_name, String::new(), false));
        }
    }
    let mut out = Vec::with_capacity(names.len());
    for (table, route, firehose) in names {
        let (deleted, complete) =
            delete_chunks(db, (&table, firehose), app_id, before, chunk, &mut budget).await?;
        out.push(Pruned {
            table,
            route,
            cutoff: Some(before),
            deleted,
            complete,
        });
    }
    Ok(out)
}

/// Deletes a deleted app's rows everywhere, within `budget` delete statements: every log
/// table (as `prune_app`), then, once those are empty, its daily counts and health-check URLs
/// and results. Returns the rows deleted and whether nothing of the app is left.
pub async fn purge_app(
    db: &Metered,
    tables: &[LogTable],
    app_id: &str,
    chunk: u64,
    budget: u32,
) -> Result<(u64, bool), DbError> {
    let pruned = prune_app(db, tables, app_id, i64::MAX, chunk, budget).await?;
    let deleted = pruned.iter().map(|p| p.deleted).sum();
    if !pruned.iter().all(|p| p.complete) {
        return Ok((deleted, false));
    }
    let app = JsValue::from_str(app_id);
    let rest: Vec<_> = [STATS_TABLE, URLS_TABLE, CHECKS_TABLE]
        .iter()
        .map(|t| {
            db.prepare(format!("DELETE FROM {t} WHERE app_id = ?1"))
                .bind(std::slice::from_ref(&app))
        })
        .collect::<Result<_, _>>()?;
    db.batch(STATS_TABLE, rest).await?;
    Ok((deleted, true))
}

/// What `make_room` deleted: rows, per app.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reclaimed {
    pub deleted: u64,
    pub apps: Vec<(String, u64)>,
}

/// Deletes the oldest rows, the largest apps' first (`space::plan`), when the database at
/// `size` bytes with `incoming` more would pass `cap` (`MAX_DB_BYTES`); within `budget` delete
/// statements.
pub async fn make_room(
    db: &Metered,
    tables: &[LogTable],
    firehose: &str,
    (size, incoming, cap): (u64, u64, u64),
    chunk: u64,
    mut budget: u32,
) -> Result<Reclaimed, DbError> {
    #[derive(Deserialize)]
    struct Count {
        app_id: String,
        n: f64,
    }
    let sizes = db.prepare(format!(
        "SELECT app_id, sum(count) AS n FROM {STATS_TABLE} GROUP BY app_id"
    ));
    let counts: Vec<Count> = db.all(STATS_TABLE, sizes).await?.results()?;
    let counts: Vec<(String, u64)> = counts.into_iter().map(|c| (c.app_id, c.n as u64)).collect();
    let rows = counts.iter().map(|(_, n)| n).sum();
    let wanted = rows_to_free(size, incoming, cap, rows);
    let mut out = Reclaimed::default();
    for (app, n) in plan(&counts, wanted) {
        if budget == 0 {
            break;
        }
        #[derive(Deserialize)]
        struct At {
            timestamp: f64,
        }
        // The timestamp of the app's n-th oldest row: everything up to it goes.
        let nth = db
            .prepare(format!(
                "SELECT timestamp FROM {} WHERE app_id = ?1 ORDER BY timestamp LIMIT 1 OFFSET ?2",
                quoted(firehose)
            ))
            .bind(&[JsValue::from_str(&app), num(n.saturating_sub(1) as i64)])?;
        let at: Vec<At> = db.all(firehose, nth).await?.results()?;
        let Some(at) = at.first() else { continue };
        let before = at.timestamp as i64 + 1;
        let pruned = prune_app(db, tables, &app, before, chunk, budget).await?;
        budget = budget.saturating_sub(pruned.len() as u32);
        let deleted: u64 = pruned
            .iter()
            .filter(|p| p.table == firehose)
            .map(|p| p.deleted)
            .sum();
        out.deleted += deleted;
        out.apps.push((app, deleted));
    }
    Ok(out)
}

/// Every log table as configured and as recorded (schema, migration and pruning history), for
/// `GET /admin/status`. Tables recorded but no longer configured are listed too: their rows stay.
pub async fn status(db: &Metered, tables: &[LogTable]) -> Result<Vec<serde_json::Value>, DbError> {
    #[derive(Deserialize)]
    struct Row {
        table_name: String,
        route: Option<String>,
        schema_hash: Option<String>,
        migrated_at: Option<i64>,
        last_pruned_at: Option<i64>,
        last_prune_cutoff: Option<i64>,
        last_prune_deleted: Option<i64>,
        pruned_total: Option<i64>,
        prune_pending: Option<i64>,
    }
    let listing = db.prepare(format!("SELECT * FROM {META_TABLE} ORDER BY table_name"));
    let rows: Vec<Row> = db.all(META_TABLE, listing).await?.results()?;
    let history = |r: Option<&Row>| {
        serde_json::json!({
            "recorded_hash": r.and_then(|r| r.schema_hash.clone()),
            "migrated_at": r.and_then(|r| r.migrated_at),
            "last_pruned_at": r.and_then(|r| r.last_pruned_at),
            "last_prune_cutoff": r.and_then(|r| r.last_prune_cutoff),
            "last_prune_deleted": r.and_then(|r| r.last_prune_deleted),
            "pruned_total": r.and_then(|r| r.pruned_total).unwrap_or(0),
            "prune_pending": r.and_then(|r| r.prune_pending).unwrap_or(0) > 0,
        })
    };
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        let row = rows.iter().find(|r| r.table_name == t.schema.table);
        let hash = t.schema.hash();
        let mut v = history(row);
        v["table"] = t.schema.table.clone().into();
        v["route"] = t.route.clone().into();
        v["configured"] = true.into();
        v["schema_current"] = (row.and_then(|r| r.schema_hash.as_deref()) == Some(&hash)).into();
        v["schema_hash"] = hash.into();
        v["columns"] = t.schema.column_names().into();
        v["retention_days"] = t.retention_days.into();
        v["pruning_interval_days"] = t.pruning_interval_days.into();
        out.push(v);
    }
    for r in rows
        .iter()
        .filter(|r| !tables.iter().any(|t| t.schema.table == r.table_name))
    {
        let mut v = history(Some(r));
        v["table"] = r.table_name.clone().into();
        v["route"] = r.route.clone().into();
        v["configured"] = false.into();
        out.push(v);
    }
    Ok(out)
}
