//! OAuth (URL, callback, loopback, identities) and captcha (handler, typed challenge, public methods).
#![cfg(feature = "contract")]

mod common;

use std::time::Duration;

use cloudbase::{
    AuthEvent, CaptchaAnswer, CaptchaChallenge, Contact, Error, ErrorCode, GetVerification, LoopbackOptions,
    OAuthCallback, OAuthOptions, OAuthOutcome, SignInWithOtp, SignInWithPassword,
};
use cloudbase_emulator::EmulatorConfig;
use common::{PASSWORD, next_event, start, start_with};

/// Plays the browser: opens the authorization URL and returns where the provider redirects to.
async fn follow(url: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client.get(url).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn sign_in_with_oauth_and_verify_oauth() {
    let env = start().await;
    let auth = env.auth();
    let request = auth
        .sign_in_with_oauth(
            OAuthOptions::new("github", "http://127.0.0.1:1/callback?from=app").query_param("lang", "en"),
        )
        .await
        .unwrap();
    assert_eq!(request.provider, "github");
    assert!(request.url.contains("lang=en"));
    let callback = follow(&request.url).await;
    assert!(callback.starts_with("http://127.0.0.1:1/callback"));

    // A callback whose state this client did not issue is refused before any request.
    let calls = env.emu.requests().len();
    let forged = auth.verify_oauth(OAuthCallback::code("abc", "forged-state")).await.unwrap_err();
    assert!(matches!(forged, Error::OAuth(_)));
    assert_eq!(env.emu.requests().len(), calls);
    let provider_error = auth.verify_oauth(OAuthCallback::url("http://127.0.0.1:1/callback?error=access_denied")).await;
    assert!(matches!(provider_error, Err(Error::OAuth(_))));

    let OAuthOutcome::SignedIn(session) = auth.verify_oauth(OAuthCallback::url(callback.clone())).await.unwrap() else {
        panic!("a sign-in round trip signs in");
    };
    assert!(session.user.unwrap().identities.iter().any(|i| i.provider == "github"));
    // The state is spent.
    assert!(matches!(auth.verify_oauth(OAuthCallback::url(callback)).await, Err(Error::OAuth(_))));
    env.assert_contract();
}

#[tokio::test]
async fn sign_in_with_id_token_uses_a_provider_token() {
    let env = start().await;
    // Obtain a provider token the way a native provider SDK would hand one over, through the raw layer.
    let raw = cloudbase::raw::auth::Client::new(
        &env.emu.url(),
        cloudbase::raw::Context::new()
            .with_client_id(env.emu.env_id())
            .with_device_id("0123456789abcdef0123456789abcdef"),
    );
    let uri = raw.get_provider_uri("github", Some("http://127.0.0.1:1/cb"), None, None, Some("s1")).await.unwrap();
    let location = follow(&uri.uri).await;
    let code = url::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let body = cloudbase::raw::auth::types::ProviderTokenRequest {
        provider_id: "github".into(),
        provider_code: Some(code.into()),
        provider_redirect_uri: Some("http://127.0.0.1:1/cb".into()),
        provider_access_token: None,
        provider_id_token: None,
        provider_params: None,
    };
    let token = raw.get_provider_token(&body).await.unwrap().into_inner().provider_token;

    let session = env.auth().sign_in_with_id_token(token, Some("github")).await.unwrap();
    assert!(session.user.is_some());
    assert!(env.auth().sign_in_with_id_token("not-a-provider-token", None).await.unwrap_err().service().is_some());
    env.assert_contract();
}

#[tokio::test]
async fn oauth_loopback_sign_in() {
    let env = start().await;
    let auth = env.auth();
    let session = auth
        .sign_in_with_oauth_loopback("github", LoopbackOptions::default().timeout(Duration::from_secs(10)), |url| {
            // The "browser": follows the provider's redirect to the loopback listener.
            let url = url.to_owned();
            tokio::spawn(async move {
                let _ = reqwest::get(url).await;
            });
        })
        .await
        .unwrap();
    assert!(session.user.is_some());

    // Nobody comes back: a bounded wait.
    let err = auth
        .sign_in_with_oauth_loopback("github", LoopbackOptions::default().timeout(Duration::from_millis(200)), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OAuth(_)));
    env.assert_contract();
}

