//! Table schemas of log tables: their DDL, a stable hash, and the migration from what exists.
//!
//! A log table (the firehose or a route's table) is described by a [`TableSchema`]: columns with
//! SQL types and constraints, and indexes. Its hash is recorded in D1's `log_tables`; when the
//! configured schema hashes differently, [`TableSchema::migration`] gives the statements that bring
//! the table up to date: `CREATE TABLE IF NOT EXISTS`, `ALTER TABLE ... ADD COLUMN` for each
//! missing column, `CREATE INDEX IF NOT EXISTS`. Columns are never dropped or changed, so rows
//! stay. Every statement is safe to run twice and concurrently: the only one that can fail because
//! another migration got there first is ADD COLUMN ("duplicate column name", see [`is_benign`]).
//!
//! **The layout is chosen for what D1 bills: rows written, where every index entry counts.** A log
//! table is clustered on its read path, `PRIMARY KEY (app_id, timestamp, id) WITHOUT ROWID`: every
//! query names one app and pages newest first by `(timestamp, id)`, so the table itself is the
//! index and a row costs one write. The only secondary index is partial (`named`): it holds just
//! the rows whose id does not tell their time (client-named entries, see
//! `model::id::locates_row`), so those are stored once across client retries and found by id;
//! a fresh entry's id carries its time and is found through the key. The firehose adds a
//! contentless FTS5 index of `message` and `request_id` (one more write a row; the text stays in
//! the table) unless `SEARCH_INDEX=none`. Daily counts are one grouped upsert per flush
//! (`insert::stats_sql`), not a trigger per row. A table of the earlier layout (a rowid table with
//! an `id` primary key) is rebuilt once ([`TableSchema::rebuild`]; `migrations/0007` is that
//! rebuild for `logs`).
//!
//! Every name spliced into SQL is a checked identifier (`model::sql::is_identifier`) and is quoted
//! besides, so a column called `order` works. Does not run SQL (`tables` does).

use crate::model::columns::{self, SqlType, CF_COLUMNS, COLUMNS, FIREHOSE_COLUMNS};
use crate::model::id::ID_ELSEWHERE_SQL;
use crate::model::sql::{is_identifier, quoted};

/// Daily counts per app and level (`migrations/0005_log_stats.sql`), moved by each flush's
/// grouped upsert and each delete's grouped decrement.
pub const STATS_TABLE: &str = "log_stats";
/// A stats day is the UTC day of the entry's own time: `timestamp / DAY_MS`.
pub const DAY_MS: i64 = 86_400_000;

/// The daily counts' table as `migrations/0005` creates it, without that migration's triggers on
/// `logs` (which the clustered layout replaced): for tests and the benchmark, which build a
/// firehose of their own.
pub const STATS_TABLE_DDL: &str = "CREATE TABLE log_stats (app_id TEXT NOT NULL, \
     day INTEGER NOT NULL, level TEXT NOT NULL, count INTEGER NOT NULL, \
     PRIMARY KEY (app_id, day, level)) WITHOUT ROWID";

/// Metadata table: one row per log table with its recorded schema hash and pruning history.
pub const META_TABLE: &str = "log_tables";

/// Tables the logger owns besides log tables; no route may use these names.
pub const RESERVED_TABLES: [&str; 6] = [
    "shards",
    META_TABLE,
    STATS_TABLE,
    crate::read::url_checks::URLS_TABLE,
    crate::read::url_checks::CHECKS_TABLE,
    "d1_migrations",
];

/// The SQL type of a firehose column.
pub fn catalogue_type(column: &str) -> Option<SqlType> {
    columns::column(column).map(|c| c.sql)
}

/// The primary key of every log table, in order: the read path (one app, newest first).
pub const KEY_COLUMNS: [&str; 3] = ["app_id", "timestamp", "id"];

/// Columns every route table has, first, whatever the route lists: the key, which makes flushes
/// idempotent and serves retention (by app and time) and manual prunes.
pub const ROUTE_KEY_COLUMNS: [&str; 3] = ["id", "timestamp", "app_id"];

/// The firehose's own column (not in the row encoding): the entry's rowid in the search index,
/// given at insert (`insert::SEQ_SQL`); NULL when the row was stored without a search index.
pub const SEQ_COLUMN: &str = "seq";

/// The firehose's own column for its row's set of `request.cf` facts: the `id` in [`cf_table`]
/// (NULL: the entry has none, a REST entry say).
pub const CF_COLUMN: &str = "cf";

/// The table of a firehose's distinct sets of `request.cf` facts (`columns::CF_COLUMNS`). A
/// set is about 90 bytes, and a site's requests share few (a colo, a city and network, a TLS
/// setup), so a row refers to its set instead of holding it. `key` is the set as SQLite's
/// `json_array` writes it, so the flush, the rebuild and the lookup all name a set alike; `day`
/// is the latest entry day that refers to it, which retention compares with the oldest row left
/// ([`TableSchema::cf_prune_sql`]).
pub fn cf_table(table: &str) -> String {
    format!("{table}_cf")
}

/// The key of a set of `request.cf` facts from its values' expressions (`CF_COLUMNS` order).
pub fn cf_key_sql(values: &[String]) -> String {
    format!("json_array({})", values.join(", "))
}

/// One column of a log table: its name, SQL type and constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub ty: SqlType,
    /// Constraints written at CREATE TABLE time ("" for none).
    pub constraint: &'static str,
}

/// One index of a log table, optionally partial and unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    /// A partial index's condition (fixed text, never from configuration).
    pub partial: Option<&'static str>,
    pub unique: bool,
}

/// A log table as it should exist: columns, indexes, and (for the firehose) its search index.
/// Its hash says when a migration is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub table: String,
    pub columns: Vec<ColumnDef>,
    pub indexes: Vec<IndexDef>,
    /// The firehose: its rows are counted in `STATS_TABLE`, and it has the `seq` column.
    pub firehose: bool,
    /// The firehose's full-text index (SQLite FTS5) on `message` and `request_id`, kept in step
    /// by triggers, for `GET /logs?search=` and `request_id=` (`SEARCH_INDEX=fts`).
    pub search: bool,
}

