//! Auth state events, delivered as a `Stream` or to a callback.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::Session;

/// How many events a subscriber may fall behind before it skips ahead (and is told so with
/// [`AuthEvent::Lagged`]).
pub(crate) const EVENT_BUFFER: usize = 64;

/// What happened to the auth state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthEvent {
    /// The first event of every subscription: the session as it is when you subscribe (maybe none).
    InitialSession,
    /// A user signed in.
    SignedIn,
    /// The user signed out, or the session was revoked (its refresh token was refused).
    SignedOut,
    /// The tokens were refreshed.
    TokenRefreshed,
    /// The profile changed.
    UserUpdated,
    /// A password was reset through `reset_password_for_email`.
    PasswordRecovery,
    /// A third-party identity was bound (`verify_oauth` of a `link_identity` flow).
    BindIdentity,
    /// This subscriber fell more than 64 events behind and [`AuthChange::missed`] events were dropped; the
    /// change carries the session as it is now. Treat it like `INITIAL_SESSION`: a `SIGNED_OUT` may be
    /// among the missed events. (Not an event of the other SDKs, which never drop events.)
    Lagged,
}

impl AuthEvent {
    /// The name the Flutter and JS SDKs use (`SIGNED_IN`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthEvent::InitialSession => "INITIAL_SESSION",
            AuthEvent::SignedIn => "SIGNED_IN",
            AuthEvent::SignedOut => "SIGNED_OUT",
            AuthEvent::TokenRefreshed => "TOKEN_REFRESHED",
            AuthEvent::UserUpdated => "USER_UPDATED",
            AuthEvent::PasswordRecovery => "PASSWORD_RECOVERY",
            AuthEvent::BindIdentity => "BIND_IDENTITY",
            AuthEvent::Lagged => "LAGGED",
        }
    }
}

impl std::fmt::Display for AuthEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event with the session after it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthChange {
    /// What happened.
    pub event: AuthEvent,
    /// The session after the event (`None` after `SignedOut`).
    pub session: Option<Session>,
    /// For `BindIdentity`: the provider that was bound.
    pub provider: Option<String>,
    /// For `Lagged`: how many events this subscriber missed.
    pub missed: u64,
}

impl AuthChange {
    pub(crate) fn new(event: AuthEvent, session: Option<Session>) -> Self {
        AuthChange { event, session, provider: None, missed: 0 }
    }
}

/// Reads the session as it is now, for the change that follows a lag.
pub(crate) type CurrentSession = Box<dyn Fn() -> Option<Session> + Send + Sync>;

/// The stream returned by [`Auth::on_auth_state_change`](crate::Auth::on_auth_state_change). Dropping it
/// unsubscribes. A subscriber that falls more than 64 events behind skips the oldest ones and then gets
/// one [`AuthEvent::Lagged`] change carrying the current session, so it never misses a sign-out silently.
pub struct AuthStateChanges {
    first: Option<futures::future::BoxFuture<'static, AuthChange>>,
    rest: BroadcastStream<AuthChange>,
    current: CurrentSession,
}

impl AuthStateChanges {
    pub(crate) fn new(
        initial: futures::future::BoxFuture<'static, AuthChange>,
        receiver: broadcast::Receiver<AuthChange>,
        current: CurrentSession,
    ) -> Self {
        AuthStateChanges { first: Some(initial), rest: BroadcastStream::new(receiver), current }
    }
}

impl Stream for AuthStateChanges {
    type Item = AuthChange;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AuthChange>> {
        if let Some(first) = self.first.as_mut() {
            let change = std::task::ready!(first.as_mut().poll(cx));
            self.first = None;
            return Poll::Ready(Some(change));
        }
        match Pin::new(&mut self.rest).poll_next(cx) {
            Poll::Ready(Some(Ok(change))) => Poll::Ready(Some(change)),
            Poll::Ready(Some(Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(missed)))) => {
                let mut change = AuthChange::new(AuthEvent::Lagged, (self.current)());
                change.missed = missed;
                Poll::Ready(Some(change))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl std::fmt::Debug for AuthStateChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthStateChanges")
    }
}

/// A callback subscription from [`Auth::on_auth_state_change_with`](crate::Auth::on_auth_state_change_with).
/// Call [`Subscription::unsubscribe`], or drop it, to stop the callbacks.
#[must_use = "dropping the subscription unsubscribes"]
#[derive(Debug)]
pub struct Subscription {
    id: uuid::Uuid,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    pub(crate) fn new(task: tokio::task::JoinHandle<()>) -> Self {
        Subscription { id: uuid::Uuid::new_v4(), task }
    }

    /// A unique id for this subscription.
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }

    /// Stops the callbacks. No callback runs after this returns.
    pub fn unsubscribe(self) {
        self.task.abort();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}
