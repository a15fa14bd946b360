//! Anonymous sign-in against the embedded emulator: the anonymous user belongs to the device, so signing in
//! twice with the same app (the same device id) gives the same user, while another device gets another
//! user.
//!
//! ```text
//! cargo run --example anonymous
//! ```

use std::time::Duration;

use cloudbase::{CloudBase, Session};
use cloudbase_emulator::Emulator;
use tokio::time::timeout;

/// Bound on every call (the emulator answers in milliseconds).
const CALL: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    heading("Starting the emulator");
    let emu = timeout(CALL, Emulator::start()).await??;
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
    let auth = app.auth();
    println!("emulator at {}; this app's device id is {}", emu.url(), auth.device_id().await?);

    heading("1. Sign in anonymously");
    let first = timeout(CALL, auth.sign_in_anonymously()).await??;
    describe(&first);

    heading("2. Sign out, then sign in anonymously again with the same app");
    timeout(CALL, auth.sign_out()).await??;
    println!("signed out");
    let second = timeout(CALL, auth.sign_in_anonymously()).await??;
    describe(&second);
    let (first_id, second_id) = (user_id(&first), user_id(&second));
    println!("same user as before: {}", first_id == second_id);
    if first_id != second_id {
        return Err("the same device got a different anonymous user".into());
    }

    heading("3. Another device (a new app with its own store, hence its own device id)");
    let other = CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?;
    println!("device id {}", other.auth().device_id().await?);
    let third = timeout(CALL, other.auth().sign_in_anonymously()).await??;
    describe(&third);
    println!("same user as the first device: {}", user_id(&third) == first_id);
    timeout(CALL, other.auth().sign_out()).await??;

    heading("4. Sign out");
    timeout(CALL, auth.sign_out()).await??;
    println!("signed out; session now: {:?}", timeout(CALL, auth.get_session()).await??);

    timeout(CALL, emu.shutdown()).await?;
    heading("Done");
    Ok(())
}

fn heading(text: &str) {
    println!("\n== {text}");
}

fn user_id(session: &Session) -> &str {
    session.user.as_ref().map(|u| u.id.as_str()).unwrap_or("-")
}

fn describe(session: &Session) {
    println!("user id:                {}", user_id(session));
    println!("session.is_anonymous(): {}", session.is_anonymous());
    println!("scope:                  {}", session.scope.as_deref().unwrap_or("-"));
    println!("user.is_anonymous:      {}", session.user.as_ref().is_some_and(|u| u.is_anonymous));
}