/// The FTS5 table that indexes the messages of `table`.
pub fn fts_table(table: &str) -> String {
    format!("{table}_fts")
}

/// Longest table name: index, trigger and full-text table names are built from it and must stay
/// identifiers (64 characters at most).
pub const MAX_TABLE_NAME: usize = 40;

/// The name of the index on `columns` of `table`.
pub fn index_name(table: &str, suffix: &str) -> String {
    format!("idx_{table}_{suffix}")
}

/// The table a rebuild copies into before it takes the table's name.
fn rebuild_table(table: &str) -> String {
    format!("{table}__rebuild")
}

/// The partial unique index of rows whose id does not locate them (see the module comment).
pub fn named_index(table: &str) -> IndexDef {
    IndexDef {
        name: index_name(table, "named"),
        columns: vec!["app_id".into(), "id".into()],
        partial: Some(ID_ELSEWHERE_SQL),
        unique: true,
    }
}

impl TableSchema {
    /// The firehose table: every logged column, with the constraints of `migrations/0001`, and
    /// `seq`; with its search index when `search`.
    pub fn firehose(table: &str, search: bool) -> TableSchema {
        let mut columns: Vec<ColumnDef> = FIREHOSE_COLUMNS
            .iter()
            .enumerate()
            .filter(|(i, _)| !CF_COLUMNS.contains(i))
            .map(|(_, c)| ColumnDef {
                name: c.name.to_string(),
                ty: c.sql,
                constraint: c.constraint,
            })
            .collect();
        for name in [SEQ_COLUMN, CF_COLUMN] {
            columns.push(ColumnDef {
                name: name.into(),
                ty: SqlType::Integer,
                constraint: "",
            });
        }
        TableSchema {
            table: table.to_string(),
            columns,
            indexes: vec![named_index(table)],
            firehose: true,
            search,
        }
    }

    fn trigger(&self, suffix: &str) -> String {
        quoted(&format!("{}_search_{suffix}", self.table))
    }

    /// The full-text index and the triggers that keep it in step with inserts and deletes
    /// (retention, prunes), or, with search off, the statements that remove them; empty but for
    /// the firehose. The index is contentless: it stores the index and, unindexed, each row's
    /// `timestamp` (`ts`), which with the rowid (`seq`) finds the row through the key; no text.
    /// Deleting from a contentless index takes the indexed values, which the row still has.
    pub fn firehose_sql(&self) -> Vec<String> {
        if !self.firehose {
            return Vec::new();
        }
        let (t, fts) = (quoted(&self.table), quoted(&fts_table(&self.table)));
        let (ai, ad) = (self.trigger("ai"), self.trigger("ad"));
        if !self.search {
            // Search turned off: rows stop going into the index. The index itself stays as it
            // was (FTS5 cannot drop a contentless index with stored values cleanly: SQLite
            // leaves its table of values behind, which D1 then refuses to drop, and a later
            // CREATE would fail on it); turned on again, what it holds is found again, and the
            // rowids it holds are never given out twice (`insert::firehose_insert`).
            return vec![
                format!("DROP TRIGGER IF EXISTS {ai}"),
                format!("DROP TRIGGER IF EXISTS {ad}"),
            ];
        }
        vec![
            format!(
                "CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(message, request_id, \
                 ts UNINDEXED, content='', contentless_unindexed=1, columnsize=0)"
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {ai} AFTER INSERT ON {t} WHEN new.seq IS NOT NULL \
                 BEGIN INSERT INTO {fts} (rowid, message, request_id, ts) \
                 VALUES (new.seq, new.message, new.request_id, new.timestamp); END"
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {ad} AFTER DELETE ON {t} WHEN old.seq IS NOT NULL \
                 BEGIN INSERT INTO {fts} ({fts}, rowid, message, request_id, ts) \
                 VALUES ('delete', old.seq, old.message, old.request_id, old.timestamp); END"
            ),
        ]
    }

    /// The firehose's table of `request.cf` sets ([`cf_table`]); empty but for the firehose.
    pub fn cf_sql(&self) -> Vec<String> {
        if !self.firehose {
            return Vec::new();
        }
        let facts: Vec<String> = CF_COLUMNS
            .map(|i| {
                format!(
                    "{} {}",
                    quoted(COLUMNS[i]),
                    FIREHOSE_COLUMNS[i].sql.as_str()
                )
            })
            .collect();
        vec![format!(
            "CREATE TABLE IF NOT EXISTS {} (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, \
             day INTEGER NOT NULL, {})",
            quoted(&cf_table(&self.table)),
            facts.join(", ")
        )]
    }

    /// Deletes the `request.cf` sets no row refers to any more: those whose latest entry day is
    /// before the oldest row's (each app's oldest row is a seek along the key, as in
    /// `retention::apps_with_older_sql`), all of them when the table is empty. A flush raises
    /// a set's day in the same transaction as it stores the rows that refer to it, so a set in
    /// use is never deleted.
    pub fn cf_prune_sql(&self) -> String {
        let t = quoted(&self.table);
        format!(
            "WITH RECURSIVE a(app) AS (SELECT min(app_id) FROM {t} \
             UNION ALL SELECT (SELECT min(app_id) FROM {t} WHERE app_id > a.app) FROM a \
             WHERE a.app IS NOT NULL) \
             DELETE FROM {} WHERE day < coalesce((SELECT min((SELECT min(timestamp) FROM {t} \
             WHERE app_id = a.app)) FROM a WHERE a.app IS NOT NULL) / {DAY_MS}, {})",
            quoted(&cf_table(&self.table)),
            i64::MAX
        )
    }

