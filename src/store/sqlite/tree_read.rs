//! Read queries over the collection tree.

use std::collections::HashMap;
use std::ops::Range;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Cached, map_err, rows};
use crate::store::{
    Candidate, Change, ChangeSet, Collection, CollectionKind, DeadProp, Descent, HomeKind, HomeLookup, Id,
    LoadedObject, Member, ObjectMeta, PropTarget, StoreResult, TimeSpan,
};

pub fn home(conn: &Connection, owner_id: Id, kind: HomeKind) -> StoreResult<Option<Collection>> {
    let kind = match kind {
        HomeKind::Calendar => CollectionKind::CalendarHome,
        HomeKind::Addressbook => CollectionKind::AddressbookHome,
    };
    const SQL: &str = concat!(
        "SELECT ",
        rows::collection_columns!(),
        " FROM collections WHERE owner_id = ?1 AND kind = ?2 AND parent_id IS NULL"
    );
    conn.prepare_cached(SQL)
        .and_then(|mut s| s.query_row(params![owner_id, kind.as_str()], rows::collection).optional())
        .map_err(map_err)
}

pub fn collection(conn: &Connection, id: Id) -> StoreResult<Option<Collection>> {
    const SQL: &str = concat!("SELECT ", rows::collection_columns!(), " FROM collections WHERE id = ?1");
    conn.prepare_cached(SQL).and_then(|mut s| s.query_row([id], rows::collection).optional()).map_err(map_err)
}

/// `Store::locate_in_home` on one connection (the caller holds one read transaction).
pub fn locate_in_home(
    conn: &Connection,
    owner: &str,
    kind: HomeKind,
    segments: &[String],
) -> StoreResult<HomeLookup> {
    let mut found =
        HomeLookup { owner: super::users::principal_by_slug(conn, owner)?, ..HomeLookup::default() };
    let Some(principal) = &found.owner else { return Ok(found) };
    found.home = home(conn, principal.id, kind)?;
    if let Some(home) = &found.home {
        let below = locate_below(conn, home.id, segments)?;
        (found.collections, found.object) = (below.collections, below.object);
    }
    Ok(found)
}

/// `Store::locate_below` on one connection (the caller holds one read transaction).
pub fn locate_below(conn: &Connection, mut parent: Id, segments: &[String]) -> StoreResult<Descent> {
    let mut found = Descent::default();
    for (i, segment) in segments.iter().enumerate() {
        match child_collection(conn, parent, segment)? {
            Some(child) => {
                parent = child.id;
                found.collections.push(child);
            }
            None => {
                if i + 1 == segments.len() {
                    found.object = object(conn, parent, segment)?;
                }
                break;
            }
        }
    }
    Ok(found)
}

pub fn child_collection(conn: &Connection, parent: Id, segment: &str) -> StoreResult<Option<Collection>> {
    const SQL: &str = concat!(
        "SELECT ",
        rows::collection_columns!(),
        " FROM collections WHERE parent_id = ?1 AND segment = ?2"
    );
    conn.prepare_cached(SQL)
        .and_then(|mut s| s.query_row(params![parent, segment], rows::collection).optional())
        .map_err(map_err)
}

pub fn object(conn: &Connection, collection_id: Id, segment: &str) -> StoreResult<Option<ObjectMeta>> {
    const SQL: &str = concat!(
        "SELECT ",
        rows::object_columns!(),
        " FROM objects WHERE collection_id = ?1 AND segment = ?2"
    );
    conn.prepare_cached(SQL)
        .and_then(|mut s| s.query_row(params![collection_id, segment], rows::object).optional())
        .map_err(map_err)
}

pub fn object_body(conn: &Connection, id: Id) -> StoreResult<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT body FROM objects WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(map_err)
}

