//! The reply of a cloud run service or an API connector: status, headers, and the body read in the way the
//! caller asks (bounded reads for JSON, text and bytes; unbounded streams the caller consumes).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource as _;
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::Error;
use crate::core::transport::stream::Streamed;

/// A reply of a cloud run service or an API connector (any status: see
/// [`error_for_status`](Self::error_for_status)).
pub struct ServiceResponse {
    response: reqwest::Response,
    request_id: Option<String>,
    operation: &'static str,
    limit: usize,
}

impl fmt::Debug for ServiceResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceResponse")
            .field("status", &self.status())
            .field("content_type", &self.content_type())
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// One server-sent event (`text/event-stream`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerSentEvent {
    /// The `event:` field (empty for the default `message`).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The `id:` field.
    pub id: String,
    /// The `retry:` field.
    pub retry: Option<Duration>,
}

impl ServiceResponse {
    pub(crate) fn new(streamed: Streamed, operation: &'static str, limit: usize) -> Self {
        ServiceResponse { response: streamed.response, request_id: streamed.request_id, operation, limit }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.response.status()
    }

    /// The reply's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// The `content-type`, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }

    /// The request id: the one the gateway echoed, else the one sent.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// This reply, or [`Error::Http`] when its status is not 2xx.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.status().is_success() {
            Ok(self)
        } else {
            Err(Error::Http { status: self.status().as_u16(), operation: self.operation, request_id: self.request_id })
        }
    }

    /// The whole body, read up to the app's `max_response_bytes` (else [`Error::ResponseTooLarge`]). For
    /// larger bodies use [`bytes_stream`](Self::bytes_stream).
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let (operation, limit, request_id) = (self.operation, self.limit, self.request_id.clone());
        if self.response.content_length().is_some_and(|len| len > limit as u64) {
            return Err(Error::ResponseTooLarge { operation, request_id, limit });
        }
        let mut body = bytes::BytesMut::new();
        let mut stream = self.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > limit {
                return Err(Error::ResponseTooLarge { operation, request_id, limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// The body as text (UTF-8), read bounded as [`bytes`](Self::bytes).
    pub async fn text(self) -> Result<String, Error> {
        let (operation, status, request_id) = (self.operation, self.status().as_u16(), self.request_id.clone());
        let body = self.bytes().await?;
        crate::error::decode_text(body, operation, status, request_id)
    }

    /// The body decoded from JSON, read bounded as [`bytes`](Self::bytes).
    pub async fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        let (operation, status, request_id) = (self.operation, self.status().as_u16(), self.request_id.clone());
        let body = self.bytes().await?;
        crate::error::decode_json(&body, operation, status, request_id)
    }

    /// The body as a stream of chunks as they arrive, never held whole (downloads of any size).
    pub fn bytes_stream(self) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
        let (operation, request_id) = (self.operation, self.request_id);
        self.response.bytes_stream().map_err(move |e| Error::from_transport(e, operation, request_id.clone()))
    }

    /// The body as server-sent events, each as soon as it is complete.
    pub fn events(self) -> impl Stream<Item = Result<ServerSentEvent, Error>> + Send + 'static {
        let (operation, status, request_id) = (self.operation, self.status().as_u16(), self.request_id.clone());
        self.response.bytes_stream().eventsource().map(move |item| match item {
            Ok(event) => Ok(ServerSentEvent { event: event.event, data: event.data, id: event.id, retry: event.retry }),
            Err(eventsource_stream::EventStreamError::Transport(e)) => {
                Err(Error::from_transport(e, operation, request_id.clone()))
            }
            Err(e) => Err(Error::Decode {
                operation,
                status,
                request_id: request_id.clone(),
                body_len: 0,
                reason: format!("not an event stream: {e}"),
            }),
        })
    }
}
