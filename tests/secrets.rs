//! No secret in any Debug, Display, error or log line; bad server replies are typed errors, never panics.
#![cfg(feature = "contract")]

mod common;

use std::sync::{Arc, Mutex, OnceLock};

use cloudbase::{CloudBase, Contact, Error, OAuthCallback, OtpType, Session, SignInWithPassword, SignUp, VerifyOtp};
use cloudbase_emulator::EmulatorConfig;
use common::{PASSWORD, start_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Every log line of this test binary, from every thread: a global subscriber, installed once.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
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

fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Captured(Arc::clone(&logs));
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        logs
    }))
}

/// Every flow of the SDK on a multi-thread runtime (refreshes run as tasks on other threads), then every
/// `Debug`, `Display`, error and log line is searched for every secret the flows handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_display_and_logs_never_show_a_secret() {
    let logs = capture_logs();
    let config = EmulatorConfig { captcha_after_failed_passwords: Some(2), ..Default::default() };
    let env = start_with(config, |b| b).await;
    env.user("secret@example.com");
    let app = common::builder(&env.emu).access_key("PUBLISHABLE-KEY-SECRET").build().unwrap();
    let auth = app.auth();
    let mut printed: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = vec!["PUBLISHABLE-KEY-SECRET".to_owned(), PASSWORD.to_owned()];
    let mut keep = |s: &Session| {
        secrets.push(s.access_token.expose_secret().to_owned());
        secrets.extend(s.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()));
        format!("{s:?}")
    };

    // Sign-up by email code, then the session flows.
    let pending = auth.sign_up(SignUp::email("fresh@example.com").password(PASSWORD)).await.unwrap();
    let code = env.code("fresh@example.com");
    printed.push(format!("{pending:?}"));
    let signed_up = pending.verify(&code).await.unwrap();
    printed.push(keep(&signed_up));
    let session = auth.sign_in_with_password(SignInWithPassword::email("secret@example.com", PASSWORD)).await.unwrap();
    printed.push(keep(&session));
    let refreshed = auth.refresh_session(None).await.unwrap();
    printed.push(keep(&refreshed));
    let stale = auth.refresh_session(session.refresh_token.clone()).await.unwrap_err();
    printed.push(format!("{stale} {stale:?}"));
    printed.push(format!("{:?}", auth.get_user().await.unwrap()));
    let other = common::builder(&env.emu).build().unwrap();
    let handed = other.auth().sign_in_with_password(SignInWithPassword::email("fresh@example.com", PASSWORD)).await;
    let handed = handed.unwrap();
    printed.push(keep(&handed));
    let adopted = auth.set_session("unused", handed.refresh_token.clone().unwrap()).await.unwrap();
    printed.push(keep(&adopted));
    let anonymous = other.auth().sign_in_anonymously().await.unwrap();
    printed.push(keep(&anonymous));
    printed.push(format!("{app:?} {auth:?} {:?}", other.auth()));

    // Wrong passwords until the service wants a captcha: the error carries the challenge, not its token.
    let mut captcha = None;
    for _ in 0..4 {
        let wrong =
            auth.sign_in_with_password(SignInWithPassword::email("secret@example.com", "Wr0ng-Passw0rd!")).await;
        let wrong = wrong.unwrap_err();
        printed.push(format!("{wrong} {wrong:?}"));
        if let Error::CaptchaRequired(challenge) = wrong {
            captcha = Some(challenge);
            break;
        }
    }
    let challenge = captcha.expect("a captcha challenge after repeated wrong passwords");
    secrets.push(challenge.token.clone());
    secrets.push("Wr0ng-Passw0rd!".to_owned());

    // Values that hold a code: their Debug hides it.
    let otp = VerifyOtp {
        kind: OtpType::Email,
        contact: Contact::email("secret@example.com"),
        token: "CODE-SECRET-991".to_owned(),
        message_id: "m1".to_owned(),
    };
    printed.push(format!("{otp:?}"));
    printed.push(format!("{:?}", OAuthCallback::url("http://127.0.0.1:1/cb?code=CODE-SECRET-992&state=s")));
    printed.push(format!("{:?}", OAuthCallback::code("CODE-SECRET-993", "s")));
    secrets.extend(["CODE-SECRET-991", "CODE-SECRET-992", "CODE-SECRET-993"].map(str::to_owned));
    printed.push(format!("{:?}", SignInWithPassword::email("secret@example.com", PASSWORD)));
    auth.sign_out().await.unwrap();

    printed.push(String::from_utf8_lossy(&logs.lock().unwrap()).into_owned());
    for text in &printed {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret leaked into: {text}");
        }
    }
    assert!(printed[1].contains("[REDACTED]"));
    assert!(logs.lock().unwrap().len() > 1000, "the flows were logged");
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

/// A loopback server that answers a 200 JSON head, then streams `{"a":"xxxx...` in chunks (no length) until
/// the client hangs up or 256 MiB were sent.
async fn endless_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for _ in 0..4 {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
                for _ in 0..4096 {
                    if socket.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn replies_over_the_size_limit_are_typed_errors_not_unbounded_memory() {
    // Announced too large: refused before reading.
    let body = format!("{{\"access_token\":\"{}\"}}", "a".repeat(4096));
    let response: &'static str = Box::leak(
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
            .into_boxed_str(),
    );
    let url = canned_server(response).await;
    let app = CloudBase::builder("env-1").base_url(url).max_response_bytes(1024).build().unwrap();
    let err = app.auth().sign_in_with_password(SignInWithPassword::username("u1", PASSWORD)).await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { operation: "sign_in", limit: 1024, .. }), "{err:?}");

    // Endless, with no length: reading stops at the limit (the default, 16 MiB).
    let url = endless_server().await;
    let app = CloudBase::builder("env-1").base_url(url).build().unwrap();
    let err = app.auth().sign_in_with_password(SignInWithPassword::username("u1", PASSWORD)).await.unwrap_err();
    assert!(
        matches!(err, Error::ResponseTooLarge { limit: cloudbase::raw::DEFAULT_MAX_RESPONSE_BYTES, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("exceeds"), "{err}");
}
