//! Two processes sharing one `FileStore`: an expired session is refreshed by exactly one of them, and the
//! other picks up the rotated tokens instead of spending the same refresh token.
#![cfg(feature = "contract")]

mod common;

use std::process::Command;
use std::time::Duration;

use cloudbase::{FileStore, Secret, SessionStore, SignInWithPassword};
use common::{PASSWORD, start};

const CHILDREN: usize = 4;

#[tokio::test]
async fn processes_sharing_a_file_store_refresh_once() {
    let env = start().await;
    env.user("multi@example.com");
    let session =
        env.auth().sign_in_with_password(SignInWithPassword::email("multi@example.com", PASSWORD)).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.json");
    let store = FileStore::new(&path);
    let mut expired = session.clone();
    expired.expires_at = 0;
    let key = format!("credentials_{}", env.emu.env_id());
    store.set(&key, Secret::new(serde_json::to_string(&expired).unwrap())).await.unwrap();
    store.set("device_id", Secret::new("0123456789abcdef0123456789abcdef")).await.unwrap();

    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_refreshes_the_shared_session", "--ignored", "--nocapture", "--test-threads=1"])
                .env("CLOUDBASE_TEST_URL", env.emu.url())
                .env("CLOUDBASE_TEST_ENV", env.emu.env_id())
                .env("CLOUDBASE_TEST_STORE", &path)
                // The child's own test-harness summary would read like this run's; keep its failures only.
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    common::wait_for_children(children).await;
    assert_eq!(env.emu.count("grant_token"), 1, "one refresh for all processes");
    let stored: cloudbase::Session =
        serde_json::from_str(store.get(&key).await.unwrap().unwrap().expose_secret()).unwrap();
    assert_ne!(stored.refresh_token, session.refresh_token, "the rotated token was stored");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    env.assert_contract();
}

/// Run by the test above in a child process.
#[tokio::test]
#[ignore = "run as a child process by processes_sharing_a_file_store_refresh_once"]
async fn child_refreshes_the_shared_session() {
    let url = std::env::var("CLOUDBASE_TEST_URL").expect("started by the parent test");
    let env_id = std::env::var("CLOUDBASE_TEST_ENV").unwrap();
    let path = std::env::var("CLOUDBASE_TEST_STORE").unwrap();
    let app = cloudbase::CloudBase::builder(env_id).base_url(url).session_store(FileStore::new(path)).build().unwrap();
    let session = app.auth().get_session().await.unwrap().expect("the shared session");
    assert!(!session.expires_within(Duration::from_secs(60)));
    // The refreshed access token works.
    assert!(app.auth().get_user().await.is_ok());
}
