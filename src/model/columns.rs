//! The firehose's columns, in one table: each column's name, SQL type and constraint, and where
//! its value comes from. The row encoding (`entry`), the firehose DDL (`store::schema`), the
//! narrow insert for plain rows (`store::insert`) and the request-column range are all derived
//! from [`FIREHOSE_COLUMNS`]; a unit test holds `migrations/` to it.

/// A column's SQL type, as SQLite declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Text,
    Integer,
    Real,
}

impl SqlType {
    pub fn as_str(self) -> &'static str {
        match self {
            SqlType::Text => "TEXT",
            SqlType::Integer => "INTEGER",
            SqlType::Real => "REAL",
        }
    }

    pub fn parse(s: &str) -> Option<SqlType> {
        match s.to_ascii_uppercase().as_str() {
            "TEXT" => Some(SqlType::Text),
            "INTEGER" => Some(SqlType::Integer),
            "REAL" => Some(SqlType::Real),
            _ => None,
        }
    }
}

/// Which value of a [`crate::model::entry::LogEntry`] fills a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Timestamp,
    ReceivedAt,
    AppId,
    Level,
    Message,
    RequestId,
    Source,
    Shard,
    Method,
    Url,
    Host,
    Path,
    Query,
    UserAgent,
    Referer,
    ContentType,
    RayId,
    Colo,
    Country,
    City,
    Region,
    Continent,
    Asn,
    AsOrganization,
    Timezone,
    HttpProtocol,
    TlsVersion,
    TlsCipher,
    ClientIp,
    Headers,
    Data,
}

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Every entry has it.
    Entry,
    /// Only an entry with a request behind it (a forwarded request) fills it: a REST entry's row
    /// is null there, which is what makes its row *plain*.
    Request,
    /// Custom data (`X-Log-Data` or REST `context`), a JSON object.
    Custom,
}

/// One firehose column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub sql: SqlType,
    /// What follows the type in the DDL (`NOT NULL`, `CHECK (...)`); the key is the table's
    /// (`store::schema::KEY_COLUMNS`).
    pub constraint: &'static str,
    pub field: Field,
    pub origin: Origin,
}

const fn col(
    name: &'static str,
    sql: SqlType,
    constraint: &'static str,
    field: Field,
    origin: Origin,
) -> Column {
    Column {
        name,
        sql,
        constraint,
        field,
        origin,
    }
}

const LEVEL_CHECK: &str = "NOT NULL CHECK (level IN ('DEBUG', 'INFO', 'WARN', 'ERROR'))";
/// Every `entry::Source` (a unit test holds the list to it). A table made with a shorter list is
/// rebuilt (`store::schema::TableSchema::needs_rebuild`): SQLite cannot alter a CHECK.
pub const SOURCE_CHECK: &str =
    "NOT NULL CHECK (source IN ('binding', 'rest', 'otlp', 'loki', 'tail', 'rpc', 'health'))";

/// Every firehose column in row order.
pub const FIREHOSE_COLUMNS: [Column; 32] = {
    use Field as F;
    use Origin::{Custom, Entry, Request as Req};
    use SqlType::{Integer as I, Text as T};
    [
        col("id", T, "NOT NULL", F::Id, Entry),
        col("timestamp", I, "NOT NULL", F::Timestamp, Entry),
        // NULL when it is the entry's own time (`store::insert`).
        col("received_at", I, "", F::ReceivedAt, Entry),
        col("app_id", T, "NOT NULL", F::AppId, Entry),
        col("level", T, LEVEL_CHECK, F::Level, Entry),
        col("message", T, "NOT NULL", F::Message, Entry),
        col("request_id", T, "", F::RequestId, Entry),
        col("source", T, SOURCE_CHECK, F::Source, Entry),
        col("shard", T, "NOT NULL", F::Shard, Entry),
        col("method", T, "", F::Method, Req),
        col("url", T, "", F::Url, Req),
        col("host", T, "", F::Host, Req),
        col("path", T, "", F::Path, Req),
        col("query", T, "", F::Query, Req),
        col("user_agent", T, "", F::UserAgent, Req),
        col("referer", T, "", F::Referer, Req),
        col("content_type", T, "", F::ContentType, Req),
        col("ray_id", T, "", F::RayId, Req),
        col("colo", T, "", F::Colo, Req),
        col("country", T, "", F::Country, Req),
        col("city", T, "", F::City, Req),
        col("region", T, "", F::Region, Req),
        col("continent", T, "", F::Continent, Req),
        col("asn", I, "", F::Asn, Req),
        col("as_organization", T, "", F::AsOrganization, Req),
        col("timezone", T, "", F::Timezone, Req),
        col("http_protocol", T, "", F::HttpProtocol, Req),
        col("tls_version", T, "", F::TlsVersion, Req),
        col("tls_cipher", T, "", F::TlsCipher, Req),
        col("client_ip", T, "", F::ClientIp, Req),
        col("headers", T, "", F::Headers, Req),
        col("data", T, "", F::Data, Custom),
    ]
};

