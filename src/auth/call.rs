//! One raw call: the credential it carries, its tracing span, the captcha retry, the 401 refresh-and-retry,
//! and the mapping of progenitor's error into `cloudbase::Error`.

use std::future::Future;

use progenitor_client::{Error as RawError, ResponseValue};
use tracing::Instrument as _;

use super::Auth;
use crate::raw::auth::Client;
use crate::raw::auth::types::ErrorBody;
use crate::raw::context::new_request_id;
use crate::{Error, ErrorCode, Secret, Session};

/// Who a call is made as.
#[derive(Clone)]
pub(crate) enum As {
    /// No Authorization: `client_id` in the query (token grants, captcha calls, revoke).
    Client,
    /// The publishable key when the app has one, else like `Client` (what the official SDKs do signed out).
    Public,
    /// The signed-in user.
    User(Secret),
}

/// Whether a `captcha_required` answer is solved and the call repeated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Captcha {
    Solve,
    Never,
}

pub(crate) type RawResult<T> = Result<ResponseValue<T>, RawError<ErrorBody>>;

impl Auth {
    /// Sends one call made by `send` (called again for a retry), as `who`.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        operation: &'static str,
        who: As,
        captcha: Captcha,
        send: F,
    ) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        self.send_with(operation, who, captcha, None, send).await
    }

    /// Sends a call carrying a captcha token from the first attempt (`getVerification(withCaptcha)`).
    pub(crate) async fn call_with_captcha<T, F, Fut>(
        &self,
        operation: &'static str,
        who: As,
        token: Secret,
        send: F,
    ) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        self.send_with(operation, who, Captcha::Never, Some(token), send).await
    }

    async fn send_with<T, F, Fut>(
        &self,
        operation: &'static str,
        who: As,
        captcha: Captcha,
        mut captcha_token: Option<Secret>,
        send: F,
    ) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        loop {
            let (client, context) = self.client(&who, captcha_token.clone());
            let request_id = context.request_id.as_deref().unwrap_or_default().to_owned();
            let span = tracing::debug_span!("cloudbase.auth", operation, request_id = %request_id);
            let result = send(client).instrument(span.clone()).await;
            let meta = context.last_response();
            let error = match result {
                Ok(value) => {
                    span.in_scope(|| tracing::debug!(status = meta.status, "ok"));
                    return Ok(value.into_inner());
                }
                Err(raw) => Error::from_raw(raw, operation, &meta),
            };
            span.in_scope(|| tracing::debug!(status = meta.status, error = %error, "failed"));
            let captcha_code =
                error.code().filter(|c| matches!(c, ErrorCode::CaptchaRequired | ErrorCode::CaptchaInvalid));
            match captcha_code {
                Some(code) if captcha == Captcha::Solve && captcha_token.is_none() => {
                    // A captcha_invalid answer means the cached token is no good: get a fresh one.
                    let fresh_captcha = *code == ErrorCode::CaptchaInvalid;
                    // The official SDK's convention: the path relative to `/auth`, e.g. `POST:/v1/verification`.
                    let state = meta
                        .method_path
                        .as_deref()
                        .map(|m| m.replacen(":/auth/", ":/", 1))
                        .unwrap_or_else(|| format!("POST:{operation}"));
                    captcha_token = Some(self.captcha_token_for(&state, fresh_captcha, error).await?);
                }
                _ => return Err(error),
            }
        }
    }

    /// Sends a call as the signed-in user: refreshes first when the token is about to expire, and once more
    /// (then retries once) when the service refuses the token as expired.
    pub(crate) async fn call_as_user<T, F, Fut>(&self, operation: &'static str, send: F) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        let session = self.fresh_session().await?;
        match self.call(operation, As::User(session.access_token.clone()), Captcha::Solve, &send).await {
            Err(e) if e.is_token_rejected() => {
                tracing::debug!(operation, "access token refused; refreshing once");
                let renewed = self.refresh_after_rejection(&session).await?;
                self.call(operation, As::User(renewed.access_token), Captcha::Solve, &send).await
            }
            other => other,
        }
    }

    /// Like [`call_as_user`](Self::call_as_user) with a session already in hand (no refresh check).
    pub(crate) async fn call_with_session<T, F, Fut>(
        &self,
        operation: &'static str,
        session: &Session,
        send: F,
    ) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        self.call(operation, As::User(session.access_token.clone()), Captcha::Solve, send).await
    }

    /// A raw client for one call, and its context (to read the response facts afterwards).
    fn client(&self, who: &As, captcha: Option<Secret>) -> (Client, crate::raw::Context) {
        let config = &self.inner.config;
        let mut context = self.inner.base_context.fresh().with_request_id(new_request_id());
        context = match who {
            As::Client => context,
            As::Public => match &config.access_key {
                Some(key) => context.with_bearer(key.clone()),
                None => context,
            },
            As::User(token) => context.with_bearer(token.clone()),
        };
        if let Some(token) = captcha {
            context = context.with_captcha_token(token);
        }
        (Client::new_with_client(&config.base_url, config.http.clone(), context.clone()), context)
    }
}
