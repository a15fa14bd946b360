//! `app.models()` end to end against the emulator's data models on SQLite over 127.0.0.1: the twelve record
//! operations with typed records, the `Where` grammar (groups, `relateWhere`, nested select), paging, counts
//! and ordering, trial data, `mysql_command` with every parameter type, the seven data source queries, errors
//! inside HTTP 200, and bad input refused before sending; every exchange validated against
//! `openapi/model.yaml`.
#![cfg(feature = "contract")]

mod common;

use cloudbase::models::{
    AggregateListOptions, BasicListOptions, DataSourceRef, EnvType, ListQuery, Query, Select, SqlParam, Upserted, Where,
};
use cloudbase::{CloudBase, Error};
use cloudbase_emulator::{Emulator, EmulatorHandle, FieldType, ModelDef};
use common::{assert_contract, builder};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Todo {
    title: String,
    done: bool,
    priority: i64,
}

#[derive(Debug, Deserialize)]
struct Stored {
    #[serde(rename = "_id")]
    id: String,
    title: String,
    done: bool,
    priority: i64,
    #[serde(rename = "_openid")]
    openid: Option<String>,
    #[serde(rename = "createdAt")]
    created_at: i64,
}

fn todo(title: &str, done: bool, priority: i64) -> Todo {
    Todo { title: title.to_owned(), done, priority }
}

async fn setup() -> (EmulatorHandle, CloudBase) {
    let emu = Emulator::builder()
        .model(
            ModelDef::new("todo")
                .field("title", FieldType::String, true)
                .field("done", FieldType::Boolean, false)
                .field("priority", FieldType::Number, false)
                .relation("comments", "comment", "todo_id"),
        )
        .model(ModelDef::new("comment").field("text", FieldType::String, true).field("todo_id", FieldType::String, true))
        .sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, total REAL); INSERT INTO orders VALUES (1, 'paid', 9.5), (2, 'open', 20), (3, 'paid', 1);")
        .start()
        .await
        .expect("emulator starts");
    let app = builder(&emu).build().unwrap();
    app.auth().sign_in_anonymously().await.unwrap();
    (emu, app)
}

#[tokio::test]
async fn the_twelve_record_operations() {
    let (emu, app) = setup().await;
    let todos = app.models().model("todo");
    let me = app.auth().get_user().await.unwrap().id;

    let milk = todos.create(&todo("Buy milk", false, 2)).await.unwrap();
    let ids = todos
        .create_many(&[todo("Write report", false, 1), todo("Call Ann", true, 3), todo("Milk the cow", false, 5)])
        .await;
    let ids = ids.unwrap();
    assert_eq!(ids.len(), 3);

    let stored: Stored = todos.get_by_id(&milk).await.unwrap().expect("created");
    assert_eq!(
        (stored.id.as_str(), stored.title.as_str(), stored.openid.as_deref()),
        (milk.as_str(), "Buy milk", Some(me.as_str()))
    );
    assert!(stored.created_at > 1_600_000_000_000, "milliseconds");
    assert_eq!((stored.done, stored.priority), (false, 2));
    assert!(todos.get_by_id::<Stored>("nope").await.unwrap().is_none());

    let first: Option<Todo> = todos.get(Query::new().where_(Where::eq("title", "Call Ann"))).await.unwrap();
    assert_eq!(first, Some(todo("Call Ann", true, 3)));
    let titles_only: Value = todos
        .get(Query::new().where_(Where::eq("title", "Buy milk")).select(Select::fields(["title"])))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((titles_only["title"].clone(), titles_only.get("done")), (json!("Buy milk"), None));

    let open = todos
        .list::<Todo>(
            ListQuery::new()
                .where_(Where::eq("done", false) & (Where::search_ci("title", "MILK") | Where::gte("priority", 5)))
                .order_by("priority", false)
                .get_count(true),
        )
        .await
        .unwrap();
    assert_eq!(open.records, vec![todo("Milk the cow", false, 5), todo("Buy milk", false, 2)]);
    assert_eq!(open.total, Some(2));
    let page =
        todos.list::<Todo>(ListQuery::new().order_by("priority", true).page_size(2).page_number(2)).await.unwrap();
    assert_eq!(page.records, vec![todo("Call Ann", true, 3), todo("Milk the cow", false, 5)]);
    assert_eq!(page.total, None, "no count asked");
    let simple = todos.list_simple::<Todo>(3, 1, true).await.unwrap();
    assert_eq!((simple.records.len(), simple.total), (3, Some(4)));
    let in_list =
        todos.list::<Todo>(ListQuery::new().where_(Where::in_("priority", [1, 3]) & Where::nempty("title"))).await;
    assert_eq!(in_list.unwrap().records.len(), 2);

    assert_eq!(todos.update(Where::eq("_id", &milk), &json!({"done": true})).await.unwrap(), 1);
    assert_eq!(todos.update(Where::eq("_id", "nope"), &json!({"done": true})).await.unwrap(), 0);
    let many = todos.update_many(Where::eq("done", false), &json!({"priority": 0})).await.unwrap();
    assert_eq!((many.count, many.legal_ids.len()), (2, 2));

    let created =
        todos.upsert(Where::eq("title", "Garden"), &todo("Garden", false, 1), &json!({"done": true})).await.unwrap();
    let Upserted::Created { id: garden } = created else { panic!("{created:?}") };
    let updated = todos.upsert(Where::eq("title", "Garden"), &todo("Garden", false, 1), &json!({"done": true})).await;
    assert_eq!(updated.unwrap(), Upserted::Updated);
    assert!(todos.get_by_id::<Todo>(&garden).await.unwrap().unwrap().done);

    assert_eq!(todos.delete_by_id(&garden).await.unwrap(), 1);
    assert_eq!(todos.delete_by_id(&garden).await.unwrap(), 0);
    assert_eq!(todos.delete_record(Where::eq("title", "Call Ann")).await.unwrap(), 1);
    let removed = todos.delete_many(Where::eq("priority", 0)).await.unwrap();
    assert_eq!(removed.count, 2);
    let left = todos.list::<Todo>(ListQuery::new().get_count(true)).await.unwrap();
    assert_eq!((left.records, left.total), (vec![todo("Buy milk", true, 2)], Some(1)));
    assert_contract(&emu);
}

