//! Third-party sign-in without a browser page of our own: the authorization URL, the callback check (the Rust
//! form of `detectSessionInUrl`), and a loopback receiver for CLI and desktop apps.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::Auth;
use super::call::{As, Captcha};
use crate::events::{AuthChange, AuthEvent};
use crate::raw::auth::types::{BindProviderRequest, ProviderTokenRequest};
use crate::{Error, Session, validate};

/// What an OAuth round trip is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthKind {
    /// Sign in (or register) with the provider.
    #[default]
    SignIn,
    /// Bind the provider to the signed-in user (`link_identity`).
    BindIdentity,
}

/// `sign_in_with_oauth`: the provider and where it should send the user back.
#[derive(Clone, Debug)]
#[must_use]
pub struct OAuthOptions {
    pub(crate) provider: String,
    pub(crate) redirect_to: String,
    pub(crate) state: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) query_params: Vec<(String, String)>,
    pub(crate) kind: OAuthKind,
}

impl OAuthOptions {
    /// Sign in with `provider` (e.g. `github`, `wx_open`); the provider redirects to `redirect_to` with
    /// `code` and `state`.
    pub fn new(provider: impl Into<String>, redirect_to: impl Into<String>) -> Self {
        OAuthOptions {
            provider: provider.into(),
            redirect_to: redirect_to.into(),
            state: None,
            scope: None,
            query_params: Vec::new(),
            kind: OAuthKind::SignIn,
        }
    }

    /// Your own `state` (default: a random one). It must be unique per round trip.
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Scopes to ask the provider for.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Extra query parameters merged into the authorization URL.
    pub fn query_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query_params.push((key.into(), value.into()));
        self
    }

    /// What the round trip is for (default sign-in).
    pub fn kind(mut self, kind: OAuthKind) -> Self {
        self.kind = kind;
        self
    }
}

/// An OAuth round trip in progress: send the user to `url`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthRequest {
    /// The provider's authorization URL.
    pub url: String,
    /// The provider.
    pub provider: String,
    /// The state this client will accept back.
    pub state: String,
}

/// The provider's redirect back to the app.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum OAuthCallback {
    /// The whole callback URL (`...?code=...&state=...`).
    Url(String),
    /// The `code` and `state` taken from it.
    Code {
        /// The authorization code.
        code: String,
        /// The state.
        state: String,
    },
}

impl OAuthCallback {
    /// From the callback URL.
    pub fn url(url: impl Into<String>) -> Self {
        OAuthCallback::Url(url.into())
    }

    /// From its `code` and `state`.
    pub fn code(code: impl Into<String>, state: impl Into<String>) -> Self {
        OAuthCallback::Code { code: code.into(), state: state.into() }
    }
}

/// How an OAuth round trip ended.
// Returned once per round trip: boxing the session would cost every caller a deref for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum OAuthOutcome {
    /// Signed in (`SIGNED_IN`).
    SignedIn(Session),
    /// The provider was bound to the signed-in user (`BIND_IDENTITY`).
    IdentityLinked {
        /// The provider.
        provider: String,
    },
}

/// Settings of [`Auth::sign_in_with_oauth_loopback`].
#[derive(Clone, Debug)]
#[must_use]
#[non_exhaustive]
pub struct LoopbackOptions {
    /// How long to wait for the browser (default 5 minutes).
    pub timeout: Duration,
    /// The callback path (default `/callback`).
    pub path: String,
    /// The port on 127.0.0.1 (default 0: any free port). Some providers need a fixed, registered one.
    pub port: u16,
}

impl Default for LoopbackOptions {
    fn default() -> Self {
        LoopbackOptions { timeout: Duration::from_secs(300), path: "/callback".to_owned(), port: 0 }
    }
}

