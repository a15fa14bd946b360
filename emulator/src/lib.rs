#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod apis;
mod auth;
mod cloudrun;
mod control;
mod data;
mod error;
mod forward;
mod functions;
mod gateway;
mod password;
mod proxy;
mod registry;
mod reply;
mod server;
mod service;
mod state;
mod storage;
mod util;

pub use crate::data::model::def::{FieldType, ModelDef, ModelField, ModelRelation};
pub use crate::gateway::Caller;
pub use crate::registry::{EmulatorBuilder, FunctionError, FunctionReply, LATEST, is_valid_name};

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize, Serializer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::State;

/// How the emulator hashes passwords (always Argon2id).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordHashing {
    /// Argon2id with 64 KiB of memory and one pass: a few milliseconds even in debug builds, so tests stay
    /// fast. The default: the emulator's users are test users.
    #[default]
    Fast,
    /// Argon2id with the crate's recommended parameters (19 MiB, 2 passes): realistic cost, slow in debug
    /// builds.
    Standard,
}

/// How an emulator behaves. Every field has a default ([`EmulatorConfig::default`]); override some with
/// struct-update syntax: `EmulatorConfig { anonymous_enabled: false, ..Default::default() }`.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// The environment id, also the client id (`aud` of tokens, `client_id` query). Default `emulator-env`.
    pub env_id: String,
    /// Where to listen. Default `127.0.0.1:0` (a port chosen by the OS).
    pub bind: SocketAddr,
    /// Access-token lifetime (`expires_in`). Default 7200 s.
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime. Default 31 days (custom-ticket sign-ins: 30 days, as documented).
    pub refresh_token_ttl: Duration,
    /// Verification-code lifetime. Default 600 s.
    pub code_ttl: Duration,
    /// Wrong codes allowed per verification id before it is dead. Default 5.
    pub code_max_attempts: u32,
    /// `Some(n)`: after `n` successful `/verification` calls from one `x-device-id`, further calls answer
    /// `captcha_required` unless they carry a valid captcha token. Default `None`.
    pub captcha_after_code_requests: Option<u32>,
    /// `Some(n)`: after `n` wrong passwords for one account name, password sign-ins for it answer
    /// `captcha_required` unless they carry a valid captcha token. Default `Some(5)`.
    pub captcha_after_failed_passwords: Option<u32>,
    /// Whether `signin/anonymously` works (else `403 unimplemented`). Default true.
    pub anonymous_enabled: bool,
    /// Print each code "sent" on stdout (one line: target, code, verification id). Default false
    /// (the binary turns it on).
    pub print_codes: bool,
    /// Users created at start (and again after [`EmulatorHandle::reset`]).
    pub users: Vec<NewUser>,
    /// Password hashing cost. Default [`PasswordHashing::Fast`].
    pub password_hashing: PasswordHashing,
    /// The client secret the `client_credentials` grant requires; `None` (default) accepts any secret.
    pub client_secret: Option<String>,
    /// The publishable key (`access_key` of the SDKs): sent as `Bearer` by a signed-out client, accepted
    /// by the gateway's token check as an anonymous caller. `None` (default): no key is accepted.
    pub publishable_key: Option<String>,
    /// Whether a refresh grant rotates the refresh token (default true, as CloudBase does). `false`: the
    /// reply carries no `refresh_token` and the old one stays valid, which RFC 6749 section 6 allows.
    pub rotate_refresh_tokens: bool,
    /// Where cloud storage keeps its objects (created if missing; `reset` deletes the objects in it, other
    /// files stay). `None` (default): a temporary directory deleted when the emulator is dropped.
    pub storage_dir: Option<PathBuf>,
    /// Lifetime of the upload and download URLs cloud storage hands out. Default 2 hours.
    pub storage_url_ttl: Duration,
    /// Where the data services keep their SQLite databases, as files `{instance}.{schema}.sqlite3` (created if
    /// missing; files already there are opened; `reset` deletes them). `None` (default): in memory.
    pub data_dir: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            env_id: "emulator-env".to_owned(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            access_token_ttl: Duration::from_secs(7200),
            refresh_token_ttl: Duration::from_secs(31 * 24 * 3600),
            code_ttl: Duration::from_secs(600),
            code_max_attempts: 5,
            captcha_after_code_requests: None,
            captcha_after_failed_passwords: Some(5),
            anonymous_enabled: true,
            rotate_refresh_tokens: true,
            print_codes: false,
            users: Vec::new(),
            password_hashing: PasswordHashing::Fast,
            client_secret: None,
            publishable_key: None,
            storage_dir: None,
            storage_url_ttl: Duration::from_secs(7200),
            data_dir: None,
        }
    }
}

/// A user to create (seed data, [`EmulatorHandle::create_user`], `POST /_emulator/users`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewUser {
    /// Sign-in name.
    pub username: Option<String>,
    /// Email address (stored lower-case).
    pub email: Option<String>,
    /// Phone number, `+86 13800138000` form (a bare number gets `+86 `).
    pub phone_number: Option<String>,
    /// Plain-text password (hashed on creation).
    pub password: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Third-party identities bound to the user.
    pub identities: Vec<NewIdentity>,
}

