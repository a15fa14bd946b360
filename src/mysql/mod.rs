//! MySQL RESTful tables: `app.mysql()`, over the generated `raw::mysql` client, in two shapes over one
//! implementation: a typed PostgREST query builder (`app.mysql().from("users").select("id,name").eq(..)`)
//! and the Flutter SDK's `query`, `insert`, `update`, `delete`, `count` (see [`MySqlQueryOptions`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emu = cloudbase_emulator::Emulator::builder()
//! #     .sql("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, status TEXT, nickname TEXT);
//! #           INSERT INTO users VALUES (1, 'Ann', 34, 'active', NULL), (2, 'Bo', 17, 'active', 'b')")
//! #     .start()
//! #     .await?;
//! # let app = cloudbase::CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
//! # app.auth().sign_in_anonymously().await?;
//! use cloudbase::mysql::{Count, Filterable as _, Order};
//! #[derive(serde::Deserialize)]
//! struct User { id: i64, name: String }
//! let page = app
//!     .mysql()
//!     .from("users")
//!     .select("id,name")
//!     .eq("status", "active")
//!     .gte("age", 18)
//!     .or(|g| g.like("name", "A%").is_null("nickname"))
//!     .order("id", Order::Desc)
//!     .range(0, 9)
//!     .count(Count::Exact)
//!     .execute::<User>()
//!     .await?;
//! assert_eq!((page.rows[0].id, page.rows[0].name.as_str(), page.total), (1, "Ann", Some(1)));
//! # Ok(()) }
//! ```

mod filter;
mod flutter;
mod query;
mod send;
mod write;

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;

pub use filter::{Filters, Group, IsValue, Literal, Op};
pub use flutter::{MySqlQueryOptions, MySqlResponse, MySqlWriteResponse};
pub use query::{Count, Nulls, Order, Rows, Select};
pub use write::{Delete, Insert, Update, Written};

use crate::core::Core;
use crate::{CloudBase, Error};
use filter::{CondValue, Filter, cond};

impl CloudBase {
    /// The environment's MySQL database (the default instance and database; see [`MySql::schema`] and
    /// [`MySql::instance`]), as the signed-in user or with the publishable key.
    pub fn mysql(&self) -> MySql {
        MySql { core: Arc::clone(self.core()), instance: None, schema: None }
    }
}

/// A MySQL database ([`CloudBase::mysql`]). Cheap to clone.
#[derive(Clone)]
pub struct MySql {
    core: Arc<Core>,
    instance: Option<String>,
    schema: Option<String>,
}

impl std::fmt::Debug for MySql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MySql").field("instance", &self.instance).field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl MySql {
    /// The database (schema) `name` instead of the default one (`/v1/rdb/rest/{schema}/{table}`).
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// The database instance `id` (`/v1/rdb/rest/{instance}/{schema}/{table}`); needs [`schema`](Self::schema).
    pub fn instance(mut self, id: impl Into<String>) -> Self {
        self.instance = Some(id.into());
        self
    }

    /// The table `table`: start a query or a write on it.
    pub fn from(&self, table: impl Into<String>) -> Table {
        Table {
            target: Target {
                core: Arc::clone(&self.core),
                table: table.into(),
                instance: self.instance.clone(),
                schema: self.schema.clone(),
            },
        }
    }
}

/// Where a request goes: a table, in a database, in an instance.
#[derive(Clone)]
pub(crate) struct Target {
    core: Arc<Core>,
    table: String,
    instance: Option<String>,
    schema: Option<String>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("table", &self.table)
            .field("instance", &self.instance)
            .field("schema", &self.schema)
            .finish()
    }
}

impl Target {
    /// Checks the names before any request.
    fn check(&self) -> Result<(), Error> {
        filter::identifier("table", &self.table)?;
        if let Some(schema) = &self.schema {
            crate::validate::non_empty("schema", schema)?;
            if schema.contains('/') {
                return Err(Error::invalid("schema", "a database name holds no `/`"));
            }
        }
        match (&self.instance, &self.schema) {
            (Some(_), None) => Err(Error::invalid("instance", "an instance is addressed together with a schema")),
            (Some(instance), Some(_)) if instance.is_empty() || instance.contains('/') => {
                Err(Error::invalid("instance", "an instance id is non-empty and holds no `/`"))
            }
            _ => Ok(()),
        }
    }
}

