//! Cloud run: `app.call_container(name)`, the Flutter SDK's `callContainer`, and the request builder it
//! shares with APIs (`app.apis(name)`): any method, any path under the service, headers, query, a JSON, bytes
//! or streamed body; the reply's status, headers and body as JSON, text, bytes, a byte stream or server-sent
//! events.
//!
//! These URLs have a path of any depth, which the generated client cannot address (one path parameter is one
//! segment), so requests are built here and sent through the core transport: the same credentials, ids,
//! retries, limits and refresh-and-retry as every generated call.

mod response;

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;

pub use response::{ServerSentEvent, ServiceResponse};

use crate::core::Core;
use crate::core::transport::As;
use crate::{CloudBase, Error};

/// The largest request body sent to a cloud run service or an API (the gateway's limit for bodies other
/// than functions').
pub const MAX_BODY_BYTES: usize = 100 * 1024 * 1024;

impl CloudBase {
    /// A request to the cloud run service `name` (`{METHOD} /v1/cloudrun/{name}/{path}`), as the signed-in
    /// user or with the publishable key. The method defaults to GET and the path to `/`, as in the Flutter
    /// SDK's `callContainer`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let emu = cloudbase_emulator::Emulator::builder()
    /// #     .cloudrun("api", |request: axum::extract::Request, _caller| async move {
    /// #         let body = serde_json::json!({ "path": request.uri().path() }).to_string();
    /// #         axum::response::Response::builder()
    /// #             .header("content-type", "application/json")
    /// #             .body(axum::body::Body::from(body))
    /// #             .unwrap()
    /// #     })
    /// #     .start()
    /// #     .await?;
    /// # let app = cloudbase::CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
    /// # app.auth().sign_in_anonymously().await?;
    /// let reply = app.call_container("api").path("/items/42").send().await?.error_for_status()?;
    /// let item: serde_json::Value = reply.json().await?;
    /// assert_eq!(item["path"], "/items/42");
    /// # Ok(()) }
    /// ```
    ///
    /// A streamed reply is read as it arrives: `.bytes_stream()`, or `.events()` for server-sent events.
    pub fn call_container(&self, name: impl Into<String>) -> ServiceRequest {
        ServiceRequest::container(self.core(), name.into())
    }
}

/// Which gateway service a [`ServiceRequest`] goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Container,
    Api,
}

enum Body {
    Empty,
    /// Bytes, with the content type to send unless the caller set one.
    Bytes(Bytes, Option<HeaderValue>),
    /// A stream: sent once; a call refused for an expired token is not replayed (the stream is spent).
    Stream(Mutex<Option<reqwest::Body>>),
}

/// A request to a cloud run service or an API connector, being set up; [`send`](Self::send) sends it.
#[must_use = "a request does nothing until it is sent"]
pub struct ServiceRequest {
    core: Arc<Core>,
    service: Service,
    name: String,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    /// The headers, or the first bad one (reported by `send`, before any request).
    headers: Result<HeaderMap, Error>,
    body: Result<Body, Error>,
}

impl fmt::Debug for ServiceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values and bodies may hold the caller's secrets: names and sizes only.
        let header_names: Vec<&str> =
            self.headers.as_ref().map(|h| h.keys().map(HeaderName::as_str).collect()).unwrap_or_default();
        f.debug_struct("ServiceRequest")
            .field("service", &self.service)
            .field("name", &self.name)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_keys", &self.query.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("header_names", &header_names)
            .finish_non_exhaustive()
    }
}

impl ServiceRequest {
    pub(crate) fn container(core: &Arc<Core>, name: String) -> Self {
        Self::new(core, Service::Container, name, Method::GET)
    }

    pub(crate) fn new(core: &Arc<Core>, service: Service, name: String, method: Method) -> Self {
        ServiceRequest {
            core: Arc::clone(core),
            service,
            name,
            method,
            path: "/".to_owned(),
            query: Vec::new(),
            headers: Ok(HeaderMap::new()),
            body: Ok(Body::Empty),
        }
    }

