//! Reads: [`Select`], its ordering and paging, and what it answers.

use serde::de::DeserializeOwned;

use super::send::{self, Params, Verb};
use super::{FilterSet, Filterable, Target, filter};
use crate::Error;

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// Where nulls sort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nulls {
    /// Before the other values.
    First,
    /// After the other values.
    Last,
}

/// How to count the matching rows (`Prefer: count=...`); the total arrives in `Content-Range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// An exact count.
    Exact,
    /// The planner's estimate (MySQL answers the exact count).
    Planned,
    /// An estimate (MySQL answers the exact count).
    Estimated,
}

impl Count {
    pub(crate) fn prefer(self) -> &'static str {
        match self {
            Count::Exact => "count=exact",
            Count::Planned => "count=planned",
            Count::Estimated => "count=estimated",
        }
    }
}

/// Rows read, with the total when a [`Count`] was asked.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Rows<T> {
    /// The rows, decoded.
    pub rows: Vec<T>,
    /// All matching rows (not only this page), when a count was asked.
    pub total: Option<u64>,
    /// The HTTP status.
    pub status: u16,
    /// The request id.
    pub request_id: Option<String>,
}

/// A query being built ([`Table::select`](super::Table::select)): filters ([`Filterable`]), ordering, paging;
/// then [`execute`](Self::execute), [`single`](Self::single), [`maybe_single`](Self::maybe_single) or
/// [`count_only`](Self::count_only).
#[derive(Clone, Debug)]
#[must_use = "a query does nothing until it is executed"]
pub struct Select {
    target: Target,
    columns: String,
    filters: FilterSet,
    order: Vec<String>,
    limit: Option<u64>,
    offset: Option<u64>,
    count: Option<Count>,
    error: Option<Error>,
}

impl Filterable for Select {
    fn filter_set(&mut self) -> &mut FilterSet {
        &mut self.filters
    }
}

impl Select {
    pub(crate) fn new(target: Target, columns: String) -> Self {
        Self {
            target,
            // The JS SDK drops whitespace too (column names hold none).
            columns: columns.chars().filter(|c| !c.is_whitespace()).collect(),
            filters: FilterSet::default(),
            order: Vec::new(),
            limit: None,
            offset: None,
            count: None,
            error: None,
        }
    }

    fn fail(mut self, error: Error) -> Self {
        self.error.get_or_insert(error);
        self
    }

    /// Sorts by `column` (call again for further keys).
    pub fn order(self, column: &str, order: Order) -> Self {
        self.order_by(column, order, None)
    }

    /// Sorts by `column`, with nulls first or last.
    pub fn order_nulls(self, column: &str, order: Order, nulls: Nulls) -> Self {
        self.order_by(column, order, Some(nulls))
    }

    fn order_by(mut self, column: &str, order: Order, nulls: Option<Nulls>) -> Self {
        if let Err(e) = filter::identifier("order", column) {
            return self.fail(e);
        }
        let direction = match order {
            Order::Asc => "asc",
            Order::Desc => "desc",
        };
        let nulls = match nulls {
            None => "",
            Some(Nulls::First) => ".nullsfirst",
            Some(Nulls::Last) => ".nullslast",
        };
        self.order.push(format!("{column}.{direction}{nulls}"));
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

    /// Rows `from` to `to`, both included, counted from 0 (`offset=from&limit=to-from+1`).
    pub fn range(self, from: u64, to: u64) -> Self {
        if to < from {
            return self.fail(Error::invalid("range", format!("the end {to} is before the start {from}")));
        }
        self.offset(from).limit(to - from + 1)
    }

    /// Also counts all matching rows: [`Rows::total`].
    pub fn count(mut self, count: Count) -> Self {
        self.count = Some(count);
        self
    }

    /// The filter query parameters this query sends (before form encoding), or the mistake in them: for
    /// logs and debugging.
    ///
    /// ```
    /// use cloudbase::mysql::Filterable as _;
    /// # let app = cloudbase::CloudBase::builder("env").build().unwrap();
    /// let query = app.mysql().from("users").select("*").eq("name", "Bob, Jr.").or(|g| g.lt("age", 18).is_null("age"));
    /// assert_eq!(query.encoded().unwrap().to_string(), "name=eq.Bob, Jr.&or=(age.lt.18,age.is.null)");
    /// ```
    pub fn encoded(&self) -> Result<super::Filters, Error> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        self.filters.encode()
    }

    fn checked(&mut self) -> Result<super::Filters, Error> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.target.check()?;
        check_columns(&self.columns)?;
        self.filters.encoded()
    }

    async fn fetch(mut self, verb: Verb, single: bool) -> Result<send::Reply, Error> {
        let filters = self.checked()?;
        let order = (!self.order.is_empty()).then(|| self.order.join(","));
        let prefer = match (verb, self.count) {
            (Verb::Head, _) => Some(Count::Exact.prefer()),
            (_, count) => count.map(Count::prefer),
        };
        let params = Params {
            filters: (!filters.is_empty()).then_some(&filters),
            select: Some(self.columns.as_str()),
            order: order.as_deref(),
            limit: self.limit,
            offset: self.offset,
            prefer,
            single,
            ..Params::default()
        };
        send::send(&self.target, verb, &params, None).await
    }

    /// Runs the query: the matching rows, decoded as `T` straight from the reply.
    pub async fn execute<T: DeserializeOwned>(self) -> Result<Rows<T>, Error> {
        let reply = self.fetch(Verb::Get, false).await?;
        let rows = crate::error::decode_json(&reply.body, "query_records", reply.status, reply.request_id.clone())?;
        Ok(Rows { rows, total: reply.range.total, status: reply.status, request_id: reply.request_id })
    }

    /// Runs the query for exactly one row (`Accept: application/vnd.pgrst.object+json`): none or several is
    /// the service's 406 error.
    pub async fn single<T: DeserializeOwned>(self) -> Result<T, Error> {
        let reply = self.fetch(Verb::Get, true).await?;
        crate::error::decode_json(&reply.body, "query_records", reply.status, reply.request_id)
    }

    /// Runs the query for at most one row: `None` when nothing matches, an error (code `PGRST116`, status
    /// 406, as the JS SDK makes it) when several do.
    pub async fn maybe_single<T: DeserializeOwned>(self) -> Result<Option<T>, Error> {
        let rows = self.execute::<T>().await?;
        let request_id = rows.request_id;
        let mut rows = rows.rows;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop()),
            n => Err(send::not_one_row(n, request_id)),
        }
    }

    /// Counts the matching rows without reading them (`HEAD`, `Prefer: count=exact`).
    pub async fn count_only(self) -> Result<u64, Error> {
        let reply = self.fetch(Verb::Head, false).await?;
        reply.range.total.ok_or(Error::Decode {
            operation: "count_records",
            status: reply.status,
            request_id: reply.request_id,
            body_len: 0,
            reason: "no total in `Content-Range`".to_owned(),
        })
    }
}

/// Checks a `select` list: `*`, or columns (`alias:column`) separated by commas.
pub(crate) fn check_columns(columns: &str) -> Result<(), Error> {
    let columns: String = columns.chars().filter(|c| !c.is_whitespace()).collect();
    if columns == "*" {
        return Ok(());
    }
    if columns.is_empty() {
        return Err(Error::invalid("select", "no column (use `*` for all)"));
    }
    for item in columns.split(',') {
        let column = match item.split_once(':') {
            Some((alias, column)) => {
                filter::identifier("select", alias)?;
                column
            }
            None => item,
        };
        filter::identifier("select", column)?;
    }
    Ok(())
}
