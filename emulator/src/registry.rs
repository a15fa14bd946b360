//! What the gateway services call: cloud functions, cloud run services and APIs registered in-process with
//! [`EmulatorBuilder`] (or forwarded to a local URL, which becomes a handler too, see [`crate::forward`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Request;
use axum::response::Response;
use serde_json::Value;

use crate::gateway::Caller;
use crate::{EmulatorConfig, EmulatorHandle, forward};

/// The qualifier (version) of a function registered without one, and the one a call without `X-Qualifier`
/// addresses.
pub const LATEST: &str = "$LATEST";

/// What a cloud function returned: the body of the `200` reply.
#[derive(Clone, Debug, PartialEq)]
pub enum FunctionReply {
    /// Sent as `application/json`. An object with a `code` field is still a success.
    Json(Value),
    /// Sent as `text/plain; charset=utf-8`.
    Text(String),
    /// Sent as is with this content type (what a forwarded function's server answered).
    Raw {
        /// The `Content-Type` of the reply.
        content_type: String,
        /// The body.
        body: Bytes,
    },
}

/// A cloud function's failure: answered as `500 {"code": <code or FUNCTION_INVOCATION_FAILED>, "message", "requestId"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionError {
    /// The envelope's `code`; `None`: `FUNCTION_INVOCATION_FAILED`.
    pub code: Option<String>,
    /// The envelope's `message`.
    pub message: String,
}

impl FunctionError {
    /// A failure answered with code `FUNCTION_INVOCATION_FAILED`.
    pub fn new(message: impl Into<String>) -> Self {
        Self { code: None, message: message.into() }
    }

    /// A failure answered with another code, e.g. `FUNCTION_TIME_LIMIT_EXCEEDED` (still HTTP 500).
    pub fn with_code(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: Some(code.into()), message: message.into() }
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_deref().unwrap_or("FUNCTION_INVOCATION_FAILED"), self.message)
    }
}

impl std::error::Error for FunctionError {}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type FunctionFn =
    Arc<dyn Fn(Value, Caller) -> BoxFuture<Result<FunctionReply, FunctionError>> + Send + Sync>;
pub(crate) type ServiceFn = Arc<dyn Fn(Request, Caller) -> BoxFuture<Response> + Send + Sync>;

/// Everything registered, by name (functions also by qualifier). Kept across [`EmulatorHandle::reset`].
#[derive(Clone, Default)]
pub(crate) struct Targets {
    pub functions: HashMap<String, HashMap<String, FunctionFn>>,
    pub cloudrun: HashMap<String, ServiceFn>,
    pub apis: HashMap<String, ServiceFn>,
    /// SQL batches and models for the data services.
    pub data: crate::data::Seeds,
}

/// Whether `name` is a valid function, cloud run service or API name:
/// `^[a-zA-Z][a-zA-Z0-9_-]{0,58}[a-zA-Z0-9]$`.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    (2..=60).contains(&bytes.len())
        && first.is_ascii_alphabetic()
        && last.is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

fn checked(kind: &str, name: String) -> String {
    assert!(
        is_valid_name(&name),
        "EmulatorBuilder::{kind}: invalid name {name:?} (must match ^[a-zA-Z][a-zA-Z0-9_-]{{0,58}}[a-zA-Z0-9]$)"
    );
    name
}

fn service_fn<F, Fut>(handler: F) -> ServiceFn
where
    F: Fn(Request, Caller) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    Arc::new(move |request, caller| Box::pin(handler(request, caller)))
}

/// Builds an emulator with cloud functions, cloud run services and APIs ([`crate::Emulator::builder`]).
///
/// ```no_run
/// use cloudbase_emulator::{Caller, Emulator, FunctionError, FunctionReply};
/// use serde_json::{Value, json};
/// # async fn run() -> std::io::Result<()> {
/// let emu = Emulator::builder()
///     .function("sum", |event: Value, _caller: Caller| async move {
///         let (a, b) = (event["a"].as_i64().unwrap_or(0), event["b"].as_i64().unwrap_or(0));
///         Ok::<_, FunctionError>(FunctionReply::Json(json!({ "sum": a + b })))
///     })
///     .cloudrun("svc", |request: axum::extract::Request, caller: Caller| async move {
///         axum::response::Response::new(axum::body::Body::from(format!("{} {} as {}", request.method(), request.uri(), caller.kind())))
///     })
///     .forward_api("weather", "http://127.0.0.1:8080")
///     .start()
///     .await?;
/// # Ok(()) }
/// ```
///
/// Names must match `^[a-zA-Z][a-zA-Z0-9_-]{0,58}[a-zA-Z0-9]$` (the methods panic otherwise: a set-up
/// mistake); registering a name again replaces the earlier registration.
#[derive(Clone, Default)]
#[must_use]
pub struct EmulatorBuilder {
    config: EmulatorConfig,
    targets: Targets,
}

