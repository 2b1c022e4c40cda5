//! Group commit on the single writer connection.
//!
//! With `synchronous = FULL` every COMMIT waits for the disk, so one transaction per write caps
//! the server at the disk's commit rate however many clients write. Instead, concurrent writers
//! share one transaction (a *batch*): each caller runs its own closure on its own thread while
//! it holds the connection, inside a SAVEPOINT of the batch's transaction, so a failing closure
//! is undone alone. A caller that finds others queued behind it hands the connection over and
//! sleeps until its batch has ended; the last one of a batch (nobody queued, or the batch full
//! or old enough) COMMITs and wakes the others with the result. No write returns `Ok` before
//! the COMMIT that made it durable succeeded; when that COMMIT fails, every writer of the batch
//! gets the error.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
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

struct Ended {
    /// Every batch with an id up to this one has ended; batches end in id order since only
    /// one is open at a time.
    upto: u64,
    /// Ended batches whose COMMIT failed and which still have sleepers to tell: the error and
    /// how many sleepers have not collected it yet.
    failed: HashMap<u64, (StoreError, usize)>,
}

impl GroupWriter {
    pub(super) fn new(conn: Connection) -> Self {
        GroupWriter {
            conn: Mutex::new(WriterConn { conn, batch: None, next_batch: 1 }),
            queued: AtomicUsize::new(0),
            ended: Mutex::new(Ended { upto: 0, failed: HashMap::new() }),
            ended_cv: Condvar::new(),
            max_writes: BATCH_MAX_WRITES,
            max_age: BATCH_MAX_AGE,
        }
    }

    /// Runs `f` as part of a group commit; returns its value once the batch it ran in is
    /// committed. An `Err` from `f` undoes only `f`'s own changes.
    pub(super) fn write<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut w = self.lock();
        let batch = w.join_batch()?;
        let outcome = catch_unwind(AssertUnwindSafe(|| in_savepoint(&w.conn, f)));
        if w.conn.is_autocommit() {
            // SQLite answers some failures (I/O error, disk full, out of memory) by rolling
            // back the whole transaction, which took the batch's earlier writes with it.
            let lost = StoreError::Internal("the write batch was rolled back by an error".into());
            self.end_batch(&mut w, Err(copy_error(&lost)));
            drop(w);
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

    /// The connection with no transaction open: commits the open batch first, if any (for
    /// statements that cannot run inside a transaction, such as a WAL checkpoint).
    pub(super) fn idle(&self) -> StoreResult<MutexGuard<'_, WriterConn>> {
        let mut w = self.lock();
        if w.batch.is_some() {
            let result = w.commit();
            self.end_batch(&mut w, result.as_ref().map(|_| ()).map_err(copy_error));
            result?;
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
    fn commit_or_hand_over(
        &self,
        mut w: MutexGuard<'_, WriterConn>,
        batch: u64,
        wait: bool,
    ) -> StoreResult<()> {
        let b = w.batch.as_mut().expect("a batch is open while a writer holds the connection");
        let full = b.writes >= self.max_writes || b.opened.elapsed() >= self.max_age;
        if !full && self.queued.load(Ordering::SeqCst) > 0 {
            if !wait {
                return Ok(());
            }
            b.sleepers += 1;
            drop(w);
            return self.sleep_until_ended(batch);
        }
        let result = w.commit();
        self.end_batch(&mut w, result.as_ref().map(|_| ()).map_err(copy_error));
        result
    }

    /// Marks the open batch ended with `result` and wakes its sleepers. Called with the
    /// connection held and the batch's transaction already closed.
    fn end_batch(&self, w: &mut WriterConn, result: StoreResult<()>) {
        let Some(b) = w.batch.take() else { return };
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.upto = b.id;
        if let Err(e) = result
            && b.sleepers > 0
        {
            ended.failed.insert(b.id, (e, b.sleepers));
        }
        drop(ended);
        self.ended_cv.notify_all();
    }

    fn sleep_until_ended(&self, batch: u64) -> StoreResult<()> {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        while ended.upto < batch {
            ended = self.ended_cv.wait(ended).unwrap_or_else(|p| p.into_inner());
        }
        let Some((error, left)) = ended.failed.get_mut(&batch) else { return Ok(()) };
        *left -= 1;
        let error = copy_error(error);
        if *left == 0 {
            ended.failed.remove(&batch);
        }
        Err(error)
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
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));",
        )
        .expect("schema");
        let mut writer = GroupWriter::new(conn);
        writer.max_age = Duration::from_secs(30);
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
        w.ended.lock().unwrap().upto
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
        assert!(db.writer.ended.lock().unwrap().failed.is_empty(), "every sleeper collected the error");
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
}
