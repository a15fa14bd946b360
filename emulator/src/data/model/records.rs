//! Record storage of the data models: each model is a table `(_id TEXT PRIMARY KEY, doc TEXT NOT NULL)` per
//! environment type, `doc` the whole record as JSON (system fields included).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, params_from_iter};
use serde_json::{Map, Value};

use super::def::{ModelDef, table_name};
use super::query::{Builder, Projection, Scope, path, project, projection};
use super::{ModelErr, internal, invalid};
use crate::data::db::quote_ident;

/// Deepest relation embedding (`select` nested in `select`).
const MAX_EMBED: usize = 4;
/// Fields the emulator sets; a write cannot change them (except `_id` on create).
const SYSTEM_FIELDS: [&str; 7] = ["_id", "createdAt", "updatedAt", "owner", "createBy", "updateBy", "_openid"];

const DOC: &str = "\"m\".\"doc\"";
const ROWID: &str = "\"m\".rowid";

/// A record with its `_id`.
pub(crate) type Row = (String, Map<String, Value>);

/// Who writes, and when.
pub(crate) struct Writer {
    /// The user's id, `None` for a client-credentials caller.
    pub user: Option<String>,
    /// Milliseconds since the epoch, on the emulator clock.
    pub now_ms: i64,
}

/// Creates the tables of a model (both environment types).
pub(crate) fn create_tables(conn: &Connection, model: &str) -> rusqlite::Result<()> {
    for env in ["prod", "pre"] {
        let table = quote_ident(&table_name(env, model));
        conn.execute_batch(&format!("CREATE TABLE IF NOT EXISTS {table} (_id TEXT PRIMARY KEY, doc TEXT NOT NULL)"))?;
    }
    Ok(())
}

fn parse_doc(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The records matching `filter`, in `orderBy` then insertion order, `page` = `(limit, offset)`, projected
/// by `select` with relations embedded.
pub(crate) fn find(
    conn: &Connection,
    scope: &Scope<'_>,
    model: &ModelDef,
    filter: Option<&Value>,
    select: Option<&Value>,
    order_by: Option<&Value>,
    page: Option<(i64, i64)>,
) -> Result<Vec<Value>, ModelErr> {
    let projection = projection(model, select)?;
    let mut b = Builder::new(scope);
    let condition = b.filter(model, DOC, filter)?;
    let order = b.order(DOC, ROWID, order_by)?;
    let mut sql = format!("SELECT \"m\".\"doc\" FROM {} AS \"m\" WHERE {condition}{order}", scope.table(&model.name));
    if let Some((limit, offset)) = page {
        sql.push_str(" LIMIT ? OFFSET ?");
        b.params.push(SqlValue::Integer(limit));
        b.params.push(SqlValue::Integer(offset));
    }
    let docs = docs(conn, &sql, &b.params)?;
    let mut records = Vec::with_capacity(docs.len());
    for doc in docs {
        records.push(shape(conn, scope, model, parse_doc(&doc), &projection, 1)?);
    }
    Ok(records)
}

fn docs(conn: &Connection, sql: &str, params: &[SqlValue]) -> Result<Vec<String>, ModelErr> {
    let mut stmt = conn.prepare(sql).map_err(internal)?;
    let rows = stmt.query_map(params_from_iter(params), |r| r.get::<_, String>(0)).map_err(internal)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(internal)
}

/// A record projected, with each selected relation's records embedded as an array.
fn shape(
    conn: &Connection,
    scope: &Scope<'_>,
    model: &ModelDef,
    record: Map<String, Value>,
    projection: &Projection,
    depth: usize,
) -> Result<Value, ModelErr> {
    let id = record.get("_id").cloned().unwrap_or(Value::Null);
    let mut out = project(record, projection);
    for (field, select) in &projection.relations {
        if depth > MAX_EMBED {
            return Err(invalid(format!("select embeds relations deeper than {MAX_EMBED} levels")));
        }
        let relation = model.relation_named(field).expect("projection keeps relations only");
        let related = scope.model(&relation.model)?;
        let nested = projection_of(related, select)?;
        let sql = format!(
            "SELECT \"m\".\"doc\" FROM {} AS \"m\" WHERE json_extract(\"m\".\"doc\", ?) = ? ORDER BY {ROWID}",
            scope.table(&related.name)
        );
        let key = id.as_str().map_or(SqlValue::Null, |s| SqlValue::Text(s.to_owned()));
        let mut items = Vec::new();
        for doc in docs(conn, &sql, &[SqlValue::Text(path(&relation.foreign_key)?), key])? {
            items.push(shape(conn, scope, related, parse_doc(&doc), &nested, depth + 1)?);
        }
        out.insert(field.clone(), Value::Array(items));
    }
    Ok(Value::Object(out))
}

fn projection_of(model: &ModelDef, select: &Value) -> Result<Projection, ModelErr> {
    // `{relation: {}}` or `{relation: true}`-like nested selects without fields mean every field.
    match select.as_object() {
        Some(map) if map.keys().all(|k| k == "$master") || map.is_empty() => projection(model, None),
        _ => projection(model, Some(select)),
    }
}

/// How many records match.
pub(crate) fn count(
    conn: &Connection,
    scope: &Scope<'_>,
    model: &ModelDef,
    filter: Option<&Value>,
) -> Result<i64, ModelErr> {
    let mut b = Builder::new(scope);
    let condition = b.filter(model, DOC, filter)?;
    let sql = format!("SELECT count(*) FROM {} AS \"m\" WHERE {condition}", scope.table(&model.name));
    conn.query_row(&sql, params_from_iter(&b.params), |r| r.get(0)).map_err(internal)
}

/// The `(_id, record)` of the records matching `filter` in insertion order, at most `limit`.
pub(crate) fn matching(
    conn: &Connection,
    scope: &Scope<'_>,
    model: &ModelDef,
    filter: Option<&Value>,
    limit: Option<i64>,
) -> Result<Vec<Row>, ModelErr> {
    let mut b = Builder::new(scope);
    let condition = b.filter(model, DOC, filter)?;
    let mut sql =
        format!("SELECT \"m\".\"doc\" FROM {} AS \"m\" WHERE {condition} ORDER BY {ROWID}", scope.table(&model.name));
    if let Some(limit) = limit {
        sql.push_str(" LIMIT ?");
        b.params.push(SqlValue::Integer(limit));
    }
    Ok(docs(conn, &sql, &b.params)?
        .iter()
        .map(|d| {
            let record = parse_doc(d);
            (record.get("_id").and_then(Value::as_str).unwrap_or_default().to_owned(), record)
        })
        .collect())
}

/// Checks `data` against the model: an object, plain field names, declared types (null always allowed).
fn checked_data<'a>(model: &ModelDef, data: &'a Value, create: bool) -> Result<&'a Map<String, Value>, ModelErr> {
    let map = data.as_object().ok_or_else(|| invalid("data must be an object"))?;
    for (key, value) in map {
        path(key)?;
        if let Some(field) = model.fields.iter().find(|f| &f.name == key)
            && !value.is_null()
            && !field.field_type.accepts(value)
        {
            return Err(invalid(format!("field {key} must be of type {}", field.field_type.name())));
        }
    }
    if create {
        for field in model.fields.iter().filter(|f| f.required) {
            if map.get(&field.name).is_none_or(Value::is_null) {
                return Err(invalid(format!("field {} is required", field.name)));
            }
        }
    }
    Ok(map)
}

