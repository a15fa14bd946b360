//! `mysqlCommand` (`POST /v1/model/plugin/prod/mysqlCommand`): one SQL statement on the default database
//! (the MySQL RESTful one), its `{{ key }}` placeholders replaced by bound parameters, never by text.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::Response;
use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value, json};

use super::{ModelErr, accept, answer, body_object, invalid, missing};
use crate::data::db::{lock, query_json, sql_of};
use crate::state::State;

/// Longest `config.timeout` accepted, in seconds.
const MAX_TIMEOUT: i64 = 30;

pub(crate) async fn handle(AxumState(state): AxumState<Arc<State>>, request: Request) -> Response<Body> {
    let call = match accept(&state, request).await {
        Ok(call) => call,
        Err(response) => return response,
    };
    // The real service wants an administrator (or an API key); here users and client tokens may run it.
    if call.caller.is_guest() {
        let denied = ModelErr::new("OPERATION_DENIED", "mysqlCommand needs a signed-in user or an administrator token");
        return answer(&call.request_id, Err(denied));
    }
    let prepared = body_object(&call.body).and_then(|body| prepare(&body));
    let result = match prepared {
        Ok((sql, params)) => {
            let db = state.data.dbs.default_db();
            tokio::task::spawn_blocking(move || run(&lock(&db), &sql, &params))
                .await
                .unwrap_or_else(|e| Err(ModelErr::new("FLEXDB_INTERNAL_ERROR", format!("the command failed: {e}"))))
        }
        Err(e) => Err(e),
    };
    answer(&call.request_id, result)
}

/// The SQL with `?` placeholders and the values to bind, from the request body.
fn prepare(body: &Map<String, Value>) -> Result<(String, Vec<SqlValue>), ModelErr> {
    let template = match body.get("sqlTemplate") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.as_str(),
        None | Some(Value::Null) | Some(Value::String(_)) => return Err(missing("sqlTemplate")),
        Some(_) => return Err(invalid("sqlTemplate must be a string")),
    };
    if let Some(config) = body.get("config").filter(|c| !c.is_null()) {
        let timeout = config.get("timeout").filter(|t| !t.is_null());
        if let Some(t) = timeout
            && !t.as_i64().is_some_and(|t| (1..=MAX_TIMEOUT).contains(&t))
        {
            return Err(invalid(format!("config.timeout must be an integer from 1 to {MAX_TIMEOUT}")));
        }
    }
    let mut parameters: Vec<(String, String, String)> = Vec::new();
    for p in body.get("parameter").and_then(Value::as_array).into_iter().flatten() {
        let field = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let key = field("key").filter(|k| !k.is_empty()).ok_or_else(|| missing("parameter[].key"))?;
        let kind = field("type").ok_or_else(|| missing("parameter[].type"))?.to_ascii_uppercase();
        // A non-string value is taken as its JSON text, as the JS client would have sent it.
        let value = match p.get("value") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => return Err(missing("parameter[].value")),
            Some(other) => other.to_string(),
        };
        parameters.push((key, kind, value));
    }
    substitute(template, &parameters)
}

