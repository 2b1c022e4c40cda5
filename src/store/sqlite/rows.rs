//! Row ↔ value conversions shared by the query modules.

use rusqlite::Row;

use crate::store::{Collection, CollectionKind, CollectionProps, Id, ObjectMeta, Principal, PrincipalKind};

/// `columns` (one of the lists below) with each name qualified by a table alias, for joins.
pub fn qualified(columns: &str, alias: &str) -> String {
    columns.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

// The column lists are macros as well as constants: a query run on every request puts its
// SQL together with `concat!` at compile time instead of `format!` on each call.

macro_rules! collection_columns {
    () => {
        "id, owner_id, parent_id, kind, segment, displayname, description, color, sort_order, \
         timezone, components, rev, sync_floor, created_at, modified_at"
    };
}
pub(crate) use collection_columns;

pub const COLLECTION_COLUMNS: &str = collection_columns!();

pub fn collection(row: &Row<'_>) -> rusqlite::Result<Collection> {
    let kind: String = row.get(3)?;
    Ok(Collection {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        parent_id: row.get(2)?,
        kind: CollectionKind::parse(&kind).unwrap_or(CollectionKind::Plain),
        segment: row.get(4)?,
        props: CollectionProps {
            displayname: row.get(5)?,
            description: row.get(6)?,
            color: row.get(7)?,
            sort_order: row.get(8)?,
            timezone: row.get(9)?,
            components: row.get(10)?,
        },
        rev: row.get(11)?,
        sync_floor: row.get(12)?,
        created_at: row.get(13)?,
        modified_at: row.get(14)?,
    })
}

macro_rules! object_columns {
    () => {
        "id, collection_id, segment, uid, etag, content_type, size, created_at, modified_at"
    };
}
pub(crate) use object_columns;

pub const OBJECT_COLUMNS: &str = object_columns!();

pub fn object(row: &Row<'_>) -> rusqlite::Result<ObjectMeta> {
    object_from(row, 3, row.get(0)?, row.get(1)?, row.get(2)?)
}

/// OBJECT_COLUMNS without the two that a look-up by collection and segment already knows
/// (reading columns was a tenth of the time per object of a multiget).
pub const OBJECT_COLUMNS_IN_PLACE: &str = "id, uid, etag, content_type, size, created_at, modified_at";

/// `object` from OBJECT_COLUMNS_IN_PLACE, for the object found at `segment` of `collection_id`.
pub fn object_in_place(row: &Row<'_>, collection_id: Id, segment: &str) -> rusqlite::Result<ObjectMeta> {
    object_from(row, 1, row.get(0)?, collection_id, segment.to_owned())
}

/// The object whose columns from `uid` to `modified_at` (in OBJECT_COLUMNS order) start at
/// column `uid_at` of `row`.
fn object_from(
    row: &Row<'_>,
    uid_at: usize,
    id: Id,
    collection_id: Id,
    segment: String,
) -> rusqlite::Result<ObjectMeta> {
    Ok(ObjectMeta {
        id,
        collection_id,
        segment,
        uid: row.get(uid_at)?,
        etag: row.get(uid_at + 1)?,
        content_type: row.get(uid_at + 2)?,
        size: row.get::<_, i64>(uid_at + 3)? as u64,
        created_at: row.get(uid_at + 4)?,
        modified_at: row.get(uid_at + 5)?,
    })
}

macro_rules! principal_columns {
    () => {
        "id, kind, slug, display_name, email"
    };
}
pub(crate) use principal_columns;

pub const PRINCIPAL_COLUMNS: &str = principal_columns!();

pub fn principal(row: &Row<'_>) -> rusqlite::Result<Principal> {
    principal_at(row, 0)
}

/// A principal whose `PRINCIPAL_COLUMNS` start at column `at` (after other columns).
pub fn principal_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Principal> {
    let kind: String = row.get(at + 1)?;
    Ok(Principal {
        id: row.get(at)?,
        kind: PrincipalKind::parse(&kind).unwrap_or(PrincipalKind::User),
        slug: row.get(at + 2)?,
        display_name: row.get(at + 3)?,
        email: row.get(at + 4)?,
    })
}
