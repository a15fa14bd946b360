//! Verification codes: sending, verifying, and the one-time-code sign-in built on them.

use std::time::Duration;

use base64::Engine as _;
use cloudbase::raw::auth::types;
use cloudbase_emulator::{Emulator, EmulatorConfig, NewUser};
use serde_json::{Value, json};

use crate::helpers::{
    INVALID, check_contract, claims, client, email_user, fails, http, me, ok, password_sign_in, send_code_to,
    user_client, verify_request,
};

#[tokio::test]
async fn email_otp_round_trip_signs_in_and_reads_the_profile() {
    let emu = Emulator::start().await.unwrap();
    let id = emu.create_user(email_user("ada@example.com", "correct-horse"));
    let c = client(&emu);

    // send -> read outbox -> verify -> sign in with the verification token -> /user/me
    let sent = send_code_to(&c, "ada@example.com").await;
    assert_eq!(sent.is_user, Some(true));
    assert_eq!(sent.expires_in, Some(600));
    let outbox = emu.outbox();
    assert_eq!(outbox.len(), 1);
    let code = &outbox[0];
    assert_eq!(
        (code.target.as_str(), code.verification_id.as_str()),
        ("ada@example.com", sent.verification_id.as_str())
    );
    assert_eq!(code.code.len(), 6);
    assert!(code.code.bytes().all(|b| b.is_ascii_digit()));
    let verified = ok(c.verify_verification(&verify_request(&sent.verification_id, &code.code)).await);
    assert_eq!(verified.expires_in, Some(600));
    let tokens = ok(c
        .sign_in(&types::SignInRequest {
            username: Some("ada@example.com".into()),
            verification_token: Some(verified.verification_token.clone()),
            ..Default::default()
        })
        .await);
    assert_eq!(tokens.sub.as_deref(), Some(id.as_str()));
    assert_eq!(tokens.token_type.as_deref(), Some("Bearer"));
    assert_eq!(tokens.expires_in, 7200);
    assert!(tokens.refresh_token.is_some());
    let profile = me(&emu, &tokens.access_token).await;
    assert_eq!(profile.sub, id);
    assert_eq!(profile.email.as_deref(), Some("ada@example.com"));
    assert_eq!(profile.has_password, Some(true));
    assert_eq!(profile.status.as_deref(), Some("ACTIVE"));
    assert_eq!(profile.groups[0].id.as_deref(), Some("user"));

    // The verification token is single-use.
    let again = c
        .sign_in(&types::SignInRequest {
            username: Some("ada@example.com".into()),
            verification_token: Some(verified.verification_token),
            ..Default::default()
        })
        .await;
    fails(again, 400, "invalid_argument", 3);

    // Claims of section 5.
    let claims = claims(&tokens.access_token);
    assert_eq!(claims["iss"], json!(emu.url()));
    assert_eq!(claims["sub"], json!(id));
    assert_eq!(claims["aud"], json!(emu.env_id()));
    assert_eq!(claims["project_id"], json!(emu.env_id()));
    assert_eq!(claims["user_id"], json!(id));
    assert_eq!(claims["scope"], json!("user"));
    assert_eq!(claims["email"], json!("ada@example.com"));
    assert_eq!(claims["provider_type"], json!("email"));
    assert_eq!(claims["groups"], json!(["user"]));
    assert_eq!(claims["is_system_admin"], json!(false));
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 7200);
    for key in ["name", "roles", "user_type", "client_type"] {
        assert!(claims.get(key).is_some(), "claim {key} missing");
    }
    let header = tokens.access_token.expose_secret().split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert!(header["kid"].is_string());
    check_contract(&emu);
}

