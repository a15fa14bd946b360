//! `app.storage()` end to end against the emulator's storage over 127.0.0.1: the gateway's four batch
//! operations (every exchange validated against `openapi/storage.yaml`) and the byte transfers to and from its
//! object store on signed URLs, with per-item errors, permissions, expiry, interrupted transfers and bad input.
#![cfg(feature = "contract")]

mod common;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use cloudbase::storage::{CopyFile, Progress, UploadSource};
use cloudbase::{CloudBase, Error, ErrorCode};
use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Fault};
use common::{assert_contract, builder};
use futures::StreamExt as _;
use tokio::io::{AsyncRead, ReadBuf};

async fn emulator() -> EmulatorHandle {
    Emulator::start_with(EmulatorConfig::default()).await.expect("emulator starts")
}

async fn anonymous(emu: &EmulatorHandle) -> CloudBase {
    let app = builder(emu).build().unwrap();
    app.auth().sign_in_anonymously().await.unwrap();
    app
}

fn code(result: &Result<impl std::fmt::Debug, Error>) -> Option<ErrorCode> {
    match result {
        Err(e) => e.code().cloned(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// Pseudo-random bytes (deterministic), so that an offset mix-up cannot go unnoticed.
fn pattern(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// Files in the emulator's storage directory whose names look temporary (a half-written upload).
fn leftovers(emu: &EmulatorHandle) -> Vec<String> {
    let mut names = Vec::new();
    let mut dirs = vec![emu.storage_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.contains("tmp") || name.contains("part") {
                    names.push(name);
                }
            }
        }
    }
    names
}

#[tokio::test]
async fn upload_temp_url_download_copy_move_and_delete() {
    let emu = emulator().await;
    let app = anonymous(&emu).await;
    let storage = app.storage();

    let uploaded = storage.upload_file("notes/hello.txt", b"hello, storage".to_vec()).send().await.unwrap();
    assert!(uploaded.file_id.starts_with("cloud://") && uploaded.file_id.ends_with("/notes/hello.txt"));
    assert_eq!(uploaded.size, 14);
    assert!(uploaded.request_id.is_some());

    let urls = storage.get_temp_file_url([&uploaded.file_id]).await.unwrap();
    assert_eq!(urls.len(), 1);
    assert_eq!(urls.request_ids.len(), 1);
    let url = urls.all_ok().unwrap().remove(0);
    assert_eq!(url.file_id, uploaded.file_id);
    // The temporary URL needs no credentials.
    let fetched = reqwest::get(&url.url).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "text/plain");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), b"hello, storage");

    assert_eq!(storage.download_file(&uploaded.file_id).bytes().await.unwrap().as_ref(), b"hello, storage");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("hello.txt");
    let done = storage.download_file(&uploaded.file_id).to_path(&dest).await.unwrap();
    assert_eq!((done.size, done.content_type.as_deref()), (14, Some("text/plain")));
    assert_eq!(std::fs::read(&dest).unwrap(), b"hello, storage");
    let mut written = Vec::new();
    storage.download_file(&uploaded.file_id).to_writer(&mut written).await.unwrap();
    assert_eq!(written, b"hello, storage");

    let copies = storage
        .copy_file([
            CopyFile::new("notes/hello.txt", "backup/hello.txt"),
            CopyFile::new(&uploaded.file_id, "backup/hello.txt"),
            CopyFile::new("notes/missing.txt", "backup/missing.txt"),
        ])
        .await
        .unwrap();
    let copies = copies.items;
    let backup = copies[0].as_ref().unwrap().file_id.clone();
    assert!(backup.ends_with("/backup/hello.txt"));
    assert_eq!(code(&copies[1]), Some(ErrorCode::ObjectAlreadyExist));
    assert_eq!(code(&copies[2]), Some(ErrorCode::ObjectNotExist));
    let overwritten = storage.copy_file([CopyFile::new(&uploaded.file_id, "backup/hello.txt").overwrite(true)]).await;
    assert!(overwritten.unwrap().all_ok().is_ok());

    let moved = storage.move_file("backup/hello.txt", "archive/hello.txt").await.unwrap();
    assert!(moved.file_id.ends_with("/archive/hello.txt"));
    assert_eq!(storage.download_file(&moved.file_id).bytes().await.unwrap().as_ref(), b"hello, storage");
    let gone = storage.get_temp_file_url([&backup]).await.unwrap();
    assert_eq!(code(&gone.items[0]), Some(ErrorCode::ObjectNotExist), "a move removes its source");

    let deleted = storage.delete_file([&uploaded.file_id, &moved.file_id]).await.unwrap().all_ok().unwrap();
    assert_eq!(deleted.len(), 2);
    let again = storage.delete_file([&uploaded.file_id]).await.unwrap();
    assert_eq!(code(&again.items[0]), Some(ErrorCode::ObjectNotExist));
    let download = storage.download_file(&uploaded.file_id).bytes().await;
    assert_eq!(code(&download), Some(ErrorCode::ObjectNotExist));
    assert_contract(&emu);
}

