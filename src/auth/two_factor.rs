//! Two-factor login as one service for the management API and the web pages: enrolment with
//! a QR code, confirmation (which turns it on and issues recovery codes), checking a code at
//! login, and turning it off. Passwords asked for here go through the login back-off, codes
//! through the per-user second-factor back-off, so neither front end can become an oracle.

use std::net::IpAddr;
use std::time::Instant;

use super::{AuthError, AuthOutcome, Authenticator, SecondFactorOutcome, StoredCredentials, totp};
use crate::store::{Id, Principal, Store, StoreError};

/// What a user needs to add davit to an authenticator app; shown while enrolment is pending.
pub struct Enrollment {
    pub secret_base32: String,
    pub otpauth_uri: String,
    /// The `otpauth://` URI as a QR code: an `<svg>` element, ready to inline in HTML.
    pub qr_svg: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("two-factor login is already on")]
    AlreadyOn,
    #[error("two-factor login is not on")]
    NotOn,
    #[error("no two-factor enrolment is waiting for confirmation: start one first")]
    NoEnrollment,
    #[error("the password is wrong")]
    WrongPassword,
    #[error("the code is wrong, expired or already used")]
    WrongCode,
    #[error("too many failed attempts; retry in {0} seconds")]
    Throttled(u64),
    #[error("{0}")]
    Random(#[from] AuthError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Checks a web login's (or a sensitive action's) main password, under the same back-off as
/// Basic auth. App passwords are not accepted: they must never stand in for the password plus
/// second factor. Unknown login and wrong password give the same `Rejected`.
pub fn check_main_password(
    auth: &Authenticator,
    store: &dyn Store,
    login: &str,
    password: &str,
    ip: IpAddr,
) -> AuthOutcome {
    let creds = super::BasicCredentials { login: login.to_owned(), password: password.to_owned() };
    auth.authenticate(
        &creds,
        ip,
        |login| {
            let found = store.login_credentials(login).ok().flatten()?;
            Some(StoredCredentials {
                user_id: found.user_id,
                password_hash: found.password_hash,
                app_passwords: Vec::new(),
                main_password_allowed: true,
            })
        },
        Instant::now(),
    )
}

/// Why a signed-in user's password was not confirmed before a sensitive change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recheck {
    Wrong,
    /// Seconds until the login back-off lets another attempt through.
    Throttled(u64),
}

/// Re-checks the main password of the signed-in `user` before a change to their credentials
/// (second factor, password), under the login back-off.
pub fn recheck_password(
    auth: &Authenticator,
    store: &dyn Store,
    user: &Principal,
    password: &str,
    ip: IpAddr,
) -> Result<(), Recheck> {
    match check_main_password(auth, store, &user.slug, password, ip) {
        AuthOutcome::Authenticated { user_id, .. } if user_id == user.id => Ok(()),
        AuthOutcome::Throttled { retry_after } => Err(Recheck::Throttled(retry_after.as_secs().max(1))),
        _ => Err(Recheck::Wrong),
    }
}

fn confirm_password(
    auth: &Authenticator,
    store: &dyn Store,
    user: &Principal,
    password: &str,
    ip: IpAddr,
) -> Result<(), TwoFactorError> {
    recheck_password(auth, store, user, password, ip).map_err(|r| match r {
        Recheck::Wrong => TwoFactorError::WrongPassword,
        Recheck::Throttled(secs) => TwoFactorError::Throttled(secs),
    })
}

pub fn is_on(store: &dyn Store, user_id: Id) -> Result<bool, StoreError> {
    Ok(store.two_factor(user_id)?.is_some_and(|t| t.enabled))
}

/// Starts (or restarts) enrolment after checking the password: a new key, not yet in force.
pub fn enroll(
    auth: &Authenticator,
    store: &dyn Store,
    user: &Principal,
    password: &str,
    ip: IpAddr,
) -> Result<Enrollment, TwoFactorError> {
    if is_on(store, user.id)? {
        return Err(TwoFactorError::AlreadyOn);
    }
    confirm_password(auth, store, user, password, ip)?;
    let secret = totp::generate_secret()?;
    store.begin_two_factor(user.id, &secret).map_err(|e| match e {
        StoreError::AlreadyExists => TwoFactorError::AlreadyOn,
        other => other.into(),
    })?;
    Ok(enrollment_of(user, &secret))
}

