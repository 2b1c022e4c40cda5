//! Group commit on the single writer connection, with the disk flush outside the connection.
//!
//! Durability costs one disk flush (`fdatasync`) per COMMIT; one flush per write would cap the
//! server at the disk's flush rate however many clients write. Two things lift that cap:
//!
//! * **Batches.** Concurrent writers share one transaction: each caller runs its own closure on
//!   its own thread while it holds the connection, inside a SAVEPOINT of the batch's
//!   transaction, so a failing closure is undone alone. A caller that finds others queued behind
//!   it hands the connection over and sleeps until its batch has ended; the last one of a batch
//!   (nobody queued, or the batch full or old enough) COMMITs.
//! * **The flush after the connection is released.** The writer connection runs with
//!   `synchronous = NORMAL`, so its COMMIT writes the WAL frames without flushing them. The
//!   committer then releases the connection, so the next batch runs its statements while this
//!   one's frames go to disk, and flushes the WAL file itself ([`WalFlush`]). One flush covers
//!   every batch committed before it started (the WAL is one append-only file). The batch that
//!   fills up while a flush runs is committed when the flush ends (or earlier once full), so it
//!   gathers every write that arrived meanwhile into one COMMIT and one flush.
//!
//! No write returns `Ok` before the flush that made its COMMIT durable succeeded; when the
//! COMMIT or the flush fails, every writer of the batch gets the error. A failed flush leaves the
//! page cache's state unknown (a later flush may report success without writing what the failed
//! one lost), so after one the writer refuses every write until the server restarts and SQLite
//! recovers from what is on disk.
//!
//! Readers may see a batch between its COMMIT and its flush. A power cut in that window (not a
//! crash of the process: the frames are in the OS page cache by then) can lose such a batch,
//! which no client was told had succeeded.
//!
//! SQLite's own flushes stay as they were: with `synchronous = NORMAL` in WAL mode it still
//! flushes the WAL before each checkpoint, the database file after it, and the WAL header when
//! the WAL is restarted, so checkpointed data is durable before the WAL frames holding it are
//! reused.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::map_err;
use crate::store::{StoreError, StoreResult};

/// A batch is committed once it holds this many successful writes, even with writers queued:
/// bounds the WAL growth of one transaction and the work lost to a failing COMMIT.
const BATCH_MAX_WRITES: usize = 64;
/// ... or once it has been open this long, so a steady stream of writers cannot postpone the
/// COMMIT (and their answers) indefinitely. Each write takes well under a millisecond.
const BATCH_MAX_AGE: Duration = Duration::from_millis(10);

pub(super) struct GroupWriter {
    conn: Mutex<WriterConn>,
    /// Threads waiting for (or about to wait for) `conn`: while there are any, the holder
    /// leaves the batch open for them instead of committing.
    queued: AtomicUsize,
    ended: Mutex<Ended>,
    ended_cv: Condvar,
    flush: WalFlush,
    max_writes: usize,
    max_age: Duration,
}

pub(super) struct WriterConn {
    pub(super) conn: Connection,
    batch: Option<Batch>,
    next_batch: u64,
}

struct Batch {
    id: u64,
    opened: Instant,
    writes: usize,
    /// Writers that handed over and sleep until this batch ends.
    sleepers: usize,
}

#[derive(Default)]
struct Ended {
    /// Ended batches that still have sleepers to tell: the outcome and how many sleepers have
    /// not collected it yet. Batches can end out of id order (a later batch's flush may finish
    /// first), so each one's outcome is kept by id.
    outcomes: HashMap<u64, (StoreResult<()>, usize)>,
    /// How many batches have ended (tests count COMMITs with it).
    count: u64,
}

impl GroupWriter {
    /// Takes over the writer connection, which must be in WAL mode on a database file, and
    /// switches its COMMITs to `synchronous = NORMAL`: the flush is ours from now on.
    pub(super) fn new(conn: Connection) -> StoreResult<Self> {
        let flush = WalFlush::for_connection(&conn)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;").map_err(map_err)?;
        Ok(GroupWriter {
            conn: Mutex::new(WriterConn { conn, batch: None, next_batch: 1 }),
            queued: AtomicUsize::new(0),
            ended: Mutex::new(Ended::default()),
            ended_cv: Condvar::new(),
            flush,
            max_writes: BATCH_MAX_WRITES,
            max_age: BATCH_MAX_AGE,
        })
    }

