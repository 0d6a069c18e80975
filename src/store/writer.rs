//! Shell: writes log rows to D1: the firehose (plain rows with the narrow insert, the others with
//! the full one) and every route whose filter matches, each range of rows in one D1 batch, so one
//! transaction: an entry lands in the firehose and in all of its routes, or nowhere. Used by the
//! LogBatcher's flush and by dead-letter replays, so both write exactly the same way.
//!
//! Does not decide what to do when a write fails (`batch::poison`, `batch::settle`) or build the
//! SQL (`insert`).

use crate::batch::poison::{isolate, Isolation};
use crate::platform::d1::Metered;
use crate::store::error::WriteError;
use crate::store::insert::{
    cf_sql, chunk_ranges, chunk_rows, full_insert_sql, insert_sql, json_array, lacks_jsonb,
    plain_insert_sql, stats_keys, stats_sql, Extract, MAX_PARAM_BYTES,
};
use crate::store::route::Routes;
use crate::store::schema::{cf_table, STATS_TABLE};
use std::cell::Cell;
use std::ops::Range;
use wasm_bindgen::JsValue;
use worker::{console_error, D1PreparedStatement};

/// The statements of one extract form: the firehose's full and narrow inserts, the upsert of
/// the `request.cf` sets that goes before a full one, one insert per route.
struct Statements {
    full: String,
    plain: String,
    cf: String,
    routes: Vec<String>,
}

impl Statements {
    fn new(routes: &Routes, extract: Extract) -> Self {
        let (table, seq) = (&routes.firehose_table, routes.search);
        Statements {
            full: full_insert_sql(table, extract, seq),
            plain: plain_insert_sql(table, extract, seq),
            cf: cf_sql(table, extract),
            routes: routes
                .routes
                .iter()
                .map(|r| {
                    let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
                    insert_sql(&r.table, &names, extract)
                })
                .collect(),
        }
    }
}

/// Rows ready to write: their texts, which are plain, and what each route receives.
pub struct Rows<'a> {
    texts: Vec<&'a str>,
    plain: Vec<bool>,
    /// For each route, the rows it receives (index into `texts`, route row), in row order.
    projected: Vec<Vec<(usize, String)>>,
}

impl Rows<'_> {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}

pub struct Writer<'a> {
    /// D1, whose tally counts what every statement wrote and read, per table.
    db: &'a Metered,
    routes: &'a Routes,
    jsonb: Statements,
    text: Statements,
    /// The daily counts' upsert that goes before each firehose insert.
    stats: String,
    /// The firehose's table of `request.cf` sets, whose upsert goes before a full insert.
    cf_table: String,
    /// D1 lacked the JSONB functions once: the text form from then on (kept by the caller,
    /// so it outlives one writer).
    use_text: &'a Cell<bool>,
    /// Rows per statement at most.
    per_statement: usize,
    /// D1 statements sent so far.
    pub statements: Cell<i64>,
}

impl<'a> Writer<'a> {
    pub fn new(
        db: &'a Metered,
        routes: &'a Routes,
        per_statement: usize,
        use_text: &'a Cell<bool>,
    ) -> Self {
        Writer {
            db,
            routes,
            jsonb: Statements::new(routes, Extract::Jsonb),
            text: Statements::new(routes, Extract::Text),
            stats: stats_sql(&routes.firehose_table),
            cf_table: cf_table(&routes.firehose_table),
            use_text,
            per_statement: per_statement.max(1),
            statements: Cell::new(0),
        }
    }

