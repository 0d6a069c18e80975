//! Log routes: which tables a log goes to, with which columns, kept for how long.
//!
//! The firehose table (`LOG_FIREHOSE_TABLE`, default `logs`) receives every entry with every
//! column. Each route of `LOG_ROUTES` (a JSON array) is a table of its own with a filter
//! (`filter`), chosen columns and an optional retention:
//!
//! ```json
//! [{ "name": "errors", "table": "errors",
//!    "filter": { "field": "level", "op": "gte", "value": "WARN" },
//!    "columns": ["level", "message", "path",
//!                { "name": "user_id", "from": "data.user.id", "type": "TEXT" }],
//!    "indexes": [["user_id"]],
//!    "retention_days": 30, "pruning_interval_days": 1 }]
//! ```
//!
//! Parsing checks everything once and names the route and the place of an error. A route's rows
//! are built here from the firehose row (a JSON array in `columns::COLUMNS` order), with each value
//! converted to its column's type, so D1 only expands them (`store::insert::insert_sql`). Does not run SQL
//! (`tables`) or evaluate conditions (`filter`).

use crate::model::columns::SqlType;
use crate::model::sql::is_identifier;
use crate::store::filter::{Field, Filter};
use crate::store::schema::{
    catalogue_type, index_name, named_index, table_name_error, ColumnDef, IndexDef, TableSchema,
    KEY_COLUMNS, ROUTE_KEY_COLUMNS,
};
use serde_json::{Map, Value};

/// Why a part of a route (a name, a filter, a column) is refused: the place
/// (`routes[0].filter.op`) and what is wrong there. `RouteError` adds the variable.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(why: String) -> Self {
        Invalid(why)
    }
}

impl From<&str> for Invalid {
    fn from(why: &str) -> Self {
        Invalid(why.to_string())
    }
}

/// An `Invalid` from `format!` arguments.
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::store::route::Invalid(format!($($arg)*))
    };
}
pub(crate) use invalid;

/// Default firehose table.
pub const FIREHOSE_TABLE: &str = "logs";
/// Default days the firehose keeps a row.
pub const FIREHOSE_RETENTION_DAYS: u32 = 90;
/// The firehose's route name (in `log_tables` and the admin status).
pub const FIREHOSE_ROUTE: &str = "firehose";
/// Most routes: each one that receives rows is one more statement per flush.
pub const MAX_ROUTES: usize = 20;
/// Most columns of a route table (D1 allows 100 per table).
pub const MAX_COLUMNS: usize = 64;
/// Longest retention, in days (100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// A checked route name: 1 to 64 lower-case letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteName(String);

impl RouteName {
    pub fn parse(s: &str) -> Result<RouteName, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(invalid!(
                "{s:?} is not a route name (1 to 64 lower-case letters, digits, '_' or '-')"
            ));
        }
        if s == FIREHOSE_ROUTE {
            return Err(invalid!("{s:?} is the firehose's name"));
        }
        Ok(RouteName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One column of a route table and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub from: Field,
    pub ty: SqlType,
}

/// One route: a table that receives the entries its filter matches, with its own columns,
/// indexes and retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: RouteName,
    pub table: String,
    /// `None`: every entry.
    pub filter: Option<Filter>,
    /// Every column in table order, the key columns (`schema::ROUTE_KEY_COLUMNS`) first.
    pub columns: Vec<Column>,
    /// Extra indexes, each a list of the route's column names.
    pub indexes: Vec<Vec<String>>,
    pub retention_days: Option<u32>,
    pub pruning_interval_days: u32,
}

/// A table the logger writes and prunes, with its schema and retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTable {
    pub route: String,
    pub schema: TableSchema,
    pub retention_days: Option<u32>,
    pub pruning_interval_days: u32,
}

