//! Databases: seeding through the control endpoint, reset, database files in a data directory, and env ids.

use cloudbase_emulator::{Emulator, EmulatorConfig};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{envelope, http};
use crate::helpers::{KEY, assert_unchanged, count, rest, start};

#[tokio::test]
async fn seeding_controls_and_reset() {
    let emu = start().await;
    let control = |body: Value| {
        let url = format!("{}/_emulator/sql", emu.url());
        async move { http().post(url).json(&body).send().await.unwrap() }
    };
    let response = control(json!({"sql": "CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('x');"})).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"ok": true}));
    assert_eq!(count(&emu, "t").await, 1);
    let response = control(json!({"sql": "CREATE TABLE o (a TEXT)", "instance": "i2", "schema": "s2"})).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(rest(&emu, Method::GET, "i2/s2/o", KEY).send().await.unwrap().status().as_u16(), 200);
    let response = control(json!({"sql": "CREATE TABLE broken ("})).await;
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("syntax error") || body.to_string().contains("incomplete"), "{body}");
    assert_eq!(control(json!({"schema": "x"})).await.status().as_u16(), 400);
    assert_eq!(control(json!({"sql": "SELECT 1", "schema": "../etc"})).await.status().as_u16(), 400);
    assert!(emu.sql("INSERT INTO nope VALUES (1)").unwrap_err().contains("no such table"));
    emu.sql("DELETE FROM sentinel").unwrap();

    // Reset drops everything and re-runs the builder's seeds.
    emu.reset();
    assert_unchanged(&emu).await;
    envelope(rest(&emu, Method::GET, "t", KEY).send().await.unwrap(), 404, "RESOURCE_NOT_FOUND").await;
    envelope(rest(&emu, Method::GET, "i2/s2/o", KEY).send().await.unwrap(), 404, "RESOURCE_NOT_FOUND").await;

    // A failing builder seed fails the start.
    let error = Emulator::builder().sql("CREATE TABLE (").start().await.unwrap_err();
    assert!(error.to_string().contains("seed"), "{error}");
}

#[tokio::test]
async fn data_dir_keeps_databases_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = || EmulatorConfig {
        data_dir: Some(dir.path().to_owned()),
        publishable_key: Some(KEY.into()),
        ..Default::default()
    };
    let emu = Emulator::start_with(config()).await.unwrap();
    emu.sql("CREATE TABLE kept (a TEXT); INSERT INTO kept VALUES ('x');").unwrap();
    emu.sql_in("other", "db", "CREATE TABLE o (a TEXT)").unwrap();
    let file = dir.path().join(format!("default.{}.sqlite3", emu.env_id()));
    assert!(file.exists());
    assert!(dir.path().join("other.db.sqlite3").exists());
    emu.shutdown().await;
    // A new emulator on the same directory finds both databases.
    let emu = Emulator::start_with(config()).await.unwrap();
    assert_eq!(count(&emu, "kept").await, 1);
    assert_eq!(rest(&emu, Method::GET, "other/db/o", KEY).send().await.unwrap().status().as_u16(), 200);
    emu.reset();
    assert!(!dir.path().join("other.db.sqlite3").exists());
    envelope(rest(&emu, Method::GET, "kept", KEY).send().await.unwrap(), 404, "RESOURCE_NOT_FOUND").await;
}

#[tokio::test]
async fn any_env_id_works_in_memory() {
    let config = EmulatorConfig { env_id: "my env.1".into(), publishable_key: Some(KEY.into()), ..Default::default() };
    let emu = Emulator::builder()
        .config(config)
        .sql("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
        .start()
        .await
        .unwrap();
    assert_eq!(count(&emu, "t").await, 1);
    // As files, the database names must be plain.
    let dir = tempfile::tempdir().unwrap();
    let config =
        EmulatorConfig { env_id: "my env.1".into(), data_dir: Some(dir.path().to_owned()), ..Default::default() };
    let error = Emulator::start_with(config).await.unwrap_err();
    assert!(error.to_string().contains("invalid instance or schema name"), "{error}");
}
