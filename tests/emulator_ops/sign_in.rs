//! Sign-up and sign-in: email and phone sign-up, anonymous users, passwords, custom tickets.

use std::time::Duration;

use cloudbase::Secret;
use cloudbase::raw::Context;
use cloudbase::raw::auth::{Client, types};
use cloudbase_emulator::{Emulator, EmulatorConfig, NewUser};
use serde_json::json;

use crate::helpers::{
    OTHER_DEVICE, check_contract, claims, client, fails, me, ok, password_sign_in, provider_token, verification_token,
    verify_request,
};

#[tokio::test]
async fn sign_up_by_email_and_phone_with_its_errors() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);

    // Email sign-up (the JS SDK's signUp sequence: verification without target, verify, signup).
    let token = verification_token(&emu, "dora@example.com").await;
    let signup = types::SignUpRequest {
        email: Some("dora@example.com".into()),
        verification_token: Some(token.clone()),
        verification_code: Some(Secret::from("123456".to_owned())),
        password: Some(Secret::from("dora-password".to_owned())),
        username: Some("dora_01".into()),
        name: Some("Dora".into()),
        ..Default::default()
    };
    let tokens = ok(c.sign_up(&signup).await);
    assert_eq!(tokens.scope.as_deref(), Some("user"));
    let profile = me(&emu, &tokens.access_token).await;
    assert_eq!(profile.name.as_deref(), Some("Dora"));
    assert_eq!(profile.username.as_deref(), Some("dora_01"));
    assert_eq!(profile.has_password, Some(true));
    // The password works afterwards, by username and by email.
    password_sign_in(&emu, "dora_01", "dora-password").await;
    password_sign_in(&emu, "DORA@example.com", "dora-password").await;

    // Duplicate sign-up.
    let token = verification_token(&emu, "dora@example.com").await;
    let dup = types::SignUpRequest {
        email: Some("dora@example.com".into()),
        verification_token: Some(token),
        ..Default::default()
    };
    fails(c.sign_up(&dup).await, 409, "already_exists", 6);

    // No verification token / token for another address / no address at all.
    let no_token = types::SignUpRequest { email: Some("eve@example.com".into()), ..Default::default() };
    fails(c.sign_up(&no_token).await, 400, "invalid_argument", 3);
    let other = verification_token(&emu, "mallory@example.com").await;
    let mismatch = types::SignUpRequest {
        email: Some("eve@example.com".into()),
        verification_token: Some(other),
        ..Default::default()
    };
    fails(c.sign_up(&mismatch).await, 400, "invalid_argument", 3);
    fails(c.sign_up(&types::SignUpRequest::default()).await, 400, "invalid_argument", 3);
    let forged = types::SignUpRequest {
        email: Some("eve@example.com".into()),
        verification_token: Some(Secret::from("vt.forged".to_owned())),
        ..Default::default()
    };
    fails(c.sign_up(&forged).await, 400, "invalid_argument", 3);

    // Bad username and short password.
    let token = verification_token(&emu, "eve@example.com").await;
    let bad_username = types::SignUpRequest {
        email: Some("eve@example.com".into()),
        verification_token: Some(token.clone()),
        username: Some("_x".into()),
        ..Default::default()
    };
    fails(c.sign_up(&bad_username).await, 400, "invalid_argument", 3);
    let short_password = types::SignUpRequest {
        email: Some("eve@example.com".into()),
        verification_token: Some(token.clone()),
        password: Some(Secret::from("short".to_owned())),
        ..Default::default()
    };
    fails(c.sign_up(&short_password).await, 400, "invalid_argument", 3);
    let taken_username = types::SignUpRequest {
        email: Some("eve@example.com".into()),
        verification_token: Some(token),
        username: Some("dora_01".into()),
        ..Default::default()
    };
    fails(c.sign_up(&taken_username).await, 409, "already_exists", 6);

    // Phone sign-up; the phone lands in the profile as "+86 ...".
    let sent = ok(c
        .send_verification(&types::VerificationRequest {
            phone_number: Some("+86 13900139000".into()),
            ..Default::default()
        })
        .await);
    assert_eq!(sent.is_user, Some(false));
    let code = emu.last_code_for("+86 13900139000").unwrap().code;
    let token = ok(c.verify_verification(&verify_request(&sent.verification_id, &code)).await).verification_token;
    let tokens = ok(c
        .sign_up(&types::SignUpRequest {
            phone_number: Some("+86 13900139000".into()),
            verification_token: Some(token),
            ..Default::default()
        })
        .await);
    let profile = me(&emu, &tokens.access_token).await;
    assert_eq!(profile.phone_number.as_deref(), Some("+86 13900139000"));
    assert_eq!(profile.has_password, Some(false));
    assert_eq!(claims(&tokens.access_token)["phone_number"], json!("+86 13900139000"));
    check_contract(&emu);
}

