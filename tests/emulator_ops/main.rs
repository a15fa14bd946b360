//! Every operation of `openapi/auth.yaml` against `cloudbase-emulator` over HTTP, through the generated raw
//! client: each operation's success path and its main errors. Every test ends by validating each recorded
//! exchange (request and response) against the spec.

#![cfg(feature = "contract")]

mod captcha;
mod controls;
mod helpers;
mod providers;
mod sign_in;
mod tokens;
mod user;
mod usernames;
mod verification;
mod wire;
