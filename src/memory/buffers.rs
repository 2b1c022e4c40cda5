//! Large response buffers kept for the next answer instead of going back to the system.
//!
//! A calendar-query for a month of a 10,000-event calendar answers ~800 KB of XML. The
//! allocator hands a block of that size back to the system as soon as it is freed (the purge
//! option in `memory`), so every answer was written into fresh pages: the kernel zeroed and
//! mapped each 4 KiB page on first touch and unmapped it again afterwards, ~20 % of the
//! server's CPU in the benchmark's calendar-query workload (perf: page faults 15 %, madvise
//! 5 %). A few buffers of that size, kept here, stay mapped; the pool is bounded, so memory
//! stays flat whatever the load.

use std::sync::Mutex;

/// Buffers smaller than this come from the allocator as usual (its small pages are reused).
const MIN_POOLED: usize = 64 * 1024;
/// Larger buffers (a whole-collection PROPFIND) are rare enough to be freed.
const MAX_POOLED: usize = 2 << 20;
/// Total capacity kept: eight concurrent month-sized answers.
const POOL_BYTES: usize = 8 << 20;

static RESPONSES: BufferPool = BufferPool::new(POOL_BYTES);

/// An empty buffer for a response of about `capacity` bytes.
pub fn take(capacity: usize) -> Vec<u8> {
    RESPONSES.take(capacity)
}

/// `buf` as `Bytes`; a buffer of a size the pool keeps goes back to it when the last `Bytes`
/// of it is dropped (a sent response body, a query's candidates).
pub fn into_bytes(buf: Vec<u8>) -> bytes::Bytes {
    if kept_size(buf.capacity()) { bytes::Bytes::from_owner(Recycled(buf)) } else { bytes::Bytes::from(buf) }
}

/// Whether buffers of this capacity are kept (see MIN_POOLED and MAX_POOLED).
fn kept_size(capacity: usize) -> bool {
    (MIN_POOLED..=MAX_POOLED).contains(&capacity)
}

/// A buffer that goes back to the pool when dropped.
struct Recycled(Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        RESPONSES.give_back(std::mem::take(&mut self.0));
    }
}

pub struct BufferPool {
    budget: usize,
    kept: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    pub const fn new(budget: usize) -> Self {
        BufferPool { budget, kept: Mutex::new(Vec::new()) }
    }

    /// An empty buffer that holds at least `capacity` bytes: the smallest kept one that is
    /// large enough (big buffers stay for big answers), else a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        if kept_size(capacity) {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            let fits = (0..kept.len()).filter(|&i| kept[i].capacity() >= capacity);
            if let Some(i) = fits.min_by_key(|&i| kept[i].capacity()) {
                return kept.swap_remove(i);
            }
        }
        Vec::with_capacity(capacity)
    }

    /// Keeps `buf`, emptied, when its size is worth keeping; over the budget the smallest kept
    /// buffers give way.
    pub fn give_back(&self, mut buf: Vec<u8>) {
        if !kept_size(buf.capacity()) {
            return;
        }
        buf.clear();
        let mut evicted = Vec::new();
        {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.push(buf);
            while kept.iter().map(Vec::capacity).sum::<usize>() > self.budget {
                let smallest = (0..kept.len()).min_by_key(|&i| kept[i].capacity()).expect("over budget");
                evicted.push(kept.swap_remove(smallest));
            }
        }
        // Freed outside the lock.
        drop(evicted);
    }

    #[cfg(test)]
    fn capacities(&self) -> Vec<usize> {
        let mut caps: Vec<usize> =
            self.kept.lock().unwrap_or_else(|p| p.into_inner()).iter().map(Vec::capacity).collect();
        caps.sort_unstable();
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mid_sized_buffers_are_kept() {
        let pool = BufferPool::new(POOL_BYTES);
        pool.give_back(Vec::with_capacity(MIN_POOLED - 1));
        pool.give_back(Vec::with_capacity(MAX_POOLED + 1));
        assert!(pool.capacities().is_empty());
        assert_eq!(pool.take(100).capacity(), 100, "small requests never look at the pool");
    }

    #[test]
    fn a_kept_buffer_comes_back_emptied_and_the_smallest_that_fits_is_chosen() {
        let pool = BufferPool::new(POOL_BYTES);
        let mut used = Vec::with_capacity(MIN_POOLED);
        used.extend_from_slice(b"an earlier answer");
        let memory = used.as_ptr();
        pool.give_back(used);
        pool.give_back(Vec::with_capacity(MAX_POOLED));
        assert_eq!(pool.capacities(), [MIN_POOLED, MAX_POOLED]);

        let again = pool.take(MIN_POOLED);
        assert_eq!((again.capacity(), again.len(), again.as_ptr()), (MIN_POOLED, 0, memory));
        assert_eq!(pool.take(MIN_POOLED + 1).capacity(), MAX_POOLED, "the only one that fits");
        assert!(pool.capacities().is_empty());
        assert!(pool.take(MAX_POOLED).capacity() >= MAX_POOLED, "a new one when none is kept");
    }

    #[test]
    fn over_its_budget_the_pool_lets_the_smallest_buffers_go() {
        let pool = BufferPool::new(3 * MAX_POOLED);
        pool.give_back(Vec::with_capacity(MIN_POOLED));
        for _ in 0..3 {
            pool.give_back(Vec::with_capacity(MAX_POOLED));
        }
        assert_eq!(pool.capacities(), [MAX_POOLED; 3]);
        pool.give_back(Vec::with_capacity(MAX_POOLED));
        assert_eq!(pool.capacities(), [MAX_POOLED; 3], "a full pool drops what it cannot hold");
    }

    #[test]
    fn a_response_body_returns_its_buffer_when_hyper_drops_it() {
        let mut body = take(MAX_POOLED - 7);
        body.extend_from_slice(b"<D:multistatus/>");
        let memory = body.as_ptr();
        let bytes = into_bytes(body);
        assert_eq!(&bytes[..], b"<D:multistatus/>");
        drop(bytes);
        // Other tests may use the process-wide pool meanwhile: look for this buffer.
        let kept = RESPONSES.kept.lock().unwrap_or_else(|p| p.into_inner());
        assert!(kept.iter().any(|b| b.as_ptr() == memory && b.is_empty()));
    }
}
