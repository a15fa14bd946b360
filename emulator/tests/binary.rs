//! The `cloudbase-emulator` binary: start it, read its banner, and do the email OTP round trip with plain
//! HTTP (what a client in any language would do).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_cloudbase-emulator");
const DEVICE: &str = "0123456789abcdef0123456789abcdef";

struct Running {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    url: String,
}

/// Starts the binary and waits (at most 30 s) for `cloudbase-emulator listening on <url>`.
async fn start(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("a banner within 30 s")
        .unwrap()
        .expect("a banner line");
    let url = banner.strip_prefix("cloudbase-emulator listening on ").expect("the banner").trim().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Running { child, lines, url }
}

impl Running {
    /// Stops the binary as a user's Ctrl-C or a supervisor would (SIGTERM), and checks that it exits cleanly
    /// within 10 s: a killed emulator would leave its temporary storage directory behind.
    async fn stop(mut self) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill(1) runs");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the binary exits within 10 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
    }

    /// The next stdout line that contains `needle` (at most 20 lines, 10 s).
    async fn line_with(&mut self, needle: &str) -> String {
        for _ in 0..20 {
            let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
                .await
                .expect("output within 10 s")
                .unwrap()
                .expect("stdout stays open");
            if line.contains(needle) {
                return line;
            }
        }
        panic!("no line with {needle:?}");
    }
}

