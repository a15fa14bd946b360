//! Every operation of `openapi/auth.yaml` against `cloudbase-emulator` over HTTP, through the generated raw
//! client: each operation's success path and its main errors. Every test ends by validating each recorded
//! exchange (request and response) against the spec.

#![cfg(feature = "contract")]

use std::fmt::Debug;
use std::time::Duration;

use base64::Engine as _;
use cloudbase::Secret;
use cloudbase::contract::Contract;
use cloudbase::raw::Context;
use cloudbase::raw::auth::{Client, Error, ResponseValue, types};
use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle, NewIdentity, NewUser};
use serde_json::{Value, json};

const DEVICE: &str = "0123456789abcdef0123456789abcdef";
const OTHER_DEVICE: &str = "fedcba9876543210fedcba9876543210";
/// Query marker of requests that are invalid on purpose (their request side is not contract-checked).
const INVALID: &str = "emulator_test=invalid";

// ---------------------------------------------------------------------------------------------------------
// Helpers

fn ctx(emu: &EmulatorHandle) -> Context {
    Context::new().with_client_id(emu.env_id()).with_device_id(DEVICE)
}

fn client(emu: &EmulatorHandle) -> Client {
    Client::new(&emu.url(), ctx(emu))
}

fn user_client(emu: &EmulatorHandle, token: &Secret) -> Client {
    Client::new(&emu.url(), ctx(emu).with_bearer(token.clone()))
}

type RawResult<T> = Result<ResponseValue<T>, Error<cloudbase::ErrorBody>>;

fn ok<T: Debug>(result: RawResult<T>) -> T {
    match result {
        Ok(value) => value.into_inner(),
        Err(Error::ErrorResponse(rv)) => panic!("expected success, got {} {:?}", rv.status(), rv.into_inner()),
        Err(other) => panic!("expected success, got {other}"),
    }
}

/// Asserts an error answer with this HTTP status, `error` and `error_code`; returns the body.
#[track_caller]
fn fails<T: Debug>(result: RawResult<T>, status: u16, error: &str, code: i32) -> cloudbase::ErrorBody {
    let (got_status, body) = match result {
        Err(Error::ErrorResponse(rv)) => (rv.status().as_u16(), rv.into_inner()),
        Ok(v) => panic!("expected {status} {error}, got success {:?}", v.into_inner()),
        Err(other) => panic!("expected {status} {error}, got {other}"),
    };
    assert_eq!(
        (got_status, body.error.as_deref(), body.error_code),
        (status, Some(error), Some(code)),
        "unexpected error answer: {body:?}"
    );
    assert!(body.error_description.as_deref().is_some_and(|d| !d.is_empty()), "no error_description: {body:?}");
    body
}

/// Validates every exchange the emulator recorded against the spec.
fn check_contract(emu: &EmulatorHandle) {
    let contract = Contract::auth();
    let mut problems = Vec::new();
    let exchanges = emu.exchanges();
    assert!(!exchanges.is_empty(), "no exchanges recorded");
    for (i, x) in exchanges.iter().enumerate() {
        let request = || contract.validate_request(&x.method, &x.path, &x.query, x.request_body.as_ref());
        if !x.query.contains(INVALID)
            && let Err(violations) = request()
        {
            let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
            problems.push(format!("#{i} request {} {}: {}", x.method, x.path, list.join("; ")));
        }
        let response = || contract.validate_response(&x.method, &x.path, x.status, x.response_body.as_ref());
        if !x.fault
            && let Err(violations) = response()
        {
            let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
            problems.push(format!("#{i} response {} {} {}: {}", x.method, x.path, x.status, list.join("; ")));
        }
    }
    assert!(problems.is_empty(), "contract violations:\n{}", problems.join("\n"));
}

