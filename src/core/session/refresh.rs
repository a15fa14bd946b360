//! Changing the session: single-flight refresh run as a shared task (a caller that is dropped or times out
//! does not cancel it, so the rotated token is always kept), sign-in and sign-out, cached-user updates, and
//! adopting what another process sharing the store did.
//!
//! The rules that keep a session from being lost:
//! * a refresh token this client exchanged successfully is never sent again (`SessionEngine::is_spent`);
//! * a refused refresh token ends the session only when it is the session's current one;
//! * a failed store write keeps the session in memory, and memory stays the truth until a write succeeds;
//! * a reply without a `refresh_token` keeps the old one (RFC 6749 section 6);
//! * a refresh never attaches one user's profile to another user's tokens.
//!
//! What no client can recover: when the service rotated the refresh token but its reply was lost (the
//! connection dropped after the service processed the grant), the new token is gone. The session then keeps
//! its access token until it expires; the next refresh sends the old token again (the reply may equally
//! have been lost before the service saw the request) and, if the service refuses it, the user is signed
//! out with `SIGNED_OUT`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};

use super::{AuthChange, AuthEvent, Session, User};
use crate::core::Core;
use crate::core::transport::As;
use crate::raw::auth::types::{GrantType, TokenRequest, TokenResponse};
use crate::{Error, Secret};

/// A refresh in flight that any number of callers can wait for.
pub(crate) struct Flight {
    id: u64,
    future: Shared<BoxFuture<'static, Result<Arc<Session>, Error>>>,
}

static NEXT_FLIGHT: AtomicU64 = AtomicU64::new(1);

/// What a refresh does when it finds the tokens changed since the caller looked.
#[derive(Clone)]
pub(crate) enum Refresh {
    /// Use the newer tokens if they are still good (the automatic refresh: single flight).
    UnlessDone,
    /// Refresh anyway, from the newest tokens (`refresh_session(None)`).
    Force,
    /// Refresh with this refresh token (`refresh_session(Some(..))`).
    Explicit(Secret),
    /// Exchange this refresh token and sign in with the result, whoever it belongs to (`set_session`).
    Adopt(Secret),
}

