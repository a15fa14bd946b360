//! `upload_file`: ask the gateway for a signed upload, then stream the source straight to the object store.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use http::{HeaderName, HeaderValue};
use tokio::io::AsyncRead;
use tokio_util::io::ReaderStream;

use super::batch::upload_info;
use super::cos::{DEFAULT_TRANSFER_TIMEOUT, error_reply};
use super::path;
use super::progress::{Progress, ProgressSink, ProgressStream};
use crate::Error;
use crate::core::Core;

const OPERATION: &str = "upload_file";
/// Bytes read from the source per chunk sent.
const CHUNK: usize = 256 * 1024;

/// What to upload: a file on disk, bytes in memory, or any `AsyncRead` with its exact length.
///
/// `Vec<u8>`, `Bytes`, `&'static [u8]`, `String`, `PathBuf` and `&Path` convert into it.
pub struct UploadSource(Source);

enum Source {
    Path(PathBuf),
    Bytes(Bytes),
    Reader { reader: Pin<Box<dyn AsyncRead + Send>>, len: u64 },
}

impl UploadSource {
    /// The file at `path`, streamed from disk.
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self(Source::Path(path.into()))
    }

    /// Bytes in memory.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        Self(Source::Bytes(bytes.into()))
    }

    /// Any reader of exactly `len` bytes (the object store needs the length first). A reader that ends early
    /// or runs long fails the upload with [`Error::InvalidInput`], and nothing is stored.
    pub fn reader(reader: impl AsyncRead + Send + 'static, len: u64) -> Self {
        Self(Source::Reader { reader: Box::pin(reader), len })
    }
}

impl fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Source::Bytes(bytes) => f.debug_struct("Bytes").field("len", &bytes.len()).finish(),
            Source::Reader { len, .. } => f.debug_struct("Reader").field("len", len).finish(),
        }
    }
}

impl From<Vec<u8>> for UploadSource {
    fn from(bytes: Vec<u8>) -> Self {
        Self::bytes(bytes)
    }
}

impl From<Bytes> for UploadSource {
    fn from(bytes: Bytes) -> Self {
        Self::bytes(bytes)
    }
}

impl From<&'static [u8]> for UploadSource {
    fn from(bytes: &'static [u8]) -> Self {
        Self::bytes(bytes)
    }
}

impl From<String> for UploadSource {
    fn from(text: String) -> Self {
        Self::bytes(text)
    }
}

impl From<PathBuf> for UploadSource {
    fn from(path: PathBuf) -> Self {
        Self::path(path)
    }
}

impl From<&Path> for UploadSource {
    fn from(path: &Path) -> Self {
        Self::path(path)
    }
}

/// What an upload made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadResult {
    /// The file id, `cloud://{env}.{bucket}/{path}`.
    pub file_id: String,
    /// The object's download URL, when the service sent one.
    pub download_url: Option<String>,
    /// Bytes uploaded.
    pub size: u64,
    /// The request id of the gateway call that signed the upload.
    pub request_id: Option<String>,
}

/// An upload being set up ([`Storage::upload_file`](super::Storage::upload_file)); [`send`](Self::send) runs it.
#[must_use = "an upload does nothing until it is sent"]
pub struct UploadFile {
    core: Arc<Core>,
    cloud_path: String,
    source: UploadSource,
    content_type: Option<String>,
    progress: ProgressSink,
    timeout: Duration,
}

