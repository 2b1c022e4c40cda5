//! Short-lived cache of successful password verifications.
//!
//! CalDAV/CardDAV clients authenticate every request, and a sync can be dozens of requests in
//! a second. Paying ~50 ms of argon2 on each would make syncs slow and the server easy to
//! overload, so a successful verification is remembered for a short TTL.
//!
//! What is remembered is a SHA-256 digest over (user id, stored PHC string, presented
//! password), never the password. Including the PHC string means a password change — which
//! stores a new PHC with a new salt — makes every old entry unreachable without explicit
//! invalidation. `forget_user` exists for the cases that should take effect immediately anyway
//! (user deleted or disabled).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A user normally has one live entry (all devices present the same password). A few more
/// cover the window right after a password change; beyond that the oldest is dropped so one
/// user cannot crowd out everyone else.
const MAX_ENTRIES_PER_USER: usize = 4;

/// Distinguishes these digests from any other SHA-256 use of the same inputs.
const DOMAIN: &[u8] = b"davit credential cache v1";

type CacheDigest = [u8; 32];

struct CacheEntry {
    digest: CacheDigest,
    expires: Instant,
}

/// Entries are bucketed by user id. The id is not secret, and bucketing lets the digest — the
/// secret-derived part — be compared in constant time against each candidate instead of being
/// used as a hash-map key (whose lookup compares bytes with early exit).
#[derive(Default)]
struct CacheState {
    by_user: HashMap<i64, Vec<CacheEntry>>,
    len: usize,
}

/// Remembers recent successful verifications; owned by the server's `Authenticator`.
pub struct CredentialCache {
    state: Mutex<CacheState>,
    ttl: Duration,
    max_entries: usize,
}

impl CredentialCache {
    /// `ttl` bounds how long a verified password stays valid without argon2 (and thus how long
    /// a revoked session might linger); `max_entries` bounds memory.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self { state: Mutex::new(CacheState::default()), ttl, max_entries: max_entries.max(1) }
    }

    /// True if this exact (user, stored hash, password) was verified less than `ttl` ago.
    pub fn is_verified(&self, user_id: i64, phc: &str, pw: &str, now: Instant) -> bool {
        let digest = cache_digest(user_id, phc, pw);
        let state = self.lock();
        let Some(entries) = state.by_user.get(&user_id) else {
            return false;
        };
        // Fold over every entry without early exit so timing does not depend on which matched.
        let mut hit = subtle::Choice::from(0);
        for entry in entries {
            let live = subtle::Choice::from(u8::from(entry.expires > now));
            hit |= entry.digest.ct_eq(&digest) & live;
        }
        hit.into()
    }

    /// Records a successful verification. Expiry is fixed at `now + ttl` and is not extended
    /// by later hits, so an active client still re-runs argon2 once per TTL.
    pub fn remember(&self, user_id: i64, phc: &str, pw: &str, now: Instant) {
        let Some(expires) = now.checked_add(self.ttl) else {
            return;
        };
        let digest = cache_digest(user_id, phc, pw);
        let mut state = self.lock();
        // Re-verification after expiry replaces the old entry rather than piling up beside it.
        state.remove_matching(user_id, |e| e.digest.ct_eq(&digest).into() || e.expires <= now);
        if state.len >= self.max_entries {
            state.evict(now, self.max_entries);
        }
        state.insert(user_id, CacheEntry { digest, expires });
    }

    /// Drops every cached verification for `user_id` (user deleted, disabled, or password
    /// reset by an admin), so the next request pays argon2 against the current record.
    pub fn forget_user(&self, user_id: i64) {
        let mut state = self.lock();
        if let Some(entries) = state.by_user.remove(&user_id) {
            state.len -= entries.len();
        }
    }

    /// Number of cached entries, expired ones included until they are evicted.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A panic while holding the lock cannot leave the map in a state worse than "some entries
    /// missing or stale", and every entry still expires, so recovering is safe for a cache.
    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CacheState {
    fn remove_matching(&mut self, user_id: i64, mut pred: impl FnMut(&CacheEntry) -> bool) {
        let Some(entries) = self.by_user.get_mut(&user_id) else {
            return;
        };
        let before = entries.len();
        entries.retain(|e| !pred(e));
        self.len -= before - entries.len();
        if entries.is_empty() {
            self.by_user.remove(&user_id);
        }
    }

    /// Adds an entry, keeping at most `MAX_ENTRIES_PER_USER` for its user.
    fn insert(&mut self, user_id: i64, entry: CacheEntry) {
        let entries = self.by_user.entry(user_id).or_default();
        if entries.len() >= MAX_ENTRIES_PER_USER && remove_soonest_expiring(entries) {
            self.len -= 1;
        }
        entries.push(entry);
        self.len += 1;
    }

    /// Makes room for one entry: first drop everything expired; if the cache is still full of
    /// live entries, drop the one closest to expiry. The O(n) scan only happens on insert,
    /// which follows a ~50 ms argon2 run, so it is never the dominant cost.
    fn evict(&mut self, now: Instant, max_entries: usize) {
        self.by_user.retain(|_, entries| {
            entries.retain(|e| e.expires > now);
            !entries.is_empty()
        });
        self.len = self.by_user.values().map(Vec::len).sum();
        if self.len < max_entries {
            return;
        }
        let Some(victim) = self.soonest_expiring_user() else {
            return;
        };
        self.remove_soonest_of_user(victim);
    }

    fn remove_soonest_of_user(&mut self, user_id: i64) {
        let Some(entries) = self.by_user.get_mut(&user_id) else {
            return;
        };
        if remove_soonest_expiring(entries) {
            self.len -= 1;
        }
        if entries.is_empty() {
            self.by_user.remove(&user_id);
        }
    }

    fn soonest_expiring_user(&self) -> Option<i64> {
        self.by_user
            .iter()
            .filter_map(|(id, entries)| entries.iter().map(|e| e.expires).min().map(|t| (t, *id)))
            .min()
            .map(|(_, id)| id)
    }
}

