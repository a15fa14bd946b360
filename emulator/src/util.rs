//! Small helpers: randomness, time formatting, address normalisation, JWT signing, the captcha image.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;

/// `N` bytes from the OS random source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
}

/// A random url-safe token (base64url of `N` random bytes), with an optional prefix.
pub(crate) fn random_token<const N: usize>(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<N>()))
}

/// `2 * N` random lowercase hex digits.
pub(crate) fn random_hex<const N: usize>() -> String {
    random_bytes::<N>().iter().map(|b| format!("{b:02x}")).collect()
}

/// A random string of `len` decimal digits (leading zeros kept).
pub(crate) fn random_digits(len: u32) -> String {
    let modulus = 10u64.pow(len);
    let value = u64::from_le_bytes(random_bytes::<8>()) % modulus;
    format!("{value:0width$}", width = len as usize)
}

/// `len` characters from `alphabet`, uniformly enough for a test service.
pub(crate) fn random_chars(alphabet: &[u8], len: usize) -> String {
    let bytes = random_bytes::<16>();
    bytes.iter().take(len).map(|b| alphabet[usize::from(*b) % alphabet.len()] as char).collect()
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `2026-11-24T08:00:00Z` (RFC 3339, UTC, whole seconds).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = unix_secs(t);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// `Tue, 24 Nov 2026 08:00:00 GMT` (the HTTP date format of RFC 9110, for `Last-Modified`).
pub(crate) fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = unix_secs(t);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[month as usize - 1],
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whole seconds of a duration, for `expires_in` fields.
pub(crate) fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// The canonical form of a phone number `+<1-3 digit country code><spaces><4-15 digits>`, with one space:
/// `+86 13800138000`. `None` when the value does not have that shape.
pub(crate) fn canonical_phone(value: &str) -> Option<String> {
    let rest = value.trim().strip_prefix('+')?;
    let cc_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=3).contains(&cc_len) {
        return None;
    }
    let (cc, tail) = rest.split_at(cc_len);
    let number = tail.trim_start();
    if number.len() == tail.len() || !(4..=15).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("+{cc} {number}"))
}

/// The digits of a phone number as a user may type it: `+86 138...`, `+86138...`, or `138...` (which the
/// official SDK prefixes with `+86`). Used to match loosely-formatted numbers against stored ones.
pub(crate) fn phone_digits(value: &str) -> Option<String> {
    let value = value.trim();
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let only_phone_chars = value.chars().all(|c| c.is_ascii_digit() || c == '+' || c == ' ' || c == '-');
    if !only_phone_chars || digits.len() < 4 {
        return None;
    }
    Some(if value.starts_with('+') { digits } else { format!("86{digits}") })
}

/// True for `""`, whitespace, or a bare country code such as `"+86 "`: what the official SDK sends as an
/// "empty" address in its reauthentication quirk.
pub(crate) fn is_blankish(value: &str) -> bool {
    let t = value.trim();
    t.is_empty() || (t.starts_with('+') && t.len() <= 4 && t[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// The canonical (lower-case) form of an email address, `None` when it is not one.
pub(crate) fn canonical_email(value: &str) -> Option<String> {
    let value = value.trim();
    let (local, domain) = value.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.len() <= 254;
    ok.then(|| value.to_lowercase())
}

/// Username rules from the sign-in docs: 2-48 chars of letters, digits and `-_.:+@`, starting with a letter
/// or digit.
pub(crate) fn valid_username(value: &str) -> bool {
    let len = value.chars().count();
    (2..=48).contains(&len)
        && value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:+@".contains(c))
}

/// Characters a query or path component keeps as they are: RFC 3986's unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-decodes a URL component (`+` is left alone: it is a path or already-split query value).
pub(crate) fn percent_decode(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

/// Splits an `application/x-www-form-urlencoded` query string into decoded pairs.
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Percent-encodes a query component (RFC 3986 unreserved characters pass through).
pub(crate) fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// A compact JWS (`HS256`) over `claims`, with `kid` in the header.
pub(crate) fn sign_jwt(key: &[u8], kid: &str, claims: &serde_json::Value) -> String {
    let header = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = mac.finalize().into_bytes();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An SVG image showing `answer`, as an RFC 2397 data URI.
pub(crate) fn captcha_image(answer: &str) -> String {
    let noise = random_bytes::<8>();
    let mut lines = String::new();
    for pair in noise.chunks(2) {
        let (a, b) = (u32::from(pair[0]) % 40, u32::from(pair[1]) % 40);
        lines.push_str(&format!(r##"<line x1="0" y1="{a}" x2="120" y2="{b}" stroke="#999" stroke-width="1"/>"##));
    }
    let letters: String = answer
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let x = 14 + i * 26;
            let rotate = i32::from(noise[i % noise.len()] % 30) - 15;
            format!(r#"<text x="{x}" y="29" transform="rotate({rotate} {x} 24)">{c}</text>"#)
        })
        .collect();
    let svg = format!(
        concat!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">"##,
            r##"<rect width="120" height="40" fill="#f4f4f4"/>{}"##,
            r##"<g font-family="monospace" font-size="24" font-weight="bold" fill="#333">{}</g></svg>"##
        ),
        lines, letters
    );
    format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_478_400 + 3661)), "2026-11-24T01:01:01Z");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(1_795_478_400 + 3661)), "Tue, 24 Nov 2026 01:01:01 GMT");
    }

    #[test]
    fn phones_are_normalised() {
        assert_eq!(canonical_phone("+86 13800138000").as_deref(), Some("+86 13800138000"));
        assert_eq!(canonical_phone(" +1   2025550123 ").as_deref(), Some("+1 2025550123"));
        assert_eq!(canonical_phone("+8613800138000"), None);
        assert_eq!(canonical_phone("13800138000"), None);
        assert_eq!(canonical_phone("+86 138-0013"), None);
        assert_eq!(canonical_phone("+1234 5678901"), None);
        assert_eq!(phone_digits("13800138000").as_deref(), Some("8613800138000"));
        assert_eq!(phone_digits("+86 13800138000").as_deref(), Some("8613800138000"));
        assert_eq!(phone_digits("someone@example.com"), None);
        assert!(is_blankish("+86 "));
        assert!(is_blankish(""));
        assert!(!is_blankish("+86 138"));
    }

    #[test]
    fn emails_and_usernames() {
        assert_eq!(canonical_email(" Some.One@Example.com ").as_deref(), Some("some.one@example.com"));
        assert_eq!(canonical_email("no-at-sign"), None);
        assert_eq!(canonical_email("a@b@c"), None);
        assert!(valid_username("alice_01"));
        assert!(!valid_username("_alice"));
        assert!(!valid_username("a"));
        assert!(!valid_username("has space"));
    }

    #[test]
    fn query_round_trip() {
        let q = parse_query("a=1&redirect_uri=http%3A%2F%2F127.0.0.1%3A80%2Fcb&b=x+y&c");
        assert_eq!(q[1], ("redirect_uri".into(), "http://127.0.0.1:80/cb".into()));
        assert_eq!(q[2].1, "x y");
        assert_eq!(q[3], ("c".into(), String::new()));
        assert_eq!(percent_encode("http://x/?a=b c"), "http%3A%2F%2Fx%2F%3Fa%3Db%20c");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn digits_have_fixed_width() {
        for _ in 0..50 {
            let code = random_digits(6);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
