//! The data model query grammar as SQL over `(_id, doc)` tables: `filter` (`where` and `relateWhere`) and
//! `orderBy`. Field names must be plain identifiers and reach SQL only as bound JSON paths
//! (`json_extract(doc, ?)`); values are always bound.

use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value};

use super::def::{ModelDef, Models, table_name, valid_field_name};
use super::{ModelErr, invalid};
use crate::data::db::quote_ident;

/// Deepest `$and`/`$or` nesting accepted.
pub(crate) const MAX_DEPTH: usize = 16;
/// Most conditions in one filter.
const MAX_TERMS: usize = 500;
/// Most `orderBy` entries.
pub(crate) const MAX_ORDER: usize = 3;

/// The models and the environment type a query runs in.
pub(crate) struct Scope<'a> {
    pub models: &'a Models,
    pub env: &'a str,
}

impl Scope<'_> {
    pub fn model(&self, name: &str) -> Result<&ModelDef, ModelErr> {
        self.models.get(name).ok_or_else(|| ModelErr::not_exist(name))
    }

    /// The quoted table of `model` in this environment type.
    pub fn table(&self, model: &str) -> String {
        quote_ident(&table_name(self.env, model))
    }
}

/// `$."field"` for a checked field name.
pub(crate) fn path(field: &str) -> Result<String, ModelErr> {
    if valid_field_name(field) {
        Ok(format!("$.\"{field}\""))
    } else {
        Err(invalid(format!("invalid field name {field:?} (^[A-Za-z_][A-Za-z0-9_]{{0,63}}$)")))
    }
}

/// Builds SQL and its parameters in step, so the placeholders and the values stay in order.
pub(crate) struct Builder<'a> {
    pub scope: &'a Scope<'a>,
    pub params: Vec<SqlValue>,
    terms: usize,
    aliases: usize,
}

fn bind_json(value: &Value) -> Option<SqlValue> {
    Some(match value {
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64()?),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    })
}

impl<'a> Builder<'a> {
    pub fn new(scope: &'a Scope<'a>) -> Self {
        Self { scope, params: Vec::new(), terms: 0, aliases: 0 }
    }

    /// `json_extract({doc}, ?)` with the field's path bound.
    fn extract(&mut self, doc: &str, field: &str) -> Result<String, ModelErr> {
        self.params.push(SqlValue::Text(path(field)?));
        Ok(format!("json_extract({doc}, ?)"))
    }

    /// `json_type({doc}, ?)`.
    fn json_type(&mut self, doc: &str, field: &str) -> Result<String, ModelErr> {
        self.params.push(SqlValue::Text(path(field)?));
        Ok(format!("json_type({doc}, ?)"))
    }

