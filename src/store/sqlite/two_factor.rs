//! Two-factor login (TOTP key, last accepted step, recovery codes) and web sessions.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Cached, map_err, now};
use crate::store::{Id, NewWebSession, StoreError, StoreResult, TwoFactor, WebSession};

pub fn two_factor(conn: &Connection, user_id: Id) -> StoreResult<Option<TwoFactor>> {
    conn.prepare_cached("SELECT secret, enabled, last_step FROM two_factor WHERE user_id = ?1")
        .and_then(|mut s| {
            s.query_row([user_id], |r| {
                Ok(TwoFactor { secret: r.get(0)?, enabled: r.get(1)?, last_step: r.get(2)? })
            })
            .optional()
        })
        .map_err(map_err)
}

pub fn begin_two_factor(tx: &Connection, user_id: Id, secret: &[u8]) -> StoreResult<()> {
    if two_factor(tx, user_id)?.is_some_and(|t| t.enabled) {
        return Err(StoreError::AlreadyExists);
    }
    tx.cached_execute(
        "INSERT INTO two_factor (user_id, secret, enabled, last_step, created_at) VALUES (?1, ?2, 0, NULL, ?3)
         ON CONFLICT(user_id) DO UPDATE SET secret = excluded.secret, last_step = NULL,
             created_at = excluded.created_at",
        params![user_id, secret, now()],
    )
    .map_err(map_err)?;
    Ok(())
}

pub fn enable_two_factor(
    tx: &Connection,
    user_id: Id,
    step: i64,
    recovery_code_hashes: &[String],
) -> StoreResult<bool> {
    let n = tx
        .cached_execute(
            "UPDATE two_factor SET enabled = 1, last_step = ?2 WHERE user_id = ?1 AND enabled = 0",
            params![user_id, step],
        )
        .map_err(map_err)?;
    if n == 0 {
        return Ok(false);
    }
    tx.cached_execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id]).map_err(map_err)?;
    let mut insert = tx
        .prepare_cached("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)")
        .map_err(map_err)?;
    for hash in recovery_code_hashes {
        insert.execute(params![user_id, hash]).map_err(map_err)?;
    }
    // A session signed in with the password alone (perhaps by whoever made the user turn the
    // second factor on) must not outlive it.
    delete_web_sessions(tx, user_id)?;
    Ok(true)
}

pub fn disable_two_factor(tx: &Connection, user_id: Id) -> StoreResult<bool> {
    let n = tx.cached_execute("DELETE FROM two_factor WHERE user_id = ?1", [user_id]).map_err(map_err)?;
    tx.cached_execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id]).map_err(map_err)?;
    delete_web_sessions(tx, user_id)?;
    Ok(n == 1)
}

/// One conditional UPDATE, so two requests racing with the same code cannot both succeed.
pub fn accept_totp_step(tx: &Connection, user_id: Id, step: i64) -> StoreResult<bool> {
    let n = tx
        .cached_execute(
            "UPDATE two_factor SET last_step = ?2
             WHERE user_id = ?1 AND enabled = 1 AND (last_step IS NULL OR last_step < ?2)",
            params![user_id, step],
        )
        .map_err(map_err)?;
    Ok(n == 1)
}

pub fn use_recovery_code(tx: &Connection, user_id: Id, code_hash: &str) -> StoreResult<bool> {
    let n = tx
        .cached_execute(
            "UPDATE recovery_codes SET used_at = ?3
             WHERE id = (SELECT id FROM recovery_codes
                         WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL LIMIT 1)",
            params![user_id, code_hash, now()],
        )
        .map_err(map_err)?;
    Ok(n == 1)
}

pub fn recovery_codes_left(conn: &Connection, user_id: Id) -> StoreResult<u64> {
    conn.cached_row(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
        [user_id],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
    .map_err(map_err)
}

pub fn create_web_session(tx: &Connection, s: &NewWebSession<'_>) -> StoreResult<()> {
    tx.cached_execute("DELETE FROM web_sessions WHERE expires_at <= ?1", [s.created_at]).map_err(map_err)?;
    tx.cached_execute(
        "INSERT INTO web_sessions
             (id_hash, user_id, csrf_token, second_factor_pending, created_at, last_seen_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![s.id_hash, s.user_id, s.csrf_token, s.second_factor_pending, s.created_at, s.expires_at],
    )
    .map_err(|e| match map_err(e) {
        StoreError::Conflict(_) => StoreError::AlreadyExists,
        other => other,
    })?;
    Ok(())
}

pub fn web_session(conn: &Connection, id_hash: &str) -> StoreResult<Option<WebSession>> {
    conn.prepare_cached(
        "SELECT user_id, csrf_token, second_factor_pending, created_at, last_seen_at, expires_at
         FROM web_sessions WHERE id_hash = ?1",
    )
    .and_then(|mut s| {
        s.query_row([id_hash], |r| {
            Ok(WebSession {
                user_id: r.get(0)?,
                csrf_token: r.get(1)?,
                second_factor_pending: r.get(2)?,
                created_at: r.get(3)?,
                last_seen_at: r.get(4)?,
                expires_at: r.get(5)?,
            })
        })
        .optional()
    })
    .map_err(map_err)
}

pub fn touch_web_session(tx: &Connection, id_hash: &str, at: i64) -> StoreResult<()> {
    tx.cached_execute("UPDATE web_sessions SET last_seen_at = ?2 WHERE id_hash = ?1", params![id_hash, at])
        .map_err(map_err)?;
    Ok(())
}

pub fn delete_web_session(tx: &Connection, id_hash: &str) -> StoreResult<bool> {
    Ok(tx.cached_execute("DELETE FROM web_sessions WHERE id_hash = ?1", [id_hash]).map_err(map_err)? == 1)
}

pub fn delete_web_sessions(tx: &Connection, user_id: Id) -> StoreResult<u64> {
    let n = tx.cached_execute("DELETE FROM web_sessions WHERE user_id = ?1", [user_id]).map_err(map_err)?;
    Ok(n as u64)
}
