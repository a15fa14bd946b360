//! Errors keep their cause: each variant the SDK produces is made to happen for real, and its `source()`
//! chain is walked down to the error that caused it (an I/O error, a transport error, a store's error), with
//! no secret in any link's text.
#![cfg(feature = "contract")]

mod common;

use std::error::Error as _;
use std::time::Duration;

use cloudbase::storage::UploadSource;
use cloudbase::{CloudBase, Error, FileStore, OAuthCallback, StoreError};

/// Every link of `error`'s chain, outermost first, as its text.
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut links = vec![error.to_string()];
    let mut next = error.source();
    while let Some(e) = next {
        links.push(e.to_string());
        next = e.source();
        assert!(links.len() < 32, "a source chain that does not end: {links:?}");
    }
    links
}

/// Whether some link of the chain is a `T`.
fn has<T: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.downcast_ref::<T>().is_some() {
            return true;
        }
        next = e.source();
    }
    false
}

fn assert_no_secret(links: &[String], secrets: &[&str]) {
    for link in links {
        for secret in secrets {
            assert!(!link.contains(secret), "a secret in {link:?}");
        }
    }
}

#[tokio::test]
async fn every_variant_keeps_its_cause() {
    let env = common::start().await;
    let session = env.app.auth().sign_in_anonymously().await.unwrap();
    let token = session.access_token.expose_secret().to_owned();
    let refresh = session.refresh_token.as_ref().expect("a refresh token").expose_secret().to_owned();
    let secrets = [token.as_str(), refresh.as_str()];

    // Network: the transport's own error, and below it the connection's.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let offline =
        CloudBase::builder("env").base_url(format!("http://{closed}")).connect_retries(0, Duration::ZERO).build();
    let network = offline.unwrap().call_function("sum").send_json().await.unwrap_err();
    assert!(matches!(network, Error::Network { .. }), "{network:?}");
    // (The transport error is shared behind an `Arc`; the chain goes on through it to the refused connection.)
    assert!(has::<std::sync::Arc<reqwest::Error>>(&network), "{:?}", chain(&network));
    assert!(chain(&network).len() >= 3, "down to the refused connection: {:?}", chain(&network));

    // Io: a missing source file, down to the `std::io::Error` (not found).
    let io = env.app.storage().upload_file("a.txt", UploadSource::path("/nonexistent/a.txt")).send().await.unwrap_err();
    assert!(matches!(io, Error::Io { .. }), "{io:?}");
    // (Shared behind an `Arc`: `Error` is `Clone`.)
    let kind = io.source().and_then(|s| s.downcast_ref::<std::sync::Arc<std::io::Error>>()).map(|e| e.kind());
    assert_eq!(kind, Some(std::io::ErrorKind::NotFound));

    // Storage: a file store whose file is a directory: StoreError, then the I/O error under it.
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let broken = common::builder(&env.emu).session_store(store).build().unwrap();
    let storage = broken.auth().get_session().await.unwrap_err();
    assert!(matches!(storage, Error::Storage(_)), "{storage:?}");
    assert!(has::<StoreError>(&storage) && has::<std::io::Error>(&storage), "{:?}", chain(&storage));
    assert_eq!(chain(&storage).len(), 3, "Error -> StoreError -> io::Error: {:?}", chain(&storage));

    // OAuth: a callback this client never started; its reason, no deeper cause.
    let forged = env.app.auth().verify_oauth(OAuthCallback::url("http://127.0.0.1/cb?code=c&state=forged")).await;
    let oauth = forged.unwrap_err();
    let Error::OAuth(reason) = &oauth else { panic!("{oauth:?}") };
    assert!(reason.source().is_none() && !reason.reason().is_empty());
    assert_eq!(chain(&oauth).len(), 2);

    // Service, Decode and InvalidInput are where the story ends: no source.
    let service = env.app.call_function("nope").send_json().await.unwrap_err();
    assert!(matches!(service, Error::Service(_)) && service.source().is_none(), "{service:?}");
    let invalid = env.app.call_function("").send_json().await.unwrap_err();
    assert!(matches!(invalid, Error::InvalidInput { .. }) && invalid.source().is_none());

    for error in [&network, &io, &storage, &oauth, &service, &invalid] {
        assert_no_secret(&chain(error), &secrets);
        assert_no_secret(&[format!("{error:?}")], &secrets);
    }
}