/// Creates a record; answers its `_id` (the data's string `_id`, else a random one).
pub(crate) fn create(
    conn: &Connection,
    scope: &Scope<'_>,
    model: &ModelDef,
    data: &Value,
    writer: &Writer,
) -> Result<String, ModelErr> {
    let map = checked_data(model, data, true)?;
    let id = match map.get("_id") {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= 128 => id.clone(),
        None | Some(Value::Null) => crate::util::random_hex::<12>(),
        Some(_) => return Err(invalid("_id must be a non-empty string of at most 128 characters")),
    };
    let mut record: Map<String, Value> =
        map.iter().filter(|(k, _)| !SYSTEM_FIELDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    record.insert("_id".into(), Value::String(id.clone()));
    record.insert("createdAt".into(), Value::from(writer.now_ms));
    record.insert("updatedAt".into(), Value::from(writer.now_ms));
    if let Some(user) = &writer.user {
        for key in ["owner", "createBy", "updateBy", "_openid"] {
            record.insert(key.into(), Value::String(user.clone()));
        }
    }
    let sql = format!("INSERT INTO {} (_id, doc) VALUES (?, ?)", scope.table(&model.name));
    conn.execute(&sql, [id.clone(), Value::Object(record).to_string()]).map_err(|e| match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => invalid(format!("a record with _id {id:?} already exists")),
        _ => internal(e),
    })?;
    Ok(id)
}

/// Sets `data`'s fields on each record (system fields excepted); answers the ids updated.
pub(crate) fn update(
    conn: &Connection,
    scope: &Scope<'_>,
    model: &ModelDef,
    rows: Vec<Row>,
    data: &Value,
    writer: &Writer,
) -> Result<Vec<String>, ModelErr> {
    let map = checked_data(model, data, false)?;
    let sql = format!("UPDATE {} SET doc = ? WHERE _id = ?", scope.table(&model.name));
    let mut ids = Vec::with_capacity(rows.len());
    for (id, mut record) in rows {
        for (key, value) in map.iter().filter(|(k, _)| !SYSTEM_FIELDS.contains(&k.as_str())) {
            record.insert(key.clone(), value.clone());
        }
        record.insert("updatedAt".into(), Value::from(writer.now_ms));
        if let Some(user) = &writer.user {
            record.insert("updateBy".into(), Value::String(user.clone()));
        }
        conn.execute(&sql, [Value::Object(record).to_string(), id.clone()]).map_err(internal)?;
        ids.push(id);
    }
    Ok(ids)
}

/// Deletes the records; answers how many went.
pub(crate) fn delete(
    conn: &Connection,
    scope: &Scope<'_>,
    model: &ModelDef,
    ids: &[String],
) -> Result<usize, ModelErr> {
    let sql = format!("DELETE FROM {} WHERE _id = ?", scope.table(&model.name));
    let mut n = 0;
    for id in ids {
        n += conn.execute(&sql, [id]).map_err(internal)?;
    }
    Ok(n)
}
