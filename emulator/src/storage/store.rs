//! The object store: one directory, flat. An object is a data file named by the hex SHA-256 of its key (so
//! `a` and `a/b` can both exist and no key reaches outside the directory) and a JSON sidecar `{hash}.json`
//! with its metadata.
//!
//! Every write lands in a `.tmp-*` file of the same directory first and is renamed into place, so a reader
//! never sees a half-written object; the temp file is a [`NamedTempFile`], removed when dropped, so an
//! upload that fails or whose task is cancelled (client gone) leaves nothing behind. The renames of data
//! and sidecar happen under the write half of a lock whose read half covers opening both, so a reader gets
//! a matching pair (an open file keeps its contents even when a newer object replaces its name).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::body::Body;
use http_body_util::BodyExt as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::{NamedTempFile, TempDir};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::RwLock;

use super::sign::hex;

const TEMP_PREFIX: &str = ".tmp-";

/// An object's metadata, as stored in its sidecar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub key: String,
    /// The user id of whoever wrote it.
    pub owner: String,
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the content (unquoted).
    pub etag: String,
    /// Unix seconds on the emulator's clock.
    pub last_modified: u64,
}

/// Why an upload stored nothing.
#[derive(Debug)]
pub(crate) enum PutError {
    /// The body ended early, failed, or did not match its `Content-Length`.
    Incomplete(String),
    /// The key exists and belongs to another user.
    NotOwner,
    Io(io::Error),
}

/// Why a copy did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CopyRefusal {
    SourceMissing,
    DestinationExists,
    /// The destination (or, for a move, the source) belongs to another user.
    NotOwner,
}

/// What a delete did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    Done,
    Missing,
    Refused,
}

/// The store of one emulator.
pub(crate) struct Store {
    dir: PathBuf,
    // Held only to delete the directory with the state.
    _temp: Option<TempDir>,
    lock: RwLock<()>,
    cut_next_download: Mutex<Option<u64>>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

impl Store {
    /// A store in `dir` (created if missing), or in a new temporary directory deleted with the store.
    pub fn new(dir: Option<PathBuf>) -> io::Result<Self> {
        let (dir, temp) = match dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                (dir, None)
            }
            None => {
                let temp = tempfile::Builder::new().prefix("cloudbase-emulator-storage-").tempdir()?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        Ok(Self { dir, _temp: temp, lock: RwLock::new(()), cut_next_download: Mutex::new(None) })
    }

    /// The directory in use.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_path(&self, key: &str) -> PathBuf {
        self.dir.join(hex(&Sha256::digest(key.as_bytes())))
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", hex(&Sha256::digest(key.as_bytes()))))
    }

