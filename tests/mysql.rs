//! `app.mysql()` end to end against the emulator's MySQL RESTful API on SQLite over 127.0.0.1: every builder
//! method, the Flutter methods, database and instance addressing, typed errors, and bad input refused before
//! sending; every exchange validated against `openapi/mysql.yaml`.
#![cfg(feature = "contract")]

mod common;

use std::collections::BTreeMap;

use cloudbase::mysql::{Count, Filterable as _, IsValue, MySqlQueryOptions, Nulls, Op, Order};
use cloudbase::{CloudBase, Error, ErrorCode};
use cloudbase_emulator::{Emulator, EmulatorHandle};
use common::{assert_contract, builder};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const USERS: &str = "
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT,
  age INTEGER,
  status TEXT,
  email TEXT UNIQUE,
  nickname TEXT,
  _openid TEXT
);
INSERT INTO users (name, age, status, email, nickname) VALUES
  ('Ann', 34, 'active', 'ann@example.com', 'annie'),
  ('Bob, Jr.', 17, 'active', 'bob@example.com', NULL),
  ('Zoë \"Z\" (admin)', 41, 'banned', 'zoe@example.com', 'z'),
  ('50% off', 18, 'active', 'sale@example.com', NULL),
  ('Dan', NULL, 'pending', 'dan@example.com', 'd');
";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: i64,
    name: String,
    age: Option<i64>,
    status: String,
    email: String,
    nickname: Option<String>,
}

#[derive(Debug, Serialize)]
struct NewUser<'a> {
    name: &'a str,
    age: i64,
    status: &'a str,
    email: &'a str,
}

async fn setup() -> (EmulatorHandle, CloudBase) {
    let emu = Emulator::builder()
        .sql(USERS)
        .sql_in(
            "default",
            "shop",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO items VALUES (1, 'pen');",
        )
        .sql_in(
            "replica-1",
            "shop",
            "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO items VALUES (1, 'ink');",
        )
        .start()
        .await
        .expect("emulator starts");
    let app = builder(&emu).build().unwrap();
    app.auth().sign_in_anonymously().await.unwrap();
    (emu, app)
}

fn names(rows: &[User]) -> Vec<&str> {
    rows.iter().map(|u| u.name.as_str()).collect()
}

