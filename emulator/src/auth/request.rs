//! A parsed auth request and the input checks several operations share.

use axum::http::HeaderMap;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::state::{Address, ApiError, ApiResult};
use crate::util::{canonical_email, canonical_phone, is_blankish, phone_digits};

/// One parsed request.
pub(crate) struct Req {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Map<String, Value>,
}

impl Req {
    pub(super) fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub(super) fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    pub(super) fn device_id(&self) -> Option<&str> {
        self.header("x-device-id").map(str::trim).filter(|d| !d.is_empty())
    }

    pub(super) fn require_device_id(&self) -> ApiResult<&str> {
        self.device_id().ok_or_else(|| ApiError::invalid_argument("x-device-id header is required"))
    }

    pub(super) fn authorization(&self, scheme: &str) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (s, rest) = value.split_once(' ')?;
        s.eq_ignore_ascii_case(scheme).then(|| rest.trim()).filter(|t| !t.is_empty())
    }

    pub(super) fn bearer(&self) -> Option<&str> {
        self.authorization("Bearer")
    }

    pub(super) fn basic(&self) -> Option<(String, String)> {
        let decoded = base64::engine::general_purpose::STANDARD.decode(self.authorization("Basic")?).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (id, secret) = text.split_once(':').unwrap_or((&text, ""));
        Some((id.to_owned(), secret.to_owned()))
    }

    /// The captcha token: header `x-captcha-token` (docs) or query `captcha_token` (JS SDK).
    pub(super) fn captcha_token(&self) -> Option<&str> {
        self.header("x-captcha-token").or_else(|| self.query("captcha_token")).map(str::trim).filter(|t| !t.is_empty())
    }

    pub(super) fn body<T: DeserializeOwned>(&self) -> ApiResult<T> {
        serde_json::from_value(Value::Object(self.body.clone()))
            .map_err(|e| ApiError::invalid_argument(format!("invalid request body: {e}")))
    }
}

/// A non-empty string field, or `None`.
pub(super) fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub(super) fn required<'a>(value: &'a Option<String>, name: &str) -> ApiResult<&'a str> {
    given(value).ok_or_else(|| ApiError::invalid_argument(format!("{name} is required")))
}

pub(super) fn invalid_client() -> ApiError {
    ApiError::new(401, "invalid_client", 16, "client not found: client_id must be the environment id")
}

/// Password rule: 8 to 64 characters (the service default also wants character classes; the emulator
/// does not, so tests can use simple passwords).
pub(super) fn check_new_password(password: &str) -> ApiResult<()> {
    let len = password.chars().count();
    if (8..=64).contains(&len) {
        Ok(())
    } else {
        Err(ApiError::invalid_argument("password must be 8 to 64 characters"))
    }
}

pub(super) fn password_not_set() -> ApiError {
    ApiError::new(400, "password_not_set", 9, "the user has no password")
}

/// Exactly one of an email and a phone number, validated.
pub(super) fn parse_address(email: &Option<String>, phone: &Option<String>) -> ApiResult<Address> {
    match (given(email), given(phone).filter(|p| !is_blankish(p))) {
        (Some(_), Some(_)) => Err(ApiError::invalid_argument("email and phone number cannot both be set")),
        (None, None) => Err(ApiError::invalid_argument("email or phone number is empty")),
        (Some(e), None) => canonical_email(e)
            .map(Address::Email)
            .ok_or_else(|| ApiError::invalid_argument(format!("invalid email address {e:?}"))),
        (None, Some(p)) => canonical_phone(p).map(Address::Phone).ok_or_else(|| {
            ApiError::invalid_argument(format!("invalid phone number {p:?}: expected \"+<country code> <number>\""))
        }),
    }
}

/// Whether a loosely formatted address (as the SDK may send it) names `address`.
pub(super) fn address_matches(address: &Address, input: &str) -> bool {
    match address {
        Address::Email(e) => canonical_email(input).as_deref() == Some(e.as_str()),
        Address::Phone(p) => phone_digits(input).is_some() && phone_digits(input) == phone_digits(p),
    }
}

pub(super) fn address_mismatch() -> ApiError {
    ApiError::invalid_argument("phone or email does not match validation code")
}

pub(super) fn gender(value: &str) -> ApiResult<String> {
    match value {
        "MALE" | "FEMALE" => Ok(value.to_owned()),
        other => Err(ApiError::invalid_argument(format!("gender must be MALE or FEMALE, not {other:?}"))),
    }
}
