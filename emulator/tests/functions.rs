//! Cloud functions over HTTP: `POST /v1/functions/{name}` with functions registered in-process.

mod common;

use std::time::Duration;

use cloudbase_emulator::{Caller, Emulator, EmulatorConfig, EmulatorHandle, Fault, FunctionError, FunctionReply};
use common::{anonymous, bearer, envelope, http, user};
use serde_json::{Value, json};

const KEY: &str = "pk-test-1";

async fn start() -> EmulatorHandle {
    Emulator::builder()
        .config(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() })
        .function("sum", |event: Value, _caller: Caller| async move {
            let sum = event["a"].as_i64().unwrap_or(0) + event["b"].as_i64().unwrap_or(0);
            Ok::<_, FunctionError>(FunctionReply::Json(json!({ "sum": sum })))
        })
        .function("hello", |_event: Value, _caller: Caller| async move {
            Ok::<_, FunctionError>(FunctionReply::Text("Hello fn".into()))
        })
        .function("order", |_event: Value, _caller: Caller| async move {
            Ok::<_, FunctionError>(FunctionReply::Json(
                json!({"code": "ORDER_NOT_FOUND", "message": "no order", "data": null}),
            ))
        })
        .function("whoami", |event: Value, caller: Caller| async move {
            Ok::<_, FunctionError>(FunctionReply::Json(json!({
                "kind": caller.kind(),
                "user": caller.user_id(),
                "anonymous": caller.is_anonymous(),
                "key": caller.is_publishable_key(),
                "event": event,
            })))
        })
        .function("size", |event: Value, _caller: Caller| async move {
            Ok::<_, FunctionError>(FunctionReply::Json(json!({ "len": event["blob"].as_str().map_or(0, str::len) })))
        })
        .function("broken", |_event: Value, _caller: Caller| async move {
            Err::<FunctionReply, _>(FunctionError::new("division by zero"))
        })
        .function("slow", |_event: Value, _caller: Caller| async move {
            Err::<FunctionReply, _>(FunctionError::with_code("FUNCTION_TIME_LIMIT_EXCEEDED", "took too long"))
        })
        .function("panics", |_event: Value, _caller: Caller| async move {
            if true {
                panic!("boom");
            }
            Ok::<_, FunctionError>(FunctionReply::Text(String::new()))
        })
        .function("versioned", |_event: Value, _caller: Caller| async move {
            Ok::<_, FunctionError>(FunctionReply::Text("latest".into()))
        })
        .function_version("versioned", "2", |_event: Value, _caller: Caller| async move {
            Ok::<_, FunctionError>(FunctionReply::Text("version 2".into()))
        })
        .start()
        .await
        .unwrap()
}

fn call(emu: &EmulatorHandle, name: &str) -> reqwest::RequestBuilder {
    http().post(format!("{}/v1/functions/{name}", emu.url())).header("authorization", bearer(KEY))
}