/// Runs the binary with `args`, which must stop it before it starts (within 30 s, with a failure status):
/// what it printed on stderr.
async fn refused(args: &[&str]) -> String {
    let output =
        tokio::time::timeout(Duration::from_secs(30), Command::new(BIN).args(args).kill_on_drop(true).output())
            .await
            .expect("exits within 30 s")
            .unwrap();
    assert!(!output.status.success(), "{args:?} started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("cloudbase-emulator-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

async fn post(http: &reqwest::Client, url: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = http.post(url).header("content-type", "text/plain;charset=UTF-8").body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn binary_email_otp_round_trip_over_plain_http() {
    let seed = temp_file(
        "seed.json",
        &json!([{"email": "ada@example.com", "password": "correct-horse", "name": "Ada"}]).to_string(),
    );
    let mut emu = start(&["--port", "0", "--env", "bin-env", "--seed", seed.to_str().unwrap()]).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let url = emu.url.clone();
    let device = [("x-device-id", DEVICE)];

    // 1. Send a code.
    let (status, sent) = post(
        &http,
        &format!("{url}/auth/v1/verification?client_id=bin-env"),
        json!({"email": "ada@example.com", "target": "USER"}),
        &device,
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["is_user"], json!(true));
    let verification_id = sent["verification_id"].as_str().unwrap().to_owned();

    // 2. The code is printed on stdout and listed in the outbox.
    let printed = emu.line_with(&verification_id).await;
    assert!(printed.contains("ada@example.com"), "{printed}");
    let outbox: Value = http.get(format!("{url}/_emulator/outbox")).send().await.unwrap().json().await.unwrap();
    let code = outbox[0]["code"].as_str().unwrap().to_owned();
    assert!(printed.contains(&code), "{printed}");

    // 3. Verify it.
    let (status, verified) = post(
        &http,
        &format!("{url}/auth/v1/verification/verify?client_id=bin-env"),
        json!({"verification_id": verification_id, "verification_code": code}),
        &device,
    )
    .await;
    assert_eq!(status, 200, "{verified}");
    let verification_token = verified["verification_token"].as_str().unwrap().to_owned();

    // 4. Sign in with the verification token.
    let (status, tokens) = post(
        &http,
        &format!("{url}/auth/v1/signin?client_id=bin-env"),
        json!({"username": "ada@example.com", "verification_token": verification_token}),
        &device,
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], json!("Bearer"));
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();

    // 5. The profile.
    let response = http
        .get(format!("{url}/auth/v1/user/me"))
        .header("authorization", format!("Bearer {access_token}"))
        .header("x-device-id", DEVICE)
        .header("x-request-id", "feedfacefeedfacefeedfacefeedface")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-request-id"], "feedfacefeedfacefeedfacefeedface");
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["email"], json!("ada@example.com"));
    assert_eq!(profile["name"], json!("Ada"));
    assert_eq!(profile["sub"], tokens["sub"]);

    // The seeded password works too; the environment id is the one given.
    let (status, by_password) = post(
        &http,
        &format!("{url}/auth/v1/signin?client_id=bin-env"),
        json!({"username": "ada@example.com", "password": "correct-horse"}),
        &device,
    )
    .await;
    assert_eq!(status, 200, "{by_password}");
    let (status, wrong_env) = post(
        &http,
        &format!("{url}/auth/v1/signin?client_id=other-env"),
        json!({"username": "ada@example.com", "password": "correct-horse"}),
        &device,
    )
    .await;
    assert_eq!((status, wrong_env["error"].as_str()), (401, Some("invalid_client")));

    emu.stop().await;
    let _ = std::fs::remove_file(seed);
}

#[tokio::test]
async fn binary_flags_apply() {
    let mut emu =
        start(&["--access-token-ttl", "60", "--captcha-after-code-requests", "1", "--no-anonymous", "--quiet"]).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let url = emu.url.clone();
    let device = [("x-device-id", DEVICE)];
    let config: Value = http.get(format!("{url}/_emulator/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["access_token_ttl_secs"], json!(60));
    assert_eq!(config["env_id"], json!("emulator-env"));
    let (status, body) = post(&http, &format!("{url}/auth/v1/signin/anonymously"), json!({}), &device).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("unimplemented")));
    let verification = format!("{url}/auth/v1/verification");
    let (status, _) = post(&http, &verification, json!({"email": "x@example.com"}), &device).await;
    assert_eq!(status, 200);
    let (status, body) = post(&http, &verification, json!({"email": "x@example.com"}), &device).await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_code"].as_i64()),
        (400, Some("captcha_required"), Some(4001))
    );
    // Without --storage-dir the objects live in a temporary directory, which SIGTERM removes.
    let line = emu.line_with("cloud storage in ").await;
    let dir = line.split("cloud storage in ").nth(1).and_then(|rest| rest.split(" (temporary").next()).unwrap();
    let dir = PathBuf::from(dir);
    assert!(line.ends_with("(temporary: removed on Ctrl-C or SIGTERM)"), "{line}");
    assert!(dir.is_dir(), "{line}");
    emu.stop().await;
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[tokio::test]
async fn binary_rejects_a_bad_seed_file() {
    let seed = temp_file("bad-seed.json", "{not json");
    assert!(refused(&["--seed", seed.to_str().unwrap()]).await.contains("seed"));
    let _ = std::fs::remove_file(seed);
}

/// A local server for the binary's forwarding flags: `/sum` (a function), anything under `/svc` (echo).
async fn local_server() -> std::net::SocketAddr {
    use axum::routing::{any, post};
    let echo = |method: axum::http::Method, uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| async move {
        axum::Json(json!({
            "method": method.as_str(),
            "uri": uri.to_string(),
            "caller": headers.get("x-cloudbase-caller").map(|v| v.to_str().unwrap().to_owned()),
            "body": body,
        }))
    };
    let app = axum::Router::new()
        .route(
            "/fn/sum",
            post(|headers: axum::http::HeaderMap, axum::Json(event): axum::Json<Value>| async move {
                let sum = event["a"].as_i64().unwrap_or(0) + event["b"].as_i64().unwrap_or(0);
                let caller = headers.get("x-cloudbase-caller").map(|v| v.to_str().unwrap().to_owned());
                axum::Json(json!({ "sum": sum, "caller": caller }))
            }),
        )
        .route("/svc", any(echo))
        .route("/svc/{*rest}", any(echo));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn binary_forwards_functions_cloud_run_and_apis_to_local_servers() {
    let local = local_server().await;
    let function = format!("sum=http://{local}/fn/sum");
    let service = format!("svc=http://{local}/svc");
    let api = format!("label=http://{local}/svc");
    let mut emu = start(&["--quiet", "--function", &function, "--cloudrun", &service, "--api", &api]).await;
    assert!(emu.line_with("cloudbase-emulator function sum ->").await.ends_with("/fn/sum"));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).no_proxy().build().unwrap();
    let url = emu.url.clone();
    let (status, tokens) =
        post(&http, &format!("{url}/auth/v1/signin/anonymously"), json!({}), &[("x-device-id", DEVICE)]).await;
    assert_eq!(status, 200);
    let auth = format!("Bearer {}", tokens["access_token"].as_str().unwrap());

    let response = http
        .post(format!("{url}/v1/functions/sum"))
        .header("authorization", &auth)
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"a":20,"b":22}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"sum": 42, "caller": "anonymous"}));

    for (path, uri) in [("/v1/cloudrun/svc/items/7?x=1", "/svc/items/7?x=1"), ("/v1/apis/label/m", "/svc/m")] {
        let response = http.put(format!("{url}{path}")).header("authorization", &auth).body("hi").send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let echo: Value = response.json().await.unwrap();
        assert_eq!(echo, json!({"method": "PUT", "uri": uri, "caller": "anonymous", "body": "hi"}));
    }
    let missing = http.post(format!("{url}/v1/functions/other")).header("authorization", &auth).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    emu.stop().await;
}