#[tokio::test]
async fn every_source_uploads_with_its_content_type_and_progress() {
    let emu = emulator().await;
    let app = anonymous(&emu).await;
    let storage = app.storage();
    let data = pattern(3 * 1024 * 1024 + 17);
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("data.bin");
    std::fs::write(&source, &data).unwrap();

    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let mut upload = storage
        .upload_file("blobs/data.bin", UploadSource::path(&source))
        .on_progress(move |p| sink.lock().unwrap().push(p));
    let mut stream = upload.progress();
    let watcher = tokio::spawn(async move {
        let mut last = Progress::default();
        while let Some(p) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap() {
            assert!(p.done >= last.done, "progress never goes back");
            last = p;
        }
        last
    });
    let uploaded = upload.send().await.unwrap();
    let total = data.len() as u64;
    assert_eq!(uploaded.size, total);
    let last = watcher.await.unwrap();
    assert_eq!((last.done, last.total), (total, Some(total)));
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() > 3, "progress arrives as the bytes go: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
    assert_eq!(seen.last().map(|p| (p.done, p.total)), Some((total, Some(total))));

    let reader = std::io::Cursor::new(data.clone());
    let from_reader = storage
        .upload_file("blobs/reader.dat", UploadSource::reader(reader, total))
        .content_type("application/x-custom")
        .send()
        .await
        .unwrap();
    let mut download = storage.download_file(&from_reader.file_id);
    let downloaded_progress = download.progress();
    let mut stream = download.bytes_stream().await.unwrap();
    assert_eq!((stream.len(), stream.content_type()), (Some(total), Some("application/x-custom")));
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert!(body == data, "the bytes come back unchanged");
    drop(stream);
    let last = downloaded_progress.fold(Progress::default(), |_, p| async move { p }).await;
    assert_eq!((last.done, last.total), (total, Some(total)));

    let text = storage.upload_file("docs/readme.md", String::from("# hi")).send().await.unwrap();
    let url = storage.get_temp_file_url([&text.file_id]).await.unwrap().all_ok().unwrap().remove(0);
    let reply = reqwest::get(&url.url).await.unwrap();
    assert_eq!(reply.headers()["content-type"], "application/octet-stream", "an unknown extension");
    let empty = storage.upload_file("empty.txt", Vec::new()).send().await.unwrap();
    assert!(storage.download_file(&empty.file_id).bytes().await.unwrap().is_empty());
    assert_contract(&emu);
}

