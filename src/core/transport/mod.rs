//! The request loop every service shares: which credential a call carries, its request id and tracing span,
//! connection retries and response limits (in [`context`]), the mapping of any generated client's error into
//! `cloudbase::Error`, and the one refresh-and-retry on an expired token.

pub(crate) mod context;
mod sniff;
pub(crate) mod stream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use progenitor_client::{Error as RawError, ResponseValue};
use reqwest::header::{HeaderName, HeaderValue};
use tracing::Instrument as _;

use super::{Core, ErrorBody};
use crate::raw::Context;
use crate::{Error, Secret, Session};

/// A fresh 32-hex request id, the shape the official SDKs send.
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// How a service's calls differ, where they differ.
#[derive(Clone, Copy)]
pub(crate) struct Profile {
    /// Signed-out calls carry `client_id` in the query (the auth service wants it; the gateway services don't).
    pub client_id_query: bool,
    /// A 2xx reply with an error body is an error (the auth service does that; a function's reply never is).
    pub sniff_error_bodies: bool,
}

/// A generated client the core can build for one call.
pub(crate) trait RawClient: Sized {
    const PROFILE: Profile;
    fn from_parts(base_url: &str, http: reqwest::Client, context: Context) -> Self;
}

/// What one attempt of a generated call returns.
pub(crate) type RawResult<T> = Result<ResponseValue<T>, RawError<ErrorBody>>;

/// Who a call is made as.
#[derive(Clone)]
pub(crate) enum As {
    /// No Authorization: `client_id` in the query (token grants, captcha calls, revoke).
    Client,
    /// The publishable key when the app has one, else like `Client` (what the official SDKs do signed out).
    Public,
    /// The signed-in user.
    User(Secret),
}

/// The settings of every request, fixed when the app is built.
pub(crate) struct Transport {
    pub base_url: String,
    pub http: reqwest::Client,
    pub client_id: Arc<str>,
    pub access_key: Option<Secret>,
    pub headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    pub connect_retries: u32,
    pub retry_delay: Duration,
    pub max_response_bytes: usize,
}

impl Transport {
    /// The context of one request as `who`.
    pub fn context(&self, device_id: Arc<str>, who: &As, captcha: Option<Secret>, profile: Profile) -> Context {
        let mut context = Context::new();
        if profile.client_id_query {
            context = context.with_client_id(Arc::clone(&self.client_id));
        }
        let mut context = context
            .with_error_body_sniffing(profile.sniff_error_bodies)
            .with_device_id(device_id)
            .with_request_id(new_request_id())
            .with_connect_retries(self.connect_retries, self.retry_delay)
            .with_max_response_bytes(self.max_response_bytes);
        context.extra_headers = Arc::clone(&self.headers);
        context = match who {
            As::Client => context,
            As::Public => match &self.access_key {
                Some(key) => context.with_bearer(key.clone()),
                None => context,
            },
            As::User(token) => context.with_bearer(token.clone()),
        };
        match captcha {
            Some(token) => context.with_captcha_token(token),
            None => context,
        }
    }
}

/// The whole body of a generated call's byte-stream reply. The transport already read it (bounded) into one
/// buffer, so it is usually one chunk, taken as is.
pub(crate) async fn collect_body(
    stream: progenitor_client::ByteStream,
    operation: &'static str,
    request_id: &Option<String>,
) -> Result<bytes::Bytes, Error> {
    use futures::TryStreamExt as _;
    let mut chunks: Vec<bytes::Bytes> =
        stream.into_inner().try_collect().await.map_err(|e| Error::from_transport(e, operation, request_id.clone()))?;
    Ok(if chunks.len() == 1 { chunks.pop().unwrap_or_default() } else { bytes::Bytes::from(chunks.concat()) })
}

/// What one attempt learned besides its result: the method and path (the captcha `state` convention) and the
/// request id (the server's, else the one sent).
pub(crate) struct Attempt<T> {
    pub result: Result<T, Error>,
    pub method_path: Option<String>,
    pub request_id: Option<String>,
}

