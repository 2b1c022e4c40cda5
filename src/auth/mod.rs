//! Authentication: HTTP Basic → verified user, argon2id, verified-credential cache, back-off;
//! the second factor (TOTP, recovery codes) and web sessions.

pub mod app_password;
pub mod backoff;
pub mod basic;
pub mod cache;
pub mod password;
pub mod password_change;
pub mod session;
pub mod totp;
pub mod two_factor;

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
    /// False when the main password alone proves too little here: two-factor login is on and
    /// this entry point (DAV, the API by Basic auth) cannot ask for the second factor.
    pub main_password_allowed: bool,
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
    /// The main password was right but is not enough (see `main_password_allowed`). Neither a
    /// success nor a failure for the back-off, and never cached as a success.
    SecondFactorRequired {
        user_id: i64,
    },
}

/// The result of checking a TOTP or recovery code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorOutcome {
    Accepted,
    Rejected,
    Throttled { retry_after: Duration },
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
    /// Failed second factors, keyed per user (6 digits are guessable without it).
    second_factor: Backoff,
    /// When each app password's use was last written down, so a sync burst costs one write.
    recorded_use: std::sync::Mutex<std::collections::HashMap<i64, Instant>>,
}

impl Authenticator {
    /// Runs one argon2 hash (for the dummy used on unknown logins), so call it once at startup.
    pub fn new(cache_ttl: Duration, policy: BackoffPolicy) -> Self {
        Self {
            hasher: PasswordHasher::new(),
            cache: CredentialCache::new(cache_ttl, CACHE_MAX_ENTRIES),
            backoff: Backoff::new(policy.clone()),
            second_factor: Backoff::new(policy),
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
            // The cache says the password is right, not that it is enough: ask every time.
            if !s.main_password_allowed {
                return AuthOutcome::SecondFactorRequired { user_id: s.user_id };
            }
            // Still a success: clear any failures that accumulated since it was cached.
            self.backoff.record_success(&creds.login, ip, now);
            return AuthOutcome::Authenticated { user_id: s.user_id, credential: Credential::Password };
        }
        // Verify unconditionally (not in a match guard) so unknown logins pay argon2 too.
        let phc = stored.as_ref().map(|s| s.password_hash.as_str());
        let verified = self.hasher.verify_or_dummy(phc, &creds.password);
        match stored {
            Some(s) if verified && !s.main_password_allowed => {
                AuthOutcome::SecondFactorRequired { user_id: s.user_id }
            }
            Some(s) if verified => {
                self.cache.remember(s.user_id, &s.password_hash, &creds.password, now);
                self.backoff.record_success(&creds.login, ip, now);
                AuthOutcome::Authenticated { user_id: s.user_id, credential: Credential::Password }
            }
            _ => self.reject(creds, ip, now),
        }
    }

