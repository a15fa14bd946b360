//! `cloudbase::Error`: every way a call can fail, without ever carrying a secret or a response body.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::captcha::CaptchaChallenge;
use crate::core::ErrorBody;
use crate::raw::ResponseMeta;

/// What went wrong. Every public method returns `Result<T, cloudbase::Error>`.
///
/// `Display` and `Debug` show codes, descriptions, statuses and request ids, never a token, a password or a
/// response body.
///
/// ```
/// use cloudbase::{Error, ErrorCode};
/// fn explain(e: &Error) -> String {
///     match e {
///         Error::Service(s) if s.code == ErrorCode::InvalidPassword => "wrong password".into(),
///         e if e.is_captcha_required() => "show a captcha".into(),
///         e if e.is_retryable() => "try again".into(),
///         e => e.to_string(),
///     }
/// }
/// # let _ = explain;
/// ```
// Clone: one refresh's outcome is handed to every caller that waited for it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error body.
    #[error("{0}")]
    Service(ServiceError),
    /// The service answered an HTTP error without a CloudBase error body (e.g. a gateway's HTML page).
    #[error("HTTP {status} without an error body (operation {operation}, request id {})", request_id.as_deref().unwrap_or("-"))]
    Http {
        /// The HTTP status.
        status: u16,
        /// The operation (the spec's operationId).
        operation: &'static str,
        /// The request id.
        request_id: Option<String>,
    },
    /// An argument was rejected before any request was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which argument.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The call needs a signed-in user and there is none (or the session was revoked).
    #[error("not signed in")]
    NotSignedIn,
    /// The service asked for a captcha and no [`CaptchaHandler`](crate::CaptchaHandler) is registered (or it
    /// declined). Show the challenge, then call [`Auth::verify_captcha_data`](crate::Auth::verify_captcha_data).
    #[error("captcha required")]
    CaptchaRequired(Box<CaptchaChallenge>),
    /// The request could not be sent or its response could not be read.
    #[error("network error (operation {operation}): {source}")]
    Network {
        /// The operation.
        operation: &'static str,
        /// The request id.
        request_id: Option<String>,
        /// The transport error, with its URL removed (a URL may carry a captcha token).
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// No answer within the configured timeout.
    #[error("timed out (operation {operation}, request id {})", request_id.as_deref().unwrap_or("-"))]
    Timeout {
        /// The operation.
        operation: &'static str,
        /// The request id.
        request_id: Option<String>,
    },
    /// A success response that does not match the API spec.
    #[error("undecodable response to {operation} (HTTP {status}, {body_len} bytes): {reason}")]
    Decode {
        /// The operation.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The request id.
        request_id: Option<String>,
        /// Body length; the body itself is never kept (it may hold tokens).
        body_len: usize,
        /// The decoder's complaint, without the offending values.
        reason: String,
    },
    /// The reply was larger than the configured maximum
    /// ([`CloudBaseBuilder::max_response_bytes`](crate::CloudBaseBuilder::max_response_bytes)); it was not
    /// read to the end.
    #[error("response to {operation} exceeds {limit} bytes (request id {})", request_id.as_deref().unwrap_or("-"))]
    ResponseTooLarge {
        /// The operation.
        operation: &'static str,
        /// The request id.
        request_id: Option<String>,
        /// The limit in force.
        limit: usize,
    },
    /// The work was abandoned before it finished (the runtime is shutting down).
    #[error("cancelled: {0}")]
    Cancelled(&'static str),
    /// The OAuth callback does not belong to a sign-in this client started, or carries a provider error, or
    /// the loopback redirect could not be received.
    #[error("OAuth: {0}")]
    OAuth(#[source] OAuthError),
    /// The session store failed; its [`StoreError`](crate::StoreError) keeps the cause.
    #[error("session store: {0}")]
    Storage(#[source] crate::StoreError),
    /// A local file or stream of a transfer could not be read or written (an upload's source, a download's
    /// destination).
    #[error("{operation}: {what}: {source}")]
    Io {
        /// The operation.
        operation: &'static str,
        /// What was being done, e.g. `reading the source`.
        what: String,
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// Why an OAuth sign-in failed ([`Error::OAuth`]): the reason, and the I/O error behind it when there is one
/// (the loopback listener).
#[derive(Clone, Debug)]
pub struct OAuthError {
    reason: String,
    source: Option<Arc<std::io::Error>>,
}

impl OAuthError {
    /// Why, in words (never a token or a code).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for OAuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// An error answered by the CloudBase service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The error code (`error`, or a gateway's `code`).
    pub code: ErrorCode,
    /// The numeric `error_code` (gRPC status or business code), when sent.
    pub numeric_code: Option<i32>,
    /// The service's text (`error_description` or `message`).
    pub description: Option<String>,
    /// The HTTP status (200 when the error body came with 200).
    pub status: Option<u16>,
    /// The request id (the server's, else the one this client sent).
    pub request_id: Option<String>,
    /// The operation (the spec's operationId).
    pub operation: &'static str,
    /// How long the service asks to wait (rate limits).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloudBase error {}", self.code)?;
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        write!(f, " (operation {}", self.operation)?;
        if let Some(status) = self.status {
            write!(f, ", HTTP {status}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, ", request id {id}")?;
        }
        f.write_str(")")
    }
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A CloudBase error code. Codes this version does not know are kept in [`ErrorCode::Unknown`].
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* #[doc = concat!("`", $text, "`")] $variant,)*
            /// A code this version does not know, as sent.
            Unknown(String),
        }

        impl ErrorCode {
            /// The code as the service spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Unknown(text) => text,
                }
            }

            /// Parses a code; unknown ones are kept as text.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    InvalidArgument = "invalid_argument",
    NotFound = "not_found",
    AlreadyExists = "already_exists",
    PermissionDenied = "permission_denied",
    ResourceExhausted = "resource_exhausted",
    FailedPrecondition = "failed_precondition",
    Aborted = "aborted",
    OutOfRange = "out_of_range",
    Unimplemented = "unimplemented",
    Internal = "internal",
    Unavailable = "unavailable",
    DataLoss = "data_loss",
    Unauthenticated = "unauthenticated",
    DeadlineExceeded = "deadline_exceeded",
    /// The service could not classify the error.
    Unspecified = "unknown",
    InvalidPassword = "invalid_password",
    PasswordNotSet = "password_not_set",
    InvalidStatus = "invalid_status",
    UserPending = "user_pending",
    UserBlocked = "user_blocked",
    InvalidVerificationCode = "invalid_verification_code",
    TwoFactorRequired = "two_factor_required",
    InvalidTwoFactor = "invalid_two_factor",
    InvalidTwoFactorRecovery = "invalid_two_factor_recovery",
    UnderReview = "under_review",
    InvalidRequest = "invalid_request",
    UnauthorizedClient = "unauthorized_client",
    AccessDenied = "access_denied",
    UnsupportedResponseType = "unsupported_response_type",
    InvalidScope = "invalid_scope",
    InvalidGrant = "invalid_grant",
    ServerError = "server_error",
    TemporarilyUnavailable = "temporarily_unavailable",
    InteractionRequired = "interaction_required",
    LoginRequired = "login_required",
    ConsentRequired = "consent_required",
    CaptchaRequired = "captcha_required",
    CaptchaInvalid = "captcha_invalid",
    ProviderNotEnabled = "provider_not_enabled",
    ProviderNotFound = "provider_not_found",
    ProviderError = "provider_error",
    LoginMethodDisabled = "login_method_disabled",
    LoginTypeDisabled = "login_type_disabled",
    InvalidUsernameOrPassword = "invalid_username_or_password",
    InvalidCredentials = "invalid_credentials",
    WrongPassword = "wrong_password",
    UserNotFound = "user_not_found",
    MfaPhoneRequired = "mfa_phone_required",
    PhoneRequired = "phone_required",
    UnsupportedGrantType = "unsupported_grant_type",
    InvalidClient = "invalid_client",
    Unauthorized = "unauthorized",
    /// Gateway: the access token is malformed or unknown.
    InvalidAccessToken = "INVALID_ACCESS_TOKEN",
    /// Gateway: the access token has expired.
    AccessTokenExpired = "ACCESS_TOKEN_EXPIRED",
    /// Gateway: no credentials were sent.
    MissingCredentials = "MISSING_CREDENTIALS",
    /// Gateway: the caller may not do this.
    ActionForbidden = "ACTION_FORBIDDEN",
    /// Gateway: no such environment.
    InvalidEnvId = "INVALID_ENV_ID",
    /// Gateway: the host is not allowed.
    InvalidHost = "INVALID_HOST",
    /// Gateway: the request body is over the service's limit.
    ExceedMaxPayloadSize = "EXCEED_MAX_PAYLOAD_SIZE",
    /// Gateway: a parameter (such as a service name) is malformed.
    InvalidParam = "INVALID_PARAM",
    /// Gateway: too many requests.
    RequestLimitExceeded = "REQUEST_LIMIT_EXCEEDED",
    /// Functions: blocked by the function's security rules.
    ExceedAuthority = "EXCEED_AUTHORITY",
    /// Functions: no function of that name.
    FunctionNotFound = "FUNCTION_NOT_FOUND",
    /// Functions: no such version of the function.
    FunctionQualifierNotFound = "FUNCTION_QUALIFIER_NOT_FOUND",
    /// Functions: the function's code failed.
    FunctionInvocationFailed = "FUNCTION_INVOCATION_FAILED",
    /// Functions: the request body is not a valid event.
    FunctionParamInvalid = "FUNCTION_PARAM_INVALID",
    /// Functions: over the provisioned concurrency.
    FunctionExceedResourceLimit = "FUNCTION_EXCEED_RESOURCE_LIMIT",
    /// Functions: the function is in an abnormal state.
    FunctionStatusAbnormal = "FUNCTION_STATUS_ABNORMAL",
    /// Functions: the execution time limit was hit.
    FunctionTimeLimitExceeded = "FUNCTION_TIME_LIMIT_EXCEEDED",
    /// Functions: the memory limit was hit.
    FunctionMemoryLimitExceeded = "FUNCTION_MEMORY_LIMIT_EXCEEDED",
    /// Cloud run: no service of that name.
    ServiceNotFound = "SERVICE_NOT_FOUND",
    /// Cloud run: the service did not answer in time.
    ServiceTimeout = "SERVICE_TIMEOUT",
    /// Cloud run: the caller may not call the service.
    ServiceForbidden = "SERVICE_FORBIDDEN",
    /// Cloud run: the service is not ready.
    ServiceNotReady = "SERVICE_NOT_READY",
    /// Cloud run: no such version of the service.
    ServiceVersionNotFound = "SERVICE_VERSION_NOT_FOUND",
    /// Cloud run: no such endpoint.
    ServiceEndpointNotFound = "SERVICE_ENDPOINT_NOT_FOUND",
    /// Cloud run: the service's load balancer is unhealthy.
    ServiceLbStatusAbnormal = "SERVICE_LB_STATUS_ABNORMAL",
    /// Cloud run: a resource of the service is missing.
    ServiceResourceNotFound = "SERVICE_RESOURCE_NOT_FOUND",
    /// Cloud run: the account is overdue.
    ServiceChargeOverdue = "SERVICE_CHARGE_OVERDUE",
    /// APIs: no API connector of that label (the emulator's code; the service documents none).
    ApiNotFound = "API_NOT_FOUND",
    /// Storage: refused by the storage permissions or security rules.
    StorageExceedAuthority = "STORAGE_EXCEED_AUTHORITY",
    /// Storage: the object store's operation failed.
    CosActionFailed = "COS_ACTION_FAILED",
    /// Storage: no such object.
    ObjectNotExist = "OBJECT_NOT_EXIST",
    /// Storage: the object exists already (a copy without overwrite).
    ObjectAlreadyExist = "OBJECT_ALREADY_EXIST",
    /// Storage: too many objects in one request.
    ObjectBatchTooLarge = "OBJECT_BATCH_TOO_LARGE",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// True when repeating the same call later may succeed: transport failures, timeouts, 5xx, 429 and
    /// the service's `unavailable`, `resource_exhausted`, `internal`, `aborted` codes.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Network { .. } | Error::Timeout { .. } => true,
            Error::Http { status, .. } => *status == 429 || *status >= 500,
            Error::Service(s) => {
                matches!(
                    s.code,
                    ErrorCode::Unavailable
                        | ErrorCode::ResourceExhausted
                        | ErrorCode::Internal
                        | ErrorCode::Aborted
                        | ErrorCode::ServerError
                        | ErrorCode::TemporarilyUnavailable
                ) || s.status.is_some_and(|st| st == 429 || st >= 500)
            }
            _ => false,
        }
    }

    /// True when the call needs a captcha token first.
    pub fn is_captcha_required(&self) -> bool {
        match self {
            Error::CaptchaRequired(_) => true,
            Error::Service(s) => s.code == ErrorCode::CaptchaRequired,
            _ => false,
        }
    }

    /// The service error, if this is one.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(s) => Some(s),
            _ => None,
        }
    }

    /// The service's error code, if the service answered one.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.service().map(|s| &s.code)
    }

    /// The request id of the failed call, when one was made.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Service(s) => s.request_id.as_deref(),
            Error::Http { request_id, .. }
            | Error::Network { request_id, .. }
            | Error::Timeout { request_id, .. }
            | Error::ResponseTooLarge { request_id, .. }
            | Error::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// True when the access token was refused as expired or invalid (the SDK then refreshes once and retries).
    pub(crate) fn is_token_rejected(&self) -> bool {
        match self {
            Error::Service(s) => {
                matches!(
                    s.code,
                    ErrorCode::AccessTokenExpired | ErrorCode::InvalidAccessToken | ErrorCode::Unauthenticated
                ) || (s.status == Some(401) && !matches!(s.code, ErrorCode::InvalidGrant))
            }
            Error::Http { status: 401, .. } => true,
            _ => false,
        }
    }

    /// True when a refresh token was refused for good: the session is over.
    pub(crate) fn is_refresh_rejected(&self) -> bool {
        // (`Unauthenticated` here is the protobuf status 16 some gateways answer for a dead refresh token.)
        matches!(self, Error::Service(s) if matches!(s.code, ErrorCode::InvalidGrant | ErrorCode::Unauthenticated))
    }

    pub(crate) fn storage(e: crate::StoreError) -> Self {
        Error::Storage(e)
    }

    pub(crate) fn oauth(reason: impl Into<String>) -> Self {
        Error::OAuth(OAuthError { reason: reason.into(), source: None })
    }

    pub(crate) fn oauth_io(reason: impl Into<String>, source: std::io::Error) -> Self {
        Error::OAuth(OAuthError { reason: reason.into(), source: Some(Arc::new(source)) })
    }

    pub(crate) fn io(operation: &'static str, what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { operation, what: what.into(), source: Arc::new(source) }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput { field, reason: reason.into() }
    }

    /// Converts a raw-layer error. `meta` holds what progenitor's error drops (the real status, request id).
    pub(crate) fn from_raw(
        error: progenitor_client::Error<ErrorBody>,
        operation: &'static str,
        meta: &ResponseMeta,
    ) -> Self {
        use progenitor_client::Error as Raw;
        let request_id = meta.request_id.clone();
        // Whatever progenitor made of the emptied body, the reply was cut off for its size.
        if let Some(limit) = meta.too_large {
            return Error::ResponseTooLarge { operation, request_id, limit };
        }
        match error {
            Raw::ErrorResponse(response) => {
                let status = meta.status.unwrap_or_else(|| response.status().as_u16());
                Error::from_body(response.into_inner(), operation, Some(status), request_id)
            }
            Raw::InvalidResponsePayload(bytes, e) => {
                let status = meta.status.unwrap_or(0);
                if (200..300).contains(&status) {
                    Error::Decode { operation, status, request_id, body_len: bytes.len(), reason: describe_serde(&e) }
                } else {
                    Error::Http { status, operation, request_id }
                }
            }
            Raw::UnexpectedResponse(response) => {
                Error::Http { status: response.status().as_u16(), operation, request_id }
            }
            Raw::CommunicationError(e) | Raw::ResponseBodyError(e) | Raw::InvalidUpgrade(e) => {
                Error::from_transport(e, operation, request_id)
            }
            Raw::InvalidRequest(reason) => Error::InvalidInput { field: "request", reason },
            Raw::Custom(reason) => Error::InvalidInput { field: "request", reason },
        }
    }

    pub(crate) fn from_transport(e: reqwest::Error, operation: &'static str, request_id: Option<String>) -> Self {
        if e.is_timeout() {
            Error::Timeout { operation, request_id }
        } else {
            Error::Network { operation, request_id, source: Arc::new(e.without_url()) }
        }
    }

    pub(crate) fn from_body(
        body: ErrorBody,
        operation: &'static str,
        status: Option<u16>,
        request_id: Option<String>,
    ) -> Self {
        let code = match (&body.error, &body.code) {
            (Some(error), _) if !error.is_empty() => ErrorCode::parse(error),
            (_, Some(serde_json::Value::String(code))) => ErrorCode::parse(code),
            (_, Some(serde_json::Value::Number(n))) => ErrorCode::Unknown(n.to_string()),
            _ => ErrorCode::Unknown(status.map_or_else(|| "unknown".to_owned(), |s| format!("http_{s}"))),
        };
        let numeric_code = body.error_code.or_else(|| body.code.as_ref().and_then(|c| c.as_i64()).map(|n| n as i32));
        Error::Service(ServiceError {
            code,
            numeric_code,
            description: body.error_description.or(body.message),
            status,
            request_id: body.request_id.or(request_id),
            operation,
            retry_after: body.retry_after.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs),
        })
    }
}

/// Decodes a success body as JSON; the error keeps the body's length, never the body.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    operation: &'static str,
    status: u16,
    request_id: Option<String>,
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        operation,
        status,
        request_id,
        body_len: body.len(),
        reason: describe_serde(&e),
    })
}

/// Decodes a success body as UTF-8 text.
pub(crate) fn decode_text(
    body: bytes::Bytes,
    operation: &'static str,
    status: u16,
    request_id: Option<String>,
) -> Result<String, Error> {
    String::from_utf8(body.to_vec()).map_err(|e| Error::Decode {
        operation,
        status,
        request_id,
        body_len: body.len(),
        reason: format!("not UTF-8 text (at byte {})", e.utf8_error().valid_up_to()),
    })
}

/// serde's message may quote the offending value (a token); keep only its category and position.
pub(crate) fn describe_serde(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "not JSON",
        Category::Data => "JSON of the wrong shape",
        Category::Eof => "truncated JSON",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}
