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
use std::sync::{Arc, Mutex};

use crate::Secret;
use crate::core::Core;

pub use oauth::{LoopbackOptions, OAuthCallback, OAuthKind, OAuthOptions, OAuthOutcome, OAuthRequest};
pub use params::{
    Contact, Gender, GetVerification, OtpType, ResendType, SignInWithOtp, SignInWithPassword, SignOutOptions,
    SignOutResult, SignUp, UpdateUser, Verification, VerificationTarget, VerificationToken, VerifyOtp,
};
pub use pending::{PendingOtp, PendingPasswordReset, PendingReauthentication, PendingUserUpdate, UserUpdate};

/// The auth client of a [`CloudBase`](crate::CloudBase) app: sign-in, sessions, users, events.
///
/// Cheap to clone (`Arc` inside), `Send + Sync`; clones share the session. Methods keep the Flutter SDK's
/// names in snake_case; flows that wait for a person return a handle that can only move forward:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let emu = cloudbase_emulator::Emulator::start().await?;
/// # let app = cloudbase::CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
/// use cloudbase::SignInWithOtp;
/// let auth = app.auth();
/// let pending = auth.sign_in_with_otp(SignInWithOtp::email("someone@example.com")).await?;
/// let code = emu.last_code_for("someone@example.com").expect("a code was sent").code; // what the user received
/// let session = pending.verify(code.as_str()).await?;
/// assert_eq!(session.user.and_then(|u| u.email).as_deref(), Some("someone@example.com"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Auth {
    pub(crate) inner: Arc<AuthInner>,
}

pub(crate) struct AuthInner {
    pub core: Arc<Core>,
    pub captcha_token: Mutex<Option<(Secret, std::time::Instant)>>,
    pub oauth_states: Mutex<HashMap<String, oauth::OAuthState>>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.inner.core;
        f.debug_struct("Auth")
            .field("env", &core.env)
            .field("client_id", &core.client_id)
            .field("signed_in", &core.session.current().is_some())
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn new(core: Arc<Core>) -> Self {
        Auth {
            inner: Arc::new(AuthInner {
                core,
                captcha_token: Mutex::new(None),
                oauth_states: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }

    /// The device id sent as `x-device-id`: created once and kept in the session store (read from it on
    /// first use).
    pub async fn device_id(&self) -> Result<String, crate::Error> {
        Ok(self.core().session.device_id().await?.to_string())
    }
}
