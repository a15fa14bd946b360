//! The object store's own HTTP routes (`/_cos/{bucket}/{*key}`), where the signed `uploadUrl` and
//! `downloadUrl` point: `PUT` the raw bytes, `GET` / `HEAD` them back. Not gateway calls (no Bearer token):
//! the URL's or header's signature is the credential. Errors are COS's XML `<Error>` documents.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::routing::put;
use hyper::body::Frame;
use tokio::io::{AsyncRead, AsyncSeekExt as _, ReadBuf};

use super::keys::{bucket, key_problem};
use super::sign::{download_signature, meta_owner, parse_authorization, same, upload_signature, upload_token};
use super::store::PutError;
use crate::gateway::{RequestId, header_string};
use crate::reply::cos_error;
use crate::service::{BodyPolicy, ErrorStyle, Operation, Service};
use crate::state::State;
use crate::util::{http_date, parse_query, percent_decode, unix_secs};

/// COS's limit for one `PUT`: 5 GiB.
pub(crate) const MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024;
/// Bytes read from disk per body frame.
const CHUNK: usize = 64 * 1024;
/// How long a cut download waits, its bytes sent, before it fails.
const CUT_PAUSE: Duration = Duration::from_millis(50);

/// The object store as mounted by [`crate::service::SERVICES`].
pub(crate) const SERVICE: Service = Service {
    base: "/_cos",
    body: BodyPolicy::Streamed(MAX_OBJECT),
    errors: ErrorStyle::Cos,
    operations: &[
        Operation { method: "PUT", path: "/{bucket}/{*key}", id: "cos_put_object" },
        Operation { method: "GET", path: "/{bucket}/{*key}", id: "cos_get_object" },
        Operation { method: "HEAD", path: "/{bucket}/{*key}", id: "cos_head_object" },
    ],
    router,
};

fn router() -> Router<Arc<State>> {
    Router::new().route("/{bucket}/{*key}", put(put_object).get(get_object).head(head_object))
}

async fn get_object(state: AxumState<Arc<State>>, request: Request) -> Response<Body> {
    serve(state, request, false).await
}

async fn head_object(state: AxumState<Arc<State>>, request: Request) -> Response<Body> {
    serve(state, request, true).await
}

/// The request's key, decoded, if the bucket is this environment's and the key valid; else the error's
/// status, code and message.
fn target(state: &State, path: &str) -> Result<String, (u16, &'static str, &'static str)> {
    let path = path.strip_prefix(SERVICE.base).unwrap_or(path);
    let (bucket_name, key) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    if percent_decode(bucket_name) != bucket(&state.env_id) {
        return Err((404, "NoSuchBucket", "The specified bucket does not exist."));
    }
    let key = key.split('/').map(percent_decode).collect::<Vec<_>>().join("/");
    match key_problem(&key) {
        Some(problem) => Err((400, "InvalidURI", problem)),
        None => Ok(key),
    }
}

fn request_id(request: &Request) -> String {
    request.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default()
}

fn now_secs(state: &State) -> u64 {
    unix_secs(state.core().now())
}

