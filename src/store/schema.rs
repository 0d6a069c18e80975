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
//! Every name spliced into SQL is a checked identifier (`model::sql::is_identifier`) and is quoted
//! besides, so a column called `order` works. Does not run SQL (`tables` does).

use crate::model::columns::{self, SqlType, FIREHOSE_COLUMNS};
use crate::model::sql::{is_identifier, quoted};

/// Daily counts per app and level (`migrations/0005_log_stats.sql`), kept by the firehose's
/// triggers (see [`TableSchema::firehose_sql`]).
pub const STATS_TABLE: &str = "log_stats";
/// A stats day is the UTC day of the entry's own time: `timestamp / DAY_MS`.
pub const DAY_MS: i64 = 86_400_000;

/// Metadata table: one row per log table with its recorded schema hash and pruning history.
pub const META_TABLE: &str = "log_tables";

/// Tables the logger owns besides log tables; no route may use these names.
pub const RESERVED_TABLES: [&str; 6] = [
    "shards",
    META_TABLE,
    STATS_TABLE,
    crate::read::health::URLS_TABLE,
    crate::read::health::CHECKS_TABLE,
    "d1_migrations",
];

/// The SQL type of a firehose column.
pub fn catalogue_type(column: &str) -> Option<SqlType> {
    columns::column(column).map(|c| c.sql)
}

/// Columns every route table has, first, whatever the route lists: the key that makes flushes
/// idempotent, the time retention prunes by, and the app a manual prune selects.
pub const ROUTE_KEY_COLUMNS: [&str; 3] = ["id", "timestamp", "app_id"];

/// One column of a log table: its name, SQL type and constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: String,
    pub ty: SqlType,
    /// Constraints written at CREATE TABLE time ("" for none).
    pub constraint: &'static str,
}

/// One index of a log table, optionally partial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    /// A partial index's condition (fixed text, never from configuration).
    pub partial: Option<&'static str>,
}

/// A log table as it should exist: columns, indexes, and (for the firehose) its search index and
/// stats trigger. Its hash says when a migration is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub table: String,
    pub columns: Vec<ColumnDef>,
    pub indexes: Vec<IndexDef>,
    /// The firehose's own objects: a full-text index (SQLite FTS5) on `message` kept in step
    /// by triggers (for `GET /logs?search=`), and the trigger that takes deleted rows out of the
    /// daily counts (`STATS_TABLE`).
    pub firehose: bool,
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

impl TableSchema {
    /// The firehose table: every logged column, with the constraints of `migrations/0001`.
    pub fn firehose(table: &str) -> TableSchema {
        let columns = FIREHOSE_COLUMNS
            .iter()
            .map(|c| ColumnDef {
                name: c.name.to_string(),
                ty: c.sql,
                constraint: c.constraint,
            })
            .collect();
        let idx = |suffix: &str, cols: &[&str], partial| IndexDef {
            name: index_name(table, suffix),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            partial,
        };
        TableSchema {
            table: table.to_string(),
            columns,
            // Queries are per app, newest first, with a keyset on (timestamp, id): the first two
            // indexes serve them without and with a level filter.
            indexes: vec![
                idx("app_time_id", &["app_id", "timestamp", "id"], None),
                idx(
                    "app_level_time_id",
                    &["app_id", "level", "timestamp", "id"],
                    None,
                ),
                idx(
                    "request_id",
                    &["request_id"],
                    Some("request_id IS NOT NULL"),
                ),
                idx("time", &["timestamp"], None),
            ],
            firehose: true,
        }
    }