/// A table ([`MySql::from`]): [`select`](Self::select), [`insert`](Self::insert), [`upsert`](Self::upsert),
/// [`update`](Self::update) or [`delete`](Self::delete).
#[derive(Clone, Debug)]
#[must_use]
pub struct Table {
    target: Target,
}

impl Table {
    /// Reads `columns` (`*` for all, or `id,name`; `alias:column` renames).
    pub fn select(self, columns: impl Into<String>) -> Select {
        Select::new(self.target, columns.into())
    }

    /// Inserts `rows`: one row (a struct or map) or several (a slice or `Vec` of them).
    pub fn insert<T: Serialize + ?Sized>(self, rows: &T) -> Insert {
        Insert::new(self.target, rows, false)
    }

    /// Inserts `rows`, updating the rows whose primary key (or [`on_conflict`](Insert::on_conflict) columns)
    /// already exist (`Prefer: resolution=merge-duplicates`).
    pub fn upsert<T: Serialize + ?Sized>(self, rows: &T) -> Insert {
        Insert::new(self.target, rows, true)
    }

    /// Sets `patch`'s fields on the rows the filters match (at least one filter is required).
    pub fn update<T: Serialize + ?Sized>(self, patch: &T) -> Update {
        Update::new(self.target, patch)
    }

    /// Deletes the rows the filters match (at least one filter is required).
    pub fn delete(self) -> Delete {
        Delete::new(self.target)
    }

    /// How many rows the filters match (`HEAD` with `Prefer: count=exact`): the Flutter SDK's `count`.
    pub async fn count(self) -> Result<u64, Error> {
        Select::new(self.target, "*".to_owned()).count_only().await
    }
}

/// A JSON body serialised once from the caller's value.
#[derive(Clone, Debug)]
pub struct JsonBody(Box<RawValue>);

impl PartialEq for JsonBody {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl JsonBody {
    pub(crate) fn new(value: &serde_json::Value) -> Result<Self, Error> {
        serde_json::value::to_raw_value(value)
            .map(JsonBody)
            .map_err(|e| Error::invalid("body", format!("cannot serialise: {e}")))
    }

    pub(crate) fn empty_object() -> Self {
        JsonBody(RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable_raw()))
    }
}

// `{}` is valid JSON; this is never reached.
fn unreachable_raw() -> Box<RawValue> {
    serde_json::value::to_raw_value(&serde_json::Value::Null).unwrap_or_else(|_| std::process::abort())
}

impl Serialize for JsonBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// The filter state of a builder: the filters so far, or the first mistake (reported before sending).
#[derive(Clone, Debug, Default)]
pub struct FilterSet {
    items: Vec<Filter>,
    error: Option<Error>,
}

impl FilterSet {
    fn encode(&self) -> Result<Filters, Error> {
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Filters::from_filters(&self.items),
        }
    }

    fn encoded(&mut self) -> Result<Filters, Error> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        Filters::from_filters(&self.items)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Group {}
    impl Sealed for super::Select {}
    impl Sealed for super::Update {}
    impl Sealed for super::Delete {}
}

/// The filters of a query, an update or a delete (and of an [`or`](Self::or) / [`and`](Self::and) group).
/// Each adds one condition; conditions are ANDed. Values are encoded as the grammar requires (quoted inside
/// groups and lists, then form-encoded), so any text is safe: `,()."%`, quotes and unicode included.
pub trait Filterable: Sized + sealed::Sealed {
    #[doc(hidden)]
    fn filter_set(&mut self) -> &mut FilterSet;

    /// `column = value`
    fn eq(self, column: &str, value: impl Into<Literal>) -> Self {
        self.filter(column, Op::Eq, value)
    }

    /// `column != value`
    fn neq(self, column: &str, value: impl Into<Literal>) -> Self {
        self.filter(column, Op::Neq, value)
    }

    /// `column > value`
    fn gt(self, column: &str, value: impl Into<Literal>) -> Self {
        self.filter(column, Op::Gt, value)
    }

    /// `column >= value`
    fn gte(self, column: &str, value: impl Into<Literal>) -> Self {
        self.filter(column, Op::Gte, value)
    }

    /// `column < value`
    fn lt(self, column: &str, value: impl Into<Literal>) -> Self {
        self.filter(column, Op::Lt, value)
    }