    /// The HTTP method (default GET for cloud run, as the Flutter SDK).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The path under the service (default `/`); a leading `/` is added when missing. Put the query in
    /// [`query`](Self::query), not here.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Adds a query parameter (percent-encoded as needed).
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Adds a header. A malformed name or value is an [`Error::InvalidInput`] from `send`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Ok(headers) = &mut self.headers {
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                (Err(_), _) => self.headers = Err(Error::invalid("header", format!("`{name}` is not a header name"))),
                (_, Err(_)) => {
                    self.headers = Err(Error::invalid("header", format!("the value of `{name}` is not a header value")))
                }
            }
        }
        self
    }

    /// A JSON body (`content-type: application/json; charset=utf-8` unless set).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.body = serde_json::to_vec(body)
            .map(|bytes| Body::Bytes(bytes.into(), Some(HeaderValue::from_static("application/json; charset=utf-8"))))
            .map_err(|e| Error::invalid("body", format!("cannot serialise: {e}")));
        self
    }

    /// A body of bytes, sent as they are (set a `content-type` with [`header`](Self::header)).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Ok(Body::Bytes(body.into(), None));
        self
    }

    /// A streamed body (uploads of any size, never held in memory). It can be sent once: if the service
    /// refuses the access token as expired, the SDK refreshes the session and returns that refusal instead of
    /// replaying the call (the stream is spent); call again.
    pub fn body_stream<S>(mut self, stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        self.body = Ok(Body::Stream(Mutex::new(Some(reqwest::Body::wrap_stream(stream)))));
        self
    }

    fn operation(&self) -> &'static str {
        macro_rules! by_method {
            ($prefix:literal) => {
                match self.method.as_str() {
                    "GET" => concat!($prefix, "_get"),
                    "POST" => concat!($prefix, "_post"),
                    "PUT" => concat!($prefix, "_put"),
                    "PATCH" => concat!($prefix, "_patch"),
                    "DELETE" => concat!($prefix, "_delete"),
                    "HEAD" => concat!($prefix, "_head"),
                    "OPTIONS" => concat!($prefix, "_options"),
                    _ => $prefix,
                }
            };
        }
        match self.service {
            Service::Container => by_method!("call_container"),
            Service::Api => by_method!("call_api"),
        }
    }

    fn url(&self) -> Result<url::Url, Error> {
        if crate::raw::cloudrun::types::CallContainerGetName::try_from(self.name.as_str()).is_err() {
            return Err(Error::invalid("name", "expected ^[a-zA-Z][a-zA-Z0-9_-]{0,58}[a-zA-Z0-9]$"));
        }
        if self.path.contains(['?', '#']) {
            return Err(Error::invalid("path", "put the query in .query(..); a path has no '?' or '#'"));
        }
        let path = self.path.strip_prefix('/').unwrap_or(&self.path);
        if path.split('/').any(|s| s == "." || s == "..") {
            return Err(Error::invalid("path", "'.' and '..' segments are not allowed"));
        }
        let mut url = url::Url::parse(&self.core.transport.base_url)
            .map_err(|e| Error::invalid("base_url", format!("not a URL: {e}")))?;
        {
            let prefix = match self.service {
                Service::Container => "cloudrun",
                Service::Api => "apis",
            };
            let mut segments =
                url.path_segments_mut().map_err(|()| Error::invalid("base_url", "cannot hold a path"))?;
            segments.pop_if_empty().extend(["v1", prefix, self.name.as_str()]).extend(path.split('/'));
        }
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        Ok(url)
    }

    /// Sends the request. Any reply of the service is a [`ServiceResponse`], whatever its status (see
    /// [`ServiceResponse::error_for_status`]); the gateway's own errors (`SERVICE_NOT_FOUND`,
    /// `ACCESS_TOKEN_EXPIRED`, ...) are an [`Error::Service`].
    pub async fn send(self) -> Result<ServiceResponse, Error> {
        let url = self.url()?;
        let operation = self.operation();
        let headers = self.headers?;
        let body = self.body?;
        if let Body::Bytes(bytes, _) = &body
            && bytes.len() > MAX_BODY_BYTES
        {
            return Err(Error::invalid(
                "body",
                format!("{} bytes is over the {MAX_BODY_BYTES}-byte limit", bytes.len()),
            ));
        }
        let replayable = !matches!(body, Body::Stream(_));
        let core = &self.core;
        let (method, url, headers, body) = (&self.method, &url, &headers, &body);
        core.with_session(false, replayable, |who: As, _| async move {
            let mut request = reqwest::Request::new(method.clone(), url.clone());
            *request.headers_mut() = headers.clone();
            match body {
                Body::Empty => {}
                Body::Bytes(bytes, content_type) => {
                    if let Some(content_type) = content_type
                        && !headers.contains_key(http::header::CONTENT_TYPE)
                    {
                        request.headers_mut().insert(http::header::CONTENT_TYPE, content_type.clone());
                    }
                    *request.body_mut() = Some(reqwest::Body::from(bytes.clone()));
                }
                Body::Stream(stream) => {
                    let taken = stream.lock().unwrap_or_else(|e| e.into_inner()).take();
                    *request.body_mut() = Some(taken.ok_or_else(|| Error::invalid("body", "the stream was spent"))?);
                }
            }
            let streamed = core.send_streaming(operation, &who, request).await?;
            Ok(ServiceResponse::new(streamed, operation, core.transport.max_response_bytes))
        })
        .await
    }
}
