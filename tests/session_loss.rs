//! Every way the issue lists for a session to be lost, each with its defined outcome: failed store writes,
//! dropped callers, lost replies, stale or foreign tokens, failed profile fetches, stuck locks, corrupt
//! files, and events from other processes.
#![cfg(feature = "contract")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cloudbase::{
    AuthEvent, Error, FileStore, MemoryStore, Secret, SessionStore, SignInWithPassword, SignOutOptions, StoreError,
    StoreLock,
};
use cloudbase_emulator::{EmulatorConfig, Fault};
use common::{PASSWORD, drain_events, expired_app, next_event, replies, session_key, start, start_with};

/// A `MemoryStore` whose writes can be made to fail.
#[derive(Clone, Default)]
struct FlakyStore {
    inner: MemoryStore,
    fail_writes: Arc<AtomicBool>,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.fail_writes.load(Ordering::SeqCst) { Err(StoreError::new("disk full")) } else { Ok(()) }
    }
}

#[cloudbase::async_trait]
impl SessionStore for FlakyStore {
    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
        self.check()?;
        self.inner.set(key, value).await
    }
    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.remove(key).await
    }
    async fn lock(&self) -> Result<StoreLock, StoreError> {
        self.inner.lock().await
    }
}

#[tokio::test]
async fn a_failed_store_write_during_refresh_never_resends_the_spent_token() {
    let store = FlakyStore::default();
    let env = start_with(EmulatorConfig::default(), |b| b.session_store(store.clone())).await;
    env.user("flaky@example.com");
    let auth = env.auth();
    let signed_in = auth.sign_in_with_password(SignInWithPassword::email("flaky@example.com", PASSWORD)).await.unwrap();

    store.fail_writes.store(true, Ordering::SeqCst);
    let refreshed = auth.refresh_session(None).await.expect("the refresh itself succeeded");
    assert_ne!(refreshed.refresh_token, signed_in.refresh_token);
    let stored = store.inner.get(&session_key(&env.emu)).await.unwrap().unwrap();
    assert!(
        stored.expose_secret().contains(signed_in.refresh_token.as_ref().unwrap().expose_secret()),
        "store is behind"
    );

    store.fail_writes.store(false, Ordering::SeqCst);
    let again = auth.refresh_session(None).await.expect("refreshes from the token in memory, not the stored one");
    assert_eq!(replies(&env.emu, "grant_token", 200), 2);
    assert_eq!(env.emu.count("grant_token"), 2, "the spent token was never sent");
    let stored = store.inner.get(&session_key(&env.emu)).await.unwrap().unwrap();
    assert!(stored.expose_secret().contains(again.refresh_token.as_ref().unwrap().expose_secret()), "caught up");
    env.assert_contract();
}

#[tokio::test]
async fn a_caller_dropped_during_the_token_request_does_not_lose_the_rotated_token() {
    let env = start().await;
    let (app, store, original) = expired_app(&env, "dropped@example.com").await;
    env.emu.inject_fault("grant_token", Fault::Hang(Duration::from_millis(400)), 1);
    let auth = app.auth();
    let gave_up = tokio::time::timeout(Duration::from_millis(50), auth.get_session()).await;
    assert!(gave_up.is_err(), "the caller timed out while the token request was in flight");

    // The refresh goes on without its caller; wait (bounded) for the service to have answered it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while replies(&env.emu, "grant_token", 200) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the refresh finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let session = auth.get_session().await.unwrap().expect("still signed in");
    assert_ne!(session.refresh_token, original.refresh_token, "the rotated token was kept");
    assert_eq!(env.emu.count("grant_token"), 1, "no second refresh, no reuse");
    let stored = store.get(&session_key(&env.emu)).await.unwrap().unwrap();
    assert!(stored.expose_secret().contains(session.refresh_token.as_ref().unwrap().expose_secret()));
    assert!(auth.get_user().await.is_ok());
}

