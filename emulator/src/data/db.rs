//! The SQLite databases behind the data services: one per (instance, schema), in memory or as files
//! `{instance}.{schema}.sqlite3` in [`crate::EmulatorConfig::data_dir`].
//!
//! `rusqlite::Connection` is not `Sync`, so each sits in its own mutex; callers lock it inside
//! `spawn_blocking` and never across an await.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use regex::Regex;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, Row};
use serde_json::{Map, Value};

/// The instance every request addresses unless it names another.
pub(crate) const DEFAULT_INSTANCE: &str = "default";
const FILE_SUFFIX: &str = ".sqlite3";
/// Most compiled patterns `regexp` keeps per connection.
const REGEX_CACHE: usize = 256;

/// A shared connection.
pub(crate) type Db = Arc<Mutex<Connection>>;

/// Locks a connection, surviving a panic of an earlier holder.
pub(crate) fn lock(db: &Db) -> MutexGuard<'_, Connection> {
    db.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `name` may name an instance or a schema (they become file names).
pub(crate) fn valid_db_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `name` as an SQL identifier: double-quoted, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every database, by (instance, schema).
pub(crate) struct Databases {
    dir: Option<PathBuf>,
    default_schema: String,
    map: Mutex<HashMap<(String, String), Db>>,
}

impl Databases {
    /// The default database (created), plus every database file already in `dir`.
    pub fn new(dir: Option<PathBuf>, default_schema: &str) -> Result<Self, String> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| format!("data directory {}: {e}", dir.display()))?;
        }
        let dbs = Self { dir, default_schema: default_schema.to_owned(), map: Mutex::default() };
        if let Some(dir) = &dbs.dir {
            let entries = std::fs::read_dir(dir).map_err(|e| format!("data directory {}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some((instance, schema)) = name.strip_suffix(FILE_SUFFIX).and_then(|n| n.split_once('.'))
                    && valid_db_name(instance)
                    && valid_db_name(schema)
                {
                    dbs.create(instance, schema)?;
                }
            }
        }
        dbs.create(DEFAULT_INSTANCE, default_schema)?;
        Ok(dbs)
    }

    fn map(&self) -> MutexGuard<'_, HashMap<(String, String), Db>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The default schema (the environment id).
    pub fn default_schema(&self) -> &str {
        &self.default_schema
    }

    /// The database of (instance, schema), if it exists.
    pub fn get(&self, instance: &str, schema: &str) -> Option<Db> {
        self.map().get(&(instance.to_owned(), schema.to_owned())).cloned()
    }

    /// The default database (instance `default`, schema = the environment id), re-created if a reset dropped it.
    pub fn default_db(&self) -> Db {
        let schema = self.default_schema.clone();
        self.get(DEFAULT_INSTANCE, &schema)
            .or_else(|| self.create(DEFAULT_INSTANCE, &schema).ok())
            .unwrap_or_else(|| Arc::new(Mutex::new(open(None).expect("an in-memory database opens"))))
    }

    /// The database of (instance, schema), created (empty) if missing.
    pub fn create(&self, instance: &str, schema: &str) -> Result<Db, String> {
        // Names become file names; only an in-memory default database may have any environment id.
        let in_memory_default = self.dir.is_none() && instance == DEFAULT_INSTANCE && schema == self.default_schema;
        if !in_memory_default && (!valid_db_name(instance) || !valid_db_name(schema)) {
            return Err(format!("invalid instance or schema name {instance:?}/{schema:?} (^[A-Za-z0-9_-]{{1,64}}$)"));
        }
        let mut map = self.map();
        if let Some(db) = map.get(&(instance.to_owned(), schema.to_owned())) {
            return Ok(db.clone());
        }
        let path = self.dir.as_ref().map(|d| d.join(format!("{instance}.{schema}{FILE_SUFFIX}")));
        let conn = open(path.as_deref()).map_err(|e| format!("open database {instance}/{schema}: {e}"))?;
        let db = Arc::new(Mutex::new(conn));
        map.insert((instance.to_owned(), schema.to_owned()), db.clone());
        Ok(db)
    }

    /// Drops every database (deleting its file) and re-creates the default one, empty.
    pub fn reset(&self) {
        let dropped: Vec<_> = self.map().drain().map(|(key, _)| key).collect();
        if let Some(dir) = &self.dir {
            for (instance, schema) in dropped {
                let base = dir.join(format!("{instance}.{schema}{FILE_SUFFIX}"));
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut path = base.clone().into_os_string();
                    path.push(suffix);
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let _ = self.create(DEFAULT_INSTANCE, &self.default_schema.clone());
    }
}

/// Opens a database with the emulator's settings and functions.
fn open(path: Option<&Path>) -> rusqlite::Result<Connection> {
    let conn = match path {
        Some(path) => Connection::open(path)?,
        None => Connection::open_in_memory()?,
    };
    // `like` is the case-sensitive operator, `ilike` the other one (as in PostgREST).
    conn.execute_batch("PRAGMA case_sensitive_like = ON; PRAGMA foreign_keys = ON;")?;
    let cache: Mutex<HashMap<String, Regex>> = Mutex::default();
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let pattern: String = ctx.get(0)?;
            let value = match ctx.get_raw(1) {
                ValueRef::Null => return Ok(None),
                ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
                ValueRef::Integer(i) => i.to_string(),
                ValueRef::Real(r) => r.to_string(),
            };
            let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
            if !cache.contains_key(&pattern) {
                let regex = Regex::new(&pattern).map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
                if cache.len() >= REGEX_CACHE {
                    cache.clear();
                }
                cache.insert(pattern.clone(), regex);
            }
            Ok(Some(cache[&pattern].is_match(&value)))
        },
    )?;
    // SQLite's lower() folds ASCII only; `ilike` and `$search_ci` should fold any letter.
    conn.create_scalar_function(
        "emu_lower",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).to_lowercase()),
                other => SqlValue::from(other),
            })
        },
    )?;
    Ok(conn)
}

