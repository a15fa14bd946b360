//! A contract validator over the OpenAPI specs in `openapi/`: check requests, responses, mocks and examples
//! against the spec the client is generated from.
//!
//! Only built with the `contract` cargo feature. OpenAPI 3.0 Schema Objects are converted to JSON Schema
//! (draft 2020-12) and checked with the `jsonschema` crate; every validator is compiled once, on first use,
//! and cached, so checking every HTTP exchange of a test suite stays cheap.
//!
//! Violation messages never print the checked values (they may hold tokens or passwords): they name the
//! location and the rule that failed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// The JSON Schema dialect converted schemas are written in.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The spec of the auth service, embedded at compile time.
const AUTH_SPEC: &str = include_str!("../openapi/auth.yaml");
const FUNCTIONS_SPEC: &str = include_str!("../openapi/functions.yaml");
const CLOUDRUN_SPEC: &str = include_str!("../openapi/cloudrun.yaml");
const APIS_SPEC: &str = include_str!("../openapi/apis.yaml");
const STORAGE_SPEC: &str = include_str!("../openapi/storage.yaml");
const MYSQL_SPEC: &str = include_str!("../openapi/mysql.yaml");
const MODEL_SPEC: &str = include_str!("../openapi/model.yaml");

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

/// How many `$ref` hops are followed before a chain is declared circular.
const MAX_REF_HOPS: usize = 32;

/// OpenAPI-only Schema Object keywords that have no JSON Schema meaning (or a different one) and are dropped.
const OPENAPI_ONLY_KEYWORDS: &[&str] =
    &["nullable", "example", "deprecated", "readOnly", "writeOnly", "xml", "externalDocs", "discriminator"];

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

/// A converted schema and its validator, compiled on first use.
struct Compiled {
    schema: Value,
    validator: OnceLock<Result<jsonschema::Validator, String>>,
}

