//! The one error body every spec's errors decode into (build.rs maps each spec's `ErrorBody` here), so that
//! there is a single `Error::from_raw` for every service.

use serde::{Deserialize, Serialize};

/// An error reply of any CloudBase service: the auth service's `{error, error_code, error_description}`
/// and the gateway's `{code, message, requestId}` in one loose shape. Every field is optional: a reply
/// carries one family or the other.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// Gateway (string) or protobuf-status (integer) code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<serde_json::Value>,
    /// Extra detail, any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
    /// Snake-case error code, e.g. `invalid_argument`, `invalid_grant`, `captcha_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Numeric code (gRPC status or business code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i32>,
    /// Human-readable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// Gateway or protobuf-status message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The request id, when the service echoes one (gateways spell it `requestId`).
    #[serde(default, alias = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Seconds to wait before retrying (rate limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
}