#[tokio::test]
async fn every_read_filter_and_page() {
    let (emu, app) = setup().await;
    let users = app.mysql().from("users");
    let all = users.clone().select("*").order("id", Order::Asc).execute::<User>().await.unwrap();
    assert_eq!(all.rows.len(), 5);
    assert_eq!(all.total, None, "no count asked");

    let page = users
        .clone()
        .select("id, name, age, status, email, nickname")
        .eq("status", "active")
        .gte("age", 18)
        .order("age", Order::Desc)
        .range(0, 0)
        .count(Count::Exact)
        .execute::<User>()
        .await
        .unwrap();
    assert_eq!((names(&page.rows), page.total), (vec!["Ann"], Some(2)));

    let cases: Vec<(cloudbase::mysql::Select, Vec<&str>)> = vec![
        (users.clone().select("*").neq("status", "active"), vec!["Zoë \"Z\" (admin)", "Dan"]),
        (users.clone().select("*").gt("age", 34), vec!["Zoë \"Z\" (admin)"]),
        (users.clone().select("*").lt("age", 18), vec!["Bob, Jr."]),
        (users.clone().select("*").lte("age", 18), vec!["Bob, Jr.", "50% off"]),
        (users.clone().select("*").like("name", "%, Jr."), vec!["Bob, Jr."]),
        (users.clone().select("*").like("name", "50%"), vec!["50% off"]),
        (users.clone().select("*").ilike("name", "ANN"), vec!["Ann"]),
        (users.clone().select("*").like("name", "ANN"), vec![]),
        (users.clone().select("*").regex("email", "^(ann|dan)@"), vec!["Ann", "Dan"]),
        (
            users.clone().select("*").in_("name", ["Bob, Jr.", "Zoë \"Z\" (admin)"]),
            vec!["Bob, Jr.", "Zoë \"Z\" (admin)"],
        ),
        (users.clone().select("*").not_in("status", ["active"]), vec!["Zoë \"Z\" (admin)", "Dan"]),
        (users.clone().select("*").is_null("nickname"), vec!["Bob, Jr.", "50% off"]),
        (users.clone().select("*").is_not_null("age").lt("age", 18), vec!["Bob, Jr."]),
        (users.clone().select("*").is("age", IsValue::Null), vec!["Dan"]),
        (users.clone().select("*").not("age", Op::Gte, 18), vec!["Bob, Jr."]),
        (users.clone().select("*").filter("name", Op::Eq, "50% off"), vec!["50% off"]),
        (users.clone().select("*").eq("name", "Zoë \"Z\" (admin)"), vec!["Zoë \"Z\" (admin)"]),
        (
            users.clone().select("*").or(|g| g.eq("name", "Bob, Jr.").and(|g| g.gt("age", 40).eq("status", "banned"))),
            vec!["Bob, Jr.", "Zoë \"Z\" (admin)"],
        ),
        (users.clone().select("*").not_or(|g| g.eq("status", "active").is_null("age")), vec!["Zoë \"Z\" (admin)"]),
        (
            users.clone().select("*").not_and(|g| g.eq("status", "active").gte("age", 18)).eq("status", "active"),
            vec!["Bob, Jr."],
        ),
    ];
    for (i, (query, expected)) in cases.into_iter().enumerate() {
        let rows = query.order("id", Order::Asc).execute::<User>().await.unwrap();
        assert_eq!(names(&rows.rows), expected, "case {i}");
    }

    let nulls_first = users.clone().select("*").order_nulls("age", Order::Asc, Nulls::First).execute::<User>().await;
    assert_eq!(nulls_first.unwrap().rows[0].name, "Dan");
    let nulls_last = users.clone().select("*").order_nulls("age", Order::Asc, Nulls::Last).execute::<User>().await;
    assert_eq!(nulls_last.unwrap().rows.last().unwrap().name, "Dan");
    let second = users.clone().select("*").order("id", Order::Asc).limit(1).offset(1).execute::<User>().await;
    assert_eq!(names(&second.unwrap().rows), vec!["Bob, Jr."]);

    let one: User = users.clone().select("*").eq("email", "ann@example.com").single().await.unwrap();
    assert_eq!(one.name, "Ann");
    let several = users.clone().select("*").eq("status", "active").single::<User>().await;
    assert!(matches!(&several, Err(Error::Service(s)) if s.status == Some(406)), "{several:?}");
    let none = users.clone().select("*").eq("name", "nobody").maybe_single::<User>().await.unwrap();
    assert!(none.is_none());
    let some = users.clone().select("*").eq("name", "Dan").maybe_single::<User>().await.unwrap();
    assert_eq!(some.map(|u| u.email), Some("dan@example.com".to_owned()));
    let too_many = users.clone().select("*").eq("status", "active").maybe_single::<User>().await;
    assert!(matches!(&too_many, Err(Error::Service(s)) if s.code.as_str() == "PGRST116"), "{too_many:?}");
    assert_eq!(users.clone().select("*").eq("status", "active").count_only().await.unwrap(), 3);
    assert_eq!(users.clone().count().await.unwrap(), 5);
    let aliased = users.clone().select("who:name").eq("id", 1).execute::<Value>().await.unwrap();
    assert_eq!(aliased.rows, vec![json!({"who": "Ann"})]);
    assert_contract(&emu);
}

