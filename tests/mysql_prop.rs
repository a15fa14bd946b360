//! Properties of the MySQL query builder against the emulator's SQLite: random filters (comparisons, `like`,
//! `ilike`, `in`, `is`, `not`, nested `or`/`and`/`not` groups, values full of `,()."%\:` and unicode) select
//! exactly the rows a plain Rust evaluation of the same filter selects (SQL's three-valued logic included);
//! and SQL injection through values, columns and table names leaves the database unchanged.
#![cfg(feature = "contract")]

mod common;

use cloudbase::CloudBase;
use cloudbase::mysql::{Filterable, Group, Order};
use cloudbase_emulator::{Emulator, EmulatorHandle};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Deserialize;
use serde_json::Value;

/// Text values: the grammar's own characters, quotes, wildcards, unicode, the empty string.
const TEXTS: &[&str] = &[
    "plain",
    "Bob, Jr.",
    "(paren)",
    "a.b",
    "quote\"d",
    "50% off",
    "back\\slash",
    "中文",
    "Zoë",
    "",
    "comma,dot.",
    "x_y",
    "colon:ed",
    "a*b",
    "  spaced ",
    "ABC",
    "abc",
];

#[derive(Clone, Debug, PartialEq)]
struct Row {
    id: i64,
    n: Option<i64>,
    s: Option<String>,
}

#[derive(Clone, Copy, Debug)]
enum Cmp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Clone, Debug)]
enum Leaf {
    N(Cmp, i64),
    NIn(Vec<i64>),
    NNull,
    S(Cmp, String),
    SLike(String),
    SIlike(String),
    SIn(Vec<String>),
    SNull,
}

#[derive(Clone, Debug)]
enum F {
    Leaf { leaf: Leaf, negated: bool },
    Group { or: bool, negated: bool, items: Vec<F> },
}

fn rows() -> Vec<Row> {
    (0..48)
        .map(|i: i64| Row {
            id: i + 1,
            n: if i % 7 == 3 { None } else { Some((i * 5) % 13 - 3) },
            s: if i % 11 == 5 { None } else { Some(TEXTS[(i as usize * 3) % TEXTS.len()].to_owned()) },
        })
        .collect()
}

fn seed_sql(rows: &[Row]) -> String {
    let mut sql = String::from(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT);\n\
         CREATE TABLE secrets (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO secrets VALUES (1, 'keep me');\n",
    );
    for row in rows {
        let n = row.n.map_or("NULL".to_owned(), |n| n.to_string());
        let s = row.s.as_ref().map_or("NULL".to_owned(), |s| format!("'{}'", s.replace('\'', "''")));
        sql.push_str(&format!("INSERT INTO t VALUES ({}, {n}, {s});\n", row.id));
    }
    sql
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![proptest::sample::select(TEXTS).prop_map(str::to_owned), "[a-c%_,()\\.\"é中 ]{0,4}",]
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(TEXTS).prop_map(|t| format!("%{}%", t.chars().take(2).collect::<String>())),
        "[a-cA-C%_,()\\.\"Zé中 ]{0,4}",
    ]
}

fn cmp() -> impl Strategy<Value = Cmp> {
    prop_oneof![Just(Cmp::Eq), Just(Cmp::Neq), Just(Cmp::Gt), Just(Cmp::Gte), Just(Cmp::Lt), Just(Cmp::Lte)]
}

fn leaf() -> impl Strategy<Value = Leaf> {
    prop_oneof![
        (cmp(), -4i64..11).prop_map(|(c, v)| Leaf::N(c, v)),
        proptest::collection::vec(-4i64..11, 1..4).prop_map(Leaf::NIn),
        Just(Leaf::NNull),
        (cmp(), text()).prop_map(|(c, v)| Leaf::S(c, v)),
        pattern().prop_map(Leaf::SLike),
        pattern().prop_map(Leaf::SIlike),
        proptest::collection::vec(text(), 1..4).prop_map(Leaf::SIn),
        Just(Leaf::SNull),
    ]
}

fn filter() -> impl Strategy<Value = F> {
    let leaf = (leaf(), proptest::bool::weighted(0.25)).prop_map(|(leaf, negated)| F::Leaf { leaf, negated });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (any::<bool>(), proptest::bool::weighted(0.3), proptest::collection::vec(inner, 1..4))
            .prop_map(|(or, negated, items)| F::Group { or, negated, items })
    })
}

// ---- the plain Rust evaluation, with SQL's three-valued logic (`None` is unknown) ----

fn compare<T: Ord>(c: Cmp, a: &T, b: &T) -> bool {
    match c {
        Cmp::Eq => a == b,
        Cmp::Neq => a != b,
        Cmp::Gt => a > b,
        Cmp::Gte => a >= b,
        Cmp::Lt => a < b,
        Cmp::Lte => a <= b,
    }
}