/// A SQLite value as JSON: integers and reals as numbers, text as strings, blobs as base64.
pub(crate) fn json_of(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

/// A row as a JSON object keyed by column name.
pub(crate) fn row_json(row: &Row<'_>, names: &[String]) -> rusqlite::Result<Value> {
    let mut object = Map::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        object.insert(name.clone(), json_of(row.get_ref(i)?));
    }
    Ok(Value::Object(object))
}

/// A JSON value as a bound parameter: booleans as 1/0, arrays and objects as their JSON text.
pub(crate) fn sql_of(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

/// Runs a statement and answers its rows as JSON objects.
pub(crate) fn query_json(conn: &Connection, sql: &str, params: &[SqlValue]) -> rusqlite::Result<Vec<Value>> {
    let mut stmt = conn.prepare(sql)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let rows = stmt.query_map(rusqlite::params_from_iter(params), |row| row_json(row, &names))?;
    rows.collect()
}

/// A table's columns as the live schema has them.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub name: String,
    /// Column names in table order.
    pub columns: Vec<String>,
    /// The primary-key columns, in key order.
    pub primary_key: Vec<String>,
}

impl Table {
    /// Whether the table has the column (exact spelling).
    pub fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }
}

/// The table or view `name`, if the schema has it (SQLite's own tables excepted).
pub(crate) fn table(conn: &Connection, name: &str) -> rusqlite::Result<Option<Table>> {
    if name.to_ascii_lowercase().starts_with("sqlite_") {
        return Ok(None);
    }
    let found: Option<String> = conn
        .query_row("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1", [name], |r| r.get(0))
        .map(Some)
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
    let Some(name) = found else { return Ok(None) };
    let mut stmt = conn.prepare("SELECT name, pk FROM pragma_table_info(?1) ORDER BY cid")?;
    let mut columns = Vec::new();
    let mut keyed = Vec::new();
    for row in stmt.query_map([&name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (column, pk) = row?;
        if pk > 0 {
            keyed.push((pk, column.clone()));
        }
        columns.push(column);
    }
    keyed.sort();
    Ok(Some(Table { name, columns, primary_key: keyed.into_iter().map(|(_, c)| c).collect() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_is_case_sensitive_and_regexp_works() {
        let conn = open(None).unwrap();
        let one = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0)).unwrap();
        assert_eq!(one("SELECT 'Abc' LIKE 'a%'"), Some(0));
        assert_eq!(one("SELECT emu_lower('ÉCOLE') = 'école'"), Some(1));
        assert_eq!(one("SELECT 'abc' REGEXP '^a.c$'"), Some(1));
        assert_eq!(one("SELECT NULL REGEXP 'a'"), None);
        assert!(conn.query_row("SELECT 'a' REGEXP '('", [], |r| r.get::<_, i64>(0)).is_err());
    }

    #[test]
    fn names_are_quoted_and_checked() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert!(valid_db_name("emulator-env"));
        assert!(!valid_db_name("../x"));
        assert!(!valid_db_name("a.b"));
        let conn = open(None).unwrap();
        conn.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, PRIMARY KEY (b, a))").unwrap();
        let t = table(&conn, "t").unwrap().unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(t.primary_key, ["b", "a"]);
        assert!(table(&conn, "sqlite_master").unwrap().is_none());
        assert!(table(&conn, "u").unwrap().is_none());
    }
}
