//! A contract validator over the OpenAPI specs in `openapi/`: check requests, responses, mocks and examples
//! against the spec the client is generated from.
//!
//! Only built with the `contract` cargo feature. OpenAPI 3.0 Schema Objects are converted to JSON Schema
//! (draft 2020-12) and checked with the `jsonschema` crate; every validator is compiled once, on first use,
//! and cached, so checking every HTTP exchange of a test suite stays cheap.
//!
//! Violation messages never print the checked values (they may hold tokens or passwords): they name the
//! location and the rule that failed.
//!
//! Files by job: `schema` converts OpenAPI schemas and compiles their validators, `path` matches concrete
//! paths to templates, `params` and `body` hold what an operation declares, `operation` ties them together,
//! `validate` checks values, requests and responses, `examples` finds the document's examples.

mod body;
mod examples;
mod operation;
mod params;
mod path;
mod schema;
#[cfg(test)]
mod tests;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use body::{request_body, response_body};
use examples::ExampleCollector;
use operation::{METHODS, Operation};
use params::collect_params;
use path::{Captures, match_template, parse_template, split_path};
use schema::{Compiled, collect_unresolved, convert_schema, resolve, schema_pointer};

/// The spec of the auth service, embedded at compile time.
const AUTH_SPEC: &str = include_str!("../../openapi/auth.yaml");
const FUNCTIONS_SPEC: &str = include_str!("../../openapi/functions.yaml");
const CLOUDRUN_SPEC: &str = include_str!("../../openapi/cloudrun.yaml");
const APIS_SPEC: &str = include_str!("../../openapi/apis.yaml");
const STORAGE_SPEC: &str = include_str!("../../openapi/storage.yaml");
const MYSQL_SPEC: &str = include_str!("../../openapi/mysql.yaml");
const MODEL_SPEC: &str = include_str!("../../openapi/model.yaml");

/// One embedded spec, parsed once per process.
macro_rules! embedded_contract {
    ($(#[$doc:meta])* $name:ident, $text:ident, $file:literal) => {
        $(#[$doc])*
        ///
        /// # Panics
        ///
        /// If the embedded spec does not parse, which `tests/spec.rs` rules out for every build.
        pub fn $name() -> &'static Contract {
            static CONTRACT: OnceLock<Contract> = OnceLock::new();
            CONTRACT.get_or_init(|| match Contract::from_yaml($text) {
                Ok(contract) => contract,
                Err(e) => panic!("{} is embedded in the crate and must parse: {e}", $file),
            })
        }
    };
}

/// A parsed OpenAPI 3.0 document with lazily compiled, cached JSON Schema validators.
///
/// Use [`Contract::auth`] for the spec the crate's auth client is generated from, or
/// [`Contract::from_yaml`] for any other OpenAPI 3.0 document. A `Contract` is `Send + Sync`; validators are
/// compiled on first use and reused afterwards.
///
/// ```
/// use cloudbase::contract::Contract;
/// use serde_json::json;
///
/// let contract = Contract::auth();
///
/// // Concrete paths find their operation, templated segments included.
/// let op = contract.find_operation("DELETE", "/auth/v1/user/provider/github").unwrap();
/// assert_eq!(op.operation_id, "unbind_provider");
/// assert_eq!(op.path_template, "/auth/v1/user/provider/{provider_id}");
///
/// // A request: body against the requestBody schema, query parameters against their declarations.
/// let body = json!({"username": "someone@example.com", "password": "Example-Passw0rd"});
/// assert!(contract.validate_request("POST", "/auth/v1/signin", "client_id=env", Some(&body)).is_ok());
/// assert!(contract.validate_request("DELETE", "/auth/v1/user/me", "", None).is_err()); // sudo_token missing
///
/// // A response: 2xx against the success schema, 4xx/5xx against the error schema.
/// let tokens = json!({"access_token": "eyJ...", "expires_in": 7200});
/// assert!(contract.validate_response("POST", "/auth/v1/signin", 200, Some(&tokens)).is_ok());
/// let violations = contract
///     .validate_response("POST", "/auth/v1/signin", 200, Some(&json!({"access_token": "eyJ...", "expires_in": "2h"})))
///     .unwrap_err();
/// assert_eq!(violations[0].location, "response.body/expires_in");
///
/// // Any component schema by name.
/// assert!(contract.validate_schema("UserExistence", &json!({"exist": true})).is_ok());
/// ```
pub struct Contract {
    /// The document as parsed, for `$ref` resolution and example discovery.
    raw: Value,
    /// `{"schemas": {name: converted schema}}`: bundled into every compiled schema as `components`, so the
    /// spec's own `#/components/schemas/...` pointers resolve unchanged.
    components: Value,
    /// One cached validator per component schema.
    schemas: BTreeMap<String, Compiled>,
    /// Every operation, sorted by path template, then method.
    operations: Vec<Operation>,
}

impl fmt::Debug for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contract")
            .field("operations", &self.operations.len())
            .field("schemas", &self.schemas.len())
            .finish_non_exhaustive()
    }
}