#[tokio::test]
async fn anonymous_upgrade_and_provider_sign_up() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let anonymous = ok(c.sign_in_anonymously(&types::AnonymousSignInRequest::default()).await);
    let anon_id = anonymous.sub.clone().unwrap();

    // Sign-up with the anonymous user's token keeps the user id.
    let token = verification_token(&emu, "upgraded@example.com").await;
    let upgraded = ok(c
        .sign_up(&types::SignUpRequest {
            email: Some("upgraded@example.com".into()),
            verification_token: Some(token),
            anonymous_token: Some(anonymous.access_token.clone()),
            ..Default::default()
        })
        .await);
    assert_eq!(upgraded.sub.as_deref(), Some(anon_id.as_str()));
    assert_eq!(upgraded.scope.as_deref(), Some("user"));
    assert_ne!(me(&emu, &upgraded.access_token).await.name.as_deref(), Some("anonymous"));
    // The device now gets a new anonymous user.
    let next = ok(c.sign_in_anonymously(&types::AnonymousSignInRequest::default()).await);
    assert_ne!(next.sub, Some(anon_id));

    // Sign-up with a provider token.
    let provider = provider_token(&emu, "github", "linus").await;
    let tokens = ok(c
        .sign_up(&types::SignUpRequest { provider_token: Some(provider.provider_token.clone()), ..Default::default() })
        .await);
    let profile = me(&emu, &tokens.access_token).await;
    assert_eq!(profile.providers[0].id.as_deref(), Some("github"));
    assert_eq!(profile.providers[0].provider_user_id.as_deref(), Some("linus"));
    fails(
        c.sign_up(&types::SignUpRequest { provider_token: Some(provider.provider_token), ..Default::default() }).await,
        409,
        "already_exists",
        6,
    );
    check_contract(&emu);
}

#[tokio::test]
async fn sign_in_by_password_and_its_errors() {
    let emu = Emulator::start().await.unwrap();
    let id = emu.create_user(NewUser {
        username: Some("frank".into()),
        email: Some("frank@example.com".into()),
        phone_number: Some("+86 13700137000".into()),
        password: Some("frank-password".into()),
        ..Default::default()
    });
    emu.create_user(NewUser { email: Some("nopass@example.com".into()), ..Default::default() });

    for login in ["frank", "frank@example.com", "Frank@Example.com", "+86 13700137000", "13700137000"] {
        let tokens = password_sign_in(&emu, login, "frank-password").await;
        assert_eq!(tokens.sub.as_deref(), Some(id.as_str()), "login {login}");
    }
    let by_phone = password_sign_in(&emu, "+86 13700137000", "frank-password").await;
    assert_eq!(claims(&by_phone.access_token)["provider_type"], json!("phone"));
    let c = client(&emu);
    let sign_in = |login: &str, password: &str| types::SignInRequest {
        username: Some(login.into()),
        password: Some(Secret::from(password.to_owned())),
        ..Default::default()
    };
    fails(c.sign_in(&sign_in("frank", "wrong-password")).await, 400, "invalid_password", 3);
    fails(c.sign_in(&sign_in("nobody", "whatever-pw")).await, 404, "not_found", 5);
    fails(c.sign_in(&sign_in("nopass@example.com", "whatever-pw")).await, 400, "password_not_set", 9);
    fails(
        c.sign_in(&types::SignInRequest { username: Some("frank".into()), ..Default::default() }).await,
        400,
        "invalid_argument",
        3,
    );
    let no_username = types::SignInRequest { password: Some(Secret::from("x".to_owned())), ..Default::default() };
    fails(c.sign_in(&no_username).await, 400, "invalid_argument", 3);

    // Verification-token sign-in for an address with no user: not_found.
    let token = verification_token(&emu, "ghost@example.com").await;
    let ghost = types::SignInRequest {
        username: Some("ghost@example.com".into()),
        verification_token: Some(token.clone()),
        ..Default::default()
    };
    fails(c.sign_in(&ghost).await, 404, "not_found", 5);
    // ... and for another address than the one given: invalid_argument.
    let mismatch = types::SignInRequest {
        username: Some("frank@example.com".into()),
        verification_token: Some(token),
        ..Default::default()
    };
    fails(c.sign_in(&mismatch).await, 400, "invalid_argument", 3);

    // The JS reauthenticate quirk sends username "" with the verification token: the token decides.
    let token = verification_token(&emu, "frank@example.com").await;
    let quirk =
        types::SignInRequest { username: Some(String::new()), verification_token: Some(token), ..Default::default() };
    assert_eq!(ok(c.sign_in(&quirk).await).sub.as_deref(), Some(id.as_str()));

    // Signing in with a provider token binds it.
    let provider = provider_token(&emu, "google", "frank-g").await;
    let bind =
        types::SignInRequest { provider_token: Some(provider.provider_token), ..sign_in("frank", "frank-password") };
    let tokens = ok(c.sign_in(&bind).await);
    assert_eq!(me(&emu, &tokens.access_token).await.providers[0].id.as_deref(), Some("google"));
    check_contract(&emu);
}

