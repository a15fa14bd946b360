//! Writes: [`Insert`] (and upsert), [`Update`], [`Delete`], and what they answer.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::query::{Count, check_columns};
use super::send::{self, Params, Verb};
use super::{FilterSet, Filterable, JsonBody, Target, filter};
use crate::Error;

/// What a write answered.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Written<T = Value> {
    /// The written rows, with [`returning`](Insert::returning); empty otherwise.
    pub rows: Vec<T>,
    /// How many rows were affected (from `Content-Range`), when the service said.
    pub affected: Option<u64>,
    /// The HTTP status (201 for an insert, 200 with rows, 204 without).
    pub status: u16,
    /// The request id.
    pub request_id: Option<String>,
}

/// What every write shares: the target, the rows to return, the count.
#[derive(Clone, Debug)]
struct Common {
    target: Target,
    returning: Option<String>,
    count: Option<Count>,
    error: Option<Error>,
}

impl Common {
    fn new(target: Target) -> Self {
        Self { target, returning: None, count: None, error: None }
    }

    fn prefer(&self, extra: &[&str]) -> Option<String> {
        let mut parts: Vec<&str> = Vec::new();
        if self.returning.is_some() {
            parts.push("return=representation");
        }
        if let Some(count) = self.count {
            parts.push(count.prefer());
        }
        parts.extend_from_slice(extra);
        (!parts.is_empty()).then(|| parts.join(","))
    }

    fn check(&mut self) -> Result<(), Error> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.target.check()?;
        if let Some(columns) = &self.returning {
            check_columns(columns)?;
        }
        Ok(())
    }

    async fn finish<T: DeserializeOwned>(
        &self,
        verb: Verb,
        params: Params<'_>,
        body: Option<&JsonBody>,
    ) -> Result<Written<T>, Error> {
        let operation = match verb {
            Verb::Post => "insert_records",
            Verb::Patch => "update_records",
            _ => "delete_records",
        };
        let reply = send::send(&self.target, verb, &params, body).await?;
        let rows = if reply.body.iter().all(u8::is_ascii_whitespace) {
            Vec::new()
        } else {
            crate::error::decode_json(&reply.body, operation, reply.status, reply.request_id.clone())?
        };
        Ok(Written { rows, affected: reply.range.total, status: reply.status, request_id: reply.request_id })
    }
}

macro_rules! returning_methods {
    () => {
        /// Answers the written rows (`Prefer: return=representation`, every column).
        pub fn returning(self) -> Self {
            self.returning_columns("*")
        }

        /// Answers these columns of the written rows.
        pub fn returning_columns(mut self, columns: &str) -> Self {
            self.common.returning = Some(columns.chars().filter(|c| !c.is_whitespace()).collect());
            self
        }

        /// Counts the affected rows (`Prefer: count=...`).
        pub fn count(mut self, count: Count) -> Self {
            self.common.count = Some(count);
            self
        }
    };
}

/// Serialises rows and checks their shape: an object, or a non-empty array of objects. Answers the body and,
/// for several rows, the union of their keys (`columns=`).
fn rows_body<T: Serialize + ?Sized>(rows: &T) -> Result<(JsonBody, Option<String>), Error> {
    let value = serde_json::to_value(rows).map_err(|e| Error::invalid("rows", format!("cannot serialise: {e}")))?;
    let columns = match &value {
        Value::Object(row) => {
            if row.is_empty() {
                return Err(Error::invalid("rows", "a row without any column"));
            }
            for key in row.keys() {
                filter::identifier("rows", key)?;
            }
            None
        }
        Value::Array(items) if items.is_empty() => return Err(Error::invalid("rows", "no row to insert")),
        Value::Array(items) => {
            let mut keys: Vec<&str> = Vec::new();
            for item in items {
                let Value::Object(row) = item else {
                    return Err(Error::invalid("rows", "each row must serialise to a JSON object"));
                };
                for key in row.keys() {
                    if !keys.contains(&key.as_str()) {
                        filter::identifier("rows", key)?;
                        keys.push(key);
                    }
                }
            }
            Some(keys.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(","))
        }
        _ => return Err(Error::invalid("rows", "rows must serialise to a JSON object or an array of objects")),
    };
    Ok((JsonBody::new(&value)?, columns))
}

/// An insert (or upsert) being built ([`Table::insert`](super::Table::insert)).
#[derive(Clone, Debug)]
#[must_use = "an insert does nothing until it is executed"]
pub struct Insert {
    common: Common,
    body: Result<(JsonBody, Option<String>), Error>,
    upsert: Option<&'static str>,
    on_conflict: Option<String>,
    missing_default: bool,
}

impl Insert {
    pub(crate) fn new<T: Serialize + ?Sized>(target: Target, rows: &T, upsert: bool) -> Self {
        Self {
            common: Common::new(target),
            body: rows_body(rows),
            upsert: upsert.then_some("resolution=merge-duplicates"),
            on_conflict: None,
            missing_default: false,
        }
    }

    returning_methods!();

