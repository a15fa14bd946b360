//! What the SDK costs per call, measured against a raw `reqwest` call to the same loopback server in the same
//! run.
//!
//! ```text
//! cargo bench --bench overhead            # full run (under a minute)
//! cargo bench --bench overhead -- --quick # a rough figure in a few seconds
//! ```
//!
//! One emulator is started on `127.0.0.1`, one user signed in once, then:
//!
//! * `per_call/sdk_get_user`: [`Auth::get_user`](cloudbase::Auth::get_user): the refresh check, the call
//!   hooks, `GET /auth/v1/user/me`, decoding, mapping to a `User`, and comparing it with the cached one (an
//!   unchanged user is not written to the store again);
//! * `per_call/raw_reqwest`: a bare `reqwest` GET of the same URL with the headers the SDK sends
//!   (`Authorization: Bearer <token>`, a fresh `x-request-id`, `x-device-id`, `x-sdk-version`,
//!   `accept-language`, so the server's work is the same), decoded to a `serde_json::Value`: the floor any
//!   client pays;
//! * `per_call/raw_generated`: the spec-generated client (`cloudbase::raw::auth::Client::get_user_me`) with a
//!   `raw::Context` carrying the same token: hooks and typed decoding, no session logic;
//! * `concurrent64/sdk_get_user` and `concurrent64/raw_reqwest`: 64 tasks at once, each making one call, on
//!   one app (one shared session) and on raw reqwest: `raw / sdk` is the SDK's throughput ratio;
//! * `call_function/sdk` and `call_function/raw_reqwest`: `app.call_function("echo").data(&event).send_json()`
//!   against a raw reqwest POST of the same event to the same URL, decoded to a `serde_json::Value`; and the
//!   same with 64 tasks at once (`call_function_concurrent64`);
//! * `refresh/get_session_x1`, `_x100` and `_x1000`: one caller, then 100 and 1,000 concurrent tasks, asking
//!   `get_session()` of an app whose stored session is about to expire. The SDK refreshes once (single
//!   flight) and every caller gets the new session; the setup checks that exactly one `grant_token` call
//!   reached the server per iteration. Building the app (untimed) is done outside the measurement.
//!   The session is made "about to expire" by storing it with 30 s left, inside the default 60 s margin.
//!
//! All three per-call benchmarks share one `reqwest::Client` (one connection pool, HTTP/1.1 keep-alive), and
//! the server runs on the same one-thread Tokio runtime as the clients, so its time is in every figure.
//!
//! # Reading the figures
//!
//! * `sdk_get_user / raw_reqwest` is the ratio the SDK costs over the cheapest possible call. Both sides
//!   include the same server and loopback time, so the ratio understates the SDK's own cost relative to the
//!   client work alone; the **difference** `sdk_get_user - raw_reqwest` is the absolute overhead per call,
//!   the number to compare with a real network round trip (tens of milliseconds to a CloudBase gateway).
//! * `raw_generated - raw_reqwest` is the cost of the generated layer (request id, headers, typed decoding);
//!   `sdk_get_user - raw_generated` is the facade's own cost (session check, lock, store write, mapping).
//! * `get_session_x100 / get_session_x1` (and `_x1000`) shows what the extra callers add to one refresh: near 1 means the
//!   waiters cost little besides the refresh itself; near 100 would mean each caller refreshed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cloudbase::raw::{Context, auth::Client as RawClient};
use cloudbase::{CloudBase, MemoryStore, Secret, Session, SessionStore, SignInWithPassword};
use cloudbase_emulator::{Emulator, EmulatorHandle, FunctionReply, NewUser};
use criterion::{Criterion, criterion_group, criterion_main};

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "Bench-Passw0rd";
/// Concurrent callers in the refresh storms.
const STORMS: [usize; 2] = [100, 1000];
/// Concurrent tasks in the throughput comparison.
const TASKS: usize = 64;

struct Fixture {
    emu: EmulatorHandle,
    http: reqwest::Client,
}

impl Fixture {
    fn app(&self) -> cloudbase::CloudBaseBuilder {
        CloudBase::builder(self.emu.env_id()).base_url(self.emu.url()).http_client(self.http.clone())
    }
}

