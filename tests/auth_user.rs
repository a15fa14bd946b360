//! The signed-in user: profile, updates, deletion, passwords, re-authentication.
#![cfg(feature = "contract")]

mod common;

use std::time::Duration;

use cloudbase::{AuthEvent, Error, Gender, SignInWithPassword, UpdateUser, UserUpdate};
use common::{PASSWORD, drain_events, next_event, start};

const NEW_PASSWORD: &str = "An0ther-Passw0rd!";

#[tokio::test]
async fn get_user_and_refresh_user() {
    let env = start().await;
    let id = env.user("me@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("me@example.com", PASSWORD)).await.unwrap();
    let user = auth.get_user().await.unwrap();
    assert_eq!(user.id, id);
    assert_eq!(user.aud, "authenticated");
    assert_eq!(user.name.as_deref(), Some("Test User"));
    assert_eq!(user.profile.sub, id);
    assert_eq!(user.has_password, Some(true));
    let session = auth.refresh_user().await.unwrap();
    assert_eq!(session.user.unwrap().id, id);
    env.assert_contract();
}

#[tokio::test]
async fn update_user_basic_fields_emits_user_updated() {
    let env = start().await;
    env.user("up@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("up@example.com", PASSWORD)).await.unwrap();
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    let update = auth
        .update_user(UpdateUser::new().nickname("Ada Lovelace").username("ada_l").gender(Gender::Female))
        .await
        .unwrap();
    let UserUpdate::Updated(user) = update else { panic!("no verification needed") };
    assert_eq!(user.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(user.username.as_deref(), Some("ada_l"));
    assert_eq!(user.profile.gender.as_deref(), Some("FEMALE"));
    let change = next_event(&mut events).await;
    assert_eq!(change.event, AuthEvent::UserUpdated);
    assert_eq!(change.session.unwrap().user.unwrap().name.as_deref(), Some("Ada Lovelace"));

    assert!(matches!(auth.update_user(UpdateUser::new()).await, Err(Error::InvalidInput { .. })));
    assert!(matches!(auth.update_user(UpdateUser::new().nickname("x")).await, Err(Error::InvalidInput { .. })));
    assert!(matches!(auth.update_user(UpdateUser::new().email("bad")).await, Err(Error::InvalidInput { .. })));
    env.assert_contract();
}

#[tokio::test]
async fn update_user_email_needs_the_code() {
    let env = start().await;
    env.user("before@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("before@example.com", PASSWORD)).await.unwrap();
    let update = auth.update_user(UpdateUser::new().email("after@example.com")).await.unwrap();
    let UserUpdate::VerificationRequired(pending) = update else { panic!("an email change needs a code") };
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    let user = pending.verify(&env.code("after@example.com")).await.unwrap();
    assert_eq!(user.email.as_deref(), Some("after@example.com"));
    assert_eq!(next_event(&mut events).await.event, AuthEvent::UserUpdated);
    // The new address signs in.
    auth.sign_in_with_password(SignInWithPassword::email("after@example.com", PASSWORD)).await.unwrap();
    env.assert_contract();
}

#[tokio::test]
async fn update_user_phone_and_nickname_together() {
    let env = start().await;
    env.user("both@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("both@example.com", PASSWORD)).await.unwrap();
    let update = auth.update_user(UpdateUser::new().nickname("Both").phone("13700137000")).await.unwrap();
    let UserUpdate::VerificationRequired(pending) = update else { panic!("a phone change needs a code") };
    assert_eq!(auth.get_user().await.unwrap().name.as_deref(), Some("Both"), "other fields change at once");
    let user = pending.verify(&env.code("+86 13700137000")).await.unwrap();
    assert_eq!(user.phone.as_deref(), Some("+86 13700137000"));
    env.assert_contract();
}

#[tokio::test]
async fn delete_user_needs_the_password_and_signs_out() {
    let env = start().await;
    env.user("bye@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("bye@example.com", PASSWORD)).await.unwrap();
    let wrong = auth.delete_user("not-the-password").await.unwrap_err();
    assert!(wrong.service().is_some(), "{wrong:?}");
    assert!(matches!(auth.delete_user("").await, Err(Error::InvalidInput { .. })));
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    auth.delete_user(PASSWORD).await.unwrap();
    assert_eq!(next_event(&mut events).await.event, AuthEvent::SignedOut);
    assert!(auth.get_session().await.unwrap().is_none());
    let gone = auth.sign_in_with_password(SignInWithPassword::email("bye@example.com", PASSWORD)).await.unwrap_err();
    assert!(gone.service().is_some());
    env.assert_contract();
}

#[tokio::test]
async fn reset_password_for_email_then_sign_in() {
    let env = start().await;
    env.user("forgot@example.com");
    let auth = env.auth();
    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    let pending = auth.reset_password_for_email("forgot@example.com", Some("myapp://home")).await.unwrap();
    assert_eq!(pending.redirect_to(), Some("myapp://home"));
    assert!(matches!(pending.verify(&env.code("forgot@example.com"), "").await, Err(Error::InvalidInput { .. })));
    let session = pending.verify(&env.code("forgot@example.com"), NEW_PASSWORD).await.unwrap();
    assert!(session.user.is_some());
    let seen = drain_events(&mut events, Duration::from_millis(200)).await;
    assert_eq!(seen, [AuthEvent::PasswordRecovery, AuthEvent::SignedIn]);
    assert!(auth.sign_in_with_password(SignInWithPassword::email("forgot@example.com", PASSWORD)).await.is_err());

    // Unknown addresses get no code.
    assert!(auth.reset_password_for_email("nobody@example.com", None).await.is_err());
    // A phone works too.
    env.emu.create_user(cloudbase_emulator::NewUser {
        phone_number: Some("+86 13600136000".into()),
        password: Some(PASSWORD.into()),
        ..Default::default()
    });
    let pending = auth.reset_password_for_email("13600136000", None).await.unwrap();
    pending.verify(&env.code("+86 13600136000"), NEW_PASSWORD).await.unwrap();
    env.assert_contract();
}

#[tokio::test]
async fn reset_password_for_old() {
    let env = start().await;
    env.user("old@example.com");
    let auth = env.auth();
    auth.sign_in_with_password(SignInWithPassword::email("old@example.com", PASSWORD)).await.unwrap();
    assert!(auth.reset_password_for_old("wrong-old", NEW_PASSWORD).await.is_err());
    let session = auth.reset_password_for_old(PASSWORD, NEW_PASSWORD).await.unwrap();
    assert!(session.user.is_some());
    auth.sign_in_with_password(SignInWithPassword::email("old@example.com", NEW_PASSWORD)).await.unwrap();
    assert!(auth.sign_in_with_password(SignInWithPassword::email("old@example.com", PASSWORD)).await.is_err());
    env.assert_contract();
}

#[tokio::test]
async fn reauthenticate_then_set_a_password_or_sign_in_again() {
    let env = start().await;
    env.user("re@example.com");
    let auth = env.auth();
    assert!(matches!(auth.reauthenticate().await, Err(Error::NotSignedIn)));
    auth.sign_in_with_password(SignInWithPassword::email("re@example.com", PASSWORD)).await.unwrap();

    let pending = auth.reauthenticate().await.unwrap();
    pending.verify(&env.code("re@example.com"), Some(NEW_PASSWORD.into())).await.unwrap();
    auth.sign_in_with_password(SignInWithPassword::email("re@example.com", NEW_PASSWORD)).await.unwrap();

    let pending = auth.reauthenticate().await.unwrap();
    let session = pending.verify(&env.code("re@example.com"), None).await.unwrap();
    assert_eq!(session.user.unwrap().email.as_deref(), Some("re@example.com"));
    env.assert_contract();
}
