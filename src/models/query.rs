//! The data model filter grammar as types: [`Where`] conditions, [`Select`], and the [`Query`] and
//! [`ListQuery`] that carry them.

use std::ops::{BitAnd, BitOr};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::Error;
use crate::raw::model::types;

/// The most `orderBy` keys the service takes.
pub const MAX_ORDER_BY: usize = 3;
/// The largest page the service serves.
pub const MAX_PAGE_SIZE: u32 = 200;

/// Checks a field name: what the service's models name fields with (`_id`, `createdAt`, `title_2`).
pub(crate) fn field_name(field: &'static str, name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let first = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || name.len() > 64 {
        return Err(Error::invalid(
            field,
            format!("{name:?} is not a field name (`[A-Za-z_][A-Za-z0-9_]*`, at most 64)"),
        ));
    }
    Ok(())
}

/// A `where` condition: `{field: {op: value}}`, or `$and`/`$or` groups. Combine with `&` and `|`.
///
/// ```
/// use cloudbase::models::Where;
/// let adults_named_an = Where::gte("age", 18) & Where::search_ci("name", "an");
/// let either = adults_named_an | Where::eq("vip", true);
/// assert_eq!(
///     either.to_json().unwrap(),
///     serde_json::json!({"$or": [
///         {"$and": [{"age": {"$gte": 18}}, {"name": {"$search_ci": "an"}}]},
///         {"vip": {"$eq": true}}
///     ]})
/// );
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Where(Result<Value, Error>);

impl Where {
    /// Every record (`{}`).
    pub fn all() -> Self {
        Where(Ok(json!({})))
    }

    fn op<T: Serialize>(field: &str, op: &str, value: T) -> Self {
        let built = field_name("where", field).and_then(|()| {
            let value =
                serde_json::to_value(value).map_err(|e| Error::invalid("where", format!("cannot serialise: {e}")))?;
            Ok(json!({ field: { op: value } }))
        });
        Where(built)
    }

    /// `field == value`
    pub fn eq<T: Serialize>(field: &str, value: T) -> Self {
        Self::op(field, "$eq", value)
    }

    /// `field != value`
    pub fn neq<T: Serialize>(field: &str, value: T) -> Self {
        Self::op(field, "$neq", value)
    }

    /// `field > value`
    pub fn gt<T: Serialize>(field: &str, value: T) -> Self {
        Self::op(field, "$gt", value)
    }

    /// `field >= value`
    pub fn gte<T: Serialize>(field: &str, value: T) -> Self {
        Self::op(field, "$gte", value)
    }

    /// `field < value`
    pub fn lt<T: Serialize>(field: &str, value: T) -> Self {
        Self::op(field, "$lt", value)
    }

    /// `field <= value`
    pub fn lte<T: Serialize>(field: &str, value: T) -> Self {
        Self::op(field, "$lte", value)
    }

    /// `field` is one of `values`.
    pub fn in_<T: Serialize>(field: &str, values: impl IntoIterator<Item = T>) -> Self {
        Self::op(field, "$in", values.into_iter().collect::<Vec<_>>())
    }

    /// `field` is none of `values`.
    pub fn nin<T: Serialize>(field: &str, values: impl IntoIterator<Item = T>) -> Self {
        Self::op(field, "$nin", values.into_iter().collect::<Vec<_>>())
    }

    /// `field` contains `text` (case-sensitive).
    pub fn search(field: &str, text: &str) -> Self {
        Self::op(field, "$search", text)
    }

    /// `field` contains `text`, case-insensitively.
    pub fn search_ci(field: &str, text: &str) -> Self {
        Self::op(field, "$search_ci", text)
    }

    /// `field` does not contain `text`.
    pub fn nsearch(field: &str, text: &str) -> Self {
        Self::op(field, "$nsearch", text)
    }

