//! The auth client: the Flutter SDK's auth methods in snake_case, over the generated raw client.
//!
//! Files by job: `call` sends one raw call (credentials, captcha retry, error mapping), `state` holds and
//! refreshes the session, `signin`, `user`, `oauth` and `captcha` hold the public methods, `pending` the
//! handles of flows that wait for a person, `params` their inputs.

mod call;
mod captcha;
mod oauth;
mod params;
mod pending;
mod signin;
mod state;
mod user;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::broadcast;

use crate::config::AppConfig;
use crate::events::AuthChange;
use crate::raw::Context;
use crate::{Error, Secret, Session};

pub use oauth::{LoopbackOptions, OAuthCallback, OAuthKind, OAuthOptions, OAuthOutcome, OAuthRequest};
pub use params::{
    Contact, Gender, GetVerification, OtpType, ResendType, SignInWithOtp, SignInWithPassword, SignOutOptions,
    SignOutResult, SignUp, UpdateUser, Verification, VerificationTarget, VerificationToken, VerifyOtp,
};
pub use pending::{PendingOtp, PendingPasswordReset, PendingReauthentication, PendingUserUpdate, UserUpdate};

/// The store key of the device id (the official SDKs' key).
const DEVICE_ID_KEY: &str = "device_id";

/// The auth client of a [`CloudBase`](crate::CloudBase) app: sign-in, sessions, users, events.
///
/// Cheap to clone (`Arc` inside), `Send + Sync`; clones share the session. Methods keep the Flutter SDK's
/// names in snake_case; flows that wait for a person return a handle that can only move forward:
///
/// ```no_run
/// # async fn demo(app: cloudbase::CloudBase) -> Result<(), cloudbase::Error> {
/// use cloudbase::SignInWithOtp;
/// let auth = app.auth();
/// let pending = auth.sign_in_with_otp(SignInWithOtp::email("someone@example.com")).await?;
/// let code = "123456"; // what the user received
/// let session = pending.verify(code).await?;
/// println!("{:?}", session.user);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Auth {
    pub(crate) inner: Arc<AuthInner>,
}

pub(crate) struct AuthInner {
    pub config: Arc<AppConfig>,
    /// Settings shared by every call; each call takes a fresh copy.
    pub base_context: Context,
    pub session_key: String,
    pub session: RwLock<Option<Session>>,
    /// Held while tokens are refreshed or the session replaced: one refresh at a time in this process.
    pub refresh_lock: tokio::sync::Mutex<()>,
    pub events: broadcast::Sender<AuthChange>,
    pub captcha_token: Mutex<Option<(Secret, std::time::Instant)>>,
    pub oauth_states: Mutex<HashMap<String, oauth::OAuthState>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed_in = self.inner.session.read().map(|s| s.is_some()).unwrap_or(false);
        f.debug_struct("Auth")
            .field("env", &self.inner.config.env)
            .field("client_id", &self.inner.config.client_id)
            .field("signed_in", &signed_in)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn new(config: Arc<AppConfig>) -> Result<Self, Error> {
        let store = &config.store;
        let device_id = match store.get(DEVICE_ID_KEY).map_err(|e| Error::Storage(e.0))? {
            // The official SDKs regenerate ids outside 16..48 chars; the service rejects 72 and more.
            Some(id) if (16..=48).contains(&id.expose_secret().len()) => id.expose_secret().to_owned(),
            _ => {
                let id = crate::raw::context::new_request_id();
                store.set(DEVICE_ID_KEY, Secret::new(id.as_str())).map_err(|e| Error::Storage(e.0))?;
                id
            }
        };
        let base_context = Context::new()
            .with_client_id(config.client_id.as_str())
            .with_device_id(device_id)
            .with_headers(config.headers.clone())
            .with_connect_retries(config.connect_retries, config.retry_delay);
        let session_key = format!("credentials_{}", config.client_id);
        let session = state::load_session(&*config.store, &session_key)?;
        let (events, _) = broadcast::channel(64);
        Ok(Auth {
            inner: Arc::new(AuthInner {
                config,
                base_context,
                session_key,
                session: RwLock::new(session),
                refresh_lock: tokio::sync::Mutex::new(()),
                events,
                captcha_token: Mutex::new(None),
                oauth_states: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The device id sent as `x-device-id` (created once, kept in the session store).
    pub fn device_id(&self) -> &str {
        self.inner.base_context.device_id.as_deref().unwrap_or_default()
    }
}