#[tokio::test]
async fn inserts_upserts_updates_and_deletes() {
    let (emu, app) = setup().await;
    let users = app.mysql().from("users");
    let minimal = users
        .clone()
        .insert(&NewUser { name: "Eve", age: 29, status: "active", email: "eve@example.com" })
        .send()
        .await
        .unwrap();
    assert_eq!((minimal.status, minimal.rows.len(), minimal.affected), (201, 0, Some(1)));
    let created = users
        .clone()
        .insert(&[
            NewUser { name: "Fay", age: 22, status: "active", email: "fay@example.com" },
            NewUser { name: "Gus", age: 61, status: "pending", email: "gus@example.com" },
        ])
        .returning()
        .execute::<User>()
        .await
        .unwrap();
    assert_eq!(names(&created.rows), vec!["Fay", "Gus"]);
    assert!(created.rows[0].id > 5 && created.rows[1].id == created.rows[0].id + 1, "generated ids");
    let conflict =
        users.clone().insert(&NewUser { name: "Ann2", age: 1, status: "x", email: "ann@example.com" }).send().await;
    assert!(matches!(&conflict, Err(Error::Service(s)) if s.status == Some(409)), "{conflict:?}");

    let merged = users
        .clone()
        .upsert(&json!({"email": "ann@example.com", "name": "Ann", "age": 35, "status": "active"}))
        .on_conflict("email")
        .returning()
        .execute::<User>()
        .await
        .unwrap();
    assert_eq!((merged.rows.len(), merged.rows[0].id, merged.rows[0].age), (1, 1, Some(35)));
    let ignored = users
        .clone()
        .upsert(&json!({"email": "ann@example.com", "name": "Ignored", "age": 99, "status": "x"}))
        .on_conflict("email")
        .ignore_duplicates()
        .returning()
        .execute::<User>()
        .await
        .unwrap();
    assert!(ignored.rows.is_empty(), "nothing written: {ignored:?}");
    let ann: User = users.clone().select("*").eq("id", 1).single().await.unwrap();
    assert_eq!((ann.name.as_str(), ann.age), ("Ann", Some(35)));

    let updated = users
        .clone()
        .update(&json!({"status": "archived"}))
        .eq("status", "pending")
        .returning()
        .execute::<User>()
        .await
        .unwrap();
    assert_eq!((updated.status, names(&updated.rows)), (200, vec!["Dan", "Gus"]));
    let quiet = users.clone().update(&json!({"nickname": "x"})).eq("id", 2).send().await.unwrap();
    assert_eq!((quiet.status, quiet.affected), (204, Some(1)));
    let deleted = users.clone().delete().in_("name", ["Fay", "Gus"]).returning().execute::<User>().await.unwrap();
    assert_eq!(names(&deleted.rows), vec!["Fay", "Gus"]);
    assert_eq!(users.clone().count().await.unwrap(), 6);
    // `_openid` is the caller's.
    let me = app.auth().get_user().await.unwrap().id;
    let eve = users.clone().select("_openid").eq("name", "Eve").single::<Value>().await.unwrap();
    assert_eq!(eve["_openid"], json!(me));
    assert_contract(&emu);
}

#[tokio::test]
async fn databases_and_instances_are_addressed_by_path() {
    let (emu, app) = setup().await;
    let item = |mysql: cloudbase::mysql::MySql| async move {
        mysql.from("items").select("title").eq("id", 1).single::<Value>().await.map(|v| v["title"].clone())
    };
    assert_eq!(item(app.mysql().schema("shop")).await.unwrap(), json!("pen"));
    assert_eq!(item(app.mysql().schema("shop").instance("replica-1")).await.unwrap(), json!("ink"));
    let missing = item(app.mysql().schema("nope")).await;
    assert!(matches!(&missing, Err(Error::Service(s)) if s.status == Some(404)), "{missing:?}");
    let no_table = app.mysql().from("nope").select("*").execute::<Value>().await;
    assert!(
        matches!(&no_table, Err(Error::Service(s)) if s.code == ErrorCode::Unknown("RESOURCE_NOT_FOUND".into()) || s.status == Some(404))
    );
    let unknown_column = app.mysql().from("users").select("*").eq("nope", 1).execute::<Value>().await;
    assert!(
        matches!(&unknown_column, Err(Error::Service(s)) if s.code == ErrorCode::InvalidParam),
        "{unknown_column:?}"
    );
    let paths: Vec<String> = emu.exchanges().into_iter().map(|x| x.path).filter(|p| p.contains("items")).collect();
    assert!(
        paths.contains(&"/v1/rdb/rest/shop/items".to_owned())
            && paths.contains(&"/v1/rdb/rest/replica-1/shop/items".to_owned())
    );
    assert_contract(&emu);
}