impl LoopbackOptions {
    /// With this timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// On this port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

pub(crate) struct OAuthState {
    provider: String,
    redirect_uri: String,
    kind: OAuthKind,
}

impl Auth {
    /// Starts signing in with a provider: returns the authorization URL to send the user to, and keeps the
    /// state to check the callback against (see [`verify_oauth`](Self::verify_oauth)). No event.
    pub async fn sign_in_with_oauth(&self, options: OAuthOptions) -> Result<OAuthRequest, Error> {
        let provider = validate::non_empty("provider", &options.provider)?;
        let redirect = url::Url::parse(options.redirect_to.trim())
            .map_err(|e| Error::invalid("redirect_to", format!("not a URL: {e}")))?;
        // The provider redirect carries its own query; keep origin and path, as the official SDKs do.
        let mut redirect_uri = redirect.clone();
        redirect_uri.set_query(None);
        redirect_uri.set_fragment(None);
        let redirect_uri = redirect_uri.to_string();
        let state = match options.state {
            Some(s) => validate::non_empty("state", &s)?,
            None => format!("prd-{provider}-{}", uuid::Uuid::new_v4().simple()),
        };
        let (provider_ref, state_ref, redirect_ref, scope_ref) =
            (provider.as_str(), state.as_str(), redirect_uri.as_str(), options.scope.as_deref());
        let response = self
            .call("get_provider_uri", As::Public, Captcha::Solve, |c| async move {
                c.get_provider_uri(provider_ref, Some(redirect_ref), None, scope_ref, Some(state_ref)).await
            })
            .await?;
        let mut url = match url::Url::parse(&response.uri) {
            Ok(url) => url,
            // The official SDKs decode the URI once before use: it may arrive percent-encoded.
            Err(_) => url::Url::parse(&percent_decode(&response.uri))
                .map_err(|_| Error::OAuth("the service returned an invalid authorization URL".to_owned()))?,
        };
        if !options.query_params.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &options.query_params {
                pairs.append_pair(k, v);
            }
        }
        self.inner
            .oauth_states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(state.clone(), OAuthState { provider: provider.clone(), redirect_uri, kind: options.kind });
        Ok(OAuthRequest { url: url.to_string(), provider, state })
    }

    /// Starts binding a provider to the signed-in user: [`sign_in_with_oauth`](Self::sign_in_with_oauth)
    /// for [`OAuthKind::BindIdentity`]. Finish with [`verify_oauth`](Self::verify_oauth).
    pub async fn link_identity(&self, provider: &str, redirect_to: &str) -> Result<OAuthRequest, Error> {
        if self.current().is_none() {
            return Err(Error::NotSignedIn);
        }
        self.sign_in_with_oauth(OAuthOptions::new(provider, redirect_to).kind(OAuthKind::BindIdentity)).await
    }

