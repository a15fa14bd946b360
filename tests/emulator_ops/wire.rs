//! Wire conventions: bodies of any content type, malformed JSON, headers, the request log, unknown paths.

use cloudbase::contract::Contract;
use cloudbase::raw::auth::Client;
use cloudbase_emulator::Emulator;
use serde_json::json;

use crate::helpers::{DEVICE, INVALID, check_contract, ctx, email_user, http, password_sign_in};

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
