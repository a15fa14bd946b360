//! Many users in one process: session scopes share the app's core but keep their own device id and session;
//! the refresher keeps many sessions fresh with one task; an app nobody listens to has no event channel, and a
//! late subscriber still gets everything.
#![cfg(feature = "contract")]

mod common;

use cloudbase::{AuthEvent, Error, MemoryStore, Refresher, Secret, SessionStore};
use cloudbase_emulator::EmulatorConfig;
use common::{next_event, session_key, start_with};

#[tokio::test]
async fn scopes_have_their_own_device_and_session_and_resume_from_the_store() {
    let store = MemoryStore::new();
    let env = start_with(EmulatorConfig::default(), |b| b.session_store(store.clone())).await;
    let alice = env.app.session_scope("alice").unwrap();
    let bob = env.app.session_scope("bob").unwrap();
    let a = alice.auth().sign_in_anonymously().await.unwrap();
    let b = bob.auth().sign_in_anonymously().await.unwrap();
    assert_ne!(a.user.as_ref().map(|u| &u.id), b.user.as_ref().map(|u| &u.id), "one anonymous user per device");
    assert_ne!(alice.auth().device_id().await.unwrap(), bob.auth().device_id().await.unwrap());
    assert!(env.auth().get_session().await.unwrap().is_none(), "the root app is not signed in");

    let key = format!("{}@alice", session_key(&env.emu));
    assert!(store.get(&key).await.unwrap().is_some(), "kept under {key}");
    assert!(store.get("device_id@alice").await.unwrap().is_some());
    // The same key later resumes the same session and device.
    let again = env.app.session_scope("alice").unwrap();
    let resumed = again.auth().get_session().await.unwrap().expect("resumed");
    assert_eq!(resumed.refresh_token, a.refresh_token);
    assert_eq!(again.auth().device_id().await.unwrap(), alice.auth().device_id().await.unwrap());
    // Calls as one scope carry its own token.
    let bob_user = bob.auth().get_user().await.unwrap();
    assert_eq!(Some(bob_user.id), b.user.map(|u| u.id));

    for bad in ["", " ", "has space", &"k".repeat(129)] {
        assert!(matches!(env.app.session_scope(bad), Err(Error::InvalidInput { .. })), "{bad:?}");
    }
    env.assert_contract();
}

#[tokio::test]
async fn one_refresher_refreshes_every_due_session_once() {
    let store = MemoryStore::new();
    let env = start_with(EmulatorConfig::default(), |b| b.session_store(store.clone())).await;
    // Three users signed in, then stored as expired (as after a restart late in the tokens' life).
    for name in ["p1", "p2", "p3"] {
        let scope = env.app.session_scope(name).unwrap();
        let mut session = scope.auth().sign_in_anonymously().await.unwrap();
        session.expires_at = 0;
        let key = format!("{}@{name}", session_key(&env.emu));
        store.set(&key, Secret::new(serde_json::to_string(&session).unwrap())).await.unwrap();
    }
    let scopes: Vec<_> = ["p1", "p2", "p3"].iter().map(|n| env.app.session_scope(n).unwrap()).collect();
    let refresher = Refresher::new(2);
    for scope in &scopes {
        refresher.watch(scope);
    }
    let pass = refresher.refresh_due().await;
    assert_eq!((pass.watched, pass.refreshed, pass.failed), (3, 3, 0));
    assert_eq!(env.emu.count("grant_token"), 3, "one token request per session");
    assert_eq!(refresher.refresh_due().await.refreshed, 0, "nothing is due any more");
    drop(scopes);
    assert_eq!(refresher.refresh_due().await.watched, 0, "dropped apps are no longer watched");
}

#[tokio::test]
async fn a_late_subscriber_gets_the_initial_session_and_every_later_event() {
    let env = start_with(EmulatorConfig::default(), |b| b).await;
    let auth = env.auth();
    auth.sign_in_anonymously().await.unwrap();
    let mut events = auth.on_auth_state_change();
    let initial = next_event(&mut events).await;
    assert_eq!(initial.event, AuthEvent::InitialSession);
    assert!(initial.session.is_some());
    auth.refresh_session(None).await.unwrap();
    assert_eq!(next_event(&mut events).await.event, AuthEvent::TokenRefreshed);
    auth.sign_out().await.unwrap();
    assert_eq!(next_event(&mut events).await.event, AuthEvent::SignedOut);
}
