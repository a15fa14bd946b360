//! Uploading and downloading a 1 GiB file through `app.storage()`: the process's peak resident memory and the
//! throughput, against raw reqwest streaming the same file to and from the same signed URLs on the same
//! loopback emulator, in one run.
//!
//! ```text
//! cargo bench --bench storage_transfer            # 1 GiB each way
//! STORAGE_MIB=256 cargo bench --bench storage_transfer
//! ```
//!
//! Each side runs in a child process of its own (this binary, re-run with `--side sdk|raw`), so each peak
//! (`VmHWM` from `/proc/self/status`, Linux) is that side's alone: the in-process emulator receiving and
//! serving the object (on disk, in a temporary directory), the client streaming it, and the runtime. Both
//! sides get their signed URLs from the gateway untimed on the raw side, timed (it is one small call) on the
//! SDK side.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cloudbase::CloudBase;
use cloudbase::storage::UploadSource;
use cloudbase_emulator::Emulator;
use futures::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

fn mib() -> u64 {
    std::env::var("STORAGE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024)
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

async fn side(which: &str, source: &Path, work: &Path) {
    let size = std::fs::metadata(source).expect("source").len();
    let emu = Emulator::start().await.expect("emulator");
    let http = reqwest::Client::builder().build().expect("client");
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).build().expect("app");
    app.auth().sign_in_anonymously().await.expect("sign-in");
    let storage = app.storage();
    let dest = work.join(format!("{which}.down"));

    let started = Instant::now();
    let file_id = if which == "sdk" {
        storage.upload_file("bench/big.bin", UploadSource::path(source)).send().await.expect("upload").file_id
    } else {
        let meta = storage.get_upload_metadata("bench/big.bin").await.expect("metadata");
        let started_raw = Instant::now();
        let file = tokio::fs::File::open(source).await.expect("open");
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
        let reply = http
            .put(&meta.url)
            .header("authorization", meta.authorization.expose_secret())
            .header("x-cos-security-token", meta.token.expose_secret())
            .header("x-cos-meta-fileid", &meta.cos_file_id)
            .header("content-length", size)
            .body(body)
            .send()
            .await
            .expect("put");
        assert!(reply.status().is_success(), "raw upload: {}", reply.status());
        let _ = started_raw;
        meta.file_id
    };
    let up_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let got = if which == "sdk" {
        storage.download_file(&file_id).to_path(&dest).await.expect("download").size
    } else {
        let url = storage.get_temp_file_url([&file_id]).await.expect("url").all_ok().expect("item").remove(0).url;
        let mut reply = http.get(url).send().await.expect("get").bytes_stream();
        let mut out = tokio::fs::File::create(&dest).await.expect("create");
        let mut got = 0u64;
        while let Some(chunk) = reply.next().await {
            let chunk = chunk.expect("chunk");
            got += chunk.len() as u64;
            out.write_all(&chunk).await.expect("write");
        }
        out.sync_all().await.expect("sync");
        got
    };
    let down_secs = started.elapsed().as_secs_f64();
    assert_eq!(got, size, "every byte arrived");
    let _ = std::fs::remove_file(&dest);
    println!("RESULT {which} {size} {up_secs:.3} {down_secs:.3} {}", peak_rss_kib());
    drop(emu);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--side") {
        let which = args.get(i + 1).cloned().unwrap_or_default();
        let source = std::path::PathBuf::from(args.get(i + 2).expect("source path"));
        let work = std::path::PathBuf::from(args.get(i + 3).expect("work dir"));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt")
            .block_on(side(&which, &source, &work));
        return;
    }
    if args.iter().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and `--list`: nothing to run.
    }
    let work = tempfile::tempdir().expect("work dir");
    let source = work.path().join("source.bin");
    {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&source).expect("source"));
        let block: Vec<u8> = (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        for _ in 0..mib() {
            file.write_all(&block).expect("write source");
        }
        file.flush().expect("flush");
    }
    let exe = std::env::current_exe().expect("exe");
    let mut results = Vec::new();
    for which in ["raw", "sdk"] {
        let out =
            Command::new(&exe).arg("--side").arg(which).arg(&source).arg(work.path()).output().expect("child runs");
        assert!(out.status.success(), "{which}: {}", String::from_utf8_lossy(&out.stderr));
        let line = String::from_utf8_lossy(&out.stdout).lines().find(|l| l.starts_with("RESULT")).map(str::to_owned);
        let fields: Vec<String> = line.expect("a RESULT line").split_whitespace().map(str::to_owned).collect();
        let bytes: f64 = fields[2].parse().expect("bytes");
        let up: f64 = fields[3].parse().expect("up");
        let down: f64 = fields[4].parse().expect("down");
        let peak: u64 = fields[5].parse().expect("peak");
        let (up_rate, down_rate) = (bytes / up / 1_048_576.0, bytes / down / 1_048_576.0);
        results.push((up_rate, down_rate, peak));
        println!(
            "{which:>4}: {:.0} MiB up in {up:.2} s = {up_rate:.0} MiB/s, down in {down:.2} s = {down_rate:.0} MiB/s, peak RSS {:.1} MiB",
            bytes / 1_048_576.0,
            peak as f64 / 1024.0
        );
    }
    let (raw, sdk) = (&results[0], &results[1]);
    println!(
        "throughput sdk/raw: upload {:.2}, download {:.2}; peak RSS sdk {:.1} MiB (raw {:.1} MiB)",
        sdk.0 / raw.0,
        sdk.1 / raw.1,
        sdk.2 as f64 / 1024.0,
        raw.2 as f64 / 1024.0
    );
}
