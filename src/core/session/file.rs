//! [`FileStore`]: a JSON file safe to share between processes.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::store::{SessionStore, StoreError, StoreLock};
use crate::Secret;

/// The default [`FileStore::lock_timeout`].
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// A JSON file holding every key, safe to share between processes:
///
/// * every write goes to a temporary file in the same directory, is flushed to disk, then renamed over the
///   old file, so a reader never sees half a file and a crash never loses the previous session;
/// * the file (and its lock file) are created with mode 0600 on Unix: only the owner can read the tokens;
/// * [`SessionStore::lock`] takes an OS file lock on `<file>.lock`, which the SDK holds while it refreshes
///   tokens: a second process waits, re-reads the file, and uses the tokens the first one stored instead of
///   spending the same refresh token again. The wait is bounded ([`lock_timeout`](Self::lock_timeout),
///   default 5 s): a holder that was stopped (`SIGSTOP`, a debugger) turns into a clear
///   [`Error::Storage`](crate::Error::Storage), and no thread is blocked while waiting;
/// * a file that is not a session file (truncated, hand-edited, another program's) is moved aside to
///   `<file>.corrupt-<unix ms>` for inspection and the store starts empty, so the app still works and the
///   next sign-in writes a good file.
///
/// ```no_run
/// # fn demo() -> Result<(), cloudbase::Error> {
/// let store = cloudbase::FileStore::new(dirs_next_config().join("my-app/session.json"));
/// let app = cloudbase::CloudBase::builder("my-env-1a2b").session_store(store).build()?;
/// # let _ = app; Ok(()) }
/// # fn dirs_next_config() -> std::path::PathBuf { std::path::PathBuf::from("/tmp") }
/// ```
#[derive(Clone, Debug)]
pub struct FileStore {
    inner: Arc<Paths>,
    lock_timeout: Duration,
}

#[derive(Debug)]
struct Paths {
    path: PathBuf,
    lock_path: PathBuf,
}

impl FileStore {
    /// A store at `path`. The directory is created on first write.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let lock_path = sibling(&path, ".lock");
        FileStore { inner: Arc::new(Paths { path, lock_path }), lock_timeout: DEFAULT_LOCK_TIMEOUT }
    }

    /// How long [`lock`](SessionStore::lock) waits for another holder before it fails (default 5 s).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Paths) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let paths = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&paths))
            .await
            .map_err(|e| StoreError::with_source("file store task failed", e))?
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "cloudbase".into());
    name.push(suffix);
    path.with_file_name(name)
}

impl Paths {
    fn read_all(&self) -> Result<BTreeMap<String, String>, StoreError> {
        match fs::read(&self.path) {
            Ok(bytes) if bytes.is_empty() => Ok(BTreeMap::new()),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(values) => Ok(values),
                Err(e) => {
                    self.move_aside(&e);
                    Ok(BTreeMap::new())
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(StoreError::with_source(format!("cannot read {}", self.path.display()), e)),
        }
    }

    /// Keeps an unreadable file for inspection instead of failing every call or overwriting it.
    fn move_aside(&self, why: &serde_json::Error) {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let aside = sibling(&self.path, &format!(".corrupt-{millis}"));
        // serde's message may quote file content (a token): log its position only.
        match fs::rename(&self.path, &aside) {
            Ok(()) => tracing::warn!(
                file = %self.path.display(),
                moved_to = %aside.display(),
                line = why.line(),
                column = why.column(),
                "the session file is unreadable; moved aside, starting empty"
            ),
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e, "unreadable session file; cannot move it")
            }
        }
    }

    fn write_all(&self, values: &BTreeMap<String, String>) -> Result<(), StoreError> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| StoreError::with_source(format!("cannot create {}", dir.display()), e))?;
        // tempfile creates the file with mode 0600 on Unix, before any byte is written.
        let mut temp = tempfile::Builder::new()
            .prefix(".cloudbase-session")
            .tempfile_in(dir)
            .map_err(|e| StoreError::with_source(format!("cannot create a temporary file in {}", dir.display()), e))?;
        let bytes = serde_json::to_vec(values).map_err(|e| StoreError::with_source("cannot encode the values", e))?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path)
            .map_err(|e| StoreError::with_source(format!("cannot replace {}", self.path.display()), e.error))?;
        // Make the rename itself durable.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, String>)) -> Result<(), StoreError> {
        let mut values = self.read_all()?;
        change(&mut values);
        self.write_all(&values)
    }

    fn open_lock_file(&self) -> Result<File, StoreError> {
        if let Some(dir) = self.lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&self.lock_path)
            .map_err(|e| StoreError::with_source(format!("cannot open {}", self.lock_path.display()), e))
    }
}

#[async_trait::async_trait]
impl SessionStore for FileStore {
    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |p| Ok(p.read_all()?.remove(&key).map(Secret::new))).await
    }

    async fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.blocking(move |p| {
            p.update(|values| {
                values.insert(key, value.expose_secret().to_owned());
            })
        })
        .await
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.blocking(move |p| {
            if !p.path.exists() {
                return Ok(());
            }
            p.update(|values| {
                values.remove(&key);
            })
        })
        .await
    }

    async fn lock(&self) -> Result<StoreLock, StoreError> {
        let file = {
            let paths = Arc::clone(&self.inner);
            tokio::task::spawn_blocking(move || paths.open_lock_file())
                .await
                .map_err(|e| StoreError::with_source("file store task failed", e))??
        };
        // Polling `try_lock` rather than a blocking `lock` on a thread: a stuck holder then costs a timer,
        // not a blocked thread per waiting call.
        let deadline = Instant::now() + self.lock_timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StoreLock::new(file)),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(StoreError::with_source(format!("cannot lock {}", self.inner.lock_path.display()), e));
                }
            }
            if Instant::now() >= deadline {
                return Err(StoreError::new(format!(
                    "{} is held by another holder for more than {:?}; is a process using this store stopped?",
                    self.inner.lock_path.display(),
                    self.lock_timeout
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("nested/session.json"));
        assert!(store.get("k").await.unwrap().is_none());
        store.set("k", Secret::from("v1")).await.unwrap();
        store.set("other", Secret::from("x")).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().unwrap().expose_secret(), "v1");
        store.remove("k").await.unwrap();
        assert!(store.get("k").await.unwrap().is_none());
        assert_eq!(store.get("other").await.unwrap().unwrap().expose_secret(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".cloudbase-session"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn a_corrupt_file_is_moved_aside_and_the_store_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, b"{\"k\": \"trunc").unwrap();
        let store = FileStore::new(&path);
        assert!(store.get("k").await.unwrap().is_none());
        let aside: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("s.json.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1, "the bad file is kept for inspection");
        assert_eq!(fs::read(aside[0].path()).unwrap(), b"{\"k\": \"trunc");
        store.set("k", Secret::from("good")).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().unwrap().expose_secret(), "good");
    }

    #[tokio::test]
    async fn a_held_lock_times_out_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("s.json")).lock_timeout(Duration::from_millis(200));
        let held = store.lock().await.unwrap();
        let started = Instant::now();
        let err = store.lock().await.unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(err.message().contains("held by another holder"), "{err}");
        drop(held);
        let _again = store.lock().await.expect("free again after release");
    }
}