/// One way a value, request or response breaks the contract.
///
/// `location` says where: `operation`, `request.query.<name>`, `request.path.<name>`, `request.body` (plus a
/// JSON pointer into the body, e.g. `request.body/email`), `response.status`, `response.body[/pointer]`, or
/// `<SchemaName>[/pointer]` for [`Contract::validate_schema`]. `message` says what is wrong; it never contains
/// the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where the problem is.
    pub location: String,
    /// What the problem is.
    pub message: String,
}

impl Violation {
    fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self { location: location.into(), message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Why a document could not be loaded as a [`Contract`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    /// The text is not YAML (or JSON).
    #[error("the spec is not valid YAML: {0}")]
    Yaml(String),
    /// The YAML does not have the shape of an OpenAPI 3.0 document.
    #[error("the spec is not an OpenAPI 3.0 document: {0}")]
    NotOpenApi(String),
}

/// An operation of the spec, borrowed from its [`Contract`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OperationRef<'a> {
    /// The `operationId` (empty when the spec gives none).
    pub operation_id: &'a str,
    /// The HTTP method, upper case (`"POST"`).
    pub method: &'a str,
    /// The path as written in the spec, e.g. `/auth/v1/user/provider/{provider_id}`.
    pub path_template: &'a str,
}

impl Contract {
    embedded_contract!(
        /// The auth service's spec (`openapi/auth.yaml`, embedded at compile time), parsed once per process.
        auth, AUTH_SPEC, "openapi/auth.yaml"
    );
    embedded_contract!(
        /// The cloud functions spec (`openapi/functions.yaml`).
        functions, FUNCTIONS_SPEC, "openapi/functions.yaml"
    );
    embedded_contract!(
        /// The cloud run spec (`openapi/cloudrun.yaml`).
        cloudrun, CLOUDRUN_SPEC, "openapi/cloudrun.yaml"
    );
    embedded_contract!(
        /// The APIs spec (`openapi/apis.yaml`).
        apis, APIS_SPEC, "openapi/apis.yaml"
    );
    embedded_contract!(
        /// The cloud storage spec (`openapi/storage.yaml`).
        storage, STORAGE_SPEC, "openapi/storage.yaml"
    );
    embedded_contract!(
        /// The MySQL RESTful spec (`openapi/mysql.yaml`).
        mysql, MYSQL_SPEC, "openapi/mysql.yaml"
    );
    embedded_contract!(
        /// The data model, data source and SQL command spec (`openapi/model.yaml`).
        model, MODEL_SPEC, "openapi/model.yaml"
    );