impl fmt::Debug for UploadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadFile")
            .field("cloud_path", &self.cloud_path)
            .field("source", &self.source)
            .field("content_type", &self.content_type)
            .field("progress", &self.progress)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl UploadFile {
    pub(crate) fn new(core: Arc<Core>, cloud_path: String, source: UploadSource) -> Self {
        Self {
            core,
            cloud_path,
            source,
            content_type: None,
            progress: ProgressSink::default(),
            timeout: DEFAULT_TRANSFER_TIMEOUT,
        }
    }

    /// The object's content type (default: by the path's extension, else `application/octet-stream`).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    super::progress::transfer_options!("upload", "go out");

    /// Checks the path and the source, gets a signed upload from the gateway, then streams the bytes to the
    /// object store.
    pub async fn send(self) -> Result<UploadResult, Error> {
        path::cloud_path("cloud_path", &self.cloud_path)?;
        let content_type =
            self.content_type.clone().unwrap_or_else(|| path::content_type_for(&self.cloud_path).to_owned());
        let content_type_value =
            HeaderValue::from_str(&content_type).map_err(|_| Error::invalid("content_type", "not a header value"))?;
        let (len, body) = open(self.source).await?;
        let signed = HashMap::from([
            ("content-length".to_owned(), vec![len.to_string()]),
            ("content-type".to_owned(), vec![content_type.clone()]),
        ]);
        let info = upload_info(&self.core, &self.cloud_path, signed).await?;

        let failure: Arc<Mutex<Option<Error>>> = Arc::default();
        let progress = self.progress;
        progress.report(Progress { done: 0, total: Some(len) });
        let counted = counted(body, len, progress.clone(), Arc::clone(&failure));
        let header = |name: &'static str, value: &str| -> Result<(HeaderName, HeaderValue), Error> {
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| Error::invalid("upload_info", "a header that cannot be sent"))?;
            value.set_sensitive(true);
            Ok((HeaderName::from_static(name), value))
        };
        let mut request = self
            .core
            .transport
            .http
            .put(&info.url)
            .header(http::header::CONTENT_TYPE, content_type_value)
            .header(http::header::CONTENT_LENGTH, len)
            .timeout(self.timeout)
            .body(reqwest::Body::wrap_stream(counted))
            .build()
            .map_err(|e| Error::from_transport(e, OPERATION, info.request_id.clone()))?;
        for (name, value) in [
            header("authorization", info.authorization.expose_secret())?,
            header("x-cos-security-token", info.token.expose_secret())?,
            header("x-cos-meta-fileid", &info.cos_file_id)?,
        ] {
            request.headers_mut().insert(name, value);
        }
        let sent = self.core.transport.http.execute(request).await;
        // The source's own failure explains a broken upload better than the connection's.
        if let Some(error) = failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(error);
        }
        let response = sent.map_err(|e| Error::from_transport(e, OPERATION, info.request_id.clone()))?;
        if !response.status().is_success() {
            return Err(error_reply(response, OPERATION).await);
        }
        progress.report(Progress { done: len, total: Some(len) });
        Ok(UploadResult {
            file_id: info.file_id,
            download_url: info.download_url,
            size: len,
            request_id: info.request_id,
        })
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The source's length and its bytes as a stream.
async fn open(source: UploadSource) -> Result<(u64, ByteStream), Error> {
    match source.0 {
        Source::Bytes(bytes) => {
            let len = bytes.len() as u64;
            let chunks: Vec<Bytes> =
                (0..bytes.len()).step_by(CHUNK).map(|at| bytes.slice(at..bytes.len().min(at + CHUNK))).collect();
            Ok((len, Box::pin(futures::stream::iter(chunks.into_iter().map(Ok)))))
        }
        Source::Path(path) => {
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| Error::io(OPERATION, format!("opening {}", path.display()), e))?;
            let metadata =
                file.metadata().await.map_err(|e| Error::io(OPERATION, format!("reading {}", path.display()), e))?;
            if !metadata.is_file() {
                return Err(Error::invalid("source", format!("{} is not a file", path.display())));
            }
            Ok((metadata.len(), Box::pin(ReaderStream::with_capacity(file, CHUNK))))
        }
        Source::Reader { reader, len } => Ok((len, Box::pin(ReaderStream::with_capacity(reader, CHUNK)))),
    }
}

/// The body as sent: counts bytes, reports progress, and fails (keeping why in `failure`) when the source
/// errs or does not hold exactly `len` bytes, so that the object store never keeps a short object.
fn counted(
    body: ByteStream,
    len: u64,
    progress: ProgressSink,
    failure: Arc<Mutex<Option<Error>>>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let fail = move |error: Error| {
        let message = error.to_string();
        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(error);
        std::io::Error::other(message)
    };
    let state = (body, 0u64, false);
    futures::stream::unfold(state, move |(mut body, done, finished)| {
        let (fail, progress) = (fail.clone(), progress.clone());
        async move {
            if finished {
                return None;
            }
            match body.next().await {
                Some(Ok(chunk)) => {
                    let done = done + chunk.len() as u64;
                    if done > len {
                        let e = fail(Error::invalid(
                            "source",
                            format!("the source holds more than the {len} bytes announced"),
                        ));
                        return Some((Err(e), (body, done, true)));
                    }
                    if progress.is_active() && done < len {
                        progress.report(Progress { done, total: Some(len) });
                    }
                    Some((Ok(chunk), (body, done, false)))
                }
                Some(Err(e)) => {
                    let e = fail(Error::io(OPERATION, "reading the source", e));
                    Some((Err(e), (body, done, true)))
                }
                None if done < len => {
                    let e = fail(Error::invalid(
                        "source",
                        format!("the source ended after {done} of the {len} bytes announced"),
                    ));
                    Some((Err(e), (body, done, true)))
                }
                None => None,
            }
        }
    })
}
