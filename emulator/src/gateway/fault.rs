//! What an injected [`Fault`] does to a request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Response, header};
use hyper::body::Frame;
use serde_json::{Value, json};

use crate::Fault;
use crate::reply::{cos_error, json_response, text_response};
use crate::service::ErrorStyle;
use crate::state::ApiError;

/// Marks a response the server must not send: it closes the connection instead. A marker rather than an
/// error because axum services cannot fail; the accept loop turns it into one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CloseConnection;

/// How the gateway handles a request, given the fault (if any) injected for its operation.
pub(super) enum Plan {
    /// Answer this instead of running the operation; the body is what the exchange log records.
    Answer(Response<Body>, Option<Value>),
    /// Run the operation after waiting this long.
    Process { after: Duration },
    /// Close the connection without a reply, after running the operation if `process`.
    Close { process: bool },
}

pub(super) fn plan(fault: Option<Fault>, style: ErrorStyle, request_id: &str) -> Plan {
    let Some(fault) = fault else { return Plan::Process { after: Duration::ZERO } };
    let gateway_error = |message: &str| json!({"code": "INTERNAL_ERROR", "message": message, "requestId": request_id});
    match fault {
        Fault::Hang(wait) => Plan::Process { after: wait },
        Fault::DropConnection => Plan::Close { process: false },
        Fault::DropReply => Plan::Close { process: true },
        Fault::Status500 => {
            let body = match style {
                ErrorStyle::Auth => ApiError::internal("injected fault: internal error").body(),
                ErrorStyle::Gateway => gateway_error("injected fault: internal error"),
                ErrorStyle::Cos => {
                    let message = "injected fault: internal error";
                    return Plan::Answer(cos_error(500, "InternalError", message, request_id, false), None);
                }
            };
            Plan::Answer(json_response(500, &body), Some(body))
        }
        Fault::Status502Html => Plan::Answer(
            text_response(
                502,
                "text/html; charset=utf-8",
                "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
            ),
            None,
        ),
        Fault::JunkBody => Plan::Answer(text_response(200, "text/html; charset=utf-8", "<html>not json"), None),
        Fault::TruncatedBody => {
            let chunk = Bytes::from_static(b"{\"token_type\":\"Bearer\",\"access_token\":\"eyJhbGciOi");
            let promised = chunk.len() + 256;
            let mut response = text_response(200, "application/json", Body::new(TruncatedBody(Some(chunk))));
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(promised));
            Plan::Answer(response, None)
        }
        Fault::ErrorWith200 => {
            let body = match style {
                ErrorStyle::Auth => json!({
                    "error": "internal",
                    "error_code": 13,
                    "error_description": "injected fault: an error body with HTTP 200",
                }),
                ErrorStyle::Gateway => gateway_error("injected fault: an error body with HTTP 200"),
                ErrorStyle::Cos => {
                    let message = "injected fault: an error body with HTTP 200";
                    return Plan::Answer(cos_error(200, "InternalError", message, request_id, false), None);
                }
            };
            Plan::Answer(json_response(200, &body), Some(body))
        }
    }
}

/// A response carrying [`CloseConnection`].
pub(super) fn close_connection() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(CloseConnection);
    response
}

/// A response body that sends one chunk and then fails, so the connection closes before the promised
/// `Content-Length` is reached.
struct TruncatedBody(Option<Bytes>);

impl hyper::body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(match self.0.take() {
            Some(chunk) => Ok(Frame::data(chunk)),
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "injected fault: truncated body")),
        }))
    }
}
