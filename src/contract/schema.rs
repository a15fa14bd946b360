//! OpenAPI 3.0 Schema Objects as JSON Schema (draft 2020-12), their validators compiled on first use, and
//! local `$ref` resolution.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::Violation;
use super::path::percent_decode;

/// The JSON Schema dialect converted schemas are written in.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// How many `$ref` hops are followed before a chain is declared circular.
const MAX_REF_HOPS: usize = 32;

/// OpenAPI-only Schema Object keywords that have no JSON Schema meaning (or a different one) and are dropped.
const OPENAPI_ONLY_KEYWORDS: &[&str] =
    &["nullable", "example", "deprecated", "readOnly", "writeOnly", "xml", "externalDocs", "discriminator"];

/// A converted schema and its validator, compiled on first use.
pub(super) struct Compiled {
    schema: Value,
    validator: OnceLock<Result<jsonschema::Validator, String>>,
}

impl Compiled {
    pub(super) fn new(schema: Value) -> Self {
        Self { schema, validator: OnceLock::new() }
    }

    fn validator(&self, components: &Value) -> Result<&jsonschema::Validator, &str> {
        self.validator
            .get_or_init(|| {
                let document = bundle(&self.schema, components);
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(false)
                    .build(&document)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Validates `value`; violations are located at `prefix` + the JSON pointer of the failing part.
    pub(super) fn check(&self, components: &Value, prefix: &str, value: &Value) -> Vec<Violation> {
        let validator = match self.validator(components) {
            Ok(validator) => validator,
            Err(message) => {
                return vec![Violation::new(prefix, format!("the spec's schema does not compile: {message}"))];
            }
        };
        if validator.is_valid(value) {
            return Vec::new();
        }
        validator
            .iter_errors(value)
            .map(|error| {
                let location = format!("{prefix}{}", error.instance_path());
                // `masked` keeps the value (possibly a secret) out of the message.
                Violation::new(location, format!("{} (schema: {})", error.masked(), error.schema_path()))
            })
            .collect()
    }
}

pub(super) fn schema_pointer(name: &str) -> String {
    format!("#/components/schemas/{}", escape_pointer_token(name))
}

fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A schema plus everything its `$ref`s need: a self-contained draft 2020-12 document.
pub(super) fn bundle(schema: &Value, components: &Value) -> Value {
    let mut document = match schema {
        Value::Object(map) => map.clone(),
        Value::Bool(false) => {
            let mut map = Map::new();
            map.insert("not".into(), json!({}));
            map
        }
        _ => Map::new(),
    };
    document.insert("$schema".into(), Value::String(DIALECT.into()));
    document.insert("components".into(), components.clone());
    Value::Object(document)
}

/// Converts an OpenAPI 3.0 Schema Object to JSON Schema draft 2020-12.
///
/// `nullable: true` admits `null`; OpenAPI-only keywords and `x-` extensions are dropped; boolean
/// `exclusiveMinimum`/`exclusiveMaximum` become the numeric form; `format: int32`/`int64` integers get their
/// range. Other formats (`secret`, ...) stay as annotations: formats are not asserted.
pub(super) fn convert_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else { return schema.clone() };
    let nullable = map.get("nullable") == Some(&Value::Bool(true));

    if let Some(reference) = map.get("$ref") {
        // OpenAPI 3.0 ignores the siblings of `$ref`.
        let target = json!({ "$ref": reference });
        return if nullable { json!({ "anyOf": [target, { "type": "null" }] }) } else { target };
    }

    let mut out = Map::new();
    for (key, value) in map {
        if OPENAPI_ONLY_KEYWORDS.contains(&key.as_str()) || key.starts_with("x-") {
            continue;
        }
        let converted = match key.as_str() {
            "properties" => match value {
                Value::Object(properties) => {
                    Value::Object(properties.iter().map(|(name, s)| (name.clone(), convert_schema(s))).collect())
                }
                other => other.clone(),
            },
            "items" | "not" | "additionalProperties" => convert_schema(value),
            "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(schemas) => Value::Array(schemas.iter().map(convert_schema).collect()),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }

    for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match out.get(exclusive) {
            Some(Value::Bool(true)) => match out.remove(bound) {
                Some(limit) => {
                    out.insert(exclusive.into(), limit);
                }
                None => {
                    out.remove(exclusive);
                }
            },
            Some(Value::Bool(false)) => {
                out.remove(exclusive);
            }
            _ => {}
        }
    }

    if out.get("type").and_then(Value::as_str) == Some("integer") {
        let range = match out.get("format").and_then(Value::as_str) {
            Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
            Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
            _ => None,
        };
        if let Some((min, max)) = range {
            if !out.contains_key("minimum") && !out.contains_key("exclusiveMinimum") {
                out.insert("minimum".into(), min);
            }
            if !out.contains_key("maximum") && !out.contains_key("exclusiveMaximum") {
                out.insert("maximum".into(), max);
            }
        }
    }

    if nullable {
        match out.get("type").cloned() {
            Some(Value::String(t)) => {
                out.insert("type".into(), json!([t, "null"]));
                if let Some(Value::Array(values)) = out.get_mut("enum")
                    && !values.contains(&Value::Null)
                {
                    values.push(Value::Null);
                }
            }
            Some(_) => {}
            None => {
                if ["allOf", "anyOf", "oneOf"].iter().any(|k| out.contains_key(*k)) {
                    return json!({ "anyOf": [Value::Object(out), { "type": "null" }] });
                }
            }
        }
    }
    Value::Object(out)
}

/// Follows `$ref` chains (local ones) to the referenced value.
pub(super) fn resolve<'a>(root: &'a Value, mut value: &'a Value) -> Option<&'a Value> {
    for _ in 0..MAX_REF_HOPS {
        match value.get("$ref") {
            Some(Value::String(reference)) => value = lookup(root, reference)?,
            Some(_) => return None,
            None => return Some(value),
        }
    }
    None
}

/// The value a local reference (`#/json/pointer`) points to.
fn lookup<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let fragment = reference.strip_prefix('#')?;
    let decoded = percent_decode(fragment);
    if decoded.is_empty() {
        return Some(root);
    }
    if !decoded.starts_with('/') {
        return None;
    }
    root.pointer(&decoded)
}

/// The first `$ref` along a chain that does not resolve.
pub(super) fn broken_ref<'a>(root: &'a Value, mut value: &'a Value) -> Option<String> {
    for _ in 0..MAX_REF_HOPS {
        match value.get("$ref") {
            Some(Value::String(reference)) => match lookup(root, reference) {
                Some(target) => value = target,
                None => return Some(reference.clone()),
            },
            Some(other) => return Some(other.to_string()),
            None => return None,
        }
    }
    value.get("$ref").map(|r| format!("{r} (circular)"))
}

pub(super) fn collect_unresolved(root: &Value, value: &Value, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && lookup(root, reference).is_none()
                && seen.insert(reference.clone())
            {
                out.push(reference.clone());
            }
            for child in map.values() {
                collect_unresolved(root, child, seen, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                collect_unresolved(root, child, seen, out);
            }
        }
        _ => {}
    }
}
