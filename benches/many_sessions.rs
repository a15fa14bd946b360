//! Many users in one process: what a session scope costs idle and signed in, how fast they are built and
//! signed in, and that refreshing all of them makes exactly one token request each. The emulator runs in a
//! child process (this binary, re-run with `--emulator`), so the figures are the client's alone.
//!
//! ```text
//! cargo bench --bench many_sessions                              # N = 100,000 scopes, 10,000 signed in
//! MANY_N=20000 MANY_SIGNED=2000 cargo bench --bench many_sessions
//! ```
//!
//! Memory is the process's resident set (`VmRSS`, Linux) before and after each phase, divided by the number of
//! sessions; for signed-in sessions the bytes of the token strings themselves are reported apart.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cloudbase::{CloudBase, MemoryStore, SessionStore as _};
use cloudbase_emulator::{Emulator, EmulatorConfig};
use futures::StreamExt as _;

/// The access-token lifetime the emulator gives, so the refresh phase comes soon after the sign-ins.
const TTL: Duration = Duration::from_secs(20);
const SIGN_IN_CONCURRENCY: usize = 64;
const REFRESH_CONCURRENCY: usize = 256;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn emulator_child() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    rt.block_on(async {
        let config = EmulatorConfig { access_token_ttl: TTL, ..Default::default() };
        let emu = Emulator::start_with(config).await.expect("emulator");
        println!("{} {}", emu.url(), emu.env_id());
        // Serve until the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .expect("stdin");
    });
}

async fn grants(http: &reqwest::Client, url: &str) -> usize {
    let requests: Vec<serde_json::Value> =
        http.get(format!("{url}/_emulator/requests")).send().await.expect("requests").json().await.expect("json");
    requests.iter().filter(|r| r["operation_id"] == "grant_token").count()
}

fn main() {
    if std::env::args().any(|a| a == "--emulator") {
        return emulator_child();
    }
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let (n, signed) = (env_usize("MANY_N", 100_000), env_usize("MANY_SIGNED", 10_000));
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .arg("--emulator")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("emulator child");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the emulator's URL");
    let mut words = line.split_whitespace();
    let (url, env_id) = (words.next().expect("url").to_owned(), words.next().expect("env").to_owned());

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    rt.block_on(async move {
        let http = reqwest::Client::new();
        let store = MemoryStore::new();
        let app = CloudBase::builder(&env_id)
            .base_url(&url)
            .timeout(Duration::from_secs(60))
            .session_store(store.clone())
            .build()
            .expect("app");
        let start_rss = rss_kib();
        let started = Instant::now();
        let scopes: Vec<CloudBase> = (0..n).map(|i| app.session_scope(&format!("user-{i}")).expect("scope")).collect();
        let build = started.elapsed();
        let idle_rss = rss_kib();
        let tasks_idle = tokio::runtime::Handle::current().metrics().num_alive_tasks();

        let started = Instant::now();
        let sessions: Vec<cloudbase::Session> = futures::stream::iter(&scopes[..signed])
            .map(|scope| async move { scope.auth().sign_in_anonymously().await.expect("sign-in") })
            .buffer_unordered(SIGN_IN_CONCURRENCY)
            .collect()
            .await;
        let sign_in = started.elapsed();
        let signed_rss = rss_kib();
        let token_bytes: usize = sessions
            .iter()
            .map(|s| {
                s.access_token.expose_secret().len() + s.refresh_token.as_ref().map_or(0, |t| t.expose_secret().len())
            })
            .sum();
        drop(sessions);
        // What the in-memory store holds per signed-in user: the stored session (JSON) and the device id.
        let mut stored_bytes = 0usize;
        for i in 0..signed {
            for key in [format!("credentials_{env_id}@user-{i}"), format!("device_id@user-{i}")] {
                stored_bytes +=
                    store.get(&key).await.expect("store").map_or(0, |v| v.expose_secret().len() + key.len());
            }
        }

        // Wait until every session is inside its refresh margin (half its life), then refresh them all.
        tokio::time::sleep(TTL / 2 + Duration::from_secs(1)).await;
        let before = grants(&http, &url).await;
        let started = Instant::now();
        let refreshed = futures::stream::iter(&scopes[..signed])
            .map(|scope| async move { scope.auth().get_session().await.expect("refresh").is_some() })
            .buffer_unordered(REFRESH_CONCURRENCY)
            .filter(|ok| futures::future::ready(*ok))
            .count()
            .await;
        let refresh = started.elapsed();
        let token_requests = grants(&http, &url).await - before;
        let tasks_after = tokio::runtime::Handle::current().metrics().num_alive_tasks();

        let per = |kib: i64, count: usize| kib as f64 * 1024.0 / count as f64;
        println!("sessions built:        {n}");
        println!("  time per build:      {:.2} us", build.as_secs_f64() * 1e6 / n as f64);
        println!("  memory per idle:     {:.0} B", per(idle_rss - start_rss, n));
        println!("  tasks alive (idle):  {tasks_idle}");
        println!("signed in (anonymous): {signed} ({SIGN_IN_CONCURRENCY} at once)");
        println!("  time per sign-in:    {:.1} us (wall time / count)", sign_in.as_secs_f64() * 1e6 / signed as f64);
        let signed_per = per(signed_rss - idle_rss, signed);
        let tokens_per = token_bytes as f64 / signed as f64;
        println!("  memory per signed:   {signed_per:.0} B, of which token strings {tokens_per:.0} B");
        println!("  beyond the tokens:   {:.0} B", signed_per - tokens_per);
        println!("  of which MemoryStore's copy: {:.0} B (keys and values)", stored_bytes as f64 / signed as f64);
        println!(
            "refreshed:             {refreshed} in {:.2} s ({REFRESH_CONCURRENCY} at once)",
            refresh.as_secs_f64()
        );
        println!("  token requests:      {token_requests} (one per signed-in session: {})", token_requests == signed);
        println!("  tasks alive after:   {tasks_after}");
        assert_eq!(token_requests, signed, "exactly one token request per signed-in session");
    });
    drop(child.stdin.take());
    let _ = child.wait();
}
