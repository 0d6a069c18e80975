//! SQL for flushing buffered rows into D1, as few statements as D1's limits allow.
//!
//! Each statement is one `INSERT ... SELECT ... FROM json_each(?1)` whose single bound
//! parameter is a JSON array of rows. That sidesteps D1's 100-bound-parameters-per-statement limit
//! (a firehose row has 32 columns), keeps the SQL text far below D1's 100 KB statement limit, and carries
//! millisecond timestamps inside JSON, because `worker`'s `D1Type::Integer` is only 32-bit.
//! D1 refuses a bound string of about 2 MB (`SQLITE_TOOBIG`), so rows are chunked by bytes.
//! `ON CONFLICT DO NOTHING` (the key, and the `named` index of client-named rows) makes a retried
//! flush harmless: a row is never duplicated. (Not `INSERT OR IGNORE`: that would also skip rows
//! that break a NOT NULL or CHECK constraint, silently losing them; here such a row fails the
//! statement and is isolated as poison.)
//!
//! The daily counts move with one grouped upsert per firehose statement ([`stats_sql`]), run just
//! before the insert in the same transaction: it counts the rows of the chunk that are not stored
//! yet, which are exactly the ones the insert will store, so counts stay equal to the rows through
//! retried and partly stored flushes, at a row written per (app, day, level) instead of per entry.
//!
//! Does not talk to D1; the LogBatcher runs what this builds.

use crate::model::columns::{CF_COLUMNS, COLUMNS, FLAGS_POSITION};
use crate::model::id::{locates_row, ID_ELSEWHERE_SQL};
use crate::model::request_url::{DERIVED_HOST_HEADER, DERIVED_PARTS, NO_HOST_HEADER};
use crate::model::sql::quoted;
use crate::store::schema::{
    cf_key_sql, cf_table, fts_table, CF_COLUMN, DAY_MS, SEQ_COLUMN, STATS_TABLE,
};
use std::borrow::Cow;

/// Upper bound of one statement's JSON parameter. D1 fails at about 2 MB; one REST body is at most
/// `MAX_BODY_BYTES` (1 MiB by default), so even a single maximal row fits.
pub const MAX_PARAM_BYTES: usize = 1_500_000;

/// How a statement reads the values of each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extract {
    /// Each row is converted to JSONB once (a materialized CTE) and its values read from that:
    /// about 3x faster, because `value ->> i` on JSON text parses the row again for every column.
    Jsonb,
    /// `value ->> i` on the JSON text: for a SQLite without JSONB (before 3.45).
    Text,
}

/// Whether a D1 error means the database lacks the JSONB functions (use [`Extract::Text`]).
pub fn lacks_jsonb(error: &str) -> bool {
    error.contains("no such function: jsonb")
}

/// The insert statement for `table` (a route's), expanding a JSON array of rows whose values
/// are in `columns` order. Names are checked identifiers, and quoted (a route column may be a
/// keyword).
pub fn insert_sql(table: &str, columns: &[&str], extract: Extract) -> String {
    let (source, _) = sources(extract);
    let values = (0..columns.len())
        .map(|i| format!("{source} ->> {i}"))
        .collect();
    statement(
        table,
        columns.iter().map(|c| quoted(c)).collect(),
        values,
        extract,
    )
}

/// The value expression and the row-number expression of each extract form.
fn sources(extract: Extract) -> (&'static str, &'static str) {
    match extract {
        Extract::Jsonb => ("v", "k"),
        Extract::Text => ("value", "key"),
    }
}

/// The `WITH` clause and the `FROM` of a statement over the rows of `?1` (see [`Extract`]).
fn rows_from(extract: Extract) -> (&'static str, &'static str) {
    match extract {
        Extract::Jsonb => (
            "WITH r AS MATERIALIZED (SELECT key AS k, jsonb(value) AS v FROM json_each(?1)) ",
            "r",
        ),
        Extract::Text => ("", "json_each(?1)"),
    }
}

fn statement(table: &str, cols: Vec<String>, values: Vec<String>, extract: Extract) -> String {
    let (with, from) = rows_from(extract);
    // `WHERE true`: SQLite needs a WHERE before an upsert clause on INSERT ... SELECT.
    format!(
        "{with}INSERT INTO {} ({}) SELECT {} FROM {from} WHERE true ON CONFLICT DO NOTHING",
        quoted(table),
        cols.join(", "),
        values.join(", ")
    )
}

/// The key of a row's set of `request.cf` facts (`schema::cf_table`), from its values.
fn cf_key(source: &str) -> String {
    let facts: Vec<String> = CF_COLUMNS.map(|i| format!("{source} ->> {i}")).collect();
    cf_key_sql(&facts)
}