#[tokio::test]
async fn send_verification_rules() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(NewUser {
        email: Some("bob@example.com".into()),
        phone_number: Some("+86 13800138000".into()),
        password: Some("correct-horse".into()),
        ..Default::default()
    });
    let c = client(&emu);
    let send = |body: types::VerificationRequest| {
        let c = c.clone();
        async move { c.send_verification(&body).await }
    };

    // Exactly one of email / phone, and a well-formed phone.
    fails(send(types::VerificationRequest::default()).await, 400, "invalid_argument", 3);
    let both = types::VerificationRequest {
        email: Some("bob@example.com".into()),
        phone_number: Some("+86 13800138000".into()),
        ..Default::default()
    };
    fails(send(both).await, 400, "invalid_argument", 3);
    for bad in ["13800138000", "+8613800138000", "+86 138-0013-8000", "+1234 5550123"] {
        let body = types::VerificationRequest { phone_number: Some(bad.into()), ..Default::default() };
        fails(send(body).await, 400, "invalid_argument", 3);
    }
    let bad_email = types::VerificationRequest { email: Some("not-an-email".into()), ..Default::default() };
    fails(send(bad_email).await, 400, "invalid_argument", 3);

    // target rules.
    let to = |email: &str, target| types::VerificationRequest {
        email: Some(email.into()),
        target: Some(target),
        ..Default::default()
    };
    use types::VerificationTarget::*;
    assert_eq!(ok(send(to("bob@example.com", User)).await).is_user, Some(true));
    fails(send(to("nobody@example.com", User)).await, 400, "failed_precondition", 9);
    assert_eq!(ok(send(to("nobody@example.com", NotUser)).await).is_user, Some(false));
    fails(send(to("bob@example.com", NotUser)).await, 400, "failed_precondition", 9);
    assert_eq!(ok(send(to("nobody@example.com", Any)).await).is_user, Some(false));
    let phone = types::VerificationRequest { phone_number: Some("+86 13800138000".into()), ..Default::default() };
    assert_eq!(ok(send(phone).await).is_user, Some(true));
    assert_eq!(emu.last_code_for("+86 13800138000").unwrap().target, "+86 13800138000");

    // CUR_USER needs a Bearer token and sends to the signed-in user's own address.
    fails(send(to("x@example.com", CurUser)).await, 401, "unauthenticated", 16);
    let tokens = password_sign_in(&emu, "bob@example.com", "correct-horse").await;
    let cur = types::VerificationRequest {
        email: Some("b***@example.com".into()),
        target: Some(CurUser),
        usage: Some("reauthentication".into()),
        ..Default::default()
    };
    emu.clear_outbox();
    let sent = ok(user_client(&emu, &tokens.access_token).send_verification(&cur).await);
    assert_eq!(sent.is_user, Some(true));
    let code = emu.last_code_for("bob@example.com").unwrap();
    assert_eq!(code.verification_id, sent.verification_id);
    assert_eq!(code.usage.as_deref(), Some("reauthentication"));
    assert_eq!(emu.outbox().len(), 1);
    assert_eq!(emu.count("send_verification"), 15);
    check_contract(&emu);
}

#[tokio::test]
async fn verify_verification_errors_expiry_attempts_and_supersession() {
    let emu = Emulator::start_with(EmulatorConfig { code_max_attempts: 3, ..Default::default() }).await.unwrap();
    let c = client(&emu);
    let email = "carol@example.com";

    // Unknown id.
    fails(c.verify_verification(&verify_request("no-such-id", "123456")).await, 404, "not_found", 5);

    // Wrong code, then too many attempts kill the id (even the right code fails afterwards).
    let sent = send_code_to(&c, email).await;
    let code = emu.last_code_for(email).unwrap().code;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..3 {
        fails(c.verify_verification(&verify_request(&sent.verification_id, wrong)).await, 400, "invalid_argument", 3);
    }
    let dead =
        fails(c.verify_verification(&verify_request(&sent.verification_id, &code)).await, 400, "invalid_argument", 3);
    assert!(dead.error_description.unwrap().contains("too many"));

    // A new send for the same address invalidates the previous verification id.
    let first = send_code_to(&c, email).await;
    let first_code = emu.last_code_for(email).unwrap().code;
    let second = send_code_to(&c, email).await;
    assert_ne!(first.verification_id, second.verification_id);
    fails(
        c.verify_verification(&verify_request(&first.verification_id, &first_code)).await,
        400,
        "invalid_argument",
        3,
    );

    // Expiry follows the emulator clock.
    let second_code = emu.last_code_for(email).unwrap().code;
    emu.advance_clock(Duration::from_secs(601));
    let expired = fails(
        c.verify_verification(&verify_request(&second.verification_id, &second_code)).await,
        400,
        "invalid_argument",
        3,
    );
    assert_eq!(expired.error_description.as_deref(), Some("verification code expired"));

    // And a good code works once.
    let fresh = send_code_to(&c, email).await;
    let fresh_code = emu.last_code_for(email).unwrap().code;
    ok(c.verify_verification(&verify_request(&fresh.verification_id, &fresh_code)).await);
    fails(
        c.verify_verification(&verify_request(&fresh.verification_id, &fresh_code)).await,
        400,
        "invalid_argument",
        3,
    );

    // Missing fields (raw HTTP: the typed client cannot omit them).
    let path = format!("/auth/v1/verification/verify?{INVALID}");
    let (status, _, body) = http(&emu, "POST", &path, Some("application/json"), Some("{}"), &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_argument")));
    check_contract(&emu);
}
