//! The session methods of the facade (`get_session`, `refresh_session`, `set_session`, `sign_out`,
//! `on_auth_state_change`, `get_claims`) over the core's session engine.

use std::future::Future;
use std::sync::Arc;

use super::Auth;
use super::call::{As, Captcha};
use super::params::{SignOutOptions, SignOutResult};
use crate::core::session::refresh::Refresh;
use crate::events::{AuthChange, AuthEvent, AuthStateChanges, Subscription};
use crate::raw::auth::types::{RevokeRequest, SignOutRequest, TokenResponse};
use crate::{Claims, Error, Secret, Session};

impl Auth {
    /// The session in memory, as it is (loaded from the store on first use by any call).
    pub(crate) fn current(&self) -> Option<Session> {
        self.core().session.current().map(|s| (*s).clone())
    }

    pub(crate) fn emit(&self, event: AuthEvent, session: Option<Session>) {
        self.emit_change(AuthChange::new(event, session));
    }

    pub(crate) fn emit_change(&self, change: AuthChange) {
        self.core().session.emit(change);
    }

    /// Replaces the session (sign-in, sign-out) and tells listeners.
    pub(crate) async fn replace_session(&self, session: Option<Session>, events: &[AuthEvent]) -> Result<(), Error> {
        self.core().replace_session(session, events).await
    }

