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