#[tokio::test]
async fn a_mixed_batch_answers_each_item_and_sends_only_the_valid_ones() {
    let emu = emulator().await;
    let app = anonymous(&emu).await;
    let storage = app.storage();
    let there = storage.upload_file("a.txt", b"a".to_vec()).send().await.unwrap().file_id;
    let missing = there.replace("/a.txt", "/missing.txt");
    let other_env = "cloud://another-env.another-bucket/a.txt";
    let results = storage.get_temp_file_url([there.as_str(), &missing, "not-a-file-id", other_env]).await.unwrap();
    let items = results.items;
    assert_eq!(items[0].as_ref().unwrap().file_id, there);
    assert_eq!(code(&items[1]), Some(ErrorCode::ObjectNotExist));
    assert!(matches!(items[2], Err(Error::InvalidInput { field: "file_id", .. })), "{:?}", items[2]);
    assert_eq!(code(&items[3]), Some(ErrorCode::ObjectNotExist));
    let sent = emu.exchanges().into_iter().rfind(|x| x.path.ends_with("/get-objects-download-info")).unwrap();
    assert_eq!(sent.request_body.unwrap().as_array().unwrap().len(), 3, "the malformed id is not sent");

    // More items than one call takes: several calls, one result per item, in order.
    let ids: Vec<String> = (0..150).map(|i| if i == 120 { there.clone() } else { format!("{missing}{i}") }).collect();
    let results = storage.get_temp_file_url(&ids).await.unwrap();
    assert_eq!((results.len(), results.request_ids.len()), (150, 2));
    for (i, item) in results.iter().enumerate() {
        assert_eq!(item.is_ok(), i == 120, "item {i}");
    }
    assert_contract(&emu);
}

#[tokio::test]
async fn only_the_creator_writes_and_everyone_reads() {
    let emu = emulator().await;
    let alice = anonymous(&emu).await;
    let bob = anonymous(&emu).await;
    let file = alice.storage().upload_file("shared/report.csv", b"a,b\n1,2\n".to_vec()).send().await.unwrap();

    assert_eq!(bob.storage().download_file(&file.file_id).bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");
    let deleted = bob.storage().delete_file([&file.file_id]).await.unwrap();
    assert_eq!(code(&deleted.items[0]), Some(ErrorCode::StorageExceedAuthority));
    let overwrite = bob.storage().upload_file("shared/report.csv", b"mine".to_vec()).send().await;
    assert_eq!(code(&overwrite), Some(ErrorCode::StorageExceedAuthority));
    let moved = bob.storage().move_file("shared/report.csv", "bob/report.csv").await;
    assert_eq!(code(&moved), Some(ErrorCode::StorageExceedAuthority));
    // A copy is the copier's own.
    let copied = bob.storage().copy_file([CopyFile::new("shared/report.csv", "bob/report.csv")]).await.unwrap();
    let copy = copied.all_ok().unwrap().remove(0);
    assert!(bob.storage().delete_file([&copy.file_id]).await.unwrap().all_ok().is_ok());
    assert_eq!(alice.storage().download_file(&file.file_id).bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");

    // Signed out: the publishable key reads but does not write; with no credential at all, nothing.
    let key_emu =
        Emulator::start_with(EmulatorConfig { publishable_key: Some("pk-test".into()), ..Default::default() })
            .await
            .unwrap();
    let owner = anonymous(&key_emu).await;
    let public = owner.storage().upload_file("public.txt", b"p".to_vec()).send().await.unwrap();
    let guest = builder(&key_emu).access_key("pk-test").build().unwrap();
    assert_eq!(guest.storage().download_file(&public.file_id).bytes().await.unwrap().as_ref(), b"p");
    let upload = guest.storage().upload_file("guest.txt", b"g".to_vec()).send().await;
    assert_eq!(code(&upload), Some(ErrorCode::StorageExceedAuthority));
    let nobody = builder(&key_emu).build().unwrap();
    let refused = nobody.storage().get_temp_file_url([&public.file_id]).await;
    assert_eq!(code(&refused), Some(ErrorCode::MissingCredentials));
    assert_contract(&emu);
    assert_contract(&key_emu);
}

#[tokio::test]
async fn signed_urls_expire_and_an_expired_session_is_refreshed_first() {
    let emu = emulator().await;
    let app = anonymous(&emu).await;
    let storage = app.storage();
    let file = storage.upload_file("t.txt", b"time".to_vec()).send().await.unwrap();
    let url = storage.get_temp_file_url([&file.file_id]).await.unwrap().all_ok().unwrap().remove(0);
    let meta = storage.get_upload_metadata("later.txt").await.unwrap();
    assert!(!format!("{meta:?}").contains(meta.authorization.expose_secret()), "the signature is a secret");

    emu.advance_clock(Duration::from_secs(3 * 60 * 60));
    let expired = reqwest::get(&url.url).await.unwrap();
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("<Code>AccessDenied</Code>"));
    let late_upload = reqwest::Client::new()
        .put(&meta.url)
        .header("authorization", meta.authorization.expose_secret())
        .header("x-cos-security-token", meta.token.expose_secret())
        .header("x-cos-meta-fileid", &meta.cos_file_id)
        .body("late")
        .send()
        .await
        .unwrap();
    assert_eq!(late_upload.status(), 403);

    // The access token has expired too: the SDK refreshes, then asks for a fresh URL.
    let grants = emu.count("grant_token");
    assert_eq!(storage.download_file(&file.file_id).bytes().await.unwrap().as_ref(), b"time");
    assert_eq!(emu.count("grant_token"), grants + 1);
    // A tampered signature is refused.
    let tampered = url.url.replacen("sign=", "sign=0", 1);
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403);
    assert_contract(&emu);
}

