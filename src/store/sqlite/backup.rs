//! Online backup through SQLite's backup API: a consistent snapshot of the live database,
//! taken while the server keeps reading and writing (WAL readers do not block writers).

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::{SqliteStore, map_err};
use crate::store::{StoreError, StoreResult};

/// How often a busy or locked source is retried before the backup gives up.
const BUSY_RETRIES: u32 = 100;
const BUSY_PAUSE: Duration = Duration::from_millis(50);

impl SqliteStore {
    /// Writes a complete, self-contained copy of the database (rollback-journal mode, no WAL
    /// beside it) to `path`, which must not exist yet (`AlreadyExists` otherwise). The copy is
    /// one consistent snapshot: every page is read inside a single read transaction. It is
    /// built under a temporary name in the same directory, checked with `integrity_check`,
    /// synced to disk and only then linked to `path`, so `path` never names a partial copy.
    pub fn backup_to(&self, path: &Path) -> StoreResult<()> {
        if fs::symlink_metadata(path).is_ok() {
            return Err(StoreError::AlreadyExists);
        }
        let partial = partial_name(path)?;
        // Claim the temporary name (never clobber someone else's file); SQLite treats the
        // empty file as a new database.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(|e| io_error("cannot create", &partial, e))?;
        let result = self.copy_into(&partial).and_then(|()| publish(&partial, path));
        remove_partial(&partial);
        result
    }

    fn copy_into(&self, partial: &Path) -> StoreResult<()> {
        let mut dst = Connection::open(partial).map_err(map_err)?;
        {
            let src = self.reader();
            let backup = Backup::new(&src, &mut dst).map_err(map_err)?;
            let mut retries = 0;
            loop {
                // -1: all pages in one step, so the whole copy is one read transaction on the
                // source and a concurrent write cannot force a restart.
                match backup.step(-1).map_err(map_err)? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked if retries < BUSY_RETRIES => {
                        retries += 1;
                        std::thread::sleep(BUSY_PAUSE);
                    }
                    StepResult::Busy | StepResult::Locked => return Err(StoreError::Busy),
                    _ => return Err(StoreError::Internal("unexpected backup step result".into())),
                }
            }
        }
        // The source is in WAL mode and the copy inherits it; a backup file should stand alone.
        let mode: String =
            dst.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0)).map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(StoreError::Internal(format!("the copy stayed in journal mode {mode}")));
        }
        let check: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(map_err)?;
        if check != "ok" {
            return Err(StoreError::Internal(format!("the copy fails integrity_check: {check}")));
        }
        dst.close().map_err(|(_, e)| map_err(e))?;
        File::open(partial).and_then(|f| f.sync_all()).map_err(|e| io_error("cannot sync", partial, e))
    }
}

/// `.NAME.partial-PID` beside `path`: same directory, so the final link stays on one file system.
fn partial_name(path: &Path) -> StoreResult<PathBuf> {
    let name =
        path.file_name().ok_or_else(|| StoreError::Internal(format!("{} names no file", path.display())))?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".partial-{}", std::process::id()));
    Ok(path.with_file_name(partial))
}

/// Gives the finished copy its final name without ever replacing an existing file.
fn publish(partial: &Path, path: &Path) -> StoreResult<()> {
    match fs::hard_link(partial, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(StoreError::AlreadyExists),
        // File systems without hard links: a rename, after checking again that nothing appeared.
        Err(_) if fs::symlink_metadata(path).is_err() => {
            fs::rename(partial, path).map_err(|e| io_error("cannot rename to", path, e))?;
        }
        Err(_) => return Err(StoreError::AlreadyExists),
    }
    // Make the new directory entry durable too.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn remove_partial(partial: &Path) {
    let _ = fs::remove_file(partial);
    let mut journal = partial.as_os_str().to_owned();
    journal.push("-journal");
    let _ = fs::remove_file(journal);
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Internal(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn backup_is_a_complete_standalone_copy_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("live.sqlite3")).unwrap();
        store.create_organization("Backed Up").unwrap();
        let out = dir.path().join("copy.sqlite3");
        store.backup_to(&out).unwrap();
        let copy = SqliteStore::open(&out).unwrap();
        assert_eq!(copy.organizations().unwrap()[0].name, "Backed Up");
        drop(copy);
        let before = fs::read(&out).unwrap();
        store.create_organization("Later").unwrap();
        assert!(matches!(store.backup_to(&out), Err(StoreError::AlreadyExists)));
        assert_eq!(fs::read(&out).unwrap(), before, "an existing file is left alone");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