/// What no client can recover, documented in `src/core/session/refresh.rs`: the service rotated the token
/// and the reply was lost. The session keeps working until the service refuses the old token; then the user
/// is signed out with an event.
#[tokio::test]
async fn a_lost_refresh_reply_keeps_the_session_until_the_service_refuses_the_old_token() {
    let env = start().await;
    env.user("lost@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("lost@example.com", PASSWORD)).await.unwrap();
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    env.emu.inject_fault("grant_token", Fault::DropReply, 1);
    let err = auth.refresh_session(None).await.unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    assert!(auth.get_session().await.unwrap().is_some(), "the session is kept");
    assert!(auth.get_user().await.is_ok(), "its access token still works");

    let err = auth.refresh_session(None).await.unwrap_err();
    assert_eq!(err.code(), Some(&cloudbase::ErrorCode::InvalidGrant));
    assert_eq!(next_event(&mut events).await.event, AuthEvent::SignedOut);
    assert!(auth.get_session().await.unwrap().is_none());
}

#[tokio::test]
async fn an_old_token_rotated_by_another_process_is_refused_without_signing_out() {
    let env = start().await;
    env.user("two@example.com");
    let store = MemoryStore::new();
    let first = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    let second = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    let old = first.auth().sign_in_with_password(SignInWithPassword::email("two@example.com", PASSWORD)).await.unwrap();
    assert!(second.auth().get_session().await.unwrap().is_some(), "the second app loads the shared session");
    let mut events = second.auth().on_auth_state_change();
    next_event(&mut events).await;

    let rotated = first.auth().refresh_session(None).await.unwrap();
    let err = second.auth().refresh_session(old.refresh_token.clone()).await.unwrap_err();
    assert_eq!(err.code(), Some(&cloudbase::ErrorCode::InvalidGrant));
    let kept = second.auth().get_session().await.unwrap().expect("still signed in");
    assert_eq!(kept.refresh_token, rotated.refresh_token, "adopted the other process's newer tokens");
    let seen = drain_events(&mut events, Duration::from_millis(100)).await;
    assert_eq!(seen, vec![AuthEvent::TokenRefreshed], "the adoption is announced; no SIGNED_OUT");
}

#[tokio::test]
async fn set_session_and_refresh_session_as_another_user_fetch_that_users_profile() {
    let env = start().await;
    let ada = env.user("ada@example.com");
    let bob = env.user("bob@example.com");
    let carl = env.user("carl@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("ada@example.com", PASSWORD)).await.unwrap();
    let other = common::builder(&env.emu).build().unwrap();
    let bobs =
        other.auth().sign_in_with_password(SignInWithPassword::email("bob@example.com", PASSWORD)).await.unwrap();
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;

    let session = auth.set_session("unused", bobs.refresh_token.clone().unwrap()).await.unwrap();
    assert_eq!(session.user.as_ref().map(|u| u.id.as_str()), Some(bob.as_str()), "the user matches the tokens");
    assert_eq!(next_event(&mut events).await.event, AuthEvent::TokenRefreshed);
    assert_eq!(next_event(&mut events).await.event, AuthEvent::SignedIn);

    let third = common::builder(&env.emu).build().unwrap();
    let carls =
        third.auth().sign_in_with_password(SignInWithPassword::email("carl@example.com", PASSWORD)).await.unwrap();
    let session = auth.refresh_session(carls.refresh_token.clone()).await.unwrap();
    assert_eq!(session.user.as_ref().map(|u| u.id.as_str()), Some(carl.as_str()));
    let stored = auth.get_session().await.unwrap().unwrap();
    assert_eq!(stored.user.map(|u| u.id), Some(carl));
    assert_ne!(ada, bob);
    env.assert_contract();
}

#[tokio::test]
async fn a_get_user_racing_a_sign_in_never_attaches_the_old_users_profile() {
    let env = start().await;
    env.user("first@example.com");
    let second_id = env.user("second@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("first@example.com", PASSWORD)).await.unwrap();
    env.emu.inject_fault("get_user_me", Fault::Hang(Duration::from_millis(300)), 1);
    let slow = tokio::spawn({
        let auth = auth.clone();
        async move { auth.get_user().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    auth.sign_in_with_password(SignInWithPassword::email("second@example.com", PASSWORD)).await.unwrap();
    let first_user = slow.await.unwrap().unwrap();
    assert_ne!(first_user.id, second_id, "the slow call returned the first user's profile");
    let session = auth.get_session().await.unwrap().unwrap();
    assert_eq!(session.user.map(|u| u.id), Some(second_id), "but it was not attached to the second user's tokens");
}

#[tokio::test]
async fn a_refresh_reply_without_a_refresh_token_keeps_the_old_one() {
    let config = EmulatorConfig { rotate_refresh_tokens: false, ..Default::default() };
    let env = start_with(config, |b| b).await;
    env.user("keep@example.com");
    let auth = env.auth();
    let before = auth.sign_in_with_password(SignInWithPassword::email("keep@example.com", PASSWORD)).await.unwrap();
    let after = auth.refresh_session(None).await.unwrap();
    assert_ne!(after.access_token, before.access_token);
    assert_eq!(after.refresh_token, before.refresh_token, "RFC 6749 section 6: the old refresh token remains");
    let again = auth.refresh_session(None).await.expect("and it still works");
    assert_eq!(again.refresh_token, before.refresh_token);
    env.assert_contract();
}

#[tokio::test]
async fn a_sign_in_whose_profile_fetch_fails_keeps_the_session() {
    let env = start().await;
    let id = env.user("noprofile@example.com");
    let auth = env.auth();
    env.emu.inject_fault("get_user_me", Fault::Status500, 1);
    let session =
        auth.sign_in_with_password(SignInWithPassword::email("noprofile@example.com", PASSWORD)).await.unwrap();
    assert!(session.user.is_none(), "no profile yet");
    assert!(auth.get_session().await.unwrap().is_some(), "the spent code's tokens are kept");
    assert_eq!(auth.get_user().await.unwrap().id, id);
    assert_eq!(auth.get_session().await.unwrap().unwrap().user.map(|u| u.id), Some(id), "filled in later");
}

#[tokio::test]
async fn sign_out_with_an_expired_access_token_refreshes_first() {
    let env = start().await;
    let (app, _store, _) = expired_app(&env, "leaving@example.com").await;
    app.auth().sign_out_with(SignOutOptions::redirect_uri("https://app.example.com/bye")).await.unwrap();
    let order: Vec<(String, u16)> = env
        .emu
        .exchanges()
        .into_iter()
        .filter_map(|x| x.operation_id.map(|op| (op, x.status)))
        .filter(|(op, _)| op == "grant_token" || op == "sign_out_user")
        .collect();
    assert_eq!(order, vec![("grant_token".to_owned(), 200), ("sign_out_user".to_owned(), 200)]);
    assert!(app.auth().get_session().await.unwrap().is_none());
}

#[cfg(unix)]
#[tokio::test]
async fn a_stopped_process_holding_the_file_lock_gives_a_storage_error_in_bounded_time() {
    let env = start().await;
    env.user("locked@example.com");
    let session =
        env.auth().sign_in_with_password(SignInWithPassword::email("locked@example.com", PASSWORD)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.json");
    let store = FileStore::new(&path).lock_timeout(Duration::from_millis(300));
    let mut expired = session.clone();
    expired.expires_at = 0;
    store.set(&session_key(&env.emu), Secret::new(serde_json::to_string(&expired).unwrap())).await.unwrap();
    store.set("device_id", Secret::new("0123456789abcdef0123456789abcdef")).await.unwrap();

    // Another process takes the lock, then is stopped (as by SIGSTOP or a debugger).
    let lock_path = dir.path().join("session.json.lock");
    // `-o`: the lock stays with flock itself, not with the command it runs.
    let mut holder = std::process::Command::new("flock")
        .arg("-o")
        .arg(&lock_path)
        .args(["sleep", "10"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("flock(1)");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    // Held: the file exists and cannot be locked here.
    let held = || {
        std::fs::File::open(&lock_path).is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
    };
    while !held() {
        assert!(std::time::Instant::now() < deadline, "the holder took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stopped = std::process::Command::new("kill").args(["-STOP", &holder.id().to_string()]).status().unwrap();
    assert!(stopped.success());

    let app = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    let started = std::time::Instant::now();
    let err = app.auth().get_session().await.unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "bounded wait");
    assert_eq!(env.emu.count("grant_token"), 0, "no refresh without the lock");

    holder.kill().unwrap();
    holder.wait().unwrap();
    let session = app.auth().get_session().await.unwrap().expect("the session was never lost");
    assert!(!session.expires_within(Duration::from_secs(60)));
}

#[tokio::test]
async fn a_corrupt_or_unexpected_session_file_is_moved_aside_and_a_sign_in_writes_a_good_one() {
    let env = start().await;
    env.user("corrupt@example.com");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.json");
    for bad in [&b"{\"credentials_x\": \"trunc"[..], b"[1, 2, 3]", b"\x00\xff not even text"] {
        std::fs::write(&path, bad).unwrap();
        let app = common::builder(&env.emu).session_store(FileStore::new(&path)).build().expect("the app builds");
        assert!(app.auth().get_session().await.unwrap().is_none());
        app.auth().sign_in_with_password(SignInWithPassword::email("corrupt@example.com", PASSWORD)).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let values: serde_json::Value = serde_json::from_str(&text).expect("a good file now");
        assert!(values.get(session_key(&env.emu)).is_some());
    }
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("session.json.corrupt-"))
        .count();
    assert_eq!(kept, 3, "every bad file is kept for inspection");

    // A readable file whose session is of another type, or of a newer format.
    for bad in [r#"{"format": 2, "access_token": "a"}"#, r#"["not", "a", "session"]"#] {
        let store = MemoryStore::new();
        store.set(&session_key(&env.emu), Secret::new(bad)).await.unwrap();
        let app = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
        assert!(app.auth().get_session().await.unwrap().is_none());
        let aside = store.get(&format!("{}.unreadable", session_key(&env.emu))).await.unwrap().unwrap();
        assert_eq!(aside.expose_secret(), bad, "kept for inspection");
        app.auth().sign_in_with_password(SignInWithPassword::email("corrupt@example.com", PASSWORD)).await.unwrap();
        assert!(store.get(&session_key(&env.emu)).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn another_processs_refresh_is_adopted_with_token_refreshed_and_its_sign_out_with_signed_out() {
    let env = start().await;
    let (first, store, _) = expired_app(&env, "shared@example.com").await;
    let second = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    let mut events = second.auth().on_auth_state_change();
    next_event(&mut events).await;
    first.auth().get_session().await.unwrap().expect("the first app refreshed");
    let adopted = second.auth().get_session().await.unwrap().expect("the second app adopted the new tokens");
    assert_eq!(env.emu.count("grant_token"), 1);
    let change = next_event(&mut events).await;
    assert_eq!(change.event, AuthEvent::TokenRefreshed);
    assert_eq!(change.session.unwrap().refresh_token, adopted.refresh_token);

    first.auth().sign_out().await.unwrap();
    // The second app learns it at its next refresh.
    let err = second.auth().refresh_session(None).await.unwrap_err();
    assert!(matches!(err, Error::NotSignedIn), "{err:?}");
    assert_eq!(next_event(&mut events).await.event, AuthEvent::SignedOut);
}

#[tokio::test]
async fn a_call_refused_for_user_a_is_never_replayed_as_user_b() {
    let env = start().await;
    env.user("a@example.com");
    env.user("b@example.com");
    let store = MemoryStore::new();
    let app_a = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    let app_b = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    app_a.auth().sign_in_with_password(SignInWithPassword::email("a@example.com", PASSWORD)).await.unwrap();
    // A's token is now expired on the service (A's own clock does not know), and B signs in on the store.
    env.emu.advance_clock(Duration::from_secs(3 * 3600));
    app_b.auth().sign_in_with_password(SignInWithPassword::email("b@example.com", PASSWORD)).await.unwrap();
    let calls_before = env.emu.count("get_user_me");

    let err = app_a.auth().get_user().await.unwrap_err();
    assert_eq!(err.service().and_then(|s| s.status), Some(401), "A's refusal is returned: {err:?}");
    assert_eq!(env.emu.count("get_user_me"), calls_before + 1, "one call as A, no replay as B");
    assert_eq!(env.emu.count("grant_token"), 0, "B's fresh tokens were adopted, not refreshed");
}

#[tokio::test]
async fn a_lagging_subscriber_learns_that_it_missed_events() {
    let env = start().await;
    env.user("lag@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("lag@example.com", PASSWORD)).await.unwrap();
    let mut events = auth.on_auth_state_change();
    assert_eq!(next_event(&mut events).await.event, AuthEvent::InitialSession);
    for _ in 0..70 {
        auth.refresh_session(None).await.unwrap();
    }
    auth.sign_out().await.unwrap();
    let change = next_event(&mut events).await;
    assert_eq!(change.event, AuthEvent::Lagged);
    assert!(change.missed >= 7, "{}", change.missed);
    assert!(change.session.is_none(), "the lag change shows the session now: signed out");
}

/// A `MemoryStore` that counts writes.
#[derive(Clone, Default)]
struct CountingStore {
    inner: MemoryStore,
    writes: Arc<std::sync::atomic::AtomicUsize>,
}

#[cloudbase::async_trait]
impl SessionStore for CountingStore {
    async fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Secret) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.set(key, value).await
    }
    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.remove(key).await
    }
}

#[tokio::test]
async fn calls_on_a_valid_session_write_nothing() {
    let store = CountingStore::default();
    let env = start_with(EmulatorConfig::default(), |b| b.session_store(store.clone())).await;
    env.user("hot@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("hot@example.com", PASSWORD)).await.unwrap();
    auth.get_user().await.unwrap();
    let writes = store.writes.load(Ordering::SeqCst);
    for _ in 0..5 {
        auth.get_user().await.unwrap();
        auth.get_session().await.unwrap();
    }
    assert_eq!(store.writes.load(Ordering::SeqCst), writes, "an unchanged user is not written again");
}
