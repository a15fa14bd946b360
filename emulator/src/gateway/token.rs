//! The gateway's token check, for the services behind it (auth's own operations answer auth-style errors
//! and do not use it).
//!
//! A handler that needs to know who called takes a [`Caller`] argument:
//!
//! ```text
//! async fn invoke(caller: Caller, Path(name): Path<String>, body: Bytes) -> Response<Body> {
//!     match caller { Caller::User { user_id, .. } => ..., Caller::Client | Caller::PublishableKey => ... }
//! }
//! ```
//!
//! Without a valid credential the handler never runs: the request answers 401 with the CloudBase gateway's
//! error shape `{code, message, requestId}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Response};
use axum::response::IntoResponse;
use serde_json::json;

use super::RequestId;
use crate::reply::json_response;
use crate::state::State;

/// Who called, as established from `Authorization: Bearer <token>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A user's access token (anonymous users included).
    User {
        /// The user's id (`sub`).
        user_id: String,
        /// True for a user signed in anonymously.
        anonymous: bool,
    },
    /// A client-credentials access token: the environment itself, no user.
    Client,
    /// The configured publishable key: an anonymous caller with no user.
    PublishableKey,
}

impl Caller {
    /// The user's id, when a user called.
    #[allow(dead_code)] // for the services to come
    pub(crate) fn user_id(&self) -> Option<&str> {
        match self {
            Caller::User { user_id, .. } => Some(user_id),
            Caller::Client | Caller::PublishableKey => None,
        }
    }
}

/// Why the token check refused a request: answered as HTTP 401 `{code, message, requestId}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenRejection {
    /// `INVALID_ACCESS_TOKEN` or `ACCESS_TOKEN_EXPIRED`.
    pub code: &'static str,
    /// A human-readable reason.
    pub message: String,
    request_id: Option<String>,
}

impl IntoResponse for TokenRejection {
    fn into_response(self) -> Response<Body> {
        json_response(401, &json!({ "code": self.code, "message": self.message, "requestId": self.request_id }))
    }
}

/// Checks the Bearer credential in `headers`: an access token this emulator issued and that is still live,
/// or the configured publishable key.
pub(crate) fn check_token(state: &State, headers: &HeaderMap) -> Result<Caller, TokenRejection> {
    let reject = |code, message: &str| TokenRejection { code, message: message.to_owned(), request_id: None };
    let token = bearer(headers).ok_or_else(|| reject("INVALID_ACCESS_TOKEN", "missing access token"))?;
    let core = state.core();
    if core.config.publishable_key.as_deref().is_some_and(|key| key == token) {
        return Ok(Caller::PublishableKey);
    }
    // The same check auth's user endpoints use, so both agree on expiry and revocation.
    let session_id = core.session_of(Some(token)).map_err(|e| TokenRejection {
        code: e.gateway_code.unwrap_or("INVALID_ACCESS_TOKEN"),
        message: e.description,
        request_id: None,
    })?;
    let session = &core.db.sessions[&session_id];
    Ok(match &session.user_id {
        Some(user_id) => Caller::User {
            anonymous: core.db.users.get(user_id).is_some_and(|u| u.anonymous),
            user_id: user_id.clone(),
        },
        None => Caller::Client,
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("Bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

impl FromRequestParts<Arc<State>> for Caller {
    type Rejection = TokenRejection;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        check_token(state, &parts.headers).map_err(|mut rejection| {
            rejection.request_id = parts.extensions.get::<RequestId>().map(|id| id.0.clone());
            rejection
        })
    }
}
