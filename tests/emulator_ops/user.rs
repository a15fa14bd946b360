//! The signed-in user: profile edits, sudo, password changes and deletion, contact updates and password
//! resets.

use cloudbase::Secret;
use cloudbase::raw::auth::types;
use cloudbase_emulator::{Emulator, NewUser};
use serde_json::json;

use crate::helpers::{
    check_contract, client, email_user, fails, http, me, ok, password_sign_in, refresh_request, user_client,
    verification_token, verify_request,
};

#[tokio::test]
async fn edit_user_basic_and_patch_profile() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(NewUser { username: Some("taken".into()), ..email_user("other@example.com", "other-password") });
    emu.create_user(email_user("kim@example.com", "kim-password"));
    let tokens = password_sign_in(&emu, "kim@example.com", "kim-password").await;
    let u = user_client(&emu, &tokens.access_token);

    let edit = types::EditUserBasicRequest {
        nickname: Some("Kim K".into()),
        username: Some("kim_k".into()),
        gender: Some(types::Gender::Female),
        description: Some("hello".into()),
        avatar_url: Some("https://img.example/kim.png".into()),
        phone: Some("+86 13600136000".into()),
        ..Default::default()
    };
    let empty = ok(u.edit_user_basic(&edit).await);
    assert!(empty.is_empty());
    let profile = me(&emu, &tokens.access_token).await;
    assert_eq!(profile.name.as_deref(), Some("Kim K"));
    assert_eq!(profile.username.as_deref(), Some("kim_k"));
    assert_eq!(profile.gender.as_deref(), Some("FEMALE"));
    assert_eq!(profile.picture.as_deref(), Some("https://img.example/kim.png"));
    assert_eq!(profile.user_desc.as_deref(), Some("hello"));
    assert_eq!(profile.phone_number.as_deref(), Some("+86 13600136000"));
    // The JS updateUser flow: verify a code for the new email, then basic/edit {email} (no token).
    ok(u.edit_user_basic(&types::EditUserBasicRequest {
        email: Some("kim2@example.com".into()),
        ..Default::default()
    })
    .await);
    assert_eq!(me(&emu, &tokens.access_token).await.email.as_deref(), Some("kim2@example.com"));

    fails(
        u.edit_user_basic(&types::EditUserBasicRequest { username: Some("taken".into()), ..Default::default() }).await,
        409,
        "already_exists",
        6,
    );
    fails(
        u.edit_user_basic(&types::EditUserBasicRequest {
            email: Some("other@example.com".into()),
            ..Default::default()
        })
        .await,
        400,
        "failed_precondition",
        9,
    );
    fails(
        u.edit_user_basic(&types::EditUserBasicRequest { nickname: Some("K".into()), ..Default::default() }).await,
        400,
        "invalid_argument",
        3,
    );
    fails(
        u.edit_user_basic(&types::EditUserBasicRequest { phone: Some("12345".into()), ..Default::default() }).await,
        400,
        "invalid_argument",
        3,
    );
    fails(
        u.edit_user_basic(&types::EditUserBasicRequest { user_id: Some("someone-else".into()), ..Default::default() })
            .await,
        403,
        "permission_denied",
        7,
    );
    // Password change through basic/edit needs the old password.
    let change = types::EditUserBasicRequest {
        password: Some(Secret::from("wrong-old".to_owned())),
        new_password: Some(Secret::from("kim-new-password".to_owned())),
        ..Default::default()
    };
    fails(u.edit_user_basic(&change).await, 400, "invalid_password", 3);
    let change = types::EditUserBasicRequest { password: Some(Secret::from("kim-password".to_owned())), ..change };
    ok(u.edit_user_basic(&change).await);
    password_sign_in(&emu, "kim_k", "kim-new-password").await;
    fails(client(&emu).edit_user_basic(&types::EditUserBasicRequest::default()).await, 401, "unauthenticated", 16);

    // PATCH /user/profile answers the updated profile.
    let patched = ok(u
        .patch_user_profile(&types::PatchUserProfileRequest {
            name: Some("Kimberly".into()),
            locale: Some("en-US".into()),
            ..Default::default()
        })
        .await);
    assert_eq!(patched.name.as_deref(), Some("Kimberly"));
    assert_eq!(patched.locale.as_deref(), Some("en-US"));
    fails(
        u.patch_user_profile(&types::PatchUserProfileRequest { username: Some("taken".into()), ..Default::default() })
            .await,
        409,
        "already_exists",
        6,
    );
    fails(
        client(&emu).patch_user_profile(&types::PatchUserProfileRequest::default()).await,
        401,
        "unauthenticated",
        16,
    );
    check_contract(&emu);
}

