//! Exponential back-off after failed logins, per account and per client address.
//!
//! Two independent counters slow down the two classic attacks: guessing one account's password
//! from many addresses (account key) and trying many accounts from one address (ip key). Keys
//! are derived from the presented login whether or not it exists, so the throttle behaves
//! identically for real and unknown users and cannot be used to enumerate accounts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Upper bound on tracked keys. An attacker can mint keys freely (random logins, IPv6
/// addresses), so memory must be bounded independently of `forget_after`.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// Tunables for [`Backoff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Failures per account allowed before any delay (typos, a client with a stale password).
    pub free_failures_account: u32,
    /// Failures per address allowed before any delay; higher because NAT puts many users
    /// behind one address.
    pub free_failures_ip: u32,
    /// Lock time after the first failure beyond the free ones; doubles with each further one.
    pub base_delay: Duration,
    /// Cap on a single lock, so a forgotten password never locks an account for hours.
    pub max_delay: Duration,
    /// A key with no failure for this long starts again from zero.
    pub forget_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            // Four free failures: the fifth wrong password locks the login for a second,
            // then the lock doubles with each further one.
            free_failures_account: 4,
            free_failures_ip: 19,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

impl Failures {
    fn remaining_lock(&self, now: Instant) -> Option<Duration> {
        self.locked_until.and_then(|until| until.checked_duration_since(now)).filter(|d| !d.is_zero())
    }

    /// Stale entries carry no information any more: the count has been forgiven and no lock
    /// is pending, so they can be dropped.
    fn is_stale(&self, now: Instant, forget_after: Duration) -> bool {
        let forgotten = now.saturating_duration_since(self.last_failure) >= forget_after;
        forgotten && self.remaining_lock(now).is_none()
    }
}