/// A reader that yields `good` bytes, then fails.
struct FailingReader {
    good: usize,
}

impl AsyncRead for FailingReader {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.good == 0 {
            return Poll::Ready(Err(std::io::Error::other("disk unplugged")));
        }
        let n = self.good.min(buf.remaining()).min(64 * 1024);
        buf.put_slice(&vec![7u8; n]);
        self.good -= n;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn an_interrupted_upload_stores_nothing() {
    let emu = emulator().await;
    let app = anonymous(&emu).await;
    let storage = app.storage();
    let total = 4 * 1024 * 1024;

    let failed = storage
        .upload_file("big.bin", UploadSource::reader(FailingReader { good: total / 2 }, total as u64))
        .send()
        .await;
    match failed {
        Err(Error::Io { ref what, .. }) => assert!(what.contains("source"), "{what}"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    let short =
        storage.upload_file("big.bin", UploadSource::reader(std::io::Cursor::new(vec![1u8; 1000]), 2000)).send().await;
    assert!(matches!(short, Err(Error::InvalidInput { field: "source", .. })), "{short:?}");
    let long =
        storage.upload_file("big.bin", UploadSource::reader(std::io::Cursor::new(vec![1u8; 3000]), 2000)).send().await;
    assert!(matches!(long, Err(Error::InvalidInput { field: "source", .. })), "{long:?}");

    let id = storage.get_upload_metadata("big.bin").await.unwrap().file_id;
    // The emulator notices the broken bodies on its own schedule: wait (bounded) for its clean-up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !leftovers(&emu).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(leftovers(&emu), Vec::<String>::new(), "no half-written file stays behind");
    let lookup = storage.get_temp_file_url([&id]).await.unwrap();
    assert_eq!(code(&lookup.items[0]), Some(ErrorCode::ObjectNotExist), "nothing was stored");

    // A missing source file is an I/O error before anything is sent.
    let before = emu.count("get_objects_upload_info");
    let missing = storage.upload_file("x.bin", UploadSource::path("/nonexistent/file.bin")).send().await;
    assert!(matches!(missing, Err(Error::Io { .. })), "{missing:?}");
    assert_eq!(emu.count("get_objects_upload_info"), before);
}

#[tokio::test]
async fn a_dropped_download_is_an_error_and_leaves_the_destination_alone() {
    let emu = emulator().await;
    let app = anonymous(&emu).await;
    let storage = app.storage();
    let data = pattern(512 * 1024);
    let file = storage.upload_file("d.bin", data.clone()).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("d.bin");
    std::fs::write(&dest, b"previous contents").unwrap();

    emu.cut_next_download(100 * 1024);
    let cut = storage.download_file(&file.file_id).to_path(&dest).await;
    assert!(matches!(cut, Err(Error::Network { .. } | Error::Decode { .. })), "{cut:?}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"previous contents");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names.len(), 1, "no partial file is left: {names:?}");

    emu.cut_next_download(1);
    assert!(storage.download_file(&file.file_id).bytes().await.is_err());
    // And the next download is whole.
    storage.download_file(&file.file_id).to_path(&dest).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == data);
}

#[tokio::test]
async fn bad_replies_are_typed_errors() {
    let emu = emulator().await;
    let app = anonymous(&emu).await;
    let storage = app.storage();
    let file = storage.upload_file("r.txt", b"r".to_vec()).send().await.unwrap();

    emu.inject_fault("get_objects_download_info", Fault::JunkBody, 1);
    let junk = storage.get_temp_file_url([&file.file_id]).await;
    assert!(matches!(junk, Err(Error::Decode { .. })), "{junk:?}");
    emu.inject_fault("get_objects_download_info", Fault::Status502Html, 1);
    let html = storage.get_temp_file_url([&file.file_id]).await;
    assert!(matches!(html, Err(Error::Http { status: 502, .. })), "{html:?}");
    emu.inject_fault("delete_objects", Fault::TruncatedBody, 1);
    assert!(storage.delete_file([&file.file_id]).await.is_err());
    emu.inject_fault("cos_get_object", Fault::Status500, 1);
    let store_down = storage.download_file(&file.file_id).bytes().await;
    assert!(matches!(store_down, Err(ref e) if e.is_retryable()), "{store_down:?}");

    let small = builder(&emu).max_response_bytes(1024).build().unwrap();
    small.auth().sign_in_anonymously().await.unwrap();
    let big = small.storage().upload_file("big.txt", vec![b'x'; 4096]).send().await.unwrap();
    let too_large = small.storage().download_file(&big.file_id).bytes().await;
    assert!(matches!(too_large, Err(Error::ResponseTooLarge { limit: 1024, .. })), "{too_large:?}");
    // Streaming has no such limit.
    let mut streamed = 0;
    let mut stream = small.storage().download_file(&big.file_id).bytes_stream().await.unwrap();
    while let Some(chunk) = stream.next().await {
        streamed += chunk.unwrap().len();
    }
    assert_eq!(streamed, 4096);
}

#[tokio::test]
async fn bad_input_is_refused_before_sending() {
    let emu = emulator().await;
    let app = anonymous(&emu).await;
    let storage = app.storage();
    for path in ["", "/abs.txt", "dir/", "a//b", "a/../b", "./a", "bad\nname", &"x".repeat(851)] {
        let upload = storage.upload_file(path, b"x".to_vec()).send().await;
        assert!(matches!(upload, Err(Error::InvalidInput { field: "cloud_path", .. })), "{path:?}: {upload:?}");
        assert!(storage.get_upload_metadata(path).await.is_err());
    }
    let bad_type = storage.upload_file("a.txt", b"x".to_vec()).content_type("text/plain\n").send().await;
    assert!(matches!(bad_type, Err(Error::InvalidInput { field: "content_type", .. })));
    assert!(matches!(storage.delete_file(Vec::<String>::new()).await, Err(Error::InvalidInput { .. })));
    assert!(matches!(storage.get_temp_file_url(["x"]).await.unwrap().items[0], Err(Error::InvalidInput { .. })));
    assert!(matches!(storage.copy_file([]).await, Err(Error::InvalidInput { .. })));
    let same = storage.copy_file([CopyFile::new("a.txt", "a.txt")]).await.unwrap();
    assert!(matches!(same.items[0], Err(Error::InvalidInput { field: "dst", .. })));
    assert!(matches!(storage.download_file("nope").bytes().await, Err(Error::InvalidInput { .. })));
    for operation in ["get_objects_upload_info", "get_objects_download_info", "delete_objects", "copy_objects"] {
        assert_eq!(emu.count(operation), 0, "{operation} was never sent");
    }
}