#[tokio::test]
async fn sudo_password_change_and_delete_user() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(email_user("lee@example.com", "lee-password"));
    let session = password_sign_in(&emu, "lee@example.com", "lee-password").await;
    let other_device = password_sign_in(&emu, "lee@example.com", "lee-password").await;
    let u = user_client(&emu, &session.access_token);
    let sudo = |password: Option<&str>, token: Option<Secret>| types::SudoRequest {
        password: password.map(|p| Secret::from(p.to_owned())),
        verification_token: token,
    };

    fails(u.get_sudo_token(&sudo(Some("wrong-password"), None)).await, 400, "invalid_password", 3);
    fails(u.get_sudo_token(&sudo(None, None)).await, 400, "invalid_argument", 3);
    fails(client(&emu).get_sudo_token(&sudo(Some("lee-password"), None)).await, 401, "unauthenticated", 16);
    let granted = ok(u.get_sudo_token(&sudo(Some("lee-password"), None)).await);
    assert_eq!(granted.expires_in, Some(900));
    // By verification token (the reauthenticate flow); a token for another address is refused.
    let token = verification_token(&emu, "lee@example.com").await;
    ok(u.get_sudo_token(&sudo(None, Some(token))).await);
    let foreign = verification_token(&emu, "stranger@example.com").await;
    fails(u.get_sudo_token(&sudo(None, Some(foreign))).await, 400, "invalid_argument", 3);

    // PATCH /user/password with the sudo token in the body (JS SDK); other sessions are signed out.
    let set = |sudo: Option<&Secret>, new: &str| types::SetPasswordRequest {
        sudo_token: sudo.cloned(),
        new_password: Secret::from(new.to_owned()),
        old_password: None,
        confirm_password: None,
    };
    fails(
        u.set_password(None, &set(Some(&Secret::from("st.bogus".to_owned())), "lee-password-2")).await,
        403,
        "permission_denied",
        7,
    );
    fails(u.set_password(None, &set(None, "lee-password-2")).await, 400, "invalid_argument", 3);
    fails(u.set_password(None, &set(Some(&granted.sudo_token), "short")).await, 400, "invalid_argument", 3);
    ok(u.set_password(None, &set(Some(&granted.sudo_token), "lee-password-2")).await);
    me(&emu, &session.access_token).await;
    fails(user_client(&emu, &other_device.access_token).get_user_me().await, 401, "unauthenticated", 16);
    fails(
        client(&emu).grant_token(&refresh_request(&emu, other_device.refresh_token.as_ref().unwrap())).await,
        400,
        "invalid_grant",
        3,
    );
    fails(
        client(&emu)
            .sign_in(&types::SignInRequest {
                username: Some("lee@example.com".into()),
                password: Some(Secret::from("lee-password".to_owned())),
                ..Default::default()
            })
            .await,
        400,
        "invalid_password",
        3,
    );
    password_sign_in(&emu, "lee@example.com", "lee-password-2").await;

    // The docs' form: sudo_token in the query (raw HTTP; the typed client sends it in the body).
    let path = format!("/auth/v1/user/password?sudo_token={}", granted.sudo_token.expose_secret());
    let bearer = format!("Bearer {}", session.access_token.expose_secret());
    let (status, _, body) = http(
        &emu,
        "PATCH",
        &path,
        Some("application/json"),
        Some(r#"{"new_password":"lee-password-3"}"#),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!((status, body), (200, json!({})));
    password_sign_in(&emu, "lee@example.com", "lee-password-3").await;
    assert!(emu.requests().iter().all(|r| !r.query.contains(granted.sudo_token.expose_secret())));

    // DELETE /user/me?sudo_token=...
    fails(u.delete_user_me(&Secret::from("st.bogus".to_owned())).await, 403, "permission_denied", 7);
    fails(client(&emu).delete_user_me(&granted.sudo_token).await, 401, "unauthenticated", 16);
    let gone = ok(u.delete_user_me(&granted.sudo_token).await);
    assert!(gone.is_empty());
    fails(u.get_user_me().await, 401, "unauthenticated", 16);
    fails(
        client(&emu)
            .sign_in(&types::SignInRequest {
                username: Some("lee@example.com".into()),
                password: Some(Secret::from("lee-password-3".to_owned())),
                ..Default::default()
            })
            .await,
        404,
        "not_found",
        5,
    );
    check_contract(&emu);
}

#[tokio::test]
async fn update_contact_and_reset_password() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(NewUser {
        phone_number: Some("+86 13500135000".into()),
        ..email_user("mia@example.com", "mia-password")
    });
    emu.create_user(email_user("held@example.com", "held-password"));
    let tokens = password_sign_in(&emu, "mia@example.com", "mia-password").await;
    let u = user_client(&emu, &tokens.access_token);
    let sudo = ok(u
        .get_sudo_token(&types::SudoRequest {
            password: Some(Secret::from("mia-password".to_owned())),
            verification_token: None,
        })
        .await)
    .sudo_token;
    let contact = |email: &str, token: Secret, resolution| types::UpdateContactRequest {
        email: Some(email.into()),
        phone_number: None,
        sudo_token: sudo.clone(),
        verification_token: token,
        conflict_resolution: resolution,
    };

    let token = verification_token(&emu, "mia.new@example.com").await;
    ok(u.update_user_contact(&contact("mia.new@example.com", token, None)).await);
    assert_eq!(me(&emu, &tokens.access_token).await.email.as_deref(), Some("mia.new@example.com"));
    // Verification token for another address than the one given.
    let token = verification_token(&emu, "x@example.com").await;
    fails(u.update_user_contact(&contact("y@example.com", token, None)).await, 400, "invalid_argument", 3);
    // An address bound to another account: refused by default, moved with TRANSFER.
    let token = verification_token(&emu, "held@example.com").await;
    fails(
        u.update_user_contact(&contact("held@example.com", token.clone(), None)).await,
        400,
        "failed_precondition",
        9,
    );
    ok(u.update_user_contact(&contact("held@example.com", token, Some(types::ConflictResolution::Transfer))).await);
    assert_eq!(me(&emu, &tokens.access_token).await.email.as_deref(), Some("held@example.com"));
    assert!(emu.requests().iter().any(|r| r.operation_id.as_deref() == Some("update_user_contact")));
    // A bad sudo token.
    let token = verification_token(&emu, "z@example.com").await;
    let bad = types::UpdateContactRequest {
        sudo_token: Secret::from("st.nope".to_owned()),
        ..contact("z@example.com", token, None)
    };
    fails(u.update_user_contact(&bad).await, 403, "permission_denied", 7);

    // POST /reset: by email, and by phone as the JS SDK sends it (the raw, unformatted number).
    let c = client(&emu);
    let token = verification_token(&emu, "held@example.com").await;
    let reset = |email: Option<&str>, phone: Option<&str>, token: Secret| types::ResetPasswordRequest {
        email: email.map(Into::into),
        phone_number: phone.map(Into::into),
        new_password: Secret::from("reset-password-1".to_owned()),
        verification_token: token,
    };
    ok(c.reset_password(&reset(Some("held@example.com"), None, token)).await);
    password_sign_in(&emu, "held@example.com", "reset-password-1").await;
    fails(u.get_user_me().await, 401, "unauthenticated", 16); // every session of the user is revoked

    let sent = ok(c
        .send_verification(&types::VerificationRequest {
            phone_number: Some("+86 13500135000".into()),
            target: Some(types::VerificationTarget::User),
            ..Default::default()
        })
        .await);
    let code = emu.last_code_for("+86 13500135000").unwrap().code;
    let token = ok(c.verify_verification(&verify_request(&sent.verification_id, &code)).await).verification_token;
    fails(c.reset_password(&reset(Some("held@example.com"), None, token.clone())).await, 400, "invalid_argument", 3);
    fails(
        c.reset_password(&reset(Some("a@example.com"), Some("13500135000"), token.clone())).await,
        400,
        "invalid_argument",
        3,
    );
    fails(c.reset_password(&reset(None, None, token.clone())).await, 400, "invalid_argument", 3);
    ok(c.reset_password(&reset(None, Some("13500135000"), token.clone())).await);
    fails(c.reset_password(&reset(None, Some("13500135000"), token)).await, 400, "invalid_argument", 3);
    // A verified address without a user.
    let token = verification_token(&emu, "nobody@example.com").await;
    fails(c.reset_password(&reset(Some("nobody@example.com"), None, token)).await, 404, "not_found", 5);
    check_contract(&emu);
}