/// The column names in row order.
pub const COLUMNS: [&str; FIREHOSE_COLUMNS.len()] = {
    let mut out = [""; FIREHOSE_COLUMNS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = FIREHOSE_COLUMNS[i].name;
        i += 1;
    }
    out
};

/// Positions of the columns only a request fills ([`Origin::Request`]): one contiguous range,
/// so a plain row is its entry columns, a run of nulls, and its custom data.
pub const REQUEST_COLUMNS: std::ops::Range<usize> = {
    let mut start = 0;
    while !matches!(FIREHOSE_COLUMNS[start].origin, Origin::Request) {
        start += 1;
    }
    let mut end = start;
    while end < FIREHOSE_COLUMNS.len() && matches!(FIREHOSE_COLUMNS[end].origin, Origin::Request) {
        end += 1;
    }
    start..end
};

/// Where a row carries, after its columns, which of its request values the firehose leaves out
/// (`request_url::derived_flags`): not a column of any table.
pub const FLAGS_POSITION: usize = COLUMNS.len();

/// Positions of Cloudflare's facts about the connection (`request.cf`, `colo` to `tls_cipher`):
/// few distinct sets among many requests, so the firehose stores each set once, in its `_cf`
/// table, and a row refers to it (`store::schema::cf_table`). One contiguous range.
pub const CF_COLUMNS: std::ops::Range<usize> = {
    let mut start = 0;
    while !matches!(FIREHOSE_COLUMNS[start].field, Field::Colo) {
        start += 1;
    }
    let mut end = start;
    while !matches!(FIREHOSE_COLUMNS[end].field, Field::TlsCipher) {
        end += 1;
    }
    start..end + 1
};

/// The positions of the columns a *plain* row can fill: every column outside
/// [`REQUEST_COLUMNS`]. Flushing such rows with a statement that reads only these values
/// instead of all of them is what makes REST batches cheap to insert.
pub fn plain_positions() -> Vec<usize> {
    (0..COLUMNS.len())
        .filter(|i| !REQUEST_COLUMNS.contains(i))
        .collect()
}

/// The firehose column called `name`.
pub fn column(name: &str) -> Option<&'static Column> {
    FIREHOSE_COLUMNS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_check_lists_every_source() {
        let names: Vec<String> = crate::model::entry::Source::ALL
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert!(
            SOURCE_CHECK.contains(&format!("({})", names.join(", "))),
            "{SOURCE_CHECK}"
        );
    }

    #[test]
    fn cf_columns_are_the_facts_of_request_cf() {
        let names: Vec<&str> = COLUMNS[CF_COLUMNS].to_vec();
        assert_eq!(names.first(), Some(&"colo"));
        assert_eq!(names.last(), Some(&"tls_cipher"));
        assert_eq!(names.len(), 11);
        // Inside the request columns: a plain row has none of them.
        const { assert!(CF_COLUMNS.start >= REQUEST_COLUMNS.start) };
        const { assert!(CF_COLUMNS.end <= REQUEST_COLUMNS.end) };
    }

    #[test]
    fn request_columns_are_exactly_the_ones_a_request_fills() {
        for (i, c) in FIREHOSE_COLUMNS.iter().enumerate() {
            assert_eq!(
                REQUEST_COLUMNS.contains(&i),
                c.origin == Origin::Request,
                "{}",
                c.name
            );
        }
        assert_eq!(plain_positions().len(), 10);
    }

    #[test]
    fn names_and_fields_are_unique() {
        for (i, a) in FIREHOSE_COLUMNS.iter().enumerate() {
            for b in &FIREHOSE_COLUMNS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.field, b.field);
            }
        }
    }

    /// The migrations create the firehose this table describes: the same columns in the same
    /// order, with the same types, NOT NULL and primary key.
    #[test]
    fn the_migrations_create_the_firehose_these_columns_describe() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let mut files: Vec<_> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "sql"))
                .collect();
        files.sort();
        for f in &files {
            db.execute_batch(&std::fs::read_to_string(f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
        let mut stmt = db
            .prepare(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('logs') ORDER BY cid",
            )
            .unwrap();
        let found: Vec<(String, String, bool, bool)> = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? > 0))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        // The row's columns but the `request.cf` facts, in order, with the key
        // (`store::schema::KEY_COLUMNS`), then the table's own `seq` and `cf`.
        let key = ["app_id", "timestamp", "id"];
        let mut expected: Vec<(String, String, bool, bool)> = FIREHOSE_COLUMNS
            .iter()
            .enumerate()
            .filter(|(i, _)| !CF_COLUMNS.contains(i))
            .map(|(_, c)| {
                (
                    c.name.to_string(),
                    c.sql.as_str().to_string(),
                    c.constraint.contains("NOT NULL"),
                    key.contains(&c.name),
                )
            })
            .collect();
        expected.push(("seq".into(), "INTEGER".into(), false, false));
        expected.push(("cf".into(), "INTEGER".into(), false, false));
        assert_eq!(found, expected);
    }
}