    /// `field` does not contain `text`, case-insensitively.
    pub fn nsearch_ci(field: &str, text: &str) -> Self {
        Self::op(field, "$nsearch_ci", text)
    }

    /// `field` is empty (null or missing).
    pub fn empty(field: &str) -> Self {
        Self::op(field, "$empty", true)
    }

    /// `field` is not empty.
    pub fn nempty(field: &str) -> Self {
        Self::op(field, "$nempty", true)
    }

    /// All of `conditions`.
    pub fn and(conditions: impl IntoIterator<Item = Where>) -> Self {
        Self::group("$and", conditions)
    }

    /// Any of `conditions`.
    pub fn or(conditions: impl IntoIterator<Item = Where>) -> Self {
        Self::group("$or", conditions)
    }

    fn group(key: &str, conditions: impl IntoIterator<Item = Where>) -> Self {
        let mut items = Vec::new();
        for condition in conditions {
            match condition.0 {
                // Flattened: `a & b & c` is one `$and` of three.
                Ok(Value::Object(mut map)) if map.len() == 1 && map.contains_key(key) => {
                    if let Some(Value::Array(inner)) = map.remove(key) {
                        items.extend(inner);
                    }
                }
                Ok(value) => items.push(value),
                Err(e) => return Where(Err(e)),
            }
        }
        if items.is_empty() {
            return Where(Err(Error::invalid("where", format!("`{key}` of no condition"))));
        }
        Where(Ok(json!({ key: items })))
    }

    /// The condition as JSON, or the mistake in it.
    pub fn to_json(&self) -> Result<Value, Error> {
        self.0.clone()
    }

    pub(crate) fn into_raw(self) -> Result<types::Where, Error> {
        match self.0? {
            Value::Object(map) => Ok(types::Where(map)),
            _ => Err(Error::invalid("where", "a condition is a JSON object")),
        }
    }
}

impl BitAnd for Where {
    type Output = Where;

    fn bitand(self, other: Where) -> Where {
        Where::and([self, other])
    }
}

impl BitOr for Where {
    type Output = Where;

    fn bitor(self, other: Where) -> Where {
        Where::or([self, other])
    }
}

/// Which fields to answer: every field of the model (`{"$master": true}`, the default), or some, and
/// related records.
#[derive(Clone, Debug)]
#[must_use]
pub struct Select(Result<Map<String, Value>, Error>);

impl Default for Select {
    fn default() -> Self {
        Self::master()
    }
}

impl Select {
    /// Every field of the model.
    pub fn master() -> Self {
        let mut map = Map::new();
        map.insert("$master".to_owned(), Value::Bool(true));
        Select(Ok(map))
    }

    /// These fields (and `_id`).
    pub fn fields<'a>(fields: impl IntoIterator<Item = &'a str>) -> Self {
        let mut map = Map::new();
        for field in fields {
            if let Err(e) = field_name("select", field) {
                return Select(Err(e));
            }
            map.insert(field.to_owned(), Value::Bool(true));
        }
        Select(Ok(map))
    }

    /// Also the related records of the relation field `relation`, with their own selection.
    pub fn relation(self, relation: &str, select: Select) -> Self {
        let built = self.0.and_then(|mut map| {
            field_name("select", relation)?;
            map.insert(relation.to_owned(), Value::Object(select.0?));
            Ok(map)
        });
        Select(built)
    }

    fn into_raw(self) -> Result<types::Select, Error> {
        self.0.map(types::Select)
    }
}

/// A filter and a selection: for [`Model::get`](super::Model::get) and the base of [`ListQuery`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Query {
    where_: Option<Where>,
    relate: Vec<(String, Where)>,
    select: Option<Select>,
}

impl Query {
    /// Every record, every field.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records matching `condition`.
    pub fn where_(mut self, condition: Where) -> Self {
        self.where_ = Some(condition);
        self
    }

    /// Only records with a record related through `relation` matching `condition` (`relateWhere`).
    pub fn relate_where(mut self, relation: &str, condition: Where) -> Self {
        self.relate.push((relation.to_owned(), condition));
        self
    }

