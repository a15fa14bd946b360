//! Captcha: the challenge round trip, and when code requests and failed passwords ask for one.

use std::time::Duration;

use base64::Engine as _;
use cloudbase::Secret;
use cloudbase::raw::Context;
use cloudbase::raw::auth::{Client, types};
use cloudbase_emulator::{Emulator, EmulatorConfig};
use serde_json::json;

use crate::helpers::{DEVICE, INVALID, OTHER_DEVICE, check_contract, client, ctx, email_user, fails, http, ok};

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
