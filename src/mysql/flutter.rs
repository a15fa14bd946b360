//! The Flutter SDK's `app.mysql` methods (`query`, `insert`, `update`, `delete`, `count`), with filters given
//! as the RESTful `op.value` strings (`{"age": "gt.18"}`), over the same builder.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::filter::{CondValue, Filter, Op, identifier};
use super::query::{Count, Nulls, Order};
use super::{Filterable, MySql, Select, push};
use crate::Error;

/// The Flutter SDK's `MySqlQueryOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MySqlQueryOptions {
    /// The columns (`*` when `None`).
    pub select: Option<String>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Skip this many rows.
    pub offset: Option<u64>,
    /// `column.asc` / `column.desc` (comma-separated for several).
    pub order: Option<String>,
    /// Column to `op.value`: `{"age": "gt.18", "name": "like.%x%", "id": "in.(1,2)"}`.
    pub filters: BTreeMap<String, String>,
    /// Also count all matching rows ([`MySqlResponse::total`]).
    pub with_count: bool,
}

impl MySqlQueryOptions {
    /// No option: every column of every row.
    pub fn new() -> Self {
        Self::default()
    }

    /// The columns.
    pub fn select(mut self, columns: impl Into<String>) -> Self {
        self.select = Some(columns.into());
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips `n` rows.
    pub fn offset(mut self, n: u64) -> Self {
        self.offset = Some(n);
        self
    }

    /// `column.asc` / `column.desc`.
    pub fn order(mut self, order: impl Into<String>) -> Self {
        self.order = Some(order.into());
        self
    }

    /// Adds the filter `column` = `op.value`.
    pub fn filter(mut self, column: impl Into<String>, condition: impl Into<String>) -> Self {
        self.filters.insert(column.into(), condition.into());
        self
    }

    /// Counts all matching rows.
    pub fn with_count(mut self, with_count: bool) -> Self {
        self.with_count = with_count;
        self
    }
}

/// The Flutter SDK's `MySqlResponse`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MySqlResponse {
    /// The rows.
    pub data: Vec<Map<String, Value>>,
    /// All matching rows, with [`MySqlQueryOptions::with_count`].
    pub total: Option<u64>,
    /// The HTTP status.
    pub status_code: u16,
    /// The request id.
    pub request_id: Option<String>,
}

/// The Flutter SDK's `MySqlWriteResponse`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MySqlWriteResponse {
    /// The written rows (the service answers them when asked; the Flutter methods do not ask).
    pub data: Vec<Value>,
    /// Rows affected, when the service said.
    pub affected: Option<u64>,
    /// The HTTP status.
    pub status_code: u16,
    /// The request id.
    pub request_id: Option<String>,
}

/// Applies `{column: "op.value"}` filters (`not.` may precede the operator).
fn apply<F: Filterable>(mut builder: F, filters: &BTreeMap<String, String>) -> F {
    for (column, condition) in filters {
        builder = push(builder, raw_filter(column, condition));
    }
    builder
}

fn raw_filter(column: &str, condition: &str) -> Result<Filter, Error> {
    identifier("column", column)?;
    let (negated, rest) = match condition.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, condition),
    };
    let Some((op, value)) = rest.split_once('.') else {
        return Err(Error::invalid("filters", format!("{column}: expected `op.value`, got {condition:?}")));
    };
    let Some(op) = Op::parse(op) else {
        return Err(Error::invalid("filters", format!("{column}: unknown operator {op:?}")));
    };
    if op == Op::In && !(value.starts_with('(') && value.ends_with(')')) {
        return Err(Error::invalid("filters", format!("{column}: `in` takes a list `(a,b)`")));
    }
    // Sent as given: the caller wrote the grammar.
    Ok(Filter::Cond { column: column.to_owned(), op, negated, value: CondValue::One(value.to_owned()) })
}

fn ordered(mut select: Select, order: &str) -> Result<Select, Error> {
    for key in order.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let mut parts = key.split('.');
        let column = parts.next().unwrap_or_default();
        let direction = match parts.next() {
            None | Some("asc") => Order::Asc,
            Some("desc") => Order::Desc,
            Some(other) => return Err(Error::invalid("order", format!("{other:?} is not asc or desc"))),
        };
        select = match parts.next() {
            None => select.order(column, direction),
            Some("nullsfirst") => select.order_nulls(column, direction, Nulls::First),
            Some("nullslast") => select.order_nulls(column, direction, Nulls::Last),
            Some(other) => return Err(Error::invalid("order", format!("{other:?} is not nullsfirst or nullslast"))),
        };
    }
    Ok(select)
}

impl MySql {
    /// The Flutter SDK's `query`: rows of `table` by [`MySqlQueryOptions`].
    pub async fn query(&self, table: &str, options: MySqlQueryOptions) -> Result<MySqlResponse, Error> {
        let mut select = self.from(table).select(options.select.as_deref().unwrap_or("*"));
        if let Some(order) = &options.order {
            select = ordered(select, order)?;
        }
        if let Some(limit) = options.limit {
            select = select.limit(limit);
        }
        if let Some(offset) = options.offset {
            select = select.offset(offset);
        }
        if options.with_count {
            select = select.count(Count::Exact);
        }
        let rows = apply(select, &options.filters).execute::<Map<String, Value>>().await?;
        Ok(MySqlResponse { data: rows.rows, total: rows.total, status_code: rows.status, request_id: rows.request_id })
    }

    /// The Flutter SDK's `insert`: one row (an object) or several; `upsert` resolves key conflicts (on
    /// `on_conflict` when given) by updating.
    pub async fn insert<T: Serialize + ?Sized>(
        &self,
        table: &str,
        data: &T,
        upsert: bool,
        on_conflict: Option<&str>,
    ) -> Result<MySqlWriteResponse, Error> {
        let table = self.from(table);
        let mut insert = if upsert { table.upsert(data) } else { table.insert(data) };
        if let Some(columns) = on_conflict {
            insert = insert.on_conflict(columns);
        }
        let written = insert.send().await?;
        Ok(write_response(written))
    }

    /// The Flutter SDK's `update`: `data`'s fields on the rows `filters` match (at least one filter).
    pub async fn update<T: Serialize + ?Sized>(
        &self,
        table: &str,
        data: &T,
        filters: &BTreeMap<String, String>,
    ) -> Result<MySqlWriteResponse, Error> {
        let written = apply(self.from(table).update(data), filters).send().await?;
        Ok(write_response(written))
    }

    /// The Flutter SDK's `delete`: the rows `filters` match (at least one filter).
    pub async fn delete(&self, table: &str, filters: &BTreeMap<String, String>) -> Result<MySqlWriteResponse, Error> {
        let written = apply(self.from(table).delete(), filters).send().await?;
        Ok(write_response(written))
    }

    /// The Flutter SDK's `count`: how many rows `filters` match.
    pub async fn count(&self, table: &str, filters: &BTreeMap<String, String>) -> Result<u64, Error> {
        apply(self.from(table).select("*"), filters).count_only().await
    }
}

fn write_response(written: super::Written) -> MySqlWriteResponse {
    MySqlWriteResponse {
        data: written.rows,
        affected: written.affected,
        status_code: written.status,
        request_id: written.request_id,
    }
}
