//! Third-party providers: sign-in through the OAuth test provider, binding and unbinding.

use cloudbase::Secret;
use cloudbase::raw::Context;
use cloudbase::raw::auth::{Client, types};
use cloudbase_emulator::{Emulator, NewIdentity, NewUser};

use crate::helpers::{
    check_contract, client, email_user, fails, http, me, ok, password_sign_in, provider_token, user_client,
};

#[tokio::test]
async fn oauth_provider_sign_in_bind_and_unbind() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);

    // provider/uri points at the emulator's consent page.
    let uri =
        ok(c.get_provider_uri("github", Some("http://127.0.0.1:8765/callback"), None, None, Some("xyz")).await).uri;
    assert!(uri.starts_with(&format!("{}/_emulator/oauth/authorize?", emu.url())), "{uri}");
    assert!(uri.contains("provider_id=github") && uri.contains("state=xyz"), "{uri}");
    assert!(uri.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"), "{uri}");
    let no_device = Client::new(&emu.url(), Context::new().with_client_id(emu.env_id()));
    fails(no_device.get_provider_uri("github", None, None, None, None).await, 400, "invalid_argument", 3);
    fails(c.get_provider_uri("", None, None, None, None).await, 400, "invalid_argument", 3);

    // Consent -> code -> provider token -> sign in (creates the user) -> same user next time.
    let provider = provider_token(&emu, "github", "octocat").await;
    assert_eq!(provider.expires_in, Some(3600));
    let profile = provider.provider_profile.clone().unwrap();
    assert_eq!((profile.provider_id.as_deref(), profile.sub.as_deref()), (Some("github"), Some("octocat")));
    let signin = |token: &Secret| types::ProviderSignInRequest {
        provider_token: token.clone(),
        provider_id: None,
        force_disable_sign_up: None,
        sync_profile: None,
    };
    let first = ok(c.sign_in_with_provider(&signin(&provider.provider_token)).await);
    assert_eq!(first.scope.as_deref(), Some("user sso"));
    let again = provider_token(&emu, "github", "octocat").await;
    assert_eq!(ok(c.sign_in_with_provider(&signin(&again.provider_token)).await).sub, first.sub);
    let user = me(&emu, &first.access_token).await;
    assert_eq!(user.name.as_deref(), Some("octocat"));

    // Errors: bad token, provider id mismatch, sign-up disabled, no device id.
    fails(c.sign_in_with_provider(&signin(&Secret::from("pt.nope".to_owned()))).await, 400, "invalid_grant", 3);
    let mismatch = types::ProviderSignInRequest { provider_id: Some("google".into()), ..signin(&again.provider_token) };
    fails(c.sign_in_with_provider(&mismatch).await, 400, "invalid_argument", 3);
    let newcomer = provider_token(&emu, "github", "newcomer").await;
    let no_signup =
        types::ProviderSignInRequest { force_disable_sign_up: Some(true), ..signin(&newcomer.provider_token) };
    fails(c.sign_in_with_provider(&no_signup).await, 404, "not_found", 5);
    fails(no_device.sign_in_with_provider(&signin(&newcomer.provider_token)).await, 400, "invalid_argument", 3);

    // provider/token errors: reused code, wrong redirect, wrong provider, no code, no device id.
    let redirect = "http://127.0.0.1:8765/callback";
    let code_for = |login: &str| {
        let emu = emu.clone();
        let login = login.to_owned();
        async move {
            let page =
                format!("/_emulator/oauth/authorize?provider_id=github&redirect_uri={redirect}&state=s&login={login}");
            let (_, headers, _) = http(&emu, "GET", &page, None, None, &[]).await;
            let location = headers["location"].to_str().unwrap().to_owned();
            location.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned()
        }
    };
    let exchange = |provider: &str, code: &str, redirect: Option<&str>| types::ProviderTokenRequest {
        provider_id: provider.into(),
        provider_code: Some(Secret::from(code.to_owned())),
        provider_redirect_uri: redirect.map(Into::into),
        provider_access_token: None,
        provider_id_token: None,
        provider_params: None,
    };
    let code = code_for("reuse").await;
    fails(
        c.get_provider_token(&exchange("github", &code, Some("http://evil.example/cb"))).await,
        400,
        "invalid_grant",
        3,
    );
    fails(c.get_provider_token(&exchange("google", &code, Some(redirect))).await, 400, "invalid_grant", 3);
    fails(no_device.get_provider_token(&exchange("github", &code, Some(redirect))).await, 400, "invalid_argument", 3);
    ok(c.get_provider_token(&exchange("github", &code, Some(redirect))).await);
    fails(c.get_provider_token(&exchange("github", &code, Some(redirect))).await, 400, "invalid_grant", 3);
    fails(c.get_provider_token(&exchange("github", "pc.unknown", Some(redirect))).await, 400, "invalid_grant", 3);
    let no_code = types::ProviderTokenRequest { provider_code: None, ..exchange("github", "", None) };
    fails(c.get_provider_token(&no_code).await, 400, "invalid_argument", 3);
    // The consent page can also refuse.
    let (status, headers, _) = http(
        &emu,
        "GET",
        &format!("/_emulator/oauth/authorize?provider_id=github&redirect_uri={redirect}&state=s&deny=1"),
        None,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 302);
    assert!(headers["location"].to_str().unwrap().contains("error=access_denied"));

    // Identities of a password user: list, bind, bind conflicts, unbind.
    emu.create_user(email_user("nina@example.com", "nina-password"));
    let nina = password_sign_in(&emu, "nina@example.com", "nina-password").await;
    let u = user_client(&emu, &nina.access_token);
    let list = ok(u.list_user_providers().await);
    assert_eq!(list.total, Some(list.data.len() as i64));
    assert!(list.data.iter().any(|p| p.id.as_deref() == Some("github") && p.bind == Some(false)));
    assert!(list.data.iter().any(|p| p.id.as_deref() == Some("wx_open")));
    let mine = provider_token(&emu, "github", "nina-gh").await;
    let bind = |token: &Secret| types::BindProviderRequest { provider_token: token.clone(), with_user_center: None };
    ok(u.bind_provider(&bind(&mine.provider_token)).await);
    ok(u.bind_provider(&bind(&mine.provider_token)).await); // idempotent
    let list = ok(u.list_user_providers().await);
    let github = list.data.iter().find(|p| p.id.as_deref() == Some("github")).unwrap();
    assert_eq!((github.bind, github.provider_user_name.as_deref()), (Some(true), Some("nina-gh")));
    // octocat belongs to the first user: failed_precondition. A second github account: failed_precondition.
    let taken = provider_token(&emu, "github", "octocat").await;
    fails(u.bind_provider(&bind(&taken.provider_token)).await, 400, "failed_precondition", 9);
    let second = provider_token(&emu, "github", "nina-second").await;
    fails(u.bind_provider(&bind(&second.provider_token)).await, 400, "failed_precondition", 9);
    fails(u.bind_provider(&bind(&Secret::from("pt.expired".to_owned()))).await, 400, "invalid_grant", 3);
    fails(client(&emu).bind_provider(&bind(&mine.provider_token)).await, 401, "unauthenticated", 16);

    ok(u.unbind_provider("github", None).await);
    fails(u.unbind_provider("github", Some(true)).await, 404, "provider_not_found", 5);
    fails(u.unbind_provider("google", None).await, 404, "provider_not_found", 5);
    fails(client(&emu).unbind_provider("github", None).await, 401, "unauthenticated", 16);
    // The OAuth-only user cannot drop its only sign-in method.
    fails(user_client(&emu, &first.access_token).unbind_provider("github", None).await, 400, "failed_precondition", 9);
    fails(client(&emu).list_user_providers().await, 401, "unauthenticated", 16);

    // Seeded identities sign in through the test provider too.
    let seeded = emu.create_user(NewUser {
        name: Some("Seeded".into()),
        identities: vec![NewIdentity { provider_id: "google".into(), provider_user_id: "seed-g".into() }],
        ..Default::default()
    });
    let token = provider_token(&emu, "google", "seed-g").await;
    assert_eq!(ok(c.sign_in_with_provider(&signin(&token.provider_token)).await).sub.as_deref(), Some(seeded.as_str()));
    check_contract(&emu);
}
