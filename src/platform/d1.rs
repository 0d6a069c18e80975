//! Shell: reading rows from D1, with every D1 failure as `STORAGE_UNAVAILABLE`, and [`Metered`],
//! D1 with a tally of what it reports for each statement.

use crate::platform::error::PlatformError;
use crate::platform::usage::{Usage, Work};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

/// Counts a statement's result in `usage` under `table`, as D1 reported it, and gives the rows
/// it read. The meta is read from JavaScript once per statement, here.
fn record(usage: &mut Usage, table: &str, result: &D1Result) -> u64 {
    let Ok(Some(m)) = result.meta() else {
        return 0;
    };
    let read = m.rows_read.unwrap_or(0) as u64;
    usage.add(
        table,
        read,
        m.rows_written.unwrap_or(0) as u64,
        m.size_after.map(|s| s as u64),
    );
    read
}

/// D1 with a tally: every statement run through it is counted (`record`) under the label the
/// caller gives (the table it is about), so what the logger costs beyond its flushes (migrations,
/// prunes, retention, reads) is known too. It is the only way to D1 (`platform::metered_db`), and
/// it knows the work it is for: when it is dropped, what it counted joins what the isolate
/// gathers for the usage meter (`usage_meter::protocol`), so no statement goes uncounted, and
/// each entry point (a request, an RPC call, an alarm, the cron) hands the gathered totals over
/// when they are due. A flush's own database counts into its LogBatcher's stats instead.
pub struct Metered {
    db: D1Database,
    usage: RefCell<Usage>,
    /// What the statements are for; `None` for a flush, whose tally its LogBatcher takes.
    work: Option<Work>,
}

impl Metered {
    pub fn new(db: D1Database, work: Option<Work>) -> Self {
        Metered {
            db,
            usage: RefCell::new(Usage::default()),
            work,
        }
    }

    pub fn prepare(&self, sql: impl Into<String>) -> D1PreparedStatement {
        self.db.prepare(sql)
    }

    /// Runs `statement` for its rows.
    pub async fn all(
        &self,
        label: &str,
        statement: D1PreparedStatement,
    ) -> worker::Result<D1Result> {
        Ok(self.all_read(label, statement).await?.0)
    }

    /// Runs `statement` for its rows, with the rows D1 read for it.
    pub async fn all_read(
        &self,
        label: &str,
        statement: D1PreparedStatement,
    ) -> worker::Result<(D1Result, u64)> {
        let result = statement.all().await?;
        let read = record(&mut self.usage.borrow_mut(), label, &result);
        Ok((result, read))
    }

    /// Runs `statement` for its effect.
    pub async fn run(
        &self,
        label: &str,
        statement: D1PreparedStatement,
    ) -> worker::Result<D1Result> {
        let result = statement.run().await?;
        record(&mut self.usage.borrow_mut(), label, &result);
        Ok(result)
    }

    /// Runs `statements` as one D1 batch (one transaction).
    pub async fn batch(
        &self,
        label: &str,
        statements: Vec<D1PreparedStatement>,
    ) -> worker::Result<Vec<D1Result>> {
        let labelled = statements.into_iter().map(|s| (s, label)).collect();
        self.batch_each(labelled).await
    }

    /// Runs `statements` as one D1 batch, each counted under its own label.
    pub async fn batch_each(
        &self,
        statements: Vec<(D1PreparedStatement, &str)>,
    ) -> worker::Result<Vec<D1Result>> {
        let (statements, labels): (Vec<_>, Vec<_>) = statements.into_iter().unzip();
        let results = self.db.batch(statements).await?;
        let mut usage = self.usage.borrow_mut();
        for (r, label) in results.iter().zip(labels) {
            record(&mut usage, label, r);
        }
        Ok(results)
    }

    /// What was counted so far, leaving the tally empty.
    pub fn take(&self) -> Usage {
        std::mem::take(&mut self.usage.borrow_mut())
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        if let Some(work) = self.work {
            crate::platform::usage_meter::protocol::gather(work, self.take());
        }
    }
}

/// The rows of one D1 statement about `table`; a failing D1 is `STORAGE_UNAVAILABLE`.
pub async fn d1_rows<T: DeserializeOwned>(
    db: &Metered,
    table: &str,
    sql: &str,
    params: &[JsValue],
) -> Result<Vec<T>, PlatformError> {
    Ok(d1_read(db, table, sql, params).await?.0)
}

/// The rows of one D1 statement and the rows D1 read for it (what it bills a read by).
pub async fn d1_read<T: DeserializeOwned>(
    db: &Metered,
    table: &str,
    sql: &str,
    params: &[JsValue],
) -> Result<(Vec<T>, u64), PlatformError> {
    let unavailable = |e: worker::Error| PlatformError::Unavailable(format!("D1: {e}"));
    let statement = db.prepare(sql).bind(params).map_err(unavailable)?;
    let (result, read) = db.all_read(table, statement).await.map_err(unavailable)?;
    Ok((result.results().map_err(unavailable)?, read))
}
