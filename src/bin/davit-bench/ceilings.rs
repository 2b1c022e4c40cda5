//! The two ceilings measured on the same machine in the same run:
//!
//! * SQLite small-transaction commits per second with `synchronous = FULL` in WAL mode (what
//!   davit uses), one writer, in a directory on the same file system as davit's data — no
//!   server that commits every PUT durably can store more PUTs per second than this;
//! * the load generator's own requests per second against a trivial endpoint (davit's
//!   `/health`, no authentication, no database) — the most the client can measure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{Connection, params};

#[derive(Debug, Clone)]
pub struct SqliteCeiling {
    pub commits: u64,
    pub elapsed: Duration,
}

impl SqliteCeiling {
    pub fn per_second(&self) -> f64 {
        self.commits as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Commits one ~1 KiB row per transaction for `duration` in a fresh database under `dir`.
pub fn sqlite_full_commits(dir: &Path, duration: Duration) -> anyhow::Result<SqliteCeiling> {
    CeilingDb::create(dir)?.commit_for(duration)
}

/// The ceiling's database, kept open so that it can be measured in several slices (taken in
/// turns with a workload) as if in one run. Removed when dropped.
pub struct CeilingDb {
    conn: Connection,
    dir: PathBuf,
    body: Vec<u8>,
    rows: u64,
}

impl CeilingDb {
    /// A fresh database under `dir` (whatever was there is removed first).
    pub fn create(dir: &Path) -> anyhow::Result<CeilingDb> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let path = dir.join("ceiling.sqlite3");
        let conn = Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, segment TEXT NOT NULL UNIQUE, body BLOB NOT NULL);",
        )?;
        let mode: String =
            conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).map(|v| v.to_string())?;
        anyhow::ensure!(mode == "2", "synchronous is {mode}, not FULL (2)");
        Ok(CeilingDb { conn, dir: dir.to_path_buf(), body: vec![b'x'; 1024], rows: 0 })
    }

    /// Commits one row per transaction for `duration`.
    pub fn commit_for(&mut self, duration: Duration) -> anyhow::Result<SqliteCeiling> {
        let started = Instant::now();
        let mut commits = 0u64;
        while started.elapsed() < duration {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.conn.execute(
                "INSERT INTO t (segment, body) VALUES (?1, ?2)",
                params![format!("item-{}.ics", self.rows), &self.body],
            )?;
            self.conn.execute_batch("COMMIT")?;
            self.rows += 1;
            commits += 1;
        }
        Ok(SqliteCeiling { commits, elapsed: started.elapsed() })
    }
}

impl Drop for CeilingDb {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_continue_one_database_that_is_removed_at_the_end() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("ceiling");
        let mut db = CeilingDb::create(&dir).unwrap();
        let first = db.commit_for(Duration::from_millis(30)).unwrap();
        let second = db.commit_for(Duration::from_millis(30)).unwrap();
        assert!(first.commits > 0 && second.commits > 0);
        assert!(first.elapsed >= Duration::from_millis(30));
        let rows: i64 = db.conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(rows as u64, first.commits + second.commits, "every commit stored one row");
        drop(db);
        assert!(!dir.exists());
    }
}