    fn bind(&mut self, value: SqlValue) -> &'static str {
        self.params.push(value);
        "?"
    }

    /// The SQL of a `filter` (`{where?, relateWhere?}`; absent or null: every record) on `model`'s `doc`.
    pub fn filter(&mut self, model: &ModelDef, doc: &str, filter: Option<&Value>) -> Result<String, ModelErr> {
        let filter = match filter {
            None | Some(Value::Null) => return Ok("1".to_owned()),
            Some(Value::Object(map)) => map,
            Some(_) => return Err(invalid("filter must be an object {where?, relateWhere?}")),
        };
        let mut parts = Vec::new();
        if let Some(w) = filter.get("where").filter(|w| !w.is_null()) {
            parts.push(self.condition(doc, w, 1)?);
        }
        match filter.get("relateWhere") {
            None | Some(Value::Null) => {}
            Some(Value::Object(relations)) => {
                for (field, sub) in relations {
                    parts.push(self.relate(model, doc, field, sub)?);
                }
            }
            Some(_) => return Err(invalid("relateWhere must be an object {relationField: {where}}")),
        }
        Ok(if parts.is_empty() { "1".to_owned() } else { parts.join(" AND ") })
    }

    /// `EXISTS` a related record matching `sub.where`.
    fn relate(&mut self, model: &ModelDef, doc: &str, field: &str, sub: &Value) -> Result<String, ModelErr> {
        let relation = model
            .relation_named(field)
            .ok_or_else(|| invalid(format!("relateWhere: {field:?} is not a relation of model {}", model.name)))?;
        self.scope.model(&relation.model)?;
        self.aliases += 1;
        let alias = format!("\"r{}\".\"doc\"", self.aliases);
        let table = format!("{} AS \"r{}\"", self.scope.table(&relation.model), self.aliases);
        let key = self.extract(&alias, &relation.foreign_key)?;
        let condition = match sub {
            Value::Object(map) => match map.get("where") {
                None | Some(Value::Null) => "1".to_owned(),
                Some(w) => self.condition(&alias, w, 1)?,
            },
            _ => return Err(invalid(format!("relateWhere.{field} must be an object {{where}}"))),
        };
        Ok(format!("EXISTS (SELECT 1 FROM {table} WHERE {key} = json_extract({doc}, '$._id') AND {condition})"))
    }

    /// A `where` object: `{field: {op: value}}` entries and `$and`/`$or` lists, all ANDed.
    fn condition(&mut self, doc: &str, value: &Value, depth: usize) -> Result<String, ModelErr> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("where is nested deeper than {MAX_DEPTH} levels")));
        }
        let map = value.as_object().ok_or_else(|| invalid("a where condition must be an object"))?;
        let mut parts = Vec::with_capacity(map.len());
        for (key, inner) in map {
            self.terms += 1;
            if self.terms > MAX_TERMS {
                return Err(invalid(format!("where has more than {MAX_TERMS} conditions")));
            }
            parts.push(match key.as_str() {
                "$and" | "$or" => {
                    let items =
                        inner.as_array().ok_or_else(|| invalid(format!("{key} takes an array of conditions")))?;
                    if items.is_empty() {
                        (if key == "$or" { "0" } else { "1" }).to_owned()
                    } else {
                        let sql =
                            items.iter().map(|c| self.condition(doc, c, depth + 1)).collect::<Result<Vec<_>, _>>()?;
                        format!("({})", sql.join(if key == "$or" { " OR " } else { " AND " }))
                    }
                }
                field if field.starts_with('$') => return Err(invalid(format!("unknown logical operator {field:?}"))),
                field => match inner {
                    Value::Object(ops) => {
                        let sql = ops
                            .iter()
                            .map(|(op, v)| self.operator(doc, field, op, v))
                            .collect::<Result<Vec<_>, _>>()?;
                        if sql.is_empty() { "1".to_owned() } else { format!("({})", sql.join(" AND ")) }
                    }
                    // `{field: value}` is taken as `$eq`.
                    other => self.operator(doc, field, "$eq", other)?,
                },
            });
        }
        Ok(if parts.is_empty() { "1".to_owned() } else { format!("({})", parts.join(" AND ")) })
    }

    /// `x = ?` with the value's type: booleans only equal booleans, objects and arrays compare as JSON.
    fn equals(&mut self, doc: &str, field: &str, value: &Value) -> Result<String, ModelErr> {
        Ok(match value {
            Value::Null => format!("{} IS NULL", self.extract(doc, field)?),
            Value::Bool(_) => {
                let t = self.json_type(doc, field)?;
                let x = self.extract(doc, field)?;
                let v = self.bind(bind_json(value).unwrap_or(SqlValue::Null));
                format!("({t} IN ('true', 'false') AND {x} = {v})")
            }
            Value::Array(_) | Value::Object(_) => {
                let x = self.extract(doc, field)?;
                format!("{x} = json({})", self.bind(SqlValue::Text(value.to_string())))
            }
            _ => {
                let x = self.extract(doc, field)?;
                format!("{x} = {}", self.bind(bind_json(value).unwrap_or(SqlValue::Null)))
            }
        })
    }

    fn operator(&mut self, doc: &str, field: &str, op: &str, value: &Value) -> Result<String, ModelErr> {
        path(field)?;
        let text = |v: &Value| -> Result<String, ModelErr> {
            v.as_str().map(str::to_owned).ok_or_else(|| invalid(format!("{field}: {op} takes a string")))
        };
        Ok(match op {
            "$eq" => self.equals(doc, field, value)?,
            "$neq" => {
                if value.is_null() {
                    format!("{} IS NOT NULL", self.extract(doc, field)?)
                } else {
                    let x = self.extract(doc, field)?;
                    format!("({x} IS NULL OR NOT {})", self.equals(doc, field, value)?)
                }
            }
            "$gt" | "$gte" | "$lt" | "$lte" => {
                let sign = match op {
                    "$gt" => ">",
                    "$gte" => ">=",
                    "$lt" => "<",
                    _ => "<=",
                };
                // Numbers compare with numbers and strings with strings, never across types.
                let types = match value {
                    Value::Number(_) => "('integer', 'real')",
                    Value::String(_) => "('text')",
                    _ => return Err(invalid(format!("{field}: {op} takes a number or a string"))),
                };
                let t = self.json_type(doc, field)?;
                let x = self.extract(doc, field)?;
                let v = self.bind(bind_json(value).unwrap_or(SqlValue::Null));
                format!("({t} IN {types} AND {x} {sign} {v})")
            }
            "$in" | "$nin" => {
                let items = value.as_array().ok_or_else(|| invalid(format!("{field}: {op} takes an array")))?;
                let mut alternatives = Vec::with_capacity(items.len());
                for item in items {
                    alternatives.push(self.equals(doc, field, item)?);
                }
                let any =
                    if alternatives.is_empty() { "0".to_owned() } else { format!("({})", alternatives.join(" OR ")) };
                if op == "$in" { any } else { format!("NOT coalesce({any}, 0)") }
            }
            "$search" | "$nsearch" | "$search_ci" | "$nsearch_ci" => {
                let needle = text(value)?;
                let x = self.extract(doc, field)?;
                let v = self.bind(SqlValue::Text(needle));
                // instr, not LIKE: `%` and `_` in the needle are literal.
                let found = if op.ends_with("_ci") {
                    format!("coalesce(instr(emu_lower({x}), emu_lower({v})), 0) > 0")
                } else {
                    format!("coalesce(instr({x}, {v}), 0) > 0")
                };
                if op.starts_with("$n") { format!("NOT ({found})") } else { found }
            }
            "$empty" | "$nempty" => {
                let wanted = value.as_bool().unwrap_or(true) == (op == "$empty");
                let x = self.extract(doc, field)?;
                format!("{x} IS {}NULL", if wanted { "" } else { "NOT " })
            }
            other => return Err(invalid(format!("{field}: unknown operator {other:?}"))),
        })
    }

    /// ` ORDER BY ...` from `orderBy` (`[{field: "asc"|"desc"}]`), insertion order last.
    pub fn order(&mut self, doc: &str, rowid: &str, order_by: Option<&Value>) -> Result<String, ModelErr> {
        let entries: Vec<(String, String)> = match order_by {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut entries = Vec::new();
                for item in items {
                    let map = item
                        .as_object()
                        .ok_or_else(|| invalid("orderBy entries are objects {field: \"asc\"|\"desc\"}"))?;
                    for (field, direction) in map {
                        let direction = direction.as_str().map(str::to_ascii_lowercase).unwrap_or_default();
                        if direction != "asc" && direction != "desc" {
                            return Err(invalid(format!("orderBy {field}: direction must be asc or desc")));
                        }
                        entries.push((field.clone(), direction));
                    }
                }
                entries
            }
            Some(_) => return Err(invalid("orderBy must be an array")),
        };
        if entries.len() > MAX_ORDER {
            return Err(invalid(format!("orderBy has {} entries (at most {MAX_ORDER})", entries.len())));
        }
        let mut parts = Vec::with_capacity(entries.len() + 1);
        for (field, direction) in &entries {
            parts.push(format!("{} {}", self.extract(doc, field)?, direction.to_uppercase()));
        }
        parts.push(format!("{rowid} ASC"));
        Ok(format!(" ORDER BY {}", parts.join(", ")))
    }
}

