//! SQL injection attempts through values and names leave the database unchanged.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{bearer, envelope, http};
use crate::helpers::{KEY, assert_unchanged, names, rest, start};

#[tokio::test]
async fn sql_injection_attempts_change_nothing() {
    let emu = start().await;
    let attacks = [
        "1; DROP TABLE sentinel; --",
        "1' OR '1'='1",
        "\" OR 1=1 --",
        "x'); DELETE FROM users; --",
        "\\\"; DROP TABLE sentinel; --",
    ];
    for attack in attacks {
        // Through values, at the top level and inside lists.
        for query in [
            vec![("name", format!("eq.{attack}"))],
            vec![("id", format!("in.({attack})"))],
            vec![("or", format!("(name.eq.\"{}\",id.eq.{attack})", attack.replace('"', "\\\"")))],
            vec![("name", format!("like.{attack}"))],
            vec![("name", format!("match.{attack}"))],
        ] {
            let response = rest(&emu, Method::GET, "users", KEY).query(&query).send().await.unwrap();
            let status = response.status().as_u16();
            assert!(status == 200 || status == 400, "{query:?}: {status}");
            if status == 200 {
                assert_eq!(response.json::<Vec<Value>>().await.unwrap(), Vec::<Value>::new(), "{query:?}");
            }
            let response = rest(&emu, Method::DELETE, "users", KEY).query(&query).send().await.unwrap();
            assert!(matches!(response.status().as_u16(), 204 | 400), "{query:?}");
            let response = rest(&emu, Method::PATCH, "users", KEY)
                .query(&query)
                .json(&json!({"name": attack}))
                .send()
                .await
                .unwrap();
            assert!(matches!(response.status().as_u16(), 204 | 400), "{query:?}");
        }
        // Through names: columns, select, order, on_conflict, columns=, body keys, tables.
        for query in [
            vec![(attack.to_owned(), "eq.1".to_owned())],
            vec![("select".to_owned(), attack.to_owned())],
            vec![("select".to_owned(), format!("id,x:{attack}"))],
            vec![("order".to_owned(), attack.replace('.', ""))],
            vec![("order".to_owned(), format!("id.asc,{}", attack.replace('.', "")))],
        ] {
            let response = rest(&emu, Method::GET, "users", KEY).query(&query).send().await.unwrap();
            envelope(response, 400, "INVALID_PARAM").await;
        }
        let response = rest(&emu, Method::POST, "users", KEY)
            .header("prefer", "resolution=merge-duplicates")
            .query(&[("on_conflict", attack.replace(',', ""))])
            .json(&json!({"name": "n"}))
            .send()
            .await
            .unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
        let response = rest(&emu, Method::POST, "users", KEY)
            .query(&[("columns", format!("\"{}\"", attack.replace('"', "\\\"")))])
            .json(&json!([{"name": "n"}]))
            .send()
            .await
            .unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
        let response = rest(&emu, Method::POST, "users", KEY).json(&json!({ attack: 1 })).send().await.unwrap();
        envelope(response, 400, "INVALID_PARAM").await;
        let table = attack.replace('/', "");
        let response = http()
            .get(format!("{}/v1/rdb/rest/{}", emu.url(), urlencode(&table)))
            .header("authorization", bearer(KEY))
            .send()
            .await
            .unwrap();
        envelope(response, 404, "RESOURCE_NOT_FOUND").await;
        let response = rest(&emu, Method::GET, "users", KEY)
            .header("accept-profile", "x; DROP TABLE sentinel")
            .send()
            .await
            .unwrap();
        envelope(response, 404, "RESOURCE_NOT_FOUND").await;
        assert_unchanged(&emu).await;
    }
    // The values were stored and read back as plain data.
    let response = rest(&emu, Method::POST, "users", KEY)
        .header("prefer", "return=representation")
        .json(&json!({"name": attacks[0], "note": attacks[1]}))
        .send()
        .await
        .unwrap();
    let rows: Vec<Value> = response.json().await.unwrap();
    assert_eq!(rows[0]["name"], json!(attacks[0]));
    assert_eq!(names(&emu, &[("note", &format!("eq.{}", attacks[1]))]).await, [attacks[0]]);
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
