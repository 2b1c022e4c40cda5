-- davit schema, version 8: objects keep one index on (collection_id, segment), not two.
--
-- UNIQUE (collection_id, segment) had its own index beside objects_listing, whose key starts
-- with the same two columns: a new event wrote a random leaf of each (measured: dropping
-- objects_listing together with the change log's member index gave +17 % PUT/s). A table
-- constraint cannot be dropped in place, so the table is rebuilt without it; objects_listing
-- serves look-ups by name as it serves listings, and two triggers refuse a duplicate name with
-- the same constraint error. Every write goes through the one writer in a transaction, so the
-- check and the write cannot interleave with another writer's.
--
-- Runs with foreign keys off (see migrate.rs): dropping the old table must not cascade to
-- card_index and dead_props, whose rows keep pointing at the same ids. migrate() runs
-- PRAGMA foreign_key_check before committing.

-- Triggers of other tables that name objects would break the rename below; recreated after.
DROP TRIGGER card_index_takes_its_collection;
DROP TRIGGER object_change_replaces_the_last;

CREATE TABLE objects_rebuilt (
    id             INTEGER PRIMARY KEY,
    collection_id  INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    segment        TEXT NOT NULL,
    uid            TEXT,
    etag           TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    body           BLOB NOT NULL,
    comp_type      TEXT,
    first_start    INTEGER,
    last_end       INTEGER,
    created_at     INTEGER NOT NULL,
    modified_at    INTEGER NOT NULL,
    instances      BLOB,
    change_rev     INTEGER
);
INSERT INTO objects_rebuilt (id, collection_id, segment, uid, etag, content_type, size, body, comp_type,
                             first_start, last_end, created_at, modified_at, instances, change_rev)
SELECT id, collection_id, segment, uid, etag, content_type, size, body, comp_type,
       first_start, last_end, created_at, modified_at, instances, change_rev
FROM objects;
DROP TABLE objects;
ALTER TABLE objects_rebuilt RENAME TO objects;

CREATE UNIQUE INDEX objects_by_uid ON objects(collection_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX objects_by_time ON objects(collection_id, comp_type, first_start, last_end);
CREATE INDEX objects_long_spans ON objects(collection_id, comp_type, first_start, last_end)
    WHERE last_end IS NULL OR last_end - first_start > 2678400;
CREATE INDEX objects_by_collection ON objects(collection_id, id);
-- Look-ups by name and listings without reading bodies (migration 5); covers OBJECT_COLUMNS.
CREATE INDEX objects_listing ON objects(
    collection_id, segment, id, uid, etag, content_type, size, created_at, modified_at
);

-- A member name is unique in its collection: what the dropped constraint did, with its message.
CREATE TRIGGER object_names_are_unique BEFORE INSERT ON objects
WHEN EXISTS (SELECT 1 FROM objects WHERE collection_id = NEW.collection_id AND segment = NEW.segment)
BEGIN
    SELECT RAISE(ABORT, 'UNIQUE constraint failed: objects.collection_id, objects.segment');
END;
CREATE TRIGGER object_names_stay_unique BEFORE UPDATE OF collection_id, segment ON objects
WHEN EXISTS (SELECT 1 FROM objects
             WHERE collection_id = NEW.collection_id AND segment = NEW.segment AND id <> NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'UNIQUE constraint failed: objects.collection_id, objects.segment');
END;

-- The triggers the rebuild dropped, unchanged (migrations 5 and 7).
CREATE TRIGGER card_index_takes_its_collection AFTER INSERT ON card_index
WHEN NEW.collection_id IS NULL
BEGIN
    UPDATE card_index SET collection_id = (SELECT o.collection_id FROM objects o WHERE o.id = NEW.object_id)
    WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER card_index_follows_its_card AFTER UPDATE OF collection_id ON objects
BEGIN
    UPDATE card_index SET collection_id = NEW.collection_id WHERE object_id = NEW.id;
END;

CREATE TRIGGER object_change_replaces_the_last AFTER INSERT ON changes
WHEN NEW.is_collection = 0 AND NEW.deleted = 0
BEGIN
    DELETE FROM changes WHERE collection_id = NEW.collection_id AND rev = (
        SELECT change_rev FROM objects WHERE collection_id = NEW.collection_id AND segment = NEW.segment
    );
    UPDATE objects SET change_rev = NEW.rev
    WHERE collection_id = NEW.collection_id AND segment = NEW.segment;
END;

CREATE TRIGGER object_delete_drops_its_change AFTER DELETE ON objects
WHEN OLD.change_rev IS NOT NULL
BEGIN
    DELETE FROM changes WHERE collection_id = OLD.collection_id AND rev = OLD.change_rev;
END;

CREATE TRIGGER object_move_drops_its_change AFTER UPDATE OF collection_id, segment ON objects
WHEN OLD.change_rev IS NOT NULL
BEGIN
    DELETE FROM changes WHERE collection_id = OLD.collection_id AND rev = OLD.change_rev;
    UPDATE objects SET change_rev = NULL WHERE id = NEW.id;
END;
