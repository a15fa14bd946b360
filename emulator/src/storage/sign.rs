//! The signatures behind upload and download URLs. All are stateless HMAC-SHA256 over the run's secret, so
//! nothing is stored per URL and a restart invalidates every URL handed out.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The `q-ak` of the emulator's COS-style authorization (there is no real access key).
pub(crate) const ACCESS_KEY: &str = "emulator";

/// Hex HMAC-SHA256 of `parts`, each prefixed by its length so that no two different lists collide.
pub(crate) fn mac(secret: &[u8], parts: &[&str]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    hex(&mac.finalize().into_bytes())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time string comparison, so signatures cannot be guessed byte by byte from timings.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `q-signature` of an upload: method, `/bucket/key`, expiry, the object meta and every signed header as
/// `name=value` (names lower-case, sorted).
pub(crate) fn upload_signature(
    secret: &[u8],
    path: &str,
    end: u64,
    meta: &str,
    headers: &[(String, String)],
) -> String {
    let end = end.to_string();
    let lines: Vec<String> = headers.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let mut parts = vec!["PUT", path, end.as_str(), meta];
    parts.extend(lines.iter().map(String::as_str));
    mac(secret, &parts)
}

/// The `X-Cos-Security-Token` of an upload of `key` valid until `end`.
pub(crate) fn upload_token(secret: &[u8], key: &str, end: u64) -> String {
    mac(secret, &["token", key, &end.to_string()])
}

/// The `X-Cos-Meta-Fileid` of an upload: the owner's id (base64url) and a MAC binding it to the key and
/// expiry, so a client can neither forge an owner nor reuse the meta of another upload.
pub(crate) fn upload_meta(secret: &[u8], key: &str, end: u64, owner: &str) -> String {
    let tag = mac(secret, &["meta", key, &end.to_string(), owner]);
    format!("{}.{tag}", URL_SAFE_NO_PAD.encode(owner))
}

/// The owner an upload meta names, if it was issued for `key` and `end`.
pub(crate) fn meta_owner(secret: &[u8], key: &str, end: u64, meta: &str) -> Option<String> {
    let (encoded, tag) = meta.split_once('.')?;
    let owner = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    same(&mac(secret, &["meta", key, &end.to_string(), &owner]), tag).then_some(owner)
}

/// The `sign` of a download URL of `/bucket/key` valid until `t`.
pub(crate) fn download_signature(secret: &[u8], path: &str, t: u64) -> String {
    mac(secret, &["GET", path, &t.to_string()])
}

/// The parts of a COS-style `Authorization` header the emulator checks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Authorization {
    /// The end of `q-sign-time` (unix seconds).
    pub end: u64,
    /// `q-header-list`: lower-case names.
    pub headers: Vec<String>,
    /// `q-signature`.
    pub signature: String,
}

/// The header the upload info hands out.
pub(crate) fn authorization(start: u64, end: u64, header_names: &[String], signature: &str) -> String {
    format!(
        "q-sign-algorithm=sha1&q-ak={ACCESS_KEY}&q-sign-time={start};{end}&q-key-time={start};{end}\
         &q-header-list={}&q-url-param-list=&q-signature={signature}",
        header_names.join(";")
    )
}

/// Parses an `Authorization` header; `None` when a needed part is missing or malformed.
pub(crate) fn parse_authorization(value: &str) -> Option<Authorization> {
    let field = |name: &str| value.split('&').find_map(|p| p.strip_prefix(name)?.strip_prefix('='));
    let end = field("q-sign-time")?.split_once(';')?.1.parse().ok()?;
    let headers = field("q-header-list")?.split(';').filter(|h| !h.is_empty()).map(str::to_ascii_lowercase).collect();
    let signature = field("q-signature").filter(|s| !s.is_empty())?.to_owned();
    Some(Authorization { end, headers, signature })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"secret";

    #[test]
    fn macs_separate_their_parts() {
        assert_ne!(mac(SECRET, &["ab", "c"]), mac(SECRET, &["a", "bc"]));
        assert_ne!(mac(SECRET, &["a"]), mac(b"other", &["a"]));
        assert_eq!(mac(SECRET, &["a"]).len(), 64);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn authorization_round_trip() {
        let names = vec!["content-length".to_owned(), "content-type".to_owned()];
        let header = authorization(100, 200, &names, "f00d");
        assert_eq!(
            header,
            "q-sign-algorithm=sha1&q-ak=emulator&q-sign-time=100;200&q-key-time=100;200\
             &q-header-list=content-length;content-type&q-url-param-list=&q-signature=f00d"
        );
        let parsed = parse_authorization(&header).unwrap();
        assert_eq!(parsed, Authorization { end: 200, headers: names, signature: "f00d".into() });
        assert_eq!(parse_authorization("q-sign-time=1;2&q-header-list=&q-signature=").map(|a| a.end), None);
        assert_eq!(parse_authorization("Bearer x"), None);
        assert_eq!(parse_authorization("q-sign-time=1;2&q-header-list=&q-signature=ab").unwrap().headers.len(), 0);
    }

    #[test]
    fn signatures_cover_every_input() {
        let headers = vec![("content-type".to_owned(), "text/plain".to_owned())];
        let base = upload_signature(SECRET, "/b/k", 10, "m", &headers);
        assert_ne!(base, upload_signature(SECRET, "/b/k2", 10, "m", &headers));
        assert_ne!(base, upload_signature(SECRET, "/b/k", 11, "m", &headers));
        assert_ne!(base, upload_signature(SECRET, "/b/k", 10, "m2", &headers));
        assert_ne!(base, upload_signature(SECRET, "/b/k", 10, "m", &[]));
        assert_ne!(download_signature(SECRET, "/b/k", 10), download_signature(SECRET, "/b/k", 11));
        assert_ne!(upload_token(SECRET, "k", 10), upload_token(SECRET, "k", 11));
    }

    #[test]
    fn metas_name_their_owner_for_one_upload() {
        let meta = upload_meta(SECRET, "k", 10, "user-1");
        assert_eq!(meta_owner(SECRET, "k", 10, &meta).as_deref(), Some("user-1"));
        assert_eq!(meta_owner(SECRET, "k2", 10, &meta), None);
        assert_eq!(meta_owner(SECRET, "k", 11, &meta), None);
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode("user-2"), meta.split_once('.').unwrap().1);
        assert_eq!(meta_owner(SECRET, "k", 10, &forged), None);
    }
}
