//! `mysqlCommand`: SQL templates, parameter types, writes, and its errors.

use serde_json::{Value, json};

use crate::common::{bearer, http, user};
use crate::helpers::{KEY, command, start};

#[tokio::test]
async fn mysql_command() {
    let emu = start().await;
    let (token, _) = user(&emu, "sql").await;
    let rows = command(&emu, &token, json!({
        "sqlTemplate": "select id, status, amount from orders where status = {{ s }} and amount > {{n}} order by id",
        "parameter": [{"key": "s", "type": "STRING", "value": "paid"}, {"key": "n", "type": "NUMBER", "value": "10.5"}],
        "config": {"timeout": 5, "preparedStatements": true},
    }))
    .await;
    let data = &rows["data"];
    assert_eq!(data["executeResultList"], json!([{"id": 2, "status": "paid", "amount": 20.5}]));
    assert_eq!(data["total"], json!(1));
    assert!(data["backendExecute"].as_str().unwrap().parse::<u64>().is_ok());
    // ARRAY expands to a list of bound values; BOOLEAN is 1/0; OBJECT is JSON text.
    let rows = command(&emu, &token, json!({
        "sqlTemplate": "select id from orders where id in {{ ids }} and {{ yes }} = 1 order by id",
        "parameter": [{"key": "ids", "type": "ARRAY", "value": "[1,3,\"x\"]"}, {"key": "yes", "type": "BOOLEAN", "value": "true"}],
    }))
    .await;
    assert_eq!(rows["data"]["executeResultList"], json!([{"id": 1}, {"id": 3}]));
    let inserted = command(&emu, &token, json!({
        "sqlTemplate": "insert into orders (status, amount, meta) values ({{s}}, {{a}}, {{m}})",
        "parameter": [{"key": "s", "type": "STRING", "value": "x'); drop table orders; --"}, {"key": "a", "type": "NUMBER", "value": "7"}, {"key": "m", "type": "OBJECT", "value": "{\"k\": [1]}"}],
    }))
    .await;
    assert_eq!(inserted["data"]["executeResultList"], json!([{"affectedRows": 1, "insertId": 4}]));
    assert_eq!(inserted["data"]["total"], json!(1));
    let row = command(&emu, &token, json!({"sqlTemplate": "select status, meta from orders where id = 4"})).await;
    assert_eq!(
        row["data"]["executeResultList"],
        json!([{"status": "x'); drop table orders; --", "meta": "{\"k\":[1]}"}])
    );
    let updated = command(&emu, &token, json!({"sqlTemplate": "update orders set status = 'done' where status = {{s}}", "parameter": [{"key": "s", "type": "STRING", "value": "paid"}]})).await;
    assert_eq!(updated["data"]["total"], json!(2));
    // Errors.
    let err = |body: Value| {
        let emu = emu.clone();
        let token = token.clone();
        async move {
            let reply = command(&emu, &token, body).await;
            assert!(reply.get("data").is_none(), "{reply}");
            reply["code"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(err(json!({"sqlTemplate": "select {{ x }}"})).await, "MISSING_PARAMETER");
    assert_eq!(err(json!({})).await, "MISSING_PARAMETER");
    assert_eq!(err(json!({"sqlTemplate": "select 1; drop table orders"})).await, "INVALID_PARAMETER");
    assert_eq!(
        err(json!({"sqlTemplate": "select {{n}}", "parameter": [{"key": "n", "type": "NUMBER", "value": "abc"}]}))
            .await,
        "INVALID_PARAMETER"
    );
    assert_eq!(
        err(json!({"sqlTemplate": "select {{n}}", "parameter": [{"key": "n", "type": "ARRAY", "value": "{}"}]})).await,
        "INVALID_PARAMETER"
    );
    assert_eq!(err(json!({"sqlTemplate": "select * from nope"})).await, "INVALID_PARAMETER");
    assert_eq!(err(json!({"sqlTemplate": "select 1", "config": {"timeout": 99}})).await, "INVALID_PARAMETER");
    let reply = command(&emu, KEY, json!({"sqlTemplate": "select 1"})).await;
    assert_eq!(reply["code"], json!("OPERATION_DENIED"));
    // The table survived, and the RESTful API sees the same database.
    let response = http()
        .get(format!("{}/v1/rdb/rest/orders", emu.url()))
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Vec<Value>>().await.unwrap().len(), 4);
}
