//! Store files with the signed-in session: upload from disk with progress, a temporary URL anyone can
//! download, a streamed download, a copy, a per-item batch, and deletes, all on the embedded emulator (no
//! account needed):
//!
//! ```text
//! cargo run --example storage
//! ```
//!
//! The emulator keeps the objects in a temporary directory and signs its own upload and download URLs; with
//! the binary, `cloudbase-emulator --storage-dir ./objects` keeps them.

use std::time::Duration;

use cloudbase::CloudBase;
use cloudbase::storage::{CopyFile, UploadSource};
use cloudbase_emulator::Emulator;
use futures::StreamExt as _;
use tokio::time::timeout;

/// Bound on every call (the emulator answers in milliseconds).
const CALL: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::start().await?;
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
    timeout(CALL, app.auth().sign_in_anonymously()).await??;
    let storage = app.storage();

    // A 2 MiB file on disk, uploaded as a stream with progress.
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("report.csv");
    let line = "id,name,score\n".repeat(2 * 1024 * 1024 / 14);
    std::fs::write(&source, &line)?;
    let uploaded = timeout(
        CALL,
        storage
            .upload_file("reports/2026/report.csv", UploadSource::path(&source))
            .on_progress(|p| {
                if p.done == p.total.unwrap_or(0) {
                    println!("uploaded {} bytes", p.done);
                }
            })
            .send(),
    )
    .await??;
    println!("file id: {}", uploaded.file_id);

    // A temporary URL: anyone holding it can download the file until it expires.
    let urls = timeout(CALL, storage.get_temp_file_url([&uploaded.file_id])).await??;
    for url in &urls.items {
        println!("temporary URL: {}", url.as_ref().map_err(Clone::clone)?.url);
    }

    // Download as a stream (never held in memory whole), then to a file.
    let mut stream = timeout(CALL, storage.download_file(&uploaded.file_id).bytes_stream()).await??;
    let mut received = 0;
    while let Some(chunk) = timeout(CALL, stream.next()).await? {
        received += chunk?.len();
    }
    println!("streamed {received} bytes ({:?})", stream.content_type());
    let copy_path = dir.path().join("copy.csv");
    timeout(CALL, storage.download_file(&uploaded.file_id).to_path(&copy_path)).await??;
    assert_eq!(std::fs::read(&copy_path)?, line.as_bytes());

    // Copies: one per item, one bad item does not fail the others.
    let copies = timeout(
        CALL,
        storage.copy_file([
            CopyFile::new("reports/2026/report.csv", "archive/report.csv"),
            CopyFile::new("reports/missing.csv", "archive/missing.csv"),
        ]),
    )
    .await??;
    for copy in copies.iter() {
        match copy {
            Ok(copied) => println!("copied to {}", copied.file_id),
            Err(e) => println!("not copied: {:?}", e.code()),
        }
    }

    let deleted = timeout(
        CALL,
        storage.delete_file([uploaded.file_id.clone(), uploaded.file_id.replace("reports/2026", "archive")]),
    )
    .await??;
    println!("deleted {} files", deleted.all_ok()?.len());
    emu.shutdown().await;
    Ok(())
}