#[tokio::test]
async fn relations_trial_data_and_errors_inside_200() {
    let (emu, app) = setup().await;
    let models = app.models();
    let todos = models.model("todo");
    let a = todos.create(&todo("A", false, 1)).await.unwrap();
    let b = todos.create(&todo("B", false, 1)).await.unwrap();
    let comments = models.model("comment");
    comments.create(&json!({"text": "looks good", "todo_id": a})).await.unwrap();
    comments.create(&json!({"text": "needs work", "todo_id": b})).await.unwrap();

    let good = todos
        .list::<Value>(
            ListQuery::new()
                .relate_where("comments", Where::search("text", "good"))
                .select(Select::fields(["title"]).relation("comments", Select::fields(["text"]))),
        )
        .await
        .unwrap();
    assert_eq!(good.records.len(), 1);
    assert_eq!(good.records[0]["title"], json!("A"));
    assert_eq!(good.records[0]["comments"][0]["text"], json!("looks good"));

    // Trial data is separate.
    let trial = models.clone().env_type(EnvType::Pre).model("todo");
    assert!(trial.list::<Todo>(ListQuery::new()).await.unwrap().records.is_empty());
    trial.create(&todo("trial", false, 0)).await.unwrap();
    assert_eq!(trial.list::<Todo>(ListQuery::new()).await.unwrap().records.len(), 1);
    assert_eq!(todos.list::<Todo>(ListQuery::new()).await.unwrap().records.len(), 2);

    // The service's errors come with HTTP 200; they are `Error::Service` with code and request id.
    let unknown = models.model("nope").list::<Value>(ListQuery::new()).await;
    match unknown {
        Err(Error::Service(e)) => {
            assert_eq!((e.code.as_str(), e.status), ("DATASOURCE_NOT_EXIST", Some(200)));
            assert!(e.request_id.is_some());
        }
        other => panic!("expected a service error, got {other:?}"),
    }
    let missing_title = todos.create(&json!({"done": true})).await;
    assert!(
        matches!(&missing_title, Err(Error::Service(e)) if e.code.as_str() == "INVALID_PARAMETER"),
        "{missing_title:?}"
    );
    let exchange = emu.exchanges().into_iter().find(|x| x.path.contains("/nope/")).expect("sent");
    assert_eq!(exchange.status, 200);
    assert_contract(&emu);
}

#[tokio::test]
async fn mysql_command_binds_every_parameter_type() {
    let (emu, app) = setup().await;
    let models = app.models();
    let paid = models
        .mysql_command::<Value>(
            "select id, total from orders where status = {{ s }} and id in {{ ids }} and total >= {{ min }} order by id",
            [SqlParam::string("s", "paid"), SqlParam::array("ids", &[1, 3]), SqlParam::float("min", 1.0)],
        )
        .await
        .unwrap();
    assert_eq!(paid.rows, vec![json!({"id": 1, "total": 9.5}), json!({"id": 3, "total": 1.0})]);
    assert_eq!(paid.total, Some(2));
    assert!(paid.backend_execute_ms.is_some());
    let changed = models
        .mysql_command::<Value>(
            "update orders set status = {{ s }} where id = {{ id }} and {{ yes }}",
            [SqlParam::string("s", "refunded"), SqlParam::int("id", 2), SqlParam::bool("yes", true)],
        )
        .await
        .unwrap();
    assert_eq!(changed.total, Some(1));
    let json_param =
        models.mysql_command::<Value>("select {{ o }} as o", [SqlParam::object("o", &json!({"k": 1}))]).await.unwrap();
    assert_eq!(json_param.rows[0]["o"], json!("{\"k\":1}"));
    // An injection attempt is a bound value.
    let none = models
        .mysql_command::<Value>("select * from orders where status = {{ s }}", [SqlParam::string("s", "x' OR '1'='1")])
        .await
        .unwrap();
    assert!(none.rows.is_empty());
    let refused = models.mysql_command::<Value>("select * from orders where id = {{ id }}", []).await;
    assert!(matches!(refused, Err(Error::InvalidInput { field: "parameter", .. })));
    let nan = models.mysql_command::<Value>("select {{ x }}", [SqlParam::float("x", f64::NAN)]).await;
    assert!(matches!(nan, Err(Error::InvalidInput { .. })));
    let two = models.mysql_command::<Value>("select 1; drop table orders", []).await;
    assert!(matches!(&two, Err(Error::Service(e)) if e.status == Some(200)), "{two:?}");
    let still = models.mysql_command::<Value>("select count(*) as n from orders", []).await.unwrap();
    assert_eq!(still.rows[0]["n"], json!(3));
    assert_contract(&emu);
}

