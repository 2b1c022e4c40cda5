//! Embedded, numbered migrations tracked by `PRAGMA user_version`.

use rusqlite::Connection;

use super::map_err;
use crate::store::{StoreError, StoreResult};

/// (version, SQL): applied in order, each in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_organizations.sql")),
    (3, include_str!("migrations/0003_two_factor.sql")),
    (4, include_str!("migrations/0004_instance_index.sql")),
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(map_err)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { found, known: SCHEMA_VERSION });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
        let tx = conn.transaction().map_err(map_err)?;
        tx.execute_batch(sql).map_err(map_err)?;
        tx.execute_batch(&format!("PRAGMA user_version = {version}")).map_err(map_err)?;
        tx.commit().map_err(map_err)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