    /// Runs `f` as part of a group commit; returns its value once the batch it ran in is
    /// committed and flushed to disk. An `Err` from `f` undoes only `f`'s own changes.
    pub(super) fn write<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.flush.refuse_if_failed()?;
        let mut w = self.lock();
        let batch = w.join_batch()?;
        let outcome = catch_unwind(AssertUnwindSafe(|| in_savepoint(&w.conn, f)));
        if w.conn.is_autocommit() {
            // SQLite answers some failures (I/O error, disk full, out of memory) by rolling
            // back the whole transaction, which took the batch's earlier writes with it.
            let lost = StoreError::Internal("the write batch was rolled back by an error".into());
            let b = w.batch.take();
            drop(w);
            self.end_batch(b, Err(copy_error(&lost)));
            return match outcome {
                Err(panic) => resume_unwind(panic),
                Ok(Err(e)) => Err(e),
                Ok(Ok(_)) => Err(lost),
            };
        }
        match outcome {
            Ok(Ok(value)) => {
                if let Some(b) = w.batch.as_mut() {
                    b.writes += 1;
                }
                self.commit_or_hand_over(w, batch, true)?;
                Ok(value)
            }
            // Nothing of a failed write is left to make durable: it need not wait for the COMMIT.
            Ok(Err(e)) => {
                let _ = self.commit_or_hand_over(w, batch, false);
                Err(e)
            }
            Err(panic) => {
                let _ = self.commit_or_hand_over(w, batch, false);
                resume_unwind(panic)
            }
        }
    }

    /// The connection with no transaction open: commits (and flushes) the open batch first,
    /// if any, for statements that cannot run inside a transaction, such as a WAL checkpoint.
    pub(super) fn idle(&self) -> StoreResult<MutexGuard<'_, WriterConn>> {
        let mut w = self.lock();
        if w.batch.is_some() {
            // Flushed with the connection still held: the caller wants it idle.
            let (batch, committed) = self.commit(&mut w);
            self.flush_and_end(batch, committed)?;
        }
        Ok(w)
    }

    fn lock(&self) -> MutexGuard<'_, WriterConn> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        // A panic while holding the lock is caught in `write` and leaves no savepoint open,
        // so the connection is still consistent.
        let guard = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.queued.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    /// Leaves the batch open for the writers queued behind (and, if `wait`, sleeps until it
    /// ends), or commits it when nobody is queued or it is full or old enough.
    ///
    /// While a flush is running, the last writer of a batch does not commit at once: a COMMIT
    /// now would only wait for the next flush anyway, and keeping the batch open lets the
    /// writers arriving meanwhile join it (fewer COMMITs, fewer WAL frames per write). It
    /// commits when the flush ends, unless someone else committed the batch first.
    fn commit_or_hand_over(
        &self,
        mut w: MutexGuard<'_, WriterConn>,
        batch: u64,
        wait: bool,
    ) -> StoreResult<()> {
        let b = w.batch.as_mut().expect("a batch is open while a writer holds the connection");
        let full = b.writes >= self.max_writes || b.opened.elapsed() >= self.max_age;
        let others_queued = self.queued.load(Ordering::SeqCst) > 0;
        if !full && (others_queued || (wait && self.flush.flushing())) {
            if !wait {
                return Ok(());
            }
            b.sleepers += 1;
            drop(w);
            return if others_queued {
                self.sleep_until_ended(batch)
            } else {
                self.commit_after_flush(batch)
            };
        }
        self.commit_and_flush(w)
    }

    /// Waits for the running flush to end, then commits batch `batch` unless it has ended
    /// meanwhile. The caller counts as one of the batch's sleepers.
    fn commit_after_flush(&self, batch: u64) -> StoreResult<()> {
        {
            let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
            while self.flush.flushing() && !ended.outcomes.contains_key(&batch) {
                // Every flush is followed by `end_batch`, which notifies; the timeout is only a
                // safety net.
                ended = self
                    .ended_cv
                    .wait_timeout(ended, Duration::from_millis(2))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        let mut w = self.lock();
        match w.batch.as_mut() {
            Some(b) if b.id == batch => {
                b.sleepers -= 1;
                self.commit_and_flush(w)
            }
            _ => {
                drop(w);
                self.sleep_until_ended(batch)
            }
        }
    }

    /// COMMITs the open batch, releases the connection, flushes the batch to disk and ends it
    /// with the outcome.
    fn commit_and_flush(&self, mut w: MutexGuard<'_, WriterConn>) -> StoreResult<()> {
        let (batch, committed) = self.commit(&mut w);
        drop(w);
        self.flush_and_end(batch, committed)
    }

    /// COMMITs the open batch and takes it; a successful COMMIT that changed something is
    /// recorded for the flush.
    fn commit(&self, w: &mut WriterConn) -> (Option<Batch>, StoreResult<()>) {
        let result = w.commit();
        let batch = w.batch.take();
        if let (Ok(()), Some(b)) = (&result, &batch)
            && b.writes > 0
        {
            self.flush.committed(b.id);
        }
        (batch, result)
    }

    fn flush_and_end(&self, batch: Option<Batch>, committed: StoreResult<()>) -> StoreResult<()> {
        let result = match &batch {
            // Only failed writes: the transaction changed nothing, there is nothing to flush.
            Some(b) if b.writes == 0 => committed,
            Some(b) => committed.and_then(|()| self.flush.make_durable(b.id)),
            None => committed,
        };
        self.end_batch(batch, result.as_ref().map(|_| ()).map_err(copy_error));
        result
    }

    /// Marks a batch ended with `result` and wakes its sleepers.
    fn end_batch(&self, b: Option<Batch>, result: StoreResult<()>) {
        let Some(b) = b else { return };
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.count += 1;
        if b.sleepers > 0 {
            ended.outcomes.insert(b.id, (result, b.sleepers));
        }
        drop(ended);
        self.ended_cv.notify_all();
    }

    fn sleep_until_ended(&self, batch: u64) -> StoreResult<()> {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some((outcome, left)) = ended.outcomes.get_mut(&batch) {
                *left -= 1;
                let outcome = outcome.as_ref().map(|_| ()).map_err(copy_error);
                if *left == 0 {
                    ended.outcomes.remove(&batch);
                }
                return outcome;
            }
            ended = self.ended_cv.wait(ended).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl WriterConn {
    /// The id of the open batch, opening one (BEGIN IMMEDIATE) if there is none.
    fn join_batch(&mut self) -> StoreResult<u64> {
        if let Some(b) = &self.batch {
            return Ok(b.id);
        }
        run(&self.conn, "BEGIN IMMEDIATE")?;
        let id = self.next_batch;
        self.next_batch += 1;
        self.batch = Some(Batch { id, opened: Instant::now(), writes: 0, sleepers: 0 });
        Ok(id)
    }

    /// COMMITs the batch's transaction; rolls it back if the COMMIT fails, so that the next
    /// batch starts clean.
    fn commit(&mut self) -> StoreResult<()> {
        let result = run(&self.conn, "COMMIT");
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        result
    }
}

/// Flushes the writer's WAL file: the durability step of every COMMIT.
struct WalFlush {
    path: PathBuf,
    /// The highest batch id whose COMMIT has returned (its frames are written, maybe not yet
    /// on disk).
    committed: AtomicU64,
    /// Held for the length of a flush: flushes run one at a time, and a writer that waited
    /// here usually finds its batch already covered by the flush it waited for.
    state: Mutex<FlushState>,
    /// Set once a flush failed; read without the lock so refused writes don't queue for it.
    failed: AtomicBool,
    /// True while a flush is running.
    flushing: AtomicBool,
    #[cfg(test)]
    hook: Mutex<Option<FlushHook>>,
}

/// Runs in place of nothing before each flush in tests: it can block, count or fail it.
#[cfg(test)]
type FlushHook = Box<dyn FnMut() -> io::Result<()> + Send>;

#[derive(Default)]
struct FlushState {
    file: Option<File>,
    /// Every batch with an id up to this one is on disk.
    durable: u64,
    flushes: u64,
    failure: Option<String>,
}

impl WalFlush {
    fn for_connection(conn: &Connection) -> StoreResult<Self> {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(map_err)?;
        let db = conn.path().filter(|p| !p.is_empty());
        let Some(db) = db.filter(|_| mode.eq_ignore_ascii_case("wal")) else {
            return Err(StoreError::Internal(format!(
                "the writer needs a database file in WAL mode (journal_mode is {mode})"
            )));
        };
        Ok(WalFlush {
            // SQLite names the WAL after the database file, with "-wal" appended.
            path: PathBuf::from(format!("{db}-wal")),
            committed: AtomicU64::new(0),
            state: Mutex::new(FlushState::default()),
            failed: AtomicBool::new(false),
            flushing: AtomicBool::new(false),
            #[cfg(test)]
            hook: Mutex::new(None),
        })
    }

    fn flushing(&self) -> bool {
        self.flushing.load(Ordering::SeqCst)
    }

    fn refuse_if_failed(&self) -> StoreResult<()> {
        if self.failed.load(Ordering::SeqCst) {
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            return Err(flush_failed(state.failure.as_deref().unwrap_or("unknown")));
        }
        Ok(())
    }

    /// Records that batch `id` is committed; called before the connection is released, so ids
    /// are recorded in order.
    fn committed(&self, id: u64) {
        self.committed.fetch_max(id, Ordering::SeqCst);
    }

    /// Returns once batch `id` (already committed) is on disk.
    fn make_durable(&self, id: u64) -> StoreResult<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(failure) = &state.failure {
            return Err(flush_failed(failure));
        }
        if state.durable >= id {
            return Ok(());
        }
        // Every batch committed by now has its frames written: this flush covers them all.
        let upto = self.committed.load(Ordering::SeqCst);
        self.flushing.store(true, Ordering::SeqCst);
        let flushed = self.flush_wal(&mut state);
        self.flushing.store(false, Ordering::SeqCst);
        match flushed {
            Ok(()) => {
                state.durable = upto;
                state.flushes += 1;
                Ok(())
            }
            Err(e) => {
                let failure = format!("flushing {} failed: {e}", self.path.display());
                tracing::error!(error = %failure, "the write-ahead log could not be flushed to disk; refusing writes until restart");
                state.failure = Some(failure.clone());
                self.failed.store(true, Ordering::SeqCst);
                Err(flush_failed(&failure))
            }
        }
    }

    fn flush_wal(&self, state: &mut FlushState) -> io::Result<()> {
        #[cfg(test)]
        if let Some(hook) = self.hook.lock().unwrap().as_mut() {
            hook()?;
        }
        // The WAL is the same file for the connection's whole life (SQLite deletes it only when
        // the last connection closes, and resets or truncates it in place); checking the inode
        // costs one stat and guards against flushing a file that is no longer the WAL.
        let on_disk = std::fs::metadata(&self.path)?;
        let current = state.file.as_ref().map(File::metadata).transpose()?;
        if current.is_none_or(|m| (m.dev(), m.ino()) != (on_disk.dev(), on_disk.ino())) {
            let file = File::open(&self.path)?;
            // The WAL's directory entry must be on disk too, once per opened WAL file.
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
            state.file = Some(file);
        }
        state.file.as_ref().expect("opened above").sync_data()
    }
}

fn flush_failed(failure: &str) -> StoreError {
    StoreError::Internal(format!("the database could not be flushed to disk ({failure}); restart the server"))
}

/// Runs `f` inside a savepoint of the open transaction: released on `Ok`, rolled back on
/// `Err` or panic so that the other writes of the batch stay as they were.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    run(conn, "SAVEPOINT davit_write")?;
    let mut undo = Undo { conn, armed: true };
    let result = f(conn).and_then(|v| run(conn, "RELEASE davit_write").map(|()| v));
    undo.armed = result.is_err();
    result
}

/// One transaction-control statement, through the statement cache (they run several times
/// per write, and `execute_batch` would parse them every time).
fn run(conn: &Connection, sql: &str) -> StoreResult<()> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ()).map_err(map_err)
}