impl Core {
    /// Sends one generated call as `who`, in a span named after the operation; maps its error.
    pub(crate) async fn send<C, T, F, Fut>(
        &self,
        operation: &'static str,
        who: &As,
        captcha: Option<Secret>,
        send: &F,
    ) -> Attempt<T>
    where
        C: RawClient,
        F: Fn(C) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        let attempt = self.send_with(operation, who, captcha, &[], send).await;
        Attempt {
            result: attempt.result.map(ResponseValue::into_inner),
            method_path: attempt.method_path,
            request_id: attempt.request_id,
        }
    }

    /// As [`send`](Self::send), keeping the reply's status and headers, with `headers` added to (or replacing
    /// those of) the request: a service whose reply shape depends on a header (`Accept`) the spec cannot
    /// declare as a parameter.
    pub(crate) async fn send_with<C, T, F, Fut>(
        &self,
        operation: &'static str,
        who: &As,
        captcha: Option<Secret>,
        headers: &[(HeaderName, HeaderValue)],
        send: &F,
    ) -> Attempt<ResponseValue<T>>
    where
        C: RawClient,
        F: Fn(C) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        let device_id = match self.session.device_id().await {
            Ok(id) => id,
            Err(e) => return Attempt { result: Err(e), method_path: None, request_id: None },
        };
        let mut context = self.transport.context(device_id, who, captcha, C::PROFILE);
        if !headers.is_empty() {
            let mut all = context.extra_headers.as_ref().clone();
            all.extend(headers.iter().cloned());
            context.extra_headers = Arc::new(all);
        }
        let request_id = context.request_id.clone().unwrap_or_default();
        let span = tracing::debug_span!("cloudbase.call", operation, request_id = %request_id);
        let client = C::from_parts(&self.transport.base_url, self.transport.http.clone(), context.clone());
        let result = send(client).instrument(span.clone()).await;
        let meta = context.last_response();
        let result = match result {
            Ok(value) => {
                span.in_scope(|| tracing::debug!(status = meta.status, "ok"));
                Ok(value)
            }
            Err(raw) => {
                let error = Error::from_raw(raw, operation, &meta);
                span.in_scope(|| tracing::debug!(status = meta.status, error = %error, "failed"));
                Err(error)
            }
        };
        Attempt { result, method_path: meta.method_path, request_id: meta.request_id }
    }

    /// Runs `attempt` with the credential the rule gives: the user's access token when signed in
    /// (refreshed first when it is about to expire), the publishable key when signed out (or
    /// [`Error::NotSignedIn`] when `needs_user`). A reply refusing the user's token as expired or invalid
    /// refreshes once and retries once, and only while the session still belongs to the same user: a call
    /// made as user A is never replayed as user B. A call that cannot be `replayable` (its body was a stream,
    /// now consumed) still refreshes, so the next call works, and returns the refusal.
    pub(crate) async fn with_session<T, A, Fut>(
        self: &Arc<Self>,
        needs_user: bool,
        replayable: bool,
        attempt: A,
    ) -> Result<T, Error>
    where
        A: Fn(As, Option<Arc<Session>>) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let Some(session) = self.fresh_session().await? else {
            if needs_user {
                return Err(Error::NotSignedIn);
            }
            return attempt(As::Public, None).await;
        };
        match attempt(As::User(session.access_token.clone()), Some(Arc::clone(&session))).await {
            Err(e) if e.is_token_rejected() => {
                tracing::debug!("access token refused; refreshing once");
                let renewed = self.refresh_after_rejection(&session).await?;
                if !replayable {
                    tracing::debug!("refreshed; the call's streamed body is spent, so it is not replayed");
                    return Err(e);
                }
                if renewed.subject() != session.subject() {
                    tracing::debug!("the session changed hands; not replaying the call");
                    return Err(e);
                }
                attempt(As::User(renewed.access_token.clone()), Some(renewed)).await
            }
            other => other,
        }
    }
}
