//! Keeping the resident set small: the server's own allocator (mimalloc, set in main.rs) and
//! glibc's, which SQLite's C code still allocates from (the glibc parts are no-ops elsewhere).
//!
//! Left at its defaults, mimalloc kept 67-74 MB resident during the benchmark's PUT workload
//! where glibc kept 21-25 MB: it commits its arenas eagerly, backs them with transparent huge
//! pages and returns freed pages only after a delay. With the three options below it kept
//! 21-23 MB, and stayed as fast.
//!
//! Left at its defaults, glibc gives each thread that contends for the heap an arena of its own
//! (up to 8 per core), raises its mmap threshold to the largest block freed so far (argon2's
//! 19 MiB, a multi-megabyte PROPFIND answer) so that such blocks are then carved from arenas,
//! and returns freed memory to the system only from the top of each heap. A server that once
//! answered eight big PROPFINDs at a time kept ~270 MB resident for the rest of its life.

use std::time::Duration;

pub mod buffers;

/// Arenas for all threads: the blocking pool's threads share them (the lock is held for
/// nanoseconds) instead of each pinning its own heap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: i32 = 2;
/// Blocks from this size up get their own mapping, unmapped when freed (a fixed value also
/// turns off glibc's dynamic raising of the threshold).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 128 * 1024;
/// Free memory at the top of a heap beyond this goes back to the system at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 1024 * 1024;

/// How often `trim_periodically` looks at the resident set, and the size above which it asks
/// glibc to hand back free pages from the middle of its heaps too.
const TRIM_EVERY: Duration = Duration::from_secs(1);
const TRIM_ABOVE_BYTES: u64 = 32 << 20;

/// mimalloc's option numbers (`mi_option_t` in the mimalloc v3 header that libmimalloc-sys
/// 0.1.49 builds; libmimalloc-sys's own constants describe v2). A test checks them against
/// the options' documented defaults.
mod mi_option {
    pub const ARENA_EAGER_COMMIT: i32 = 4;
    pub const PURGE_DELAY: i32 = 15;
    pub const ALLOW_THP: i32 = 43;
}

/// How long mimalloc keeps freed pages before handing them back (arenas: 10 times as long).
const PURGE_DELAY_MS: std::os::raw::c_long = 0;

/// Sets the allocators' limits; call once at start, before the runtime's threads exist.
pub fn tune_allocator() {
    // An operator's MIMALLOC_* environment variable (mimalloc's own way to set an option)
    // takes precedence over these defaults.
    let set = |option: i32, env: &str, value: std::os::raw::c_long| {
        if std::env::var_os(env).is_none() {
            // SAFETY: mi_option_set only stores an option value; the numbers are valid
            // options (see `mi_option`).
            unsafe { libmimalloc_sys::mi_option_set(option, value) }
        }
    };
    // Commit arena memory as it is used, not the whole arena up front.
    set(mi_option::ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0);
    // Give freed pages back soon (the default waits 1 s, arenas 10 s).
    set(mi_option::PURGE_DELAY, "MIMALLOC_PURGE_DELAY", PURGE_DELAY_MS);
    // No transparent huge pages: a 2 MiB page stays resident while any byte of it is used.
    set(mi_option::ALLOW_THP, "MIMALLOC_ALLOW_THP", 0);
    // mimalloc reads its THP option once, when the process starts (and advises its first arena
    // to use huge pages then); what it would do with the option off is turn THP off for the
    // process, so that is done here.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and only sets a process flag.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Returns free heap pages to the system once a second while the resident set is above
/// `TRIM_ABOVE_BYTES`: after a burst of big answers the memory goes back within a second.
pub async fn trim_periodically() {
    let mut every = tokio::time::interval(TRIM_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if resident_bytes().is_some_and(|r| r > TRIM_ABOVE_BYTES) {
            // It walks the free lists under the arena locks: blocking work, if short.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }
}

/// Hands free pages of every arena back to the system.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The process's resident set size (Linux), from /proc/self/statm (counted in 4 KiB pages,
/// the x86-64 and usual aarch64 page size; only compared with a rough threshold).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::mi_option;

    /// The hard-coded option numbers name the options they mean: each reads its documented
    /// default (unless this process's environment overrides it).
    #[test]
    fn mimalloc_option_numbers_match_the_bundled_header() {
        let env_set = |name: &str| std::env::var_os(name).is_some();
        // SAFETY: mi_option_get only reads an option value.
        let get = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        if !env_set("MIMALLOC_ARENA_EAGER_COMMIT") {
            assert_eq!(get(mi_option::ARENA_EAGER_COMMIT), 2);
        }
        if !env_set("MIMALLOC_PURGE_DELAY") {
            assert_eq!(get(mi_option::PURGE_DELAY), 1000);
        }
        if !env_set("MIMALLOC_ALLOW_THP") {
            assert_eq!(get(mi_option::ALLOW_THP), 1);
        }
    }
}
