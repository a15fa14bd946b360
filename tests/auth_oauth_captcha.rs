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
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

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

/// `host:port` of the loopback listener a redirect location points at.
fn loopback_addr(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
}

/// `location` with its `state` replaced (or removed with `None`), the rest kept.
fn with_state(location: &str, state: Option<&str>) -> String {
    let mut url = url::Url::parse(location).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(k, _)| k != "state").collect();
    let mut query = url.query_pairs_mut();
    query.clear().extend_pairs(&pairs);
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    drop(query);
    url.to_string()
}

fn query_value(location: &str, key: &str) -> String {
    url::Url::parse(location).unwrap().query_pairs().find(|(k, _)| k == key).unwrap().1.into_owned()
}

/// A browser's GET: status and page, within 5 s.
async fn browse(url: &str) -> (u16, String) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let response = client.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Sends `request` as is on a fresh connection and returns the whole answer, within 5 s.
async fn exchange(addr: &str, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// What the scripted browser saw, handed back from its task.
async fn report<T>(rx: tokio::sync::oneshot::Receiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx).await.expect("the browser reports within 5 s").unwrap()
}

#[tokio::test]
async fn oauth_loopback_serves_the_redirect_while_another_connection_stays_silent() {
    let env = start().await;
    let auth = env.auth();
    let browser_auth = auth.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The per-connection timeout outlasts the whole wait: only concurrent serving lets the redirect through.
    let options = LoopbackOptions::default().timeout(Duration::from_secs(10)).read_timeout(Duration::from_secs(60));
    let session = auth
        .sign_in_with_oauth_loopback("github", options, move |url| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let callback = follow(&url).await;
                let addr = loopback_addr(&callback);
                let silent = TcpStream::connect(&addr).await.unwrap();
                let garbage = exchange(&addr, b"\x16\x03\x01 not http at all\r\n\r\n").await;
                let oversized = exchange(&addr, &[b'a'; 8 * 1024]).await;
                let (status, page) = browse(&callback).await;
                // The page has arrived: the session must already be there.
                let signed_in = browser_auth.get_session().await.unwrap().is_some();
                drop(silent);
                let _ = tx.send((garbage, oversized, status, page, signed_in));
            });
        })
        .await
        .unwrap();
    assert!(session.user.is_some());
    let (garbage, oversized, status, page, signed_in) = report(rx).await;
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
    assert!(oversized.starts_with("HTTP/1.1 431 "), "{oversized}");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in"), "{page}");
    assert!(signed_in, "the success page was sent before the session existed");
    env.assert_contract();
}

#[tokio::test]
async fn oauth_loopback_drops_a_silent_connection_after_the_read_timeout() {
    let env = start().await;
    let auth = env.auth();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let options = LoopbackOptions::default().timeout(Duration::from_secs(10)).read_timeout(Duration::from_millis(300));
    let session = auth
        .sign_in_with_oauth_loopback("github", options, move |url| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let callback = follow(&url).await;
                let mut silent = TcpStream::connect(loopback_addr(&callback)).await.unwrap();
                let mut buf = [0u8; 64];
                let dropped = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await;
                let (status, _) = browse(&callback).await;
                let _ = tx.send((dropped.map(|r| r.map_err(|e| e.kind())), status));
            });
        })
        .await
        .unwrap();
    assert!(session.user.is_some());
    let (dropped, status) = report(rx).await;
    assert!(matches!(dropped, Ok(Ok(0) | Err(_))), "the silent connection is closed: {dropped:?}");
    assert_eq!(status, 200);
    env.assert_contract();
}

