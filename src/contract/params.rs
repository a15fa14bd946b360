//! An operation's declared parameters, and how their string values become JSON for their schema to check.

use serde_json::Value;

use super::schema::{Compiled, convert_schema, resolve};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ParamIn {
    Path,
    Query,
    Other,
}

/// How a parameter's string form turns into JSON before it is validated.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum ParamKind {
    String,
    Boolean,
    Integer,
    Number,
    Array(Box<ParamKind>),
    /// Objects, missing types, `content`-described parameters: only presence is checked.
    Unchecked,
}

pub(super) struct Param {
    pub(super) name: String,
    pub(super) location: ParamIn,
    pub(super) required: bool,
    pub(super) kind: ParamKind,
    pub(super) schema: Option<Compiled>,
}

pub(super) fn collect_params(root: &Value, shared: Option<&Value>, own: Option<&Value>) -> Vec<Param> {
    let mut params: Vec<Param> = Vec::new();
    for list in [shared, own] {
        let Some(Value::Array(list)) = list else { continue };
        for param in list {
            let Some(param) = resolve(root, param).and_then(Value::as_object) else { continue };
            let Some(name) = param.get("name").and_then(Value::as_str) else { continue };
            let location = match param.get("in").and_then(Value::as_str) {
                Some("path") => ParamIn::Path,
                Some("query") => ParamIn::Query,
                _ => ParamIn::Other,
            };
            let raw_schema = param.get("schema");
            let kind = raw_schema.map_or(ParamKind::Unchecked, |s| param_kind(root, s));
            let param = Param {
                name: name.to_owned(),
                location,
                required: location == ParamIn::Path || param.get("required") == Some(&Value::Bool(true)),
                kind,
                schema: raw_schema.map(|s| Compiled::new(convert_schema(s))),
            };
            // An operation's own parameter overrides the path item's one of the same name and place.
            params.retain(|p| !(p.name == param.name && p.location == param.location));
            params.push(param);
        }
    }
    params
}

fn param_kind(root: &Value, schema: &Value) -> ParamKind {
    let Some(schema) = resolve(root, schema) else { return ParamKind::Unchecked };
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => ParamKind::String,
        Some("boolean") => ParamKind::Boolean,
        Some("integer") => ParamKind::Integer,
        Some("number") => ParamKind::Number,
        Some("array") => match schema.get("items").map(|items| param_kind(root, items)) {
            Some(ParamKind::Array(_) | ParamKind::Unchecked) | None => ParamKind::Unchecked,
            Some(item) => ParamKind::Array(Box::new(item)),
        },
        _ => ParamKind::Unchecked,
    }
}

/// Turns a parameter's string values into the JSON its schema describes; `Ok(None)` when unchecked.
pub(super) fn coerce(kind: &ParamKind, values: &[&str]) -> Result<Option<Value>, String> {
    let scalar = |kind: &ParamKind, text: &str| -> Result<Option<Value>, String> {
        Ok(Some(match kind {
            ParamKind::String => Value::String(text.to_owned()),
            ParamKind::Boolean => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err("must be a boolean (`true` or `false`)".into()),
            },
            ParamKind::Integer => match text.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => match text.parse::<u64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => return Err("must be an integer".into()),
                },
            },
            ParamKind::Number => match text.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                Some(n) => Value::Number(n),
                None => return Err("must be a number".into()),
            },
            ParamKind::Array(_) | ParamKind::Unchecked => return Ok(None),
        }))
    };
    match kind {
        ParamKind::Unchecked => Ok(None),
        ParamKind::Array(item) => {
            let mut items = Vec::new();
            // `form` style: repeated (`a=1&a=2`) or comma-separated (`a=1,2`).
            for text in values.iter().flat_map(|v| v.split(',')) {
                if let Some(value) = scalar(item, text)? {
                    items.push(value);
                }
            }
            Ok(Some(Value::Array(items)))
        }
        _ if values.len() > 1 => Err("given more than once".into()),
        _ => scalar(kind, values.first().copied().unwrap_or_default()),
    }
}