    /// The schema's identity: table, columns with types and constraints, key, indexes, search, in
    /// order. 16 hex digits of SHA-256 over a canonical text, so it is stable across releases.
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut canonical = format!("table {}\n", self.table);
        for c in &self.columns {
            canonical.push_str(&format!(
                "column {} {} {}\n",
                c.name,
                c.ty.as_str(),
                c.constraint
            ));
        }
        canonical.push_str(&format!("key {} without rowid\n", KEY_COLUMNS.join(",")));
        for i in &self.indexes {
            canonical.push_str(&format!(
                "index {} {} {} {}\n",
                i.name,
                i.columns.join(","),
                i.partial.unwrap_or(""),
                if i.unique { "unique" } else { "" }
            ));
        }
        if self.firehose {
            canonical.push_str("stats per flush\n");
            if self.search {
                canonical.push_str("full_text message,request_id contentless\n");
            }
        }
        let digest = Sha256::digest(canonical.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn create_named(&self, name: &str) -> String {
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                format!("{} {} {}", quoted(&c.name), c.ty.as_str(), c.constraint)
                    .trim_end()
                    .to_string()
            })
            .collect();
        let key: Vec<String> = KEY_COLUMNS.iter().map(|c| quoted(c)).collect();
        parts.push(format!("PRIMARY KEY ({})", key.join(", ")));
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({}) WITHOUT ROWID",
            quoted(name),
            parts.join(", ")
        )
    }

    pub fn create_sql(&self) -> String {
        self.create_named(&self.table)
    }

    /// ADD COLUMN takes the type only: SQLite cannot add a NOT NULL column without a default,
    /// and the key columns that carry constraints exist from CREATE TABLE on.
    pub fn add_column_sql(&self, c: &ColumnDef) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN {} {}",
            quoted(&self.table),
            quoted(&c.name),
            c.ty.as_str()
        )
    }

    pub fn index_sql(&self) -> Vec<String> {
        self.indexes
            .iter()
            .map(|i| {
                let cols: Vec<String> = i.columns.iter().map(|c| quoted(c)).collect();
                let mut sql = format!(
                    "CREATE {}INDEX IF NOT EXISTS {} ON {} ({})",
                    if i.unique { "UNIQUE " } else { "" },
                    quoted(&i.name),
                    quoted(&self.table),
                    cols.join(", ")
                );
                if let Some(cond) = i.partial {
                    sql.push_str(" WHERE ");
                    sql.push_str(cond);
                }
                sql
            })
            .collect()
    }

    /// The statement that lists the table's existing columns (`name` is the column to read).
    pub fn columns_sql(&self) -> String {
        format!("PRAGMA table_info({})", quoted(&self.table))
    }

    /// The statement that reads the table's DDL (`sql`; no row: no table), which tells its layout
    /// ([`is_clustered`]).
    pub fn ddl_sql(&self) -> String {
        format!(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{}'",
            self.table
        )
    }

    /// Statements that bring the table from `existing` columns (empty: no table yet) to this
    /// schema. Existing columns are kept whatever their type; missing ones are added.
    pub fn migration(&self, existing: &[String]) -> Vec<String> {
        let mut out = self.cf_sql();
        out.push(self.create_sql());
        if !existing.is_empty() {
            out.extend(
                self.columns
                    .iter()
                    .filter(|c| !existing.iter().any(|e| e.eq_ignore_ascii_case(&c.name)))
                    .map(|c| self.add_column_sql(c)),
            );
        }
        out.extend(self.index_sql());
        out.extend(self.firehose_sql());
        out
    }

    /// Whether the table, with this `ddl` and these `existing` columns, is of an earlier layout
    /// and needs [`TableSchema::rebuild`]: a rowid table, or a firehose that holds the
    /// `request.cf` facts in every row or takes fewer sources than there are.
    pub fn needs_rebuild(&self, ddl: &str, existing: &[String]) -> bool {
        !is_clustered(ddl)
            || (self.firehose
                && (has(existing, COLUMNS[CF_COLUMNS.start])
                    || !ddl.contains(columns::SOURCE_CHECK)))
    }

    /// Statements that rebuild a table of an earlier layout (`existing` columns) into this one,
    /// in one transaction: the rows are copied into a clustered table (a firehose row keeps its
    /// old rowid as `seq`, its `request.cf` facts become a reference to their set, and a row
    /// with headers but no `Host` header says so, see `model::request_url`), the old table with
    /// its indexes, triggers and search index goes, the copy takes its name; then the search
    /// index is filled from the rows and the daily counts are counted again. Columns the old
    /// table lacks stay NULL; none are lost.
    pub fn rebuild(&self, existing: &[String]) -> Vec<String> {
        let (t, tmp) = (quoted(&self.table), rebuild_table(&self.table));
        let old = |name: &str| match has(existing, name) {
            true => quoted(name),
            false => "NULL".into(),
        };
        let (mut into, mut from): (Vec<String>, Vec<String>) = self
            .columns
            .iter()
            .filter(|c| has(existing, &c.name))
            .map(|c| {
                let value = match c.name.as_str() {
                    // Only a table that kept the `request.cf` facts in every row (no `cf`
                    // reference) stored every Host header; a later one already leaves out the
                    // Host its URL says, and its headers are copied as they are.
                    "headers"
                        if self.firehose && has(existing, "url") && !has(existing, CF_COLUMN) =>
                    {
                        "CASE WHEN url IS NOT NULL AND json_valid(headers) \
                         AND headers ->> '$.host' IS NULL \
                         THEN json_set(headers, '$.host', NULL) ELSE headers END"
                            .to_string()
                    }
                    name => quoted(name),
                };
                (quoted(&c.name), value)
            })
            .unzip();
        if self.firehose && !has(existing, SEQ_COLUMN) {
            into.push(quoted(SEQ_COLUMN));
            from.push("rowid".into());
        }
        // A table of the clustered layout (it has `seq`) keeps its search index: the rows keep
        // their `seq`, which is the index's rowid, so the index stays true. It could not be made
        // again anyway: SQLite's FTS5 leaves the `_content` table of a contentless index with
        // unindexed values behind when the index is dropped, and D1 may not drop that table.
        let keep_index = has(existing, SEQ_COLUMN);
        let mut out = vec![format!("DROP TABLE IF EXISTS {}", quoted(&tmp))];
        if self.firehose {
            if !keep_index {
                out.push(format!(
                    "DROP TABLE IF EXISTS {}",
                    quoted(&fts_table(&self.table))
                ));
            }
            out.extend(self.cf_sql());
        }
        let facts: Vec<String> = CF_COLUMNS.map(|i| old(COLUMNS[i])).collect();
        if self.firehose && facts.iter().any(|f| f != "NULL") {
            let (sets, reference) = self.cf_sets(&t, &facts);
            out.push(sets);
            into.push(quoted(CF_COLUMN));
            from.push(reference);
        }
        out.push(self.create_named(&tmp));
        out.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {t} WHERE true ON CONFLICT DO NOTHING",
            quoted(&tmp),
            into.join(", "),
            from.join(", ")
        ));
        out.push(format!("DROP TABLE {t}"));
        out.push(format!("ALTER TABLE {} RENAME TO {t}", quoted(&tmp)));
        out.extend(self.index_sql());
        out.extend(self.firehose_sql());
        if self.firehose {
            out.extend(self.refill(&t, keep_index));
        }
        out
    }

    /// The statement that stores a rebuilt firehose's distinct `request.cf` sets (`facts`, its
    /// old columns), and the value that refers a copied row to its set.
    fn cf_sets(&self, t: &str, facts: &[String]) -> (String, String) {
        let cf = quoted(&cf_table(&self.table));
        let key = cf_key_sql(facts);
        let names: Vec<String> = CF_COLUMNS.map(|i| quoted(COLUMNS[i])).collect();
        let sets = format!(
            "INSERT INTO {cf} (key, day, {}) SELECT {key}, max(timestamp / {DAY_MS}), {} \
             FROM {t} WHERE coalesce({}) IS NOT NULL GROUP BY 1 \
             ON CONFLICT (key) DO UPDATE SET day = max(day, excluded.day)",
            names.join(", "),
            facts.join(", "),
            facts.join(", ")
        );
        (sets, format!("(SELECT id FROM {cf} WHERE key = {key})"))
    }

    /// After a firehose's rebuild: its search index filled from the rows (unless it was kept)
    /// and the daily counts counted again.
    fn refill(&self, t: &str, keep_index: bool) -> Vec<String> {
        let mut out = Vec::new();
        if self.search && !keep_index {
            out.push(format!(
                "INSERT INTO {} (rowid, message, request_id, ts) \
                 SELECT seq, message, request_id, timestamp FROM {t} WHERE seq IS NOT NULL",
                quoted(&fts_table(&self.table))
            ));
        }
        let stats = quoted(STATS_TABLE);
        out.push(format!("DELETE FROM {stats}"));
        out.push(format!(
            "INSERT INTO {stats} (app_id, day, level, count) \
             SELECT app_id, timestamp / {DAY_MS}, level, count(*) FROM {t} GROUP BY 1, 2, 3"
        ));
        out
    }

    /// Column names, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Whether a table's DDL (from [`TableSchema::ddl_sql`]) is the clustered layout; a table of the
