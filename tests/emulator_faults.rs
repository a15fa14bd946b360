//! Every fault kind `cloudbase-emulator` injects, observed through the generated raw client.

#![cfg(feature = "contract")]

use std::time::{Duration, Instant};

use cloudbase::Secret;
use cloudbase::contract::Contract;
use cloudbase::raw::Context;
use cloudbase::raw::auth::{Client, ClientInfo as _, Error, types};
use cloudbase_emulator::{Emulator, EmulatorHandle, Fault, NewUser};

const DEVICE: &str = "0123456789abcdef0123456789abcdef";

fn ctx(emu: &EmulatorHandle) -> Context {
    Context::new().with_client_id(emu.env_id()).with_device_id(DEVICE)
}

fn client(emu: &EmulatorHandle) -> Client {
    Client::new(&emu.url(), ctx(emu))
}

async fn setup() -> (EmulatorHandle, types::TokenResponse) {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(NewUser {
        email: Some("fault@example.com".into()),
        password: Some("fault-password".into()),
        ..Default::default()
    });
    let tokens = client(&emu)
        .sign_in(&types::SignInRequest {
            username: Some("fault@example.com".into()),
            password: Some(Secret::from("fault-password".to_owned())),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (emu, tokens)
}

fn refresh(emu: &EmulatorHandle, token: &Secret) -> types::TokenRequest {
    types::TokenRequest {
        grant_type: types::GrantType::RefreshToken,
        client_id: Some(emu.env_id()),
        client_secret: Some(Secret::from(String::new())),
        refresh_token: Some(token.clone()),
        code: None,
        code_verifier: None,
        device_code: None,
        nonce: None,
        password: None,
        redirect_uri: None,
        scope: None,
        username: None,
    }
}

/// Contract-checks every exchange; faulted ones only where the fault still answers a declared shape.
fn check_contract(emu: &EmulatorHandle) {
    let contract = Contract::auth();
    for x in emu.exchanges() {
        contract.validate_request(&x.method, &x.path, &x.query, x.request_body.as_ref()).unwrap();
        let shaped = !x.fault || matches!(x.status, 500 | 502) || x.response_body.is_some();
        if shaped
            && x.status != 0
            && let Err(v) = contract.validate_response(&x.method, &x.path, x.status, x.response_body.as_ref())
        {
            panic!("{} {} {}: {v:?}", x.method, x.path, x.status);
        }
    }
}

#[tokio::test]
async fn status_500_is_an_error_body_and_the_refresh_token_survives() {
    let (emu, tokens) = setup().await;
    let c = client(&emu);
    let r1 = tokens.refresh_token.unwrap();
    emu.inject_fault("grant_token", Fault::Status500, 2);
    for _ in 0..2 {
        match c.grant_token(&refresh(&emu, &r1)).await {
            Err(Error::ErrorResponse(rv)) => {
                assert_eq!(rv.status().as_u16(), 500);
                let body = rv.into_inner();
                assert_eq!((body.error.as_deref(), body.error_code), (Some("internal"), Some(13)));
            }
            other => panic!("expected a 500 error response, got {other:?}"),
        }
    }
    // The faulted calls were not processed: the same refresh token still works, once.
    let rotated = c.grant_token(&refresh(&emu, &r1)).await.unwrap().into_inner();
    assert!(rotated.refresh_token.is_some());
    assert_eq!(emu.count("grant_token"), 3);
    let exchanges = emu.exchanges();
    let faulted: Vec<bool> = exchanges.iter().filter(|x| x.path == "/auth/v1/token").map(|x| x.fault).collect();
    assert_eq!(faulted, vec![true, true, false]);
    check_contract(&emu);
}

#[tokio::test]
async fn status_502_html_is_not_json() {
    let (emu, tokens) = setup().await;
    emu.inject_fault("get_user_me", Fault::Status502Html, 1);
    let u = Client::new(&emu.url(), ctx(&emu).with_bearer(tokens.access_token.clone()));
    match u.get_user_me().await {
        Err(Error::InvalidResponsePayload(bytes, _)) => assert!(String::from_utf8_lossy(&bytes).contains("502")),
        other => panic!("expected an undecodable 502, got {other:?}"),
    }
    assert_eq!(u.inner().last_response().status, Some(502));
    let x = emu.exchanges().pop().unwrap();
    assert_eq!((x.status, x.fault, x.response_body), (502, true, None));
    u.get_user_me().await.unwrap();
    check_contract(&emu);
}

#[tokio::test]
async fn hang_delays_then_answers_normally() {
    let (emu, tokens) = setup().await;
    let u = Client::new(&emu.url(), ctx(&emu).with_bearer(tokens.access_token.clone()));
    emu.inject_fault("get_user_me", Fault::Hang(Duration::from_millis(400)), 1);
    let started = Instant::now();
    let profile = u.get_user_me().await.unwrap().into_inner();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(profile.email.as_deref(), Some("fault@example.com"));

    // A client that gives up earlier sees a timeout.
    emu.inject_fault("get_user_me", Fault::Hang(Duration::from_millis(1500)), 1);
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
    let u2 = Client::new_with_client(&emu.url(), impatient, ctx(&emu).with_bearer(tokens.access_token.clone()));
    match u2.get_user_me().await {
        Err(Error::CommunicationError(e)) => assert!(e.is_timeout(), "{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(emu.exchanges().iter().filter(|x| x.fault).count() >= 1);
    check_contract(&emu);
}

#[tokio::test]
async fn drop_connection_sends_no_response() {
    let (emu, tokens) = setup().await;
    let u = Client::new(&emu.url(), ctx(&emu).with_bearer(tokens.access_token.clone()));
    emu.inject_fault("get_user_me", Fault::DropConnection, 1);
    match u.get_user_me().await {
        Err(Error::CommunicationError(_)) => {}
        other => panic!("expected a transport error, got {other:?}"),
    }
    let x = emu.exchanges().pop().unwrap();
    assert_eq!((x.status, x.fault), (0, true));
    u.get_user_me().await.unwrap(); // the next call gets a new connection and an answer
    check_contract(&emu);
}

#[tokio::test]
async fn junk_body_is_undecodable() {
    let (emu, _) = setup().await;
    emu.inject_fault("send_verification", Fault::JunkBody, 1);
    let body = types::VerificationRequest { email: Some("fault@example.com".into()), ..Default::default() };
    match client(&emu).send_verification(&body).await {
        Err(Error::InvalidResponsePayload(bytes, _)) => assert_eq!(&bytes[..], b"<html>not json"),
        other => panic!("expected an undecodable body, got {other:?}"),
    }
    assert!(emu.outbox().is_empty(), "a faulted call is not processed");
    client(&emu).send_verification(&body).await.unwrap();
    assert_eq!(emu.outbox().len(), 1);
    check_contract(&emu);
}

#[tokio::test]
async fn truncated_body_fails_while_reading() {
    let (emu, tokens) = setup().await;
    let r1 = tokens.refresh_token.unwrap();
    emu.inject_fault("grant_token", Fault::TruncatedBody, 1);
    match client(&emu).grant_token(&refresh(&emu, &r1)).await {
        Ok(v) => panic!("expected a failed read, got {:?}", v.into_inner()),
        Err(Error::ErrorResponse(rv)) => panic!("expected a failed read, got status {}", rv.status()),
        Err(_) => {}
    }
    let x = emu.exchanges().pop().unwrap();
    assert_eq!((x.status, x.fault, x.response_body), (200, true, None));
    // Not processed: the refresh token was not rotated.
    client(&emu).grant_token(&refresh(&emu, &r1)).await.unwrap();
    check_contract(&emu);
}

#[tokio::test]
async fn error_with_200_becomes_an_error_response() {
    let (emu, tokens) = setup().await;
    let u = Client::new(&emu.url(), ctx(&emu).with_bearer(tokens.access_token.clone()));
    emu.inject_fault("get_user_me", Fault::ErrorWith200, 1);
    match u.get_user_me().await {
        Err(Error::ErrorResponse(rv)) => {
            assert_eq!(rv.status().as_u16(), 400);
            assert_eq!(rv.headers()["x-cloudbase-original-status"], "200");
            let body = rv.into_inner();
            assert_eq!((body.error.as_deref(), body.error_code), (Some("internal"), Some(13)));
        }
        other => panic!("expected an error response, got {other:?}"),
    }
    let x = emu.exchanges().pop().unwrap();
    assert_eq!((x.status, x.fault), (200, true));
    check_contract(&emu);
}

#[tokio::test]
async fn faults_queue_in_order_and_only_hit_their_operation() {
    let (emu, tokens) = setup().await;
    let u = Client::new(&emu.url(), ctx(&emu).with_bearer(tokens.access_token.clone()));
    emu.inject_fault("get_user_me", Fault::Status500, 1);
    emu.inject_fault("get_user_me", Fault::ErrorWith200, 1);
    emu.inject_fault("get_user_me", Fault::Status500, 0); // zero times: nothing
    u.list_user_providers().await.unwrap();
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(match u.get_user_me().await {
                Ok(_) => 200,
                Err(Error::ErrorResponse(rv)) => rv.status().as_u16(),
                Err(other) => panic!("{other}"),
            });
        }
        out
    };
    assert_eq!(statuses, vec![500, 400, 200]);
    assert_eq!(emu.count("get_user_me"), 3);
    assert_eq!(emu.count("list_user_providers"), 1);
    check_contract(&emu);
}