    /// Runs `verify` (a TOTP or recovery-code check for `user_id`) under the second-factor
    /// back-off: four free failures per user, then a lock that doubles with each further one,
    /// as for passwords. `verify` is not called while locked.
    pub fn verify_second_factor<E>(
        &self,
        user_id: i64,
        ip: IpAddr,
        now: Instant,
        verify: impl FnOnce() -> Result<bool, E>,
    ) -> Result<SecondFactorOutcome, E> {
        let key = format!("user-{user_id}");
        if let Err(retry_after) = self.second_factor.check(&key, ip, now) {
            return Ok(SecondFactorOutcome::Throttled { retry_after });
        }
        if verify()? {
            self.second_factor.record_success(&key, ip, now);
            Ok(SecondFactorOutcome::Accepted)
        } else {
            self.second_factor.record_failure(&key, ip, now);
            tracing::info!(user_id, %ip, "failed second factor");
            Ok(SecondFactorOutcome::Rejected)
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
                main_password_allowed: true,
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
            main_password_allowed: true,
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
    fn with_two_factor_on_the_main_password_is_refused_even_from_the_cache() {
        let (auth, phc) = setup();
        let secret = app_password::generate().expect("secret");
        let stored = |allowed| StoredCredentials {
            user_id: 42,
            password_hash: phc.clone(),
            app_passwords: vec![(7, app_password::hash(&secret))],
            main_password_allowed: allowed,
        };
        let now = Instant::now();
        // Verified and cached while two-factor login was still off…
        let before = auth.authenticate(&creds("alice", "right"), IP, |_| Some(stored(true)), now);
        assert_eq!(before, AuthOutcome::Authenticated { user_id: 42, credential: Credential::Password });
        // …then it is turned on: the cached verification does not let the password through.
        let after = auth.authenticate(&creds("alice", "right"), IP, |_| Some(stored(false)), now);
        assert_eq!(after, AuthOutcome::SecondFactorRequired { user_id: 42 });
        auth.forget_user(42);
        let uncached = auth.authenticate(&creds("alice", "right"), IP, |_| Some(stored(false)), now);
        assert_eq!(uncached, AuthOutcome::SecondFactorRequired { user_id: 42 });
        assert!(!auth.cache.is_verified(42, &phc, "right", now), "not remembered as a success");
        // App passwords keep working, and a wrong password is still a plain rejection.
        let app = auth.authenticate(&creds("alice", &secret), IP, |_| Some(stored(false)), now);
        assert_eq!(app, AuthOutcome::Authenticated { user_id: 42, credential: Credential::AppPassword(7) });
        let wrong = auth.authenticate(&creds("alice", "wrong"), IP, |_| Some(stored(false)), now);
        assert_eq!(wrong, AuthOutcome::Rejected);
    }

    #[test]
    fn the_refused_main_password_counts_neither_as_success_nor_failure() {
        let (auth, phc) = setup();
        let stored = StoredCredentials {
            user_id: 42,
            password_hash: phc,
            app_passwords: vec![],
            main_password_allowed: false,
        };
        let now = Instant::now();
        for _ in 0..4 {
            auth.authenticate(&creds("alice", "bad"), IP, |_| Some(stored.clone()), now);
        }
        // Right password, refused: the four failures stay (no success cleared them)…
        for _ in 0..10 {
            let outcome = auth.authenticate(&creds("alice", "right"), IP, |_| Some(stored.clone()), now);
            assert_eq!(outcome, AuthOutcome::SecondFactorRequired { user_id: 42 });
        }
        // …and ten refusals did not lock the account either: the fifth failure is what does.
        auth.authenticate(&creds("alice", "bad"), IP, |_| Some(stored.clone()), now);
        let locked = auth.authenticate(&creds("alice", "right"), IP, |_| Some(stored.clone()), now);
        assert_eq!(locked, AuthOutcome::Throttled { retry_after: Duration::from_secs(1) });
    }

    #[test]
    fn second_factor_failures_back_off_per_user() {
        let auth = Authenticator::new(TTL, BackoffPolicy::default());
        let now = Instant::now();
        let check = |user, ok| auth.verify_second_factor(user, IP, now, || Ok::<_, ()>(ok)).unwrap();
        for _ in 0..5 {
            assert_eq!(check(42, false), SecondFactorOutcome::Rejected);
        }
        let refused = auth.verify_second_factor(42, IP, now, || -> Result<bool, ()> {
            panic!("no verification while locked")
        });
        assert_eq!(refused, Ok(SecondFactorOutcome::Throttled { retry_after: Duration::from_secs(1) }));
        assert_eq!(check(43, true), SecondFactorOutcome::Accepted, "another user is not locked");
        let later = now + Duration::from_secs(1);
        let ok = auth.verify_second_factor(42, IP, later, || Ok::<_, ()>(true)).unwrap();
        assert_eq!(ok, SecondFactorOutcome::Accepted);
    }

    #[test]
    fn stored_credentials_debug_hides_hash() {
        let s = StoredCredentials {
            user_id: 1,
            password_hash: "$argon2id$secret".to_owned(),
            app_passwords: vec![],
            main_password_allowed: true,
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("argon2id"), "{shown}");
    }
}
