//! Route filters: declarative conditions on the fields of an enriched entry, and their evaluation.
//!
//! A filter is JSON, never code: `{"field": "level", "op": "gte", "value": "WARN"}` combined with
//! `{"all": [...]}`, `{"any": [...]}` and `{"not": {...}}`. Fields are the firehose columns
//! (`app_id`, `level`, `method`, `path`, `host`, `country`, `colo` ...), `data.<path>` inside the
//! custom data and `headers.<name>` among the kept request headers. Filters are parsed once, with
//! errors that name the place (`filter.all[1].op`), and evaluated on a row as the LogBatcher holds
//! it (a JSON array in `columns::COLUMNS` order). Does not know routes or tables (`route`).
//!
//! Semantics of a missing field (JSON null or absent): only `exists: false`, `ne` and `not_in`
//! match it. `level` compares by severity (`gte WARN` is WARN and ERROR); other strings compare
//! by bytes; numbers compare as numbers; values of different kinds never match an ordering.

use crate::model::columns::COLUMNS;
use crate::model::level::Level;
use crate::store::route::{invalid, Invalid};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Deepest nesting of `all`/`any`/`not`.
pub const MAX_DEPTH: usize = 8;
/// Most conditions in one filter.
pub const MAX_CONDITIONS: usize = 64;
/// Most values in one `in`/`not_in` list.
pub const MAX_LIST: usize = 1_000;
/// Most segments in a `data.` path.
pub const MAX_PATH_SEGMENTS: usize = 8;

/// Where a value comes from in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A firehose column, by its index in `columns::COLUMNS`.
    Column(usize),
    /// A path inside the custom data object (`data.user.id`); numeric segments also index arrays.
    Data(Vec<String>),
    /// A kept request header, by lower-case name (`headers.accept`).
    Header(String),
}

fn column_index(name: &str) -> Option<usize> {
    COLUMNS.iter().position(|c| *c == name)
}

impl Field {
    /// Parses `level`, `data.user.id` or `headers.accept`.
    pub fn parse(s: &str) -> Result<Field, Invalid> {
        if let Some(i) = column_index(s) {
            return Ok(Field::Column(i));
        }
        if let Some(path) = s.strip_prefix("data.") {
            let segments: Vec<String> = path.split('.').map(str::to_string).collect();
            if segments.len() > MAX_PATH_SEGMENTS {
                return Err(invalid!(
                    "{s:?} is deeper than {MAX_PATH_SEGMENTS} segments"
                ));
            }
            if let Some(bad) = segments.iter().find(|seg| !is_segment(seg)) {
                return Err(invalid!(
                    "{s:?}: path segment {bad:?} must be 1 to 64 letters, digits, '_' or '-'"
                ));
            }
            return Ok(Field::Data(segments));
        }
        if let Some(name) = s.strip_prefix("headers.") {
            if !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Ok(Field::Header(name.to_ascii_lowercase()));
            }
            return Err(invalid!("{s:?}: not a header name"));
        }
        Err(invalid!(
            "unknown field {s:?}; fields are the logged columns ({}), data.<path> or headers.<name>",
            COLUMNS.join(", ")
        ))
    }

    /// Whether this is the `level` column, whose values compare by severity.
    pub fn is_level(&self) -> bool {
        matches!(self, Field::Column(i) if COLUMNS[*i] == "level")
    }

    /// The field's value in `row` (a row in `COLUMNS` order); JSON null counts as missing.
    pub fn get<'a>(&self, row: &'a [Value]) -> Option<&'a Value> {
        let found = match self {
            Field::Column(i) => row.get(*i),
            Field::Data(path) => {
                let mut v = row.get(column_index("data")?)?;
                for seg in path {
                    v = match v {
                        Value::Object(m) => m.get(seg)?,
                        Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                Some(v)
            }
            Field::Header(name) => row.get(column_index("headers")?)?.get(name),
        };
        found.filter(|v| !v.is_null())
    }
}

fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A comparison of a filter condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Prefix,
    Suffix,
    Contains,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
}

const OPS: [(&str, Op); 12] = [
    ("eq", Op::Eq),
    ("ne", Op::Ne),
    ("in", Op::In),
    ("not_in", Op::NotIn),
    ("prefix", Op::Prefix),
    ("suffix", Op::Suffix),
    ("contains", Op::Contains),
    ("gt", Op::Gt),
    ("gte", Op::Gte),
    ("lt", Op::Lt),
    ("lte", Op::Lte),
    ("exists", Op::Exists),
];

/// One condition: a field of the entry, an operator and the value compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: Field,
    pub op: Op,
    /// Checked against the operator when parsed; level names are upper-cased.
    pub value: Value,
}

/// A route's filter: a condition, or all/any/not of filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Cond(Condition),
}

impl Filter {
    /// Parses a filter; errors start with the place in the filter (`filter.all[0].op: ...`).
    pub fn parse(v: &Value) -> Result<Filter, Invalid> {
        let mut count = 0;
        parse_at(v, "filter", 0, &mut count)
    }

    /// Whether the row (in `COLUMNS` order) passes.
    pub fn matches(&self, row: &[Value]) -> bool {
        match self {
            Filter::All(fs) => fs.iter().all(|f| f.matches(row)),
            Filter::Any(fs) => fs.iter().any(|f| f.matches(row)),
            Filter::Not(f) => !f.matches(row),
            Filter::Cond(c) => c.matches(row),
        }
    }
}

fn parse_at(v: &Value, at: &str, depth: usize, count: &mut usize) -> Result<Filter, Invalid> {
    if depth > MAX_DEPTH {
        return Err(invalid!("{at}: nested deeper than {MAX_DEPTH} levels"));
    }
    let Value::Object(obj) = v else {
        return Err(invalid!(
            "{at}: must be an object ({{\"field\", \"op\", \"value\"}}, all, any or not)"
        ));
    };
    let combinator = ["all", "any", "not"]
        .into_iter()
        .find(|k| obj.contains_key(*k));
    if let Some(k) = combinator {
        if obj.len() != 1 {
            return Err(invalid!("{at}: {k:?} must be the object's only key"));
        }
        let inner = &obj[k];
        let here = format!("{at}.{k}");
        if k == "not" {
            return Ok(Filter::Not(Box::new(parse_at(
                inner,
                &here,
                depth + 1,
                count,
            )?)));
        }
        let Value::Array(items) = inner else {
            return Err(invalid!("{here}: must be an array of filters"));
        };
        if items.is_empty() {
            return Err(invalid!("{here}: must not be empty"));
        }
        let parsed = items
            .iter()
            .enumerate()
            .map(|(i, f)| parse_at(f, &format!("{here}[{i}]"), depth + 1, count))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if k == "all" {
            Filter::All(parsed)
        } else {
            Filter::Any(parsed)
        });
    }
    *count += 1;
    if *count > MAX_CONDITIONS {
        return Err(invalid!("{at}: more than {MAX_CONDITIONS} conditions"));
    }
    parse_condition(obj, at).map(Filter::Cond)
}