/// The upsert of the `request.cf` sets of a chunk of firehose rows into `schema::cf_table`,
/// run before the chunk's insert (which refers to them) in the same transaction: a new set is
/// one row written; a known one is written only when its latest day moves on (once a day),
/// which keeps it from retention's prune while rows refer to it. Only for chunks with request
/// rows (a plain row has no facts).
pub fn cf_sql(table: &str, extract: Extract) -> String {
    let (source, _) = sources(extract);
    let (with, from) = rows_from(extract);
    let facts: Vec<String> = CF_COLUMNS.map(|i| format!("{source} ->> {i}")).collect();
    let names: Vec<String> = CF_COLUMNS.map(|i| quoted(COLUMNS[i])).collect();
    format!(
        "{with}INSERT INTO {} (key, day, {}) SELECT {}, max(({source} ->> 1) / {DAY_MS}), {} \
         FROM {from} WHERE coalesce({}) IS NOT NULL GROUP BY 1 \
         ON CONFLICT (key) DO UPDATE SET day = excluded.day WHERE excluded.day > day",
        quoted(&cf_table(table)),
        names.join(", "),
        cf_key(source),
        facts.join(", "),
        facts.join(", ")
    )
}

/// A firehose insert of the row values at `positions` (`columns::COLUMNS` order), every other
/// column left NULL: each value read costs D1 a function call and a walk along the row, so a
/// row whose other values are all null is cheaper to write with fewer (`plain_insert_sql`).
/// What differs from a route's insert, each a few bytes a row that `read::query::present` gives
/// back: `received_at` is stored only when it is not the entry's own time (an entry sent
/// without a time has both the same); host, path, query and the `Host` header only when the URL
/// does not say them (`model::request_url`); the `request.cf` facts as a reference to their
/// set (`cf_sql` stores the sets first). And with `seq` (a search index) each row gets its
/// search-index rowid: one past the index's highest, plus its place in the array (D1 runs one
/// statement at a time, so no two rows get the same).
fn firehose_insert(table: &str, positions: &[usize], extract: Extract, seq: bool) -> String {
    let (source, key) = sources(extract);
    let at = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap_or(0);
    let timestamp = at("timestamp");
    let flags = format!("{source} ->> {FLAGS_POSITION}");
    let stored: Vec<usize> = positions
        .iter()
        .copied()
        .filter(|i| !CF_COLUMNS.contains(i))
        .collect();
    let mut cols: Vec<String> = stored.iter().map(|i| quoted(COLUMNS[*i])).collect();
    let mut values: Vec<String> = stored
        .iter()
        .map(|&i| {
            let v = format!("{source} ->> {i}");
            match COLUMNS[i] {
                "received_at" if positions.contains(&timestamp) => {
                    format!("nullif({v}, {source} ->> {timestamp})")
                }
                // What the URL gives back is left out (`model::request_url`).
                "host" | "path" | "query" => {
                    format!("CASE WHEN {flags} & {DERIVED_PARTS} THEN NULL ELSE {v} END")
                }
                "headers" => format!(
                    "CASE {flags} & {} WHEN {DERIVED_HOST_HEADER} THEN json_remove({v}, '$.host') \
                     WHEN {NO_HOST_HEADER} THEN json_set({v}, '$.host', NULL) ELSE {v} END",
                    DERIVED_HOST_HEADER | NO_HOST_HEADER
                ),
                _ => v,
            }
        })
        .collect();
    if positions.iter().any(|i| CF_COLUMNS.contains(i)) {
        cols.push(quoted(CF_COLUMN));
        values.push(format!(
            "(SELECT id FROM {} WHERE key = {})",
            quoted(&cf_table(table)),
            cf_key(source)
        ));
    }
    if seq {
        cols.push(quoted(SEQ_COLUMN));
        values.push(format!(
            "coalesce((SELECT rowid FROM {} ORDER BY rowid DESC LIMIT 1), 0) + 1 + {key}",
            quoted(&fts_table(table))
        ));
    }
    statement(table, cols, values, extract)
}

/// The firehose insert for plain rows (see `columns::plain_positions`): the 10 columns they fill.
pub fn plain_insert_sql(table: &str, extract: Extract, seq: bool) -> String {
    firehose_insert(
        table,
        &crate::model::columns::plain_positions(),
        extract,
        seq,
    )
}

/// The firehose insert for every column.
pub fn full_insert_sql(table: &str, extract: Extract, seq: bool) -> String {
    let positions: Vec<usize> = (0..COLUMNS.len()).collect();
    firehose_insert(table, &positions, extract, seq)
}

