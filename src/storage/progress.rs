//! Transfer progress: a callback, a `Stream` of the latest figures, or both.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

/// How far a transfer is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes moved so far.
    pub done: u64,
    /// The size of the whole transfer, when known.
    pub total: Option<u64>,
}

impl Progress {
    /// The share done, from 0.0 to 1.0, when the total is known (an empty transfer is complete).
    pub fn fraction(&self) -> Option<f64> {
        self.total.map(|total| if total == 0 { 1.0 } else { self.done as f64 / total as f64 })
    }
}

/// The latest progress of a transfer, as a `Stream`: each item is the newest figure (a slow reader skips
/// intermediate ones rather than queueing them), and the stream ends when the transfer ends.
pub struct ProgressStream {
    inner: WatchStream<Progress>,
}

impl fmt::Debug for ProgressStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressStream").finish_non_exhaustive()
    }
}

impl Stream for ProgressStream {
    type Item = Progress;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Progress>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

type Callback = Arc<dyn Fn(Progress) + Send + Sync>;

/// Where a transfer reports its progress.
#[derive(Clone, Default)]
pub(crate) struct ProgressSink {
    callback: Option<Callback>,
    watch: Option<Arc<watch::Sender<Progress>>>,
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressSink")
            .field("callback", &self.callback.is_some())
            .field("stream", &self.watch.is_some())
            .finish()
    }
}

impl ProgressSink {
    pub(crate) fn set_callback(&mut self, callback: impl Fn(Progress) + Send + Sync + 'static) {
        self.callback = Some(Arc::new(callback));
    }

    pub(crate) fn stream(&mut self) -> ProgressStream {
        let sender = self.watch.get_or_insert_with(|| Arc::new(watch::channel(Progress::default()).0));
        ProgressStream { inner: WatchStream::new(sender.subscribe()) }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.callback.is_some() || self.watch.is_some()
    }

    pub(crate) fn report(&self, progress: Progress) {
        if let Some(callback) = &self.callback {
            callback(progress);
        }
        if let Some(watch) = &self.watch {
            watch.send_replace(progress);
        }
    }
}

/// The options every transfer builder shares (its fields `progress: ProgressSink` and `timeout: Duration`):
/// a progress callback, a progress stream, and the transfer's own timeout.
macro_rules! transfer_options {
    ($what:literal, $moving:literal) => {
        #[doc = concat!("Calls `callback` as bytes ", $moving, " (from the task running the ", $what, ": keep it quick).")]
        pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
            self.progress.set_callback(callback);
            self
        }

        #[doc = concat!("The ", $what, "'s progress as a stream of the newest figures; it ends when the ", $what, " ends.")]
        pub fn progress(&mut self) -> ProgressStream {
            self.progress.stream()
        }

        /// The most the byte transfer may take (default 24 hours; the app's request timeout is for API calls).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }
    };
}

pub(crate) use transfer_options;
