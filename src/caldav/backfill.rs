//! Instance lists for calendar objects stored before schema version 4 (which added them):
//! computed once, in the background after start, so that calendar-query answers those
//! objects from the index too. Until then they take the exact path, with the same results.

use crate::ical;
use crate::store::{Id, Store, StoreResult};

const BATCH: usize = 200;

/// Computes and stores every missing instance list; returns how many objects it looked at.
/// An object that no longer parses gets an empty list (never answered from the index).
pub fn backfill_instance_lists(store: &dyn Store) -> StoreResult<usize> {
    let mut after: Id = 0;
    let mut seen = 0;
    loop {
        let batch = store.unlisted_events(after, BATCH)?;
        let Some(last) = batch.last() else { return Ok(seen) };
        after = last.id;
        seen += batch.len();
        let lists: Vec<(Id, String, Vec<u8>)> = batch
            .into_iter()
            .map(|event| {
                let list = ical::parse(&event.body)
                    .and_then(|parsed| ical::inspect(&parsed))
                    .map(|info| info.instances)
                    .unwrap_or_default();
                (event.id, event.etag, list)
            })
            .collect();
        store.set_instance_lists(&lists)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Candidate, TimeSpan};

    const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:w\r\n\
        DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\n\
        RRULE:FREQ=WEEKLY;COUNT=10\r\nEXDATE:20260112T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    /// A database of schema version 3 (before instance lists), with one event in it.
    fn old_database(path: &std::path::Path) {
        let conn = rusqlite::Connection::open(path).expect("open");
        for sql in [
            include_str!("../store/sqlite/migrations/0001_init.sql"),
            include_str!("../store/sqlite/migrations/0002_organizations.sql"),
            include_str!("../store/sqlite/migrations/0003_two_factor.sql"),
        ] {
            conn.execute_batch(sql).expect("old schema");
        }
        conn.execute_batch(&format!(
            "PRAGMA user_version = 3;
             INSERT INTO principals (id, kind, slug, display_name, created_at) VALUES (1, 'user', 'a', 'a', 0);
             INSERT INTO collections (id, owner_id, kind, segment, created_at, modified_at)
                 VALUES (1, 1, 'calendar', 'cal', 0, 0);
             INSERT INTO objects (collection_id, segment, uid, etag, content_type, size, body, comp_type,
                 first_start, last_end, created_at, modified_at)
                 VALUES (1, 'w.ics', 'w', '\"e1\"', 'text/calendar', {len}, CAST('{body}' AS BLOB), 'VEVENT',
                 1767607200, 1773054000, 0, 0);",
            len = WEEKLY.len(),
            body = WEEKLY,
        ))
        .expect("old rows");
    }

    fn candidates(store: &dyn Store) -> Vec<Candidate> {
        let january = TimeSpan { start: Some(1767225600), end: Some(1769904000) };
        store.indexed_candidates(1, Some("VEVENT"), Some(january)).expect("candidates")
    }

    #[test]
    fn objects_stored_before_the_migration_get_their_instance_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.sqlite3");
        old_database(&path);
        let store = SqliteStore::open(&path).expect("migrates");
        let before = candidates(&store);
        assert_eq!(before.len(), 1);
        assert_eq!(before[0].instances, None, "unknown until back-filled: the exact path");

        assert_eq!(backfill_instance_lists(&store).expect("backfill"), 1);
        let after = candidates(&store);
        let expected =
            ical::inspect(&ical::parse(WEEKLY.as_bytes()).expect("parses")).expect("valid").instances;
        assert!(!expected.is_empty());
        assert_eq!(after[0].instances.as_deref(), Some(expected.as_slice()));
        // 12 January is an EXDATE, 19 January an instance.
        let list = after[0].instances.as_deref().unwrap_or_default();
        assert_eq!(ical::instance_list_overlaps(list, Some(1768212000), Some(1768215600)), Some(false));
        assert_eq!(ical::instance_list_overlaps(list, Some(1768816800), Some(1768820400)), Some(true));
        assert_eq!(backfill_instance_lists(&store).expect("nothing left"), 0);
    }
}