#[tokio::test]
async fn functions_answer_json_text_and_objects_with_code() {
    let emu = start().await;
    let response = call(&emu, "sum")
        .header("content-type", "application/json; charset=utf-8")
        .header("x-request-id", "rid-fn-1")
        .body(r#"{"a":1,"b":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-request-id"], "rid-fn-1");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"sum": 3}));

    let response = call(&emu, "hello").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(response.text().await.unwrap(), "Hello fn");

    let response = call(&emu, "order").json(&json!({})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "an object with `code` is a success body");
    assert_eq!(response.json::<Value>().await.unwrap()["code"], json!("ORDER_NOT_FOUND"));

    // Empty body: the event is {}; webfn flags are accepted.
    let response = http()
        .post(format!("{}/v1/functions/whoami?webfn=true", emu.url()))
        .header("authorization", bearer(KEY))
        .header("x-tcb-webfn", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["event"], json!({}));
}

#[tokio::test]
async fn handlers_learn_who_called() {
    let emu = start().await;
    let (token, id) = user(&emu, "ada").await;
    let who: Value = http()
        .post(format!("{}/v1/functions/whoami", emu.url()))
        .header("authorization", bearer(&token))
        .json(&json!({"x": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who, json!({"kind": "user", "user": id, "anonymous": false, "key": false, "event": {"x": 1}}));

    let (token, id) = anonymous(&emu).await;
    let who: Value = http()
        .post(format!("{}/v1/functions/whoami", emu.url()))
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((&who["kind"], &who["user"], &who["anonymous"]), (&json!("anonymous"), &json!(id), &json!(true)));

    let who: Value = call(&emu, "whoami").send().await.unwrap().json().await.unwrap();
    assert_eq!((&who["kind"], &who["user"], &who["key"]), (&json!("publishable_key"), &Value::Null, &json!(true)));

    // An expired user token.
    emu.advance_clock(Duration::from_secs(7201));
    let response = http()
        .post(format!("{}/v1/functions/whoami", emu.url()))
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    envelope(response, 401, "ACCESS_TOKEN_EXPIRED").await;
}

#[tokio::test]
async fn every_error_code() {
    let emu = start().await;
    let url = |name: &str| format!("{}/v1/functions/{name}", emu.url());
    envelope(http().post(url("sum")).send().await.unwrap(), 401, "MISSING_CREDENTIALS").await;
    for authorization in ["Bearer nope", "Basic abc", "Bearer"] {
        let response = http().post(url("sum")).header("authorization", authorization).send().await.unwrap();
        envelope(response, 401, "INVALID_ACCESS_TOKEN").await;
    }
    for name in ["1abc", "a", "ab_", "a.b", &format!("a{}", "b".repeat(60))] {
        envelope(call(&emu, name).send().await.unwrap(), 400, "FUNCTION_PARAM_INVALID").await;
    }
    for body in ["[1,2]", "{", "\"text\"", "12"] {
        let message = envelope(call(&emu, "sum").body(body).send().await.unwrap(), 400, "FUNCTION_PARAM_INVALID").await;
        assert!(message.starts_with("bad http request body"), "{message}");
    }
    envelope(call(&emu, "nope").send().await.unwrap(), 404, "FUNCTION_NOT_FOUND").await;
    let response = call(&emu, "sum").header("x-qualifier", "3").send().await.unwrap();
    envelope(response, 404, "FUNCTION_QUALIFIER_NOT_FOUND").await;
    let message = envelope(call(&emu, "broken").send().await.unwrap(), 500, "FUNCTION_INVOCATION_FAILED").await;
    assert_eq!(message, "division by zero");
    envelope(call(&emu, "slow").send().await.unwrap(), 500, "FUNCTION_TIME_LIMIT_EXCEEDED").await;
    envelope(call(&emu, "panics").send().await.unwrap(), 500, "FUNCTION_INVOCATION_FAILED").await;
    let response = http().get(url("sum")).header("authorization", bearer(KEY)).send().await.unwrap();
    envelope(response, 405, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn qualifiers_pick_a_version() {
    let emu = start().await;
    let text = |r: reqwest::Response| async move { (r.status().as_u16(), r.text().await.unwrap()) };
    assert_eq!(text(call(&emu, "versioned").send().await.unwrap()).await, (200, "latest".into()));
    let latest = call(&emu, "versioned").header("x-qualifier", "$LATEST").send().await.unwrap();
    assert_eq!(text(latest).await, (200, "latest".into()));
    let two = call(&emu, "versioned").header("x-qualifier", "2").send().await.unwrap();
    assert_eq!(text(two).await, (200, "version 2".into()));
    let three = call(&emu, "versioned").header("x-qualifier", "3").send().await.unwrap();
    envelope(three, 404, "FUNCTION_QUALIFIER_NOT_FOUND").await;
    let sum = call(&emu, "sum").header("x-qualifier", "$LATEST").json(&json!({"a": 2})).send().await.unwrap();
    assert_eq!(sum.status().as_u16(), 200);
}

#[tokio::test]
async fn payload_limits() {
    let emu = start().await;
    let text_body = format!("{{\"blob\":\"{}\"}}", "a".repeat(101 * 1024));
    let response =
        call(&emu, "size").header("content-type", "text/plain").body(text_body.clone()).send().await.unwrap();
    envelope(response, 413, "EXCEED_MAX_PAYLOAD_SIZE").await;
    // No content type counts as text too.
    envelope(call(&emu, "size").body(text_body.clone()).send().await.unwrap(), 413, "EXCEED_MAX_PAYLOAD_SIZE").await;
    // The same body as JSON is fine.
    let response = call(&emu, "size").header("content-type", "application/json").body(text_body).send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["len"], json!(101 * 1024));

    let five_mb = "a".repeat(5 * 1024 * 1024);
    let response = call(&emu, "size").json(&json!({ "blob": five_mb })).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["len"], json!(5 * 1024 * 1024));

    let seven_mb = "a".repeat(7 * 1024 * 1024);
    let response = call(&emu, "size").json(&json!({ "blob": seven_mb })).send().await.unwrap();
    envelope(response, 413, "EXCEED_MAX_PAYLOAD_SIZE").await;
}

#[tokio::test]
async fn faults_and_logs_apply_to_call_function() {
    let emu = start().await;
    emu.inject_fault("call_function", Fault::Status500, 1);
    let response = call(&emu, "sum").json(&json!({"a": 1, "b": 1})).send().await.unwrap();
    envelope(response, 500, "INTERNAL_ERROR").await;
    emu.inject_fault("call_function", Fault::ErrorWith200, 1);
    let response = call(&emu, "sum").json(&json!({"a": 1, "b": 1})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], json!("INTERNAL_ERROR"));
    emu.inject_fault("call_function", Fault::DropConnection, 1);
    assert!(call(&emu, "sum").json(&json!({})).send().await.is_err());
    let response = call(&emu, "sum").json(&json!({"a": 1, "b": 1})).send().await.unwrap();
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"sum": 2}));

    assert_eq!(emu.count("call_function"), 4);
    let exchanges = emu.exchanges();
    let last = exchanges.last().unwrap();
    assert_eq!(last.operation_id.as_deref(), Some("call_function"));
    assert_eq!((last.status, last.fault), (200, false));
    assert_eq!(last.request_body, Some(json!({"a": 1, "b": 1})));
    assert_eq!(last.response_body, Some(json!({"sum": 2})));
    assert_eq!(exchanges[0].response_body.as_ref().unwrap()["code"], json!("INTERNAL_ERROR"));
    let requests = emu.requests();
    assert!(requests.iter().all(|r| !r.headers.contains_key("authorization")));
    assert_eq!(requests.last().unwrap().body_fields, vec!["a".to_owned(), "b".to_owned()]);
}
