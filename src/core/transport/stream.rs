//! Requests whose URL is dynamic (cloud run and API paths of any depth) and whose success body is streamed:
//! built here, sent through the same per-call context as generated calls (credential, ids, connection
//! retries, bounded error bodies, tracing).

use progenitor_client::OperationInfo;
use tracing::Instrument as _;

use super::{As, Profile};
use crate::Error;
use crate::core::{Core, ErrorBody};

/// The gateway's own error codes: a non-2xx reply carrying one of these in the `{code, message, requestId}`
/// envelope is the gateway speaking, not the called service (whose replies, any status, are its own).
pub(crate) fn is_gateway_code(code: &str) -> bool {
    code.starts_with("SERVICE_")
        || code.starts_with("FUNCTION_")
        || matches!(
            code,
            "API_NOT_FOUND"
                | "INVALID_PARAM"
                | "EXCEED_MAX_PAYLOAD_SIZE"
                | "ACCESS_TOKEN_EXPIRED"
                | "INVALID_ACCESS_TOKEN"
                | "MISSING_CREDENTIALS"
                | "ACTION_FORBIDDEN"
                | "EXCEED_AUTHORITY"
                | "INVALID_ENV_ID"
                | "INVALID_HOST"
                | "REQUEST_LIMIT_EXCEEDED"
        )
}

const STREAMING: Profile = Profile { client_id_query: false, sniff_error_bodies: false };

/// A reply whose body is still on the wire, and the request id of its call.
pub(crate) struct Streamed {
    pub response: reqwest::Response,
    pub request_id: Option<String>,
}

impl Core {
    /// Sends `request` as `who`. A 2xx body is left unread for the caller to stream; a non-2xx reply is read
    /// (bounded) and turned into an error when it is the gateway's envelope, else handed back as the
    /// service's own reply.
    pub(crate) async fn send_streaming(
        &self,
        operation: &'static str,
        who: &As,
        mut request: reqwest::Request,
    ) -> Result<Streamed, Error> {
        let device_id = self.session.device_id().await?;
        let context = self.transport.context(device_id, who, None, STREAMING).with_streamed_success_body(true);
        context.decorate(&mut request);
        let request_id = context.request_id.clone().unwrap_or_default();
        let span = tracing::debug_span!("cloudbase.call", operation, request_id = %request_id);
        let info = OperationInfo { operation_id: operation };
        let sent = context.execute(&self.transport.http, request, &info).instrument(span.clone()).await;
        let meta = context.last_response();
        let response = sent.map_err(|e| Error::from_transport(e, operation, meta.request_id.clone()))?;
        if let Some(limit) = meta.too_large {
            return Err(Error::ResponseTooLarge { operation, request_id: meta.request_id, limit });
        }
        let status = response.status();
        span.in_scope(|| tracing::debug!(status = status.as_u16(), "answered"));
        if status.is_success() {
            return Ok(Streamed { response, request_id: meta.request_id });
        }
        // Read by `execute` already (bounded): rebuild the reply after looking at it.
        let version = response.version();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| Error::from_transport(e, operation, meta.request_id.clone()))?;
        if let Ok(envelope) = serde_json::from_slice::<ErrorBody>(&body)
            && envelope.code.as_ref().and_then(|c| c.as_str()).is_some_and(is_gateway_code)
        {
            return Err(Error::from_body(envelope, operation, Some(status.as_u16()), meta.request_id));
        }
        let mut rebuilt = http::Response::new(body);
        *rebuilt.status_mut() = status;
        *rebuilt.version_mut() = version;
        *rebuilt.headers_mut() = headers;
        Ok(Streamed { response: reqwest::Response::from(rebuilt), request_id: meta.request_id })
    }
}
