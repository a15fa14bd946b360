//! `RedisStore` against a real `redis-server` that each test starts on 127.0.0.1 with a free port: the store's
//! operations, its lock (exclusive, bounded wait, expiry, fencing), and processes sharing one identity
//! through Redis refreshing exactly once. `.ci/run` installs redis-server from the OS packages when missing.
#![cfg(all(feature = "redis", feature = "contract"))]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloudbase::{RedisStore, Secret, SessionStore, SignInWithPassword};
use common::{PASSWORD, session_key, start};

/// A redis-server of this test's own, stopped on drop.
struct RedisServer {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (`apt-get install redis-server`; .ci/run does it)");
        let server = RedisServer { child, url: format!("redis://127.0.0.1:{port}/0"), _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // A fresh store each try: its connection is made once and kept.
            if RedisStore::open(&server.url).unwrap().get("ping").await.is_ok() {
                return server;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn store(&self, prefix: &str) -> RedisStore {
        RedisStore::open(&self.url).unwrap().prefix(prefix)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn values_round_trip_under_their_prefix() {
    let redis = RedisServer::start().await;
    let a = redis.store("app-a:");
    let b = redis.store("app-b:");
    a.set("k", Secret::from("v1")).await.unwrap();
    assert_eq!(a.get("k").await.unwrap().unwrap().expose_secret(), "v1");
    assert!(b.get("k").await.unwrap().is_none(), "prefixes keep identities apart");
    a.remove("k").await.unwrap();
    assert!(a.get("k").await.unwrap().is_none());
    assert!(!format!("{a:?}").contains("redis://"), "Debug shows no URL (it may hold a password)");
    assert!(matches!(RedisStore::open("not a url"), Err(cloudbase::Error::InvalidInput { .. })));
}

#[tokio::test]
async fn the_lock_is_exclusive_bounded_and_expires() {
    let redis = RedisServer::start().await;
    let store = redis.store("lock:").lock_wait(Duration::from_millis(200)).lock_ttl(Duration::from_millis(600));
    let held = store.lock().await.unwrap();
    let started = Instant::now();
    let err = store.lock().await.unwrap_err();
    assert!(err.message().contains("held by another holder"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    drop(held);
    // Released (by a task spawned on drop): taken again within the wait.
    let again = store.clone().lock_wait(Duration::from_secs(5)).lock().await.unwrap();
    // A holder that never releases: its lock expires after the TTL.
    std::mem::forget(again);
    let after_expiry = store.clone().lock_wait(Duration::from_secs(5)).lock().await;
    assert!(after_expiry.is_ok(), "the forgotten lock expired");
}

#[tokio::test]
async fn a_holder_whose_lock_expired_cannot_overwrite_the_next_holders_write() {
    let redis = RedisServer::start().await;
    let store = redis.store("fence:").lock_ttl(Duration::from_millis(150)).lock_wait(Duration::from_secs(5));
    let paused = store.lock().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // paused past its expiry
    let next = store.lock().await.unwrap();
    assert!(next.fence() > paused.fence());
    store.set_locked("credentials_x", Secret::from("newer"), &next).await.unwrap();
    let err = store.set_locked("credentials_x", Secret::from("stale"), &paused).await.unwrap_err();
    assert!(err.message().contains("fencing"), "{err}");
    assert!(store.remove_locked("credentials_x", &paused).await.is_err());
    assert_eq!(store.get("credentials_x").await.unwrap().unwrap().expose_secret(), "newer");
    let unlocked = cloudbase::StoreLock::none();
    assert!(store.set_locked("credentials_x", Secret::from("x"), &unlocked).await.is_err(), "needs its own lock");
}

#[tokio::test]
async fn apps_sharing_redis_share_the_session() {
    let env = start().await;
    let redis = RedisServer::start().await;
    env.user("redis@example.com");
    let one = common::builder(&env.emu).session_store(redis.store("shared:")).build().unwrap();
    let session =
        one.auth().sign_in_with_password(SignInWithPassword::email("redis@example.com", PASSWORD)).await.unwrap();
    let two = common::builder(&env.emu).session_store(redis.store("shared:")).build().unwrap();
    let loaded = two.auth().get_session().await.unwrap().expect("loaded from Redis");
    assert_eq!(loaded.refresh_token, session.refresh_token);
    assert_eq!(one.auth().device_id().await.unwrap(), two.auth().device_id().await.unwrap());
    env.assert_contract();
}

const CHILDREN: usize = 4;

#[tokio::test]
async fn processes_sharing_redis_refresh_once() {
    let env = start().await;
    let redis = RedisServer::start().await;
    env.user("fleet@example.com");
    let session =
        env.auth().sign_in_with_password(SignInWithPassword::email("fleet@example.com", PASSWORD)).await.unwrap();
    let store = redis.store("fleet:");
    let mut expired = session.clone();
    expired.expires_at = 0;
    store.set(&session_key(&env.emu), Secret::new(serde_json::to_string(&expired).unwrap())).await.unwrap();

    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_refreshes_through_redis", "--ignored", "--nocapture", "--test-threads=1"])
                .env("CLOUDBASE_TEST_URL", env.emu.url())
                .env("CLOUDBASE_TEST_ENV", env.emu.env_id())
                .env("CLOUDBASE_TEST_REDIS", &redis.url)
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    common::wait_for_children(children).await;
    assert_eq!(env.emu.count("grant_token"), 1, "one refresh for the whole fleet");
    let stored: serde_json::Value =
        serde_json::from_str(store.get(&session_key(&env.emu)).await.unwrap().unwrap().expose_secret()).unwrap();
    assert_ne!(stored["refresh_token"].as_str(), session.refresh_token.as_ref().map(|t| t.expose_secret()));
    env.assert_contract();
}

/// Run by the test above in a child process.
#[tokio::test]
#[ignore = "run as a child process by processes_sharing_redis_refresh_once"]
async fn child_refreshes_through_redis() {
    let url = std::env::var("CLOUDBASE_TEST_URL").expect("started by the parent test");
    let env_id = std::env::var("CLOUDBASE_TEST_ENV").unwrap();
    let redis = std::env::var("CLOUDBASE_TEST_REDIS").unwrap();
    let store = RedisStore::open(&redis).unwrap().prefix("fleet:");
    let app = cloudbase::CloudBase::builder(env_id).base_url(url).session_store(store).build().unwrap();
    let session = app.auth().get_session().await.unwrap().expect("the shared session");
    assert!(!session.expires_within(Duration::from_secs(60)));
    assert!(app.auth().get_user().await.is_ok());
}
