//! Streaming 1 GiB through `call_container` as a byte stream: the process's peak resident memory and the
//! throughput, against raw reqwest streaming the same reply from the same loopback emulator, in one run.
//!
//! ```text
//! cargo bench --bench streaming            # 1 GiB each way
//! STREAM_MIB=256 cargo bench --bench streaming
//! ```
//!
//! Each side runs in a child process of its own (this binary, re-run with `--side sdk|raw`), so each peak
//! (`VmHWM` from `/proc/self/status`, Linux) is that side's alone: the in-process emulator producing the
//! bytes, the client reading them chunk by chunk, and the runtime. The parent prints both and the ratios.

use std::process::Command;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use cloudbase::{CloudBase, SignInWithPassword};
use cloudbase_emulator::{Caller, Emulator, NewUser};
use futures::StreamExt as _;

const CHUNK: usize = 64 * 1024;

fn mib() -> usize {
    std::env::var("STREAM_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024)
}

/// Peak resident set size of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn side(which: &str) {
    let total = mib() * 1024 * 1024;
    let chunk = Bytes::from(vec![7u8; CHUNK]);
    let emu = Emulator::builder()
        .cloudrun("download", move |_request, _caller: Caller| {
            let chunk = chunk.clone();
            async move {
                let stream =
                    futures::stream::iter((0..total / CHUNK).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
                axum::response::Response::builder()
                    .header("content-type", "application/octet-stream")
                    .body(Body::from_stream(stream))
                    .expect("response")
            }
        })
        .start()
        .await
        .expect("emulator");
    emu.create_user(NewUser {
        email: Some("s@example.com".into()),
        password: Some("Str0ng-Pass!".into()),
        ..Default::default()
    });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build().expect("client");
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).http_client(http.clone()).build().expect("app");
    let session = app
        .auth()
        .sign_in_with_password(SignInWithPassword::email("s@example.com", "Str0ng-Pass!"))
        .await
        .expect("sign-in");
    let before = peak_rss_kib();
    let started = Instant::now();
    let mut seen = 0usize;
    if which == "sdk" {
        let reply = app.call_container("download").send().await.expect("send");
        let mut stream = reply.bytes_stream();
        while let Some(chunk) = stream.next().await {
            seen += chunk.expect("chunk").len();
        }
    } else {
        let url = format!("{}/v1/cloudrun/download/", emu.url());
        let reply = http.get(url).bearer_auth(session.access_token.expose_secret()).send().await.expect("send");
        let mut stream = reply.bytes_stream();
        while let Some(chunk) = stream.next().await {
            seen += chunk.expect("chunk").len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(seen, total, "every byte arrived");
    println!("RESULT {which} {seen} {secs:.3} {before} {}", peak_rss_kib());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--side") {
        let which = args.get(i + 1).cloned().unwrap_or_default();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt")
            .block_on(side(&which));
        return;
    }
    if args.iter().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and `--list`: nothing to run.
    }
    let exe = std::env::current_exe().expect("exe");
    let mut results = Vec::new();
    for which in ["raw", "sdk"] {
        let out = Command::new(&exe).args(["--side", which]).output().expect("child runs");
        assert!(out.status.success(), "{which}: {}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8_lossy(&out.stdout).lines().find(|l| l.starts_with("RESULT")).map(str::to_owned);
        let fields: Vec<String> = line.expect("a RESULT line").split_whitespace().map(str::to_owned).collect();
        let bytes: f64 = fields[2].parse().expect("bytes");
        let secs: f64 = fields[3].parse().expect("secs");
        let peak: u64 = fields[5].parse().expect("peak");
        results.push((which, bytes / secs / 1_048_576.0, peak));
        println!(
            "{which:>4}: {:.0} MiB in {secs:.2} s = {:.0} MiB/s, peak RSS {:.1} MiB",
            bytes / 1_048_576.0,
            bytes / secs / 1_048_576.0,
            peak as f64 / 1024.0
        );
    }
    let (raw, sdk) = (&results[0], &results[1]);
    println!(
        "throughput sdk/raw = {:.2}; peak RSS sdk {:.1} MiB (raw {:.1} MiB)",
        sdk.1 / raw.1,
        sdk.2 as f64 / 1024.0,
        raw.2 as f64 / 1024.0
    );
}
