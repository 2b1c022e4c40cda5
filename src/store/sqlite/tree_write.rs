//! Writes to the collection tree. Each public function runs inside the caller's transaction.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{Cached, map_err, now, rows, tree_read};
use crate::store::{
    Collection, CollectionField, CollectionKind, CollectionProps, DeadProp, Expect, Id, NewCollection,
    NodeRef, PropPatchOp, PropTarget, PutObject, PutOutcome, StoreError, StoreResult, Transfer,
};

/// Strong entity tag derived from the bytes alone: identical bodies get identical ETags,
/// stable across restarts (clients such as Outlook CalDav Synchronizer rely on this).
pub fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    hex::encode(&digest[..16])
}

/// Drops a member's older tombstone or sub-collection rows: the rows changes_by_member holds
/// (an object's live row is replaced by trigger through its change_rev, see migration 7).
/// INDEXED BY: without table statistics SQLite picks the primary key and scans the
/// collection's whole log, which made every PUT O(collection size). The last term is the
/// partial index's own condition, which is what lets SQLite use it.
pub(crate) const PRUNE_MEMBER_CHANGES: &str = "DELETE FROM changes INDEXED BY changes_by_member
     WHERE collection_id = ?1 AND segment = ?2 AND is_collection = ?3 AND (deleted = 1 OR is_collection = 1)";

