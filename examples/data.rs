//! Read and write your data with the signed-in session: a MySQL table through the typed query builder, then
//! a data model, all on the embedded emulator (a real SQLite database; no account needed):
//!
//! ```text
//! cargo run --example data
//! ```
//!
//! The table is created through the emulator's public seeding API (`EmulatorBuilder::sql`, or
//! `POST /_emulator/sql`, or the binary's `--seed-data FILE`); the model likewise (`EmulatorBuilder::model`).

use std::time::Duration;

use cloudbase::CloudBase;
use cloudbase::models::{ListQuery, Where};
use cloudbase::mysql::{Count, Filterable as _, Order};
use cloudbase_emulator::{Emulator, FieldType, ModelDef};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::timeout;

/// Bound on every call (the emulator answers in milliseconds).
const CALL: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
struct Player {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    name: String,
    score: i64,
    guild: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Todo {
    title: String,
    done: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder()
        .sql("CREATE TABLE players (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, score INTEGER, guild TEXT)")
        .model(ModelDef::new("todo").field("title", FieldType::String, true).field("done", FieldType::Boolean, false))
        .start()
        .await?;
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
    timeout(CALL, app.auth().sign_in_anonymously()).await??;

    // A MySQL table: insert, query with filters and a count, update, delete.
    let players = app.mysql().from("players");
    let new = [("Ann", 1200, Some("Owls")), ("Bob, Jr.", 800, None), ("Zoë", 1500, Some("Owls")), ("Dan", 300, None)];
    let rows: Vec<Player> = new
        .iter()
        .map(|(n, s, g)| Player { id: None, name: (*n).into(), score: *s, guild: g.map(Into::into) })
        .collect();
    let inserted = timeout(CALL, players.clone().insert(&rows).returning().execute::<Player>()).await??;
    println!(
        "inserted {} players, ids {:?}",
        inserted.rows.len(),
        inserted.rows.iter().map(|p| p.id).collect::<Vec<_>>()
    );

    let top = timeout(
        CALL,
        players
            .clone()
            .select("id,name,score,guild")
            .gte("score", 500)
            .or(|g| g.eq("guild", "Owls").is_null("guild"))
            .order("score", Order::Desc)
            .range(0, 1)
            .count(Count::Exact)
            .execute::<Player>(),
    )
    .await??;
    println!("top of {:?}: {:?}", top.total, top.rows.iter().map(|p| (&p.name, p.score)).collect::<Vec<_>>());

    let promoted =
        timeout(CALL, players.clone().update(&json!({"guild": "Owls"})).is_null("guild").gte("score", 500).send())
            .await??;
    println!("promoted {:?} player(s)", promoted.affected);
    let removed = timeout(CALL, players.clone().delete().lt("score", 500).returning().execute::<Player>()).await??;
    println!("removed {:?}", removed.rows.iter().map(|p| &p.name).collect::<Vec<_>>());
    println!("{} players left", timeout(CALL, players.count()).await??);

    // A data model: create, list with a filter, update, delete.
    let todos = app.models().model("todo");
    let id = timeout(CALL, todos.create(&Todo { title: "Ship the release".into(), done: false })).await??;
    timeout(CALL, todos.create_many(&[Todo { title: "Write notes".into(), done: true }])).await??;
    let open =
        timeout(CALL, todos.list::<Todo>(ListQuery::new().where_(Where::eq("done", false)).get_count(true))).await??;
    println!("{:?} open todo(s): {:?}", open.total, open.records.iter().map(|t| &t.title).collect::<Vec<_>>());
    timeout(CALL, todos.update(Where::eq("_id", &id), &json!({"done": true}))).await??;
    let deleted = timeout(CALL, todos.delete_many(Where::eq("done", true))).await??;
    println!("deleted {} done todo(s)", deleted.count);
    emu.shutdown().await;
    Ok(())
}