pub fn members(conn: &Connection, collection_id: Id) -> StoreResult<Vec<Member>> {
    const COLLECTIONS: &str = concat!(
        "SELECT ",
        rows::collection_columns!(),
        " FROM collections WHERE parent_id = ?1 ORDER BY segment"
    );
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(COLLECTIONS).map_err(map_err)?;
    for c in stmt.query_map([collection_id], rows::collection).map_err(map_err)? {
        out.push(Member::Collection(c.map_err(map_err)?));
    }
    const OBJECTS: &str = concat!(
        "SELECT ",
        rows::object_columns!(),
        " FROM objects WHERE collection_id = ?1 ORDER BY segment"
    );
    let mut stmt = conn.prepare_cached(OBJECTS).map_err(map_err)?;
    for o in stmt.query_map([collection_id], rows::object).map_err(map_err)? {
        out.push(Member::Object(o.map_err(map_err)?));
    }
    Ok(out)
}

/// Sorted in Rust, not by ORDER BY: with ORDER BY over these partial indexes SQLite marks
/// the statement as depending on the bound id, and a cached statement is then prepared
/// again on every use (~70 % of a 10,000-member PROPFIND went into that).
pub fn dead_props(conn: &Connection, target: PropTarget) -> StoreResult<Vec<DeadProp>> {
    let (sql, id) = match target {
        PropTarget::Collection(id) => (DEAD_PROPS_OF_COLLECTION, id),
        PropTarget::Object(id) => (DEAD_PROPS_OF_OBJECT, id),
    };
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let rows = stmt
        .query_map([id], |r| Ok(DeadProp { ns: r.get(0)?, name: r.get(1)?, xml: r.get(2)? }))
        .map_err(map_err)?;
    let mut props: Vec<DeadProp> = rows.collect::<Result<_, _>>().map_err(map_err)?;
    props.sort_unstable_by(|a, b| (&a.ns, &a.name).cmp(&(&b.ns, &b.name)));
    Ok(props)
}

const DEAD_PROPS_OF_COLLECTION: &str = "SELECT ns, name, xml FROM dead_props WHERE collection_id = ?1";
const DEAD_PROPS_OF_OBJECT: &str = "SELECT ns, name, xml FROM dead_props WHERE object_id = ?1";
const DEAD_PROPS_OF_MEMBERS: &str = "SELECT collection_id, object_id, ns, name, xml FROM dead_props
     WHERE object_id IN (SELECT id FROM objects WHERE collection_id = ?1)
        OR collection_id IN (SELECT id FROM collections WHERE parent_id = ?1)";

/// `dead_props` of every member of a collection, each list sorted as there.
pub fn member_dead_props(
    conn: &Connection,
    collection_id: Id,
) -> StoreResult<HashMap<PropTarget, Vec<DeadProp>>> {
    let mut stmt = conn.prepare_cached(DEAD_PROPS_OF_MEMBERS).map_err(map_err)?;
    let rows = stmt
        .query_map([collection_id], |r| {
            let target = match r.get::<_, Option<Id>>(0)? {
                Some(c) => PropTarget::Collection(c),
                None => PropTarget::Object(r.get(1)?),
            };
            Ok((target, DeadProp { ns: r.get(2)?, name: r.get(3)?, xml: r.get(4)? }))
        })
        .map_err(map_err)?;
    let mut out: HashMap<PropTarget, Vec<DeadProp>> = HashMap::new();
    for row in rows {
        let (target, prop) = row.map_err(map_err)?;
        out.entry(target).or_default().push(prop);
    }
    for props in out.values_mut() {
        props.sort_unstable_by(|a, b| (&a.ns, &a.name).cmp(&(&b.ns, &b.name)));
    }
    Ok(out)
}

