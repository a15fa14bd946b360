//! Third-party sign-in without a browser page of our own: the authorization URL, the callback check (the Rust
//! form of `detectSessionInUrl`), and a loopback receiver for CLI and desktop apps.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

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

/// The provider's redirect back to the app. `Debug` hides the code (and the whole URL, which carries it).
#[derive(Clone)]
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

impl std::fmt::Debug for OAuthCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OAuthCallback::Url(_) => f.write_str("OAuthCallback::Url([REDACTED])"),
            OAuthCallback::Code { state, .. } => {
                f.debug_struct("OAuthCallback::Code").field("code", &"[REDACTED]").field("state", state).finish()
            }
        }
    }
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
    /// How long to wait for the browser (default 5 minutes). Once the real redirect has arrived, the code
    /// exchange runs to its end under the client's own request timeout.
    pub timeout: Duration,
    /// How long one connection may take to send its request head, and then to take the answer (default 5
    /// seconds). A silent or slow connection is dropped after it; the others are served meanwhile.
    pub read_timeout: Duration,
    /// The callback path (default `/callback`).
    pub path: String,
    /// The port on 127.0.0.1 (default 0: any free port). Some providers need a fixed, registered one.
    pub port: u16,
}

impl Default for LoopbackOptions {
    fn default() -> Self {
        LoopbackOptions {
            timeout: Duration::from_secs(300),
            read_timeout: Duration::from_secs(5),
            path: "/callback".to_owned(),
            port: 0,
        }
    }
}

