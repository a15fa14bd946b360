//! Password sign-in against the embedded emulator: a wrong password and the error it gives, the user's
//! profile, a password change (`reset_password_for_old`), signing in with the new password, and a session
//! kept in a file ([`FileStore`]) that a second app — as after a restart — picks up.
//!
//! ```text
//! cargo run --example password
//! ```
//!
//! The emulator is seeded with one user (`ada@example.com`); nothing leaves the machine.

use std::time::Duration;

use cloudbase::{CloudBase, ErrorCode, FileStore, SignInWithPassword};
use cloudbase_emulator::{Emulator, NewUser};
use tokio::time::timeout;

/// Bound on every call (the emulator answers in milliseconds).
const CALL: Duration = Duration::from_secs(10);

const EMAIL: &str = "ada@example.com";
const FIRST_PASSWORD: &str = "Example-Passw0rd";
const NEW_PASSWORD: &str = "Example-Passw0rd-2";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    heading("Starting the emulator and seeding a user");
    let emu = timeout(CALL, Emulator::start()).await??;
    let user_id = emu.create_user(NewUser {
        email: Some(EMAIL.to_owned()),
        password: Some(FIRST_PASSWORD.to_owned()),
        name: Some("Ada".to_owned()),
        ..Default::default()
    });
    println!("emulator at {}; user {user_id} <{EMAIL}>", emu.url());

    // Sessions (and the device id) go to a JSON file, created with mode 0600.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("session.json");
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).session_store(FileStore::new(&path)).build()?;
    let auth = app.auth();

    heading("1. A wrong password");
    match timeout(CALL, auth.sign_in_with_password(SignInWithPassword::email(EMAIL, "not-the-password"))).await? {
        Ok(_) => return Err("a wrong password was accepted".into()),
        Err(e) => {
            let code = e.code().map(ErrorCode::as_str).unwrap_or("(no service code)");
            println!("code():    {code}");
            println!("Display:   {e}");
            println!("retryable: {}", e.is_retryable());
        }
    }

    heading("2. The right password");
    let session = timeout(CALL, auth.sign_in_with_password(SignInWithPassword::email(EMAIL, FIRST_PASSWORD))).await??;
    println!("signed in as {}; token expires in {} s", user_line(session.user.as_ref()), session.expires_in);

    heading("3. get_user (fetched from the service)");
    let user = timeout(CALL, auth.get_user()).await??;
    println!("{}", user_line(Some(&user)));
    println!("identities: {:?}", user.identities.iter().map(|i| i.provider.as_str()).collect::<Vec<_>>());

    heading("4. Change the password (confirming the old one)");
    timeout(CALL, auth.reset_password_for_old(FIRST_PASSWORD, NEW_PASSWORD)).await??;
    println!("password changed");
    match timeout(CALL, auth.sign_in_with_password(SignInWithPassword::email(EMAIL, FIRST_PASSWORD))).await? {
        Ok(_) => return Err("the old password still works".into()),
        Err(e) => println!("the old password is refused: {}", e.code().map(ErrorCode::as_str).unwrap_or("?")),
    }

    heading("5. Sign in with the new password");
    let session = timeout(CALL, auth.sign_in_with_password(SignInWithPassword::email(EMAIL, NEW_PASSWORD))).await??;
    println!("signed in as {}", user_line(session.user.as_ref()));
    println!("session file: {} ({} bytes)", path.display(), std::fs::metadata(&path)?.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        println!("file mode:    {:o}", std::fs::metadata(&path)?.permissions().mode() & 0o777);
    }

    heading("6. A second app on the same file (as after a restart)");
    drop(auth);
    drop(app);
    let app = CloudBase::builder(emu.env_id()).base_url(emu.url()).session_store(FileStore::new(&path)).build()?;
    let auth = app.auth();
    let restored = timeout(CALL, auth.get_session()).await??.ok_or("the second app found no session")?;
    println!("restored session of {} (same device id: {})", user_line(restored.user.as_ref()), auth.device_id().await?);
    let user = timeout(CALL, auth.get_user()).await??;
    println!("and its token works: get_user -> {}", user.id);

    heading("7. Sign out");
    timeout(CALL, auth.sign_out()).await??;
    let third = CloudBase::builder(emu.env_id()).base_url(emu.url()).session_store(FileStore::new(&path)).build()?;
    println!("signed out; a new app on the file finds: {:?}", timeout(CALL, third.auth().get_session()).await??);

    timeout(CALL, emu.shutdown()).await?;
    heading("Done");
    Ok(())
}

fn heading(text: &str) {
    println!("\n== {text}");
}

fn user_line(user: Option<&cloudbase::User>) -> String {
    match user {
        Some(u) => format!("{} <{}> ({})", u.id, u.email.as_deref().unwrap_or("-"), u.name.as_deref().unwrap_or("-")),
        None => "(no user)".to_owned(),
    }
}