    /// The full-text index of the messages and the triggers that keep it in step with inserts
    /// and deletes (retention, prunes), and the stats trigger; empty but for the firehose
    /// ([`TableSchema::firehose`]). The index is an external content table: it stores the index
    /// only, the text stays in the log table; without column sizes (used for ranking only).
    pub fn firehose_sql(&self) -> Vec<String> {
        if !self.firehose {
            return Vec::new();
        }
        let (t, fts) = (quoted(&self.table), quoted(&fts_table(&self.table)));
        let trigger = |suffix: &str| quoted(&format!("{}_fts_{suffix}", self.table));
        vec![
            format!(
                "CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(message, content={t}, columnsize=0, \
                 content_rowid='rowid')"
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER INSERT ON {t} BEGIN \
                 INSERT INTO {fts} (rowid, message) VALUES (new.rowid, new.message); END",
                trigger("ai")
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {t} BEGIN \
                 INSERT INTO {fts} ({fts}, rowid, message) VALUES ('delete', old.rowid, old.message); END",
                trigger("ad")
            ),
            // The daily counts move with every row stored or deleted, inside the statement that
            // stores or deletes it: a flush's insert (whose conflicting rows, already stored, fire
            // nothing), a retention chunk, a prune. No extra statement, and always equal to the rows.
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER INSERT ON {t} BEGIN \
                 INSERT INTO {stats} (app_id, day, level, count) \
                 VALUES (new.app_id, new.timestamp / {DAY_MS}, new.level, 1) \
                 ON CONFLICT (app_id, day, level) DO UPDATE SET count = count + 1; END",
                quoted(&format!("{}_stats_ai", self.table)),
                stats = quoted(STATS_TABLE),
            ),
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} AFTER DELETE ON {t} BEGIN \
                 UPDATE {stats} SET count = count - 1 WHERE app_id = old.app_id \
                 AND day = old.timestamp / {DAY_MS} AND level = old.level; END",
                quoted(&format!("{}_stats_ad", self.table)),
                stats = quoted(STATS_TABLE),
            ),
        ]
    }

    /// The schema's identity: table, columns with types and constraints, and indexes, in order.
    /// 16 hex digits of SHA-256 over a canonical text, so it is stable across releases.
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
        for i in &self.indexes {
            canonical.push_str(&format!(
                "index {} {} {}\n",
                i.name,
                i.columns.join(","),
                i.partial.unwrap_or("")
            ));
        }
        if self.firehose {
            canonical.push_str("full_text message\nstats\n");
        }
        let digest = Sha256::digest(canonical.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn create_sql(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                format!("{} {} {}", quoted(&c.name), c.ty.as_str(), c.constraint)
                    .trim_end()
                    .to_string()
            })
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            quoted(&self.table),
            cols.join(", ")
        )
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
                    "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
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

    /// Statements that bring the table from `existing` columns (empty: no table yet) to this
    /// schema. Existing columns are kept whatever their type; missing ones are added.
    pub fn migration(&self, existing: &[String]) -> Vec<String> {
        let mut out = vec![self.create_sql()];
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

    /// Column names, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
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
    if table.ends_with("_fts") || table.contains("_fts_") || table.starts_with("idx_") {
        return Some(format!(
            "{table:?} is reserved: names ending in _fts, containing _fts_ or starting with idx_ \
             are the logger's search indexes and indexes"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn route_like() -> TableSchema {
        TableSchema {
            table: "errors".into(),
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    ty: SqlType::Text,
                    constraint: "PRIMARY KEY",
                },
                ColumnDef {
                    name: "timestamp".into(),
                    ty: SqlType::Integer,
                    constraint: "NOT NULL",
                },
                ColumnDef {
                    name: "order".into(),
                    ty: SqlType::Text,
                    constraint: "",
                },
            ],
            firehose: false,
            indexes: vec![IndexDef {
                name: index_name("errors", "time"),
                columns: vec!["timestamp".into()],
                partial: None,
            }],
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

    /// What `tables::migrate` does, on SQLite: read columns, run each statement, tolerate benign.
    fn migrate(db: &Connection, s: &TableSchema, existing: Option<Vec<String>>) {
        let existing = existing.unwrap_or_else(|| names(db, s));
        for sql in s.migration(&existing) {
            if let Err(e) = db.execute(&sql, []) {
                assert!(is_benign(&e.to_string()), "{sql}: {e}");
            }
        }
    }

    #[test]
    fn the_generated_firehose_table_is_the_migrated_one() {
        let migrated = Connection::open_in_memory().unwrap();
        migrated
            .execute_batch(include_str!("../../migrations/0001_logs.sql"))
            .unwrap();
        migrated
            .execute_batch(include_str!("../../migrations/0003_log_tables.sql"))
            .unwrap();
        migrated
            .execute_batch(include_str!("../../migrations/0004_query.sql"))
            .unwrap();
        migrated
            .execute_batch(include_str!("../../migrations/0005_log_stats.sql"))
            .unwrap();
        let generated = Connection::open_in_memory().unwrap();
        let s = TableSchema::firehose("logs");
        migrate(&generated, &s, None);
        assert_eq!(columns(&migrated, "logs"), columns(&generated, "logs"));
        let norm = |v: Vec<String>| -> Vec<String> {
            v.iter()
                .map(|s| {
                    s.replace('"', "")
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        assert_eq!(
            norm(indexes(&migrated, "logs")),
            norm(indexes(&generated, "logs"))
        );
        // The full-text table and its triggers, as written by the migration.
        let objects = |db: &Connection| -> Vec<String> {
            let mut st = db
                .prepare(
                    "SELECT type || ' ' || name || ' ' || sql FROM sqlite_master \
                     WHERE (name LIKE 'logs_fts%' OR name LIKE 'logs_stats%') AND sql IS NOT NULL \
                     ORDER BY name",
                )
                .unwrap();
            let rows: Vec<String> = st
                .query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            norm(rows)
        };
        // The FTS table, its two triggers, the three tables FTS5 keeps the index in, and the
        // two stats triggers.
        assert_eq!(objects(&migrated).len(), 8, "{:?}", objects(&migrated));
        assert_eq!(objects(&migrated), objects(&generated));
        // Migrating the migrated table changes nothing.
        migrate(&migrated, &s, None);
        assert_eq!(columns(&migrated, "logs"), columns(&generated, "logs"));
    }

    #[test]
    fn the_full_text_index_follows_inserts_and_deletes() {
        let db = Connection::open_in_memory().unwrap();
        migrate(&db, &TableSchema::firehose("logs"), None);
        db.execute_batch(include_str!("../../migrations/0005_log_stats.sql"))
            .unwrap();
        let insert = |id: &str, message: &str| {
            db.execute(
                "INSERT INTO logs (id, timestamp, received_at, app_id, level, message, source, shard) \
                 VALUES (?1, 1, 1, 'a', 'INFO', ?2, 'rest', 's')",
                [id, message],
            )
            .unwrap();
        };
        insert("1", "database timeout after 5012 ms");
        insert("2", "cache warmed");
        let hits = |q: &str| -> Vec<String> {
            let mut st = db
                .prepare(
                    "SELECT id FROM logs WHERE rowid IN \
                     (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?1) ORDER BY id",
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
        assert_eq!(names(&db, &s), vec!["id", "timestamp", "order"]);
        assert_eq!(indexes(&db, "errors").len(), 1);
    }

    #[test]
    fn new_columns_are_added_and_rows_stay() {
        let db = Connection::open_in_memory().unwrap();
        let v1 = route_like();
        migrate(&db, &v1, None);
        db.execute("INSERT INTO errors VALUES ('a', 1, 'x')", [])
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
            .query_row("SELECT * FROM errors", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
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
        assert_eq!(names(&db, &v2), vec!["id", "timestamp", "order", "user_id"]);
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
        assert_eq!(names(&db, &v1).len(), 3);
    }

    #[test]
    fn the_hash_is_stable_and_changes_with_the_schema() {
        // Pinned: a changed hash would make every deployment migrate again.
        assert_eq!(TableSchema::firehose("logs").hash(), "6fe4b82c61b45b85");
        assert_eq!(route_like().hash(), "0484820d876b250c");
        let mut other = route_like();
        other.columns[2].ty = SqlType::Integer;
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
        s.columns[2].name = "a\" TEXT); DROP TABLE logs; --".into();
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
