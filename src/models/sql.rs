//! `mysql_command`: one SQL statement from a template whose `{{ key }}` placeholders are bound from typed
//! parameters by the service (never spliced into the SQL text).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Models;
use super::reply::call;
use crate::Error;
use crate::raw::model::Client;
use crate::raw::model::types::{MysqlCommandRequest, MysqlParameter, MysqlParameterType};

/// A typed parameter of [`Models::mysql_command`] (the Flutter SDK's `ModelMysqlParameter`).
#[derive(Clone, Debug)]
pub struct SqlParam(Result<(String, MysqlParameterType, String), Error>);

impl SqlParam {
    fn new(key: &str, kind: MysqlParameterType, value: Result<String, Error>) -> Self {
        SqlParam(value.map(|value| (key.to_owned(), kind, value)))
    }

    /// Text.
    pub fn string(key: &str, value: impl Into<String>) -> Self {
        Self::new(key, MysqlParameterType::String, Ok(value.into()))
    }

    /// An integer.
    pub fn int(key: &str, value: i64) -> Self {
        Self::new(key, MysqlParameterType::Number, Ok(value.to_string()))
    }

    /// A finite number.
    pub fn float(key: &str, value: f64) -> Self {
        let value = if value.is_finite() {
            Ok(value.to_string())
        } else {
            Err(Error::invalid("parameter", format!("{key}: {value} is not a finite number")))
        };
        Self::new(key, MysqlParameterType::Number, value)
    }

    /// A boolean.
    pub fn bool(key: &str, value: bool) -> Self {
        Self::new(key, MysqlParameterType::Boolean, Ok(value.to_string()))
    }

    /// A list (`IN {{ key }}`): any values that serialise to JSON.
    pub fn array<T: Serialize>(key: &str, values: &[T]) -> Self {
        let value = serde_json::to_string(values).map_err(|e| Error::invalid("parameter", format!("{key}: {e}")));
        Self::new(key, MysqlParameterType::Array, value)
    }

    /// An object, sent as its JSON text.
    pub fn object<T: Serialize + ?Sized>(key: &str, value: &T) -> Self {
        let value = match serde_json::to_value(value) {
            Ok(v @ Value::Object(_)) => Ok(v.to_string()),
            Ok(_) => Err(Error::invalid("parameter", format!("{key}: not a JSON object"))),
            Err(e) => Err(Error::invalid("parameter", format!("{key}: {e}"))),
        };
        Self::new(key, MysqlParameterType::Object, value)
    }

    /// Any JSON value, typed as the JS SDK types it (a string, number, boolean, array or object; null is
    /// refused).
    pub fn json(key: &str, value: &Value) -> Self {
        match value {
            Value::String(s) => Self::string(key, s.clone()),
            Value::Number(n) => Self::new(key, MysqlParameterType::Number, Ok(n.to_string())),
            Value::Bool(b) => Self::bool(key, *b),
            Value::Array(_) => Self::new(key, MysqlParameterType::Array, Ok(value.to_string())),
            Value::Object(_) => Self::new(key, MysqlParameterType::Object, Ok(value.to_string())),
            Value::Null => SqlParam(Err(Error::invalid("parameter", format!("{key}: null has no SQL type here")))),
        }
    }
}

/// What [`Models::mysql_command`] answered.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SqlResult<T = Value> {
    /// The result rows (for a statement that answers rows), or the service's summary items.
    pub rows: Vec<T>,
    /// Rows answered or affected.
    pub total: Option<u64>,
    /// How long the statement took, in milliseconds, as the service measured it.
    pub backend_execute_ms: Option<u64>,
    /// The request id.
    pub request_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct CommandData<T> {
    #[serde(rename = "backendExecute", default)]
    backend_execute: Option<Value>,
    #[serde(rename = "executeResultList", default = "Vec::new")]
    rows: Vec<T>,
    #[serde(default)]
    total: Option<u64>,
}

/// The keys of the `{{ key }}` placeholders of a template.
pub(crate) fn placeholders(template: &str) -> Result<Vec<&str>, Error> {
    let mut keys = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(Error::invalid("sql_template", "a `{{` without its `}}`"));
        };
        let key = after[..end].trim();
        if key.is_empty() {
            return Err(Error::invalid("sql_template", "an empty placeholder `{{ }}`"));
        }
        keys.push(key);
        rest = &after[end + 2..];
    }
    Ok(keys)
}

impl Models {
    /// Runs one SQL statement: `template` with `{{ key }}` placeholders, bound from `params` by the service.
    /// The Flutter SDK's `mysqlCommand`. The service allows it for administrators and API keys only.
    ///
    /// ```no_run
    /// # async fn demo(app: cloudbase::CloudBase) -> Result<(), cloudbase::Error> {
    /// use cloudbase::models::SqlParam;
    /// let paid = app
    ///     .models()
    ///     .mysql_command::<serde_json::Value>(
    ///         "select * from orders where status = {{ s }} and id in {{ ids }}",
    ///         [SqlParam::string("s", "paid"), SqlParam::array("ids", &[1, 2, 3])],
    ///     )
    ///     .await?;
    /// println!("{} rows", paid.rows.len());
    /// # Ok(()) }
    /// ```
    pub async fn mysql_command<T: DeserializeOwned>(
        &self,
        template: &str,
        params: impl IntoIterator<Item = SqlParam>,
    ) -> Result<SqlResult<T>, Error> {
        if template.trim().is_empty() {
            return Err(Error::invalid("sql_template", "is empty"));
        }
        let mut parameter = Vec::new();
        for param in params {
            let (key, type_, value) = param.0?;
            let key = key.parse().map_err(|_| Error::invalid("parameter", "a parameter key is empty"))?;
            parameter.push(MysqlParameter { key, type_, value });
        }
        for key in placeholders(template)? {
            if !parameter.iter().any(|p| p.key.as_str() == key) {
                return Err(Error::invalid("parameter", format!("no parameter for the placeholder {{{{ {key} }}}}")));
            }
        }
        let body = MysqlCommandRequest {
            sql_template: template.parse().map_err(|_| Error::invalid("sql_template", "is empty"))?,
            parameter,
            config: None,
        };
        let body = &body;
        let send = |c: Client| async move { c.mysql_command(body).await };
        let (data, request_id) = call::<CommandData<T>, _, _>(&self.core, "mysql_command", send).await?;
        let backend_execute_ms = match data.backend_execute {
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        Ok(SqlResult { rows: data.rows, total: data.total, backend_execute_ms, request_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found() {
        assert_eq!(placeholders("select {{a}} , {{ b }}").unwrap(), vec!["a", "b"]);
        assert!(placeholders("select {{ a").is_err());
        assert!(placeholders("select {{ }}").is_err());
        assert!(placeholders("select 1").unwrap().is_empty());
    }
}