/// Bumps the collection's revision and logs one member change (RFC 6578 change log).
pub fn record_change(
    tx: &Connection,
    collection_id: Id,
    segment: &str,
    is_collection: bool,
    deleted: bool,
) -> StoreResult<()> {
    let t = now();
    let rev: i64 = tx
        .cached_row(
            "UPDATE collections SET rev = rev + 1, modified_at = ?2 WHERE id = ?1 RETURNING rev",
            params![collection_id, t],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    log_change(tx, collection_id, rev, segment, is_collection, deleted, t)
}

/// Logs a member change at revision `rev` (already taken from the collection), replacing the
/// member's older rows.
fn log_change(
    tx: &Connection,
    collection_id: Id,
    rev: i64,
    segment: &str,
    is_collection: bool,
    deleted: bool,
    t: i64,
) -> StoreResult<()> {
    tx.prepare_cached(PRUNE_MEMBER_CHANGES)
        .and_then(|mut s| s.execute(params![collection_id, segment, is_collection]))
        .map_err(map_err)?;
    tx.prepare_cached(
        "INSERT INTO changes (collection_id, rev, segment, is_collection, deleted, changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| s.execute(params![collection_id, rev, segment, is_collection, deleted, t]))
    .map_err(map_err)?;
    Ok(())
}

fn segment_taken(tx: &Connection, parent: Id, segment: &str) -> StoreResult<bool> {
    tx.cached_row(
        "SELECT EXISTS(SELECT 1 FROM collections WHERE parent_id = ?1 AND segment = ?2)
             OR EXISTS(SELECT 1 FROM objects WHERE collection_id = ?1 AND segment = ?2)",
        params![parent, segment],
        |r| r.get(0),
    )
    .map_err(map_err)
}

pub fn insert_collection(
    tx: &Connection,
    owner: Id,
    parent: Id,
    segment: &str,
    kind: CollectionKind,
    p: &CollectionProps,
    t: i64,
) -> StoreResult<Id> {
    tx.cached_execute(
        "INSERT INTO collections (owner_id, parent_id, kind, segment, displayname, description,
             color, sort_order, timezone, components, created_at, modified_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        params![
            owner,
            parent,
            kind.as_str(),
            segment,
            p.displayname,
            p.description,
            p.color,
            p.sort_order,
            p.timezone,
            p.components,
            t
        ],
    )
    .map_err(map_err)?;
    let id = tx.last_insert_rowid();
    record_change(tx, parent, &format!("{segment}/"), true, false)?;
    super::org::mount_new_collection(tx, id, kind)?;
    Ok(id)
}

pub fn create_collection(tx: &Connection, new: &NewCollection) -> StoreResult<Collection> {
    if tree_read::collection(tx, new.parent_id)?.is_none() {
        return Err(StoreError::ParentMissing);
    }
    if segment_taken(tx, new.parent_id, &new.segment)? {
        return Err(StoreError::AlreadyExists);
    }
    let id = insert_collection(tx, new.owner_id, new.parent_id, &new.segment, new.kind, &new.props, now())?;
    for prop in &new.dead_props {
        set_dead(tx, PropTarget::Collection(id), prop)?;
    }
    tree_read::collection(tx, id)?.ok_or(StoreError::NotFound)
}

fn check_expect(expect: &Expect, current: Option<&str>) -> StoreResult<()> {
    let ok = match (expect, current) {
        (Expect::Anything, _) => true,
        (Expect::Absent, current) => current.is_none(),
        (Expect::Etag(want), Some(have)) => want == have,
        (Expect::Etag(_), None) => false,
    };
    if ok { Ok(()) } else { Err(StoreError::PreconditionFailed) }
}

fn uid_holder(tx: &Connection, collection: Id, uid: &str, except: &str) -> StoreResult<Option<String>> {
    tx.prepare_cached("SELECT segment FROM objects WHERE collection_id = ?1 AND uid = ?2 AND segment <> ?3")
        .and_then(|mut s| s.query_row(params![collection, uid, except], |r| r.get(0)).optional())
        .map_err(map_err)
}

/// Stores `put` with the ETag and time the caller computed beforehand (outside the writer's
/// critical section). Four statements for a new member: the member look-up, the collection's
/// revision (which also tells whether the collection exists and whether a sub-collection has
/// the name), the INSERT (whose UNIQUE index finds a UID conflict), and the change log.
pub fn put_object(tx: &Connection, put: &PutObject<'_>, etag: &str, t: i64) -> StoreResult<PutOutcome> {
    let existing = tree_read::object(tx, put.collection_id, put.segment)?;
    if let Err(e) = check_expect(&put.expect, existing.as_ref().map(|o| o.etag.as_str())) {
        // A missing collection explains a missing member better than the precondition does.
        if existing.is_none() && tree_read::collection(tx, put.collection_id)?.is_none() {
            return Err(StoreError::ParentMissing);
        }
        return Err(e);
    }
    if let Some(old) = &existing
        && old.etag == etag
        && old.content_type == put.content_type
    {
        // Same bytes: nothing changed, so neither the revision nor the ctag moves.
        return Ok(PutOutcome { created: false, etag: etag.to_owned() });
    }
    let (rev, collection_named): (i64, bool) = tx
        .cached_row(
            "UPDATE collections SET rev = rev + 1, modified_at = ?2 WHERE id = ?1
             RETURNING rev, EXISTS(SELECT 1 FROM collections WHERE parent_id = ?1 AND segment = ?3)",
            params![put.collection_id, t, put.segment],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(map_err)?
        .ok_or(StoreError::ParentMissing)?;
    if existing.is_none() && collection_named {
        return Err(StoreError::AlreadyExists);
    }
    let ix = &put.index;
    // objects_by_uid is UNIQUE (collection_id, uid): a UID another member holds fails the write.
    let uid_conflict = |e: rusqlite::Error| match (e.sqlite_error_code(), &ix.uid) {
        (Some(rusqlite::ErrorCode::ConstraintViolation), Some(uid)) => {
            match uid_holder(tx, put.collection_id, uid, put.segment) {
                Ok(Some(segment)) => StoreError::UidConflict { segment },
                Ok(None) => map_err(e),
                Err(other) => other,
            }
        }
        _ => map_err(e),
    };
    let object_id = match &existing {
        Some(old) => {
            tx.cached_execute(
                "UPDATE objects SET uid = ?2, etag = ?3, content_type = ?4, size = ?5, body = ?6,
                     comp_type = ?7, first_start = ?8, last_end = ?9, modified_at = ?10, instances = ?11
                 WHERE id = ?1",
                params![
                    old.id,
                    ix.uid,
                    etag,
                    put.content_type,
                    put.body.len() as i64,
                    put.body,
                    ix.comp_type,
                    ix.first_start,
                    ix.last_end,
                    t,
                    ix.instances
                ],
            )
            .map_err(uid_conflict)?;
            old.id
        }
        None => {
            // Named as the holder of the change logged below at `rev`: the log's trigger then
            // leaves the new row alone instead of rewriting it (migration 9).
            tx.cached_execute(
                "INSERT INTO objects (collection_id, segment, uid, etag, content_type, size, body,
                     comp_type, first_start, last_end, created_at, modified_at, instances, change_rev)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13)",
                params![
                    put.collection_id,
                    put.segment,
                    ix.uid,
                    etag,
                    put.content_type,
                    put.body.len() as i64,
                    put.body,
                    ix.comp_type,
                    ix.first_start,
                    ix.last_end,
                    t,
                    ix.instances,
                    rev
                ],
            )
            .map_err(uid_conflict)?;
            tx.last_insert_rowid()
        }
    };
    // A new member has no index rows yet (they go with a deleted object by ON DELETE CASCADE).
    if existing.is_some() || !ix.search.is_empty() {
        write_card_index(tx, object_id, &ix.search, existing.is_some())?;
    }
    log_change(tx, put.collection_id, rev, put.segment, false, false, t)?;
    Ok(PutOutcome { created: existing.is_none(), etag: etag.to_owned() })
}

fn write_card_index(
    tx: &Connection,
    object_id: Id,
    search: &[(String, String)],
    replace: bool,
) -> StoreResult<()> {
    if replace {
        tx.prepare_cached("DELETE FROM card_index WHERE object_id = ?1")
            .and_then(|mut s| s.execute([object_id]))
            .map_err(map_err)?;
    }
    let mut insert = tx
        .prepare_cached("INSERT INTO card_index (object_id, field, value) VALUES (?1, ?2, ?3)")
        .map_err(map_err)?;
    for (field, value) in search {
        insert.execute(params![object_id, field, value]).map_err(map_err)?;
    }
    Ok(())
}

pub fn delete_object(tx: &Connection, collection_id: Id, segment: &str, expect: &Expect) -> StoreResult<()> {
    let existing = tree_read::object(tx, collection_id, segment)?.ok_or(StoreError::NotFound)?;
    check_expect(expect, Some(&existing.etag))?;
    tx.cached_execute("DELETE FROM objects WHERE id = ?1", [existing.id]).map_err(map_err)?;
    record_change(tx, collection_id, segment, false, true)
}

pub fn delete_collection(tx: &Connection, id: Id) -> StoreResult<()> {
    let coll = tree_read::collection(tx, id)?.ok_or(StoreError::NotFound)?;
    let mounts = super::org::mounts_of(tx, &[id])?;
    // Foreign keys cascade to members, sub-collections, change logs and dead properties.
    tx.cached_execute("DELETE FROM collections WHERE id = ?1", [id]).map_err(map_err)?;
    if let Some(parent) = coll.parent_id {
        record_change(tx, parent, &format!("{}/", coll.segment), true, true)?;
    }
    // Sharees' and grantees' homes lose it too.
    super::org::record_unmounts(tx, &mounts)
}

fn set_dead(tx: &Connection, target: PropTarget, p: &DeadProp) -> StoreResult<()> {
    remove_dead(tx, target, &p.ns, &p.name)?;
    let (c, o) = split_target(target);
    tx.cached_execute(
        "INSERT INTO dead_props (collection_id, object_id, ns, name, xml) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![c, o, p.ns, p.name, p.xml],
    )
    .map_err(map_err)?;
    Ok(())
}

fn remove_dead(tx: &Connection, target: PropTarget, ns: &str, name: &str) -> StoreResult<()> {
    let (c, o) = split_target(target);
    tx.cached_execute(
        "DELETE FROM dead_props WHERE collection_id IS ?1 AND object_id IS ?2 AND ns = ?3 AND name = ?4",
        params![c, o, ns, name],
    )
    .map_err(map_err)?;
    Ok(())
}

fn split_target(t: PropTarget) -> (Option<Id>, Option<Id>) {
    match t {
        PropTarget::Collection(id) => (Some(id), None),
        PropTarget::Object(id) => (None, Some(id)),
    }
}

pub fn patch_props(tx: &Connection, target: PropTarget, ops: &[PropPatchOp]) -> StoreResult<()> {
    for op in ops {
        match (op, target) {
            (PropPatchOp::SetDead(p), _) => set_dead(tx, target, p)?,
            (PropPatchOp::RemoveDead { ns, name }, _) => remove_dead(tx, target, ns, name)?,
            (PropPatchOp::SetField(field, value), PropTarget::Collection(id)) => {
                let column = match field {
                    CollectionField::Displayname => "displayname",
                    CollectionField::Description => "description",
                    CollectionField::Color => "color",
                    CollectionField::SortOrder => "sort_order",
                    CollectionField::Timezone => "timezone",
                    CollectionField::Components => "components",
                };
                let sql = format!("UPDATE collections SET {column} = ?1 WHERE id = ?2");
                tx.cached_execute(&sql, params![value, id]).map_err(map_err)?;
            }
            (PropPatchOp::SetField(..), PropTarget::Object(_)) => {
                return Err(StoreError::Conflict("objects have no collection fields".into()));
            }
        }
    }
    Ok(())
}

/// COPY/MOVE (RFC 4918 §9.8, §9.9). Returns true when the destination did not exist before.
pub fn transfer(tx: &Connection, t: &Transfer) -> StoreResult<bool> {
    let dest = tree_read::collection(tx, t.dest_parent)?.ok_or(StoreError::ParentMissing)?;
    if let NodeRef::Collection(src) = t.source
        && is_same_or_ancestor(tx, src, dest.id)?
    {
        return Err(StoreError::Conflict("cannot copy or move a collection into itself".into()));
    }
    let existed = remove_destination(tx, &dest, &t.dest_segment, t.overwrite, t.source)?;
    match (t.source, t.is_move) {
        (NodeRef::Object(id), true) => move_object(tx, id, &dest, &t.dest_segment)?,
        (NodeRef::Object(id), false) => copy_object(tx, id, dest.id, &t.dest_segment)?,
        (NodeRef::Collection(id), true) => move_collection(tx, id, &dest, &t.dest_segment)?,
        (NodeRef::Collection(id), false) => {
            copy_collection(tx, id, &dest, &t.dest_segment, t.recursive)?;
        }
    }
    Ok(!existed)
}

fn is_same_or_ancestor(tx: &Connection, ancestor: Id, mut node: Id) -> StoreResult<bool> {
    loop {
        if node == ancestor {
            return Ok(true);
        }
        match tree_read::collection(tx, node)?.and_then(|c| c.parent_id) {
            Some(parent) => node = parent,
            None => return Ok(false),
        }
    }
}

/// With Overwrite: T the destination is deleted first (RFC 4918 §9.8.4); with F it is a 412.
fn remove_destination(
    tx: &Connection,
    dest: &Collection,
    segment: &str,
    overwrite: bool,
    source: NodeRef,
) -> StoreResult<bool> {
    let obj = tree_read::object(tx, dest.id, segment)?;
    let coll = tree_read::child_collection(tx, dest.id, segment)?;
    if obj.is_none() && coll.is_none() {
        return Ok(false);
    }
    if !overwrite {
        return Err(StoreError::PreconditionFailed);
    }
    if let Some(o) = obj {
        if source == NodeRef::Object(o.id) {
            return Err(StoreError::Conflict("source and destination are the same".into()));
        }
        delete_object(tx, dest.id, segment, &Expect::Anything)?;
    }
    if let Some(c) = coll {
        if source == NodeRef::Collection(c.id) {
            return Err(StoreError::Conflict("source and destination are the same".into()));
        }
        delete_collection(tx, c.id)?;
    }
    Ok(true)
}

fn object_uid(tx: &Connection, id: Id) -> StoreResult<(Id, String, Option<String>)> {
    tx.cached_row("SELECT collection_id, segment, uid FROM objects WHERE id = ?1", [id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .optional()
    .map_err(map_err)?
    .ok_or(StoreError::NotFound)
}

fn move_object(tx: &Connection, id: Id, dest: &Collection, segment: &str) -> StoreResult<()> {
    let (from, old_segment, uid) = object_uid(tx, id)?;
    if let Some(uid) = uid
        && let Some(holder) = uid_holder(tx, dest.id, &uid, if from == dest.id { &old_segment } else { "" })?
    {
        return Err(StoreError::UidConflict { segment: holder });
    }
    tx.cached_execute(
        "UPDATE objects SET collection_id = ?2, segment = ?3 WHERE id = ?1",
        params![id, dest.id, segment],
    )
    .map_err(map_err)?;
    record_change(tx, from, &old_segment, false, true)?;
    record_change(tx, dest.id, segment, false, false)
}

fn copy_object(tx: &Connection, id: Id, dest: Id, segment: &str) -> StoreResult<()> {
    let (_, _, uid) = object_uid(tx, id)?;
    if let Some(uid) = uid
        && let Some(holder) = uid_holder(tx, dest, &uid, "")?
    {
        return Err(StoreError::UidConflict { segment: holder });
    }
    tx.cached_execute(
        "INSERT INTO objects (collection_id, segment, uid, etag, content_type, size, body,
             comp_type, first_start, last_end, created_at, modified_at, instances)
         SELECT ?2, ?3, uid, etag, content_type, size, body, comp_type, first_start, last_end, ?4, ?4,
             instances
         FROM objects WHERE id = ?1",
        params![id, dest, segment, now()],
    )
    .map_err(map_err)?;
    let new_id = tx.last_insert_rowid();
    tx.cached_execute(
        "INSERT INTO dead_props (object_id, ns, name, xml) SELECT ?2, ns, name, xml FROM dead_props WHERE object_id = ?1",
        params![id, new_id],
    )
    .map_err(map_err)?;
    tx.cached_execute(
        "INSERT INTO card_index (object_id, field, value) SELECT ?2, field, value FROM card_index WHERE object_id = ?1",
        params![id, new_id],
    )
    .map_err(map_err)?;
    record_change(tx, dest, segment, false, false)
}

fn move_collection(tx: &Connection, id: Id, dest: &Collection, segment: &str) -> StoreResult<()> {
    let src = tree_read::collection(tx, id)?.ok_or(StoreError::NotFound)?;
    let from = src.parent_id.ok_or_else(|| StoreError::Conflict("a home cannot be moved".into()))?;
    tx.cached_execute(
        "UPDATE collections SET parent_id = ?2, segment = ?3 WHERE id = ?1",
        params![id, dest.id, segment],
    )
    .map_err(map_err)?;
    record_change(tx, from, &format!("{}/", src.segment), true, true)?;
    record_change(tx, dest.id, &format!("{segment}/"), true, false)
}

fn copy_collection(
    tx: &Connection,
    id: Id,
    dest: &Collection,
    segment: &str,
    recursive: bool,
) -> StoreResult<()> {
    let src = tree_read::collection(tx, id)?.ok_or(StoreError::NotFound)?;
    let kind = if src.kind.is_home() { CollectionKind::Plain } else { src.kind };
    let new_id = insert_collection(tx, dest.owner_id, dest.id, segment, kind, &src.props, now())?;
    tx.cached_execute(
        "INSERT INTO dead_props (collection_id, ns, name, xml)
         SELECT ?2, ns, name, xml FROM dead_props WHERE collection_id = ?1",
        params![id, new_id],
    )
    .map_err(map_err)?;
    if !recursive {
        return Ok(());
    }
    let new = tree_read::collection(tx, new_id)?.ok_or(StoreError::NotFound)?;
    let objects: Vec<(Id, String)> = {
        let mut stmt =
            tx.prepare_cached("SELECT id, segment FROM objects WHERE collection_id = ?1").map_err(map_err)?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)?
    };
    for (oid, seg) in objects {
        copy_object(tx, oid, new_id, &seg)?;
    }
    let children: Vec<(Id, String)> = {
        let sql = format!("SELECT {} FROM collections WHERE parent_id = ?1", rows::COLLECTION_COLUMNS);
        let mut stmt = tx.prepare_cached(&sql).map_err(map_err)?;
        let rows = stmt.query_map([id], rows::collection).map_err(map_err)?;
        rows.map(|c| c.map(|c| (c.id, c.segment))).collect::<Result<_, _>>().map_err(map_err)?
    };
    for (cid, seg) in children {
        copy_collection(tx, cid, &new, &seg, true)?;
    }
    Ok(())
}

pub fn prune_tombstones(tx: &Connection, before: i64) -> StoreResult<u64> {
    tx.cached_execute(
        "UPDATE collections SET sync_floor = MAX(sync_floor,
             (SELECT MAX(rev) FROM changes WHERE collection_id = collections.id AND deleted = 1 AND changed_at < ?1))
         WHERE id IN (SELECT collection_id FROM changes WHERE deleted = 1 AND changed_at < ?1)",
        [before],
    )
    .map_err(map_err)?;
    let removed = tx
        .cached_execute("DELETE FROM changes WHERE deleted = 1 AND changed_at < ?1", [before])
        .map_err(map_err)?;
    Ok(removed as u64)
}
