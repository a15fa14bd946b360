//! Quickstart: sign in with a one-time code sent by email, look at the user and the token's claims, refresh
//! the tokens, sign out — with every auth event printed as it happens.
//!
//! With no account and no flags it runs against the embedded emulator (a local CloudBase auth service) and
//! reads the code from the emulator's outbox:
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! Against a real environment, set `CLOUDBASE_ENV` (and, as needed, `CLOUDBASE_REGION`,
//! `CLOUDBASE_ACCESS_KEY` and `CLOUDBASE_EMAIL`); the example asks for the email address (unless given) and
//! for the code you received on stdin:
//!
//! ```text
//! CLOUDBASE_ENV=my-env-1a2b CLOUDBASE_EMAIL=me@example.com cargo run --example quickstart
//! ```
//!
//! Set `RUST_LOG=cloudbase=debug` to see the SDK's own log lines. No token is ever printed: `Session`'s
//! `Debug` shows tokens as `[REDACTED]`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cloudbase::{AuthEvent, CloudBase, SignInWithOtp};
use cloudbase_emulator::Emulator;
use futures::StreamExt as _;
use tokio::time::timeout;

/// Bound on every call to the service (the emulator answers in milliseconds).
const CALL: Duration = Duration::from_secs(20);
/// Bound on waiting for a person typing on stdin.
const HUMAN: Duration = Duration::from_secs(300);

type BoxError = Box<dyn std::error::Error>;

// One thread: the event printer then runs exactly when `settle` yields, so each event line appears under the
// step that caused it.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();

    // Where to run: a real environment when CLOUDBASE_ENV is set, else a local emulator.
    let real_env = std::env::var("CLOUDBASE_ENV").ok().filter(|v| !v.trim().is_empty());
    let (app, emulator) = match &real_env {
        Some(env) => {
            heading(&format!("Using the CloudBase environment {env}"));
            let mut builder = CloudBase::builder(env.trim());
            if let Ok(region) = std::env::var("CLOUDBASE_REGION") {
                builder = builder.region(region);
            }
            if let Ok(key) = std::env::var("CLOUDBASE_ACCESS_KEY") {
                builder = builder.access_key(key);
            }
            (builder.build()?, None)
        }
        None => {
            heading("Starting the local emulator (set CLOUDBASE_ENV to use a real environment)");
            let emu = timeout(CALL, Emulator::start()).await??;
            println!("emulator at {} (env {})", emu.url(), emu.env_id());
            (CloudBase::builder(emu.env_id()).base_url(emu.url()).build()?, Some(emu))
        }
    };
    println!("app: env {}, gateway {}", app.env(), app.base_url());
    let auth = app.auth();

    // Every auth event, printed by a task of its own as it comes. The first is INITIAL_SESSION.
    let mut changes = auth.on_auth_state_change();
    let listener = tokio::spawn(async move {
        while let Some(change) = changes.next().await {
            let who = change.session.as_ref().and_then(|s| s.user.as_ref()).map(|u| u.id.as_str()).unwrap_or("-");
            let until = change.session.as_ref().map(|s| s.expires_at.to_string()).unwrap_or_else(|| "-".into());
            println!("    [event] {:<16} user {who}, token expires at {until}", change.event.as_str());
            if change.event == AuthEvent::SignedOut {
                break;
            }
        }
    });

    settle().await;
    heading("1. Send a sign-in code by email");
    let email = match std::env::var("CLOUDBASE_EMAIL").ok().filter(|v| !v.trim().is_empty()) {
        Some(email) => email,
        None if emulator.is_some() => "quickstart@example.com".to_owned(),
        None => ask("Email address to sign in with: ").await?,
    };
    let pending = timeout(CALL, auth.sign_in_with_otp(SignInWithOtp::email(email.trim()))).await??;
    println!(
        "code sent to {email} (verification id {}, registered user: {:?})",
        pending.verification_id(),
        pending.is_user()
    );

    settle().await;
    heading("2. Verify the code");
    let code = match &emulator {
        Some(emu) => {
            let sent = emu.last_code_for(email.trim()).ok_or("the emulator's outbox holds no code for the address")?;
            println!("(read the code sent to {} from the emulator's outbox)", sent.target);
            sent.code
        }
        None => ask("Code you received: ").await?,
    };
    let session = timeout(CALL, pending.verify(code.trim())).await??;
    println!("signed in; scope {:?}, token expires in {} s", session.scope, session.expires_in);

    settle().await;
    heading("3. The user");
    let user = session.user.as_ref().ok_or("the session carries no user")?;
    println!("id:         {}", user.id);
    println!("email:      {}", user.email.as_deref().unwrap_or("-"));
    println!("name:       {}", user.name.as_deref().unwrap_or("-"));
    println!("roles:      {:?}", user.roles);
    println!("anonymous:  {}", user.is_anonymous);
    println!("created at: {}", user.created_at.as_deref().unwrap_or("-"));

    settle().await;
    heading("4. The access token's claims (decoded locally)");
    let claims = timeout(CALL, auth.get_claims()).await??;
    println!("sub:        {}", claims.sub().unwrap_or("-"));
    println!("iss:        {}", claims.iss().unwrap_or("-"));
    println!("aud:        {}", claims.aud().unwrap_or("-"));
    println!("project_id: {}", claims.project_id().unwrap_or("-"));
    println!("scope:      {}", claims.scope().unwrap_or("-"));
    println!("exp:        {} ({})", claims.exp().unwrap_or_default(), from_now(claims.exp().unwrap_or_default()));
    println!("algorithm:  {}", claims.header.get("alg").and_then(|v| v.as_str()).unwrap_or("-"));

    settle().await;
    heading("5. Refresh the tokens");
    let before = session.expires_at;
    let refreshed = timeout(CALL, auth.refresh_session(None)).await??;
    println!("expiry before: {before} ({})", from_now(before));
    println!("expiry now:    {} ({})", refreshed.expires_at, from_now(refreshed.expires_at));
    if refreshed.expires_at == before {
        println!("(same second: a new token lives as long as the old one did)");
    }
    println!("refresh token rotated: {}", refreshed.refresh_token != session.refresh_token);
    // Tokens never reach the output: their Debug is redacted.
    println!("tokens: access {:?}, refresh {:?}", refreshed.access_token, refreshed.refresh_token);

    settle().await;
    heading("6. Sign out");
    timeout(CALL, auth.sign_out()).await??;
    println!("signed out; session now: {:?}", timeout(CALL, auth.get_session()).await??);

    // The listener stops after SIGNED_OUT.
    timeout(Duration::from_secs(5), listener).await??;
    if let Some(emu) = emulator {
        timeout(Duration::from_secs(5), emu.shutdown()).await?;
    }
    heading("Done");
    Ok(())
}

/// Lets the event printer catch up (on the one-thread runtime it runs before `main` resumes).
async fn settle() {
    tokio::task::yield_now().await;
}

fn heading(text: &str) {
    println!("\n== {text}");
}

/// "in 7199 s" for a Unix time.
fn from_now(unix: u64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    format!("in {} s", unix.saturating_sub(now))
}

/// One line from stdin, after a prompt, waiting at most five minutes.
async fn ask(prompt: &str) -> Result<String, BoxError> {
    use std::io::Write as _;
    print!("{prompt}");
    std::io::stdout().flush()?;
    // std's stdin on a blocking thread: it is buffered process-wide, so no typed line is lost.
    let read = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    });
    let Ok(line) = timeout(HUMAN, read).await else {
        // The blocking read cannot be cancelled, and the runtime would wait for it on shutdown: leave now.
        eprintln!("\nno answer on stdin within {} s", HUMAN.as_secs());
        std::process::exit(1);
    };
    let line = line??;
    if line.trim().is_empty() {
        return Err("no answer on stdin".into());
    }
    Ok(line.trim().to_owned())
}