#[tokio::test]
async fn link_get_and_unlink_identities() {
    let env = start().await;
    env.user("link@example.com");
    let auth = env.auth();
    assert!(matches!(auth.link_identity("github", "http://127.0.0.1:1/cb").await, Err(Error::NotSignedIn)));
    auth.sign_in_with_password(SignInWithPassword::email("link@example.com", PASSWORD)).await.unwrap();
    assert!(auth.get_user_identities().await.unwrap().is_empty());

    let mut events = auth.on_auth_state_change();
    next_event(&mut events).await;
    let request = auth.link_identity("github", "http://127.0.0.1:1/cb").await.unwrap();
    let outcome = auth.verify_oauth(OAuthCallback::url(follow(&request.url).await)).await.unwrap();
    assert!(matches!(outcome, OAuthOutcome::IdentityLinked { ref provider } if provider == "github"));
    let change = next_event(&mut events).await;
    assert_eq!(change.event, AuthEvent::BindIdentity);
    assert_eq!(change.provider.as_deref(), Some("github"));

    let identities = auth.get_user_identities().await.unwrap();
    assert_eq!(identities.iter().map(|i| i.provider.as_str()).collect::<Vec<_>>(), ["github"]);
    auth.unlink_identity("github").await.unwrap();
    assert!(auth.get_user_identities().await.unwrap().is_empty());
    assert!(auth.unlink_identity("github").await.unwrap_err().service().is_some());
    assert!(matches!(auth.unlink_identity("").await, Err(Error::InvalidInput { .. })));
    env.assert_contract();
}

fn captcha_config() -> EmulatorConfig {
    EmulatorConfig { captcha_after_code_requests: Some(1), ..Default::default() }
}

#[tokio::test]
async fn without_a_handler_captcha_required_is_a_typed_error_with_the_challenge() {
    let env = start_with(captcha_config(), |b| b).await;
    let auth = env.auth();
    let _first = auth.sign_in_with_otp(SignInWithOtp::email("cap@example.com")).await.unwrap();
    let err = auth.sign_in_with_otp(SignInWithOtp::email("cap@example.com")).await.unwrap_err();
    assert!(err.is_captcha_required());
    let Error::CaptchaRequired(challenge) = err else { panic!("{err:?}") };
    assert!(challenge.data.starts_with("data:image/"));
    assert_eq!(challenge.state, "POST:/v1/verification");

    // The app shows the image, the user types the answer, and the call goes through.
    let answer = env.emu.captcha_answer(&challenge.token).expect("the emulator knows the answer");
    let wrong = auth.verify_captcha_data(&challenge.token, "zzzz").await.unwrap_err();
    assert_eq!(wrong.code(), Some(&ErrorCode::CaptchaInvalid));
    let fresh = auth.create_captcha_data("POST:/v1/verification", None).await.unwrap();
    let token = auth.verify_captcha_data(&fresh.token, &env.emu.captcha_answer(&fresh.token).unwrap()).await.unwrap();
    assert!(!format!("{token:?}").contains(token.captcha_token.expose_secret()));
    let _ = answer;
    // The solved token is cached and used by the next code request.
    let pending = auth.sign_in_with_otp(SignInWithOtp::email("cap@example.com")).await.unwrap();
    pending.verify(&env.code("cap@example.com")).await.unwrap();
    env.assert_contract();
}

#[tokio::test]
async fn a_captcha_handler_solves_the_challenge_and_the_call_is_retried() {
    let emu = cloudbase_emulator::Emulator::start_with(captcha_config()).await.unwrap();
    let solver = emu.clone();
    let app = common::builder(&emu)
        .captcha_handler(move |challenge: CaptchaChallenge| {
            let answer = solver.captcha_answer(&challenge.token);
            async move { Ok(answer.map(CaptchaAnswer::Text).unwrap_or(CaptchaAnswer::Cancel)) }
        })
        .build()
        .unwrap();
    let auth = app.auth();
    let _first = auth.sign_in_with_otp(SignInWithOtp::phone("13500135000")).await.unwrap();
    let pending = auth.sign_in_with_otp(SignInWithOtp::phone("13500135000")).await.unwrap();
    pending.verify(&emu.last_code_for("+86 13500135000").unwrap().code).await.unwrap();
    assert_eq!(emu.count("verify_captcha_data"), 1);
    assert_eq!(emu.count("send_verification"), 3, "first, refused, retried");

    // get_captcha_token returns the cached token; get_verification can attach it up front.
    let cached = auth.get_captcha_token().await.unwrap();
    assert!(!cached.captcha_token.is_empty());
    auth.get_verification(GetVerification::new(Contact::phone("13500135000")).with_captcha(true)).await.unwrap();
    common::assert_contract(&emu);
}

#[tokio::test]
async fn get_captcha_token_asks_the_handler() {
    let emu = cloudbase_emulator::Emulator::start().await.unwrap();
    let solver = emu.clone();
    let app = common::builder(&emu)
        .captcha_handler(move |challenge: CaptchaChallenge| {
            let answer = solver.captcha_answer(&challenge.token).unwrap_or_default();
            async move { Ok(CaptchaAnswer::Text(answer)) }
        })
        .build()
        .unwrap();
    let token = app.auth().get_captcha_token().await.unwrap();
    assert!(!token.captcha_token.is_empty());
    assert_eq!(emu.count("create_captcha_data"), 1);
    // Without a handler there is nobody to solve it.
    let bare = common::builder(&emu).build().unwrap();
    assert!(matches!(bare.auth().get_captcha_token().await, Err(Error::CaptchaRequired(_))));
    common::assert_contract(&emu);
}
