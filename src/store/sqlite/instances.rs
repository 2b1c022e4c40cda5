//! Back-filling the calendar-query instance lists (schema version 4) of objects stored
//! before them; see `caldav::backfill`.

use rusqlite::{Connection, params};

use super::map_err;
use crate::store::{Id, StoreResult, UnlistedEvent};

pub fn unlisted_events(conn: &Connection, after: Id, batch: usize) -> StoreResult<Vec<UnlistedEvent>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, etag, body FROM objects
             WHERE id > ?1 AND comp_type = 'VEVENT' AND instances IS NULL ORDER BY id LIMIT ?2",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map(params![after, batch.min(i64::MAX as usize) as i64], |r| {
            Ok(UnlistedEvent { id: r.get(0)?, etag: r.get(1)?, body: r.get(2)? })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

/// Only where the object still has the body the list was computed from (same ETag) and no
/// list yet: a PUT in between wrote its own.
pub fn set_instance_lists(tx: &Connection, lists: &[(Id, String, Vec<u8>)]) -> StoreResult<()> {
    let mut stmt = tx
        .prepare_cached("UPDATE objects SET instances = ?3 WHERE id = ?1 AND etag = ?2 AND instances IS NULL")
        .map_err(map_err)?;
    for (id, etag, list) in lists {
        stmt.execute(params![id, etag, list]).map_err(map_err)?;
    }
    Ok(())
}