    /// Which fields to answer.
    pub fn select(mut self, select: Select) -> Self {
        self.select = Some(select);
        self
    }

    pub(crate) fn raw_filter(&self) -> Result<types::Filter, Error> {
        raw_filter(self.where_.clone().unwrap_or_else(Where::all), &self.relate)
    }

    pub(crate) fn raw_select(&self) -> Result<types::Select, Error> {
        self.select.clone().unwrap_or_default().into_raw()
    }
}

pub(crate) fn raw_filter(condition: Where, relate: &[(String, Where)]) -> Result<types::Filter, Error> {
    let mut relate_where = std::collections::HashMap::new();
    for (relation, condition) in relate {
        field_name("relate_where", relation)?;
        relate_where
            .insert(relation.clone(), types::FilterRelateWhereValue { where_: Some(condition.clone().into_raw()?) });
    }
    Ok(types::Filter { where_: Some(condition.into_raw()?), relate_where })
}

/// A page of records: a [`Query`] with paging, counting and ordering ([`Model::list`](super::Model::list)).
#[derive(Clone, Debug)]
#[must_use]
pub struct ListQuery {
    query: Query,
    page_size: u32,
    page_number: u32,
    get_count: bool,
    order_by: Vec<(String, bool)>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self { query: Query::new(), page_size: 10, page_number: 1, get_count: false, order_by: Vec::new() }
    }
}

impl ListQuery {
    /// The first 10 records, every field.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records matching `condition`.
    pub fn where_(mut self, condition: Where) -> Self {
        self.query = self.query.where_(condition);
        self
    }

    /// Only records with a related record matching `condition`.
    pub fn relate_where(mut self, relation: &str, condition: Where) -> Self {
        self.query = self.query.relate_where(relation, condition);
        self
    }

    /// Which fields to answer.
    pub fn select(mut self, select: Select) -> Self {
        self.query = self.query.select(select);
        self
    }

    /// Records per page: 1 to [`MAX_PAGE_SIZE`] (default 10).
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = size;
        self
    }

    /// The page, from 1.
    pub fn page_number(mut self, number: u32) -> Self {
        self.page_number = number;
        self
    }

    /// Also count all matching records ([`Page::total`](super::Page::total)).
    pub fn get_count(mut self, count: bool) -> Self {
        self.get_count = count;
        self
    }

    /// Sorts by `field` (at most [`MAX_ORDER_BY`] keys).
    pub fn order_by(mut self, field: &str, ascending: bool) -> Self {
        self.order_by.push((field.to_owned(), ascending));
        self
    }

    pub(crate) fn into_raw(self) -> Result<types::ListRequest, Error> {
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(Error::invalid("page_size", format!("{} is not within 1..={MAX_PAGE_SIZE}", self.page_size)));
        }
        if self.page_number == 0 {
            return Err(Error::invalid("page_number", "pages count from 1"));
        }
        if self.order_by.len() > MAX_ORDER_BY {
            return Err(Error::invalid("order_by", format!("{} keys, at most {MAX_ORDER_BY}", self.order_by.len())));
        }
        let mut order_by = Vec::new();
        for (field, ascending) in &self.order_by {
            field_name("order_by", field)?;
            let direction = if *ascending { types::OrderByItemValue::Asc } else { types::OrderByItemValue::Desc };
            order_by.push(std::collections::HashMap::from([(field.clone(), direction)]));
        }
        Ok(types::ListRequest {
            filter: Some(self.query.raw_filter()?),
            select: Some(self.query.raw_select()?),
            page_size: std::num::NonZeroU32::new(self.page_size),
            page_number: std::num::NonZeroU32::new(self.page_number),
            get_count: Some(self.get_count),
            order_by: (!order_by.is_empty()).then_some(types::OrderBy(order_by)),
        })
    }
}