/// What a `select` keeps of a record: `None` = every field.
pub(crate) struct Projection {
    pub fields: Option<Vec<String>>,
    /// Relation fields with their nested select.
    pub relations: Vec<(String, Value)>,
}

/// Reads a `select` (`{"$master": true}`, `{field: true, ...}`, relation fields with a nested select).
pub(crate) fn projection(model: &ModelDef, select: Option<&Value>) -> Result<Projection, ModelErr> {
    let map: Map<String, Value> = match select {
        None | Some(Value::Null) => return Ok(Projection { fields: None, relations: Vec::new() }),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(invalid("select must be an object")),
    };
    let master = map.get("$master").and_then(Value::as_bool).unwrap_or(false);
    let mut fields = vec!["_id".to_owned()];
    let mut relations = Vec::new();
    for (key, value) in &map {
        if key == "$master" {
            continue;
        }
        match value {
            Value::Bool(true) => fields.push(key.clone()),
            Value::Object(_) if model.relation_named(key).is_some() => relations.push((key.clone(), value.clone())),
            Value::Object(_) => fields.push(key.clone()),
            _ => {}
        }
    }
    Ok(Projection { fields: if master { None } else { Some(fields) }, relations })
}

/// The selected fields of a record (the relations are added by the caller).
pub(crate) fn project(record: Map<String, Value>, projection: &Projection) -> Map<String, Value> {
    match &projection.fields {
        None => record,
        Some(fields) => record.into_iter().filter(|(k, _)| fields.contains(k)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sql(where_: Value) -> Result<(String, usize), String> {
        let models = Models::new();
        let scope = Scope { models: &models, env: "prod" };
        let mut b = Builder::new(&scope);
        let model = ModelDef::new("m");
        b.filter(&model, "doc", Some(&json!({ "where": where_ }))).map(|s| (s, b.params.len())).map_err(|e| e.message)
    }

    #[test]
    fn field_names_never_reach_sql_text() {
        assert!(sql(json!({"a\") OR 1=1 --": {"$eq": 1}})).unwrap_err().contains("invalid field name"));
        assert!(sql(json!({"$and": [{"x.y": {"$eq": 1}}]})).is_err());
        let (text, params) = sql(json!({"name": {"$eq": "x' OR 1=1"}, "age": {"$gt": 3}})).unwrap();
        assert!(!text.contains("name") && !text.contains("OR 1=1"), "{text}");
        assert_eq!(params, 5);
    }

    #[test]
    fn grammar_errors() {
        assert!(sql(json!({"a": {"$like": "x"}})).unwrap_err().contains("unknown operator"));
        assert!(sql(json!({"$not": []})).is_err());
        assert!(sql(json!({"$or": {}})).is_err());
        assert!(sql(json!({"a": {"$in": 1}})).is_err());
        assert!(sql(json!({"a": {"$gt": true}})).is_err());
        assert!(sql(json!({"a": {"$search": 1}})).is_err());
        let mut deep = json!({"a": {"$eq": 1}});
        for _ in 0..MAX_DEPTH {
            deep = json!({ "$and": [deep] });
        }
        assert!(sql(deep).unwrap_err().contains("deeper"));
        assert_eq!(sql(json!({})).unwrap().0, "1");
    }
}
