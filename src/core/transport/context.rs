//! The per-call context every generated client carries, and the one place where the headers and query
//! parameters common to all CloudBase calls are added (progenitor's `ClientHooks`).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use progenitor_client::OperationInfo;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use crate::Secret;

/// Header the client adds when it turned an HTTP 200 carrying an error body into an error response, with
/// the status the server really sent.
pub const ORIGINAL_STATUS_HEADER: &str = "x-cloudbase-original-status";

/// The status a 200-with-error-body reply is given in the raw layer, so progenitor reports it as an
/// `ErrorResponse` with a typed `ErrorBody`.
const ERROR_IN_BODY_STATUS: u16 = 400;

/// What one call carries besides its own parameters: credentials, device and request ids, captcha token,
/// and the facts of its response that progenitor's error type drops (status, request id).
///
/// Build one per call (it is cheap: a few `Arc`s) and hand it to the generated client:
///
/// ```
/// use cloudbase::raw::{auth::Client, Context};
/// let ctx = Context::new().with_client_id("my-env-1a2b").with_device_id("0123456789abcdef0123456789abcdef");
/// let client = Client::new("http://127.0.0.1:9000", ctx);
/// # let _ = client;
/// ```
///
/// `Debug` never prints a credential.
#[derive(Clone)]
pub struct Context {
    pub(crate) credential: Credential,
    pub(crate) client_id: Option<Arc<str>>,
    pub(crate) device_id: Option<Arc<str>>,
    pub(crate) request_id: Option<Arc<str>>,
    pub(crate) captcha_token: Option<Secret>,
    pub(crate) extra_headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    pub(crate) connect_retries: u32,
    pub(crate) retry_delay: Duration,
    pub(crate) max_response_bytes: usize,
    /// Whether a 2xx reply carrying an error body is an error (the auth service does that; a cloud function
    /// that returns `{"code": 1}` did not fail).
    pub(crate) sniff_error_bodies: bool,
    /// Whether a 2xx body is handed on unread (byte streams: downloads, cloud run, server-sent events).
    pub(crate) stream_success_body: bool,
    meta: Arc<Mutex<ResponseMeta>>,
}

/// The default [`Context::with_max_response_bytes`]: far above any JSON reply of the API, far below what
/// would hurt a process.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// How a call authenticates.
#[derive(Clone, Default)]
pub(crate) enum Credential {
    /// No Authorization header: the call carries `client_id` in the query instead.
    #[default]
    None,
    /// `Authorization: Bearer <user access token or publishable key>`.
    Bearer(Secret),
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic(Secret),
}

