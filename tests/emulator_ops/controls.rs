//! The emulator's test controls over HTTP, seed users, reset and shutdown.

use cloudbase::Secret;
use cloudbase::raw::auth::types;
use cloudbase_emulator::{Emulator, EmulatorConfig, NewUser};
use serde_json::{Value, json};

use crate::helpers::{
    check_contract, claims, client, fails, http, me, ok, password_sign_in, send_code_to, user_client,
};

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
    assert_eq!(auth, 30, "every auth operation is listed (the reference's 29 and the guest token)");
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
