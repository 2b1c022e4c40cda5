//! A signed-in user changing their own password (web account page and management API). The
//! current password is asked for again, under the login back-off, so a session left open on
//! a shared computer cannot be used to take the account over. Every web session of the user
//! ends with the change (the store does that in the same transaction); app passwords are
//! separate credentials and keep working.

use std::net::IpAddr;

use super::two_factor::{Recheck, recheck_password};
use super::{AuthError, Authenticator, hash_password};
use crate::store::{Principal, Store, StoreError};

/// Shortest password accepted, in characters (the CLI's `user add|passwd` ask the same).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes: argon2 hashes any length, but a login request whose
/// header carries megabytes is refused long before, so such a password could never be used.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("too many failed attempts; retry in {0} seconds")]
    Throttled(u64),
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Hash(#[from] AuthError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Why `password` cannot become an account password, if it cannot.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("the new password must have at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("the new password may have at most {MAX_PASSWORD_BYTES} bytes"));
    }
    if password.chars().any(char::is_control) {
        return Err("the new password may not contain control characters".into());
    }
    Ok(())
}

/// Sets `user`'s password to `new` after checking `current`. The new password is checked
/// before the current one is verified, so a refused new password costs no login attempt.
pub fn change_password(
    auth: &Authenticator,
    store: &dyn Store,
    user: &Principal,
    current: &str,
    new: &str,
    ip: IpAddr,
) -> Result<(), PasswordChangeError> {
    check_new_password(new).map_err(PasswordChangeError::Rejected)?;
    if new == current {
        return Err(PasswordChangeError::Rejected("the new password is the same as the current one".into()));
    }
    recheck_password(auth, store, user, current, ip).map_err(|r| match r {
        Recheck::Wrong => PasswordChangeError::WrongPassword,
        Recheck::Throttled(secs) => PasswordChangeError::Throttled(secs),
    })?;
    store.set_password(&user.slug, &hash_password(new)?)?;
    // The cache is keyed by the stored hash, so the old password no longer matches anyway;
    // dropping the user's entries also frees them at once.
    auth.forget_user(user.id);
    tracing::info!(user = %user.slug, %ip, "password changed");
    Ok(())
}
