//! First-come first-served admission for the heavy read reports (calendar-query,
//! addressbook-query, multigets).
//!
//! Each of them is CPU work of milliseconds on the blocking pool. Left alone, eight of them
//! on two cores are time-sliced by the OS: every one takes about eight times its own cost,
//! and which one the scheduler starves is luck, so the slowest percentile is several times the
//! median. Admitting about as many at a time as there are cores, in arrival order, keeps the
//! cores as busy while each request waits for the ones before it and then runs nearly
//! undisturbed: latencies stay close to their mean.

use std::sync::{Condvar, Mutex, MutexGuard};

/// A counting semaphore that admits waiters strictly in the order they arrived (tickets).
pub struct Admission {
    state: Mutex<Tickets>,
    turn: Condvar,
}

struct Tickets {
    /// Tickets handed out so far; the next arrival gets this number.
    issued: u64,
    /// Permits given back so far. Ticket `t` may run once `t < released + permits`.
    released: u64,
    permits: u64,
}

/// Held while a heavy report runs; its drop admits the next waiter.
pub struct Permit<'a> {
    gate: &'a Admission,
}

impl Admission {
    pub fn new(permits: usize) -> Self {
        Admission {
            state: Mutex::new(Tickets { issued: 0, released: 0, permits: permits.max(1) as u64 }),
            turn: Condvar::new(),
        }
    }

    /// Blocks (this is for the blocking pool) until every earlier arrival has been admitted and
    /// a permit is free.
    pub fn enter(&self) -> Permit<'_> {
        let mut t = self.lock();
        let ticket = t.issued;
        t.issued += 1;
        while ticket >= t.released + t.permits {
            t = self.turn.wait(t).unwrap_or_else(|p| p.into_inner());
        }
        Permit { gate: self }
    }

    fn lock(&self) -> MutexGuard<'_, Tickets> {
        // Nothing panics while holding it; a poisoned lock still holds consistent counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.gate.lock().released += 1;
        // Waiters check their own ticket; only the next one proceeds.
        self.gate.turn.notify_all();
    }
}

/// The gate the REPORT handler passes heavy reports through: one permit more than there are
/// cores, since a holder also waits at times (page reads, a reader connection, the
/// scheduler). Measured on 2 cores with 8 clients: with 2 permits the server stayed near 150 %
/// CPU and calendar-query ran ~190 req/s; with 3, ~170 % and ~225 req/s, p99 a little lower.
pub fn heavy_reads() -> &'static Admission {
    static GATE: std::sync::OnceLock<Admission> = std::sync::OnceLock::new();
    GATE.get_or_init(|| Admission::new(std::thread::available_parallelism().map_or(2, |n| n.get()) + 1))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    use super::*;

    #[test]
    fn never_more_than_the_permits_run_at_once() {
        let gate = Arc::new(Admission::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, running, peak) = (gate.clone(), running.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let _p = gate.enter();
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("worker");
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    /// Waiters are admitted in the order they arrived, not in whatever order the OS wakes them.
    #[test]
    fn waiters_are_admitted_in_arrival_order() {
        let gate = Arc::new(Admission::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = gate.enter();
        let mut threads = Vec::new();
        for i in 0..6 {
            let (g, o) = (gate.clone(), order.clone());
            let arrived = Arc::new(Barrier::new(2));
            let signal = arrived.clone();
            threads.push(std::thread::spawn(move || {
                signal.wait();
                let _p = g.enter();
                o.lock().unwrap().push(i);
            }));
            arrived.wait();
            // Let thread i take its ticket before thread i + 1 starts.
            while gate.lock().issued < i as u64 + 2 {
                std::thread::yield_now();
            }
        }
        drop(held);
        for t in threads {
            t.join().expect("waiter");
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_permit_is_given_back_when_its_holder_panics() {
        let gate = Arc::new(Admission::new(1));
        let g = gate.clone();
        let _ = std::thread::spawn(move || {
            let _p = g.enter();
            panic!("handler failed");
        })
        .join();
        let _again = gate.enter();
    }
}
