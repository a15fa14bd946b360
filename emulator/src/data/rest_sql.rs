//! Runs the MySQL RESTful operations on SQLite: every statement is built from a parsed [`Query`], with
//! table and column names checked against the live schema and quoted, and every value bound.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode};
use serde_json::{Map, Value};

use super::db::{Table, query_json, quote_ident, sql_of, table};
use super::grammar::{Cond, IsValue, Op, Operand, Order, Query, SelectItem};

/// Why an operation failed: answered as `status {code, message, requestId}`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn param(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_PARAM", message)
    }
}

/// A SQLite error: constraint violations are conflicts (409), anything else a bad request.
pub(crate) fn sql_failure(e: rusqlite::Error) -> Failure {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => Failure::new(409, "INVALID_REQUEST", e.to_string()),
        _ => Failure::new(400, "INVALID_REQUEST", e.to_string()),
    }
}

/// How a write resolves conflicts (`Prefer: resolution=...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

/// What to do, fully parsed.
pub(crate) enum Action {
    Read {
        count: bool,
    },
    Insert {
        rows: Vec<Map<String, Value>>,
        resolution: Option<Resolution>,
        missing_default: bool,
        openid: Option<String>,
    },
    Update {
        values: Map<String, Value>,
    },
    Delete,
}

/// What happened.
pub(crate) struct Outcome {
    /// The rows read, or the rows written (`RETURNING` the selected columns).
    pub rows: Vec<Value>,
    /// The exact count, when one was asked for (reads).
    pub total: Option<i64>,
}

fn column(table: &Table, name: &str) -> Result<String, Failure> {
    if table.has(name) {
        Ok(quote_ident(name))
    } else {
        Err(Failure::param(format!("column {name:?} does not exist in table {:?}", table.name)))
    }
}

/// `expr` for the select list (`*` when empty).
fn projection(table: &Table, select: &[SelectItem]) -> Result<String, Failure> {
    if select.is_empty() {
        return Ok("*".to_owned());
    }
    let mut parts = Vec::with_capacity(select.len());
    for item in select {
        parts.push(match item {
            SelectItem::Star => "*".to_owned(),
            SelectItem::Column { alias: None, column: c } => column(table, c)?,
            SelectItem::Column { alias: Some(alias), column: c } => {
                format!("{} AS {}", column(table, c)?, quote_ident(alias))
            }
        });
    }
    Ok(parts.join(", "))
}

fn order_clause(table: &Table, order: &[Order]) -> Result<String, Failure> {
    if order.is_empty() {
        return Ok(String::new());
    }
    let mut parts = Vec::with_capacity(order.len());
    for o in order {
        let nulls = match o.nulls_first {
            Some(true) => " NULLS FIRST",
            Some(false) => " NULLS LAST",
            None => "",
        };
        parts.push(format!("{} {}{nulls}", column(table, &o.column)?, if o.desc { "DESC" } else { "ASC" }));
    }
    Ok(format!(" ORDER BY {}", parts.join(", ")))
}

fn condition(table: &Table, cond: &Cond, params: &mut Vec<SqlValue>) -> Result<String, Failure> {
    match cond {
        Cond::Logic { negated, or, items } => {
            let sql = if items.is_empty() {
                (if *or { "0" } else { "1" }).to_owned()
            } else {
                let parts = items.iter().map(|c| condition(table, c, params)).collect::<Result<Vec<_>, _>>()?;
                format!("({})", parts.join(if *or { " OR " } else { " AND " }))
            };
            Ok(if *negated { format!("NOT {sql}") } else { sql })
        }
        Cond::Filter(f) => {
            let col = column(table, &f.column)?;
            let mut bind = |v: String| {
                params.push(SqlValue::Text(v));
                "?"
            };
            let sql = match (&f.op, &f.operand) {
                (Op::Is, Operand::Is(IsValue::Null)) => format!("{col} IS NULL"),
                (Op::Is, Operand::Is(IsValue::True)) => format!("{col} IS TRUE"),
                (Op::Is, Operand::Is(IsValue::False)) => format!("{col} IS FALSE"),
                (Op::In, Operand::List(items)) => {
                    let marks: Vec<_> = items.iter().map(|v| bind(v.clone())).collect();
                    format!("{col} IN ({})", marks.join(", "))
                }
                (op, Operand::Value(v)) => match op {
                    Op::Eq => format!("{col} = {}", bind(v.clone())),
                    Op::Neq => format!("{col} <> {}", bind(v.clone())),
                    Op::Gt => format!("{col} > {}", bind(v.clone())),
                    Op::Gte => format!("{col} >= {}", bind(v.clone())),
                    Op::Lt => format!("{col} < {}", bind(v.clone())),
                    Op::Lte => format!("{col} <= {}", bind(v.clone())),
                    // PostgREST lets `*` stand for `%` (no need to percent-encode it in a URL).
                    Op::Like => format!("{col} LIKE {}", bind(v.replace('*', "%"))),
                    Op::Ilike => format!("emu_lower({col}) LIKE emu_lower({})", bind(v.replace('*', "%"))),
                    Op::Match => format!("{col} REGEXP {}", bind(v.clone())),
                    Op::Imatch => format!("{col} REGEXP {}", bind(format!("(?i){v}"))),
                    Op::In | Op::Is => return Err(Failure::param(format!("bad operand for {}", f.column))),
                },
                _ => return Err(Failure::param(format!("bad operand for {}", f.column))),
            };
            Ok(if f.negated { format!("NOT ({sql})") } else { sql })
        }
    }
}

