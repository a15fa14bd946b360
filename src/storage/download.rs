//! `download_file`: a temporary URL from the gateway, then the bytes streamed from the object store to a
//! path, a writer or the caller.

use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::Storage;
use super::cos::{DEFAULT_TRANSFER_TIMEOUT, error_reply};
use super::path;
use super::progress::{Progress, ProgressSink, ProgressStream};
use crate::Error;
use crate::core::Core;

const OPERATION: &str = "download_file";

/// What a download brought.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadResult {
    /// The file id.
    pub file_id: String,
    /// Bytes downloaded.
    pub size: u64,
    /// The object's content type, when the object store sent one.
    pub content_type: Option<String>,
}

/// A download being set up ([`Storage::download_file`](super::Storage::download_file)); one of
/// [`to_path`](Self::to_path), [`to_writer`](Self::to_writer), [`bytes_stream`](Self::bytes_stream) or
/// [`bytes`](Self::bytes) runs it.
#[must_use = "a download does nothing until it is run"]
pub struct DownloadFile {
    core: Arc<Core>,
    file_id: String,
    progress: ProgressSink,
    timeout: Duration,
}

impl fmt::Debug for DownloadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadFile")
            .field("file_id", &self.file_id)
            .field("progress", &self.progress)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl DownloadFile {
    pub(crate) fn new(core: Arc<Core>, file_id: String) -> Self {
        Self { core, file_id, progress: ProgressSink::default(), timeout: DEFAULT_TRANSFER_TIMEOUT }
    }

    super::progress::transfer_options!("download", "arrive");

    /// Downloads into the file at `path`, replacing it only once every byte has arrived: the bytes go to a
    /// temporary file beside it, renamed into place at the end (a failed download leaves `path` as it was).
    pub async fn to_path(self, path: impl AsRef<Path>) -> Result<DownloadResult, Error> {
        let path = path.as_ref();
        let temp = temp_path(path);
        let outcome = async {
            let mut file = tokio::fs::File::create(&temp)
                .await
                .map_err(|e| Error::io(OPERATION, format!("creating {}", temp.display()), e))?;
            let result = self.to_writer(&mut file).await?;
            file.sync_all().await.map_err(|e| Error::io(OPERATION, format!("writing {}", temp.display()), e))?;
            drop(file);
            tokio::fs::rename(&temp, path)
                .await
                .map_err(|e| Error::io(OPERATION, format!("renaming into {}", path.display()), e))?;
            Ok(result)
        }
        .await;
        if outcome.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        outcome
    }

    /// Downloads into `writer` (flushed at the end).
    pub async fn to_writer<W: AsyncWrite + Unpin + ?Sized>(self, writer: &mut W) -> Result<DownloadResult, Error> {
        let mut stream = self.bytes_stream().await?;
        while let Some(chunk) = stream.next().await {
            writer.write_all(&chunk?).await.map_err(|e| Error::io(OPERATION, "writing the destination", e))?;
        }
        writer.flush().await.map_err(|e| Error::io(OPERATION, "writing the destination", e))?;
        Ok(stream.result())
    }

    /// The whole file in memory, at most the app's
    /// [`max_response_bytes`](crate::CloudBaseBuilder::max_response_bytes) (else
    /// [`Error::ResponseTooLarge`]): for large files use [`to_path`](Self::to_path) or
    /// [`bytes_stream`](Self::bytes_stream).
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let limit = self.core.transport.max_response_bytes;
        let mut stream = self.bytes_stream().await?;
        let too_large = || Error::ResponseTooLarge { operation: OPERATION, request_id: None, limit };
        if stream.len().is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::with_capacity(stream.len().map_or(0, |len| len as usize));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }

    /// The file as a `Stream` of chunks, started: the object store has answered and the bytes are on their
    /// way. A connection lost mid-way ends the stream with an error, never with a short success.
    pub async fn bytes_stream(self) -> Result<DownloadStream, Error> {
        path::file_id("file_id", &self.file_id)?;
        let storage = Storage { core: Arc::clone(&self.core) };
        let url = storage.get_temp_file_url([self.file_id.as_str()]).await?.items.into_iter().next();
        let url = url.unwrap_or(Err(Error::Cancelled("no download url")))?;
        // The encoded form is a valid URL as is; `url` may hold the key as written (spaces, unicode).
        let address = url.url_encoded.as_deref().unwrap_or(&url.url);
        let request = self.core.transport.http.get(address).timeout(self.timeout);
        let response = request.send().await.map_err(|e| Error::from_transport(e, OPERATION, None))?;
        if !response.status().is_success() {
            return Err(error_reply(response, OPERATION).await);
        }
        let len = response.content_length();
        let content_type =
            response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        self.progress.report(Progress { done: 0, total: len });
        Ok(DownloadStream {
            body: Box::pin(response.bytes_stream()),
            file_id: self.file_id,
            len,
            content_type,
            done: 0,
            progress: self.progress,
        })
    }
}

/// A file arriving ([`DownloadFile::bytes_stream`]): a `Stream` of chunks.
pub struct DownloadStream {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    file_id: String,
    len: Option<u64>,
    content_type: Option<String>,
    done: u64,
    progress: ProgressSink,
}

impl fmt::Debug for DownloadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadStream")
            .field("file_id", &self.file_id)
            .field("len", &self.len)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl DownloadStream {
    /// The file's size, when the object store announced it.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// True when the file is announced as empty.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// The object's content type, when the object store sent one.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    fn result(&self) -> DownloadResult {
        DownloadResult { file_id: self.file_id.clone(), size: self.done, content_type: self.content_type.clone() }
    }
}

impl Stream for DownloadStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.body.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.done += chunk.len() as u64;
                let progress = Progress { done: self.done, total: self.len };
                self.progress.report(progress);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from_transport(e, OPERATION, None)))),
            Poll::Ready(None) => match self.len {
                // The transport checks the announced length too; this keeps the promise on any transport.
                Some(len) if self.done != len => {
                    let (done, operation) = (self.done, OPERATION);
                    self.len = Some(done);
                    Poll::Ready(Some(Err(Error::Decode {
                        operation,
                        status: 200,
                        request_id: None,
                        body_len: done as usize,
                        reason: format!("the download ended after {done} of {len} bytes"),
                    })))
                }
                _ => Poll::Ready(None),
            },
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A temporary name beside `path`, unique to this download.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.part-{}", uuid::Uuid::new_v4().simple()))
}