impl Core {
    /// The session, refreshed first when it expires within the margin; `None` when nobody is signed in.
    pub(crate) async fn fresh_session(self: &Arc<Self>) -> Result<Option<Arc<Session>>, Error> {
        self.session.ensure_loaded().await?;
        let Some(current) = self.session.current() else { return Ok(None) };
        if !current.needs_refresh(self.session.margin) {
            return Ok(Some(current));
        }
        match self.refresh(Some(current), Refresh::UnlessDone).await {
            Ok(session) => Ok(Some(session)),
            Err(Error::NotSignedIn) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Refreshes after the service refused `seen`'s access token, unless someone already did.
    pub(crate) async fn refresh_after_rejection(self: &Arc<Self>, seen: &Arc<Session>) -> Result<Arc<Session>, Error> {
        self.refresh(Some(Arc::clone(seen)), Refresh::UnlessDone).await
    }

    /// Joins the refresh in flight (automatic refreshes) or waits for it and then starts one (forced and
    /// explicit ones, which must really exchange a token).
    pub(crate) async fn refresh(
        self: &Arc<Self>,
        seen: Option<Arc<Session>>,
        mode: Refresh,
    ) -> Result<Arc<Session>, Error> {
        self.session.ensure_loaded().await?;
        loop {
            let (future, ours) = {
                let mut flight = self.session.flight.lock().unwrap_or_else(|e| e.into_inner());
                match &*flight {
                    Some(running) => (running.future.clone(), matches!(mode, Refresh::UnlessDone)),
                    None => {
                        let future = self.start_flight(seen.clone(), mode.clone(), &mut flight);
                        (future, true)
                    }
                }
            };
            let result = future.await;
            if ours {
                return result;
            }
        }
    }

    /// Spawns the refresh as a task of its own; called with the flight slot locked, so the task cannot clear
    /// the slot before it is filled.
    fn start_flight(
        self: &Arc<Self>,
        seen: Option<Arc<Session>>,
        mode: Refresh,
        slot: &mut Option<Flight>,
    ) -> Shared<BoxFuture<'static, Result<Arc<Session>, Error>>> {
        let id = NEXT_FLIGHT.fetch_add(1, Ordering::Relaxed);
        let core = Arc::clone(self);
        let task = tokio::spawn(async move {
            let (result, events) = core.refresh_now(seen, mode).await;
            {
                let mut flight = core.session.flight.lock().unwrap_or_else(|e| e.into_inner());
                if flight.as_ref().is_some_and(|f| f.id == id) {
                    *flight = None;
                }
            }
            // Listeners hear about it once every lock is released, so a listener may call back in.
            for change in events {
                core.session.emit(change);
            }
            result
        });
        let future = async move { task.await.unwrap_or(Err(Error::Cancelled("the token refresh task was stopped"))) }
            .boxed()
            .shared();
        *slot = Some(Flight { id, future: future.clone() });
        future
    }

    async fn refresh_now(
        &self,
        seen: Option<Arc<Session>>,
        mode: Refresh,
    ) -> (Result<Arc<Session>, Error>, Vec<AuthChange>) {
        let engine = &self.session;
        let _writer = engine.writer.lock().await;
        let mut events = Vec::new();
        let margin = engine.margin;
        let usable = |s: &Session| seen.as_deref().is_none_or(|seen| !s.same_tokens(seen)) && !s.needs_refresh(margin);
        let mut current = engine.current();
        if let (Some(now), Refresh::UnlessDone) = (&current, &mode)
            && usable(now)
        {
            return (Ok(Arc::clone(now)), events);
        }
        let lock = match engine.store.lock().await {
            Ok(lock) => lock,
            Err(e) => {
                // Refreshing without the lock could spend a token another holder is spending. While the access
                // token still works, use it; the next call tries again.
                if let (Some(now), Refresh::UnlessDone) = (&current, &mode)
                    && !now.expires_within(Duration::ZERO)
                {
                    tracing::warn!(error = %e, "cannot lock the session store; using the unexpired session");
                    return (Ok(Arc::clone(now)), events);
                }
                return (Err(Error::storage(e)), events);
            }
        };
        if engine.store_is_current() {
            match self.adopt_stored(&current).await {
                Ok(Some((adopted, change))) => {
                    events.push(change);
                    current = adopted;
                }
                Ok(None) => {}
                Err(e) => return (Err(e), events),
            }
        }
        if matches!(mode, Refresh::UnlessDone | Refresh::Force) && current.is_none() {
            return (Err(Error::NotSignedIn), events);
        }
        if let (Some(now), Refresh::UnlessDone) = (&current, &mode)
            && usable(now)
        {
            return (Ok(Arc::clone(now)), events);
        }

        let (token, adopt) = match &mode {
            Refresh::Explicit(token) => (token.clone(), false),
            Refresh::Adopt(token) => (token.clone(), true),
            Refresh::UnlessDone | Refresh::Force => match current.as_ref().and_then(|c| c.refresh_token.clone()) {
                Some(token) => (token, false),
                None => return (Err(Error::NotSignedIn), events),
            },
        };
        if engine.is_spent(&token) {
            let reason = "this client already exchanged this refresh token; the session holds a newer one";
            return (Err(Error::invalid("refresh_token", reason)), events);
        }
        match self.grant_refresh(token.clone()).await {
            Ok(tokens) => {
                let mut session = Session::from_tokens(tokens, None);
                match session.refresh_token {
                    Some(_) => engine.mark_spent(token),
                    // RFC 6749 section 6: no new refresh token means the old one stays valid.
                    None => session.refresh_token = Some(token),
                }
                let subject = session.subject();
                let same_user = !adopt
                    && subject.is_some()
                    && current.as_ref().is_some_and(|c| c.subject() == subject && c.user.is_some());
                if same_user {
                    session.user = current.as_ref().and_then(|c| c.user.clone());
                } else {
                    // Whose tokens these are is only known by asking; the profile must match the tokens.
                    match self.fetch_user(&session).await {
                        Ok(user) => session.user = Some(user),
                        Err(e) => tracing::warn!(error = %e, "refreshed, but the profile could not be fetched"),
                    }
                }
                engine.persist(Some(&session), &lock).await;
                let session = Arc::new(session);
                engine.set_current(Some(Arc::clone(&session)));
                events.push(AuthChange::new(AuthEvent::TokenRefreshed, Some((*session).clone())));
                if !same_user && (adopt || current.as_ref().is_none_or(|c| c.subject() != session.subject())) {
                    events.push(AuthChange::new(AuthEvent::SignedIn, Some((*session).clone())));
                }
                (Ok(session), events)
            }
            Err(e) if e.is_refresh_rejected() => {
                // Only the session's own refresh token being refused ends it: a stale token someone passed in
                // (or one another process already rotated) says nothing about the newer one.
                let is_current = current.as_ref().and_then(|c| c.refresh_token.as_ref()) == Some(&token);
                if is_current && !adopt {
                    tracing::info!(code = ?e.code(), "refresh token refused; signing out");
                    engine.persist(None, &lock).await;
                    engine.set_current(None);
                    events.push(AuthChange::new(AuthEvent::SignedOut, None));
                } else {
                    tracing::info!(code = ?e.code(), "a refresh token that is not the session's was refused");
                }
                (Err(e), events)
            }
            // A network failure, a timeout, a 5xx: the session stays, the caller may try again.
            Err(e) => (Err(e), events),
        }
    }

    /// Takes what another process sharing the store did since this one last looked: newer tokens
    /// (`TOKEN_REFRESHED`, or `SIGNED_IN` for another user) or a sign-out (`SIGNED_OUT`). Runs under the
    /// writer and the store lock.
    async fn adopt_stored(
        &self,
        current: &Option<Arc<Session>>,
    ) -> Result<Option<(Option<Arc<Session>>, AuthChange)>, Error> {
        let engine = &self.session;
        let stored = engine.read_stored().await?;
        let adopted = match (stored, current) {
            (Some(stored), Some(now)) if stored.same_tokens(now) => return Ok(None),
            // A copy older than ours (a write of ours was lost): never go back to a spent token.
            (Some(stored), _) if stored.refresh_token.as_ref().is_some_and(|t| engine.is_spent(t)) => return Ok(None),
            (Some(stored), now) => {
                let event = match now {
                    Some(now) if now.subject() == stored.subject() => AuthEvent::TokenRefreshed,
                    _ => AuthEvent::SignedIn,
                };
                tracing::debug!(event = %event, "adopting the session another holder of the store wrote");
                let stored = Arc::new(stored);
                (Some(stored), event)
            }
            (None, Some(_)) => {
                tracing::debug!("another holder of the store signed out");
                (None, AuthEvent::SignedOut)
            }
            (None, None) => return Ok(None),
        };
        let (session, event) = adopted;
        engine.set_current(session.clone());
        Ok(Some((session.clone(), AuthChange::new(event, session.as_deref().cloned()))))
    }

    async fn grant_refresh(&self, refresh_token: Secret) -> Result<TokenResponse, Error> {
        let body = TokenRequest {
            grant_type: GrantType::RefreshToken,
            client_id: Some(self.client_id.clone()),
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
        let send = |c: crate::raw::auth::Client| {
            let body = &body;
            async move { c.grant_token(body).await }
        };
        self.send("grant_token", &As::Client, None, &send).await.result
    }

    /// The profile of whoever `session`'s access token belongs to.
    pub(crate) async fn fetch_user(&self, session: &Session) -> Result<User, Error> {
        let send = |c: crate::raw::auth::Client| async move { c.get_user_me().await };
        let profile = self.send("get_user_me", &As::User(session.access_token.clone()), None, &send).await.result?;
        Ok(User::from_profile(profile, session.scope.as_deref()))
    }

    /// Replaces the session (sign-in, sign-out): persisted before anyone sees it, then listeners are told.
    /// A store that cannot be written keeps the new state in memory (see `SessionEngine::persist`).
    pub(crate) async fn replace_session(&self, session: Option<Session>, events: &[AuthEvent]) -> Result<(), Error> {
        let engine = &self.session;
        engine.ensure_loaded().await?;
        let session = session.map(Arc::new);
        {
            let _writer = engine.writer.lock().await;
            match engine.lock_store().await {
                Some(lock) => engine.persist(session.as_deref(), &lock).await,
                None => engine.mark_unpersisted(),
            }
            engine.set_current(session.clone());
        }
        for event in events {
            engine.emit(AuthChange::new(*event, session.as_deref().cloned()));
        }
        Ok(())
    }

    /// Signs in with tokens from any grant: fetches the user (as the official SDKs' createLoginState does),
    /// stores the session and emits `SIGNED_IN`. The grant is spent once it answered, so a failed profile
    /// fetch keeps the session (without its user; `get_user` fills it in later).
    pub(crate) async fn establish(&self, tokens: TokenResponse) -> Result<Session, Error> {
        let mut session = Session::from_tokens(tokens, None);
        match self.fetch_user(&session).await {
            Ok(user) => session.user = Some(user),
            Err(e) => {
                tracing::warn!(error = %e, "signed in, but the profile could not be fetched; keeping the session")
            }
        }
        self.replace_session(Some(session.clone()), &[AuthEvent::SignedIn]).await?;
        Ok(session)
    }

    /// Stores a freshly fetched user in the session, unless the session changed hands since `fetched_with`
    /// fetched it. An unchanged user costs a comparison: no lock, no write.
    pub(crate) async fn update_cached_user(
        &self,
        fetched_with: &Session,
        user: User,
        event: Option<AuthEvent>,
    ) -> Result<(), Error> {
        let engine = &self.session;
        let unchanged = |now: &Session| event.is_none() && now.user.as_ref() == Some(&user);
        if engine.current().is_some_and(|now| now.same_tokens(fetched_with) && unchanged(&now)) {
            return Ok(());
        }
        let mut changes = Vec::new();
        {
            let _writer = engine.writer.lock().await;
            let Some(now) = engine.current() else { return Ok(()) };
            if !now.same_tokens(fetched_with) && now.subject().as_deref() != Some(user.id.as_str()) {
                tracing::debug!("the session changed hands while its user was fetched; not attaching the profile");
                return Ok(());
            }
            if unchanged(&now) {
                return Ok(());
            }
            let mut session = (*now).clone();
            let lock = engine.lock_store().await;
            if let Some(lock) = &lock {
                if engine.store_is_current() {
                    match self.adopt_stored(&Some(now)).await? {
                        Some((Some(adopted), change)) => {
                            session = (*adopted).clone();
                            changes.push(change);
                        }
                        Some((None, change)) => {
                            // Signed out elsewhere meanwhile: there is no session to attach the user to.
                            drop(_writer);
                            engine.emit(change);
                            return Ok(());
                        }
                        None => {}
                    }
                }
                session.user = Some(user);
                engine.persist(Some(&session), lock).await;
            } else {
                session.user = Some(user);
                engine.mark_unpersisted();
            }
            let session = Arc::new(session);
            engine.set_current(Some(Arc::clone(&session)));
            if let Some(event) = event {
                changes.push(AuthChange::new(event, Some((*session).clone())));
            }
        }
        for change in changes {
            engine.emit(change);
        }
        Ok(())
    }
}
