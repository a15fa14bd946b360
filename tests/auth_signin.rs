//! Sign-up, sign-in and verification-code methods, end to end against the emulator over HTTP.
#![cfg(feature = "contract")]

mod common;

use std::time::Duration;

use cloudbase::{
    AuthEvent, Contact, Error, ErrorCode, GetVerification, OtpType, ResendType, SignInWithOtp, SignInWithPassword,
    SignUp, VerificationTarget, VerifyOtp,
};
use common::{PASSWORD, drain_events, next_event, start};

#[tokio::test]
async fn sign_up_by_email_registers_and_signs_in() {
    let env = start().await;
    let auth = env.auth();
    let mut events = auth.on_auth_state_change();
    assert_eq!(next_event(&mut events).await.event, AuthEvent::InitialSession);

    let pending = auth.sign_up(SignUp::email("new@example.com").password(PASSWORD).username("newbie")).await.unwrap();
    assert_eq!(pending.is_user(), Some(false));
    let session = pending.verify(&env.code("new@example.com")).await.unwrap();
    let user = session.user.clone().expect("user fetched after sign-in");
    assert_eq!(user.email.as_deref(), Some("new@example.com"));
    assert_eq!(user.username.as_deref(), Some("newbie"));
    assert!(!session.is_anonymous());
    let change = next_event(&mut events).await;
    assert_eq!(change.event, AuthEvent::SignedIn);
    assert_eq!(change.session.unwrap().user.unwrap().id, user.id);

    // The password given at sign-up works.
    auth.sign_out().await.unwrap();
    let again = auth.sign_in_with_password(SignInWithPassword::username("newbie", PASSWORD)).await.unwrap();
    assert_eq!(again.user.unwrap().id, user.id);
    env.assert_contract();
}

#[tokio::test]
async fn sign_up_of_an_existing_address_signs_in() {
    let env = start().await;
    let id = env.user("old@example.com");
    let pending = env.auth().sign_up(SignUp::email("old@example.com")).await.unwrap();
    assert_eq!(pending.is_user(), Some(true));
    let session = pending.verify(&env.code("old@example.com")).await.unwrap();
    assert_eq!(session.user.unwrap().id, id);
    assert_eq!(env.emu.count("sign_up"), 0);
    assert_eq!(env.emu.count("sign_in"), 1);
    env.assert_contract();
}

#[tokio::test]
async fn anonymous_sign_in_keeps_the_device_user() {
    let env = start().await;
    let auth = env.auth();
    let first = auth.sign_in_anonymously().await.unwrap();
    assert!(first.is_anonymous());
    assert!(first.user.as_ref().unwrap().is_anonymous);
    let second = auth.sign_in_anonymously().await.unwrap();
    let id = first.user.unwrap().id;
    assert_eq!(second.user.unwrap().id, id);

    // Another app sharing the store shares the device id, so the user; a new store is a new device.
    let store = cloudbase::MemoryStore::new();
    let shared = common::builder(&env.emu).session_store(store.clone()).build().unwrap();
    let same_device = common::builder(&env.emu).session_store(store).build().unwrap();
    let a = shared.auth().sign_in_anonymously().await.unwrap().user.unwrap().id;
    let b = same_device.auth().sign_in_anonymously().await.unwrap().user.unwrap().id;
    assert_eq!(a, b);
    assert_ne!(a, id);
    env.assert_contract();
}

#[tokio::test]
async fn password_sign_in_by_email_phone_and_username() {
    let env = start().await;
    let id = env.emu.create_user(cloudbase_emulator::NewUser {
        username: Some("ada".into()),
        email: Some("ada@example.com".into()),
        phone_number: Some("+86 13800138000".into()),
        password: Some(PASSWORD.into()),
        ..Default::default()
    });
    let auth = env.auth();
    for credentials in [
        SignInWithPassword::email("ada@example.com", PASSWORD),
        SignInWithPassword::phone("13800138000", PASSWORD),
        SignInWithPassword::phone("+8613800138000", PASSWORD),
        SignInWithPassword::username("ada", PASSWORD),
    ] {
        let session = auth.sign_in_with_password(credentials).await.unwrap();
        assert_eq!(session.user.unwrap().id, id);
    }
    let wrong =
        auth.sign_in_with_password(SignInWithPassword::email("ada@example.com", "wrong-password")).await.unwrap_err();
    let service = wrong.service().expect("a service error");
    assert_eq!(service.operation, "sign_in");
    assert!(service.request_id.is_some());
    assert!(!wrong.is_retryable());
    let unknown =
        auth.sign_in_with_password(SignInWithPassword::email("nobody@example.com", PASSWORD)).await.unwrap_err();
    assert!(unknown.service().is_some(), "{unknown}");
    env.assert_contract();
}

