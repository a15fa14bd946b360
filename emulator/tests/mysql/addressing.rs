//! Addressing databases by path and by header, unknown tables, and credentials.

use cloudbase_emulator::{Emulator, EmulatorConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{anonymous, envelope, http};
use crate::helpers::{KEY, SEED, rest};

#[tokio::test]
async fn addressing_and_credentials() {
    let emu = Emulator::builder()
        .config(EmulatorConfig { publishable_key: Some(KEY.into()), ..Default::default() })
        .sql(SEED)
        .sql_in(
            "inst-1",
            "shop",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT); INSERT INTO items VALUES (1, 'in shop');",
        )
        .start()
        .await
        .unwrap();
    let env = emu.env_id();
    // Path forms 2 and 3 and the JS client's headers reach the same databases.
    let items = |response: reqwest::Response| async move {
        assert_eq!(response.status().as_u16(), 200);
        response.json::<Vec<Value>>().await.unwrap()
    };
    let rows = items(rest(&emu, Method::GET, "inst-1/shop/items", KEY).send().await.unwrap()).await;
    assert_eq!(rows[0]["label"], json!("in shop"));
    let rows = items(
        rest(&emu, Method::GET, "items", KEY)
            .header("x-db-instance", "inst-1")
            .header("accept-profile", "shop")
            .header("content-profile", "other")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rows.len(), 1);
    let response = rest(&emu, Method::POST, "items", KEY)
        .header("x-db-instance", "inst-1")
        .header("content-profile", "shop")
        .json(&json!({"id": 2, "label": "two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(items(rest(&emu, Method::GET, "inst-1/shop/items", KEY).send().await.unwrap()).await.len(), 2);
    assert_eq!(items(rest(&emu, Method::GET, &format!("{env}/users"), KEY).send().await.unwrap()).await.len(), 5);
    assert_eq!(
        items(rest(&emu, Method::GET, &format!("default/{env}/users"), KEY).send().await.unwrap()).await.len(),
        5
    );
    let rows = items(
        rest(&emu, Method::GET, "users", KEY)
            .header("x-db-instance", "default")
            .header("accept-profile", env.as_str())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rows.len(), 5);

    // Unknown table, schema, instance: 404.
    for path in ["nope", "shop/users", "inst-2/shop/items", "inst-1/shop/users", "sqlite_master"] {
        envelope(rest(&emu, Method::GET, path, KEY).send().await.unwrap(), 404, "RESOURCE_NOT_FOUND").await;
    }
    let response = rest(&emu, Method::HEAD, "nope", KEY).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 404);

    // Credentials.
    let response = http().get(format!("{}/v1/rdb/rest/users", emu.url())).send().await.unwrap();
    envelope(response, 401, "MISSING_CREDENTIALS").await;
    envelope(rest(&emu, Method::GET, "users", "bogus").send().await.unwrap(), 401, "INVALID_ACCESS_TOKEN").await;
    let (token, _) = anonymous(&emu).await;
    assert_eq!(items(rest(&emu, Method::GET, "users", &token).send().await.unwrap()).await.len(), 5);
    assert_eq!(emu.count("query_records"), 7);
    assert_eq!(emu.count("query_records_with_instance"), 5);
    assert_eq!(emu.count("insert_records"), 1);
}