    async fn temp_file(&self) -> io::Result<NamedTempFile> {
        let dir = self.dir.clone();
        blocking(move || tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)).await
    }

    async fn read_meta(&self, key: &str) -> io::Result<Option<Meta>> {
        match tokio::fs::read(self.meta_path(key)).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The metadata of `key`, if it exists.
    pub async fn meta(&self, key: &str) -> io::Result<Option<Meta>> {
        let _read = self.lock.read().await;
        self.read_meta(key).await
    }

    /// The metadata and an open data file of `key`, if it exists.
    pub async fn open(&self, key: &str) -> io::Result<Option<(Meta, tokio::fs::File)>> {
        let _read = self.lock.read().await;
        let Some(meta) = self.read_meta(key).await? else { return Ok(None) };
        match tokio::fs::File::open(self.data_path(key)).await {
            Ok(file) => Ok(Some((meta, file))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves a complete data file and its metadata into place. The caller holds the write lock.
    async fn commit(&self, data: NamedTempFile, meta: &Meta) -> io::Result<()> {
        let mut sidecar = self.temp_file().await?;
        let json = serde_json::to_vec(meta).map_err(io::Error::other)?;
        let (data_path, meta_path) = (self.data_path(&meta.key), self.meta_path(&meta.key));
        blocking(move || {
            io::Write::write_all(&mut sidecar, &json)?;
            data.persist(data_path).map_err(|e| e.error)?;
            sidecar.persist(meta_path).map_err(|e| e.error)?;
            Ok(())
        })
        .await
    }

    /// Stores `body` as `key`, owned by `owner`, streaming it to disk chunk by chunk. `expected` is the
    /// announced `Content-Length`.
    pub async fn put(
        &self,
        key: &str,
        owner: &str,
        content_type: &str,
        body: Body,
        expected: Option<u64>,
        now: u64,
    ) -> Result<Meta, PutError> {
        let temp = self.temp_file().await.map_err(PutError::Io)?;
        let mut file = tokio::fs::File::from_std(temp.as_file().try_clone().map_err(PutError::Io)?);
        let mut body = body;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        // Bounded by the body, which the gateway's edge limits to 5 GiB.
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| PutError::Incomplete(format!("the body stream failed: {e}")))?;
            let Ok(chunk) = frame.into_data() else { continue };
            size += chunk.len() as u64;
            if expected.is_some_and(|n| size > n) {
                return Err(PutError::Incomplete(format!("more than the announced {} bytes", size - 1)));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(PutError::Io)?;
        }
        if let Some(n) = expected.filter(|n| *n != size) {
            return Err(PutError::Incomplete(format!("{size} bytes received, Content-Length announced {n}")));
        }
        file.flush().await.map_err(PutError::Io)?;
        drop(file);
        let meta = Meta {
            key: key.to_owned(),
            owner: owner.to_owned(),
            content_type: content_type.to_owned(),
            size,
            etag: hex(&hasher.finalize()),
            last_modified: now,
        };
        let _write = self.lock.write().await;
        // Checked again here: the key may have been created since the upload info was handed out.
        if self.read_meta(key).await.map_err(PutError::Io)?.is_some_and(|m| m.owner != owner) {
            return Err(PutError::NotOwner);
        }
        self.commit(temp, &meta).await.map_err(PutError::Io)?;
        Ok(meta)
    }

    /// Deletes `key` if it exists and `allowed` agrees.
    pub async fn delete(&self, key: &str, allowed: impl FnOnce(&Meta) -> bool) -> io::Result<Removal> {
        let _write = self.lock.write().await;
        let Some(meta) = self.read_meta(key).await? else { return Ok(Removal::Missing) };
        if !allowed(&meta) {
            return Ok(Removal::Refused);
        }
        self.remove(key).await?;
        Ok(Removal::Done)
    }

    /// Removes both files; the sidecar first, so that a failure half-way leaves no object behind.
    async fn remove(&self, key: &str) -> io::Result<()> {
        for path in [self.meta_path(key), self.data_path(key)] {
            match tokio::fs::remove_file(path).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Copies `src` to `dst` for `owner` (the copy's owner), keeping the content type; with
    /// `remove_original` the source is deleted afterwards.
    pub async fn copy(
        &self,
        src: &str,
        dst: &str,
        owner: &str,
        overwrite: bool,
        remove_original: bool,
        now: u64,
    ) -> io::Result<Result<Meta, CopyRefusal>> {
        let refusal = |existing: Option<&Meta>| match existing {
            Some(_) if !overwrite => Some(CopyRefusal::DestinationExists),
            Some(m) if m.owner != owner => Some(CopyRefusal::NotOwner),
            _ => None,
        };
        let Some((source, mut reader)) = self.open(src).await? else { return Ok(Err(CopyRefusal::SourceMissing)) };
        if remove_original && source.owner != owner {
            return Ok(Err(CopyRefusal::NotOwner));
        }
        // Checked before copying the bytes so a refused copy costs nothing, and again before the rename.
        if let Some(refused) = refusal(self.meta(dst).await?.as_ref()) {
            return Ok(Err(refused));
        }
        let temp = self.temp_file().await?;
        let mut file = tokio::fs::File::from_std(temp.as_file().try_clone()?);
        tokio::io::copy(&mut reader, &mut file).await?;
        file.flush().await?;
        drop(file);
        let meta = Meta { key: dst.to_owned(), owner: owner.to_owned(), last_modified: now, ..source };
        let _write = self.lock.write().await;
        if let Some(refused) = refusal(self.read_meta(dst).await?.as_ref()) {
            return Ok(Err(refused));
        }
        self.commit(temp, &meta).await?;
        if remove_original {
            self.remove(src).await?;
        }
        Ok(Ok(meta))
    }

    /// Deletes every object and temp file (only files the store names, so a `storage_dir` shared with
    /// other files keeps them).
    pub fn clear(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let stem = name.strip_suffix(".json").unwrap_or(&name);
            let ours = name.starts_with(TEMP_PREFIX)
                || (stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            if ours {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Makes the next download stop after `after_bytes` bytes of its body.
    pub fn cut_next_download(&self, after_bytes: u64) {
        *self.cut_next_download.lock().unwrap_or_else(|e| e.into_inner()) = Some(after_bytes);
    }

    /// The cut planned for this download, if any (once).
    pub fn take_cut(&self) -> Option<u64> {
        self.cut_next_download.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Forgets a planned cut (reset).
    pub fn reset(&self) {
        self.take_cut();
        self.clear();
    }
}

/// A body of one chunk, for unit tests.
#[cfg(test)]
fn body(bytes: &'static [u8]) -> Body {
    Body::from(axum::body::Bytes::from_static(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(store: &Store) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn put_open_copy_delete() {
        let store = Store::new(None).unwrap();
        let meta = store.put("a", "u1", "text/plain", body(b"hello"), Some(5), 7).await.unwrap();
        assert_eq!((meta.size, meta.last_modified, meta.etag.len()), (5, 7, 64));
        store.put("a/b", "u1", "text/plain", body(b"other"), None, 7).await.unwrap();
        assert_eq!(files(&store).len(), 4);
        let (read, mut file) = store.open("a").await.unwrap().unwrap();
        assert_eq!(read, meta);
        let mut content = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut file, &mut content).await.unwrap();
        assert_eq!(content, "hello");
        assert!(matches!(store.put("a", "u2", "x/y", body(b"x"), None, 8).await, Err(PutError::NotOwner)));
        assert!(matches!(store.put("c", "u1", "x/y", body(b"x"), Some(2), 8).await, Err(PutError::Incomplete(_))));
        assert_eq!(store.copy("a", "a/b", "u1", false, false, 9).await.unwrap(), Err(CopyRefusal::DestinationExists));
        assert_eq!(store.copy("a", "a/b", "u2", true, false, 9).await.unwrap(), Err(CopyRefusal::NotOwner));
        assert_eq!(store.copy("zz", "q", "u2", true, false, 9).await.unwrap(), Err(CopyRefusal::SourceMissing));
        let moved = store.copy("a", "m", "u1", false, true, 9).await.unwrap().unwrap();
        assert_eq!((moved.etag, moved.content_type), (meta.etag, meta.content_type));
        assert!(store.meta("a").await.unwrap().is_none());
        assert_eq!(store.delete("m", |m| m.owner == "u2").await.unwrap(), Removal::Refused);
        assert_eq!(store.delete("m", |_| true).await.unwrap(), Removal::Done);
        assert_eq!(store.delete("m", |_| true).await.unwrap(), Removal::Missing);
        assert_eq!(files(&store).len(), 2);
        std::fs::write(store.dir().join("keep.txt"), b"not ours").unwrap();
        store.clear();
        assert_eq!(files(&store), vec!["keep.txt".to_owned()]);
    }

    #[tokio::test]
    async fn the_temporary_directory_goes_with_the_store() {
        let store = Store::new(None).unwrap();
        let dir = store.dir().to_owned();
        assert!(dir.is_dir());
        drop(store);
        assert!(!dir.exists());
    }
}
