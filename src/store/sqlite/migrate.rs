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
    (5, include_str!("migrations/0005_read_indexes.sql")),
    (6, include_str!("migrations/0006_long_spans.sql")),
    (7, include_str!("migrations/0007_live_change_per_object.sql")),
    (8, include_str!("migrations/0008_all_day_instance_lists.sql")),
    (9, include_str!("migrations/0009_new_object_names_its_change.sql")),
    (10, include_str!("migrations/0010_feed_pages_by_name.sql")),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An empty database with the schema of `version` (its rows are the caller's to add).
    fn schema_at(version: i64) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for (_, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= version) {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!("PRAGMA user_version = {version};")).unwrap();
        conn
    }

    /// A database as version 3 left it, with one card in one address book.
    fn version_3_with_a_card() -> Connection {
        let conn = schema_at(3);
        conn.execute_batch(
            "
             INSERT INTO principals (id, kind, slug, display_name, created_at) VALUES (1, 'user', 'a', 'A', 0);
             INSERT INTO collections (id, owner_id, parent_id, kind, segment, created_at, modified_at)
                 VALUES (1, 1, NULL, 'addressbook-home', 'a', 0, 0),
                        (10, 1, 1, 'addressbook', 'book', 0, 0), (11, 1, 1, 'addressbook', 'other', 0, 0);
             INSERT INTO objects (id, collection_id, segment, etag, content_type, size, body, created_at, modified_at)
                 VALUES (100, 10, 'c.vcf', 'e', 'text/vcard', 1, x'00', 0, 0);
             INSERT INTO card_index (object_id, field, value) VALUES (100, 'FN', 'ANNA');",
        )
        .unwrap();
        conn
    }

    fn index_collections(conn: &Connection) -> Vec<Option<i64>> {
        let mut stmt = conn.prepare("SELECT collection_id FROM card_index ORDER BY rowid").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn version_5_back_fills_and_keeps_the_card_index_collection() {
        let mut conn = version_3_with_a_card();
        migrate(&mut conn).unwrap();
        assert_eq!(index_collections(&conn), [Some(10)], "back-filled");
        // New rows take their card's collection; a moved card takes its rows along.
        conn.execute("INSERT INTO card_index (object_id, field, value) VALUES (100, 'EMAIL', 'A@B')", [])
            .unwrap();
        assert_eq!(index_collections(&conn), [Some(10), Some(10)]);
        conn.execute("UPDATE objects SET collection_id = 11 WHERE id = 100", []).unwrap();
        assert_eq!(index_collections(&conn), [Some(11), Some(11)]);
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT object_id FROM card_index WHERE collection_id = 1 AND field = 'FN' AND value LIKE 'x%'",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("card_index_by_collection"), "{plan}");
    }

    #[test]
    fn version_8_has_the_unlisted_events_inspected_again() {
        let mut conn = schema_at(7);
        conn.execute_batch(
            "
             INSERT INTO principals (id, kind, slug, display_name, created_at) VALUES (1, 'user', 'a', 'A', 0);
             INSERT INTO collections (id, owner_id, parent_id, kind, segment, created_at, modified_at)
                 VALUES (1, 1, NULL, 'calendar-home', 'a', 0, 0), (10, 1, 1, 'calendar', 'cal', 0, 0);
             INSERT INTO objects (id, collection_id, segment, etag, content_type, size, body, comp_type,
                                  instances, created_at, modified_at)
                 VALUES (100, 10, 'all-day.ics', 'e', 'text/calendar', 1, x'00', 'VEVENT', x'', 0, 0),
                        (101, 10, 'timed.ics', 'e', 'text/calendar', 1, x'00', 'VEVENT', x'0102', 0, 0),
                        (102, 10, 'task.ics', 'e', 'text/calendar', 1, x'00', 'VTODO', x'', 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let list = |id: i64| -> Option<Vec<u8>> {
            conn.query_row("SELECT instances FROM objects WHERE id = ?1", [id], |r| r.get(0)).unwrap()
        };
        assert_eq!(list(100), None, "an unlisted event is back-filled again");
        assert_eq!(list(101), Some(vec![1, 2]), "a listed event keeps its list");
        assert_eq!(list(102), Some(vec![]), "tasks have no lists");
    }

    /// The change log's (revision, member) rows, in revision order.
    fn change_log(conn: &Connection) -> Vec<(i64, String)> {
        conn.prepare("SELECT rev, segment FROM changes ORDER BY rev")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The revision of the live change object `id` names.
    fn change_rev(conn: &Connection, id: i64) -> Option<i64> {
        conn.query_row("SELECT change_rev FROM objects WHERE id = ?1", [id], |r| r.get(0)).unwrap()
    }

    /// A database at `version` with user 1, its calendar home 1 and calendar 10 at `rev`.
    fn calendar_at(version: i64, rev: i64) -> Connection {
        let conn = schema_at(version);
        conn.execute_batch(&format!(
            "INSERT INTO principals (id, kind, slug, display_name, created_at) VALUES (1, 'user', 'a', 'A', 0);
             INSERT INTO collections (id, owner_id, parent_id, kind, segment, created_at, modified_at, rev)
                 VALUES (1, 1, NULL, 'calendar-home', 'a', 0, 0, 0), (10, 1, 1, 'calendar', 'cal', 0, 0, {rev});"
        ))
        .unwrap();
        conn
    }

    #[test]
    fn version_7_points_each_object_at_its_live_change() {
        let mut conn = calendar_at(6, 4);
        conn.execute_batch(
            "
             INSERT INTO objects (id, collection_id, segment, etag, content_type, size, body, created_at, modified_at)
                 VALUES (100, 10, 'x.ics', 'e', 'text/calendar', 1, x'00', 0, 0),
                        (101, 10, 'y.ics', 'e', 'text/calendar', 1, x'00', 0, 0);
             INSERT INTO changes (collection_id, rev, segment, is_collection, deleted, changed_at)
                 VALUES (10, 2, 'x.ics', 0, 0, 0), (10, 3, 'gone.ics', 0, 1, 0), (10, 4, 'y.ics', 0, 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!((change_rev(&conn, 100), change_rev(&conn, 101)), (Some(2), Some(4)), "back-filled");
        // The next change of x.ics replaces its row through change_rev.
        conn.execute(
            "INSERT INTO changes (collection_id, rev, segment, is_collection, deleted, changed_at)
             VALUES (10, 5, 'x.ics', 0, 0, 0)",
            [],
        )
        .unwrap();
        let log = change_log(&conn);
        assert_eq!(log, [(3, "gone.ics".into()), (4, "y.ics".into()), (5, "x.ics".into())]);
        assert_eq!(change_rev(&conn, 100), Some(5));
        // The member index now holds the tombstone only.
        let indexed: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM changes INDEXED BY changes_by_member
                 WHERE collection_id = 10 AND segment > '' AND (deleted = 1 OR is_collection = 1)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexed, 1);
    }

    #[test]
    fn version_9_leaves_a_new_object_naming_its_change_alone_and_still_replaces_older_rows() {
        let mut conn = calendar_at(8, 2);
        conn.execute_batch(
            "
             INSERT INTO objects (id, collection_id, segment, etag, content_type, size, body, created_at,
                                  modified_at, change_rev)
                 VALUES (100, 10, 'old.ics', 'e', 'text/calendar', 1, x'00', 0, 0, 2);
             INSERT INTO changes (collection_id, rev, segment, is_collection, deleted, changed_at)
                 VALUES (10, 2, 'old.ics', 0, 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        // A new object inserted naming the change logged next (as put_object does).
        conn.execute_batch(
            "INSERT INTO objects (id, collection_id, segment, etag, content_type, size, body, created_at,
                                  modified_at, change_rev)
                 VALUES (101, 10, 'new.ics', 'e', 'text/calendar', 1, x'00', 0, 0, 3);
             INSERT INTO changes (collection_id, rev, segment, is_collection, deleted, changed_at)
                 VALUES (10, 3, 'new.ics', 0, 0, 0);
             INSERT INTO changes (collection_id, rev, segment, is_collection, deleted, changed_at)
                 VALUES (10, 4, 'old.ics', 0, 0, 0);",
        )
        .unwrap();
        let log = change_log(&conn);
        assert_eq!(
            log,
            [(3, "new.ics".into()), (4, "old.ics".into())],
            "the new row stays; old.ics's is replaced"
        );
        assert_eq!((change_rev(&conn, 100), change_rev(&conn, 101)), (Some(4), Some(3)));
    }
}