fn parse_condition(obj: &Map<String, Value>, at: &str) -> Result<Condition, Invalid> {
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "field" | "op" | "value"))
    {
        return Err(invalid!(
            "{at}: unknown key {k:?} (a condition has field, op and value; combine with all, any, not)"
        ));
    }
    let field_name = obj
        .get("field")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid!("{at}.field: required, a string"))?;
    let field = Field::parse(field_name).map_err(|e| invalid!("{at}.field: {e}"))?;
    let op_name = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid!("{at}.op: required, a string"))?;
    let op = OPS
        .iter()
        .find(|(n, _)| *n == op_name)
        .map(|(_, o)| *o)
        .ok_or_else(|| {
            let names: Vec<&str> = OPS.iter().map(|(n, _)| *n).collect();
            format!(
                "{at}.op: unknown operator {op_name:?}; expected one of {}",
                names.join(", ")
            )
        })?;
    let at_value = format!("{at}.value");
    let value = check_value(op, obj.get("value"), &at_value)?;
    let value = if field.is_level() && op != Op::Exists {
        level_values(value, &at_value)?
    } else {
        value
    };
    Ok(Condition { field, op, value })
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn check_value(op: Op, v: Option<&Value>, at: &str) -> Result<Value, Invalid> {
    match op {
        Op::Exists => match v {
            None => Ok(Value::Bool(true)),
            Some(Value::Bool(b)) => Ok(Value::Bool(*b)),
            Some(_) => Err(invalid!("{at}: exists takes true or false")),
        },
        Op::In | Op::NotIn => match v {
            Some(Value::Array(items))
                if !items.is_empty() && items.len() <= MAX_LIST && items.iter().all(is_scalar) =>
            {
                Ok(Value::Array(items.clone()))
            }
            _ => Err(invalid!(
                "{at}: must be a list of 1 to {MAX_LIST} strings, numbers or booleans"
            )),
        },
        Op::Prefix | Op::Suffix => match v {
            Some(Value::String(s)) if !s.is_empty() => Ok(Value::String(s.clone())),
            _ => Err(invalid!("{at}: must be a non-empty string")),
        },
        Op::Eq | Op::Ne | Op::Contains => match v {
            Some(v) if is_scalar(v) => Ok(v.clone()),
            Some(Value::Null) | None => Err(invalid!(
                "{at}: required, a string, number or boolean (use op exists for missing fields)"
            )),
            Some(_) => Err(invalid!("{at}: must be a string, number or boolean")),
        },
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => match v {
            Some(v @ (Value::String(_) | Value::Number(_))) => Ok(v.clone()),
            _ => Err(invalid!("{at}: must be a number or a string")),
        },
    }
}

/// Level values are written in canonical upper case and must name a level.
fn level_values(v: Value, at: &str) -> Result<Value, Invalid> {
    let one = |v: &Value| -> Result<Value, Invalid> {
        let s = v
            .as_str()
            .ok_or_else(|| invalid!("{at}: a level is a string"))?;
        s.parse::<Level>()
            .map(|l| Value::String(l.as_str().into()))
            .map_err(|e| invalid!("{at}: {e}"))
    };
    match v {
        Value::Array(items) => items
            .iter()
            .map(one)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        v => one(&v),
    }
}

/// Equality across JSON kinds the way a user means it: `1` equals `1.0`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

fn level_rank(v: &Value) -> Option<Level> {
    v.as_str()?.parse().ok()
}

