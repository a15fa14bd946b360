//! Sessions: get/refresh/set/sign-out, events, claims, and the refresh rules (single flight, 401 retry,
//! revoked refresh tokens, failures that must keep the session).
#![cfg(feature = "contract")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use cloudbase::{AuthEvent, CloudBase, Error, MemoryStore, Secret, SessionStore, SignInWithPassword, SignOutOptions};
use cloudbase_emulator::Fault;
use common::{PASSWORD, TestEnv, drain_events, next_event, start};

/// Signs in on one app, then returns a second app whose stored copy of that session is already expired
/// (by its own clock), as after a night with the laptop closed.
async fn expired_copy(env: &TestEnv) -> (CloudBase, MemoryStore) {
    env.user("sleepy@example.com");
    let session =
        env.auth().sign_in_with_password(SignInWithPassword::email("sleepy@example.com", PASSWORD)).await.unwrap();
    let store = MemoryStore::new();
    let mut expired = session.clone();
    expired.expires_at = 0;
    let key = format!("credentials_{}", env.emu.env_id());
    store.set(&key, Secret::new(serde_json::to_string(&expired).unwrap())).await.unwrap();
    let app = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    (app, store)
}

#[tokio::test]
async fn get_session_is_none_signed_out_and_some_signed_in() {
    let env = start().await;
    let auth = env.auth();
    assert!(auth.get_session().await.unwrap().is_none());
    env.user("s@example.com");
    let signed_in = auth.sign_in_with_password(SignInWithPassword::email("s@example.com", PASSWORD)).await.unwrap();
    let session = auth.get_session().await.unwrap().expect("a session");
    assert_eq!(session.access_token, signed_in.access_token);
    // A fresh session needs no token request.
    assert_eq!(env.emu.count("grant_token"), 0);
    env.assert_contract();
}

#[tokio::test]
async fn a_thousand_concurrent_get_session_calls_on_an_expired_session_make_one_token_request() {
    let env = start().await;
    let (app, _store) = expired_copy(&env).await;
    let auth = app.auth();
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;

    let calls = (0..1000).map(|_| {
        let auth = auth.clone();
        tokio::spawn(async move { auth.get_session().await })
    });
    let sessions = futures::future::join_all(calls).await;
    let first = sessions[0].as_ref().unwrap().as_ref().unwrap().clone().unwrap();
    for session in &sessions {
        let session = session.as_ref().unwrap().as_ref().unwrap().as_ref().unwrap();
        assert_eq!(session.access_token, first.access_token, "every caller gets the one refreshed session");
    }
    assert_eq!(env.emu.count("grant_token"), 1, "exactly one token request");
    assert_eq!(next_event(&mut events).await.event, AuthEvent::TokenRefreshed);
    assert!(drain_events(&mut events, Duration::from_millis(100)).await.is_empty(), "one TOKEN_REFRESHED only");
    env.assert_contract();
}

#[tokio::test]
async fn the_rotated_refresh_token_is_stored_before_it_is_used() {
    let env = start().await;
    let (app, store) = expired_copy(&env).await;
    let refreshed = app.auth().get_session().await.unwrap().unwrap();
    let key = format!("credentials_{}", env.emu.env_id());
    let stored: cloudbase::Session =
        serde_json::from_str(store.get(&key).await.unwrap().unwrap().expose_secret()).unwrap();
    assert_eq!(stored.refresh_token, refreshed.refresh_token);
    assert_eq!(stored.access_token, refreshed.access_token);
    assert!(stored.user.is_some(), "the cached user survives a refresh");
    env.assert_contract();
}