/// The named objects with bodies and dead properties. One read transaction around all the
/// statements: a consistent snapshot, and the WAL read lock (a few fcntl calls) is taken once
/// rather than for each statement, which was a fifth of a 100-href multiget.
pub fn loaded_objects(
    conn: &Connection,
    collection_id: Id,
    segments: &[&str],
    with_dead_props: bool,
) -> StoreResult<Vec<LoadedObject>> {
    conn.execute_batch("BEGIN").map_err(map_err)?;
    let result = (|| {
        let sql = format!(
            "SELECT {}, body FROM objects WHERE collection_id = ?1 AND segment = ?2",
            rows::OBJECT_COLUMNS_IN_PLACE
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
        let mut out = Vec::with_capacity(segments.len());
        for &segment in segments {
            let found = stmt
                .query_row(params![collection_id, segment], |r| {
                    Ok((rows::object_in_place(r, collection_id, segment)?, r.get::<_, Vec<u8>>(7)?))
                })
                .optional()
                .map_err(map_err)?;
            if let Some((meta, body)) = found {
                let dead_props =
                    if with_dead_props { dead_props(conn, PropTarget::Object(meta.id))? } else { Vec::new() };
                out.push(LoadedObject { meta, body, dead_props });
            }
        }
        Ok(out)
    })();
    // Ending a read transaction cannot fail in a way that matters to what was read.
    let _ = conn.execute_batch("COMMIT");
    result
}

/// Index prefilter for calendar-query (RFC 4791 §9.9 is then decided exactly by the caller).
pub fn query_candidates(
    conn: &Connection,
    collection_id: Id,
    comp: Option<&str>,
    range: Option<TimeSpan>,
) -> StoreResult<Vec<(ObjectMeta, bytes::Bytes)>> {
    let found = indexed_candidates(conn, collection_id, comp, range)?;
    Ok(found.into_iter().map(|c| (c.meta, c.body)).collect())
}

/// Longest occurrence span (seconds) of the objects found by a bounded range of
/// `objects_by_time`; longer ones are in the partial index `objects_long_spans`, whose
/// condition (migration 0006) repeats this number.
const LONG_SPAN: i64 = 2_678_400;

/// The prefilter's candidates (`comp_type`, then the span, from indexes that cover them:
/// rows are read only for candidates), with their instance lists. Three index ranges, so
/// that neither the objects starting after the range nor those ending long before it are
/// scanned: undated objects; objects spanning at most LONG_SPAN, which start at most that long
/// before the range (?5 = ?3 - LONG_SPAN); the longer ones, from their own index. ?3/?4: the
/// range, with i64::MIN/i64::MAX for open ends.
const CANDIDATES_OF_TYPE: &str = "SELECT id, collection_id, segment, uid, etag, content_type, size,
       created_at, modified_at, body, instances FROM objects
     WHERE collection_id = ?1 AND comp_type = ?2 AND first_start IS NULL
     UNION ALL
     SELECT id, collection_id, segment, uid, etag, content_type, size,
       created_at, modified_at, body, instances FROM objects INDEXED BY objects_by_time
     WHERE collection_id = ?1 AND comp_type = ?2 AND first_start >= ?5 AND first_start < ?4
       AND last_end > ?3 AND last_end - first_start <= 2678400
     UNION ALL
     SELECT id, collection_id, segment, uid, etag, content_type, size,
       created_at, modified_at, body, instances FROM objects INDEXED BY objects_long_spans
     WHERE collection_id = ?1 AND comp_type = ?2 AND first_start < ?4 AND (last_end IS NULL OR last_end > ?3)
       AND (last_end IS NULL OR last_end - first_start > 2678400)";
const CANDIDATES_ANY: &str = "SELECT id, collection_id, segment, uid, etag, content_type, size,
       created_at, modified_at, body, instances FROM objects
     WHERE collection_id = ?1
       AND (first_start IS NULL
            OR ((?3 IS NULL OR first_start < ?3) AND (?2 IS NULL OR last_end IS NULL OR last_end > ?2)))";

/// `query_candidates` with each object's instance list, sorted by segment (in Rust: an
/// ORDER BY could draw the planner to the segment index and away from `objects_by_time`).
pub fn indexed_candidates(
    conn: &Connection,
    collection_id: Id,
    comp: Option<&str>,
    range: Option<TimeSpan>,
) -> StoreResult<Vec<Candidate>> {
    let (start, end) = range.map_or((None, None), |r| (r.start, r.end));
    // Every body and instance list goes into one buffer (kept between queries, see
    // `memory::buffers`) that the candidates then share: a month of a big calendar is
    // hundreds of bodies, and an allocation, a free and fresh pages for each were ~10 % of a
    // calendar-query (perf).
    let mut arena = crate::memory::buffers::take(CANDIDATE_BUFFER);
    let mut append = |r: &rusqlite::Row<'_>, column: usize| -> rusqlite::Result<Option<Range<usize>>> {
        let Some(bytes) = r.get_ref(column)?.as_blob_or_null()? else { return Ok(None) };
        arena.extend_from_slice(bytes);
        Ok(Some(arena.len() - bytes.len()..arena.len()))
    };
    let mut row =
        |r: &rusqlite::Row<'_>| Ok((rows::object(r)?, append(r, 9)?.unwrap_or(0..0), append(r, 10)?));
    let mut found: Vec<(ObjectMeta, Range<usize>, Option<Range<usize>>)> = match comp {
        Some(comp) => {
            let mut stmt = conn.prepare_cached(CANDIDATES_OF_TYPE).map_err(map_err)?;
            let (start, end) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
            let short_from = start.saturating_sub(LONG_SPAN);
            let rows = stmt
                .query_map(params![collection_id, comp, start, end, short_from], &mut row)
                .map_err(map_err)?;
            rows.collect::<Result<_, _>>().map_err(map_err)?
        }
        None => {
            let mut stmt = conn.prepare_cached(CANDIDATES_ANY).map_err(map_err)?;
            let rows = stmt.query_map(params![collection_id, start, end], &mut row).map_err(map_err)?;
            rows.collect::<Result<_, _>>().map_err(map_err)?
        }
    };
    found.sort_unstable_by(|a, b| a.0.segment.cmp(&b.0.segment));
    let shared = crate::memory::buffers::into_bytes(arena);
    Ok(found
        .into_iter()
        .map(|(meta, body, instances)| Candidate {
            meta,
            body: shared.slice(body),
            instances: instances.map(|list| shared.slice(list)),
        })
        .collect())
}

