//! Starting and stopping emulators: every handle gone or `shutdown` stops the server; many emulators can
//! come and go in one process.

use std::net::SocketAddr;
use std::time::Duration;

use cloudbase_emulator::{Emulator, EmulatorConfig, Fault};
use tokio::net::TcpStream;

/// True once nothing accepts connections on `addr` (polled for at most 2 s).
async fn stops_listening(addr: SocketAddr) -> bool {
    for _ in 0..40 {
        if TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_server() {
    let emu = Emulator::start().await.unwrap();
    let addr = emu.addr();
    let clone = emu.clone();
    drop(emu);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_ok(), "a clone keeps it running");
    drop(clone);
    assert!(stops_listening(addr).await, "the server stopped with its last handle");
}

#[tokio::test]
async fn shutdown_stops_the_server_and_open_connections() {
    let emu = Emulator::start().await.unwrap();
    let addr = emu.addr();
    // A request hanging inside the server does not keep it alive.
    emu.inject_fault("get_user_me", Fault::Hang(Duration::from_secs(60)), 1);
    let url = format!("{}/auth/v1/user/me", emu.url());
    let pending = tokio::spawn(async move { reqwest::Client::new().get(url).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), emu.shutdown()).await.expect("shutdown is prompt");
    assert!(stops_listening(addr).await);
    let outcome = tokio::time::timeout(Duration::from_secs(5), pending).await.expect("the client is released").unwrap();
    assert!(outcome.is_err(), "the hanging request was cut off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_emulators_come_and_go() {
    let mut addrs = Vec::new();
    for i in 0..40 {
        let emu =
            Emulator::start_with(EmulatorConfig { env_id: format!("env-{i}"), ..Default::default() }).await.unwrap();
        let info: serde_json::Value =
            reqwest::get(format!("{}/_emulator", emu.url())).await.unwrap().json().await.unwrap();
        assert_eq!(info["env_id"], serde_json::json!(format!("env-{i}")));
        addrs.push(emu.addr());
        if i % 2 == 0 {
            emu.shutdown().await;
        } // odd ones are simply dropped
    }
    for addr in addrs {
        assert!(stops_listening(addr).await, "{addr} still listening");
    }
}

#[tokio::test]
async fn a_port_in_use_is_an_error() {
    let emu = Emulator::start().await.unwrap();
    let taken = Emulator::start_with(EmulatorConfig { bind: emu.addr(), ..Default::default() }).await;
    assert!(taken.is_err());
}

#[tokio::test]
async fn an_invalid_seed_user_is_an_error() {
    let config = EmulatorConfig {
        users: vec![cloudbase_emulator::NewUser { email: Some("not-an-email".into()), ..Default::default() }],
        ..Default::default()
    };
    let err = Emulator::start_with(config).await.unwrap_err();
    assert!(err.to_string().contains("seed"), "{err}");
}