/// A third-party identity of a [`NewUser`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIdentity {
    /// Provider id, e.g. `github`.
    pub provider_id: String,
    /// The user's id at the provider (the OAuth test page's `login`).
    pub provider_user_id: String,
}

/// A verification code the emulator "sent" (it sends nothing: codes land in the outbox).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SentCode {
    /// The email or phone number as the request gave it (for `CUR_USER`: the user's stored address).
    pub target: String,
    /// The 6-digit code.
    pub code: String,
    /// The verification id the `/verification` call answered.
    pub verification_id: String,
    /// The request's `usage`, if any.
    pub usage: Option<String>,
    /// When it was sent, on the emulator's clock (serialized as RFC 3339).
    #[serde(serialize_with = "serialize_rfc3339")]
    pub sent_at: SystemTime,
}

fn serialize_rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&util::rfc3339(*t))
}

/// One request as logged (`GET /_emulator/requests`): no credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The query string with secret values (tokens, codes, passwords) replaced by `REDACTED`.
    pub query: String,
    /// Headers, lower-case names, without `authorization`, `x-captcha-token` and `cookie`.
    pub headers: BTreeMap<String, String>,
    /// Top-level keys of the JSON body (values are never kept here).
    pub body_fields: Vec<String>,
    /// The operation the request addressed (the spec's `operationId`), if any.
    pub operation_id: Option<String>,
}

/// One request and its response exactly as they crossed the wire, secrets included: for contract checks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exchange {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The raw query string (no leading `?`).
    pub query: String,
    /// The request's `Content-Type`, if any.
    pub request_content_type: Option<String>,
    /// The request body parsed as JSON (whatever its content type); `None` if absent or not JSON.
    pub request_body: Option<serde_json::Value>,
    /// The response status (0 when a fault dropped the connection or the reply).
    pub status: u16,
    /// The response body if it was JSON.
    pub response_body: Option<serde_json::Value>,
    /// The operation addressed, if any.
    pub operation_id: Option<String>,
    /// True when an injected [`Fault`] shaped the response.
    pub fault: bool,
}

/// A failure to inject into the next calls of one operation ([`EmulatorHandle::inject_fault`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 500 with an `internal` error body.
    Status500,
    /// HTTP 502 with an HTML page (a gateway failure).
    Status502Html,
    /// Waits this long (at most 120 s), then processes the request normally.
    Hang(Duration),
    /// Closes the connection without any response (the request is not processed).
    DropConnection,
    /// Processes the request (its state changes happen: a refresh token really rotates), then closes the
    /// connection without sending the response: the reply lost after the server did the work. The exchange
    /// is recorded with status 0 and no response body.
    DropReply,
    /// HTTP 200 with the body `<html>not json`.
    JunkBody,
    /// HTTP 200 whose `Content-Length` promises more bytes than are sent before the connection closes.
    TruncatedBody,
    /// HTTP 200 with `{"error":"internal","error_code":13,"error_description":...}`.
    ErrorWith200,
}

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Starts an emulator with [`EmulatorConfig::default`] on `127.0.0.1` and an OS-chosen port.
    pub async fn start() -> std::io::Result<EmulatorHandle> {
        Self::start_with(EmulatorConfig::default()).await
    }

    /// Starts an emulator with `config`. Must be called inside a Tokio runtime; the server runs as a task of
    /// it until [`EmulatorHandle::shutdown`] or until the last handle is dropped.
    pub async fn start_with(config: EmulatorConfig) -> std::io::Result<EmulatorHandle> {
        Self::builder().config(config).start().await
    }

    /// A builder for an emulator with cloud functions, cloud run services and APIs (in-process handlers or
    /// local servers to forward to).
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    pub(crate) async fn start_inner(
        config: EmulatorConfig,
        targets: registry::Targets,
    ) -> std::io::Result<EmulatorHandle> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let host = match addr {
            SocketAddr::V4(v4) if v4.ip().is_unspecified() => Ipv4Addr::LOCALHOST.to_string(),
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) if v6.ip().is_unspecified() => "[::1]".to_owned(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        let url = format!("http://{host}:{}", addr.port());
        let mut state = State::new(config, url.clone()).map_err(std::io::Error::other)?;
        state.data.seed(&targets.data).map_err(std::io::Error::other)?;
        state.targets = targets;
        let state = Arc::new(state);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, state.clone(), stop_rx));
        tracing::debug!(%url, "cloudbase emulator started");
        Ok(EmulatorHandle {
            inner: Arc::new(HandleInner { state, addr, url, stop: stop_tx, task: Mutex::new(Some(task)) }),
        })
    }
}

