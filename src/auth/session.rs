//! Web sessions: what a browser holds after logging in on the web pages, and what the API
//! accepts instead of Basic credentials.
//!
//! The cookie carries 256 random bits; the server keeps only their SHA-256, so a copy of the
//! database holds no usable session. Looking a session up by that hash is constant-time with
//! respect to the secret for the same reason as feed tokens (see `feeds::token`). Each session
//! has its own CSRF token, which every state-changing form and cookie-authenticated API call
//! must carry; it is compared in constant time.
//!
//! A session ends after 12 hours without use or 7 days after login, whichever comes first, on
//! logout, on a password change (the store ends them with it) and when two-factor login is
//! turned off. A session that has passed the password but not yet the second factor lives five
//! minutes and allows nothing but entering the code.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AuthError;
use crate::store::{Id, NewWebSession, Store, StoreError};

pub const COOKIE_NAME: &str = "davit_session";
/// Seconds without a request after which a session is over.
pub const IDLE_SECONDS: i64 = 12 * 3600;
/// Seconds after login after which a session is over, however active.
pub const ABSOLUTE_SECONDS: i64 = 7 * 24 * 3600;
/// Seconds a password-checked session has to present its second factor.
pub const SECOND_FACTOR_SECONDS: i64 = 5 * 60;
/// Last use is written at most this often, so a page with many requests costs one write.
const TOUCH_EVERY_SECONDS: i64 = 60;
const TOKEN_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Random(#[from] AuthError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// A session just created: the cookie value exists only here and in the browser.
pub struct NewSession {
    pub cookie_value: String,
    pub csrf_token: String,
    /// Seconds the browser should keep the cookie.
    pub max_age: i64,
}

/// A live session found from a cookie.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub id_hash: String,
    pub user_id: Id,
    pub csrf_token: String,
    pub second_factor_pending: bool,
}

/// The current Unix time in seconds (the clock sessions and TOTP codes are measured by).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// 256 random bits, base64url: a session id, a CSRF token, a login-form token.
pub fn random_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| AuthError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The server-side key of a session: SHA-256 of the cookie value, in hex.
pub fn id_hash(cookie_value: &str) -> String {
    hex::encode(Sha256::digest(cookie_value.as_bytes()))
}

/// Starts a session for `user_id` at Unix time `now`.
pub fn start(
    store: &dyn Store,
    user_id: Id,
    second_factor_pending: bool,
    now: i64,
) -> Result<NewSession, SessionError> {
    let cookie_value = random_token()?;
    let csrf_token = random_token()?;
    let max_age = if second_factor_pending { SECOND_FACTOR_SECONDS } else { ABSOLUTE_SECONDS };
    store.create_web_session(&NewWebSession {
        id_hash: &id_hash(&cookie_value),
        user_id,
        csrf_token: &csrf_token,
        second_factor_pending,
        created_at: now,
        expires_at: now + max_age,
    })?;
    Ok(NewSession { cookie_value, csrf_token, max_age })
}

/// The live session a cookie value names, if any; an expired one is deleted on the way.
pub fn resume(store: &dyn Store, cookie_value: &str, now: i64) -> Result<Option<ActiveSession>, StoreError> {
    let hash = id_hash(cookie_value);
    let Some(s) = store.web_session(&hash)? else { return Ok(None) };
    if now >= s.expires_at || now - s.last_seen_at >= IDLE_SECONDS {
        store.delete_web_session(&hash)?;
        return Ok(None);
    }
    if now - s.last_seen_at >= TOUCH_EVERY_SECONDS {
        store.touch_web_session(&hash, now)?;
    }
    Ok(Some(ActiveSession {
        id_hash: hash,
        user_id: s.user_id,
        csrf_token: s.csrf_token,
        second_factor_pending: s.second_factor_pending,
    }))
}

/// Whether the presented CSRF token is the session's, compared in constant time.
pub fn csrf_matches(expected: &str, presented: Option<&str>) -> bool {
    let Some(presented) = presented else { return false };
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// Where and how cookies are set: `Path` is the base path's root, `Secure` when the public
/// URL is https (a browser would refuse a Secure cookie over plain http).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookiePolicy {
    pub path: String,
    pub secure: bool,
}

