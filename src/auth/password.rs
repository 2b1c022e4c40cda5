//! argon2id password hashing, verification, and generation of initial passwords.

use std::collections::HashMap;
use std::hint::black_box;
#[cfg(test)]
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use sha2::{Digest, Sha256};

use super::AuthError;

/// Characters for generated passwords: letters and digits minus the look-alikes
/// `0 O 1 l I`, so a password read off a screen or paper can be typed back without guessing.
const PASSWORD_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const PASSWORD_GROUPS: usize = 4;
const PASSWORD_GROUP_LEN: usize = 6;

/// Hashes `pw` with argon2id and the crate's default cost (m=19456 KiB, t=2, p=1, the OWASP
/// recommendation) under a fresh random salt, returning the PHC string to store.
pub fn hash_password(pw: &str) -> Result<String, AuthError> {
    let hash = Argon2::default().hash_password(pw.as_bytes())?;
    Ok(hash.to_string())
}

/// Checks `pw` against a stored PHC string. A malformed or unsupported hash is simply a
/// failed verification: the caller can do nothing better with it than refuse the login.
pub fn verify_password(phc: &str, pw: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => verify_parsed(&parsed, pw),
        Err(_) => false,
    }
}

/// Cost parameters come from the hash itself, so hashes made under older settings still verify.
fn verify_parsed(parsed: &PasswordHash, pw: &str) -> bool {
    Argon2::default().verify_password(pw.as_bytes(), parsed).is_ok()
}

/// Inputs of the dummy hash. Neither is secret: `verify_or_dummy` never reports a match against
/// the dummy, whatever the presented password.
const DUMMY_PASSWORD: &[u8] = b"davit dummy password for unknown users";
const DUMMY_SALT: &[u8] = b"davit-dummy-salt";
/// `DUMMY_PASSWORD` hashed under `DUMMY_SALT` with the default parameters (a test keeps the
/// two in sync).
const DUMMY_FALLBACK: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ZGF2aXQtZHVtbXktc2FsdA$4TuKq1tA9tLLbdHEPz6euDCNFHUm8tPBJZPqvyWI7f4";

/// argon2 verifications running at once, at most. Each one holds ~19 MiB (m=19456 KiB) for
/// ~50 ms: eight clients connecting together used to take 150 MiB and both cores; beyond
/// this many, logins queue, and requests already authenticated keep a core.
const MAX_CONCURRENT_VERIFICATIONS: usize = 2;

/// Verifies passwords so that "no such user" and "wrong password" cost the same time.
///
/// Holds one argon2id hash of a dummy password, computed at construction with the same
/// parameters as real hashes. Unknown users are verified against it so the response time
/// does not reveal whether the login exists.
pub struct PasswordHasher {
    dummy: String,
    /// Verifications in progress, by digest of (stored hash, presented password). A client
    /// opens several connections at once with the same credentials, before the first success
    /// is cached: those wait for the one verification running rather than each running argon2.
    in_flight: Mutex<HashMap<[u8; 32], Arc<Flight>>>,
    slots: Slots,
    /// How many argon2 verifications ran; lets tests prove cache hits skip argon2.
    #[cfg(test)]
    verifications: AtomicUsize,
}

/// One verification in progress and the callers waiting for its result.
#[derive(Default)]
struct Flight {
    result: Mutex<Option<bool>>,
    done: Condvar,
}

