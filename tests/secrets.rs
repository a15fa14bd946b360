//! No secret in any Debug, Display, error or log line; bad server replies are typed errors, never panics.
#![cfg(feature = "contract")]

mod common;

use std::sync::{Arc, Mutex};

use cloudbase::{CloudBase, Error, SignInWithPassword};
use common::{PASSWORD, start};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn debug_display_and_logs_never_show_a_secret() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = start().await;
    env.user("secret@example.com");
    let app = common::builder(&env.emu).access_key("PUBLISHABLE-KEY-SECRET").build().unwrap();
    let auth = app.auth();
    let session = auth.sign_in_with_password(SignInWithPassword::email("secret@example.com", PASSWORD)).await.unwrap();
    let refreshed = auth.refresh_session(None).await.unwrap();
    let wrong = auth
        .sign_in_with_password(SignInWithPassword::email("secret@example.com", "Wr0ng-Passw0rd!"))
        .await
        .unwrap_err();
    let stale = auth.refresh_session(session.refresh_token.clone()).await.unwrap_err();

    let secrets = [
        session.access_token.expose_secret().to_owned(),
        session.refresh_token.clone().unwrap().expose_secret().to_owned(),
        refreshed.access_token.expose_secret().to_owned(),
        refreshed.refresh_token.clone().unwrap().expose_secret().to_owned(),
        "PUBLISHABLE-KEY-SECRET".to_owned(),
        PASSWORD.to_owned(),
        "Wr0ng-Passw0rd!".to_owned(),
    ];
    let printed = [
        format!("{session:?}"),
        format!("{refreshed:?}"),
        format!("{app:?}"),
        format!("{auth:?}"),
        format!("{wrong} {wrong:?}"),
        format!("{stale} {stale:?}"),
        format!("{:?}", SignInWithPassword::email("secret@example.com", PASSWORD)),
        String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned(),
    ];
    for text in &printed {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret leaked into: {text}");
        }
    }
    assert!(format!("{session:?}").contains("[REDACTED]"));
    assert!(!logs.0.lock().unwrap().is_empty(), "tracing spans were recorded");
}

/// A loopback server that answers every request with `response` (raw HTTP).
async fn canned_server(response: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let mut buf = vec![0u8; 8192];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    url
}

#[tokio::test]
async fn a_token_response_of_the_wrong_shape_is_a_decode_error_without_the_body() {
    let body = r#"{"token_type":"Bearer","access_token":"SECRET-ACCESS-1","refresh_token":"SECRET-REFRESH-1","expires_in":"soon"}"#;
    let response: &'static str = Box::leak(
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
            .into_boxed_str(),
    );
    let url = canned_server(response).await;
    let app = CloudBase::builder("env-1").base_url(url).build().unwrap();
    let err = app.auth().sign_in_with_password(SignInWithPassword::username("u1", PASSWORD)).await.unwrap_err();
    assert!(matches!(err, Error::Decode { operation: "sign_in", status: 200, .. }), "{err:?}");
    let printed = format!("{err} {err:?}");
    assert!(!printed.contains("SECRET-ACCESS-1") && !printed.contains("SECRET-REFRESH-1"), "{printed}");
}

#[tokio::test]
async fn html_error_pages_and_garbage_are_typed_errors() {
    for (response, check) in [
        (
            "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 20\r\n\r\n<html>bad gate</html",
            (|e: &Error| matches!(e, Error::Http { status: 502, .. })) as fn(&Error) -> bool,
        ),
        ("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\n{\"a\":", |e: &Error| {
            matches!(e, Error::Decode { .. })
        }),
        (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"access_token\":",
            |e: &Error| matches!(e, Error::Network { .. } | Error::Decode { .. }),
        ),
        (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 61\r\n\r\n{\"error\":\"invalid_password\",\"error_description\":\"wrong pass\"}",
            |e: &Error| matches!(e, Error::Service(s) if s.status == Some(200) && s.code == cloudbase::ErrorCode::InvalidPassword),
        ),
        ("garbage\r\n\r\n", |e: &Error| matches!(e, Error::Network { .. })),
    ] {
        let url = canned_server(response).await;
        let app =
            CloudBase::builder("env-1").base_url(url).connect_retries(0, std::time::Duration::ZERO).build().unwrap();
        let err = app.auth().sign_in_with_password(SignInWithPassword::username("u1", PASSWORD)).await.unwrap_err();
        assert!(check(&err), "{response:?} gave {err:?}");
    }
}
