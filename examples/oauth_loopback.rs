//! OAuth sign-in for a CLI or desktop app, with `sign_in_with_oauth_loopback`: the SDK listens on
//! `127.0.0.1`, hands the provider's authorization URL to a callback that opens a browser, receives the
//! provider's redirect, exchanges the code and signs in.
//!
//! ```text
//! cargo run --example oauth_loopback
//! ```
//!
//! It runs against the embedded emulator, whose `github` test provider consents at once: its authorization
//! page answers `302` to the loopback address with `code` and `state`. The "browser" here is a `reqwest`
//! GET that follows that redirect; a real app would open the URL in the user's browser instead (and keep
//! the default 5-minute timeout).

use std::time::Duration;

use cloudbase::{CloudBase, LoopbackOptions};
use cloudbase_emulator::Emulator;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Bound on every call (the emulator answers in milliseconds).
const CALL: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    heading("Starting the emulator");
    let emu = timeout(CALL, Emulator::start()).await??;
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
    let auth = app.auth();
    println!("emulator at {}", emu.url());

    heading("1. Sign in with GitHub through a loopback redirect");
    // The simulated browser: follows redirects (reqwest's default policy, up to 10), so the emulator's
    // 302 lands on the SDK's loopback listener.
    let browser = reqwest::Client::builder().timeout(CALL).build()?;
    let mut visit: Option<JoinHandle<Result<String, reqwest::Error>>> = None;
    let options = LoopbackOptions::default().timeout(CALL);
    let session = timeout(
        CALL,
        auth.sign_in_with_oauth_loopback("github", options, |url| {
            println!("open in a browser: {url}");
            let url = url.to_owned();
            // `open` must not block: the listener starts receiving only once it returns.
            visit = Some(tokio::spawn(async move {
                let response = browser.get(url).send().await?;
                let landed = format!("{} {}", response.status(), response.url().path());
                let page = response.text().await?;
                Ok(format!("{landed}: {page}"))
            }));
        }),
    )
    .await??;
    let visit = visit.ok_or("the SDK never asked to open the URL")?;
    println!("the browser ended on: {}", timeout(CALL, visit).await???);

    heading("2. The signed-in user");
    let user = session.user.as_ref().ok_or("the session carries no user")?;
    println!("id:         {}", user.id);
    println!("name:       {}", user.name.as_deref().unwrap_or("-"));
    println!("anonymous:  {}", session.is_anonymous());
    for identity in &user.identities {
        println!(
            "identity:   {} (user {} at the provider)",
            identity.provider,
            identity.provider_user_id.as_deref().unwrap_or("-")
        );
    }
    let bound = timeout(CALL, auth.get_user_identities()).await??;
    println!("bound identity sources: {:?}", bound.iter().map(|i| i.provider.as_str()).collect::<Vec<_>>());

    heading("3. Sign out");
    timeout(CALL, auth.sign_out()).await??;
    println!("signed out");

    timeout(CALL, emu.shutdown()).await?;
    heading("Done");
    Ok(())
}

fn heading(text: &str) {
    println!("\n== {text}");
}