/// The enrolment waiting for its first code, to show again (to the signed-in user only).
pub fn pending_enrollment(store: &dyn Store, user: &Principal) -> Result<Option<Enrollment>, StoreError> {
    Ok(store.two_factor(user.id)?.filter(|t| !t.enabled).map(|t| enrollment_of(user, &t.secret)))
}

fn enrollment_of(user: &Principal, secret: &[u8]) -> Enrollment {
    let account = user.email.as_deref().unwrap_or(&user.slug);
    let otpauth_uri = totp::otpauth_uri(account, secret);
    Enrollment { secret_base32: totp::secret_base32(secret), qr_svg: qr_svg(&otpauth_uri), otpauth_uri }
}

/// Turns two-factor login on with the first code from the app, which proves the key was
/// stored. Returns the recovery codes: this is the only time they exist outside their hashes.
pub fn confirm(
    auth: &Authenticator,
    store: &dyn Store,
    user_id: Id,
    code: &str,
    ip: IpAddr,
    unix_now: i64,
) -> Result<Vec<String>, TwoFactorError> {
    let pending = match store.two_factor(user_id)? {
        None => return Err(TwoFactorError::NoEnrollment),
        Some(t) if t.enabled => return Err(TwoFactorError::AlreadyOn),
        Some(t) => t,
    };
    let codes = totp::generate_recovery_codes()?;
    let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_code_hash(user_id, c)).collect();
    let outcome = auth.verify_second_factor(user_id, ip, Instant::now(), || {
        match totp::matching_step(&pending.secret, code, unix_now, None) {
            Some(step) => store.enable_two_factor(user_id, step, &hashes),
            None => Ok(false),
        }
    })?;
    settle(outcome)?;
    Ok(codes)
}

/// Checks a TOTP code (not a replay) or an unused recovery code (then used up) of a user with
/// two-factor login on.
pub fn check_code(
    auth: &Authenticator,
    store: &dyn Store,
    user_id: Id,
    code: &str,
    ip: IpAddr,
    unix_now: i64,
) -> Result<(), TwoFactorError> {
    let Some(state) = store.two_factor(user_id)?.filter(|t| t.enabled) else {
        return Err(TwoFactorError::NotOn);
    };
    let outcome = auth.verify_second_factor(user_id, ip, Instant::now(), || {
        if totp::looks_like_totp(code) {
            match totp::matching_step(&state.secret, code, unix_now, state.last_step) {
                Some(step) => store.accept_totp_step(user_id, step),
                None => Ok(false),
            }
        } else if totp::looks_like_recovery_code(code) {
            store.use_recovery_code(user_id, &totp::recovery_code_hash(user_id, code))
        } else {
            Ok(false)
        }
    })?;
    settle(outcome)
}

/// Turns two-factor login off; needs the password and a code. Every web session of the user
/// ends with it (the store does that in the same transaction).
pub fn disable(
    auth: &Authenticator,
    store: &dyn Store,
    user: &Principal,
    password: &str,
    code: &str,
    ip: IpAddr,
    unix_now: i64,
) -> Result<(), TwoFactorError> {
    if !is_on(store, user.id)? {
        return Err(TwoFactorError::NotOn);
    }
    confirm_password(auth, store, user, password, ip)?;
    check_code(auth, store, user.id, code, ip, unix_now)?;
    store.disable_two_factor(user.id)?;
    Ok(())
}

fn settle(outcome: SecondFactorOutcome) -> Result<(), TwoFactorError> {
    match outcome {
        SecondFactorOutcome::Accepted => Ok(()),
        SecondFactorOutcome::Rejected => Err(TwoFactorError::WrongCode),
        SecondFactorOutcome::Throttled { retry_after } => {
            Err(TwoFactorError::Throttled(retry_after.as_secs().max(1)))
        }
    }
}

/// `text` as a QR code in SVG, without the XML declaration so it can sit inside HTML.
pub fn qr_svg(text: &str) -> String {
    use qrcode::render::svg;
    // Medium error correction (the crate's default) fits any otpauth URI davit makes; should
    // encoding ever fail, the page still shows the key and the URI to type in.
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code.render::<svg::Color>().min_dimensions(200, 200).build();
            match svg.find("<svg") {
                Some(start) => svg[start..].to_owned(),
                None => svg,
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not draw the enrolment QR code");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_code_is_inline_svg() {
        let svg = qr_svg("otpauth://totp/davit%3Aalice?secret=MZXW6YTBOI&issuer=davit");
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
    }
}