/// A running emulator. Cheap to clone; the server stops when [`shutdown`](Self::shutdown) is called or the last
/// clone is dropped.
#[derive(Clone)]
pub struct EmulatorHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    state: Arc<State>,
    addr: SocketAddr,
    url: String,
    // Dropping the sender (last handle gone) stops the accept loop too.
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle").field("url", &self.inner.url).finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash): the origin; auth paths are `{url}/auth/v1/...`.
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The environment id (= client id).
    pub fn env_id(&self) -> String {
        self.inner.state.env_id.clone()
    }

    /// Every code sent so far, oldest first.
    pub fn outbox(&self) -> Vec<SentCode> {
        self.inner.state.outbox()
    }

    /// The newest code sent to `target` (an email, compared case-insensitively, or a phone number, compared by
    /// its digits: `+86 13800138000`).
    pub fn last_code_for(&self, target: &str) -> Option<SentCode> {
        self.inner.state.last_code_for(target)
    }

    /// Empties the outbox.
    pub fn clear_outbox(&self) {
        self.inner.state.clear_outbox();
    }

    /// The request log without credentials (as `GET /_emulator/requests`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.state.requests()
    }

    /// Every auth request and response as it crossed the wire (secrets included), oldest first.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.inner.state.exchanges()
    }

    /// How many calls of `operation_id` (the spec's operationId, e.g. `grant_token`) were received, faulted
    /// ones included.
    pub fn count(&self, operation_id: &str) -> usize {
        self.inner.state.count(operation_id)
    }

    /// Moves the emulator's clock forward (token, code and captcha expiry all follow it).
    pub fn advance_clock(&self, by: Duration) {
        self.inner.state.advance_clock(by);
    }

    /// Makes the next `times` calls of `operation_id` fail with `fault` (queued after earlier injections).
    pub fn inject_fault(&self, operation_id: &str, fault: Fault, times: u32) {
        self.inner.state.inject_fault(operation_id, fault, times);
    }

    /// Creates a user and returns its id (`sub`).
    ///
    /// # Panics
    /// When the user is invalid or clashes with an existing one (a username, email or phone number in use):
    /// a test set-up mistake.
    pub fn create_user(&self, user: NewUser) -> String {
        match self.inner.state.create_user(user) {
            Ok(id) => id,
            Err(e) => panic!("EmulatorHandle::create_user: {}: {}", e.error, e.description),
        }
    }

    /// A custom-login ticket for `signin/custom` (valid 10 minutes, reusable until then). An unknown
    /// `custom_user_id` gets a new user on its first sign-in.
    pub fn create_ticket(&self, custom_user_id: &str) -> String {
        self.inner.state.create_ticket(custom_user_id)
    }

    /// The text shown by the captcha image whose challenge `token` came from `captcha/data`.
    pub fn captcha_answer(&self, captcha_token_from_captcha_data: &str) -> Option<String> {
        self.inner.state.captcha_answer(captcha_token_from_captcha_data)
    }

    /// Forgets everything (users, sessions, codes, logs, faults, clock offset, configuration changes, stored
    /// objects, every database and data model) and re-creates the configured seed users, then the builder's
    /// models and SQL seeds. The address, port and signing key stay.
    pub fn reset(&self) {
        self.inner.state.reset();
    }

    /// Changes [`EmulatorConfig::captcha_after_code_requests`] at run time (counters are kept).
    pub fn set_captcha_after_code_requests(&self, n: Option<u32>) {
        self.inner.state.update_config(|c| c.captcha_after_code_requests = n);
    }

    /// Changes any run-time setting (`env_id`, `bind` and `users` changes have no effect).
    pub fn update_config(&self, change: impl FnOnce(&mut EmulatorConfig)) {
        self.inner.state.update_config(change);
    }

    /// The directory cloud storage keeps its objects in ([`EmulatorConfig::storage_dir`], or the temporary one).
    pub fn storage_dir(&self) -> PathBuf {
        self.inner.state.storage.dir().to_owned()
    }

    /// Makes the next object download (`GET` of a `downloadUrl`) announce the whole `Content-Length`, send
    /// `after_bytes` bytes, then drop the connection: a client sees a truncated body.
    pub fn cut_next_download(&self, after_bytes: u64) {
        self.inner.state.storage.cut_next_download(after_bytes);
    }

    /// Runs an SQL batch (several statements separated by `;`) in the default database (instance `default`,
    /// schema = the environment id), as `POST /_emulator/sql` does. The error is SQLite's message.
    pub fn sql(&self, sql: &str) -> Result<(), String> {
        self.inner.state.data.exec(None, None, sql)
    }

    /// Runs an SQL batch in the database of `instance` / `schema`, creating it if missing.
    pub fn sql_in(&self, instance: &str, schema: &str, sql: &str) -> Result<(), String> {
        self.inner.state.data.exec(Some(instance), Some(schema), sql)
    }

    /// Creates (or replaces) a data model, served at `/v1/model/{prod|pre}/{name}/...` and listed as a data
    /// source, as `POST /_emulator/models` does. A reset forgets it (models given to
    /// [`EmulatorBuilder::model`] come back).
    pub fn create_model(&self, model: ModelDef) -> Result<(), String> {
        self.inner.state.data.create_model(model)
    }

    /// Stops the server (for every clone of this handle) and waits until it has stopped.
    pub async fn shutdown(self) {
        let _ = self.inner.stop.send(true);
        let task = self.inner.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