#[tokio::test]
async fn bad_input_is_rejected_before_any_request() {
    let env = start().await;
    let auth = env.auth();
    let cases: Vec<(&str, Error)> = vec![
        (
            "empty password",
            auth.sign_in_with_password(SignInWithPassword::email("a@example.com", "")).await.unwrap_err(),
        ),
        ("empty email", auth.sign_in_with_password(SignInWithPassword::email("", PASSWORD)).await.unwrap_err()),
        ("bad email", auth.sign_in_with_otp(SignInWithOtp::email("not-an-email")).await.unwrap_err()),
        ("bad phone", auth.sign_in_with_otp(SignInWithOtp::phone("+86-138")).await.unwrap_err()),
        ("empty phone", auth.sign_up(SignUp::phone("")).await.unwrap_err()),
        ("empty username", auth.sign_in_with_password(SignInWithPassword::username(" ", PASSWORD)).await.unwrap_err()),
        ("empty code", auth.verify("some-id", "").await.unwrap_err()),
        ("bad code", auth.verify("some-id", "12 34").await.unwrap_err()),
        ("empty verification id", auth.verify("", "123456").await.unwrap_err()),
        ("empty id token", auth.sign_in_with_id_token("", None).await.unwrap_err()),
        (
            "empty ticket",
            auth.sign_in_with_custom_ticket(|| async { Ok::<_, std::io::Error>(String::new()) }).await.unwrap_err(),
        ),
        (
            "magic link by phone",
            auth.sign_in_with_otp(SignInWithOtp::phone("13800138000").email_redirect_to("https://x.example"))
                .await
                .unwrap_err(),
        ),
        ("empty refresh token", auth.refresh_session(Some("".into())).await.unwrap_err()),
        ("reset: empty address", auth.reset_password_for_email("", None).await.unwrap_err()),
        ("reset: bad email", auth.reset_password_for_email("a@b", None).await.unwrap_err()),
        ("old password empty", auth.reset_password_for_old("", PASSWORD).await.unwrap_err()),
        ("new password empty", auth.reset_password_for_old(PASSWORD, "").await.unwrap_err()),
        ("delete: empty password", auth.delete_user("").await.unwrap_err()),
        ("update: nothing", auth.update_user(cloudbase::UpdateUser::new()).await.unwrap_err()),
        ("update: bad phone", auth.update_user(cloudbase::UpdateUser::new().phone("12ab")).await.unwrap_err()),
        (
            "verification: bad phone",
            auth.get_verification(GetVerification::new(Contact::phone("+86 12-34"))).await.unwrap_err(),
        ),
        (
            "verify_otp: empty code",
            auth.verify_otp(VerifyOtp {
                kind: OtpType::Sms,
                contact: Contact::phone("13800138000"),
                token: String::new(),
                message_id: "id".into(),
            })
            .await
            .unwrap_err(),
        ),
        ("resend: bad email", auth.resend(Contact::email("@example.com"), ResendType::Signup).await.unwrap_err()),
        ("captcha: empty state", auth.create_captcha_data(" ", None).await.unwrap_err()),
        ("captcha: empty key", auth.verify_captcha_data("token", "").await.unwrap_err()),
        (
            "oauth: empty provider",
            auth.sign_in_with_oauth(cloudbase::OAuthOptions::new("", "http://127.0.0.1:1/cb")).await.unwrap_err(),
        ),
        (
            "oauth: bad redirect",
            auth.sign_in_with_oauth(cloudbase::OAuthOptions::new("github", "not a url")).await.unwrap_err(),
        ),
        (
            "oauth callback without code",
            auth.verify_oauth(cloudbase::OAuthCallback::url("http://127.0.0.1:1/cb?state=s")).await.unwrap_err(),
        ),
        ("unlink: empty provider", auth.unlink_identity("").await.unwrap_err()),
        ("anonymous: empty provider token", auth.sign_in_anonymously_with("").await.unwrap_err()),
        ("empty set_session", auth.set_session("a", "").await.unwrap_err()),
    ];
    for (what, error) in cases {
        assert!(matches!(error, Error::InvalidInput { .. }), "{what}: {error:?}");
    }
    assert!(matches!(auth.get_user().await.unwrap_err(), Error::NotSignedIn));
    assert!(matches!(auth.sign_out().await.unwrap_err(), Error::NotSignedIn));
    assert!(matches!(auth.reauthenticate().await.unwrap_err(), Error::NotSignedIn));
    assert!(matches!(auth.get_claims().await.unwrap_err(), Error::NotSignedIn));
    assert!(matches!(auth.refresh_user().await.unwrap_err(), Error::NotSignedIn));
    assert!(matches!(auth.get_user_identities().await.unwrap_err(), Error::NotSignedIn));
    assert!(matches!(auth.link_identity("github", "http://127.0.0.1:1/cb").await.unwrap_err(), Error::NotSignedIn));
    assert!(auth.get_session().await.unwrap().is_none());
    assert!(env.emu.requests().is_empty(), "no request may be sent: {:?}", env.emu.requests());
}

