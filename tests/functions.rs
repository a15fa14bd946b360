//! `app.call_function(name)` end to end against the emulator's cloud functions over 127.0.0.1: every builder
//! option, the credential rule, the refresh-and-retry on an expired token, typed errors, bad input rejected
//! before sending, and bad replies; every exchange validated against the specs.
#![cfg(feature = "contract")]

mod common;

use std::time::Duration;

use cloudbase::{Error, ErrorCode, SignInWithPassword};
use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fault, FunctionError, FunctionReply};
use common::{PASSWORD, assert_contract, builder};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Serialize)]
struct Sum {
    a: i64,
    b: i64,
}

#[derive(Debug, Deserialize)]
struct Total {
    sum: i64,
    caller: String,
    user: Option<String>,
}

async fn emulator(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::builder()
        .config(config)
        .function("sum", |event: Value, caller| async move {
            let (a, b) = (event["a"].as_i64().unwrap_or(0), event["b"].as_i64().unwrap_or(0));
            Ok(FunctionReply::Json(json!({"sum": a + b, "caller": caller.kind(), "user": caller.user_id()})))
        })
        .function_version("sum", "v2", |_event: Value, _caller| async move {
            Ok(FunctionReply::Json(json!({"sum": -1, "caller": "v2", "user": null})))
        })
        .function("hello", |_event, _caller| async move { Ok(FunctionReply::Text("Hello fn".to_owned())) })
        .function("business", |_event, _caller| async move {
            Ok(FunctionReply::Json(json!({"code": "ORDER_NOT_FOUND", "message": "no such order", "data": null})))
        })
        .function("broken", |_event, _caller| async move { Err(FunctionError::new("boom")) })
        .function("echo", |event, _caller| async move { Ok(FunctionReply::Json(event)) })
        .start()
        .await
        .expect("emulator starts")
}

async fn signed_in(emu: &EmulatorHandle) -> cloudbase::CloudBase {
    emu.create_user(cloudbase_emulator::NewUser {
        email: Some("fn@example.com".into()),
        password: Some(PASSWORD.into()),
        ..Default::default()
    });
    let app = builder(emu).build().unwrap();
    app.auth().sign_in_with_password(SignInWithPassword::email("fn@example.com", PASSWORD)).await.unwrap();
    app
}

#[tokio::test]
async fn a_typed_call_as_the_signed_in_user() {
    let emu = emulator(EmulatorConfig::default()).await;
    let app = signed_in(&emu).await;
    let user = app.auth().get_user().await.unwrap();
    let reply = app.call_function("sum").data(&Sum { a: 1, b: 2 }).send::<Total>().await.unwrap();
    assert_eq!(reply.result.sum, 3);
    assert_eq!(reply.result.caller, "user");
    assert_eq!(reply.result.user, Some(user.id));
    assert_eq!(reply.request_id.as_deref().map(str::len), Some(32), "the request id");
    let json = app.call_function("sum").data(&json!({"a": 5, "b": 6})).send_json().await.unwrap();
    assert_eq!(json.result["sum"], 11);
    let text = app.call_function("hello").send_text().await.unwrap();
    assert_eq!(text.result, "Hello fn");
    let echoed = app.call_function("echo").send_json().await.unwrap();
    assert_eq!(echoed.result, json!({}), "no data is the empty event");
    assert_contract(&emu);
}

#[tokio::test]
async fn a_reply_with_a_code_field_is_the_functions_own_success() {
    let emu = emulator(EmulatorConfig::default()).await;
    let app = signed_in(&emu).await;
    let reply = app.call_function("business").send_json().await.expect("a success, not an error");
    assert_eq!(reply.result["code"], "ORDER_NOT_FOUND");
    assert_contract(&emu);
}

#[tokio::test]
async fn qualifier_web_and_cloudrun_options() {
    let emu = emulator(EmulatorConfig::default()).await;
    let app = signed_in(&emu).await;
    let v2 = app.call_function("sum").qualifier("v2").send::<Total>().await.unwrap();
    assert_eq!(v2.result.caller, "v2");
    let err = app.call_function("sum").qualifier("v9").send_json().await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::FunctionQualifierNotFound), "{err:?}");
    app.call_function("echo").web().send_json().await.unwrap();
    let web = emu.requests().into_iter().rfind(|r| r.path == "/v1/functions/echo").unwrap();
    assert!(web.query.contains("webfn=true"), "{}", web.query);
    let qualified = emu.requests().into_iter().find(|r| r.headers.contains_key("x-qualifier")).unwrap();
    assert_eq!(qualified.headers["x-qualifier"], "v2");
    assert_contract(&emu);
}

