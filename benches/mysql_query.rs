//! What the MySQL facade costs, against raw reqwest + serde_json in the same run.
//!
//! ```text
//! cargo bench --bench mysql_query            # full run
//! cargo bench --bench mysql_query -- --quick # a rough figure in seconds
//! ```
//!
//! * `rows10k/sdk_execute_typed` and `rows10k/raw_reqwest_serde`: a query answered with the same 10,000-row
//!   JSON reply (about 1 MB, made once by the emulator from SQLite and then served as fixed bytes by a
//!   loopback axum server, so the server's work is identical and small): the SDK's
//!   `from("players").select(..).eq(..).execute::<Player>()` against a bare reqwest GET of the same URL and
//!   query decoded with `serde_json::from_slice::<Vec<Player>>`. `sdk / raw` is the facade's cost on a big read.
//! * `rows10k_emulator/sdk_execute_typed` and `rows10k_emulator/raw_reqwest_serde`: the same two, against the
//!   emulator itself (SQLite query and JSON encoding included on both sides).
//! * `encode/filters20`: building a query with 20 conditions (15 top-level filters: comparisons, `in`,
//!   `like`, an `or` holding an `and`, a `not.or`, values needing quotes) and encoding its query parameters (`Select::encoded`), no I/O.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use cloudbase::CloudBase;
use cloudbase::mysql::{Filterable as _, Order};
use cloudbase_emulator::Emulator;
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;

const ROWS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Player {
    id: i64,
    name: String,
    score: i64,
    guild: Option<String>,
    active: i64,
}

fn seed() -> String {
    let mut sql = String::from(
        "CREATE TABLE players (id INTEGER PRIMARY KEY, name TEXT, score INTEGER, guild TEXT, active INTEGER);\nINSERT INTO players VALUES ",
    );
    for i in 0..ROWS {
        let guild = if i % 3 == 0 { "NULL".to_owned() } else { format!("'guild-{}'", i % 17) };
        sql.push_str(&format!(
            "{}({i}, 'player number {i}', {}, {guild}, 1)",
            if i == 0 { "" } else { "," },
            i * 7 % 1000
        ));
    }
    sql.push(';');
    sql
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let (emu, _token, body) = rt.block_on(async {
        let emu = Emulator::builder().sql(seed()).start().await.expect("emulator");
        let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).build().expect("app");
        let session = app.auth().sign_in_anonymously().await.expect("sign-in");
        let token = session.access_token.expose_secret().to_owned();
        let url = format!("{}/v1/rdb/rest/players?active=eq.1&select=id,name,score,guild,active", emu.url());
        let reply = reqwest::Client::new().get(url).bearer_auth(&token).send().await.expect("query");
        (emu, token, reply.bytes().await.expect("body"))
    });
    let rows: Vec<Player> = serde_json::from_slice(&body).expect("rows");
    assert_eq!(rows.len(), ROWS);

    // A fixed-reply server: the same bytes for every request, so only the clients differ.
    let fixed = rt.block_on(async {
        let body = body.clone();
        let app = Router::new().route(
            "/v1/rdb/rest/players",
            get(move || {
                let body = body.clone();
                async move { ([("content-type", "application/json; charset=utf-8")], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    });

    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    for (group, base) in [("rows10k", fixed.clone()), ("rows10k_emulator", emu.url())] {
        let app = CloudBase::builder(emu.env_id()).base_url(&base).http_client(http.clone()).build().expect("app");
        // On the emulator both sides carry a user's token; the fixed server needs none, so neither sends one.
        let bearer = if base == fixed {
            None
        } else {
            let session = rt.block_on(app.auth().sign_in_anonymously()).expect("sign-in");
            Some(session.access_token.expose_secret().to_owned())
        };
        let mut g = c.benchmark_group(group);
        g.sample_size(20);
        g.bench_function("sdk_execute_typed", |b| {
            b.to_async(&rt).iter(|| async {
                let page = app
                    .mysql()
                    .from("players")
                    .select("id,name,score,guild,active")
                    .eq("active", 1)
                    .execute::<Player>()
                    .await
                    .expect("execute");
                assert_eq!(page.rows.len(), ROWS);
            });
        });
        let url = format!("{base}/v1/rdb/rest/players");
        g.bench_function("raw_reqwest_serde", |b| {
            b.to_async(&rt).iter(|| async {
                let mut request = http
                    .get(&url)
                    .query(&[("active", "eq.1"), ("select", "id,name,score,guild,active")])
                    .header("x-request-id", uuid::Uuid::new_v4().simple().to_string());
                if let Some(token) = &bearer {
                    request = request.bearer_auth(token);
                }
                let reply = request.send().await.expect("send");
                let bytes = reply.bytes().await.expect("body");
                let rows: Vec<Player> = serde_json::from_slice(&bytes).expect("rows");
                assert_eq!(rows.len(), ROWS);
            });
        });
        g.finish();
    }

    let app = CloudBase::builder("bench-env").build().expect("app");
    c.bench_function("encode/filters20", |b| {
        b.iter(|| {
            let query = app
                .mysql()
                .from("players")
                .select("id,name,score")
                .eq("guild", "Bob, Jr. (the \"second\")")
                .neq("name", "x")
                .gt("score", 10)
                .gte("score", 11)
                .lt("score", 900)
                .lte("score", 901)
                .like("name", "player%")
                .ilike("name", "%NUMBER 1%")
                .in_("id", [1, 2, 3, 4, 5, 6, 7, 8])
                .not_in("guild", ["a,b", "c(d)", "e.f"])
                .is_not_null("guild")
                .or(|g| g.eq("active", 1).and(|g| g.lt("score", 5).like("name", "%,%")))
                .not_or(|g| g.eq("name", "中文").eq("name", "Zoë"))
                .eq("active", 1)
                .neq("score", 13)
                .order("score", Order::Desc);
            std::hint::black_box(query.encoded().expect("encoded").to_string())
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