#[tokio::test]
async fn the_seven_data_source_queries() {
    let (emu, app) = setup().await;
    let models = app.models();
    let all = models.get_aggregate_data_source_list(AggregateListOptions::new(10)).await.unwrap();
    assert_eq!(all.count, Some(2));
    let names: Vec<_> = all.rows.iter().filter_map(|r| r.name.clone()).collect();
    assert!(names.contains(&"todo".to_owned()) && names.contains(&"comment".to_owned()), "{names:?}");
    let only = models.get_aggregate_data_source_list(AggregateListOptions::new(10).names(["todo"])).await.unwrap();
    assert_eq!(only.rows.len(), 1);
    let detail = models.get_data_source_aggregate_detail(DataSourceRef::Name("todo".into())).await.unwrap();
    assert_eq!(detail.name.as_deref(), Some("todo"));
    assert!(detail.schema.as_deref().unwrap_or_default().contains("title"));
    let by_id = models.get_basic_data_source(DataSourceRef::Id(detail.id.clone().unwrap())).await.unwrap();
    assert_eq!(by_id.name.as_deref(), Some("todo"));
    let basic = models.get_basic_data_source_list(BasicListOptions::new().names(["comment"])).await.unwrap();
    assert_eq!(basic.data_source_list.len(), 1);
    let tables = models.get_table_name("todo").await.unwrap();
    assert!(!tables.table_name.unwrap_or_default().is_empty());
    let by_table = models.get_data_source_by_table_name(["nope"]).await.unwrap();
    assert!(by_table.is_empty() || by_table.iter().all(|t| t.name.as_deref() != Some("todo")));
    let schemas = models.get_schema_list(["todo"]).await.unwrap();
    assert_eq!(schemas.len(), 1);
    let missing = models.get_data_source_aggregate_detail(DataSourceRef::Name("nope".into())).await;
    assert!(matches!(missing, Err(Error::Service(_))));
    assert_contract(&emu);
}

#[tokio::test]
async fn bad_input_is_refused_before_sending() {
    let (emu, app) = setup().await;
    let todos = app.models().model("todo");
    let before = emu.requests().len();
    let four = ListQuery::new().order_by("a", true).order_by("b", true).order_by("c", true).order_by("d", true);
    let refused: Vec<(&str, Result<(), Error>)> = vec![
        ("order_by of 4", todos.list::<Value>(four).await.map(drop)),
        ("page size 0", todos.list::<Value>(ListQuery::new().page_size(0)).await.map(drop)),
        ("page size 201", todos.list::<Value>(ListQuery::new().page_size(201)).await.map(drop)),
        ("page 0", todos.list::<Value>(ListQuery::new().page_number(0)).await.map(drop)),
        ("simple page size", todos.list_simple::<Value>(500, 1, false).await.map(drop)),
        ("bad field", todos.list::<Value>(ListQuery::new().where_(Where::eq("a.b", 1))).await.map(drop)),
        ("bad select", todos.get::<Value>(Query::new().select(Select::fields(["x y"]))).await.map(drop)),
        ("empty or", todos.delete_many(Where::or([])).await.map(drop)),
        ("record not an object", todos.create(&[1, 2]).await.map(drop)),
        ("no records", todos.create_many::<Todo>(&[]).await.map(drop)),
        ("bad model name", app.models().model("no such/model").create(&json!({"a": 1})).await.map(drop)),
        ("empty id", todos.get_by_id::<Value>("").await.map(drop)),
        ("empty template", app.models().mysql_command::<Value>(" ", []).await.map(drop)),
        ("unclosed placeholder", app.models().mysql_command::<Value>("select {{ a", []).await.map(drop)),
        ("no table names", app.models().get_data_source_by_table_name(Vec::<String>::new()).await.map(drop)),
    ];
    for (what, result) in refused {
        assert!(matches!(result, Err(Error::InvalidInput { .. })), "{what}: {result:?}");
    }
    assert_eq!(emu.requests().len(), before, "nothing was sent");
}
