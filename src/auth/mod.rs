//! Authentication: HTTP Basic → verified user, argon2id, verified-credential cache, back-off.

pub mod app_password;
pub mod backoff;
pub mod basic;
pub mod cache;
pub mod password;

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use backoff::{Backoff, BackoffPolicy};
pub use basic::{BasicCredentials, parse_basic};
pub use cache::CredentialCache;
pub use password::{PasswordHasher, generate_password, hash_password, verify_password};

/// Upper bound on cached verifications. Each entry is ~48 bytes, so this is a few hundred KiB
/// at most, far more than the number of concurrently syncing users of a personal server.
pub const CACHE_MAX_ENTRIES: usize = 10_000;

/// Failures that are not about the presented credentials (those yield `AuthOutcome::Rejected`)
/// but about the server's own ability to hash or draw randomness.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed: {0}")]
    Hash(#[from] argon2::password_hash::Error),
    #[error("system random number generator failed")]
    Random,
}

/// What the user store returns for a login.
#[derive(Clone)]
pub struct StoredCredentials {
    pub user_id: i64,
    pub password_hash: String,
    /// The user's active app passwords: (id, SHA-256 of the secret).
    pub app_passwords: Vec<(i64, String)>,
}

/// Which secret proved the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Password,
    AppPassword(i64),
}

/// The hash is not a password, but it is still offline-crackable material: keep it out of logs.
impl fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("user_id", &self.user_id)
            .field("password_hash", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    Authenticated {
        user_id: i64,
        credential: Credential,
    },
    /// Unknown user and wrong password are deliberately indistinguishable.
    Rejected,
    /// Too many recent failures for this login or address; nothing was verified.
    Throttled {
        retry_after: Duration,
    },
}

/// The id of the app password `password` is, if it is one of the user's active ones. SHA-256
/// of a high-entropy secret, compared in constant time: no argon2 needed (see app_password).
fn matching_app_password(stored: &StoredCredentials, password: &str) -> Option<i64> {
    if !app_password::looks_like_app_password(password) {
        return None;
    }
    let presented = app_password::hash(password);
    stored.app_passwords.iter().find(|(_, h)| app_password::matches(&presented, h)).map(|(id, _)| *id)
}

/// Turns presented Basic credentials into a user id. One instance is owned by the server state
/// and shared by all connections; all interior state sits behind its own short-held mutexes.
pub struct Authenticator {
    hasher: PasswordHasher,
    cache: CredentialCache,
    backoff: Backoff,
    /// When each app password's use was last written down, so a sync burst costs one write.
    recorded_use: std::sync::Mutex<std::collections::HashMap<i64, Instant>>,
}

