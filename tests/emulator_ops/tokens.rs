//! Tokens: refresh rotation, the token grants, bearer checks and introspection, revocation and sign-out.

use std::time::Duration;

use cloudbase::Secret;
use cloudbase::raw::auth::{Client, types};
use cloudbase_emulator::Emulator;
use serde_json::json;

use crate::helpers::{
    INVALID, check_contract, claims, client, ctx, email_user, fails, http, me, ok, password_sign_in, refresh_request,
    token_request, user_client,
};

#[tokio::test]
async fn refresh_tokens_rotate_and_a_used_one_is_rejected() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(email_user("gina@example.com", "gina-password"));
    let c = client(&emu);
    let tokens = password_sign_in(&emu, "gina@example.com", "gina-password").await;
    let r1 = tokens.refresh_token.clone().unwrap();
    let refreshed = ok(c.grant_token(&refresh_request(&emu, &r1)).await);
    let r2 = refreshed.refresh_token.clone().expect("a rotated refresh token");
    assert_ne!(r1, r2);
    assert_eq!(refreshed.sub, tokens.sub);
    assert_eq!(refreshed.scope.as_deref(), Some("user"));
    me(&emu, &refreshed.access_token).await;

    // The used refresh token is dead: invalid_grant. The new one still works.
    let reused = fails(c.grant_token(&refresh_request(&emu, &r1)).await, 400, "invalid_grant", 3);
    assert!(reused.error_description.unwrap().contains("already used"));
    let r3 = ok(c.grant_token(&refresh_request(&emu, &r2)).await).refresh_token.unwrap();

    // Unknown, missing, expired refresh tokens.
    fails(c.grant_token(&refresh_request(&emu, &Secret::from("m.nope".to_owned()))).await, 400, "invalid_grant", 3);
    fails(c.grant_token(&token_request(types::GrantType::RefreshToken)).await, 400, "invalid_argument", 3);
    emu.advance_clock(Duration::from_secs(31 * 24 * 3600 + 1));
    fails(c.grant_token(&refresh_request(&emu, &r3)).await, 400, "invalid_grant", 3);
    check_contract(&emu);
}

#[tokio::test]
async fn grant_token_password_client_credentials_and_errors() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(email_user("hank@example.com", "hank-password"));
    let c = client(&emu);
    let password_grant = types::TokenRequest {
        username: Some("hank@example.com".into()),
        password: Some(Secret::from("hank-password".to_owned())),
        ..token_request(types::GrantType::Password)
    };
    let tokens = ok(c.grant_token(&password_grant).await);
    assert!(tokens.refresh_token.is_some());
    let wrong = types::TokenRequest { password: Some(Secret::from("nope-nope".to_owned())), ..password_grant.clone() };
    fails(c.grant_token(&wrong).await, 400, "invalid_password", 3);

    // client_credentials: Basic auth, no refresh token.
    let basic = Client::new(&emu.url(), ctx(&emu).with_basic(&emu.env_id(), &Secret::from(String::new())));
    let admin = ok(basic.grant_token(&token_request(types::GrantType::ClientCredentials)).await);
    assert!(admin.refresh_token.is_none());
    assert_eq!(claims(&admin.access_token)["is_system_admin"], json!(true));
    fails(c.grant_token(&token_request(types::GrantType::ClientCredentials)).await, 401, "invalid_client", 16);
    let stranger = Client::new(&emu.url(), ctx(&emu).with_basic("other-env", &Secret::from("s".to_owned())));
    fails(stranger.grant_token(&token_request(types::GrantType::ClientCredentials)).await, 401, "invalid_client", 16);
    // A client-credentials token has no user.
    fails(user_client(&emu, &admin.access_token).get_user_me().await, 403, "permission_denied", 7);

    // authorization_code is not offered by the emulator.
    fails(c.grant_token(&token_request(types::GrantType::AuthorizationCode)).await, 400, "unsupported_grant_type", 3);
    // A client id other than the environment's.
    let foreign = types::TokenRequest { client_id: Some("someone-else".into()), ..password_grant };
    fails(c.grant_token(&foreign).await, 401, "invalid_client", 16);
    let path = format!("/auth/v1/token?{INVALID}");
    let (status, _, body) =
        http(&emu, "POST", &path, Some("application/json"), Some(r#"{"grant_type":"magic"}"#), &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    check_contract(&emu);
}

#[tokio::test]
async fn bearer_checks_introspection_and_expiry() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(email_user("ivy@example.com", "ivy-password"));
    let tokens = password_sign_in(&emu, "ivy@example.com", "ivy-password").await;

    // Missing and unknown tokens: 401 INVALID_ACCESS_TOKEN.
    let body = fails(client(&emu).get_user_me().await, 401, "unauthenticated", 16);
    assert_eq!(body.code, Some(json!("INVALID_ACCESS_TOKEN")));
    assert!(body.message.is_some());
    let forged = Secret::from("eyJhbGciOiJIUzI1NiJ9.e30.c2ln".to_owned());
    let body = fails(user_client(&emu, &forged).get_user_me().await, 401, "unauthenticated", 16);
    assert_eq!(body.code, Some(json!("INVALID_ACCESS_TOKEN")));

    // Introspection: facts for a valid token, {} otherwise.
    let facts = ok(user_client(&emu, &tokens.access_token).introspect_token().await);
    assert_eq!(facts.sub, tokens.sub);
    assert_eq!(facts.client_id.as_deref(), Some(emu.env_id().as_str()));
    assert_eq!(facts.scope.as_deref(), Some("user"));
    assert_eq!(facts.token_type.as_deref(), Some("Bearer"));
    let nothing = ok(user_client(&emu, &forged).introspect_token().await);
    assert!(nothing.sub.is_none() && nothing.scope.is_none());
    assert!(ok(client(&emu).introspect_token().await).sub.is_none());

    // Expiry on the emulator clock: ACCESS_TOKEN_EXPIRED, and introspection answers {}.
    emu.advance_clock(Duration::from_secs(7201));
    let body = fails(user_client(&emu, &tokens.access_token).get_user_me().await, 401, "unauthenticated", 16);
    assert_eq!(body.code, Some(json!("ACCESS_TOKEN_EXPIRED")));
    assert!(ok(user_client(&emu, &tokens.access_token).introspect_token().await).sub.is_none());
    // The refresh token still works.
    let fresh = ok(client(&emu).grant_token(&refresh_request(&emu, tokens.refresh_token.as_ref().unwrap())).await);
    me(&emu, &fresh.access_token).await;

    // A short TTL set at run time.
    emu.update_config(|c| c.access_token_ttl = Duration::from_secs(5));
    let short = password_sign_in(&emu, "ivy@example.com", "ivy-password").await;
    assert_eq!(short.expires_in, 5);
    check_contract(&emu);
}