/// ` WHERE ...` (empty without filters).
fn where_clause(table: &Table, filters: &[Cond], params: &mut Vec<SqlValue>) -> Result<String, Failure> {
    if filters.is_empty() {
        return Ok(String::new());
    }
    let parts = filters.iter().map(|c| condition(table, c, params)).collect::<Result<Vec<_>, _>>()?;
    Ok(format!(" WHERE {}", parts.join(" AND ")))
}

fn limit_clause(query: &Query, params: &mut Vec<SqlValue>) -> String {
    let to_sql = |n: u64| SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX));
    match (query.limit, query.offset) {
        (None, None) => String::new(),
        (limit, offset) => {
            params.push(limit.map_or(SqlValue::Integer(-1), to_sql));
            params.push(to_sql(offset.unwrap_or(0)));
            " LIMIT ? OFFSET ?".to_owned()
        }
    }
}

/// Runs `action` on `table_name`; the whole write is one transaction.
pub(crate) fn run(
    conn: &mut Connection,
    table_name: &str,
    query: &Query,
    action: Action,
    single: bool,
) -> Result<Outcome, Failure> {
    let table = table(conn, table_name)
        .map_err(sql_failure)?
        .ok_or_else(|| Failure::new(404, "RESOURCE_NOT_FOUND", format!("table {table_name:?} not found")))?;
    let name = quote_ident(&table.name);
    let select = projection(&table, &query.select)?;
    if let Action::Read { count } = action {
        let mut params = Vec::new();
        let filter = where_clause(&table, &query.filters, &mut params)?;
        let total = if count {
            let sql = format!("SELECT count(*) FROM {name}{filter}");
            Some(conn.query_row(&sql, rusqlite::params_from_iter(&params), |r| r.get(0)).map_err(sql_failure)?)
        } else {
            None
        };
        let order = order_clause(&table, &query.order)?;
        let limit = limit_clause(query, &mut params);
        let sql = format!("SELECT {select} FROM {name}{filter}{order}{limit}");
        let rows = query_json(conn, &sql, &params).map_err(sql_failure)?;
        return Ok(Outcome { rows, total });
    }
    let tx = conn.transaction().map_err(sql_failure)?;
    let rows = match action {
        Action::Read { .. } => unreachable!("handled above"),
        Action::Insert { rows, resolution, missing_default, openid } => {
            insert(&tx, &table, query, rows, resolution, missing_default, openid.as_deref(), &select)?
        }
        Action::Update { values } => {
            if values.is_empty() {
                return Err(Failure::param("the request body names no column to update"));
            }
            let mut params = Vec::new();
            let mut sets = Vec::with_capacity(values.len());
            for (key, value) in &values {
                sets.push(format!("{} = ?", column(&table, key)?));
                params.push(sql_of(value));
            }
            let target = target_rows(&table, query, &mut params)?;
            let sql = format!("UPDATE {name} SET {}{target} RETURNING {select}", sets.join(", "));
            query_json(&tx, &sql, &params).map_err(sql_failure)?
        }
        Action::Delete => {
            let mut params = Vec::new();
            let target = target_rows(&table, query, &mut params)?;
            query_json(&tx, &format!("DELETE FROM {name}{target} RETURNING {select}"), &params).map_err(sql_failure)?
        }
    };
    if single && rows.len() != 1 {
        // Dropping the transaction rolls the write back, as PostgREST does.
        return Err(single_failure(rows.len()));
    }
    tx.commit().map_err(sql_failure)?;
    Ok(Outcome { rows, total: None })
}

