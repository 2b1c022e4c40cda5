-- davit schema, version 5: indexes for the read paths that scaled with the whole database.

-- Listing a collection without reading its objects' bodies. Object rows carry their body
-- inline, so reading the metadata of every member in segment order (PROPFIND Depth 1)
-- through the UNIQUE (collection_id, segment) index fetched every row, body pages included:
-- ~60 % of a 10,000-member listing. This index covers OBJECT_COLUMNS (store/sqlite/rows.rs).
CREATE INDEX objects_listing ON objects(
    collection_id, segment, id, uid, etag, content_type, size, created_at, modified_at
);

-- addressbook-query searched the card index by field over every address book of the
-- database, then kept the hits of one: cost grew with all users' contacts. The index rows now
-- carry their card's collection, kept right by triggers whatever statement writes the rows or
-- moves the card (PUT, COPY, MOVE, transfers), so no writer can forget it.
ALTER TABLE card_index ADD COLUMN collection_id INTEGER;
UPDATE card_index SET collection_id = (SELECT o.collection_id FROM objects o WHERE o.id = card_index.object_id);
DROP INDEX card_index_by_field;
CREATE INDEX card_index_by_collection ON card_index(collection_id, field, value);

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