/// The grouped upsert of the daily counts for one firehose insert, bound to the two parameters
/// of [`stats_keys`] of the same rows. A key counts when its row is not stored yet: not under the
/// key, and, for a row whose id does not locate it, not under its id either (a client retry that
/// came with another time is the same entry, and the insert will skip it).
///
/// Counted group by group (`?1`), each a day's rows of one app and level: a group of located rows
/// whose app has no row at all in the group's time range counts whole, from one range probe of
/// the key; that is the common flush (fresh rows, timed at their request). Only another group
/// looks up its keys (`?2`, "timestamp id" texts, one array per group) one by one. A key is text
/// taken apart with `instr`/`substr`, not a JSON array read with `->>`: SQLite parses a JSON text
/// again at every `->>` site, which made the count cost a third of the insert itself.
pub fn stats_sql(table: &str) -> String {
    let t = quoted(table);
    let ts = "CAST(substr(r.value, 1, instr(r.value, ' ') - 1) AS INTEGER)";
    let id = "substr(r.value, instr(r.value, ' ') + 1)";
    format!(
        "INSERT INTO {} (app_id, day, level, count) \
         SELECT app, day, level, n FROM (SELECT g.app, g.day, g.level, \
           CASE WHEN g.located AND NOT EXISTS (SELECT 1 FROM {t} WHERE app_id = g.app \
               AND timestamp BETWEEN g.tmin AND g.tmax) THEN g.n \
           ELSE (SELECT count(*) FROM json_each(?2, '$[' || g.i || ']') AS r \
             WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE app_id = g.app AND timestamp = {ts} \
                 AND id = {id}) \
             AND (g.located OR NOT EXISTS (SELECT 1 FROM {t} WHERE app_id = g.app \
                 AND id = {id} AND {ID_ELSEWHERE_SQL}))) \
           END AS n \
           FROM (SELECT key AS i, value ->> 0 AS app, value ->> 1 AS day, value ->> 2 AS level, \
             value ->> 3 AS located, value ->> 4 AS n, value ->> 5 AS tmin, value ->> 6 AS tmax \
             FROM json_each(?1)) AS g) \
         WHERE n > 0 \
         ON CONFLICT (app_id, day, level) DO UPDATE SET count = count + excluded.count",
        quoted(STATS_TABLE)
    )
}

/// A firehose row's leading values (`columns::COLUMNS` order: id, timestamp, received_at,
/// app_id, level, ...), as [`stats_keys`] needs them.
struct Lead<'a> {
    id: Cow<'a, str>,
    timestamp: i64,
    app_id: Cow<'a, str>,
    level: Cow<'a, str>,
}

/// The leading values read straight from the row's text, without walking the rest of it: ids,
/// app ids and levels are plain strings (no escapes), the times integers. `None` when the text
/// is not so plain; [`parse_lead`] then reads it as JSON.
fn scan_lead(row: &str) -> Option<Lead<'_>> {
    // Byte by byte in one pass, without `str::find`'s set-up per call: under callgrind the
    // scan fell from about 1,700 to 1,000 instructions a row (this runs for every row of every
    // flush).
    // Every delimiter is ASCII, so each slice taken ends on a character boundary.
    let b = row.as_bytes();
    let mut at = 0;
    let expect =
        |at: &mut usize, c: u8| -> Option<()> { (b.get(*at) == Some(&c)).then(|| *at += 1) };
    let string = |at: &mut usize| -> Option<&str> {
        let start = *at;
        let len = b
            .get(start..)?
            .iter()
            .position(|c| *c == b'"' || *c == b'\\')?;
        *at = start + len;
        expect(at, b'"')?;
        expect(at, b',')?;
        Some(&row[start..start + len])
    };
    let token = |at: &mut usize| -> Option<&str> {
        let start = *at;
        let len = b.get(start..)?.iter().position(|c| *c == b',')?;
        *at = start + len + 1;
        Some(&row[start..start + len])
    };
    expect(&mut at, b'[')?;
    expect(&mut at, b'"')?;
    // The common id, a UUID's 36 hex digits and hyphens, holds no quote or backslash.
    let uuid_like = |id: &&str| id.bytes().all(|c| c.is_ascii_hexdigit() | (c == b'-'));
    let id = match row
        .get(2..38)
        .filter(|id| b.get(38) == Some(&b'"') && uuid_like(id))
    {
        Some(id) => {
            at = 39;
            expect(&mut at, b',')?;
            id
        }
        None => string(&mut at)?,
    };
    let timestamp = token(&mut at)?;
    let _received = token(&mut at)?;
    expect(&mut at, b'"')?;
    let app_id = string(&mut at)?;
    expect(&mut at, b'"')?;
    let level = string(&mut at)?;
    Some(Lead {
        id: Cow::Borrowed(id),
        timestamp: timestamp.parse().ok()?,
        app_id: Cow::Borrowed(app_id),
        level: Cow::Borrowed(level),
    })
}

/// The leading values of any row, read as JSON.
fn parse_lead(row: &str) -> Option<Lead<'static>> {
    let v: Vec<serde_json::Value> = serde_json::from_str(row).ok()?;
    let text = |i: usize| v.get(i)?.as_str().map(|s| Cow::Owned(s.to_string()));
    Some(Lead {
        id: text(0)?,
        timestamp: v.get(1)?.as_i64()?,
        app_id: text(3)?,
        level: text(4)?,
    })
}

/// The two parameters of [`stats_sql`] for a chunk of firehose rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsKeys {
    /// `[[app_id, day, level, located, entries, first timestamp, last timestamp], ...]`: one per
    /// app, day, level and whether the group's ids locate their rows (`model::id::locates_row`).
    pub groups: String,
    /// `[["timestamp id", ...], ...]`: each group's keys, in the same order.
    pub keys: String,
}

