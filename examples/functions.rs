//! Call your backend with the signed-in session: a cloud function with a typed request and response, and a
//! cloud run service that streams server-sent events, all on the embedded emulator (no account needed):
//!
//! ```text
//! cargo run --example functions
//! ```
//!
//! The emulator runs the function and the service as Rust handlers here; with the binary, point them at a
//! local server in any language instead (`cloudbase-emulator --function sum=http://127.0.0.1:8080/sum`).

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use cloudbase::CloudBase;
use cloudbase::http::Method;
use cloudbase_emulator::{Emulator, FunctionReply};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::timeout;

/// Bound on every call (the emulator answers in milliseconds).
const CALL: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct Order {
    items: Vec<u32>,
}

#[derive(Deserialize)]
struct Receipt {
    total: u32,
    customer: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder()
        .function("checkout", |event, caller| async move {
            let total = event["items"].as_array().map(|v| v.iter().filter_map(|n| n.as_u64()).sum::<u64>());
            let customer = caller.user_id().unwrap_or("nobody").to_owned();
            Ok(FunctionReply::Json(json!({ "total": total.unwrap_or(0), "customer": customer })))
        })
        .cloudrun("chat", |_request, _caller| async move {
            let words = ["Hello", "from", "cloud", "run"];
            let stream = futures::stream::iter(words).then(|word| async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                Ok::<_, std::io::Error>(Bytes::from(format!("data: {word}\n\n")))
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .expect("a response")
        })
        .start()
        .await?;
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;

    let session = timeout(CALL, app.auth().sign_in_anonymously()).await??;
    println!("signed in anonymously as {}", session.user.map(|u| u.id).unwrap_or_default());

    let receipt =
        timeout(CALL, app.call_function("checkout").data(&Order { items: vec![3, 4, 5] }).send::<Receipt>()).await??;
    let Receipt { total, customer } = receipt.result;
    println!("checkout: total {total} for {customer} (request id {:?})", receipt.request_id);

    let reply = timeout(CALL, app.call_container("chat").method(Method::POST).path("/stream").send()).await??;
    let mut events = reply.events();
    print!("chat:");
    while let Some(event) = timeout(CALL, events.next()).await? {
        print!(" {}", event?.data);
    }
    println!();
    emu.shutdown().await;
    Ok(())
}
