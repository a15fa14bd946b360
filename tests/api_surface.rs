//! The public surface: all 31 Flutter auth methods exist under their snake_case names, every future they
//! return is `Send` (so it can be spawned), and the handles are `Clone + Send + Sync`.

use cloudbase::{
    Auth, CloudBase, Contact, GetVerification, OAuthCallback, OAuthOptions, OtpType, ResendType, SignInWithOtp,
    SignInWithPassword, SignUp, UpdateUser, VerifyOtp,
};

fn send<T: Send>(_: T) -> usize {
    1
}

fn shared<T: Clone + Send + Sync + 'static>() {}

#[test]
fn handles_are_clone_send_sync() {
    shared::<CloudBase>();
    shared::<Auth>();
    shared::<cloudbase::Session>();
    // Errors go into anyhow/Box<dyn Error>: Send + Sync + 'static, and std::error::Error.
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    error::<cloudbase::Error>();
    shared::<cloudbase::FileStore>();
    shared::<cloudbase::MemoryStore>();
}

#[tokio::test]
async fn the_31_flutter_methods_exist_and_their_futures_are_send() {
    // Built against an address nothing listens on; the futures are created, never polled.
    let app = CloudBase::builder("env-1").base_url("http://127.0.0.1:9").build().unwrap();
    let auth = app.auth();
    let methods = [
        send(auth.sign_up(SignUp::email("a@example.com"))),
        send(auth.sign_in_anonymously()),
        send(auth.sign_in_with_password(SignInWithPassword::email("a@example.com", "pw"))),
        send(auth.sign_in_with_otp(SignInWithOtp::email("a@example.com"))),
        send(auth.sign_in_with_oauth(OAuthOptions::new("github", "http://127.0.0.1:1/cb"))),
        send(auth.sign_in_with_id_token("token", None)),
        send(auth.sign_in_with_custom_ticket(|| async { Ok::<_, std::io::Error>(String::from("t")) })),
        send(auth.get_session()),
        send(auth.refresh_session(None)),
        send(auth.set_session("a", "r")),
        send(auth.sign_out()),
        send(auth.on_auth_state_change()),
        send(auth.get_claims()),
        send(auth.get_user()),
        send(auth.refresh_user()),
        send(auth.update_user(UpdateUser::new().nickname("Ada"))),
        send(auth.delete_user("pw")),
        send(auth.get_user_identities()),
        send(auth.link_identity("github", "http://127.0.0.1:1/cb")),
        send(auth.unlink_identity("github")),
        send(auth.reset_password_for_email("a@example.com", None)),
        send(auth.reset_password_for_old("old", "new")),
        send(auth.reauthenticate()),
        send(auth.get_verification(GetVerification::new(Contact::email("a@example.com")))),
        send(auth.verify("id", "123456")),
        send(auth.verify_oauth(OAuthCallback::code("c", "s"))),
        send(auth.verify_otp(VerifyOtp {
            kind: OtpType::Email,
            contact: Contact::email("a@example.com"),
            token: "123456".into(),
            message_id: "id".into(),
        })),
        send(auth.resend(Contact::email("a@example.com"), ResendType::Signup)),
        send(auth.get_captcha_token()),
        send(auth.create_captcha_data("POST:/v1/verification", None)),
        send(auth.verify_captcha_data("token", "abcd")),
    ];
    assert_eq!(methods.iter().sum::<usize>(), 31);
    // The callback form of on_auth_state_change.
    let subscription = auth.on_auth_state_change_with(|_| async {});
    subscription.unsubscribe();
}