/// Replaces each `{{ key }}` by `?` (an ARRAY by `(?, ?, ...)`) and collects the bound values.
fn substitute(template: &str, parameters: &[(String, String, String)]) -> Result<(String, Vec<SqlValue>), ModelErr> {
    let mut sql = String::with_capacity(template.len());
    let mut params = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let end = rest[start + 2..].find("}}").ok_or_else(|| invalid("sqlTemplate has an unclosed {{"))? + start + 2;
        sql.push_str(&rest[..start]);
        let key = rest[start + 2..end].trim();
        let (_, kind, value) = parameters.iter().find(|(k, _, _)| k == key).ok_or_else(|| {
            ModelErr::new("MISSING_PARAMETER", format!("no parameter for the placeholder {{{{ {key} }}}}"))
        })?;
        let bad = |what: &str| invalid(format!("parameter {key}: {what}, not {value:?}"));
        match kind.as_str() {
            "STRING" => params.push(SqlValue::Text(value.clone())),
            "NUMBER" => params.push(match value.trim().parse::<i64>() {
                Ok(i) => SqlValue::Integer(i),
                Err(_) => SqlValue::Real(
                    value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .ok_or_else(|| bad("NUMBER needs a number"))?,
                ),
            }),
            "BOOLEAN" => params.push(SqlValue::Integer(match value.trim().to_ascii_lowercase().as_str() {
                "true" => 1,
                "false" => 0,
                _ => return Err(bad("BOOLEAN needs true or false")),
            })),
            "ARRAY" => {
                let items: Vec<Value> = serde_json::from_str(value).map_err(|_| bad("ARRAY needs a JSON array"))?;
                let marks = vec!["?"; items.len()].join(", ");
                params.extend(items.iter().map(sql_of));
                sql.push_str(&format!("({marks})"));
                rest = &rest[end + 2..];
                continue;
            }
            "OBJECT" => {
                let object: Value = serde_json::from_str(value).map_err(|_| bad("OBJECT needs JSON"))?;
                params.push(SqlValue::Text(object.to_string()));
            }
            other => {
                return Err(invalid(format!(
                    "parameter {key}: unknown type {other:?} (STRING, NUMBER, BOOLEAN, ARRAY, OBJECT)"
                )));
            }
        }
        sql.push('?');
        rest = &rest[end + 2..];
    }
    sql.push_str(rest);
    Ok((sql, params))
}

fn sql_error(e: rusqlite::Error) -> ModelErr {
    match e {
        rusqlite::Error::MultipleStatement => invalid("sqlTemplate must hold exactly one statement"),
        e => invalid(format!("SQL error: {e}")),
    }
}

fn run(conn: &rusqlite::Connection, sql: &str, params: &[SqlValue]) -> Result<Value, ModelErr> {
    let started = Instant::now();
    let stmt = conn.prepare(sql).map_err(sql_error)?;
    let returns_rows = stmt.column_count() > 0;
    drop(stmt);
    let (list, total) = if returns_rows {
        let rows = query_json(conn, sql, params).map_err(sql_error)?;
        let n = rows.len();
        (rows, n as i64)
    } else {
        let affected = conn.execute(sql, rusqlite::params_from_iter(params)).map_err(sql_error)?;
        (vec![json!({ "affectedRows": affected, "insertId": conn.last_insert_rowid() })], affected as i64)
    };
    Ok(json!({
        "backendExecute": started.elapsed().as_millis().to_string(),
        "executeResultList": list,
        "total": total,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: &str, kind: &str, value: &str) -> (String, String, String) {
        (key.into(), kind.into(), value.into())
    }

    #[test]
    fn placeholders_become_bound_parameters() {
        let (sql, params) = substitute(
            "select * from t where a = {{a}} and b in {{ ids }} and c = {{ on }} and d = {{ n }} and e = {{o}}",
            &[
                p("a", "STRING", "x'; drop table t; --"),
                p("ids", "ARRAY", "[1,\"two\"]"),
                p("on", "BOOLEAN", "true"),
                p("n", "NUMBER", "1.5"),
                p("o", "OBJECT", "{\"k\": 1}"),
            ],
        )
        .unwrap();
        assert_eq!(sql, "select * from t where a = ? and b in (?, ?) and c = ? and d = ? and e = ?");
        assert_eq!(params.len(), 6);
        assert_eq!(params[0], SqlValue::Text("x'; drop table t; --".into()));
        assert_eq!(params[4], SqlValue::Real(1.5));
        assert_eq!(params[5], SqlValue::Text("{\"k\":1}".into()));
        assert_eq!(substitute("{{ x }}", &[]).unwrap_err().code, "MISSING_PARAMETER");
        assert_eq!(substitute("{{ n }}", &[p("n", "NUMBER", "ten")]).unwrap_err().code, "INVALID_PARAMETER");
        assert_eq!(substitute("{{ n }}", &[p("n", "BOOLEAN", "yes")]).unwrap_err().code, "INVALID_PARAMETER");
        assert_eq!(substitute("{{ n }}", &[p("n", "DATE", "x")]).unwrap_err().code, "INVALID_PARAMETER");
        assert_eq!(substitute("{{ n", &[]).unwrap_err().code, "INVALID_PARAMETER");
    }
}
