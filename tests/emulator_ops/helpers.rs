//! What every group of tests shares: clients, answer checks, the contract check, plain HTTP calls
//! and the common flows.

use std::fmt::Debug;
use std::time::Duration;

use base64::Engine as _;
use cloudbase::Secret;
use cloudbase::contract::Contract;
use cloudbase::raw::Context;
use cloudbase::raw::auth::{Client, Error, ResponseValue, types};
use cloudbase_emulator::{EmulatorHandle, NewUser};
use serde_json::Value;

pub(crate) const DEVICE: &str = "0123456789abcdef0123456789abcdef";
pub(crate) const OTHER_DEVICE: &str = "fedcba9876543210fedcba9876543210";
/// Query marker of requests that are invalid on purpose (their request side is not contract-checked).
pub(crate) const INVALID: &str = "emulator_test=invalid";

pub(crate) fn ctx(emu: &EmulatorHandle) -> Context {
    Context::new().with_client_id(emu.env_id()).with_device_id(DEVICE)
}

pub(crate) fn client(emu: &EmulatorHandle) -> Client {
    Client::new(&emu.url(), ctx(emu))
}

pub(crate) fn user_client(emu: &EmulatorHandle, token: &Secret) -> Client {
    Client::new(&emu.url(), ctx(emu).with_bearer(token.clone()))
}

pub(crate) type RawResult<T> = Result<ResponseValue<T>, Error<cloudbase::ErrorBody>>;

pub(crate) fn ok<T: Debug>(result: RawResult<T>) -> T {
    match result {
        Ok(value) => value.into_inner(),
        Err(Error::ErrorResponse(rv)) => panic!("expected success, got {} {:?}", rv.status(), rv.into_inner()),
        Err(other) => panic!("expected success, got {other}"),
    }
}

/// Asserts an error answer with this HTTP status, `error` and `error_code`; returns the body.
#[track_caller]
pub(crate) fn fails<T: Debug>(result: RawResult<T>, status: u16, error: &str, code: i32) -> cloudbase::ErrorBody {
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
pub(crate) fn check_contract(emu: &EmulatorHandle) {
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
pub(crate) async fn http(
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

pub(crate) fn claims(token: &Secret) -> Value {
    let payload = token.expose_secret().split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub(crate) fn email_user(email: &str, password: &str) -> NewUser {
    NewUser { email: Some(email.into()), password: Some(password.into()), ..Default::default() }
}

pub(crate) fn verify_request(id: &str, code: &str) -> types::VerifyRequest {
    types::VerifyRequest {
        verification_id: id.to_owned(),
        verification_code: Secret::from(code.to_owned()),
        verification_token: None,
    }
}

pub(crate) fn token_request(grant_type: types::GrantType) -> types::TokenRequest {
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

pub(crate) fn refresh_request(emu: &EmulatorHandle, refresh: &Secret) -> types::TokenRequest {
    types::TokenRequest {
        client_id: Some(emu.env_id()),
        client_secret: Some(Secret::from(String::new())),
        refresh_token: Some(refresh.clone()),
        ..token_request(types::GrantType::RefreshToken)
    }
}

pub(crate) async fn send_code_to(c: &Client, email: &str) -> types::VerificationResponse {
    ok(c.send_verification(&types::VerificationRequest { email: Some(email.into()), ..Default::default() }).await)
}

/// send -> outbox -> verify: a verification token for `email`.
pub(crate) async fn verification_token(emu: &EmulatorHandle, email: &str) -> Secret {
    let c = client(emu);
    let sent = send_code_to(&c, email).await;
    let code = emu.last_code_for(email).expect("a code was sent");
    assert_eq!(code.verification_id, sent.verification_id);
    ok(c.verify_verification(&verify_request(&sent.verification_id, &code.code)).await).verification_token
}

pub(crate) async fn password_sign_in(emu: &EmulatorHandle, login: &str, password: &str) -> types::TokenResponse {
    ok(client(emu)
        .sign_in(&types::SignInRequest {
            username: Some(login.into()),
            password: Some(Secret::from(password.to_owned())),
            ..Default::default()
        })
        .await)
}

pub(crate) async fn me(emu: &EmulatorHandle, token: &Secret) -> types::UserProfile {
    ok(user_client(emu, token).get_user_me().await)
}

/// Signs in through the OAuth test provider as `login`: provider/uri -> consent page -> provider/token.
pub(crate) async fn provider_token(emu: &EmulatorHandle, provider: &str, login: &str) -> types::ProviderTokenResponse {
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
