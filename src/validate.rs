//! Input checks made before any request is sent, and the phone-number normalisation of the official SDKs.

use crate::{Error, Secret};

/// Normalises a phone number the way the official SDKs do (`formatPhone`): `+8613800138000` becomes
/// `+86 13800138000`, a number without a country code gets `+86 `, and `+<code> <number>` is kept.
///
/// Unlike the JS SDK, a number written with a space after a 1- to 3-digit code is the way to give a country
/// code other than a 2-digit one: `+852 12345678`, `+1 2025550123`. A bare `+<digits>` is split after two
/// digits, as the official SDKs do.
///
/// ```
/// use cloudbase::format_phone;
/// assert_eq!(format_phone("13800138000").unwrap(), "+86 13800138000");
/// assert_eq!(format_phone("+8613800138000").unwrap(), "+86 13800138000");
/// assert_eq!(format_phone("+1 2025550123").unwrap(), "+1 2025550123");
/// assert!(format_phone("").is_err());
/// assert!(format_phone("+86 138-0013").is_err());
/// ```
pub fn format_phone(phone: &str) -> Result<String, Error> {
    let phone = phone.trim();
    let bad = |reason: &str| Err(Error::invalid("phone", reason.to_owned()));
    if phone.is_empty() {
        return bad("empty");
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let formatted = if let Some(rest) = phone.strip_prefix('+') {
        match rest.split_once(char::is_whitespace) {
            Some((code, number)) => {
                let number = number.trim();
                if !(digits(code) && code.len() <= 3 && digits(number)) {
                    return bad("expected +<country code> <digits>");
                }
                format!("+{code} {number}")
            }
            None => {
                if !digits(rest) || rest.len() < 2 {
                    return bad("expected +<country code><digits>");
                }
                let split = if rest.len() == 2 { 1 } else { 2 };
                format!("+{} {}", &rest[..split], &rest[split..])
            }
        }
    } else {
        if !digits(phone) {
            return bad("expected digits, optionally with a +<country code> prefix");
        }
        format!("+86 {phone}")
    };
    let number_len = formatted.split_once(' ').map_or(0, |(_, n)| n.len());
    if !(4..=15).contains(&number_len) {
        return bad("the number must have 4 to 15 digits");
    }
    Ok(formatted)
}

/// Checks an email address: one `@`, something on both sides, a dot in the domain, no spaces.
pub(crate) fn email(value: &str) -> Result<String, Error> {
    let value = value.trim();
    let Some((local, domain)) = value.split_once('@') else {
        return Err(Error::invalid("email", if value.is_empty() { "empty" } else { "missing @" }));
    };
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace);
    if ok { Ok(value.to_owned()) } else { Err(Error::invalid("email", "not an email address")) }
}

/// A verification code: 4 to 12 ASCII letters or digits (the service sends 6 digits).
pub(crate) fn code(value: &str) -> Result<Secret, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid("code", "empty"));
    }
    if !(4..=12).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid("code", "expected 4 to 12 letters or digits"));
    }
    Ok(Secret::new(value))
}

/// A password: not empty, at most 64 chars (the service's limit).
pub(crate) fn password(field: &'static str, value: &Secret) -> Result<(), Error> {
    let len = value.expose_secret().chars().count();
    if len == 0 {
        return Err(Error::invalid(field, "empty"));
    }
    if len > 64 {
        return Err(Error::invalid(field, "longer than 64 characters"));
    }
    Ok(())
}

/// A non-empty identifier-like string.
pub(crate) fn non_empty(field: &'static str, value: &str) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() { Err(Error::invalid(field, "empty")) } else { Ok(value.to_owned()) }
}

/// A non-empty secret.
pub(crate) fn non_empty_secret(field: &'static str, value: Secret) -> Result<Secret, Error> {
    if value.expose_secret().trim().is_empty() { Err(Error::invalid(field, "empty")) } else { Ok(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_normalisation_follows_the_official_sdk() {
        assert_eq!(format_phone("+12").unwrap_err().to_string(), "invalid phone: the number must have 4 to 15 digits");
        assert_eq!(format_phone("+8613800138000").unwrap(), "+86 13800138000");
        assert_eq!(format_phone(" 13800138000 ").unwrap(), "+86 13800138000");
        assert_eq!(format_phone("+852 12345678").unwrap(), "+852 12345678");
        assert!(format_phone("+86-13800138000").is_err());
        assert!(format_phone("phone").is_err());
        assert!(format_phone("+1234 5678").is_err());
    }

    #[test]
    fn email_checks() {
        assert!(email("a@b.co").is_ok());
        for bad in ["", "a", "a@", "@b.co", "a@b", "a b@c.d", "a@b@c.d", "a@.b"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn code_checks() {
        assert!(code("123456").is_ok());
        for bad in ["", "  ", "12", "12 456", "1234567890123", "12345!"] {
            assert!(code(bad).is_err(), "{bad:?}");
        }
    }
}