#[tokio::test]
async fn otp_sign_in_for_existing_users_only() {
    let env = start().await;
    env.emu.create_user(cloudbase_emulator::NewUser {
        phone_number: Some("+86 13900139000".into()),
        ..Default::default()
    });
    let auth = env.auth();
    // The phone is normalised before it is sent.
    let pending = auth.sign_in_with_otp(SignInWithOtp::phone("13900139000").should_create_user(false)).await.unwrap();
    assert_eq!(pending.contact(), &Contact::phone("+86 13900139000"));
    let wrong = pending.verify("000000").await;
    let code = env.code("+86 13900139000");
    if code != "000000" {
        assert!(wrong.unwrap_err().service().is_some());
    }
    // The same handle takes the right code after a wrong one.
    let session = pending.verify(&code).await.unwrap();
    assert_eq!(session.user.unwrap().phone.as_deref(), Some("+86 13900139000"));

    // should_create_user(false) refuses unknown addresses.
    let refused =
        auth.sign_in_with_otp(SignInWithOtp::email("ghost@example.com").should_create_user(false)).await.unwrap_err();
    assert!(refused.service().is_some(), "{refused:?}");
    env.assert_contract();
}

#[tokio::test]
async fn custom_ticket_sign_in() {
    let env = start().await;
    let ticket = env.emu.create_ticket("custom-user-7");
    let auth = env.auth();
    let session = auth.sign_in_with_custom_ticket(|| async move { Ok::<_, std::io::Error>(ticket) }).await.unwrap();
    assert!(session.refresh_token.is_some());
    assert!(session.user.is_some());
    let failing = auth
        .sign_in_with_custom_ticket(|| async { Err::<String, _>(std::io::Error::other("ticket server down")) })
        .await
        .unwrap_err();
    assert!(failing.to_string().contains("ticket server down"));
    let bad =
        auth.sign_in_with_custom_ticket(|| async { Ok::<_, std::io::Error>("forged".to_owned()) }).await.unwrap_err();
    assert!(bad.service().is_some(), "{bad:?}");
    env.assert_contract();
}

#[tokio::test]
async fn get_verification_verify_verify_otp_and_resend() {
    let env = start().await;
    let auth = env.auth();
    let id = env.user("v@example.com");

    let sent = auth
        .get_verification(
            GetVerification::new(Contact::email("v@example.com")).target(VerificationTarget::User).usage("email"),
        )
        .await
        .unwrap();
    assert_eq!(sent.is_user, Some(true));
    let token = auth.verify(&sent.verification_id, &env.code("v@example.com")).await.unwrap();
    assert!(!token.verification_token.is_empty());
    assert!(!format!("{token:?}").contains(token.verification_token.expose_secret()));

    // NOT_USER refuses a registered address.
    let refused = auth
        .get_verification(GetVerification::new(Contact::email("v@example.com")).target(VerificationTarget::NotUser))
        .await
        .unwrap_err();
    assert!(refused.service().is_some());

    // resend, then verify_otp signs in with the new code.
    let resent = auth.resend(Contact::email("v@example.com"), ResendType::Sms).await.unwrap();
    let mut events = auth.on_auth_state_change();
    let session = auth
        .verify_otp(VerifyOtp {
            kind: OtpType::Email,
            contact: Contact::email("v@example.com"),
            token: env.code("v@example.com"),
            message_id: resent.verification_id.clone(),
        })
        .await
        .unwrap()
        .expect("signed in");
    assert_eq!(session.user.unwrap().id, id);
    assert!(drain_events(&mut events, Duration::from_millis(200)).await.contains(&AuthEvent::SignedIn));

    // A used verification id cannot sign in twice.
    let reused = auth
        .verify_otp(VerifyOtp {
            kind: OtpType::Email,
            contact: Contact::email("v@example.com"),
            token: env.code("v@example.com"),
            message_id: resent.verification_id,
        })
        .await;
    assert!(reused.is_err());
    env.assert_contract();
}

#[tokio::test]
async fn verify_otp_for_a_change_only_verifies() {
    let env = start().await;
    let auth = env.auth();
    env.user("c@example.com");
    auth.sign_in_with_password(SignInWithPassword::email("c@example.com", PASSWORD)).await.unwrap();
    let sent = auth.get_verification(GetVerification::new(Contact::email("c2@example.com"))).await.unwrap();
    let before = env.emu.count("sign_in");
    let session = auth
        .verify_otp(VerifyOtp {
            kind: OtpType::EmailChange,
            contact: Contact::email("c2@example.com"),
            token: env.code("c2@example.com"),
            message_id: sent.verification_id,
        })
        .await
        .unwrap();
    assert!(session.is_some());
    assert_eq!(env.emu.count("sign_in"), before);
    env.assert_contract();
}

#[tokio::test]
async fn service_error_codes_are_typed() {
    let env = start().await;
    let err = env.auth().verify("no-such-verification", "123456").await.unwrap_err();
    let service = err.service().expect("service error");
    assert!(matches!(service.code, ErrorCode::InvalidArgument | ErrorCode::NotFound), "{service:?}");
    assert!(service.status.is_some());
    env.assert_contract();
}