/// SQL `LIKE`: `%` any run of characters, `_` one character (the emulator reads `*` as `%`, as PostgREST).
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().map(|c| if c == '*' { '%' } else { c }).collect();
    // dp[i][j]: t[..i] matches p[..j]
    let mut dp = vec![vec![false; p.len() + 1]; t.len() + 1];
    dp[0][0] = true;
    for j in 1..=p.len() {
        dp[0][j] = dp[0][j - 1] && p[j - 1] == '%';
    }
    for i in 1..=t.len() {
        for j in 1..=p.len() {
            dp[i][j] = match p[j - 1] {
                '%' => dp[i][j - 1] || dp[i - 1][j],
                '_' => dp[i - 1][j - 1],
                c => dp[i - 1][j - 1] && t[i - 1] == c,
            };
        }
    }
    dp[t.len()][p.len()]
}

fn eval_leaf(row: &Row, leaf: &Leaf) -> Option<bool> {
    match leaf {
        Leaf::N(c, v) => row.n.map(|n| compare(*c, &n, v)),
        Leaf::NIn(vs) => row.n.map(|n| vs.contains(&n)),
        Leaf::NNull => Some(row.n.is_none()),
        Leaf::S(c, v) => row.s.as_ref().map(|s| compare(*c, &s.as_str(), &v.as_str())),
        Leaf::SLike(p) => row.s.as_ref().map(|s| like(s, p)),
        Leaf::SIlike(p) => row.s.as_ref().map(|s| like(&s.to_lowercase(), &p.to_lowercase())),
        Leaf::SIn(vs) => row.s.as_ref().map(|s| vs.contains(s)),
        Leaf::SNull => Some(row.s.is_none()),
    }
}

fn eval(row: &Row, f: &F) -> Option<bool> {
    match f {
        F::Leaf { leaf, negated } => eval_leaf(row, leaf).map(|b| b != *negated),
        F::Group { or, negated, items } => {
            let values: Vec<Option<bool>> = items.iter().map(|i| eval(row, i)).collect();
            let decided = if *or { Some(true) } else { Some(false) };
            let joined = if values.contains(&decided) {
                decided
            } else if values.contains(&None) {
                None
            } else {
                decided.map(|b| !b)
            };
            joined.map(|b| b != *negated)
        }
    }
}

// ---- the same filter through the builder ----

fn apply<B: Filterable>(builder: B, f: &F) -> B {
    match f {
        F::Leaf { leaf, negated: false } => match leaf {
            Leaf::N(c, v) => cmp_filter(builder, "n", *c, *v),
            Leaf::NIn(vs) => builder.in_("n", vs.iter().copied()),
            Leaf::NNull => builder.is_null("n"),
            Leaf::S(c, v) => cmp_filter(builder, "s", *c, v.as_str()),
            Leaf::SLike(p) => builder.like("s", p.as_str()),
            Leaf::SIlike(p) => builder.ilike("s", p.as_str()),
            Leaf::SIn(vs) => builder.in_("s", vs.iter().map(String::as_str)),
            Leaf::SNull => builder.is_null("s"),
        },
        F::Leaf { leaf, negated: true } => {
            use cloudbase::mysql::Op;
            match leaf {
                Leaf::N(c, v) => builder.not("n", op(*c), *v),
                Leaf::NIn(vs) => builder.not_in("n", vs.iter().copied()),
                Leaf::NNull => builder.is_not_null("n"),
                Leaf::S(c, v) => builder.not("s", op(*c), v.as_str()),
                Leaf::SLike(p) => builder.not("s", Op::Like, p.as_str()),
                Leaf::SIlike(p) => builder.not("s", Op::Ilike, p.as_str()),
                Leaf::SIn(vs) => builder.not_in("s", vs.iter().map(String::as_str)),
                Leaf::SNull => builder.is_not_null("s"),
            }
        }
        F::Group { or, negated, items } => {
            let build = |g: Group| items.iter().fold(g, apply);
            match (or, negated) {
                (true, false) => builder.or(build),
                (false, false) => builder.and(build),
                (true, true) => builder.not_or(build),
                (false, true) => builder.not_and(build),
            }
        }
    }
}

fn op(c: Cmp) -> cloudbase::mysql::Op {
    use cloudbase::mysql::Op;
    match c {
        Cmp::Eq => Op::Eq,
        Cmp::Neq => Op::Neq,
        Cmp::Gt => Op::Gt,
        Cmp::Gte => Op::Gte,
        Cmp::Lt => Op::Lt,
        Cmp::Lte => Op::Lte,
    }
}

