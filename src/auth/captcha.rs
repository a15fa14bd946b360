//! Captcha: the public captcha methods and the challenge round trip behind a `captcha_required` answer.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use super::Auth;
use super::call::{As, Captcha};
use crate::captcha::{CaptchaAnswer, CaptchaChallenge, CaptchaToken};
use crate::raw::auth::types::{CaptchaDataRequest, CaptchaVerifyRequest};
use crate::{Error, Secret, validate};

/// The state the official SDK uses for a captcha obtained ahead of sending a code.
const VERIFICATION_STATE: &str = "POST:/v1/verification";

impl Auth {
    /// Creates an image captcha (`POST /auth/v1/captcha/data`). `state` names the refused call, by
    /// convention `"<METHOD>:<path>"`.
    pub async fn create_captcha_data(
        &self,
        state: &str,
        redirect_uri: Option<&str>,
    ) -> Result<CaptchaChallenge, Error> {
        let state = validate::non_empty("state", state)?;
        let body = CaptchaDataRequest { state: state.clone(), redirect_uri: redirect_uri.map(str::to_owned) };
        let data = self
            .call("create_captcha_data", As::Client, Captcha::Never, |c| {
                let body = &body;
                async move { c.create_captcha_data(body).await }
            })
            .await?;
        Ok(CaptchaChallenge {
            data: data.data,
            kind: data.type_.unwrap_or_else(|| "image".to_owned()),
            token: data.token,
            expires_in: data.expires_in,
            state,
        })
    }

    /// Solves an image captcha with the text the user read (`POST /auth/v1/captcha/data/verify`). The token
    /// is also kept for the next call that needs one.
    pub async fn verify_captcha_data(&self, token: &str, key: &str) -> Result<CaptchaToken, Error> {
        let body =
            CaptchaVerifyRequest { token: validate::non_empty("token", token)?, key: validate::non_empty("key", key)? };
        let solved = self
            .call("verify_captcha_data", As::Client, Captcha::Never, |c| {
                let body = &body;
                async move { c.verify_captcha_data(body).await }
            })
            .await?;
        let token = CaptchaToken { captcha_token: solved.captcha_token, expires_in: Some(solved.expires_in) };
        self.cache_captcha(&token);
        Ok(token)
    }

    /// A captcha token for the next code request: the cached one while it is valid, else a new challenge
    /// solved by the [`CaptchaHandler`](crate::CaptchaHandler) (without one: [`Error::CaptchaRequired`]).
    pub async fn get_captcha_token(&self) -> Result<CaptchaToken, Error> {
        if let Some(token) = self.cached_captcha() {
            return Ok(CaptchaToken { captcha_token: token, expires_in: None });
        }
        let challenge = self.create_captcha_data(VERIFICATION_STATE, None).await?;
        self.solve(challenge).await
    }

    /// Called when a call was refused with `captcha_required`/`captcha_invalid`: a token to repeat it with.
    ///
    /// Boxed: it calls back into `call` (to fetch the challenge), which calls it.
    pub(crate) fn captcha_token_for<'a>(
        &'a self,
        state: &'a str,
        fresh: bool,
        refused: Error,
    ) -> Pin<Box<dyn Future<Output = Result<Secret, Error>> + Send + 'a>> {
        Box::pin(self.captcha_token_for_inner(state, fresh, refused))
    }

    async fn captcha_token_for_inner(&self, state: &str, fresh: bool, refused: Error) -> Result<Secret, Error> {
        if !fresh && let Some(token) = self.cached_captcha() {
            return Ok(token);
        }
        let challenge = match self.create_captcha_data(state, None).await {
            Ok(challenge) => challenge,
            // No challenge to show: the original refusal says more than this failure.
            Err(e) => {
                tracing::debug!(error = %e, "could not fetch a captcha challenge");
                return Err(refused);
            }
        };
        Ok(self.solve(challenge).await?.captcha_token)
    }

    async fn solve(&self, challenge: CaptchaChallenge) -> Result<CaptchaToken, Error> {
        let Some(handler) = self.core().captcha.clone() else {
            return Err(Error::CaptchaRequired(Box::new(challenge)));
        };
        let token = challenge.token.clone();
        match handler.solve(challenge.clone()).await? {
            CaptchaAnswer::Text(key) => self.verify_captcha_data(&token, &key).await,
            CaptchaAnswer::Token(captcha_token) => {
                let token = CaptchaToken { captcha_token, expires_in: None };
                self.cache_captcha(&token);
                Ok(token)
            }
            CaptchaAnswer::Cancel => Err(Error::CaptchaRequired(Box::new(challenge))),
        }
    }

    fn cached_captcha(&self) -> Option<Secret> {
        let cache = self.inner.captcha_token.lock().unwrap_or_else(|e| e.into_inner());
        cache.as_ref().filter(|(_, until)| Instant::now() < *until).map(|(token, _)| token.clone())
    }

    fn cache_captcha(&self, token: &CaptchaToken) {
        // Keep it 10 s less than its life, as the official SDK does, so it never expires in flight.
        // A server lifetime is clamped (up to i64::MAX could arrive), never overflowing the deadline.
        let seconds = token.expires_in.unwrap_or(600).clamp(10, crate::core::session::MAX_LIFETIME_SECS) as u64;
        let life = Duration::from_secs(seconds - 10);
        let until = Instant::now().checked_add(life).unwrap_or_else(Instant::now);
        *self.inner.captcha_token.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((token.captcha_token.clone(), until));
    }
}