/// A counting semaphore for blocking threads (verification runs on the blocking pool).
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl PasswordHasher {
    /// Computes the dummy hash (one argon2 run, ~50 ms) — do this once at server start.
    ///
    /// Infallible on purpose: the dummy protects nothing secret (its result is always
    /// discarded), so fixed inputs are fine, and if hashing them somehow failed, a precomputed
    /// hash with the same parameters serves equally well.
    pub fn new() -> Self {
        let dummy = Argon2::default()
            .hash_password_with_salt(DUMMY_PASSWORD, DUMMY_SALT)
            .map(|hash| hash.to_string())
            .unwrap_or_else(|_| DUMMY_FALLBACK.to_owned());
        Self {
            dummy,
            in_flight: Mutex::new(HashMap::new()),
            slots: Slots { free: Mutex::new(MAX_CONCURRENT_VERIFICATIONS), freed: Condvar::new() },
            #[cfg(test)]
            verifications: AtomicUsize::new(0),
        }
    }

    /// Verifies `pw` against `phc`, running exactly one argon2 verification in every case (or
    /// waiting for the identical one already running, which costs the same time).
    ///
    /// `None` (unknown user) and an unparsable stored hash both verify against the dummy hash
    /// and return `false`, so they take as long as a wrong password for a real user.
    pub fn verify_or_dummy(&self, phc: Option<&str>, pw: &str) -> bool {
        // It blocks for tens of milliseconds, also while waiting for a slot or a twin flight.
        crate::inline::long_blocking(|| self.verify_or_dummy_here(phc, pw))
    }

    fn verify_or_dummy_here(&self, phc: Option<&str>, pw: &str) -> bool {
        let key = flight_key(phc.unwrap_or(&self.dummy), pw);
        let (flight, leader) = {
            let mut in_flight = lock(&self.in_flight);
            match in_flight.get(&key) {
                Some(f) => (f.clone(), false),
                None => {
                    let f = Arc::new(Flight::default());
                    in_flight.insert(key, f.clone());
                    (f, true)
                }
            }
        };
        if !leader {
            let mut result = lock(&flight.result);
            while result.is_none() {
                result = flight.done.wait(result).unwrap_or_else(PoisonError::into_inner);
            }
            return result.unwrap_or(false);
        }
        // Publishes the result and retires the flight even if argon2 panics (then as false).
        let mut publish = Publish { hasher: self, key, flight: &flight, verified: false };
        let _slot = self.slots.acquire();
        publish.verified = self.verify_now(phc, pw);
        publish.verified
    }

    fn verify_now(&self, phc: Option<&str>, pw: &str) -> bool {
        #[cfg(test)]
        self.verifications.fetch_add(1, Ordering::Relaxed);
        match phc.and_then(|h| PasswordHash::new(h).ok()) {
            Some(parsed) => verify_parsed(&parsed, pw),
            None => {
                // black_box keeps the optimiser from discarding work whose result is unused.
                black_box(verify_password(black_box(&self.dummy), pw));
                false
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn verification_count(&self) -> usize {
        self.verifications.load(Ordering::Relaxed)
    }
}

struct Publish<'a> {
    hasher: &'a PasswordHasher,
    key: [u8; 32],
    flight: &'a Flight,
    verified: bool,
}

impl Drop for Publish<'_> {
    fn drop(&mut self) {
        // Retire the flight first: a caller arriving from now on verifies afresh (by then a
        // success is in the credential cache anyway).
        lock(&self.hasher.in_flight).remove(&self.key);
        *lock(&self.flight.result) = Some(self.verified);
        self.flight.done.notify_all();
    }
}

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = lock(&self.free);
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.0.free) += 1;
        self.0.freed.notify_one();
    }
}

/// The state behind these mutexes is updated in single steps, so a panic elsewhere cannot
/// leave it inconsistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Identifies a (stored hash, presented password) pair without keeping the password.
fn flight_key(phc: &str, pw: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"davit argon2 flight v1");
    for field in [phc.as_bytes(), pw.as_bytes()] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field);
    }
    h.finalize().into()
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Generates a random password such as `Kp7xQz-3mWbRt-aH9sDe-Yc4nVu`: 24 characters from an
/// unambiguous alphabet in four dash-separated groups of six (~140 bits of entropy).
pub fn generate_password() -> Result<String, AuthError> {
    grouped_random(PASSWORD_ALPHABET, PASSWORD_GROUPS, PASSWORD_GROUP_LEN)
}