async fn put_object(AxumState(state): AxumState<Arc<State>>, request: Request) -> Response<Body> {
    let request_id = request_id(&request);
    let fail = |status: u16, code: &str, message: &str| cos_error(status, code, message, &request_id, false);
    let (parts, body) = request.into_parts();
    let key = match target(&state, parts.uri.path()) {
        Ok(key) => key,
        Err((status, code, message)) => return fail(status, code, message),
    };
    let headers = &parts.headers;
    let Some(authorization) = header_string(headers, "authorization") else {
        return fail(403, "AccessDenied", "Access Denied: no Authorization header");
    };
    let Some(auth) = parse_authorization(&authorization) else {
        return fail(403, "SignatureDoesNotMatch", "The Authorization header is malformed.");
    };
    if auth.end < now_secs(&state) {
        return fail(403, "AccessDenied", "Request has expired");
    }
    let secret = &state.jwt_key;
    let meta = header_string(headers, "x-cos-meta-fileid").unwrap_or_default();
    let Some(owner) = meta_owner(secret, &key, auth.end, &meta) else {
        return fail(403, "AccessDenied", "X-Cos-Meta-Fileid is not the one of this upload");
    };
    let token = header_string(headers, "x-cos-security-token").unwrap_or_default();
    if !same(&token, &upload_token(secret, &key, auth.end)) {
        return fail(403, "InvalidAccessKeyId", "The X-Cos-Security-Token is invalid");
    }
    let signed: Vec<(String, String)> =
        auth.headers.iter().map(|name| (name.clone(), header_string(headers, name).unwrap_or_default())).collect();
    let path = format!("/{}/{key}", bucket(&state.env_id));
    if !same(&auth.signature, &upload_signature(secret, &path, auth.end, &meta, &signed)) {
        return fail(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    let content_type = header_string(headers, "content-type")
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let expected = header_string(headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let now = now_secs(&state);
    match state.storage.put(&key, &owner, &content_type, body, expected, now).await {
        Ok(meta) => {
            let mut response = Response::new(Body::empty());
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", meta.etag)) {
                response.headers_mut().insert(header::ETAG, etag);
            }
            response
        }
        Err(PutError::Incomplete(reason)) => fail(400, "IncompleteBody", &reason),
        Err(PutError::NotOwner) => fail(403, "AccessDenied", "the object belongs to another user"),
        Err(PutError::Io(e)) => fail(500, "InternalError", &format!("cannot store the object: {e}")),
    }
}

/// The part of an object a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    Whole,
    /// First and last byte, inclusive.
    Bytes(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range; anything else (several ranges, other units, nonsense) is ignored as RFC 9110 allows.
fn part(range: Option<&str>, size: u64) -> Part {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else { return Part::Whole };
    let Some((first, last)) = spec.trim().split_once('-') else { return Part::Whole };
    if spec.contains(',') {
        return Part::Whole;
    }
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        (true, _, Some(n)) if n == 0 || size == 0 => Part::Unsatisfiable,
        (true, _, Some(n)) => Part::Bytes(size.saturating_sub(n), size - 1),
        (false, Some(a), _) if a >= size => Part::Unsatisfiable,
        (false, Some(a), None) if last.trim().is_empty() => Part::Bytes(a, size - 1),
        (false, Some(a), Some(b)) if b >= a => Part::Bytes(a, b.min(size - 1)),
        _ => Part::Whole,
    }
}

async fn serve(AxumState(state): AxumState<Arc<State>>, request: Request, head: bool) -> Response<Body> {
    let request_id = request_id(&request);
    let fail = |status: u16, code: &str, message: &str| cos_error(status, code, message, &request_id, head);
    let key = match target(&state, request.uri().path()) {
        Ok(key) => key,
        Err((status, code, message)) => return fail(status, code, message),
    };
    let query = parse_query(request.uri().query().unwrap_or_default());
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let path = format!("/{}/{key}", bucket(&state.env_id));
    let expiry = param("t").and_then(|t| t.parse::<u64>().ok());
    let signed = match (param("sign"), expiry) {
        (Some(sign), Some(t)) => same(sign, &download_signature(&state.jwt_key, &path, t)),
        _ => false,
    };
    if !signed {
        return fail(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if expiry.is_some_and(|t| t < now_secs(&state)) {
        return fail(403, "AccessDenied", "Request has expired");
    }
    let (meta, mut file) = match state.storage.open(&key).await {
        Ok(Some(found)) => found,
        Ok(None) => return fail(404, "NoSuchKey", "The specified key does not exist."),
        Err(e) => return fail(500, "InternalError", &format!("cannot read the object: {e}")),
    };
    let range = header_string(request.headers(), "range");
    let (status, first, len) = match part(range.as_deref(), meta.size) {
        Part::Whole => (StatusCode::OK, 0, meta.size),
        Part::Bytes(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        Part::Unsatisfiable => {
            let mut response = fail(416, "InvalidRange", "The requested range is not satisfiable");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    let body = if head {
        Body::empty()
    } else {
        if first > 0
            && let Err(e) = file.seek(io::SeekFrom::Start(first)).await
        {
            return fail(500, "InternalError", &format!("cannot read the object: {e}"));
        }
        let cut = state.storage.take_cut();
        Body::new(FileBody { file, remaining: len, cut, pause: None, buf: vec![0; CHUNK] })
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    insert(headers, header::CONTENT_LENGTH, &len.to_string());
    insert(headers, header::CONTENT_TYPE, &meta.content_type);
    insert(headers, header::ETAG, &format!("\"{}\"", meta.etag));
    insert(headers, header::LAST_MODIFIED, &http_date(UNIX_EPOCH + Duration::from_secs(meta.last_modified)));
    insert(headers, header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        insert(headers, header::CONTENT_RANGE, &format!("bytes {first}-{}/{}", first + len - 1, meta.size));
    }
    response
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// A file read frame by frame: memory stays at one chunk whatever the object's size. With `cut`, the body
/// fails after that many bytes (the test control), which makes hyper drop the connection short of the
/// announced `Content-Length`.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    cut: Option<u64>,
    /// Before failing at the cut: hyper flushes what it has written only when the body is pending, and
    /// drops unflushed bytes on an error, so the client would see no response at all without it.
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    buf: Vec<u8>,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        if this.cut == Some(0) {
            let pause = this.pause.get_or_insert_with(|| Box::pin(tokio::time::sleep(CUT_PAUSE)));
            ready!(pause.as_mut().poll(cx));
            let cut = io::Error::new(io::ErrorKind::ConnectionAborted, "download cut by the emulator");
            return Poll::Ready(Some(Err(cut)));
        }
        let want = this.remaining.min(this.cut.unwrap_or(u64::MAX)).min(CHUNK as u64) as usize;
        let mut read = ReadBuf::new(&mut this.buf[..want]);
        if let Err(e) = ready!(Pin::new(&mut this.file).poll_read(cx, &mut read)) {
            return Poll::Ready(Some(Err(e)));
        }
        let n = read.filled().len();
        if n == 0 {
            return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the object file is short"))));
        }
        this.remaining -= n as u64;
        if let Some(cut) = &mut this.cut {
            *cut -= n as u64;
        }
        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(&this.buf[..n])))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(part(None, 10), Part::Whole);
        assert_eq!(part(Some("bytes=0-3"), 10), Part::Bytes(0, 3));
        assert_eq!(part(Some("bytes=4-"), 10), Part::Bytes(4, 9));
        assert_eq!(part(Some("bytes=-3"), 10), Part::Bytes(7, 9));
        assert_eq!(part(Some("bytes=-30"), 10), Part::Bytes(0, 9));
        assert_eq!(part(Some("bytes=5-100"), 10), Part::Bytes(5, 9));
        assert_eq!(part(Some("bytes=10-"), 10), Part::Unsatisfiable);
        assert_eq!(part(Some("bytes=-0"), 10), Part::Unsatisfiable);
        assert_eq!(part(Some("bytes=0-"), 0), Part::Unsatisfiable);
        assert_eq!(part(Some("bytes=3-1"), 10), Part::Whole);
        assert_eq!(part(Some("bytes=0-1,3-4"), 10), Part::Whole);
        assert_eq!(part(Some("items=0-1"), 10), Part::Whole);
        assert_eq!(part(Some("bytes=x-1"), 10), Part::Whole);
    }

    #[test]
    fn errors_are_xml() {
        let response = cos_error(403, "AccessDenied", "Request has expired", "rid-1", false);
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/xml");
    }
}