    /// Runs a grant that answers tokens (a sign-in or sign-up call) and signs in with them.
    pub(crate) async fn grant<F, Fut>(&self, operation: &'static str, send: F) -> Result<Session, Error>
    where
        F: Fn(crate::raw::auth::Client) -> Fut,
        Fut: Future<Output = super::call::RawResult<TokenResponse>>,
    {
        let tokens = self.call(operation, As::Client, Captcha::Solve, send).await?;
        self.core().establish(tokens).await
    }

    /// The session, refreshed first if it expires within the margin.
    pub(crate) async fn fresh_session(&self) -> Result<Arc<Session>, Error> {
        self.core().fresh_session().await?.ok_or(Error::NotSignedIn)
    }

    /// The current session, refreshed first when its access token expires within the refresh margin;
    /// `None` when nobody is signed in (a publishable key alone is no session).
    ///
    /// Any number of concurrent callers cause at most one token request, and the refresh finishes even if
    /// every caller gives up waiting (it runs as a task of its own), so a rotated token is never lost.
    pub async fn get_session(&self) -> Result<Option<Session>, Error> {
        Ok(self.core().fresh_session().await?.map(|s| (*s).clone()))
    }

    /// Refreshes the tokens now, with `refresh_token` or the session's own. Emits `TOKEN_REFRESHED` (and
    /// `SIGNED_IN` when the token belongs to another user than the session's).
    ///
    /// A refused refresh token signs the user out (`SIGNED_OUT`) only when it is the session's current one:
    /// an old token (rotated since, here or by another process sharing the store) is refused without
    /// touching the session. A token this client already exchanged is never sent again:
    /// [`Error::InvalidInput`] before any request.
    pub async fn refresh_session(&self, refresh_token: Option<Secret>) -> Result<Session, Error> {
        let explicit = refresh_token.map(|t| crate::validate::non_empty_secret("refresh_token", t)).transpose()?;
        let core = self.core();
        core.session.ensure_loaded().await?;
        let seen = core.session.current();
        if seen.is_none() && explicit.is_none() {
            return Err(Error::NotSignedIn);
        }
        let mode = match explicit {
            Some(token) => Refresh::Explicit(token),
            None => Refresh::Force,
        };
        Ok((*core.refresh(seen, mode).await?).clone())
    }

    /// Adopts a session from elsewhere (e.g. tokens handed over by a web view). As the official SDKs do, the
    /// access token is not used: the refresh token is exchanged for a fresh pair, and the user is fetched
    /// with it (the session's user always matches its tokens). Emits `TOKEN_REFRESHED` then `SIGNED_IN`.
    pub async fn set_session(
        &self,
        access_token: impl Into<Secret>,
        refresh_token: impl Into<Secret>,
    ) -> Result<Session, Error> {
        crate::validate::non_empty_secret("access_token", access_token.into())?;
        let refresh_token = crate::validate::non_empty_secret("refresh_token", refresh_token.into())?;
        let core = self.core();
        let seen = core.session.current();
        Ok((*core.refresh(seen, Refresh::Adopt(refresh_token)).await?).clone())
    }

    /// Signs out: revokes the session's tokens on the service, then forgets the session and emits
    /// `SIGNED_OUT`. If the service cannot be reached the session is kept and the error returned; if the
    /// service says the token is already invalid, the session is forgotten anyway.
    pub async fn sign_out(&self) -> Result<SignOutResult, Error> {
        self.sign_out_with(SignOutOptions::default()).await
    }

    /// [`sign_out`](Self::sign_out) with a sign-out redirect (`POST /auth/v1/user/signout`): the result
    /// carries the provider's sign-out URL when one is configured. An expired access token is refreshed
    /// first, so the service's session really ends.
    pub async fn sign_out_with(&self, options: SignOutOptions) -> Result<SignOutResult, Error> {
        let session = match self.core().fresh_session().await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(Error::NotSignedIn),
            // Unreachable service or store: revoking cannot work either; say so, keep the session.
            Err(e) => return Err(e),
        };
        let mut result = SignOutResult::default();
        if options.redirect_uri.is_some() || options.state.is_some() {
            let body = SignOutRequest { redirect_uri: options.redirect_uri, state: options.state };
            // As in the official SDKs, a failed user/signout does not keep anyone signed in.
            match self
                .call_as_user("sign_out_user", |c| {
                    let body = &body;
                    async move { c.sign_out_user(body).await }
                })
                .await
            {
                Ok(response) => result.redirect_uri = response.redirect_uri,
                Err(e) => tracing::debug!(error = %e, "user/signout failed; signing out locally"),
            }
        } else {
            let body = RevokeRequest { token: Some(session.access_token.clone()) };
            match self
                .call("revoke_token", As::Client, Captcha::Never, |c| {
                    let body = &body;
                    async move { c.revoke_token(body).await }
                })
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_token_rejected() || e.is_refresh_rejected() => {}
                Err(e) => return Err(e),
            }
        }
        self.replace_session(None, &[AuthEvent::SignedOut]).await?;
        Ok(result)
    }

    /// Auth events as a `Stream`: first `INITIAL_SESSION` with the current session, then every change.
    /// Dropping the stream unsubscribes. Events are sent after the SDK's locks are released, so a consumer
    /// may call back into the SDK. A consumer more than 64 events behind gets [`AuthEvent::Lagged`] with the
    /// current session instead of the events it missed.
    /// `INITIAL_SESSION` carries the stored session of an earlier run too (the store is read, if no call
    /// did so yet, when the stream is first polled).
    ///
    /// ```no_run
    /// # async fn demo(auth: cloudbase::Auth) {
    /// use futures::StreamExt;
    /// let mut changes = auth.on_auth_state_change();
    /// while let Some(change) = changes.next().await {
    ///     println!("{} {:?}", change.event, change.session.as_ref().map(|s| s.expires_at));
    /// }
    /// # }
    /// ```
    pub fn on_auth_state_change(&self) -> AuthStateChanges {
        // Subscribe before reading the session: nothing between the two can be missed.
        let receiver = self.core().session.subscribe();
        let core = Arc::clone(self.core());
        let initial = {
            let core = Arc::clone(&core);
            async move {
                if let Err(e) = core.session.ensure_loaded().await {
                    tracing::warn!(error = %e, "cannot read the session store; INITIAL_SESSION shows no session");
                }
                AuthChange::new(AuthEvent::InitialSession, core.session.current().map(|s| (*s).clone()))
            }
        };
        AuthStateChanges::new(
            Box::pin(initial),
            receiver,
            Box::new(move || core.session.current().map(|s| (*s).clone())),
        )
    }

    /// The callback form of [`on_auth_state_change`](Self::on_auth_state_change), as in the Flutter SDK. The
    /// callback runs on a Tokio task, one event at a time; the returned future is awaited before the next.
    /// Must be called inside a Tokio runtime.
    pub fn on_auth_state_change_with<F, Fut>(&self, mut callback: F) -> Subscription
    where
        F: FnMut(AuthChange) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        use futures::StreamExt as _;
        let mut changes = self.on_auth_state_change();
        Subscription::new(tokio::spawn(async move {
            while let Some(change) = changes.next().await {
                callback(change).await;
            }
        }))
    }

    /// The access token's claims, decoded locally (refreshing first if the token is about to expire).
    pub async fn get_claims(&self) -> Result<Claims, Error> {
        let session = self.fresh_session().await?;
        Claims::decode(session.access_token.expose_secret())
    }
}