impl Authenticator {
    /// Runs one argon2 hash (for the dummy used on unknown logins), so call it once at startup.
    pub fn new(cache_ttl: Duration, policy: BackoffPolicy) -> Self {
        Self {
            hasher: PasswordHasher::new(),
            cache: CredentialCache::new(cache_ttl, CACHE_MAX_ENTRIES),
            backoff: Backoff::new(policy),
            recorded_use: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Authenticates `creds` presented from `ip`.
    ///
    /// `lookup` maps the login to the stored record; it is not called while throttled. Unless
    /// the verification is cached, exactly one argon2 verification runs whether the login
    /// exists or not, so timing reveals neither. This blocks for ~50 ms on a cache miss: call
    /// it from a blocking-capable context (e.g. `spawn_blocking`).
    pub fn authenticate(
        &self,
        creds: &BasicCredentials,
        ip: IpAddr,
        lookup: impl FnOnce(&str) -> Option<StoredCredentials>,
        now: Instant,
    ) -> AuthOutcome {
        if let Err(retry_after) = self.backoff.check(&creds.login, ip, now) {
            return AuthOutcome::Throttled { retry_after };
        }
        let stored = lookup(&creds.login);
        if let Some(s) = &stored
            && let Some(id) = matching_app_password(s, &creds.password)
        {
            self.backoff.record_success(&creds.login, ip, now);
            return AuthOutcome::Authenticated {
                user_id: s.user_id,
                credential: Credential::AppPassword(id),
            };
        }
        if let Some(s) = &stored
            && self.cache.is_verified(s.user_id, &s.password_hash, &creds.password, now)
        {
            // Still a success: clear any failures that accumulated since it was cached.
            self.backoff.record_success(&creds.login, ip, now);
            return AuthOutcome::Authenticated { user_id: s.user_id, credential: Credential::Password };
        }
        // Verify unconditionally (not in a match guard) so unknown logins pay argon2 too.
        let phc = stored.as_ref().map(|s| s.password_hash.as_str());
        let verified = self.hasher.verify_or_dummy(phc, &creds.password);
        match stored {
            Some(s) if verified => {
                self.cache.remember(s.user_id, &s.password_hash, &creds.password, now);
                self.backoff.record_success(&creds.login, ip, now);
                AuthOutcome::Authenticated { user_id: s.user_id, credential: Credential::Password }
            }
            _ => self.reject(creds, ip, now),
        }
    }

    /// Whether the use of app password `id` should be written to the store now: at most
    /// once a minute per password.
    pub fn should_record_use(&self, id: i64, now: Instant) -> bool {
        const EVERY: Duration = Duration::from_secs(60);
        let mut map = self.recorded_use.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > CACHE_MAX_ENTRIES {
            map.retain(|_, at| now.duration_since(*at) < EVERY);
        }
        match map.get(&id) {
            Some(at) if now.duration_since(*at) < EVERY => false,
            _ => {
                map.insert(id, now);
                true
            }
        }
    }

    /// Drops cached verifications for a user whose record changed in a way the PHC string does
    /// not reflect (deleted, disabled).
    pub fn forget_user(&self, user_id: i64) {
        self.cache.forget_user(user_id);
    }

    fn reject(&self, creds: &BasicCredentials, ip: IpAddr, now: Instant) -> AuthOutcome {
        self.backoff.record_failure(&creds.login, ip, now);
        // `?` (Debug) escapes control characters, so a hostile login cannot forge log lines.
        tracing::info!(login = ?creds.login, %ip, "failed login");
        AuthOutcome::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    const TTL: Duration = Duration::from_secs(60);

    fn creds(login: &str, password: &str) -> BasicCredentials {
        BasicCredentials { login: login.to_owned(), password: password.to_owned() }
    }

    /// A one-user store: "alice" with id 42.
    fn alice_store(phc: &str) -> impl Fn(&str) -> Option<StoredCredentials> + '_ {
        move |login| {
            (login == "alice").then(|| StoredCredentials {
                user_id: 42,
                password_hash: phc.to_owned(),
                app_passwords: vec![],
            })
        }
    }

    fn setup() -> (Authenticator, String) {
        let auth = Authenticator::new(TTL, BackoffPolicy::default());
        let phc = hash_password("right").expect("hash");
        (auth, phc)
    }

    #[test]
    fn correct_password_authenticates() {
        let (auth, phc) = setup();
        let now = Instant::now();
        let outcome = auth.authenticate(&creds("alice", "right"), IP, alice_store(&phc), now);
        assert_eq!(outcome, AuthOutcome::Authenticated { user_id: 42, credential: Credential::Password });
    }

    #[test]
    fn unknown_user_and_wrong_password_are_both_rejected_after_one_argon2() {
        let (auth, phc) = setup();
        let now = Instant::now();
        let wrong = auth.authenticate(&creds("alice", "wrong"), IP, alice_store(&phc), now);
        assert_eq!(wrong, AuthOutcome::Rejected);
        assert_eq!(auth.hasher.verification_count(), 1);
        let unknown = auth.authenticate(&creds("mallory", "right"), IP, alice_store(&phc), now);
        assert_eq!(unknown, AuthOutcome::Rejected);
        assert_eq!(auth.hasher.verification_count(), 2, "unknown user pays argon2 too");
    }

    #[test]
    fn second_login_is_served_from_cache() {
        let (auth, phc) = setup();
        let now = Instant::now();
        let c = creds("alice", "right");
        let first = auth.authenticate(&c, IP, alice_store(&phc), now);
        assert_eq!(first, AuthOutcome::Authenticated { user_id: 42, credential: Credential::Password });
        assert_eq!(auth.hasher.verification_count(), 1);
        assert!(auth.cache.is_verified(42, &phc, "right", now));

        let second = auth.authenticate(&c, IP, alice_store(&phc), now + Duration::from_secs(1));
        assert_eq!(second, AuthOutcome::Authenticated { user_id: 42, credential: Credential::Password });
        assert_eq!(auth.hasher.verification_count(), 1, "no argon2 on a cache hit");

        // A wrong password is not a cache hit and still pays argon2.
        let wrong = auth.authenticate(&creds("alice", "nope"), IP, alice_store(&phc), now);
        assert_eq!(wrong, AuthOutcome::Rejected);
        assert_eq!(auth.hasher.verification_count(), 2);
    }

    #[test]
    fn forget_user_forces_reverification() {
        let (auth, phc) = setup();
        let now = Instant::now();
        let c = creds("alice", "right");
        auth.authenticate(&c, IP, alice_store(&phc), now);
        auth.forget_user(42);
        assert!(!auth.cache.is_verified(42, &phc, "right", now));
        // A deleted user is then simply unknown.
        let gone = auth.authenticate(&c, IP, |_| None, now);
        assert_eq!(gone, AuthOutcome::Rejected);
        assert_eq!(auth.hasher.verification_count(), 2);
    }

    #[test]
    fn throttled_after_the_fifth_failure_without_lookup_or_argon2() {
        let (auth, phc) = setup();
        let now = Instant::now();
        for _ in 0..4 {
            let outcome = auth.authenticate(&creds("alice", "bad"), IP, alice_store(&phc), now);
            assert_eq!(outcome, AuthOutcome::Rejected);
        }
        // The fifth failure is still verified (and rejected) but arms a 1 s lock.
        let fifth = auth.authenticate(&creds("Alice", "bad"), IP, alice_store(&phc), now);
        assert_eq!(fifth, AuthOutcome::Rejected);
        assert_eq!(auth.hasher.verification_count(), 5);

        // Even the right password is refused while locked, without touching the store.
        let locked = auth.authenticate(
            &creds("alice", "right"),
            IP,
            |_| panic!("lookup must not run while throttled"),
            now,
        );
        let expected = Duration::from_secs(1);
        assert_eq!(locked, AuthOutcome::Throttled { retry_after: expected });
        assert_eq!(auth.hasher.verification_count(), 5);

        // After the lock, the right password works and clears the account's counter (the
        // address keeps its own, below its higher threshold).
        let later = now + Duration::from_secs(1);
        let ok = auth.authenticate(&creds("alice", "right"), IP, alice_store(&phc), later);
        assert_eq!(ok, AuthOutcome::Authenticated { user_id: 42, credential: Credential::Password });
        assert_eq!(auth.backoff.len(), 1, "only the address key remains");
    }

    #[test]
    fn unknown_login_is_throttled_the_same_way() {
        let auth = Authenticator::new(TTL, BackoffPolicy::default());
        let now = Instant::now();
        for _ in 0..5 {
            let outcome = auth.authenticate(&creds("ghost", "x"), IP, |_| None, now);
            assert_eq!(outcome, AuthOutcome::Rejected);
        }
        let outcome = auth.authenticate(&creds("ghost", "x"), IP, |_| None, now);
        assert!(matches!(outcome, AuthOutcome::Throttled { .. }), "{outcome:?}");
    }

    #[test]
    fn app_passwords_authenticate_without_argon2_and_die_with_revocation() {
        let (auth, phc) = setup();
        let secret = app_password::generate().expect("secret");
        let stored = StoredCredentials {
            user_id: 42,
            password_hash: phc,
            app_passwords: vec![(7, app_password::hash(&secret))],
        };
        let now = Instant::now();
        let ok = auth.authenticate(&creds("alice", &secret), IP, |_| Some(stored.clone()), now);
        assert_eq!(ok, AuthOutcome::Authenticated { user_id: 42, credential: Credential::AppPassword(7) });
        assert_eq!(auth.hasher.verification_count(), 0, "no argon2 for app passwords");
        // Revoked: no longer among the active ones, so the next request is refused.
        let revoked = StoredCredentials { app_passwords: vec![], ..stored.clone() };
        assert_eq!(
            auth.authenticate(&creds("alice", &secret), IP, |_| Some(revoked), now),
            AuthOutcome::Rejected
        );
        // The main password still works and is told apart.
        let main = auth.authenticate(&creds("alice", "right"), IP, |_| Some(stored), now);
        assert_eq!(main, AuthOutcome::Authenticated { user_id: 42, credential: Credential::Password });
    }

    #[test]
    fn stored_credentials_debug_hides_hash() {
        let s = StoredCredentials {
            user_id: 1,
            password_hash: "$argon2id$secret".to_owned(),
            app_passwords: vec![],
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("argon2id"), "{shown}");
    }
}