    /// Finishes an OAuth round trip from the provider's callback: checks the state is one this client
    /// started, exchanges the code, then signs in (`SIGNED_IN`) or binds the identity (`BIND_IDENTITY`).
    pub async fn verify_oauth(&self, callback: OAuthCallback) -> Result<OAuthOutcome, Error> {
        let (code, state) = match callback {
            OAuthCallback::Code { code, state } => (code, state),
            OAuthCallback::Url(text) => {
                let url =
                    url::Url::parse(text.trim()).map_err(|e| Error::invalid("callback", format!("not a URL: {e}")))?;
                let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
                if let Some(error) = query.get("error") {
                    let description = query.get("error_description").map(String::as_str).unwrap_or_default();
                    return Err(Error::OAuth(format!("the provider answered {error}: {description}")));
                }
                let code = query.get("code").cloned().ok_or_else(|| Error::invalid("callback", "no code"))?;
                let state = query.get("state").cloned().ok_or_else(|| Error::invalid("callback", "no state"))?;
                (code, state)
            }
        };
        let code = validate::non_empty("code", &code)?;
        let pending =
            self.inner.oauth_states.lock().unwrap_or_else(|e| e.into_inner()).remove(&state).ok_or_else(|| {
                Error::OAuth("the state does not belong to a sign-in started by this client".to_owned())
            })?;
        let body = ProviderTokenRequest {
            provider_id: pending.provider.clone(),
            provider_code: Some(code.into()),
            provider_redirect_uri: Some(pending.redirect_uri.clone()),
            provider_access_token: None,
            provider_id_token: None,
            provider_params: None,
        };
        let provider_token = self
            .call("get_provider_token", As::Public, Captcha::Solve, |c| {
                let body = &body;
                async move { c.get_provider_token(body).await }
            })
            .await?;
        match pending.kind {
            OAuthKind::SignIn => {
                Ok(OAuthOutcome::SignedIn(self.sign_in_with_id_token(provider_token.provider_token, None).await?))
            }
            OAuthKind::BindIdentity => {
                let body =
                    BindProviderRequest { provider_token: provider_token.provider_token, with_user_center: None };
                self.call_as_user("bind_provider", |c| {
                    let body = &body;
                    async move { c.bind_provider(body).await }
                })
                .await?;
                let mut change = AuthChange::new(AuthEvent::BindIdentity, self.current());
                change.provider = Some(pending.provider.clone());
                self.emit_change(change);
                Ok(OAuthOutcome::IdentityLinked { provider: pending.provider })
            }
        }
    }

    /// OAuth sign-in for CLI and desktop apps: listens on `127.0.0.1`, hands the authorization URL to
    /// `open` (print it, or open a browser), receives the provider's redirect, and finishes the sign-in.
    ///
    /// ```no_run
    /// # async fn demo(auth: cloudbase::Auth) -> Result<(), cloudbase::Error> {
    /// use cloudbase::LoopbackOptions;
    /// let session = auth
    ///     .sign_in_with_oauth_loopback("github", LoopbackOptions::default(), |url| println!("Open {url}"))
    ///     .await?;
    /// # let _ = session; Ok(()) }
    /// ```
    pub async fn sign_in_with_oauth_loopback(
        &self,
        provider: &str,
        options: LoopbackOptions,
        open: impl FnOnce(&str),
    ) -> Result<Session, Error> {
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| Error::OAuth(format!("cannot listen on 127.0.0.1: {e}")))?;
        let port = listener.local_addr().map_err(|e| Error::OAuth(e.to_string()))?.port();
        let redirect_to = format!("http://127.0.0.1:{port}{}", options.path);
        let request = self.sign_in_with_oauth(OAuthOptions::new(provider, &redirect_to)).await?;
        open(&request.url);
        let callback = tokio::time::timeout(options.timeout, receive_callback(&listener, &options.path, port))
            .await
            .map_err(|_| Error::OAuth("no redirect from the browser in time".to_owned()))??;
        match self.verify_oauth(OAuthCallback::url(callback)).await? {
            OAuthOutcome::SignedIn(session) => Ok(session),
            OAuthOutcome::IdentityLinked { .. } => Err(Error::OAuth("unexpected identity binding".to_owned())),
        }
    }
}

/// Serves requests on the loopback listener until one hits the callback path; answers each with a small
/// page. At most 32 requests (browsers also ask for a favicon).
async fn receive_callback(listener: &TcpListener, path: &str, port: u16) -> Result<String, Error> {
    for _ in 0..32 {
        let (mut socket, _) = listener.accept().await.map_err(|e| Error::OAuth(format!("loopback accept: {e}")))?;
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
        let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let is_callback = target.split('?').next() == Some(path);
        let (status, body) = if is_callback {
            ("200 OK", "Signed in. You can close this window and return to the app.")
        } else {
            ("404 Not Found", "Not found.")
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = socket.write_all(response.as_bytes()).await;
        let _ = socket.shutdown().await;
        if is_callback {
            return Ok(format!("http://127.0.0.1:{port}{target}"));
        }
    }
    Err(Error::OAuth("too many requests on the loopback listener without a callback".to_owned()))
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