/// Removes the entry closest to expiry; returns whether one was removed.
fn remove_soonest_expiring(entries: &mut Vec<CacheEntry>) -> bool {
    let oldest = entries.iter().enumerate().min_by_key(|(_, e)| e.expires).map(|(i, _)| i);
    match oldest {
        Some(i) => {
            entries.swap_remove(i);
            true
        }
        None => false,
    }
}

/// SHA-256 over length-prefixed fields, so no two distinct (phc, password) pairs can be
/// concatenated into the same byte string.
fn cache_digest(user_id: i64, phc: &str, pw: &str) -> CacheDigest {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(user_id.to_le_bytes());
    for field in [phc.as_bytes(), pw.as_bytes()] {
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA";
    const NEW_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA";
    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn remembered_credentials_hit() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        assert!(!cache.is_verified(1, PHC, "pw", now));
        cache.remember(1, PHC, "pw", now);
        assert!(cache.is_verified(1, PHC, "pw", now));
        assert!(cache.is_verified(1, PHC, "pw", now + Duration::from_secs(59)));
    }

    #[test]
    fn any_differing_input_misses() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        cache.remember(1, PHC, "pw", now);
        assert!(!cache.is_verified(1, PHC, "pw2", now));
        assert!(!cache.is_verified(1, PHC, "", now));
        assert!(!cache.is_verified(2, PHC, "pw", now));
    }

    #[test]
    fn password_change_misses() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        cache.remember(7, PHC, "old", now);
        // After a password change the store holds a new PHC: the old password must not be
        // accepted from cache even though nobody called forget_user.
        assert!(!cache.is_verified(7, NEW_PHC, "old", now));
    }

    #[test]
    fn length_prefixing_prevents_field_shifting() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        cache.remember(1, "ab", "c", now);
        assert!(!cache.is_verified(1, "a", "bc", now));
    }

    #[test]
    fn entries_expire() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        cache.remember(1, PHC, "pw", now);
        assert!(!cache.is_verified(1, PHC, "pw", now + TTL));
        assert!(!cache.is_verified(1, PHC, "pw", now + TTL * 2));
    }

    #[test]
    fn hits_do_not_extend_expiry() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        cache.remember(1, PHC, "pw", now);
        assert!(cache.is_verified(1, PHC, "pw", now + TTL / 2));
        assert!(!cache.is_verified(1, PHC, "pw", now + TTL));
    }

    #[test]
    fn forget_user_drops_only_that_user() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        cache.remember(1, PHC, "pw", now);
        cache.remember(2, PHC, "pw", now);
        cache.forget_user(1);
        assert!(!cache.is_verified(1, PHC, "pw", now));
        assert!(cache.is_verified(2, PHC, "pw", now));
        assert_eq!(cache.len(), 1);
        cache.forget_user(99); // unknown user: no-op
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn re_remembering_replaces_instead_of_duplicating() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        cache.remember(1, PHC, "pw", now);
        cache.remember(1, PHC, "pw", now + TTL * 2);
        assert_eq!(cache.len(), 1);
        assert!(cache.is_verified(1, PHC, "pw", now + TTL * 2));
    }

    #[test]
    fn expired_entries_are_evicted_when_full() {
        let cache = CredentialCache::new(TTL, 3);
        let now = Instant::now();
        for user in 0..3 {
            cache.remember(user, PHC, "pw", now);
        }
        let later = now + TTL * 2;
        cache.remember(10, PHC, "pw", later);
        assert_eq!(cache.len(), 1);
        assert!(cache.is_verified(10, PHC, "pw", later));
    }

    #[test]
    fn live_entry_closest_to_expiry_is_evicted_when_full() {
        let cache = CredentialCache::new(TTL, 3);
        let now = Instant::now();
        for (i, user) in (0..3).enumerate() {
            cache.remember(user, PHC, "pw", now + Duration::from_secs(i as u64));
        }
        let t = now + Duration::from_secs(5);
        cache.remember(10, PHC, "pw", t);
        assert_eq!(cache.len(), 3);
        assert!(!cache.is_verified(0, PHC, "pw", t), "oldest evicted");
        for user in [1, 2, 10] {
            assert!(cache.is_verified(user, PHC, "pw", t), "user {user}");
        }
    }

    #[test]
    fn per_user_entries_are_capped() {
        let cache = CredentialCache::new(TTL, 100);
        let now = Instant::now();
        for i in 0..10 {
            cache.remember(1, PHC, &format!("pw{i}"), now + Duration::from_millis(i));
        }
        assert_eq!(cache.len(), MAX_ENTRIES_PER_USER);
        assert!(cache.is_verified(1, PHC, "pw9", now));
        assert!(!cache.is_verified(1, PHC, "pw0", now));
    }
}