/// The starting size of the buffer that a calendar-query's candidates share: a month of a
/// 10,000-event calendar (~500 bodies) fits.
const CANDIDATE_BUFFER: usize = 1 << 20;

/// `pattern` (a LIKE pattern with `\\` escapes) without its escapes when it is `%text%`
/// with no other wildcard: a plain substring search.
fn contained_text(pattern: &str) -> Option<String> {
    let inner = pattern.strip_prefix('%')?.strip_suffix('%')?;
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => text.push(chars.next()?),
            '%' | '_' => return None,
            c => text.push(c),
        }
    }
    Some(text)
}

pub fn card_candidates(
    conn: &Connection,
    collection_id: Id,
    field: &str,
    pattern: &str,
) -> StoreResult<Vec<(ObjectMeta, bytes::Bytes)>> {
    // The hits of this address book's index rows, each card then fetched by id (sorted here:
    // an ORDER BY segment would make SQLite walk the whole collection instead). A contains
    // search (the usual one) is instr(): the index values and the text are both folded, so a
    // plain substring test is exact, and it costs a fraction of LIKE's pattern matcher, which
    // was a quarter of an addressbook-query.
    let contained = contained_text(pattern);
    let test = if contained.is_some() { "instr(value, ?3) > 0" } else { "value LIKE ?3 ESCAPE '\\'" };
    let sql = format!(
        "SELECT {}, body FROM objects WHERE id IN
           (SELECT object_id FROM card_index WHERE collection_id = ?1 AND field = ?2 AND {test})",
        rows::OBJECT_COLUMNS
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let rows = stmt
        .query_map(params![collection_id, field, contained.as_deref().unwrap_or(pattern)], |r| {
            Ok((rows::object(r)?, bytes::Bytes::from(r.get::<_, Vec<u8>>(9)?)))
        })
        .map_err(map_err)?;
    let mut found: Vec<(ObjectMeta, bytes::Bytes)> = rows.collect::<Result<_, _>>().map_err(map_err)?;
    found.sort_unstable_by(|a, b| a.0.segment.cmp(&b.0.segment));
    Ok(found)
}

/// Members changed after `rev`, oldest first; the log keeps one row per member, so this is
/// proportional to the number of changes, never to the collection's size.
pub fn changes_since(conn: &Connection, collection_id: Id, rev: i64, limit: usize) -> StoreResult<ChangeSet> {
    let current_rev: i64 = conn
        .cached_row("SELECT rev FROM collections WHERE id = ?1", [collection_id], |r| r.get(0))
        .map_err(map_err)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT segment, is_collection, deleted, rev FROM changes
             WHERE collection_id = ?1 AND rev > ?2 ORDER BY rev LIMIT ?3",
        )
        .map_err(map_err)?;
    let fetch = limit.saturating_add(1).min(i64::MAX as usize) as i64;
    let rows = stmt
        .query_map(params![collection_id, rev, fetch], |r| {
            Ok(Change { segment: r.get(0)?, is_collection: r.get(1)?, deleted: r.get(2)?, rev: r.get(3)? })
        })
        .map_err(map_err)?;
    let mut changes: Vec<Change> = rows.collect::<Result<_, _>>().map_err(map_err)?;
    let truncated = changes.len() > limit;
    changes.truncate(limit);
    Ok(ChangeSet { changes, truncated, current_rev })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// Runs `f` on a reader connection of a new, empty store.
    fn on_a_fresh_reader(f: impl FnOnce(&Connection) -> StoreResult<()>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = super::super::SqliteStore::open(&dir.path().join("t.db")).expect("open");
        store.read(f).expect("read");
    }

    /// calendar-query reads the table only for candidates: both halves search the covering
    /// `objects_by_time` by range, neither scans the table.
    #[test]
    fn candidates_come_from_the_covering_time_index() {
        on_a_fresh_reader(|c| {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {CANDIDATES_OF_TYPE}")).map_err(map_err)?;
            let plan: Vec<String> = stmt
                .query_map(params![1, "VEVENT", 0, 10, -100], |r| r.get(3))
                .map_err(map_err)?
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            let searches: Vec<&String> = plan.iter().filter(|p| p.contains("objects_by_time")).collect();
            assert_eq!(searches.len(), 2, "{plan:#?}");
            assert!(searches[1].contains("first_start>? AND first_start<?"), "{plan:#?}");
            let long: Vec<&String> = plan.iter().filter(|p| p.contains("objects_long_spans")).collect();
            assert_eq!(long.len(), 1, "{plan:#?}");
            assert!(long[0].contains("first_start<?"), "{plan:#?}");
            assert!(!plan.iter().any(|p| p.starts_with("SCAN")), "{plan:#?}");
            Ok(())
        });
    }

    /// The three index ranges find exactly the objects one plain range condition finds:
    /// spans just under, at and over LONG_SPAN, open ends, undated objects, open ranges.
    #[test]
    fn candidates_are_those_of_the_plain_span_condition() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        drop(super::super::SqliteStore::open(&path).expect("open"));
        // Rows straight into the tables, without owner rows (foreign keys off).
        let c = Connection::open(&path).expect("connection");
        c.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO collections (id, owner_id, parent_id, kind, segment, created_at, modified_at)
             VALUES (3, 1, NULL, 'calendar-home', 'h', 0, 0),
                    (1, 1, 3, 'calendar', 'c', 0, 0), (2, 1, 3, 'calendar', 'd', 0, 0);
             BEGIN;",
        )
        .expect("collections");
        let day = 86_400;
        let spans = [0, 1, 3600, day, LONG_SPAN - 1, LONG_SPAN, LONG_SPAN + 1, 90 * day, 4000 * day];
        let mut id = 0;
        let mut insert = |coll: i64, comp: &str, start: Option<i64>, end: Option<i64>| {
            id += 1;
            c.execute(
                "INSERT INTO objects (id, collection_id, segment, etag, content_type, size, body, comp_type,
                   first_start, last_end, created_at, modified_at)
                 VALUES (?1, ?2, ?3, 'e', 'text/calendar', 1, x'00', ?4, ?5, ?6, 0, 0)",
                params![id, coll, format!("o{id}.ics"), comp, start, end],
            )
            .expect("object");
        };
        for start in (-60..60).map(|d| 1_000_000_000 + d * day + d * 997) {
            for span in spans {
                insert(1, "VEVENT", Some(start), Some(start + span));
                insert(1, "VTODO", Some(start), Some(start + span));
                insert(2, "VEVENT", Some(start), Some(start + span));
            }
            insert(1, "VEVENT", Some(start), None);
        }
        insert(1, "VEVENT", None, None);
        insert(1, "VEVENT", None, Some(5));
        c.execute_batch("COMMIT").expect("commit");
        let plain = |start: Option<i64>, end: Option<i64>| -> Vec<Id> {
            let (start, end) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
            let mut stmt = c
                .prepare(
                    "SELECT id FROM objects WHERE collection_id = 1 AND comp_type = 'VEVENT'
                       AND (first_start IS NULL OR (first_start < ?2 AND (last_end IS NULL OR last_end > ?1)))",
                )
                .expect("prepare");
            let mut ids: Vec<Id> = stmt
                .query_map(params![start, end], |r| r.get(0))
                .expect("query")
                .map(|r| r.expect("row"))
                .collect();
            ids.sort_unstable();
            ids
        };
        let edges =
            [None, Some(1_000_000_000 - 30 * day), Some(1_000_000_000), Some(1_000_000_000 + 17 * 3600)];
        let mut checked = 0;
        for start in edges {
            for len in [1, 3600, day, 31 * day, 400 * day] {
                let end = start.map_or(Some(1_000_000_000 + len), |s| Some(s + len));
                for (start, end) in [(start, end), (start, None)] {
                    let span = TimeSpan { start, end };
                    let mut got: Vec<Id> = indexed_candidates(&c, 1, Some("VEVENT"), Some(span))
                        .expect("candidates")
                        .iter()
                        .map(|c| c.meta.id)
                        .collect();
                    got.sort_unstable();
                    let want = plain(start, end);
                    assert_eq!(got, want, "[{start:?}, {end:?})");
                    checked += want.len();
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn contains_patterns_become_plain_texts() {
        assert_eq!(contained_text("%jan%").as_deref(), Some("jan"));
        assert_eq!(contained_text("%50\\%\\_x\\\\%").as_deref(), Some("50%_x\\"));
        assert_eq!(contained_text("%%").as_deref(), Some(""));
        for other in ["jan%", "%jan", "jan", "%", "%a_b%", "%a%b%", "%a\\%"] {
            assert_eq!(contained_text(other), None, "{other}");
        }
    }

    /// A cached statement that SQLite marks as depending on its bound values is prepared again
    /// on every use; these run once per listed or reported resource.
    #[test]
    fn per_resource_statements_are_not_prepared_again_on_each_use() {
        on_a_fresh_reader(|c| {
            for id in 1..20 {
                dead_props(c, PropTarget::Object(id))?;
                dead_props(c, PropTarget::Collection(id))?;
                member_dead_props(c, id)?;
            }
            for sql in [DEAD_PROPS_OF_OBJECT, DEAD_PROPS_OF_COLLECTION, DEAD_PROPS_OF_MEMBERS] {
                let stmt = c.prepare_cached(sql).map_err(map_err)?;
                assert_eq!(stmt.get_status(StatementStatus::Run), 19, "{sql}");
                assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0, "{sql}");
            }
            Ok(())
        });
    }
}
