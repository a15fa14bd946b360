//! The auth-style error every auth operation and test control answers.

use serde_json::{Value, json};

/// An error answered as `{error, error_code, error_description}` (plus `code`/`message` for token errors).
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub error: String,
    pub code: i32,
    pub description: String,
    /// Gateway-style string code (`INVALID_ACCESS_TOKEN`, `ACCESS_TOKEN_EXPIRED`), sent as `code`/`message`.
    pub gateway_code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, error: &str, code: i32, description: impl Into<String>) -> Self {
        Self { status, error: error.to_owned(), code, description: description.into(), gateway_code: None }
    }
    pub fn invalid_argument(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_argument", 3, d)
    }
    pub fn not_found(d: impl Into<String>) -> Self {
        Self::new(404, "not_found", 5, d)
    }
    pub fn already_exists(d: impl Into<String>) -> Self {
        Self::new(409, "already_exists", 6, d)
    }
    pub fn permission_denied(d: impl Into<String>) -> Self {
        Self::new(403, "permission_denied", 7, d)
    }
    pub fn failed_precondition(d: impl Into<String>) -> Self {
        Self::new(400, "failed_precondition", 9, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", 3, d)
    }
    pub fn invalid_password(d: impl Into<String>) -> Self {
        Self::new(400, "invalid_password", 3, d)
    }
    pub fn captcha_required() -> Self {
        Self::new(400, "captcha_required", 4001, "captcha_token required")
    }
    pub fn captcha_invalid(d: impl Into<String>) -> Self {
        Self::new(400, "captcha_invalid", 4002, d)
    }
    pub fn internal(d: impl Into<String>) -> Self {
        Self::new(500, "internal", 13, d)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self { gateway_code: Some("INVALID_ACCESS_TOKEN"), ..Self::new(401, "unauthenticated", 16, d) }
    }
    pub fn expired_token() -> Self {
        Self {
            gateway_code: Some("ACCESS_TOKEN_EXPIRED"),
            ..Self::new(401, "unauthenticated", 16, "access token expired")
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "error": self.error,
            "error_code": self.code,
            "error_description": self.description,
        });
        if let Some(code) = self.gateway_code {
            body["code"] = json!(code);
            body["message"] = json!(self.description);
        }
        body
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