#[tokio::test]
async fn oauth_loopback_answers_a_wrong_state_and_keeps_waiting_for_the_right_one() {
    let env = start().await;
    let auth = env.auth();
    let browser_auth = auth.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let session = auth
        .sign_in_with_oauth_loopback("github", LoopbackOptions::default().timeout(Duration::from_secs(10)), |url| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let callback = follow(&url).await;
                let code = query_value(&callback, "code");
                // The real code under a wrong or missing state: refused, and the code is not spent.
                let wrong = browse(&with_state(&callback, Some("prd-github-forged"))).await;
                let missing = browse(&with_state(&callback, None)).await;
                let favicon = browse(&format!("http://{}/favicon.ico", loopback_addr(&callback))).await;
                let right = browse(&callback).await;
                let signed_in = browser_auth.get_session().await.unwrap().is_some();
                let _ = tx.send((code, wrong, missing, favicon, right, signed_in));
            });
        })
        .await
        .unwrap();
    assert!(session.user.unwrap().identities.iter().any(|i| i.provider == "github"));
    let (code, wrong, missing, favicon, right, signed_in) = report(rx).await;
    assert_eq!(wrong.0, 400, "{}", wrong.1);
    assert!(wrong.1.contains("does not belong to the sign-in in progress"), "{}", wrong.1);
    assert!(!wrong.1.contains(&code));
    assert_eq!(missing.0, 400, "{}", missing.1);
    assert_eq!(favicon.0, 404, "{}", favicon.1);
    assert_eq!(right.0, 200, "{}", right.1);
    assert!(right.1.contains("Signed in"), "{}", right.1);
    assert!(signed_in, "the success page was sent before the session existed");
    env.assert_contract();
}

#[tokio::test]
async fn oauth_loopback_shows_and_returns_a_provider_error() {
    let env = start().await;
    let auth = env.auth();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let err = auth
        .sign_in_with_oauth_loopback("github", LoopbackOptions::default().timeout(Duration::from_secs(10)), |url| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let callback = follow(&url).await;
                let state = query_value(&callback, "state");
                let mut denied = url::Url::parse(&format!("http://{}/callback", loopback_addr(&callback))).unwrap();
                denied
                    .query_pairs_mut()
                    .append_pair("error", "access_denied")
                    .append_pair("error_description", "<script>alert(1)</script> said no")
                    .append_pair("state", &state);
                let page = browse(denied.as_str()).await;
                let _ = tx.send((callback, state, page));
            });
        })
        .await
        .unwrap_err();
    let Error::OAuth(oauth) = &err else { panic!("{err:?}") };
    assert!(oauth.reason().contains("access_denied"), "{oauth}");
    let (callback, state, (status, page)) = report(rx).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("access_denied"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; said no"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("Signed in"), "{page}");
    assert!(auth.get_session().await.unwrap().is_none());

    // The round trip is over: its state no longer finishes a sign-in, even with the provider's real code.
    let calls = env.emu.requests().len();
    let stale = auth.verify_oauth(OAuthCallback::code(query_value(&callback, "code"), state)).await;
    assert!(matches!(stale, Err(Error::OAuth(_))), "{stale:?}");
    assert_eq!(env.emu.requests().len(), calls);
    env.assert_contract();
}

#[tokio::test]
async fn oauth_loopback_shows_a_failed_exchange_without_the_code() {
    let env = start().await;
    let auth = env.auth();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let bogus = "pc.not-a-code-the-provider-issued";
    let err = auth
        .sign_in_with_oauth_loopback("github", LoopbackOptions::default().timeout(Duration::from_secs(10)), |url| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let callback = follow(&url).await;
                let mut forged = url::Url::parse(&format!("http://{}/callback", loopback_addr(&callback))).unwrap();
                forged
                    .query_pairs_mut()
                    .append_pair("code", bogus)
                    .append_pair("state", &query_value(&callback, "state"));
                let _ = tx.send(browse(forged.as_str()).await);
            });
        })
        .await
        .unwrap_err();
    assert!(err.service().is_some(), "{err:?}");
    let (status, page) = report(rx).await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(!page.contains("Signed in"), "{page}");
    assert!(!page.contains(bogus), "{page}");
    assert!(auth.get_session().await.unwrap().is_none());
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