    /// The unique columns an upsert resolves on (default: the primary key), comma-separated.
    pub fn on_conflict(mut self, columns: &str) -> Self {
        for column in columns.split(',') {
            if let Err(e) = filter::identifier("on_conflict", column.trim()) {
                self.common.error.get_or_insert(e);
            }
        }
        self.on_conflict = Some(columns.chars().filter(|c| !c.is_whitespace()).collect());
        self
    }

    /// An upsert keeps the existing rows instead of updating them (`resolution=ignore-duplicates`).
    pub fn ignore_duplicates(mut self) -> Self {
        self.upsert = Some("resolution=ignore-duplicates");
        self
    }

    /// With several rows, a column a row lacks takes its default instead of null (`missing=default`).
    pub fn default_to_null(mut self, to_null: bool) -> Self {
        self.missing_default = !to_null;
        self
    }

    /// Runs the insert; the written rows decoded as `T` with [`returning`](Self::returning).
    pub async fn execute<T: DeserializeOwned>(mut self) -> Result<Written<T>, Error> {
        self.common.check()?;
        let (body, columns) = self.body?;
        if self.on_conflict.is_some() && self.upsert.is_none() {
            return Err(Error::invalid("on_conflict", "only an upsert resolves conflicts: use `upsert`"));
        }
        let extra: Vec<&str> =
            self.upsert.into_iter().chain(self.missing_default.then_some("missing=default")).collect();
        let prefer = self.common.prefer(&extra);
        let params = Params {
            select: self.common.returning.as_deref(),
            on_conflict: self.on_conflict.as_deref(),
            columns: columns.as_deref(),
            prefer: prefer.as_deref(),
            ..Params::default()
        };
        self.common.finish(Verb::Post, params, Some(&body)).await
    }

    /// Runs the insert, the rows (if any) as JSON.
    pub async fn send(self) -> Result<Written, Error> {
        self.execute().await
    }
}

/// The filters, order and limit of an update or a delete: at least one filter, checked before sending.
fn where_params(filters: &mut FilterSet, verb: &str) -> Result<super::Filters, Error> {
    let filters = filters.encoded()?;
    if filters.is_empty() {
        return Err(Error::invalid(
            "filter",
            format!("{verb} needs at least one filter (the service refuses one without)"),
        ));
    }
    Ok(filters)
}

/// An update being built ([`Table::update`](super::Table::update)): filters ([`Filterable`]) are required.
#[derive(Clone, Debug)]
#[must_use = "an update does nothing until it is executed"]
pub struct Update {
    common: Common,
    body: Result<JsonBody, Error>,
    filters: FilterSet,
}

impl Filterable for Update {
    fn filter_set(&mut self) -> &mut FilterSet {
        &mut self.filters
    }
}

impl Update {
    pub(crate) fn new<T: Serialize + ?Sized>(target: Target, patch: &T) -> Self {
        let body = rows_body(patch).and_then(|(body, columns)| match columns {
            None => Ok(body),
            Some(_) => Err(Error::invalid("patch", "an update sets one object's fields, not an array")),
        });
        Self { common: Common::new(target), body, filters: FilterSet::default() }
    }

    returning_methods!();

    /// Runs the update; the updated rows decoded as `T` with [`returning`](Self::returning).
    pub async fn execute<T: DeserializeOwned>(mut self) -> Result<Written<T>, Error> {
        self.common.check()?;
        let body = self.body?;
        let filters = where_params(&mut self.filters, "an update")?;
        let prefer = self.common.prefer(&[]);
        let params = Params {
            filters: Some(&filters),
            select: self.common.returning.as_deref(),
            prefer: prefer.as_deref(),
            ..Params::default()
        };
        self.common.finish(Verb::Patch, params, Some(&body)).await
    }

    /// Runs the update, the rows (if any) as JSON.
    pub async fn send(self) -> Result<Written, Error> {
        self.execute().await
    }
}

/// A delete being built ([`Table::delete`](super::Table::delete)): filters ([`Filterable`]) are required.
#[derive(Clone, Debug)]
#[must_use = "a delete does nothing until it is executed"]
pub struct Delete {
    common: Common,
    filters: FilterSet,
}

impl Filterable for Delete {
    fn filter_set(&mut self) -> &mut FilterSet {
        &mut self.filters
    }
}

impl Delete {
    pub(crate) fn new(target: Target) -> Self {
        Self { common: Common::new(target), filters: FilterSet::default() }
    }

    returning_methods!();

    /// Runs the delete; the deleted rows decoded as `T` with [`returning`](Self::returning).
    pub async fn execute<T: DeserializeOwned>(mut self) -> Result<Written<T>, Error> {
        self.common.check()?;
        let filters = where_params(&mut self.filters, "a delete")?;
        let prefer = self.common.prefer(&[]);
        let params = Params {
            filters: Some(&filters),
            select: self.common.returning.as_deref(),
            prefer: prefer.as_deref(),
            ..Params::default()
        };
        self.common.finish(Verb::Delete, params, None).await
    }

    /// Runs the delete, the rows (if any) as JSON.
    pub async fn send(self) -> Result<Written, Error> {
        self.execute().await
    }
}