#[tokio::test]
async fn service_errors_are_typed() {
    let emu = emulator(EmulatorConfig::default()).await;
    let app = signed_in(&emu).await;
    let missing = app.call_function("nope").send_json().await.unwrap_err();
    assert_eq!(missing.code(), Some(&ErrorCode::FunctionNotFound));
    assert_eq!(missing.service().and_then(|s| s.status), Some(404));
    assert!(missing.request_id().is_some());
    let broken = app.call_function("broken").send_json().await.unwrap_err();
    assert_eq!(broken.code(), Some(&ErrorCode::FunctionInvocationFailed));
    assert!(broken.is_retryable(), "a 5xx may succeed later");
    assert_contract(&emu);
}

#[tokio::test]
async fn signed_out_calls_use_the_publishable_key_or_nothing() {
    let config = EmulatorConfig { publishable_key: Some("PUB-KEY-1".into()), ..Default::default() };
    let emu = emulator(config).await;
    let with_key = builder(&emu).access_key("PUB-KEY-1").build().unwrap();
    let reply = with_key.call_function("sum").send::<Total>().await.unwrap();
    assert_eq!(reply.result.caller, "publishable_key");
    let without = builder(&emu).build().unwrap();
    let err = without.call_function("sum").send_json().await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::MissingCredentials), "{err:?}");
    assert_contract(&emu);
}

#[tokio::test]
async fn an_expired_token_mid_call_refreshes_once_and_retries_once() {
    let emu = emulator(EmulatorConfig::default()).await;
    let app = signed_in(&emu).await;
    // The service's clock passes the token's expiry; the app's does not know.
    emu.advance_clock(Duration::from_secs(3 * 3600));
    let reply = app.call_function("sum").data(&Sum { a: 2, b: 2 }).send::<Total>().await.unwrap();
    assert_eq!(reply.result.sum, 4);
    assert_eq!(emu.count("grant_token"), 1, "one refresh");
    assert_eq!(emu.count("call_function"), 2, "one retry");
    assert_contract(&emu);
}

#[tokio::test]
async fn bad_input_is_rejected_before_any_request() {
    let emu = emulator(EmulatorConfig::default()).await;
    let app = signed_in(&emu).await;
    let before = emu.requests().len();
    let huge = "x".repeat(cloudbase::MAX_EVENT_BYTES);
    let cases = [
        ("empty name", app.call_function("").send_json().await.unwrap_err()),
        ("bad pattern", app.call_function("9lives").send_json().await.unwrap_err()),
        ("trailing dash", app.call_function("sum-").send_json().await.unwrap_err()),
        ("array data", app.call_function("sum").data(&[1, 2]).send_json().await.unwrap_err()),
        ("number data", app.call_function("sum").data(&7).send_json().await.unwrap_err()),
        ("oversize", app.call_function("sum").data(&json!({ "big": huge })).send_json().await.unwrap_err()),
        ("empty qualifier", app.call_function("sum").qualifier("").send_json().await.unwrap_err()),
    ];
    for (what, err) in cases {
        assert!(matches!(err, Error::InvalidInput { .. }), "{what}: {err:?}");
    }
    assert_eq!(emu.requests().len(), before, "nothing was sent");
}

#[tokio::test]
async fn junk_html_and_truncated_replies_are_typed_errors() {
    let emu = emulator(EmulatorConfig::default()).await;
    let app = signed_in(&emu).await;
    emu.inject_fault("call_function", Fault::JunkBody, 1);
    let err = app.call_function("sum").send::<Total>().await.unwrap_err();
    assert!(matches!(err, Error::Decode { operation: "call_function", status: 200, .. }), "{err:?}");
    emu.inject_fault("call_function", Fault::Status502Html, 1);
    let err = app.call_function("sum").send_json().await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 502, .. }), "{err:?}");
    emu.inject_fault("call_function", Fault::TruncatedBody, 1);
    let err = app.call_function("sum").send_json().await.unwrap_err();
    assert!(matches!(err, Error::Network { .. } | Error::Decode { .. }), "{err:?}");
    emu.inject_fault("call_function", Fault::Status500, 1);
    let err = app.call_function("sum").send_json().await.unwrap_err();
    assert_eq!(err.service().and_then(|s| s.status), Some(500), "{err:?}");
}
