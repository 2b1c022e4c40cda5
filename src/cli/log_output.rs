//! Where `davit serve` writes its log: standard error, with the access log buffered.
//!
//! Every request logs one access line. Written one by one, those lines cost a `write(2)`
//! each, made while holding the lock that every other request's line waits on. PUT benchmark,
//! three interleaved rounds: 7,963 req/s written one by one, 8,393 buffered as here, 8,487
//! with no access log at all. So, like nginx's `access_log … buffer= flush=`, access lines are
//! gathered in memory and written together when `BUFFER_BYTES` have gathered or
//! `FLUSH_INTERVAL` has passed. Every other line (start-up, warnings, errors) is written at
//! once, after the access lines waiting before it, so the log keeps its order.
//!
//! A crash (SIGKILL, power loss) can lose the access lines of the last interval; a graceful
//! stop writes them out (`flush`). An idle server has no lines waiting, and then the thread
//! that writes them sleeps until one arrives instead of waking every interval.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

use crate::http::ACCESS_LOG_TARGET;

/// Access lines wait at most this long before they are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// Access lines are written as soon as this many bytes have gathered (about 200 lines).
const BUFFER_BYTES: usize = 32 * 1024;

/// The log's destination and the access lines not yet written to it. Cloning shares both.
pub struct LogOutput<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for LogOutput<W> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

struct Shared<W> {
    pending: Mutex<Pending<W>>,
    /// Signalled when an access line is buffered into an empty buffer.
    lines_waiting: Condvar,
}

struct Pending<W> {
    out: W,
    buffered: Vec<u8>,
    /// False when access lines are written at once, like every other line.
    batching: bool,
}

impl<W: Write> Pending<W> {
    fn write_buffered(&mut self) {
        if !self.buffered.is_empty() {
            // A log that cannot be written (stderr closed) must not stop the server: the
            // lines are dropped, as tracing's own writer would drop them.
            let _ = self.out.write_all(&self.buffered);
            let _ = self.out.flush();
            self.buffered.clear();
        }
    }
}

impl<W: Write + Send + 'static> LogOutput<W> {
    /// `out`, with a thread that writes access lines at most `interval` after the first of
    /// them was buffered (`FLUSH_INTERVAL` for the server's log).
    pub fn with_flusher(out: W, interval: Duration) -> Self {
        let log = Self::new(out);
        let flusher = log.clone();
        let spawned = std::thread::Builder::new().name("davit-log".into()).spawn(move || {
            loop {
                flusher.wait_for_lines();
                std::thread::sleep(interval);
                flusher.flush();
            }
        });
        if spawned.is_err() {
            // Without the thread, lines would wait for the buffer to fill: write through.
            return log.unbuffered();
        }
        log
    }
}

impl<W: Write> LogOutput<W> {
    pub fn new(out: W) -> Self {
        let pending = Pending { out, buffered: Vec::with_capacity(BUFFER_BYTES), batching: true };
        Self { shared: Arc::new(Shared { pending: Mutex::new(pending), lines_waiting: Condvar::new() }) }
    }

    fn wait_for_lines(&self) {
        let mut pending = self.lock();
        while pending.buffered.is_empty() {
            pending = self.shared.lines_waiting.wait(pending).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Writes every line at once.
    fn unbuffered(self) -> Self {
        self.lock().batching = false;
        self
    }

    /// Writes the access lines still waiting.
    pub fn flush(&self) {
        self.lock().write_buffered();
    }

    fn lock(&self) -> MutexGuard<'_, Pending<W>> {
        // A panic while holding the lock leaves at worst a half-gathered buffer: keep logging.
        self.shared.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Test access to the destination.
    #[cfg(test)]
    fn with_out<T>(&self, f: impl FnOnce(&W) -> T) -> T {
        f(&self.lock().out)
    }
}

/// One event's line (tracing formats a whole line, then writes it with one `write_all`).
pub struct LineWriter<'a, W> {
    log: &'a LogOutput<W>,
    access: bool,
}

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.log.lock();
        if self.access && pending.batching {
            if pending.buffered.is_empty() {
                self.log.shared.lines_waiting.notify_one();
            }
            pending.buffered.extend_from_slice(line);
            if pending.buffered.len() >= BUFFER_BYTES {
                pending.write_buffered();
            }
        } else {
            pending.write_buffered();
            pending.out.write_all(line)?;
            pending.out.flush()?;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Access lines are written by the buffer's own rules; other lines were written whole.
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for LogOutput<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { log: self, access: false }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        LineWriter { log: self, access: meta.target() == ACCESS_LOG_TARGET }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn text(log: &LogOutput<Vec<u8>>) -> String {
        log.with_out(|out| String::from_utf8_lossy(out).into_owned())
    }

    fn subscriber(log: &LogOutput<Vec<u8>>) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_ansi(false).without_time().with_writer(log.clone()))
    }

    #[test]
    fn access_lines_wait_for_a_flush_and_other_lines_keep_their_place() {
        let log = LogOutput::new(Vec::new());
        tracing::subscriber::with_default(subscriber(&log), || {
            tracing::info!(target: ACCESS_LOG_TARGET, n = 1, "request");
            tracing::info!(target: ACCESS_LOG_TARGET, n = 2, "request");
            assert_eq!(text(&log), "", "access lines are not written one by one");
            tracing::warn!("disk nearly full");
            tracing::info!(target: ACCESS_LOG_TARGET, n = 3, "request");
        });
        let lines: Vec<String> = text(&log).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("n=1") && lines[1].contains("n=2"), "{lines:?}");
        assert!(lines[2].contains("WARN") && lines[2].contains("disk nearly full"), "{lines:?}");
        log.flush();
        let lines: Vec<String> = text(&log).lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[3].contains("n=3"), "{lines:?}");
    }

    #[test]
    fn a_full_buffer_is_written_without_waiting_for_the_interval() {
        let log = LogOutput::new(Vec::new());
        let path = "x".repeat(1000);
        tracing::subscriber::with_default(subscriber(&log), || {
            for n in 0..(BUFFER_BYTES / path.len() + 1) {
                tracing::info!(target: ACCESS_LOG_TARGET, n, path = %path, "request");
            }
        });
        let written = text(&log);
        assert!(written.len() >= BUFFER_BYTES, "{} bytes written", written.len());
        assert!(written.ends_with('\n'), "only whole lines are written");
    }

    #[test]
    fn the_flusher_writes_access_lines_within_its_interval_also_after_idling() {
        let log = LogOutput::with_flusher(Vec::new(), Duration::from_millis(20));
        let written_within = |limit: Duration, n: usize| {
            let start = std::time::Instant::now();
            while start.elapsed() < limit {
                if text(&log).lines().count() == n {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            false
        };
        for n in 1..=3 {
            // Idle in between: the next line must wake the flusher again.
            std::thread::sleep(Duration::from_millis(50));
            tracing::subscriber::with_default(subscriber(&log), || {
                tracing::info!(target: ACCESS_LOG_TARGET, n, "request");
            });
            assert!(written_within(Duration::from_secs(5), n), "line {n} not written: {:?}", text(&log));
        }
    }

    #[test]
    fn an_unbuffered_output_writes_access_lines_at_once() {
        let log = LogOutput::new(Vec::new()).unbuffered();
        tracing::subscriber::with_default(subscriber(&log), || {
            tracing::info!(target: ACCESS_LOG_TARGET, n = 1, "request");
        });
        assert!(text(&log).contains("n=1"));
    }
}