/// The firehose table and every configured route, as parsed from `LOG_ROUTES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    pub firehose_table: String,
    pub firehose_retention_days: Option<u32>,
    pub routes: Vec<Route>,
    /// The firehose's full-text index (`SEARCH_INDEX=fts`, the default) or none
    /// (`SEARCH_INDEX=none`: one D1 row written per entry instead of two, and no `search`).
    pub search: bool,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            firehose_table: FIREHOSE_TABLE.into(),
            firehose_retention_days: Some(FIREHOSE_RETENTION_DAYS),
            routes: Vec::new(),
            search: true,
        }
    }
}

/// A configuration error: the variable and what is wrong, naming the route and the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> RouteError {
    RouteError {
        var,
        message: message.into(),
    }
}

impl Routes {
    /// Parses `LOG_ROUTES`, `LOG_FIREHOSE_TABLE` and `LOG_FIREHOSE_RETENTION_DAYS` (`None` = not
    /// set). A retention of 0 days keeps the firehose forever.
    pub fn parse(
        routes: Option<&str>,
        firehose_table: Option<&str>,
        firehose_retention_days: Option<&str>,
    ) -> Result<Routes, RouteError> {
        let firehose_table = firehose_table
            .map(str::trim)
            .unwrap_or(FIREHOSE_TABLE)
            .to_string();
        if let Some(e) = table_name_error(&firehose_table) {
            return Err(err("LOG_FIREHOSE_TABLE", e));
        }
        let firehose_retention_days = match firehose_retention_days.map(str::trim) {
            None => Some(FIREHOSE_RETENTION_DAYS),
            Some(raw) => match raw.parse::<u32>() {
                Ok(0) => None,
                Ok(d) if d <= MAX_RETENTION_DAYS => Some(d),
                _ => {
                    return Err(err(
                        "LOG_FIREHOSE_RETENTION_DAYS",
                        format!("{raw:?}: days from 0 (keep forever) to {MAX_RETENTION_DAYS}"),
                    ))
                }
            },
        };
        let routes = match routes.map(str::trim) {
            None | Some("") => Vec::new(),
            Some(raw) => parse_routes(raw, &firehose_table)?,
        };
        Ok(Routes {
            firehose_table,
            firehose_retention_days,
            routes,
            search: true,
        })
    }

    /// Every table the logger writes: the firehose first, then the routes in order.
    pub fn tables(&self) -> Vec<LogTable> {
        let mut out = vec![LogTable {
            route: FIREHOSE_ROUTE.into(),
            schema: TableSchema::firehose(&self.firehose_table, self.search),
            retention_days: self.firehose_retention_days,
            pruning_interval_days: 1,
        }];
        out.extend(self.routes.iter().map(|r| LogTable {
            route: r.name.as_str().into(),
            schema: r.schema(),
            retention_days: r.retention_days,
            pruning_interval_days: r.pruning_interval_days,
        }));
        out
    }

    /// For each route, the rows of `texts` (firehose rows) it receives: their index in `texts`
    /// and the route row. A row that is not a JSON array (it cannot be, the LogBatcher checks)
    /// goes to no route.
    pub fn project<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<(usize, String)>> {
        let mut out = vec![Vec::new(); self.routes.len()];
        if self.routes.is_empty() {
            return out;
        }
        for (i, text) in texts.iter().enumerate() {
            let Ok(row) = serde_json::from_str::<Vec<Value>>(text.as_ref()) else {
                continue;
            };
            for (k, route) in self.routes.iter().enumerate() {
                if route.filter.as_ref().is_none_or(|f| f.matches(&row)) {
                    out[k].push((i, route.row(&row)));
                }
            }
        }
        out
    }
}

