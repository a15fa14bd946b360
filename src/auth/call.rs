//! One auth call on the shared core: the credential it carries, the captcha retry (auth-specific), and the
//! core's refresh-and-retry for calls made as the user.

use std::future::Future;
use std::sync::Arc;

use super::Auth;
pub(crate) use crate::core::transport::{As, RawResult};
use crate::raw::auth::Client;
use crate::{Error, ErrorCode, Secret, Session};

/// Whether a `captcha_required` answer is solved and the call repeated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Captcha {
    Solve,
    Never,
}

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
        self.send_with(operation, who, captcha, None, &send).await
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
        self.send_with(operation, who, Captcha::Never, Some(token), &send).await
    }

    async fn send_with<T, F, Fut>(
        &self,
        operation: &'static str,
        who: As,
        captcha: Captcha,
        mut captcha_token: Option<Secret>,
        send: &F,
    ) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        loop {
            let attempt = self.core().send(operation, &who, captcha_token.clone(), send).await;
            let error = match attempt.result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let captcha_code =
                error.code().filter(|c| matches!(c, ErrorCode::CaptchaRequired | ErrorCode::CaptchaInvalid));
            match captcha_code {
                Some(code) if captcha == Captcha::Solve && captcha_token.is_none() => {
                    // A captcha_invalid answer means the cached token is no good: get a fresh one.
                    let fresh_captcha = *code == ErrorCode::CaptchaInvalid;
                    // The official SDK's convention: the path relative to `/auth`, e.g. `POST:/v1/verification`.
                    let state = attempt
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

    /// Sends a call as the signed-in user, by the core's credential rule (refresh first when about to
    /// expire; one refresh-and-retry when the token is refused).
    pub(crate) async fn call_as_user<T, F, Fut>(&self, operation: &'static str, send: F) -> Result<T, Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        self.call_as_user_with_session(operation, send).await.map(|(value, _)| value)
    }

    /// [`call_as_user`](Self::call_as_user), also returning the session whose token made the call.
    pub(crate) async fn call_as_user_with_session<T, F, Fut>(
        &self,
        operation: &'static str,
        send: F,
    ) -> Result<(T, Arc<Session>), Error>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        let send = &send;
        self.core()
            .with_session(true, true, |who, session| async move {
                let value = self.send_with(operation, who, Captcha::Solve, None, send).await?;
                Ok((value, session.ok_or(Error::NotSignedIn)?))
            })
            .await
    }
}
