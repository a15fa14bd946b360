//! Access: environments, credentials (the publishable key, user, client and guest tokens) and unknown models.

use cloudbase_emulator::EmulatorHandle;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{anonymous, bearer, envelope, get_json, http};
use crate::helpers::{KEY, code, command, create, data, list, start};

#[tokio::test]
async fn environments_credentials_and_unknown_models() {
    let emu = start().await;
    let (anon, anon_id) = anonymous(&emu).await;
    // pre and prod are separate; the JS client's envType in the body is ignored.
    let id = create(&emu, &anon, "post", json!({"title": "live"})).await;
    let pre =
        data(&emu, &anon, Method::POST, "pre/post/create", Some(json!({"data": {"title": "trial"}, "envType": "pre"})))
            .await;
    let pre_list = data(
        &emu,
        KEY,
        Method::POST,
        "pre/post/list",
        Some(json!({"filter": {"where": {}}, "select": {"$master": true}, "envType": "pre"})),
    )
    .await;
    assert_eq!(pre_list["records"].as_array().unwrap().len(), 1);
    assert_eq!(pre_list["records"][0]["_id"], pre["id"]);
    assert_eq!(pre_list["records"][0]["_openid"], json!(anon_id));
    assert_eq!(list(&emu, json!({})).await["records"][0]["_id"], json!(id));
    assert_eq!(code(&emu, KEY, Method::POST, "test/post/list", Some(json!({}))).await, "INVALID_PARAMETER");
    // Unknown models.
    assert_eq!(code(&emu, KEY, Method::POST, "prod/nope/list", Some(json!({}))).await, "DATASOURCE_NOT_EXIST");
    assert_eq!(code(&emu, KEY, Method::GET, "prod/nope/x/get", None).await, "DATASOURCE_NOT_EXIST");
    // The publishable key reads but does not write; a client token writes without owner fields.
    assert_eq!(
        code(&emu, KEY, Method::POST, "prod/post/create", Some(json!({"data": {"title": "k"}}))).await,
        "OPERATION_DENIED"
    );
    assert_eq!(
        code(&emu, KEY, Method::PUT, "prod/post/update", Some(json!({"filter": {}, "data": {}}))).await,
        "OPERATION_DENIED"
    );
    assert_eq!(code(&emu, KEY, Method::DELETE, &format!("prod/post/{id}/delete"), None).await, "OPERATION_DENIED");
    let client: Value = http()
        .post(format!("{}/auth/v1/token", emu.url()))
        .basic_auth(emu.env_id(), Some("secret"))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client = client["access_token"].as_str().unwrap().to_owned();
    let cid = create(&emu, &client, "post", json!({"title": "by client"})).await;
    let record = data(&emu, KEY, Method::GET, &format!("prod/post/{cid}/get"), None).await["record"].clone();
    assert!(record.get("owner").is_none(), "{record}");
    // Missing or bad credentials: the gateway's 401 envelope.
    let response = http().post(format!("{}/v1/model/prod/post/list", emu.url())).json(&json!({})).send().await.unwrap();
    envelope(response, 401, "MISSING_CREDENTIALS").await;
    let response = http()
        .post(format!("{}/v1/model/prod/post/list", emu.url()))
        .header("authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    envelope(response, 401, "INVALID_ACCESS_TOKEN").await;
    // Malformed bodies.
    let response = http()
        .post(format!("{}/v1/model/prod/post/list", emu.url()))
        .header("authorization", bearer(KEY))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], json!("INVALID_PARAMETER"));
    assert_eq!(emu.count("model_list"), 7);
    assert_eq!(emu.count("model_create"), 4);
}

/// `POST /auth/v1/token/clientCredential`, as the JS SDK sends it with no session: the status and the body.
async fn guest_token(emu: &EmulatorHandle, body: Value) -> (u16, Value) {
    let response =
        http().post(format!("{}/auth/v1/token/clientCredential", emu.url())).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn guest_tokens_read_but_do_not_write() {
    let emu = start().await;
    let (anon, _) = anonymous(&emu).await;
    let id = create(&emu, &anon, "post", json!({"title": "by a user"})).await;

    let (status, tokens) = guest_token(&emu, json!({"grant_type": "client_credentials"})).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!((tokens["token_type"].as_str(), tokens["scope"].as_str()), (Some("Bearer"), Some("guest")));
    assert!(tokens["expires_in"].as_u64().is_some_and(|s| s > 0), "{tokens}");
    assert!(tokens.get("refresh_token").is_none() && tokens.get("sub").is_none(), "{tokens}");
    let guest = tokens["access_token"].as_str().unwrap().to_owned();
    let introspected = get_json(&format!("{}/auth/v1/token/introspect", emu.url()), &guest).await;
    assert_eq!(introspected["scope"], json!("guest"), "{introspected}");

    // Reads, as the publishable key does: models and tables.
    let record = data(&emu, &guest, Method::GET, &format!("prod/post/{id}/get"), None).await;
    assert_eq!(record["record"]["title"], json!("by a user"));
    let rows = get_json(&format!("{}/v1/rdb/rest/orders?select=id&status=eq.paid&order=id", emu.url()), &guest).await;
    assert_eq!(rows, json!([{"id": 1}, {"id": 2}]));
    // No model writes, no SQL commands; nothing changed.
    assert_eq!(
        code(&emu, &guest, Method::POST, "prod/post/create", Some(json!({"data": {"title": "guest"}}))).await,
        "OPERATION_DENIED"
    );
    assert_eq!(code(&emu, &guest, Method::DELETE, &format!("prod/post/{id}/delete"), None).await, "OPERATION_DENIED");
    let denied = command(&emu, &guest, json!({"sqlTemplate": "delete from orders"})).await;
    assert_eq!(denied["code"], json!("OPERATION_DENIED"), "{denied}");
    assert_eq!(list(&emu, json!({})).await["records"].as_array().unwrap().len(), 1);
    let count = command(&emu, &anon, json!({"sqlTemplate": "select count(*) as n from orders"})).await;
    assert_eq!(count["data"]["executeResultList"], json!([{"n": 3}]));

    // Only the client-credentials grant, with a body.
    let (status, refused) = guest_token(&emu, json!({"grant_type": "password"})).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("unsupported_grant_type")), "{refused}");
    let (status, refused) = guest_token(&emu, json!({})).await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_argument")), "{refused}");
    assert_eq!(emu.count("grant_client_credential_token"), 3);
}