    /// The rows to write, with their routes' projections made once.
    pub fn rows<'r>(&self, texts: Vec<&'r str>, plain: Vec<bool>) -> Rows<'r> {
        let projected = self.routes.project(&texts);
        Rows {
            texts,
            plain,
            projected,
        }
    }

    fn prepare(
        &self,
        rows: &Rows<'_>,
        range: &Range<usize>,
        extract: Extract,
    ) -> worker::Result<Vec<(D1PreparedStatement, &str)>> {
        let sql = match extract {
            Extract::Jsonb => &self.jsonb,
            Extract::Text => &self.text,
        };
        let (plain, full): (Vec<usize>, Vec<usize>) = range.clone().partition(|i| rows.plain[*i]);
        let mut prepared = Vec::new();
        let firehose = self.routes.firehose_table.as_str();
        for (insert, group, facts) in [(&sql.full, full, true), (&sql.plain, plain, false)] {
            let group: Vec<&str> = group.iter().map(|i| rows.texts[*i]).collect();
            for part in chunk_ranges(&group, MAX_PARAM_BYTES, self.per_statement) {
                // The chunk's rows once more, as keys (see `insert::stats_sql`).
                let keys = stats_keys(&group[part.clone()]);
                let keys = [keys.groups, keys.keys].map(|k| JsValue::from_str(&k));
                let counted = self.db.prepare(&self.stats).bind(&keys)?;
                let chunk = JsValue::from_str(&json_array(&group[part]));
                if facts {
                    let sets = self
                        .db
                        .prepare(&sql.cf)
                        .bind(std::slice::from_ref(&chunk))?;
                    prepared.push((sets, self.cf_table.as_str()));
                }
                prepared.push((counted, STATS_TABLE));
                prepared.push((self.db.prepare(insert).bind(&[chunk])?, firehose));
            }
        }
        for ((sql, projected), route) in sql
            .routes
            .iter()
            .zip(&rows.projected)
            .zip(&self.routes.routes)
        {
            let lo = projected.partition_point(|(i, _)| *i < range.start);
            let hi = projected.partition_point(|(i, _)| *i < range.end);
            let route_rows: Vec<&str> = projected[lo..hi].iter().map(|(_, r)| r.as_str()).collect();
            for chunk in chunk_rows(&route_rows, MAX_PARAM_BYTES, self.per_statement) {
                let bound = self.db.prepare(sql).bind(&[JsValue::from_str(&chunk)])?;
                prepared.push((bound, route.table.as_str()));
            }
        }
        Ok(prepared)
    }

    /// Writes `range` of `rows` in one transaction; the error is D1's, in its words.
    pub async fn write(&self, rows: &Rows<'_>, range: Range<usize>) -> Result<(), WriteError> {
        loop {
            let extract = if self.use_text.get() {
                Extract::Text
            } else {
                Extract::Jsonb
            };
            let prepared = self
                .prepare(rows, &range, extract)
                .map_err(|e| WriteError(e.to_string()))?;
            self.statements
                .set(self.statements.get() + prepared.len() as i64);
            let failure = match self.db.batch_each(prepared).await {
                Err(e) => Some(format!("D1: {e}")),
                Ok(results) => results
                    .iter()
                    .find_map(|r| r.error())
                    .map(|e| format!("D1: {e}")),
            };
            match failure {
                None => return Ok(()),
                // A database without JSONB: the same write in the text form, at once and from
                // now on (no attempt is counted for it).
                Some(e) if extract == Extract::Jsonb && lacks_jsonb(&e) => {
                    console_error!("{e}; writing without JSONB from now on");
                    self.use_text.set(true);
                }
                Some(e) => return Err(WriteError(e)),
            }
        }
    }

    /// Writes every row, isolating the rows that fail on their own (`batch::poison`): `singles`
    /// are tried alone first, at most `budget` writes are made, and `blocked` (a schema that
    /// could not be brought up to date, say) fails every write as an outage.
    pub async fn write_all(
        &self,
        rows: &Rows<'_>,
        singles: &[usize],
        budget: u32,
        blocked: Option<String>,
    ) -> Isolation {
        isolate(rows.len(), singles, budget, |range| {
            let blocked = blocked.clone();
            async move {
                match blocked {
                    Some(e) => Err(WriteError(e)),
                    None => self.write(rows, range).await,
                }
            }
        })
        .await
    }
}