/// Facts of the last response a [`Context`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseMeta {
    /// The HTTP status the server sent (200 for an error body that came with 200).
    pub status: Option<u16>,
    /// The request id: the one the server echoed (`x-request-id` response header), else the one sent.
    pub request_id: Option<String>,
    /// True when the server answered 2xx with an error body.
    pub error_in_success_body: bool,
    /// The request's method and path, `"POST:/auth/v1/verification"` (the captcha `state` convention).
    pub method_path: Option<String>,
    /// Set when the reply was larger than the limit in force (the limit); its body was not read.
    pub too_large: Option<usize>,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            credential: Credential::None,
            client_id: None,
            device_id: None,
            request_id: None,
            captcha_token: None,
            extra_headers: Arc::default(),
            connect_retries: 0,
            retry_delay: Duration::ZERO,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            sniff_error_bodies: true,
            stream_success_body: false,
            meta: Arc::default(),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credential = match self.credential {
            Credential::None => "none",
            Credential::Bearer(_) => "Bearer [REDACTED]",
            Credential::Basic(_) => "Basic [REDACTED]",
        };
        f.debug_struct("Context")
            .field("credential", &credential)
            .field("client_id", &self.client_id)
            .field("device_id", &self.device_id)
            .field("request_id", &self.request_id)
            .field("captcha_token", &self.captcha_token.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context with no credentials and no ids.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `Authorization: Bearer <token>` (a user's access token or a publishable key).
    pub fn with_bearer(mut self, token: Secret) -> Self {
        self.credential = Credential::Bearer(token);
        self
    }

    /// Sends `Authorization: Basic base64(client_id:client_secret)`.
    pub fn with_basic(mut self, client_id: &str, client_secret: &Secret) -> Self {
        let raw = format!("{client_id}:{}", client_secret.expose_secret());
        self.credential = Credential::Basic(Secret::new(base64::engine::general_purpose::STANDARD.encode(raw)));
        self
    }

    /// Sets the `client_id` query parameter sent on calls without a Bearer token.
    pub fn with_client_id(mut self, client_id: impl Into<Arc<str>>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the `x-device-id` header.
    pub fn with_device_id(mut self, device_id: impl Into<Arc<str>>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// Sets the `x-request-id` header of the next call (otherwise a fresh one is made per request).
    pub fn with_request_id(mut self, request_id: impl Into<Arc<str>>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Repeats a call refused with `captcha_required` with this captcha token.
    pub fn with_captcha_token(mut self, token: Secret) -> Self {
        self.captcha_token = Some(token);
        self
    }

    /// Adds headers sent on every call (SDK version, language).
    pub fn with_headers(mut self, headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        self.extra_headers = Arc::new(headers);
        self
    }

    /// Retries a call whose connection could not be made (nothing was sent) up to `retries` more times,
    /// `delay` apart. Other failures are never retried here: a request that may have reached the server is
    /// not repeated behind the caller's back (a refresh grant replayed would trip refresh-token reuse).
    pub fn with_connect_retries(mut self, retries: u32, delay: Duration) -> Self {
        self.connect_retries = retries;
        self.retry_delay = delay;
        self
    }

    /// Refuses replies larger than `limit` bytes (default 16 MiB) with
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), without reading them to the end.
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Whether a 2xx reply carrying an error body is turned into an error response (default true: the auth
    /// service answers some errors with 200).
    pub fn with_error_body_sniffing(mut self, sniff: bool) -> Self {
        self.sniff_error_bodies = sniff;
        self
    }

    /// Hands a 2xx body on unread, as a stream, instead of reading it (bounded) first: for operations whose
    /// success body is bytes of any size (downloads, cloud run replies, server-sent events). Error bodies
    /// are still read, bounded.
    pub fn with_streamed_success_body(mut self, stream: bool) -> Self {
        self.stream_success_body = stream;
        self
    }

    /// The same settings with a fresh response slot, for the next call.
    pub fn fresh(&self) -> Self {
        Self { meta: Arc::default(), request_id: None, ..self.clone() }
    }

    /// What the last response through this context (or its clones) was.
    pub fn last_response(&self) -> ResponseMeta {
        self.meta.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, update: impl FnOnce(&mut ResponseMeta)) {
        update(&mut self.meta.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Adds the headers and query parameters every CloudBase call carries.
    pub(crate) fn decorate(&self, request: &mut reqwest::Request) {
        let method_path = format!("{}:{}", request.method(), request.url().path());
        let headers = request.headers_mut();
        // progenitor sends `api-version: <info.version>`; CloudBase defines no such header.
        headers.remove("api-version");

        let request_id = self.request_id.as_deref().map(str::to_owned).unwrap_or_else(new_request_id);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            headers.insert("x-request-id", value);
        }
        self.record(|m| {
            m.request_id = Some(request_id);
            m.method_path = Some(method_path);
        });
        if let Some(device_id) = self.device_id.as_deref().and_then(|d| HeaderValue::from_str(d).ok()) {
            headers.insert("x-device-id", device_id);
        }
        for (name, value) in self.extra_headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
        let authorization = match &self.credential {
            Credential::None => None,
            Credential::Bearer(token) => Some(format!("Bearer {}", token.expose_secret())),
            Credential::Basic(encoded) => Some(format!("Basic {}", encoded.expose_secret())),
        };
        if let Some(mut value) = authorization.and_then(|v| HeaderValue::from_str(&v).ok()) {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        if let Some(captcha) = &self.captcha_token
            && let Ok(mut value) = HeaderValue::from_str(captcha.expose_secret())
        {
            value.set_sensitive(true);
            headers.insert("x-captcha-token", value);
        }

        let has_bearer = matches!(self.credential, Credential::Bearer(_));
        let url = request.url_mut();
        let has_client_id = url.query_pairs().any(|(k, _)| k == "client_id");
        if let Some(client_id) = self.client_id.as_deref().filter(|_| !has_bearer && !has_client_id) {
            url.query_pairs_mut().append_pair("client_id", client_id);
        }
        if let Some(captcha) = &self.captcha_token {
            url.query_pairs_mut().append_pair("captcha_token", captcha.expose_secret());
        }
    }

    /// Sends the request, retrying connection failures, then reads the body and turns a 2xx error body into
    /// an error response.
    pub(crate) async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let mut request = request;
        let mut retries_left = self.connect_retries;
        let response = loop {
            let spare = if retries_left > 0 { request.try_clone() } else { None };
            match (client.execute(request).await, spare) {
                (Err(e), Some(next)) if e.is_connect() => {
                    retries_left -= 1;
                    tracing::debug!(operation = info.operation_id, retries_left, "connection failed; retrying");
                    tokio::time::sleep(self.retry_delay).await;
                    request = next;
                }
                (result, _) => break result?,
            }
        };

        let status = response.status();
        let server_request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.record(|m| {
            m.status = Some(status.as_u16());
            if server_request_id.is_some() {
                m.request_id = server_request_id;
            }
        });

        if self.stream_success_body && status.is_success() {
            return Ok(response);
        }
        // Every reply of these operations is JSON that progenitor reads whole: read it here, bounded, so a
        // huge or endless body costs at most the limit.
        let version = response.version();
        let mut headers = response.headers().clone();
        let body = match read_bounded(response, self.max_response_bytes).await? {
            Some(body) => body,
            None => {
                let limit = self.max_response_bytes;
                self.record(|m| m.too_large = Some(limit));
                headers.remove(reqwest::header::CONTENT_LENGTH);
                Bytes::new()
            }
        };
        let mut out_status = status;
        if status.is_success() && self.sniff_error_bodies && super::sniff::is_error_body(&body) {
            self.record(|m| m.error_in_success_body = true);
            out_status = reqwest::StatusCode::from_u16(ERROR_IN_BODY_STATUS).unwrap_or(status);
            if let Ok(value) = HeaderValue::from_str(status.as_str()) {
                headers.insert(ORIGINAL_STATUS_HEADER, value);
            }
        }
        let mut rebuilt = http::Response::new(body);
        *rebuilt.status_mut() = out_status;
        *rebuilt.version_mut() = version;
        *rebuilt.headers_mut() = headers;
        Ok(reqwest::Response::from(rebuilt))
    }
}

/// The whole body, or `None` when it is (or announces itself as) longer than `limit`.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> reqwest::Result<Option<Bytes>> {
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Ok(None);
    }
    // Sized once from the announced length: a large reply is copied once, not regrown.
    let announced = response.content_length().map_or(0, |len| usize::try_from(len).unwrap_or(limit).min(limit));
    let mut body = bytes::BytesMut::with_capacity(announced);
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// A fresh 32-hex request id, the shape the official SDKs send.
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback server whose every reply is a 200 head and then body bytes without end (bounded: 64 MiB).
    async fn endless() -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        tokio::spawn(async move {
            for _ in 0..4 {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                tokio::spawn(async move {
                    let _ = socket.read(&mut [0u8; 4096]).await;
                    let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "y".repeat(16 * 1024));
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for _ in 0..4096 {
                        if socket.write_all(chunk.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn success_bodies_are_read_bounded_or_streamed_unread() {
        let url = endless().await;
        let client = reqwest::Client::new();
        let info = OperationInfo { operation_id: "stream" };
        let bounded = Context::new().with_max_response_bytes(64 * 1024);
        let response = bounded.execute(&client, client.get(&url).build().unwrap(), &info).await.unwrap();
        assert_eq!(bounded.last_response().too_large, Some(64 * 1024));
        assert!(response.bytes().await.unwrap().is_empty(), "nothing past the limit was kept");

        let streamed = Context::new().with_max_response_bytes(64 * 1024).with_streamed_success_body(true);
        let mut response = streamed.execute(&client, client.get(&url).build().unwrap(), &info).await.unwrap();
        let mut seen = 0;
        while seen < 1024 * 1024 {
            seen += response.chunk().await.unwrap().expect("more bytes").len();
        }
        assert_eq!(streamed.last_response().too_large, None, "a stream is the caller's to bound");
    }

    #[test]
    fn no_byte_string_makes_the_decoders_panic() {
        for bytes in super::super::sniff::tests::json_like_bytes(0x9E37_79B9_7F4A_7C15, 20_000) {
            let _ = super::super::sniff::is_error_body(&bytes);
            let _ = serde_json::from_slice::<crate::raw::auth::types::TokenResponse>(&bytes);
            let _ = serde_json::from_slice::<crate::core::ErrorBody>(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            let _ = crate::Claims::decode(&text);
            let _ = crate::Claims::decode(&format!("{text}.{text}.{text}"));
        }
    }
}