#[tokio::test]
async fn the_flutter_methods() {
    let (emu, app) = setup().await;
    let mysql = app.mysql();
    let options = MySqlQueryOptions::new()
        .select("name,age")
        .filter("status", "eq.active")
        .filter("age", "gte.18")
        .order("age.desc")
        .limit(10)
        .with_count(true);
    let page = mysql.query("users", options).await.unwrap();
    assert_eq!((page.data.len(), page.total, page.status_code), (2, Some(2), 200));
    assert_eq!(page.data[0]["name"], json!("Ann"));
    let inserted = mysql
        .insert("users", &json!({"name": "Hal", "age": 50, "status": "x", "email": "hal@example.com"}), false, None)
        .await;
    assert_eq!(inserted.unwrap().status_code, 201);
    let upserted = mysql
        .insert(
            "users",
            &json!({"name": "Hal", "age": 51, "status": "y", "email": "hal@example.com"}),
            true,
            Some("email"),
        )
        .await
        .unwrap();
    assert_eq!(upserted.status_code, 201);
    let filters = BTreeMap::from([("email".to_owned(), "eq.hal@example.com".to_owned())]);
    assert_eq!(mysql.count("users", &filters).await.unwrap(), 1);
    let updated = mysql.update("users", &json!({"age": 52}), &filters).await.unwrap();
    assert_eq!(updated.affected, Some(1));
    let hal = mysql.query("users", MySqlQueryOptions::new().filter("email", "eq.hal@example.com")).await.unwrap();
    assert_eq!((hal.data[0]["age"].clone(), hal.data[0]["status"].clone()), (json!(52), json!("y")));
    mysql.delete("users", &filters).await.unwrap();
    assert_eq!(mysql.count("users", &filters).await.unwrap(), 0);
    let bad = mysql.query("users", MySqlQueryOptions::new().filter("age", "bigger.3")).await;
    assert!(matches!(bad, Err(Error::InvalidInput { field: "filters", .. })));
    assert!(matches!(mysql.delete("users", &BTreeMap::new()).await, Err(Error::InvalidInput { field: "filter", .. })));
    assert_contract(&emu);
}

#[tokio::test]
async fn bad_input_is_refused_before_sending() {
    let (emu, app) = setup().await;
    let before = emu.requests().len();
    let mysql = app.mysql();
    let refused: Vec<(&str, Result<(), Error>)> = vec![
        ("empty table", mysql.from("").select("*").execute::<Value>().await.map(drop)),
        ("table with sql", mysql.from("users; DROP TABLE users").select("*").execute::<Value>().await.map(drop)),
        ("column with sql", mysql.from("users").select("*").eq("id = 1 OR 1", 1).execute::<Value>().await.map(drop)),
        ("select with sql", mysql.from("users").select("id,(select 1)").execute::<Value>().await.map(drop)),
        (
            "order with sql",
            mysql.from("users").select("*").order("id desc;", Order::Asc).execute::<Value>().await.map(drop),
        ),
        ("update without filter", mysql.from("users").update(&json!({"age": 1})).send().await.map(drop)),
        ("delete without filter", mysql.from("users").delete().send().await.map(drop)),
        ("reversed range", mysql.from("users").select("*").range(5, 2).execute::<Value>().await.map(drop)),
        ("empty rows", mysql.from("users").insert(&Vec::<Value>::new()).send().await.map(drop)),
        ("rows not objects", mysql.from("users").insert(&[1, 2]).send().await.map(drop)),
        ("bad key", mysql.from("users").insert(&json!({"a b": 1})).send().await.map(drop)),
        (
            "conflict without upsert",
            mysql.from("users").insert(&json!({"a": 1})).on_conflict("a").send().await.map(drop),
        ),
        (
            "is with text",
            mysql.from("users").select("*").filter("age", Op::Is, "maybe").execute::<Value>().await.map(drop),
        ),
        (
            "in via filter",
            mysql.from("users").select("*").filter("age", Op::In, "1").execute::<Value>().await.map(drop),
        ),
        ("empty group", mysql.from("users").select("*").or(|g| g).execute::<Value>().await.map(drop)),
        (
            "instance without schema",
            mysql.clone().instance("x").from("users").select("*").execute::<Value>().await.map(drop),
        ),
    ];
    for (what, result) in refused {
        assert!(matches!(result, Err(Error::InvalidInput { .. })), "{what}: {result:?}");
    }
    assert_eq!(emu.requests().len(), before, "nothing was sent");
    assert_eq!(app.mysql().from("users").count().await.unwrap(), 5, "the table is unchanged");
}