    /// `column <= value`
    fn lte(self, column: &str, value: impl Into<Literal>) -> Self {
        self.filter(column, Op::Lte, value)
    }

    /// `column LIKE pattern` (`%` any text, `_` one character; case-sensitive).
    fn like(self, column: &str, pattern: impl Into<Literal>) -> Self {
        self.filter(column, Op::Like, pattern)
    }

    /// `column LIKE pattern`, case-insensitively.
    fn ilike(self, column: &str, pattern: impl Into<Literal>) -> Self {
        self.filter(column, Op::Ilike, pattern)
    }

    /// `column` matches the regular expression `pattern`.
    fn regex(self, column: &str, pattern: impl Into<Literal>) -> Self {
        self.filter(column, Op::Match, pattern)
    }

    /// `column IS NULL`
    // The PostgREST builders' name (postgrest-rs, supabase-js), not a predicate.
    #[allow(clippy::wrong_self_convention)]
    fn is_null(self, column: &str) -> Self {
        self.is(column, IsValue::Null)
    }

    /// `column IS NOT NULL`
    #[allow(clippy::wrong_self_convention)]
    fn is_not_null(self, column: &str) -> Self {
        push(self, cond(column, Op::Is, true, filter::is_value(IsValue::Null)))
    }

    /// `column IS value`
    fn is(self, column: &str, value: IsValue) -> Self {
        push(self, cond(column, Op::Is, false, filter::is_value(value)))
    }

    /// `column IN (values)`
    fn in_<I, V>(self, column: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Literal>,
    {
        let list = values.into_iter().map(|v| v.into().0).collect();
        push(self, cond(column, Op::In, false, CondValue::List(list)))
    }

    /// `column NOT IN (values)`
    fn not_in<I, V>(self, column: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Literal>,
    {
        let list = values.into_iter().map(|v| v.into().0).collect();
        push(self, cond(column, Op::In, true, CondValue::List(list)))
    }

    /// `column <op> value` with any operator (`Op::In` takes a list: use [`in_`](Self::in_); `Op::Is`:
    /// [`is`](Self::is)).
    fn filter(self, column: &str, op: Op, value: impl Into<Literal>) -> Self {
        let value = value.into().0;
        let filter = match op {
            Op::In => Err(Error::invalid("filter", "`in` takes a list: use `in_`")),
            Op::Is => IsValue::parse(&value).and_then(|v| cond(column, op, false, filter::is_value(v))),
            _ => cond(column, op, false, CondValue::One(value)),
        };
        push(self, filter)
    }

    /// `NOT (column <op> value)`.
    fn not(self, column: &str, op: Op, value: impl Into<Literal>) -> Self {
        let value = value.into().0;
        let filter = match op {
            Op::In => Err(Error::invalid("filter", "`in` takes a list: use `not_in`")),
            Op::Is => IsValue::parse(&value).and_then(|v| cond(column, op, true, filter::is_value(v))),
            _ => cond(column, op, true, CondValue::One(value)),
        };
        push(self, filter)
    }

    /// Any of the filters `group` adds: `or=(...)`.
    fn or(self, build: impl FnOnce(Group) -> Group) -> Self {
        group(self, true, false, build)
    }

    /// All of the filters `group` adds, as one term (useful inside [`or`](Self::or)): `and(...)`.
    fn and(self, build: impl FnOnce(Group) -> Group) -> Self {
        group(self, false, false, build)
    }

    /// None of the filters `group` adds: `not.or=(...)`.
    fn not_or(self, build: impl FnOnce(Group) -> Group) -> Self {
        group(self, true, true, build)
    }

    /// Not all of the filters `group` adds: `not.and=(...)`.
    fn not_and(self, build: impl FnOnce(Group) -> Group) -> Self {
        group(self, false, true, build)
    }
}

fn push<F: Filterable>(mut builder: F, filter: Result<Filter, Error>) -> F {
    let set = builder.filter_set();
    match filter {
        Ok(filter) => set.items.push(filter),
        Err(error) => {
            set.error.get_or_insert(error);
        }
    }
    builder
}

fn group<F: Filterable>(builder: F, or: bool, negated: bool, build: impl FnOnce(Group) -> Group) -> F {
    let mut built = build(Group::default());
    match built.set.error.take() {
        Some(error) => push(builder, Err(error)),
        None => push(builder, Ok(Filter::Group { or, negated, items: built.set.items })),
    }
}