/// One thread for clients and server alike: no cross-thread wake-ups, whose cost on a busy 2-core machine
/// varies from run to run far more than anything measured here. (The SDK's store lock still hops to Tokio's
/// blocking pool; that hop is part of its cost.)
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// What the SDK sends on every call besides the body: the raw baseline sends the same, so the server does
/// the same work for both and the difference is the client's.
fn same_headers(bearer: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    let pairs = [
        ("authorization", bearer.to_owned()),
        ("x-request-id", uuid::Uuid::new_v4().simple().to_string()),
        ("x-device-id", "0123456789abcdef0123456789abcdef".to_owned()),
        ("x-sdk-version", concat!("cloudbase-rust/", env!("CARGO_PKG_VERSION")).to_owned()),
        ("accept-language", "zh-CN".to_owned()),
    ];
    for (name, value) in pairs {
        headers.insert(name, value.parse().expect("a header value"));
    }
    headers
}

/// An emulator with one user and the function `echo` (answers its event).
async fn emulator() -> EmulatorHandle {
    let emu = Emulator::builder()
        .function("echo", |event, _caller| async move { Ok(FunctionReply::Json(event)) })
        .start()
        .await
        .expect("emulator starts");
    emu.create_user(NewUser {
        email: Some(EMAIL.to_owned()),
        password: Some(PASSWORD.to_owned()),
        ..Default::default()
    });
    emu
}

fn per_call(c: &mut Criterion) {
    let rt = runtime();
    let (fixture, app, token) = rt.block_on(async {
        let emu = emulator().await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("reqwest client");
        let fixture = Fixture { emu, http };
        let app = fixture.app().build().expect("app");
        let session =
            app.auth().sign_in_with_password(SignInWithPassword::email(EMAIL, PASSWORD)).await.expect("sign-in");
        (fixture, app, session.access_token)
    });
    let auth = app.auth();
    let me_url = format!("{}/auth/v1/user/me", fixture.emu.url());
    let bearer = format!("Bearer {}", token.expose_secret());
    let raw = RawClient::new_with_client(&fixture.emu.url(), fixture.http.clone(), Context::new().with_bearer(token));

    let mut group = c.benchmark_group("per_call");
    group.bench_function("sdk_get_user", |b| {
        b.to_async(&rt).iter(|| async { auth.get_user().await.expect("get_user") });
    });
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let response = fixture
                .http
                .get(&me_url)
                .headers(same_headers(&bearer))
                .send()
                .await
                .expect("send")
                .error_for_status()
                .expect("200");
            response.json::<serde_json::Value>().await.expect("json")
        });
    });
    group.bench_function("raw_generated", |b| {
        b.to_async(&rt).iter(|| async { raw.get_user_me().await.expect("get_user_me").into_inner() });
    });
    group.finish();

    // 64 tasks at once on one app (one shared session) against 64 raw reqwest tasks: the same number of
    // calls in flight, so the ratio of the times is the inverse ratio of the throughputs.
    let mut group = c.benchmark_group("concurrent64");
    group.bench_function("sdk_get_user", |b| {
        b.to_async(&rt).iter(|| async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..TASKS {
                let auth = auth.clone();
                tasks.spawn(async move { auth.get_user().await.map(drop) });
            }
            while let Some(joined) = tasks.join_next().await {
                joined.expect("task").expect("get_user");
            }
        });
    });
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..TASKS {
                let (http, url, bearer) = (fixture.http.clone(), me_url.clone(), bearer.clone());
                tasks.spawn(async move {
                    let response = http.get(&url).headers(same_headers(&bearer)).send().await?;
                    response.error_for_status()?.json::<serde_json::Value>().await.map(drop)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                joined.expect("task").expect("get");
            }
        });
    });
    group.finish();

    // Cloud functions: the same event posted by the SDK and by raw reqwest to `/v1/functions/echo`.
    let event = serde_json::json!({"order": 42, "items": [1, 2, 3], "note": "bench"});
    let fn_url = format!("{}/v1/functions/echo", fixture.emu.url());
    let mut group = c.benchmark_group("call_function");
    group.bench_function("sdk", |b| {
        b.to_async(&rt).iter(|| async { app.call_function("echo").data(&event).send_json().await.expect("call") });
    });
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let response = fixture
                .http
                .post(&fn_url)
                .headers(same_headers(&bearer))
                .json(&event)
                .send()
                .await
                .expect("send")
                .error_for_status()
                .expect("200");
            response.json::<serde_json::Value>().await.expect("json")
        });
    });
    group.finish();
    let mut group = c.benchmark_group("call_function_concurrent64");
    group.bench_function("sdk", |b| {
        b.to_async(&rt).iter(|| async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..TASKS {
                let (app, event) = (app.clone(), event.clone());
                tasks.spawn(async move { app.call_function("echo").data(&event).send_json().await.map(drop) });
            }
            while let Some(joined) = tasks.join_next().await {
                joined.expect("task").expect("call");
            }
        });
    });
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..TASKS {
                let (http, url, bearer, event) = (fixture.http.clone(), fn_url.clone(), bearer.clone(), event.clone());
                tasks.spawn(async move {
                    let response = http.post(&url).headers(same_headers(&bearer)).json(&event).send().await?;
                    response.error_for_status()?.json::<serde_json::Value>().await.map(drop)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                joined.expect("task").expect("post");
            }
        });
    });
    group.finish();
    rt.block_on(fixture.emu.shutdown());
}