fn parse_routes(raw: &str, firehose_table: &str) -> Result<Vec<Route>, RouteError> {
    let v: Value =
        serde_json::from_str(raw).map_err(|e| err("LOG_ROUTES", format!("not valid JSON: {e}")))?;
    let Value::Array(items) = v else {
        return Err(err("LOG_ROUTES", "must be a JSON array of routes"));
    };
    if items.len() > MAX_ROUTES {
        return Err(err(
            "LOG_ROUTES",
            format!("{} routes; at most {MAX_ROUTES}", items.len()),
        ));
    }
    let mut routes: Vec<Route> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let label = item
            .get("name")
            .and_then(Value::as_str)
            .map_or(format!("routes[{i}]"), |n| {
                format!("route {n:?} (routes[{i}])")
            });
        let route = parse_route(item).map_err(|e| err("LOG_ROUTES", format!("{label}: {e}")))?;
        let clash = |what: &str| err("LOG_ROUTES", format!("{label}: {what}"));
        if routes.iter().any(|r| r.name == route.name) {
            return Err(clash("name: another route has this name"));
        }
        if route.table == firehose_table {
            return Err(clash(&format!(
                "table: {:?} is the firehose table (LOG_FIREHOSE_TABLE)",
                route.table
            )));
        }
        if routes.iter().any(|r| r.table == route.table) {
            return Err(clash(&format!(
                "table: another route writes {:?}",
                route.table
            )));
        }
        routes.push(route);
    }
    Ok(routes)
}

const ROUTE_KEYS: [&str; 7] = [
    "name",
    "table",
    "filter",
    "columns",
    "indexes",
    "retention_days",
    "pruning_interval_days",
];

fn parse_route(v: &Value) -> Result<Route, Invalid> {
    let Value::Object(obj) = v else {
        return Err(invalid!("must be an object"));
    };
    if let Some(k) = obj.keys().find(|k| !ROUTE_KEYS.contains(&k.as_str())) {
        return Err(invalid!(
            "unknown key {k:?}; a route has {}",
            ROUTE_KEYS.join(", ")
        ));
    }
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or("name: required, a string")?;
    let name = RouteName::parse(name).map_err(|e| invalid!("name: {e}"))?;
    let table = match obj.get("table") {
        None => name.as_str().replace('-', "_"),
        Some(Value::String(t)) => t.clone(),
        Some(_) => return Err(invalid!("table: must be a string")),
    };
    if let Some(e) = table_name_error(&table) {
        return Err(invalid!("table: {e}"));
    }
    let filter = match obj.get("filter") {
        None | Some(Value::Null) => None,
        Some(f) => Some(Filter::parse(f)?),
    };
    let columns = parse_columns(obj)?;
    let indexes = parse_indexes(obj, &columns)?;
    let retention_days = match obj.get("retention_days") {
        None | Some(Value::Null) => None,
        Some(v) => Some(days(v, "retention_days", MAX_RETENTION_DAYS)?),
    };
    let pruning_interval_days = match obj.get("pruning_interval_days") {
        None => 1,
        Some(v) => days(v, "pruning_interval_days", 365)?,
    };
    Ok(Route {
        name,
        table,
        filter,
        columns,
        indexes,
        retention_days,
        pruning_interval_days,
    })
}

fn days(v: &Value, key: &str, max: u32) -> Result<u32, Invalid> {
    v.as_u64()
        .filter(|d| (1..=max as u64).contains(d))
        .map(|d| d as u32)
        .ok_or_else(|| invalid!("{key}: a whole number of days from 1 to {max}"))
}

/// Names SQLite resolves to a table's row id.
const ROWID_NAMES: [&str; 3] = ["rowid", "oid", "_rowid_"];