/// Rolls the write's savepoint back when dropped armed (on `Err`, or while unwinding).
struct Undo<'c> {
    conn: &'c Connection,
    armed: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        // Nothing to undo when SQLite already rolled the whole transaction back.
        if self.armed && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK TO davit_write; RELEASE davit_write");
        }
    }
}

/// The same error for each writer of a failed batch (`StoreError` is not `Clone`).
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        other => StoreError::Internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    type Write<T> = Box<dyn FnOnce(&Connection) -> StoreResult<T> + Send>;

    struct Db {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        writer: Arc<GroupWriter>,
    }

    /// A writer on a fresh WAL database with `parent` and `child` (a foreign key) tables; the
    /// age limit is long so that a slow test machine does not split the batches under test.
    fn db() -> Db {
        db_with_batch_limit(BATCH_MAX_WRITES)
    }

    fn db_with_batch_limit(max_writes: usize) -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));",
        )
        .expect("schema");
        let mut writer = GroupWriter::new(conn).expect("writer");
        writer.max_age = Duration::from_secs(30);
        writer.max_writes = max_writes;
        Db { _dir: dir, path, writer: Arc::new(writer) }
    }

    fn insert(conn: &Connection, id: i64) -> StoreResult<()> {
        conn.execute("INSERT INTO parent (id) VALUES (?1)", [id]).map(|_| ()).map_err(map_err)
    }

    /// Ids in `parent`, read through a separate connection (what is committed).
    fn committed(path: &std::path::Path) -> Vec<i64> {
        let conn = Connection::open(path).expect("open reader");
        let mut stmt = conn.prepare("SELECT id FROM parent ORDER BY id").expect("prepare");
        stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows")
    }

    fn batches_ended(w: &GroupWriter) -> u64 {
        w.ended.lock().unwrap().count
    }

    /// Runs `writes` on their own threads while the test holds the connection, so that all of
    /// them queue up and then run as one batch; returns their results in order.
    fn one_batch<T: Send + 'static>(db: &Db, writes: Vec<Write<T>>) -> Vec<StoreResult<T>> {
        let held = db.writer.conn.lock().unwrap();
        let n = writes.len();
        let handles: Vec<_> = writes
            .into_iter()
            .map(|f| {
                let w = db.writer.clone();
                std::thread::spawn(move || w.write(f))
            })
            .collect();
        while db.writer.queued.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
        drop(held);
        handles.into_iter().map(|h| h.join().expect("writer thread")).collect()
    }

    #[test]
    fn concurrent_writers_all_succeed_and_are_durable() {
        let db = db();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let w = db.writer.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        w.write(|c| insert(c, t * 1000 + i)).expect("write");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(committed(&db.path).len(), 400);
        assert!(db.writer.conn.lock().unwrap().batch.is_none(), "no batch left open");
    }

    #[test]
    fn queued_writers_share_one_commit() {
        let db = db();
        let writes = (1..=6).map(|i| Box::new(move |c: &Connection| insert(c, i)) as Box<_>).collect();
        let results = one_batch(&db, writes);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(committed(&db.path), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(batches_ended(&db.writer), 1, "six writes, one COMMIT");
    }

    #[test]
    fn a_failing_write_is_undone_alone() {
        let db = db();
        let mut writes: Vec<Write<()>> =
            (1..=4).map(|i| Box::new(move |c: &Connection| insert(c, i)) as Box<_>).collect();
        writes.insert(
            2,
            Box::new(|c: &Connection| {
                insert(c, 99)?;
                Err(StoreError::PreconditionFailed)
            }),
        );
        let results = one_batch(&db, writes);
        assert!(matches!(results[2], Err(StoreError::PreconditionFailed)), "{results:?}");
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4, "{results:?}");
        assert_eq!(committed(&db.path), vec![1, 2, 3, 4], "only the failing write's row is gone");
        assert_eq!(batches_ended(&db.writer), 1);
    }

    #[test]
    fn a_failing_commit_reaches_every_writer_of_the_batch() {
        let db = db();
        let mut writes: Vec<Write<()>> =
            (1..=4).map(|i| Box::new(move |c: &Connection| insert(c, i)) as Box<_>).collect();
        // A deferred foreign-key violation succeeds as a statement and fails the COMMIT.
        writes.push(Box::new(|c: &Connection| {
            c.execute_batch("PRAGMA defer_foreign_keys = ON; INSERT INTO child (parent_id) VALUES (12345);")
                .map_err(map_err)
        }));
        let results = one_batch(&db, writes);
        assert!(results.iter().all(Result::is_err), "{results:?}");
        assert!(committed(&db.path).is_empty());
        // The next batch starts clean.
        db.writer.write(|c| insert(c, 7)).expect("write after a failed batch");
        assert_eq!(committed(&db.path), vec![7]);
        assert!(db.writer.ended.lock().unwrap().outcomes.is_empty(), "every sleeper collected the error");
    }

    #[test]
    fn a_panicking_write_is_undone_alone() {
        let db = db();
        let mut writes: Vec<Write<()>> =
            (1..=3).map(|i| Box::new(move |c: &Connection| insert(c, i)) as Box<_>).collect();
        writes.insert(
            1,
            Box::new(|c: &Connection| {
                insert(c, 99)?;
                panic!("closure panics");
            }),
        );
        let held = db.writer.conn.lock().unwrap();
        let handles: Vec<_> = writes
            .into_iter()
            .map(|f| {
                let w = db.writer.clone();
                std::thread::spawn(move || w.write(f))
            })
            .collect();
        while db.writer.queued.load(Ordering::SeqCst) < 4 {
            std::thread::yield_now();
        }
        drop(held);
        let joined: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        assert!(joined[1].is_err(), "the panic reaches its own caller");
        assert!(joined.iter().enumerate().all(|(i, j)| i == 1 || matches!(j, Ok(Ok(())))));
        assert_eq!(committed(&db.path), vec![1, 2, 3]);
    }

    #[test]
    fn nested_savepoints_inside_a_write_work() {
        let db = db();
        db.writer
            .write(|c| {
                insert(c, 1)?;
                c.execute_batch(
                    "SAVEPOINT inner; INSERT INTO parent (id) VALUES (2); ROLLBACK TO inner; RELEASE inner;",
                )
                .map_err(map_err)?;
                c.execute_batch("SAVEPOINT inner; INSERT INTO parent (id) VALUES (3); RELEASE inner;")
                    .map_err(map_err)
            })
            .expect("write");
        assert_eq!(committed(&db.path), vec![1, 3]);
    }

    #[test]
    fn readers_do_not_see_a_batch_before_its_commit() {
        let db = db();
        let writes = (1..=2)
            .map(|i| {
                let path = db.path.clone();
                Box::new(move |c: &Connection| {
                    insert(c, i)?;
                    let inside: i64 = c.query_row("SELECT COUNT(*) FROM parent", [], |r| r.get(0)).unwrap();
                    Ok((inside, committed(&path).len()))
                }) as Box<_>
            })
            .collect();
        let seen: Vec<(i64, usize)> = one_batch(&db, writes).into_iter().map(|r| r.expect("write")).collect();
        // Whichever ran second saw both rows inside the batch; no reader saw any before COMMIT.
        assert_eq!(seen.iter().map(|s| s.0).max(), Some(2), "{seen:?}");
        assert!(seen.iter().all(|s| s.1 == 0), "{seen:?}");
        assert_eq!(committed(&db.path), vec![1, 2]);
        assert_eq!(batches_ended(&db.writer), 1);
    }

    fn set_flush_hook(db: &Db, hook: impl FnMut() -> io::Result<()> + Send + 'static) {
        *db.writer.flush.hook.lock().unwrap() = Some(Box::new(hook));
    }

    fn flushes(db: &Db) -> u64 {
        db.writer.flush.state.lock().unwrap().flushes
    }

    /// A flush that waits for the test's go, announcing each time it starts.
    fn gated_flush(db: &Db) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
        let (started_tx, started) = std::sync::mpsc::channel();
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        set_flush_hook(db, move || {
            started_tx.send(()).ok();
            go_rx.recv().ok();
            Ok(())
        });
        (started, go)
    }

    fn spawn_write(db: &Db, id: i64) -> std::thread::JoinHandle<StoreResult<()>> {
        let w = db.writer.clone();
        std::thread::spawn(move || w.write(|c| insert(c, id)))
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The statements of writes arriving during a flush run at once; their batch stays open
    /// and is committed, as one, when the flush ends. Nobody returns before their own flush.
    #[test]
    fn writes_arriving_during_a_flush_run_then_commit_together_after_it() {
        let db = db();
        let (started, go) = gated_flush(&db);
        let first = spawn_write(&db, 1);
        started.recv().expect("the first batch's flush starts");
        let later: Vec<_> = (2..=4).map(|id| spawn_write(&db, id)).collect();
        wait_until("the three writes ran their statements", || {
            db.writer.conn.lock().unwrap().batch.as_ref().is_some_and(|b| b.writes == 3)
        });
        assert_eq!(committed(&db.path), vec![1], "the second batch waits for the flush");
        assert!(!first.is_finished(), "the first write waits for its flush");
        go.send(()).unwrap();
        assert!(first.join().unwrap().is_ok());
        started.recv().expect("the second batch is committed and flushed");
        assert_eq!(committed(&db.path), vec![1, 2, 3, 4]);
        std::thread::sleep(Duration::from_millis(20));
        assert!(later.iter().all(|h| !h.is_finished()), "no write returns before its flush");
        go.send(()).unwrap();
        for handle in later {
            assert!(handle.join().unwrap().is_ok());
        }
        assert_eq!((batches_ended(&db.writer), flushes(&db)), (2, 2), "two COMMITs, two flushes");
    }

    /// A full batch does not wait for the running flush: it commits, and the next flush covers
    /// it together with whatever else committed meanwhile.
    #[test]
    fn full_batches_commit_during_a_flush_and_share_the_next_one() {
        let db = db_with_batch_limit(2);
        let (started, go) = gated_flush(&db);
        let first = spawn_write(&db, 1);
        started.recv().expect("the first batch's flush starts");
        let later: Vec<_> = (2..=5).map(|id| spawn_write(&db, id)).collect();
        wait_until("two full batches are committed", || committed(&db.path) == vec![1, 2, 3, 4, 5]);
        go.send(()).unwrap();
        started.recv().expect("one more flush starts");
        go.send(()).unwrap();
        assert!(first.join().unwrap().is_ok());
        for handle in later {
            assert!(handle.join().unwrap().is_ok());
        }
        assert_eq!(batches_ended(&db.writer), 3);
        assert_eq!(flushes(&db), 2, "one flush for the first batch, one for the two behind it");
    }

    #[test]
    fn a_failed_flush_fails_its_writers_and_every_later_write() {
        let db = db();
        set_flush_hook(&db, || Err(io::Error::other("the disk went away")));
        let err = db.writer.write(|c| insert(c, 1)).expect_err("the flush failed");
        assert!(err.to_string().contains("the disk went away"), "{err}");
        // Committed but never acknowledged; nothing more gets in, even once the disk is back.
        set_flush_hook(&db, || Ok(()));
        let err = db.writer.write(|c| insert(c, 2)).expect_err("writes are refused");
        assert!(err.to_string().contains("restart the server"), "{err}");
        assert_eq!(committed(&db.path), vec![1]);
        assert!(db.writer.idle().is_ok(), "a checkpoint can still run");
    }

    #[test]
    fn the_flush_is_of_the_databases_wal_file() {
        let db = db();
        db.writer.write(|c| insert(c, 1)).expect("write");
        assert_eq!(flushes(&db), 1);
        let state = db.writer.flush.state.lock().unwrap();
        let flushed = state.file.as_ref().expect("the WAL is open").metadata().unwrap();
        let wal = std::fs::metadata(format!("{}-wal", db.path.display())).expect("the WAL exists");
        assert_eq!((flushed.dev(), flushed.ino()), (wal.dev(), wal.ino()));
        drop(state);
        let conn = db.writer.conn.lock().unwrap();
        let sync: i64 = conn.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(sync, 1, "COMMIT leaves the flush to us (NORMAL)");
    }

    #[test]
    fn a_writer_needs_a_wal_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("rollback.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = DELETE;").unwrap();
        assert!(GroupWriter::new(conn).is_err());
        assert!(GroupWriter::new(Connection::open_in_memory().unwrap()).is_err());
    }
}
