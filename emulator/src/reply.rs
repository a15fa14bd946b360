//! Building responses: shared by the services, the gateway and the test controls so every JSON answer has
//! the same content type.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use serde_json::Value;

use crate::state::ApiError;

pub(crate) fn json_response(status: u16, body: &Value) -> Response<Body> {
    text_response(status, "application/json; charset=utf-8", body.to_string())
}

/// An auth-style error: `{error, error_code, error_description}`.
pub(crate) fn error_response(error: &ApiError) -> Response<Body> {
    json_response(error.status, &error.body())
}

pub(crate) fn text_response(status: u16, content_type: &'static str, body: impl Into<Body>) -> Response<Body> {
    let mut response = Response::new(body.into());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A COS error document (no body for `HEAD`).
pub(crate) fn cos_error(status: u16, code: &str, message: &str, request_id: &str, head: bool) -> Response<Body> {
    let body = if head {
        Body::empty()
    } else {
        Body::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  <Message>{}</Message>\n  \
             <RequestId>{}</RequestId>\n</Error>",
            xml_escape(message),
            xml_escape(request_id)
        ))
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
