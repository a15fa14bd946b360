//! Password hashing (Argon2id at the configured cost) and verification.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{ApiError, ApiResult};
use crate::{PasswordHashing, util};

pub(crate) fn hash_password(cost: PasswordHashing, password: &str) -> ApiResult<String> {
    let params = match cost {
        PasswordHashing::Fast => Params::new(64, 1, 1, None),
        PasswordHashing::Standard => Ok(Params::default()),
    }
    .map_err(|e| ApiError::internal(format!("argon2 parameters: {e}")))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = util::random_bytes::<16>();
    argon2
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("password hashing failed: {e}")))
}

pub(crate) fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}