#[tokio::test]
async fn refresh_session_rotates_and_the_old_refresh_token_is_refused() {
    let env = start().await;
    env.user("r@example.com");
    let auth = env.auth();
    let before = auth.sign_in_with_password(SignInWithPassword::email("r@example.com", PASSWORD)).await.unwrap();
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    let after = auth.refresh_session(None).await.unwrap();
    assert_ne!(after.refresh_token, before.refresh_token);
    assert_eq!(next_event(&mut events).await.event, AuthEvent::TokenRefreshed);

    // The old refresh token is spent: this client never sends it again, and the session stays.
    let grants = env.emu.count("grant_token");
    let err = auth.refresh_session(before.refresh_token.clone()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { field: "refresh_token", .. }), "{err:?}");
    assert_eq!(env.emu.count("grant_token"), grants, "nothing was sent");
    let kept = auth.get_session().await.unwrap().expect("still signed in");
    assert_eq!(kept.refresh_token, after.refresh_token);
    assert!(drain_events(&mut events, Duration::from_millis(100)).await.is_empty(), "no SIGNED_OUT");
    env.assert_contract();
}

#[tokio::test]
async fn a_refused_refresh_token_clears_the_session_and_signs_out() {
    let env = start().await;
    let (stale_app, store) = expired_copy(&env).await;
    // The original app rotates the refresh token the stale copy still holds.
    env.auth().refresh_session(None).await.unwrap();

    let stale = stale_app.auth();
    let mut events = stale.on_auth_state_change();
    assert!(next_event(&mut events).await.session.is_some());
    let err = stale.get_session().await.unwrap_err();
    assert_eq!(err.code(), Some(&cloudbase::ErrorCode::InvalidGrant), "{err:?}");
    assert_eq!(next_event(&mut events).await.event, AuthEvent::SignedOut);
    assert!(stale.get_session().await.unwrap().is_none());
    assert!(store.get(&format!("credentials_{}", env.emu.env_id())).await.unwrap().is_none(), "store cleared");
    env.assert_contract();
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_the_call_retried_once() {
    let env = start().await;
    env.user("late@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("late@example.com", PASSWORD)).await.unwrap();
    let user_calls = env.emu.count("get_user_me");
    // The service's clock says the token expired; ours does not (clock skew).
    env.emu.advance_clock(Duration::from_secs(7300));
    let user = auth.get_user().await.unwrap();
    assert_eq!(user.email.as_deref(), Some("late@example.com"));
    assert_eq!(env.emu.count("grant_token"), 1);
    assert_eq!(env.emu.count("get_user_me"), user_calls + 2, "one refused call, one retry");
    env.assert_contract();
}

#[tokio::test]
async fn failures_during_refresh_keep_the_session() {
    let env = start().await;
    let (app, store) = expired_copy(&env).await;
    let auth = app.auth();
    let key = format!("credentials_{}", env.emu.env_id());
    let before = store.get(&key).await.unwrap().unwrap();

    for fault in [
        Fault::Status500,
        Fault::Status502Html,
        Fault::DropConnection,
        Fault::JunkBody,
        Fault::TruncatedBody,
        Fault::ErrorWith200,
    ] {
        env.emu.inject_fault("grant_token", fault.clone(), 1);
        let err = auth.get_session().await.unwrap_err();
        assert!(!matches!(err, Error::NotSignedIn), "{fault:?}: {err:?}");
        let printed = format!("{err} {err:?}");
        assert!(!printed.contains(before.expose_secret()), "{fault:?}: no secret in the error");
        assert_eq!(store.get(&key).await.unwrap().unwrap(), before, "{fault:?}: the stored session is untouched");
        assert!(auth.inner_session_present(), "{fault:?}: the session is kept in memory");
    }
    // And once the service is back, the same session refreshes.
    let session = auth.get_session().await.unwrap().expect("still signed in");
    assert!(!session.expires_within(Duration::from_secs(60)));
    // Faulted exchanges are skipped; everything else the SDK sent and got must match the spec.
    env.assert_contract();
}

trait SessionPresent {
    fn inner_session_present(&self) -> bool;
}

impl SessionPresent for cloudbase::Auth {
    fn inner_session_present(&self) -> bool {
        // `on_auth_state_change` reports the in-memory session without touching the network.
        use futures::FutureExt as _;
        use futures::StreamExt as _;
        let mut changes = self.on_auth_state_change();
        changes.next().now_or_never().flatten().and_then(|c| c.session).is_some()
    }
}

#[tokio::test]
async fn a_hanging_refresh_times_out_and_keeps_the_session() {
    let env = start().await;
    let (_, store) = expired_copy(&env).await;
    let app = common::builder(&env.emu).session_store(store).timeout(Duration::from_millis(300)).build().unwrap();
    env.emu.inject_fault("grant_token", Fault::Hang(Duration::from_secs(2)), 1);
    let err = app.auth().get_session().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { operation: "grant_token", .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(app.auth().inner_session_present());
    env.assert_contract();
}

#[tokio::test]
async fn set_session_adopts_tokens_from_elsewhere() {
    let env = start().await;
    env.user("set@example.com");
    let donor = env.auth().sign_in_with_password(SignInWithPassword::email("set@example.com", PASSWORD)).await.unwrap();
    let app = common::builder(&env.emu).build().unwrap();
    let auth = app.auth();
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    let session = auth.set_session(donor.access_token.clone(), donor.refresh_token.clone().unwrap()).await.unwrap();
    assert_ne!(session.refresh_token, donor.refresh_token, "exchanged for a fresh pair");
    assert_eq!(next_event(&mut events).await.event, AuthEvent::TokenRefreshed);
    assert_eq!(next_event(&mut events).await.event, AuthEvent::SignedIn);
    assert_eq!(auth.get_user().await.unwrap().email.as_deref(), Some("set@example.com"));
    env.assert_contract();
}

#[tokio::test]
async fn sign_out_revokes_and_emits() {
    let env = start().await;
    env.user("out@example.com");
    let auth = env.auth();
    let session = auth.sign_in_with_password(SignInWithPassword::email("out@example.com", PASSWORD)).await.unwrap();
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    auth.sign_out().await.unwrap();
    assert_eq!(next_event(&mut events).await.event, AuthEvent::SignedOut);
    assert!(auth.get_session().await.unwrap().is_none());
    // The revoked token is refused by the service.
    let raw = cloudbase::raw::auth::Client::new(
        &env.emu.url(),
        cloudbase::raw::Context::new().with_bearer(session.access_token),
    );
    assert!(raw.get_user_me().await.is_err());
    assert_eq!(env.emu.count("revoke_token"), 1);

    // With a redirect: user/signout.
    auth.sign_in_with_password(SignInWithPassword::email("out@example.com", PASSWORD)).await.unwrap();
    let result = auth.sign_out_with(SignOutOptions::redirect_uri("https://app.example/bye")).await.unwrap();
    let _ = result.redirect_uri;
    assert_eq!(env.emu.count("sign_out_user"), 1);
    assert!(auth.get_session().await.unwrap().is_none());
    env.assert_contract();
}

#[tokio::test]
async fn sign_out_keeps_the_session_when_the_service_cannot_be_reached() {
    let env = start().await;
    env.user("net@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("net@example.com", PASSWORD)).await.unwrap();
    env.emu.inject_fault("revoke_token", Fault::DropConnection, 1);
    assert!(auth.sign_out().await.unwrap_err().is_retryable());
    assert!(auth.get_session().await.unwrap().is_some());
    auth.sign_out().await.unwrap();
    env.assert_contract();
}

#[tokio::test]
async fn events_stream_and_callback_subscription() {
    let env = start().await;
    env.user("ev@example.com");
    let auth = env.auth();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let callback_auth = auth.clone();
    let subscription = auth.on_auth_state_change_with(move |change| {
        let tx = tx.clone();
        let auth = callback_auth.clone();
        async move {
            // Calling back into the SDK from a listener must not deadlock.
            if change.event == AuthEvent::SignedIn {
                auth.get_session().await.unwrap();
            }
            let _ = tx.send(change.event);
        }
    });
    auth.sign_in_with_password(SignInWithPassword::email("ev@example.com", PASSWORD)).await.unwrap();
    auth.refresh_session(None).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap());
    }
    assert_eq!(seen, [AuthEvent::InitialSession, AuthEvent::SignedIn, AuthEvent::TokenRefreshed]);
    subscription.unsubscribe();
    auth.sign_out().await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.map_or(true, |e| e.is_none()));
}

#[tokio::test]
async fn get_claims_decodes_the_access_token() {
    let env = start().await;
    env.user("claims@example.com");
    let auth = env.auth();
    let session = auth.sign_in_with_password(SignInWithPassword::email("claims@example.com", PASSWORD)).await.unwrap();
    let claims = auth.get_claims().await.unwrap();
    assert_eq!(claims.sub(), Some(session.user.unwrap().id.as_str()));
    assert_eq!(claims.project_id(), Some(env.emu.env_id().as_str()));
    assert!(claims.exp().unwrap() > claims.iat().unwrap());
    assert!(claims.header.contains_key("alg"));
    assert!(matches!(common::builder(&env.emu).build().unwrap().auth().get_claims().await, Err(Error::NotSignedIn)));
}

#[tokio::test]
async fn two_apps_sharing_one_store_refresh_once() {
    let env = start().await;
    let (app, store) = expired_copy(&env).await;
    let shared: Arc<dyn SessionStore> = Arc::new(store);
    let other = common::builder(&env.emu).shared_session_store(Arc::clone(&shared)).build().unwrap();
    let (first, second) = (app.auth(), other.auth());
    let (a, b) = tokio::join!(first.get_session(), second.get_session());
    // `app` has its own handle on the same MemoryStore data (clones share), so both see one refresh.
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    assert_eq!(a.refresh_token, b.refresh_token);
    assert_eq!(env.emu.count("grant_token"), 1);
    env.assert_contract();
}

#[tokio::test]
async fn concurrent_forced_refreshes_never_reuse_a_refresh_token() {
    let env = start().await;
    env.user("force@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("force@example.com", PASSWORD)).await.unwrap();
    let calls = (0..10).map(|_| {
        let auth = auth.clone();
        tokio::spawn(async move { auth.refresh_session(None).await })
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap().expect("each forced refresh uses the newest refresh token");
    }
    assert_eq!(env.emu.count("grant_token"), 10);
    assert!(auth.get_session().await.unwrap().is_some(), "still signed in");
    env.assert_contract();
}

#[tokio::test]
async fn a_margin_longer_than_the_token_life_still_refreshes_once() {
    let env = start().await;
    let (_, store) = expired_copy(&env).await;
    let app =
        common::builder(&env.emu).session_store(store).refresh_margin(Duration::from_secs(10_000)).build().unwrap();
    let auth = app.auth();
    let calls = (0..100).map(|_| {
        let auth = auth.clone();
        tokio::spawn(async move { auth.get_session().await })
    });
    for result in futures::future::join_all(calls).await {
        assert!(result.unwrap().unwrap().is_some());
    }
    assert_eq!(env.emu.count("grant_token"), 1);
    // The margin is capped at half the token's life, so a fresh token is not refreshed again.
    auth.get_session().await.unwrap().unwrap();
    assert_eq!(env.emu.count("grant_token"), 1);
    env.assert_contract();
}

#[tokio::test]
async fn a_user_update_in_one_app_never_undoes_a_refresh_in_another() {
    let env = start().await;
    env.user("two@example.com");
    let store = MemoryStore::new();
    let first = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    first.auth().sign_in_with_password(SignInWithPassword::email("two@example.com", PASSWORD)).await.unwrap();
    // `second` loads the session while it is fresh, then `first` rotates the shared refresh token.
    let second = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    let rotated = first.auth().refresh_session(None).await.unwrap();
    first.auth().update_user(cloudbase::UpdateUser::new().nickname("Renamed")).await.unwrap();
    // `second` fetches the changed profile and stores it: on top of the rotated tokens, not its stale ones.
    assert_eq!(second.auth().get_user().await.unwrap().name.as_deref(), Some("Renamed"));
    let key = format!("credentials_{}", env.emu.env_id());
    let stored: cloudbase::Session =
        serde_json::from_str(store.get(&key).await.unwrap().unwrap().expose_secret()).unwrap();
    assert_eq!(stored.refresh_token, rotated.refresh_token);
    assert_eq!(second.auth().get_session().await.unwrap().unwrap().refresh_token, rotated.refresh_token);
    env.assert_contract();
}