fn parse_columns(obj: &Map<String, Value>) -> Result<Vec<Column>, Invalid> {
    let Some(Value::Array(items)) = obj.get("columns") else {
        return Err(invalid!(
            "columns: required, a list of fields or {{name, from, type}} objects"
        ));
    };
    if items.is_empty() || items.len() > MAX_COLUMNS {
        return Err(invalid!("columns: 1 to {MAX_COLUMNS} columns"));
    }
    let mut columns: Vec<Column> = ROUTE_KEY_COLUMNS
        .iter()
        .map(|name| Column {
            name: name.to_string(),
            from: Field::parse(name).expect("key columns are firehose columns"),
            ty: catalogue_type(name).expect("key columns are firehose columns"),
        })
        .collect();
    for (i, item) in items.iter().enumerate() {
        let at = format!("columns[{i}]");
        let column = parse_column(item).map_err(|e| invalid!("{at}: {e}"))?;
        if let Some(existing) = columns.iter().find(|c| c.name == column.name) {
            if ROUTE_KEY_COLUMNS.contains(&column.name.as_str()) && *existing == column {
                continue; // Listing a key column is harmless: every route table has it.
            }
            return Err(invalid!(
                "{at}: the table already has a column {:?}",
                column.name
            ));
        }
        columns.push(column);
    }
    Ok(columns)
}

fn parse_column(v: &Value) -> Result<Column, Invalid> {
    match v {
        Value::String(field) => {
            let from = Field::parse(field)?;
            let Some(ty) = catalogue_type(field) else {
                return Err(invalid!(
                    "{field:?} needs a column name: write {{\"name\": \"...\", \"from\": {field:?}, \"type\": \"TEXT\"}}"
                ));
            };
            Ok(Column {
                name: field.clone(),
                from,
                ty,
            })
        }
        Value::Object(obj) => {
            if let Some(k) = obj
                .keys()
                .find(|k| !matches!(k.as_str(), "name" | "from" | "type"))
            {
                return Err(invalid!("unknown key {k:?}; a column has name, from, type"));
            }
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .ok_or("name: required, a string")?;
            if !is_identifier(name) {
                return Err(invalid!(
                    "name: {name:?} is not a column name (lower-case letters, digits and '_', starting with a letter or '_')"
                ));
            }
            // SQLite reads these as the table's row id, whatever the table declares: a column of
            // that name would be written one way and matched (in prunes) another.
            if ROWID_NAMES.contains(&name) {
                return Err(invalid!(
                    "name: {name:?} is SQLite's row id; choose another column name"
                ));
            }
            let from_name = match obj.get("from") {
                None => name,
                Some(Value::String(f)) => f.as_str(),
                Some(_) => return Err(invalid!("from: must be a field name")),
            };
            let from = Field::parse(from_name).map_err(|e| invalid!("from: {e}"))?;
            let ty = match obj.get("type") {
                None => catalogue_type(from_name).unwrap_or(SqlType::Text),
                Some(t) => t
                    .as_str()
                    .and_then(SqlType::parse)
                    .ok_or_else(|| invalid!("type: {t} is not TEXT, INTEGER or REAL"))?,
            };
            Ok(Column {
                name: name.to_string(),
                from,
                ty,
            })
        }
        _ => Err(invalid!("a column is a field name or {{name, from, type}}")),
    }
}