/// `groups` dash-separated groups of `len` characters drawn uniformly from `alphabet`.
pub(crate) fn grouped_random(alphabet: &[u8], groups: usize, len: usize) -> Result<String, AuthError> {
    let chars = random_alphabet_chars(alphabet, groups * len)?;
    let mut out = String::with_capacity(chars.len() + groups - 1);
    for (i, group) in chars.chunks(len).enumerate() {
        if i > 0 {
            out.push('-');
        }
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    Ok(out)
}

/// Draws `count` characters uniformly from `alphabet`.
fn random_alphabet_chars(alphabet: &[u8], count: usize) -> Result<Vec<u8>, AuthError> {
    let n = alphabet.len();
    // Rejection sampling: bytes at or above the largest multiple of n would make `% n` favour
    // the first characters, so they are discarded.
    let limit = 256 - (256 % n);
    let mut chars = Vec::with_capacity(count);
    let mut buf = [0u8; 64];
    while chars.len() < count {
        getrandom::fill(&mut buf).map_err(|_| AuthError::Random)?;
        for &b in buf.iter().filter(|&&b| usize::from(b) < limit) {
            if chars.len() == count {
                break;
            }
            chars.push(alphabet[usize::from(b) % n]);
        }
    }
    Ok(chars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn hash_verify_round_trip() {
        let phc = hash_password("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(&phc, "correct horse"));
        assert!(!verify_password(&phc, "correct horsE"));
    }

    #[test]
    fn same_password_gets_distinct_salts() {
        let a = hash_password("pw").expect("hash");
        let b = hash_password("pw").expect("hash");
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_hash_fails_verification() {
        assert!(!verify_password("", "pw"));
        assert!(!verify_password("not a hash", "pw"));
        assert!(!verify_password("$argon2id$v=19$m=19456,t=2,p=1$bad", "pw"));
    }

    #[test]
    fn verify_or_dummy_runs_argon2_once_on_every_path() {
        let hasher = PasswordHasher::new();
        let phc = hash_password("s3cret").expect("hash");

        assert!(hasher.verify_or_dummy(Some(&phc), "s3cret"));
        assert!(!hasher.verify_or_dummy(Some(&phc), "wrong"));
        assert!(!hasher.verify_or_dummy(None, "s3cret"));
        assert!(!hasher.verify_or_dummy(Some("garbage"), "s3cret"));
        assert_eq!(hasher.verification_count(), 4);
    }

    /// Holds every argon2 slot, so that verifications queue until it is dropped.
    fn hold_slots(hasher: &PasswordHasher) -> Vec<SlotGuard<'_>> {
        (0..MAX_CONCURRENT_VERIFICATIONS).map(|_| hasher.slots.acquire()).collect()
    }

    #[test]
    fn identical_concurrent_verifications_run_argon2_once() {
        let hasher = PasswordHasher::new();
        let phc = hash_password("s3cret").expect("hash");
        std::thread::scope(|s| {
            let slots = hold_slots(&hasher);
            let right: Vec<_> =
                (0..5).map(|_| s.spawn(|| hasher.verify_or_dummy(Some(&phc), "s3cret"))).collect();
            // The map's Arc, the leader's and one per waiter: all five are in.
            let key = flight_key(&phc, "s3cret");
            while lock(&hasher.in_flight).get(&key).map_or(0, Arc::strong_count) < 6 {
                std::thread::yield_now();
            }
            drop(slots);
            assert!(right.into_iter().all(|t| t.join().expect("thread")));
        });
        assert_eq!(hasher.verification_count(), 1);
        assert!(lock(&hasher.in_flight).is_empty());
        // A different password is a different verification, and still fails.
        assert!(!hasher.verify_or_dummy(Some(&phc), "wrong"));
        assert_eq!(hasher.verification_count(), 2);
    }

    #[test]
    fn at_most_two_verifications_run_at_once() {
        let hasher = PasswordHasher::new();
        let phc = hash_password("s3cret").expect("hash");
        std::thread::scope(|s| {
            let slots = hold_slots(&hasher);
            let wrong: Vec<_> = (0..4)
                .map(|i| {
                    let (hasher, phc) = (&hasher, &phc);
                    s.spawn(move || hasher.verify_or_dummy(Some(phc), &format!("wrong {i}")))
                })
                .collect();
            while lock(&hasher.in_flight).len() < 4 {
                std::thread::yield_now();
            }
            assert_eq!(hasher.verification_count(), 0, "all four wait for a slot");
            drop(slots);
            assert!(wrong.into_iter().all(|t| !t.join().expect("thread")));
        });
        assert_eq!(hasher.verification_count(), 4);
        assert_eq!(*lock(&hasher.slots.free), MAX_CONCURRENT_VERIFICATIONS);
    }

    #[test]
    fn dummy_fallback_matches_computed_dummy() {
        // If argon2's default parameters ever change, the fallback must be regenerated so an
        // unknown user still costs exactly what a real one does.
        let hasher = PasswordHasher::new();
        assert_eq!(hasher.dummy, DUMMY_FALLBACK);
    }

    #[test]
    fn unknown_user_never_matches_dummy() {
        let hasher = PasswordHasher::new();
        // The dummy's own password must not log an unknown user in either.
        let dummy_pw = std::str::from_utf8(DUMMY_PASSWORD).expect("ascii");
        assert!(!hasher.verify_or_dummy(None, dummy_pw));
        // Even the empty password and the dummy string itself must not authenticate.
        assert!(!hasher.verify_or_dummy(None, ""));
        assert!(!hasher.verify_or_dummy(None, &hasher.dummy.clone()));
    }

    #[test]
    fn generated_password_has_expected_shape() {
        let pw = generate_password().expect("random");
        assert_eq!(pw.len(), 27, "{pw}");
        let groups: Vec<&str> = pw.split('-').collect();
        assert_eq!(groups.len(), 4, "{pw}");
        for group in groups {
            assert_eq!(group.len(), 6, "{pw}");
            assert!(group.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)), "{pw}");
        }
        assert!(!pw.contains(['0', 'O', '1', 'l', 'I']), "{pw}");
    }

    #[test]
    fn generated_passwords_are_distinct() {
        let set: HashSet<String> = (0..200).map(|_| generate_password().expect("random")).collect();
        assert_eq!(set.len(), 200);
    }

    #[test]
    fn alphabet_excludes_ambiguous_characters() {
        for c in b"0O1lI" {
            assert!(!PASSWORD_ALPHABET.contains(c), "{}", char::from(*c));
        }
        let unique: HashSet<&u8> = PASSWORD_ALPHABET.iter().collect();
        assert_eq!(unique.len(), PASSWORD_ALPHABET.len());
    }
}