/// An app whose store holds `session` with its access token about to expire (30 s left, inside the default
/// 60 s refresh margin), as after a restart late in the token's life.
fn expiring_app(fixture: &Fixture, session: &Session) -> CloudBase {
    let store = MemoryStore::new();
    let mut expiring = session.clone();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    expiring.expires_at = now + 30;
    let json = serde_json::to_string(&expiring).expect("session json");
    // The documented key of the session: `credentials_<client id>` (the client id is the env id here).
    futures::executor::block_on(store.set(&format!("credentials_{}", fixture.emu.env_id()), Secret::new(json)))
        .expect("store");
    fixture.app().session_store(store).build().expect("app")
}

fn refresh(c: &mut Criterion) {
    let rt = runtime();
    let (fixture, first) = rt.block_on(async {
        let emu = emulator().await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("reqwest client");
        let fixture = Fixture { emu, http };
        let app = fixture.app().build().expect("app");
        let session =
            app.auth().sign_in_with_password(SignInWithPassword::email(EMAIL, PASSWORD)).await.expect("sign-in");
        (fixture, session)
    });
    // Each refresh rotates the refresh token: every iteration starts from the previous one's session.
    let latest = Arc::new(Mutex::new(first));

    let mut group = c.benchmark_group("refresh");
    for callers in [1, STORMS[0], STORMS[1]] {
        group.bench_function(format!("get_session_x{callers}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (fixture, latest) = (&fixture, Arc::clone(&latest));
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let app = expiring_app(fixture, &latest.lock().expect("lock").clone());
                        let auth = app.auth();
                        let grants_before = fixture.emu.count("grant_token");
                        let started = Instant::now();
                        let mut tasks = tokio::task::JoinSet::new();
                        for _ in 0..callers {
                            let auth = auth.clone();
                            tasks.spawn(async move { auth.get_session().await });
                        }
                        let mut sessions = Vec::with_capacity(callers);
                        while let Some(joined) = tasks.join_next().await {
                            sessions.push(joined.expect("task").expect("get_session").expect("a session"));
                        }
                        total += started.elapsed();
                        assert_eq!(fixture.emu.count("grant_token") - grants_before, 1, "one refresh per storm");
                        let fresh = sessions.pop().expect("sessions");
                        assert!(sessions.iter().all(|s| s.refresh_token == fresh.refresh_token), "one session");
                        *latest.lock().expect("lock") = fresh;
                    }
                    total
                }
            });
        });
    }
    group.finish();
    rt.block_on(fixture.emu.shutdown());
}

criterion_group! {
    name = benches;
    // Small samples: the machine has 2 cores and is shared.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = per_call, refresh
}
criterion_main!(benches);