#[tokio::test]
async fn binary_rejects_bad_forward_flags() {
    for args in [["--function", "sum"], ["--cloudrun", "1bad=http://127.0.0.1:1"], ["--api", "label=ftp://x"]] {
        assert!(refused(&args).await.contains(args[0]), "{args:?}");
    }
}

#[tokio::test]
async fn binary_keeps_storage_objects_in_the_storage_dir() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("objects");
    let mut emu = start(&["--storage-dir", dir.to_str().unwrap()]).await;
    emu.line_with("cloud storage at").await;
    let line = emu.line_with("cloud storage in ").await;
    assert!(line.ends_with(&format!("cloud storage in {}", dir.display())), "{line}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).no_proxy().build().unwrap();
    let (status, tokens) =
        post(&http, &format!("{}/auth/v1/signin/anonymously", emu.url), json!({}), &[("x-device-id", DEVICE)]).await;
    assert_eq!(status, 200);
    let bearer = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let body = json!([{"objectId": "kept.txt"}]);
    let (status, info) =
        post(&http, &format!("{}/v1/storages/get-objects-upload-info", emu.url), body, &[("authorization", &bearer)])
            .await;
    assert_eq!(status, 200);
    let info = &info[0];
    let response = http
        .put(info["uploadUrl"].as_str().unwrap())
        .header("authorization", info["authorization"].as_str().unwrap())
        .header("x-cos-security-token", info["token"].as_str().unwrap())
        .header("x-cos-meta-fileid", info["cloudObjectMeta"].as_str().unwrap())
        .body("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    emu.stop().await;
    // The objects outlive the process.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

#[tokio::test]
async fn binary_seed_data_and_data_dir() {
    let seed = temp_file(
        "seed-data.json",
        &json!({
            "models": [{"name": "todo", "title": "Todos", "fields": [{"name": "text", "type": "string", "required": true}]}],
            "sql": [
                "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT); INSERT INTO items (label) VALUES ('one');",
                "INSERT INTO items (label) VALUES ('two');"
            ]
        })
        .to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let args = ["--quiet", "--seed-data", seed.to_str().unwrap(), "--data-dir", dir.path().to_str().unwrap()];
    let emu = start(&args).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let url = emu.url.clone();
    let (status, tokens) =
        post(&http, &format!("{url}/auth/v1/signin/anonymously"), json!({}), &[("x-device-id", DEVICE)]).await;
    assert_eq!(status, 200, "{tokens}");
    let auth = format!("Bearer {}", tokens["access_token"].as_str().unwrap());
    let rows: Value = http
        .get(format!("{url}/v1/rdb/rest/items?select=label&order=id"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows, json!([{"label": "one"}, {"label": "two"}]));
    let created: Value = http
        .post(format!("{url}/v1/model/prod/todo/create"))
        .header("authorization", &auth)
        .json(&json!({"data": {"text": "buy milk"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(created["data"]["id"].is_string(), "{created}");
    assert!(dir.path().join("default.emulator-env.sqlite3").exists());
    emu.stop().await;
    let _ = std::fs::remove_file(seed);

    // A bad seed file stops the start.
    let bad = temp_file("bad-seed-data.json", r#"{"sql": ["CREATE TABLE ("]}"#);
    assert!(refused(&["--seed-data", bad.to_str().unwrap()]).await.contains("seed"));
    let _ = std::fs::remove_file(bad);
}
