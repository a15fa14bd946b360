//! The session: loading and persisting it, single-flight refresh (in this process and, through the store's
//! lock, across processes), and the session methods (`get_session`, `refresh_session`, `set_session`,
//! `sign_out`, `on_auth_state_change`, `get_claims`).

use std::future::Future;
use std::sync::Arc;

use super::Auth;
use super::call::{As, Captcha};
use super::params::{SignOutOptions, SignOutResult};
use crate::events::{AuthChange, AuthEvent, AuthStateChanges, Subscription};
use crate::raw::auth::types::{GrantType, RevokeRequest, SignOutRequest, TokenRequest, TokenResponse};
use crate::store::{SessionStore, StoreLock};
use crate::{Claims, Error, Secret, Session, User};

fn same_profile(a: &User, b: &User) -> bool {
    // The generated profile type has no PartialEq (it may hold any JSON); compare what the service sent.
    a.is_anonymous == b.is_anonymous
        && serde_json::to_value(&a.profile).ok().is_some_and(|v| serde_json::to_value(&b.profile).ok() == Some(v))
}

/// What a refresh does when it finds that the tokens changed since the caller looked.
enum Refresh {
    /// Use the newer tokens if they are still good (the automatic refresh: single flight).
    UnlessDone,
    /// Refresh anyway, from the newest tokens (`refresh_session(None)`).
    Force,
    /// Refresh with this refresh token (`refresh_session(Some(..))`).
    Explicit(Secret),
}

pub(crate) fn load_session(store: &dyn SessionStore, key: &str) -> Result<Option<Session>, Error> {
    let Some(text) = store.get(key).map_err(|e| Error::Storage(e.0))? else {
        return Ok(None);
    };
    match serde_json::from_str::<Session>(text.expose_secret()) {
        Ok(session) => Ok(Some(session)),
        Err(e) => {
            // An unreadable session is no session; the error names the position only (it may hold tokens).
            tracing::warn!(line = e.line(), column = e.column(), "ignoring an unreadable stored session");
            Ok(None)
        }
    }
}

