//! Local decoding of the access token (`get_claims`). The signature is not verified: the token comes from
//! the service over TLS, and verifying is the resource server's job.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::Error;

/// The decoded access token: header, claims, and the signature as sent.
///
/// Claims the service adds later are kept: [`Claims::get`] reads any of them.
///
/// ```
/// # fn demo(claims: cloudbase::Claims) {
/// println!("user {} until {:?}", claims.sub().unwrap_or("?"), claims.exp());
/// let project = claims.get("project_id").and_then(|v| v.as_str());
/// # let _ = project; }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Claims {
    /// The JOSE header (`alg`, `kid`).
    pub header: Map<String, Value>,
    /// The payload.
    pub claims: Map<String, Value>,
    /// The signature, base64url as sent.
    pub signature: String,
}

impl Claims {
    /// Decodes a JWT without verifying it.
    pub fn decode(token: &str) -> Result<Self, Error> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::invalid("access_token", "not a JWT (expected three dot-separated parts)"));
        };
        Ok(Claims {
            header: decode_part(header, "header")?,
            claims: decode_part(payload, "payload")?,
            signature: signature.to_owned(),
        })
    }

    /// Any claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// `sub`: the user id.
    pub fn sub(&self) -> Option<&str> {
        self.text("sub")
    }

    /// `iss`: the issuer.
    pub fn iss(&self) -> Option<&str> {
        self.text("iss")
    }

    /// `exp`: expiry, seconds since the Unix epoch.
    pub fn exp(&self) -> Option<u64> {
        self.claims.get("exp").and_then(Value::as_u64)
    }

    /// `iat`: issue time, seconds since the Unix epoch.
    pub fn iat(&self) -> Option<u64> {
        self.claims.get("iat").and_then(Value::as_u64)
    }

    /// `scope`.
    pub fn scope(&self) -> Option<&str> {
        self.text("scope")
    }

    /// `project_id`: the environment id.
    pub fn project_id(&self) -> Option<&str> {
        self.text("project_id")
    }

    /// `aud`: the client id (a string, or the first of a list).
    pub fn aud(&self) -> Option<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => Some(s),
            Some(Value::Array(list)) => list.first().and_then(Value::as_str),
            _ => None,
        }
    }
}

fn decode_part(part: &str, what: &str) -> Result<Map<String, Value>, Error> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| Error::invalid("access_token", format!("JWT {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::invalid("access_token", format!("JWT {what} is not a JSON object"))),
    }
}