#[tokio::test]
async fn revoke_and_sign_out() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(email_user("jay@example.com", "jay-password"));
    let c = client(&emu);

    // JS signOut(): {token} in the body, no Authorization.
    let a = password_sign_in(&emu, "jay@example.com", "jay-password").await;
    let b = password_sign_in(&emu, "jay@example.com", "jay-password").await;
    ok(c.revoke_token(&types::RevokeRequest { token: Some(a.access_token.clone()) }).await);
    let body = fails(user_client(&emu, &a.access_token).get_user_me().await, 401, "unauthenticated", 16);
    assert_eq!(body.code, Some(json!("INVALID_ACCESS_TOKEN")));
    fails(c.grant_token(&refresh_request(&emu, a.refresh_token.as_ref().unwrap())).await, 400, "invalid_grant", 3);
    me(&emu, &b.access_token).await; // another session is untouched

    // Docs form: Bearer header, empty body.
    ok(user_client(&emu, &b.access_token).revoke_token(&types::RevokeRequest::default()).await);
    fails(user_client(&emu, &b.access_token).get_user_me().await, 401, "unauthenticated", 16);
    // Unknown tokens are not an error (RFC 7009); no token at all is.
    ok(c.revoke_token(&types::RevokeRequest { token: Some(Secret::from("unknown".to_owned())) }).await);
    fails(c.revoke_token(&types::RevokeRequest::default()).await, 400, "invalid_argument", 3);

    // user/signout ends the session; with a redirect_uri it answers one.
    let d = password_sign_in(&emu, "jay@example.com", "jay-password").await;
    let out = ok(user_client(&emu, &d.access_token).sign_out_user(&types::SignOutRequest::default()).await);
    assert!(out.redirect_uri.is_none());
    fails(user_client(&emu, &d.access_token).get_user_me().await, 401, "unauthenticated", 16);
    fails(c.grant_token(&refresh_request(&emu, d.refresh_token.as_ref().unwrap())).await, 400, "invalid_grant", 3);
    let e = password_sign_in(&emu, "jay@example.com", "jay-password").await;
    let out = ok(user_client(&emu, &e.access_token)
        .sign_out_user(&types::SignOutRequest {
            redirect_uri: Some("https://app.example/bye".into()),
            state: Some("s1".into()),
        })
        .await);
    assert_eq!(out.redirect_uri.as_deref(), Some("https://app.example/bye?state=s1"));
    fails(
        user_client(&emu, &e.access_token).sign_out_user(&types::SignOutRequest::default()).await,
        401,
        "unauthenticated",
        16,
    );
    check_contract(&emu);
}
