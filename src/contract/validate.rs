//! The checks of values, requests and responses against the spec: each reports every violation it finds.

use serde_json::Value;

use super::body::Body;
use super::params::{ParamIn, coerce};
use super::path::split_path;
use super::{Contract, Violation};

impl Contract {
    /// Validates a JSON value against the component schema `#/components/schemas/{schema_name}`.
    ///
    /// # Errors
    ///
    /// Every violation found, located at `<schema_name>` plus the JSON pointer of the failing part. An unknown
    /// schema name is one violation.
    pub fn validate_schema(&self, schema_name: &str, value: &Value) -> Result<(), Vec<Violation>> {
        let Some(compiled) = self.schemas.get(schema_name) else {
            return Err(vec![Violation::new(schema_name, "no such schema in #/components/schemas")]);
        };
        into_result(compiled.check(&self.components, schema_name, value))
    }

    /// Validates a request.
    ///
    /// The operation must exist. Path parameters and query parameters (`query` is the raw query string,
    /// with or without its `?`; when it is empty a query string on `path` is used) are checked against their
    /// declarations: every required one must be present, and values must parse as their type (`true`/`false`
    /// for booleans, integers, numbers) and match their schema. Undeclared query parameters are allowed (the
    /// client adds `client_id` and `captcha_token` to many calls).
    ///
    /// `body` is the parsed JSON body, `None` when there was none (or it was not JSON). A body must match the
    /// requestBody's JSON schema; a missing body when the requestBody is required is a violation, and so is a
    /// body sent to an operation that declares no requestBody.
    ///
    /// # Errors
    ///
    /// Every violation found (see [`Violation`] for the locations).
    pub fn validate_request(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: Option<&Value>,
    ) -> Result<(), Vec<Violation>> {
        let (op, captures) = match self.match_operation(method, path) {
            Some(found) => found,
            None => return Err(vec![self.no_operation(method, path)]),
        };
        let mut violations = Vec::new();

        let query = query.strip_prefix('?').unwrap_or(query);
        let query = if query.is_empty() { split_path(path).1 } else { query };
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();

        for param in &op.params {
            let (values, prefix): (Vec<&str>, _) = match param.location {
                ParamIn::Path => (
                    captures.iter().filter(|(name, _)| *name == param.name).map(|(_, v)| v.as_str()).collect(),
                    "request.path.",
                ),
                ParamIn::Query => (
                    pairs.iter().filter(|(name, _)| *name == param.name).map(|(_, v)| v.as_str()).collect(),
                    "request.query.",
                ),
                ParamIn::Other => continue,
            };
            let location = format!("{prefix}{}", param.name);
            if values.is_empty() {
                if param.required {
                    violations.push(Violation::new(location, "required parameter is missing"));
                }
                continue;
            }
            match coerce(&param.kind, &values) {
                Err(message) => violations.push(Violation::new(location, message)),
                Ok(None) => {}
                Ok(Some(value)) => {
                    if let Some(schema) = &param.schema {
                        violations.extend(schema.check(&self.components, &location, &value));
                    }
                }
            }
        }

        match (&op.request_body, body) {
            (None, None) => {}
            (None, Some(_)) => {
                violations.push(Violation::new("request.body", "the operation declares no request body"))
            }
            (Some(rb), None) => {
                if rb.required {
                    violations.push(Violation::new("request.body", "a request body is required"));
                }
            }
            (Some(rb), Some(body)) => match &rb.body {
                Body::Unresolved(reference) => violations.push(Violation::new(
                    "request.body",
                    format!("the spec's requestBody refers to `{reference}`, which does not resolve"),
                )),
                Body::NoJson | Body::Json(None) | Body::JsonOrEmpty(None) => {}
                Body::Json(Some(schema)) | Body::JsonOrEmpty(Some(schema)) => {
                    violations.extend(schema.check(&self.components, "request.body", body))
                }
            },
        }
        into_result(violations)
    }

    /// Validates a response.
    ///
    /// The status picks the declared response: the exact code, then its range (`4XX`), then `default`, and
    /// for any 2xx the `200` response. The JSON body is checked against that response's schema. A 2xx body
    /// holding an `error` field may instead match the operation's error schema (the service sends some
    /// errors with HTTP 200).
    ///
    /// `body` is `None` when the body was not JSON: a violation when the response declares a JSON body,
    /// except for 5xx statuses (gateways send HTML error pages).
    ///
    /// # Errors
    ///
    /// Every violation found (see [`Violation`] for the locations).
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), Vec<Violation>> {
        let Some((op, _)) = self.match_operation(method, path) else {
            return Err(vec![self.no_operation(method, path)]);
        };
        let Some((key, declared)) = op.response(status) else {
            let declared: Vec<&str> = op.responses.iter().map(|(k, _)| k.as_str()).collect();
            return Err(vec![Violation::new(
                "response.status",
                format!("status {status} is not declared (declared: {})", declared.join(", ")),
            )]);
        };
        let violations = match (declared, body) {
            (Body::Unresolved(reference), _) => vec![Violation::new(
                "response.body",
                format!("the spec's response `{key}` refers to `{reference}`, which does not resolve"),
            )],
            (Body::NoJson, _)
            | (Body::Json(None) | Body::JsonOrEmpty(None), Some(_))
            | (Body::JsonOrEmpty(_), None) => Vec::new(),
            (Body::Json(_), None) if status >= 500 => Vec::new(),
            (Body::Json(_), None) => {
                vec![Violation::new(
                    "response.body",
                    format!("the body is not JSON, but response `{key}` declares JSON"),
                )]
            }
            (Body::Json(Some(schema)) | Body::JsonOrEmpty(Some(schema)), Some(body)) => {
                let violations = schema.check(&self.components, "response.body", body);
                if !violations.is_empty() && (200..300).contains(&status) && body.get("error").is_some() {
                    let as_error = op.response(400).and_then(|(_, error)| match error {
                        Body::Json(Some(error)) => Some(error.check(&self.components, "response.body", body)),
                        _ => None,
                    });
                    match as_error {
                        Some(error_violations) if error_violations.is_empty() => Vec::new(),
                        _ => violations,
                    }
                } else {
                    violations
                }
            }
        };
        into_result(violations)
    }
}

fn into_result(violations: Vec<Violation>) -> Result<(), Vec<Violation>> {
    if violations.is_empty() { Ok(()) } else { Err(violations) }
}
