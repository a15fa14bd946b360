//! Cloud storage: `app.storage()`, with the JS SDK's names (`uploadFile`, `downloadFile`, `getTempFileURL`,
//! `deleteFile`, `copyFile`, `getUploadMetadata`) in snake_case, over the generated `raw::storage` client.
//!
//! Storage is two steps: the gateway hands out signed upload or download information, then the bytes move
//! straight between this process and the object store, streamed both ways (a file is never held in memory).
//! Batch calls answer one result per item, in order: one bad item never fails the others.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emu = cloudbase_emulator::Emulator::start().await?;
//! # let app = cloudbase::CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
//! app.auth().sign_in_anonymously().await?;
//! let storage = app.storage();
//! let uploaded = storage.upload_file("notes/hello.txt", b"hello".to_vec()).send().await?;
//! let urls = storage.get_temp_file_url([uploaded.file_id.as_str()]).await?;
//! for url in urls.items {
//!     println!("{}", url?.url);
//! }
//! let dir = tempfile::tempdir()?;
//! storage.download_file(&uploaded.file_id).to_path(dir.path().join("hello.txt")).await?;
//! assert_eq!(std::fs::read(dir.path().join("hello.txt"))?, b"hello");
//! storage.delete_file([uploaded.file_id]).await?.all_ok()?;
//! # Ok(()) }
//! ```

mod batch;
mod cos;
mod download;
mod path;
mod progress;
mod upload;

use std::sync::Arc;

pub use batch::{CopiedFile, CopyFile, DeletedFile, FileResults, TempFileUrl, UploadMetadata};
pub use download::{DownloadFile, DownloadResult, DownloadStream};
pub use path::MAX_CLOUD_PATH_BYTES;
pub use progress::{Progress, ProgressStream};
pub use upload::{UploadFile, UploadResult, UploadSource};

use crate::CloudBase;
use crate::core::Core;

/// The most items sent in one gateway call; longer lists are sent in several calls, in order.
pub const MAX_BATCH_ITEMS: usize = 100;

impl CloudBase {
    /// Cloud storage of this environment, as the signed-in user (or with the publishable key when nobody is
    /// signed in). Cheap: a handle over the app's shared client.
    pub fn storage(&self) -> Storage {
        Storage { core: Arc::clone(self.core()) }
    }
}

/// Cloud storage ([`CloudBase::storage`]).
#[derive(Clone)]
pub struct Storage {
    core: Arc<Core>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").field("env", &self.core.env).finish_non_exhaustive()
    }
}

impl Storage {
    /// Uploads `source` (a path, bytes, or any `AsyncRead` with its length: see [`UploadSource`]) to
    /// `cloud_path` (`dir/name.ext`). The JS SDK's `uploadFile`.
    ///
    /// ```no_run
    /// # async fn demo(app: cloudbase::CloudBase) -> Result<(), cloudbase::Error> {
    /// use cloudbase::storage::UploadSource;
    /// let done = app
    ///     .storage()
    ///     .upload_file("videos/intro.mp4", UploadSource::path("intro.mp4"))
    ///     .on_progress(|p| println!("{} of {:?} bytes", p.done, p.total))
    ///     .send()
    ///     .await?;
    /// println!("uploaded as {}", done.file_id);
    /// # Ok(()) }
    /// ```
    pub fn upload_file(&self, cloud_path: impl Into<String>, source: impl Into<UploadSource>) -> UploadFile {
        UploadFile::new(Arc::clone(&self.core), cloud_path.into(), source.into())
    }

    /// Downloads the file `file_id` (`cloud://...`): to a path, to any `AsyncWrite`, or as a `Stream` of bytes.
    /// The JS SDK's `downloadFile`.
    pub fn download_file(&self, file_id: impl Into<String>) -> DownloadFile {
        DownloadFile::new(Arc::clone(&self.core), file_id.into())
    }
}
