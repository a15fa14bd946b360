//! Usernames: the availability check and whether a user exists.

use cloudbase_emulator::{Emulator, NewUser};
use serde_json::json;

use crate::helpers::{INVALID, check_contract, client, email_user, fails, http, ok};

#[tokio::test]
async fn check_username_and_check_if_user_exist() {
    let emu = Emulator::start().await.unwrap();
    emu.create_user(NewUser { username: Some("quinn".into()), ..email_user("quinn@example.com", "quinn-password") });
    let c = client(&emu);
    assert!(ok(c.check_username("quinn").await).exist);
    assert!(!ok(c.check_username("quincy").await).exist);
    fails(c.check_username("_bad name").await, 400, "invalid_argument", 3);
    fails(c.check_username("").await, 400, "invalid_argument", 3);
    assert!(ok(c.check_if_user_exist("quinn").await).exist);
    assert!(ok(c.check_if_user_exist("quinn@example.com").await).exist);
    assert!(!ok(c.check_if_user_exist("nobody").await).exist);
    fails(c.check_if_user_exist("").await, 400, "invalid_argument", 3);
    // The JS SDK sends checkUsername's username as a GET body: accepted too.
    let path = format!("/auth/v1/checkUsername?{INVALID}");
    let (status, _, body) = http(&emu, "GET", &path, Some("text/plain"), Some(r#"{"username":"quinn"}"#), &[]).await;
    assert_eq!((status, body), (200, json!({"exist": true})));
    check_contract(&emu);
}