/// The parameters of [`stats_sql`] for firehose rows: each entry once, as the insert stores it
/// (the first of two rows with the same key, or with the same id when it does not locate the
/// row), grouped. A row that does not parse is left out: the insert then fails on it and it is
/// isolated as poison, so it is never counted either. (Run on every flush: the common row is
/// read only as far as its level.)
pub fn stats_keys<S: AsRef<str>>(rows: &[S]) -> StatsKeys {
    let leads: Vec<Lead<'_>> = rows
        .iter()
        .filter_map(|r| scan_lead(r.as_ref()).or_else(|| parse_lead(r.as_ref())))
        .collect();
    let groups = group_leads(&leads);
    let mut out = StatsKeys {
        groups: String::with_capacity(groups.len() * 80 + 2),
        keys: String::with_capacity(leads.len() * 56 + groups.len() * 3 + 2),
    };
    out.groups.push('[');
    out.keys.push('[');
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.groups.push(',');
            out.keys.push(',');
        }
        push_group(&mut out.groups, g);
        push_keys(&mut out.keys, g);
    }
    out.groups.push(']');
    out.keys.push(']');
    out
}

type Quick = std::hash::BuildHasherDefault<KeyHasher>;

/// The entries of one (app, day, level, located) group of a flush.
struct Group<'a> {
    app: &'a Cow<'a, str>,
    day: i64,
    level: &'a Cow<'a, str>,
    located: bool,
    times: (i64, i64),
    keys: Vec<(i64, &'a Cow<'a, str>)>,
}

/// Each entry once, in its group, groups in the order they first appear.
fn group_leads<'a>(leads: &'a [Lead<'a>]) -> Vec<Group<'a>> {
    use std::collections::{HashMap, HashSet};
    let mut seen: HashSet<(&str, Option<i64>, &str), Quick> =
        HashSet::with_capacity_and_hasher(leads.len(), Quick::default());
    let mut index: HashMap<(&str, i64, &str, bool), usize, Quick> = HashMap::default();
    let mut groups: Vec<Group<'_>> = Vec::new();
    for l in leads {
        let located = locates_row(&l.id, l.timestamp);
        // A located row is the same entry only with the same time; another is the same by id.
        if !seen.insert((&l.app_id, located.then_some(l.timestamp), &l.id)) {
            continue;
        }
        // The day as SQL's integer division has it (toward zero), as every read of it does.
        let day = l.timestamp / DAY_MS;
        let at = *index
            .entry((&l.app_id, day, &l.level, located))
            .or_insert_with(|| {
                groups.push(Group {
                    app: &l.app_id,
                    day,
                    level: &l.level,
                    located,
                    times: (l.timestamp, l.timestamp),
                    keys: Vec::new(),
                });
                groups.len() - 1
            });
        let g = &mut groups[at];
        g.times = (g.times.0.min(l.timestamp), g.times.1.max(l.timestamp));
        g.keys.push((l.timestamp, &l.id));
    }
    groups
}

/// A JSON string: scanned values (borrowed) hold no quote or backslash and are written as they
/// are; parsed ones are escaped.
// The `Cow`'s variant is the point: it says whether the text needs escaping.
#[allow(clippy::ptr_arg)]
fn push_text(out: &mut String, v: &Cow<'_, str>) {
    match v {
        Cow::Borrowed(plain) => {
            out.push('"');
            out.push_str(plain);
            out.push('"');
        }
        Cow::Owned(any) => out.push_str(&serde_json::Value::from(any.as_str()).to_string()),
    }
}

/// `[app_id, day, level, located, entries, first timestamp, last timestamp]`.
fn push_group(o: &mut String, g: &Group<'_>) {
    o.push('[');
    push_text(o, g.app);
    o.push(',');
    push_int(o, g.day);
    o.push(',');
    push_text(o, g.level);
    o.push_str(if g.located { ",true," } else { ",false," });
    push_int(o, g.keys.len() as i64);
    o.push(',');
    push_int(o, g.times.0);
    o.push(',');
    push_int(o, g.times.1);
    o.push(']');
}

/// `["timestamp id", ...]`: the group's keys.
fn push_keys(o: &mut String, g: &Group<'_>) {
    o.push('[');
    for (k, (ts, id)) in g.keys.iter().enumerate() {
        if k > 0 {
            o.push(',');
        }
        match id {
            Cow::Borrowed(id) => {
                o.push('"');
                push_int(o, *ts);
                o.push(' ');
                o.push_str(id);
                o.push('"');
            }
            Cow::Owned(id) => {
                o.push_str(&serde_json::Value::from(format!("{ts} {id}")).to_string())
            }
        }
    }
    o.push(']');
}

/// `n` in decimal, without the formatting machinery (this runs for every row of every flush).
fn push_int(out: &mut String, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        out.push('-');
    }
    out.extend(digits[at..].iter().map(|d| *d as char));
}

/// The hash of [`stats_keys`]' set of keys: a multiply-rotate over 8 bytes at a time, where the
/// std's SipHash works through each byte (not timed apart from the rest). Not keyed, which is
/// safe here:
/// the ids hashed are UUIDs the logger made (random, or a SHA-256 of the client's id), and the
/// app ids are the admin's, so no client picks values that collide.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Groups row JSON texts into JSON-array parameters of at most `max_bytes` and `max_rows` rows
/// each (a row larger than `max_bytes` travels alone). Order is kept. `max_rows` is
/// `MAX_BATCH_SIZE`: rows per insert statement, so `MAX_BATCH_SIZE=1` writes row by row.
pub fn chunk_rows<S: AsRef<str>>(rows: &[S], max_bytes: usize, max_rows: usize) -> Vec<String> {
    chunk_ranges(rows, max_bytes, max_rows)
        .into_iter()
        .map(|r| json_array(&rows[r]))
        .collect()
}