/// A plain HTTP call (for bodies and headers the typed client cannot produce). Returns status, headers and
/// the JSON body (`Null` when not JSON).
async fn http(
    emu: &EmulatorHandle,
    method: &str,
    path_and_query: &str,
    content_type: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http.request(method, format!("{}{path_and_query}", emu.url()));
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = tokio::time::timeout(Duration::from_secs(20), request.send()).await.expect("in time").unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn claims(token: &Secret) -> Value {
    let payload = token.expose_secret().split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn email_user(email: &str, password: &str) -> NewUser {
    NewUser { email: Some(email.into()), password: Some(password.into()), ..Default::default() }
}

fn verify_request(id: &str, code: &str) -> types::VerifyRequest {
    types::VerifyRequest {
        verification_id: id.to_owned(),
        verification_code: Secret::from(code.to_owned()),
        verification_token: None,
    }
}

fn token_request(grant_type: types::GrantType) -> types::TokenRequest {
    types::TokenRequest {
        grant_type,
        client_id: None,
        client_secret: None,
        code: None,
        code_verifier: None,
        device_code: None,
        nonce: None,
        password: None,
        redirect_uri: None,
        refresh_token: None,
        scope: None,
        username: None,
    }
}

fn refresh_request(emu: &EmulatorHandle, refresh: &Secret) -> types::TokenRequest {
    types::TokenRequest {
        client_id: Some(emu.env_id()),
        client_secret: Some(Secret::from(String::new())),
        refresh_token: Some(refresh.clone()),
        ..token_request(types::GrantType::RefreshToken)
    }
}

async fn send_code_to(c: &Client, email: &str) -> types::VerificationResponse {
    ok(c.send_verification(&types::VerificationRequest { email: Some(email.into()), ..Default::default() }).await)
}

/// send -> outbox -> verify: a verification token for `email`.
async fn verification_token(emu: &EmulatorHandle, email: &str) -> Secret {
    let c = client(emu);
    let sent = send_code_to(&c, email).await;
    let code = emu.last_code_for(email).expect("a code was sent");
    assert_eq!(code.verification_id, sent.verification_id);
    ok(c.verify_verification(&verify_request(&sent.verification_id, &code.code)).await).verification_token
}

async fn password_sign_in(emu: &EmulatorHandle, login: &str, password: &str) -> types::TokenResponse {
    ok(client(emu)
        .sign_in(&types::SignInRequest {
            username: Some(login.into()),
            password: Some(Secret::from(password.to_owned())),
            ..Default::default()
        })
        .await)
}

async fn me(emu: &EmulatorHandle, token: &Secret) -> types::UserProfile {
    ok(user_client(emu, token).get_user_me().await)
}

/// Signs in through the OAuth test provider as `login`: provider/uri -> consent page -> provider/token.
async fn provider_token(emu: &EmulatorHandle, provider: &str, login: &str) -> types::ProviderTokenResponse {
    let redirect = "http://127.0.0.1:8765/callback";
    let c = client(emu);
    let uri = ok(c.get_provider_uri(provider, Some(redirect), None, None, Some("st-1")).await).uri;
    let page = format!("{uri}&login={login}");
    let path = page.strip_prefix(&emu.url()).expect("the consent page is served by the emulator");
    let (status, headers, _) = http(emu, "GET", path, None, None, &[]).await;
    assert_eq!(status, 302);
    let location = headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{redirect}?code=")), "{location}");
    assert!(location.ends_with("&state=st-1"), "{location}");
    let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    ok(c.get_provider_token(&types::ProviderTokenRequest {
        provider_id: provider.into(),
        provider_code: Some(Secret::from(code)),
        provider_redirect_uri: Some(redirect.into()),
        provider_access_token: None,
        provider_id_token: None,
        provider_params: None,
    })
    .await)
}

// ---------------------------------------------------------------------------------------------------------
// Verification codes, sign-up and sign-in

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

// ---------------------------------------------------------------------------------------------------------
// Tokens

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

// ---------------------------------------------------------------------------------------------------------
// The user

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

// ---------------------------------------------------------------------------------------------------------
// Providers

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

// ---------------------------------------------------------------------------------------------------------
// Captcha

#[tokio::test]
async fn captcha_data_verify_and_init() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let data = |state: &str| types::CaptchaDataRequest { state: state.into(), redirect_uri: Some(String::new()) };
    let challenge = ok(c.create_captcha_data(&data("POST:/v1/verification")).await);
    assert!(challenge.data.starts_with("data:image/svg+xml;base64,"));
    assert_eq!((challenge.type_.as_deref(), challenge.expires_in), (Some("image"), Some(300)));
    let answer = emu.captcha_answer(&challenge.token).expect("the emulator knows the answer");
    assert_eq!(answer.len(), 4);
    let svg = base64::engine::general_purpose::STANDARD
        .decode(challenge.data.trim_start_matches("data:image/svg+xml;base64,"))
        .unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(answer.chars().all(|ch| svg.contains(&format!(">{ch}<"))), "the image shows the answer");
    let (_, _, listed) = http(&emu, "GET", "/_emulator/captcha", None, None, &[]).await;
    assert_eq!(listed[0]["token"], json!(challenge.token));
    assert_eq!(listed[0]["answer"], json!(answer));

    let verify = |token: &str, key: &str| types::CaptchaVerifyRequest { token: token.into(), key: key.into() };
    fails(c.verify_captcha_data(&verify(&challenge.token, "????")).await, 400, "captcha_invalid", 4002);
    // One attempt per image: after a wrong answer even the right one fails.
    fails(c.verify_captcha_data(&verify(&challenge.token, &answer)).await, 400, "captcha_invalid", 4002);
    let challenge = ok(c.create_captcha_data(&data("POST:/v1/verification")).await);
    let answer = emu.captcha_answer(&challenge.token).unwrap();
    let solved = ok(c.verify_captcha_data(&verify(&challenge.token, &answer.to_lowercase())).await);
    assert_eq!(solved.expires_in, 600);
    assert!(!solved.captcha_token.is_empty());
    // Challenges expire after 300 s.
    let late = ok(c.create_captcha_data(&data("s")).await);
    let late_answer = emu.captcha_answer(&late.token).unwrap();
    emu.advance_clock(Duration::from_secs(301));
    fails(c.verify_captcha_data(&verify(&late.token, &late_answer)).await, 400, "captcha_invalid", 4002);
    let path = format!("/auth/v1/captcha/data?{INVALID}");
    let (status, _, body) = http(&emu, "POST", &path, Some("application/json"), Some("{}"), &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_argument")));

    // captcha/init answers the emulator's captcha page, which passes and redirects with a captcha token.
    let init = ok(c
        .init_captcha(&types::CaptchaInitRequest {
            state: Some("POST:/v1/verification".into()),
            redirect_uri: Some("http://127.0.0.1:8765/captcha".into()),
        })
        .await);
    let url = init.url.unwrap();
    assert!(url.starts_with(&format!("{}/_emulator/captcha/page?", emu.url())), "{url}");
    let (status, headers, _) = http(&emu, "GET", url.strip_prefix(&emu.url()).unwrap(), None, None, &[]).await;
    assert_eq!(status, 302);
    assert!(headers["location"].to_str().unwrap().starts_with("http://127.0.0.1:8765/captcha?captcha_token=ct."));
    ok(c.init_captcha(&types::CaptchaInitRequest::default()).await);
    let path = format!("/auth/v1/captcha/init?{INVALID}");
    let (status, _, body) = http(&emu, "POST", &path, Some("application/json"), Some(r#"{"state": 5}"#), &[]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_argument")));
    check_contract(&emu);
}

#[tokio::test]
async fn captcha_rule_for_code_requests_and_failed_passwords() {
    let emu = Emulator::start_with(EmulatorConfig { captcha_after_code_requests: Some(2), ..Default::default() })
        .await
        .unwrap();
    let c = client(&emu);
    let body = types::VerificationRequest { email: Some("olga@example.com".into()), ..Default::default() };
    ok(c.send_verification(&body).await);
    ok(c.send_verification(&body).await);
    let refused = fails(c.send_verification(&body).await, 400, "captcha_required", 4001);
    assert!(refused.error_description.is_some());
    // Another device is not affected.
    let other = Client::new(&emu.url(), Context::new().with_client_id(emu.env_id()).with_device_id(OTHER_DEVICE));
    ok(other.send_verification(&body).await);

    // Solve a captcha; repeat with the token as header x-captcha-token (the typed client also adds the
    // captcha_token query parameter) ...
    let challenge = ok(c
        .create_captcha_data(&types::CaptchaDataRequest { state: "POST:/v1/verification".into(), redirect_uri: None })
        .await);
    let answer = emu.captcha_answer(&challenge.token).unwrap();
    let solved = ok(c.verify_captcha_data(&types::CaptchaVerifyRequest { token: challenge.token, key: answer }).await);
    let with_captcha = Client::new(&emu.url(), ctx(&emu).with_captcha_token(solved.captcha_token.clone()));
    ok(with_captcha.send_verification(&body).await);
    // ... as the header alone (docs) and as the query parameter alone (JS SDK).
    let header_only = http(
        &emu,
        "POST",
        &format!("/auth/v1/verification?client_id={}", emu.env_id()),
        Some("application/json"),
        Some(r#"{"email":"olga@example.com"}"#),
        &[("x-device-id", DEVICE), ("x-captcha-token", solved.captcha_token.expose_secret())],
    )
    .await;
    assert_eq!(header_only.0, 200, "{}", header_only.2);
    let query_only = http(
        &emu,
        "POST",
        &format!(
            "/auth/v1/verification?client_id={}&captcha_token={}",
            emu.env_id(),
            solved.captcha_token.expose_secret()
        ),
        Some("text/plain;charset=UTF-8"),
        Some(r#"{"email":"olga@example.com"}"#),
        &[("x-device-id", DEVICE)],
    )
    .await;
    assert_eq!(query_only.0, 200, "{}", query_only.2);
    // A bad or expired captcha token: captcha_invalid.
    let bogus = Client::new(&emu.url(), ctx(&emu).with_captcha_token(Secret::from("ct.bogus".to_owned())));
    fails(bogus.send_verification(&body).await, 400, "captcha_invalid", 4002);
    emu.advance_clock(Duration::from_secs(601));
    fails(with_captcha.send_verification(&body).await, 400, "captcha_invalid", 4002);
    // Switched off at run time (also over HTTP: POST /_emulator/config).
    emu.set_captcha_after_code_requests(None);
    ok(c.send_verification(&body).await);
    let (status, _, config) = http(
        &emu,
        "POST",
        "/_emulator/config",
        Some("application/json"),
        Some(r#"{"captcha_after_code_requests": 0}"#),
        &[],
    )
    .await;
    assert_eq!((status, config["captcha_after_code_requests"].as_u64()), (200, Some(0)));
    fails(c.send_verification(&body).await, 400, "captcha_required", 4001);

    // Failed passwords: after 5 wrong ones the account needs a captcha, even with the right password.
    emu.create_user(email_user("pat@example.com", "pat-password"));
    let sign_in = |password: &str| types::SignInRequest {
        username: Some("pat@example.com".into()),
        password: Some(Secret::from(password.to_owned())),
        ..Default::default()
    };
    for _ in 0..5 {
        fails(c.sign_in(&sign_in("wrong-password")).await, 400, "invalid_password", 3);
    }
    fails(c.sign_in(&sign_in("pat-password")).await, 400, "captcha_required", 4001);
    let challenge = ok(c
        .create_captcha_data(&types::CaptchaDataRequest { state: "POST:/v1/signin".into(), redirect_uri: None })
        .await);
    let answer = emu.captcha_answer(&challenge.token).unwrap();
    let solved = ok(c.verify_captcha_data(&types::CaptchaVerifyRequest { token: challenge.token, key: answer }).await);
    let with_captcha = Client::new(&emu.url(), ctx(&emu).with_captcha_token(solved.captcha_token));
    ok(with_captcha.sign_in(&sign_in("pat-password")).await);
    // A success resets the counter.
    ok(c.sign_in(&sign_in("pat-password")).await);
    check_contract(&emu);
}

// ---------------------------------------------------------------------------------------------------------
// Usernames

#[tokio::test]
async fn check_username_and_check_if_user_exist() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(NewUser { username: Some("quinn".into()), ..email_user("quinn@example.com", "quinn-password") });
    let c = client(&emu);
    assert!(ok(c.check_username("quinn").await).exist);
    assert!(!ok(c.check_username("quincy").await).exist);
    fails(c.check_username("_bad name").await, 400, "invalid_argument", 3);
    fails(c.check_username("").await, 400, "invalid_argument", 3);
    assert!(ok(c.check_if_user_exist("quinn").await).exist);
    assert!(ok(c.check_if_user_exist("quinn@example.com").await).exist);
    assert!(!ok(c.check_if_user_exist("nobody").await).exist);
    fails(c.check_if_user_exist("").await, 400, "invalid_argument", 3);
    // The JS SDK sends checkUsername's username as a GET body: accepted too.
    let path = format!("/auth/v1/checkUsername?{INVALID}");
    let (status, _, body) = http(&emu, "GET", &path, Some("text/plain"), Some(r#"{"username":"quinn"}"#), &[]).await;
    assert_eq!((status, body), (200, json!({"exist": true})));
    check_contract(&emu);
}

// ---------------------------------------------------------------------------------------------------------
// Wire conventions

#[tokio::test]
async fn bodies_as_text_plain_or_without_content_type_and_malformed_json() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(email_user("rex@example.com", "rex-password"));
    let body = r#"{"username":"rex@example.com","password":"rex-password"}"#;
    let query = format!("/auth/v1/signin?client_id={}", emu.env_id());
    for content_type in [Some("text/plain;charset=UTF-8"), Some("application/json"), None] {
        let (status, _, tokens) =
            http(&emu, "POST", &query, content_type, Some(body), &[("x-device-id", DEVICE)]).await;
        assert_eq!(status, 200, "{content_type:?}: {tokens}");
        assert!(tokens["access_token"].is_string());
    }
    let recorded = emu.exchanges();
    assert_eq!(recorded[0].request_content_type.as_deref(), Some("text/plain;charset=UTF-8"));
    assert_eq!(recorded[0].request_body.as_ref().unwrap()["username"], json!("rex@example.com"));
    assert_eq!(recorded[2].request_content_type, None);

    // Malformed JSON and non-object JSON: 400 invalid_argument in the ErrorBody shape.
    let bad = format!("/auth/v1/signin?{INVALID}");
    for (content_type, payload) in
        [("application/json", "{bad json"), ("text/plain", "[1,2]"), ("application/json", "\"str\"")]
    {
        let (status, _, error) = http(&emu, "POST", &bad, Some(content_type), Some(payload), &[]).await;
        assert_eq!(status, 400, "{payload}");
        assert_eq!((error["error"].as_str(), error["error_code"].as_i64()), (Some("invalid_argument"), Some(3)));
        assert!(error["error_description"].is_string());
    }
    // A wrongly typed field is invalid_argument too.
    let (status, _, error) =
        http(&emu, "POST", &bad, Some("application/json"), Some(r#"{"username": 5, "password": "x"}"#), &[]).await;
    assert_eq!((status, error["error"].as_str()), (400, Some("invalid_argument")));
    // An empty body is read as {}.
    let (status, _, error) = http(&emu, "POST", &bad, None, None, &[]).await;
    assert_eq!((status, error["error"].as_str()), (400, Some("invalid_argument")));
    check_contract(&emu);
}

#[tokio::test]
async fn headers_client_id_request_log_and_unknown_paths() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(email_user("sam@example.com", "sam-password"));
    let tokens = password_sign_in(&emu, "sam@example.com", "sam-password").await;

    // x-request-id is echoed (and made up when absent).
    let c = Client::new(&emu.url(), ctx(&emu).with_request_id("0123456789abcdef0123456789abcdef"));
    let response = c.check_if_user_exist("sam").await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "0123456789abcdef0123456789abcdef");
    let (_, headers, _) = http(&emu, "GET", "/auth/v1/checkIfUserExist?username=x", None, None, &[]).await;
    assert_eq!(headers["x-request-id"].len(), 32);

    // A client_id other than the environment id.
    let (status, _, body) =
        http(&emu, "GET", "/auth/v1/checkIfUserExist?username=x&client_id=other", None, None, &[]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));

    // Unknown paths and methods answer ErrorBody 404 and are logged without an operation id.
    let (status, _, body) = http(&emu, "GET", "/auth/v1/nope", None, None, &[]).await;
    assert_eq!((status, body["error"].as_str(), body["error_code"].as_i64()), (404, Some("not_found"), Some(5)));
    let (status, _, _) = http(&emu, "PUT", "/auth/v1/signin", Some("application/json"), Some("{}"), &[]).await;
    assert_eq!(status, 404);

    // The request log keeps headers and body keys, never secrets.
    let bearer = format!("Bearer {}", tokens.access_token.expose_secret());
    http(
        &emu,
        "GET",
        "/auth/v1/user/me?sudo_token=s3cret&x=1",
        None,
        None,
        &[("authorization", &bearer), ("x-captcha-token", "ct.x")],
    )
    .await;
    let log = emu.requests();
    let last = log.last().unwrap();
    assert_eq!(last.operation_id.as_deref(), Some("get_user_me"));
    assert_eq!(last.query, "sudo_token=REDACTED&x=1");
    assert!(!last.headers.contains_key("authorization") && !last.headers.contains_key("x-captcha-token"));
    let signin = log.iter().find(|r| r.operation_id.as_deref() == Some("sign_in")).unwrap();
    let mut fields = signin.body_fields.clone();
    fields.sort();
    assert_eq!(fields, vec!["password".to_owned(), "username".to_owned()]);
    assert_eq!(signin.headers.get("x-device-id").map(String::as_str), Some(DEVICE));
    assert_eq!(signin.query, format!("client_id={}", emu.env_id()));
    assert!(log.iter().any(|r| r.operation_id.is_none() && r.path == "/auth/v1/nope"));
    let (_, _, over_http) = http(&emu, "GET", "/_emulator/requests", None, None, &[]).await;
    assert_eq!(over_http.as_array().unwrap().len(), emu.requests().len());
    assert!(!over_http.to_string().contains(tokens.access_token.expose_secret()));
    assert_eq!(emu.count("sign_in"), 1);
    assert_eq!(emu.count("get_user_me"), 1);
    assert_eq!(emu.count("nope"), 0);

    // Responses allow browsers (CORS) and preflights answer 204.
    let (status, headers, _) =
        http(&emu, "OPTIONS", "/auth/v1/signin", None, None, &[("access-control-request-headers", "x-device-id")])
            .await;
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-origin"], "*");

    // Exchanges of known paths are contract-checked (unknown paths have no operation to check against).
    let contract = Contract::auth();
    for x in emu.exchanges().iter().filter(|x| x.operation_id.is_some()) {
        contract.validate_request(&x.method, &x.path, &x.query, x.request_body.as_ref()).unwrap();
        contract.validate_response(&x.method, &x.path, x.status, x.response_body.as_ref()).unwrap();
    }
}

#[tokio::test]
async fn http_test_controls() {
    let emu = Emulator::start_with(EmulatorConfig { print_codes: false, ..Default::default() }).await.unwrap();
    let post = |path: &'static str, body: Value| {
        let emu = emu.clone();
        async move { http(&emu, "POST", path, Some("application/json"), Some(&body.to_string()), &[]).await }
    };

    let (status, _, created) =
        post("/_emulator/users", json!({"email": "tess@example.com", "password": "tess-password"})).await;
    assert_eq!(status, 200);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(password_sign_in(&emu, "tess@example.com", "tess-password").await.sub.as_deref(), Some(id.as_str()));
    let (status, _, dup) = post("/_emulator/users", json!({"email": "tess@example.com"})).await;
    assert_eq!((status, dup["error"].as_str()), (409, Some("already_exists")));

    let (_, _, ticket) = post("/_emulator/tickets", json!({"custom_user_id": "u-1"})).await;
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    assert!(ticket.contains("/@@/"));
    ok(client(&emu)
        .sign_in_with_custom_ticket(&types::CustomSignInRequest {
            provider_id: "custom".into(),
            ticket: Secret::from(ticket),
        })
        .await);

    send_code_to(&client(&emu), "tess@example.com").await;
    let (_, _, outbox) = http(&emu, "GET", "/_emulator/outbox", None, None, &[]).await;
    let item = &outbox[0];
    assert_eq!(item["target"], json!("tess@example.com"));
    for key in ["code", "verification_id", "usage", "sent_at"] {
        assert!(item.get(key).is_some(), "{key}");
    }
    assert!(item["sent_at"].as_str().unwrap().ends_with('Z'));
    let (status, _, _) = http(&emu, "DELETE", "/_emulator/outbox", None, None, &[]).await;
    assert_eq!(status, 200);
    assert!(emu.outbox().is_empty());

    let tokens = password_sign_in(&emu, "tess@example.com", "tess-password").await;
    let (status, _, _) = post("/_emulator/clock", json!({"advance_secs": 7201})).await;
    assert_eq!(status, 200);
    fails(user_client(&emu, &tokens.access_token).get_user_me().await, 401, "unauthenticated", 16);

    let (status, _, _) =
        post("/_emulator/faults", json!({"operation_id": "get_user_me", "fault": "status500", "times": 1})).await;
    assert_eq!(status, 200);
    let fresh = password_sign_in(&emu, "tess@example.com", "tess-password").await;
    fails(user_client(&emu, &fresh.access_token).get_user_me().await, 500, "internal", 13);
    me(&emu, &fresh.access_token).await;
    let (status, _, bad) = post("/_emulator/faults", json!({"operation_id": "no_such_op", "fault": "status500"})).await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_argument")));
    let (status, _, _) = post("/_emulator/faults", json!({"operation_id": "grant_token", "fault": "melt"})).await;
    assert_eq!(status, 400);

    let (status, _, config) =
        post("/_emulator/config", json!({"access_token_ttl_secs": 60, "code_max_attempts": 2})).await;
    assert_eq!(
        (status, config["access_token_ttl_secs"].as_u64(), config["code_max_attempts"].as_u64()),
        (200, Some(60), Some(2))
    );
    assert_eq!(password_sign_in(&emu, "tess@example.com", "tess-password").await.expires_in, 60);
    let (status, _, _) = post("/_emulator/config", json!({"env_id": "x"})).await;
    assert_eq!(status, 400);

    let (_, _, info) = http(&emu, "GET", "/_emulator", None, None, &[]).await;
    let operations = info["operations"].as_array().unwrap();
    let auth = operations.iter().filter(|o| o["path"].as_str().is_some_and(|p| p.starts_with("/auth/"))).count();
    assert_eq!(auth, 29, "every auth operation is listed");
    for id in ["call_function", "call_container_get", "call_api_options"] {
        assert!(operations.iter().any(|o| o["operation_id"] == id), "{id} is listed");
    }

    // None of the control calls are logged as auth traffic.
    assert!(emu.requests().iter().all(|r| !r.path.starts_with("/_emulator")));
    assert!(emu.exchanges().iter().all(|x| !x.path.starts_with("/_emulator")));

    let (status, _, _) = post("/_emulator/reset", json!({})).await;
    assert_eq!(status, 200);
    assert!(emu.requests().is_empty() && emu.exchanges().is_empty() && emu.outbox().is_empty());
    fails(user_client(&emu, &fresh.access_token).get_user_me().await, 401, "unauthenticated", 16);
    fails(
        client(&emu)
            .sign_in(&types::SignInRequest {
                username: Some("tess@example.com".into()),
                password: Some(Secret::from("tess-password".to_owned())),
                ..Default::default()
            })
            .await,
        404,
        "not_found",
        5,
    );
    let (status, _, _) = http(&emu, "GET", "/_emulator/nothing", None, None, &[]).await;
    assert_eq!(status, 404);
    check_contract(&emu);
}

#[tokio::test]
async fn seed_users_survive_reset_and_shutdown_stops_the_server() {
    let emu = Emulator::start_with(EmulatorConfig {
        env_id: "seeded-env".into(),
        users: vec![NewUser {
            username: Some("uma".into()),
            password: Some("uma-password".into()),
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(emu.env_id(), "seeded-env");
    assert!(emu.url().starts_with("http://127.0.0.1:"));
    assert_eq!(emu.url(), format!("http://{}", emu.addr()));
    let first = password_sign_in(&emu, "uma", "uma-password").await;
    assert_eq!(claims(&first.access_token)["aud"], json!("seeded-env"));
    emu.reset();
    password_sign_in(&emu, "uma", "uma-password").await;
    check_contract(&emu);

    let url = emu.url();
    let clone = emu.clone();
    emu.shutdown().await;
    let gone = reqwest::Client::new().get(format!("{url}/_emulator")).send().await;
    assert!(gone.is_err(), "the server stopped");
    drop(clone);

    // Many emulators in one test: each on its own port; dropping handles stops them.
    let mut urls = Vec::new();
    for _ in 0..5 {
        let e = Emulator::start().await.unwrap();
        urls.push(e.url());
    }
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 5);
}