/// The 406 of `Accept: application/vnd.pgrst.object+json` when not exactly one row matched.
pub(crate) fn single_failure(rows: usize) -> Failure {
    Failure::new(
        406,
        "INVALID_REQUEST",
        format!("JSON object requested, multiple (or no) rows returned: the result contains {rows} rows"),
    )
}

/// ` WHERE ...` of an update or delete; with `order`/`limit` the rows are picked by a rowid subquery
/// (SQLite has no `UPDATE ... LIMIT` in its default build).
fn target_rows(table: &Table, query: &Query, params: &mut Vec<SqlValue>) -> Result<String, Failure> {
    let filter = where_clause(table, &query.filters, params)?;
    if query.limit.is_none() && query.offset.is_none() && query.order.is_empty() {
        return Ok(filter);
    }
    let order = order_clause(table, &query.order)?;
    let limit = limit_clause(query, params);
    Ok(format!(" WHERE rowid IN (SELECT rowid FROM {}{filter}{order}{limit})", quote_ident(&table.name)))
}

#[allow(clippy::too_many_arguments)]
fn insert(
    conn: &Connection,
    table: &Table,
    query: &Query,
    rows: Vec<Map<String, Value>>,
    resolution: Option<Resolution>,
    missing_default: bool,
    openid: Option<&str>,
    select: &str,
) -> Result<Vec<Value>, Failure> {
    if let Some(columns) = &query.columns {
        for c in columns {
            column(table, c)?;
        }
    }
    let conflict = match &query.on_conflict {
        Some(cols) => cols.iter().map(|c| column(table, c)).collect::<Result<Vec<_>, _>>()?,
        None => table.primary_key.iter().map(|c| quote_ident(c)).collect(),
    };
    let name = quote_ident(&table.name);
    let mut out = Vec::new();
    for mut row in rows {
        if let Some(id) = openid
            && table.has("_openid")
        {
            row.insert("_openid".to_owned(), Value::String(id.to_owned()));
        }
        // With `columns=`, only those keys count; missing ones are NULL unless `missing=default`.
        let keys: Vec<String> = match &query.columns {
            Some(columns) if !missing_default => {
                let mut keys = columns.clone();
                if row.contains_key("_openid") && openid.is_some() && !keys.iter().any(|k| k == "_openid") {
                    keys.push("_openid".to_owned());
                }
                keys
            }
            Some(columns) => {
                row.keys().filter(|k| columns.contains(k) || (*k == "_openid" && openid.is_some())).cloned().collect()
            }
            None => row.keys().cloned().collect(),
        };
        let mut params = Vec::with_capacity(keys.len());
        let mut cols = Vec::with_capacity(keys.len());
        for key in &keys {
            cols.push(column(table, key)?);
            params.push(row.get(key).map_or(SqlValue::Null, sql_of));
        }
        let sql = if cols.is_empty() {
            format!("INSERT INTO {name} DEFAULT VALUES RETURNING {select}")
        } else {
            let marks = vec!["?"; cols.len()].join(", ");
            let target = if conflict.is_empty() { String::new() } else { format!("({})", conflict.join(", ")) };
            let upsert = match resolution {
                None => String::new(),
                Some(Resolution::IgnoreDuplicates) => format!(" ON CONFLICT{target} DO NOTHING"),
                Some(Resolution::MergeDuplicates) => {
                    let sets: Vec<_> = cols.iter().map(|c| format!("{c} = excluded.{c}")).collect();
                    format!(" ON CONFLICT{target} DO UPDATE SET {}", sets.join(", "))
                }
            };
            format!("INSERT INTO {name} ({}) VALUES ({marks}){upsert} RETURNING {select}", cols.join(", "))
        };
        out.extend(query_json(conn, &sql, &params).map_err(sql_failure)?);
    }
    Ok(out)
}