#[tokio::test]
async fn anonymous_sign_in_same_device_same_user() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let first = ok(c.sign_in_anonymously(&types::AnonymousSignInRequest::default()).await);
    let second = ok(c.sign_in_anonymously(&types::AnonymousSignInRequest::default()).await);
    assert_eq!(first.scope.as_deref(), Some("anonymous"));
    assert!(first.sub.is_some());
    assert_eq!(first.sub, second.sub, "same device id, same anonymous user");
    assert_ne!(first.access_token, second.access_token);
    let other = Client::new(&emu.url(), Context::new().with_client_id(emu.env_id()).with_device_id(OTHER_DEVICE));
    let third = ok(other.sign_in_anonymously(&types::AnonymousSignInRequest::default()).await);
    assert_ne!(first.sub, third.sub, "another device, another user");

    let profile = me(&emu, &first.access_token).await;
    assert_eq!(profile.name.as_deref(), Some("anonymous"));
    assert_eq!(claims(&first.access_token)["scope"], json!("anonymous"));

    // No device id: 400 invalid_argument. A device id of 72+ chars: invalid_argument too.
    let no_device = Client::new(&emu.url(), Context::new().with_client_id(emu.env_id()));
    fails(no_device.sign_in_anonymously(&types::AnonymousSignInRequest::default()).await, 400, "invalid_argument", 3);
    let long = "a".repeat(72);
    let long_device = Client::new(&emu.url(), Context::new().with_client_id(emu.env_id()).with_device_id(long));
    let body = fails(
        long_device.sign_in_anonymously(&types::AnonymousSignInRequest::default()).await,
        400,
        "invalid_argument",
        3,
    );
    assert_eq!(body.error_description.as_deref(), Some("device id must less than 72"));

    // With a provider token: the identity is bound to the anonymous user.
    let provider = provider_token(&emu, "wx_open", "wx-user").await;
    let bound = ok(c
        .sign_in_anonymously(&types::AnonymousSignInRequest { provider_token: Some(provider.provider_token) })
        .await);
    assert_eq!(bound.sub, first.sub);
    assert_eq!(me(&emu, &bound.access_token).await.providers[0].id.as_deref(), Some("wx_open"));
    check_contract(&emu);

    // Disabled: 403 unimplemented.
    let off = Emulator::start_with(EmulatorConfig { anonymous_enabled: false, ..Default::default() }).await.unwrap();
    fails(client(&off).sign_in_anonymously(&types::AnonymousSignInRequest::default()).await, 403, "unimplemented", 12);
    check_contract(&off);
}

#[tokio::test]
async fn custom_ticket_sign_in() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let ticket = emu.create_ticket("employee-42");
    let body = |ticket: &str| types::CustomSignInRequest {
        provider_id: "custom".into(),
        ticket: Secret::from(ticket.to_owned()),
    };
    let first = ok(c.sign_in_with_custom_ticket(&body(&ticket)).await);
    let profile = me(&emu, &first.access_token).await;
    assert_eq!(profile.providers[0].id.as_deref(), Some("custom"));
    assert_eq!(profile.providers[0].provider_user_id.as_deref(), Some("employee-42"));
    // A second ticket for the same custom user id signs in to the same user.
    let second = ok(c.sign_in_with_custom_ticket(&body(&emu.create_ticket("employee-42"))).await);
    assert_eq!(first.sub, second.sub);

    fails(c.sign_in_with_custom_ticket(&body("not-a-ticket")).await, 400, "invalid_grant", 3);
    let wrong_provider = types::CustomSignInRequest { provider_id: "github".into(), ticket: Secret::from(ticket) };
    fails(c.sign_in_with_custom_ticket(&wrong_provider).await, 400, "invalid_argument", 3);
    // Tickets expire after 10 minutes.
    let late = emu.create_ticket("employee-43");
    emu.advance_clock(Duration::from_secs(601));
    fails(c.sign_in_with_custom_ticket(&body(&late)).await, 400, "invalid_grant", 3);
    check_contract(&emu);
}