fn parse_indexes(
    obj: &Map<String, Value>,
    columns: &[Column],
) -> Result<Vec<Vec<String>>, Invalid> {
    let Some(v) = obj.get("indexes") else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = v else {
        return Err(invalid!("indexes: a list of column lists"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("indexes[{i}]");
        let cols: Vec<String> = match item {
            Value::Array(cols) if !cols.is_empty() && cols.len() <= 8 => cols
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or(format!("{at}: column names are strings"))?,
            _ => return Err(invalid!("{at}: a list of 1 to 8 column names")),
        };
        if let Some(c) = cols.iter().find(|c| !columns.iter().any(|k| &k.name == *c)) {
            return Err(invalid!("{at}: {c:?} is not a column of this route"));
        }
        out.push(cols);
    }
    Ok(out)
}

impl Route {
    pub fn schema(&self) -> TableSchema {
        let columns = self
            .columns
            .iter()
            .map(|c| ColumnDef {
                name: c.name.clone(),
                ty: c.ty,
                constraint: match c.name.as_str() {
                    "id" | "timestamp" | "app_id" => "NOT NULL",
                    _ => "",
                },
            })
            .collect();
        // The key (app_id, timestamp, id) serves retention, prunes and the firehose's route
        // filter; an index that is a prefix of it would only cost writes.
        let mut indexes = vec![named_index(&self.table)];
        for cols in &self.indexes {
            let prefix_of_key = cols.len() <= KEY_COLUMNS.len()
                && cols.iter().zip(KEY_COLUMNS).all(|(c, k)| c == k);
            if prefix_of_key || indexes.iter().any(|i| &i.columns == cols) {
                continue;
            }
            indexes.push(IndexDef {
                name: index_name(&self.table, &cols.join("_")),
                columns: cols.clone(),
                partial: None,
                unique: false,
            });
        }
        TableSchema {
            table: self.table.clone(),
            columns,
            indexes,
            firehose: false,
            search: false,
        }
    }

    /// The route row for a firehose row: one typed value per column, as a JSON array.
    pub fn row(&self, row: &[Value]) -> String {
        let values: Vec<Value> = self
            .columns
            .iter()
            .map(|c| typed(c.from.get(row), c.ty))
            .collect();
        Value::Array(values).to_string()
    }
}

/// A value converted to a column type. What cannot be converted is NULL, never a made-up value
/// (SQLite's CAST would turn "abc" into 0).
pub fn typed(v: Option<&Value>, ty: SqlType) -> Value {
    let Some(v) = v else { return Value::Null };
    match ty {
        SqlType::Text => match v {
            Value::String(_) => v.clone(),
            other => Value::String(other.to_string()),
        },
        SqlType::Integer => match v {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .map_or(Value::Null, Value::from),
            Value::String(s) => s.trim().parse::<i64>().map_or(Value::Null, Value::from),
            Value::Bool(b) => Value::from(*b as i64),
            _ => Value::Null,
        },
        SqlType::Real => match v {
            Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map_or(Value::Null, Value::from),
            Value::Bool(b) => Value::from(*b as i64 as f64),
            _ => Value::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::entry::tests::sample;
    use serde_json::json;

    fn parse(routes: Value) -> Result<Routes, RouteError> {
        Routes::parse(Some(&routes.to_string()), None, None)
    }

    fn errors_route() -> Value {
        json!([{
            "name": "errors",
            "filter": {"field": "level", "op": "gte", "value": "WARN"},
            "columns": ["level", "message", "asn",
                {"name": "user_id", "from": "data.user.id", "type": "TEXT"},
                {"name": "user_num", "from": "data.user.id", "type": "integer"},
                {"name": "accept", "from": "headers.accept"}],
            "indexes": [["user_id"]],
            "retention_days": 30
        }])
    }

    #[test]
    fn nothing_set_means_a_firehose_kept_90_days_and_no_routes() {
        let r = Routes::parse(None, None, None).unwrap();
        assert_eq!(r, Routes::default());
        assert_eq!(r.firehose_table, "logs");
        assert_eq!(r.firehose_retention_days, Some(90));
        let tables = r.tables();
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].schema, TableSchema::firehose("logs", true));
        let kept = Routes::parse(None, Some("all_logs"), Some("0")).unwrap();
        assert_eq!(kept.firehose_table, "all_logs");
        assert_eq!(kept.firehose_retention_days, None, "0 keeps forever");
    }

    #[test]
    fn a_route_gets_key_columns_first_and_its_own_in_order() {
        let r = parse(errors_route()).unwrap();
        let route = &r.routes[0];
        assert_eq!(route.table, "errors");
        let names: Vec<&str> = route.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "timestamp",
                "app_id",
                "level",
                "message",
                "asn",
                "user_id",
                "user_num",
                "accept"
            ]
        );
        assert_eq!(route.columns[5].ty, SqlType::Integer, "asn keeps its type");
        assert_eq!(route.columns[6].ty, SqlType::Text);
        assert_eq!(route.columns[7].ty, SqlType::Integer);
        assert_eq!(
            route.columns[8].ty,
            SqlType::Text,
            "extractions default to TEXT"
        );
        assert_eq!(route.retention_days, Some(30));
        assert_eq!(route.pruning_interval_days, 1);
        let schema = route.schema();
        assert_eq!(schema.columns[0].constraint, "NOT NULL");
        let index_names: Vec<&str> = schema.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            index_names,
            ["idx_errors_named", "idx_errors_user_id"],
            "the key serves time and app; the named index holds client-named rows only"
        );
    }

    #[test]
    fn columns_are_extracted_and_typed() {
        let r = parse(errors_route()).unwrap();
        let row: Vec<Value> = serde_json::from_str(&sample().to_row_json()).unwrap();
        let out: Vec<Value> = serde_json::from_str(&r.routes[0].row(&row)).unwrap();
        let e = sample();
        assert_eq!(
            out,
            vec![
                json!(e.id),
                json!(e.timestamp),
                json!("shop"),
                json!("WARN"),
                json!("GET /cart"),
                json!(13335),
                json!("42"),
                json!(42),
                json!("*/*"),
            ]
        );
    }

    #[test]
    fn typing_never_invents_values() {
        assert_eq!(typed(Some(&json!("17")), SqlType::Integer), json!(17));
        assert_eq!(typed(Some(&json!(17.0)), SqlType::Integer), json!(17));
        assert_eq!(typed(Some(&json!(17.5)), SqlType::Integer), Value::Null);
        assert_eq!(typed(Some(&json!("abc")), SqlType::Integer), Value::Null);
        assert_eq!(typed(Some(&json!(true)), SqlType::Integer), json!(1));
        assert_eq!(typed(Some(&json!("2.5")), SqlType::Real), json!(2.5));
        assert_eq!(typed(Some(&json!("NaN")), SqlType::Real), Value::Null);
        assert_eq!(
            typed(Some(&json!({"a": 1})), SqlType::Text),
            json!("{\"a\":1}")
        );
        assert_eq!(typed(Some(&json!(7)), SqlType::Text), json!("7"));
        assert_eq!(typed(None, SqlType::Text), Value::Null);
    }

    #[test]
    fn rows_go_to_every_route_whose_filter_matches() {
        let r = parse(json!([
            {"name": "warn-up", "filter": {"field": "level", "op": "gte", "value": "WARN"}, "columns": ["level"]},
            {"name": "errors", "filter": {"field": "level", "op": "eq", "value": "ERROR"}, "columns": ["level"]},
            {"name": "everything", "columns": ["message"]}
        ]))
        .unwrap();
        assert_eq!(
            r.routes[0].table, "warn_up",
            "the table defaults to the name"
        );
        let mut info = sample();
        info.level = crate::model::level::Level::Info;
        let rows = vec![
            sample().to_row_json(),
            info.to_row_json(),
            "not json".to_string(),
        ];
        let p = r.project(&rows);
        let idx = |k: usize| p[k].iter().map(|(i, _)| *i).collect::<Vec<_>>();
        assert_eq!(idx(0), vec![0]);
        assert_eq!(idx(1), Vec::<usize>::new());
        assert_eq!(idx(2), vec![0, 1]);
        assert!(Routes::default().project(&rows).is_empty());
    }

    fn error_of(routes: Value) -> String {
        let e = parse(routes).unwrap_err();
        assert_eq!(e.var, "LOG_ROUTES");
        e.message
    }

    #[test]
    fn errors_name_the_route_and_the_field() {
        let e = error_of(json!([{"name": "errors", "columns": ["level"],
            "filter": {"field": "level", "op": "startswith", "value": "W"}}]));
        assert!(
            e.starts_with("route \"errors\" (routes[0]): filter.op: unknown operator"),
            "{e}"
        );
        let e = error_of(json!([{"name": "a", "columns": ["level", "colour"]}]));
        assert!(
            e.starts_with("route \"a\" (routes[0]): columns[1]: unknown field \"colour\""),
            "{e}"
        );
        let e = error_of(json!([{"name": "a", "columns": ["data.user.id"]}]));
        assert!(
            e.contains("columns[0]: \"data.user.id\" needs a column name"),
            "{e}"
        );
        let e = error_of(
            json!([{"name": "a", "columns": [{"name": "x", "from": "data.x", "type": "BLOB"}]}]),
        );
        assert!(e.contains("columns[0]: type: \"BLOB\" is not TEXT"), "{e}");
        let e = error_of(json!([{"name": "a", "table": "logs; DROP", "columns": ["level"]}]));
        assert!(
            e.contains("table: \"logs; DROP\" is not a table name"),
            "{e}"
        );
        let e = error_of(json!([{"name": "a", "table": "logs", "columns": ["level"]}]));
        assert!(e.contains("is the firehose table"), "{e}");
        let e = error_of(json!([{"name": "a", "table": "shards", "columns": ["level"]}]));
        assert!(e.contains("reserved"), "{e}");
        let e = error_of(
            json!([{"name": "a", "columns": ["level"]}, {"name": "b", "table": "a", "columns": ["level"]}]),
        );
        assert!(
            e.starts_with("route \"b\" (routes[1]): table: another route writes \"a\""),
            "{e}"
        );
        let e = error_of(
            json!([{"name": "a", "columns": ["level", {"name": "level", "from": "path"}]}]),
        );
        assert!(
            e.contains("columns[1]: the table already has a column \"level\""),
            "{e}"
        );
        let e = error_of(json!([{"name": "a", "columns": [{"name": "id", "from": "path"}]}]));
        assert!(e.contains("already has a column \"id\""), "{e}");
        for rowid in ["rowid", "oid", "_rowid_"] {
            let e = error_of(
                json!([{"name": "a", "columns": [{"name": rowid, "from": "level"}, "message"]}]),
            );
            assert!(e.contains("is SQLite's row id"), "{e}");
        }
        let e = error_of(json!([{"name": "a", "table": "logs_fts_data", "columns": ["level"]}]));
        assert!(e.contains("reserved"), "{e}");
        let e = error_of(json!([{"name": "a", "columns": ["level"], "retention_days": 0}]));
        assert!(e.contains("retention_days: a whole number of days"), "{e}");
        let e = error_of(json!([{"name": "a", "columns": ["level"], "indexes": [["path"]]}]));
        assert!(
            e.contains("indexes[0]: \"path\" is not a column of this route"),
            "{e}"
        );
        let e = error_of(json!([{"name": "a", "columns": ["level"], "retention": 3}]));
        assert!(e.contains("unknown key \"retention\""), "{e}");
        let e = error_of(json!([{"name": "Bad Name", "columns": ["level"]}]));
        assert!(
            e.starts_with("routes[0]: name:") || e.contains("is not a route name"),
            "{e}"
        );
        let e = error_of(json!([{"name": "a"}]));
        assert!(e.contains("columns: required"), "{e}");
        let e = error_of(json!({"name": "a"}));
        assert_eq!(e, "must be a JSON array of routes");
        assert!(error_of(json!("[")).contains("JSON array"));
        let e = Routes::parse(Some("[{"), None, None).unwrap_err();
        assert!(e.message.starts_with("not valid JSON"), "{e:?}");
        let e = Routes::parse(None, Some("Logs"), None).unwrap_err();
        assert_eq!(e.var, "LOG_FIREHOSE_TABLE");
        let e = Routes::parse(None, None, Some("-1")).unwrap_err();
        assert_eq!(e.var, "LOG_FIREHOSE_RETENTION_DAYS");
    }

    #[test]
    fn listing_a_key_column_is_allowed() {
        let r = parse(json!([{"name": "a", "columns": ["id", "timestamp", "level"]}])).unwrap();
        assert_eq!(r.routes[0].columns.len(), 4);
    }
}
