//! The two ceilings measured on the same machine in the same run:
//!
//! * SQLite small-transaction commits per second with `synchronous = FULL` in WAL mode (what
//!   davit uses), one writer, in a directory on the same file system as davit's data — no
//!   server that commits every PUT durably can store more PUTs per second than this;
//! * the load generator's own requests per second against a trivial endpoint (davit's
//!   `/health`, no authentication, no database) — the most the client can measure.

use std::path::Path;
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
    let body = vec![b'x'; 1024];
    let started = Instant::now();
    let mut commits = 0u64;
    while started.elapsed() < duration {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        conn.execute(
            "INSERT INTO t (segment, body) VALUES (?1, ?2)",
            params![format!("item-{commits}.ics"), &body],
        )?;
        conn.execute_batch("COMMIT")?;
        commits += 1;
    }
    let elapsed = started.elapsed();
    drop(conn);
    std::fs::remove_dir_all(dir).ok();
    Ok(SqliteCeiling { commits, elapsed })
}