/// Failed-login throttle; owned by the server's `Authenticator`.
pub struct Backoff {
    policy: BackoffPolicy,
    max_entries: usize,
    failures: Mutex<HashMap<String, Failures>>,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Self::with_max_entries(policy, DEFAULT_MAX_ENTRIES)
    }

    /// Like [`Backoff::new`] with a custom key limit (tests, or very small deployments).
    pub fn with_max_entries(policy: BackoffPolicy, max_entries: usize) -> Self {
        Self { policy, max_entries: max_entries.max(1), failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(retry_after)` if either the account or the address is currently locked. Called
    /// before any password work so a throttled attacker costs us no argon2 time.
    pub fn check(&self, login: &str, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let map = self.lock();
        let wait = [account_key(login), ip_key(ip)]
            .iter()
            .filter_map(|key| map.get(key))
            .filter_map(|f| f.remaining_lock(now))
            .max();
        match wait {
            Some(retry_after) => Err(retry_after),
            None => Ok(()),
        }
    }

    /// Counts a failed login against both the account and the address.
    pub fn record_failure(&self, login: &str, ip: IpAddr, now: Instant) {
        let mut map = self.lock();
        let keys = [
            (account_key(login), self.policy.free_failures_account),
            (ip_key(ip), self.policy.free_failures_ip),
        ];
        for (key, free) in keys {
            if !map.contains_key(&key) && map.len() >= self.max_entries {
                self.make_room(&mut map, now);
            }
            let entry =
                map.entry(key).or_insert(Failures { count: 0, last_failure: now, locked_until: None });
            self.add_failure(entry, free, now);
        }
    }

    /// A correct password clears the account's counter only. The address keeps its count: an
    /// attacker holding one valid account must not be able to reset the per-address limit
    /// by logging in between guesses at other accounts.
    pub fn record_success(&self, login: &str, _ip: IpAddr, _now: Instant) {
        self.lock().remove(&account_key(login));
    }

    /// Number of tracked keys (bounded by the configured maximum).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add_failure(&self, entry: &mut Failures, free: u32, now: Instant) {
        if entry.is_stale(now, self.policy.forget_after) {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last_failure = now;
        if entry.count > free {
            let delay = self.delay_for(entry.count - free);
            entry.locked_until = now.checked_add(delay).or(entry.locked_until);
        }
    }

    /// `base * 2^(excess-1)`, capped at `max_delay`; overflow saturates to the cap.
    fn delay_for(&self, excess: u32) -> Duration {
        let factor = 1u32.checked_shl(excess.saturating_sub(1)).unwrap_or(u32::MAX);
        self.policy.base_delay.checked_mul(factor).unwrap_or(self.policy.max_delay).min(self.policy.max_delay)
    }

    /// Drops stale keys; if the map is still full (a flood of fresh keys), drops the least
    /// recently failed tenth in one go so that the O(n) pass is amortised over many inserts
    /// instead of running on every request of the flood.
    fn make_room(&self, map: &mut HashMap<String, Failures>, now: Instant) {
        map.retain(|_, f| !f.is_stale(now, self.policy.forget_after));
        if map.len() < self.max_entries {
            return;
        }
        let mut ages: Vec<Instant> = map.values().map(|f| f.last_failure).collect();
        let drop_count = (self.max_entries / 10).max(1).min(ages.len());
        let (_, cutoff, _) = ages.select_nth_unstable(drop_count - 1);
        let cutoff = *cutoff;
        map.retain(|_, f| f.last_failure > cutoff);
    }

    /// The map only holds counters; a panic mid-update at worst loses or skews one count.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Failures>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Logins are matched case-insensitively by most stores, so `Alice` and `alice` must share a
/// counter or an attacker would get a fresh budget per capitalisation.
fn account_key(login: &str) -> String {
    format!("acct:{}", login.to_lowercase())
}

/// IPv4-mapped IPv6 addresses (dual-stack sockets) are folded to IPv4, and other IPv6
/// addresses to their /64: one subscriber usually controls a whole /64, so per-address keys
/// would give an attacker 2^64 fresh budgets.
fn ip_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("ip:{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SEC: Duration = Duration::from_secs(1);

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn fail_n(b: &Backoff, login: &str, addr: IpAddr, n: u32, now: Instant) {
        for _ in 0..n {
            b.record_failure(login, addr, now);
        }
    }

    #[test]
    fn account_free_failures_then_lock() {
        let b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        fail_n(&b, "alice", ip(1), 4, now);
        assert_eq!(b.check("alice", ip(1), now), Ok(()));
        b.record_failure("alice", ip(1), now);
        assert_eq!(b.check("alice", ip(1), now), Err(SEC));
        // The account lock applies from any address, and a different login is unaffected.
        assert_eq!(b.check("alice", ip(99), now), Err(SEC));
        assert_eq!(b.check("bob", ip(1), now), Ok(()));
        // The lock lapses after its duration.
        assert_eq!(b.check("alice", ip(1), now + SEC), Ok(()));
    }

    #[test]
    fn account_key_is_case_insensitive() {
        let b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        fail_n(&b, "Alice", ip(1), 3, now);
        fail_n(&b, "ALICE", ip(2), 3, now);
        assert!(b.check("alice", ip(3), now).is_err());
    }

    #[test]
    fn ip_free_failures_then_lock() {
        let b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        // Nineteen different logins: no account reaches its own threshold.
        for i in 0..19 {
            b.record_failure(&format!("user{i}"), ip(7), now);
        }
        assert_eq!(b.check("someone", ip(7), now), Ok(()));
        b.record_failure("user19", ip(7), now);
        assert_eq!(b.check("someone", ip(7), now), Err(SEC));
        assert_eq!(b.check("someone", ip(8), now), Ok(()));
    }

    #[test]
    fn delay_doubles_and_is_capped() {
        let b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        fail_n(&b, "alice", ip(1), 4, now);
        let mut expected = Vec::new();
        let mut seen = Vec::new();
        for n in 1..=14u32 {
            b.record_failure("alice", ip(1), now);
            let wait = b.check("alice", ip(1), now).expect_err("locked");
            seen.push(wait);
            expected.push((SEC * 2u32.pow(n - 1)).min(Duration::from_secs(900)));
        }
        assert_eq!(seen, expected);
        assert_eq!(seen[..4], [SEC, SEC * 2, SEC * 4, SEC * 8]);
        assert_eq!(*seen.last().expect("non-empty"), Duration::from_secs(900));
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        fail_n(&b, "alice", ip(1), 200, now);
        assert_eq!(b.check("alice", ip(2), now), Err(Duration::from_secs(900)));
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        fail_n(&b, "alice", ip(1), 7, now);
        assert!(b.check("alice", ip(2), now).is_err(), "account locked from any address");
        b.record_success("alice", ip(1), now);
        assert_eq!(b.check("alice", ip(2), now), Ok(()), "account counter cleared");
        // The count starts over for the account: four more free failures.
        fail_n(&b, "alice", ip(2), 4, now);
        assert_eq!(b.check("alice", ip(2), now), Ok(()));
        // An attacker's own valid login does not reset the address's count.
        fail_n(&b, "victim", ip(3), 4, now);
        fail_n(&b, "other", ip(3), 4, now);
        fail_n(&b, "third", ip(3), 4, now);
        fail_n(&b, "fourth", ip(3), 4, now);
        fail_n(&b, "fifth", ip(3), 5, now);
        b.record_success("attacker", ip(3), now);
        assert!(b.check("sixth", ip(3), now).is_err(), "address stays throttled");
    }

    #[test]
    fn unknown_login_is_treated_like_any_other() {
        // The back-off never consults the user store, so a login that does not exist gets
        // exactly the same thresholds and delays as one that does.
        let b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        fail_n(&b, "alice", ip(1), 6, now);
        fail_n(&b, "no-such-user-xyz", ip(2), 6, now);
        assert_eq!(b.check("alice", ip(3), now), b.check("no-such-user-xyz", ip(4), now));
        assert_eq!(b.check("alice", ip(3), now), Err(SEC * 2));
    }

    #[test]
    fn failures_are_forgotten_after_quiet_period() {
        let b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        fail_n(&b, "alice", ip(1), 5, now);
        let later = now + Duration::from_secs(15 * 60);
        b.record_failure("alice", ip(1), later);
        assert_eq!(b.check("alice", ip(1), later), Ok(()), "count restarted");
    }

    #[test]
    fn ipv6_is_keyed_by_slash_64_and_mapped_v4_by_v4() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().expect("addr");
        let b6: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().expect("addr");
        assert_eq!(ip_key(IpAddr::V6(a)), ip_key(IpAddr::V6(b6)));
        assert_eq!(ip_key(IpAddr::V6(a)), "ip:2001:db8:1:2::/64");
        let other: Ipv6Addr = "2001:db8:1:3::1".parse().expect("addr");
        assert_ne!(ip_key(IpAddr::V6(a)), ip_key(IpAddr::V6(other)));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(ip_key(mapped), ip_key(ip(1)));
    }

    #[test]
    fn map_stays_bounded_and_stale_entries_go_first() {
        let b = Backoff::with_max_entries(BackoffPolicy::default(), 100);
        let start = Instant::now();
        // 50 failures → 100 keys (one account + one address each), all old.
        for i in 0..50u8 {
            b.record_failure(&format!("old{i}"), ip(i), start);
        }
        assert_eq!(b.len(), 100);
        let later = start + Duration::from_secs(16 * 60);
        b.record_failure("fresh", ip(200), later);
        assert_eq!(b.len(), 2, "stale keys dropped");

        // A flood of fresh keys never exceeds the cap.
        for i in 0..500u32 {
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            b.record_failure(&format!("flood{i}"), addr, later + Duration::from_millis(i.into()));
        }
        assert!(b.len() <= 100, "len {}", b.len());
        // The most recent keys survive the eviction.
        assert!(b.check("flood499", ip(1), later).is_ok());
        let lock = b.lock();
        assert!(lock.contains_key("acct:flood499"));
    }
}