fn compare(a: &Value, b: &Value, by_level: bool) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(_), Value::String(_)) if by_level => {
            Some(level_rank(a)?.cmp(&level_rank(b)?))
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Condition {
    pub fn matches(&self, row: &[Value]) -> bool {
        let found = self.field.get(row);
        let list = || self.value.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let text = || self.value.as_str().unwrap_or("");
        let Some(v) = found else {
            return match self.op {
                Op::Exists => self.value == Value::Bool(false),
                Op::Ne | Op::NotIn => true,
                _ => false,
            };
        };
        let ordered = |want: fn(Ordering) -> bool| {
            compare(v, &self.value, self.field.is_level()).is_some_and(want)
        };
        match self.op {
            Op::Exists => self.value == Value::Bool(true),
            Op::Eq => same(v, &self.value),
            Op::Ne => !same(v, &self.value),
            Op::In => list().iter().any(|x| same(v, x)),
            Op::NotIn => !list().iter().any(|x| same(v, x)),
            Op::Prefix => v.as_str().is_some_and(|s| s.starts_with(text())),
            Op::Suffix => v.as_str().is_some_and(|s| s.ends_with(text())),
            Op::Contains => match v {
                Value::String(s) => self.value.as_str().is_some_and(|t| s.contains(t)),
                Value::Array(items) => items.iter().any(|x| same(x, &self.value)),
                _ => false,
            },
            Op::Gt => ordered(Ordering::is_gt),
            Op::Gte => ordered(Ordering::is_ge),
            Op::Lt => ordered(Ordering::is_lt),
            Op::Lte => ordered(Ordering::is_le),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Vec<Value> {
        let e = crate::model::entry::tests::sample();
        serde_json::from_str(&e.to_row_json()).unwrap()
    }

    fn check(filter: Value) -> bool {
        Filter::parse(&filter).unwrap().matches(&row())
    }

    fn cond(field: &str, op: &str, value: Value) -> bool {
        check(json!({"field": field, "op": op, "value": value}))
    }

    #[test]
    fn eq_and_ne_compare_values() {
        assert!(cond("method", "eq", json!("GET")));
        assert!(!cond("method", "eq", json!("get")), "case-sensitive");
        assert!(cond("asn", "eq", json!(13335)));
        assert!(cond("asn", "eq", json!(13335.0)), "1 equals 1.0");
        assert!(cond("data.user.id", "eq", json!(42)));
        assert!(!cond("data.user.id", "eq", json!("42")), "kinds differ");
        assert!(cond("method", "ne", json!("POST")));
        assert!(!cond("method", "ne", json!("GET")));
    }

    #[test]
    fn in_and_not_in_test_membership() {
        assert!(cond("country", "in", json!(["DE", "US"])));
        assert!(!cond("country", "in", json!(["DE", "FR"])));
        assert!(cond("country", "not_in", json!(["DE", "FR"])));
        assert!(!cond("country", "not_in", json!(["US"])));
    }

    #[test]
    fn prefix_suffix_and_contains_work_on_text() {
        assert!(cond("path", "prefix", json!("/ca")));
        assert!(!cond("path", "prefix", json!("/api")));
        assert!(cond("host", "suffix", json!(".example")));
        assert!(cond("user_agent", "contains", json!("url/")));
        assert!(!cond("user_agent", "contains", json!("Mozilla")));
        assert!(!cond("asn", "prefix", json!("13")), "numbers are not text");
    }

    #[test]
    fn contains_on_a_list_tests_membership() {
        let mut r = row();
        let data = COLUMNS.iter().position(|c| *c == "data").unwrap();
        r[data] = json!({"tags": ["beta", "eu"]});
        let f = |v: Value| {
            Filter::parse(&json!({"field": "data.tags", "op": "contains", "value": v}))
                .unwrap()
                .matches(&r)
        };
        assert!(f(json!("eu")));
        assert!(!f(json!("us")));
    }

    #[test]
    fn orderings_compare_numbers_strings_and_levels_by_severity() {
        assert!(cond("timestamp", "gte", json!(1_700_000_000_123i64)));
        assert!(!cond("timestamp", "gt", json!(1_700_000_000_123i64)));
        assert!(cond("timestamp", "lt", json!(1_800_000_000_000i64)));
        assert!(cond("timestamp", "lte", json!(1_700_000_000_123i64)));
        assert!(cond("data.user.id", "gt", json!(41.5)));
        assert!(cond("path", "gt", json!("/a")));
        // The sample is WARN: byte order would put "WARN" after "ERROR".
        assert!(cond("level", "gte", json!("warn")));
        assert!(!cond("level", "gte", json!("ERROR")));
        assert!(cond("level", "lt", json!("ERROR")));
        assert!(cond("level", "gt", json!("INFO")));
        assert!(!cond("asn", "gt", json!("1")), "kinds differ");
    }

    #[test]
    fn exists_tests_presence_and_null_counts_as_missing() {
        assert!(cond("ray_id", "exists", json!(true)));
        assert!(check(json!({"field": "ray_id", "op": "exists"})));
        assert!(cond("data.user.missing", "exists", json!(false)));
        assert!(!cond("data.user.missing", "exists", json!(true)));
        let mut r = row();
        r[COLUMNS.iter().position(|c| *c == "country").unwrap()] = Value::Null;
        let f = |op: &str, v: Value| {
            Filter::parse(&json!({"field": "country", "op": op, "value": v}))
                .unwrap()
                .matches(&r)
        };
        assert!(f("exists", json!(false)));
        assert!(f("ne", json!("US")), "a missing field is not US");
        assert!(f("not_in", json!(["US"])));
        assert!(!f("eq", json!("US")));
        assert!(!f("in", json!(["US"])));
        assert!(!f("prefix", json!("U")));
        assert!(!f("gte", json!("A")));
    }

    #[test]
    fn headers_and_array_indexes_are_fields() {
        assert!(cond("headers.Accept", "eq", json!("*/*")));
        let mut r = row();
        r[COLUMNS.iter().position(|c| *c == "data").unwrap()] = json!({"items": [{"sku": "a"}]});
        let f =
            Filter::parse(&json!({"field": "data.items.0.sku", "op": "eq", "value": "a"})).unwrap();
        assert!(f.matches(&r));
    }

    #[test]
    fn all_any_and_not_combine() {
        let get = json!({"field": "method", "op": "eq", "value": "GET"});
        let post = json!({"field": "method", "op": "eq", "value": "POST"});
        let us = json!({"field": "country", "op": "eq", "value": "US"});
        assert!(check(json!({"all": [get, us]})));
        assert!(!check(json!({"all": [post, us]})));
        assert!(check(json!({"any": [post, us]})));
        assert!(!check(json!({"any": [post, {"not": us}]})));
        assert!(check(json!({"not": post})));
    }

    fn error(filter: Value) -> String {
        Filter::parse(&filter).unwrap_err().0
    }

    #[test]
    fn errors_name_the_place_and_the_problem() {
        let e = error(json!({"all": [
            {"field": "level", "op": "eq", "value": "WARN"},
            {"field": "path", "op": "startswith", "value": "/a"}
        ]}));
        assert!(
            e.starts_with("filter.all[1].op: unknown operator \"startswith\""),
            "{e}"
        );
        let e = error(json!({"field": "status_code", "op": "eq", "value": 1}));
        assert!(
            e.starts_with("filter.field: unknown field \"status_code\""),
            "{e}"
        );
        let e = error(json!({"field": "level", "op": "eq", "value": "WARNING"}));
        assert!(
            e.contains("filter.value") && e.contains("unknown level"),
            "{e}"
        );
        let e = error(json!({"field": "path", "op": "in", "value": "/a"}));
        assert!(e.starts_with("filter.value: must be a list"), "{e}");
        let e = error(json!({"field": "path", "op": "eq"}));
        assert!(e.contains("use op exists"), "{e}");
        let e = error(json!({"field": "path", "op": "eq", "value": "/", "vaule": 1}));
        assert!(e.contains("unknown key \"vaule\""), "{e}");
        let e = error(json!({"any": []}));
        assert_eq!(e, "filter.any: must not be empty");
        let e = error(json!({"field": "data.a..b", "op": "exists"}));
        assert!(e.contains("path segment"), "{e}");
        let e = error(json!(["level"]));
        assert!(e.starts_with("filter: must be an object"), "{e}");
    }

    #[test]
    fn filters_are_bounded() {
        let mut f = json!({"field": "path", "op": "exists"});
        for _ in 0..=MAX_DEPTH {
            f = json!({ "not": f });
        }
        assert!(error(f).contains("nested deeper"));
        let many: Vec<Value> = (0..=MAX_CONDITIONS)
            .map(|_| json!({"field": "path", "op": "exists"}))
            .collect();
        assert!(error(json!({ "all": many })).contains("more than 64 conditions"));
    }
}