    /// The embedded spec that covers a request path (`/auth/v1/...`, `/v1/functions/...`, ...), if any.
    pub fn for_path(path: &str) -> Option<&'static Contract> {
        let path = split_path(path).0;
        if path.starts_with("/auth/") {
            Some(Self::auth())
        } else if path.starts_with("/v1/functions/") {
            Some(Self::functions())
        } else if path.starts_with("/v1/cloudrun/") {
            Some(Self::cloudrun())
        } else if path.starts_with("/v1/apis/") {
            Some(Self::apis())
        } else if path.starts_with("/v1/storages/") {
            Some(Self::storage())
        } else if path.starts_with("/v1/rdb/rest/") {
            Some(Self::mysql())
        } else if path.starts_with("/v1/model/") {
            Some(Self::model())
        } else {
            None
        }
    }

    /// Parses an OpenAPI 3.0 document (YAML or JSON text).
    ///
    /// Schemas are converted to JSON Schema here; validators are compiled on first use. A `$ref` that does not
    /// resolve is not an error here (see [`Contract::unresolved_refs`]); it is reported as a violation by the
    /// checks that need it.
    ///
    /// # Errors
    ///
    /// [`ContractError::Yaml`] when the text does not parse, [`ContractError::NotOpenApi`] when it lacks the
    /// `openapi: 3.0.x` version or the `paths` object.
    pub fn from_yaml(text: &str) -> Result<Contract, ContractError> {
        let raw: Value = serde_norway::from_str(text).map_err(|e| ContractError::Yaml(e.to_string()))?;
        let root = raw.as_object().ok_or_else(|| ContractError::NotOpenApi("the document is not a mapping".into()))?;
        match root.get("openapi") {
            Some(Value::String(version)) if version.starts_with("3.0") => {}
            Some(Value::String(version)) => {
                return Err(ContractError::NotOpenApi(format!("version `{version}` is not 3.0.x")));
            }
            _ => return Err(ContractError::NotOpenApi("no `openapi` version string".into())),
        }
        let paths = match root.get("paths") {
            Some(Value::Object(paths)) => paths,
            _ => return Err(ContractError::NotOpenApi("no `paths` mapping".into())),
        };

        let mut converted = Map::new();
        let mut schemas = BTreeMap::new();
        if let Some(Value::Object(raw_schemas)) = raw.pointer("/components/schemas") {
            for (name, schema) in raw_schemas {
                converted.insert(name.clone(), convert_schema(schema));
                schemas.insert(name.clone(), Compiled::new(json!({ "$ref": schema_pointer(name) })));
            }
        }
        let components = json!({ "schemas": converted });

        let mut operations = Vec::new();
        for (path, item) in paths {
            let Some(item) = resolve(&raw, item).and_then(Value::as_object) else { continue };
            let shared_params = item.get("parameters");
            for method in METHODS {
                let Some(Value::Object(op)) = item.get(*method) else { continue };
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    path_template: path.clone(),
                    operation_id: op.get("operationId").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    segments: parse_template(path),
                    params: collect_params(&raw, shared_params, op.get("parameters")),
                    request_body: op.get("requestBody").map(|rb| request_body(&raw, rb)),
                    responses: match op.get("responses") {
                        Some(Value::Object(responses)) => responses
                            .iter()
                            .map(|(key, response)| (key.clone(), response_body(&raw, response)))
                            .collect(),
                        _ => Vec::new(),
                    },
                });
            }
        }
        operations.sort_by(|a, b| (&a.path_template, &a.method).cmp(&(&b.path_template, &b.method)));
        Ok(Contract { raw, components, schemas, operations })
    }

    /// The operation for an HTTP method (any case) and a concrete path.
    ///
    /// `{param}` segments of a template match any non-empty segment, so `/auth/v1/user/provider/github`
    /// finds `/auth/v1/user/provider/{provider_id}`; where several templates match, literal segments win over
    /// templated ones (`/auth/v1/user/provider/bind` is its own operation). A query string or fragment on
    /// `path` is ignored, and so is a leading `scheme://host`.
    pub fn find_operation(&self, method: &str, path: &str) -> Option<OperationRef<'_>> {
        self.match_operation(method, path).map(|(op, _)| op.as_ref())
    }

    /// Every operation of the spec, sorted by path template, then method.
    pub fn operations(&self) -> Vec<OperationRef<'_>> {
        self.operations.iter().map(Operation::as_ref).collect()
    }

    /// Every `example` (and every `examples` entry's `value`) in the document, with the schema it must match.
    ///
    /// Each item is (location, JSON Schema, example). The location is the dotted path to the object holding
    /// the example, e.g. `components.schemas.TokenResponse`,
    /// `components.schemas.TokenResponse.properties.expires_in`, `components.responses.Error`,
    /// `paths./auth/v1/signin.post.responses.4XX`; a media type other than `application/json` is added as
    /// `.content.<type>`, a named example as `.examples.<name>`. The schema is self-contained (draft
    /// 2020-12, the component schemas bundled under `components.schemas`), so any JSON Schema validator can
    /// compile it. Examples are listed where they are written, not once per `$ref` using them.
    pub fn examples(&self) -> Vec<(String, Value, Value)> {
        let mut found = Vec::new();
        let mut collector = ExampleCollector { raw: &self.raw, components: &self.components, found: &mut found };
        if let Some(Value::Object(components)) = self.raw.get("components") {
            for (kind, entries) in components {
                let Value::Object(entries) = entries else { continue };
                for (name, entry) in entries {
                    let location = format!("components.{kind}.{name}");
                    match kind.as_str() {
                        "schemas" => collector.schema(entry, &location),
                        "responses" => collector.response(entry, &location),
                        "parameters" | "headers" => collector.parameter(entry, &location),
                        "requestBodies" => collector.request_body(entry, &location),
                        _ => {}
                    }
                }
            }
        }
        if let Some(Value::Object(paths)) = self.raw.get("paths") {
            for (path, item) in paths {
                let Value::Object(item) = item else { continue };
                collector.parameters(item.get("parameters"), &format!("paths.{path}"));
                for method in METHODS {
                    let Some(Value::Object(op)) = item.get(*method) else { continue };
                    let location = format!("paths.{path}.{method}");
                    collector.parameters(op.get("parameters"), &location);
                    if let Some(rb) = op.get("requestBody") {
                        collector.request_body(rb, &format!("{location}.requestBody"));
                    }
                    if let Some(Value::Object(responses)) = op.get("responses") {
                        for (key, response) in responses {
                            collector.response(response, &format!("{location}.responses.{key}"));
                        }
                    }
                }
            }
        }
        found
    }

    /// Every `$ref` string in the document that does not resolve, each once, in document order.
    ///
    /// Local references (`#/...`, JSON pointers) are resolved against the document; references to other
    /// documents are not followed and are always listed.
    pub fn unresolved_refs(&self) -> Vec<String> {
        let mut unresolved = Vec::new();
        let mut seen = BTreeSet::new();
        collect_unresolved(&self.raw, &self.raw, &mut seen, &mut unresolved);
        unresolved
    }

    fn match_operation(&self, method: &str, path: &str) -> Option<(&Operation, Captures)> {
        let segments: Vec<&str> = split_path(path).0.split('/').collect();
        let mut best: Option<(Vec<u8>, &Operation, Captures)> = None;
        for op in self.operations.iter().filter(|op| op.method.eq_ignore_ascii_case(method)) {
            let Some((score, captures)) = match_template(&op.segments, &segments) else { continue };
            if best.as_ref().is_none_or(|(best_score, _, _)| score > *best_score) {
                best = Some((score, op, captures));
            }
        }
        best.map(|(_, op, captures)| (op, captures))
    }

    fn no_operation(&self, method: &str, path: &str) -> Violation {
        let segments: Vec<&str> = split_path(path).0.split('/').collect();
        let methods: Vec<&str> = self
            .operations
            .iter()
            .filter(|op| match_template(&op.segments, &segments).is_some())
            .map(|op| op.method.as_str())
            .collect();
        let method = method.to_ascii_uppercase();
        let path = split_path(path).0;
        let message = if methods.is_empty() {
            format!("no operation for {method} {path} in the spec")
        } else {
            format!("no operation for {method} {path} in the spec (the path has {})", methods.join(", "))
        };
        Violation::new("operation", message)
    }
}
