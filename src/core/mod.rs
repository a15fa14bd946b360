//! What every service stands on, and nothing service-specific: the transport (request loop, credentials,
//! limits, error mapping) and the session engine (load, persist, single-flight refresh, events, stores).
//!
//! A [`CloudBase`](crate::CloudBase) app holds one `Arc<Core>`; `app.auth()` and every later service handle
//! is a cheap clone of it.

mod error_body;
pub(crate) mod session;
pub(crate) mod transport;

use std::fmt;
use std::sync::Arc;

pub use error_body::ErrorBody;

use crate::captcha::CaptchaHandler;
use session::SessionEngine;
use transport::Transport;

/// What every session of an app shares: settings and the HTTP transport (one connection pool).
pub(crate) struct Shared {
    pub env: String,
    pub region: String,
    pub client_id: String,
    pub captcha: Option<Arc<dyn CaptchaHandler>>,
    pub transport: Transport,
}

/// One app or one session scope: the shared part, and a session engine of its own.
pub(crate) struct Core {
    pub shared: Arc<Shared>,
    pub session: SessionEngine,
}

impl std::ops::Deref for Core {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("env", &self.env)
            .field("region", &self.region)
            .field("client_id", &self.client_id)
            .field("base_url", &self.transport.base_url)
            .field("access_key", &self.transport.access_key)
            .field("captcha_handler", &self.captcha.is_some())
            .field("refresh_margin", &self.session.margin)
            .field("scope", &self.session.scope())
            .finish_non_exhaustive()
    }
}