impl fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut functions: Vec<_> = self.targets.functions.keys().collect();
        functions.sort();
        f.debug_struct("EmulatorBuilder")
            .field("config", &self.config)
            .field("functions", &functions)
            .field("cloudrun", &self.targets.cloudrun.keys().collect::<Vec<_>>())
            .field("apis", &self.targets.apis.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl EmulatorBuilder {
    /// The configuration (default [`EmulatorConfig::default`]).
    pub fn config(mut self, config: EmulatorConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers the cloud function `name` (qualifier `$LATEST`): `POST /v1/functions/{name}` calls
    /// `handler(event, caller)` with the request's JSON object (`{}` for an empty body).
    pub fn function<F, Fut>(self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Value, Caller) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<FunctionReply, FunctionError>> + Send + 'static,
    {
        self.function_version(name, LATEST, handler)
    }

    /// Registers one version of the cloud function `name`: calls with `X-Qualifier: {qualifier}` reach
    /// `handler`; calls without `X-Qualifier` reach the `$LATEST` one ([`function`](Self::function)).
    pub fn function_version<F, Fut>(mut self, name: impl Into<String>, qualifier: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Value, Caller) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<FunctionReply, FunctionError>> + Send + 'static,
    {
        let handler: FunctionFn = Arc::new(move |event, caller| Box::pin(handler(event, caller)));
        let name = checked("function", name.into());
        self.targets.functions.entry(name).or_default().insert(qualifier.into(), handler);
        self
    }

    /// Registers the cloud run service `name`: `{METHOD} /v1/cloudrun/{name}[/{path}]` calls
    /// `handler(request, caller)`. The request has the method, the remaining path and the query as its URI
    /// (`/` + rest, `/` when none), the headers without `Authorization` plus `x-cloudbase-caller`,
    /// `x-cloudbase-user-id` (for a user) and the gateway's `x-request-id`, and the body as a stream. The
    /// response is passed back streamed (the gateway adds `Content-Disposition: attachment` to GET replies and
    /// to non-text replies other than `text/event-stream`).
    pub fn cloudrun<F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Request, Caller) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.targets.cloudrun.insert(checked("cloudrun", name.into()), service_fn(handler));
        self
    }

    /// Registers the API `name` (the "APIs label"): `{METHOD} /v1/apis/{name}[/{path}]`, handled as
    /// [`cloudrun`](Self::cloudrun) handles its services.
    pub fn api<F, Fut>(mut self, name: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Request, Caller) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        self.targets.apis.insert(checked("api", name.into()), service_fn(handler));
        self
    }

    /// Registers the cloud function `name` (`$LATEST`) as a local HTTP server: each call POSTs the event JSON
    /// to `url` (`content-type: application/json`, plus the caller headers); a 2xx reply's content type and
    /// body become the function's result, anything else a `500 FUNCTION_INVOCATION_FAILED`. (The binary's
    /// `--function NAME=URL`.)
    pub fn forward_function(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        let name = checked("forward_function", name.into());
        self.targets.functions.entry(name).or_default().insert(LATEST.to_owned(), forward::function(url.into()));
        self
    }

    /// Registers the cloud run service `name` as a local HTTP server: each call is sent to `url` + the
    /// remaining path + the query, with the method, the headers (without `Authorization` and hop-by-hop
    /// headers, plus the caller headers) and the body streamed; the reply is passed back streamed.
    /// Unreachable: `502 SERVICE_NOT_READY`. (The binary's `--cloudrun NAME=URL`.)
    pub fn forward_cloudrun(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.targets.cloudrun.insert(checked("forward_cloudrun", name.into()), forward::service(url.into()));
        self
    }

    /// Registers the API `name` as a local HTTP server, as [`forward_cloudrun`](Self::forward_cloudrun) does.
    /// (The binary's `--api NAME=URL`.)
    pub fn forward_api(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.targets.apis.insert(checked("forward_api", name.into()), forward::service(url.into()));
        self
    }

    /// Runs an SQL batch (`CREATE TABLE ...; INSERT ...;`) in the default database (instance `default`, schema
    /// = the environment id) at start and again after every reset, after the batches registered before it.
    /// A failing batch makes [`start`](Self::start) fail.
    pub fn sql(mut self, sql: impl Into<String>) -> Self {
        self.targets.data.sql.push(crate::data::SqlSeed { instance: None, schema: None, sql: sql.into() });
        self
    }

    /// Runs an SQL batch in the database of `instance` / `schema` (created if missing; names match
    /// `^[A-Za-z0-9_-]{1,64}$`), like [`sql`](Self::sql). The MySQL RESTful API reaches it as
    /// `/v1/rdb/rest/{instance}/{schema}/{table}`.
    pub fn sql_in(mut self, instance: impl Into<String>, schema: impl Into<String>, sql: impl Into<String>) -> Self {
        self.targets.data.sql.push(crate::data::SqlSeed {
            instance: Some(instance.into()),
            schema: Some(schema.into()),
            sql: sql.into(),
        });
        self
    }

    /// Creates a data model at start and again after every reset (before the SQL seeds, which may fill its
    /// tables `model_prod_{name}` / `model_pre_{name}`). An invalid definition makes [`start`](Self::start) fail.
    pub fn model(mut self, model: crate::ModelDef) -> Self {
        self.targets.data.models.push(model);
        self
    }

    /// Starts the emulator (see [`crate::Emulator::start_with`]).
    pub async fn start(self) -> std::io::Result<EmulatorHandle> {
        crate::Emulator::start_inner(self.config, self.targets).await
    }
}