impl Auth {
    /// The session in memory, as it is.
    pub(crate) fn current(&self) -> Option<Session> {
        self.inner.session.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_current(&self, session: Option<Session>) {
        *self.inner.session.write().unwrap_or_else(|e| e.into_inner()) = session;
    }

    fn store(&self) -> &dyn SessionStore {
        &*self.inner.config.store
    }

    fn persist(&self, session: Option<&Session>) -> Result<(), Error> {
        let result = match session {
            Some(s) => {
                let json = serde_json::to_string(s).map_err(|e| Error::Storage(e.to_string()))?;
                self.store().set(&self.inner.session_key, Secret::new(json))
            }
            None => self.store().remove(&self.inner.session_key),
        };
        result.map_err(|e| Error::Storage(e.0))
    }

    /// Takes the store's cross-process lock on a blocking thread (it may wait for another process).
    async fn lock_store(&self) -> Result<StoreLock, Error> {
        let store = Arc::clone(&self.inner.config.store);
        tokio::task::spawn_blocking(move || store.lock())
            .await
            .map_err(|e| Error::Storage(format!("lock task failed: {e}")))?
            .map_err(|e| Error::Storage(e.0))
    }

    pub(crate) fn emit(&self, event: AuthEvent, session: Option<Session>) {
        self.emit_change(AuthChange::new(event, session));
    }

    pub(crate) fn emit_change(&self, change: AuthChange) {
        // No receiver is fine: nobody listens.
        let _ = self.inner.events.send(change);
    }

    /// Replaces the session (sign-in, sign-out), persisting before anyone can see it, then tells listeners.
    /// Runs under the refresh lock so that a refresh in flight cannot overwrite it.
    pub(crate) async fn replace_session(&self, session: Option<Session>, events: &[AuthEvent]) -> Result<(), Error> {
        {
            let _flight = self.inner.refresh_lock.lock().await;
            let _store_lock = self.lock_store().await?;
            self.persist(session.as_ref())?;
            self.set_current(session.clone());
        }
        for event in events {
            self.emit(*event, session.clone());
        }
        Ok(())
    }

    /// Stores a freshly fetched user in the session. Under both locks, and on top of the newest stored
    /// tokens, so that neither a refresh in this process nor one in another process is ever undone. An
    /// unchanged user is not written again (`get_user` is called often).
    pub(crate) async fn update_cached_user(
        &self,
        user: User,
        event: Option<AuthEvent>,
    ) -> Result<Option<Session>, Error> {
        let updated = {
            let _flight = self.inner.refresh_lock.lock().await;
            let Some(mut session) = self.current() else { return Ok(None) };
            if event.is_none() && session.user.as_ref().is_some_and(|old| same_profile(old, &user)) {
                return Ok(Some(session));
            }
            let _store_lock = self.lock_store().await?;
            if let Some(stored) = load_session(self.store(), &self.inner.session_key)?
                && !stored.same_refresh_token(&session)
            {
                session = stored;
            }
            session.user = Some(user);
            self.persist(Some(&session))?;
            self.set_current(Some(session.clone()));
            session
        };
        if let Some(event) = event {
            self.emit(event, Some(updated.clone()));
        }
        Ok(Some(updated))
    }

    /// Signs in with tokens from any grant: fetches the user (`/user/me`, as the official SDKs'
    /// createLoginState does), stores the session and emits `SIGNED_IN`.
    pub(crate) async fn establish(&self, tokens: TokenResponse) -> Result<Session, Error> {
        let mut session = Session::from_tokens(tokens, None);
        let profile = self.call_with_session("get_user_me", &session, |c| async move { c.get_user_me().await }).await?;
        session.user = Some(User::from_profile(profile, session.scope.as_deref()));
        self.replace_session(Some(session.clone()), &[AuthEvent::SignedIn]).await?;
        Ok(session)
    }

    /// Runs a grant that answers tokens (a sign-in or sign-up call) and signs in with them.
    pub(crate) async fn grant<F, Fut>(&self, operation: &'static str, send: F) -> Result<Session, Error>
    where
        F: Fn(crate::raw::auth::Client) -> Fut,
        Fut: Future<Output = super::call::RawResult<TokenResponse>>,
    {
        let tokens = self.call(operation, As::Client, Captcha::Solve, send).await?;
        self.establish(tokens).await
    }

    /// The session, refreshed first if it expires within the margin.
    pub(crate) async fn fresh_session(&self) -> Result<Session, Error> {
        let current = self.current().ok_or(Error::NotSignedIn)?;
        if !current.needs_refresh(self.inner.config.refresh_margin) {
            return Ok(current);
        }
        self.refresh_from(&current, Refresh::UnlessDone).await
    }

    /// Refreshes after the service refused `seen`'s access token, unless someone already did.
    pub(crate) async fn refresh_after_rejection(&self, seen: &Session) -> Result<Session, Error> {
        self.refresh_from(seen, Refresh::UnlessDone).await
    }

    /// Single flight: every caller waits on one lock; the first refreshes, the others find the new session.
    async fn refresh_from(&self, seen: &Session, mode: Refresh) -> Result<Session, Error> {
        let (result, event) = {
            let _flight = self.inner.refresh_lock.lock().await;
            self.refresh_locked(seen, mode).await
        };
        // Listeners hear about it only once every lock is released, so a listener may call back in.
        if let Some((event, session)) = event {
            self.emit(event, session);
        }
        result
    }

    async fn refresh_locked(
        &self,
        seen: &Session,
        mode: Refresh,
    ) -> (Result<Session, Error>, Option<(AuthEvent, Option<Session>)>) {
        let margin = self.inner.config.refresh_margin;
        // Someone rotated the tokens since `seen` was read, and the result is still good: use it.
        let done = |s: &Session| !s.same_refresh_token(seen) && !s.needs_refresh(margin);
        let current = self.current();
        match (&current, &mode) {
            (Some(now), Refresh::UnlessDone) if done(now) => return (Ok(now.clone()), None),
            (None, Refresh::UnlessDone | Refresh::Force) => return (Err(Error::NotSignedIn), None),
            _ => {}
        }
        let _store_lock = match self.lock_store().await {
            Ok(lock) => lock,
            Err(e) => return (Err(e), None),
        };
        // Another process sharing the store may have refreshed (or signed out) meanwhile.
        let stored = match load_session(self.store(), &self.inner.session_key) {
            Ok(stored) => stored,
            Err(e) => return (Err(e), None),
        };
        let explicit = match mode {
            Refresh::Explicit(token) => Some(token),
            Refresh::UnlessDone | Refresh::Force => match &stored {
                Some(s) if matches!(mode, Refresh::UnlessDone) && done(s) => {
                    self.set_current(stored.clone());
                    return (Ok(s.clone()), None);
                }
                // The store lost the session while this process holds one: another process signed out.
                None => {
                    self.set_current(None);
                    return (Err(Error::NotSignedIn), Some((AuthEvent::SignedOut, None)));
                }
                Some(_) => None,
            },
        };
        // Refresh from the newest tokens anyone has: the store's, else ours. Never from a stale copy.
        let base = stored.or(current).unwrap_or_else(|| seen.clone());
        let Some(refresh_token) = explicit.or_else(|| base.refresh_token.clone()) else {
            return (Err(Error::NotSignedIn), None);
        };
        match self.grant_refresh(refresh_token).await {
            Ok(tokens) => {
                let session = Session::from_tokens(tokens, base.user.clone());
                // The rotated refresh token is on disk before anyone uses the new access token.
                let persisted = self.persist(Some(&session));
                self.set_current(Some(session.clone()));
                match persisted {
                    Ok(()) => (Ok(session.clone()), Some((AuthEvent::TokenRefreshed, Some(session)))),
                    Err(e) => (Err(e), Some((AuthEvent::TokenRefreshed, Some(session)))),
                }
            }
            Err(e) if e.is_refresh_rejected() => {
                tracing::info!(code = ?e.code(), "refresh token refused; signing out");
                let cleared = self.persist(None);
                self.set_current(None);
                (Err(cleared.err().unwrap_or(e)), Some((AuthEvent::SignedOut, None)))
            }
            // A network failure, a timeout, a 5xx: the session stays, the caller may try again.
            Err(e) => (Err(e), None),
        }
    }

    async fn grant_refresh(&self, refresh_token: Secret) -> Result<TokenResponse, Error> {
        let body = TokenRequest {
            grant_type: GrantType::RefreshToken,
            client_id: Some(self.inner.config.client_id.clone()),
            client_secret: Some(Secret::new("")),
            refresh_token: Some(refresh_token),
            code: None,
            code_verifier: None,
            device_code: None,
            nonce: None,
            password: None,
            redirect_uri: None,
            scope: None,
            username: None,
        };
        self.call("grant_token", As::Client, Captcha::Never, |c| {
            let body = &body;
            async move { c.grant_token(body).await }
        })
        .await
    }

    /// The current session, refreshed first when its access token expires within the refresh margin;
    /// `None` when nobody is signed in (a publishable key alone is no session).
    ///
    /// Any number of concurrent callers cause at most one token request.
    pub async fn get_session(&self) -> Result<Option<Session>, Error> {
        match self.fresh_session().await {
            Ok(session) => Ok(Some(session)),
            Err(Error::NotSignedIn) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Refreshes the tokens now, with `refresh_token` or the stored one. Emits `TOKEN_REFRESHED`. A refused
    /// refresh token signs the user out (`SIGNED_OUT`).
    pub async fn refresh_session(&self, refresh_token: Option<Secret>) -> Result<Session, Error> {
        let explicit = refresh_token.map(|t| crate::validate::non_empty_secret("refresh_token", t)).transpose()?;
        let seen = match (self.current(), &explicit) {
            (Some(s), _) => s,
            (None, Some(token)) => Session {
                access_token: Secret::new(""),
                refresh_token: Some(token.clone()),
                token_type: "Bearer".to_owned(),
                expires_in: 0,
                expires_at: 0,
                scope: None,
                user: None,
            },
            (None, None) => return Err(Error::NotSignedIn),
        };
        let mode = match explicit {
            Some(token) => Refresh::Explicit(token),
            None => Refresh::Force,
        };
        self.refresh_from(&seen, mode).await
    }

    /// Adopts a session from elsewhere (e.g. tokens handed over by a web view). As the official SDKs do, the
    /// access token is not used: the refresh token is exchanged for a fresh pair. Emits `TOKEN_REFRESHED`
    /// then `SIGNED_IN`.
    pub async fn set_session(
        &self,
        access_token: impl Into<Secret>,
        refresh_token: impl Into<Secret>,
    ) -> Result<Session, Error> {
        crate::validate::non_empty_secret("access_token", access_token.into())?;
        let refresh_token = crate::validate::non_empty_secret("refresh_token", refresh_token.into())?;
        let tokens = self.grant_refresh(refresh_token).await?;
        let user = self.current().and_then(|s| s.user);
        let session = Session::from_tokens(tokens, user);
        self.replace_session(Some(session.clone()), &[AuthEvent::TokenRefreshed, AuthEvent::SignedIn]).await?;
        Ok(session)
    }

    /// Signs out: revokes the session's tokens on the service, then forgets the session and emits
    /// `SIGNED_OUT`. If the service cannot be reached the session is kept and the error returned; if the
    /// service says the token is already invalid, the session is forgotten anyway.
    pub async fn sign_out(&self) -> Result<SignOutResult, Error> {
        self.sign_out_with(SignOutOptions::default()).await
    }

    /// [`sign_out`](Self::sign_out) with a sign-out redirect (`POST /auth/v1/user/signout`): the result
    /// carries the provider's sign-out URL when one is configured.
    pub async fn sign_out_with(&self, options: SignOutOptions) -> Result<SignOutResult, Error> {
        let session = self.current().ok_or(Error::NotSignedIn)?;
        let mut result = SignOutResult::default();
        if options.redirect_uri.is_some() || options.state.is_some() {
            let body = SignOutRequest { redirect_uri: options.redirect_uri, state: options.state };
            // As in the official SDKs, a failed user/signout does not keep anyone signed in.
            match self
                .call_with_session("sign_out_user", &session, |c| {
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
    /// may call back into the SDK.
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
        let receiver = self.inner.events.subscribe();
        AuthStateChanges::new(AuthChange::new(AuthEvent::InitialSession, self.current()), receiver)
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