/// The ranges of `rows` that [`chunk_rows`] puts in each parameter.
pub fn chunk_ranges<S: AsRef<str>>(
    rows: &[S],
    max_bytes: usize,
    max_rows: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 1);
    for (i, row) in rows.iter().enumerate() {
        let len = row.as_ref().len();
        let full = i - start >= max_rows.max(1) || bytes + len + 2 > max_bytes;
        if i > start && full {
            out.push(start..i);
            (start, bytes) = (i, 1);
        }
        bytes += len + 1;
    }
    if start < rows.len() {
        out.push(start..rows.len());
    }
    out
}

/// Row texts as one JSON array.
pub fn json_array<S: AsRef<str>>(rows: &[S]) -> String {
    let mut out =
        String::with_capacity(rows.iter().map(|r| r.as_ref().len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(row.as_ref());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::columns::COLUMNS;
    use serde_json::Value;

    #[test]
    fn insert_names_every_column_once_and_binds_one_parameter() {
        for (extract, v) in [(Extract::Text, "value"), (Extract::Jsonb, "v")] {
            let sql = insert_sql("logs", &COLUMNS, extract);
            assert!(sql.contains("INSERT INTO \"logs\" (\"id\", \"timestamp\","));
            assert!(sql.ends_with("ON CONFLICT DO NOTHING"), "{sql}");
            for (i, c) in COLUMNS.iter().enumerate() {
                assert!(sql.contains(&format!("{v} ->> {i}")), "{c}");
            }
            assert!(!sql.contains(&format!("{v} ->> {}", COLUMNS.len())));
            assert_eq!(sql.matches('?').count(), 1);
            assert!(sql.len() < 100_000, "D1 caps SQL text at 100 KB");
        }
    }

    #[test]
    #[should_panic(expected = "not an identifier")]
    fn insert_refuses_a_table_name_that_is_not_an_identifier() {
        insert_sql("logs; DROP TABLE logs", &COLUMNS, Extract::Jsonb);
    }

    #[test]
    fn chunks_are_valid_json_arrays_under_the_limit_and_keep_order() {
        let rows: Vec<String> = (0..1000).map(|i| format!("[\"id-{i}\",{i}]")).collect();
        let chunks = chunk_rows(&rows, 1_000, usize::MAX);
        assert!(chunks.len() > 10);
        let mut seen = Vec::new();
        for c in &chunks {
            assert!(c.len() <= 1_000, "{}", c.len());
            let arr: Vec<Value> = serde_json::from_str(c).unwrap();
            seen.extend(arr.into_iter().map(|r| r[1].as_i64().unwrap()));
        }
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn chunks_hold_at_most_max_rows() {
        let rows: Vec<String> = (0..10).map(|i| format!("[\"id-{i}\",{i}]")).collect();
        let sizes = |max_rows| -> Vec<usize> {
            chunk_rows(&rows, MAX_PARAM_BYTES, max_rows)
                .iter()
                .map(|c| serde_json::from_str::<Vec<Value>>(c).unwrap().len())
                .collect()
        };
        assert_eq!(sizes(1), vec![1; 10]);
        assert_eq!(sizes(4), vec![4, 4, 2]);
        assert_eq!(sizes(10), vec![10]);
        assert_eq!(sizes(0), vec![1; 10], "0 means 1");
    }

    /// The real schema and statement on SQLite (the engine behind D1).
    fn logs_db() -> rusqlite::Connection {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(crate::store::schema::STATS_TABLE_DDL)
            .unwrap();
        for sql in crate::store::schema::TableSchema::firehose("logs", true).migration(&[]) {
            db.execute(&sql, []).unwrap();
        }
        db
    }

    /// What the writer sends for one chunk of firehose rows: the counts, then the insert.
    fn flush_chunk(db: &rusqlite::Connection, rows: &[String], extract: Extract) -> usize {
        db.execute(&cf_sql("logs", extract), [&json_array(rows)])
            .unwrap();
        let keys = stats_keys(rows);
        db.execute(&stats_sql("logs"), [&keys.groups, &keys.keys])
            .unwrap();
        db.execute(&full_insert_sql("logs", extract, true), [&json_array(rows)])
            .unwrap()
    }

    fn insert(db: &rusqlite::Connection, rows: &[String]) -> rusqlite::Result<usize> {
        let chunk = chunk_rows(rows, MAX_PARAM_BYTES, usize::MAX).remove(0);
        db.execute(&cf_sql("logs", Extract::Jsonb), [&chunk])?;
        let jsonb = db.execute(&full_insert_sql("logs", Extract::Jsonb, true), [&chunk])?;
        // Both forms store the same values (the second finds every row already there).
        let text = db.execute(&full_insert_sql("logs", Extract::Text, true), [&chunk])?;
        assert_eq!(text, 0);
        Ok(jsonb)
    }

    /// Every stored row gets its own search-index rowid, across statements and after deletes,
    /// and the index finds each row through it.
    #[test]
    fn each_row_gets_its_own_search_rowid() {
        for extract in [Extract::Jsonb, Extract::Text] {
            let db = logs_db();
            let rows = |from: usize| -> Vec<String> {
                (from..from + 3)
                    .map(|i| {
                        let mut e = crate::model::entry::tests::sample();
                        e.id = format!("00000000-0000-7000-8000-{i:012}");
                        e.message = format!("message number{i}");
                        e.to_row_json()
                    })
                    .collect()
            };
            flush_chunk(&db, &rows(0), extract);
            flush_chunk(&db, &rows(3), extract);
            db.execute("DELETE FROM logs WHERE id LIKE '%05'", [])
                .unwrap();
            flush_chunk(&db, &rows(6), extract);
            let seqs: Vec<i64> = db
                .prepare("SELECT seq FROM logs ORDER BY seq")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let mut unique = seqs.clone();
            unique.dedup();
            assert_eq!((seqs.len(), unique.len()), (8, 8), "{seqs:?}");
            for i in [0, 4, 7, 8] {
                let found: i64 = db
                    .query_row(
                        "SELECT count(*) FROM logs_fts JOIN logs AS l ON l.timestamp = logs_fts.ts \
                         AND l.seq = logs_fts.rowid WHERE logs_fts MATCH ?1",
                        [format!("\"number{i}\"")],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(found, 1, "number{i} ({extract:?})");
            }
        }
    }

    /// Every value of every row of the firehose and its `request.cf` sets, in order.
    fn everything(db: &rusqlite::Connection) -> Vec<String> {
        let mut out = Vec::new();
        for sql in [
            "SELECT * FROM logs ORDER BY id",
            "SELECT * FROM logs_cf ORDER BY id",
        ] {
            let mut stmt = db.prepare(sql).unwrap();
            let n = stmt.column_count();
            let rows = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| r.get_ref(i).map(|v| format!("{v:?}")))
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .unwrap();
            for r in rows {
                out.extend(r.unwrap());
            }
        }
        out
    }

    #[test]
    fn both_forms_store_identical_rows() {
        let rows = vec![crate::model::entry::tests::sample().to_row_json()];
        let mut seen = Vec::new();
        for extract in [Extract::Jsonb, Extract::Text] {
            let db = logs_db();
            flush_chunk(&db, &rows, extract);
            seen.push(everything(&db));
        }
        assert_eq!(seen[0], seen[1]);
        assert!(lacks_jsonb(
            "D1_ERROR: no such function: jsonb: SQLITE_ERROR"
        ));
    }

    #[test]
    fn a_plain_row_is_stored_the_same_by_the_narrow_insert_as_by_the_full_one() {
        let mut e = crate::model::entry::tests::sample();
        e.request = Default::default();
        assert!(e.request.is_empty());
        let row = e.to_row_json();
        let values: Vec<Value> = serde_json::from_str(&row).unwrap();
        for i in crate::model::columns::REQUEST_COLUMNS {
            assert_eq!(
                values[i],
                Value::Null,
                "{} is null in a plain row",
                COLUMNS[i]
            );
        }
        let chunk = chunk_rows(&[row], MAX_PARAM_BYTES, usize::MAX).remove(0);
        let stored = |sql: &str| -> Vec<String> {
            let db = logs_db();
            assert_eq!(db.execute(sql, [&chunk]).unwrap(), 1);
            assert_eq!(db.execute(sql, [&chunk]).unwrap(), 0, "idempotent too");
            everything(&db)
        };
        for extract in [Extract::Jsonb, Extract::Text] {
            let narrow = plain_insert_sql("logs", extract, false);
            // Ten columns, and the time once more to compare `received_at` with.
            assert_eq!(narrow.matches("->>").count(), 11, "{narrow}");
            assert!(narrow.contains("\"data\"") && !narrow.contains("\"method\""));
            assert_eq!(
                stored(&narrow),
                stored(&full_insert_sql("logs", extract, false))
            );
        }
    }

    #[test]
    fn daily_counts_equal_the_stored_rows_through_retries_duplicates_and_deletes() {
        use crate::model::level::Level;
        for extract in [Extract::Jsonb, Extract::Text] {
            let db = logs_db();
            const DAY_MS: i64 = crate::store::schema::DAY_MS;
            let row = |id: &str, day: i64, level: Level, app: &str| {
                let mut e = crate::model::entry::tests::sample();
                e.id = format!("00000000-0000-7000-8000-{id:0>12}");
                e.timestamp = day * DAY_MS + 1_000;
                e.level = level;
                e.app_id = app.into();
                e.to_row_json()
            };
            let flush = |rows: &[String]| {
                for part in chunk_ranges(rows, MAX_PARAM_BYTES, 2) {
                    flush_chunk(&db, &rows[part], extract);
                }
            };
            let agree = |what: &str| {
                let stats: Vec<(String, i64, String, i64)> = db
                    .prepare("SELECT * FROM log_stats WHERE count > 0 ORDER BY 1, 2, 3")
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let counted: Vec<(String, i64, String, i64)> = db
                    .prepare(
                        "SELECT app_id, timestamp / 86400000, level, count(*) FROM logs \
                         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                    )
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(stats, counted, "{what} ({extract:?})");
                stats
            };
            let first = vec![
                row("1", 20_000, Level::Info, "a"),
                row("2", 20_000, Level::Info, "a"),
                row("3", 20_000, Level::Warn, "a"),
                row("4", 20_001, Level::Error, "a"),
                row("5", 20_001, Level::Error, "b"),
            ];
            flush(&first);
            assert_eq!(agree("first flush").len(), 4);
            flush(&first);
            agree("the same flush retried");
            // One id twice in a chunk, and one already stored.
            flush(&[
                row("6", 20_000, Level::Debug, "a"),
                row("6", 20_000, Level::Debug, "a"),
                row("1", 20_000, Level::Info, "a"),
            ]);
            let stats = agree("duplicates");
            assert!(stats.contains(&("a".into(), 20_000, "DEBUG".into(), 1)));
            // A client-named entry retried with another time is the same entry.
            let mut named = crate::model::entry::tests::sample();
            named.id = crate::model::id::scoped_id("a", "order-1");
            named.app_id = "a".into();
            let again = {
                let mut e = named.clone();
                e.timestamp += 5_000;
                e
            };
            flush(&[named.to_row_json(), again.to_row_json()]);
            flush(&[again.to_row_json()]);
            agree("a named entry sent twice, at two times");
            let stored: i64 = db
                .query_row(
                    "SELECT count(*) FROM logs WHERE id = ?1",
                    [&named.id],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(stored, 1);
            // Fresh ids carry their row's time (`locates_row`): a group of them whose app has no
            // row in its time range counts whole; otherwise key by key.
            let fresh = |n: u8, day: i64, ms: i64, level: Level, app: &str| {
                let mut e = crate::model::entry::tests::sample();
                e.timestamp = day * DAY_MS + ms;
                e.id = crate::model::id::new_id(e.timestamp, [n; 16]);
                e.level = level;
                e.app_id = app.into();
                assert!(crate::model::id::locates_row(&e.id, e.timestamp));
                e.to_row_json()
            };
            let batch = vec![
                fresh(1, 20_000, 10, Level::Info, "a"),
                fresh(2, 20_000, 10, Level::Info, "a"),
                fresh(3, 20_000, 20, Level::Error, "a"),
                fresh(4, 20_001, 10, Level::Info, "b"),
            ];
            flush(&batch);
            agree("fresh rows");
            flush(&batch);
            agree("fresh rows retried");
            // New rows amid stored ones in the same time range, and one of them twice.
            let amid = vec![
                fresh(5, 20_000, 10, Level::Info, "a"),
                fresh(1, 20_000, 10, Level::Info, "a"),
                fresh(6, 20_000, 15, Level::Info, "a"),
                fresh(6, 20_000, 15, Level::Info, "a"),
                fresh(7, 20_001, 10, Level::Info, "a"),
            ];
            flush(&amid);
            let stats = agree("fresh rows amid stored ones");
            assert!(
                stats.contains(&("a".into(), 20_000, "INFO".into(), 6)),
                "{stats:?}"
            );
            for sql in crate::store::retention::delete_chunk_sql("logs", true) {
                let mut st = db.prepare(&sql).unwrap();
                let p = rusqlite::params!["a", 20_001 * DAY_MS, 100];
                st.query_map(p, |_| Ok(())).unwrap().count();
            }
            agree("after deletes");
        }
    }

    /// The quick read of a row's leading values agrees with reading it as JSON, and gives way to
    /// it when the text is not plain.
    #[test]
    fn a_rows_lead_is_read_the_same_either_way() {
        let mut e = crate::model::entry::tests::sample();
        e.message = "with \"quotes\", commas, and \\ backslashes".into();
        let row = e.to_row_json();
        let (a, b) = (scan_lead(&row).unwrap(), parse_lead(&row).unwrap());
        assert_eq!(
            (&*a.id, a.timestamp, &*a.app_id, &*a.level),
            (&*b.id, b.timestamp, &*b.app_id, &*b.level)
        );
        let odd = row.replacen(&e.app_id, "sh\\u006fp", 1);
        assert!(
            scan_lead(&odd).is_none(),
            "an escape is left to the JSON reader"
        );
        assert_eq!(
            &*parse_lead(&odd).unwrap().app_id,
            "sh\\u006fp".replace("\\u006f", "o").as_str()
        );
        let keys = stats_keys(&[row.clone(), odd, row]);
        let groups: Vec<Vec<serde_json::Value>> = serde_json::from_str(&keys.groups).unwrap();
        let each: Vec<Vec<String>> = serde_json::from_str(&keys.keys).unwrap();
        // `sh\u006fp` is `shop`: the three rows are one entry, counted once.
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!((&groups[0][0], &groups[0][4]), (&"shop".into(), &1.into()));
        assert_eq!(each, [[format!("{} {}", e.timestamp, e.id)]]);
    }

    #[test]
    fn received_at_is_stored_only_when_it_is_not_the_entrys_own_time() {
        let db = logs_db();
        let mut a = crate::model::entry::tests::sample();
        a.received_at = a.timestamp;
        let mut b = a.clone();
        b.id = "00000000-0000-7000-8000-0000000000bb".into();
        b.received_at = a.timestamp + 5;
        insert(&db, &[a.to_row_json(), b.to_row_json()]).unwrap();
        let stored: Vec<Option<i64>> = db
            .prepare("SELECT received_at FROM logs ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            stored,
            [Some(a.timestamp + 5), None],
            "ids {} and {}",
            b.id,
            a.id
        );
        let shown = crate::read::query::present(serde_json::json!({
            "timestamp": a.timestamp, "received_at": null
        }));
        assert_eq!(shown["received_at"], a.timestamp);
    }

    #[test]
    fn the_statement_stores_every_column_and_a_retry_duplicates_nothing() {
        let db = logs_db();
        let mut a = crate::model::entry::tests::sample();
        let mut b = a.clone();
        a.id = "00000000-0000-7000-8000-00000000000a".into();
        b.id = "00000000-0000-7000-8000-00000000000b".into();
        b.request = Default::default();
        b.data = None;
        let rows = vec![a.to_row_json(), b.to_row_json()];
        assert_eq!(insert(&db, &rows).unwrap(), 2);
        assert_eq!(
            insert(&db, &rows).unwrap(),
            0,
            "a retried flush inserts nothing"
        );
        // Read back as the API reads it, the entry is whole: its `request.cf` facts from their
        // set, its host, path, query and Host header from the URL, times to the millisecond.
        let read = |e: &crate::model::entry::LogEntry| -> Value {
            let sql = crate::read::query::one_sql("logs");
            // As `GET /logs/{id}` binds them: the time the id carries, if any.
            let carried = crate::model::id::id_time(&e.id);
            let params = rusqlite::params![e.id, e.app_id, carried];
            let mut rows = crate::read::query::sqlite_rows(&db, &sql, params, &COLUMNS);
            assert_eq!(rows.len(), 1, "{rows:?}");
            crate::read::query::present(rows.remove(0))
        };
        let row: Vec<Value> = serde_json::from_str(&a.to_row_json()).unwrap();
        let mut sent: serde_json::Map<String, Value> =
            COLUMNS.iter().map(|c| c.to_string()).zip(row).collect();
        // The custom data is answered as `context`, the name it is sent by.
        let context = sent.remove("data").unwrap();
        sent.insert(crate::read::query::CONTEXT_FIELD.into(), context);
        // The sample's headers have no Host header; a stored entry says so, and is given none.
        assert_eq!(read(&a), Value::Object(sent.clone()));
        let mut c = a.clone();
        c.id = "00000000-0000-7000-8000-00000000000c".into();
        c.request.headers = serde_json::json!({"host": "shop.example", "accept": "*/*"})
            .as_object()
            .cloned();
        insert(&db, &[c.to_row_json()]).unwrap();
        let stored: String = db
            .query_row("SELECT headers FROM logs WHERE id = ?1", [&c.id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(
            stored, r#"{"accept":"*/*"}"#,
            "the Host header is the URL's"
        );
        let host: Option<String> = db
            .query_row("SELECT host FROM logs WHERE id = ?1", [&c.id], |r| r.get(0))
            .unwrap();
        assert_eq!(host, None, "so are host, path and query");
        sent.insert("id".into(), c.id.clone().into());
        sent.insert(
            "headers".into(),
            serde_json::json!({"host": "shop.example", "accept": "*/*"}),
        );
        assert_eq!(read(&c), Value::Object(sent));
        let sets: i64 = db
            .query_row("SELECT count(*) FROM logs_cf", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sets, 1, "both entries refer to one set of request.cf facts");
        let nulls: i64 = db
            .query_row(
                "SELECT count(*) FROM logs WHERE id = ?1 AND method IS NULL AND data IS NULL",
                [&b.id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(nulls, 1);
    }

    #[test]
    fn a_row_that_breaks_a_constraint_fails_the_statement_instead_of_vanishing() {
        let db = logs_db();
        let good = crate::model::entry::tests::sample().to_row_json();
        let bad = good.replacen("\"WARN\"", "\"POISON\"", 1).replacen(
            &crate::model::entry::tests::sample().id,
            "00000000-0000-7000-8000-0000000000ff",
            1,
        );
        assert!(insert(&db, &[good, bad]).is_err());
        let n: i64 = db
            .query_row("SELECT count(*) FROM logs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "the statement is atomic");
    }

    #[test]
    fn few_rows_make_one_statement() {
        let rows = vec!["[1]", "[2]", "[3]"];
        assert_eq!(
            chunk_rows(&rows, MAX_PARAM_BYTES, usize::MAX),
            vec!["[[1],[2],[3]]".to_string()]
        );
        assert!(chunk_rows::<&str>(&[], 10, usize::MAX).is_empty());
    }

    #[test]
    fn an_oversized_row_travels_alone() {
        let big = format!("[\"{}\"]", "x".repeat(50));
        let rows = vec!["[1]".to_string(), big.clone(), "[2]".to_string()];
        let chunks = chunk_rows(&rows, 20, usize::MAX);
        assert_eq!(
            chunks,
            vec!["[[1]]".to_string(), format!("[{big}]"), "[[2]]".to_string()]
        );
    }
}
