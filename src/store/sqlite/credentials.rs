//! App passwords and public feeds.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Cached, map_err, now, rows, tree_read};
use crate::store::{
    AppPasswordInfo, AppPasswordScope, AppPasswordSecret, Feed, FeedSettings, Id, StoreError, StoreResult,
};

fn scope_to_columns(scope: &AppPasswordScope) -> (bool, Option<String>) {
    let collections =
        scope.collections.as_ref().map(|ids| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
    (scope.read_only, collections)
}

fn scope_from_columns(read_only: bool, collections: Option<String>) -> AppPasswordScope {
    let collections = collections.map(|s| s.split(',').filter_map(|id| id.trim().parse().ok()).collect());
    AppPasswordScope { read_only, collections }
}

pub fn create_app_password(
    tx: &Connection,
    user_id: Id,
    label: &str,
    secret_hash: &str,
    scope: &AppPasswordScope,
) -> StoreResult<Id> {
    let (read_only, collections) = scope_to_columns(scope);
    tx.cached_execute(
        "INSERT INTO app_passwords (user_id, label, secret_hash, read_only, scope_collections, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![user_id, label, secret_hash, read_only, collections, now()],
    )
    .map_err(map_err)?;
    Ok(tx.last_insert_rowid())
}

pub fn app_passwords(conn: &Connection, user_id: Id) -> StoreResult<Vec<AppPasswordInfo>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, label, read_only, scope_collections, created_at, last_used_at, last_user_agent, last_ip
             FROM app_passwords WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(AppPasswordInfo {
                id: r.get(0)?,
                label: r.get(1)?,
                scope: scope_from_columns(r.get(2)?, r.get(3)?),
                created_at: r.get(4)?,
                last_used_at: r.get(5)?,
                last_user_agent: r.get(6)?,
                last_ip: r.get(7)?,
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn app_password_secrets(conn: &Connection, user_id: Id) -> StoreResult<Vec<AppPasswordSecret>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, secret_hash, read_only, scope_collections FROM app_passwords
             WHERE user_id = ?1 AND revoked_at IS NULL",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok(AppPasswordSecret {
                id: r.get(0)?,
                secret_hash: r.get(1)?,
                scope: scope_from_columns(r.get(2)?, r.get(3)?),
            })
        })
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}

pub fn revoke_app_password(tx: &Connection, user_id: Id, id: Id) -> StoreResult<bool> {
    let n = tx
        .cached_execute(
            "UPDATE app_passwords SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
            params![id, user_id, now()],
        )
        .map_err(map_err)?;
    Ok(n == 1)
}

pub fn record_app_password_use(
    tx: &Connection,
    id: Id,
    user_agent: Option<&str>,
    ip: &str,
) -> StoreResult<()> {
    tx.cached_execute(
        "UPDATE app_passwords SET last_used_at = ?2, last_user_agent = ?3, last_ip = ?4 WHERE id = ?1",
        params![id, now(), user_agent, ip],
    )
    .map_err(map_err)?;
    Ok(())
}

pub fn set_feed(tx: &Connection, collection_id: Id, token_hash: &str, s: &FeedSettings) -> StoreResult<()> {
    if tree_read::collection(tx, collection_id)?.is_none() {
        return Err(StoreError::NotFound);
    }
    tx.cached_execute(
        "INSERT INTO feeds (collection_id, token_hash, busy_only, show_attendees, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(collection_id) DO UPDATE SET token_hash = excluded.token_hash,
             busy_only = excluded.busy_only, show_attendees = excluded.show_attendees",
        params![collection_id, token_hash, s.busy_only, s.show_attendees, now()],
    )
    .map_err(map_err)?;
    Ok(())
}

pub fn remove_feed(tx: &Connection, collection_id: Id) -> StoreResult<bool> {
    Ok(tx.cached_execute("DELETE FROM feeds WHERE collection_id = ?1", [collection_id]).map_err(map_err)?
        == 1)
}

pub fn feed_by_token_hash(conn: &Connection, token_hash: &str) -> StoreResult<Option<Feed>> {
    let sql = format!(
        "SELECT {}, f.busy_only, f.show_attendees FROM feeds f JOIN collections c ON c.id = f.collection_id
         WHERE f.token_hash = ?1",
        rows::qualified(rows::COLLECTION_COLUMNS, "c")
    );
    conn.prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row([token_hash], |r| {
                Ok(Feed {
                    collection: rows::collection(r)?,
                    settings: FeedSettings { busy_only: r.get(15)?, show_attendees: r.get(16)? },
                })
            })
            .optional()
        })
        .map_err(map_err)
}

pub fn feed_of(conn: &Connection, collection_id: Id) -> StoreResult<Option<FeedSettings>> {
    conn.prepare_cached("SELECT busy_only, show_attendees FROM feeds WHERE collection_id = ?1")
        .and_then(|mut s| {
            s.query_row([collection_id], |r| {
                Ok(FeedSettings { busy_only: r.get(0)?, show_attendees: r.get(1)? })
            })
            .optional()
        })
        .map_err(map_err)
}

pub(crate) const OBJECT_BODIES_AFTER: &str = "SELECT segment, body FROM objects
     WHERE collection_id = ?1 AND segment > ?2 ORDER BY segment LIMIT ?3";

pub fn object_bodies_after(
    conn: &Connection,
    collection_id: Id,
    after: &str,
    batch: usize,
) -> StoreResult<Vec<(String, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached(OBJECT_BODIES_AFTER).map_err(map_err)?;
    let rows = stmt
        .query_map(params![collection_id, after, batch as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(map_err)?;
    rows.collect::<Result<_, _>>().map_err(map_err)
}