impl CookiePolicy {
    pub fn new(base_path: &str, public_url: &str) -> Self {
        CookiePolicy { path: format!("{base_path}/"), secure: public_url.starts_with("https://") }
    }

    /// A `Set-Cookie` value: HttpOnly (no script reads it), SameSite=Lax (not sent with
    /// cross-site POSTs, still sent when following a link to the account page).
    pub fn set(&self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", self.path)
    }

    /// A `Set-Cookie` value that makes the browser drop the cookie.
    pub fn clear(&self, name: &str) -> String {
        self.set(name, "", 0)
    }
}

/// The value of cookie `name` in `Cookie` header values (RFC 6265 §4.2: `a=b; c=d`).
pub fn cookie_value<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let token = random_token().unwrap();
        assert!(csrf_matches(&token, Some(&token)));
        assert!(!csrf_matches(&token, None));
        assert!(!csrf_matches(&token, Some("")));
        assert!(!csrf_matches(&token, Some(&token[..token.len() - 1])));
        assert!(!csrf_matches(&token, Some(&format!("{token}x"))));
        assert!(!csrf_matches(&token, Some(&token.to_uppercase())));
        assert!(!csrf_matches("", Some("")), "a session without a token accepts nothing");
    }

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = random_token().unwrap();
        assert_ne!(a, random_token().unwrap());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(id_hash(&a).len(), 64);
        assert_ne!(id_hash(&a), a);
    }

    #[test]
    fn cookie_attributes() {
        let plain = CookiePolicy::new("", "");
        assert_eq!(plain.set("s", "v", 60), "s=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
        let tls = CookiePolicy::new("/cal", "https://cal.example.org");
        assert_eq!(tls.set("s", "v", 60), "s=v; Path=/cal/; Max-Age=60; HttpOnly; SameSite=Lax; Secure");
        assert!(tls.clear("s").starts_with("s=; Path=/cal/; Max-Age=0;"));
    }

    #[test]
    fn cookie_header_parsing() {
        let headers = ["a=1; davit_session=abc; b=2", "c=3"];
        assert_eq!(cookie_value(headers, "davit_session"), Some("abc"));
        assert_eq!(cookie_value(headers, "c"), Some("3"));
        assert_eq!(cookie_value(headers, "davit"), None);
        assert_eq!(cookie_value(["x_davit_session=abc"], "davit_session"), None);
    }

    #[test]
    fn sessions_expire_when_idle_and_absolutely() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("db")).unwrap();
        let org = store.create_organization("o").unwrap();
        let user = store
            .create_user(&crate::store::NewUser {
                slug: "u".into(),
                display_name: "u".into(),
                email: None,
                password_hash: "x".into(),
                org_id: org,
                role: crate::store::Role::Owner,
            })
            .unwrap();
        let t0 = 1_000_000;
        let s = start(&store, user.id, false, t0).unwrap();
        assert_eq!(s.max_age, ABSOLUTE_SECONDS);
        let live = resume(&store, &s.cookie_value, t0 + 10).unwrap().expect("live");
        assert_eq!((live.user_id, live.csrf_token.as_str()), (user.id, s.csrf_token.as_str()));
        assert!(resume(&store, "not-a-session", t0).unwrap().is_none());
        // Used every 11 hours it stays alive…
        let mut t = t0;
        while t + 11 * 3600 < t0 + ABSOLUTE_SECONDS {
            t += 11 * 3600;
            assert!(resume(&store, &s.cookie_value, t).unwrap().is_some(), "alive at {t}");
        }
        // …until the absolute limit.
        assert!(resume(&store, &s.cookie_value, t0 + ABSOLUTE_SECONDS).unwrap().is_none());
        // Idle for 12 hours: over, and deleted.
        let idle = start(&store, user.id, false, t0).unwrap();
        assert!(resume(&store, &idle.cookie_value, t0 + IDLE_SECONDS).unwrap().is_none());
        assert!(store.web_session(&id_hash(&idle.cookie_value)).unwrap().is_none());
        // A half-logged-in session lasts minutes.
        let pending = start(&store, user.id, true, t0).unwrap();
        assert!(resume(&store, &pending.cookie_value, t0 + 60).unwrap().unwrap().second_factor_pending);
        assert!(resume(&store, &pending.cookie_value, t0 + SECOND_FACTOR_SECONDS).unwrap().is_none());
    }
}