/// earlier layout needs [`TableSchema::rebuild`].
pub fn is_clustered(ddl: &str) -> bool {
    ddl.to_ascii_uppercase().contains("WITHOUT ROWID")
}

fn has(existing: &[String], name: &str) -> bool {
    existing.iter().any(|e| e.eq_ignore_ascii_case(name))
}

/// Whether a failed migration statement means another migration already did the work.
pub fn is_benign(error: &str) -> bool {
    error.contains("duplicate column name")
}

/// Whether a route may use `table`: an identifier that is not one of the logger's own tables
/// nor a name SQLite or D1 keep for themselves.
pub fn table_name_error(table: &str) -> Option<String> {
    if !is_identifier(table) || table.len() > MAX_TABLE_NAME {
        return Some(format!(
            "{table:?} is not a table name (lower-case letters, digits and '_', starting with a letter or '_', at most {MAX_TABLE_NAME})"
        ));
    }
    if RESERVED_TABLES.contains(&table) || table.starts_with("sqlite_") || table.starts_with("_cf_")
    {
        return Some(format!("{table:?} is reserved for the logger or D1"));
    }
    // The names the logger derives from a log table's: its full-text index and FTS5's shadow
    // tables (`{table}_fts`, `{table}_fts_data`, ...) and its indexes (`idx_{table}_...`),
    // which share SQLite's namespace with tables.
    if table.ends_with("_fts")
        || table.ends_with("_cf")
        || table.contains("_fts_")
        || table.starts_with("idx_")
        || table.contains("__rebuild")
    {
        return Some(format!(
            "{table:?} is reserved: names ending in _fts or _cf, containing _fts_ or starting \
             with idx_ are the logger's search indexes, request.cf sets and indexes, and \
             __rebuild its rebuilds"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn route_like() -> TableSchema {
        let col = |name: &str, ty, constraint| ColumnDef {
            name: name.into(),
            ty,
            constraint,
        };
        TableSchema {
            table: "errors".into(),
            columns: vec![
                col("id", SqlType::Text, "NOT NULL"),
                col("timestamp", SqlType::Integer, "NOT NULL"),
                col("app_id", SqlType::Text, "NOT NULL"),
                col("order", SqlType::Text, ""),
            ],
            firehose: false,
            search: false,
            indexes: vec![named_index("errors")],
        }
    }

    fn columns(db: &Connection, table: &str) -> Vec<(String, String, i64, i64)> {
        let mut stmt = db
            .prepare(&format!("PRAGMA table_info(\"{table}\")"))
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(5)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn indexes(db: &Connection, table: &str) -> Vec<String> {
        let mut stmt = db
            .prepare("SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([table], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn names(db: &Connection, s: &TableSchema) -> Vec<String> {
        let mut stmt = db.prepare(&s.columns_sql()).unwrap();
        stmt.query_map([], |r| r.get::<_, String>("name"))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// What `tables::migrate` does, on SQLite: read columns and layout, rebuild a table of the
    /// earlier layout, run each statement, tolerate benign failures.
    fn migrate(db: &Connection, s: &TableSchema, existing: Option<Vec<String>>) {
        let existing = existing.unwrap_or_else(|| names(db, s));
        let ddl: Option<String> = db.query_row(&s.ddl_sql(), [], |r| r.get(0)).ok();
        if ddl.is_some_and(|d| s.needs_rebuild(&d, &existing)) {
            let tx = db.unchecked_transaction().unwrap();
            for sql in s.rebuild(&existing) {
                tx.execute(&sql, [])
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            tx.commit().unwrap();
        }
        for sql in s.migration(&existing) {
            if let Err(e) = db.execute(&sql, []) {
                assert!(is_benign(&e.to_string()), "{sql}: {e}");
            }
        }
    }

    const MIGRATIONS: [&str; 8] = [
        include_str!("../../migrations/0001_logs.sql"),
        include_str!("../../migrations/0002_shards.sql"),
        include_str!("../../migrations/0003_log_tables.sql"),
        include_str!("../../migrations/0004_query.sql"),
        include_str!("../../migrations/0005_log_stats.sql"),
        include_str!("../../migrations/0006_health.sql"),
        include_str!("../../migrations/0007_clustered_logs.sql"),
        include_str!("../../migrations/0008_health_source.sql"),
    ];

    /// A database as `wrangler d1 migrations apply` leaves it, up to migration `upto`.
    fn migrated(upto: usize) -> Connection {
        let db = Connection::open_in_memory().unwrap();
        for m in &MIGRATIONS[..upto] {
            db.execute_batch(m).unwrap();
        }
        db
    }

    fn objects(db: &Connection) -> Vec<String> {
        let mut st = db
            .prepare(
                "SELECT type || ' ' || name || ' ' || sql FROM sqlite_master \
                 WHERE (tbl_name LIKE 'logs%') AND sql IS NOT NULL ORDER BY name",
            )
            .unwrap();
        let rows: Vec<String> = st
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.iter()
            .map(|s| {
                s.replace('"', "")
                    .replace("IF NOT EXISTS ", "")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// Migration 0008: the firehose of 0007 rebuilt to take the `health` source (SQLite cannot
    /// alter a CHECK), generated by the logger's own rebuild of a table with 0007's columns.
    #[test]
    fn migration_0008_is_the_rebuild_of_the_0007_firehose() {
        let db = migrated(7);
        let existing: Vec<String> = db
            .prepare("SELECT name FROM pragma_table_info('logs')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let s = TableSchema::firehose("logs", true);
        let ddl: String = db
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'logs'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            s.needs_rebuild(&ddl, &existing),
            "0007's CHECK lacks health"
        );
        let generated: String = s
            .rebuild(&existing)
            .iter()
            .map(|sql| format!("{sql};"))
            .collect::<Vec<_>>()
            .join("\n");
        if let Ok(path) = std::env::var("WRITE_MIGRATION_0008") {
            std::fs::write(path, &generated).unwrap();
        }
        let file: String = include_str!("../../migrations/0008_health_source.sql")
            .lines()
            .filter(|l| !l.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(file.trim(), generated.trim());
    }

    /// Migration 0007 is the rebuild of the earlier layout's `logs`, with the sources of its day
    /// (0008 adds `health`).
    #[test]
    fn migration_0007_is_the_rebuild_of_logs() {
        let file: String = include_str!("../../migrations/0007_clustered_logs.sql")
            .lines()
            .filter(|l| !l.starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        let s = TableSchema::firehose("logs", true);
        let all: Vec<String> = columns::COLUMNS.iter().map(|c| c.to_string()).collect();
        let generated: String = s
            .rebuild(&all)
            .iter()
            .map(|sql| format!("{sql};"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace(
                columns::SOURCE_CHECK,
                "NOT NULL CHECK (source IN ('binding', 'rest', 'otlp', 'loki', 'tail', 'rpc'))",
            );
        assert_eq!(file.trim(), generated.trim());
    }

    #[test]
    fn the_generated_firehose_table_is_the_migrated_one() {
        let migrated = migrated(MIGRATIONS.len());
        let generated = Connection::open_in_memory().unwrap();
        generated.execute_batch(STATS_TABLE_DDL).unwrap();
        let s = TableSchema::firehose("logs", true);
        migrate(&generated, &s, None);
        assert_eq!(columns(&migrated, "logs"), columns(&generated, "logs"));
        // The table, its one index, the search index (with FTS5's own tables) and its triggers.
        let objects_now = objects(&migrated);
        assert!(
            objects_now.iter().any(|o| o.contains("WITHOUT ROWID")),
            "{objects_now:?}"
        );
        assert_eq!(indexes(&migrated, "logs").len(), 1, "{objects_now:?}");
        assert_eq!(objects_now, objects(&generated));
        // Migrating the migrated table changes nothing.
        migrate(&migrated, &s, None);
        assert_eq!(objects(&migrated), objects_now);
    }

    /// The old layout with rows, rebuilt: every row stays, search and counts see them, and the
    /// rebuilt table takes new rows through the same triggers.
    #[test]
    fn a_table_of_the_earlier_layout_is_rebuilt_with_its_rows() {
        let db = migrated(6);
        for (i, msg) in ["database timeout", "cache warmed", "timeout again"]
            .iter()
            .enumerate()
        {
            db.execute(
                "INSERT INTO logs (id, timestamp, received_at, app_id, level, message, request_id, \
                 source, shard) VALUES (?1, ?2, ?2, 'shop', 'INFO', ?3, 'req-' || ?2, 'rest', 's')",
                rusqlite::params![format!("id-{i}"), 86_400_000 + i as i64, msg],
            )
            .unwrap();
        }
        let s = TableSchema::firehose("logs", true);
        migrate(&db, &s, None);
        let ddl: String = db.query_row(&s.ddl_sql(), [], |r| r.get(0)).unwrap();
        assert!(is_clustered(&ddl), "{ddl}");
        let hits = |q: &str| -> i64 {
            db.query_row(
                "SELECT count(*) FROM logs_fts JOIN logs AS l ON l.app_id = 'shop' \
                 AND l.timestamp = logs_fts.ts AND l.seq = logs_fts.rowid WHERE logs_fts MATCH ?1",
                [q],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(hits("message : \"timeout\""), 2);
        assert_eq!(hits("request_id : \"req 86400001\""), 1);
        let stats: i64 = db
            .query_row("SELECT sum(count) FROM log_stats", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stats, 3);
        db.execute("DELETE FROM logs WHERE id = 'id-0'", [])
            .unwrap();
        assert_eq!(
            hits("message : \"timeout\""),
            1,
            "a deleted row leaves the index"
        );
        // A second migration finds the new layout and leaves it.
        migrate(&db, &s, None);
        assert_eq!(hits("message : \"timeout\""), 1);
    }

    /// A forwarded row of an earlier layout, with its `request.cf` facts in the row and no Host
    /// header, rebuilt: its facts move to their set (shared with another row of the same), and
    /// it reads back as it was, given no Host header.
    #[test]
    fn an_earlier_rows_request_cf_facts_and_headers_read_back_as_they_were() {
        let db = migrated(6);
        for (id, headers) in [
            ("f-1", r#"{"accept":"*/*"}"#),
            ("f-2", r#"{"host":"x.example"}"#),
        ] {
            db.execute(
                "INSERT INTO logs (id, timestamp, received_at, app_id, level, message, source, \
                 shard, url, path, colo, country, asn, headers) VALUES (?1, 5, 5, 'shop', \
                 'INFO', 'GET /', 'binding', 's', 'https://x.example/', '/', 'EWR', 'US', 13335, ?2)",
                rusqlite::params![id, headers],
            )
            .unwrap();
        }
        let s = TableSchema::firehose("logs", true);
        migrate(&db, &s, None);
        let sets: i64 = db
            .query_row("SELECT count(*) FROM logs_cf", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sets, 1);
        let read = |id: &str| -> serde_json::Value {
            let sql = crate::read::query::one_sql("logs");
            // As `GET /logs/{id}` binds them: these ids carry no time.
            let params = rusqlite::params![id, "shop", None::<i64>];
            let mut rows = crate::read::query::sqlite_rows(&db, &sql, params, &columns::COLUMNS);
            assert_eq!(rows.len(), 1, "{rows:?}");
            crate::read::query::present(rows.remove(0))
        };
        let one = read("f-1");
        assert_eq!(
            (&one["colo"], &one["country"], &one["asn"], &one["host"]),
            (
                &"EWR".into(),
                &"US".into(),
                &13335.into(),
                &serde_json::Value::Null
            )
        );
        assert_eq!(one["headers"], serde_json::json!({"accept": "*/*"}));
        assert_eq!(
            read("f-2")["headers"],
            serde_json::json!({"host": "x.example"})
        );
    }

    /// A database with the daily counts, the firehose's schema, and the DDL of a firehose whose
    /// CHECK takes only the first two sources (as an earlier release made it).
    fn firehose_taking_two_sources() -> (Connection, TableSchema, String) {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(STATS_TABLE_DDL).unwrap();
        let s = TableSchema::firehose("logs", true);
        let older = s.create_sql().replace(
            columns::SOURCE_CHECK,
            "NOT NULL CHECK (source IN ('binding', 'rest'))",
        );
        (db, s, older)
    }

    /// A firehose whose CHECK lists fewer sources than there are (made by an earlier release)
    /// is rebuilt with its rows, and then takes entries of every source.
    #[test]
    fn a_firehose_taking_fewer_sources_is_rebuilt_to_take_them_all() {
        let (db, s, older) = firehose_taking_two_sources();
        assert_ne!(older, s.create_sql());
        db.execute(&older, []).unwrap();
        db.execute(
            "INSERT INTO logs (id, timestamp, app_id, level, message, source, shard) \
             VALUES ('a', 1, 'shop', 'INFO', 'kept', 'rest', 's')",
            [],
        )
        .unwrap();
        migrate(&db, &s, None);
        db.execute(
            "INSERT INTO logs (id, timestamp, app_id, level, message, source, shard) \
             VALUES ('b', 2, 'shop', 'INFO', 'pushed', 'loki', 's')",
            [],
        )
        .unwrap();
        let n: i64 = db
            .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    /// Migration 0008 on a firehose with rows: every row stays, and the search index (kept, not
    /// made again) still finds them and takes new ones; a `health` entry can be stored.
    #[test]
    fn migration_0008_keeps_every_row_searchable() {
        let db = migrated(7);
        for (seq, msg) in [(1, "database timeout"), (2, "cache warmed")] {
            db.execute(
                "INSERT INTO logs (id, timestamp, app_id, level, message, source, shard, seq) \
                 VALUES (?1, ?2, 'shop', 'INFO', ?3, 'rest', 's', ?2)",
                rusqlite::params![format!("id-{seq}"), seq, msg],
            )
            .unwrap();
        }
        db.execute_batch(MIGRATIONS[7]).unwrap();
        let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM logs"), 2);
        let hits = "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'timeout'";
        assert_eq!(count(hits), 1);
        db.execute(
            "INSERT INTO logs (id, timestamp, app_id, level, message, source, shard, seq) \
             VALUES ('id-3', 3, 'shop', 'WARN', 'health check timeout', 'health', 's', 3)",
            [],
        )
        .unwrap();
        assert_eq!(
            count(hits),
            2,
            "the kept index takes new rows through its triggers"
        );
        assert_eq!(
            count("SELECT sum(count) FROM log_stats"),
            2,
            "counted again from the rows"
        );
    }

    /// A clustered firehose rebuilt only for its CHECK keeps its rows' headers as they are: a
    /// Host header left out because the URL says it stays left out (not marked as absent).
    #[test]
    fn a_clustered_firehose_rebuilt_for_its_check_keeps_its_headers() {
        let (db, s, older) = firehose_taking_two_sources();
        db.execute(&older, []).unwrap();
        db.execute(
            "INSERT INTO logs (id, timestamp, app_id, level, message, source, shard, url, headers) \
             VALUES ('a', 1, 'shop', 'INFO', 'm', 'binding', 's', 'https://shop.example/', \
             '{\"accept\":\"*/*\"}')",
            [],
        )
        .unwrap();
        migrate(&db, &s, None);
        let headers: String = db
            .query_row("SELECT headers FROM logs WHERE id = 'a'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(headers, r#"{"accept":"*/*"}"#);
    }

    /// Retention's prune of the `request.cf` sets: a set goes once no row can refer to it, one
    /// in use stays, and an empty firehose keeps none.
    #[test]
    fn only_the_request_cf_sets_no_row_refers_to_go() {
        let db = Connection::open_in_memory().unwrap();
        let s = TableSchema::firehose("logs", true);
        migrate(&db, &s, None);
        db.execute_batch(&format!(
            "INSERT INTO logs_cf (id, key, day) VALUES (1, 'old', 1), (2, 'today', 3), (3, 'b', 2);
             INSERT INTO logs (id, timestamp, app_id, level, message, source, shard, cf) VALUES
                 ('a', 3 * {DAY_MS}, 'shop', 'INFO', 'm', 'rest', 's', 2),
                 ('b', 2 * {DAY_MS} + 5, 'zoo', 'INFO', 'm', 'rest', 's', 3);"
        ))
        .unwrap();
        let left = || -> Vec<i64> {
            let mut st = db.prepare("SELECT id FROM logs_cf ORDER BY id").unwrap();
            st.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        db.execute(&s.cf_prune_sql(), []).unwrap();
        assert_eq!(left(), [2, 3], "day 1 is before the oldest row (day 2)");
        db.execute("DELETE FROM logs WHERE id = 'b'", []).unwrap();
        db.execute(&s.cf_prune_sql(), []).unwrap();
        assert_eq!(left(), [2]);
        db.execute("DELETE FROM logs", []).unwrap();
        db.execute(&s.cf_prune_sql(), []).unwrap();
        assert_eq!(left(), Vec::<i64>::new());
    }

    /// A route table as releases before the clustered layout made it (an `id` primary key and
    /// indexes on time and app), rebuilt: every row stays, the old indexes go.
    #[test]
    fn a_route_table_of_the_earlier_layout_is_rebuilt_with_its_rows() {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE errors (id TEXT PRIMARY KEY, timestamp INTEGER NOT NULL, \
             app_id TEXT NOT NULL, \"order\" TEXT);
             CREATE INDEX idx_errors_time ON errors (timestamp);
             CREATE INDEX idx_errors_app_time ON errors (app_id, timestamp);
             INSERT INTO errors VALUES ('a', 1, 'shop', 'x'), ('b', 2, 'shop', NULL);",
        )
        .unwrap();
        let s = route_like();
        migrate(&db, &s, None);
        let ddl: String = db.query_row(&s.ddl_sql(), [], |r| r.get(0)).unwrap();
        assert!(is_clustered(&ddl), "{ddl}");
        assert_eq!(indexes(&db, "errors").len(), 1, "only the named index");
        let rows: Vec<(String, i64, Option<String>)> = db
            .prepare("SELECT id, timestamp, \"order\" FROM errors ORDER BY timestamp")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [("a".into(), 1, Some("x".into())), ("b".into(), 2, None)]
        );
        let stats: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'log_stats'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stats, 0, "a route's rebuild leaves the daily counts alone");
    }

    #[test]
    fn the_full_text_index_follows_inserts_and_deletes() {
        let db = Connection::open_in_memory().unwrap();
        migrate(&db, &TableSchema::firehose("logs", true), None);
        let insert = |id: &str, seq: i64, message: &str| {
            db.execute(
                "INSERT INTO logs (id, timestamp, received_at, app_id, level, message, source, \
                 shard, seq) VALUES (?1, 1, 1, 'a', 'INFO', ?2, 'rest', 's', ?3)",
                rusqlite::params![id, message, seq],
            )
            .unwrap();
        };
        insert("1", 1, "database timeout after 5012 ms");
        insert("2", 2, "cache warmed");
        let hits = |q: &str| -> Vec<String> {
            let mut st = db
                .prepare(
                    "SELECT l.id FROM logs_fts JOIN logs AS l ON l.app_id = 'a' \
                     AND l.timestamp = logs_fts.ts AND l.seq = logs_fts.rowid \
                     WHERE logs_fts MATCH ?1 ORDER BY l.id",
                )
                .unwrap();
            st.query_map([q], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(hits("\"timeout\""), ["1"]);
        assert_eq!(hits("\"warm\"*"), ["2"]);
        db.execute("DELETE FROM logs WHERE id = '1'", []).unwrap();
        assert!(
            hits("\"timeout\"").is_empty(),
            "a deleted row leaves the index"
        );
    }

    #[test]
    fn search_off_stops_the_triggers_and_search_on_again_finds_what_the_index_holds() {
        let db = Connection::open_in_memory().unwrap();
        let insert = |id: &str, seq: Option<i64>| {
            db.execute(
                "INSERT INTO logs (id, timestamp, received_at, app_id, level, message, source, \
                 shard, seq) VALUES (?1, 1, 1, 'a', 'INFO', 'timeout', 'rest', 's', ?2)",
                rusqlite::params![id, seq],
            )
            .unwrap();
        };
        let hits = || -> i64 {
            db.query_row(
                "SELECT count(*) FROM logs_fts JOIN logs AS l ON l.timestamp = logs_fts.ts \
                 AND l.seq = logs_fts.rowid WHERE logs_fts MATCH 'timeout'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        migrate(&db, &TableSchema::firehose("logs", true), None);
        insert("1", Some(1));
        migrate(&db, &TableSchema::firehose("logs", false), None);
        let triggers: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(triggers, 0);
        insert("2", None);
        assert_eq!(hits(), 1, "a row stored without the index is not in it");
        migrate(&db, &TableSchema::firehose("logs", true), None);
        insert("3", Some(2));
        assert_eq!(hits(), 2);
        assert_ne!(
            TableSchema::firehose("logs", false).hash(),
            TableSchema::firehose("logs", true).hash()
        );
    }

    #[test]
    fn a_new_table_is_created_with_its_indexes() {
        let s = route_like();
        let m = s.migration(&[]);
        assert!(m[0].starts_with("CREATE TABLE IF NOT EXISTS \"errors\""));
        assert!(
            m[0].contains("\"order\" TEXT"),
            "keywords are quoted: {}",
            m[0]
        );
        assert!(m.iter().all(|x| !x.contains("ALTER")));
        let db = Connection::open_in_memory().unwrap();
        migrate(&db, &s, None);
        assert_eq!(names(&db, &s), vec!["id", "timestamp", "app_id", "order"]);
        assert_eq!(indexes(&db, "errors").len(), 1);
    }

    #[test]
    fn new_columns_are_added_and_rows_stay() {
        let db = Connection::open_in_memory().unwrap();
        let v1 = route_like();
        migrate(&db, &v1, None);
        db.execute("INSERT INTO errors VALUES ('a', 1, 'shop', 'x')", [])
            .unwrap();
        let mut v2 = v1.clone();
        v2.columns.push(ColumnDef {
            name: "user_id".into(),
            ty: SqlType::Integer,
            constraint: "",
        });
        let m = v2.migration(&names(&db, &v2));
        assert!(m.contains(&"ALTER TABLE \"errors\" ADD COLUMN \"user_id\" INTEGER".to_string()));
        migrate(&db, &v2, None);
        let row: (String, i64, String, Option<i64>) = db
            .query_row(
                "SELECT id, timestamp, \"order\", user_id FROM errors",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row, ("a".into(), 1, "x".into(), None));
    }

    #[test]
    fn migrating_twice_or_concurrently_is_harmless() {
        let db = Connection::open_in_memory().unwrap();
        let v1 = route_like();
        migrate(&db, &v1, None);
        let mut v2 = v1.clone();
        v2.columns.push(ColumnDef {
            name: "user_id".into(),
            ty: SqlType::Text,
            constraint: "",
        });
        // Two shards read the columns before either altered the table.
        let stale = names(&db, &v1);
        migrate(&db, &v2, Some(stale.clone()));
        migrate(&db, &v2, Some(stale));
        migrate(&db, &v2, None);
        assert_eq!(
            names(&db, &v2),
            vec!["id", "timestamp", "app_id", "order", "user_id"]
        );
    }

    #[test]
    fn columns_are_never_dropped() {
        let db = Connection::open_in_memory().unwrap();
        let v1 = route_like();
        migrate(&db, &v1, None);
        let mut v2 = v1.clone();
        v2.columns.pop();
        assert!(v2
            .migration(&names(&db, &v2))
            .iter()
            .all(|s| !s.contains("DROP")));
        migrate(&db, &v2, None);
        assert_eq!(names(&db, &v1).len(), 4);
    }

    #[test]
    fn the_hash_is_stable_and_changes_with_the_schema() {
        // Pinned: a changed hash makes every deployment migrate again (as the `health` source
        // does, on purpose: migration 0008).
        assert_eq!(
            TableSchema::firehose("logs", true).hash(),
            "d06196caef5c98e2"
        );
        assert_eq!(route_like().hash(), "e53fb5d59f3145d7");
        let mut other = route_like();
        other.columns[3].ty = SqlType::Integer;
        assert_ne!(other.hash(), route_like().hash());
        let mut renamed = route_like();
        renamed.table = "errors2".into();
        assert_ne!(renamed.hash(), route_like().hash());
        let mut indexed = route_like();
        indexed.indexes.clear();
        assert_ne!(indexed.hash(), route_like().hash());
    }

    #[test]
    fn table_names_are_checked_identifiers_and_not_reserved() {
        assert_eq!(table_name_error("errors"), None);
        assert!(table_name_error("log_tables").unwrap().contains("reserved"));
        assert!(table_name_error("sqlite_master")
            .unwrap()
            .contains("reserved"));
        assert!(table_name_error("_cf_kv").unwrap().contains("reserved"));
        assert!(table_name_error("x; DROP TABLE logs")
            .unwrap()
            .contains("not a table name"));
        assert!(table_name_error("Errors").is_some());
        for shadow in [
            "logs_fts",
            "logs_fts_data",
            "logs_fts_idx",
            "logs_fts_config",
            "logs_fts_docsize",
            "idx_logs_time",
            "logs_cf",
        ] {
            assert!(
                table_name_error(shadow).unwrap().contains("reserved"),
                "{shadow}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "not an identifier")]
    fn sql_is_never_built_from_an_unchecked_name() {
        let mut s = route_like();
        s.columns[3].name = "a\" TEXT); DROP TABLE logs; --".into();
        s.create_sql();
    }

    #[test]
    fn catalogue_types_cover_every_column() {
        assert_eq!(catalogue_type("asn"), Some(SqlType::Integer));
        assert_eq!(catalogue_type("timestamp"), Some(SqlType::Integer));
        assert_eq!(catalogue_type("message"), Some(SqlType::Text));
        assert_eq!(catalogue_type("nope"), None);
    }
}