fn cmp_filter<B: Filterable>(builder: B, column: &str, c: Cmp, value: impl Into<cloudbase::mysql::Literal>) -> B {
    builder.filter(column, op(c), value)
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

async fn setup(rows: &[Row]) -> (EmulatorHandle, CloudBase) {
    let emu = Emulator::builder().sql(seed_sql(rows)).start().await.expect("emulator starts");
    let app = common::builder(&emu).build().unwrap();
    app.auth().sign_in_anonymously().await.unwrap();
    (emu, app)
}

#[test]
fn random_filters_select_what_a_plain_rust_evaluation_selects() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let data = rows();
    let (emu, app) = rt.block_on(setup(&data));
    let config = Config { cases: 96, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let strategy = proptest::collection::vec(filter(), 1..3);
    // Cases that select some rows but not all: the property must not hold only vacuously.
    let discriminating = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&strategy, |filters| {
            let select = app.mysql().from("t").select("id").order("id", Order::Asc);
            let select = filters.iter().fold(select, apply);
            let got: Vec<i64> = rt
                .block_on(select.execute::<Id>())
                .map_err(|e| TestCaseError::fail(format!("{e}")))?
                .rows
                .into_iter()
                .map(|r| r.id)
                .collect();
            let expected: Vec<i64> = data
                .iter()
                .filter(|row| filters.iter().all(|f| eval(row, f) == Some(true)))
                .map(|row| row.id)
                .collect();
            if !expected.is_empty() && expected.len() < data.len() {
                discriminating.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            prop_assert_eq!(got, expected, "filters: {:?}", filters);
            Ok(())
        })
        .unwrap();
    let discriminating = discriminating.into_inner();
    assert!(discriminating >= 30, "only {discriminating} of 96 cases selected some but not all rows");
    common::assert_contract(&emu);
}

/// Row count of `t` and the sentinel row, read through the API.
async fn state(app: &CloudBase) -> (u64, Value) {
    let count = app.mysql().from("t").count().await.unwrap();
    let secret = app.mysql().from("secrets").select("v").eq("id", 1).single::<Value>().await.unwrap();
    (count, secret)
}

const ATTACKS: &[&str] = &[
    "'; DROP TABLE secrets; --",
    "1 OR 1=1",
    "1); DELETE FROM t; --",
    "\") OR (\"1\"=\"1",
    "' UNION SELECT v FROM secrets --",
    "%' OR '1'='1",
    "x\\'; UPDATE t SET s = 'owned'; --",
    "(select count(*) from secrets)",
];

#[test]
fn sql_injection_through_values_columns_and_tables_changes_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let data = rows();
    let (emu, app) = rt.block_on(setup(&data));
    rt.block_on(async {
        let before = state(&app).await;
        assert_eq!(before.0, data.len() as u64);
        let t = || app.mysql().from("t");
        for attack in ATTACKS {
            // Values travel to the service: they are bound, never spliced, so they match nothing.
            let hits = t().select("id").eq("s", *attack).execute::<Id>().await.unwrap().rows;
            assert!(hits.is_empty(), "{attack}");
            t().select("id").like("s", *attack).execute::<Id>().await.unwrap();
            t().select("id").in_("s", [*attack, "plain"]).execute::<Id>().await.unwrap();
            t().select("id").or(|g| g.eq("s", *attack).neq("n", *attack)).execute::<Id>().await.unwrap();
            let updated = t().update(&serde_json::json!({"s": "x"})).eq("s", *attack).send().await.unwrap();
            assert_eq!(updated.affected, Some(0), "{attack}");
            t().delete().eq("s", *attack).send().await.unwrap();
            // Names are refused before sending...
            assert!(matches!(
                t().select("id").eq(attack, 1).execute::<Id>().await,
                Err(cloudbase::Error::InvalidInput { .. })
            ));
            assert!(matches!(
                app.mysql().from(*attack).select("*").execute::<Id>().await,
                Err(cloudbase::Error::InvalidInput { .. })
            ));
            assert!(matches!(t().select(*attack).execute::<Id>().await, Err(cloudbase::Error::InvalidInput { .. })));
            // ...and the service refuses them too when sent anyway.
            let client = reqwest::Client::new();
            let token = app.auth().get_session().await.unwrap().unwrap().access_token;
            let encoded: String = url::form_urlencoded::byte_serialize(attack.as_bytes()).collect();
            for url in [
                format!("{}/v1/rdb/rest/t?{encoded}=eq.1", emu.url()),
                format!("{}/v1/rdb/rest/t?select={encoded}", emu.url()),
                format!("{}/v1/rdb/rest/t?order={encoded}", emu.url()),
                format!(
                    "{}/v1/rdb/rest/{}",
                    emu.url(),
                    attack.replace('/', "%2F").replace(' ', "%20").replace('#', "%23").replace('?', "%3F")
                ),
            ] {
                let reply = client.get(&url).bearer_auth(token.expose_secret()).send().await.unwrap();
                assert!(reply.status().is_client_error(), "{url}: {}", reply.status());
            }
            assert_eq!(state(&app).await, before, "after {attack}");
        }
    });
}