impl LoopbackOptions {
    /// With this timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With this per-connection timeout.
    pub fn read_timeout(mut self, read_timeout: Duration) -> Self {
        self.read_timeout = read_timeout;
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
                .map_err(|_| Error::oauth("the service returned an invalid authorization URL"))?,
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
                    return Err(Error::oauth(format!("the provider answered {error}: {description}")));
                }
                let code = query.get("code").cloned().ok_or_else(|| Error::invalid("callback", "no code"))?;
                let state = query.get("state").cloned().ok_or_else(|| Error::invalid("callback", "no state"))?;
                (code, state)
            }
        };
        let code = validate::non_empty("code", &code)?;
        let pending = self
            .inner
            .oauth_states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&state)
            .ok_or_else(|| Error::oauth("the state does not belong to a sign-in started by this client"))?;
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
    /// Only a request to the callback path carrying this round trip's `state` ends the wait; any other
    /// request (a favicon, a stale tab, a wrong state) is answered with a short error page, and a silent
    /// connection is dropped after [`LoopbackOptions::read_timeout`]. The browser is told "signed in" only
    /// once the session exists; a provider error or a failed exchange is shown there and returned.
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
            .map_err(|e| Error::oauth_io("cannot listen on 127.0.0.1", e))?;
        let port = listener.local_addr().map_err(|e| Error::oauth_io("cannot read the listener's port", e))?.port();
        let redirect_to = format!("http://127.0.0.1:{port}{}", options.path);
        let request = self.sign_in_with_oauth(OAuthOptions::new(provider, &redirect_to)).await?;
        open(&request.url);
        let result = self.serve_loopback(&listener, &options, port, &request.state).await;
        // A timed-out or refused round trip must not leave a state behind that a later callback could use.
        self.inner.oauth_states.lock().unwrap_or_else(|e| e.into_inner()).remove(&request.state);
        result
    }

    /// Serves the loopback listener until the redirect carrying `state` arrives, then finishes the sign-in
    /// and only then answers the browser, so its page tells the truth.
    async fn serve_loopback(
        &self,
        listener: &TcpListener,
        options: &LoopbackOptions,
        port: u16,
        state: &str,
    ) -> Result<Session, Error> {
        let deadline = tokio::time::Instant::now() + options.timeout;
        let mut connections = FuturesUnordered::new();
        loop {
            tokio::select! {
                accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => match accepted {
                    Ok((socket, _)) => connections.push(triage(socket, &options.path, state, options.read_timeout)),
                    Err(e) => {
                        // Accept errors are mostly transient (a peer gone, descriptors exhausted); a pause keeps
                        // a persistent one from spinning until the deadline.
                        tracing::debug!("loopback accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(callback) = connections.next(), if !connections.is_empty() => {
                    if let Some(callback) = callback {
                        return self.finish_loopback(callback, port, options.read_timeout).await;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Err(Error::oauth("no redirect from the browser in time"));
                }
            }
        }
    }

    async fn finish_loopback(&self, callback: Callback, port: u16, write_timeout: Duration) -> Result<Session, Error> {
        let Callback { mut socket, target, code, provider_error } = callback;
        let result = match self.verify_oauth(OAuthCallback::url(format!("http://127.0.0.1:{port}{target}"))).await {
            Ok(OAuthOutcome::SignedIn(session)) => Ok(session),
            Ok(OAuthOutcome::IdentityLinked { .. }) => Err(Error::oauth("unexpected identity binding")),
            Err(e) => Err(e),
        };
        let (status, title, message) = match &result {
            Ok(_) => (
                "200 OK",
                "Signed in",
                "You are signed in. You can close this window and return to the app.".to_owned(),
            ),
            Err(e) => {
                let status = if provider_error { "400 Bad Request" } else { "502 Bad Gateway" };
                let mut message = format!("The sign-in failed: {e}");
                // The page is visible to anyone behind the user and may end up in a screenshot or a bug
                // report; the authorization code is single-use but still no business of the page.
                if let Some(code) = code.filter(|c| !c.is_empty()) {
                    message = message.replace(&code, "[redacted]");
                }
                (status, "Sign-in failed", message)
            }
        };
        respond(&mut socket, status, title, &message, write_timeout).await;
        result
    }
}

/// Largest request head read from a loopback connection; a browser's redirect is far smaller.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Loopback connections served at once; more wait in the listen backlog until one ends.
const MAX_CONNECTIONS: usize = 32;

/// A request on the callback path that carries the state of the round trip in progress.
struct Callback {
    socket: TcpStream,
    /// The request target (path and query).
    target: String,
    code: Option<String>,
    provider_error: bool,
}

/// Reads one request within `timeout` and answers it, unless it is the callback of this round trip: that
/// one is handed back unanswered. Anything else (a favicon, a stale tab, another program) gets a short
/// page or, when silent, is dropped, and never ends the sign-in.
async fn triage(mut socket: TcpStream, path: &str, state: &str, timeout: Duration) -> Option<Callback> {
    let head = match tokio::time::timeout(timeout, read_head(&mut socket)).await {
        Ok(Head::Complete(head)) => head,
        Ok(Head::TooLarge) => {
            respond(&mut socket, "431 Request Header Fields Too Large", "Request too large", "", timeout).await;
            return None;
        }
        Ok(Head::Closed) | Err(_) => return None,
    };
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_owned();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        respond(&mut socket, "400 Bad Request", "Bad request", "", timeout).await;
        return None;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        respond(&mut socket, "400 Bad Request", "Bad request", "", timeout).await;
        return None;
    }
    let (request_path, query) = target.split_once('?').unwrap_or((target, ""));
    if request_path != path {
        respond(&mut socket, "404 Not Found", "Not found", "", timeout).await;
        return None;
    }
    if method != "GET" {
        respond(&mut socket, "405 Method Not Allowed", "Method not allowed", "", timeout).await;
        return None;
    }
    let query: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if !query.get("state").is_some_and(|s| same_secret(s, state)) {
        respond(
            &mut socket,
            "400 Bad Request",
            "Unknown sign-in",
            "This link does not belong to the sign-in in progress. Go back to the app and start again.",
            timeout,
        )
        .await;
        return None;
    }
    let provider_error = query.contains_key("error");
    if !provider_error && !query.contains_key("code") {
        respond(&mut socket, "400 Bad Request", "Bad request", "The redirect carries no code.", timeout).await;
        return None;
    }
    Some(Callback { socket, target: target.to_owned(), code: query.get("code").cloned(), provider_error })
}

enum Head {
    Complete(Vec<u8>),
    TooLarge,
    Closed,
}

async fn read_head(socket: &mut TcpStream) -> Head {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        match socket.read(&mut buf).await {
            // A client that half-closes after its request still expects an answer.
            Ok(0) if !head.is_empty() => return Head::Complete(head),
            Ok(0) | Err(_) => return Head::Closed,
            Ok(n) => {
                // Only the new bytes and the three before them can complete the terminator.
                let from = head.len().saturating_sub(3);
                head.extend_from_slice(&buf[..n]);
                if head[from..].windows(4).any(|w| w == b"\r\n\r\n") {
                    return Head::Complete(head);
                }
                if head.len() >= MAX_HEAD_BYTES {
                    return Head::TooLarge;
                }
            }
        }
    }
}

/// Sends a small HTML page and closes; a client that does not take it within `timeout` is dropped.
async fn respond(socket: &mut TcpStream, status: &str, title: &str, message: &str, timeout: Duration) {
    let body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{message}</p></body></html>\n",
        title = html_escape(title),
        message = html_escape(message),
    );
    // The callback URL carries the code: no referrer, no cache, and no script or resource on the page.
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(timeout, async {
        socket.write_all(response.as_bytes()).await?;
        socket.shutdown().await
    })
    .await;
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The state is all that stops another local program from finishing the sign-in with a code of its own:
/// compare it without an early exit, so the time taken does not reveal it byte by byte.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}
