//! Running a request's synchronous work on the runtime worker that polls its connection,
//! instead of handing it to tokio's blocking pool.
//!
//! Why: a hand-over to the blocking pool costs two thread wake-ups per request (the pool
//! thread, then the worker again for the answer), and on a busy 2-core machine each wake-up
//! waits for a core. Run inline, a request's work continues on the thread that read it.
//! Measured with 8 clients and 8 workers, interleaved rounds: PUT of new events +5 % req/s
//! (4 rounds), calendar-multiget +5 % (2 rounds); more workers added to that (see
//! [`MIN_WORKERS`]). A PUT holds its worker only until its write is queued: it awaits the
//! group commit as a task (`dav::handle_deferring`), so the worker serves other connections
//! meanwhile.
//!
//! What keeps the runtime responsive although that work blocks (SQLite, the group commit):
//! * at most all workers but one run such work at a time ([`Slot::take`]); the rest of the
//!   requests go to the blocking pool as before, and one worker is always left for sockets;
//! * the one step that blocks for long, argon2 on a password-cache miss, runs under
//!   [`long_blocking`], which hands the worker's other tasks to another thread first
//!   (`tokio::task::block_in_place`);
//! * the server runs with at least [`MIN_WORKERS`] workers, so requests have workers to run on.
//!
//! On a current-thread runtime (most tests) no work runs inline.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::{Handle, RuntimeFlavor};

/// Workers of the server's runtime, whatever the core count: each request run inline holds
/// one for its duration, so with one per core a 2-core machine could run one request at a
/// time inline. Chosen when a PUT still held its worker through the group commit (~1 ms):
/// PUT with 8 clients on 2 cores (3 interleaved rounds each): 8 workers 7,143 req/s (7
/// inline at a time: the 8th request still took the pool), 9 workers 7,691, 12 workers 7,262
/// (9 had 7,194 in those rounds), 16 workers 6,698 (idle workers to wake cost more than the
/// slots save). Since PUTs await their commit as tasks, 4, 6 and 12 workers measured alike
/// for PUT (3 rounds each); the other writes (DELETE, MOVE, PROPPATCH ...) still wait inline.
pub const MIN_WORKERS: usize = 12;

/// Requests running inline, in every runtime of the process.
static INLINE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread is a runtime worker running a request inline.
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Permission to run one request's work inline; released when dropped.
#[derive(Debug)]
pub struct Slot(());

impl Slot {
    /// A slot if the caller runs on a multi-thread runtime with a worker to spare.
    pub fn take() -> Option<Slot> {
        let handle = Handle::try_current().ok()?;
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return None;
        }
        let limit = handle.metrics().num_workers().saturating_sub(1);
        INLINE.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).ok()?;
        Some(Slot(()))
    }

    /// Runs `f` on this thread; a panic is returned, as the blocking pool would return it.
    pub fn run<T>(self, f: impl FnOnce() -> T) -> std::thread::Result<T> {
        let was = ON_WORKER.replace(true);
        let out = catch_unwind(AssertUnwindSafe(f));
        ON_WORKER.set(was);
        out
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        INLINE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `f`, which may block for tens of milliseconds: when called from work running inline,
/// the worker's other tasks move to another thread first. Elsewhere (the blocking pool, a
/// plain thread) it simply runs `f`.
pub fn long_blocking<T>(f: impl FnOnce() -> T) -> T {
    if ON_WORKER.get() { tokio::task::block_in_place(f) } else { f() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_slot_outside_a_runtime_or_on_a_current_thread_one() {
        assert!(Slot::take().is_none());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async { assert!(Slot::take().is_none()) });
    }

    #[test]
    fn slots_leave_one_worker_free_and_come_back_when_dropped() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(3).build().unwrap();
        rt.block_on(async {
            // Other tests of this process may hold slots of their own runtimes meanwhile, so
            // this asserts the bound, not an exact count.
            let held: Vec<Slot> = std::iter::from_fn(Slot::take).take(10).collect();
            assert!((1..=2).contains(&held.len()), "{} slots with 3 workers", held.len());
            drop(held);
        });
    }

    #[test]
    fn work_run_inline_returns_its_value_or_its_panic() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
        rt.block_on(async {
            tokio::spawn(async {
                let slot = Slot::take().expect("a free worker");
                assert_eq!(slot.run(|| long_blocking(|| 41) + 1).unwrap(), 42);
                let slot = Slot::take().expect("the slot came back");
                assert!(slot.run(|| panic!("boom")).is_err());
                assert!(!ON_WORKER.get(), "the flag is cleared after a panic too");
            })
            .await
            .unwrap();
        });
    }
}
