//! Shared by the end-to-end tests: an emulator, an app pointed at it, and the contract check of every
//! exchange the SDK made.
#![allow(dead_code)]

use std::time::Duration;

use cloudbase::contract::Contract;
use cloudbase::{AuthChange, AuthStateChanges, CloudBase, CloudBaseBuilder};
use cloudbase_emulator::{Emulator, EmulatorConfig, EmulatorHandle, NewUser};
use futures::StreamExt as _;

pub const PASSWORD: &str = "Str0ng-Passw0rd!";

pub struct TestEnv {
    pub emu: EmulatorHandle,
    pub app: CloudBase,
}

impl TestEnv {
    pub fn auth(&self) -> cloudbase::Auth {
        self.app.auth()
    }

    /// Every request the SDK sent and every response it got, validated against the spec of its service.
    pub fn assert_contract(&self) {
        assert_contract(&self.emu);
    }

    /// The latest code sent to `target`.
    pub fn code(&self, target: &str) -> String {
        self.emu.last_code_for(target).unwrap_or_else(|| panic!("no code sent to {target}")).code
    }

    pub fn user(&self, email: &str) -> String {
        self.emu.create_user(NewUser {
            email: Some(email.to_owned()),
            password: Some(PASSWORD.to_owned()),
            name: Some("Test User".to_owned()),
            ..Default::default()
        })
    }
}

pub fn builder(emu: &EmulatorHandle) -> CloudBaseBuilder {
    CloudBase::builder(emu.env_id())
        .base_url(emu.url())
        .timeout(Duration::from_secs(5))
        .connect_retries(0, Duration::from_millis(10))
}

pub async fn start() -> TestEnv {
    start_with(EmulatorConfig::default(), |b| b).await
}

pub async fn start_with(
    config: EmulatorConfig,
    customize: impl FnOnce(CloudBaseBuilder) -> CloudBaseBuilder,
) -> TestEnv {
    let emu = Emulator::start_with(config).await.expect("emulator starts");
    let app = customize(builder(&emu)).build().expect("app builds");
    TestEnv { emu, app }
}

pub fn assert_contract(emu: &EmulatorHandle) {
    let mut violations = Vec::new();
    let exchanges = emu.exchanges();
    for x in &exchanges {
        // The object store's signed transfers are not a CloudBase API (no spec); the storage tests check them.
        if x.fault || x.path.starts_with("/_cos/") {
            continue;
        }
        let Some(contract) = Contract::for_path(&x.path) else {
            violations.push(format!("no spec covers {} {}", x.method, x.path));
            continue;
        };
        if let Err(v) = contract.validate_request(&x.method, &x.path, &x.query, x.request_body.as_ref()) {
            violations.push(format!("request {} {}: {v:?}", x.method, x.path));
        }
        if let Err(v) = contract.validate_response(&x.method, &x.path, x.status, x.response_body.as_ref()) {
            violations.push(format!("response {} {} {}: {v:?}", x.status, x.method, x.path));
        }
    }
    assert!(violations.is_empty(), "contract violations:\n{}", violations.join("\n"));
    assert!(!exchanges.is_empty(), "no exchange was recorded");
}

/// The next event, or a panic after 5 s.
pub async fn next_event(changes: &mut AuthStateChanges) -> AuthChange {
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream stays open")
}

/// Events that arrive within `wait`.
pub async fn drain_events(changes: &mut AuthStateChanges, wait: Duration) -> Vec<cloudbase::AuthEvent> {
    let mut seen = Vec::new();
    while let Ok(Some(change)) = tokio::time::timeout(wait, changes.next()).await {
        seen.push(change.event);
        if seen.len() > 100 {
            break;
        }
    }
    seen
}

/// Signs `email` in on `env`'s app, then builds a second app whose own store holds a copy of that session
/// with its access token already expired (as after a restart), so its next call refreshes.
pub async fn expired_app(env: &TestEnv, email: &str) -> (CloudBase, cloudbase::MemoryStore, cloudbase::Session) {
    use cloudbase::{Secret, SessionStore as _, SignInWithPassword};
    env.user(email);
    let session = env.auth().sign_in_with_password(SignInWithPassword::email(email, PASSWORD)).await.unwrap();
    let store = cloudbase::MemoryStore::new();
    let mut expired = session.clone();
    expired.expires_at = 0;
    store.set(&session_key(&env.emu), Secret::new(serde_json::to_string(&expired).unwrap())).await.unwrap();
    let app = builder(&env.emu).session_store(store.clone()).build().unwrap();
    (app, store, session)
}

/// The store key of the session (`credentials_<client id>`; the client id is the env id here).
pub fn session_key(emu: &EmulatorHandle) -> String {
    format!("credentials_{}", emu.env_id())
}

/// How many replies to `operation` had this status.
pub fn replies(emu: &EmulatorHandle, operation: &str, status: u16) -> usize {
    emu.exchanges().iter().filter(|x| x.operation_id.as_deref() == Some(operation) && x.status == status).count()
}

/// Waits (bounded: 60 s in all) for child processes, each of which must succeed.
pub async fn wait_for_children(children: Vec<std::process::Child>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    for mut child in children {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "child failed: {status}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "child did not finish in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