impl Compiled {
    fn new(schema: Value) -> Self {
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
    fn check(&self, components: &Value, prefix: &str, value: &Value) -> Vec<Violation> {
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum ParamIn {
    Path,
    Query,
    Other,
}

/// How a parameter's string form turns into JSON before it is validated.
#[derive(Clone, PartialEq, Eq)]
enum ParamKind {
    String,
    Boolean,
    Integer,
    Number,
    Array(Box<ParamKind>),
    /// Objects, missing types, `content`-described parameters: only presence is checked.
    Unchecked,
}

struct Param {
    name: String,
    location: ParamIn,
    required: bool,
    kind: ParamKind,
    schema: Option<Compiled>,
}

/// The JSON part of a request body or response.
enum Body {
    /// The body or response object is a `$ref` that does not resolve.
    Unresolved(String),
    /// No JSON media type is declared.
    NoJson,
    /// A JSON media type, with its schema when it has one.
    Json(Option<Compiled>),
    /// As `Json`, or no body at all: a response marked `x-cloudbase-raw-body`, whose body depends on the
    /// request (`Prefer: return=minimal` answers none).
    JsonOrEmpty(Option<Compiled>),
}

struct RequestBody {
    required: bool,
    body: Body,
}

struct Operation {
    method: String,
    path_template: String,
    operation_id: String,
    segments: Vec<Vec<Piece>>,
    params: Vec<Param>,
    request_body: Option<RequestBody>,
    /// Response keys as written in the spec (`200`, `4XX`, `default`), with their JSON body.
    responses: Vec<(String, Body)>,
}

impl Operation {
    fn as_ref(&self) -> OperationRef<'_> {
        OperationRef { operation_id: &self.operation_id, method: &self.method, path_template: &self.path_template }
    }

    fn response(&self, status: u16) -> Option<(&str, &Body)> {
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let find = |key: &str| {
            self.responses.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(k, body)| (k.as_str(), body))
        };
        find(&exact)
            .or_else(|| find(&range))
            .or_else(|| find("default"))
            .or_else(|| if (200..300).contains(&status) { find("200") } else { None })
    }
}

/// Path parameters captured from a concrete path: (name, percent-decoded value).
type Captures = Vec<(String, String)>;

/// A piece of one path segment: literal text or a `{parameter}`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Param(String),
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

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

fn into_result(violations: Vec<Violation>) -> Result<(), Vec<Violation>> {
    if violations.is_empty() { Ok(()) } else { Err(violations) }
}

fn schema_pointer(name: &str) -> String {
    format!("#/components/schemas/{}", escape_pointer_token(name))
}

fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A schema plus everything its `$ref`s need: a self-contained draft 2020-12 document.
fn bundle(schema: &Value, components: &Value) -> Value {
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
fn convert_schema(schema: &Value) -> Value {
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
fn resolve<'a>(root: &'a Value, mut value: &'a Value) -> Option<&'a Value> {
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
fn broken_ref<'a>(root: &'a Value, mut value: &'a Value) -> Option<String> {
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

fn collect_unresolved(root: &Value, value: &Value, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
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

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Splits `[scheme://host]/path[?query][#fragment]` into the path and the query.
fn split_path(path: &str) -> (&str, &str) {
    let mut path = path;
    for scheme in ["https://", "http://"] {
        if let Some(rest) = path.strip_prefix(scheme) {
            path = rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    let path = path.split('#').next().unwrap_or_default();
    match path.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path, ""),
    }
}

fn parse_template(template: &str) -> Vec<Vec<Piece>> {
    template
        .split('/')
        .map(|segment| {
            let mut pieces = Vec::new();
            let mut rest = segment;
            while let Some(open) = rest.find('{') {
                let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
                if open > 0 {
                    pieces.push(Piece::Literal(rest[..open].to_owned()));
                }
                pieces.push(Piece::Param(rest[open + 1..close].to_owned()));
                rest = &rest[close + 1..];
            }
            if !rest.is_empty() || pieces.is_empty() {
                pieces.push(Piece::Literal(rest.to_owned()));
            }
            pieces
        })
        .collect()
}

/// Matches a concrete path against a template: the specificity score (per segment: 2 literal, 1 mixed,
/// 0 parameter; compared lexicographically, so literal segments win) and the captured parameters.
fn match_template(template: &[Vec<Piece>], segments: &[&str]) -> Option<(Vec<u8>, Captures)> {
    // A final `{path}` segment is the rest of the URL (cloud run, APIs): any number of segments, maybe none.
    if let Some((last, head)) = template.split_last()
        && matches!(last.as_slice(), [Piece::Param(name)] if name == "path")
        && segments.len() + 1 >= template.len()
    {
        let (mut score, mut captures) = match_template(head, &segments[..head.len()])?;
        captures.push(("path".to_owned(), segments[head.len()..].join("/")));
        score.push(0);
        return Some((score, captures));
    }
    if template.len() != segments.len() {
        return None;
    }
    let mut score = Vec::with_capacity(segments.len());
    let mut captures = Vec::new();
    for (pieces, segment) in template.iter().zip(segments) {
        if !match_pieces(pieces, segment, &mut captures) {
            return None;
        }
        let params = pieces.iter().filter(|p| matches!(p, Piece::Param(_))).count();
        score.push(match params {
            0 => 2,
            n if n == pieces.len() => 0,
            _ => 1,
        });
    }
    Some((score, captures))
}

fn match_pieces(pieces: &[Piece], text: &str, captures: &mut Captures) -> bool {
    match pieces.split_first() {
        None => text.is_empty(),
        Some((Piece::Literal(literal), rest)) => {
            text.strip_prefix(literal.as_str()).is_some_and(|remaining| match_pieces(rest, remaining, captures))
        }
        Some((Piece::Param(name), rest)) => {
            let ends = text.char_indices().map(|(i, _)| i).skip(1).chain(std::iter::once(text.len()));
            for end in ends {
                if end == 0 {
                    continue;
                }
                let mark = captures.len();
                captures.push((name.clone(), percent_decode(&text[..end])));
                if match_pieces(rest, &text[end..], captures) {
                    return true;
                }
                captures.truncate(mark);
            }
            false
        }
    }
}

fn collect_params(root: &Value, shared: Option<&Value>, own: Option<&Value>) -> Vec<Param> {
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
fn coerce(kind: &ParamKind, values: &[&str]) -> Result<Option<Value>, String> {
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

fn is_json_media_type(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The JSON media type of a `content` map: its schema, converted.
/// The JSON media types of a `content` map: their schema, converted (a body may match any of them when there
/// are several, as an array under `application/json` and an object under `application/vnd.pgrst.object+json`).
fn json_content(content: Option<&Value>) -> Body {
    let Some(Value::Object(content)) = content else { return Body::NoJson };
    let media: Vec<&Value> =
        content.iter().filter(|(media_type, _)| is_json_media_type(media_type)).map(|(_, media)| media).collect();
    match media.as_slice() {
        [] => Body::NoJson,
        [one] => Body::Json(one.get("schema").map(|s| Compiled::new(convert_schema(s)))),
        several => {
            let schemas: Option<Vec<Value>> = several.iter().map(|m| m.get("schema").map(convert_schema)).collect();
            Body::Json(schemas.map(|any_of| Compiled::new(json!({ "anyOf": any_of }))))
        }
    }
}

fn request_body(root: &Value, request_body: &Value) -> RequestBody {
    if let Some(reference) = broken_ref(root, request_body) {
        return RequestBody { required: true, body: Body::Unresolved(reference) };
    }
    let resolved = resolve(root, request_body);
    RequestBody {
        required: resolved.and_then(|rb| rb.get("required")) == Some(&Value::Bool(true)),
        body: json_content(resolved.and_then(|rb| rb.get("content"))),
    }
}

fn response_body(root: &Value, response: &Value) -> Body {
    if let Some(reference) = broken_ref(root, response) {
        return Body::Unresolved(reference);
    }
    let resolved = resolve(root, response);
    let body = json_content(resolved.and_then(|r| r.get("content")));
    match (body, resolved.and_then(|r| r.get("x-cloudbase-raw-body"))) {
        (Body::Json(schema), Some(Value::Bool(true))) => Body::JsonOrEmpty(schema),
        (body, _) => body,
    }
}

/// Walks the document for examples (see [`Contract::examples`]).
struct ExampleCollector<'a> {
    raw: &'a Value,
    components: &'a Value,
    found: &'a mut Vec<(String, Value, Value)>,
}

impl ExampleCollector<'_> {
    fn push(&mut self, location: String, schema: Option<&Value>, example: &Value) {
        let schema = schema.map_or_else(|| json!({}), convert_schema);
        self.found.push((location, bundle(&schema, self.components), example.clone()));
    }

    /// `example` and `examples.<name>.value` of a parameter, header or media type object.
    fn examples_of(&mut self, object: &Map<String, Value>, schema: Option<&Value>, location: &str) {
        if let Some(example) = object.get("example") {
            self.push(location.to_owned(), schema, example);
        }
        if let Some(Value::Object(examples)) = object.get("examples") {
            for (name, example) in examples {
                if let Some(value) = resolve(self.raw, example).and_then(|e| e.get("value")) {
                    self.push(format!("{location}.examples.{name}"), schema, value);
                }
            }
        }
    }

    fn schema(&mut self, schema: &Value, location: &str) {
        let Value::Object(map) = schema else { return };
        if map.contains_key("$ref") {
            return;
        }
        if let Some(example) = map.get("example") {
            self.push(location.to_owned(), Some(schema), example);
        }
        for (key, value) in map {
            match (key.as_str(), value) {
                ("properties", Value::Object(properties)) => {
                    for (name, property) in properties {
                        self.schema(property, &format!("{location}.properties.{name}"));
                    }
                }
                ("items" | "not" | "additionalProperties", child) => self.schema(child, &format!("{location}.{key}")),
                ("allOf" | "anyOf" | "oneOf", Value::Array(children)) => {
                    for (i, child) in children.iter().enumerate() {
                        self.schema(child, &format!("{location}.{key}.{i}"));
                    }
                }
                _ => {}
            }
        }
    }

    fn content(&mut self, content: Option<&Value>, location: &str) {
        let Some(Value::Object(content)) = content else { return };
        for (media_type, media) in content {
            let Value::Object(media) = media else { continue };
            let location = if media_type == "application/json" {
                location.to_owned()
            } else {
                format!("{location}.content.{media_type}")
            };
            if let Some(schema) = media.get("schema") {
                self.schema(schema, &format!("{location}.schema"));
            }
            self.examples_of(media, media.get("schema"), &location);
        }
    }

    fn parameter(&mut self, parameter: &Value, location: &str) {
        let Value::Object(map) = parameter else { return };
        if map.contains_key("$ref") {
            return;
        }
        if let Some(schema) = map.get("schema") {
            self.schema(schema, &format!("{location}.schema"));
        }
        self.examples_of(map, map.get("schema"), location);
        self.content(map.get("content"), location);
    }

    fn parameters(&mut self, parameters: Option<&Value>, location: &str) {
        let Some(Value::Array(parameters)) = parameters else { return };
        for parameter in parameters {
            let name = parameter.get("name").and_then(Value::as_str).unwrap_or("?");
            self.parameter(parameter, &format!("{location}.parameters.{name}"));
        }
    }

    fn request_body(&mut self, request_body: &Value, location: &str) {
        if request_body.get("$ref").is_none() {
            self.content(request_body.get("content"), location);
        }
    }

    fn response(&mut self, response: &Value, location: &str) {
        let Value::Object(map) = response else { return };
        if map.contains_key("$ref") {
            return;
        }
        self.content(map.get("content"), location);
        if let Some(Value::Object(headers)) = map.get("headers") {
            for (name, header) in headers {
                self.parameter(header, &format!("{location}.headers.{name}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r##"
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /things/{id}:
    get:
      operationId: get_thing
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: verbose, in: query, required: false, schema: {type: boolean}}
        - {name: token, in: query, required: true, schema: {type: string}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
        '4XX': {$ref: '#/components/responses/Error'}
        '5XX': {$ref: '#/components/responses/Error'}
  /things/special:
    get:
      operationId: get_special
      responses:
        '200': {description: ok, content: {application/json: {schema: {type: object}}}}
    post:
      operationId: make_special
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        '200': {description: ok}
components:
  responses:
    Error:
      description: error
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Error'}
          example: {error: bad}
  schemas:
    Error:
      type: object
      properties:
        error: {type: string}
    Kind:
      type: string
      enum: [a, b]
    Thing:
      type: object
      required: [name, count]
      properties:
        name: {type: string, format: secret, example: x}
        count: {type: integer, format: int32}
        note: {type: string, nullable: true}
        kind: {$ref: '#/components/schemas/Kind'}
        maybe_kind:
          nullable: true
          allOf: [{$ref: '#/components/schemas/Kind'}]
        example: {type: boolean}
      example: {name: n, count: 1, note: null, kind: a}
"##;

    fn contract() -> Contract {
        Contract::from_yaml(SPEC).expect("test spec parses")
    }

    fn locations(result: Result<(), Vec<Violation>>) -> Vec<String> {
        result.err().unwrap_or_default().into_iter().map(|v| v.location).collect()
    }

    #[test]
    fn nullable_admits_null_only_where_declared() {
        let c = contract();
        assert!(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "note": null})).is_ok());
        assert!(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "maybe_kind": null})).is_ok());
        assert!(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "maybe_kind": "b"})).is_ok());
        assert_eq!(
            locations(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "maybe_kind": "c"}))),
            ["Thing/maybe_kind"]
        );
        assert_eq!(locations(c.validate_schema("Thing", &json!({"name": null, "count": 1}))), ["Thing/name"]);
    }

    #[test]
    fn refs_resolve_through_components() {
        let c = contract();
        assert!(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "kind": "b"})).is_ok());
        assert_eq!(
            locations(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "kind": "z"}))),
            ["Thing/kind"]
        );
        assert!(c.unresolved_refs().is_empty());
        let broken = SPEC.replace("'#/components/schemas/Kind'}", "'#/components/schemas/Nope'}");
        let broken = Contract::from_yaml(&broken).unwrap();
        assert_eq!(broken.unresolved_refs(), ["#/components/schemas/Nope"]);
        let violations = broken.validate_schema("Thing", &json!({"name": "n", "count": 1})).unwrap_err();
        assert!(violations[0].message.contains("does not compile"), "{violations:?}");
    }

    #[test]
    fn wrong_types_and_missing_fields_are_rejected_without_echoing_values() {
        let c = contract();
        let violations = c.validate_schema("Thing", &json!({"name": "TOP-SECRET", "count": "TOP-SECRET"})).unwrap_err();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].location, "Thing/count");
        assert!(!violations[0].to_string().contains("TOP-SECRET"), "{}", violations[0]);
        assert_eq!(locations(c.validate_schema("Thing", &json!({"count": 1}))), ["Thing"]);
        // int32 range, and `format: secret` is not asserted.
        assert_eq!(locations(c.validate_schema("Thing", &json!({"name": "n", "count": 1u64 << 40}))), ["Thing/count"]);
        // A property named like an OpenAPI keyword is still a property.
        assert_eq!(
            locations(c.validate_schema("Thing", &json!({"name": "n", "count": 1, "example": 3}))),
            ["Thing/example"]
        );
        assert!(c.validate_schema("Nope", &json!({})).is_err());
    }

    #[test]
    fn operations_match_literal_before_template() {
        let c = contract();
        assert_eq!(c.operations().len(), 3);
        assert_eq!(c.find_operation("get", "/things/special").unwrap().operation_id, "get_special");
        assert_eq!(c.find_operation("GET", "/things/42?x=1").unwrap().operation_id, "get_thing");
        assert_eq!(c.find_operation("GET", "https://h.example/things/42").unwrap().path_template, "/things/{id}");
        assert!(c.find_operation("POST", "/things/42").is_none());
        assert!(c.find_operation("GET", "/things/").is_none());
        assert!(c.find_operation("GET", "/things/1/2").is_none());
        assert!(c.find_operation("GET", "").is_none());
    }

    #[test]
    fn requests_check_params_and_body() {
        let c = contract();
        assert!(c.validate_request("GET", "/things/42", "token=t&verbose=true&client_id=x", None).is_ok());
        assert!(c.validate_request("GET", "/things/42?token=t", "", None).is_ok());
        assert_eq!(
            locations(c.validate_request("GET", "/things/abc", "?verbose=yes", None)),
            ["request.path.id", "request.query.verbose", "request.query.token"]
        );
        assert_eq!(locations(c.validate_request("GET", "/things/1", "token=t", Some(&json!({})))), ["request.body"]);
        assert_eq!(locations(c.validate_request("POST", "/things/special", "", None)), ["request.body"]);
        assert_eq!(
            locations(c.validate_request("POST", "/things/special", "", Some(&json!({"name": 1, "count": 1})))),
            ["request.body/name"]
        );
        assert_eq!(locations(c.validate_request("PUT", "/things/special", "", None)), ["operation"]);
    }

    #[test]
    fn responses_pick_the_declared_status() {
        let c = contract();
        let thing = json!({"name": "n", "count": 1});
        assert!(c.validate_response("GET", "/things/1", 200, Some(&thing)).is_ok());
        assert!(c.validate_response("GET", "/things/1", 201, Some(&thing)).is_ok());
        assert_eq!(
            locations(c.validate_response("GET", "/things/1", 200, Some(&json!({"count": 1})))),
            ["response.body"]
        );
        assert!(c.validate_response("GET", "/things/1", 404, Some(&json!({"error": "x"}))).is_ok());
        assert_eq!(
            locations(c.validate_response("GET", "/things/1", 404, Some(&json!({"error": 1})))),
            ["response.body/error"]
        );
        assert_eq!(locations(c.validate_response("GET", "/things/1", 404, None)), ["response.body"]);
        assert!(c.validate_response("GET", "/things/1", 502, None).is_ok());
        assert_eq!(locations(c.validate_response("GET", "/things/1", 302, None)), ["response.status"]);
        // An error body with HTTP 200 is an error, not a broken success body.
        assert!(c.validate_response("GET", "/things/1", 200, Some(&json!({"error": "x"}))).is_ok());
        // A response without content accepts anything.
        assert!(c.validate_response("POST", "/things/special", 200, None).is_ok());
    }

    #[test]
    fn examples_are_found_with_self_contained_schemas() {
        let c = contract();
        let examples = c.examples();
        let found: Vec<&str> = examples.iter().map(|(location, _, _)| location.as_str()).collect();
        assert_eq!(
            found,
            ["components.responses.Error", "components.schemas.Thing", "components.schemas.Thing.properties.name"]
        );
        for (location, schema, example) in &examples {
            let validator = jsonschema::validator_for(schema).expect("bundled schema compiles");
            assert!(validator.is_valid(example), "{location}");
        }
    }

    #[test]
    fn bad_documents_are_errors_not_panics() {
        assert!(matches!(Contract::from_yaml(": : :\n  - ["), Err(ContractError::Yaml(_))));
        assert!(matches!(Contract::from_yaml("[1, 2]"), Err(ContractError::NotOpenApi(_))));
        assert!(matches!(Contract::from_yaml("openapi: 3.1.0\npaths: {}"), Err(ContractError::NotOpenApi(_))));
        assert!(matches!(Contract::from_yaml("openapi: 3.0.3"), Err(ContractError::NotOpenApi(_))));
        // Odd but parseable: nothing panics, problems surface as violations.
        let odd = "openapi: 3.0.3\npaths:\n  /a/{x}{y}:\n    get:\n      requestBody: {$ref: '#/nope'}\n      responses:\n        '200': {$ref: '#/components/responses/Loop'}\ncomponents:\n  responses:\n    Loop: {$ref: '#/components/responses/Loop'}\n  schemas:\n    S: {type: object, properties: 3, pattern: '('}\n";
        let c = Contract::from_yaml(odd).unwrap();
        assert!(c.validate_schema("S", &json!("x")).is_err());
        assert!(c.validate_request("GET", "/a/bc", "%zz=%", Some(&json!(1))).is_err());
        assert!(c.validate_response("GET", "/a/bc", 200, None).is_err());
        assert_eq!(c.unresolved_refs(), ["#/nope"]);
        let _ = c.examples();
    }

    #[test]
    fn auth_spec_loads() {
        let c = Contract::auth();
        assert_eq!(c.operations().len(), 29);
        assert!(c.unresolved_refs().is_empty());
    }
}
