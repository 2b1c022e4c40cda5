//! `davit backup OUTPUT_FILE`: a consistent copy of the live database, taken with SQLite's
//! online backup API while the server keeps running. Restore by stopping the server and
//! putting the copy in place as `davit.sqlite3` in the data directory.

use std::path::Path;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::store::StoreError;
use crate::store::sqlite::SqliteStore;

pub fn run(config: Config, output: &Path) -> anyhow::Result<()> {
    let database = config.database_path();
    // Opening would create an empty database; a backup of nothing is a mistake, not a file.
    if !database.is_file() {
        bail!("there is no database at {} (check --data-dir)", database.display());
    }
    if std::fs::symlink_metadata(output).is_ok() {
        bail!("{} already exists; refusing to overwrite it", output.display());
    }
    let store = SqliteStore::open(&database)
        .with_context(|| format!("cannot open the database {}", database.display()))?;
    match store.backup_to(output) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            bail!("{} already exists; refusing to overwrite it", output.display())
        }
        Err(e) => bail!("backup of {} to {} failed: {e}", database.display(), output.display()),
    }
    let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    println!("backed up {} to {} ({size} bytes)", database.display(), output.display());
    Ok(())
}
